"""Tables are data first: per-seed results -> aggregated CSV -> Markdown + LaTeX renderings.

Aggregation over seeds: the value is the mean over seeds; ``*_lo``/``*_hi`` is the mean over seeds of each
seed's 95% bootstrap interval (test-set uncertainty); ``*_sd`` is the standard deviation across seeds
(training-seed variability). The paper's numbers sit beside ours in ``paper_*`` columns.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .config import preset
from .eval import METRICS, results_frame
from .utils import atomic_write_text


def aggregate(results: list[dict], order: list[str], labels: dict[str, str], paper: dict[str, dict]) -> pd.DataFrame:
    per_seed = results_frame(results)
    per_seed["key"] = [r["key"] for r in results]
    rows = []
    for key in order:
        sub = per_seed[per_seed["key"] == key]
        if sub.empty:
            continue
        row = {"key": key, "system": labels[key], "n_seeds": len(sub)}
        for m in METRICS:
            if m in sub and sub[m].notna().any():
                row[m] = sub[m].mean()
                row[f"{m}_lo"], row[f"{m}_hi"] = sub[f"{m}_lo"].mean(), sub[f"{m}_hi"].mean()
                row[f"{m}_sd"] = sub[m].std(ddof=1) if len(sub) > 1 else 0.0
        for m, v in paper.get(key, {}).items():
            row[f"paper_{m}"] = v
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(row: pd.Series, m: str) -> str:
    if m not in row or pd.isna(row[m]):
        return "–"
    return f"{row[m]:.1f} [{row[f'{m}_lo']:.1f}, {row[f'{m}_hi']:.1f}]"


def render_markdown(df: pd.DataFrame, metrics: tuple[str, ...], title: str) -> str:
    head = "| System | seeds | " + " | ".join(metrics) + " | paper (" + ", ".join(metrics) + ") |"
    lines = [f"**{title}** (ours: mean over seeds [95% bootstrap CI]; paper's numbers in the last column)", "",
             head, "|" + "---|" * (len(metrics) + 3)]
    for _, row in df.iterrows():
        paper = ", ".join(f"{row[f'paper_{m}']:.2f}" if f"paper_{m}" in row and not pd.isna(row.get(f"paper_{m}"))
                          else "–" for m in metrics)
        lines.append(f"| {row['system']} | {row['n_seeds']} | " + " | ".join(_fmt(row, m) for m in metrics) + f" | {paper} |")
    return "\n".join(lines) + "\n"


def render_latex(df: pd.DataFrame, metrics: tuple[str, ...], caption: str) -> str:
    cols = "l" + "c" * len(metrics)
    out = ["\\begin{table}[t]", "\\centering", f"\\caption{{{caption}}}", f"\\begin{{tabular}}{{{cols}}}",
           "\\toprule", "System & " + " & ".join(metrics) + " \\\\", "\\midrule"]
    for _, row in df.iterrows():
        cells = []
        for m in metrics:
            cells.append("--" if m not in row or pd.isna(row[m]) else f"{row[m]:.1f}\\,$\\pm${(row[f'{m}_hi'] - row[f'{m}_lo']) / 2:.1f}")
        out.append(f"{row['system']} & " + " & ".join(cells) + " \\\\")
    out += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(out) + "\n"


def write_table(df: pd.DataFrame, path_csv: Path, metrics: tuple[str, ...], title: str) -> None:
    atomic_write_text(path_csv, df.to_csv(index=False))
    atomic_write_text(path_csv.with_suffix(".md"), render_markdown(df, metrics, title))
    atomic_write_text(path_csv.with_suffix(".tex"), render_latex(df, metrics, title))


def read_table(path_csv: Path) -> pd.DataFrame:
    if not path_csv.exists():
        raise FileNotFoundError(f"{path_csv}: table not found; run `make pipeline` (or `make paper`) first")
    return pd.read_csv(path_csv)


def _decoding_line(report: dict) -> str:
    """The tokenizer report's phone accuracy and decoding-robustness numbers as one README sentence."""
    parts = []
    if "phone_accuracy" in report:
        a = report["phone_accuracy"]
        parts.append(f" Quarter-phone accuracy of the tokens {a['held_out']:.1f}% held-out, {a['train_pretrain']:.1f}% on "
                     f"training utterances (majority {a['chance']:.1f}%).")
    if "codec_decoding" in report:
        d = report["codec_decoding"]
        stages = " / ".join(f"{d[f'stages_{k}']:.1f}" for k in (8, 4, 2, 1, 0) if f"stages_{k}" in d)
        parts.append(f" Codec WER from 8 / 4 / 2 / 1 / 0 stages {stages}; decoded with another utterance's codes "
                     f"{d['other_utterance_codes']:.1f}.")
    return "".join(parts)


