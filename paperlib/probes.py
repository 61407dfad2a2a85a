"""Tokenizer report: codec resynthesis quality and what the content tokens carry.

Codec: held-out libri_test speech -> WORLD analysis -> codec (8 FSQ codebooks) -> WORLD synthesis; we
report WER (the evaluation ASR), speaker EER of the lazy-informed attacker (resynthesis must keep the
speaker: EER stays low), and the mel-cepstral distance (dB) to the original envelope; "copy-synthesis"
(WORLD analysis/synthesis without the codec) separates vocoder loss from quantization loss.

Content tokens: linear probes (logistic regression) for speaker identity and emotion, on bag-of-token
histograms vs on mean/std log-mel of the same audio. Speaker probe: train_ser speakers, half of each
speaker's utterances to train, half to test; emotion probe: train on train_ser, test on IEMOCAP_test.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .eval import EVAL_DIRS, LIBRI_DIRS, Evaluator, corpus_wer
from .tokenizers import MelFrontEnd, synthesize_features
from .utils import stable_int


def _mcd(a: np.ndarray, b: np.ndarray, n_mcep: int) -> float:
    """Mel-cepstral distance in dB over coded envelopes (excluding c0), frames aligned."""
    ca = a.reshape(a.shape[0] * 8, -1)[:, 3:2 + n_mcep]
    cb = b.reshape(b.shape[0] * 8, -1)[:, 3:2 + n_mcep]
    return float(np.mean(10.0 / np.log(10) * np.sqrt(2 * np.sum((ca - cb) ** 2, axis=1))))


def _decoded_wer(ev, codec, codes: list, contents: list, refs: list[str], n_stages: int | None = None) -> float:
    """WER of acoustic codes decoded to audio (each frame with its content token, for a content-conditioned
    codec; the first ``n_stages`` residual stages, default all) and transcribed by the evaluation ASR."""
    return corpus_wer(refs, ev.transcribe([codec.decode_to_wav(c, t[: len(c)], n_stages=n_stages)
                                           for c, t in zip(codes, contents)]))


def held_out_trials(ws, n_utts: int) -> list[tuple[str, object]]:
    """(dir, Utterance) of the first n_utts held-out libri trial utterances, split evenly over the trial
    dirs (unseen speakers and sentences): the set every intelligibility probe transcribes."""
    trial_dirs = [name for name in LIBRI_DIRS if name != "libri_test_enrolls"]
    return [(name, u) for name in trial_dirs
            for u in sorted(ws.data(name).utts.values(), key=lambda u: u.utt_id)[: n_utts // len(trial_dirs)]]


def trial_codes(ws, codec, trials: list[tuple[str, object]]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Content tokens (T,) and codec codes (T, 8) of each (dir, Utterance) trial, cut to the frames they share;
    each dir's features and content tokens are loaded once."""
    from .stages import aligned_acoustic_codes

    aligned = {name: ws.frame_aligned(name) for name in {n for n, _ in trials}}
    pairs = [aligned_acoustic_codes(codec, *aligned[name][u.utt_id]) for name, u in trials]
    return [c for c, _ in pairs], [a.long() for _, a in pairs]


def pretraining_trials(ws, n_utts: int) -> list[tuple[str, object]]:
    """(dir, Utterance) of n_utts utterances of the LM's own pretraining set, one speaker after another
    (round-robin over speakers, sorted ids): the memorisation ceiling of the generation probe."""
    by_spk: dict[str, list] = {}
    for u in sorted(ws.data("train_pretrain").utts.values(), key=lambda u: u.utt_id):
        by_spk.setdefault(u.speaker, []).append(u)
    queues = [by_spk[s] for s in sorted(by_spk)]
    picked = [q[i] for i in range(max(map(len, queues))) for q in queues if i < len(q)][:n_utts]
    return [("train_pretrain", u) for u in picked]


