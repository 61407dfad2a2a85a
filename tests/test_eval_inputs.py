import shutil

import numpy as np
import pytest

from paperlib.eval import EvalInputError, check_anonymized_dir
from paperlib.kaldi import read_data_dir
from conftest import write_wav


def _anon_copy(smoke_data, tmp_path):
    src = read_data_dir(smoke_data / "libri_test_enrolls", root=smoke_data)
    out = tmp_path / "anon"
    (out / "wav").mkdir(parents=True)
    lines = []
    for utt, u in sorted(src.utts.items()):
        shutil.copy(u.path, out / "wav" / f"{utt}.wav")
        lines.append(f"{utt} wav/{utt}.wav")
    (out / "wav.scp").write_text("\n".join(lines) + "\n")
    (out / "utt2spk").write_text("".join(f"{u} {x.speaker}\n" for u, x in sorted(src.utts.items())))
    return src, out


def test_complete_dir_passes(smoke_data, tmp_path):
    src, out = _anon_copy(smoke_data, tmp_path)
    assert len(check_anonymized_dir(src, out)) == len(src)


def test_problems_are_listed_together(smoke_data, tmp_path):
    src, out = _anon_copy(smoke_data, tmp_path)
    utts = sorted(src.utts)
    lines = (out / "wav.scp").read_text().splitlines()
    (out / "wav.scp").write_text("\n".join(lines[1:]) + "\n")            # one utterance missing
    write_wav(out / "wav" / f"{utts[1]}.wav", seconds=1.0, sr=22050)      # wrong rate
    write_wav(out / "wav" / f"{utts[2]}.wav", seconds=0.01)               # empty-ish
    with pytest.raises(EvalInputError) as err:
        check_anonymized_dir(src, out)
    msg = str(err.value)
    assert "1 utterances missing" in msg and utts[0] in msg
    assert "sample rate 22050" in msg and "shorter than 0.1 s" in msg
