"""Inference: offline (batched) and streaming anonymization with a prompt strategy.

The prompt is the target speaker's content tokens + acoustic codes, used as a continuation prefix
(with [SEP_L]/[SEP_A] after it when the model was finetuned with them). The speaker prefix is
g = a * mean(g_target) + (1 - a) * z with z a pseudo-speaker drawn from a Gaussian fitted to the
pretraining speakers (a = 0.9). Sampling: temperature 0.7, top-p 0.7.

Streaming (``StreamingAnonymizer``): 48 ms chunks; the content encoder runs on a sliding window with a
KV cache; each new content token C_t goes into the Slow AR together with the previous frame's acoustic
slot A_{t-1} (one call per frame), then the Fast AR samples the frame that lags by d. The codec decodes
frame by frame (``with codec.streaming(1)``; its causal convolutions keep their left context).
``tests/test_streaming.py`` checks that streaming yields the same acoustic tokens as offline generation
for the same seed, and that frame-by-frame decoding gives whole-utterance decoding's features.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from .config import InferenceConfig
from .kaldi import Utterance
from .model import ACOUSTIC_BOS, CONTENT_PAD, CodecLM, combine_prosody, combine_streams
from .pairs import prompt_for
from .prosody import PROSODY_DIM, LevelTransfer, ProsodyTracker, prosody_stream, transfer_level
from .tokenizers import FRAME_SAMPLES, ContentEncoder, WorldCodec, aligned_acoustic_codes, world_features
from .utils import stable_int

if TYPE_CHECKING:            # speechbrain is slow to import; the CLI loads it only when it is used
    from .speaker import SpeakerEncoder


@dataclass
class Prompt:
    content: Tensor       # (Lp,)
    acoustic: Tensor      # (Lp, 8)
    speaker: Tensor       # (D,) mean target embedding
    prosody: Tensor | None = None   # (Lp, P) the prompt's prosody stream (an LM that reads one needs it)


@dataclass
class AnonymizerParts:
    lm: CodecLM
    codec: WorldCodec
    content_encoder: ContentEncoder
    use_sep: bool
    pseudo_mean: Tensor
    pseudo_std: Tensor
    # what turns a target speaker's recording into a prompt (``encode_prompt``); a bundle exported before
    # they shipped lacks them, and then only its pre-encoded prompts can be used
    speaker_encoder: SpeakerEncoder | None = None
    codec_has_encoder: bool = True


def make_prompt(tokens: dict[str, dict[str, Tensor]], utts: list[Utterance]) -> Prompt:
    return Prompt(torch.cat([tokens[u.utt_id]["content"].long() for u in utts]),
                  torch.cat([tokens[u.utt_id]["acoustic"].long() for u in utts]),
                  torch.stack([tokens[u.utt_id]["speaker"] for u in utts]).mean(0),
                  torch.cat([tokens[u.utt_id]["prosody"] for u in utts]) if "prosody" in tokens[utts[0].utt_id] else None)


@torch.no_grad()          # not inference_mode: the training stages take these tensors as inputs
def encode_utterance(wav: np.ndarray, content_encoder: ContentEncoder | None, speaker_encoder: SpeakerEncoder,
                     codec: WorldCodec | None, content: Tensor | None = None,
                     features: np.ndarray | None = None, prosody: bool = True) -> dict[str, Tensor]:
    """One 16 kHz utterance -> {content (T,), speaker (D,)[, prosody (T, P)][, acoustic (T, 8)]}: what every
    prompt and every training utterance is made of (``content`` / ``features``: already computed ones). Without
    ``codec``, no acoustic codes; without ``prosody``, no prosody rows (the tokens stage merges its cached ones)."""
    x = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))[None]
    item = {"content": content_encoder.encode(x)[0].short() if content is None else content,
            "speaker": speaker_encoder(x)[0]}
    if codec is not None:
        feats = world_features(wav, codec.cfg) if features is None else features
        item["content"], item["acoustic"] = aligned_acoustic_codes(codec, feats, item["content"])
    if prosody:
        item["prosody"] = torch.from_numpy(prosody_stream(wav))[: len(item["content"])]
    return item


def prompt_from_recording(parts: AnonymizerParts, wav: np.ndarray) -> Prompt:
    """A consenting target speaker's recording (16 kHz, checked by ``inputs.check_target_voice``) -> the
    prompt, encoded as the shipped prompts were."""
    if parts.speaker_encoder is None or not parts.codec_has_encoder:
        raise ValueError("this bundle does not ship the codec encoder and the speaker encoder that a target "
                         "voice needs; re-export it with `python -m paperlib.bundle export`")
    item = encode_utterance(wav, parts.content_encoder, parts.speaker_encoder, parts.codec)
    return Prompt(item["content"].long(), item["acoustic"].long(), item["speaker"], item["prosody"])


def inference_prompt(cfg: InferenceConfig, ptoks: dict[str, dict[str, Tensor]], pools: dict, source: Utterance,
                     seed: int) -> Prompt:
    """The prompt ``cfg`` chooses for one source utterance (its strategy and, for vctk-1fix, which utterance)."""
    return make_prompt(ptoks, prompt_for(cfg.prompt_strategy, source, pools, seed, cfg.fixed_prompt,
                                         cfg.fixed_speakers))


def anonymized_speaker(parts: AnonymizerParts, prompt: Prompt, alpha: float, seed: int) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    z = parts.pseudo_mean + parts.pseudo_std * torch.randn(parts.pseudo_mean.shape, generator=gen)
    return alpha * prompt.speaker + (1 - alpha) * z


def _prefix_inputs(lm: CodecLM, content: Tensor, acoustic: Tensor, upto: int, delay: int,
                   prosody: Tensor | None = None):
    """Slot inputs C_0 A_0 ... C_{upto-1} A_{upto-1} (all known): content ids, acoustic codes, is_acoustic and
    (for an LM that reads one) the prosody rows at the C slots."""
    cfg = lm.cfg
    t = torch.arange(upto)
    length = len(content)
    c_in = torch.where(t < length, content[t.clamp(max=length - 1)], torch.tensor(cfg.content_vocab + CONTENT_PAD))
    bos = torch.full((cfg.n_codebooks,), cfg.codebook_size + ACOUSTIC_BOS)
    a_idx = t - delay
    a_in = torch.where((a_idx >= 0)[:, None], acoustic[a_idx.clamp(min=0)], bos)
    n = 2 * upto
    cont = torch.zeros(n, dtype=torch.long); cont[0::2] = c_in
    acou = torch.zeros(n, cfg.n_codebooks, dtype=torch.long); acou[1::2] = a_in
    is_ac = torch.zeros(n, dtype=torch.bool); is_ac[1::2] = True
    rows = torch.zeros(n, max(1, cfg.prosody_dim))
    if cfg.prosody_dim:
        known = min(upto, len(prosody))
        rows[0:2 * known:2] = prosody[:known]
    return cont, acou, is_ac, rows


def _stream_prosody(lm: CodecLM, prompt: Prompt, source: Tensor | None, use_sep: bool) -> Tensor | None:
    """The prosody rows of the combined stream, or None for an LM that reads no prosody."""
    if not lm.cfg.prosody_dim:
        return None
    if prompt.prosody is None or source is None:
        raise ValueError("this LM reads the prosody stream: the prompt and the source need theirs "
                         "(paperlib.prosody; a bundle exported before the stream lacks the prompts' rows)")
    return combine_prosody(prompt.prosody, source, use_sep)


@torch.inference_mode()   # cheaper per op than no_grad: these steps are overhead-bound on CPU
def generate(lm: CodecLM, prompts: list[Prompt], sources: list[Tensor], speakers: Tensor, cfg: InferenceConfig,
             use_sep: bool, seeds: list[int], source_prosody: list[Tensor] | None = None) -> list[Tensor]:
    """Offline batched generation: left-padded prefix, then one frame per step for every sample.
    ``source_prosody``: each source's prosody rows (needed by an LM that reads the stream).

    Sample i's sampling uses its own torch.Generator(seed_i), so results do not depend on batching.
    """
    d = cfg.delay
    bsz = len(sources)
    streams = [combine_streams(lm.cfg, p.content, p.acoustic, s.long(), None, use_sep) for p, s in zip(prompts, sources)]
    rows = [_stream_prosody(lm, p, None if source_prosody is None else r, use_sep)
            for p, r in zip(prompts, source_prosody or [None] * bsz)]
    prefixes = [_prefix_inputs(lm, c, a, start + d, d, r) for (c, a, start), r in zip(streams, rows)]
    longest = max(len(p[0]) for p in prefixes)
    cont = torch.zeros(bsz, longest, dtype=torch.long)
    acou = torch.zeros(bsz, longest, lm.cfg.n_codebooks, dtype=torch.long)
    is_ac = torch.zeros(bsz, longest, dtype=torch.bool)
    mask = torch.zeros(bsz, longest, dtype=torch.bool)
    pros = torch.zeros(bsz, longest, prefixes[0][3].shape[1])
    for i, (c, a, s, r) in enumerate(prefixes):
        n = len(c)
        cont[i, longest - n:], acou[i, longest - n:], is_ac[i, longest - n:], mask[i, longest - n:] = c, a, s, True
        pros[i, longest - n:] = r
    x = torch.cat([lm.embed_prefix(speakers), lm.embed_slots(cont, acou, is_ac, pros)], dim=1)
    key_mask = torch.cat([torch.ones(bsz, 1, dtype=torch.bool), mask], dim=1)
    positions = (key_mask.long().cumsum(1) - 1).clamp(min=0)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    n_steps = max(len(s) for s in sources)
    outputs = torch.zeros(bsz, n_steps, lm.cfg.n_codebooks, dtype=torch.long)
    pad_c = lm.cfg.content_vocab + CONTENT_PAD
    with lm.slow.streaming(bsz):
        lm.slow(x, positions, key_mask)
        pos = positions[:, -1] + 1
        for j in range(n_steps):
            at = [streams[i][2] + d + j for i in range(bsz)]
            c_ids = torch.tensor([int(streams[i][0][at[i]]) if at[i] < len(streams[i][0]) else pad_c
                                  for i in range(bsz)])
            p_rows = None if rows[0] is None else torch.stack([rows[i][at[i]] if at[i] < len(rows[i])
                                                               else rows[i].new_zeros(rows[i].shape[1])
                                                               for i in range(bsz)])
            h = _step(lm, c_ids, None, pos, p_rows)
            frame = lm.sample_frame(h, cfg.temperature, cfg.top_p, gens)
            outputs[:, j] = frame
            _step(lm, None, frame, pos + 1)
            pos = pos + 2
    return [outputs[i, : len(s)] for i, s in enumerate(sources)]


def _step(lm: CodecLM, content: Tensor | None, frame: Tensor | None, pos: Tensor,
          prosody: Tensor | None = None) -> Tensor:
    bsz = pos.shape[0]
    is_ac = torch.full((bsz, 1), frame is not None)
    c = content[:, None] if content is not None else torch.zeros(bsz, 1, dtype=torch.long)
    a = frame[:, None] if frame is not None else torch.zeros(bsz, 1, lm.cfg.n_codebooks, dtype=torch.long)
    if lm.cfg.prosody_dim and prosody is None:      # an acoustic slot: its content part is not read
        prosody = torch.zeros(bsz, lm.cfg.prosody_dim)
    x = lm.embed_slots(c, a, is_ac, None if prosody is None else prosody[:, None])
    return lm.slow(x, pos[:, None], torch.ones(bsz, 1, dtype=torch.bool))[:, 0]


def _step_frame_then_content(lm: CodecLM, frame: Tensor, content: Tensor, prosody: Tensor | None = None) -> Tensor:
    """Two Slow AR slots in one call at the next two positions of the streaming cache, A_{t-1} then C_t:
    (B, 8), (B,) -> the state at C_t. Streaming uses it so that each frame costs one Slow AR call instead
    of two (the calls are overhead-bound on CPU); the states equal the two single steps' to float rounding."""
    c = torch.stack([torch.zeros_like(content), content], dim=1)
    a = torch.stack([frame, torch.zeros_like(frame)], dim=1)
    is_ac = torch.tensor([[True, False]]).expand(len(content), -1)
    rows = None if prosody is None else torch.stack([torch.zeros_like(prosody), prosody], dim=1)
    return lm.slow(lm.embed_slots(c, a, is_ac, rows))[:, 1]


