"""Codec-LM training: self-continuation pretraining and StreamVoiceAnon+ finetuning.

    python -m paperlib.train pretrain --scale mini
    python -m paperlib.train finetune --scale mini --row configs/table2/exp7_frame_aco.yaml --seed 0
    torchrun --nproc_per_node 4 -m paperlib.train pretrain --scale full     # DistributedDataParallel

Both are resumable (checkpoint every ``ckpt_every`` steps, atomically; batches are a pure function of
(seed, step, rank), so a run killed and restarted reaches the same weights as an uninterrupted one) and
cached by a hash of their configs: a finished run is a no-op.

Finetuning updates only Slow AR + Fast AR (content/acoustic tokenizers and the speaker encoder are
frozen and precomputed). L = L_LM + emo_weight * L_emo, where L_emo (when ``distill`` is set) is
    L1(head(h), t) + (1 - cos(head(h), t))
with t the teacher's per-dimension-normalised frame features (the teacher runs at the token frame
rate, so frame j of the teacher aligns with acoustic frame j), h the Slow AR hidden states of:
    statpool   acoustic slots, mean-pooled over the source (utterance level; Exp4)
    frame_all  every slot, frame-level (content slot t -> frame t, acoustic slot t -> frame t-d; Exp5)
    frame_sem  content (semantic) slots only (Exp6)
    frame_aco  acoustic slots only (Exp7, the headline "frame-distill")
and head a 2-layer causal transformer that is dropped at export (zero inference overhead).
LM loss covers the source part only (DESIGN.md section 1).
"""
from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from .checkpoint import load_checkpoint, save_checkpoint
from .config import FinetuneConfig, LMConfig, apply_overrides
from .model import CodecLM, LMBatch, Transformer, collate, combine_prosody, combine_streams, interleave
from .pairs import finetune_pairs
from .utils import config_hash, torch_threads


