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
# # 01 · MiniVPC: the benchmark
# The data card, what speakers and emotions look like, and the finetuning pairs.
# Everything here reads the generated benchmark (`make data`); nothing is trained in the notebook.

# %% tags=["parameters"]
scale = "mini"
seed = 0

# %%
import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from paperlib import paths
from paperlib.analysis import prosody_table
from paperlib.figures import save_figure, setup_style
from paperlib.pairs import finetune_pairs
from paperlib.stages import Workspace
from paperlib.utils import atomic_write_text

setup_style()
ws = Workspace(scale)
figs = paths.ensure(paths.figures_dir(scale))

# %% [markdown]
# ## Data card

# %%
card = json.loads((ws.data_root / "data_card.json").read_text())
roles = pd.DataFrame(card["roles"]).T[["dir", "speakers", "female", "utterances", "hours"]]
# forced phone alignment (pocketsphinx) of the dirs the tokenizers train on and the probes read
alignment = json.loads((figs / "alignment.json").read_text()) if (figs / "alignment.json").exists() else {}
by_dir = {d: a for d, a in alignment.items()}
libri = [a for d, a in by_dir.items() if d.startswith("libri_test_trials")]
if libri:
    by_dir["libri_test_{enrolls,trials_f,trials_m}"] = {k: sum(a[k] for a in libri) for k in ("aligned", "failed")}
roles["aligned"] = [by_dir.get(d, {}).get("aligned", "") for d in roles["dir"]]
roles["align_failed"] = [by_dir.get(d, {}).get("failed", "") for d in roles["dir"]]
atomic_write_text(figs / "data_card.csv", roles.to_csv())
atomic_write_text(figs / "data_card.md", roles.to_markdown())
print(f"{card['speakers_total']} speakers, {card['utterances_total']} utterances, {card['hours_total']} h, "
      f"generated in {card['generation_seconds']} s; base voices: {', '.join(card['base_voices'])}")
roles

# %% [markdown]
# ## Prosody per emotion (IEMOCAP-like evaluation set)

# %%
iem = ws.data("IEMOCAP_test")
items = [("original", u.utt_id, u.path) for u in iem.utts.values()]
pros = prosody_table(items, ws.cache / "analysis" / "prosody_iemocap_original.csv")
pros["emotion"] = [iem.utts[u].emotion for u in pros["utt"]]
fig, axes = plt.subplots(1, 3, figsize=(11, 3))
for ax, col, label in zip(axes, ["f0_median", "f0_range_st", "rms_db"], ["median F0 (Hz)", "F0 range (st)", "RMS (dBFS)"]):
    sns.boxplot(data=pros, x="emotion", y=col, order=["ang", "hap", "neu", "sad"], ax=ax)
    ax.set_ylabel(label)
fig.suptitle("MiniVPC IEMOCAP_test: prosody per emotion")
save_figure(fig, "fig_data_prosody_per_emotion", scale)

# %% [markdown]
# ## One speaker, four emotions (CREMA-like corpus, same sentence)

# %%
import torch
import torchaudio

crema = ws.data("train_crema")
spk = sorted(crema.by_speaker())[0]
fig, axes = plt.subplots(1, 4, figsize=(12, 2.6), sharey=True)
mel = torchaudio.transforms.MelSpectrogram(16000, n_fft=512, hop_length=160, n_mels=64)
spk_utts = crema.by_speaker()[spk]
sentence = next(u.text for u in spk_utts if u.emotion == "neu")
for ax, emo in zip(axes, ["neu", "ang", "hap", "sad"]):
    utt = [u for u in spk_utts if u.emotion == emo and u.text == sentence][-1]   # highest intensity
    wav = torch.from_numpy(ws.wavs("train_crema")[utt.utt_id])
    ax.imshow(torch.log(mel(wav) + 1e-5).numpy(), origin="lower", aspect="auto", cmap="magma")
    ax.set_title(f"{emo}: {utt.utt_id}", fontsize=8)
    ax.set_xlabel("frame (10 ms)")
axes[0].set_ylabel("mel band")
save_figure(fig, "fig_data_spectrograms", scale)

# %% [markdown]
# ## Finetuning pairs

# %%
rows = []
for pairing in ("random", "neu_emo"):
    for p in finetune_pairs(crema, pairing, seed):
        rows.append({"pairing": pairing, "prompt_emotion": crema.utts[p.prompt[0]].emotion,
                     "source_emotion": crema.utts[p.source].emotion})
pairs = pd.DataFrame(rows)
counts = pairs.groupby(["pairing", "prompt_emotion", "source_emotion"]).size().rename("pairs").reset_index()
atomic_write_text(figs / "pairing_stats.csv", counts.to_csv(index=False))
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
for ax, pairing in zip(axes, ("random", "neu_emo")):
    sub = counts[counts.pairing == pairing].pivot(index="prompt_emotion", columns="source_emotion", values="pairs").fillna(0)
    sns.heatmap(sub, annot=True, fmt=".0f", cmap="Blues", ax=ax, cbar=False)
    ax.set_title(f"{pairing} pairs (prompt -> source)")
save_figure(fig, "fig_data_pairs", scale)
