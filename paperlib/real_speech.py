"""Real speech, held out: what the shipped anonymizer does to real recordings.

    python -m paperlib.real_speech --scale mini       # run by `make paper` after the bundle export

Takes the committed LibriSpeech test-other sample (``data/real/librispeech_test-other``: 10 real readers x 10
utterances, CC BY 4.0; nothing in the project trains on it) through

* ``original``          the recordings as they are;
* ``copy_synthesis``    WORLD analysis -> synthesis in the codec's feature space (what the vocoder costs);
* ``codec_resynthesis`` the bundle's content encoder and codec, each utterance's own codes (what the tokenizers
                        cost on real speech, before any LM);
* every system the bundle ships (``frame-distill``, ``baseline``), exactly as ``python -m paperlib anonymize``
  runs them (``anonymize.anonymize_recording``: silence, level, long files cut at pauses), one pseudo-speaker
  per utterance;

and scores each with

* WER of whisper tiny.en against **pseudo-transcripts** (whisper tiny.en on the originals; the sample ships
  without LibriSpeech's transcripts, data/real/README.md), with a 95% bootstrap CI over utterances;
* speaker EER with resemblyzer's pretrained speaker encoder (trained on real speech, a stronger attacker here
  than the MiniVPC-trained ECAPA): lazy-informed (enrolment processed by the same system) and ignorant (original
  enrolment); the first 3 utterances of each reader enrol, the other 7 are trials; non-targets of the same
  gender, as in the VoicePrivacy protocol.

Writes ``figures/real_speech.{json,md}``; the processed audio is cached under ``cache/<scale>/real_speech/``,
keyed by the bundle's manifest and this stage's settings. Emotion (UAR) is not scored: no real emotional corpus
is committed yet (README, "Honest limits").
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import paths
from .audio import SAMPLE_RATE, load_wav, save_wav
from .utils import atomic_write_json, atomic_write_text

CORPUS = "librispeech_test-other"
TRANSCRIPTS = "transcripts.whisper-tiny.en.tsv"
ENROLL_UTTS = 3
BOOTSTRAP = 1000
REFERENCE_ROWS = ("original", "copy_synthesis", "codec_resynthesis")


@dataclass(frozen=True)
class RealUtterance:
    utt_id: str
    speaker: str
    gender: str
    path: Path


def corpus_dir(name: str = CORPUS) -> Path:
    return paths.PROJECT_ROOT / "data" / "real" / name


def load_corpus(root: Path) -> list[RealUtterance]:
    """Every ``<reader>/<utt>.flac`` under ``root``, the readers' genders from LibriSpeech's ``SPEAKERS.TXT``."""
    speakers_file = root / "SPEAKERS.TXT"
    if not speakers_file.exists():
        raise FileNotFoundError(f"{speakers_file}: missing (data/real/README.md says where the corpus comes from)")
    gender = {}
    for line in speakers_file.read_text().splitlines():
        if line.strip() and not line.startswith(";"):
            fields = [f.strip() for f in line.split("|")]
            if len(fields) < 2 or fields[1] not in ("F", "M"):
                raise ValueError(f"{speakers_file}: cannot read the reader line {line!r}")
            gender[fields[0]] = fields[1].lower()
    utts = []
    for path in sorted(root.glob("*/*.flac")):
        speaker = path.parent.name
        if speaker not in gender:
            raise ValueError(f"{path}: reader {speaker} is not in {speakers_file}")
        utts.append(RealUtterance(path.stem, speaker, gender[speaker], path))
    if not utts:
        raise FileNotFoundError(f"{root}: no <reader>/*.flac files")
    return utts


def trials(utts: list[RealUtterance], enroll: int = ENROLL_UTTS) -> tuple[dict[str, list[str]], list[str]]:
    """(reader -> enrolment utterances, trial utterances): each reader's first ``enroll`` utterances enrol."""
    by_speaker: dict[str, list[str]] = {}
    for u in utts:
        by_speaker.setdefault(u.speaker, []).append(u.utt_id)
    enrolment = {s: sorted(ids)[:enroll] for s, ids in by_speaker.items()}
    enrolled = {i for ids in enrolment.values() for i in ids}
    return enrolment, [u.utt_id for u in utts if u.utt_id not in enrolled]


def speaker_eer(utts: list[RealUtterance], enroll_emb: dict[str, np.ndarray], trial_emb: dict[str, np.ndarray]) -> float:
    """EER (%) of cosine scores between each trial and each same-gender reader's mean enrolment embedding."""
    from .eval import eer

    info = {u.utt_id: u for u in utts}
    enrolment, trial_ids = trials(utts)
    models = {}
    for spk, ids in enrolment.items():
        m = np.mean([enroll_emb[i] for i in ids], axis=0)
        models[spk] = m / np.linalg.norm(m)
    target, nontarget = [], []
    for t in trial_ids:
        e = trial_emb[t] / np.linalg.norm(trial_emb[t])
        for spk, m in models.items():
            if info[enrolment[spk][0]].gender != info[t].gender:
                continue
            (target if spk == info[t].speaker else nontarget).append(float(e @ m))
    return eer(np.array(target), np.array(nontarget))


