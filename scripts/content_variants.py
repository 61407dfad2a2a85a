"""Diagnostic (not part of `make paper`): are the content tokens the bottleneck of intelligibility?

For the default content encoder (CTC on characters) and for variants with a frame-level target
(`content.frame_target_weight`: also predict each frame's speaker-normalised mel-cepstrum from the token,
the way the paper's encoder regresses a speech model's frames), report
  - `probes.content_decodability`: WER of a small causal net that decodes the content tokens *alone* into
    WORLD features (0 and 3 frames of lookahead), on 24 held-out libri trial utterances;
  - `probes.content_probes`: speaker and emotion linear probes on the tokens (leakage).

    .venv/bin/python scripts/content_variants.py   # ~20 min on 2 cores if nothing is cached -> benchmarks/content_variants.json
    .venv/bin/python scripts/content_variants.py --lm "ctc + frame target x1"
        # pretrain the codec LM on that variant's tokens (~30 min) and write its teacher-forced and
        # free-running report (`probes.cached_lm_report`) -> benchmarks/content_variants_lm.json
"""
from __future__ import annotations

import argparse
import json

from paperlib import paths
from paperlib.config import apply_overrides
from paperlib.probes import cached_lm_report, content_decodability, content_probes
from paperlib.stages import Workspace
from paperlib.train import pretrain
from paperlib.utils import atomic_write_json

VARIANTS = {
    "ctc (default)": {},
    "ctc + frame target x1": {"frame_target_weight": 1.0},
}


def lm_report(name: str) -> None:
    ws = Workspace("mini", apply_overrides(Workspace("mini").cfg, {"content": VARIANTS[name]}))
    path = paths.ensure(paths.benchmarks_dir("mini")) / "content_variants_lm.json"
    out = json.loads(path.read_text()) if path.exists() else {}
    lm_path = pretrain(ws)
    out[name] = {"overrides": VARIANTS[name], "checkpoint": lm_path.name, **cached_lm_report(ws, lm_path)}
    atomic_write_json(path, out)
    print(name, out[name]["generation"], flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lm", choices=sorted(VARIANTS), help="pretrain and report an LM on this variant's tokens")
    args = parser.parse_args()
    if args.lm:
        return lm_report(args.lm)
    base = Workspace("mini")
    out = {}
    for name, overrides in VARIANTS.items():
        ws = Workspace("mini", apply_overrides(base.cfg, {"content": overrides}))
        out[name] = {"overrides": overrides, "checkpoint": ws.content_path().name,
                     "decodability": content_decodability(ws), "probes": content_probes(ws)}
        print(name, out[name], flush=True)
        atomic_write_json(paths.ensure(paths.benchmarks_dir("mini")) / "content_variants.json", out)


if __name__ == "__main__":
    main()
