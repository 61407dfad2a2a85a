"""Streaming equals offline: content tokens, acoustic tokens, and batching independence."""
import pytest
import torch

from paperlib.anonymize import AnonymizerParts, Prompt, StreamingAnonymizer, generate
from paperlib.config import InferenceConfig, apply_overrides, preset
from paperlib.model import CodecLM
from paperlib.prosody import PROSODY_DIM, prosody_stream
from paperlib.tokenizers import ContentEncoder

# every LM test runs for an LM without and with the explicit prosody stream (paperlib.prosody)
PROSODY = pytest.mark.parametrize("prosody_dim", [0, PROSODY_DIM])


def _models(window: int = 64, prosody_dim: int = 0):
    torch.manual_seed(0)
    cfg = preset("smoke")
    enc = ContentEncoder(apply_overrides(cfg.content, {"left_context_frames": window})).eval()
    lm = CodecLM(apply_overrides(cfg.lm, {"content_vocab": enc.vocab_size, "prosody_dim": prosody_dim})).eval()
    if prosody_dim:      # a trained-looking projection: rows that move the states (init std 0.02 barely does)
        torch.nn.init.normal_(lm.prosody_proj.weight, std=1.0)
    return cfg, enc, lm


def _prompt(lm, length=12, seed=1):
    g = torch.Generator().manual_seed(seed)
    return Prompt(torch.randint(0, lm.cfg.content_vocab, (length,), generator=g),
                  torch.randint(0, lm.cfg.codebook_size, (length, lm.cfg.n_codebooks), generator=g),
                  torch.randn(lm.cfg.speaker_dim, generator=g),
                  torch.randn(length, lm.cfg.prosody_dim, generator=g) if lm.cfg.prosody_dim else None)


def _rows(lm, n: int, seed: int):
    return torch.randn(n, PROSODY_DIM, generator=torch.Generator().manual_seed(seed)) if lm.cfg.prosody_dim else None


def test_content_encoder_streaming_equals_offline_beyond_window():
    _, enc, _ = _models(window=8)          # window shorter than the utterance: the sliding window matters
    wav = torch.randn(1, 768 * 30 + 100, generator=torch.Generator().manual_seed(3)) * 0.1
    with torch.no_grad():
        offline = enc.encode(wav)
        with enc.streaming(1):
            chunks = [enc.encode(wav[:, i:i + 333]) for i in range(0, wav.shape[1], 333)]
    assert torch.equal(torch.cat(chunks, 1), offline)
    assert offline.shape[1] == 30


@PROSODY
def test_streaming_acoustic_tokens_equal_offline(prosody_dim):
    _, enc, lm = _models(prosody_dim=prosody_dim)
    for delay, use_sep in ((0, False), (2, True), (5, True)):
        inf = InferenceConfig(delay=delay)
        prompt = _prompt(lm)
        wav = torch.randn(768 * 20, generator=torch.Generator().manual_seed(4)) * 0.1
        wav[768 * 5: 768 * 12] = 0.3 * torch.sin(torch.arange(768 * 7) * 2 * torch.pi * 180 / 16000)   # voiced
        rows = [torch.from_numpy(prosody_stream(wav.numpy()))] if prosody_dim else None
        parts = AnonymizerParts(lm, None, enc, use_sep, torch.zeros(lm.cfg.speaker_dim), torch.ones(lm.cfg.speaker_dim))
        with torch.no_grad():
            tokens = enc.encode(wav[None])[0]
            offline = generate(lm, [prompt], [tokens], prompt.speaker[None], inf, use_sep, [7], rows)[0]
        sa = StreamingAnonymizer(parts, prompt, prompt.speaker, inf, seed=7)
        frames = []
        with sa.streaming():
            for i in range(0, len(wav), 500):          # chunks that do not fall on frame boundaries
                frames += sa.push(wav[i:i + 500])
            frames += sa.flush()
        assert len(frames) == len(tokens) == 20
        assert torch.equal(torch.stack(frames), offline), f"delay {delay}: streaming != offline"
        if prosody_dim:          # and the stream is read: a flat source prosody gives other codes
            with torch.no_grad():
                flat = generate(lm, [prompt], [tokens], prompt.speaker[None], inf, use_sep, [7],
                                [torch.zeros_like(rows[0])])[0]
            assert not torch.equal(flat, offline)
        # state never leaks: the modules are not streaming any more
        assert not lm.slow.is_streaming and not enc.is_streaming


