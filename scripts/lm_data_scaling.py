"""Diagnostic (not part of the paper pipeline): does the codec LM generalise better with more pretraining data?

Pretrains the mini LM with the same config and steps on train_pretrain alone (the cached model) vs on
train_pretrain + the evaluator/teacher training roles (train_asv, train_ser, train_teacher, train_asr: 956
more utterances, all sentences new), and reports teacher-forced accuracy on held-out vctk_pool for both.
Those roles must stay out of the real anonymizer's training (speaker-disjointness of the protocol), so
this only measures the data-size effect.

    .venv/bin/python scripts/lm_data_scaling.py        # ~25 min on 2 cores -> benchmarks/lm_data_scaling.json
"""
from __future__ import annotations

import argparse

from tqdm import tqdm

from paperlib import paths
from paperlib.probes import lm_teacher_forced_report
from paperlib.stages import Workspace, aligned_acoustic_codes
from paperlib.train import PretrainData, pretrain, pretrain_path
from paperlib.utils import atomic_write_json

EXTRA_DIRS = ("train_asv", "train_ser", "train_teacher", "train_asr")


class MorePretrainData(PretrainData):
    def __init__(self, ws, cfg) -> None:
        super().__init__(ws, cfg)
        codec = ws.codec()
        for name in EXTRA_DIRS:
            d, toks, feats = ws.data(name), ws.tokens(name), ws.world_features(name)
            for utt in tqdm(sorted(toks), desc=f"acoustic codes {name}"):
                content, acoustic = aligned_acoustic_codes(codec, feats[utt], toks[utt]["content"])
                self.tokens[utt] = {"content": content, "acoustic": acoustic, "speaker": toks[utt]["speaker"]}
                self.speaker_of[utt] = d.utts[utt].speaker
                self.by_spk.setdefault(d.utts[utt].speaker, []).append(utt)
            self.spk_mean.update(ws.speaker_means(name))
        self.utts = sorted(self.tokens)


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    ws = Workspace("mini")
    cfg = ws.cfg
    out = {"baseline_utts": len(ws.tokens("train_pretrain")),
           "baseline": lm_teacher_forced_report(ws, pretrain_path(ws))}
    data = MorePretrainData(ws, cfg)
    out["more_data_utts"] = len(data.utts)
    path = ws.cache / f"lm-pretrain-moredata-{pretrain_path(ws).stem.split('-')[-1]}.pt"
    pretrain(ws, path=path, data=data)              # the pretraining recipe, on more data
    out["more_data"] = lm_teacher_forced_report(ws, path)
    atomic_write_json(paths.ensure(paths.benchmarks_dir("mini")) / "lm_data_scaling.json", out)
    for key in ("baseline", "more_data"):
        print(key, {name: [round(100 * a, 1) for a in out[key][name]["accuracy"]] for name in ("train_pretrain", "vctk_pool")})


if __name__ == "__main__":
    main()