class StreamingAnonymizer:
    """Chunk-in, chunk-out anonymizer for one utterance at a time (batch 1).

        sa = StreamingAnonymizer(parts, prompt, speaker, cfg, seed)
        with sa.streaming():
            for chunk in chunks:                 # any size; 768 samples = one frame
                for frame_codes in sa.push(chunk): ...
            tail = sa.flush()
    """

    def __init__(self, parts: AnonymizerParts, prompt: Prompt, speaker: Tensor, cfg: InferenceConfig, seed: int):
        self.parts, self.prompt, self.speaker, self.cfg, self.seed = parts, prompt, speaker, cfg, seed
        self._ctx = None

    def streaming(self):
        import contextlib

        @contextlib.contextmanager
        def ctx():
            lm, enc = self.parts.lm, self.parts.content_encoder
            with torch.inference_mode(), lm.slow.streaming(1), enc.streaming(1):
                self._start()
                yield self
        return ctx()

    def _start(self) -> None:
        lm, d = self.parts.lm, self.cfg.delay
        empty = torch.zeros(0, dtype=torch.long)
        content, acoustic, start = combine_streams(lm.cfg, self.prompt.content, self.prompt.acoustic, empty, None,
                                                   self.parts.use_sep)
        self.known_content, self.known_acoustic, self.source_start = content, acoustic, start
        prompt_rows = _stream_prosody(lm, self.prompt, torch.zeros(0, PROSODY_DIM), self.parts.use_sep)
        cont, acou, is_ac, rows = _prefix_inputs(lm, content, acoustic, start, d, prompt_rows) if start > 0 else (
            torch.zeros(0, dtype=torch.long), torch.zeros(0, lm.cfg.n_codebooks, dtype=torch.long),
            torch.zeros(0, dtype=torch.bool), torch.zeros(0, max(1, lm.cfg.prosody_dim)))
        x = torch.cat([lm.embed_prefix(self.speaker[None]),
                       lm.embed_slots(cont[None], acou[None], is_ac[None], rows[None])], 1)
        lm.slow(x, torch.arange(x.shape[1])[None], torch.ones(1, x.shape[1], dtype=torch.bool))
        self.t = start
        self.pos = x.shape[1]
        self.pending_frame: Tensor | None = None     # the last frame, not yet fed to the Slow AR
        self.source_tokens: list[int] = []
        self.source_prosody: list[Tensor] = []      # the source frames' prosody rows (LevelTransfer reads them)
        self.prosody = ProsodyTracker()
        self.gen = torch.Generator().manual_seed(self.seed)

    def _advance(self, content_id: int, prosody: Tensor | None = None) -> Tensor | None:
        """Content slot C_t (together with the pending acoustic slot A_{t-1}), then frame t - d. ``prosody``: the
        frame's prosody row (an LM that reads the stream; zeros for the PAD steps of ``flush``)."""
        lm, d = self.parts.lm, self.cfg.delay
        content = torch.tensor([content_id])
        rows = None
        if lm.cfg.prosody_dim:
            rows = (prosody if prosody is not None else torch.zeros(lm.cfg.prosody_dim))[None]
        if self.pending_frame is None:
            h = _step(lm, content, None, torch.tensor([self.pos]), rows)
        else:
            h = _step_frame_then_content(lm, self.pending_frame, content, rows)   # at positions pos - 1, pos
        a_idx = self.t - d
        out = None
        if a_idx < 0:
            frame = torch.full((1, lm.cfg.n_codebooks), lm.cfg.codebook_size + ACOUSTIC_BOS)
        elif a_idx < self.source_start:
            frame = self.known_acoustic[a_idx][None]
        else:
            frame = lm.sample_frame(h, self.cfg.temperature, self.cfg.top_p, [self.gen])
            out = frame[0]
        self.pending_frame = frame       # its A slot goes in with the next content token
        self.pos += 2
        self.t += 1
        return out

    def push(self, chunk: Tensor) -> list[Tensor]:
        """Feed raw 16 kHz samples; returns the acoustic frames completed by them. The content token of
        source frame i is ``self.source_tokens[i]`` (a content-conditioned codec decodes frame i with it)."""
        tokens = self.parts.content_encoder.encode(chunk.reshape(1, -1))[0]
        rows = torch.from_numpy(self.prosody.push(chunk.reshape(-1).numpy()))
        assert len(rows) == len(tokens), "the content encoder and the prosody stream share the 48 ms frames"
        self.source_tokens.extend(int(tok) for tok in tokens)
        self.source_prosody.extend(rows)
        return [f for f in (self._advance(int(tok), row) for tok, row in zip(tokens, rows)) if f is not None]

    def flush(self) -> list[Tensor]:
        """End of input: d more steps with PAD content emit the last d frames."""
        pad = self.parts.lm.cfg.content_vocab + CONTENT_PAD
        out = []
        while self.t - self.cfg.delay < self.source_start + len(self.source_tokens):
            f = self._advance(pad)
            if f is not None:
                out.append(f)
        return out


