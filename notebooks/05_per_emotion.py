# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Per-emotion analysis
# Per-emotion recall, confusion matrices, and what happens to sad utterances.

# %% tags=["parameters"]
scale = "mini"
seed = 0

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from paperlib import paths
from paperlib.analysis import prosody_table
from paperlib.figures import EMOTION_COLUMNS, load_json, load_table, save_figure, setup_style
from paperlib.stages import Workspace
from paperlib.systems import load_system, results_dir, system_dir
from paperlib.utils import atomic_write_text

setup_style()
ws = Workspace(scale)
figs = paths.figures_dir(scale)
t2 = load_table(scale, "table2_ablation.csv")

# %% [markdown]
# ## The emotion budget: where along the anonymizer emotion is kept or lost
# IEMOCAP_test after each step (`paperlib.emotion_budget`): UAR with its 95% CI, and per emotion the level
# and the F0 the speech ends up with. The rows are computed by the pipeline; this cell only plots them.

# %%
from paperlib.emotion_budget import budget_table, ordered_rows

budget = load_json(scale, "emotion_budget.json")
bt = budget_table(budget)
pros = pd.DataFrame([{"speech": name, "emotion": emo, **values} for name, row in ordered_rows(budget)
                     for emo, values in row["prosody"].items()])
fig, axes = plt.subplots(1, 3, figsize=(15, 0.35 * len(bt) + 1.5), sharey=True)
axes[0].barh(bt["speech"], bt["UAR"], xerr=[bt["UAR"] - bt["UAR_lo"], bt["UAR_hi"] - bt["UAR"]], color="C0")
axes[0].axvline(25, ls=":", color="gray"); axes[0].set_xlabel("UAR (%), 95% CI"); axes[0].invert_yaxis()
for ax, col, label in ((axes[1], "rms_dbfs", "RMS level (dBFS)"), (axes[2], "f0_median_st", "median F0 (st re 100 Hz)")):
    for emo, grp in pros.groupby("emotion"):
        ax.plot(grp[col], grp["speech"], "o", label=emo)
    ax.set_xlabel(label)
axes[2].legend(title="emotion", loc="lower right")
save_figure(fig, "fig_emotion_budget", scale)
probes = budget["content_probes"]
print({k: round(v, 1) if isinstance(v, float) else v for k, v in probes.items()})
bt.round(1)

# %% [markdown]
# ## Per-emotion recall (Table 2 rows)

# %%
long = t2.melt(id_vars="system", value_vars=list(EMOTION_COLUMNS), var_name="emotion", value_name="recall")
orig = load_json(scale, "original.json")
long = pd.concat([pd.DataFrame({"system": "Original", "emotion": list(EMOTION_COLUMNS),
                                "recall": [orig[e]["value"] for e in EMOTION_COLUMNS]}), long])
atomic_write_text(figs / "per_emotion_recall.csv", long.to_csv(index=False))
fig, ax = plt.subplots(figsize=(11, 3.5))
sns.barplot(data=long, x="system", y="recall", hue="emotion", ax=ax, seed=0)
ax.axhline(25, ls=":", color="gray"); ax.set_ylabel("recall (%)"); ax.tick_params(axis="x", rotation=30)
save_figure(fig, "fig_per_emotion_recall", scale)

# %% [markdown]
# ## Confusion matrices (seed 0): Original, Baseline, Exp7

# %%
def system_results(key):
    out = results_dir(ws, load_system(ws, key, seed))
    for name in ("results.json", "results_no_eer_s.json"):
        if (out / name).exists():
            return json.loads((out / name).read_text())
    return None

keys = [(label, key) for label, key in [("Original", None), ("Baseline", "table2/0_baseline"), ("Exp7", "table2/7_exp7_aco")]
        if key is None or system_results(key) is not None]
fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.4), squeeze=False)
for ax, (label, key) in zip(axes[0], keys):
    res = orig if key is None else system_results(key)
    cm = np.array(res["confusion"]["matrix"], dtype=float)
    cm = 100 * cm / cm.sum(1, keepdims=True).clip(min=1)
    sns.heatmap(cm, annot=True, fmt=".0f", cmap="Blues", xticklabels=res["confusion"]["labels"],
                yticklabels=res["confusion"]["labels"], ax=ax, cbar=False, vmin=0, vmax=100)
    ax.set_title(label); ax.set_xlabel("predicted"); ax.set_ylabel("true")
save_figure(fig, "fig_confusion_matrices", scale)

# %% [markdown]
# ## Sad utterances: does the anonymized speech keep low pitch, narrow range and low energy?

# %%
iem = ws.data("IEMOCAP_test")
sad = sorted(u for u, x in iem.utts.items() if x.emotion in ("sad", "neu"))
items = [("Original", u, iem.utts[u].path) for u in sad]
for label, key in keys[1:]:
    d = system_dir(ws, load_system(ws, key, seed)) / "anon" / "IEMOCAP_test" / "wav"
    items += [(label, u, d / f"{u}.wav") for u in sad]
pros = prosody_table(items, ws.cache / "analysis" / f"prosody_sad_neu_seed{seed}.csv")
pros["emotion"] = [iem.utts[u].emotion for u in pros["utt"]]
summary = pros.groupby(["system", "emotion"])[["f0_median", "f0_range_st", "rms_db"]].mean().round(2)
atomic_write_text(figs / "sad_prosody.csv", summary.to_csv())
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
for ax, col in zip(axes, ["f0_range_st", "rms_db"]):
    sns.barplot(data=pros, x="system", y=col, hue="emotion", ax=ax, order=[label for label, _ in keys],
                seed=0)             # its error bars are bootstrap CIs: the same figure on every run
save_figure(fig, "fig_sad_prosody", scale)
summary