def codec_report(ws) -> dict:
    from .stages import aligned_acoustic_codes

    ev = Evaluator(ws)
    codec, cfg = ws.codec(), ws.cfg.codec
    out = {}
    resynth, copy, mcds = {}, {}, []
    for name in LIBRI_DIRS:
        feats, toks = ws.world_features(name), ws.tokens(name)
        for utt, f in feats.items():
            content, codes = aligned_acoustic_codes(codec, f, toks[utt]["content"])
            f = f[: len(codes)]
            with torch.no_grad():
                dec = codec.decode(codes[None].long(), content=content[None].long())[0].numpy()
            resynth[(name, utt)] = synthesize_features(dec, cfg)
            copy[(name, utt)] = synthesize_features(f, cfg)
            mcds.append(_mcd(f, dec, cfg.n_mcep))
    keys = sorted(resynth)
    refs = [ws.data(n).utts[u].text for n, u in keys]
    original = {(n, u): w for n in LIBRI_DIRS for u, w in ws.wavs(n).items()}
    for label, wavs in (("original", original), ("copy_synthesis", copy), ("codec_resynthesis", resynth)):
        hyps = ev.transcribe([wavs[k] for k in keys])
        asv = ev.asv_lazy()
        dirs = {n: ws.data(n) for n in EVAL_DIRS if n in LIBRI_DIRS}
        embed = lambda w: asv(torch.from_numpy(w)[None])[0].detach().numpy()
        with torch.no_grad():
            rows = ev._asv_scores(embed, dirs, wavs)
        out[label] = {"WER": corpus_wer(refs, hyps), "EER-L": ev._eer_from_rows(rows)}
    out["codec_resynthesis"]["MCD_dB"] = float(np.mean(mcds))
    out["bitrate_bps"] = float(cfg.n_codebooks * np.log2(np.prod(cfg.fsq_levels)) * 1000 / 48)
    return out


def _probe(x_tr, y_tr, x_te, y_te) -> float:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=0.5))
    model.fit(x_tr, y_tr)
    return float(100 * np.mean(model.predict(x_te) == np.asarray(y_te)))


def content_probes(ws) -> dict:
    enc = ws.content_encoder()
    vocab = enc.vocab_size
    front = MelFrontEnd(ws.cfg.content.n_mels)

    def reps(name):
        toks, wavs = ws.tokens(name), ws.wavs(name)
        hist, mel = {}, {}
        for utt, item in toks.items():
            h = np.bincount(item["content"].long().numpy(), minlength=vocab).astype(np.float32)
            hist[utt] = h / max(1.0, h.sum())
            with torch.no_grad():
                m = front(torch.from_numpy(wavs[utt])[None])[0].numpy()
            mel[utt] = np.concatenate([m.mean(0), m.std(0)])
        return hist, mel

    ser, iem = ws.data("train_ser"), ws.data("IEMOCAP_test")
    ser_hist, ser_mel = reps("train_ser")
    iem_hist, iem_mel = reps("IEMOCAP_test")
    tr, te = [], []
    for spk, utts in ser.by_speaker().items():
        ids = [u.utt_id for u in utts]
        tr += ids[0::2]; te += ids[1::2]
    out = {"chance_speaker": 100.0 / len(ser.speakers), "chance_emotion": 25.0}
    for label, feats in (("tokens", ser_hist), ("log_mel", ser_mel)):
        out[f"speaker_acc_{label}"] = _probe(np.stack([feats[u] for u in tr]), [ser.utts[u].speaker for u in tr],
                                             np.stack([feats[u] for u in te]), [ser.utts[u].speaker for u in te])
    for label, (f_tr, f_te) in (("tokens", (ser_hist, iem_hist)), ("log_mel", (ser_mel, iem_mel))):
        utr, ute = sorted(f_tr), sorted(f_te)
        out[f"emotion_acc_{label}"] = _probe(np.stack([f_tr[u] for u in utr]), [ser.utts[u].emotion for u in utr],
                                             np.stack([f_te[u] for u in ute]), [iem.utts[u].emotion for u in ute])
    return out


def tokenizer_report(ws) -> dict:
    return {"codec": codec_report(ws), "content_probes": content_probes(ws)}


