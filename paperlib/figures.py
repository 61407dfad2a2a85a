"""Plot helpers shared by the notebooks: one style, PNG + PDF output, table loading."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from . import paths

EMOTION_COLUMNS = ("Ang", "Hap", "Neu", "Sad")


def setup_style() -> None:
    import matplotlib

    matplotlib.use("Agg") if not _in_notebook() else None
    import seaborn as sns

    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=1.1)


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython

        return get_ipython() is not None
    except ImportError:
        return False


def save_figure(fig, name: str, scale: str) -> list[Path]:
    """Write figures/<name>.png and .pdf (atomically enough: matplotlib writes whole files)."""
    out = paths.ensure(paths.figures_dir(scale))
    written = []
    for ext in ("png", "pdf"):
        path = out / f"{name}.{ext}"
        tmp = path.with_name(f".{path.name}.tmp.{ext}")
        # no creation date in the PDF: regenerating an unchanged figure leaves the file byte for byte the same
        fig.savefig(tmp, bbox_inches="tight", dpi=150, metadata={"CreationDate": None} if ext == "pdf" else None)
        tmp.replace(path)
        written.append(path)
    return written


def load_json(scale: str, name: str) -> dict:
    path = paths.figures_dir(scale) / name
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found; run `make pipeline SCALE={scale}` first")
    return json.loads(path.read_text())


def load_table(scale: str, name: str) -> pd.DataFrame:
    from .tables import read_table

    return read_table(paths.figures_dir(scale) / name)
