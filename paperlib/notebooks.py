"""Execute the numbered notebooks headless with papermill (what `make notebooks` runs).

    python -m paperlib.notebooks --scale mini          # all notebooks -> figures/notebooks/*.ipynb
    python -m paperlib.notebooks --scale smoke --only 04
    python -m paperlib.notebooks --sync                # regenerate the output-free .ipynb twins from .py

The percent-format .py files in notebooks/ are the source of truth (diff-able); the .ipynb twins next to
them are generated from them, without outputs. Executed copies (with outputs) go to figures/notebooks/.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import paths
from .utils import atomic_write_text

KERNEL = "python3"   # the venv's own kernel: papermill runs inside the project venv


def notebook_sources() -> list[Path]:
    return sorted(paths.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.py"))


def to_notebook(source: Path):
    import jupytext

    nb = jupytext.read(source)
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"{source.stem[:2]}-{index:03d}"      # stable ids: re-syncing an unchanged source is a no-op
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": KERNEL}
    return nb


def sync_twins() -> list[Path]:
    import nbformat

    written = []
    for src in notebook_sources():
        path = src.with_suffix(".ipynb")
        atomic_write_text(path, nbformat.writes(to_notebook(src)) + "\n")
        written.append(path)
    return written


def execute(scale: str, only: str | None = None, seed: int = 0, timeout: int = 1200) -> dict[str, float]:
    import nbformat
    import papermill

    out_dir = paths.ensure(paths.figures_dir(scale) / "notebooks")
    timings = {}
    for src in notebook_sources():
        if only and not src.name.startswith(only):
            continue
        tmp_in = out_dir / f".{src.stem}.input.ipynb"
        atomic_write_text(tmp_in, nbformat.writes(to_notebook(src)))
        start = time.time()
        papermill.execute_notebook(str(tmp_in), str(out_dir / f"{src.stem}.ipynb"), kernel_name=KERNEL,
                                   parameters={"scale": scale, "seed": seed, **({"interactive": False}
                                                                               if "audio_demo" in src.stem else {})},
                                   cwd=str(paths.NOTEBOOKS_DIR), progress_bar=False, execution_timeout=timeout)
        tmp_in.unlink()
        timings[src.stem] = round(time.time() - start, 1)
        print(f"{src.stem}: {timings[src.stem]} s", flush=True)
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paperlib.notebooks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="mini", choices=["smoke", "mini", "full"])
    parser.add_argument("--only", help="notebook number prefix, e.g. 04")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sync", action="store_true", help="only regenerate the .ipynb twins")
    args = parser.parse_args(argv)
    if args.sync:
        for p in sync_twins():
            print(p)
        return 0
    execute(args.scale, args.only, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
