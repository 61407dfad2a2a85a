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
# # 04 · Table 2: the ablation study
# Rows are one YAML override each (`configs/table2/`); numbers come from `figures/table2_ablation.csv`
# (mean over seeds, 95% bootstrap CI). The paper's numbers are in the `paper_*` columns.

# %% tags=["parameters"]
scale = "mini"
seed = 0

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import Markdown, display

from paperlib import paths
from paperlib.figures import load_table, save_figure, setup_style

setup_style()
t2 = load_table(scale, "table2_ablation.csv")
display(Markdown((paths.figures_dir(scale) / "table2_ablation.md").read_text()))

# %%
metrics = ["WER", "UAR", "EER-L", "EER-S"]
fig, axes = plt.subplots(1, len(metrics), figsize=(14, 3.4), sharey=True)
y = np.arange(len(t2))
for ax, m in zip(axes, metrics):
    if m not in t2:
        ax.set_title(f"{m}: not computed"); continue
    # a percentile-bootstrap interval need not contain the point estimate (e.g. a degenerate smoke set):
    # draw the bar to the interval's end on that side only
    err = np.clip(np.vstack([t2[m] - t2[f"{m}_lo"], t2[f"{m}_hi"] - t2[m]]), 0, None)
    ax.errorbar(t2[m], y, xerr=err, fmt="o", label="ours (MiniVPC)")
    if f"paper_{m}" in t2:
        ax.plot(t2[f"paper_{m}"], y, "x", color="C3", label="paper (IEMOCAP/VPC)")
    ax.set_title(m); ax.set_yticks(y, t2["system"])
axes[0].invert_yaxis()
fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=8, bbox_to_anchor=(0.5, -0.06))
save_figure(fig, "fig_table2_ablation", scale)

# %% [markdown]
# ## Does frame-distill (Exp7) beat the baseline UAR with non-overlapping CIs?

# %%
rows = t2.set_index("system")
if {"Baseline", "Exp7"} <= set(rows.index):
    base, exp7 = rows.loc["Baseline"], rows.loc["Exp7"]
    verdict = pd.DataFrame({"Baseline": base[["UAR", "UAR_lo", "UAR_hi", "Sad", "EER-L"]],
                            "Exp7": exp7[["UAR", "UAR_lo", "UAR_hi", "Sad", "EER-L"]]})
    verdict.loc["CIs overlap"] = [exp7["UAR_lo"] <= base["UAR_hi"]] * 2
    display(verdict)
else:
    print("Baseline and Exp7 are not both computed yet: run `make pipeline`")
