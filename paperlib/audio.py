"""Validated audio I/O.

Every reader raises :class:`AudioError` naming the file and the problem
(missing, unreadable, empty, too short, NaN/inf), never a deep traceback.
Stereo is down-mixed and other sample rates are resampled, each with a note.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from .utils import atomic_write_bytes

SAMPLE_RATE = 16000
FRAME_SAMPLES = 768                    # one token frame (content and acoustic) = 48 ms at 16 kHz
MIN_DURATION_S = 0.1


class AudioError(ValueError):
    """Bad audio input; the message names the file and the problem."""


def resample(wav: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return wav
    from scipy.signal import resample_poly
    from math import gcd

    g = gcd(sr_in, sr_out)
    return resample_poly(wav, sr_out // g, sr_in // g).astype(np.float32)


def load_wav(path: str | Path, target_sr: int = SAMPLE_RATE, *, allow_resample: bool = True,
             allow_stereo: bool = True, min_duration_s: float = MIN_DURATION_S) -> np.ndarray:
    """Load mono float32 audio at ``target_sr`` or raise AudioError naming the file."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: file does not exist")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty (0 bytes)")
    try:
        wav, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for corrupt data
        raise AudioError(f"{path}: cannot decode audio ({exc})") from None
    if wav.shape[0] == 0:
        raise AudioError(f"{path}: audio has no samples")
    if wav.shape[1] > 1:
        if not allow_stereo:
            raise AudioError(f"{path}: expected mono audio, got {wav.shape[1]} channels")
        warnings.warn(f"{path}: {wav.shape[1]} channels, down-mixed to mono", stacklevel=2)
    wav = wav.mean(axis=1)
    if not np.all(np.isfinite(wav)):
        raise AudioError(f"{path}: audio contains NaN or inf samples")
    if sr != target_sr:
        if not allow_resample:
            raise AudioError(f"{path}: sample rate {sr} Hz, expected {target_sr} Hz")
        warnings.warn(f"{path}: resampled {sr} Hz -> {target_sr} Hz", stacklevel=2)
        wav = resample(wav, sr, target_sr)
    if len(wav) < min_duration_s * target_sr:
        raise AudioError(f"{path}: audio is {len(wav) / target_sr:.3f} s long, shorter than {min_duration_s} s")
    return wav.astype(np.float32)


def save_wav(path: str | Path, wav: np.ndarray, sr: int = SAMPLE_RATE) -> None:
    """Atomic 16-bit PCM write (clipped to [-1, 1]): FLAC for a .flac path, else WAV."""
    buf = io.BytesIO()
    fmt = "FLAC" if Path(path).suffix.lower() == ".flac" else "WAV"
    sf.write(buf, np.clip(np.asarray(wav, dtype=np.float32), -1.0, 1.0), sr, format=fmt, subtype="PCM_16")
    atomic_write_bytes(Path(path), buf.getvalue())


def is_valid_wav(path: Path, min_duration_s: float = MIN_DURATION_S) -> bool:
    try:
        info = sf.info(str(path))
    except Exception:
        return False
    return info.samplerate == SAMPLE_RATE and info.frames >= min_duration_s * SAMPLE_RATE