class EmotionHead(nn.Module):
    """2-layer causal transformer on Slow-AR hidden states -> teacher feature space (training only)."""

    def __init__(self, d_model: int, emo_dim: int) -> None:
        super().__init__()
        self.transformer = Transformer(d_model, 2, max(1, d_model // 64))
        self.out = nn.Linear(d_model, emo_dim)

    def forward(self, hidden: torch.Tensor, select: torch.Tensor) -> torch.Tensor:
        """hidden (B, L, D), select (B, L) bool -> (B, L, E); only selected positions are meaningful.

        The head attends causally among the selected slots only, so they are gathered into a compact
        sequence first (half the length for the Sem/Aco variants) with their original RoPE positions: the
        same function as masking the full sequence, at a fraction of the cost."""
        counts = select.sum(1)
        width = max(1, int(counts.max()))
        order = torch.argsort((~select).to(torch.int8), dim=1, stable=True)[:, :width]   # selected first, in order
        compact = hidden.gather(1, order[..., None].expand(-1, -1, hidden.shape[-1]))
        keep = torch.arange(width)[None] < counts[:, None]
        pred = self.out(self.transformer(compact, order, keep))
        full = pred.new_zeros(*hidden.shape[:2], pred.shape[-1])
        return full.scatter(1, order[..., None].expand(-1, -1, pred.shape[-1]), pred)


def emotion_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    cos = torch.nn.functional.cosine_similarity(pred, target, dim=-1)
    return (pred - target).abs().mean() + (1 - cos).mean()


def distill_loss(mode: str, head: EmotionHead, batch: LMBatch, hidden: torch.Tensor,
                 teacher: list[torch.Tensor]) -> torch.Tensor:
    """teacher[i]: (Ls_i, E) normalised teacher frames of sample i's source."""
    is_ac = batch.is_acoustic_slot
    slot_sel = {"statpool": is_ac, "frame_aco": is_ac, "frame_sem": ~is_ac,
                "frame_all": torch.ones_like(is_ac)}[mode] & batch.key_mask
    pred = head(hidden, slot_sel)
    losses = []
    for i, t in enumerate(teacher):
        frame = batch.frame_index[i] - int(batch.source_start[i])
        valid = slot_sel[i] & (frame >= 0) & (frame < len(t))
        if not valid.any():
            continue
        if mode == "statpool":
            losses.append(emotion_loss(pred[i][valid].mean(0, keepdim=True), t.mean(0, keepdim=True)))
        else:
            losses.append(emotion_loss(pred[i][valid], t[frame[valid]]))
    return torch.stack(losses).mean() if losses else hidden.sum() * 0


# ---- data -----------------------------------------------------------------------------------------------

class PretrainData:
    """Self-continuation samples of tokenized utterances; with prob. ``pair_fraction``, [utt' + utt] of one
    speaker (no [SEP]), so that prompting by continuation is seen in pretraining.

    ``lm_cfg`` carries the tokenizers' vocabularies (their PAD/SEP ids); ``tokens``: utt -> {content,
    acoustic}; ``speaker_of``: utt -> speaker; ``speaker_means``: speaker -> mean speaker vector."""

    def __init__(self, lm_cfg: LMConfig, tokens: dict[str, dict[str, torch.Tensor]], speaker_of: dict[str, str],
                 speaker_means: dict[str, torch.Tensor], pair_fraction: float) -> None:
        self.lm_cfg, self.tokens, self.pair_fraction = lm_cfg, tokens, pair_fraction
        self.utts = sorted(self.tokens)
        self.speaker_of = {u: speaker_of[u] for u in self.utts}
        self.by_spk: dict[str, list[str]] = {}
        for u in self.utts:
            self.by_spk.setdefault(self.speaker_of[u], []).append(u)
        self.spk_mean = speaker_means

    def batch(self, rng: np.random.Generator, size: int) -> tuple[LMBatch, None]:
        delay = int(rng.integers(0, self.lm_cfg.max_delay + 1))
        items, spks, starts = [], [], []
        for _ in range(size):
            utt = self.utts[rng.integers(len(self.utts))]
            src = self.tokens[utt]
            if rng.random() < self.pair_fraction:
                same = self.by_spk[self.speaker_of[utt]]
                p = self.tokens[same[rng.integers(len(same))]]
                content, acoustic, start = combine_streams(self.lm_cfg, p["content"], p["acoustic"], src["content"],
                                                           src["acoustic"], use_sep=False)
                prosody = combine_prosody(p["prosody"], src["prosody"], False) if self.lm_cfg.prosody_dim else None
            else:
                content, acoustic, start = src["content"].long(), src["acoustic"].long(), 0
                prosody = src.get("prosody")
            items.append(interleave(self.lm_cfg, content, acoustic, delay, loss_from=0, prosody=prosody))
            spks.append(self.spk_mean[self.speaker_of[utt]])
            starts.append(start)
        return collate(items, torch.stack(spks), starts), None


class FinetuneData:
    """Prompt -> source pairs (``pairs.finetune_pairs``: same speaker), LM loss on the source only; with
    ``teacher_feats`` (utt -> (T, E) frames of the emotion teacher), the distillation targets of each source."""

    def __init__(self, lm_cfg: LMConfig, tokens: dict[str, dict[str, torch.Tensor]], pairs: list,
                 speaker_means: dict[str, torch.Tensor], use_sep: bool, teacher_feats: dict | None) -> None:
        self.lm_cfg, self.tokens, self.pairs, self.spk_mean = lm_cfg, tokens, pairs, speaker_means
        self.use_sep, self.teacher = use_sep, teacher_feats

    def batch(self, rng: np.random.Generator, size: int) -> tuple[LMBatch, list[torch.Tensor] | None]:
        delay = int(rng.integers(0, self.lm_cfg.max_delay + 1))
        items, spks, starts, teach = [], [], [], []
        for k in rng.integers(0, len(self.pairs), size):
            pair = self.pairs[k]
            p, s = self.tokens[pair.prompt[0]], self.tokens[pair.source]
            content, acoustic, start = combine_streams(self.lm_cfg, p["content"], p["acoustic"], s["content"],
                                                       s["acoustic"], use_sep=self.use_sep)
            prosody = combine_prosody(p["prosody"], s["prosody"], self.use_sep) if self.lm_cfg.prosody_dim else None
            items.append(interleave(self.lm_cfg, content, acoustic, delay, loss_from=start, prosody=prosody))
            spks.append(self.spk_mean[pair.speaker])
            starts.append(start)
            if self.teacher is not None:
                teach.append(self.teacher[pair.source][: len(s["content"])])
        return collate(items, torch.stack(spks), starts), (teach if self.teacher is not None else None)


# ---- the loop -------------------------------------------------------------------------------------------

def _dist_info() -> tuple[int, int]:
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        if not dist.is_initialized():
            dist.init_process_group("gloo" if not torch.cuda.is_available() else "nccl")
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def run_training(model: CodecLM, data, steps: int, batch_size: int, lr: float, seed: int, ckpt_path: Path,
                 ckpt_every: int, desc: str, distill_mode: str = "none", emo_weight: float = 0.0,
                 warmup: int = 50, log_every: int = 25, stop_after: int | None = None) -> dict:
    """Generic resumable loop; returns the training log. ``stop_after`` simulates a kill (tests)."""
    rank, world = _dist_info()
    head = EmotionHead(model.cfg.d_model, model.cfg.emo_dim) if distill_mode != "none" else None
    params = list(model.parameters()) + (list(head.parameters()) if head else [])
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    state = load_checkpoint(ckpt_path)
    step, log = 0, []
    if state is not None:
        model.load_state_dict(state["model"])
        if head is not None and "head" in state:
            head.load_state_dict(state["head"])
        opt.load_state_dict(state["opt"])
        step, log = state["step"], state.get("log", [])
    wrapped = model
    if world > 1:
        wrapped = nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    model.train()
    bar = tqdm(range(step, steps), desc=desc, initial=step, total=steps, disable=rank != 0)
    for s in bar:
        rng = np.random.default_rng([seed, s, rank])
        torch.manual_seed(seed * 100003 + s * world + rank)
        batch, teacher = data.batch(rng, batch_size)
        for g in opt.param_groups:
            g["lr"] = float(lr * min(1.0, (s + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * s / steps))))
        out = wrapped(batch)
        loss = out["loss"]
        entry = {"step": s + 1, "loss": out["loss"].item(), "acoustic": out["acoustic_loss"].item(),
                 "semantic": out["semantic_loss"].item()}
        if head is not None and teacher is not None:
            emo = distill_loss(distill_mode, head, batch, out["hidden"], teacher)
            loss = loss + emo_weight * emo
            entry["emo"] = emo.item()
        opt.zero_grad()
        loss.backward()
        if head is not None and world > 1:   # the head is outside DDP: average its grads by hand
            for p in head.parameters():
                if p.grad is not None:
                    dist.all_reduce(p.grad); p.grad /= world
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if (s + 1) % log_every == 0 or s + 1 == steps:
            log.append(entry)
            bar.set_postfix(loss=f"{entry['loss']:.3f}")
        done = s + 1
        if rank == 0 and (done % ckpt_every == 0 or done == steps):
            ckpt = {"model": model.state_dict(), "opt": opt.state_dict(), "step": done, "log": log}
            if head is not None:
                ckpt["head"] = head.state_dict()
            save_checkpoint(ckpt_path, ckpt)
        if stop_after is not None and done >= stop_after:
            break
    if world > 1:
        dist.barrier()
    return {"log": log}


def pretrain_path(ws) -> Path:
    return ws.cache / f"lm-pretrain-{config_hash(ws.cfg.lm, ws.cfg.train, ws.tokens_key())}.pt"


def pretrain(ws, stop_after: int | None = None, path: Path | None = None, data: PretrainData | None = None) -> Path:
    """``data``: other samples than the whole pretraining role (diagnostics); needs its own ``path``, since
    the cache key describes the config, not the data."""
    if data is not None and path is None:
        raise ValueError("pretrain(data=...) needs a checkpoint path of its own")
    cfg = ws.cfg
    path = path or pretrain_path(ws)
    state = load_checkpoint(path)
    if state is not None and state["step"] >= cfg.train.steps:
        return path
    torch.manual_seed(cfg.train.seed)
    model = CodecLM(lm_config(ws))
    if data is None:
        d = ws.data("train_pretrain")
        tokens, speaker_of = dict(ws.tokens("train_pretrain")), {u: d.utts[u].speaker for u in d.utts}
        for gain in cfg.train.level_augment_db:
            for utt, item in ws.gain_tokens("train_pretrain", gain).items():
                tokens[f"{utt}@{gain:+g}dB"], speaker_of[f"{utt}@{gain:+g}dB"] = item, d.utts[utt].speaker
        data = PretrainData(lm_config(ws), tokens, speaker_of, ws.speaker_means("train_pretrain"),
                            cfg.train.pair_fraction)
    with torch_threads(cfg.train.threads):
        run_training(model, data, cfg.train.steps, cfg.train.batch, cfg.train.lr, cfg.train.seed, path,
                     cfg.train.ckpt_every, "LM pretrain", warmup=cfg.train.warmup, log_every=cfg.train.log_every,
                     stop_after=stop_after)
    return path


def lm_config(ws):
    """LM config with the vocabularies of the actual tokenizers."""
    levels = {"content_levels": tuple(ws.cfg.content.fsq_levels)} if ws.cfg.lm.factorized_content else {}
    return apply_overrides(ws.cfg.lm, {**levels, "content_vocab": ws.content_encoder().vocab_size,
                                       "codebook_size": int(np.prod(ws.cfg.codec.fsq_levels)),
                                       "n_codebooks": ws.cfg.codec.n_codebooks,
                                       "speaker_dim": ws.cfg.speaker.embedding_dim})


def load_lm(ws, path: Path) -> CodecLM:
    state = load_checkpoint(path)
    if state is None:
        raise FileNotFoundError(f"{path}: no LM checkpoint")
    model = CodecLM(lm_config(ws))
    if model.cfg.prosody_dim and "prosody_proj.weight" not in state["model"]:
        raise RuntimeError(f"{path} is an LM without the prosody stream, cached before it was the default "
                           f"(2026-12-08) under the same key: delete it and what was built on it (rm -r {ws.cache})")
    model.load_state_dict(state["model"])
    return model.eval()


def finetune_path(ws, ft: FinetuneConfig) -> Path:
    return ws.cache / "finetune" / f"lm-ft-{config_hash(ft, ws.cfg.teacher, pretrain_path(ws).stem)}.pt"


def finetune(ws, ft: FinetuneConfig, stop_after: int | None = None) -> Path:
    """SFT from the pretrained LM; returns the checkpoint path (the pretrained one when pairing == none)."""
    base = pretrain(ws)
    if ft.pairing == "none":
        return base
    path = finetune_path(ws, ft)
    state = load_checkpoint(path)
    teacher_feats = ws.teacher_features("train_crema") if ft.distill != "none" else None
    data = FinetuneData(lm_config(ws), ws.tokens("train_crema"), finetune_pairs(ws.data("train_crema"), ft.pairing, ft.seed),
                        ws.speaker_means("train_crema"), ft.use_sep, teacher_feats)
    steps = max(1, ft.epochs * len(data.pairs) // ft.batch)
    if state is not None and state["step"] >= steps:
        return path
    model = load_lm(ws, base)
    if state is None:   # start from the pretrained weights (saved as step 0 so resuming is uniform)
        torch.manual_seed(ft.seed)
    with torch_threads(ft.threads):
        run_training(model, data, steps, ft.batch, ft.lr, ft.seed, path, max(50, steps // 4),
                     f"finetune {ft.pairing}/{'sep' if ft.use_sep else 'nosep'}/{ft.distill}", distill_mode=ft.distill,
                     emo_weight=ft.emo_weight, warmup=20, stop_after=stop_after)
    return path


if __name__ == "__main__":    # the command lives with the stages it runs: no import cycle (paperlib.commands)
    from paperlib.commands import train_main

    sys.exit(train_main())