def self_prompted_codes(lm: CodecLM, tokens: dict[str, dict[str, Tensor]], speaker_of: dict[str, str],
                        speaker_means: dict[str, Tensor], cfg: InferenceConfig, seed: int,
                        batch: int = 32, desc: str = "LM codes") -> dict[str, Tensor]:
    """utt -> (T, 8) free-running codes of every utterance in ``tokens`` from its own content tokens,
    prompted by another utterance of the same speaker, with that speaker's mean vector: what the pretrained
    LM makes of speech whose true codes are known (the anonymizer's decoder is adapted on them)."""
    from tqdm import tqdm

    by_speaker: dict[str, list[str]] = {}
    for u in sorted(tokens):
        by_speaker.setdefault(speaker_of[u], []).append(u)
    order = sorted(tokens, key=lambda u: (len(tokens[u]["content"]), u))   # similar lengths: little padding
    out: dict[str, Tensor] = {}
    for i in tqdm(range(0, len(order), batch), desc=desc):
        chunk = order[i:i + batch]
        prompts = []
        for u in chunk:
            same = [v for v in by_speaker[speaker_of[u]] if v != u] or [u]
            p = tokens[same[stable_int(seed, "prompt", u) % len(same)]]
            prompts.append(Prompt(p["content"].long(), p["acoustic"].long(), speaker_means[speaker_of[u]],
                                  p.get("prosody")))
        codes = generate(lm, prompts, [tokens[u]["content"] for u in chunk], torch.stack([p.speaker for p in prompts]),
                         cfg, False, [stable_int(seed, u) for u in chunk],
                         [tokens[u]["prosody"] for u in chunk] if lm.cfg.prosody_dim else None)
        out.update(zip(chunk, codes))
    return out


