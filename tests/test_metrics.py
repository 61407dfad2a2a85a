import numpy as np
import pytest

from paperlib.eval import bootstrap_ci, corpus_wer, eer, normalize_text, uar


def test_normalize_text():
    assert normalize_text("It's 4 o'clock, Mary!") == "IT'S FOUR O'CLOCK MARY"
    assert normalize_text("room 21") == "ROOM TWENTY ONE"


def test_wer_known_strings():
    # 1 substitution + 1 deletion over 6 reference words, then 0 errors over 2 -> 2 / 8
    refs = ["the cat sat on the mat", "hello world"]
    hyps = ["the cat sit on mat", "Hello, world."]
    assert corpus_wer(refs, hyps) == pytest.approx(100 * 2 / 8)


def test_uar_known_labels():
    y_true = ["ang", "ang", "hap", "hap", "neu", "neu", "sad", "sad"]
    y_pred = ["ang", "hap", "hap", "hap", "neu", "sad", "ang", "ang"]
    # recalls: ang 0.5, hap 1.0, neu 0.5, sad 0.0 -> 50
    assert uar(y_true, y_pred) == pytest.approx(50.0)


def test_uar_matches_sklearn_including_absent_classes():
    from sklearn.metrics import recall_score

    emotions = ["ang", "hap", "neu", "sad"]
    rng = np.random.default_rng(0)
    for i in range(300):
        n = int(rng.integers(1, 25))
        y_true = rng.choice(emotions[: 1 + i % 4], n)           # some draws lack classes entirely
        y_pred = rng.choice(emotions, n)
        expected = 100 * recall_score(y_true, y_pred, labels=emotions, average="macro", zero_division=0)
        assert uar(y_true, y_pred) == pytest.approx(expected, abs=1e-9)


def test_eer_separable_and_chance():
    assert eer(np.array([0.9, 0.8, 0.7]), np.array([0.1, 0.2, 0.3])) == pytest.approx(0.0, abs=1e-6)
    # one target below one non-target out of 2 each: EER 50%
    assert eer(np.array([0.6, 0.2]), np.array([0.4, 0.1])) == pytest.approx(50.0, abs=1e-6)


def test_eer_hand_computed():
    # targets 0.9 0.7 0.4, non-targets 0.5 0.3 0.1: threshold in (0.4, 0.5) gives FRR 1/3, FAR 1/3 -> 33.3
    assert eer(np.array([0.9, 0.7, 0.4]), np.array([0.5, 0.3, 0.1])) == pytest.approx(100 / 3, abs=0.5)


def test_bootstrap_ci_brackets_mean():
    x = np.random.default_rng(0).normal(10, 1, 200)
    lo, hi = bootstrap_ci(lambda idx: x[idx].mean(), len(x), 300, seed=0)
    assert lo < x.mean() < hi and hi - lo < 1.0
