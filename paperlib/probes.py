"""Tokenizer and LM reports: what the tokens carry, and whether the anonymizer can speak.

Codec: held-out libri_test speech -> WORLD analysis -> codec -> WORLD synthesis: WER (the evaluation ASR),
speaker EER of the lazy-informed attacker (resynthesis must keep the speaker) and mel-cepstral distance;
"copy-synthesis" (WORLD without the codec) separates vocoder loss from quantization loss. Resynthesis from
the first k residual stages, from content alone, and from another utterance's codes: the last is what an
LM's wrong codes cost (near the content-only WER = they can no longer make the speech unintelligible).

Content tokens: quarter-phone accuracy of the encoder's phone head on held-out speakers (and on its own
training utterances: the gap is memorisation); linear probes (logistic regression) for speaker identity
and emotion on bag-of-token histograms vs on mean/std log-mel of the same audio. Speaker probe: train_ser
speakers, half of each speaker's utterances to train, half to test; emotion probe: train on train_ser,
test on IEMOCAP_test.

LM: teacher-forced per-codebook accuracy on its own and on held-out speech, free-running generation of
held-out trials, and a count-table baseline with no LM at all (each codebook's most frequent training code
given the aligned (previous, current, next) phone), which an LM recipe must at least match.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .eval import EVAL_DIRS, LIBRI_DIRS, Evaluator, corpus_wer
from .prosody import PROSODY_VERSION, VOICED_PERIODICITY
from .tokenizers import MelFrontEnd, feature_dim, synthesize_features
from .train_tokenizers import tile_frames
from .utils import config_hash, stable_int


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
    from .tokenizers import aligned_acoustic_codes

    aligned = {name: ws.frame_aligned(name) for name in {n for n, _ in trials}}
    pairs = [aligned_acoustic_codes(codec, *aligned[name][u.utt_id]) for name, u in trials]
    return [c for c, _ in pairs], [a.long() for _, a in pairs]


def codec_report(ws) -> dict:
    from .tokenizers import aligned_acoustic_codes

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
    out["asv_epochs"] = ev.asv_cfg.epochs       # the attackers' recipe behind EER-L
    out["codec_resynthesis"]["MCD_dB"] = float(np.mean(mcds))
    out["bitrate_bps"] = float(cfg.n_codebooks * np.log2(np.prod(cfg.fsq_levels)) * 1000 / 48)
    return out


def _probe(x_tr, y_tr, x_te, y_te) -> float:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=0.5))
    model.fit(x_tr, y_tr)
    return float(100 * np.mean(model.predict(x_te) == np.asarray(y_te)))


def prosody_stream_statistics(rows: np.ndarray) -> np.ndarray:
    """Utterance-level statistics of a prosody stream (paperlib.prosody): each row dimension's mean and std,
    and the voiced frames' relative F0 mean, std, 10th and 90th percentiles: what a probe of the stream reads."""
    voiced = rows[rows[:, 1] >= VOICED_PERIODICITY, 2]
    f0 = np.percentile(voiced, [10, 90]) if len(voiced) else np.zeros(2)
    return np.concatenate([rows.mean(0), rows.std(0), [voiced.mean() if len(voiced) else 0.0,
                                                       voiced.std() if len(voiced) else 0.0], f0]).astype(np.float32)


def content_probes(ws) -> dict:
    """Speaker-ID (split by utterance within speakers) and emotion (train_ser -> IEMOCAP_test) probes of
    utterance-level representations: the content tokens' histogram, log-mel statistics (the reference), and
    the explicit prosody stream's statistics (what the stream costs in privacy and carries of emotion)."""
    enc = ws.content_encoder()
    vocab = enc.vocab_size
    front = MelFrontEnd(ws.cfg.content.n_mels)

    def reps(name):
        toks, wavs, rows = ws.tokens(name), ws.wavs(name), ws.prosody(name)
        hist, mel, pros = {}, {}, {}
        for utt, item in toks.items():
            h = np.bincount(item["content"].long().numpy(), minlength=vocab).astype(np.float32)
            hist[utt] = h / max(1.0, h.sum())
            with torch.no_grad():
                m = front(torch.from_numpy(wavs[utt])[None])[0].numpy()
            mel[utt] = np.concatenate([m.mean(0), m.std(0)])
            pros[utt] = prosody_stream_statistics(rows[utt].numpy())
        return hist, mel, pros

    ser, iem = ws.data("train_ser"), ws.data("IEMOCAP_test")
    ser_reps = dict(zip(("tokens", "log_mel", "prosody_stream"), reps("train_ser")))
    iem_reps = dict(zip(("tokens", "log_mel", "prosody_stream"), reps("IEMOCAP_test")))
    tr, te = [], []
    for spk, utts in ser.by_speaker().items():
        ids = [u.utt_id for u in utts]
        tr += ids[0::2]; te += ids[1::2]
    out = {"chance_speaker": 100.0 / len(ser.speakers), "chance_emotion": 25.0}
    for label, feats in ser_reps.items():
        out[f"speaker_acc_{label}"] = _probe(np.stack([feats[u] for u in tr]), [ser.utts[u].speaker for u in tr],
                                             np.stack([feats[u] for u in te]), [ser.utts[u].speaker for u in te])
    for label, (f_tr, f_te) in ((k, (ser_reps[k], iem_reps[k])) for k in ser_reps):
        utr, ute = sorted(f_tr), sorted(f_te)
        out[f"emotion_acc_{label}"] = _probe(np.stack([f_tr[u] for u in utr]), [ser.utts[u].emotion for u in utr],
                                             np.stack([f_te[u] for u in ute]), [iem.utts[u].emotion for u in ute])
    return out


