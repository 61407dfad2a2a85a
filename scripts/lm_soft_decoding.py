"""Diagnostic (not part of `make paper`): is it the discrete sampling that makes the LM's speech
unintelligible, or what the LM knows? (`probes.lm_soft_decoding_report`)

Greedy free-running generation of 24 held-out libri trial utterances (vctk-1fix prompt, d = 2), then the
WER of (a) the greedy codes, (b) the *expected* codec latent under the Fast AR's distributions of the same
run (at T = 1 and 0.7), next to codec resynthesis. If (b) is much better than (a), the LM's distributions
hold the content and committing to one code per codebook throws it away; if not, the distributions
themselves are uninformative (the content -> acoustics mapping is not learnt).

    .venv/bin/python scripts/lm_soft_decoding.py     # ~5 min on 2 cores -> benchmarks/lm_soft_decoding.json
"""
from __future__ import annotations

import argparse

from paperlib import paths
from paperlib.probes import lm_soft_decoding_report
from paperlib.stages import Workspace
from paperlib.train import pretrain
from paperlib.utils import atomic_write_json


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    ws = Workspace("mini")
    path = pretrain(ws)
    report = {"checkpoint": path.name, **lm_soft_decoding_report(ws, path)}
    atomic_write_json(paths.ensure(paths.benchmarks_dir("mini")) / "lm_soft_decoding.json", report)
    print(report)


if __name__ == "__main__":
    main()
