"""Every stage of the paper for one scale, cached by config hash (what `make pipeline` runs).

    python -m paperlib.pipeline --scale mini              # data must exist (make data)
    python -m paperlib.pipeline --scale mini --seeds 0    # fewer seeds
    python -m paperlib.pipeline --scale mini --only table2

Writes to figures/ (mini) or figures/<scale>/: table2_ablation.{csv,md,tex}, table1_methods.{csv,md,tex},
table_prompts.{csv,md,tex}, results_per_seed.csv, system_timings.csv, original.json, target_voices.json,
tokenizer_report.json, lm_report.json, emotion_budget.{json,md}, training_curves.json, and the audio demo page figures/demo/index.html.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import paths
from .utils import atomic_write_json, atomic_write_text, config_hash


def original_results(ws) -> dict:
    from .eval import Evaluator

    out = ws.cache / "systems" / f"original-{config_hash(ws.cfg.eval)}"     # scored by this evaluation recipe
    path = out / "results.json"
    if path.exists():
        return json.loads(path.read_text())
    result = Evaluator(ws).evaluate(None, "Original", out, seed=0)
    atomic_write_json(path, result)
    return result


def _system_worker(args) -> str:
    import torch

    scale, key, seed, eer_s = args
    torch.set_num_threads(1)
    from .stages import Workspace
    from .systems import run_system

    run_system(Workspace(scale), key, seed, eer_s)
    return f"{key}/seed{seed}"


def _run_parallel(scale: str, jobs: list[tuple[str, int]], eer_s: bool, workers: int) -> None:
    import multiprocessing as mp

    from tqdm import tqdm

    args = [(scale, key, seed, eer_s) for key, seed in jobs]
    if workers <= 1:
        for a in tqdm(args, desc="systems"):
            _system_worker(a)
        return
    with mp.get_context("spawn").Pool(workers, maxtasksperchild=4) as pool:
        for done in tqdm(pool.imap_unordered(_system_worker, args), total=len(args), desc="systems"):
            print(f"done: {done}", flush=True)


def run(scale: str, seeds: list[int] | None = None, only: str | None = None, eer_s: bool | None = None,
        workers: int = 2, keys: list[str] | None = None, tables_only: bool = False) -> Path:
    """``keys`` limits which rows get the extra ``seeds`` (the others keep what is cached, seed 0 first).
    ``eer_s`` / ``keys`` default to the scale's ``pipeline_eer_s`` / ``pipeline_extra_seed_tables``."""
    from .stages import Workspace
    from .systems import list_systems, load_system, results_dir, run_system, system_hash
    from .tables import aggregate, write_table
    from .train import pretrain

    t0 = time.time()
    ws = Workspace(scale)
    figs = paths.ensure(paths.figures_dir(scale))
    seeds = seeds if seeds is not None else list(ws.cfg.seeds)
    eer_s = ws.cfg.pipeline_eer_s if eer_s is None else eer_s
    if keys is None and ws.cfg.pipeline_extra_seed_tables:
        keys = [key for table in ws.cfg.pipeline_extra_seed_tables for key in list_systems(table)]
    timings = {}

    def timed(name, fn):
        start = time.time()
        value = fn()
        timings[name] = round(time.time() - start, 1)
        return value

    timed("alignment", lambda: _alignment_report(ws, figs))
    timed("tokenizers", lambda: (ws.codec(), ws.content_encoder(), ws.speaker_encoder()))
    timed("lm_pretrain", lambda: pretrain(ws))
    timed("decoder_adapt", ws.anonymizer_codec)
    # vctk-1fix's one target voice, before any system is keyed (Workspace.inference_config)
    timed("target_voices", lambda: atomic_write_json(figs / "target_voices.json", ws.target_voices()))
    timed("teacher", ws.teacher)
    from .eval import EVAL_DIRS

    # shared inputs of every system, computed once before the workers start
    timed("tokens", lambda: [ws.tokens(n) for n in EVAL_DIRS + ("train_asv", "vctk_pool", "train_pretrain",
                                                                "train_crema")])
    timed("teacher_features", lambda: atomic_write_json(figs / "teacher_features.json", teacher_feature_summary(ws)))
    original = timed("original_eval", lambda: original_results(ws))
    atomic_write_json(figs / "original.json", {k: v for k, v in original.items()
                                               if k not in ("transcripts", "ser_predictions")})
    tables = {"table2": ("table2_ablation.csv", "Table 2: ablation on MiniVPC"),
              "table1": ("table1_methods.csv", "Table 1: methods on MiniVPC"),
              "prompts": ("table_prompts.csv", "Baseline prompt strategies on MiniVPC")}
    # every distinct (system, seed) once, in parallel worker processes with one thread each: these small
    # models run faster as 2 single-threaded processes than as one process with 2 threads
    jobs = {}
    for table in tables:
        if only and table != only:
            continue
        for seed in seeds:
            for key in list_systems(table):
                if keys and key not in keys and seed != seeds[0]:
                    continue
                jobs.setdefault((system_hash(ws, load_system(ws, key, seed)), seed), (key, seed))
    start = time.time()
    results_name = "results.json" if eer_s else "results_no_eer_s.json"
    todo = [(key, seed) for key, seed in jobs.values()            # cached systems: no worker processes at all
            if not (results_dir(ws, load_system(ws, key, seed)) / results_name).exists()]
    if todo and not tables_only:
        _run_parallel(scale, todo, eer_s, workers)
    done = set()
    for table in tables:
        for seed in seeds:
            for key in list_systems(table):
                spec = load_system(ws, key, seed)
                if (results_dir(ws, spec) / results_name).exists():
                    done.add((key, seed))
    timings["systems"] = round(time.time() - start, 1)
    all_results = []
    for table, (fname, title) in tables.items():
        if only and table != only:
            continue
        table_keys = list_systems(table)
        results = [run_system(ws, key, seed, eer_s) for seed in seeds for key in table_keys
                   if (key, seed) in done]                                              # cached lookups
        specs = {k: load_system(ws, k) for k in table_keys}
        df = aggregate(results, table_keys, {k: s.label for k, s in specs.items()}, {k: s.paper for k, s in specs.items()})
        metrics = ("WER", "UAR", "Ang", "Hap", "Neu", "Sad", "EER-L", "EER-S", "EER-ext")
        write_table(df, figs / fname, metrics, title)
        all_results += results
    if all_results:
        from .eval import results_frame

        per_seed = results_frame(all_results)
        per_seed.insert(0, "key", [r["key"] for r in all_results])
        atomic_write_text(figs / "results_per_seed.csv", per_seed.to_csv(index=False))
        atomic_write_text(figs / "system_timings.csv", system_timings(all_results).to_csv(index=False))
    from .emotion_budget import write_budget

    timed("emotion_budget", lambda: write_budget(ws, figs, seeds=tuple(seeds)))
    timed("tokenizer_report", lambda: _tokenizer_report(ws, figs))
    timed("training_curves", lambda: _training_curves(ws, figs))
    timed("lm_report", lambda: _lm_report(ws, figs))
    if not only or only == "demo":
        from .demo import build_demo_page

        timed("demo_page", lambda: build_demo_page(ws, figs / "demo"))
    timings["total"] = round(time.time() - t0, 1)
    atomic_write_json(figs / f"pipeline_timings.json", timings)
    return figs


