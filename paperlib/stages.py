"""Cached pipeline stages. Every artefact lives under cache/<scale>/ in a file named by the hash of the
configs it depends on, so a change re-runs only what depends on it and an unchanged re-run is a lookup.
"""
from __future__ import annotations

import functools
import multiprocessing as mp
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import paths
from .audio import load_wav
from .anonymize import encode_utterance
from .checkpoint import cached, cached_model
from .config import InferenceConfig, ScaleConfig, preset
from .kaldi import DataDir, read_data_dir
from .speaker import SpeakerEncoder, load_speaker_encoder, train_speaker_encoder
from .tokenizers import ContentEncoder, WorldCodec, aligned_acoustic_codes, world_features
from .train_tokenizers import adapt_decoder, train_codec, train_content_encoder
from .utils import atomic_write_text, config_hash, torch_threads

# data dirs whose acoustic codes the LM needs (prompts and training targets)
ACOUSTIC_DIRS = ("train_pretrain", "train_crema", "vctk_pool")
# data dirs force-aligned to phones: the tokenizers' training role, and held-out dirs of the probes
ALIGNED_DIRS = ("train_pretrain", "vctk_pool", "libri_test_trials_f", "libri_test_trials_m")


class Workspace:
    """All cached stages of one scale."""

    def __init__(self, scale: str = "mini", cfg: ScaleConfig | None = None) -> None:
        self.scale = scale
        self.cfg = cfg or preset(scale)
        self.data_root = paths.data_dir(scale)
        self.cache = paths.ensure(paths.cache_dir(scale))
        self._check_cache_matches_data()
        torch.set_num_threads(max(1, torch.get_num_threads()))

    def _check_cache_matches_data(self) -> None:
        """Cached models are keyed by their own configs, not by the data: refuse to mix a cache built on one
        generated benchmark with another (the generator stamps data/<scale>/config_hash.txt)."""
        data_stamp, cache_stamp = self.data_root / "config_hash.txt", self.cache / "data_hash.txt"
        if not data_stamp.exists():
            return
        data_hash = data_stamp.read_text().strip()
        if cache_stamp.exists() and cache_stamp.read_text().strip() != data_hash:
            raise RuntimeError(f"{self.cache} was built from another {self.data_root} (data hash "
                               f"{cache_stamp.read_text().strip()} != {data_hash}); delete it (rm -r {self.cache})")
        if not cache_stamp.exists():
            atomic_write_text(cache_stamp, data_hash + "\n")

    # -- data -------------------------------------------------------------------------------------------
    @functools.lru_cache(maxsize=None)
    def data(self, name: str) -> DataDir:
        return read_data_dir(self.data_root / name, root=self.data_root)

    @functools.lru_cache(maxsize=None)
    def wavs(self, name: str) -> dict[str, np.ndarray]:
        d = self.data(name)
        return {u: load_wav(d.utts[u].path) for u in sorted(d.utts)}

    def world_features(self, name: str) -> dict[str, np.ndarray]:
        codec = self.cfg.codec
        path = self.cache / "features" / f"{name}-{config_hash(codec.world_period_ms, codec.subframes, codec.n_mcep)}.pt"

        def build():
            items = list(self.wavs(name).items())
            feats = self._parallel_world_features([w for _, w in items], f"WORLD features {name}")
            return {u: torch.from_numpy(f).half() for (u, _), f in zip(items, feats)}
        return {u: t.float().numpy() for u, t in cached(path, build).items()}

    def _parallel_world_features(self, wavs: list[np.ndarray], desc: str) -> list[np.ndarray]:
        with mp.get_context("fork").Pool(self.cfg.data.workers) as pool:
            return list(tqdm(pool.imap(_features_worker, [(w, self.cfg.codec) for w in wavs], chunksize=4),
                             total=len(wavs), desc=desc))

    def data_hash(self) -> str:
        stamp = self.data_root / "config_hash.txt"
        return stamp.read_text().strip() if stamp.exists() else "unstamped"

    def phone_alignment(self, name: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """utt -> (T, 4) phones of each token frame's 12 ms quarters (paperlib.align), and the utterances that
        failed to align with their reasons. Cached by the data hash and the aligner."""
        from .align import ALIGNER_VERSION, align_items
        from .tokenizers import FRAME_MS, n_frames

        path = self.cache / "align" / f"{name}-{config_hash(self.data_hash(), ALIGNER_VERSION, FRAME_MS)}.pt"

        def build():
            d, wavs = self.data(name), self.wavs(name)
            labels, failures = align_items([(u, w, d.utts[u].text) for u, w in wavs.items()],
                                           {u: n_frames(len(w)) for u, w in wavs.items()}, FRAME_MS,
                                           workers=self.cfg.data.workers, desc=f"align {name}")
            return {"labels": {u: torch.from_numpy(v) for u, v in labels.items()}, "failures": failures}
        state = cached(path, build)
        return {u: t.numpy() for u, t in state["labels"].items()}, dict(state["failures"])

    # -- tokenizers --------------------------------------------------------------------------------------
    @property
    def codec_cfg(self):
        """The codec config as built: a content-conditioned codec gets the content encoder's FSQ levels."""
        from dataclasses import replace

        cfg = self.cfg.codec
        return replace(cfg, content_levels=tuple(self.cfg.content.fsq_levels)) if cfg.content_conditioned else cfg

    def codec_path(self) -> Path:
        # a content-conditioned codec depends on the content encoder too
        key = (config_hash(self.codec_cfg, self.content_path().stem) if self.cfg.codec.content_conditioned
               else config_hash(self.cfg.codec))
        return self.cache / f"codec-{key}.pt"

    @functools.lru_cache(maxsize=None)
    def codec(self) -> WorldCodec:
        path = self.codec_path()

        def train():
            utts, contents = self.data("train_pretrain").utts, None
            if self.cfg.codec.content_conditioned:
                pairs = self.frame_aligned("train_pretrain")
                feats, contents = {u: f for u, (f, _) in pairs.items()}, [c.numpy() for _, c in pairs.values()]
            else:
                feats = self.world_features("train_pretrain")
            with torch_threads(self.cfg.codec.threads):
                return train_codec(list(feats.values()), self.codec_cfg, path, contents=contents,
                                   speakers=[utts[u].speaker for u in feats])
        return cached_model(path, "step", self.cfg.codec.steps, train, self._load_codec)

    def _load_codec(self, state: dict) -> WorldCodec:
        model = WorldCodec(self.codec_cfg)
        model.load_state_dict(state["model"])
        return model.eval()

    def content_tokens(self, name: str) -> dict[str, torch.Tensor]:
        """utt -> (T,) content tokens (what the content encoder alone gives; cached)."""
        path = self.cache / "tokens" / f"{name}-{self.content_path().stem}.pt"

        def build():
            enc = self.content_encoder()             # may train: outside no_grad
            with torch.no_grad():
                return {utt: enc.encode(torch.from_numpy(wav)[None])[0].short()
                        for utt, wav in tqdm(self.wavs(name).items(), desc=f"content tokens {name}")}
        return cached(path, build)

    def frame_aligned(self, name: str) -> dict[str, tuple[np.ndarray, torch.Tensor]]:
        """utt -> (WORLD features, content tokens), both cut to the frames they share."""
        feats, content = self.world_features(name), self.content_tokens(name)
        return {u: (f[: len(content[u])], content[u][: len(f)]) for u, f in feats.items()}

    def content_path(self) -> Path:
        # the phone labels are part of the recipe: they change with the data (its hash) and the aligner
        from .align import ALIGNER_VERSION

        return self.cache / f"content-{config_hash(self.cfg.content, self.data_hash(), ALIGNER_VERSION)}.pt"

    @functools.lru_cache(maxsize=None)
    def content_encoder(self) -> ContentEncoder:
        path = self.content_path()

        def train():
            d, wavs = self.data("train_pretrain"), self.wavs("train_pretrain")
            phones, _ = self.phone_alignment("train_pretrain")
            targets = self.content_teacher_targets("train_pretrain") if self.cfg.content.teacher else None
            with torch_threads(self.cfg.content.threads):
                return train_content_encoder(list(wavs.values()), [d.utts[u].text for u in wavs],
                                             [phones.get(u) for u in wavs], self.cfg.content, path,
                                             targets=None if targets is None else [targets[u] for u in wavs])

        def load(state):
            model = ContentEncoder(self.cfg.content)
            model.load_state_dict(state["model"])
            return model.eval()
        return cached_model(path, "step", self.cfg.content.steps, train, load)

    def content_teacher_targets(self, name: str) -> dict[str, np.ndarray]:
        """utt -> (T, D) dense teacher targets of the content encoder (paperlib.content_teacher; cached by the
        data hash, the teacher kinds and the WORLD analysis the prosody part reads)."""
        from .content_teacher import speaker_log_f0, teacher_targets

        # the kind names key the targets: a change of a kind's definition takes a new name
        kinds, codec = tuple(self.cfg.content.teacher), self.cfg.codec
        key = config_hash(kinds, self.data_hash(), codec.world_period_ms, codec.subframes, codec.n_mcep)
        path = self.cache / "content_teacher" / f"{name}-{key}.pt"

        def build():
            d, wavs, world = self.data(name), self.wavs(name), self.world_features(name)
            register = speaker_log_f0(world, {u: d.utts[u].speaker for u in world}, codec.subframes)
            with torch_threads(self.cfg.content.threads):
                return {u: torch.from_numpy(teacher_targets(w, world[u], register[d.utts[u].speaker], kinds,
                                                            codec.subframes, self.cfg.content.threads)).half()
                        for u, w in tqdm(wavs.items(), desc=f"content teacher {'+'.join(kinds)} {name}")}
        return {u: t.float().numpy() for u, t in cached(path, build).items()}

    def speaker_path(self) -> Path:
        return self.cache / f"spkenc-{config_hash(self.cfg.speaker)}.pt"

    @functools.lru_cache(maxsize=None)
    def speaker_encoder(self) -> SpeakerEncoder:
        """The anonymizer's frozen speaker encoder, trained on the pretraining corpus."""
        path = self.speaker_path()

        def train():
            d, wavs = self.data("train_pretrain"), self.wavs("train_pretrain")
            with torch_threads(self.cfg.speaker.threads):
                return train_speaker_encoder(list(wavs.values()), [d.utts[u].speaker for u in wavs], self.cfg.speaker,
                                             path, desc="speaker encoder (anonymizer)")
        return cached_model(path, "epoch", self.cfg.speaker.epochs, train,
                            lambda _: load_speaker_encoder(path, self.cfg.speaker))

    # -- the anonymizer's decoder --------------------------------------------------------------------------
    def decoder_path(self) -> Path:
        """The adapted decoder depends on the codec, the pretrained LM and how that LM is sampled."""
        from .train import pretrain_path

        inf = self.cfg.inference
        return self.cache / f"decoder-{config_hash(self.cfg.decoder_adapt, self.codec_path().stem, pretrain_path(self).stem, inf.delay, inf.top_p)}.pt"

    def anonymizer_codec_key(self) -> str:
        """Names the weights ``anonymizer_codec`` loads (part of every anonymized output's cache key)."""
        return self.decoder_path().stem if self.cfg.decoder_adapt.enabled else self.codec_path().stem

    @functools.lru_cache(maxsize=None)
    def anonymizer_codec(self) -> WorldCodec:
        """The codec that decodes the LM's output: the tokenizer's codec with its decoder adapted to the
        pretrained LM's free-running codes (cfg.decoder_adapt; the encoder is the tokenizer's, unchanged),
        or the tokenizer's codec itself when adaptation is disabled."""
        cfg = self.cfg.decoder_adapt
        if not cfg.enabled:
            return self.codec()
        path = self.decoder_path()

        def train():
            with torch_threads(cfg.threads):
                return self._adapt_decoder(path)
        return cached_model(path, "step", cfg.steps, train, self._load_codec)

    # -- vctk-1fix's target voice -----------------------------------------------------------------------------
    def target_voices_path(self) -> Path:
        from .probes import target_voice_report_path
        from .train import pretrain_path

        return target_voice_report_path(self, pretrain_path(self))

    def target_voice_known(self) -> bool:
        """Whether ``inference_config`` can name the target voice without training anything (the systems'
        cache keys hold it)."""
        return bool(self.cfg.inference.fixed_speakers) or self.target_voices_path().exists()

    @functools.lru_cache(maxsize=None)
    def target_voices(self) -> dict:
        """This build's target-voice ranking (``probes.target_voice_report``; cached, trains what is missing).
        Per build: the ranking follows the trained models, which differ across machines. Memoized: every
        ``load_system`` reads it, and checking the pretrained LM loads its checkpoint."""
        from .probes import cached_target_voice_report
        from .train import pretrain

        return cached_target_voice_report(self, pretrain(self))

    def inference_config(self, inf: InferenceConfig | None = None) -> InferenceConfig:
        """``inf`` (default: the scale's) with the target voice written in: an empty ``fixed_speakers`` becomes
        the first voice of ``target_voices``, for every seed and strategy, so the voice is part of every cache
        key, of the lm_report and of the exported bundle."""
        inf = inf or self.cfg.inference
        if inf.fixed_speakers:
            return inf
        return replace(inf, fixed_speakers=(self.target_voices()["ranking"][0],))

    def _adapt_decoder(self, path: Path) -> WorldCodec:
        from .anonymize import self_prompted_codes
        from .train import load_lm, pretrain
        from .utils import stable_int

        cfg = self.cfg.decoder_adapt
        codes_path = path.with_name(path.stem + "-lm-codes.pt")      # generation is half the cost: kept apart
        toks, pairs, d = self.tokens("train_pretrain"), self.frame_aligned("train_pretrain"), self.data("train_pretrain")

        def generate():
            lm = load_lm(self, pretrain(self))
            speaker_of = {u: d.utts[u].speaker for u in toks}
            means = self.speaker_means("train_pretrain")
            runs = [self_prompted_codes(lm, toks, speaker_of, means, replace(self.cfg.inference, temperature=t),
                                        stable_int(cfg.seed, k), desc=f"LM codes {k + 1}/{len(cfg.temperatures)} (T={t})")
                    for k, t in enumerate(cfg.temperatures)]
            return {u: torch.stack([run[u] for run in runs], dim=1).short() for u in toks}
        generated = cached(codes_path, generate)
        utts = sorted(toks)
        feats = [pairs[u][0][: len(toks[u]["content"])] for u in utts]
        return adapt_decoder(self.codec(), feats, [toks[u]["content"].numpy() for u in utts],
                             [generated[u].numpy() for u in utts], cfg, path, speakers=[d.utts[u].speaker for u in utts])

    # -- tokens ------------------------------------------------------------------------------------------
    def tokens_key(self) -> str:
        return config_hash(self.codec_path().stem, self.content_path().stem, self.cfg.speaker)

    def tokens(self, name: str) -> dict[str, dict[str, torch.Tensor]]:
        """utt -> {content (T,), acoustic (T, 8) for ACOUSTIC_DIRS, speaker (D,) per-utterance embedding}."""
        path = self.cache / "tokens" / f"{name}-{self.tokens_key()}.pt"

        def build():
            wavs, content = self.wavs(name), self.content_tokens(name)
            spk = self.speaker_encoder()
            feats = self.world_features(name) if name in ACOUSTIC_DIRS else None
            codec = self.codec() if feats is not None else None
            return {utt: encode_utterance(wav, None, spk, codec, content[utt], feats[utt] if codec else None,
                                          prosody=False)
                    for utt, wav in tqdm(wavs.items(), desc=f"tokenize {name}")}
        toks = cached(path, build)
        if self.cfg.lm.prosody_dim:          # the LM reads the source's prosody beside each content token
            rows = self.prosody(name)
            toks = {u: {**item, "prosody": rows[u][: len(item["content"])]} for u, item in toks.items()}
        return toks

    def gain_tokens(self, name: str, gain_db: float) -> dict[str, dict[str, torch.Tensor]]:
        """``tokens(name)`` of the waveforms scaled by ``gain_db`` (content tokens, codes and prosody stream
        recomputed; the speaker vectors are the unscaled ones'): ``TrainConfig.level_augment_db``."""
        from .prosody import PROSODY_VERSION, prosody_stream

        gain = 10.0 ** (gain_db / 20.0)
        path = self.cache / "tokens" / f"{name}-gain{gain_db:+g}dB-{config_hash(self.tokens_key(), PROSODY_VERSION)}.pt"

        def build():
            codec, enc, plain = self.codec(), self.content_encoder(), self.tokens(name)
            wavs = {u: np.clip(w * gain, -1.0, 1.0).astype(np.float32) for u, w in self.wavs(name).items()}
            feats = self._parallel_world_features(list(wavs.values()), f"WORLD features {name} {gain_db:+g} dB")
            out = {}
            with torch.no_grad():
                for (u, w), f in zip(tqdm(wavs.items(), desc=f"tokenize {name} {gain_db:+g} dB"), feats):
                    content = enc.encode(torch.from_numpy(w)[None])[0].short()
                    content, acoustic = aligned_acoustic_codes(codec, f, content)
                    out[u] = {"content": content, "acoustic": acoustic, "speaker": plain[u]["speaker"],
                              "prosody": torch.from_numpy(prosody_stream(w))[: len(content)].half()}
            return out
        return {u: {**item, "prosody": item["prosody"].float()} for u, item in cached(path, build).items()}

    def prosody(self, name: str) -> dict[str, torch.Tensor]:
        """utt -> (T, PROSODY_DIM) rows of the explicit prosody stream (paperlib.prosody; cached)."""
        from .prosody import PROSODY_VERSION, prosody_stream

        path = self.cache / "prosody" / f"{name}-{config_hash(self.data_hash(), PROSODY_VERSION)}.pt"

        def build():
            return {u: torch.from_numpy(prosody_stream(w)).half()
                    for u, w in tqdm(self.wavs(name).items(), desc=f"prosody {name}")}
        return {u: t.float() for u, t in cached(path, build).items()}

    def speaker_means(self, name: str) -> dict[str, torch.Tensor]:
        toks, d = self.tokens(name), self.data(name)
        out: dict[str, list[torch.Tensor]] = {}
        for utt, item in toks.items():
            out.setdefault(d.utts[utt].speaker, []).append(item["speaker"])
        return {s: torch.stack(v).mean(0) for s, v in out.items()}

    # -- the frame-level emotion teacher (distillation targets of Exp6-7) --------------------------------------
    def teacher_path(self) -> Path:
        return self.cache / f"teacher-{config_hash(self.cfg.teacher, self.cfg.content.n_mels)}.pt"

    @functools.lru_cache(maxsize=None)
    def teacher(self):
        from .teacher import train_teacher

        if self.cfg.teacher.checkpoint:
            raise NotImplementedError(
                "emotion2vec+ checkpoints: install funasr and point teacher.checkpoint at the local model dir; "
                "its 50 Hz features are average-pooled into 48 ms frames (see paperlib/teacher.py)")
        d, wavs = self.data("train_teacher"), self.wavs("train_teacher")
        with torch_threads(self.cfg.teacher.threads):
            return train_teacher(list(wavs.values()), [d.utts[u].emotion for u in wavs], self.cfg.teacher,
                                 self.teacher_path(), self.cfg.content.n_mels)

    def teacher_features(self, name: str) -> dict[str, torch.Tensor]:
        """utt -> (T, E) per-dimension-normalised teacher frames (cached)."""
        path = self.cache / "teacher_feats" / f"{name}-{self.teacher_path().stem}.pt"

        def build():
            model = self.teacher()                   # may train: outside no_grad
            with torch.no_grad():
                return {utt: ((model.frame_features(torch.from_numpy(wav)[None])[0] - model.feat_mean)
                              / model.feat_std).half()
                        for utt, wav in tqdm(self.wavs(name).items(), desc=f"teacher features {name}")}
        return {u: t.float() for u, t in cached(path, build).items()}


def _features_worker(args) -> np.ndarray:
    wav, codec_cfg = args
    return world_features(wav, codec_cfg)
