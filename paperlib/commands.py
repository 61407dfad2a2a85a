"""The command lines of modules below the stages (``python -m paperlib.align``, ``python -m paperlib.train``):
they build a Workspace, so they live here, above it, and those modules' ``__main__`` blocks call them; the
package's import graph stays acyclic (tests/test_layout.py)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import align, train
from .config import apply_overrides, load_override
from .stages import Workspace
from .train import _dist_info, finetune, pretrain


def align_main(argv: list[str] | None = None) -> int:
    """python -m paperlib.align: align data dirs (cached) and name the failures."""
    parser = argparse.ArgumentParser(prog="python -m paperlib.align", description=align.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="+", help="data dir names under data/<scale>/, e.g. train_pretrain")
    parser.add_argument("--scale", default="mini")
    args = parser.parse_args(argv)
    ws = Workspace(args.scale)
    status = 0
    for name in args.dirs:
        labels, failures = ws.phone_alignment(name)
        print(f"{name}: {len(labels)} aligned, {len(failures)} failed")
        for utt, reason in sorted(failures.items()):
            print(f"  {ws.data(name).utts[utt].path}: {reason}", file=sys.stderr)
        status |= bool(failures)
    return status



def train_main(argv: list[str] | None = None) -> int:
    """python -m paperlib.train: one LM or tokenizer stage (torchrun-capable)."""
    parser = argparse.ArgumentParser(prog="python -m paperlib.train", description=train.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=["tokenizers", "pretrain", "finetune"])
    parser.add_argument("--scale", default="mini", choices=["smoke", "mini", "full"])
    parser.add_argument("--row", type=Path, help="YAML override of FinetuneConfig (one per table row)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, help="override train.steps (pretrain)")
    parser.add_argument("--ckpt", type=Path, help="write the pretraining checkpoint here instead of the cache")
    args = parser.parse_args(argv)
    ws = Workspace(args.scale)
    if args.steps:
        ws.cfg = apply_overrides(ws.cfg, {"train": {"steps": args.steps}})
    if args.stage == "tokenizers":
        ws.codec(); ws.content_encoder(); ws.speaker_encoder()
        print(ws.codec_path(), ws.content_path(), ws.speaker_path())
    elif args.stage == "pretrain":
        path = pretrain(ws, path=args.ckpt)
        if _dist_info()[0] == 0:
            print(path)
    else:
        ft = ws.cfg.finetune
        if args.row:
            ft = apply_overrides(ft, load_override(args.row).get("finetune", {}))
        ft = apply_overrides(ft, {"seed": args.seed})
        print(finetune(ws, ft))
    return 0

