"""Atomic, weights_only-loadable checkpoints."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch

from .utils import atomic_write_bytes

M = TypeVar("M")


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


def cached(path: Path, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The state saved at ``path``; built by ``build()`` and saved atomically the first time. Every cached
    stage (features, alignments, tokens, teacher targets) goes through here; its path is its cache key."""
    state = load_checkpoint(path)
    if state is None:
        state = build()
        save_checkpoint(path, state)
    return state


def cached_model(path: Path, progress: str, target: int, train: Callable[[], M], load: Callable[[dict], M]) -> M:
    """A trained model: ``load(state)`` when the checkpoint at ``path`` reached ``target`` (its ``progress``
    counter: steps or epochs), else ``train()``, which resumes from that checkpoint and returns the model."""
    state = load_checkpoint(path)
    if state is None or state.get(progress, 0) < target:
        return train()
    return load(state)