def unprompted_own_speaker(ws, lm, trials: list[tuple[str, object]]) -> tuple[list, torch.Tensor]:
    """The pretraining condition for (dir, Utterance) trials: empty prompts, and each utterance's own speaker
    (the mean speaker-encoder vector of its speaker in its dir) instead of an anonymized one."""
    from .anonymize import Prompt

    no_prompt = Prompt(torch.zeros(0, dtype=torch.long), torch.zeros(0, lm.cfg.n_codebooks, dtype=torch.long), None)
    means = {name: ws.speaker_means(name) for name in {n for n, _ in trials}}
    return [no_prompt] * len(trials), torch.stack([means[name][u.speaker] for name, u in trials])


@torch.no_grad()
def lm_teacher_forced_report(ws, lm_path, n_utts: int = 40, delay: int = 2, history_pad: float = 0.0) -> dict:
    """Per-codebook teacher-forced accuracy / CE of the pretrained LM's Fast AR, on its own training data
    (train_pretrain) and on held-out speakers and sentences (vctk_pool): the gap measures memorisation.

    ``history_pad``: fraction of the acoustic input frames replaced by the PAD frame (seeded), so the
    prediction must come from content and speaker alone (1.0) or from a degraded history: how much the LM
    leans on the acoustic history it will have to supply itself when generating."""
    from .model import collate, interleave
    from .train import load_lm

    lm = load_lm(ws, lm_path)
    out = {"delay": delay, "n_utts": n_utts, "uniform_ce": float(np.log(lm.cfg.codebook_size))}
    if history_pad:
        out["history_pad"] = history_pad
    gen = torch.Generator().manual_seed(0)
    for name in ("train_pretrain", "vctk_pool"):
        toks = ws.tokens(name)
        utts = sorted(toks)[:n_utts]
        items = [interleave(lm.cfg, toks[u]["content"].long(), toks[u]["acoustic"].long(), delay, 0) for u in utts]
        batch = collate(items, torch.stack([toks[u]["speaker"] for u in utts]), [0] * len(items))
        if history_pad:
            batch = lm.pad_acoustic_inputs(batch, history_pad, gen)
        hidden = lm.forward_hidden(batch)
        has_target = batch.acoustic_target[..., 0] >= 0
        targets = batch.acoustic_target[has_target]
        logits = lm.fast_logits(hidden[has_target], targets)
        out[name] = {
            "accuracy": (logits.argmax(-1) == targets).float().mean(0).tolist(),
            "ce": torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none").mean(0).tolist(),
        }
    return out


@torch.no_grad()
def lm_generation_report(ws, lm_path, n_utts: int = 24, seed: int = 0, stages: tuple[int, ...] = (),
                         trials: list[tuple[str, object]] | None = None) -> dict:
    """Free-running generation of held-out LibriSpeech-like trial speech (unseen speakers and sentences;
    or ``trials``, e.g. ``pretraining_trials``), prompted as the baseline anonymizer is (vctk-1fix,
    anonymized speaker vector), then decoded and transcribed: WER at the inference temperature and greedy.
    Codec resynthesis of the same utterances is the ceiling. A cheap go/no-go check before the tables are run."""
    from dataclasses import replace

    from .anonymize import anonymize_codes, load_parts, prompt_pools, prompt_tokens

    parts = load_parts(ws, lm_path, use_sep=False)
    ev = Evaluator(ws)
    pools, ptoks = prompt_pools(ws), prompt_tokens(ws)
    trials = trials if trials is not None else held_out_trials(ws, n_utts)
    utts = [u for _, u in trials]
    contents, codec_codes = trial_codes(ws, parts.codec, trials)
    base = ws.cfg.inference
    refs = [u.text for u in utts]
    out = {"n_utts": len(utts), "prompt": base.prompt_strategy, "delay": base.delay}
    out["codec_resynthesis_WER"] = _decoded_wer(ev, parts.codec, codec_codes, contents, refs)
    for label, temperature in (("sampled", base.temperature), ("greedy", 0.0)):
        cfg = replace(base, temperature=temperature)
        codes = anonymize_codes(parts, cfg, utts, contents, pools, ptoks, seed)
        out[f"{label}_WER"] = _decoded_wer(ev, parts.codec, codes, contents, refs)
        out[f"{label}_temperature"] = temperature
        for k in stages:        # the same generated codes decoded from their first k residual stages only
            out[f"{label}_WER_first_{k}_stages"] = _decoded_wer(ev, parts.codec, codes, contents, refs, n_stages=k)
    return out