def pseudo_speaker_gaussian(ws) -> tuple[Tensor, Tensor]:
    """Mean and std, per dimension, of the pretraining speakers' mean embeddings (pseudo-speakers are drawn
    from it)."""
    means = torch.stack(list(ws.speaker_means("train_pretrain").values()))
    return means.mean(0), means.std(0)


def load_parts(ws, lm_path: Path, use_sep: bool) -> AnonymizerParts:
    from .train import load_lm

    return AnonymizerParts(load_lm(ws, lm_path), ws.anonymizer_codec(), ws.content_encoder(), use_sep,
                           *pseudo_speaker_gaussian(ws), speaker_encoder=ws.speaker_encoder())


def prompt_pools(ws) -> dict:
    return {"vctk": ws.data("vctk_pool"), "pretrain": ws.data("train_pretrain"), "crema": ws.data("train_crema")}


def prompt_tokens(ws) -> dict[str, dict[str, Tensor]]:
    tokens: dict[str, dict[str, Tensor]] = {}
    for name in ("vctk_pool", "train_pretrain", "train_crema"):
        tokens.update(ws.tokens(name))
    return tokens


def anonymize_codes(parts: AnonymizerParts, cfg: InferenceConfig, utts: list[Utterance], contents: list[Tensor],
                    pools: dict, ptoks: dict[str, dict[str, Tensor]], seed: int,
                    prosody: list[Tensor] | None = None) -> list[Tensor]:
    """Acoustic codes of a batch of source utterances, prompted and seeded as every anonymized system is:
    prompt by ``cfg.prompt_strategy``, pseudo-speaker seeded per source speaker, sampling per utterance.
    ``prosody``: the sources' prosody rows (an LM that reads the stream needs them)."""
    prompts, speakers = prompts_and_speakers(parts, cfg, utts, pools, ptoks, seed)
    return generate(parts.lm, prompts, contents, speakers, cfg, parts.use_sep, [stable_int(seed, u.utt_id) for u in utts],
                    prosody)