@torch.no_grad()
def phone_accuracy(ws, n_utts: int = 24) -> dict:
    """Quarter-phone accuracy (%) of the content encoder's phone head on its quantized tokens: on held-out
    trial speakers and sentences, and on as many of its own training utterances (the gap is memorisation).
    Chance = always the most frequent phone of the training labels."""
    enc = ws.content_encoder()
    train_labels, _ = ws.phone_alignment("train_pretrain")
    majority = np.bincount(np.concatenate([v.ravel() for v in train_labels.values()]).astype(np.int64)).max() / sum(
        v.size for v in train_labels.values())
    sets = {"held_out": held_out_trials(ws, n_utts),
            "train_pretrain": [("train_pretrain", ws.data("train_pretrain").utts[u]) for u in sorted(train_labels)[:n_utts]]}
    out = {"chance": float(100 * majority)}
    for label, trials in sets.items():
        labels = {name: ws.phone_alignment(name)[0] for name in {d for d, _ in trials}}
        right = total = 0
        for d, u in trials:
            if u.utt_id not in labels[d]:
                continue
            q = enc.ctc_logits(torch.from_numpy(ws.wavs(d)[u.utt_id])[None])[2]
            pred = enc.phone_logits(q)[0].argmax(-1).numpy()
            ref = labels[d][u.utt_id]
            m = min(len(pred), len(ref))
            right += int((pred[:m] == ref[:m]).sum()); total += ref[:m].size
        out[label] = float(100 * right / max(1, total))
    return out


def tokenizer_report(ws) -> dict:
    return {"codec": codec_report(ws), "codec_decoding": codec_stage_wer(ws), "content_probes": content_probes(ws),
            "phone_accuracy": phone_accuracy(ws), "code_statistics": acoustic_code_statistics(ws)}


@torch.no_grad()
def lm_teacher_forced_report(ws, lm_path, n_utts: int = 40, delay: int = 2) -> dict:
    """Per-codebook teacher-forced accuracy / CE of the pretrained LM's Fast AR, on its own training data
    (train_pretrain) and on held-out speakers and sentences (vctk_pool): the gap measures memorisation."""
    from .model import collate, interleave
    from .train import load_lm

    lm = load_lm(ws, lm_path)
    out = {"delay": delay, "n_utts": n_utts, "uniform_ce": float(np.log(lm.cfg.codebook_size))}
    for name in ("train_pretrain", "vctk_pool"):
        toks = ws.tokens(name)
        utts = sorted(toks)[:n_utts]
        items = [interleave(lm.cfg, toks[u]["content"].long(), toks[u]["acoustic"].long(), delay, 0, toks[u].get("prosody"))
                 for u in utts]
        batch = collate(items, torch.stack([toks[u]["speaker"] for u in utts]), [0] * len(items))
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
    tokenizer_codec = ws.codec()
    ev = Evaluator(ws)
    pools, ptoks = prompt_pools(ws), prompt_tokens(ws)
    trials = trials if trials is not None else held_out_trials(ws, n_utts)
    utts = [u for _, u in trials]
    contents, codec_codes = trial_codes(ws, tokenizer_codec, trials)
    prosody = None
    if parts.lm.cfg.prosody_dim:
        rows = {name: ws.prosody(name) for name in {n for n, _ in trials}}
        prosody = [rows[name][u.utt_id][: len(c)] for (name, u), c in zip(trials, contents)]
    base = ws.inference_config()
    refs = [u.text for u in utts]
    out = {"n_utts": len(utts), "prompt": base.prompt_strategy, "fixed_prompt": base.fixed_prompt, "delay": base.delay,
           "decoder_adapted": parts.codec is not tokenizer_codec}
    out["codec_resynthesis_WER"] = _decoded_wer(ev, tokenizer_codec, codec_codes, contents, refs)
    for label, temperature in (("sampled", base.temperature), ("greedy", 0.0)):
        cfg = replace(base, temperature=temperature)
        codes = anonymize_codes(parts, cfg, utts, contents, pools, ptoks, seed, prosody)
        out[f"{label}_WER"] = _decoded_wer(ev, parts.codec, codes, contents, refs)
        out[f"{label}_temperature"] = temperature
        if out["decoder_adapted"]:     # the same codes through the tokenizer's own decoder: what adaptation gave
            out[f"{label}_WER_tokenizer_decoder"] = _decoded_wer(ev, tokenizer_codec, codes, contents, refs)
        for k in stages:        # the same generated codes decoded from their first k residual stages only
            out[f"{label}_WER_first_{k}_stages"] = _decoded_wer(ev, parts.codec, codes, contents, refs, n_stages=k)
    return out


