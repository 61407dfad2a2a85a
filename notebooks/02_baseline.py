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
# # 02 · The baseline anonymizer (StreamVoiceAnon)
# Tokenizer quality, pretraining curves, prompt strategies and latency vs lookahead.
# Training runs outside the notebook (`python -m paperlib.pipeline`); this reads its cached outputs.

# %% tags=["parameters"]
scale = "mini"
seed = 0

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from paperlib import paths
from paperlib.figures import load_json, load_table, save_figure, setup_style

setup_style()
figs = paths.figures_dir(scale)

# %% [markdown]
# ## Tokenizers
# Codec resynthesis should stay intelligible and keep the speaker (low EER); content tokens should carry
# little speaker identity and only part of the emotion.

# %%
report = load_json(scale, "tokenizer_report.json")
codec = pd.DataFrame(report["codec"]).drop(columns=["bitrate_bps"], errors="ignore").T
print(f"codec bitrate: {report['codec']['bitrate_bps']:.0f} bit/s")
codec

# %%
probes = pd.Series({**report["content_probes"], **{f"phone_acc_{k}": v for k, v in report.get("phone_accuracy", {}).items()}})
probes.to_frame("accuracy %")

# %% [markdown]
# Decoding robustness: codec WER from the first k residual stages (0 = content tokens alone), and with every
# utterance decoded from another utterance's codes (what an LM's wrong codes can cost at worst).

# %%
pd.Series({k: v for k, v in report.get("codec_decoding", {}).items() if not isinstance(v, dict)}, name="WER")

# %% [markdown]
# ## Pretraining curves

# %%
curves = load_json(scale, "training_curves.json")
pre = pd.DataFrame(curves["pretrain"])
fig, ax = plt.subplots(figsize=(6, 3))
for col in ("acoustic", "semantic"):
    ax.plot(pre["step"], pre[col], label=f"{col} CE")
ax.set_xlabel("step"); ax.set_ylabel("cross-entropy"); ax.legend(); ax.set_title("Codec LM pretraining")
save_figure(fig, "fig_pretrain_curves", scale)

# %% [markdown]
# ## Does the LM generalise? Teacher-forced accuracy per codebook
# On its own pretraining utterances vs on held-out speakers and sentences (vctk_pool). A large gap means the
# LM memorised its (small) pretraining corpus instead of learning content -> acoustics. Free-running
# generation of held-out trials is the go/no-go number; the count table (each codebook's most frequent
# training code given the aligned phone triple, no LM) is the baseline the LM must beat.

# %%
lm_report_path = figs / "lm_report.json"
if lm_report_path.exists():
    lm_report = load_json(scale, "lm_report.json")
    acc = pd.DataFrame({name: lm_report[name]["accuracy"] for name in ("train_pretrain", "vctk_pool")})
    acc.index.name = "codebook"
    tidy = (100 * acc).reset_index().melt(id_vars="codebook", var_name="data", value_name="accuracy %")
    fig, ax = plt.subplots(figsize=(6, 3))
    sns.barplot(data=tidy, x="codebook", y="accuracy %", hue="data", ax=ax, seed=0)
    ax.axhline(100 * np.exp(-lm_report["uniform_ce"]), color="grey", ls=":", label="chance")
    ax.set_title(f"Teacher-forced Fast-AR accuracy (d = {lm_report['delay']})")
    save_figure(fig, "fig_lm_generalisation", scale)
    display((100 * acc).round(1))
    if "generation" in lm_report:      # free-running generation of held-out speech: the go/no-go number
        display(pd.Series(lm_report["generation"], name="free-running generation (held-out libri trials)"))
    if "count_table" in lm_report:     # the no-LM baseline an LM recipe must match
        table = lm_report["count_table"]
        display(pd.DataFrame({k: {"WER": v["WER"], "codebook-0 agreement %": 100 * v["accuracy"][0]}
                              for k, v in table.items() if isinstance(v, dict)}).T.round(1))

# %% [markdown]
# ## Prompt strategies (baseline, no finetuning)

# %%
prompts = load_table(scale, "table_prompts.csv")
cols = ["system", "n_seeds", "WER", "UAR", "EER-L", "EER-S", "paper_WER", "paper_UAR", "paper_EER-L", "paper_EER-S"]
prompts[[c for c in cols if c in prompts]]            # EER-S is absent when the pipeline ran with --no-eer-s

# %% [markdown]
# ## Latency and real-time factor vs lookahead d (1 CPU thread, `make bench`)

# %%
bench_path = paths.benchmarks_dir(scale) / "latency.json"
if bench_path.exists():
    import json
    bench = pd.DataFrame(json.loads(bench_path.read_text())["delays"])
    fig, ax = plt.subplots(1, 2, figsize=(9, 3))
    ax[0].plot(bench["delay"], bench["first_packet_ms"], "o-", label="ours (measured)")
    ax[0].plot([0, 1, 2, 8], [90, 130, 180, 440], "s--", label="paper")
    ax[0].set_xlabel("lookahead d (frames)"); ax[0].set_ylabel("first-packet latency (ms)"); ax[0].legend()
    ax[1].plot(bench["delay"], bench["rtf"], "o-"); ax[1].set_xlabel("lookahead d"); ax[1].set_ylabel("RTF")
    save_figure(fig, "fig_latency_vs_delay", scale)
    display(bench)
else:
    print(f"{bench_path} not found: run `make bench SCALE={scale}`")
