"""Diagnostic (not part of `make paper`): is the chain from the LM's training targets to audio sound?

The mini LM (same architecture and recipe, no prompt pairs) is pretrained on only N of the pretraining
utterances, long enough to memorise them. Then, on those N utterances (own speaker, no prompt: the
pretraining condition):
  * teacher-forced accuracy and the WER of its next-frame predictions given the real history
    (`probes.lm_soft_decoding_report(history="real")`);
  * free-running self-continuation, greedy and sampled (`probes.lm_self_continuation_report`): WER and how
    often the generated codebook-0 code equals the real one.
If a memorising LM regenerates its utterances about as intelligibly as codec resynthesis, everything
between the training targets and the decoded audio (interleaving and delay, prefix + KV-cached inference,
Fast AR sampling, codec decoding) is consistent, and the failure of the real LM (README findings 3-15) is
one of generalisation, not a train/inference mismatch.

    .venv/bin/python scripts/lm_overfit.py      # ~10 min on 2 cores -> benchmarks/lm_overfit.json
"""
from __future__ import annotations

import argparse

from paperlib import paths
from paperlib.checkpoint import load_checkpoint
from paperlib.config import apply_overrides
from paperlib.probes import lm_self_continuation_report, lm_soft_decoding_report, pretraining_trials
from paperlib.stages import Workspace
from paperlib.train import PretrainData, pretrain
from paperlib.utils import atomic_write_json, config_hash


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utts", type=int, default=8, help="pretraining utterances to memorise")
    parser.add_argument("--steps", type=int, default=600, help="training steps (batch and lr of the mini recipe)")
    args = parser.parse_args()
    base = Workspace("mini")
    ws = Workspace("mini", apply_overrides(base.cfg, {"train": {"steps": args.steps, "pair_fraction": 0.0}}))
    cfg = ws.cfg.train
    trials = pretraining_trials(ws, args.utts)
    key = config_hash(ws.cfg.lm, cfg, ws.tokens_key(), [u.utt_id for _, u in trials])
    path = paths.ensure(ws.cache / "diagnostics") / f"lm-overfit-{key}.pt"
    pretrain(ws, path=path, data=PretrainData(ws, ws.cfg, utts=[u.utt_id for _, u in trials]))
    log = load_checkpoint(path)["log"]
    report = {"checkpoint": path.name, "n_utts": len(trials), "steps": cfg.steps,
              "final_training_loss": log[-1]["loss"] if log else None,
              "oracle_history": lm_soft_decoding_report(ws, path, history="real", temperatures=(1.0,), trials=trials,
                                                        prompted=False),
              "self_continuation": lm_self_continuation_report(ws, path, n_utts=len(trials))}
    atomic_write_json(paths.ensure(paths.benchmarks_dir("mini")) / "lm_overfit.json", report)
    print(report)


if __name__ == "__main__":
    main()