def _centre_phones(ws, name: str) -> dict[str, np.ndarray]:
    """utt -> (T,) the aligned phone at the centre of each token frame (its third 12 ms quarter)."""
    labels, _ = ws.phone_alignment(name)
    return {u: lab[:, 2].astype(np.int64) for u, lab in labels.items()}


def _tokens_with_phones(ws, name: str) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """utt -> (content (T,), acoustic codes (T, 8), centre phone (T,)), cut to the frames the tokens and the
    phone labels share; utterances that failed to align are left out."""
    toks, phones = ws.tokens(name), _centre_phones(ws, name)
    out = {}
    for u in sorted(toks):
        if u in phones:
            n = min(len(toks[u]["content"]), len(phones[u]))
            out[u] = (toks[u]["content"][:n].long().numpy(), toks[u]["acoustic"][:n].long().numpy(), phones[u][:n])
    return out


def _phone_context(phones: np.ndarray) -> np.ndarray:
    """(T,) centre phones -> (T, 3) (previous, current, next), silence past the ends."""
    padded = np.pad(phones, 1)
    return np.stack([padded[:-2], padded[1:-1], padded[2:]], axis=1)


def acoustic_code_statistics(ws, train: str = "train_pretrain", test: str = "vctk_pool", smoothing: float = 5.0) -> dict:
    """How predictable are the codec's codes, without any LM? Per codebook, on held-out ``test`` with counts
    from ``train`` (add-``smoothing`` towards the unigram): cross-entropy (nats) of the unigram, of
    P(code | previous code of the same codebook), of P(code | content token of the same frame) and of
    P(code | aligned centre phone), and how often a code repeats between frames. Uniform = log(size)."""
    from .phones import PHONES

    def stack(name):
        rows = list(_tokens_with_phones(ws, name).values())
        return (np.concatenate([c for c, _, _ in rows]), [a for _, a, _ in rows], np.concatenate([p for _, _, p in rows]))

    content_tr, acoustic_tr, phone_tr = stack(train)
    content_te, acoustic_te, phone_te = stack(test)
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
        by_phone = conditional(phone_tr, a_tr[:, k], len(PHONES))
        out["codebooks"].append({
            "unigram_ce": float(-np.log(unigram[a_te[:, k]]).mean()),
            "previous_code_ce": float(-np.log(by_prev[prev_te, next_te]).mean()),
            "content_token_ce": float(-np.log(by_content[content_te, a_te[:, k]]).mean()),
            "phone_ce": float(-np.log(by_phone[phone_te, a_te[:, k]]).mean()),
            "repeat_rate": float((prev_te == next_te).mean()),
        })
    return out


class CountTable:
    """Each codebook's most frequent training code given the aligned (previous, current, next) phone,
    backing off to the current phone, then to the codebook's most frequent code: the no-LM baseline."""

    def __init__(self, contexts: np.ndarray, codes: np.ndarray) -> None:
        from collections import Counter

        self.n_codebooks = codes.shape[1]
        tri: dict[tuple, list[Counter]] = {}
        uni: dict[int, list[Counter]] = {}
        for ctx, frame in zip(map(tuple, contexts), codes):
            for table, key in ((tri, ctx), (uni, ctx[1])):
                counters = table.setdefault(key, [Counter() for _ in range(self.n_codebooks)])
                for k, c in enumerate(frame):
                    counters[k][int(c)] += 1
        best = lambda counters: [c.most_common(1)[0][0] for c in counters]
        self.tri = {key: best(v) for key, v in tri.items()}
        self.uni = {key: best(v) for key, v in uni.items()}
        self.fallback = [int(np.bincount(codes[:, k]).argmax()) for k in range(self.n_codebooks)]

    def __call__(self, contexts: np.ndarray) -> torch.Tensor:
        rows = [self.tri.get(tuple(ctx)) or self.uni.get(int(ctx[1])) or self.fallback for ctx in contexts]
        return torch.tensor(rows, dtype=torch.long).reshape(len(contexts), self.n_codebooks)


