"""Every on-disk location of the project, in one place.

Nothing in the project builds a path relative to the current directory; all
paths derive from PROJECT_ROOT (overridable with $PAPERLIB_ROOT for installs
outside the checkout) and the scale name.
"""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(os.environ.get("PAPERLIB_ROOT", Path(__file__).resolve().parent.parent))
SHARED_DIR = PROJECT_ROOT.parent / "shared"
CONFIGS_DIR = PROJECT_ROOT / "configs"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"


def data_dir(scale: str) -> Path:
    """Generated benchmark for a scale (MiniVPC), e.g. data/mini."""
    return PROJECT_ROOT / "data" / scale


def cache_dir(scale: str) -> Path:
    """Trained models, cached features and evaluation results, keyed by config hash."""
    return PROJECT_ROOT / "cache" / scale


def models_dir(scale: str) -> Path:
    """The exported anonymizer bundle of a scale (paperlib.bundle), e.g. models/mini (committed)."""
    return PROJECT_ROOT / "models" / scale


def figures_dir(scale: str) -> Path:
    """Figures/tables; the default `mini` scale writes to figures/ itself (committed)."""
    return PROJECT_ROOT / "figures" if scale == "mini" else PROJECT_ROOT / "figures" / scale


def benchmarks_dir(scale: str) -> Path:
    return PROJECT_ROOT / "benchmarks" if scale == "mini" else PROJECT_ROOT / "benchmarks" / scale


def ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
