"""Training loops of the two tokenizers (acoustic codec, content encoder); resumable, seeded."""
from __future__ import annotations

import copy
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .checkpoint import load_checkpoint, save_checkpoint
from .config import CodecConfig, ContentConfig, DecoderAdaptConfig
from .tokenizers import FRAME_SAMPLES, ContentEncoder, WorldCodec, text_to_ids
from .utils import stable_int

Tensor = torch.Tensor

CROP_FRAMES = 64


def warmup_cosine_lr(base: float, step: int, total: int, warmup: int = 100) -> float:
    """Linear warmup then cosine decay to 0, shared by both tokenizer trainers."""
    return float(base * min(1.0, (step + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * step / total)))


def _edge_crop(a: np.ndarray, start: int) -> np.ndarray:
    """CROP_FRAMES frames of ``a`` (time on axis 0) from ``start``, edge-padded when shorter."""
    crop = a[start:start + CROP_FRAMES]
    return np.pad(crop, ((0, CROP_FRAMES - len(crop)),) + ((0, 0),) * (a.ndim - 1), mode="edge")


def same_speaker_others(speakers: list[str]) -> list[list[int]]:
    """For each utterance i, the indices of the other utterances of its speaker ([i] when it has none)."""
    by_speaker: dict[str, list[int]] = {}
    for i, spk in enumerate(speakers):
        by_speaker.setdefault(spk, []).append(i)
    return [[j for j in by_speaker[spk] if j != i] or [i] for i, spk in enumerate(speakers)]


