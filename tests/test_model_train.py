import os
import subprocess
import sys

import pytest
import torch

from paperlib.checkpoint import load_checkpoint
from paperlib.config import apply_overrides, preset
from paperlib.model import CONTENT_PAD, CONTENT_SEP, CodecLM, collate, combine_streams, interleave
from paperlib.tokenizers import FSQ, ResidualFSQ
from conftest import ROOT


def test_residual_fsq_decode_matches_forward_and_stages_refine():
    torch.manual_seed(0)
    rfsq = ResidualFSQ(dim=16, n_stages=4, levels=(5, 5, 5))
    z = torch.randn(2, 7, 16)
    recon, codes = rfsq(z)
    assert codes.shape == (2, 7, 4) and codes.max() < rfsq.codebook_size
    assert torch.allclose(rfsq.decode(codes), recon, atol=1e-5)
    # quantizer dropout: a sample decoded from its first k stages uses only those stages' codes
    first_one, _ = rfsq(z, n_active=torch.tensor([1, 1]))
    assert torch.allclose(first_one, rfsq.proj_out[0](rfsq.fsq.quantized_from_codes(codes[..., 0])), atol=1e-5)


def test_fsq_codes_roundtrip():
    fsq = FSQ((8, 5, 5, 5))
    assert fsq.codebook_size == 1000
    q, codes = fsq(torch.randn(64, 4) * 3)
    assert codes.min() >= 0 and codes.max() < 1000
    assert torch.allclose(fsq.quantized_from_codes(codes), q, atol=1e-6)
    all_codes = torch.arange(1000)
    assert torch.equal(fsq.codes_from_quantized(fsq.quantized_from_codes(all_codes)), all_codes)


def test_interleave_layout_and_targets():
    cfg = apply_overrides(preset("smoke").lm, {"content_vocab": 50, "codebook_size": 20, "prosody_dim": 0})
    prompt_c, prompt_a = torch.arange(3), torch.arange(24).reshape(3, 8) % 20
    src_c, src_a = torch.arange(10, 14), (torch.arange(32).reshape(4, 8) + 5) % 20
    content, acoustic, start = combine_streams(cfg, prompt_c, prompt_a, src_c, src_a, use_sep=True)
    assert start == 4 and content[3] == cfg.content_vocab + CONTENT_SEP
    d = 2
    seq = interleave(cfg, content, acoustic, delay=d, loss_from=start)
    assert len(seq["content"]) == 2 * (len(content) + d)
    # C_t (even slot) predicts acoustic frame t - d, only for source frames
    for t in range(len(content) + d):
        tgt = seq["acoustic_target"][2 * t]
        if start <= t - d < len(content):
            assert torch.equal(tgt, acoustic[t - d])
        else:
            assert (tgt == -100).all()
        # A_t (odd slot) holds frame t - d
        if t - d >= 0:
            assert torch.equal(seq["acoustic"][2 * t + 1], acoustic[t - d])
    # semantic head at A_t predicts c_{t+1} for source frames
    assert seq["content_target"][2 * start + 1] == content[start + 1]
    assert seq["content_target"][2 * (start - 2) + 1] == -100
    # the prosody stream: frame t's row at C_t, zeros at [SEP], at A slots and past the stream's end
    from paperlib.model import combine_prosody

    cfg_p = apply_overrides(cfg, {"prosody_dim": 3})
    rows = combine_prosody(torch.randn(3, 3), torch.randn(4, 3), use_sep=True)
    seq = interleave(cfg_p, content, acoustic, delay=d, loss_from=start, prosody=rows)
    assert torch.equal(seq["prosody"][0::2][: len(content)], rows) and rows[3].abs().sum() == 0
    assert seq["prosody"][1::2].abs().sum() == 0 and seq["prosody"][0::2][len(content):].abs().sum() == 0
    with pytest.raises(ValueError, match="prosody"):
        interleave(cfg_p, content, acoustic, delay=d, loss_from=start)


def test_lm_overfits_one_batch():
    torch.manual_seed(0)
    cfg = apply_overrides(preset("smoke").lm, {"content_vocab": 30, "codebook_size": 16})
    lm = CodecLM(cfg)
    c = torch.randint(0, 30, (12,)); a = torch.randint(0, 16, (12, 8))
    batch = collate([interleave(cfg, c, a, 1, 0, prosody=torch.randn(12, cfg.prosody_dim))],
                    torch.randn(1, cfg.speaker_dim), [0])
    opt = torch.optim.Adam(lm.parameters(), 3e-3)
    first = None
    for _ in range(60):
        loss = lm(batch)["loss"]
        first = first or loss.item()
        opt.zero_grad(); loss.backward(); opt.step()
    assert float(loss) < 0.5 * first


