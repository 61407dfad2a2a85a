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
# # 06 · Table 1, Figure 1 and the audio demo
# Table 1 (methods), the privacy-emotion trade-off (Fig. 1) and play widgets. The static demo page is
# `figures/demo/index.html` (built by the pipeline). Under papermill (`interactive=False`) the widgets
# degrade to a static list of players.

# %% tags=["parameters"]
scale = "mini"
seed = 0
interactive = True

# %%
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import Audio, HTML, Markdown, display

from paperlib import paths
from paperlib.demo import DEMO_METHODS, pick_samples, playable_path
from paperlib.figures import load_json, load_table, save_figure, setup_style
from paperlib.stages import Workspace

setup_style()
ws = Workspace(scale)
t1 = load_table(scale, "table1_methods.csv")
display(Markdown((paths.figures_dir(scale) / "table1_methods.md").read_text()))

# %% [markdown]
# ## Figure 1: privacy-emotion trade-off (EER-L >= 40 is the privacy floor)

# %%
paper_points = {"GenVC-small": (48.48, 34.23), "SLT24": (31.40, 57.00), "DarkStream": (47.26, 34.73),
                "TVTSyn": (47.55, 37.32), "StreamVoiceAnon vctk-1fix": (47.19, 39.72),
                "crema-emo-4rnd": (46.53, 44.59), "pool-distill": (48.62, 46.30), "frame-distill": (48.98, 49.22)}
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=False)
for ax, title in zip(axes, ["paper (IEMOCAP / LibriSpeech)", "ours (MiniVPC)"]):
    ax.axvspan(40, 55, color="C2", alpha=0.12, label="EER-L >= 40 (privacy floor)")
    ax.set_xlabel("EER-L (%)"); ax.set_ylabel("UAR (%)"); ax.set_title(title)
for name, (eer, uar) in paper_points.items():
    axes[0].plot(eer, uar, "*" if "distill" in name else "^", ms=12 if "frame" in name else 8)
    axes[0].annotate(name, (eer, uar), fontsize=7, xytext=(3, 3), textcoords="offset points")
for _, row in t1.iterrows():
    axes[1].errorbar(row["EER-L"], row["UAR"], xerr=[[row["EER-L"] - row["EER-L_lo"]], [row["EER-L_hi"] - row["EER-L"]]],
                     yerr=[[row["UAR"] - row["UAR_lo"]], [row["UAR_hi"] - row["UAR"]]], fmt="*" if "Ours" in row["system"] else "^", ms=10)
    axes[1].annotate(row["system"], (row["EER-L"], row["UAR"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
orig = load_json(scale, "original.json")
axes[1].plot(orig["EER-L"]["value"], orig["UAR"]["value"], "ko"); axes[1].annotate("Original", (orig["EER-L"]["value"], orig["UAR"]["value"]), fontsize=7)
axes[1].set_xlim(0, 60); axes[0].set_xlim(25, 55); axes[0].legend(fontsize=7, loc="lower left")
save_figure(fig, "fig1_privacy_emotion_tradeoff", scale)

# %% [markdown]
# ## Listen

# %%
# the cached systems' output, else (seed 0, a fresh clone) the demo page's committed copies
samples = pick_samples(ws, seed)
demo_dir = paths.figures_dir(scale) / "demo"
def players(emotion: str, index: int):
    utt = samples[emotion][index]
    found = [(label, playable_path(ws, key, utt, seed, demo_dir)) for label, key in DEMO_METHODS]
    return utt, [(label, str(path)) for label, path in found if path is not None]

if interactive:
    import ipywidgets as widgets
    emo = widgets.Dropdown(options=list(samples), description="emotion")
    idx = widgets.IntSlider(min=0, max=len(samples["sad"]) - 1, description="sample")
    method = widgets.Dropdown(options=[m for m, _ in DEMO_METHODS], description="method")
    out = widgets.Output()
    def show(*_):
        out.clear_output()
        utt, items = players(emo.value, idx.value)
        with out:
            for label, path in items:
                if label == method.value:
                    print(utt, label); display(Audio(filename=path))
    for w in (emo, idx, method):
        w.observe(show, names="value")
    show(); display(widgets.VBox([widgets.HBox([emo, idx, method]), out]))
else:
    utt, items = players("sad", 0)
    print(f"static players for {utt} (run in JupyterLab for the pickers)")
    for label, path in items:
        print(label); display(Audio(filename=path))