def utterance_wer_ci(refs: list[str], hyps: list[str], seed: int = 0) -> tuple[float, float, float]:
    """(corpus WER, 95% bootstrap CI over utterances)."""
    from .eval import _word_errors, bootstrap_ci

    counts = np.array([_word_errors(r, h) for r, h in zip(refs, hyps)], dtype=float)
    wer = 100.0 * counts[:, 0].sum() / max(counts[:, 1].sum(), 1.0)
    lo, hi = bootstrap_ci(lambda idx: 100.0 * counts[idx, 0].sum() / counts[idx, 1].sum(), len(refs), BOOTSTRAP, seed)
    return wer, lo, hi


def _transcribe(wavs: list[np.ndarray]) -> list[str]:
    from .eval import transcribe, whisper_tiny_en

    return [t.strip() for t in transcribe(whisper_tiny_en(), wavs)]


def pseudo_transcripts(root: Path, utts: list[RealUtterance]) -> dict[str, str]:
    """utt -> whisper tiny.en's transcript of the original (read from the committed TSV; written when absent)."""
    path = root / TRANSCRIPTS
    if path.exists():
        rows = dict(line.split("\t", 1) for line in path.read_text().splitlines() if line.strip())
        missing = [u.utt_id for u in utts if u.utt_id not in rows]
        if not missing:
            return rows
        print(f"note: {path}: no transcript for {len(missing)} utterances; transcribing them all again", file=sys.stderr)
    texts = _transcribe([load_wav(u.path) for u in utts])
    atomic_write_text(path, "".join(f"{u.utt_id}\t{t}\n" for u, t in zip(utts, texts)))
    return {u.utt_id: t for u, t in zip(utts, texts)}


