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
# # 03 · Supervised finetuning and emotion distillation
# SFT curves of every ablation row and what the frozen emotion teacher sees.

# %% tags=["parameters"]
scale = "mini"
seed = 0

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from paperlib.figures import load_json, save_figure, setup_style

setup_style()

# %% [markdown]
# ## Finetuning curves (LM loss on the source part; L_emo where distillation is on)

# %%
curves = load_json(scale, "training_curves.json")
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
for label, log in curves.items():
    if label == "pretrain" or not log:
        continue
    df = pd.DataFrame(log)
    axes[0].plot(df["step"], df["acoustic"], label=label)
    if "emo" in df:
        axes[1].plot(df["step"], df["emo"], label=label)
axes[0].set_title("acoustic CE (source frames)"); axes[0].set_xlabel("step"); axes[0].legend(fontsize=7)
axes[1].set_title("L_emo (L1 + cosine)"); axes[1].set_xlabel("step"); axes[1].legend(fontsize=7)
save_figure(fig, "fig_finetune_curves", scale)

# %% [markdown]
# ## Teacher features
# The frame-level teacher (trained on `train_teacher` only) at the token rate; per-emotion mean feature
# trajectories of CREMA-like utterances of one speaker.

# %%
teacher = load_json(scale, "teacher_features.json")
fig, axes = plt.subplots(1, 4, figsize=(12, 2.6), sharey=True)
for ax, emo in zip(axes, ["neu", "ang", "hap", "sad"]):
    ax.imshow(np.array(teacher["examples"][emo]["frames"]).T, aspect="auto", origin="lower", cmap="coolwarm", vmin=-2, vmax=2)
    ax.set_title(f"{emo}", fontsize=9); ax.set_xlabel("token frame (48 ms)")
axes[0].set_ylabel("teacher dim")
save_figure(fig, "fig_teacher_features", scale)

# %%
pd.DataFrame(teacher["mean_first_dims"], index=[f"d{i}" for i in range(8)]).T.rename_axis("emotion").round(2)