@PROSODY
def test_batched_generation_equals_single(prosody_dim):
    _, enc, lm = _models(prosody_dim=prosody_dim)
    inf = InferenceConfig(delay=2)
    g = torch.Generator().manual_seed(5)
    prompts = [_prompt(lm, n, seed=n) for n in (5, 9, 14)]
    sources = [torch.randint(0, lm.cfg.content_vocab, (n,), generator=g) for n in (7, 15, 11)]
    speakers = torch.stack([p.speaker for p in prompts])
    rows = [_rows(lm, len(s), seed=len(s)) for s in sources] if prosody_dim else None
    with torch.no_grad():
        batched = generate(lm, prompts, sources, speakers, inf, True, [1, 2, 3], rows)
        single = [generate(lm, [p], [s], sp[None], inf, True, [sd], None if rows is None else [r])[0]
                  for p, s, sp, sd, r in zip(prompts, sources, speakers, [1, 2, 3], rows or [None] * 3)]
    for b, s in zip(batched, single):
        assert torch.equal(b, s)


def test_streaming_context_resets_state():
    _, enc, lm = _models()
    with lm.slow.streaming(1):
        assert lm.slow.blocks[0].attn.is_streaming
    assert lm.slow.blocks[0].attn._streaming_state is None


@PROSODY
def test_inference_path_sees_what_training_saw(prosody_dim):
    """Prefix + step-by-step KV-cached decoding, fed the real codes, gives the Slow AR states the training
    forward computes at the content slots (same layout, positions, delay and [SEP] handling): a generation
    failure cannot come from a train/inference mismatch of the sequence format."""
    from paperlib.anonymize import _prefix_inputs, _step
    from paperlib.model import collate, combine_prosody, combine_streams, interleave

    _, _, lm = _models(prosody_dim=prosody_dim)
    prompt = _prompt(lm, length=6)
    g = torch.Generator().manual_seed(5)
    src_c = torch.randint(0, lm.cfg.content_vocab, (9,), generator=g)
    src_a = torch.randint(0, lm.cfg.codebook_size, (9, lm.cfg.n_codebooks), generator=g)
    src_p = _rows(lm, 9, seed=6)
    for delay, use_sep in ((0, False), (2, True), (3, False)):
        content, acoustic, start = combine_streams(lm.cfg, prompt.content, prompt.acoustic, src_c, src_a, use_sep)
        prosody = combine_prosody(prompt.prosody, src_p, use_sep) if prosody_dim else None
        batch = collate([interleave(lm.cfg, content, acoustic, delay, loss_from=start, prosody=prosody)],
                        prompt.speaker[None], [start])
        with torch.no_grad():
            trained = lm.forward_hidden(batch)[0, 0::2][start + delay:]      # content slots that predict a_start...
        with torch.inference_mode(), lm.slow.streaming(1):
            cont, acou, is_ac, rows = _prefix_inputs(lm, content, acoustic, start + delay, delay, prosody)
            x = torch.cat([lm.embed_prefix(prompt.speaker[None]),
                           lm.embed_slots(cont[None], acou[None], is_ac[None], rows[None])], 1)
            lm.slow(x, torch.arange(x.shape[1])[None], torch.ones(1, x.shape[1], dtype=torch.bool))
            pos, states = torch.tensor([x.shape[1]]), []
            for j in range(len(src_c)):
                t = start + delay + j
                c_id = content[t] if t < len(content) else torch.tensor(lm.cfg.content_vocab)   # PAD past the end
                row = None
                if prosody_dim:
                    row = (prosody[t] if t < len(prosody) else torch.zeros(prosody_dim))[None]
                states.append(_step(lm, c_id.view(1), None, pos, row)[0])
                _step(lm, None, acoustic[start + j][None], pos + 1)
                pos = pos + 2
        assert torch.allclose(torch.stack(states), trained, atol=1e-5), f"delay {delay}, sep {use_sep}"