@torch.no_grad()
def lm_soft_decoding_report(ws, lm_path, n_utts: int = 24, seed: int = 0, temperatures: tuple[float, ...] = (1.0, 0.7),
                            history: str = "greedy", trials: list[tuple[str, object]] | None = None,
                            prompted: bool = True) -> dict:
    """Is it the discrete sampling that spoils the output? Greedy free-running generation of held-out trial
    speech (as ``lm_generation_report``), then one teacher-forced pass over the generated codes gives the
    Fast AR's distribution of every codebook of every frame (conditioned, as in generation, on the greedy
    codes before it). Decoding the *expected* codec latent under those distributions, sum_k proj_out_k(E[q_k]),
    instead of the latent of the argmax codes, keeps what the LM knows without committing to one code:
    WER of the greedy codes vs of the expected latent (at each temperature), next to codec resynthesis.

    ``history="real"``: the pass runs over the codec's codes of the real utterance instead (oracle history:
    every frame is predicted from the true acoustics before it, as in teacher-forced training). Then also
    the WER of each frame's greedy Fast-AR codes given the Slow AR state of the real history, and of the
    teacher-forced argmax (each codebook given the real codebooks before it in the frame): what the LM's
    per-frame predictions are worth once exposure bias (its own errors fed back) is taken away.
    ``trials``: other (dir, Utterance) pairs than the held-out trials (e.g. ``pretraining_trials``);
    ``prompted=False``: no prompt and each utterance's own speaker (the pretraining condition)."""
    if history not in ("greedy", "real"):
        raise ValueError(f"history must be 'greedy' or 'real', not {history!r}")
    from dataclasses import replace

    from .anonymize import generate, load_parts, prompt_pools, prompt_tokens, prompts_and_speakers
    from .model import collate, combine_streams, interleave

    parts = load_parts(ws, lm_path, use_sep=False)
    lm, codec, ev = parts.lm.eval(), parts.codec, Evaluator(ws)
    cfg = replace(ws.cfg.inference, temperature=0.0)
    trials = trials if trials is not None else held_out_trials(ws, n_utts)
    utts = [u for _, u in trials]
    contents, real = trial_codes(ws, codec, trials)
    prompts, speakers = (prompts_and_speakers(parts, cfg, utts, prompt_pools(ws), prompt_tokens(ws), seed) if prompted
                         else unprompted_own_speaker(ws, lm, trials))
    greedy = (generate(lm, prompts, contents, speakers, cfg, False, [stable_int(seed, u.utt_id) for u in utts])
              if history == "greedy" else real)
    items, starts = [], []
    for p, c, g in zip(prompts, contents, greedy):
        content, acoustic, start = combine_streams(lm.cfg, p.content, p.acoustic, c.long(), g, use_sep=False)
        items.append(interleave(lm.cfg, content, acoustic, cfg.delay, loss_from=start))
        starts.append(start)
    batch = collate(items, speakers, starts)
    frames = batch.acoustic_target[..., 0] >= 0                       # the source frames, utterance by utterance
    hidden = lm.forward_hidden(batch)[frames]
    logits = lm.fast_logits(hidden, batch.acoustic_target[frames])                              # (N, 8, V)
    refs = [u.text for u in utts]
    lengths = [len(g) for g in greedy]
    agree = float((logits.argmax(-1) == batch.acoustic_target[frames]).float().mean())
    out = {"n_utts": len(utts), "prompt": cfg.prompt_strategy if prompted else None, "delay": cfg.delay, "history": history,
           "codec_resynthesis_WER": _decoded_wer(ev, codec, real, contents, refs)}
    if history == "greedy":
        out.update(argmax_agrees_with_generation=agree, greedy_codes_WER=_decoded_wer(ev, codec, greedy, contents, refs))
    else:
        per_frame = lm.sample_frame(hidden, 0.0, 1.0, [torch.Generator()] * len(hidden))
        out.update(teacher_forced_accuracy=agree,
                   oracle_history_greedy_accuracy=float((per_frame == batch.acoustic_target[frames]).float().mean()),
                   # codebook 0 has no earlier codebook in its frame: both passes must pick the same code
                   codebook0_greedy_equals_teacher_forced=float((per_frame[:, 0] == logits[:, 0].argmax(-1)).float().mean()),
                   oracle_history_greedy_WER=_decoded_wer(ev, codec, list(per_frame.split(lengths)), contents, refs),
                   teacher_forced_argmax_WER=_decoded_wer(ev, codec, list(logits.argmax(-1).split(lengths)),
                                                          contents, refs))
    fsq_points = codec.quantizer.fsq.quantized_from_codes(torch.arange(codec.codebook_size))       # (V, levels)
    for temperature in temperatures:
        expected = torch.softmax(logits / temperature, -1) @ fsq_points                           # (N, 8, levels)
        latent = codec.quantizer.latent_from_stages(expected.movedim(1, 0))                         # (N, latent)
        wavs = [synthesize_features(codec.features_from_latent(z[None], c[None, : len(z)])[0].numpy(), codec.cfg)
                for z, c in zip(latent.split(lengths), contents)]
        out[f"expected_latent_T{temperature:g}_WER"] = corpus_wer(refs, ev.transcribe(wavs))
    return out