def _budget_line(budget: dict) -> str:
    """The emotion budget (figures/emotion_budget.json) as one README paragraph: UAR [95% CI] per step."""
    from .emotion_budget import ordered_rows

    cells = "; ".join(f"{name} {r['UAR']['value']:.1f} [{r['UAR']['ci_low']:.1f}, {r['UAR']['ci_high']:.1f}] "
                      f"({r['angry_minus_sad_rms_db']:+.1f} dB ang-sad, top class {r['max_class_share']:.0f}%)"
                      for name, r in ordered_rows(budget))
    p = budget["content_probes"]
    return (f"**Emotion budget** ({budget['set']}, SER UAR after each step, `figures/emotion_budget.md`): {cells}. "
            f"Content-token probes: emotion {p['emotion_acc_tokens']:.1f}% (log-mel {p['emotion_acc_log_mel']:.1f}%, "
            f"chance 25%), speaker ID {p['speaker_acc_tokens']:.1f}% (chance {p['chance_speaker']:.1f}%), quarter-phone "
            f"accuracy {p['phone_accuracy']['held_out']:.1f}% held-out"
            + (f"; the explicit prosody stream: emotion {p['emotion_acc_prosody_stream']:.1f}%, speaker ID "
               f"{p['speaker_acc_prosody_stream']:.1f}%" if "emotion_acc_prosody_stream" in p else "") + ".")