@torch.no_grad()
def count_table_report(ws, n_utts: int = 24) -> dict:
    """The count table built on train_pretrain, applied to the held-out trials (their aligned phones):
    per-codebook agreement with the codec's real codes, and WER of the decoded table codes (with each
    frame's content token for a content-conditioned codec). Also on the first n_utts training utterances."""
    codec, ev = ws.codec(), Evaluator(ws)
    rows = _tokens_with_phones(ws, "train_pretrain")
    train = list(rows)
    table = CountTable(np.concatenate([_phone_context(p) for _, _, p in rows.values()]),
                       np.concatenate([a for _, a, _ in rows.values()]))
    out = {"n_utts": n_utts}
    trial_sets = {"held_out": held_out_trials(ws, n_utts),
                  "train_pretrain": [("train_pretrain", ws.data("train_pretrain").utts[u]) for u in train[:n_utts]]}
    for label, trials in trial_sets.items():
        centre = {name: _centre_phones(ws, name) for name in {d for d, _ in trials}}
        trials = [(d, u) for d, u in trials if u.utt_id in centre[d]]
        contents, real = trial_codes(ws, codec, trials)
        predicted = []
        for (d, u), c in zip(trials, contents):
            ph = centre[d][u.utt_id]
            ph = np.pad(ph, (0, max(0, len(c) - len(ph))))[: len(c)]
            predicted.append(table(_phone_context(ph)))
        agree = torch.cat([(p == r).float() for p, r in zip(predicted, real)]).mean(0)
        out[label] = {"accuracy": agree.tolist(), "n_utts": len(trials),
                      "WER": _decoded_wer(ev, codec, predicted, contents, [u.text for _, u in trials])}
    return out


