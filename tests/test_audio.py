import warnings

import numpy as np
import pytest

from paperlib.audio import AudioError, load_wav, save_wav
from conftest import write_wav


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="does not exist"):
        load_wav(tmp_path / "nope.wav")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.wav"; p.write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        load_wav(p)


def test_corrupt_file(tmp_path):
    p = tmp_path / "bad.wav"; p.write_bytes(b"RIFF....garbage" * 10)
    with pytest.raises(AudioError, match=r"bad\.wav: cannot decode"):
        load_wav(p)


def test_too_short(tmp_path):
    with pytest.raises(AudioError, match="shorter than 0.1 s"):
        load_wav(write_wav(tmp_path / "short.wav", seconds=0.05))


def test_nan_samples(tmp_path):
    with pytest.raises(AudioError, match="NaN or inf"):
        load_wav(write_wav(tmp_path / "nan.wav", value=np.nan))


def test_stereo_is_downmixed_with_note(tmp_path):
    with pytest.warns(UserWarning, match="down-mixed"):
        wav = load_wav(write_wav(tmp_path / "st.wav", channels=2))
    assert wav.ndim == 1 and len(wav) == 8000


def test_other_rate_is_resampled_with_note(tmp_path):
    with pytest.warns(UserWarning, match="resampled 44100 Hz -> 16000 Hz"):
        wav = load_wav(write_wav(tmp_path / "hi.wav", seconds=1.0, sr=44100))
    assert abs(len(wav) - 16000) <= 1


def test_save_is_atomic_and_roundtrips(tmp_path):
    x = (0.1 * np.sin(np.arange(16000) / 10)).astype(np.float32)
    save_wav(tmp_path / "a.wav", x)
    assert not list(tmp_path.glob(".*tmp"))
    assert np.allclose(load_wav(tmp_path / "a.wav"), x, atol=1e-4)
