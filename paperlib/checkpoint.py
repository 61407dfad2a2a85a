"""Atomic, weights_only-loadable checkpoints."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from .utils import atomic_write_bytes


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(Path(path), buf.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    path = Path(path)
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise RuntimeError(f"{path}: checkpoint is unreadable ({exc}); delete it to retrain") from None