def random_crops(rng: np.random.Generator, features: list[np.ndarray], batch: int,
                 contents: list[np.ndarray] | None = None, speakers: list[str] | None = None,
                 aligned: list[np.ndarray] | None = None
                 ) -> tuple[list[int], np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """``batch`` random utterances, each cut to CROP_FRAMES frames at a random start (edge-padded when
    shorter): (utterance indices, (B, CROP_FRAMES, F) features, (B, CROP_FRAMES) frame-aligned contents,
    partners, the same crops of any other frame-aligned arrays ``aligned``). With ``speakers`` the batch is
    drawn in same-speaker pairs (2i, 2i + 1), and partners[j] is the other sample of j's pair."""
    if speakers is None:
        picks = rng.integers(0, len(features), batch)
        partners = None
    else:
        others = same_speaker_others(speakers)
        picks = []
        for i in rng.integers(0, len(features), (batch + 1) // 2):
            pool = others[i]
            picks += [int(i), int(pool[rng.integers(len(pool))])]
        picks = picks[:batch]
        partners = np.arange(len(picks)) ^ 1
        partners[partners >= len(picks)] = len(picks) - 1
    idx, feats, conts, extra = [], [], [], []
    for i in picks:
        start = int(rng.integers(0, max(1, len(features[i]) - CROP_FRAMES)))
        idx.append(int(i))
        feats.append(_edge_crop(features[i], start))
        if contents is not None:
            conts.append(_edge_crop(contents[i], start))
        if aligned is not None:
            extra.append(_edge_crop(aligned[i], start))
    return (idx, np.stack(feats), np.stack(conts) if contents is not None else None, partners,
            np.stack(extra) if aligned is not None else None)


def _resume(model, opt, ckpt_path: Path) -> int:
    state = load_checkpoint(ckpt_path)
    if state is None:
        return 0
    model.load_state_dict(state["model"])
    if "opt" in state:
        opt.load_state_dict(state["opt"])
    return int(state.get("step", 0))


@torch.enable_grad()      # builders may be first called under no_grad (e.g. from a probe)
def train_codec(features: list[np.ndarray], cfg: CodecConfig, ckpt_path: Path, ckpt_every: int = 500,
                contents: list[np.ndarray] | None = None, speakers: list[str] | None = None) -> WorldCodec:
    """``contents`` (content tokens, frame-aligned with ``features``) are needed by a content-conditioned
    codec, ``speakers`` (one per utterance) by code swapping (cfg.code_swap_fraction)."""
    if cfg.content_conditioned and (contents is None or [len(c) for c in contents] != [len(f) for f in features]):
        raise ValueError("codec.content_conditioned needs the content tokens of every training frame")
    swapping = cfg.code_swap_fraction > 0
    if swapping and (speakers is None or len(speakers) != len(features)):
        raise ValueError("codec.code_swap_fraction > 0 needs the speaker of every training utterance")
    torch.manual_seed(cfg.seed)
    codec = WorldCodec(cfg)
    allf = np.concatenate(features)
    codec.feat_mean.copy_(torch.from_numpy(allf.mean(0)))
    codec.feat_std.copy_(torch.from_numpy(allf.std(0) + 1e-3))
    opt = torch.optim.AdamW(codec.parameters(), lr=cfg.lr)
    step = _resume(codec, opt, ckpt_path)
    codec.train()
    for s in tqdm(range(step, cfg.steps), desc="codec", initial=step, total=cfg.steps):
        rng = np.random.default_rng([cfg.seed, s])
        _, batch, crop_contents, partners, _ = random_crops(rng, features, cfg.batch,
                                                         contents if cfg.content_conditioned else None,
                                                         speakers if swapping else None)
        for g in opt.param_groups:
            g["lr"] = warmup_cosine_lr(cfg.lr, s, cfg.steps)
        loss = codec.loss(torch.from_numpy(batch), torch.Generator().manual_seed(int(rng.integers(2**62))),
                          None if crop_contents is None else torch.from_numpy(crop_contents).long(),
                          None if partners is None else torch.from_numpy(partners))
        opt.zero_grad(); loss.backward(); opt.step()
        if (s + 1) % ckpt_every == 0 or s + 1 == cfg.steps:
            save_checkpoint(ckpt_path, {"model": codec.state_dict(), "opt": opt.state_dict(), "step": s + 1,
                                        "config": asdict(cfg), "loss": loss.item()})
    return codec.eval()


def tile_frames(x, n: int):
    """An array or tensor repeated along its first axis and cut to n frames (another utterance fit to a length)."""
    reps = -(-n // len(x))
    return (np.concatenate([x] * reps) if isinstance(x, np.ndarray) else torch.cat([x] * reps))[:n]


def same_speaker_partner_codes(generated: list[np.ndarray], speakers: list[str], seed: int) -> list[np.ndarray]:
    """For each utterance i, the generated codes of another utterance of the same speaker (drawn by seed),
    repeated and cut to i's length: what a code-swapped training crop of decoder adaptation reads."""
    return [tile_frames(generated[pool[stable_int(seed, "swap", i) % len(pool)]], len(generated[i]))
            for i, pool in enumerate(same_speaker_others(speakers))]


@torch.enable_grad()
def adapt_decoder(codec: WorldCodec, features: list[np.ndarray], contents: list[np.ndarray],
                  generated: list[np.ndarray], cfg: DecoderAdaptConfig, ckpt_path: Path,
                  speakers: list[str] | None = None, ckpt_every: int = 500) -> WorldCodec:
    """A copy of ``codec`` whose decoder is finetuned to render ``features[i]`` (with ``contents[i]``) from
    LM-generated codes: ``generated[i]`` is (T_i, K, n_codebooks), K free-running generations of utterance
    i, frame-aligned with it; each training crop reads one of the K at random. A ``cfg.code_swap_fraction``
    of the crops read the generated codes of another utterance of the same speaker (``speakers[i]`` names
    i's) instead: against i's content and target, so the decoder learns to take what is said from the content
    and the voice from the codes. Encoder and quantizer frozen."""
    if not ([len(f) for f in features] == [len(c) for c in contents] == [len(g) for g in generated]):
        raise ValueError("adapt_decoder: features, contents and generated codes must be frame-aligned per utterance")
    if not 0 <= cfg.code_swap_fraction <= 1:
        raise ValueError(f"decoder_adapt.code_swap_fraction must be in [0, 1], got {cfg.code_swap_fraction}")
    if cfg.code_swap_fraction > 0 and (speakers is None or len(speakers) != len(features)):
        raise ValueError("adapt_decoder: decoder_adapt.code_swap_fraction > 0 needs the speaker of every utterance")
    torch.manual_seed(cfg.seed)
    n_own = generated[0].shape[1]
    if cfg.code_swap_fraction > 0:     # own generations in slots [0, K), the partner's in [K, 2K)
        generated = [np.concatenate([g, p], axis=1)
                     for g, p in zip(generated, same_speaker_partner_codes(generated, speakers, cfg.seed))]
    model = copy.deepcopy(codec)
    reference = copy.deepcopy(codec).eval() if cfg.prosody_from_codes else None
    params = model.decoder_parameters()
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=cfg.lr)
    step = _resume(model, opt, ckpt_path)
    model.train()
    for s in tqdm(range(step, cfg.steps), desc="decoder on LM codes", initial=step, total=cfg.steps):
        rng = np.random.default_rng([cfg.seed, s])
        _, feats, conts, _, codes = random_crops(rng, features, cfg.batch, contents, aligned=generated)
        slot = rng.integers(0, n_own, len(codes))
        if cfg.code_swap_fraction > 0:
            slot = slot + n_own * (rng.random(len(codes)) < cfg.code_swap_fraction)
        codes = codes[np.arange(len(codes)), :, slot]                                            # (B, T, 8)
        for g in opt.param_groups:
            g["lr"] = warmup_cosine_lr(cfg.lr, s, cfg.steps)
        loss = model.decoder_loss(torch.from_numpy(feats), torch.from_numpy(codes).long(), torch.from_numpy(conts).long(),
                                  reference)
        opt.zero_grad(); loss.backward(); opt.step()
        if (s + 1) % ckpt_every == 0 or s + 1 == cfg.steps:
            save_checkpoint(ckpt_path, {"model": model.state_dict(), "opt": opt.state_dict(), "step": s + 1,
                                        "config": asdict(cfg), "loss": loss.item()})
    return model.eval()


@torch.enable_grad()
def teacher_loss(pred: Tensor, target: Tensor, kinds: tuple[str, ...], weights: dict[str, float]) -> Tensor:
    """Per-frame regression of the standardised dense teacher targets (B, T, D), frames with a NaN target
    ignored, each kind with its weight: 1 - cosine for the whisper states (their direction is what SER probes
    read), smooth L1 for prosody."""
    from .content_teacher import PROSODY_DIM, WHISPER_DIM

    valid = ~torch.isnan(target[..., 0])
    if not valid.any():
        return pred.sum() * 0
    pred, target = pred[valid], target[valid]
    loss, start = pred.new_zeros(()), 0
    for kind in kinds:
        width = WHISPER_DIM if kind == "whisper" else PROSODY_DIM
        p, t = pred[:, start:start + width], target[:, start:start + width]
        loss = loss + weights[kind] * ((1 - F.cosine_similarity(p, t, dim=-1)).mean() if kind == "whisper"
                                       else F.smooth_l1_loss(p, t))
        start += width
    return loss


def train_content_encoder(wavs: list[np.ndarray], texts: list[str], phones: list[np.ndarray | None],
                          cfg: ContentConfig, ckpt_path: Path, ckpt_every: int = 500,
                          targets: list[np.ndarray] | None = None) -> ContentEncoder:
    """Dense phone cross-entropy (``phones``: (T_i, 4) aligned quarter phones per utterance, None where the
    alignment failed) through the quantized tokens, plus CTC on characters (2 CTC slots per token frame)
    through the tokens and, auxiliary, before quantization; with ``cfg.teacher``, also the regression of the
    dense teacher ``targets`` ((T_i, D) per utterance, paperlib.content_teacher) through the tokens."""
    if len(phones) != len(wavs) or len(texts) != len(wavs):
        raise ValueError(f"train_content_encoder: {len(wavs)} wavs, {len(texts)} texts, {len(phones)} phone labels")
    if cfg.teacher and (targets is None or len(targets) != len(wavs)):
        raise ValueError(f"content.teacher = {cfg.teacher} needs a dense target for each of the {len(wavs)} utterances")
    if cfg.teacher:         # standardised per dimension over the training frames
        allt = np.concatenate(targets)
        t_mean, t_std = allt.mean(0), allt.std(0) + 1e-3
        targets = [((t - t_mean) / t_std).astype(np.float32) for t in targets]
    torch.manual_seed(cfg.seed)
    enc = ContentEncoder(cfg)
    with torch.no_grad():
        mels = [enc.front(torch.from_numpy(w)[None])[0] for w in wavs[:200]]
        allm = torch.cat(mels)
        enc.feat_mean.copy_(allm.mean(0)); enc.feat_std.copy_(allm.std(0) + 1e-3)
    opt = torch.optim.AdamW(enc.parameters(), lr=cfg.lr)
    step = _resume(enc, opt, ckpt_path)
    labels = [torch.tensor(text_to_ids(t)) for t in texts]
    enc.train()
    history = []
    for s in tqdm(range(step, cfg.steps), desc="content encoder", initial=step, total=cfg.steps):
        rng = np.random.default_rng([cfg.seed, s])
        idx = rng.integers(0, len(wavs), cfg.batch)
        longest = max(len(wavs[i]) for i in idx) // FRAME_SAMPLES * FRAME_SAMPLES
        x = torch.zeros(len(idx), longest)
        in_len = []
        target = torch.full((len(idx), longest // FRAME_SAMPLES, 4), -100, dtype=torch.long)   # -100: ignored
        dense = torch.full((len(idx), longest // FRAME_SAMPLES, targets[0].shape[1]), float("nan")) if cfg.teacher else None
        for j, i in enumerate(idx):
            n = min(len(wavs[i]), longest) // FRAME_SAMPLES * FRAME_SAMPLES
            x[j, :n] = torch.from_numpy(wavs[i][:n])
            in_len.append(2 * (n // FRAME_SAMPLES))
            if phones[i] is not None:
                m = min(n // FRAME_SAMPLES, len(phones[i]))
                target[j, :m] = torch.from_numpy(phones[i][:m].astype(np.int64))
            if dense is not None:
                m = min(n // FRAME_SAMPLES, len(targets[i]))
                dense[j, :m] = torch.from_numpy(targets[i][:m])
        for g in opt.param_groups:
            g["lr"] = warmup_cosine_lr(cfg.lr, s, cfg.steps)
        logits, aux, q = enc.ctc_logits(x)
        chars = torch.cat([labels[i] for i in idx])
        tgt_len = torch.tensor([len(labels[i]) for i in idx])
        ctc = lambda lg: F.ctc_loss(lg.log_softmax(-1).transpose(0, 1), chars, torch.tensor(in_len), tgt_len,
                                    zero_infinity=True)
        loss = cfg.ctc_weight * ctc(logits) + cfg.aux_weight * ctc(aux)
        if cfg.phone_weight > 0 and (target >= 0).any():
            loss = loss + cfg.phone_weight * F.cross_entropy(enc.phone_logits(q).flatten(0, 2), target.flatten())
        if dense is not None:
            loss = loss + teacher_loss(enc.teacher_predictions(q), dense, tuple(cfg.teacher),
                                       {"whisper": cfg.teacher_weight, "prosody": cfg.prosody_weight})
        opt.zero_grad(); loss.backward()
        torch.nn.utils.clip_grad_norm_(enc.parameters(), 1.0)
        opt.step()
        history.append(loss.item())
        if (s + 1) % ckpt_every == 0 or s + 1 == cfg.steps:
            save_checkpoint(ckpt_path, {"model": enc.state_dict(), "opt": opt.state_dict(), "step": s + 1,
                                        "config": asdict(cfg), "loss": float(np.mean(history[-50:]))})
    return enc.eval()
