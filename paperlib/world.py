"""WORLD (pyworld) analysis / transformation / synthesis shared by the data generator and the codec.

Speaker transforms (F0 scale and range, two-segment vocal-tract warp, spectral
tilt, breathiness, tempo) and emotion transforms (F0 level/range, tempo, gain,
tilt, breathiness) are the same operations with different parameters.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyworld

from .audio import SAMPLE_RATE

FFT_SIZE = 1024


@dataclass
class WorldParams:
    f0: np.ndarray      # (T,) Hz, 0 = unvoiced
    sp: np.ndarray      # (T, FFT_SIZE//2+1) power spectral envelope
    ap: np.ndarray      # (T, FFT_SIZE//2+1) aperiodicity in [0, 1]
    period_ms: float


def analyze(wav: np.ndarray, period_ms: float = 5.0, tracker: str = "dio") -> WorldParams:
    x = wav.astype(np.float64)
    if tracker == "harvest":
        f0, t = pyworld.harvest(x, SAMPLE_RATE, frame_period=period_ms, f0_floor=60, f0_ceil=500)
    else:
        f0, t = pyworld.dio(x, SAMPLE_RATE, frame_period=period_ms, f0_floor=60, f0_ceil=500)
        f0 = pyworld.stonemask(x, f0, t, SAMPLE_RATE)
    sp = pyworld.cheaptrick(x, f0, t, SAMPLE_RATE, fft_size=FFT_SIZE)
    ap = pyworld.d4c(x, f0, t, SAMPLE_RATE, fft_size=FFT_SIZE)
    # silence the voicing decision of near-silent frames (trackers mark some as voiced)
    frame_energy = sp.sum(axis=1)
    f0[frame_energy < 1e-4 * np.median(frame_energy[frame_energy > 0] + 1e-12)] = 0.0
    return WorldParams(f0, sp, ap, period_ms)


def synthesize(p: WorldParams) -> np.ndarray:
    wav = pyworld.synthesize(np.ascontiguousarray(p.f0, dtype=np.float64), np.ascontiguousarray(p.sp, dtype=np.float64),
                             np.ascontiguousarray(p.ap, dtype=np.float64), SAMPLE_RATE, frame_period=p.period_ms)
    return wav.astype(np.float32)


def _freqs(n_bins: int) -> np.ndarray:
    return np.linspace(0, SAMPLE_RATE / 2, n_bins)


def warp_envelope(sp: np.ndarray, slope_low: float, slope_high: float, knee_frac: float = 0.25) -> np.ndarray:
    """Two-segment frequency warp: output frequency f takes input frequency w^-1(f).

    slope > 1 shifts formants up (shorter vocal tract). The two slopes meet at
    a knee at knee_frac of Nyquist, so low and high formants move differently.
    """
    freqs = _freqs(sp.shape[1])
    nyq = SAMPLE_RATE / 2
    knee_in = knee_frac * nyq
    knee_out = knee_in * slope_low
    src = np.where(freqs <= knee_out, freqs / slope_low, knee_in + (freqs - knee_out) / slope_high)
    src = np.clip(src, 0, nyq)
    out = np.empty_like(sp)
    for i in range(sp.shape[0]):
        out[i] = np.interp(src, freqs, sp[i])
    return np.maximum(out, 1e-16)


def apply_tilt(sp: np.ndarray, db_per_octave: float, pivot_hz: float = 1000.0) -> np.ndarray:
    freqs = np.maximum(_freqs(sp.shape[1]), 50.0)
    gain_db = db_per_octave * np.log2(freqs / pivot_hz)
    return sp * (10.0 ** (gain_db / 10.0))[None, :]


def add_breathiness(ap: np.ndarray, amount: float) -> np.ndarray:
    amount = float(np.clip(amount, 0.0, 0.95))
    return np.clip(ap + amount * (1.0 - ap), 0.0, 1.0)


def transform_f0(f0: np.ndarray, scale: float, range_scale: float, ref_log_f0: float | None = None) -> np.ndarray:
    voiced = f0 > 0
    if not voiced.any():
        return f0.copy()
    log_f0 = np.log(f0[voiced])
    center = np.mean(log_f0) if ref_log_f0 is None else ref_log_f0
    out = np.zeros_like(f0)
    out[voiced] = np.exp(center + (log_f0 - center) * range_scale) * scale
    return np.clip(out, 0, 900)


def change_tempo(p: WorldParams, tempo: float) -> WorldParams:
    """tempo > 1 speaks faster: resample the frame sequence along time."""
    n_in = p.f0.shape[0]
    n_out = max(2, int(round(n_in / tempo)))
    pos = np.linspace(0, n_in - 1, n_out)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    w = (pos - lo)[:, None]
    sp = np.exp((1 - w) * np.log(p.sp[lo]) + w * np.log(p.sp[hi]))
    ap = (1 - w) * p.ap[lo] + w * p.ap[hi]
    # F0: nearest frame keeps voicing decisions crisp
    f0 = p.f0[np.round(pos).astype(int)]
    return WorldParams(f0, sp, ap, p.period_ms)
