"""What keeps emotion on its way through the anonymizer: the content encoder's dense teacher targets, a codec
whose code-swapped samples are not taught to render prosody from content, a decoder adaptation that keeps
the codes' prosody, and the emotion budget that measures each step."""
import json

import numpy as np
import pytest
import torch

from paperlib.config import apply_overrides, preset


def _tone(seconds: float, f0: float, level: float = 0.1) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (level * np.sin(2 * np.pi * f0 * t) + 0.003 * np.random.default_rng(0).standard_normal(len(t))).astype(np.float32)


def test_teacher_targets_are_frame_aligned_and_relative_to_the_speaker():
    from paperlib.content_teacher import PROSODY_DIM, WHISPER_DIM, speaker_log_f0, teacher_targets
    from paperlib.tokenizers import world_features

    cfg = preset("smoke").codec
    low, high = _tone(1.0, 110), _tone(1.0, 220, level=0.3)
    world = {"low": world_features(low, cfg), "high": world_features(high, cfg)}
    register = speaker_log_f0(world, {"low": "s", "high": "s"}, cfg.subframes)
    assert np.log(110) < register["s"] < np.log(220)
    t_low = teacher_targets(low, world["low"], register["s"], ("whisper", "prosody"), cfg.subframes)
    t_high = teacher_targets(high, world["high"], register["s"], ("whisper", "prosody"), cfg.subframes)
    assert t_low.shape == (len(low) // 768, WHISPER_DIM + PROSODY_DIM)
    p_low, p_high = t_low[2:-2, WHISPER_DIM:], t_high[2:-2, WHISPER_DIM:]
    assert p_high[:, 0].mean() > p_low[:, 0].mean()                      # louder: higher c0
    assert p_low[:, 1].min() > 0.5                                        # a steady tone is voiced throughout
    assert p_low[:, 2].mean() < 0 < p_high[:, 2].mean()                  # F0 relative to the speaker's mean
    assert np.isclose(p_high[:, 2].mean() - p_low[:, 2].mean(), np.log(2), atol=0.1)
    with pytest.raises(ValueError, match="unknown kind"):
        teacher_targets(low, world["low"], 0.0, ("w2v",), cfg.subframes)


def test_content_encoder_regresses_the_teacher_through_its_tokens(tmp_path):
    from paperlib.phones import PHONES
    from paperlib.train_tokenizers import train_content_encoder

    cfg = apply_overrides(preset("smoke").content, {"steps": 3, "teacher": ["prosody"]})
    wavs = [_tone(0.6, 100 + 40 * i) for i in range(3)]
    frames = len(wavs[0]) // 768
    phones = [np.random.default_rng(i).integers(0, len(PHONES), (frames, 4)).astype(np.int8) for i in range(3)]
    targets = [np.random.default_rng(i).standard_normal((frames, 3)).astype(np.float32) for i in range(3)]
    with pytest.raises(ValueError, match="dense target"):
        train_content_encoder(wavs, ["a"] * 3, phones, cfg, tmp_path / "a.pt")
    init = train_content_encoder(wavs, ["a"] * 3, phones, apply_overrides(cfg, {"steps": 0}), tmp_path / "b.pt", targets=targets)
    enc = train_content_encoder(wavs, ["a"] * 3, phones, cfg, tmp_path / "c.pt", targets=targets)
    assert not torch.equal(init.prosody_head[0].weight, enc.prosody_head[0].weight)
    assert enc.prosody_head[0].in_features == cfg.prosody_digits      # the prosody channel: the last digit(s)
    assert enc.front.keep_level and enc.proj.in_features == 4 * (cfg.n_mels + 1)
    # the front end keeps the level: the same audio 10 dB louder gives other features
    quiet = enc.front(torch.from_numpy(wavs[0])[None])
    loud = enc.front(torch.from_numpy(wavs[0] * 3.16)[None])
    assert not torch.allclose(quiet, loud)


def test_swapped_codes_are_not_scored_on_prosody():
    from paperlib.tokenizers import WorldCodec, feature_dim, prosody_feature_mask

    cfg = apply_overrides(preset("smoke").codec, {"content_levels": [8, 8]})
    torch.manual_seed(0)
    codec = WorldCodec(cfg)
    mask = torch.from_numpy(prosody_feature_mask(cfg))
    assert mask.sum() == cfg.subframes * (2 + 4)                          # log-F0, c0, 4 aperiodicity bands
    feats = torch.randn(2, 6, cfg.subframes * feature_dim(cfg))
    content = torch.randint(0, 64, (2, 6))
    z = torch.randn(2, 6, cfg.latent_dim)
    other = feats.clone()
    other[..., mask] += 5.0                                               # another prosody, same phonetics
    unscored = torch.tensor([True, True])
    a = codec._reconstruction_loss(z, feats, content, unscored=unscored)
    b = codec._reconstruction_loss(z, other, content, unscored=unscored)
    assert torch.isclose(a, b)
    assert not torch.isclose(codec._reconstruction_loss(z, feats, content), codec._reconstruction_loss(z, other, content))


def test_adapted_decoder_keeps_the_prosody_its_codes_say():
    """With a reference, the prosody features are scored against the reference's decoding of the same codes:
    a decoder identical to the reference has no prosody error, whatever the real features say."""
    import copy

    from paperlib.tokenizers import WorldCodec, feature_dim

    cfg = apply_overrides(preset("smoke").codec, {"content_levels": [8, 8]})
    torch.manual_seed(0)
    codec = WorldCodec(cfg).eval()
    feats = torch.randn(1, 6, cfg.subframes * feature_dim(cfg))
    content = torch.randint(0, 64, (1, 6))
    codes = codec.encode(feats, content)
    moved = feats.clone()
    moved[..., codec.prosody_mask] += 3.0                 # real prosody the codes do not say
    ref = copy.deepcopy(codec)
    with_ref = codec.decoder_loss(feats, codes, content, reference=ref), codec.decoder_loss(moved, codes, content, reference=ref)
    assert torch.isclose(*with_ref)
    assert codec.decoder_loss(moved, codes, content) > codec.decoder_loss(feats, codes, content)

