"""The trained anonymizer as a versioned bundle under models/<scale>/, for inference without cache/ or data/.

What inference needs and nothing else: the content encoder, the codec (its decoder adapted to the LM, and
its encoder), the speaker encoder, the Slow AR + Fast AR of each shipped system (the distillation head and
the training-only heads dropped), the target-speaker pool's prompt tokens and speaker vectors (the vctk-*
strategies), the pseudo-speaker Gaussian, a JSON config and a manifest (format, git commit, data hash,
config hashes, sha256 of every file). Weights are stored as float16 (matrices) / float32 (vectors, buffers)
and computed in float32; the bundle's system is therefore its cache system with the weights rounded once
(``round_weights``), and its prompts are the pool's audio encoded by the shipped encoders (so a user's own
target voice, ``--target-voice``, is encoded exactly as the shipped prompts were).

    python -m paperlib.bundle export [--scale mini]     # rebuild models/<scale>/ from the trained cache
    python -m paperlib.bundle check [PATH]              # verify a bundle against its manifest
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from . import paths
from .config import ContentConfig, CodecConfig, InferenceConfig, LMConfig, SpeakerConfig, apply_overrides
from .tokenizers import ENCODER_PREFIXES

BUNDLE_FORMAT = 2
SYSTEMS = {"frame-distill": "table1/3_frame-distill", "baseline": "table2/0_baseline"}
PROMPT_POOL = "vctk_pool"
STRATEGIES = ("vctk-1fix", "vctk-1rnd", "vctk-4rnd")     # the others draw prompts from the training corpora
# parameters only training uses
TRAINING_ONLY = {"content_encoder": ("ctc_in.", "ctc_conv.", "ctc_out.", "ctc_aux.", "phone_head.",
                                     "teacher_head.", "prosody_head."),
                 "codec": ("stage0_prosody.",),
                 "speaker_encoder": (),
                 "lm": ("semantic_head.",)}
# what a bundle of an earlier version may lack: then it only serves its own pre-encoded prompts
OPTIONAL = {"codec": ENCODER_PREFIXES}


# what a bundle exported before a config field existed was built with: its stored config lacks the key
PRE_FIELD_DEFAULTS = {"content": {"keep_level": False, "teacher": []}, "codec": {"stage0_prosody_weight": 0.0},
                      "speaker": {}, "lm": {"prosody_dim": 0}, "inference": {"level_transfer": False}}


# fields a bundle exported by an earlier version may carry, which this code no longer has (all at the value
# the code now always uses)
RETIRED_FIELDS = {"codec": ("quantizer",), "lm": ("max_len",)}


def _stored_config(config: dict, part: str) -> dict:
    stored = {k: v for k, v in config[part].items() if k not in RETIRED_FIELDS.get(part, ())}
    return {**PRE_FIELD_DEFAULTS.get(part, {}), **stored}


class BundleError(RuntimeError):
    """A missing, corrupt or mismatched bundle; the message names the file and the problem."""


def _stored_as_half(v: torch.Tensor) -> bool:
    """Float matrices are stored as float16; vectors (norms, biases, feature statistics) and integers as they are."""
    return v.is_floating_point() and v.dim() >= 2


def round_weights(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The weights as the bundle gives them back: float matrices through float16, the rest unchanged."""
    return {k: v.half().float() if _stored_as_half(v) else v for k, v in state.items()}