def test_pretraining_resume_matches_uninterrupted(smoke_ws, tmp_path):
    from paperlib.train import pretrain

    ws = smoke_ws
    ws.cfg = apply_overrides(ws.cfg, {"train": {"steps": 8, "ckpt_every": 4}})
    full = pretrain(ws, path=tmp_path / "full.pt")
    pretrain(ws, path=tmp_path / "resumed.pt", stop_after=4)         # "killed" after the step-4 checkpoint
    assert load_checkpoint(tmp_path / "resumed.pt")["step"] == 4
    pretrain(ws, path=tmp_path / "resumed.pt")
    a, b = load_checkpoint(full)["model"], load_checkpoint(tmp_path / "resumed.pt")["model"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_trainers_run_on_their_configured_threads_whatever_the_environment(smoke_ws, monkeypatch):
    """On CPU a trained model depends on the thread count (the mini LM pretrained on 1 and on 2 threads differs
    from step 50 on), so the builders pin each trainer's count from its config, whatever torch's setting (e.g.
    OMP_NUM_THREADS=1 for a background job), and restore that setting afterwards, also when training fails."""
    import paperlib.stages as stages
    import paperlib.train as train
    from paperlib.stages import Workspace

    seen = {}

    class Stop(Exception):
        pass

    def recorder(name):
        def fake(*args, **kwargs):
            seen[name] = torch.get_num_threads()
            raise Stop
        return fake

    monkeypatch.setattr(stages, "train_codec", recorder("codec"))
    monkeypatch.setattr(train, "run_training", recorder("pretrain"))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        # other seeds: nothing cached, so the builders must train
        ws = Workspace("smoke", apply_overrides(smoke_ws.cfg, {"codec": {"seed": 977}, "train": {"seed": 977}}))
        with pytest.raises(Stop):
            ws.codec()
        assert seen["codec"] == 2 and torch.get_num_threads() == 1
        ws = Workspace("smoke", apply_overrides(smoke_ws.cfg, {"train": {"seed": 977, "threads": 1}}))
        torch.set_num_threads(2)
        with pytest.raises(Stop):
            train.pretrain(ws)
        assert seen["pretrain"] == 1 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_torchrun_ddp_two_processes(smoke_ws, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                          "29533", "-m", "paperlib.train", "pretrain", "--scale", "smoke", "--steps", "3",
                          "--ckpt", str(tmp_path / "ddp.pt")], cwd=ROOT, capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert load_checkpoint(tmp_path / "ddp.pt")["step"] == 3


def test_export_has_baseline_parameters(smoke_ws, tmp_path):
    """Zero inference overhead: a distillation-finetuned export has exactly the baseline's tensors."""
    from paperlib.bundle import _deployable
    from paperlib.train import finetune, load_lm, pretrain

    ws = smoke_ws
    shipped = lambda path: _deployable(load_lm(ws, path).state_dict(), "lm")    # what the bundle ships
    base = shipped(pretrain(ws))
    ft = apply_overrides(ws.cfg.finetune, {"pairing": "neu_emo", "use_sep": True, "distill": "frame_aco",
                                           "epochs": 1})
    tuned_path = finetune(ws, ft)
    assert "head" in load_checkpoint(tuned_path)                     # trained with the head...
    tuned = shipped(tuned_path)                                      # ...which the export drops
    assert {k: v.shape for k, v in base.items()} == {k: v.shape for k, v in tuned.items()}
    assert any(not torch.equal(base[k], tuned[k]) for k in base)     # and it did change the weights


def test_rope_tables_made_under_inference_mode_still_train():
    from paperlib.model import _ROPE_TABLES, rope

    _ROPE_TABLES.clear()
    with torch.inference_mode():                 # generation first (e.g. a notebook), training afterwards
        rope(torch.randn(1, 2, 3, 8), torch.arange(3)[None])
    x = torch.randn(1, 2, 5, 8, requires_grad=True)
    rope(x, torch.arange(5)[None]).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_emotion_head_on_gathered_slots_equals_masked_full_sequence():
    """The distillation head gathers the selected slots (Sem/Aco) into a compact sequence; it must compute
    what a causal transformer over the full sequence computes when the other slots are masked out."""
    from paperlib.train import EmotionHead

    torch.manual_seed(0)
    head = EmotionHead(32, 8).eval()
    hidden = torch.randn(3, 11, 32)
    select = torch.rand(3, 11) > 0.5
    select[:, 0] = True
    full_positions = torch.arange(11)[None].expand(3, -1)
    masked = head.out(head.transformer(hidden, full_positions, select))
    with torch.no_grad():
        compact = head(hidden, select)
    torch.testing.assert_close(compact[select], masked[select].detach(), atol=1e-5, rtol=1e-4)


def test_same_speaker_pairs_and_code_swap():
    """Code swapping (codec.code_swap_fraction) decodes a sample from its partner's codes: the partner must be
    another utterance of the same speaker, and a swapped sample's loss must see the partner's latent."""
    import numpy as np

    from paperlib.tokenizers import WorldCodec, feature_dim
    from paperlib.train_tokenizers import random_crops

    feats = [np.full((5, 3), i, dtype=np.float32) for i in range(6)]
    speakers = ["a", "a", "b", "b", "c", "c"]
    idx, _, _, partners, _ = random_crops(np.random.default_rng(0), feats, 6, speakers=speakers)
    assert [speakers[idx[j]] for j in partners] == [speakers[i] for i in idx]
    assert all(idx[j] != i for i, j in zip(idx, partners))
    cfg = apply_overrides(preset("smoke").codec, {"content_levels": [4, 4], "quantizer_dropout": 0.0,
                                                  "code_swap_fraction": 1.0})
    torch.manual_seed(0)
    codec = WorldCodec(cfg)
    x = torch.randn(2, 12, cfg.subframes * feature_dim(cfg))
    content = torch.randint(0, 16, (2, 12))
    plain = codec.loss(x, torch.Generator().manual_seed(0), content)
    swapped = codec.loss(x, torch.Generator().manual_seed(0), content, partner=torch.tensor([1, 0]))
    never = codec.loss(x, torch.Generator().manual_seed(0), content, partner=torch.tensor([0, 1]))
    assert torch.isclose(plain, never) and not torch.isclose(plain, swapped)
    with pytest.raises(ValueError, match="content_conditioned"):     # codes alone cannot survive a swap
        WorldCodec(apply_overrides(cfg, {"content_conditioned": False}))


def test_content_conditioned_codec_needs_and_uses_content_tokens():
    from paperlib.tokenizers import WorldCodec, feature_dim

    cfg = apply_overrides(preset("smoke").codec, {"content_levels": [8, 8]})
    torch.manual_seed(0)
    codec = WorldCodec(cfg).eval()
    feats = torch.randn(1, 10, cfg.subframes * feature_dim(cfg))
    content = torch.randint(0, 64, (1, 10))
    with pytest.raises(ValueError, match="content-conditioned"):
        codec.encode(feats)
    codes = codec.encode(feats, content)
    with torch.no_grad():
        a = codec.decode(codes, content=content)
        b = codec.decode(codes, content=(content + 1) % 64)
        alone = codec.decode(codes, n_stages=0, content=content)
    assert a.shape == feats.shape and not torch.allclose(a, b)       # the decoder reads the content tokens
    assert not torch.allclose(a, alone)                               # ... and the codes
    codec.train()
    loss = codec.loss(feats, torch.Generator().manual_seed(0), content=content)
    loss.backward()
    assert codec.content_to_decoder.conv.weight.grad.abs().sum() > 0


def test_content_encoder_trains_on_phone_labels(tmp_path):
    """The dense target reaches the quantized tokens; utterances without an alignment train on CTC alone."""
    import numpy as np

    from paperlib.phones import PHONES
    from paperlib.train_tokenizers import train_content_encoder

    cfg = apply_overrides(preset("smoke").content, {"steps": 2, "teacher": []})
    wavs = [np.random.default_rng(i).standard_normal(768 * 12).astype(np.float32) * 0.1 for i in range(3)]
    phones = [np.random.default_rng(i).integers(0, len(PHONES), (12, 4)).astype(np.int8) for i in range(2)] + [None]
    with pytest.raises(ValueError, match="phone labels"):
        train_content_encoder(wavs, ["a b", "c", "d e"], phones[:2], cfg, tmp_path / "c.pt")
    enc = train_content_encoder(wavs, ["a b", "c", "d e"], phones, cfg, tmp_path / "c.pt")
    q = enc.ctc_logits(torch.from_numpy(wavs[0])[None])[2]
    assert enc.phone_logits(q).shape == (1, 12, 4, len(PHONES))
    init = train_content_encoder(wavs, ["a b", "c", "d e"], phones, apply_overrides(cfg, {"steps": 0}), tmp_path / "d.pt")
    assert not torch.equal(init.phone_head[0].weight, enc.phone_head[0].weight)


def test_cache_keys_follow_the_recipe():
    from paperlib.utils import config_hash

    codec = preset("mini").codec
    assert config_hash(apply_overrides(codec, {"code_swap_fraction": 0.0})) != config_hash(codec)
    content = preset("mini").content
    assert config_hash(apply_overrides(content, {"phone_weight": 0.5})) != config_hash(content)
    evaluation = preset("mini").eval     # the attackers' recipe keys every system's scores
    assert config_hash(apply_overrides(evaluation, {"asv_epochs": evaluation.asv_epochs + 5})) != config_hash(evaluation)
    train = preset("mini").train          # the thread count, once it differs from the recipe's, is part of the key
    assert config_hash(apply_overrides(train, {"threads": 1})) != config_hash(train)
    assert config_hash(apply_overrides(train, {"threads": 2})) == config_hash(train)



def test_decoder_adaptation_trains_the_decoder_only_and_resumes(tmp_path):
    """adapt_decoder finetunes a copy: every decoder weight moves, nothing else does (so the tokens, which
    the encoder makes, stay valid), a finished checkpoint is loaded instead of retrained, and features,
    contents and generated codes that are not frame-aligned are refused."""
    import copy

    import numpy as np

    from paperlib.tokenizers import DECODER_PREFIXES, WorldCodec, feature_dim
    from paperlib.train_tokenizers import adapt_decoder

    cfg = apply_overrides(preset("smoke").codec, {"content_levels": [4, 4]})
    torch.manual_seed(0)
    codec = WorldCodec(cfg).eval()
    before = copy.deepcopy(codec.state_dict())
    rng = np.random.default_rng(0)
    feats = [rng.standard_normal((20 + i, cfg.subframes * feature_dim(cfg))).astype(np.float32) for i in range(3)]
    contents = [rng.integers(0, 16, 20 + i) for i in range(3)]
    generated = [rng.integers(0, codec.codebook_size, (20 + i, 2, cfg.n_codebooks)) for i in range(3)]
    dcfg = apply_overrides(preset("smoke").decoder_adapt, {"steps": 4, "lr": 1e-2})
    speakers = ["a", "a", "b"]
    adapted = adapt_decoder(codec, feats, contents, generated, dcfg, tmp_path / "decoder.pt", speakers, ckpt_every=2)
    assert all(torch.equal(v, codec.state_dict()[k]) for k, v in before.items())      # the original is untouched
    for name, p in adapted.named_parameters():
        assert torch.equal(p, before[name]) != name.startswith(DECODER_PREFIXES), name
    x, c = torch.from_numpy(feats[0])[None], torch.from_numpy(contents[0])[None]
    assert torch.equal(adapted.encode(x, c), codec.encode(x, c))
    again = adapt_decoder(codec, feats, contents, generated, dcfg, tmp_path / "decoder.pt", speakers)
    assert all(torch.equal(v, adapted.state_dict()[k]) for k, v in again.state_dict().items())
    with torch.no_grad():      # a builder may first be called from inference code
        under_no_grad = adapt_decoder(codec, feats, contents, generated, dcfg, tmp_path / "no_grad.pt", speakers)
    assert all(torch.equal(v, adapted.state_dict()[k]) for k, v in under_no_grad.state_dict().items())
    with pytest.raises(ValueError, match="frame-aligned"):
        adapt_decoder(codec, feats, [c[:-1] for c in contents], generated, dcfg, tmp_path / "other.pt", speakers)
    with pytest.raises(ValueError, match="speaker of every utterance"):
        adapt_decoder(codec, feats, contents, generated, dcfg, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"code_swap_fraction must be in \[0, 1\]"):
        adapt_decoder(codec, feats, contents, generated, apply_overrides(dcfg, {"code_swap_fraction": 1.5}),
                      tmp_path / "other.pt", speakers)


def test_code_swap_partners_are_another_utterance_of_the_same_speaker():
    """Decoder adaptation's swapped crops read the codes of another utterance of the same speaker, cut or
    repeated to the utterance's own length; a speaker with one utterance keeps its own."""
    import numpy as np

    from paperlib.train_tokenizers import same_speaker_partner_codes

    generated = [np.full((n, 1, 2), i) for i, n in enumerate([5, 9, 3, 4])]
    speakers = ["a", "a", "a", "b"]
    partners = same_speaker_partner_codes(generated, speakers, seed=0)
    assert [len(p) for p in partners] == [5, 9, 3, 4]
    for i, p in enumerate(partners[:3]):
        (source,) = np.unique(p)
        assert source != i and speakers[source] == speakers[i]
    assert np.array_equal(partners[3], generated[3])
    assert np.array_equal(partners[1][:, 0, 0], np.resize(generated[int(partners[1][0, 0, 0])][:, 0, 0], 9))


def test_anonymized_outputs_are_keyed_by_the_anonymizer_decoder(smoke_ws):
    from paperlib.stages import Workspace
    from paperlib.systems import load_system, system_hash

    other = Workspace("smoke", apply_overrides(smoke_ws.cfg, {"decoder_adapt": {"steps": 11}}))
    off = Workspace("smoke", apply_overrides(smoke_ws.cfg, {"decoder_adapt": {"enabled": False}}))
    keys = {system_hash(w, load_system(w, "table2/0_baseline")) for w in (smoke_ws, other, off)}
    assert len(keys) == 3
    assert off.anonymizer_codec() is off.codec() and off.anonymizer_codec_key() == off.codec_path().stem


def test_factorized_content_embedding_reads_digits():
    """LMConfig.factorized_content: a content token is the sum of its FSQ digits' embeddings (PAD/SEP apart),
    so two tokens that differ in one digit (e.g. the prosody digit) differ by that digit's embeddings only."""
    from paperlib.config import LMConfig
    from paperlib.model import CodecLM

    lm = CodecLM(LMConfig(content_vocab=40, content_levels=(8, 5), factorized_content=True))
    a, b = lm.embed_content(torch.tensor([3 + 8 * 1])), lm.embed_content(torch.tensor([3 + 8 * 4]))
    d = lm.content_digit_emb[1]
    assert torch.allclose(a - b, d(torch.tensor([1])) - d(torch.tensor([4])), atol=1e-6)
    pad, sep = lm.embed_content(torch.tensor([40, 41]))
    assert torch.allclose(pad, lm.content_emb.weight[0]) and torch.allclose(sep, lm.content_emb.weight[1])



def test_lm_trains_on_the_prosody_stream(smoke_ws, monkeypatch):
    """An LM with ``prosody_dim`` gets each utterance's prosody rows at its content slots in pretraining (cached
    per utterance, one row per content token), and its loss reaches the projection that reads them."""
    import numpy as np

    from paperlib.prosody import PROSODY_DIM
    from paperlib.train import PretrainData, lm_config

    ws = smoke_ws
    monkeypatch.setattr(ws, "cfg", apply_overrides(ws.cfg, {"lm": {"prosody_dim": PROSODY_DIM}}))
    toks = ws.tokens("train_pretrain")
    for item in toks.values():
        assert item["prosody"].shape == (len(item["content"]), PROSODY_DIM)
    assert any(float(item["prosody"][:, 1].max()) > 0.6 for item in toks.values())     # voiced frames exist
    d = ws.data("train_pretrain")
    data = PretrainData(lm_config(ws), toks, {u: d.utts[u].speaker for u in toks}, ws.speaker_means("train_pretrain"),
                        pair_fraction=0.5)
    batch, _ = data.batch(np.random.default_rng(0), 4)
    content_slots = ~batch.is_acoustic_slot & batch.key_mask
    assert batch.prosody.shape[-1] == PROSODY_DIM and batch.prosody[content_slots].abs().sum() > 0
    assert batch.prosody[batch.is_acoustic_slot].abs().sum() == 0
    lm = CodecLM(lm_config(ws))
    lm(batch)["loss"].backward()
    assert lm.prosody_proj.weight.grad.abs().sum() > 0
    # level augmentation: the same utterances 6 dB up, re-tokenized; the stream's level row says so
    louder = ws.gain_tokens("train_pretrain", 6.0)
    assert louder.keys() == toks.keys()
    utt = sorted(toks)[0]
    n = min(len(louder[utt]["content"]), len(toks[utt]["content"]))
    speech = toks[utt]["prosody"][:n, 0] > -1.0
    assert torch.allclose(louder[utt]["prosody"][:n, 0][speech] - toks[utt]["prosody"][:n, 0][speech],
                          torch.tensor(0.3), atol=0.01)
    assert louder[utt]["acoustic"].shape == (len(louder[utt]["content"]), 8)
