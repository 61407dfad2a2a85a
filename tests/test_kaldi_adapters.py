from pathlib import Path

import pytest

from paperlib.adapters import CorpusError, crema_d, kaldi_dir, librispeech, libritts, vctk
from paperlib.kaldi import ManifestError, read_data_dir
from conftest import write_wav


def _kaldi(d: Path, wav_line: str, extra: dict | None = None):
    d.mkdir(parents=True, exist_ok=True)
    (d / "wav.scp").write_text(wav_line + "\n")
    (d / "utt2spk").write_text("s1-u1 s1\n")
    for name, text in (extra or {}).items():
        (d / name).write_text(text)
    return d


def test_manifest_outside_root(tmp_path):
    write_wav(tmp_path / "outside.wav")
    d = _kaldi(tmp_path / "root" / "dir", "s1-u1 ../../outside.wav")
    with pytest.raises(ManifestError, match="points outside the data root"):
        read_data_dir(d, root=tmp_path / "root")


def test_manifest_missing_file(tmp_path):
    d = _kaldi(tmp_path / "dir", "s1-u1 wav/missing.wav")
    with pytest.raises(ManifestError, match=r"wav.scp:1: audio file .*missing.wav does not exist"):
        read_data_dir(d, root=tmp_path)


def test_manifest_bad_trials_label(tmp_path):
    write_wav(tmp_path / "wav" / "u1.wav")
    d = _kaldi(tmp_path / "dir", "s1-u1 wav/u1.wav", {"trials": "s1 s1-u1 maybe\n"})
    with pytest.raises(ManifestError, match="target|nontarget"):
        read_data_dir(d, root=tmp_path)


def test_crema_d_fixture(tmp_path):
    root = tmp_path / "CREMA-D"
    (root).mkdir()
    (root / "VideoDemographics.csv").write_text("ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n"
                                               "1002,21,Female,Caucasian,Not Hispanic\n")
    for name in ("1001_DFA_ANG_XX", "1001_DFA_NEU_XX", "1002_IEO_SAD_HI", "1002_IEO_HAP_LO", "1002_IEO_FEA_HI"):
        write_wav(root / "AudioWAV" / f"{name}.wav")
    out = crema_d(root, tmp_path / "out")
    d = read_data_dir(out, root=Path("/"))
    assert len(d) == 4                                # FEA dropped
    assert d.spk2gender == {"1001": "m", "1002": "f"}
    assert d.utts["1002-IEO-sad-HI"].text == "IT'S ELEVEN O'CLOCK"
    assert {u.emotion for u in d.utts.values()} == {"ang", "neu", "sad", "hap"}


def test_crema_d_bad_name_is_reported(tmp_path):
    root = tmp_path / "CREMA-D"
    root.mkdir()
    (root / "VideoDemographics.csv").write_text("ActorID,Sex\n1001,Male\n")
    write_wav(root / "AudioWAV" / "oops.wav")
    with pytest.raises(CorpusError, match="oops.wav: name does not match"):
        crema_d(root, tmp_path / "out")


def test_librispeech_fixture(tmp_path):
    root = tmp_path / "LibriSpeech" / "test-clean"
    (root.parent).mkdir(parents=True)
    (root.parent / "SPEAKERS.TXT").write_text(";ID|SEX|SUBSET|MINUTES|NAME\n19 | F | train-clean-100 | 25 | A\n")
    write_wav(root / "19" / "198" / "19-198-0000.flac")
    (root / "19" / "198" / "19-198.trans.txt").write_text("19-198-0000 HELLO WORLD\n")
    d = read_data_dir(librispeech(root, tmp_path / "out"), root=Path("/"))
    assert d.utts["19-198-0000"].text == "HELLO WORLD" and d.spk2gender["19"] == "f"


def test_libritts_fixture(tmp_path):
    root = tmp_path / "LibriTTS" / "train-clean-100"
    root.parent.mkdir(parents=True)
    (root.parent / "speakers.tsv").write_text("READER\tGENDER\tSUBSET\tNAME\n19\tF\ttrain-clean-100\tA\n")
    write_wav(root / "19" / "198" / "19_198_000000_000000.wav")
    (root / "19" / "198" / "19_198_000000_000000.normalized.txt").write_text("Hello there.")
    d = read_data_dir(libritts(root, tmp_path / "out"), root=Path("/"))
    assert d.utts["19_198_000000_000000"].speaker == "19" and d.spk2gender["19"] == "f"


def test_vctk_fixture(tmp_path):
    root = tmp_path / "VCTK"
    (root).mkdir()
    (root / "speaker-info.txt").write_text("ID  AGE  GENDER  ACCENTS  REGION\np225  23  F  English  Southern\n")
    write_wav(root / "wav48_silence_trimmed" / "p225" / "p225_001_mic1.flac")
    (root / "txt" / "p225").mkdir(parents=True)
    (root / "txt" / "p225" / "p225_001.txt").write_text("Please call Stella.")
    d = read_data_dir(vctk(root, tmp_path / "out"), root=Path("/"))
    assert d.utts["p225_001"].gender == "f" and d.utts["p225_001"].text == "Please call Stella."


def test_vpc_kaldi_dir_fixture(tmp_path):
    for u in ("Ses01F_a", "Ses01F_b", "Ses01F_c"):
        write_wav(tmp_path / "wav" / f"{u}.wav")
    src = tmp_path / "IEMOCAP_dev"
    src.mkdir()
    (src / "wav.scp").write_text("".join(f"{u} {tmp_path}/wav/{u}.wav\n" for u in ("Ses01F_a", "Ses01F_b", "Ses01F_c")))
    (src / "utt2spk").write_text("Ses01F_a Ses01F\nSes01F_b Ses01F\nSes01F_c Ses01F\n")
    (src / "utt2emo").write_text("Ses01F_a exc\nSes01F_b fru\nSes01F_c sad\n")
    (src / "spk2gender").write_text("Ses01F f\n")
    (src / "spk2fold").write_text("Ses01F 1\n")
    d = read_data_dir(kaldi_dir(src, tmp_path / "out"), root=Path("/"))
    assert {u: x.emotion for u, x in d.utts.items()} == {"Ses01F_a": "hap", "Ses01F_c": "sad"}   # exc->hap, fru dropped
    assert d.spk2fold == {"Ses01F": 1}