def _deployable(state: dict[str, torch.Tensor], part: str) -> dict[str, torch.Tensor]:
    return {k: (v.half() if _stored_as_half(v) else v).contiguous()
            for k, v in state.items() if not k.startswith(TRAINING_ONLY[part])}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _git_commit() -> str:
    try:
        run = lambda *cmd: subprocess.run(["git", *cmd], cwd=paths.PROJECT_ROOT, capture_output=True, text=True,
                                          check=True).stdout.strip()
        # uncommitted changes to the code are marked: the commit alone would not rebuild this bundle
        dirty = run("status", "--porcelain", "--untracked-files=no", "--", "paperlib", "configs")
        return run("rev-parse", "HEAD") + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def export_bundle(ws, out: Path | None = None, seed: int = 0) -> Path:
    """Write the bundle of ``ws``'s trained systems (trains what is missing) to ``out`` (default
    models/<scale>/); written to a temporary folder and renamed, so a stopped export leaves no half bundle."""
    from .anonymize import encode_utterance, pseudo_speaker_gaussian
    from .systems import load_system
    from .train import finetune, lm_config, load_lm, pretrain_path

    out = Path(out or paths.models_dir(ws.scale))
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(_deployable(ws.content_encoder().state_dict(), "content_encoder"), tmp / "content_encoder.safetensors")
    # the decoder that renders the LM's output (adapted to it, cfg.decoder_adapt); prompts are pre-encoded
    save_file(_deployable(ws.anonymizer_codec().state_dict(), "codec"), tmp / "codec.safetensors")
    systems, lm_hashes = {}, {}
    for name, key in SYSTEMS.items():
        spec = load_system(ws, key, seed)
        lm_path = finetune(ws, spec.finetune)
        save_file(_deployable(load_lm(ws, lm_path).state_dict(), "lm"), tmp / f"lm-{name}.safetensors")
        systems[name] = {"key": key, "use_sep": spec.finetune.use_sep, "inference": asdict(spec.inference)}
        lm_hashes[name] = lm_path.stem
    save_file(_deployable(ws.speaker_encoder().state_dict(), "speaker_encoder"), tmp / "speaker_encoder.safetensors")
    config = {"scale": ws.scale, "content": asdict(ws.cfg.content), "codec": asdict(ws.codec_cfg),
              "speaker": asdict(ws.cfg.speaker), "lm": asdict(lm_config(ws)), "systems": systems,
              "strategies": list(STRATEGIES)}
    # the prompts, encoded by the encoders as they ship (loaded back from tmp): re-encoding the pool's audio
    # with the bundle gives them exactly
    content_enc, codec, speaker_enc = Bundle(tmp, config, {}).encoders()
    # (WORLD features computed afresh, as for a user's recording: the cached ones are stored as float16)
    pool, wavs = ws.data(PROMPT_POOL), ws.wavs(PROMPT_POOL)
    utts = sorted(wavs)
    tokens = {u: encode_utterance(wavs[u], content_enc, speaker_enc, codec) for u in utts}
    pseudo_mean, pseudo_std = pseudo_speaker_gaussian(ws)
    save_file({"content": torch.cat([tokens[u]["content"] for u in utts]).short().contiguous(),
               "acoustic": torch.cat([tokens[u]["acoustic"] for u in utts]).short().contiguous(),
               "lengths": torch.tensor([len(tokens[u]["content"]) for u in utts]),
               "speaker": torch.stack([tokens[u]["speaker"] for u in utts]).float().contiguous(),
               "prosody": torch.cat([tokens[u]["prosody"] for u in utts]).float().contiguous(),
               "pseudo_mean": pseudo_mean.float().contiguous(), "pseudo_std": pseudo_std.float().contiguous()},
              tmp / "prompts.safetensors")
    config["prompt_utts"] = [{"utt_id": u, "speaker": pool.utts[u].speaker, "emotion": pool.utts[u].emotion,
                              "gender": pool.utts[u].gender, "duration": pool.utts[u].duration} for u in utts]
    (tmp / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    files = sorted(p.name for p in tmp.iterdir())
    manifest = {"format": BUNDLE_FORMAT, "scale": ws.scale, "git_commit": _git_commit(), "data_hash": ws.data_hash(),
                "content_encoder": ws.content_path().stem, "codec": ws.codec_path().stem,
                "speaker_encoder": ws.speaker_path().stem,
                "decoder": ws.anonymizer_codec_key(),
                "lm_pretrain": pretrain_path(ws).stem, "lm": lm_hashes, "weights": "float16 matrices, float32 vectors",
                "files": {f: {"sha256": _sha256(tmp / f), "bytes": (tmp / f).stat().st_size} for f in files}}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


@dataclass
class Bundle:
    path: Path
    config: dict
    manifest: dict

    @property
    def systems(self) -> list[str]:
        return sorted(self.config["systems"])

    @property
    def strategies(self) -> tuple[str, ...]:
        """The prompt strategies its pool serves."""
        return tuple(self.config["strategies"])

    def _load(self, model: torch.nn.Module, file: str, part: str) -> torch.nn.Module:
        state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(self.path / file).items()}
        missing, unexpected = model.load_state_dict(state, strict=False)
        wrong = unexpected + [k for k in missing if not k.startswith(TRAINING_ONLY[part] + OPTIONAL.get(part, ()))]
        if wrong:
            raise BundleError(f"{self.path / file}: does not fit this code's {type(model).__name__} "
                              f"(e.g. {wrong[:3]}); re-export the bundle with this version")
        return model.eval()

    @property
    def ships_codec_encoder(self) -> bool:
        """Whether the codec's encoder ships (bundles exported before target voices dropped it)."""
        from safetensors import safe_open

        with safe_open(str(self.path / "codec.safetensors"), "pt") as handle:
            return any(k.startswith(ENCODER_PREFIXES) for k in handle.keys())

    def encoders(self):
        """(content encoder, codec, speaker encoder or None for a bundle that predates it), as they ship."""
        from .speaker import SpeakerEncoder
        from .tokenizers import ContentEncoder, WorldCodec

        content = self._load(ContentEncoder(apply_overrides(ContentConfig(), _stored_config(self.config, "content"))),
                             "content_encoder.safetensors", "content_encoder")
        codec = self._load(WorldCodec(apply_overrides(CodecConfig(), _stored_config(self.config, "codec"))),
                           "codec.safetensors", "codec")
        speaker = None
        if (self.path / "speaker_encoder.safetensors").exists():
            speaker = self._load(SpeakerEncoder(apply_overrides(SpeakerConfig(), _stored_config(self.config, "speaker"))),
                                 "speaker_encoder.safetensors", "speaker_encoder")
        return content, codec, speaker

    def parts(self, system: str):
        """(AnonymizerParts, InferenceConfig) of a shipped system, as ``systems.system_parts`` gives them."""
        from .anonymize import AnonymizerParts
        from .model import CodecLM

        if system not in self.config["systems"]:
            raise BundleError(f"{self.path}: has no system {system!r}; it ships {self.systems}")
        meta = self.config["systems"][system]
        prompts = load_file(self.path / "prompts.safetensors")
        content, codec, speaker = self.encoders()
        lm = self._load(CodecLM(apply_overrides(LMConfig(), _stored_config(self.config, "lm"))), f"lm-{system}.safetensors", "lm")
        return (AnonymizerParts(lm, codec, content, meta["use_sep"], prompts["pseudo_mean"], prompts["pseudo_std"],
                                speaker_encoder=speaker, codec_has_encoder=self.ships_codec_encoder),
                apply_overrides(InferenceConfig(), {**PRE_FIELD_DEFAULTS["inference"], **meta["inference"]}))

    def prompt_tokens(self) -> dict[str, dict[str, torch.Tensor]]:
        """utt -> {content, acoustic, speaker} of the prompt pool, as ``anonymize.prompt_tokens`` gives them."""
        p = load_file(self.path / "prompts.safetensors")
        ends = p["lengths"].cumsum(0).tolist()
        starts = [0] + ends[:-1]
        return {u["utt_id"]: {"content": p["content"][s:e], "acoustic": p["acoustic"][s:e], "speaker": p["speaker"][i],
                              **({"prosody": p["prosody"][s:e]} if "prosody" in p else {})}
                for i, (u, s, e) in enumerate(zip(self.config["prompt_utts"], starts, ends))}

    def pools(self) -> dict:
        """The prompt pools ``pairs.prompt_for`` draws from (the vctk pool; no audio)."""
        from .kaldi import DataDir, Utterance

        utts = {u["utt_id"]: Utterance(u["utt_id"], u["speaker"], self.path, emotion=u["emotion"], gender=u["gender"],
                                       duration=u["duration"]) for u in self.config["prompt_utts"]}
        return {"vctk": DataDir(self.path, utts)}


