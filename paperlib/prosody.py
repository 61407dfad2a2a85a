"""The source's prosody as an explicit stream beside the content tokens (issue 35, docs/FINDINGS.md).

Three measured ways of pushing emotion through learned prosody digits of the content token failed: the LM
generated the same level and F0 for angry and sad sources. This stream gives the LM the source's prosody
directly, as VoicePrivacy's prosody-preserving systems pass F0 contours. Per 48 ms token frame, computed from
the waveform up to the end of that frame only (causal: the streaming anonymizer gets the same rows):

- ``level``: the frame's RMS in dBFS, as (dB + 40) / 20. Absolute on purpose: an emotion's gain is a level
  change, and level says little about who speaks;
- ``periodicity``: the peak normalised autocorrelation in the pitch range (0: silent or noise, 1: periodic);
- ``relative_f0``: log2 F0 minus the running mean of the voiced frames' log2 F0 so far (octaves; 0 when
  unvoiced). The speaker's register is taken out, the contour and its range stay; the target's register
  comes from the prompt. The running mean starts at the first voiced frame, so an utterance-wide F0 shift
  of an emotion is kept only as far as it differs from the utterance's own start.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .audio import FRAME_SAMPLES, SAMPLE_RATE

PROSODY_DIM = 3
PROSODY_VERSION = 1            # part of the cache key of every stored stream: bump when a definition changes
WINDOW = 1024                  # 64 ms ending at the frame's end: two periods of the lowest F0
F0_MIN, F0_MAX = 60.0, 500.0
MIN_LAG, MAX_LAG = int(SAMPLE_RATE / F0_MAX), int(SAMPLE_RATE / F0_MIN)
VOICED_PERIODICITY = 0.6       # normalised autocorrelation above which a frame counts as voiced
SILENT_DBFS = -60.0
OCTAVE_TOLERANCE = 0.9         # the shortest lag within 90% of the best: NCCF peaks at multiples of the period


def _pitch(window: np.ndarray) -> tuple[float, float]:
    """(F0 in Hz, periodicity) of one window: normalised cross-correlation of the window with itself."""
    x = window.astype(np.float64)
    spectrum = np.fft.rfft(x, 2 * WINDOW)
    autocorr = np.fft.irfft(spectrum.real ** 2 + spectrum.imag ** 2)[: MAX_LAG + 2]
    energy = np.concatenate([[0.0], np.cumsum(x * x)])
    lags = np.arange(MIN_LAG - 1, MAX_LAG + 2)
    head, tail = energy[WINDOW - lags], energy[WINDOW] - energy[lags]   # the overlapping parts' energies
    nccf = autocorr[lags] / np.sqrt(np.maximum(head * tail, 1e-20))
    inner = nccf[1:-1]
    peaks = np.flatnonzero((inner >= nccf[:-2]) & (inner >= nccf[2:]))
    if len(peaks) == 0:
        return 0.0, 0.0
    best = float(inner[peaks].max())
    if best <= 0.0:
        return 0.0, 0.0
    first = peaks[inner[peaks] >= OCTAVE_TOLERANCE * best][0]
    return SAMPLE_RATE / float(lags[first + 1]), max(0.0, best)


@dataclass
class ProsodyTracker:
    """Causal, frame by frame: ``push`` raw samples, get the rows of the frames they complete. Offline
    (``prosody_stream``) runs the same tracker over the whole waveform, so streaming == offline exactly."""
    _buffer: np.ndarray = field(default_factory=lambda: np.zeros(WINDOW, dtype=np.float32))
    _pending: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    _f0_sum: float = 0.0
    _f0_count: int = 0

    def push(self, samples: np.ndarray) -> np.ndarray:
        samples = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32).reshape(-1)])
        n = len(samples) // FRAME_SAMPLES
        rows = np.zeros((n, PROSODY_DIM), dtype=np.float32)
        for i in range(n):
            frame = samples[i * FRAME_SAMPLES:(i + 1) * FRAME_SAMPLES]
            self._buffer = np.concatenate([self._buffer, frame])[-WINDOW:]
            rows[i] = self._row(frame)
        self._pending = samples[n * FRAME_SAMPLES:]
        return rows

    def _row(self, frame: np.ndarray) -> np.ndarray:
        dbfs = 10.0 * np.log10(float(np.mean(frame.astype(np.float64) ** 2)) + 1e-10)
        f0, periodicity = _pitch(self._buffer) if dbfs > SILENT_DBFS else (0.0, 0.0)
        relative = 0.0
        if periodicity >= VOICED_PERIODICITY and f0 > 0:
            log_f0 = float(np.log2(f0))
            self._f0_sum += log_f0
            self._f0_count += 1
            relative = float(np.clip(log_f0 - self._f0_sum / self._f0_count, -1.0, 1.0))
        level = float(np.clip((max(dbfs, -100.0) + 40.0) / 20.0, -3.0, 2.0))
        return np.array([level, periodicity, relative], dtype=np.float32)


def prosody_stream(wav: np.ndarray) -> np.ndarray:
    """(T, PROSODY_DIM) float32 rows of a 16 kHz waveform, T = len(wav) // FRAME_SAMPLES (the token frames)."""
    return ProsodyTracker().push(wav)


