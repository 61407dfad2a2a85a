"""Small shared helpers: atomic writes, config hashing, seeding, logging."""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
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


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block on ``n`` intra-op CPU threads (0: keep torch's setting), then restore the setting.

    On CPU a trained model depends on the thread count (matrix products and reductions are split
    differently: the LM pretrained on 1 and on 2 threads differs from step 50 on), so each trainer's count
    is part of its recipe and of its config (``threads``), not of the environment (OMP_NUM_THREADS)."""
    import torch

    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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


# metadata of a config field added after caches existed: while it keeps its default it is left out of the
# hash, so adding an option does not invalidate every cached model that never used it
HASH_ONLY_IF_CHANGED = {"hash_only_if_changed": True}


def _hashable(obj: Any) -> Any:
    if not (dataclasses.is_dataclass(obj) and not isinstance(obj, type)):
        return obj
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.metadata.get("hash_only_if_changed") and f.default is not dataclasses.MISSING and value == f.default:
            continue
        out[f.name] = _hashable(value)
    return out


def config_hash(*objs: Any, length: int = 10) -> str:
    """Stable short hash of dataclasses / dicts, used as cache keys."""
    blob = json.dumps([_hashable(o) for o in objs], sort_keys=True, default=_json_default)
    return hashlib.sha1(blob.encode()).hexdigest()[:length]


def stable_int(*parts: Any) -> int:
    """Deterministic 32-bit integer from arbitrary parts (per-item RNG seeds)."""
    return int(hashlib.md5("|".join(map(str, parts)).encode()).hexdigest()[:8], 16)
