"""The emotion budget: where along the anonymizer emotion is kept or lost, measured on IEMOCAP_test.

Every row is IEMOCAP_test speech after one more step of the pipeline, scored by the evaluation SER
(eGeMAPS + logistic regression per fold, ``Evaluator.emotion_scores``: UAR and per-class recall with 95%
bootstrap CIs) and described per emotion by its prosody (RMS dBFS, median F0 in semitones re 100 Hz, F0
range in semitones):

    original                  the recordings
    copy_synthesis            WORLD analysis -> synthesis (what the vocoder costs)
    codec_resynthesis         the tokenizer codec, own codes, 8 stages
    codec_stage0              the same, stage 0 only (what an LM that gets codebook 0 right can keep)
    anonymizer_decoder        the anonymizer's (adapted) decoder, own codes
    content_alone             the codec decoder from the content tokens alone (no codes)
    other_utterance_codes     the codes of another utterance of the same speaker against this content
    lm_same_speaker           the pretrained LM, prompted by a neutral utterance of the same speaker
    <system>/seed<s>          the cached anonymized speech of the Table 2 systems named in ``SYSTEM_ROWS``

Beside the rows: the content-token probes (``probes.content_probes``, ``probes.phone_accuracy``). Rows are
cached one by one under cache/<scale>/emotion_budget/ by what makes their speech and the SER recipe.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .analysis import prosody
from .config import EMOTIONS
from .prosody import PROSODY_VERSION
from .utils import atomic_write_json, config_hash, stable_int

NAME = "IEMOCAP_test"
SYSTEM_ROWS = {"Baseline": "table2/0_baseline", "Exp7": "table2/7_exp7_aco"}


def prosody_by_emotion(wavs: list[np.ndarray], emotions: list[str]) -> dict:
    """Per emotion: mean RMS dBFS, median F0 (semitones re 100 Hz) and F0 range (semitones, 10-90th pct)."""
    rows = [prosody(w) for w in wavs]
    out = {}
    for emo in EMOTIONS:
        sel = [r for r, e in zip(rows, emotions) if e == emo]
        f0 = np.array([r["f0_median"] for r in sel], dtype=float)
        out[emo] = {"rms_dbfs": float(np.mean([r["rms_db"] for r in sel])),
                    "f0_median_st": float(np.nanmean(12 * np.log2(f0 / 100.0))),
                    "f0_range_st": float(np.nanmean([r["f0_range_st"] for r in sel]))}
    return out


def score_row(ev, wavs: dict[str, np.ndarray], seed: int = 0) -> dict:
    """One budget row of IEMOCAP_test speech ``wavs`` (utt -> waveform)."""
    utts = sorted(wavs)
    emotions = [ev.ws.data(NAME).utts[u].emotion for u in utts]
    scores = ev.emotion_scores([wavs[u] for u in utts], utts, seed)
    predicted = list(scores.pop("ser_predictions").values())
    share = {e: 100.0 * predicted.count(e) / len(predicted) for e in EMOTIONS}
    p = prosody_by_emotion([wavs[u] for u in utts], emotions)
    return {**scores, "predicted_share": share, "max_class_share": max(share.values()), "prosody": p,
            "angry_minus_sad_rms_db": p["ang"]["rms_dbfs"] - p["sad"]["rms_dbfs"],
            "f0_spread_st": float(np.ptp([p[e]["f0_median_st"] for e in EMOTIONS]))}


def _codec_rows(ws) -> dict[str, dict[str, np.ndarray]]:
    """The tokenizer rows' speech: copy-synthesis, codec resynthesis (all stages, stage 0), the anonymizer's
    decoder, content alone, another utterance's codes."""
    from .tokenizers import aligned_acoustic_codes
    from .tokenizers import synthesize_features
    from .train_tokenizers import same_speaker_others, tile_frames

    codec, decoder, cfg = ws.codec(), ws.anonymizer_codec(), ws.cfg.codec
    aligned, d = ws.frame_aligned(NAME), ws.data(NAME)
    utts = sorted(aligned)
    coded = {u: aligned_acoustic_codes(codec, *aligned[u]) for u in utts}
    others = same_speaker_others([d.utts[u].speaker for u in utts])
    rows: dict[str, dict[str, np.ndarray]] = {k: {} for k in (
        "copy_synthesis", "codec_resynthesis", "codec_stage0", "anonymizer_decoder", "content_alone",
        "other_utterance_codes")}
    for i, u in enumerate(tqdm(utts, desc="emotion budget: codec rows")):
        content, codes = coded[u]
        content, codes = content.long(), codes.long()
        other = coded[utts[others[i][stable_int("budget", u) % len(others[i])]]][1].long()
        rows["copy_synthesis"][u] = synthesize_features(aligned[u][0], cfg)
        rows["codec_resynthesis"][u] = codec.decode_to_wav(codes, content)
        rows["codec_stage0"][u] = codec.decode_to_wav(codes, content, n_stages=1)
        rows["anonymizer_decoder"][u] = decoder.decode_to_wav(codes, content)
        rows["content_alone"][u] = codec.decode_to_wav(codes, content, n_stages=0)
        rows["other_utterance_codes"][u] = codec.decode_to_wav(tile_frames(other, len(codes)), content)
    return rows