def prompts_and_speakers(parts: AnonymizerParts, cfg: InferenceConfig, utts: list[Utterance], pools: dict,
                         ptoks: dict[str, dict[str, Tensor]], seed: int) -> tuple[list[Prompt], Tensor]:
    """Each source utterance's prompt (``cfg.prompt_strategy``) and anonymized speaker vector (pseudo-speaker
    seeded per source speaker), as every anonymized system draws them."""
    prompts = [inference_prompt(cfg, ptoks, pools, u, seed) for u in utts]
    speakers = torch.stack([anonymized_speaker(parts, p, cfg.anon_alpha, stable_int(seed, "pseudo", u.speaker))
                            for p, u in zip(prompts, utts)])
    return prompts, speakers


def anonymize_dir(ws, parts: AnonymizerParts, cfg: InferenceConfig, name: str, out_dir: Path, seed: int,
                  batch_size: int = 48, desc: str = "") -> Path:
    """Anonymize every utterance of data dir ``name`` into ``out_dir`` (wavs + a Kaldi dir); resumable."""
    from tqdm import tqdm

    from .audio import save_wav, is_valid_wav
    from .kaldi import write_data_dir

    data = ws.data(name)
    src_tokens = ws.tokens(name)
    src_prosody = ws.prosody(name) if cfg.level_transfer else None
    pools, ptoks = prompt_pools(ws), prompt_tokens(ws)
    wav_dir = out_dir / "wav"
    utts = sorted(data.utts.values(), key=lambda u: u.utt_id)
    todo = [u for u in utts if not is_valid_wav(wav_dir / f"{u.utt_id}.wav")]
    for b in tqdm(range(0, len(todo), batch_size), desc=desc or f"anonymize {name}", unit="batch"):
        chunk = todo[b:b + batch_size]
        codes = anonymize_codes(parts, cfg, chunk, [src_tokens[u.utt_id]["content"] for u in chunk], pools, ptoks, seed,
                                [src_tokens[u.utt_id]["prosody"] for u in chunk] if parts.lm.cfg.prosody_dim else None)
        for u, c in zip(chunk, codes):
            wav = parts.codec.decode_to_wav(c, src_tokens[u.utt_id]["content"][: len(c)])
            if src_prosody is not None:
                wav = transfer_level(wav, src_prosody[u.utt_id].numpy())
            peak = np.abs(wav).max() + 1e-9
            save_wav(wav_dir / f"{u.utt_id}.wav", wav * min(1.0, 0.95 / peak))
    out_utts = [Utterance(u.utt_id, u.speaker, wav_dir / f"{u.utt_id}.wav", u.text, u.emotion, u.gender, u.duration)
                for u in utts]
    write_data_dir(out_dir, out_utts, out_dir, data.spk2gender, data.spk2fold or None, data.trials or None)
    return out_dir


