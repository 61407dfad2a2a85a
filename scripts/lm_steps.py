"""Diagnostic (not part of `make paper`): is the mini codec LM simply undertrained?

Pretrains the default mini LM for 2x the steps (same data, seed and schedule shape; cached by config) and
reports it with `probes.cached_lm_report` (teacher-forced accuracy on its own vs held-out speech, and
free-running WER), next to the default 1500-step model. `scripts/lm_data_scaling.py` varied the data at a
fixed step count; this varies the steps at fixed data.

    .venv/bin/python scripts/lm_steps.py [--steps 3000]   # ~30 min on 2 cores (idle) -> benchmarks/lm_steps.json
"""
from __future__ import annotations

import argparse

from paperlib import paths
from paperlib.config import apply_overrides
from paperlib.probes import cached_lm_report
from paperlib.stages import Workspace
from paperlib.train import pretrain
from paperlib.utils import atomic_write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000, help="pretraining steps of the longer run")
    args = parser.parse_args()
    base = Workspace("mini")
    out = {}
    for steps in (base.cfg.train.steps, args.steps):
        ws = Workspace("mini", apply_overrides(base.cfg, {"train": {"steps": steps}}))
        path = pretrain(ws)
        out[str(steps)] = {"checkpoint": path.name, **cached_lm_report(ws, path)}
        print(steps, {k: v["accuracy"][0] for k, v in out[str(steps)].items() if isinstance(v, dict) and "accuracy" in v},
              out[str(steps)]["generation"], flush=True)
    atomic_write_json(paths.ensure(paths.benchmarks_dir("mini")) / "lm_steps.json", out)


if __name__ == "__main__":
    main()
