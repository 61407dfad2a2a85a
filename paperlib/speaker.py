"""Speaker embeddings with speechbrain's ECAPA-TDNN (80-d fbank, sentence mean norm, AAM softmax).

One trainer serves three roles: the anonymizer's frozen speaker encoder
(trained on the pretraining corpus), the lazy-informed ASV attacker (trained
on original ``train_asv``, gives EER-L) and the semi-informed attacker
(retrained on anonymized ``train_asv``, gives EER-S).
"""
from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from speechbrain.lobes.features import Fbank
from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN, Classifier
from speechbrain.nnet.losses import AdditiveAngularMargin, LogSoftmaxWrapper
from speechbrain.processing.features import InputNormalization
from torch import nn
from tqdm import tqdm

from .audio import SAMPLE_RATE
from .checkpoint import load_checkpoint, save_checkpoint
from .config import SpeakerConfig


class SpeakerEncoder(nn.Module):
    def __init__(self, cfg: SpeakerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.fbank = Fbank(n_mels=80)
        self.norm = InputNormalization(norm_type="sentence", std_norm=False)
        c = cfg.channels
        self.ecapa = ECAPA_TDNN(80, channels=[c, c, c, c, 3 * c], lin_neurons=cfg.embedding_dim,
                                attention_channels=max(32, c // 4))

    def forward(self, wav: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, N) 16 kHz -> (B, D) embeddings."""
        if lengths is None:
            lengths = torch.ones(wav.shape[0])
        feats = self.norm(self.fbank(wav), lengths)
        return self.ecapa(feats, lengths).squeeze(1)

    @torch.no_grad()
    def embed(self, wavs: list[np.ndarray]) -> np.ndarray:
        self.eval()
        return np.stack([self(torch.from_numpy(w)[None]).squeeze(0).numpy() for w in wavs])


def _random_chunk(wav: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if len(wav) <= n:
        return np.pad(wav, (0, n - len(wav)), mode="wrap")
    start = rng.integers(0, len(wav) - n)
    return wav[start: start + n]


def train_speaker_encoder(wavs: list[np.ndarray], speakers: list[str], cfg: SpeakerConfig, ckpt_path: Path,
                          desc: str = "ECAPA") -> SpeakerEncoder:
    """AAM-softmax training on random chunks; checkpoint after every epoch, resumes from it."""
    torch.manual_seed(cfg.seed)
    labels = {s: i for i, s in enumerate(sorted(set(speakers)))}
    y = np.array([labels[s] for s in speakers])
    model = SpeakerEncoder(cfg)
    classifier = Classifier(cfg.embedding_dim, out_neurons=len(labels), lin_blocks=0)
    loss_fn = LogSoftmaxWrapper(AdditiveAngularMargin(margin=cfg.margin, scale=cfg.scale))
    params = list(model.parameters()) + list(classifier.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr)
    steps_per_epoch = max(1, math.ceil(len(wavs) / cfg.batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch)
    start_epoch = 0
    state = load_checkpoint(ckpt_path)
    if state is not None and state.get("epoch", 0) > 0:
        model.load_state_dict(state["model"]); classifier.load_state_dict(state["classifier"])
        opt.load_state_dict(state["opt"]); sched.load_state_dict(state["sched"])
        start_epoch = state["epoch"]
    chunk = int(cfg.chunk_s * SAMPLE_RATE)
    for epoch in tqdm(range(start_epoch, cfg.epochs), desc=desc, unit="epoch", initial=start_epoch, total=cfg.epochs):
        if state is not None and state.get("done"):
            break
        rng = np.random.default_rng(cfg.seed * 1000 + epoch)
        order = rng.permutation(len(wavs))
        model.train(); classifier.train()
        for b in range(steps_per_epoch):
            idx = order[b * cfg.batch:(b + 1) * cfg.batch]
            if len(idx) < 2:
                continue
            x = torch.from_numpy(np.stack([_random_chunk(wavs[i], chunk, rng) for i in idx]))
            emb = model(x)
            logits = classifier(emb[:, None, :])
            loss = loss_fn(logits, torch.from_numpy(y[idx])[:, None])
            opt.zero_grad(); loss.backward(); opt.step(); sched.step()
        save_checkpoint(ckpt_path, {"model": model.state_dict(), "classifier": classifier.state_dict(),
                                    "opt": opt.state_dict(), "sched": sched.state_dict(), "epoch": epoch + 1,
                                    "config": asdict(cfg)})
    model.eval()
    return model


def load_speaker_encoder(ckpt_path: Path, cfg: SpeakerConfig) -> SpeakerEncoder:
    state = load_checkpoint(ckpt_path)
    if state is None:
        raise FileNotFoundError(f"{ckpt_path}: no speaker encoder checkpoint; run the training stage first")
    model = SpeakerEncoder(cfg)
    model.load_state_dict(state["model"])
    return model.eval()