@torch.no_grad()
def lm_self_continuation_report(ws, lm_path, n_utts: int = 24, seed: int = 0) -> dict:
    """Free-running generation under the exact pretraining condition: utterances of the LM's own
    pretraining set, their own speaker's embedding, no prompt. Reports WER (greedy and sampled) and how
    often the generated codebook-0 code equals the codec's code of the real utterance, frame by frame, next
    to the teacher-forced rate: the gap is what feeding back its own output costs the LM."""
    from dataclasses import replace

    from .anonymize import generate
    from .train import load_lm

    lm, codec, ev = load_lm(ws, lm_path), ws.codec(), Evaluator(ws)
    toks = ws.tokens("train_pretrain")
    trials = pretraining_trials(ws, n_utts)
    utts = [u for _, u in trials]
    sources = [toks[u.utt_id]["content"] for u in utts]
    real = [toks[u.utt_id]["acoustic"].long() for u in utts]
    prompts, speakers = unprompted_own_speaker(ws, lm, trials)
    refs = [u.text for u in utts]
    out = {"n_utts": len(utts), "delay": ws.cfg.inference.delay}
    for label, temperature in (("greedy", 0.0), ("sampled", ws.cfg.inference.temperature)):
        cfg = replace(ws.cfg.inference, temperature=temperature)
        codes = generate(lm, prompts, sources, speakers, cfg, False,
                         [stable_int(seed, u.utt_id) for u in utts])
        same = sum(int((c[:, 0] == r[: len(c), 0]).sum()) for c, r in zip(codes, real))
        out[f"{label}_codebook0_match"] = same / sum(len(c) for c in codes)
        out[f"{label}_WER"] = _decoded_wer(ev, codec, codes, sources, refs)
    return out


HISTORY_PAD = (0.0, 0.3, 1.0)


def lm_history_report(ws, lm_path, n_utts: int = 24, n_teacher_forced: int = 40) -> dict:
    """What the LM predicts from: teacher-forced reports with 0 / 30 / 100% of the acoustic input frames
    replaced by PAD, and self-continuation of its own utterances. Each part cached by checkpoint under
    cache/<scale>/diagnostics/ (shared with scripts/lm_memorisation.py)."""
    from .utils import cached_json

    cache = ws.cache / "diagnostics"
    cache.mkdir(parents=True, exist_ok=True)
    return {
        "teacher_forced_history_pad": {str(f): cached_json(
            cache / f"{lm_path.stem}-tf-pad{f}-n{n_teacher_forced}.json",
            lambda f=f: lm_teacher_forced_report(ws, lm_path, n_utts=n_teacher_forced, history_pad=f))
            for f in HISTORY_PAD},
        "self_continuation": cached_json(cache / f"{lm_path.stem}-self-continuation-n{n_utts}.json",
                                         lambda: lm_self_continuation_report(ws, lm_path, n_utts)),
    }