def update_readme(scale: str = "mini") -> bool:
    """Replace the README block between the RESULTS markers with the current tables (data -> text)."""
    import json

    from . import paths

    readme = paths.PROJECT_ROOT / "README.md"
    figs = paths.figures_dir(scale)
    begin, end = "<!-- RESULTS:BEGIN -->", "<!-- RESULTS:END -->"
    text = readme.read_text()
    if begin not in text or end not in text:
        return False
    parts = [f"_Generated by `python -m paperlib.tables --readme` from `figures/` ({scale} scale)._", ""]
    original = figs / "original.json"
    if original.exists():
        o = json.loads(original.read_text())
        cells = ", ".join(f"{m} {o[m]['value']:.1f} [{o[m]['ci_low']:.1f}, {o[m]['ci_high']:.1f}]"
                          for m in ("WER", "UAR", "Ang", "Hap", "Neu", "Sad", "EER-L", "EER-ext") if m in o)
        parts += [f"**Original (no anonymization)**: {cells}. Paper: WER 1.83, EER-L 5.16, UAR ~70.", ""]
    voices = figs / "target_voices.json"
    if voices.exists():
        v = json.loads(voices.read_text())
        ranked = ", ".join(f"{spk} {v['pool_WER'][spk]:.1f}" for spk in v["ranking"])
        parts += [f"**Target voice** (vctk-1fix, every row and seed): {v['ranking'][0]}, the first of the pool's speakers "
                  "ranked without evaluation data by the pretrained anonymizer's WER on the other pool speakers' "
                  f"utterances in their voice ({len(v['seeds'])} sampling seeds; `figures/target_voices.json`): {ranked}.", ""]
    for name in ("table1_methods.md", "table2_ablation.md"):
        if (figs / name).exists():
            parts += [(figs / name).read_text(), ""]
    prompts = figs / "table_prompts.csv"
    if prompts.exists():      # the full table is in figures/table_prompts.md; the README keeps one line
        rows = pd.read_csv(prompts)
        cells = "; ".join(f"{r.key.split('/')[-1]} {r.WER:.1f} / {r.UAR:.1f} / {r['EER-L']:.1f}" for _, r in rows.iterrows())
        parts += [f"**Baseline prompt strategies** (WER / UAR / EER-L; `figures/table_prompts.md`): {cells}.", ""]
    report = figs / "tokenizer_report.json"
    if report.exists():
        r = json.loads(report.read_text())
        c, p = r["codec"], r["content_probes"]
        asv_epochs = preset(scale).eval.asv_epochs
        stale = ("" if c.get("asv_epochs") == asv_epochs else f" (from attackers of an earlier recipe than "
                 f"eval.asv_epochs = {asv_epochs}; the next `make pipeline` recomputes them)")
        parts += ["**Tokenizers** (held-out libri_test speech): "
                  f"WER original {c['original']['WER']:.1f} / WORLD copy-synthesis {c['copy_synthesis']['WER']:.1f} / "
                  f"codec resynthesis {c['codec_resynthesis']['WER']:.1f}; EER-L {c['original']['EER-L']:.1f} / "
                  f"{c['copy_synthesis']['EER-L']:.1f} / {c['codec_resynthesis']['EER-L']:.1f}{stale}; codec MCD "
                  f"{c['codec_resynthesis']['MCD_dB']:.2f} dB at {c['bitrate_bps']:.0f} bit/s. Content-token probes: "
                  f"speaker ID {p['speaker_acc_tokens']:.1f}% on tokens vs {p['speaker_acc_log_mel']:.1f}% on log-mel "
                  f"(chance {p['chance_speaker']:.1f}%), emotion {p['emotion_acc_tokens']:.1f}% vs "
                  f"{p['emotion_acc_log_mel']:.1f}% (chance 25%)." + _decoding_line(r), ""]
    budget = figs / "emotion_budget.json"
    if budget.exists():
        parts += [_budget_line(json.loads(budget.read_text())), ""]
    real = figs / "real_speech.json"
    if real.exists():
        from .real_speech import ordered_systems

        r = json.loads(real.read_text())
        cells = "; ".join(f"{name} WER {x['WER']:.1f} [{x['WER_lo']:.1f}, {x['WER_hi']:.1f}], EER-L {x['EER-L']:.1f}, "
                          f"EER-I {x['EER-I']:.1f}" for name, x in ordered_systems(r) if name != "original")
        parts += [f"**Real speech, held out** ({r['corpus']}, {r['readers']} readers, {r['utterances']} utterances, the "
                  f"shipped bundle; WER against whisper tiny.en pseudo-transcripts of the originals, EER with resemblyzer; "
                  f"`figures/real_speech.md`): {cells}; original EER-L {r['systems']['original']['EER-L']:.1f}.", ""]
    lm_report = figs / "lm_report.json"
    if lm_report.exists():
        r = json.loads(lm_report.read_text())
        pct = lambda name: " / ".join(f"{100 * a:.1f}" for a in r[name]["accuracy"])
        line = (f"**Codec LM generalisation** (teacher-forced Fast-AR accuracy per codebook 0-7, d = {r['delay']}; "
                f"chance {100 * np.exp(-r['uniform_ce']):.1f}%): own pretraining utterances {pct('train_pretrain')}; "
                f"held-out speakers and sentences (vctk_pool) {pct('vctk_pool')}.")
        if "generation" in r:
            g = r["generation"]
            fixed = f", the fixed speaker's {g.get('fixed_prompt', 'first')} utterance" if g["prompt"] == "vctk-1fix" else ""
            line += (f" Free-running generation of {g['n_utts']} held-out libri trial utterances ({g['prompt']} "
                     f"prompt{fixed}, d = {g['delay']}): WER {g['sampled_WER']:.1f} sampled (T = {g['sampled_temperature']}), "
                     f"{g['greedy_WER']:.1f} greedy")
            if g.get("decoder_adapted"):
                line += (f" with the decoder adapted to the LM's codes ({g['sampled_WER_tokenizer_decoder']:.1f} / "
                         f"{g['greedy_WER_tokenizer_decoder']:.1f} through the tokenizer's own decoder)")
            line += f"; codec resynthesis of the same utterances {g['codec_resynthesis_WER']:.1f}."
        if "count_table" in r:
            t = r["count_table"]["held_out"]
            line += (f" No-LM count-table baseline (most frequent training code given the aligned phone triple) on the "
                     f"same held-out trials: WER {t['WER']:.1f}, codebook-0 agreement {100 * t['accuracy'][0]:.1f}%.")
        parts += [line, ""]
    bench = paths.benchmarks_dir(scale) / "latency.json"
    if bench.exists():        # one line here; the per-delay table is benchmarks/latency.md
        b = json.loads(bench.read_text())
        per = b["delays"]
        parts += [f"**Streaming** (1 CPU thread, `make bench`, `benchmarks/latency.md`): first-packet latency at d = "
                  + " / ".join(str(r["delay"]) for r in per) + ": " + " / ".join(f"{r['first_packet_ms']:.0f}" for r in per)
                  + f" ms; RTF {min(r['rtf'] for r in per):.3f}-{max(r['rtf'] for r in per):.3f}; Exp7 / baseline RTF "
                  f"{b['rtf_ratio_finetuned_over_baseline']} (whole chain), {b['lm_rtf_ratio_finetuned_over_baseline']} "
                  f"(anonymizer network only).", ""]
    new = text[: text.index(begin) + len(begin)] + "\n" + "\n".join(parts) + "\n" + text[text.index(end):]
    from .utils import atomic_write_text

    atomic_write_text(readme, new)
    return True


if __name__ == "__main__":
    import sys

    if "--readme" in sys.argv:
        scale = sys.argv[sys.argv.index("--scale") + 1] if "--scale" in sys.argv else "mini"
        print("README updated" if update_readme(scale) else "README has no RESULTS markers")