def teacher_feature_summary(ws, dims: int = 64) -> dict:
    """What notebook 03 plots of the frozen emotion teacher: the frames of the last utterance of each emotion
    of the first CREMA-like speaker, and every emotion's mean of the first 8 dimensions (the notebook only
    reads this; computing it trains the teacher when it is missing)."""
    import numpy as np

    feats, crema = ws.teacher_features("train_crema"), ws.data("train_crema")
    spk = sorted(crema.by_speaker())[0]
    examples = {}
    for emo in ("neu", "ang", "hap", "sad"):
        utt = sorted(u.utt_id for u in crema.by_speaker()[spk] if u.emotion == emo)[-1]
        examples[emo] = {"utt": utt, "frames": np.round(feats[utt].numpy()[:, :dims], 2).tolist()}
    means = {}
    for emo in sorted({u.emotion for u in crema.utts.values()}):
        rows = [feats[u.utt_id].mean(0).numpy()[:8] for u in crema.utts.values() if u.emotion == emo]
        means[emo] = np.round(np.mean(rows, axis=0), 3).tolist()
    return {"speaker": spk, "examples": examples, "mean_first_dims": means}


def system_timings(results: list[dict]):
    """CPU seconds (one thread each) that every distinct (system, seed) took, per step, from its cached result:
    the data behind the README's time budget. Rows shared by two tables appear once. A system evaluated with
    EER-S in one go counts train_asv in ``anonymize`` and the attacker in ``evaluate``; one that got EER-S
    added later has them in ``anonymize_train_asv`` and ``eer_s``."""
    import pandas as pd

    rows, seen = [], set()
    for r in results:
        if (r["system_dir"], r["seed"]) in seen:
            continue
        seen.add((r["system_dir"], r["seed"]))
        rows.append({"key": r["key"], "label": r["label"], "seed": r["seed"], **r.get("timing_s", {})})
    df = pd.DataFrame(rows)
    steps = [c for c in ("finetune", "anonymize", "evaluate", "anonymize_train_asv", "eer_s") if c in df]
    df["total"] = df[steps].sum(axis=1).round(1)
    return df


