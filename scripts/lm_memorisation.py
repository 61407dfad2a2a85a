"""Diagnostic (not part of `make paper`): can the mini codec LM speak the sentences it was trained on, and
what does it predict from?

For the default 1500-step LM and the 3000-step LM of `scripts/lm_steps.py` (loaded from the cache, not
trained here), from `probes.cached_lm_report` (what `make pipeline` reports for the default LM, cached by
checkpoint) plus the own-utterance generation (cached under cache/mini/diagnostics/):
  * free-running generation (`probes.lm_generation_report`: vctk-1fix prompt, anonymized speaker vector,
    d = 2) of 24 utterances of the LM's *own pretraining set*, next to 24 held-out libri trial utterances;
  * `probes.lm_history_report` (also part of the pipeline's lm_report.json for the default LM):
    self-continuation (own utterances, own speaker, no prompt: the exact pretraining condition; WER and how
    often generated codebook-0 codes equal the real ones) and teacher-forced accuracy with 0 / 30 / 100%
    of the acoustic input frames replaced by PAD: how much the LM leans on the acoustic history.

    .venv/bin/python scripts/lm_memorisation.py      # ~15 min on 2 cores -> benchmarks/lm_memorisation.json
"""
from __future__ import annotations

import argparse

from paperlib import paths
from paperlib.config import apply_overrides
from paperlib.probes import cached_lm_report, lm_generation_report, pretraining_trials
from paperlib.stages import Workspace
from paperlib.train import pretrain_path
from paperlib.utils import atomic_write_json, cached_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, nargs="*", default=[1500, 3000], help="pretraining lengths to report")
    args = parser.parse_args()
    base = Workspace("mini")
    out = {}
    for steps in args.steps:
        ws = Workspace("mini", apply_overrides(base.cfg, {"train": {"steps": steps}}))
        path = pretrain_path(ws)
        if not path.exists():
            raise SystemExit(f"{path}: no {steps}-step LM in the cache; run scripts/lm_steps.py --steps {steps} first")
        report = cached_lm_report(ws, path)
        n_utts = report["generation"]["n_utts"]         # as many own utterances as held-out ones
        own = cached_json(paths.ensure(ws.cache / "diagnostics") / f"{path.stem}-gen-own-n{n_utts}.json",
                          lambda: lm_generation_report(ws, path, trials=pretraining_trials(ws, n_utts)))
        out[str(steps)] = {"checkpoint": path.name, "vctk1fix_own_pretraining_utterances": own,
                           "vctk1fix_held_out_trials": report["generation"], **report["acoustic_history"]}
        print(steps, out[str(steps)], flush=True)
        atomic_write_json(paths.ensure(paths.benchmarks_dir("mini")) / "lm_memorisation.json", out)


if __name__ == "__main__":
    main()
