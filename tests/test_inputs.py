"""Recordings as they come (paperlib.inputs): silence, level, clipping, long files, target-voice checks."""
import numpy as np
import pytest

from paperlib.audio import FRAME_SAMPLES, SAMPLE_RATE, AudioError
from paperlib.inputs import (MAX_CHUNK_S, MIN_CHUNK_S, TRAINING_LEVEL_DBFS, check_target_voice, condition, level_dbfs,
                             split_at_pauses)


def voiced(seconds: float, level_dbfs: float = -26.0, f0: float = 140.0) -> np.ndarray:
    """A harmonic 'vowel' with a syllable-rate envelope: voiced, speech-like in level and rhythm."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 12)) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
    return (x * 10 ** (level_dbfs / 20) / np.sqrt(np.mean(x ** 2))).astype(np.float32)


def test_silence_is_trimmed_and_restored_on_the_time_line():
    speech = voiced(2.0)
    wav = np.concatenate([np.zeros(SAMPLE_RATE), speech, np.zeros(SAMPLE_RATE // 2)]).astype(np.float32)
    cond = condition(wav)
    assert not cond.silent and len(cond.wav) <= len(speech) + 6 * FRAME_SAMPLES
    assert any("silence left out" in n for n in cond.notes)
    out = cond.restore(cond.wav)
    assert len(out) == len(wav) and np.abs(out[: SAMPLE_RATE - 3 * FRAME_SAMPLES]).max() == 0
    assert np.allclose(out[cond.lead: cond.lead + len(cond.wav)], cond.wav)


def test_level_far_from_training_is_corrected_and_near_is_left():
    quiet = condition(voiced(2.0, -60.0))
    assert abs(level_dbfs(quiet.wav) - (TRAINING_LEVEL_DBFS - 10)) < 0.5 and any("dB applied" in n for n in quiet.notes)
    near = voiced(2.0, -30.0)
    assert np.array_equal(condition(near).wav, near) and not condition(near).notes


def test_clipping_is_reported_and_silence_gives_silence():
    clipped = np.clip(voiced(2.0, -3.0) * 4, -1, 1)
    assert any("clipped" in n for n in condition(clipped).notes)
    silent = condition(np.zeros(SAMPLE_RATE, np.float32))
    assert silent.silent and np.array_equal(silent.restore(np.zeros(0, np.float32)), np.zeros(SAMPLE_RATE))


def test_long_recordings_are_cut_at_pauses():
    sentence = np.concatenate([voiced(3.7), np.zeros(SAMPLE_RATE // 2, np.float32)])
    wav = np.tile(sentence, 12)                                        # 50 s, a pause every 4.2 s
    pieces = split_at_pauses(wav)
    assert len(pieces) >= 3 and sum(map(len, pieces)) == len(wav)
    assert all(MIN_CHUNK_S * SAMPLE_RATE - FRAME_SAMPLES <= len(p) <= MAX_CHUNK_S * SAMPLE_RATE for p in pieces[:-1])
    for p in pieces[:-1]:                                               # every cut falls in a pause
        assert np.abs(p[-FRAME_SAMPLES:]).max() < 1e-3
    assert split_at_pauses(wav[: 5 * SAMPLE_RATE])[0] is not None and len(split_at_pauses(wav[: 5 * SAMPLE_RATE])) == 1


@pytest.mark.parametrize("make,message", [
    (lambda: np.zeros(5 * SAMPLE_RATE, np.float32), "is silent"),
    (lambda: voiced(1.5), "1.5 s of speech"),
    (lambda: (0.05 * np.random.default_rng(0).standard_normal(5 * SAMPLE_RATE)).astype(np.float32),
     "does not sound like speech"),
])
def test_target_voice_refused_with_the_reason(make, message):
    with pytest.raises(AudioError, match=f"voice.wav: .*{message}"):
        check_target_voice(make(), "voice.wav")


def test_target_voice_accepted():
    assert len(check_target_voice(voiced(4.0), "voice.wav")) >= 3 * SAMPLE_RATE
    assert len(check_target_voice(voiced(30.0), "voice.wav")) <= 10 * SAMPLE_RATE
