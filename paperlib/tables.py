"""Tables are data first: per-seed results -> aggregated CSV -> Markdown + LaTeX renderings.

Aggregation over seeds: the value is the mean over seeds; ``*_lo``/``*_hi`` is the mean over seeds of each
seed's 95% bootstrap interval (test-set uncertainty); ``*_sd`` is the standard deviation across seeds
(training-seed variability). The paper's numbers sit beside ours in ``paper_*`` columns.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .eval import METRICS, results_frame
from .utils import atomic_write_text


def aggregate(results: list[dict], order: list[str], labels: dict[str, str], paper: dict[str, dict]) -> pd.DataFrame:
    per_seed = results_frame(results)
    per_seed["key"] = [r["key"] for r in results]
    rows = []
    for key in order:
        sub = per_seed[per_seed["key"] == key]
        if sub.empty:
            continue
        row = {"key": key, "system": labels[key], "n_seeds": len(sub)}
        for m in METRICS:
            if m in sub and sub[m].notna().any():
                row[m] = sub[m].mean()
                row[f"{m}_lo"], row[f"{m}_hi"] = sub[f"{m}_lo"].mean(), sub[f"{m}_hi"].mean()
                row[f"{m}_sd"] = sub[m].std(ddof=1) if len(sub) > 1 else 0.0
        for m, v in paper.get(key, {}).items():
            row[f"paper_{m}"] = v
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(row: pd.Series, m: str) -> str:
    if m not in row or pd.isna(row[m]):
        return "–"
    return f"{row[m]:.1f} [{row[f'{m}_lo']:.1f}, {row[f'{m}_hi']:.1f}]"


def render_markdown(df: pd.DataFrame, metrics: tuple[str, ...], title: str) -> str:
    head = "| System | " + " | ".join(metrics) + " | paper (" + ", ".join(metrics) + ") |"
    lines = [f"**{title}** (ours: mean over seeds [95% bootstrap CI]; paper's numbers in the last column)", "",
             head, "|" + "---|" * (len(metrics) + 2)]
    for _, row in df.iterrows():
        paper = ", ".join(f"{row[f'paper_{m}']:.2f}" if f"paper_{m}" in row and not pd.isna(row.get(f"paper_{m}"))
                          else "–" for m in metrics)
        lines.append(f"| {row['system']} | " + " | ".join(_fmt(row, m) for m in metrics) + f" | {paper} |")
    return "\n".join(lines) + "\n"


def render_latex(df: pd.DataFrame, metrics: tuple[str, ...], caption: str) -> str:
    cols = "l" + "c" * len(metrics)
    out = ["\\begin{table}[t]", "\\centering", f"\\caption{{{caption}}}", f"\\begin{{tabular}}{{{cols}}}",
           "\\toprule", "System & " + " & ".join(metrics) + " \\\\", "\\midrule"]
    for _, row in df.iterrows():
        cells = []
        for m in metrics:
            cells.append("--" if m not in row or pd.isna(row[m]) else f"{row[m]:.1f}\\,$\\pm${(row[f'{m}_hi'] - row[f'{m}_lo']) / 2:.1f}")
        out.append(f"{row['system']} & " + " & ".join(cells) + " \\\\")
    out += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(out) + "\n"


def write_table(df: pd.DataFrame, path_csv: Path, metrics: tuple[str, ...], title: str) -> None:
    atomic_write_text(path_csv, df.to_csv(index=False))
    atomic_write_text(path_csv.with_suffix(".md"), render_markdown(df, metrics, title))
    atomic_write_text(path_csv.with_suffix(".tex"), render_latex(df, metrics, title))


def read_table(path_csv: Path) -> pd.DataFrame:
    if not path_csv.exists():
        raise FileNotFoundError(f"{path_csv}: table not found; run `make pipeline` (or `make paper`) first")
    return pd.read_csv(path_csv)