def test_codec_decodes_frame_by_frame_like_whole_utterance():
    """The streaming codec decoder (each causal conv keeps its left context; one frame per call) gives the
    features of whole-utterance decoding, content-conditioned (the mini codec) or not (the paper's)."""
    from paperlib.tokenizers import WorldCodec

    cfg = preset("smoke")
    for overrides in ({"content_conditioned": False, "code_swap_fraction": 0.0}, {"content_levels": (4, 4)}):
        torch.manual_seed(0)
        codec = WorldCodec(apply_overrides(cfg.codec, overrides)).eval()
        codes = torch.randint(0, codec.codebook_size, (2, 25, cfg.codec.n_codebooks))
        content = torch.randint(0, 16, (2, 25))
        with torch.no_grad():
            offline = codec.decode(codes, content=content)
            with codec.streaming(2):
                frames = [codec.decode(codes[:, t:t + 1], content=content[:, t:t + 1]) for t in range(25)]
        assert not codec.is_streaming and not codec.dec.convs[0].is_streaming
        torch.testing.assert_close(torch.cat(frames, 1), offline, rtol=1e-4, atol=1e-4)


def test_kv_cache_growth_and_window_match_offline_attention():
    """Steps of mixed sizes through the in-place KV cache (growing past its first capacity, with and without
    a sliding window) give the offline transformer's outputs."""
    from paperlib.model import Transformer

    for window in (None, 5):
        torch.manual_seed(0)
        tf = Transformer(32, 2, 2, window=window).eval()
        x = torch.randn(1, 40, 32)
        with torch.no_grad():
            offline = tf(x)
            # masked_from: the step from which positions and an (all-real) key mask are passed, as offline
            # batched generation does; the cache then starts keeping the mask it had skipped so far
            for masked_from in (None, 0, 3):
                outs, t = [], 0
                with tf.streaming(1):
                    for step, size in enumerate([3, 1, 1, 7, 1, 20, 1, 1, 5]):
                        if masked_from is not None and step >= masked_from:
                            outs.append(tf(x[:, t:t + size], torch.arange(t, t + size)[None],
                                           torch.ones(1, size, dtype=torch.bool)))
                        else:
                            outs.append(tf(x[:, t:t + size]))
                        t += size
                torch.testing.assert_close(torch.cat(outs, 1), offline, rtol=1e-5, atol=1e-5)


def test_inference_forms_are_bit_exact():
    """What the streaming speed-ups rewrote computes the reference arithmetic to the bit, so no offline
    result moves: RMSNorm's in-place CPU inference form vs F.rms_norm, RoPE as x * [cos, cos] + [x2, x1] *
    [-sin, sin] vs the concatenated rotation, nucleus sampling by searchsorted vs counting the CDF entries
    below the threshold (ties and the uniforms 0 and 1 included)."""
    import torch.nn.functional as F

    from paperlib.model import RMSNorm, rope, rope_angles, sample_top_p

    g = torch.Generator().manual_seed(0)
    for dim in (128, 192):
        norm = RMSNorm(dim)
        norm.weight.data = torch.randn(dim, generator=g)
        x = torch.randn(64, 3, dim, generator=g) * 5 * torch.rand(64, 1, 1, generator=g)
        with torch.inference_mode():
            assert torch.equal(norm(x), F.rms_norm(x, (dim,), norm.weight, norm.eps))

    x = torch.randn(2, 3, 4, 10, 16, generator=g)              # (q/k, B, H, T, head_dim)
    positions = torch.randint(0, 3000, (3, 10), generator=g)
    cos, sin = rope_angles(positions, 16)
    cos, sin = cos[..., :8], sin[..., 8:]                        # the tables' plain cos and sin
    x1, x2 = x[..., :8], x[..., 8:]
    assert torch.equal(rope(x, positions), torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1))

    def counted(logits, temperature, top_p, uniforms):
        probs = torch.softmax(logits / temperature, dim=-1)
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        cdf = (sorted_probs * (sorted_probs.cumsum(-1) - sorted_probs < top_p)).cumsum(-1)
        choice = (cdf < uniforms[:, None] * cdf[:, -1:]).sum(-1, keepdim=True).clamp(max=probs.shape[-1] - 1)
        return order.gather(-1, choice)[:, 0]

    for scale in (0.0, 0.5, 3.0):                                # 0: all logits equal
        logits = torch.randn(500, 125, generator=g) * scale
        uniforms = torch.rand(500, generator=g)
        uniforms[:2] = torch.tensor([0.0, 1.0])
        for temperature, top_p in ((0.7, 0.7), (1.0, 0.95), (0.5, 1.0)):
            assert torch.equal(sample_top_p(logits, temperature, top_p, uniforms),
                               counted(logits, temperature, top_p, uniforms))
