"""python -m paperlib anonymize IN -o OUT [--system frame-distill|baseline] [--target vctk-1fix | --target-voice V.wav]
                                        [--delay 2] [--stream]

Anonymizes one audio file, or every .wav/.flac under a folder (recursively; OUT is then a folder with
the same relative names). The output is 16 kHz mono in the input's format, on the input's time line. The
model is the trained cache of --scale when it holds the system (`make pipeline`), else the committed
bundle models/<scale>/ (`python -m paperlib.bundle export` rebuilds it), so a fresh clone anonymizes right
after `make install`; --model forces one of the two.

Recordings as they come: any sample rate (resampled to 16 kHz), stereo (down-mixed); leading and trailing
silence is left out of the anonymization and comes back as silence; a level more than {tol:g} dB from the
training level ({level:g} dBFS) is brought to within {tol:g} dB of it; clipping is reported; a silent file gives
silence; a file longer than {max_chunk:g} s is anonymized in pieces of {min_chunk:g}-{max_chunk:g} s cut at its pauses (one prompt and one
pseudo-speaker for all of them, a progress bar per file). Each of these is printed as a note.

What is kept of the input besides its words: the system's LM reads the input's prosody (level, voicing,
F0 relative to its own running mean) beside the content tokens, and the output's running speech level follows
the input's (how loud the speaker was; the F0 and voice are the target's).

--target-voice V.wav: the output speaks with the voice of a consenting target speaker instead of the
shipped pool's: a few seconds of their speech (at least {min_target:g} s after silence is trimmed, voiced like speech;
its first {max_target:g} s are used) are encoded into the prompt with the shipped encoders.

Existing outputs are skipped unless --overwrite (a stopped run resumes). A bad file (missing, empty, too
short, corrupt, NaN, not audio) is reported by name with the problem and skipped; outputs are written
whole or not at all. Exit status: 0 all done, 1 some files failed, 2 bad arguments or no model.

The models are small and were trained on MiniVPC (synthetic voices); on real recordings they are out of
their domain: see the README's "Honest limits" before relying on the output.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

AUDIO_SUFFIXES = (".wav", ".flac")


def _jobs(source: Path, output: Path) -> list[tuple[Path, Path, str]]:
    """(input, output, utterance id) of every file to anonymize; the id seeds the prompt draw."""
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
        return [(f, output / f.relative_to(source), f.relative_to(source).with_suffix("").as_posix()) for f in files]
    return [(source, output / source.name if output.is_dir() else output, source.stem)]


def _trained_in_cache(ws, key: str, seed: int) -> bool:
    """Whether the scale's cache holds every model of the system (nothing would be trained)."""
    from .systems import load_system
    from .train import finetune_path, pretrain_path

    if not (ws.data_root / "config_hash.txt").exists():
        return False
    needed = [ws.content_path(), ws.codec_path(), ws.speaker_path(), pretrain_path(ws), ws.target_voices_path()]
    if ws.cfg.decoder_adapt.enabled:
        needed.append(ws.decoder_path())
    if not all(p.exists() for p in needed):
        return False
    spec = load_system(ws, key, seed)            # reads the target voice, so only once it is there
    return spec.finetune.pairing == "none" or finetune_path(ws, spec.finetune).exists()


def load_system_for_inference(scale: str, system: str, model: str, bundle_path: Path | None, seed: int):
    """(parts, InferenceConfig, prompt tokens, prompt pools, the prompt strategies they serve, where from) of a
    system: cache or bundle."""
    from . import paths
    from .bundle import SYSTEMS, load_bundle

    if model in ("auto", "cache") and paths.data_dir(scale).exists():
        from .anonymize import prompt_pools, prompt_tokens
        from .pairs import PROMPT_STRATEGIES
        from .stages import Workspace
        from .systems import system_parts

        ws, key = Workspace(scale), SYSTEMS.get(system, system)
        if model == "cache" or _trained_in_cache(ws, key, seed):
            parts, inf = system_parts(ws, key, seed)
            return parts, inf, prompt_tokens(ws), prompt_pools(ws), PROMPT_STRATEGIES, f"cache/{scale}"
    if model == "cache":
        raise FileNotFoundError(f"{paths.data_dir(scale)}: no data for --model cache (run `make pipeline`)")
    bundle = load_bundle(bundle_path or paths.models_dir(scale))
    parts, inf = bundle.parts(system)
    return parts, inf, bundle.prompt_tokens(), bundle.pools(), bundle.strategies, str(bundle.path)


def _help_text() -> str:
    """The module docstring with the input-conditioning constants filled in (paperlib.inputs)."""
    from . import inputs

    return __doc__.format(tol=inputs.LEVEL_TOLERANCE_DB, level=inputs.TRAINING_LEVEL_DBFS, max_chunk=inputs.MAX_CHUNK_S,
                          min_chunk=inputs.MIN_CHUNK_S, min_target=inputs.MIN_TARGET_SPEECH_S,
                          max_target=inputs.MAX_TARGET_S)