def anonymize_waveform(parts: AnonymizerParts, cfg: InferenceConfig, ptoks: dict[str, dict[str, Tensor]],
                       pools: dict, wav: np.ndarray, utt_id: str, seed: int, stream: bool = False,
                       prompt: Prompt | None = None) -> np.ndarray:
    """One 16 kHz waveform -> its anonymization (what the CLI writes). ``stream``: 48 ms chunks in, each output
    frame decoded to its 48 ms of audio as it comes (what a live system would play); otherwise whole-utterance
    generation and decoding. The prompt (unless given: a target voice's) and the pseudo-speaker are drawn
    from ``seed`` and ``utt_id``."""
    if prompt is None:
        prompt = inference_prompt(cfg, ptoks, pools, Utterance(utt_id, "user", Path(utt_id)), seed)
    speaker = anonymized_speaker(parts, prompt, cfg.anon_alpha, seed)
    if stream:
        sa = StreamingAnonymizer(parts, prompt, speaker, cfg, seed)
        pieces, level = [], LevelTransfer()
        with sa.streaming(), parts.codec.streaming(1):
            x = torch.from_numpy(wav)
            for chunk in [x[i:i + FRAME_SAMPLES] for i in range(0, len(x), FRAME_SAMPLES)] + [None]:
                for frame in sa.push(chunk) if chunk is not None else sa.flush():
                    piece = parts.codec.decode_frame_to_wav(frame, sa.source_tokens[len(pieces)])
                    if cfg.level_transfer:
                        piece = level.frame(piece, float(sa.source_prosody[len(pieces)][0]))
                    pieces.append(piece)
        out = np.concatenate(pieces)
    else:
        with torch.inference_mode():
            tokens = parts.content_encoder.encode(torch.from_numpy(wav)[None])[0]
        rows = torch.from_numpy(prosody_stream(wav))[: len(tokens)]
        codes = generate(parts.lm, [prompt], [tokens], speaker[None], cfg, parts.use_sep, [seed], [rows])[0]
        out = parts.codec.decode_to_wav(codes, tokens[: len(codes)])
        if cfg.level_transfer:
            out = transfer_level(out, rows.numpy())
    return out / max(1.0, float(np.abs(out).max()) / 0.95)


