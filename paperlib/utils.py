"""Small shared helpers: atomic writes, config hashing, seeding, logging."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write to a temp file in the same folder, then rename: never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def cached_json(path: Path, compute: Callable[[], Any]) -> Any:
    """The JSON at ``path``; computed by ``compute()`` and written atomically the first time."""
    if not path.exists():
        atomic_write_json(path, compute())
    return json.loads(path.read_text())


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    raise TypeError(f"not JSON serialisable: {type(obj)}")


def config_hash(*objs: Any, length: int = 10) -> str:
    """Stable short hash of dataclasses / dicts, used as cache keys."""
    blob = json.dumps([dataclasses.asdict(o) if dataclasses.is_dataclass(o) else o for o in objs],
                      sort_keys=True, default=_json_default)
    return hashlib.sha1(blob.encode()).hexdigest()[:length]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # torch-free helpers (data generation) still work
        pass


def stable_int(*parts: Any) -> int:
    """Deterministic 32-bit integer from arbitrary parts (per-item RNG seeds)."""
    return int(hashlib.md5("|".join(map(str, parts)).encode()).hexdigest()[:8], 16)
