import numpy as np
import pytest

from conftest import ROOT, run_py, write_wav


@pytest.mark.parametrize("make,message", [
    (lambda p: p.write_bytes(b""), "file is empty"),
    (lambda p: p.write_bytes(b"not a wav at all" * 20), "cannot decode audio"),
    (lambda p: write_wav(p, seconds=0.05), "shorter than 0.1 s"),
    (lambda p: write_wav(p, value=np.nan), "NaN or inf"),
])
def test_anonymize_cli_rejects_bad_input(tmp_path, make, message):
    src = tmp_path / "in.wav"
    make(src)
    out = run_py("-m", "paperlib", "anonymize", str(src), "-o", str(tmp_path / "out.wav"), "--scale", "smoke")
    assert out.returncode == 1                  # the file failed (2 is for bad arguments)
    assert str(src) in out.stderr and message in out.stderr and "0 done, 0 skipped, 1 failed" in out.stdout
    assert not (tmp_path / "out.wav").exists()


def test_help_texts():
    for module in ("paperlib", "paperlib.data", "paperlib.train", "paperlib.pipeline", "paperlib.notebooks",
                   "paperlib.bench", "paperlib.adapters", "paperlib.align", "paperlib.bundle"):
        out = run_py("-m", module, "--help")
        assert out.returncode == 0 and "usage" in out.stdout.lower(), module