def _embed(wavs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from resemblyzer import preprocess_wav

    from .eval import _resemblyzer_encoder

    enc = _resemblyzer_encoder()
    return {k: enc.embed_utterance(preprocess_wav(w, source_sr=SAMPLE_RATE)) for k, w in wavs.items()}


def _reference_audio(kind: str, wav: np.ndarray, content_encoder, codec) -> np.ndarray:
    import torch

    from .tokenizers import aligned_acoustic_codes, synthesize_features, world_features

    feats = world_features(wav, codec.cfg)
    if kind == "copy_synthesis":
        return synthesize_features(feats, codec.cfg)
    with torch.inference_mode():
        tokens = content_encoder.encode(torch.from_numpy(wav)[None])[0]
        content, codes = aligned_acoustic_codes(codec, feats, tokens)
    return codec.decode_to_wav(codes, content)


def run(scale: str = "mini", bundle_path: Path | None = None, seed: int = 0, limit: int | None = None,
        out_dir: Path | None = None) -> dict:
    """Process and score the real-speech corpus; returns (and writes) the results."""
    import torch
    from tqdm import tqdm

    from .anonymize import anonymize_recording
    from .bundle import load_bundle

    root = corpus_dir()
    utts = load_corpus(root)
    if limit:                                   # a few readers, every utterance of each (tests)
        keep = sorted({u.speaker for u in utts})[:limit]
        utts = [u for u in utts if u.speaker in keep]
    refs = pseudo_transcripts(root, utts)
    bundle = load_bundle(bundle_path or paths.models_dir(scale))
    content_encoder, codec, _ = bundle.encoders()
    key = hashlib.sha256(json.dumps([bundle.manifest["files"], seed], sort_keys=True).encode()).hexdigest()[:10]
    audio_root = paths.cache_dir(scale) / "real_speech" / key
    originals = {u.utt_id: load_wav(u.path) for u in utts}
    results, failures = {}, {}
    for system in REFERENCE_ROWS + tuple(bundle.systems):
        if system == "original":
            wavs, took, processed = originals, 0.0, 0
        else:
            wavs, took, processed, failures[system] = {}, 0.0, 0, []
            parts = inf = None
            for u in tqdm(utts, desc=f"real speech: {system}", unit="utt"):
                path = audio_root / system / f"{u.utt_id}.wav"
                if path.exists():
                    wavs[u.utt_id] = load_wav(path)
                    continue
                start = time.perf_counter()
                try:
                    if system in REFERENCE_ROWS:
                        if system == "codec_resynthesis" and not bundle.ships_codec_encoder:
                            break
                        out = _reference_audio(system, originals[u.utt_id], content_encoder, codec)
                    else:
                        if parts is None:
                            parts, inf = bundle.parts(system)
                        out = anonymize_recording(parts, inf, bundle.prompt_tokens(), bundle.pools(), originals[u.utt_id],
                                                  u.utt_id, seed, name=str(u.path))
                except Exception as exc:          # one file's failure is counted, not fatal
                    failures[system].append(f"{u.path}: {type(exc).__name__}: {exc}")
                    continue
                took += time.perf_counter() - start
                processed += 1
                save_wav(path, out)
                wavs[u.utt_id] = load_wav(path)     # scored as stored (16-bit), so a cached run scores the same
            if not wavs:
                continue
        done = [u for u in utts if u.utt_id in wavs]
        hyps = _transcribe([wavs[u.utt_id] for u in done]) if system != "original" else [refs[u.utt_id] for u in done]
        wer, lo, hi = utterance_wer_ci([refs[u.utt_id] for u in done], hyps, seed)
        emb = _embed(wavs)
        orig_emb = emb if system == "original" else results["original"]["_emb"]
        row = {"WER": wer, "WER_lo": lo, "WER_hi": hi, "utterances": len(done),
               "failures": len(failures.get(system, [])),
               "EER-L": speaker_eer(done, emb, emb) if len(done) == len(utts) else float("nan"),
               "EER-I": speaker_eer(done, orig_emb, emb) if len(done) == len(utts) else float("nan"),
               "_emb": emb}
        if processed:                           # this run's processing time (a cached run has none)
            row["seconds_per_utterance"] = took / processed
        row["examples"] = [{"utt": u.utt_id, "reference": refs[u.utt_id], "hypothesis": h}
                           for u, h in list(zip(done, hyps))[:3]]
        results[system] = row
    for row in results.values():
        row.pop("_emb")
    report = {"corpus": CORPUS, "source": "data/real/README.md", "readers": len({u.speaker for u in utts}),
              "utterances": len(utts), "minutes": sum(len(w) for w in originals.values()) / SAMPLE_RATE / 60,
              "bundle": str(bundle.path.relative_to(paths.PROJECT_ROOT) if bundle.path.is_relative_to(paths.PROJECT_ROOT)
                            else bundle.path), "bundle_key": key, "seed": seed,
              "wer_reference": "whisper tiny.en pseudo-transcripts of the originals (WER of the original is 0 by construction)",
              "asv": "resemblyzer VoiceEncoder (pretrained on real speech); enrolment: each reader's first 3 utterances",
              "systems": results, "failure_messages": {k: v[:5] for k, v in failures.items() if v}}
    out_dir = out_dir or paths.figures_dir(scale)
    if not limit:
        atomic_write_json(out_dir / "real_speech.json", report)
        atomic_write_text(out_dir / "real_speech.md", markdown(report))
        _demo_page(out_dir / "demo", utts, audio_root, list(results), report)
    return report


def _demo_page(demo_dir: Path, utts: list[RealUtterance], audio_root: Path, systems: list[str], report: dict) -> Path:
    """The demo page's real-speech section: the first trial utterance of two female and two male readers."""
    from .demo import build_real_speech_page

    _, trial_ids = trials(utts)
    first: dict[str, RealUtterance] = {}
    for u in utts:
        if u.utt_id in trial_ids and u.speaker not in first:
            first[u.speaker] = u
    picks = [u for g in "fm" for u in [x for x in first.values() if x.gender == g][:2]]
    samples = {u.utt_id: {s: (u.path if s == "original" else audio_root / s / f"{u.utt_id}.wav") for s in systems}
               for u in picks}
    wers = ", ".join(f"{s} {r['WER']:.0f}" for s, r in ordered_systems(report) if s != "original")
    intro = (f"Held-out LibriSpeech test-other readers (CC BY 4.0, data/real/README.md), never trained on, through the "
             f"committed bundle as `python -m paperlib anonymize` runs it. The mini models were trained on synthetic "
             f"MiniVPC voices only: WER against the originals' whisper transcripts {wers} (figures/real_speech.md).")
    return build_real_speech_page(demo_dir, samples, intro)


def ordered_systems(report: dict) -> list[tuple[str, dict]]:
    """The report's rows in pipeline order: original, copy-synthesis, codec resynthesis, then the systems."""
    rank = {name: i for i, name in enumerate(REFERENCE_ROWS)}
    return sorted(report["systems"].items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))


def markdown(report: dict) -> str:
    lines = [f"Real speech ({report['corpus']}: {report['readers']} readers, {report['utterances']} utterances, "
             f"{report['minutes']:.1f} min; held out, never trained on). WER against whisper tiny.en pseudo-transcripts "
             "of the originals [95% CI]; EER with resemblyzer, lazy-informed (L) and ignorant (I).", "",
             "| speech | WER | EER-L | EER-I | failures |", "|---|---|---|---|---|"]
    for name, r in ordered_systems(report):
        lines.append(f"| {name} | {r['WER']:.1f} [{r['WER_lo']:.1f}, {r['WER_hi']:.1f}] | {r['EER-L']:.1f} | "
                     f"{r['EER-I']:.1f} | {r['failures']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paperlib.real_speech", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="mini", choices=["smoke", "mini", "full"])
    parser.add_argument("--bundle", type=Path, help="bundle folder (default models/<scale>)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    report = run(args.scale, args.bundle, args.seed)
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