def _log_f0(codec, feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, subframes * F) WORLD features -> per-subframe (log F0, voiced)."""
    per = feats.reshape(-1, feature_dim(codec.cfg))
    return per[:, 0], per[:, 1] > 0.5


@torch.no_grad()
def _f0_following(codec, codes: list, contents: list, references: list[np.ndarray]) -> dict:
    """Decoded log-F0 against a reference utterance's (its voiced sub-frames): mean per-utterance correlation
    and mean level offset in semitones. Tells whether the codes still steer the voice and the intonation."""
    corrs, offsets = [], []
    for c, t, ref in zip(codes, contents, references):
        dec = codec.decode(c[None].long(), content=t[None, : len(c)].long())[0].numpy()
        lf_dec, _ = _log_f0(codec, dec)
        lf_ref, voiced = _log_f0(codec, ref[: len(c)])
        m = min(len(lf_dec), len(lf_ref))
        lf_dec, lf_ref, voiced = lf_dec[:m], lf_ref[:m], voiced[:m]
        if voiced.sum() > 10:
            corrs.append(float(np.corrcoef(lf_dec[voiced], lf_ref[voiced])[0, 1]))
            offsets.append(float(12 / np.log(2) * (lf_dec[voiced].mean() - lf_ref[voiced].mean())))
    return {"f0_correlation": float(np.nanmean(corrs)), "f0_offset_semitones": float(np.mean(offsets))}


def codec_stage_wer(ws, stages: tuple[int, ...] = (1, 2, 4, 8), n_utts: int = 24) -> dict:
    """WER of codec resynthesis of held-out libri trial utterances decoded from the first k residual stages
    (k = 0: a content-conditioned codec's content tokens alone), and with every utterance's codes replaced
    by another utterance's (other speaker and sentence; tiled to length): a codec whose decoder leans on
    the content tokens stays intelligible then, one that needs the codes to be right does not. The F0 of
    the decoded speech against the utterance's own contour (own codes) and against the code source's (other
    codes) says whether the codes still carry the voice and the intonation."""
    codec, ev = ws.codec(), Evaluator(ws)
    trials = held_out_trials(ws, n_utts)
    contents, codes = trial_codes(ws, codec, trials)
    aligned = {name: ws.frame_aligned(name) for name in {n for n, _ in trials}}
    feats = [aligned[name][u.utt_id][0] for name, u in trials]
    refs = [u.text for _, u in trials]
    ks = tuple(stages) + ((0,) if codec.cfg.content_conditioned else ())
    out = {"n_utts": len(codes)}
    for k in ks:
        out[f"stages_{k}"] = _decoded_wer(ev, codec, codes, contents, refs, n_stages=k)
    shift = len(codes) // 2 + 1           # the other half of the list: other speaker, other sentence
    others = [(i + shift) % len(codes) for i in range(len(codes))]
    swapped = [tile_frames(codes[j], len(c)) for c, j in zip(contents, others)]
    out["other_utterance_codes"] = _decoded_wer(ev, codec, swapped, contents, refs)
    out["own_codes_f0"] = _f0_following(codec, codes, contents, feats)
    out["other_codes_f0_vs_code_source"] = _f0_following(codec, swapped, contents,
                                                         [tile_frames(feats[j], len(c)) for c, j in zip(contents, others)])
    return out


def cached_lm_report(ws, lm_path) -> dict:
    """Teacher-forced report, free-running generation and the count-table baseline (cached by LM checkpoint,
    anonymizer decoder, inference config (the prompt rule changes the generation) and ASR)."""
    from .utils import cached_json

    key = config_hash(lm_path.stem, ws.anonymizer_codec_key(), ws.inference_config(), ws.cfg.eval.asr)
    return cached_json(ws.cache / f"lm_report-{key}.json", lambda: {
        **lm_teacher_forced_report(ws, lm_path), "generation": lm_generation_report(ws, lm_path),
        "count_table": count_table_report(ws)})


@torch.no_grad()
def target_voice_report(ws, lm_path) -> dict:
    """Rank vctk-1fix's candidate target voices by how intelligible the anonymizer makes speech in them, on the
    prompt pool itself (no evaluation data): every other pool speaker's utterances anonymized with the
    candidate as the fixed speaker, transcribed, WER against their text, averaged over the sampling seeds
    ``inference.target_voice_seeds`` (one seed's WER on the ~40 pool utterances moves by up to 8 points). The ranking (best first) is what
    ``inference.fixed_speakers`` takes."""
    from dataclasses import replace

    from .anonymize import anonymize_codes, load_parts, prompt_pools, prompt_tokens

    parts = load_parts(ws, lm_path, use_sep=False)
    ev = Evaluator(ws)
    pools, ptoks = prompt_pools(ws), prompt_tokens(ws)
    by_speaker = pools["vctk"].by_speaker()
    seeds = ws.cfg.inference.target_voice_seeds
    wer, per_seed = {}, {}
    for spk in sorted(by_speaker):
        cfg = replace(ws.cfg.inference, prompt_strategy="vctk-1fix", fixed_speakers=(spk,))
        sources = [u for other, utts in sorted(by_speaker.items()) if other != spk for u in utts]
        contents = [ptoks[u.utt_id]["content"].long() for u in sources]
        refs = [u.text for u in sources]
        prosody = [ptoks[u.utt_id]["prosody"] for u in sources] if parts.lm.cfg.prosody_dim else None
        per_seed[spk] = [round(_decoded_wer(ev, parts.codec, anonymize_codes(parts, cfg, sources, contents, pools,
                                                                             ptoks, seed, prosody), contents, refs), 2)
                         for seed in seeds]
        wer[spk] = round(float(np.mean(per_seed[spk])), 2)
    return {"pool": str(pools["vctk"].path), "seeds": list(seeds), "fixed_prompt": ws.cfg.inference.fixed_prompt,
            "pool_WER": wer, "pool_WER_per_seed": per_seed, "ranking": sorted(wer, key=lambda s: (wer[s], s))}


def target_voice_report_path(ws, lm_path) -> Path:
    """Where ``target_voice_report`` is cached: by LM checkpoint, anonymizer decoder, inference recipe (less the
    ranking in use, which the report does not depend on) and evaluation ASR."""
    from dataclasses import replace

    unranked = replace(ws.cfg.inference, fixed_speakers=())
    return ws.cache / f"target_voices-{config_hash(lm_path.stem, ws.anonymizer_codec_key(), unranked, ws.cfg.eval.asr)}.json"


def cached_target_voice_report(ws, lm_path) -> dict:
    from .utils import cached_json

    return cached_json(target_voice_report_path(ws, lm_path), lambda: target_voice_report(ws, lm_path))
