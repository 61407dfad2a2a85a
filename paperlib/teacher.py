"""Frame-level emotion teacher: the stand-in for emotion2vec+ when no local checkpoint is configured.

A causal GRU over the content encoder's mel front end (one frame per 48 ms token), trained with an
utterance-level emotion loss on ``train_teacher`` only (never the SER evaluator's split); its per-frame
hidden features, aligned 1:1 with the LM's token frames, are the distillation targets. It differs from
the SER evaluator in data (train_teacher vs train_ser/IEMOCAP_test) and architecture (GRU on log-mel vs
eGeMAPS functionals + logistic regression).
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .checkpoint import load_checkpoint, save_checkpoint
from .config import EMOTIONS, TeacherConfig
from .tokenizers import MelFrontEnd


class FrameEmotionTeacher(nn.Module):
    def __init__(self, cfg: TeacherConfig, n_mels: int = 64) -> None:
        super().__init__()
        self.cfg = cfg
        self.front = MelFrontEnd(n_mels)
        self.inp = nn.Linear(4 * n_mels + 4, cfg.hidden)
        self.gru = nn.GRU(cfg.hidden, cfg.hidden, batch_first=True)
        self.feat = nn.Linear(cfg.hidden, cfg.feature_dim)
        self.cls = nn.Linear(cfg.feature_dim, len(EMOTIONS))
        self.register_buffer("feat_mean", torch.zeros(cfg.feature_dim))
        self.register_buffer("feat_std", torch.ones(cfg.feature_dim))

    def _inputs(self, wav: torch.Tensor) -> torch.Tensor:
        mel = self.front(wav)
        # the front end removes per-frame level; the teacher also needs loudness, so add it back as 4 values
        n = mel.shape[1] * 768
        frames = wav[:, :n].reshape(wav.shape[0], mel.shape[1], 4, 192)
        level = torch.log(frames.pow(2).mean(-1) + 1e-6)
        return torch.cat([mel, level], dim=-1)

    def frame_features(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, N) -> (B, T, feature_dim) causal per-frame features (raw, not normalised)."""
        h, _ = self.gru(torch.tanh(self.inp(self._inputs(wav))))
        return torch.tanh(self.feat(h))

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.cls(self.frame_features(wav).mean(1))


def train_teacher(wavs: list[np.ndarray], emotions: list[str], cfg: TeacherConfig, ckpt_path: Path,
                  n_mels: int = 64) -> FrameEmotionTeacher:
    torch.manual_seed(cfg.seed)
    model = FrameEmotionTeacher(cfg, n_mels)
    state = load_checkpoint(ckpt_path)
    if state is not None and state.get("step", 0) >= cfg.steps:
        model.load_state_dict(state["model"])
        return model.eval()
    y = torch.tensor([EMOTIONS.index(e) for e in emotions])
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    for s in tqdm(range(cfg.steps), desc="emotion teacher"):
        rng = np.random.default_rng([cfg.seed, s])
        idx = rng.integers(0, len(wavs), 16)
        n = min(len(wavs[i]) for i in idx) // 768 * 768
        starts = [rng.integers(0, len(wavs[i]) - n + 1) for i in idx]
        x = torch.from_numpy(np.stack([wavs[i][st:st + n] for i, st in zip(idx, starts)]))
        loss = F.cross_entropy(model(x), y[idx])
        opt.zero_grad(); loss.backward(); opt.step()
    with torch.no_grad():
        feats = torch.cat([model.frame_features(torch.from_numpy(w)[None])[0] for w in wavs])
        model.feat_mean.copy_(feats.mean(0)); model.feat_std.copy_(feats.std(0) + 1e-3)
    save_checkpoint(ckpt_path, {"model": model.state_dict(), "step": cfg.steps, "config": asdict(cfg)})
    return model.eval()
