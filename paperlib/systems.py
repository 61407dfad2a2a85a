"""Table rows as systems: one YAML override per row (configs/table1, configs/table2, configs/prompts).

A system = FinetuneConfig overrides (which model) + InferenceConfig overrides (which prompt strategy).
Anonymized speech is cached under cache/<scale>/systems/<hash>/anon by a hash of everything it depends on, so
rows that are the same system (Table 1 "frame-distill" and Table 2 "Exp7") are computed once; its scores live
beside it in eval-<hash of the evaluation recipe>/, so that changing the evaluator re-scores cached speech.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from . import paths
from .config import FinetuneConfig, InferenceConfig, apply_overrides, load_override
from .utils import config_hash

TABLES = ("table1", "table2", "prompts")


@dataclass
class SystemSpec:
    key: str                 # e.g. "table2/7_exp7_aco"
    label: str
    description: str
    finetune: FinetuneConfig
    inference: InferenceConfig
    paper: dict = field(default_factory=dict)


def list_systems(table: str) -> list[str]:
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; choose from {TABLES}")
    return [f"{table}/{p.stem}" for p in sorted((paths.CONFIGS_DIR / table).glob("*.yaml"))]


def load_system(ws, key: str, seed: int = 0) -> SystemSpec:
    path = paths.CONFIGS_DIR / f"{key}.yaml"
    if not path.exists():
        aliases = {"frame-distill": "table1/3_frame-distill", "pool-distill": "table1/2_pool-distill",
                   "vctk-1fix": "table1/0_vctk-1fix", "baseline": "table2/0_baseline",
                   "crema-emo-4rnd": "table1/1_crema-emo-4rnd"}
        if key in aliases:
            return load_system(ws, aliases[key], seed)
        raise FileNotFoundError(f"{path}: no such system config; known: "
                                + ", ".join(k for t in TABLES for k in list_systems(t)))
    over = load_override(path)
    unknown = set(over) - {"label", "description", "finetune", "inference", "paper"}
    if unknown:
        raise KeyError(f"{path}: unknown keys {sorted(unknown)}")
    ft = apply_overrides(ws.cfg.finetune, {**over.get("finetune", {}), "seed": seed})
    inf = ws.inference_config(apply_overrides(ws.cfg.inference, over.get("inference", {})))
    return SystemSpec(key, over.get("label", key), over.get("description", ""), ft, inf, over.get("paper", {}))


def system_hash(ws, spec: SystemSpec) -> str:
    from .train import pretrain_path

    ft = spec.finetune if spec.finetune.pairing != "none" else apply_overrides(
        spec.finetune, {"seed": spec.finetune.seed, "use_sep": False, "distill": "none"})
    return config_hash(ft, spec.inference, ws.cfg.teacher, pretrain_path(ws).stem, ws.anonymizer_codec_key())


def system_dir(ws, spec: SystemSpec) -> Path:
    """The system's anonymized speech (anon/) and the CPU time it took (timing.json)."""
    return ws.cache / "systems" / system_hash(ws, spec)


def results_dir(ws, spec: SystemSpec) -> Path:
    """The system's scores under the evaluation recipe in use (results.json, results_no_eer_s.json, eval/)."""
    return system_dir(ws, spec) / f"eval-{config_hash(ws.cfg.eval)}"


def system_parts(ws, key: str, seed: int):
    from .anonymize import load_parts
    from .train import finetune

    spec = load_system(ws, key, seed)
    lm_path = finetune(ws, spec.finetune)
    return load_parts(ws, lm_path, spec.finetune.use_sep), spec.inference


def run_system(ws, key: str, seed: int, eer_s: bool = True, keep_audio: bool = True) -> dict:
    """Finetune (cached), anonymize the eval sets (and train_asv for EER-S), evaluate; cached."""
    import json
    import time

    from .anonymize import anonymize_dir
    from .eval import EVAL_DIRS, Evaluator
    from .utils import atomic_write_json

    spec = load_system(ws, key, seed)
    out, scores = system_dir(ws, spec), results_dir(ws, spec)
    results_path = scores / ("results.json" if eer_s else "results_no_eer_s.json")
    without_eer_s = scores / "results_no_eer_s.json"
    if not results_path.exists() and eer_s and without_eer_s.exists() and (out / "anon").is_dir():
        # the other metrics are cached: add the semi-informed attacker only (anonymize train_asv, retrain ASV)
        t0 = time.time()
        parts, inf = system_parts(ws, key, seed)
        anonymize_dir(ws, parts, inf, "train_asv", out / "anon" / "train_asv", seed,
                      desc=f"{spec.label} s{seed}: train_asv")
        t1 = time.time()
        result = json.loads(without_eer_s.read_text())
        result["EER-S"] = Evaluator(ws).eer_semi(out / "anon", out / "anon" / "train_asv", spec.label, seed)
        result["timing_s"] = {**result.get("timing_s", {}), "anonymize_train_asv": round(t1 - t0, 1),
                              "eer_s": round(time.time() - t1, 1)}
        atomic_write_json(results_path, result)
    if results_path.exists():
        result = json.loads(results_path.read_text())
    else:
        # anonymization is resumable and skips finished files: with the speech cached (another evaluation
        # recipe scored it before) this is a re-score, and the time the speech took when made is read back
        timing_path = out / "timing.json"
        timing = json.loads(timing_path.read_text()) if timing_path.exists() else {"anonymize": {}}
        dirs = EVAL_DIRS + (("train_asv",) if eer_s else ())
        t0 = time.time()
        parts, inf = system_parts(ws, key, seed)
        timing.setdefault("finetune", round(time.time() - t0, 1))
        for name in dirs:
            t1 = time.time()
            anonymize_dir(ws, parts, inf, name, out / "anon" / name, seed, desc=f"{spec.label} s{seed}: {name}")
            timing["anonymize"].setdefault(name, round(time.time() - t1, 1))
        atomic_write_json(timing_path, timing)
        t2 = time.time()
        ev = Evaluator(ws)
        result = ev.evaluate(out / "anon", spec.label, scores / "eval", out / "anon" / "train_asv" if eer_s else None,
                             seed=seed)
        result["timing_s"] = {"finetune": timing["finetune"],
                              "anonymize": round(sum(timing["anonymize"][n] for n in dirs), 1),
                              "evaluate": round(time.time() - t2, 1)}
        atomic_write_json(results_path, result)
        if not keep_audio:
            shutil.rmtree(out / "anon" / "train_asv", ignore_errors=True)
    result = dict(result)
    result.update({"key": key, "label": spec.label, "seed": seed, "system_dir": str(out)})
    return result