def load_bundle(path: Path | str) -> Bundle:
    """Open a bundle after checking every file against its manifest (BundleError otherwise)."""
    path = Path(path)
    manifest_path = path / "manifest.json"
    if not manifest_path.exists():
        raise BundleError(f"{manifest_path}: no bundle manifest (rebuild with `python -m paperlib.bundle export`)")
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise BundleError(f"{manifest_path}: unreadable manifest ({exc})") from None
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{manifest_path}: bundle format {manifest.get('format')}, this code reads {BUNDLE_FORMAT}")
    for name, entry in files.items():
        file = path / name
        if not file.exists():
            raise BundleError(f"{file}: listed in the manifest but missing")
        if _sha256(file) != entry["sha256"]:
            raise BundleError(f"{file}: sha256 differs from the manifest (corrupt or modified file)")
    if "config.json" not in files:
        raise BundleError(f"{manifest_path}: lists no config.json")
    return Bundle(path, json.loads((path / "config.json").read_text()), manifest)


def main(argv: list[str] | None = None) -> int:
    from .stages import Workspace

    parser = argparse.ArgumentParser(prog="python -m paperlib.bundle", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    ex = sub.add_parser("export", help="rebuild models/<scale>/ from the trained cache (trains what is missing)")
    ex.add_argument("--scale", default="mini", choices=["smoke", "mini", "full"])
    ex.add_argument("-o", "--output", type=Path, help="bundle folder (default models/<scale>)")
    ck = sub.add_parser("check", help="verify a bundle's files against its manifest")
    ck.add_argument("path", type=Path, nargs="?", default=paths.models_dir("mini"))
    args = parser.parse_args(argv)
    if args.cmd == "export":
        out = export_bundle(Workspace(args.scale), args.output)
    else:
        try:
            out = load_bundle(args.path).path
        except BundleError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    manifest = json.loads((out / "manifest.json").read_text())
    size = sum(f["bytes"] for f in manifest["files"].values()) + (out / "manifest.json").stat().st_size
    print(f"{out}: {len(manifest['files'])} files, {size / 1e6:.1f} MB, built from {manifest['git_commit'][:10]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
