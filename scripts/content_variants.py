"""Diagnostic (not part of `make paper`): are the content tokens the bottleneck of intelligibility?

For the default content encoder (CTC on characters) and for variants with a frame-level target
(`content.frame_target_weight`: also predict each frame's speaker-normalised mel-cepstrum from the token,
the way the paper's encoder regresses a speech model's frames), report
  - `probes.content_decodability`: WER of a small causal net that decodes the content tokens *alone* into
    WORLD features (0 and 3 frames of lookahead), on 24 held-out libri trial utterances;
  - `probes.content_probes`: speaker and emotion linear probes on the tokens (leakage).

    .venv/bin/python scripts/content_variants.py   # ~35 min on 2 cores if nothing is cached -> benchmarks/content_variants.json
"""
from __future__ import annotations

from paperlib import paths
from paperlib.config import apply_overrides
from paperlib.probes import content_decodability, content_probes
from paperlib.stages import Workspace
from paperlib.utils import atomic_write_json

VARIANTS = {
    "ctc (default)": {},
    "ctc + frame target x1": {"frame_target_weight": 1.0},
    "ctc + frame target x5": {"frame_target_weight": 5.0},
}


def main() -> None:
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
