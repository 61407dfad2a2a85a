"""The real-speech section: the committed LibriSpeech sample, its trials and the scores (the full run is a
`make paper` stage, figures/real_speech.json)."""
import numpy as np
import pytest

from paperlib import real_speech


def test_committed_real_corpus_is_complete_and_readable():
    import soundfile as sf

    root = real_speech.corpus_dir()
    utts = real_speech.load_corpus(root)
    assert len(utts) == 100 and len({u.speaker for u in utts}) == 10
    assert {g: sum(u.gender == g for u in utts) for g in "fm"} == {"f": 50, "m": 50}
    assert all(sf.info(str(u.path)).samplerate == 16000 for u in utts)
    assert (root / "LICENSE.TXT").read_text().count("Creative Commons Attribution 4.0")
    refs = real_speech.pseudo_transcripts(root, utts)                      # committed: no ASR run here
    assert set(refs) == {u.utt_id for u in utts} and all(refs[u.utt_id].strip() for u in utts)


def test_trials_enrol_three_per_reader_and_eer_separates_speakers():
    utts = real_speech.load_corpus(real_speech.corpus_dir())
    enrolment, trial_ids = real_speech.trials(utts)
    assert all(len(v) == 3 for v in enrolment.values()) and len(trial_ids) == 70
    assert not {i for v in enrolment.values() for i in v} & set(trial_ids)
    rng = np.random.default_rng(0)
    centre = {s: rng.standard_normal(32) for s in enrolment}
    ideal = {u.utt_id: centre[u.speaker] + 0.1 * rng.standard_normal(32) for u in utts}
    noise = {u.utt_id: rng.standard_normal(32) for u in utts}
    assert real_speech.speaker_eer(utts, ideal, ideal) < 1.0
    assert 25 < real_speech.speaker_eer(utts, noise, noise) < 75


def test_utterance_wer_and_its_interval():
    wer, lo, hi = real_speech.utterance_wer_ci(["a b c d", "e f"], ["a b x d", "e f"])
    assert wer == pytest.approx(100 / 6) and lo <= wer <= hi


def test_corpus_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="SPEAKERS.TXT"):
        real_speech.load_corpus(tmp_path)
    (tmp_path / "SPEAKERS.TXT").write_text("1 | F | test | 1.0 | x\n")
    (tmp_path / "2").mkdir()
    (tmp_path / "2" / "2-1-1.flac").write_bytes(b"")
    with pytest.raises(ValueError, match="2-1-1.flac: reader 2"):
        real_speech.load_corpus(tmp_path)


def test_real_training_readers_are_not_the_held_out_ones():
    train = real_speech.load_corpus(real_speech.corpus_dir("librispeech_train-clean-100"))
    held_out = real_speech.load_corpus(real_speech.corpus_dir())
    assert len(train) == 251 and len({u.speaker for u in train}) == 251
    assert not {u.speaker for u in train} & {u.speaker for u in held_out}
    refs = real_speech.pseudo_transcripts(real_speech.corpus_dir("librispeech_train-clean-100"), train)
    assert set(refs) == {u.utt_id for u in train}
