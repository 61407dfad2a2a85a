import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("PYTHONHASHSEED", "0")


@pytest.fixture(scope="session")
def smoke_data():
    """The smoke-scale MiniVPC (generated once; re-runs skip finished files)."""
    from paperlib.data import generate

    return generate("smoke")


@pytest.fixture(scope="session")
def smoke_ws(smoke_data):
    from paperlib.stages import Workspace

    ws = Workspace("smoke")
    ws.codec(); ws.content_encoder(); ws.speaker_encoder()
    return ws


def write_wav(path: Path, seconds: float = 0.5, sr: int = 16000, channels: int = 1, value=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(seconds * sr)
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((n, channels))).astype(np.float32)
    if value is not None:
        x[:] = value
    sf.write(str(path), x if channels > 1 else x[:, 0], sr, subtype="FLOAT" if value is not None else "PCM_16")
    return path


def run_py(*args, **kw):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, **kw)