def anonymize_recording(parts: AnonymizerParts, cfg: InferenceConfig, ptoks: dict[str, dict[str, Tensor]], pools: dict,
                        wav: np.ndarray, utt_id: str, seed: int, stream: bool = False, prompt: Prompt | None = None,
                        name: str = "input") -> np.ndarray:
    """A recording as it comes (``inputs.condition``: silence, level, clipping; long ones in pieces cut at
    pauses, one prompt and one pseudo-speaker for all) -> its anonymization on the input's time line (what the
    CLI writes). Each conditioning step is printed to stderr as a note naming ``name``."""
    import sys

    from tqdm import tqdm

    from .inputs import MAX_CHUNK_S, condition, split_at_pauses

    cond = condition(wav)
    for note in cond.notes:
        print(f"note: {name}: {note}", file=sys.stderr)
    if cond.silent:
        return cond.restore(np.zeros(0, np.float32))
    pieces = split_at_pauses(cond.wav)
    if len(pieces) > 1:
        print(f"note: {name}: {len(cond.wav) / 16000:.0f} s, anonymized in {len(pieces)} pieces of at most "
              f"{MAX_CHUNK_S:.0f} s cut at pauses", file=sys.stderr)
    outs = [anonymize_waveform(parts, cfg, ptoks, pools, piece, utt_id, seed, stream, prompt)
            for piece in tqdm(pieces, desc=name, unit="piece", disable=len(pieces) == 1, leave=False)]
    # each piece's output is a whole number of frames: pad it to its piece so the time line holds
    return cond.restore(np.concatenate([np.pad(o, (0, max(0, len(p) - len(o))))[: len(p)]
                                        for o, p in zip(outs, pieces)]))
