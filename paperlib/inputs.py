"""Real recordings as the anonymizer gets them: silence, level, clipping, length; and a target speaker's voice.

The models were trained on utterances that start and end within a few frames of speech, sit near
``TRAINING_LEVEL_DBFS`` (MiniVPC normalises every utterance there before its emotion gain) and last a few
seconds. ``condition`` brings a recording into that range and says what it changed; the CLI prints the notes
and puts the output back on the input's time line (the trimmed silence comes back as silence).
``check_target_voice`` refuses a target recording that cannot make a prompt (too short, silent, not speech).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .audio import FRAME_SAMPLES, SAMPLE_RATE, AudioError

TRAINING_LEVEL_DBFS = -26.0     # paperlib.data.TARGET_RMS_DBFS; emotions move it by a few dB either way
LEVEL_TOLERANCE_DB = 10.0       # within this of the training level a recording is left as it is
SILENCE_BELOW_PEAK_DB = 40.0    # a frame this far under the loudest frame (or under -65 dBFS) is silence
SILENCE_FLOOR_DBFS = -65.0
EDGE_FRAMES = 2                 # frames of silence kept around the speech (onsets, releases)
CLIPPED_SHARE = 1e-3            # more samples than this at full scale: the recording is clipped
MAX_CHUNK_S = 20.0              # longer recordings are cut at pauses into pieces of at most this
MIN_CHUNK_S = 8.0               # ... and of at least this (except the last one)
MIN_TARGET_SPEECH_S = 3.0       # a target voice needs this much speech for a prompt
MIN_TARGET_VOICED = 0.25        # ... of which at least this share voiced (else it is not speech)
MAX_TARGET_S = 10.0             # a longer target recording is cut here: the prompt is a prefix of every
                                # generation, and the shipped prompts are 1-4 utterances of a few seconds


def frame_levels_db(wav: np.ndarray) -> np.ndarray:
    """RMS level in dBFS of every 48 ms frame (the last, partial one included)."""
    n = max(1, -(-len(wav) // FRAME_SAMPLES))
    padded = np.zeros(n * FRAME_SAMPLES, dtype=np.float64)
    padded[: len(wav)] = wav
    rms = np.sqrt((padded.reshape(n, FRAME_SAMPLES) ** 2).mean(1))
    return 20 * np.log10(rms + 1e-10)


def speech_frames(wav: np.ndarray) -> np.ndarray:
    """Boolean mask of the frames that are not silence (relative to the loudest frame, with an absolute floor)."""
    levels = frame_levels_db(wav)
    return levels > max(levels.max() - SILENCE_BELOW_PEAK_DB, SILENCE_FLOOR_DBFS)


def level_dbfs(wav: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.asarray(wav, dtype=np.float64) ** 2)) + 1e-10))


@dataclass
class Conditioned:
    """A recording brought into the models' range; ``restore`` puts an output back on the input's time line."""
    wav: np.ndarray                  # what the anonymizer gets (trimmed, level-corrected)
    lead: int                        # samples of silence trimmed at the start
    total: int                       # samples of the original recording
    notes: list[str] = field(default_factory=list)
    silent: bool = False             # nothing but silence: the output is silence of the same length

    def restore(self, out: np.ndarray) -> np.ndarray:
        full = np.zeros(self.total, dtype=np.float32)
        piece = out[: self.total - self.lead]
        full[self.lead: self.lead + len(piece)] = piece
        return full


def condition(wav: np.ndarray) -> Conditioned:
    """Trim leading/trailing silence, bring a level far from the training level to it, note clipping."""
    notes = []
    clipped = float(np.mean(np.abs(wav) >= 0.999))
    if clipped > CLIPPED_SHARE:
        notes.append(f"{100 * clipped:.1f}% of the samples are at full scale (clipped); the content tokens "
                     f"may mishear the distorted parts")
    active = speech_frames(wav)
    if level_dbfs(wav) < SILENCE_FLOOR_DBFS or not active.any():
        return Conditioned(np.zeros(0, np.float32), 0, len(wav), notes + ["no speech found (silence): the output "
                                                                          "is silence of the same length"], True)
    idx = np.flatnonzero(active)
    first, last = max(0, idx[0] - EDGE_FRAMES), min(len(active), idx[-1] + 1 + EDGE_FRAMES)
    lead, end = first * FRAME_SAMPLES, min(len(wav), last * FRAME_SAMPLES)
    core = wav[lead:end]
    trimmed_s = (len(wav) - len(core)) / SAMPLE_RATE
    if trimmed_s >= 0.5:
        notes.append(f"{trimmed_s:.1f} s of leading/trailing silence left out (silence in the output)")
    level = level_dbfs(core)
    if abs(level - TRAINING_LEVEL_DBFS) > LEVEL_TOLERANCE_DB:
        # to the edge of the tolerated range, not to the training level: the level's relative cue survives
        target = TRAINING_LEVEL_DBFS + np.sign(level - TRAINING_LEVEL_DBFS) * LEVEL_TOLERANCE_DB
        gain_db = target - level
        core = core * 10 ** (gain_db / 20)
        peak = float(np.abs(core).max())
        if peak > 0.99:          # a quiet recording with loud peaks: no gain that would clip it
            core = core * (0.99 / peak)
            gain_db += 20 * np.log10(0.99 / peak)
        notes.append(f"level {level:.1f} dBFS, {gain_db:+.1f} dB applied (the models were trained near "
                     f"{TRAINING_LEVEL_DBFS:.0f} dBFS)")
    return Conditioned(core.astype(np.float32), lead, len(wav), notes)


def split_at_pauses(wav: np.ndarray, max_s: float = MAX_CHUNK_S, min_s: float = MIN_CHUNK_S) -> list[np.ndarray]:
    """Pieces of at most ``max_s`` (all but the last at least ``min_s``), each cut at the quietest frame of
    its allowed range: a long recording is anonymized piece by piece, as the LM was trained on utterances."""
    max_f, min_f = int(max_s * SAMPLE_RATE) // FRAME_SAMPLES, int(min_s * SAMPLE_RATE) // FRAME_SAMPLES
    levels = frame_levels_db(wav)
    # a frame's loudest neighbourhood (+-2 frames): the cut lands inside a pause, not at its edge
    padded = np.pad(levels, 2, mode="edge")
    levels = np.max(np.stack([padded[i: i + len(levels)] for i in range(5)]), axis=0)
    pieces, start = [], 0
    while len(levels) - start > max_f:
        cut = start + min_f + int(np.argmin(levels[start + min_f: start + max_f]))
        pieces.append(wav[start * FRAME_SAMPLES: cut * FRAME_SAMPLES])
        start = cut
    pieces.append(wav[start * FRAME_SAMPLES:])
    return pieces


def check_target_voice(wav: np.ndarray, name: str) -> np.ndarray:
    """The speech of a target speaker's recording (silence trimmed, at most ``MAX_TARGET_S``), or AudioError naming ``name`` and why
    it cannot make a prompt: silent, under ``MIN_TARGET_SPEECH_S`` of speech, or mostly unvoiced (not speech)."""
    import pyworld

    cond = condition(wav)
    if cond.silent:
        raise AudioError(f"{name}: the target voice is silent")
    speech = cond.wav[np.repeat(speech_frames(cond.wav), FRAME_SAMPLES)[: len(cond.wav)]]
    seconds = len(speech) / SAMPLE_RATE
    if seconds < MIN_TARGET_SPEECH_S:
        raise AudioError(f"{name}: the target voice has {seconds:.1f} s of speech; a prompt needs at least "
                         f"{MIN_TARGET_SPEECH_S:.0f} s (a few sentences of the consenting speaker)")
    f0, _ = pyworld.dio(speech.astype(np.float64), SAMPLE_RATE, f0_floor=60, f0_ceil=700)
    voiced = float(np.mean(f0 > 0))
    if voiced < MIN_TARGET_VOICED:
        raise AudioError(f"{name}: the target voice does not sound like speech ({100 * voiced:.0f}% of it voiced, "
                         f"speech has at least {100 * MIN_TARGET_VOICED:.0f}%)")
    return cond.wav[: int(MAX_TARGET_S * SAMPLE_RATE)]