def _alignment_report(ws, figs: Path) -> None:
    """Align every dir the tokenizers and probes need (cached); per dir how many utterances aligned and
    which failed, with the reason (notebook 01 adds the counts to the data card)."""
    from .stages import ALIGNED_DIRS

    report = {}
    for name in ALIGNED_DIRS:
        labels, failures = ws.phone_alignment(name)
        report[name] = {"aligned": len(labels), "failed": len(failures),
                        "failures": {str(ws.data(name).utts[u].path.relative_to(ws.data_root)): why
                                     for u, why in sorted(failures.items())}}
        for utt, why in sorted(failures.items()):
            print(f"alignment failed: {ws.data(name).utts[utt].path}: {why}", file=sys.stderr)
    atomic_write_json(figs / "alignment.json", report)


def tokenizer_report_path(ws) -> Path:
    """Keyed by the tokenizers and by what it measures them with: the ASR and the ASV attackers' recipe."""
    from .eval import Evaluator

    return ws.cache / f"tokenizer_report-{config_hash(ws.tokens_key(), ws.cfg.eval.asr, Evaluator(ws).asv_cfg)}.json"


def _tokenizer_report(ws, figs: Path) -> None:
    from .probes import tokenizer_report
    from .utils import cached_json

    report = cached_json(tokenizer_report_path(ws), lambda: tokenizer_report(ws))
    atomic_write_json(figs / "tokenizer_report.json", report)


def _lm_report(ws, figs: Path) -> None:
    from .probes import cached_lm_report
    from .train import pretrain_path

    atomic_write_json(figs / "lm_report.json", cached_lm_report(ws, pretrain_path(ws)))


def _training_curves(ws, figs: Path) -> None:
    from .checkpoint import load_checkpoint
    from .systems import list_systems, load_system
    from .train import finetune_path, pretrain_path

    curves = {"pretrain": load_checkpoint(pretrain_path(ws)).get("log", [])}
    for key in list_systems("table2"):
        spec = load_system(ws, key, ws.cfg.seeds[0])
        if spec.finetune.pairing == "none":
            continue
        state = load_checkpoint(finetune_path(ws, spec.finetune))
        if state is not None:
            curves[spec.label] = state.get("log", [])
    atomic_write_json(figs / "training_curves.json", curves)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paperlib.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="mini", choices=["smoke", "mini", "full"])
    parser.add_argument("--seeds", type=int, nargs="*", default=None, help="default: the scale's seeds")
    parser.add_argument("--only", choices=["table1", "table2", "prompts", "demo"], default=None)
    eer = parser.add_mutually_exclusive_group()
    eer.add_argument("--eer-s", dest="eer_s", action="store_const", const=True, default=None,
                     help="run the semi-informed attacker (default: the scale's pipeline_eer_s, on)")
    eer.add_argument("--no-eer-s", dest="eer_s", action="store_const", const=False,
                     help="skip the semi-informed attacker (faster)")
    parser.add_argument("--workers", type=int, default=2, help="parallel single-threaded system workers")
    parser.add_argument("--keys", nargs="*", help="rows (e.g. table2/7_exp7_aco) that get seeds beyond the first "
                                                  "(default: the scale's pipeline_extra_seed_tables; mini: Table 2)")
    parser.add_argument("--tables-only", action="store_true",
                        help="do not run systems; build tables/figures from the results already cached")
    args = parser.parse_args(argv)
    figs = run(args.scale, args.seeds, args.only, eer_s=args.eer_s, workers=args.workers, keys=args.keys,
               tables_only=args.tables_only)
    print(f"results in {figs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
