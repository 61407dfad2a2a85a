"""Diagnostic (not part of `make paper`): is it the discrete sampling, or the LM's own errors fed back, that
makes the LM's speech unintelligible, or what the LM knows? (`probes.lm_soft_decoding_report`)

Default (README finding 13): greedy free-running generation of 24 held-out libri trial utterances
(vctk-1fix prompt, d = 2), then the WER of (a) the greedy codes, (b) the *expected* codec latent under the
Fast AR's distributions of the same run (at T = 1 and 0.7), next to codec resynthesis. If (b) is much better
than (a), the LM's distributions hold the content and committing to one code per codebook throws it away;
if not, the distributions themselves are uninformative (the content -> acoustics mapping is not learnt).

``--history real`` (README finding 15): the same pass over the codec codes of the *real* utterances (oracle
history, as in teacher-forced training), on the held-out trials and on 24 of the LM's own pretraining
utterances, each with the vctk-1fix prompt (anonymized speaker) and in the pretraining condition (no prompt,
the utterance's own speaker): WER of each frame's greedy Fast-AR codes, of the teacher-forced argmax and of the expected
latent. If these were intelligible, exposure bias would be the problem (and scheduled sampling the fix);
if not, the per-frame predictions themselves are.

    .venv/bin/python scripts/lm_soft_decoding.py                  # ~5 min on 2 cores -> benchmarks/lm_soft_decoding.json
    .venv/bin/python scripts/lm_soft_decoding.py --history real   # ~5 min -> benchmarks/lm_oracle_history.json
"""
from __future__ import annotations

import argparse

from paperlib import paths
from paperlib.probes import lm_soft_decoding_report, pretraining_trials
from paperlib.stages import Workspace
from paperlib.train import pretrain
from paperlib.utils import atomic_write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--history", choices=["greedy", "real"], default="greedy",
                        help="acoustic history of the teacher-forced pass: the LM's greedy generation or the real codes")
    args = parser.parse_args()
    ws = Workspace("mini")
    path = pretrain(ws)
    if args.history == "greedy":
        report, name = {"checkpoint": path.name, **lm_soft_decoding_report(ws, path)}, "lm_soft_decoding.json"
    else:
        report = {"checkpoint": path.name}
        for trials_name, trials in (("held_out", None), ("own_pretraining_utterances", pretraining_trials(ws, 24))):
            for condition, prompted in (("vctk-1fix_prompt", True), ("own_speaker_no_prompt", False)):
                report[f"{trials_name}/{condition}"] = lm_soft_decoding_report(
                    ws, path, history="real", temperatures=(1.0,), trials=trials, prompted=prompted)
        name = "lm_oracle_history.json"
    atomic_write_json(paths.ensure(paths.benchmarks_dir("mini")) / name, report)
    print(report)


if __name__ == "__main__":
    main()
