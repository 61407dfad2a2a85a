"""The explicit prosody stream: causal (streaming == offline), what each row says, edge cases."""
import numpy as np

from paperlib.audio import FRAME_SAMPLES, SAMPLE_RATE
from paperlib.prosody import PROSODY_DIM, ProsodyTracker, _pitch, prosody_stream


def _voiced(f0: np.ndarray, amplitude: float = 0.1) -> np.ndarray:
    """A pulse-like periodic signal following the F0 contour ``f0`` (Hz per sample)."""
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    return (amplitude * np.sign(np.sin(phase))).astype(np.float32)


def test_pitch_of_harmonic_tones_across_the_range():
    t = np.arange(1024) / SAMPLE_RATE
    for f0 in (70.0, 110.0, 180.0, 260.0, 400.0):
        tone = np.sin(2 * np.pi * f0 * t) + 0.5 * np.sin(4 * np.pi * f0 * t) + 0.3 * np.sin(6 * np.pi * f0 * t + 1)
        estimate, periodicity = _pitch(tone)
        assert abs(12 * np.log2(estimate / f0)) < 0.5, (f0, estimate)        # within half a semitone, no octave error
        assert periodicity > 0.9
    noise = np.random.default_rng(0).standard_normal(1024)
    assert _pitch(noise)[1] < 0.5
    assert _pitch(np.zeros(1024)) == (0.0, 0.0)


def test_streaming_equals_offline_for_any_chunking():
    rng = np.random.default_rng(1)
    wav = np.concatenate([_voiced(np.full(SAMPLE_RATE, 140.0)), 0.01 * rng.standard_normal(5000).astype(np.float32),
                          _voiced(np.linspace(200, 120, SAMPLE_RATE))])
    offline = prosody_stream(wav)
    assert offline.shape == (len(wav) // FRAME_SAMPLES, PROSODY_DIM) and offline.dtype == np.float32
    tracker, pieces, i = ProsodyTracker(), [], 0
    while i < len(wav):
        n = int(rng.integers(1, 3000))
        pieces.append(tracker.push(wav[i:i + n]))
        i += n
    assert np.array_equal(np.concatenate(pieces), offline)


def test_rows_follow_level_voicing_and_the_contour_not_the_register():
    rising = np.exp(np.linspace(np.log(100), np.log(200), 2 * SAMPLE_RATE))      # one octave up over 2 s
    low, high = prosody_stream(_voiced(rising)), prosody_stream(_voiced(rising * 1.5))
    voiced = (low[:, 1] > 0.6) & (high[:, 1] > 0.6)
    assert voiced.mean() > 0.9
    # the register (x1.5) is taken out: the relative F0 is the same contour, and it rises
    assert np.abs(low[voiced, 2] - high[voiced, 2]).max() < 0.05
    assert low[-5:, 2].mean() > low[5:10, 2].mean() + 0.2
    # 12 dB louder -> 0.6 higher level (dB / 20), same voicing
    loud = prosody_stream(_voiced(rising, amplitude=0.1 * 10 ** (12 / 20)))
    assert np.allclose(loud[:, 0] - low[:, 0], 0.6, atol=0.01)
    silent = prosody_stream(np.zeros(10 * FRAME_SAMPLES, np.float32))
    assert np.all(silent[:, 1:] == 0) and np.all(silent[:, 0] == -3.0)


def test_level_transfer_brings_the_output_to_the_source_level_smoothly():
    from paperlib.prosody import MAX_GAIN_DB, transfer_level

    rng = np.random.default_rng(2)
    level = lambda x: 10 * np.log10(np.mean(x.astype(np.float64) ** 2))
    output = (0.03 * rng.standard_normal(FRAME_SAMPLES * 60)).astype(np.float32)
    for source_gain in (0.1, 0.01):                       # a loud and a quiet source, both within MAX_GAIN_DB
        source = (source_gain * rng.standard_normal(FRAME_SAMPLES * 60)).astype(np.float32)
        moved = transfer_level(output, prosody_stream(source))
        assert abs(level(moved[FRAME_SAMPLES * 5:]) - level(source[FRAME_SAMPLES * 5:])) < 1.0
        ratio = np.abs(moved[1:] / np.where(output[1:] == 0, 1, output[1:]))
        assert np.abs(np.diff(20 * np.log10(ratio))).max() < 0.1        # the gain is ramped, never stepped
    silent_source = prosody_stream(np.zeros(FRAME_SAMPLES * 60, np.float32))
    assert np.array_equal(transfer_level(output, silent_source), output)    # no speech: no gain
    far = transfer_level(output, prosody_stream(source * 100))              # beyond the cap: capped
    assert level(far[FRAME_SAMPLES * 5:]) - level(output[FRAME_SAMPLES * 5:]) <= MAX_GAIN_DB + 0.01