def _lm_row(ws, seed: int = 0) -> dict[str, np.ndarray]:
    """The pretrained LM's continuation of each utterance's content, prompted by a neutral utterance of the
    same speaker (its codes and content) with that speaker's mean vector, decoded by the anonymizer's decoder."""
    from .anonymize import Prompt, generate
    from .tokenizers import aligned_acoustic_codes
    from .train import load_lm, pretrain

    lm, codec, decoder = load_lm(ws, pretrain(ws)), ws.codec(), ws.anonymizer_codec()
    aligned, d = ws.frame_aligned(NAME), ws.data(NAME)
    means = ws.speaker_means(NAME)
    coded = {u: aligned_acoustic_codes(codec, *aligned[u]) for u in sorted(aligned)}
    rows = ws.prosody(NAME) if lm.cfg.prosody_dim else None
    neutral: dict[str, list[str]] = {}
    for u in sorted(coded):
        if d.utts[u].emotion == "neu":
            neutral.setdefault(d.utts[u].speaker, []).append(u)
    out = {}
    order = sorted(coded, key=lambda u: (len(coded[u][0]), u))
    inf = ws.inference_config()
    for start in tqdm(range(0, len(order), 32), desc="emotion budget: LM, same-speaker prompt"):
        chunk = order[start:start + 32]
        prompts = []
        for u in chunk:
            pool = [v for v in neutral.get(d.utts[u].speaker, []) if v != u] or [u]
            prompt_utt = pool[stable_int(seed, "budget-prompt", u) % len(pool)]
            c, a = coded[prompt_utt]
            prompts.append(Prompt(c.long(), a.long(), means[d.utts[u].speaker],
                                  None if rows is None else rows[prompt_utt][: len(c)]))
        with torch.no_grad():
            codes = generate(lm, prompts, [coded[u][0].long() for u in chunk], torch.stack([p.speaker for p in prompts]),
                             inf, False, [stable_int(seed, u) for u in chunk],
                             None if rows is None else [rows[u][: len(coded[u][0])] for u in chunk])
        for u, c in zip(chunk, codes):
            out[u] = decoder.decode_to_wav(c.long(), coded[u][0].long())
    return out


def _system_row(ws, key: str, seed: int) -> dict[str, np.ndarray] | None:
    from .audio import load_wav
    from .systems import load_system, system_dir

    anon = system_dir(ws, load_system(ws, key, seed)) / "anon" / NAME
    if not anon.is_dir():
        return None
    from .eval import check_anonymized_dir

    d = check_anonymized_dir(ws.data(NAME), anon)
    return {u: load_wav(d.utts[u].path) for u in d.utts}


