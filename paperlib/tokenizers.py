"""The two audio tokenizers of the anonymizer.

Acoustic codec (``WorldCodec``): audio -> WORLD vocoder parameters every 6 ms
(log-F0, voicing, 40-d coded spectral envelope, 4 band aperiodicities) ->
8 sub-frames stacked into one 48 ms token frame -> causal conv encoder ->
8 residual FSQ codebooks of 125 codes (levels 5,5,5; quantizer dropout, so
codebook 0 alone is a coarse description of the frame) -> causal conv
decoder -> WORLD synthesis at 16 kHz. (The first design, 8 grouped FSQ codebooks of
1000 codes, was retired: a small LM could not predict them; docs/FINDINGS.md.) At mini scale the codec is content-conditioned: encoder and decoder also read
each frame's content token, and training decodes part of each batch from another same-speaker utterance's
codes, so what is said comes from the content tokens and the codes carry voice and prosody (a stated
deviation from the paper's codec, docs/FINDINGS.md). On a CPU this trains in minutes and stays
intelligible (DESIGN.md section 4); a neural waveform codec is the full-scale
option and plugs in behind the same encode/decode interface.

Content encoder (``ContentEncoder``): 64 log-mel bands every 12 ms, 4 frames
stacked per token frame, per-frame level removed (loudness is not content) ->
causal transformer with a sliding attention window -> single FSQ codebook
(1000 codes at mini) -> CTC on characters (two CTC slots per token frame, because
speech has more characters per second than 48 ms frames). Trained only for
content, with a 10-bit bottleneck, so speaker identity is mostly lost; probes
in ``paperlib.probes`` measure how much speaker and emotion remain. Besides CTC, a dense target: the aligned
phones of each token frame's four 12 ms quarters (``paperlib.align``) through a pointwise head on the token.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyworld
import torch
import torch.nn.functional as F
import torchaudio
from torch import Tensor, nn

from .phones import PHONES, QUARTERS
from .audio import FRAME_SAMPLES, SAMPLE_RATE
from .content_teacher import target_dim
from .config import CodecConfig, ContentConfig
from .model import Transformer
from .streaming import NoState, StreamingModule, StreamingState

FRAME_MS = 1000 * FRAME_SAMPLES / SAMPLE_RATE
N_AP_BANDS = 4
AP_BAND_EDGES_HZ = (0, 1000, 2000, 4000, 8000)
CHARS = " abcdefghijklmnopqrstuvwxyz'"
CTC_VOCAB = len(CHARS) + 1             # + blank (index 0)


def n_frames(num_samples: int) -> int:
    return num_samples // FRAME_SAMPLES


# ---- FSQ ------------------------------------------------------------------------------------------------

class FSQ(nn.Module):
    """Finite scalar quantization (Mentzer et al. 2023) with a straight-through estimator."""

    def __init__(self, levels: tuple[int, ...]) -> None:
        super().__init__()
        self.levels = list(levels)
        self.register_buffer("_levels", torch.tensor(levels, dtype=torch.float32), persistent=False)
        basis = np.cumprod([1] + list(levels[:-1]))
        self.register_buffer("_basis", torch.tensor(basis, dtype=torch.long), persistent=False)
        self.codebook_size = int(np.prod(levels))

    def _bound(self, z: Tensor) -> Tensor:
        half_l = (self._levels - 1) * (1 - 1e-3) / 2
        offset = torch.where(self._levels % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half_l)
        return torch.tanh(z + shift) * half_l - offset

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """z (..., D) -> (quantized in [-1, 1], code index)."""
        bounded = self._bound(z)
        rounded = bounded + (bounded.round() - bounded).detach()
        half_width = self._levels // 2
        quantized = rounded / half_width
        return quantized, self.codes_from_quantized(quantized)

    def codes_from_quantized(self, quantized: Tensor) -> Tensor:
        half_width = self._levels // 2
        digits = (quantized * half_width + half_width).round().long()
        return (digits * self._basis).sum(-1)

    def quantized_from_codes(self, codes: Tensor) -> Tensor:
        digits = (codes[..., None] // self._basis) % self._levels.long()
        half_width = self._levels // 2
        return (digits.float() - half_width) / half_width


@dataclass
class CausalConvState(StreamingState):
    history: Tensor | None = None     # the last ``pad`` input frames (B, C, pad); zeros before the first call

    def reset(self) -> None:
        self.history = None


class CausalConv(StreamingModule[CausalConvState]):
    """Left-padded Conv1d. Streaming, it keeps its last ``pad`` input frames, so feeding frames one call at
    a time gives what the whole sequence gives (tests/test_streaming.py)."""

    def __init__(self, cin: int, cout: int, kernel: int, dilation: int = 1) -> None:
        super().__init__()
        self.pad = (kernel - 1) * dilation
        self.conv = nn.Conv1d(cin, cout, kernel, dilation=dilation)

    def _init_streaming_state(self, batch_size: int) -> CausalConvState:
        return CausalConvState(batch_size)

    def forward(self, x: Tensor) -> Tensor:          # (B, C, T)
        if not self.is_streaming or self.pad == 0:
            return self.conv(F.pad(x, (self.pad, 0)))
        st = self.state
        history = st.history if st.history is not None else x.new_zeros(x.shape[0], x.shape[1], self.pad)
        x = torch.cat([history, x], dim=-1)
        st.history = x[..., -self.pad:]
        return _conv_one_frame(self.conv, x) if x.shape[-1] == self.pad + 1 else self.conv(x)


def _conv_one_frame(conv: nn.Conv1d, x: Tensor) -> Tensor:
    """``conv(x)`` for an x that spans exactly one output frame's receptive field: its kernel taps times the
    weights, one matrix-vector product (a conv on a few frames costs more in per-call overhead than in
    arithmetic, and a dilated one takes PyTorch's slow per-channel path, ~1 ms per layer)."""
    return F.linear(x[..., :: conv.dilation[0]].flatten(1), conv.weight.flatten(1), conv.bias)[..., None]


def pointwise(conv: nn.Conv1d, x: Tensor, streaming: bool) -> Tensor:
    """A kernel-1 Conv1d; on a single streamed frame as a matrix-vector product."""
    return _conv_one_frame(conv, x) if streaming and x.shape[-1] == 1 else conv(x)


class ResStack(nn.Module):
    def __init__(self, dim: int, layers: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList([CausalConv(dim, dim, 3, dilation=2 ** (i % 3)) for i in range(layers)])

    def forward(self, x: Tensor) -> Tensor:
        for conv in self.convs:
            x = x + conv(F.gelu(x))
        return x


# ---- WORLD features ---------------------------------------------------------------------------------------

def world_features(wav: np.ndarray, cfg: CodecConfig) -> np.ndarray:
    """(T_tok, subframes * feat_dim) float32 features; T_tok = len(wav) // 768."""
    x = wav.astype(np.float64)
    period = cfg.world_period_ms
    f0, t = pyworld.dio(x, SAMPLE_RATE, frame_period=period, f0_floor=60, f0_ceil=700)
    f0 = pyworld.stonemask(x, f0, t, SAMPLE_RATE)
    sp = pyworld.cheaptrick(x, f0, t, SAMPLE_RATE, fft_size=1024)
    ap = pyworld.d4c(x, f0, t, SAMPLE_RATE, fft_size=1024)
    mcep = pyworld.code_spectral_envelope(sp, SAMPLE_RATE, cfg.n_mcep)
    freqs = np.linspace(0, SAMPLE_RATE / 2, ap.shape[1])
    bap = np.stack([ap[:, (freqs >= lo) & (freqs < hi if hi < 8000 else freqs <= hi)].mean(1)
                    for lo, hi in zip(AP_BAND_EDGES_HZ[:-1], AP_BAND_EDGES_HZ[1:])], axis=1)
    voiced = f0 > 0
    lf0 = np.zeros_like(f0)
    if voiced.any():
        idx = np.arange(len(f0))
        lf0 = np.interp(idx, idx[voiced], np.log(f0[voiced]))
    else:
        lf0[:] = np.log(120.0)
    feats = np.concatenate([lf0[:, None], voiced[:, None].astype(np.float64), mcep, bap], axis=1)
    tok = n_frames(len(wav))
    need = tok * cfg.subframes
    if feats.shape[0] < need:
        feats = np.pad(feats, ((0, need - feats.shape[0]), (0, 0)), mode="edge")
    return feats[:need].reshape(tok, -1).astype(np.float32)


def feature_dim(cfg: CodecConfig) -> int:
    return 2 + cfg.n_mcep + N_AP_BANDS


def feature_weights(cfg: CodecConfig) -> np.ndarray:
    """(subframes * feature_dim,) weights of the normalised features (see CodecConfig)."""
    w = np.ones(feature_dim(cfg), dtype=np.float32)
    w[0] = cfg.weight_lf0
    low = min(cfg.low_mcep, cfg.n_mcep)
    w[2:2 + low] = np.linspace(*cfg.weight_low_mcep, low)
    w[2 + low:2 + cfg.n_mcep] = cfg.weight_high_mcep
    w[2 + cfg.n_mcep:] = cfg.weight_bap
    return np.tile(w, cfg.subframes)


def prosody_feature_mask(cfg: CodecConfig) -> np.ndarray:
    """(subframes * feature_dim,) True on the features that carry prosody rather than what is said: log-F0,
    the level c0 and the band aperiodicities (breathiness). Another utterance's codes cannot know them, so a
    code-swapped training sample is not scored on them (else the decoder learns to ignore the codes' level)."""
    m = np.zeros(feature_dim(cfg), dtype=bool)
    m[[0, 2]] = True
    m[2 + cfg.n_mcep:] = True
    return np.tile(m, cfg.subframes)


_AP_FREQS = np.linspace(0, SAMPLE_RATE / 2, 513)      # WORLD's aperiodicity bins at fft size 1024
_AP_BAND_CENTERS = np.array([(lo + hi) / 2 for lo, hi in zip(AP_BAND_EDGES_HZ[:-1], AP_BAND_EDGES_HZ[1:])])


def synthesize_features(feats: np.ndarray, cfg: CodecConfig) -> np.ndarray:
    """(T_tok, subframes * feat_dim) -> waveform via WORLD."""
    per = feats.reshape(-1, feature_dim(cfg)).astype(np.float64)
    lf0, vuv, mcep, bap = per[:, 0], per[:, 1], per[:, 2:2 + cfg.n_mcep], per[:, 2 + cfg.n_mcep:]
    f0 = np.where(vuv > 0.5, np.exp(lf0), 0.0)
    sp = pyworld.decode_spectral_envelope(np.ascontiguousarray(mcep), SAMPLE_RATE, 1024)
    ap = np.stack([np.interp(_AP_FREQS, _AP_BAND_CENTERS, row) for row in np.clip(bap, 0.001, 0.999)])
    wav = pyworld.synthesize(f0, sp, np.ascontiguousarray(ap), SAMPLE_RATE, frame_period=cfg.world_period_ms)
    return wav[: len(per) * int(SAMPLE_RATE * cfg.world_period_ms / 1000)].astype(np.float32)


# ---- the acoustic codec ----------------------------------------------------------------------------------

class ResidualFSQ(nn.Module):
    """Residual FSQ: stage k quantizes what stages < k left over, each through its own projections.

    Why residual rather than grouped: with 8 independent groups every codebook carries 1/8 of the detail and
    the codes are near-uniform and change every frame, so a small LM cannot predict any of them (measured:
    teacher-forced accuracy 1.7% on codebook 0). With residual stages and quantizer dropout, codebook 0 alone
    is a coarse but complete description of the frame (mostly phone class and pitch), which the Slow AR can
    predict from content tokens, and errors in the fine codebooks cost little.
    """

    def __init__(self, dim: int, n_stages: int, levels: tuple[int, ...]) -> None:
        super().__init__()
        self.fsq = FSQ(levels)
        self.codebook_size = self.fsq.codebook_size
        self.proj_in = nn.ModuleList([nn.Linear(dim, len(levels)) for _ in range(n_stages)])
        self.proj_out = nn.ModuleList([nn.Linear(len(levels), dim) for _ in range(n_stages)])

    def stages(self, z: Tensor) -> tuple[list[Tensor], Tensor]:
        """z (B, T, D) -> (the quantized contribution of each stage, codes (B, T, n_stages))."""
        residual, parts, codes = z, [], []
        for pin, pout in zip(self.proj_in, self.proj_out):
            q, c = self.fsq(pin(residual))
            parts.append(pout(q))
            codes.append(c)
            residual = residual - parts[-1]
        return parts, torch.stack(codes, dim=-1)

    def forward(self, z: Tensor, n_active: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """z (B, T, D) -> (reconstruction from the first ``n_active`` (B,) stages, codes (B, T, n_stages))."""
        parts, codes = self.stages(z)
        if n_active is not None:
            parts = [p * (k < n_active).to(z.dtype)[:, None, None] for k, p in enumerate(parts)]
        return sum(parts), codes

    def decode(self, codes: Tensor, n_stages: int | None = None) -> Tensor:
        """Sum of the first ``n_stages`` stages (all by default): quantizer dropout trained the decoder for it."""
        n_stages = len(self.proj_out) if n_stages is None else n_stages
        # every stage's digits in one elementwise pass (per-frame streaming decoding is op-overhead bound)
        return self.latent_from_stages(self.fsq.quantized_from_codes(codes[..., :n_stages]).movedim(-2, 0).contiguous())

    def latent_from_stages(self, quantized: Tensor) -> Tensor:
        """(k, ..., levels) quantized digits of the first k stages (hard, or expected ones) -> their summed
        contribution to the latent (..., dim)."""
        return sum(pout(stage) for pout, stage in zip(self.proj_out, quantized))


# parameter-name prefixes of the two halves (the quantizer belongs to neither): decoder adaptation trains
# the decoder's, the exported bundle drops the encoder's (prompts are shipped pre-encoded)
ENCODER_PREFIXES = ("enc_in.", "enc.", "enc_out.", "content_to_encoder.")
DECODER_PREFIXES = ("dec_in.", "dec.", "dec_out.", "content_to_decoder.")


class WorldCodec(StreamingModule[NoState]):
    """WORLD features <-> 8 residual FSQ codes per frame, causal. ``with codec.streaming(batch):``, ``decode``
    takes the next frames only: each causal conv keeps the left context it needs."""

    def __init__(self, cfg: CodecConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dim_in = cfg.subframes * feature_dim(cfg)
        self.register_buffer("feat_mean", torch.zeros(dim_in))
        self.register_buffer("feat_std", torch.ones(dim_in))
        self.register_buffer("feat_weight", torch.from_numpy(feature_weights(cfg)), persistent=False)
        self.register_buffer("prosody_mask", torch.from_numpy(prosody_feature_mask(cfg)), persistent=False)
        self.enc_in = CausalConv(dim_in, cfg.hidden, 1)
        self.enc = ResStack(cfg.hidden, cfg.layers)
        self.enc_out = nn.Conv1d(cfg.hidden, cfg.latent_dim, 1)
        self.quantizer = ResidualFSQ(cfg.latent_dim, cfg.n_codebooks, cfg.fsq_levels)
        self.dec_in = nn.Conv1d(cfg.latent_dim, cfg.hidden, 1)
        self.dec = ResStack(cfg.hidden, cfg.layers)
        self.dec_out = nn.Conv1d(cfg.hidden, dim_in, 1)
        if cfg.stage0_prosody_weight > 0:
            # training only: codebook 0 must say the frame's prosody (log-F0 and level of each sub-frame), as
            # SpeechTokenizer / Mimi make their first codebook say the phonetics; the LM predicts it best
            self.stage0_prosody = nn.Linear(cfg.latent_dim, 2 * cfg.subframes)
        if cfg.code_swap_fraction > 0 and not cfg.content_conditioned:
            raise ValueError("codec.code_swap_fraction > 0 needs codec.content_conditioned: a decoder that reads codes "
                             "alone cannot render what is said from another utterance's codes")
        if cfg.content_conditioned:
            if not cfg.content_levels:
                raise ValueError("codec.content_conditioned needs codec.content_levels (the content encoder's FSQ levels)")
            self.content_fsq = FSQ(cfg.content_levels)
            self.content_to_encoder = CausalConv(len(cfg.content_levels), cfg.hidden, 3)
            self.content_to_decoder = CausalConv(len(cfg.content_levels), cfg.hidden, 3)

    def _init_streaming_state(self, batch_size: int) -> NoState:
        return NoState(batch_size)

    @property
    def codebook_size(self) -> int:
        return self.quantizer.codebook_size

    def normalize(self, feats: Tensor) -> Tensor:
        """Raw features -> normalised and importance-weighted (the space the codec encodes and its loss)."""
        return (feats - self.feat_mean) / self.feat_std * self.feat_weight

    def _content(self, content: Tensor | None, frames: int) -> Tensor | None:
        """Content tokens (B, T) -> their FSQ digits as (B, n_levels, T) for a content-conditioned codec."""
        if not self.cfg.content_conditioned:
            return None
        if content is None or content.shape[-1] != frames:
            raise ValueError(f"this codec is content-conditioned: it needs the content token of each of the "
                             f"{frames} frames (got {None if content is None else tuple(content.shape)})")
        return self.content_fsq.quantized_from_codes(content.long()).transpose(1, 2)

    def _latent(self, feats: Tensor, content: Tensor | None = None) -> Tensor:
        x = self.enc_in(self.normalize(feats).transpose(1, 2))
        digits = self._content(content, feats.shape[1])
        if digits is not None:
            x = x + self.content_to_encoder(digits)
        return self.enc_out(self.enc(x)).transpose(1, 2)

    def _decode_latent(self, z: Tensor, content: Tensor | None = None) -> Tensor:
        x = pointwise(self.dec_in, z.transpose(1, 2), self.is_streaming)
        digits = self._content(content, z.shape[1])
        if digits is not None:
            x = x + self.content_to_decoder(digits)
        return pointwise(self.dec_out, self.dec(x), self.is_streaming).transpose(1, 2)

    def encode(self, feats: Tensor, content: Tensor | None = None) -> Tensor:
        """(B, T, F) raw features [+ (B, T) content tokens if content-conditioned] -> (B, T, 8) codes."""
        return self.quantizer(self._latent(feats, content))[1]

    def decode(self, codes: Tensor, n_stages: int | None = None, content: Tensor | None = None) -> Tensor:
        """(B, T, 8) codes -> (B, T, F) raw features (residual codec: optionally from the first n_stages only;
        a content-conditioned codec also reads the (B, T) content tokens, and n_stages = 0 is content alone)."""
        z = self.quantizer.decode(codes, n_stages) if n_stages != 0 else codes.new_zeros(
            *codes.shape[:2], self.cfg.latent_dim, dtype=torch.float32)
        return self.features_from_latent(z, content)

    def features_from_latent(self, z: Tensor, content: Tensor | None = None) -> Tensor:
        """(B, T, latent_dim) quantized latent [+ (B, T) content tokens] -> (B, T, F) raw features."""
        return self._decode_latent(z, content) / self.feat_weight * self.feat_std + self.feat_mean

    def loss(self, feats: Tensor, generator: torch.Generator | None = None, content: Tensor | None = None,
             partner: Tensor | None = None) -> Tensor:
        """Normalised-feature MSE; with quantizer dropout, part of the batch decodes from the first k stages
        (a content-conditioned codec also from none: content alone). ``partner`` (B,): for each sample the
        index of another utterance of the same speaker in the batch; a ``code_swap_fraction`` of the samples
        are decoded from their partner's codes against their own content and target."""
        bsz, n_stages = feats.shape[0], self.cfg.n_codebooks
        n_active = torch.full((bsz,), n_stages)
        if self.cfg.quantizer_dropout > 0:
            k = torch.randint(0 if self.cfg.content_conditioned else 1, n_stages + 1, (bsz,), generator=generator)
            use_all = torch.rand(bsz, generator=generator) >= self.cfg.quantizer_dropout
            n_active = torch.where(use_all, n_stages, k)
        parts, _ = self.quantizer.stages(self._latent(feats, content))
        z = sum(p * (k < n_active).to(feats.dtype)[:, None, None] for k, p in enumerate(parts))
        swap = None
        if partner is not None and self.cfg.code_swap_fraction > 0:
            # a sample that is its own partner (a speaker with one utterance) is not swapped
            swap = (torch.rand(bsz, generator=generator) < self.cfg.code_swap_fraction) & (partner != torch.arange(bsz))
            z = torch.where(swap[:, None, None], z[partner], z)
        loss = self._reconstruction_loss(z, feats, content, unscored=swap)
        if self.cfg.stage0_prosody_weight > 0:
            loss = loss + self.cfg.stage0_prosody_weight * F.mse_loss(self.stage0_prosody(parts[0]),
                                                                      self.frame_prosody(feats))
        return loss

    def frame_prosody(self, feats: Tensor) -> Tensor:
        """(B, T, F) raw features -> (B, T, 2 * subframes) standardised log-F0 and c0 of every sub-frame."""
        per = ((feats - self.feat_mean) / self.feat_std).reshape(*feats.shape[:2], self.cfg.subframes, -1)
        return per[..., [0, 2]].flatten(2)

    def _reconstruction_loss(self, z: Tensor, feats: Tensor, content: Tensor | None,
                             unscored: Tensor | None = None, target: Tensor | None = None) -> Tensor:
        """Normalised-feature MSE of ``feats`` (or a normalised ``target``) decoded from the quantized latent
        ``z`` (the codec's loss); samples flagged in ``unscored`` (B,) are not scored on the prosody features."""
        err = (self._decode_latent(z, content) - (self.normalize(feats) if target is None else target)) ** 2
        if unscored is None or not unscored.any():
            return err.mean()
        keep = ~(unscored[:, None, None] & self.prosody_mask)
        return (err * keep).sum() / keep.expand_as(err).sum()

    def decoder_parameters(self) -> list[nn.Parameter]:
        """The parameters that map the quantized latent (and content) to features: what decoder adaptation
        trains (train_tokenizers.adapt_decoder)."""
        return [p for name, p in self.named_parameters() if name.startswith(DECODER_PREFIXES)]

    def decoder_loss(self, feats: Tensor, codes: Tensor, content: Tensor | None = None,
                     reference: "WorldCodec | None" = None) -> Tensor:
        """Normalised-feature MSE of features decoded from given (B, T, 8) codes (all stages). With a frozen
        ``reference`` codec the prosody features are scored against what the reference decodes from the same
        codes instead of against ``feats``: the codes, not the content, keep saying the level, F0 and
        breathiness (decoder adaptation otherwise learns to render them from content: flat, docs/FINDINGS.md)."""
        z = self.quantizer.decode(codes)
        target = self.normalize(feats)
        if reference is not None:
            with torch.no_grad():
                ref = reference._decode_latent(reference.quantizer.decode(codes), content)
            target = torch.where(self.prosody_mask, ref, target)
        return self._reconstruction_loss(z, feats, content, target=target)

    def decode_frame_to_wav(self, codes: Tensor, content: int) -> np.ndarray:
        """Inside ``with codec.streaming(1)``: the next frame's (8,) codes [+ its content token] -> its 48 ms of
        audio (the causal convolutions keep their context; WORLD synthesizes the frame on its own)."""
        if not self.is_streaming:
            raise RuntimeError("decode_frame_to_wav decodes the next frame of a stream: use `with codec.streaming(1):`")
        with torch.no_grad():
            feats = self.decode(codes.reshape(1, 1, -1).long(), content=torch.tensor([[content]]))[0].numpy()
        return synthesize_features(feats, self.cfg)

    def decode_to_wav(self, codes: Tensor, content: Tensor | None = None, n_stages: int | None = None) -> np.ndarray:
        """(T, 8) codes [+ (T,) content tokens for a content-conditioned codec] -> 16 kHz waveform."""
        with torch.no_grad():
            feats = self.decode(codes[None].long(), n_stages, None if content is None else content[None])[0].numpy()
        return synthesize_features(feats, self.cfg)


@torch.no_grad()
def aligned_acoustic_codes(codec: WorldCodec, features: np.ndarray, content: torch.Tensor
                           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Codec-encode one utterance's WORLD features; trim content (T,) and acoustic (T, 8) to the shorter."""
    n = min(len(content), len(features))
    content = content[:n]
    acoustic = codec.encode(torch.from_numpy(features[:n])[None],
                            content[None].long() if codec.cfg.content_conditioned else None)[0].short()
    return content, acoustic


# ---- the content encoder ---------------------------------------------------------------------------------

class MelFrontEnd(nn.Module):
    """Causal log-mel: frame i covers samples [192 i - 192, 192 i + 192), 4 frames per token frame."""

    def __init__(self, n_mels: int, keep_level: bool = False) -> None:
        super().__init__()
        self.keep_level = keep_level
        self.hop, self.win = FRAME_SAMPLES // 4, FRAME_SAMPLES // 2
        self.history = self.win - self.hop          # samples of the past each token frame needs
        self.mel = torchaudio.transforms.MelSpectrogram(SAMPLE_RATE, n_fft=self.win, win_length=self.win,
                                                        hop_length=self.hop, n_mels=n_mels, center=False)

    @property
    def dim(self) -> int:
        """Features per token frame: 4 quarters x n_mels (+ each quarter's level when it is kept)."""
        return 4 * (self.mel.n_mels + int(self.keep_level))

    def forward(self, wav: Tensor, history: Tensor | None = None) -> Tensor:
        """(B, N) -> (B, N // 768, dim); uses no sample beyond the current token frame. The per-frame level is
        split off the spectral shape; ``keep_level`` keeps it as one more value per quarter (loudness is not
        what is said, but it is how: the paralinguistic residue the content tokens must not erase)."""
        tok = wav.shape[-1] // FRAME_SAMPLES
        if history is None:
            history = wav.new_zeros(wav.shape[0], self.history)
        x = torch.cat([history, wav[..., : tok * FRAME_SAMPLES]], dim=-1)
        mel = torch.log(self.mel(x) + 1e-5).transpose(1, 2)[:, : tok * 4]    # (B, 4T, M)
        level = mel.mean(-1, keepdim=True)
        mel = mel - level
        if self.keep_level:
            mel = torch.cat([mel, level], dim=-1)
        return mel.reshape(mel.shape[0], tok, -1)


@dataclass
class ContentEncoderState(StreamingState):
    pending: Tensor | None = None     # received samples that do not yet fill a token frame
    history: Tensor | None = None     # the last samples before ``pending`` (front-end window overlap)

    def reset(self) -> None:
        self.pending = self.history = None


class ContentEncoder(StreamingModule[ContentEncoderState]):
    def __init__(self, cfg: ContentConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.front = MelFrontEnd(cfg.n_mels, cfg.keep_level)
        self.proj = nn.Linear(self.front.dim, cfg.hidden)
        self.transformer = Transformer(cfg.hidden, cfg.layers, cfg.heads, window=cfg.left_context_frames)
        self.to_code = nn.Linear(cfg.hidden, len(cfg.fsq_levels))
        self.fsq = FSQ(cfg.fsq_levels)
        self.ctc_in = nn.Linear(len(cfg.fsq_levels), cfg.hidden)
        self.ctc_conv = CausalConv(cfg.hidden, cfg.hidden, 3)
        self.ctc_out = nn.Linear(cfg.hidden, 2 * CTC_VOCAB)
        # auxiliary CTC straight from the transformer (training only): gets the encoder past the CTC
        # blank plateau quickly; the quantized path must then keep what it learned
        self.ctc_aux = nn.Linear(cfg.hidden, 2 * CTC_VOCAB)
        # dense phonetic target (training only): a pointwise head, so the phones must be in the token itself
        self.phone_head = nn.Sequential(nn.Linear(len(cfg.fsq_levels), cfg.hidden), nn.GELU(),
                                        nn.Linear(cfg.hidden, QUARTERS * len(PHONES)))
        # dense teacher target (training only, paperlib.content_teacher): a pointwise head again, so what the
        # teacher's states carry beyond phones (prosody, voice quality) must be in the token itself
        dense = tuple(k for k in cfg.teacher if k != "prosody")
        if dense:
            self.teacher_head = nn.Sequential(nn.Linear(len(cfg.fsq_levels), cfg.hidden), nn.GELU(),
                                              nn.Linear(cfg.hidden, target_dim(dense)))
        if "prosody" in cfg.teacher:
            if not 0 < cfg.prosody_digits < len(cfg.fsq_levels):
                raise ValueError(f"content.prosody_digits must be in 1..{len(cfg.fsq_levels) - 1}, got {cfg.prosody_digits}")
            self.prosody_head = nn.Sequential(nn.Linear(cfg.prosody_digits, cfg.hidden), nn.GELU(),
                                              nn.Linear(cfg.hidden, target_dim(("prosody",))))
        self.register_buffer("feat_mean", torch.zeros(self.front.dim))
        self.register_buffer("feat_std", torch.ones(self.front.dim))

    @property
    def vocab_size(self) -> int:
        return self.fsq.codebook_size

    def _init_streaming_state(self, batch_size: int) -> ContentEncoderState:
        return ContentEncoderState(batch_size)

    def _quantize(self, mel: Tensor) -> tuple[Tensor, Tensor]:
        h = self.transformer(self.proj((mel - self.feat_mean) / self.feat_std))
        return self.fsq(self.to_code(h))

    def encode(self, wav: Tensor) -> Tensor:
        """(B, N) waveform -> (B, N // 768) content tokens. In streaming mode, feed chunks of any size;
        each call returns the tokens of the token frames completed so far (KV cache, sliding window)."""
        if not self.is_streaming:
            return self._quantize(self.front(wav))[1]
        st = self.state
        buf = wav if st.pending is None else torch.cat([st.pending, wav], dim=-1)
        usable = (buf.shape[-1] // FRAME_SAMPLES) * FRAME_SAMPLES
        st.pending = buf[..., usable:]
        if usable == 0:
            return torch.zeros(buf.shape[0], 0, dtype=torch.long)
        chunk = buf[..., :usable]
        mel = self.front(chunk, history=st.history)
        st.history = chunk[..., -self.front.history:]
        return self._quantize(mel)[1]

    def ctc_logits(self, wav: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """CTC logits through the quantized tokens, auxiliary logits before quantization, and the quantized
        tokens (B, T, n_levels)."""
        h = self.transformer(self.proj((self.front(wav) - self.feat_mean) / self.feat_std))
        q, _ = self.fsq(self.to_code(h))
        x = self.ctc_conv(F.gelu(self.ctc_in(q)).transpose(1, 2)).transpose(1, 2)
        logits = self.ctc_out(F.gelu(x))                       # (B, T, 2 * V): two CTC slots per frame
        aux = self.ctc_aux(h)
        bsz = logits.shape[0]
        return logits.reshape(bsz, -1, CTC_VOCAB), aux.reshape(bsz, -1, CTC_VOCAB), q

    def teacher_predictions(self, q: Tensor) -> Tensor:
        """Quantized tokens (B, T, n_levels) -> (B, T, D) predicted dense targets in ``cfg.teacher``'s order:
        the prosody part from the last ``prosody_digits`` digits only, the rest from the whole token."""
        dense = self.teacher_head(q) if hasattr(self, "teacher_head") else None
        parts, start = [], 0
        for kind in self.cfg.teacher:
            if kind == "prosody":
                parts.append(self.prosody_head(q[..., -self.cfg.prosody_digits:]))
            else:
                width = target_dim((kind,))
                parts.append(dense[..., start:start + width])
                start += width
        return torch.cat(parts, dim=-1)

    def phone_logits(self, q: Tensor) -> Tensor:
        """Quantized tokens (B, T, n_levels) -> (B, T, 4, n_phones) logits of each 12 ms quarter's phone."""
        return self.phone_head(q).reshape(*q.shape[:2], QUARTERS, len(PHONES))


def text_to_ids(text: str) -> list[int]:
    return [CHARS.index(c) + 1 for c in text.lower() if c in CHARS]
