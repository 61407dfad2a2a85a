"""Diagnostic (not part of `make paper`): why does the mini codec LM not generalise, and do two cheap
fixes help?

1. Acoustic-code statistics without any LM (`probes.acoustic_code_statistics`): how much the previous
   code or the content token of the frame says about each codebook on held-out speech.
2. Teacher-forced accuracy of the pretrained LM at lookahead d = 0, 2, 4, 8 (content encoders trained
   with CTC can emit late: if so, larger d would help).
3. LM variants, each pretrained with the same steps/seed (cached by config) and reported with
   `probes.cached_lm_report` (teacher-forced accuracy on own vs held-out data + free-running WER):
     table       one embedding row per content code (the default)
     factorized  content embedding = sum of per-FSQ-digit rows, semantic head over digits (lm.factorize_content)
     factorized+input-dropout   ... and 30% of acoustic input frames replaced by PAD in training
                                (lm.acoustic_input_dropout), so the model must use content
     table+input-dropout-0.5    the default embedding with half of the acoustic input frames replaced by PAD
                                (finding 12: the LM leans on its acoustic history, its own output in generation)

    .venv/bin/python scripts/lm_variants.py     # ~20 min per uncached variant on 2 cores -> benchmarks/lm_variants.json
"""
from __future__ import annotations

import argparse

from paperlib import paths
from paperlib.config import apply_overrides
from paperlib.probes import acoustic_code_statistics, cached_lm_report, lm_teacher_forced_report
from paperlib.stages import Workspace
from paperlib.train import pretrain
from paperlib.utils import atomic_write_json

VARIANTS = {
    "table": {},
    "factorized": {"factorize_content": True},
    "factorized+input-dropout": {"factorize_content": True, "acoustic_input_dropout": 0.3},
    "table+input-dropout-0.5": {"acoustic_input_dropout": 0.5},
}


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    ws = Workspace("mini")
    out = {"code_statistics": acoustic_code_statistics(ws)}
    default = pretrain(ws)
    out["delay_sweep"] = {d: {name: r["accuracy"] for name, r in lm_teacher_forced_report(ws, default, delay=d).items()
                              if name in ("train_pretrain", "vctk_pool")} for d in (0, 2, 4, 8)}
    out["variants"] = {}
    for name, overrides in VARIANTS.items():
        variant = Workspace("mini", apply_overrides(ws.cfg, {"lm": overrides}))
        path = pretrain(variant)
        out["variants"][name] = {"overrides": overrides, "checkpoint": path.name, **cached_lm_report(variant, path)}
    atomic_write_json(paths.ensure(paths.benchmarks_dir("mini")) / "lm_variants.json", out)
    for k, cb in enumerate(out["code_statistics"]["codebooks"]):
        print(f"cb{k}: " + ", ".join(f"{key} {value:.2f}" for key, value in cb.items()))
    for d, r in out["delay_sweep"].items():
        print(f"d={d}: held-out codebook-0 accuracy {100 * r['vctk_pool'][0]:.1f}%")
    for name, r in out["variants"].items():
        g = r["generation"]
        print(f"{name}: codebook-0 accuracy own {100 * r['train_pretrain']['accuracy'][0]:.1f}% / held-out "
              f"{100 * r['vctk_pool']['accuracy'][0]:.1f}%; WER sampled {g['sampled_WER']:.1f}, greedy {g['greedy_WER']:.1f}")


if __name__ == "__main__":
    main()
