"""The codec language model of StreamVoiceAnon(+), in one flat file (after nanoGPT).

Sequence layout (DESIGN.md section 2), for a combined frame stream of length L
(prompt frames, optionally a [SEP] frame, then source frames) and delay d:

    [speaker prefix] C_0 A_0 C_1 A_1 ... C_{L+d-1} A_{L+d-1}

C_t holds content token c_t (PAD after the stream ends); A_t holds acoustic
frame a_{t-d} (an empty BOS frame while t < d), embedded as the sum of its 8
codebook embeddings. The Slow AR hidden state at C_t sees c_{<=t} and
a_{<t-d}; the Fast AR (depth transformer) turns it into the 8 codebooks of
a_{t-d}: the acoustic stream lags content by d frames (lookahead d). The
semantic head at A_t predicts c_{t+1}.

Building blocks (RMSNorm, SwiGLU, RoPE, causal attention with a typed KV cache
and an optional sliding window) are shared with the content encoder.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import LMConfig
from .streaming import NoState, StreamingModule, StreamingState

# special ids, appended after the real vocabularies
CONTENT_PAD, CONTENT_SEP = 0, 1          # offsets added to content_vocab
ACOUSTIC_BOS, ACOUSTIC_SEP, ACOUSTIC_PAD = 0, 1, 2   # offsets added to codebook_size


# ---- building blocks ---------------------------------------------------------------------------------

class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        if torch.is_grad_enabled() or not x.is_cpu or x.dtype != torch.float32:
            return F.rms_norm(x, self.weight.shape, self.weight, self.eps)
        # inference on CPU: F.rms_norm's own arithmetic (mean of squares, + eps, rsqrt, two products; bit-identical,
        # tests/test_streaming.py) in fewer ops, some in place: a streamed frame runs ~40 of these
        scale = (x * x).mean(-1, keepdim=True).add_(self.eps).rsqrt_()
        return (x * scale).mul_(self.weight)


class SwiGLU(nn.Module):
    def __init__(self, dim: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or int(8 * dim / 3 / 16 + 1) * 16
        self.gate_up = nn.Linear(dim, 2 * hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self._swiglu(x, self.gate_up, self.down)

    def step(self, x: Tensor) -> Tensor:
        """``forward`` calling the projections' ``forward`` directly (streamed steps: no nn.Module call
        overhead, ~10 us a call on CPU; no hooks run)."""
        return self._swiglu(x, self.gate_up.forward, self.down.forward)

    @staticmethod
    def _swiglu(x: Tensor, gate_up, down) -> Tensor:
        gate, up = gate_up(x).chunk(2, dim=-1)
        return down(F.silu(gate) * up)


_ROPE_TABLES: dict[tuple, tuple[Tensor, Tensor]] = {}


def _rope_tables(half: int, n_positions: int, base: float, device: torch.device) -> tuple[Tensor, Tensor]:
    """[cos, cos] and [-sin, sin] of position x frequency, (1, 1, n, 2 * half) (the form ``rope`` applies),
    grown on demand and shared: computing them per call was a third of a streaming attention step on CPU."""
    key = (half, base, device)
    tables = _ROPE_TABLES.get(key)
    if tables is None or tables[0].shape[2] < n_positions:
        size = max(n_positions, 2 * tables[0].shape[2] if tables is not None else 4096)
        with torch.inference_mode(False):   # ordinary tensors, usable by training after inference created them
            freqs = torch.exp(-math.log(base) * torch.arange(half, device=device, dtype=torch.float32) / half)
            angles = torch.arange(size, device=device, dtype=torch.float32)[:, None] * freqs
            cos, sin = angles.cos(), angles.sin()
            tables = _ROPE_TABLES[key] = (torch.cat([cos, cos], -1)[None, None], torch.cat([-sin, sin], -1)[None, None])
    return tables


def rope_angles(positions: Tensor | range, head_dim: int, base: float = 10000.0,
                device: torch.device | None = None) -> tuple[Tensor, Tensor]:
    """Rotary factors at ``positions`` (B, T): [cos, cos] and [-sin, sin], two (B, 1, T, head_dim) tensors. For
    a ``range`` shared by the whole batch (streaming): (1, 1, T, head_dim) slices of the tables, no gather."""
    half = head_dim // 2
    if isinstance(positions, range):
        cos_table, sin_table = _rope_tables(half, positions.stop, base, device)
        return cos_table.narrow(2, positions.start, len(positions)), sin_table.narrow(2, positions.start, len(positions))
    cos_table, sin_table = _rope_tables(half, int(positions.max()) + 1, base, positions.device)
    return cos_table[0, 0][positions][:, None], sin_table[0, 0][positions][:, None]


def rope(x: Tensor, positions: Tensor, base: float = 10000.0, angles: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Rotary embedding. x: (B, H, T, Dh), positions: (B, T) absolute positions (>= 0). ``angles``
    (from ``rope_angles``) lets queries and keys share one table lookup."""
    cos, sin = angles if angles is not None else rope_angles(positions, x.shape[-1], base)
    # [x1, x2] -> [x1 cos - x2 sin, x2 cos + x1 sin] as x * [cos, cos] + [x2, x1] * [-sin, sin]: the same
    # products and sums to the bit (negation is exact), in 4 ops instead of 9
    out = x * cos + x.roll(x.shape[-1] // 2, -1) * sin
    return out if out.dtype == x.dtype else out.to(x.dtype)


@dataclass
class KVCacheState(StreamingState):
    """Keys/values seen so far, in buffers that grow by doubling: the live keys are ``k[:, :, start:end]``
    (B, H, T, Dh). Appending writes in place instead of concatenating the whole cache at every step.
    ``key_mask[:, start:end]`` says which keys are real (not left padding); it is kept only once a step
    has passed a mask (offline batched generation): streaming steps at batch 1 never need one."""
    k: Tensor | None = None
    v: Tensor | None = None
    key_mask: Tensor | None = None
    start: int = 0
    end: int = 0
    steps: int = 0
    all_keys_real: bool = True

    def reset(self) -> None:
        self.k = self.v = self.key_mask = None
        self.start = self.end = self.steps = 0
        self.all_keys_real = True

    def append(self, k: Tensor, v: Tensor, key_mask: Tensor | None, window: int | None
               ) -> tuple[Tensor, Tensor, Tensor | None, int]:
        """Add (B, H, t, Dh) keys/values (``key_mask`` (B, t), None = all real); returns the live keys, values
        and key mask (None while no step has passed one) including them, and how many of those came before
        them. With a sliding ``window``, only the last window - 1 stay live after."""
        t_new = k.shape[2]
        live = self.end - self.start
        if self.k is None or self.end + t_new > self.k.shape[2]:
            capacity = max(16, 2 * (live + t_new))
            grown_k = k.new_empty(*k.shape[:2], capacity, k.shape[3])
            grown_v = v.new_empty(*v.shape[:2], capacity, v.shape[3])
            grown_mask = None if key_mask is None and self.key_mask is None else torch.ones(
                k.shape[0], capacity, dtype=torch.bool, device=k.device)
            if live:
                grown_k[:, :, :live] = self.k[:, :, self.start:self.end]
                grown_v[:, :, :live] = self.v[:, :, self.start:self.end]
                if self.key_mask is not None:
                    grown_mask[:, :live] = self.key_mask[:, self.start:self.end]
            self.k, self.v, self.key_mask = grown_k, grown_v, grown_mask
            self.start, self.end = 0, live
        elif key_mask is not None and self.key_mask is None:
            # the first mask: every key cached so far was real
            self.key_mask = torch.ones(k.shape[0], self.k.shape[2], dtype=torch.bool, device=k.device)
        new = slice(self.end, self.end + t_new)
        self.k[:, :, new], self.v[:, :, new] = k, v
        if self.key_mask is not None:
            self.key_mask[:, new] = True if key_mask is None else key_mask
        self.end += t_new
        self.steps += t_new
        out = (self.k[:, :, self.start:self.end], self.v[:, :, self.start:self.end],
               None if self.key_mask is None else self.key_mask[:, self.start:self.end], live)
        if window is not None:
            self.start = max(self.start, self.end - (window - 1))
        return out


class Attention(StreamingModule[KVCacheState]):
    def __init__(self, dim: int, n_heads: int, window: int | None = None) -> None:
        super().__init__()
        assert dim % n_heads == 0
        self.n_heads, self.head_dim, self.window = n_heads, dim // n_heads, window
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)

    def _init_streaming_state(self, batch_size: int) -> KVCacheState:
        return KVCacheState(batch_size)

    def forward(self, x: Tensor, positions: Tensor, key_mask: Tensor | None = None,
                angles: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """``angles``: ``rope_angles(positions, head_dim)``, computed once per Transformer call.
        ``key_mask`` (B, T): False for padding keys; None = none is padding."""
        return self._attend(x, positions, key_mask, angles, self.qkv, self.out)

    def step(self, x: Tensor, angles: tuple[Tensor, Tensor]) -> Tensor:
        """Streamed tokens at the cache's next positions, none of them padding: ``forward`` calling the
        projections' ``forward`` directly (no nn.Module call overhead; no hooks run)."""
        return self._attend(x, None, None, angles, self.qkv.forward, self.out.forward)

    def _attend(self, x: Tensor, positions: Tensor | None, key_mask: Tensor | None,
                angles: tuple[Tensor, Tensor] | None, qkv_proj, out_proj) -> Tensor:
        bsz, t_new, _ = x.shape
        qkv = qkv_proj(x).view(bsz, t_new, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k = rope(qkv[:2], positions, angles=angles)        # queries and keys rotated in one go
        v = qkv[2]
        past = 0
        if self.is_streaming:
            st = self.state
            st.all_keys_real = st.all_keys_real and (key_mask is None or bool(key_mask.all()))
            k, v, key_mask, past = st.append(k, v, key_mask, self.window)
            if st.all_keys_real and (self.window is None or (t_new == 1 and k.shape[2] <= self.window)):
                # every cached key is real and within reach: only the new tokens' order among themselves needs
                # a mask, none for one token (the same result as the full mask below, to the bit; streaming
                # steps are dominated by such small-op overhead)
                mask = None if t_new == 1 else torch.ones(t_new, k.shape[2], dtype=torch.bool, device=x.device).tril(past)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
                return out_proj(y.transpose(1, 2).reshape(bsz, t_new, -1))
        q_idx = past + torch.arange(t_new, device=x.device)[:, None]
        k_idx = torch.arange(k.shape[2], device=x.device)[None, :]
        allowed = k_idx <= q_idx
        if self.window is not None:
            allowed = allowed & (q_idx - k_idx < self.window)
        mask = allowed[None, None].expand(bsz, 1, t_new, k.shape[2])
        if key_mask is not None:
            mask = mask & key_mask[:, None, None, :]
            # a query whose every key is masked (left padding) would give NaN: let it see itself
            mask = mask | (~mask.any(-1, keepdim=True) & (k_idx == q_idx)[None, None])
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return out_proj(y.transpose(1, 2).reshape(bsz, t_new, -1))


class Block(nn.Module):
    def __init__(self, dim: int, n_heads: int, window: int | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1, self.norm2 = RMSNorm(dim), RMSNorm(dim)
        self.attn = Attention(dim, n_heads, window)
        self.mlp = SwiGLU(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, positions: Tensor, key_mask: Tensor | None = None,
                angles: tuple[Tensor, Tensor] | None = None) -> Tensor:
        x = x + self.drop(self.attn(self.norm1(x), positions, key_mask, angles))
        return x + self.drop(self.mlp(self.norm2(x)))


class Transformer(StreamingModule[StreamingState]):
    """Causal pre-norm transformer; streaming state lives in each Attention's KV cache."""

    def __init__(self, dim: int, n_layers: int, n_heads: int, window: int | None = None, dropout: float = 0.0):
        super().__init__()
        self.blocks = nn.ModuleList([Block(dim, n_heads, window, dropout) for _ in range(n_layers)])
        self.norm = RMSNorm(dim)

    def _init_streaming_state(self, batch_size: int) -> StreamingState:
        return NoState(batch_size)

    def forward(self, x: Tensor, positions: Tensor | None = None, key_mask: Tensor | None = None) -> Tensor:
        if positions is None and key_mask is None and self.is_streaming and not self.training:
            return self._next_tokens(x)
        if positions is None:
            offset = self.blocks[0].attn.state.steps if self.is_streaming else 0
            positions = (offset + torch.arange(x.shape[1], device=x.device))[None].expand(x.shape[0], -1)
        angles = rope_angles(positions, self.blocks[0].attn.head_dim)     # shared by every layer
        for block in self.blocks:
            x = block(x, positions, key_mask, angles)
        return self.norm(x)

    def _next_tokens(self, x: Tensor) -> Tensor:
        """Streamed tokens at the next positions, none of them padding (every streaming step at batch 1):
        the arithmetic of ``forward``, to the bit, minus what costs most in a few-token step on CPU:
        nn.Module call overhead (submodules' ``forward`` called directly, down to the linear projections;
        dropout is off in eval; no hooks run) and the position/angle lookups (sliced from the shared tables)."""
        start = self.blocks[0].attn.state.steps
        angles = rope_angles(range(start, start + x.shape[1]), self.blocks[0].attn.head_dim, device=x.device)
        for block in self.blocks:
            x = x + block.attn.step(block.norm1.forward(x), angles)
            x = x + block.mlp.step(block.norm2.forward(x))
        return self.norm.forward(x)


# ---- the codec LM ----------------------------------------------------------------------------------------

@dataclass
class LMBatch:
    """A batch of interleaved sequences (see module docstring); all (B, S[, 8])."""
    content: Tensor          # content ids at C slots (0 elsewhere)
    acoustic: Tensor         # (B, S, 8) acoustic codes at A slots
    is_acoustic_slot: Tensor # bool
    key_mask: Tensor         # bool, False for padding
    positions: Tensor
    speaker: Tensor          # (B, speaker_dim)
    acoustic_target: Tensor  # (B, S, 8) target codes at C slots, -100 = no loss
    content_target: Tensor   # (B, S) next content token at A slots, -100 = no loss
    frame_index: Tensor      # (B, S) which stream frame a slot holds (-1 prefix / padding)
    source_start: Tensor     # (B,) first source frame index in the combined stream
    prosody: Tensor | None = None   # (B, S, P) the prosody stream at C slots (0 elsewhere), when the LM reads one


class CodecLM(nn.Module):
    def __init__(self, cfg: LMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.content_emb = nn.Embedding(cfg.content_vocab + 2, d)
        if cfg.factorized_content:      # digits of the FSQ id (mixed radix, first digit fastest) + PAD/SEP
            assert int(np.prod(cfg.content_levels)) == cfg.content_vocab, "content_levels must multiply to the vocab"
            self.content_emb = nn.Embedding(2, d)
            self.content_digit_emb = nn.ModuleList([nn.Embedding(n, d) for n in cfg.content_levels])
            self.register_buffer("_content_basis", torch.tensor(np.cumprod([1] + list(cfg.content_levels[:-1]))),
                                 persistent=False)
        self.acoustic_emb = nn.ModuleList([nn.Embedding(cfg.codebook_size + 3, d) for _ in range(cfg.n_codebooks)])
        self.slot_emb = nn.Embedding(2, d)
        self.speaker_proj = nn.Linear(cfg.speaker_dim, d)
        if cfg.prosody_dim:
            self.prosody_proj = nn.Linear(cfg.prosody_dim, d)
        self.slow = Transformer(d, cfg.n_layers, cfg.n_heads, dropout=cfg.dropout)
        self.semantic_head = nn.Linear(d, cfg.content_vocab, bias=False)
        fd = cfg.fast_d_model
        self.fast_in = nn.Linear(d, fd)
        self.fast_code_emb = nn.ModuleList([nn.Embedding(cfg.codebook_size, fd) for _ in range(cfg.n_codebooks - 1)])
        self.fast_pos = nn.Parameter(torch.zeros(cfg.n_codebooks, fd))
        self.fast = Transformer(fd, cfg.fast_layers, max(1, fd // 64), dropout=cfg.dropout)
        self.fast_heads = nn.ModuleList([nn.Linear(fd, cfg.codebook_size, bias=False) for _ in range(cfg.n_codebooks)])
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    # -- embeddings ---------------------------------------------------------------------------------------
    def embed_content(self, content: Tensor) -> Tensor:
        cfg = self.cfg
        if not cfg.factorized_content:
            return self.content_emb(content)
        special = content >= cfg.content_vocab
        token = content.clamp(max=cfg.content_vocab - 1)
        digits = sum(emb((token // b) % n) for emb, b, n in zip(self.content_digit_emb, self._content_basis,
                                                                cfg.content_levels))
        return torch.where(special[..., None], self.content_emb((content - cfg.content_vocab).clamp(min=0)), digits)

    def embed_slots(self, content: Tensor, acoustic: Tensor, is_acoustic: Tensor,
                    prosody: Tensor | None = None) -> Tensor:
        content_part = self.embed_content(content)
        if self.cfg.prosody_dim:
            if prosody is None:
                raise ValueError("this LM reads a prosody stream beside the content tokens; none was given")
            content_part = content_part + self.prosody_proj(prosody)
        acoustic_part = sum(emb(acoustic[..., k]) for k, emb in enumerate(self.acoustic_emb))
        x = torch.where(is_acoustic[..., None], acoustic_part, content_part)
        return x + self.slot_emb(is_acoustic.long())

    def embed_prefix(self, speaker: Tensor) -> Tensor:
        return self.speaker_proj(speaker)[:, None, :]

    # -- training forward ----------------------------------------------------------------------------------
    def forward_hidden(self, batch: LMBatch) -> Tensor:
        """Slow AR states of every slot (the speaker prefix dropped): (B, S, d)."""
        x = self.embed_slots(batch.content, batch.acoustic, batch.is_acoustic_slot, batch.prosody)
        x = torch.cat([self.embed_prefix(batch.speaker), x], dim=1)
        bsz = x.shape[0]
        ones = torch.ones(bsz, 1, dtype=torch.bool, device=x.device)
        key_mask = torch.cat([ones, batch.key_mask], dim=1)
        positions = torch.cat([torch.zeros(bsz, 1, dtype=torch.long, device=x.device), batch.positions + 1], dim=1)
        return self.slow(x, positions, key_mask)[:, 1:]

    def forward(self, batch: LMBatch) -> dict[str, Tensor]:
        hidden = self.forward_hidden(batch)
        out = {"hidden": hidden}
        sem_mask = batch.content_target >= 0          # the vocabulary projection only where there is a target
        out["semantic_loss"] = self.semantic_loss(hidden[sem_mask], batch.content_target[sem_mask]) \
            if sem_mask.any() else hidden.sum() * 0
        has_target = batch.acoustic_target[..., 0] >= 0
        if self.training and self.cfg.fast_train_fraction < 1.0:
            # the depth transformer is the costliest part on CPU: train it on a random subset of frames
            keep = torch.rand(has_target.shape, device=hidden.device) < self.cfg.fast_train_fraction
            has_target = has_target & keep if (has_target & keep).any() else has_target
        h = hidden[has_target]                                     # (N, d)
        targets = batch.acoustic_target[has_target]                # (N, 8)
        logits = self.fast_logits(h, targets)
        out["acoustic_loss"] = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        out["loss"] = out["acoustic_loss"] + out["semantic_loss"]
        return out

    def semantic_loss(self, hidden: Tensor, target: Tensor) -> Tensor:
        """CE of the next content token."""
        return F.cross_entropy(self.semantic_head(hidden), target)

    def fast_logits(self, h: Tensor, codes: Tensor) -> Tensor:
        """Teacher-forced Fast AR: (N, d) slow states + (N, 8) codes -> (N, 8, codebook_size)."""
        inp = self.fast_in(h)[:, None, :].expand(-1, self.cfg.n_codebooks, -1)
        prev = [torch.zeros_like(inp[:, 0])] + [emb(codes[:, k]) for k, emb in enumerate(self.fast_code_emb)]
        x = inp + torch.stack(prev, dim=1) + self.fast_pos
        y = self.fast(x)
        return torch.stack([head(y[:, k]) for k, head in enumerate(self.fast_heads)], dim=1)

    # -- sampling ------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def sample_frame(self, h: Tensor, temperature: float, top_p: float, generators: list[torch.Generator]) -> Tensor:
        """Fast AR with its own KV cache over the 8 codebooks: (B, d) -> (B, 8) codes.

        Each sample draws its uniforms from its own generator, so a sample's tokens do not depend on
        what else is in the batch (offline batched generation == streaming batch-1 generation)."""
        bsz = h.shape[0]
        base = self.fast_in(h)
        codes = []
        # each sample's uniforms for the whole frame in one draw (for 8 codebooks the same numbers as one draw
        # per codebook, checked on 2000 seeds: CPU generators fill short tensors one number at a time)
        uniforms = torch.stack([torch.rand(self.cfg.n_codebooks, generator=g) for g in generators], dim=1)
        with self.fast.streaming(bsz):
            x = base + self.fast_pos[0]
            # submodules' forward called directly: 8 sequential one-token steps per frame are call-overhead bound
            for k in range(self.cfg.n_codebooks):
                y = self.fast.forward(x[:, None, :])[:, 0]
                code = sample_top_p(self.fast_heads[k].forward(y), temperature, top_p, uniforms[k])
                codes.append(code)
                if k + 1 < self.cfg.n_codebooks:
                    x = base + self.fast_code_emb[k].forward(code) + self.fast_pos[k + 1]
        return torch.stack(codes, dim=1)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def sample_top_p(logits: Tensor, temperature: float, top_p: float, uniforms: Tensor) -> Tensor:
    """Temperature + nucleus sampling by inverse CDF with caller-supplied uniforms (B,)."""
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    # zero what lies beyond the nucleus (the mass before an entry already reaches top_p), in place
    sorted_probs.masked_fill_(sorted_probs.cumsum(-1) - sorted_probs >= top_p, 0.0)
    cdf = sorted_probs.cumsum(-1)
    threshold = uniforms[:, None] * cdf[:, -1:]
    # the number of CDF entries below the threshold (the CDF of non-negative terms is sorted)
    choice = torch.searchsorted(cdf, threshold).clamp_(max=probs.shape[-1] - 1)
    return order.gather(-1, choice)[:, 0]


# ---- sequence construction -----------------------------------------------------------------------------

def combine_streams(cfg: LMConfig, prompt_content: Tensor, prompt_acoustic: Tensor, source_content: Tensor,
                    source_acoustic: Tensor | None, use_sep: bool) -> tuple[Tensor, Tensor, int]:
    """Concatenate prompt and source streams, with [SEP_L]/[SEP_A] between them when ``use_sep``.

    Returns content (L,), acoustic (L, 8) (source acoustic may be None at inference: filled with PAD)
    and the index of the first source frame.
    """
    parts_c, parts_a = [prompt_content], [prompt_acoustic]
    if use_sep:
        parts_c.append(torch.tensor([cfg.content_vocab + CONTENT_SEP]))
        parts_a.append(torch.full((1, cfg.n_codebooks), cfg.codebook_size + ACOUSTIC_SEP))
    source_start = sum(len(p) for p in parts_c)
    parts_c.append(source_content)
    if source_acoustic is None:
        source_acoustic = torch.full((len(source_content), cfg.n_codebooks), cfg.codebook_size + ACOUSTIC_PAD)
    parts_a.append(source_acoustic)
    return torch.cat(parts_c).long(), torch.cat(parts_a).long(), source_start


def combine_prosody(prompt_prosody: Tensor, source_prosody: Tensor, use_sep: bool) -> Tensor:
    """The prosody rows of ``combine_streams``' frames (zeros at [SEP])."""
    parts = [prompt_prosody, prompt_prosody.new_zeros(int(use_sep), prompt_prosody.shape[1]), source_prosody]
    return torch.cat(parts).float()


def interleave(cfg: LMConfig, content: Tensor, acoustic: Tensor, delay: int, loss_from: int,
               prosody: Tensor | None = None) -> dict[str, Tensor]:
    """One sequence C_0 A_0 ... C_{L+d-1} A_{L+d-1} with targets; loss on frames >= loss_from. ``prosody``
    (L, P): the rows of the frames, put at their C slots (zeros at PAD content) when the LM reads them."""
    length = len(content)
    steps = length + delay
    t = torch.arange(steps)
    c_in = torch.where(t < length, content[t.clamp(max=length - 1)], torch.tensor(cfg.content_vocab + CONTENT_PAD))
    a_idx = t - delay
    bos = torch.full((cfg.n_codebooks,), cfg.codebook_size + ACOUSTIC_BOS)
    a_in = torch.where((a_idx >= 0)[:, None], acoustic[a_idx.clamp(min=0)], bos)
    real_frame = (acoustic[:, 0] < cfg.codebook_size)                     # not SEP / PAD
    a_tgt_ok = (a_idx >= loss_from) & real_frame[a_idx.clamp(min=0)] & (a_idx >= 0)
    a_tgt = torch.where(a_tgt_ok[:, None], acoustic[a_idx.clamp(min=0)], torch.tensor(-100))
    nxt = t + 1
    real_content = content < cfg.content_vocab
    c_tgt_ok = (nxt < length) & (nxt >= loss_from) & real_content[nxt.clamp(max=length - 1)]
    c_tgt = torch.where(c_tgt_ok, content[nxt.clamp(max=length - 1)], torch.tensor(-100))
    seq = 2 * steps
    out = {
        "content": torch.zeros(seq, dtype=torch.long), "acoustic": torch.zeros(seq, cfg.n_codebooks, dtype=torch.long),
        "is_acoustic_slot": torch.zeros(seq, dtype=torch.bool),
        "acoustic_target": torch.full((seq, cfg.n_codebooks), -100, dtype=torch.long),
        "content_target": torch.full((seq,), -100, dtype=torch.long),
        "frame_index": torch.zeros(seq, dtype=torch.long),
    }
    out["content"][0::2] = c_in
    out["acoustic"][1::2] = a_in
    out["is_acoustic_slot"][1::2] = True
    out["acoustic_target"][0::2] = a_tgt
    out["content_target"][1::2] = c_tgt
    # frame each slot "is about": content slot t -> frame t; acoustic slot t -> frame t - d
    out["frame_index"][0::2] = t
    out["frame_index"][1::2] = a_idx
    if cfg.prosody_dim:
        if prosody is None:
            raise ValueError("this LM reads a prosody stream beside the content tokens: interleave(prosody=...)")
        rows = torch.zeros(steps, cfg.prosody_dim)
        rows[:length] = prosody[:length]
        out["prosody"] = torch.zeros(seq, cfg.prosody_dim)
        out["prosody"][0::2] = rows
    return out


def collate(items: list[dict[str, Tensor]], speakers: Tensor, source_starts: list[int]) -> LMBatch:
    """Right-pad interleaved sequences into an LMBatch (causal attention: padding at the end is harmless)."""
    longest = max(len(it["content"]) for it in items)
    bsz = len(items)

    def pad(key: str, fill: int) -> Tensor:
        ref = items[0][key]
        out = torch.full((bsz, longest, *ref.shape[1:]), fill, dtype=ref.dtype)
        for i, it in enumerate(items):
            out[i, : len(it[key])] = it[key]
        return out

    key_mask = torch.zeros(bsz, longest, dtype=torch.bool)
    for i, it in enumerate(items):
        key_mask[i, : len(it["content"])] = True
    return LMBatch(
        content=pad("content", 0), acoustic=pad("acoustic", 0), is_acoustic_slot=pad("is_acoustic_slot", 0).bool(),
        key_mask=key_mask, positions=torch.arange(longest)[None].expand(bsz, -1).clone(), speaker=speakers,
        acoustic_target=pad("acoustic_target", -100), content_target=pad("content_target", -100),
        frame_index=pad("frame_index", -1), source_start=torch.tensor(source_starts),
        prosody=pad("prosody", 0) if "prosody" in items[0] else None)
