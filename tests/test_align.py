"""Forced phone alignment (pocketsphinx's bundled model): real labels on real speech, named failures."""
import numpy as np
import pytest

from paperlib.align import PHONE_INDEX, Aligner, AlignmentError, PhoneSegment, normalise_words, quarter_phones


def test_normalise_words_keeps_in_word_apostrophes():
    assert normalise_words("I'm on my way, O'CLOCK!") == ["i'm", "on", "my", "way", "o'clock"]


def test_quarter_phones_sample_each_quarter_centre():
    segs = [PhoneSegment(0, 0, 3), PhoneSegment(PHONE_INDEX["DH"], 3, 4), PhoneSegment(PHONE_INDEX["AH"], 7, 5)]
    labels = quarter_phones(segs, n_tokens=2, frame_ms=48.0)
    # quarter centres at 6, 18, 30, 42, 54, 66, 78, 90 ms -> 10 ms frames 0, 1, 3, 4, 5, 6, 7, 9
    assert labels.tolist() == [[0, 0, PHONE_INDEX["DH"], PHONE_INDEX["DH"]],
                               [PHONE_INDEX["DH"], PHONE_INDEX["DH"], PHONE_INDEX["AH"], PHONE_INDEX["AH"]]]


def test_aligns_generated_speech_and_names_failures(smoke_ws):
    d = smoke_ws.data("train_pretrain")
    utt = sorted(d.utts)[0]
    wav = smoke_ws.wavs("train_pretrain")[utt]
    aligner = Aligner()
    segments = aligner.align(wav, d.utts[utt].text)
    words = normalise_words(d.utts[utt].text)
    assert sum(s.phone > 0 for s in segments) >= len(words)          # at least one phone per word
    assert segments[-1].start + segments[-1].duration <= len(wav) / 160 + 2
    labels, failures = smoke_ws.phone_alignment("train_pretrain")
    assert not failures and set(labels) == set(d.utts)
    assert all(len(v) == len(smoke_ws.wavs("train_pretrain")[u]) // 768 for u, v in labels.items())
    # the labels describe the speech: silence is rare in tightly trimmed TTS audio
    assert np.mean(np.concatenate([v.ravel() for v in labels.values()]) == 0) < 0.3
    with pytest.raises(AlignmentError, match="dictionary: zzyzxq"):
        aligner.align(wav, "the zzyzxq house")
    with pytest.raises(AlignmentError, match="empty"):
        aligner.align(wav, "!!")