def emotion_budget(ws, seeds: tuple[int, ...] | None = None, systems: bool = True) -> dict:
    """Every row (cached one by one) and the content-token probes; system rows only where their speech is
    cached (the pipeline runs the systems first)."""
    from .eval import Evaluator
    from .probes import content_probes, phone_accuracy
    from .systems import load_system, system_hash

    ev = Evaluator(ws)
    seeds = tuple(ws.cfg.seeds if seeds is None else seeds)
    root = ws.cache / "emotion_budget"
    ser_key = config_hash(ws.cfg.eval.ser_c, ws.cfg.eval.bootstrap, ws.data_hash())
    cached = lambda row, key: root / f"{row.replace('/', '-')}-{config_hash(key, ser_key)}.json"
    rows: dict[str, dict] = {}

    def row(name: str, key, speech) -> None:
        path = cached(name, key)
        if not path.exists():
            wavs = speech()
            if wavs is None:
                return
            atomic_write_json(path, score_row(ev, wavs))
        rows[name] = json.loads(path.read_text())

    row("original", "original", lambda: ws.wavs(NAME))
    codec_key = (ws.tokens_key(), ws.anonymizer_codec_key())
    pending = {}
    for name in ("copy_synthesis", "codec_resynthesis", "codec_stage0", "anonymizer_decoder", "content_alone",
                 "other_utterance_codes"):
        if not cached(name, codec_key).exists() and not pending:
            pending = _codec_rows(ws)
        row(name, codec_key, lambda name=name: pending[name])
    from .train import pretrain_path

    row("lm_same_speaker", (pretrain_path(ws).stem, ws.anonymizer_codec_key(), ws.inference_config()),
        lambda: _lm_row(ws))
    if systems:
        for label, key in SYSTEM_ROWS.items():
            for seed in seeds:
                spec = load_system(ws, key, seed)
                row(f"{label}/seed{seed}", system_hash(ws, spec), lambda key=key, seed=seed: _system_row(ws, key, seed))
    probes_path = root / f"content_probes-{config_hash(ws.tokens_key(), PROSODY_VERSION)}.json"
    if not probes_path.exists():
        atomic_write_json(probes_path, {**content_probes(ws), "phone_accuracy": phone_accuracy(ws)})
    return {"set": NAME, "rows": rows, "content_probes": json.loads(probes_path.read_text())}


STEPS = ("original", "copy_synthesis", "codec_resynthesis", "codec_stage0", "anonymizer_decoder", "content_alone",
         "other_utterance_codes", "lm_same_speaker")


def ordered_rows(budget: dict) -> list[tuple[str, dict]]:
    """The rows in pipeline order (the JSON stores them sorted by name): the steps, then the systems."""
    rank = {name: i for i, name in enumerate(STEPS)}
    return sorted(budget["rows"].items(), key=lambda kv: (rank.get(kv[0], len(STEPS)), kv[0]))


def budget_table(budget: dict):
    """The budget as a DataFrame: one row per step, UAR with CI, per-class recall, level gap, max share."""
    import pandas as pd

    out = []
    for name, r in ordered_rows(budget):
        out.append({"speech": name, "UAR": r["UAR"]["value"], "UAR_lo": r["UAR"]["ci_low"], "UAR_hi": r["UAR"]["ci_high"],
                    **{e.capitalize(): r[e.capitalize()]["value"] for e in EMOTIONS},
                    "ang-sad dB": r["angry_minus_sad_rms_db"], "F0 spread st": r["f0_spread_st"],
                    "max class %": r["max_class_share"]})
    return pd.DataFrame(out)


def write_budget(ws, figs: Path, **kwargs) -> dict:
    from .utils import atomic_write_text

    budget = emotion_budget(ws, **kwargs)
    atomic_write_json(figs / "emotion_budget.json", budget)
    atomic_write_text(figs / "emotion_budget.md", budget_table(budget).round(1).to_markdown(index=False) + "\n")
    return budget
