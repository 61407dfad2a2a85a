"""python -m paperlib anonymize IN.wav -o OUT.wav [--target vctk-1fix] [--delay 2] [--stream] [--system exp7]

Anonymizes any wav (any sample rate, mono or stereo) with a trained system of a scale. Bad input
(missing, empty, too short, corrupt, NaN) is reported with the file name and the problem.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paperlib", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    an = sub.add_parser("anonymize", help="anonymize one wav file")
    an.add_argument("input", type=Path)
    an.add_argument("-o", "--output", type=Path, required=True)
    an.add_argument("--target", default="vctk-1fix", help="prompt strategy (vctk-1fix, vctk-1rnd, vctk-4rnd, "
                                                         "cross-ds-4rnd, crema-emo-4rnd)")
    an.add_argument("--delay", type=int, default=2, help="lookahead d in frames of 48 ms (0..8)")
    an.add_argument("--stream", action="store_true", help="run the chunk-by-chunk streaming path")
    an.add_argument("--system", default="frame-distill",
                    help="Table 1 system: vctk-1fix (baseline), pool-distill, frame-distill, ...")
    an.add_argument("--scale", default="mini", choices=["smoke", "mini", "full"])
    an.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from .anonymize import StreamingAnonymizer, anonymized_speaker, generate, make_prompt, prompt_pools, prompt_tokens
    from .audio import AudioError, load_wav, save_wav
    from .kaldi import Utterance
    from .pairs import prompt_for
    from .systems import system_parts
    from .stages import Workspace

    try:
        with warnings.catch_warnings(record=True) as notes:
            warnings.simplefilter("always")
            wav = load_wav(args.input)
        for note in notes:
            print(f"note: {note.message}", file=sys.stderr)
    except AudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not 0 <= args.delay <= 8:
        print(f"error: --delay must be in 0..8, got {args.delay}", file=sys.stderr)
        return 2
    ws = Workspace(args.scale)
    parts, inf = system_parts(ws, args.system, args.seed)
    inf.delay, inf.prompt_strategy = args.delay, args.target
    source = Utterance(args.input.stem, "user", args.input)
    prompt = make_prompt(prompt_tokens(ws), prompt_for(args.target, source, prompt_pools(ws), args.seed))
    speaker = anonymized_speaker(parts, prompt, inf.anon_alpha, args.seed)
    start = time.perf_counter()
    if args.stream:
        sa = StreamingAnonymizer(parts, prompt, speaker, inf, args.seed)
        frames = []
        with sa.streaming():
            x = torch.from_numpy(wav)
            for i in range(0, len(x), 768):
                frames += sa.push(x[i:i + 768])
            frames += sa.flush()
        codes, tokens = torch.stack(frames), torch.tensor(sa.source_tokens)
    else:
        tokens = parts.content_encoder.encode(torch.from_numpy(wav)[None])[0]
        codes = generate(parts.lm, [prompt], [tokens], speaker[None], inf, parts.use_sep, [args.seed])[0]
    out = parts.codec.decode_to_wav(codes, tokens[: len(codes)])
    save_wav(args.output, out / max(1.0, float(np.abs(out).max()) / 0.95))
    took = time.perf_counter() - start
    print(f"wrote {args.output} ({len(out) / 16000:.2f} s audio, {took:.2f} s, RTF {took / (len(wav) / 16000):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