# ---- level transfer: the source's loudness on the anonymized speech ----------------------------------------

SPEECH_DBFS = -50.0            # frames above this level count in the running means
MAX_GAIN_DB = 15.0


def row_dbfs(level: float) -> float:
    """A stream row's ``level`` back to dBFS."""
    return 20.0 * float(level) - 40.0


@dataclass
class LevelTransfer:
    """Causal, frame by frame: each output frame gets the gain that brings the running mean level of the
    output's speech frames to the running mean level of the source's (dB), ramped across the frame from the
    previous frame's gain so that no step is heard. An emotion's level (angry ~6 dB above sad here) is an
    utterance-wide gain the LM does not reproduce (docs/FINDINGS.md); the codes keep the contour."""
    _source_sum: float = 0.0
    _source_count: int = 0
    _output_sum: float = 0.0
    _output_count: int = 0
    _gain_db: float = 0.0

    def frame(self, output: np.ndarray, source_level: float) -> np.ndarray:
        """One output frame (FRAME_SAMPLES) and the source frame's stream ``level`` -> the frame with its gain."""
        source_db = row_dbfs(source_level)
        output_db = 10.0 * np.log10(float(np.mean(output.astype(np.float64) ** 2)) + 1e-10)
        if source_db > SPEECH_DBFS:
            self._source_sum += source_db
            self._source_count += 1
        if output_db > SPEECH_DBFS:
            self._output_sum += output_db
            self._output_count += 1
        target = self._gain_db
        if self._source_count and self._output_count:
            target = float(np.clip(self._source_sum / self._source_count - self._output_sum / self._output_count,
                                   -MAX_GAIN_DB, MAX_GAIN_DB))
        ramp = np.linspace(self._gain_db, target, len(output), endpoint=False, dtype=np.float64)
        self._gain_db = target
        return (output * 10.0 ** (ramp / 20.0)).astype(np.float32)


def transfer_level(wav: np.ndarray, source_rows: np.ndarray) -> np.ndarray:
    """Offline ``LevelTransfer`` over a whole output (frame t of the output is the anonymization of source frame
    t; frames past the source's rows keep the last gain)."""
    transfer, out = LevelTransfer(), np.array(wav, dtype=np.float32)
    levels = np.asarray(source_rows)[:, 0]
    for t in range(len(out) // FRAME_SAMPLES):
        span = slice(t * FRAME_SAMPLES, (t + 1) * FRAME_SAMPLES)
        out[span] = transfer.frame(out[span], levels[min(t, len(levels) - 1)])
    return out
