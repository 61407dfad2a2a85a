"""MiniVPC: a small offline benchmark with the roles and file formats of VoicePrivacy 2024.

    python -m paperlib.data generate --scale mini       # ~3k utterances, ~96 speakers
    python -m paperlib.data card --scale mini           # print the data card

Speakers are WORLD transforms of offline TTS voices (DESIGN.md section 4):
F0 level and range, a two-segment vocal-tract warp, spectral tilt,
breathiness and tempo. Emotions are deviation vectors of F0 level/range,
tempo, gain, tilt and breathiness, scaled by an intensity and perturbed per
speaker and per utterance so that they are learnable but not trivially
separable. No speaker appears in two roles. Re-running skips every wav that
already exists and is valid; all files are written atomically.
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import paths, tts, world
from .audio import SAMPLE_RATE, is_valid_wav, save_wav
from .config import EMOTIONS, DataConfig, preset
from .kaldi import Utterance, write_data_dir
from .sentences import CREMA_SENTENCES, grammar_sentences
from .utils import atomic_write_json, atomic_write_text, config_hash, stable_int

# emotion deviation vectors: [log2 F0 shift, F0 range scale, tempo, gain dB, tilt dB/oct, breathiness]
EMOTION_VECTORS = {
    "neu": np.array([0.0, 1.0, 1.0, 0.0, 0.0, 0.0]),
    "ang": np.array([0.2, 1.4, 1.1, 4.0, 3.0, 0.0]),
    "hap": np.array([0.26, 1.5, 1.05, 2.0, 1.5, 0.0]),
    "sad": np.array([-0.12, 0.6, 0.85, -3.0, -3.0, 0.3]),
}
EMOTION_NOISE_SCALE = np.array([0.08, 0.15, 0.06, 1.5, 1.0, 0.1])
TARGET_RMS_DBFS = -26.0

# role -> Kaldi dir names (VPC 2024 naming where a VPC counterpart exists)
ROLE_DIRS = {
    "pretrain": "train_pretrain",       # LibriTTS/LibriHeavy-like, mostly neutral
    "crema": "train_crema",             # CREMA-D-like finetuning corpus
    "iemocap": "IEMOCAP_test",          # emotional evaluation set (utt2emo, spk2fold)
    "libri": "libri_test",              # ASV/WER evaluation (enrolls + trials per gender)
    "vctk": "vctk_pool",                # neutral target-speaker pool for prompts
    "asv_train": "train_asv",           # trains the ASV attacker (EER-L) and is anonymized for EER-S
    "ser_train": "train_ser",           # extra SER training data (speaker-disjoint from IEMOCAP_test)
    "asr_train": "train_asr",           # for an optional in-domain ASR
    "teacher": "train_teacher",         # trains the frame-level emotion teacher
}


@dataclass
class SpeakerRecipe:
    """How a MiniVPC speaker is made from a base TTS voice (recorded in speakers.json)."""
    speaker: str
    role: str
    base_voice: str
    gender: str
    f0_scale: float
    f0_range: float
    warp_low: float
    warp_high: float
    tilt_db_oct: float
    breathiness: float
    tempo: float
    emotion_offsets: dict = field(default_factory=dict)   # per-speaker emotion idiosyncrasy (unit Gaussians)


@dataclass
class UttJob:
    utt_id: str
    speaker: str
    text: str
    emotion: str
    intensity: float
    out_path: str


def _make_speakers(cfg: DataConfig, voices: list[str], counts: dict[str, int]) -> list[SpeakerRecipe]:
    """Distinct speakers, round-robin over base voices, alternating gender, kept apart in (F0, warp)."""
    rng = np.random.default_rng(cfg.seed)
    taken: dict[str, list[tuple[float, float]]] = defaultdict(list)
    speakers: list[SpeakerRecipe] = []
    index = 0
    for role, n in counts.items():
        for k in range(n):
            voice = voices[index % len(voices)]
            # alternate gender inside every role (IEMOCAP-like folds get one female + one male speaker)
            gender = "f" if k % 2 == 0 else "m"
            base_gender = tts.BASE_VOICES[voice][2]
            index += 1
            for _attempt in range(60):
                f0 = float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
                warp = float(rng.uniform(0.9, 1.1))
                if base_gender == "m" and gender == "f":
                    f0 *= float(rng.uniform(1.6, 1.8)); warp *= float(rng.uniform(1.12, 1.2))
                elif base_gender == "f" and gender == "m":
                    f0 *= float(rng.uniform(0.55, 0.65)); warp *= float(rng.uniform(0.84, 0.9))
                point = (math.log(f0) / 0.22, math.log(warp) / 0.06)
                if all((point[0] - p[0]) ** 2 + (point[1] - p[1]) ** 2 >= 1.0 for p in taken[voice + gender]):
                    break
            taken[voice + gender].append(point)
            knee_delta = float(rng.uniform(-0.07, 0.07))
            speakers.append(SpeakerRecipe(
                speaker=f"{role[:3]}{k:03d}{gender}", role=role, base_voice=voice, gender=gender,
                f0_scale=round(f0, 4), f0_range=round(float(rng.uniform(0.7, 1.3)), 4),
                warp_low=round(warp, 4), warp_high=round(warp * (1 + knee_delta), 4),
                tilt_db_oct=round(float(rng.uniform(-3, 3)), 3), breathiness=round(float(rng.uniform(0, 0.25)), 3),
                tempo=round(float(rng.uniform(0.88, 1.12)), 3),
                emotion_offsets={e: rng.standard_normal(6).round(4).tolist() for e in EMOTIONS}))
    return speakers


def _plan(cfg: DataConfig, speakers: list[SpeakerRecipe], root: Path) -> tuple[list[UttJob], dict]:
    """Every utterance to synthesize, plus per-role metadata (folds, enroll/trial split)."""
    jobs: list[UttJob] = []
    meta: dict = {"spk2fold": {}, "libri_enroll": set()}
    by_role: dict[str, list[SpeakerRecipe]] = defaultdict(list)
    for s in speakers:
        by_role[s.role].append(s)
    sentence_pool = iter(grammar_sentences(20000, seed=cfg.seed + 7))
    rng = random.Random(cfg.seed)

    def add(spk: SpeakerRecipe, tag: str, text: str, emo: str, intensity: float) -> UttJob:
        utt_id = f"{spk.speaker}-{tag}"
        job = UttJob(utt_id, spk.speaker, text, emo, intensity, str(root / "wav" / spk.role / f"{utt_id}.wav"))
        jobs.append(job)
        return job

    # pretraining speakers come in pairs of the same base voice reading the same sentences: the WORLD
    # analysis (the expensive step) is then shared, halving generation time at little cost in text variety
    shared_text: dict[str, list[str]] = {}
    for spk in by_role["pretrain"]:
        texts = shared_text.pop(spk.base_voice, None)
        if texts is None:
            texts = shared_text[spk.base_voice] = [next(sentence_pool) for _ in range(cfg.pretrain_utts)]
        for i, text in enumerate(texts):
            emotional = rng.random() < cfg.pretrain_emotional_fraction
            emo = rng.choice(("ang", "hap", "sad")) if emotional else "neu"
            add(spk, f"{i:04d}", text, emo, 0.5 if emotional else 1.0)
    for spk in by_role["crema"]:
        for code, text in list(CREMA_SENTENCES.items())[:cfg.crema_sentences]:
            add(spk, f"{code}-neu-X", text, "neu", 1.0)
            for emo in ("ang", "hap", "sad"):
                for level, k in zip(_level_names(len(cfg.crema_intensities)), cfg.crema_intensities):
                    add(spk, f"{code}-{emo}-{level}", text, emo, k)
    for role, per_emo in (("iemocap", cfg.iemocap_utts_per_emotion), ("ser_train", cfg.ser_train_utts_per_emotion),
                          ("teacher", cfg.teacher_utts_per_emotion)):
        for idx, spk in enumerate(by_role[role]):
            if role == "iemocap":
                meta["spk2fold"][spk.speaker] = idx // cfg.iemocap_speakers_per_fold + 1
            for emo in EMOTIONS:
                for i in range(per_emo):
                    add(spk, f"{emo}{i:03d}", next(sentence_pool), emo, rng.choice(cfg.crema_intensities))
    for spk in by_role["libri"]:
        for i in range(cfg.libri_enroll_utts + cfg.libri_trial_utts):
            job = add(spk, f"{i:04d}", next(sentence_pool), "neu", 1.0)
            if i < cfg.libri_enroll_utts:
                meta["libri_enroll"].add(job.utt_id)
    for role, n in (("vctk", cfg.vctk_utts), ("asv_train", cfg.asv_train_utts), ("asr_train", cfg.asr_train_utts)):
        for spk in by_role[role]:
            for i in range(n):
                add(spk, f"{i:04d}", next(sentence_pool), "neu", 1.0)
    return jobs, meta


def _level_names(n: int) -> list[str]:
    """CREMA-D intensity codes (LO/MD/HI) when there are three levels."""
    return ["LO", "MD", "HI"] if n == 3 else [f"L{j}" for j in range(n)]


def _emotion_params(spk: SpeakerRecipe, emo: str, intensity: float, utt_seed: int, cfg: DataConfig) -> np.ndarray:
    neutral = EMOTION_VECTORS["neu"]
    vec = neutral + intensity * (EMOTION_VECTORS[emo] - neutral)
    utt_rng = np.random.default_rng(utt_seed)
    vec = vec + EMOTION_NOISE_SCALE * (cfg.sigma_speaker * np.asarray(spk.emotion_offsets[emo])
                                       + cfg.sigma_utterance * utt_rng.standard_normal(6))
    vec[1] = max(vec[1], 0.2)
    vec[2] = float(np.clip(vec[2], 0.7, 1.4))
    vec[5] = max(vec[5], 0.0)
    return vec


def render(params: world.WorldParams, spk: SpeakerRecipe, emo: str, intensity: float, utt_seed: int,
           cfg: DataConfig) -> tuple[np.ndarray, bool]:
    """Speaker + emotion transform of one analysed base utterance; returns (wav, clipped)."""
    ev = _emotion_params(spk, emo, intensity, utt_seed, cfg)
    jitter = np.random.default_rng(utt_seed + 1)
    f0_scale = spk.f0_scale * 2.0 ** ev[0] * (1 + 0.03 * jitter.standard_normal())
    warp_jitter = 1 + 0.01 * jitter.standard_normal()
    p = world.change_tempo(params, spk.tempo * ev[2])
    f0 = world.transform_f0(p.f0, f0_scale, spk.f0_range * ev[1])
    sp = world.warp_envelope(p.sp, spk.warp_low * warp_jitter, spk.warp_high * warp_jitter)
    sp = world.apply_tilt(sp, spk.tilt_db_oct + ev[4])
    ap = world.add_breathiness(p.ap, spk.breathiness + ev[5])
    wav = world.synthesize(world.WorldParams(f0, sp, ap, p.period_ms))
    # loudness: normalise RMS first, then the emotion gain, so the energy cue survives
    rms = np.sqrt(np.mean(wav ** 2)) + 1e-9
    wav = wav * (10 ** ((TARGET_RMS_DBFS + ev[3]) / 20) / rms)
    peak = np.abs(wav).max()
    clipped = bool(peak > 0.99)
    if clipped:   # soft limit instead of hard clipping
        wav = np.tanh(wav / 0.99) * 0.99
    return wav.astype(np.float32), clipped


# ---- parallel synthesis ---------------------------------------------------------------------------

_WORKER_STATE: dict = {}


def _init_worker(cfg: DataConfig, recipes: dict[str, SpeakerRecipe]) -> None:
    _WORKER_STATE["cfg"] = cfg
    _WORKER_STATE["recipes"] = recipes


def _synth_group(group: tuple[str, str, list[UttJob]]) -> list[tuple[str, float, bool, str]]:
    """One (base voice, sentence): TTS + WORLD analysis once, then a cheap resynthesis per utterance."""
    voice, text, jobs = group
    cfg, recipes = _WORKER_STATE["cfg"], _WORKER_STATE["recipes"]
    results = []
    todo = [j for j in jobs if not is_valid_wav(Path(j.out_path))]
    params = None
    if todo:
        try:
            base = tts.synthesize(voice, text)
            params = world.analyze(base, period_ms=5.0, tracker=tts.BASE_VOICES[voice][3])
        except Exception as exc:  # report, never kill the pool
            return [(j.utt_id, 0.0, False, f"{voice} failed on {text!r}: {exc}") for j in todo]
    for job in jobs:
        path = Path(job.out_path)
        clipped = False
        if job in todo:
            wav, clipped = render(params, recipes[job.speaker], job.emotion, job.intensity,
                                  stable_int(cfg.seed, job.utt_id), cfg)
            save_wav(path, wav)
        import soundfile as sf
        results.append((job.utt_id, sf.info(str(path)).frames / SAMPLE_RATE, clipped, ""))
    return results


def role_counts(cfg: DataConfig) -> dict[str, int]:
    return {
        "pretrain": cfg.pretrain_speakers, "crema": cfg.crema_speakers,
        "iemocap": cfg.iemocap_folds * cfg.iemocap_speakers_per_fold,
        "libri": 2 * cfg.libri_speakers_per_gender, "vctk": cfg.vctk_speakers,
        "asv_train": cfg.asv_train_speakers, "ser_train": cfg.ser_train_speakers,
        "asr_train": cfg.asr_train_speakers, "teacher": cfg.teacher_speakers,
    }


def generate(scale: str = "mini", cfg: DataConfig | None = None, out_dir: Path | None = None,
             workers: int | None = None) -> Path:
    """Build (or complete) MiniVPC for a scale; returns the data root."""
    cfg = cfg or preset(scale).data
    root = out_dir or paths.data_dir(scale)
    root.mkdir(parents=True, exist_ok=True)
    start = time.time()
    stamp = root / "config_hash.txt"
    if stamp.exists() and stamp.read_text().strip() != config_hash(cfg):
        raise RuntimeError(f"{root} was generated with another DataConfig ({stamp.read_text().strip()} != "
                           f"{config_hash(cfg)}); delete it (rm -r {root}) to regenerate")
    atomic_write_text(stamp, config_hash(cfg) + "\n")
    voices = tts.available_voices(cfg.base_voices)
    if len(voices) < 2:
        raise RuntimeError(f"need at least 2 offline TTS voices, found {voices}; install flite (apt-get install flite)")
    speakers = _make_speakers(cfg, voices, role_counts(cfg))
    recipes = {s.speaker: s for s in speakers}
    jobs, meta = _plan(cfg, speakers, root)
    groups: dict[tuple[str, str], list[UttJob]] = defaultdict(list)
    for job in jobs:
        groups[(recipes[job.speaker].base_voice, job.text)].append(job)
    work = [(v, t, js) for (v, t), js in sorted(groups.items())]
    durations: dict[str, float] = {}
    clipped = 0
    errors: list[str] = []
    n_workers = workers or cfg.workers
    ctx = mp.get_context("fork")
    with ctx.Pool(n_workers, initializer=_init_worker, initargs=(cfg, recipes)) as pool:
        for results in tqdm(pool.imap_unordered(_synth_group, work, chunksize=2), total=len(work),
                            desc=f"MiniVPC[{scale}] synth", unit="sent"):
            for utt_id, dur, clip, err in results:
                if err:
                    errors.append(err)
                else:
                    durations[utt_id] = dur
                    clipped += clip
    if errors:
        raise RuntimeError(f"{len(errors)} utterances failed, first: {errors[0]}")
    _write_dirs(root, speakers, jobs, meta, durations)
    card = data_card(root, cfg, speakers, jobs, durations, voices, clipped, time.time() - start)
    atomic_write_json(root / "speakers.json", [asdict(s) for s in speakers])
    atomic_write_json(root / "data_card.json", card)
    return root


def _write_dirs(root: Path, speakers: list[SpeakerRecipe], jobs: list[UttJob], meta: dict,
                durations: dict[str, float]) -> None:
    recipes = {s.speaker: s for s in speakers}
    by_role: dict[str, list[Utterance]] = defaultdict(list)
    for job in jobs:
        spk = recipes[job.speaker]
        by_role[spk.role].append(Utterance(job.utt_id, job.speaker, Path(job.out_path), job.text.upper(),
                                           job.emotion, spk.gender, durations[job.utt_id]))
    spk2gender = {s.speaker: s.gender for s in speakers}
    for role, utts in by_role.items():
        if role == "libri":
            enroll = [u for u in utts if u.utt_id in meta["libri_enroll"]]
            write_data_dir(root / "libri_test_enrolls", enroll, root, spk2gender)
            for gender in ("f", "m"):
                trial_utts = [u for u in utts if u.utt_id not in meta["libri_enroll"] and u.gender == gender]
                enroll_spks = sorted({u.speaker for u in enroll if u.gender == gender})
                trials = [(e, t.utt_id, e == t.speaker) for e in enroll_spks for t in sorted(trial_utts, key=lambda u: u.utt_id)]
                write_data_dir(root / f"libri_test_trials_{gender}", trial_utts, root, spk2gender, trials=trials)
        else:
            spk2fold = {s: f for s, f in meta["spk2fold"].items()} if role == "iemocap" else None
            write_data_dir(root / ROLE_DIRS[role], utts, root, spk2gender, spk2fold=spk2fold)


def data_card(root: Path, cfg: DataConfig, speakers, jobs, durations, voices, clipped, seconds) -> dict:
    recipes = {s.speaker: s for s in speakers}
    roles: dict[str, dict] = {}
    for role in ROLE_DIRS:
        role_jobs = [j for j in jobs if recipes[j.speaker].role == role]
        spks = {j.speaker for j in role_jobs}
        roles[role] = {
            "dir": ROLE_DIRS[role] if role != "libri" else "libri_test_{enrolls,trials_f,trials_m}",
            "speakers": len(spks),
            "female": sum(recipes[s].gender == "f" for s in spks),
            "utterances": len(role_jobs),
            "hours": round(sum(durations[j.utt_id] for j in role_jobs) / 3600, 3),
            "emotions": dict(Counter(j.emotion for j in role_jobs)),
        }
    all_spk = [s.speaker for s in speakers]
    assert len(all_spk) == len(set(all_spk)), "speaker ids must be unique across roles"
    return {
        "name": "MiniVPC", "seed": cfg.seed, "sample_rate": SAMPLE_RATE, "base_voices": voices,
        "speakers_total": len(speakers), "utterances_total": len(jobs),
        "hours_total": round(sum(durations.values()) / 3600, 3), "roles": roles,
        "emotion_randomness": {"sigma_speaker": cfg.sigma_speaker, "sigma_utterance": cfg.sigma_utterance},
        "soft_limited_files": clipped, "generation_seconds": round(seconds, 1),
        "ser_split": "IEMOCAP_test folds are speaker-disjoint (2 speakers per fold); SER fold models train on "
                     "train_ser + the other folds",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paperlib.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    gen = sub.add_parser("generate", help="synthesize MiniVPC (skips finished files)")
    gen.add_argument("--scale", default="mini", choices=["smoke", "mini"])
    gen.add_argument("--workers", type=int, default=None, help="parallel processes (default: 2)")
    card = sub.add_parser("card", help="print the data card JSON")
    card.add_argument("--scale", default="mini")
    args = parser.parse_args(argv)
    if args.cmd == "generate":
        root = generate(args.scale, workers=args.workers)
        print(json.dumps(json.loads((root / "data_card.json").read_text())["roles"], indent=1))
    else:
        print((paths.data_dir(args.scale) / "data_card.json").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