def main(argv: list[str] | None = None) -> int:
    help_text = _help_text()
    parser = argparse.ArgumentParser(prog="python -m paperlib", description=help_text,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    an = sub.add_parser("anonymize", help="anonymize an audio file or a folder of them",
                        description=help_text, formatter_class=argparse.RawDescriptionHelpFormatter)
    an.add_argument("input", type=Path, help="an audio file, or a folder (every .wav/.flac under it)")
    an.add_argument("-o", "--output", type=Path, required=True, help="output file, or folder for a folder input")
    an.add_argument("--system", default="frame-distill",
                    help="frame-distill (Exp7) or baseline; from the cache also any Table 1/2 row, e.g. "
                         "table2/5_exp5_causal")
    an.add_argument("--target", help="prompt strategy: vctk-1fix (the system's default), vctk-1rnd, vctk-4rnd; "
                                     "from the cache also cross-ds-4rnd, crema-emo-4rnd")
    an.add_argument("--target-voice", type=Path, metavar="WAV",
                    help="a consenting target speaker's recording (>= 3 s of speech): the prompt is made from it "
                         "instead of the shipped pool (needs a bundle that ships the encoders, or the cache)")
    an.add_argument("--delay", type=int, default=2, help="lookahead d in frames of 48 ms (0..8)")
    an.add_argument("--stream", action="store_true",
                    help="stream: 48 ms chunks in, each output frame decoded to its 48 ms of audio as it comes "
                         "(WORLD per frame); without it, whole-utterance generation and decoding")
    an.add_argument("--model", default="auto", choices=["auto", "cache", "bundle"],
                    help="auto: the trained cache when it holds the system, else the bundle")
    an.add_argument("--bundle", type=Path, help="bundle folder (default models/<scale>)")
    an.add_argument("--scale", default="mini", choices=["smoke", "mini", "full"])
    an.add_argument("--seed", type=int, default=0)
    an.add_argument("--overwrite", action="store_true", help="redo outputs that already exist")
    args = parser.parse_args(argv)

    from tqdm import tqdm

    from .audio import AudioError, is_valid_wav, save_wav
    from .bundle import BundleError

    if not 0 <= args.delay <= 8:
        print(f"error: --delay must be in 0..8, got {args.delay}", file=sys.stderr)
        return 2
    if args.target and args.target_voice:
        print("error: --target and --target-voice exclude each other (a strategy of the shipped pool, or your "
              "own target speaker)", file=sys.stderr)
        return 2
    if not args.input.exists():
        print(f"error: {args.input}: no such file or folder", file=sys.stderr)
        return 2
    if args.input.is_dir() and args.output.exists() and not args.output.is_dir():
        print(f"error: {args.output}: a folder input needs an output folder", file=sys.stderr)
        return 2
    jobs = _jobs(args.input, args.output)
    if not jobs:
        print(f"error: {args.input}: no .wav or .flac files under it", file=sys.stderr)
        return 2
    target_wav = None
    if args.target_voice:
        from .inputs import check_target_voice

        try:                        # checked before any model is loaded: a bad target voice fails at once
            target_wav = check_target_voice(_read_audio(args.target_voice), str(args.target_voice))
        except AudioError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    model = prompt = None
    done = skipped = failed = 0
    audio_s = took_s = 0.0
    for src, dst, utt_id in tqdm(jobs, desc="anonymize", unit="file", disable=len(jobs) == 1):
        if dst.exists() and not args.overwrite and is_valid_wav(dst):
            skipped += 1
            continue
        try:
            wav = _read_audio(src)
        except AudioError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        if model is None:           # loaded at the first good file: bad inputs are reported without a model
            try:
                start = time.perf_counter()
                parts, inf, ptoks, pools, strategies, origin = load_system_for_inference(
                    args.scale, args.system, args.model, args.bundle, args.seed)
                print(f"model: {args.system} from {origin} ({time.perf_counter() - start:.1f} s)", file=sys.stderr)
            except (BundleError, FileNotFoundError, KeyError) as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            inf.delay = args.delay
            inf.prompt_strategy = args.target or inf.prompt_strategy
            if target_wav is not None:
                from .anonymize import prompt_from_recording

                try:
                    prompt = prompt_from_recording(parts, target_wav)
                except ValueError as exc:
                    print(f"error: --target-voice: {origin}: {exc}", file=sys.stderr)
                    return 2
            elif inf.prompt_strategy not in strategies:
                print(f"error: --target {inf.prompt_strategy}: {origin} ships prompts for {', '.join(strategies)} "
                      f"only; the others need the trained cache", file=sys.stderr)
                return 2
            model = parts
        start = time.perf_counter()
        try:
            from .anonymize import anonymize_recording

            out = anonymize_recording(model, inf, ptoks, pools, wav, utt_id, args.seed, args.stream, prompt, str(src))
            save_wav(dst, out)
        except Exception as exc:      # one file's failure must not stop the rest
            print(f"error: {src}: anonymization failed ({type(exc).__name__}: {exc})", file=sys.stderr)
            failed += 1
            continue
        took_s += time.perf_counter() - start
        audio_s += len(wav) / 16000
        done += 1
        if len(jobs) == 1:
            print(f"wrote {dst} ({len(out) / 16000:.2f} s audio, {took_s:.2f} s, RTF {took_s / audio_s:.2f})")
    if len(jobs) > 1 or failed or skipped:
        rtf = f", RTF {took_s / audio_s:.2f}" if audio_s else ""
        print(f"{done} done, {skipped} skipped, {failed} failed{rtf}")
    return 1 if failed else 0


def _read_audio(path: Path):
    """16 kHz mono float32 of ``path`` (AudioError naming it); resampling and down-mixing printed as notes."""
    from .audio import load_wav

    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always")
        wav = load_wav(path)
    for note in notes:
        print(f"note: {note.message}", file=sys.stderr)
    return wav


if __name__ == "__main__":
    sys.exit(main())