def cached_lm_report(ws, lm_path) -> dict:
    """Teacher-forced report + free-running generation report of a pretrained LM (cached by checkpoint),
    and what it predicts from (``lm_history_report``)."""
    from .utils import cached_json

    report = cached_json(ws.cache / f"lm_report-{lm_path.stem}.json", lambda: {
        **lm_teacher_forced_report(ws, lm_path), "generation": lm_generation_report(ws, lm_path)})
    # self-continuation of as many utterances as the generation report has held-out ones (few at smoke)
    n_utts = report["generation"]["n_utts"]
    return {**report, "acoustic_history": lm_history_report(ws, lm_path, n_utts=n_utts)}


def acoustic_code_statistics(ws, train: str = "train_pretrain", test: str = "vctk_pool", smoothing: float = 5.0) -> dict:
    """How predictable are the codec's codes, without any LM? Per codebook, on held-out ``test`` with counts
    from ``train`` (add-``smoothing`` towards the unigram): cross-entropy (nats) of the unigram, of
    P(code | previous code of the same codebook) and of P(code | content token of the same frame), and how
    often a code repeats between consecutive frames. Uniform = log(codebook size)."""
    def stack(name):
        toks = ws.tokens(name)
        return (np.concatenate([t["content"].long().numpy() for t in toks.values()]),
                [t["acoustic"].long().numpy() for t in toks.values()])

    content_tr, acoustic_tr = stack(train)
    content_te, acoustic_te = stack(test)
    size = int(np.prod(ws.cfg.codec.fsq_levels))
    vocab = ws.content_encoder().vocab_size
    a_tr, a_te = np.concatenate(acoustic_tr), np.concatenate(acoustic_te)
    pairs = lambda utts, k: (np.concatenate([u[:-1, k] for u in utts]), np.concatenate([u[1:, k] for u in utts]))
    out = {"uniform_ce": float(np.log(size)), "train": train, "test": test, "codebooks": []}
    for k in range(a_tr.shape[1]):
        unigram = np.bincount(a_tr[:, k], minlength=size) + 1.0
        unigram /= unigram.sum()

        def conditional(context_tr, target_tr, n_context):
            counts = np.zeros((n_context, size))
            np.add.at(counts, (context_tr, target_tr), 1)
            return (counts + smoothing * unigram) / (counts.sum(1, keepdims=True) + smoothing)

        prev_tr, next_tr = pairs(acoustic_tr, k)
        prev_te, next_te = pairs(acoustic_te, k)
        by_prev = conditional(prev_tr, next_tr, size)
        by_content = conditional(content_tr, a_tr[:, k], vocab)
        out["codebooks"].append({
            "unigram_ce": float(-np.log(unigram[a_te[:, k]]).mean()),
            "previous_code_ce": float(-np.log(by_prev[prev_te, next_te]).mean()),
            "content_token_ce": float(-np.log(by_content[content_te, a_te[:, k]]).mean()),
            "repeat_rate": float((prev_te == next_te).mean()),
        })
    return out


