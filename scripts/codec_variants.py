"""Diagnostic (not part of `make paper`): can a different acoustic codec make the LM's job easier?

Variants (each cached by its config):
  residual (default)     8 residual FSQ stages, quantizer dropout
  semantic CTC           + CTC on characters from stage 0 (`codec.semantic_weight`; SpeechTokenizer/Mimi-style
                           semantic distillation, supervised by text), so that codebook 0 carries phones
  content-conditioned    encoder and decoder also read the content tokens (`codec.content_conditioned`)
For each: resynthesis WER from the first k stages and with another utterance's codes
(`probes.codec_stage_wer`), and code statistics without any LM (`probes.acoustic_code_statistics`).
For the default codec also the pretrained LM's free-running generation decoded from its first k stages
(`probes.lm_generation_report(stages=...)`): do the fine codebooks, which the LM predicts worst, spoil it?

    .venv/bin/python scripts/codec_variants.py     # ~35 min on 2 cores if nothing is cached -> benchmarks/codec_variants.json
"""
from __future__ import annotations

import argparse

from paperlib import paths
from paperlib.config import apply_overrides
from paperlib.probes import acoustic_code_statistics, codec_stage_wer, lm_generation_report
from paperlib.stages import Workspace
from paperlib.train import pretrain
from paperlib.utils import atomic_write_json

VARIANTS = {
    "residual (default)": {},
    "semantic CTC on stage 0": {"semantic_weight": 0.1},
    "content-conditioned": {"content_conditioned": True},
}


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    base = Workspace("mini")
    out = {"default LM generation": lm_generation_report(base, pretrain(base), stages=(1, 2, 4))}
    for name, overrides in VARIANTS.items():
        ws = Workspace("mini", apply_overrides(base.cfg, {"codec": overrides}))
        out[name] = {"overrides": overrides, "checkpoint": ws.codec_path().name, "wer": codec_stage_wer(ws),
                     "code_statistics": acoustic_code_statistics(ws)}
        print(name, out[name]["wer"], flush=True)
        atomic_write_json(paths.ensure(paths.benchmarks_dir("mini")) / "codec_variants.json", out)


if __name__ == "__main__":
    main()