def content_decodability(ws, lookaheads: tuple[int, ...] = (0, 3), n_utts: int = 24, steps: int = 1500,
                         seed: int = 0) -> dict:
    """How much of what is said the content tokens alone carry, frame by frame: a small causal conv net
    trained (on the pretraining role) to map each frame's content token, seen ``L`` frames ahead, to the
    codec's WORLD features, then WER of its output on held-out libri trial utterances. Every acoustic
    token the LM generates is in effect a function of these tokens plus speaker and history, so this is
    a rough ceiling for a deterministic content -> acoustics mapping (no speaker prompt, averaged prosody)."""
    import torch.nn.functional as F
    from torch import nn
    from tqdm import tqdm

    from .tokenizers import CausalConv, ResStack, feature_weights
    from .train_tokenizers import random_crops, warmup_cosine_lr

    enc, cfg = ws.content_encoder(), ws.cfg.codec
    pairs = ws.frame_aligned("train_pretrain")
    train = [pairs[u] for u in sorted(pairs)]
    train_feats, train_contents = [f for f, _ in train], [c.numpy() for _, c in train]
    trials = held_out_trials(ws, n_utts)
    aligned = {name: ws.frame_aligned(name) for name in {n for n, _ in trials}}
    test = [aligned[name][u.utt_id] for name, u in trials]
    refs = [u.text for _, u in trials]
    allf = torch.from_numpy(np.concatenate(train_feats))
    mean, std = allf.mean(0), allf.std(0) + 1e-3
    weight = torch.from_numpy(feature_weights(cfg))
    ev = Evaluator(ws)
    out = {"n_utts": len(test), "steps": steps}
    for lookahead in lookaheads:
        torch.manual_seed(seed)
        net = nn.Sequential(CausalConv(len(enc.cfg.fsq_levels), 256, 3), ResStack(256, 4), nn.Conv1d(256, allf.shape[1], 1))

        def predict(content: torch.Tensor) -> torch.Tensor:       # (B, T) ids -> (B, T, F) normalised
            x = enc.fsq.quantized_from_codes(content.long())
            if lookahead:
                x = torch.cat([x[:, lookahead:], x[:, -1:].expand(-1, lookahead, -1)], 1)
            return net(x.transpose(1, 2)).transpose(1, 2)

        opt = torch.optim.AdamW(net.parameters(), lr=2e-3)
        for step in tqdm(range(steps), desc=f"content-only decoder L={lookahead}", leave=False):
            _, feats, contents = random_crops(np.random.default_rng([seed, step]), train_feats, 16, train_contents)
            for group in opt.param_groups:
                group["lr"] = warmup_cosine_lr(2e-3, step, steps)
            target = (torch.from_numpy(feats) - mean) / std * weight
            loss = F.mse_loss(predict(torch.from_numpy(contents)), target)
            opt.zero_grad(); loss.backward(); opt.step()
        with torch.no_grad():
            wavs = [synthesize_features((predict(c[None])[0] / weight * std + mean).numpy(), cfg) for _, c in test]
        out[f"lookahead_{lookahead}"] = {"WER": corpus_wer(refs, ev.transcribe(wavs)), "train_mse": loss.item()}
    return out


def codec_stage_wer(ws, stages: tuple[int, ...] = (1, 2, 4, 8), n_utts: int = 24) -> dict:
    """WER of codec resynthesis of held-out libri trial utterances decoded from the first k residual stages
    (k = 0: a content-conditioned codec's content tokens alone), and with every utterance's codes replaced
    by another utterance's (other speaker and sentence; tiled to length): a codec whose decoder leans on
    the content tokens stays intelligible then, one that needs the codes to be right does not."""
    codec, ev = ws.codec(), Evaluator(ws)
    trials = held_out_trials(ws, n_utts)
    contents, codes = trial_codes(ws, codec, trials)
    refs = [u.text for _, u in trials]
    ks = tuple(stages) + ((0,) if codec.cfg.content_conditioned else ())
    out = {"n_utts": len(codes)}
    for k in ks:
        out[f"stages_{k}"] = _decoded_wer(ev, codec, codes, contents, refs, n_stages=k)
    shift = len(codes) // 2 + 1           # the other half of the list: other speaker, other sentence
    swapped = []
    for i, content in enumerate(contents):
        other = codes[(i + shift) % len(codes)]
        swapped.append(other.repeat(-(-len(content) // len(other)), 1)[: len(content)])
    out["other_utterance_codes"] = _decoded_wer(ev, codec, swapped, contents, refs)
    return out
