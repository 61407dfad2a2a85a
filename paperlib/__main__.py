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
    an.add_argument("--stream", action="store_true",
                    help="stream: 48 ms chunks in, each output frame decoded to its 48 ms of audio as it comes "
                         "(WORLD per frame); without it, whole-utterance generation and decoding")
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
        # 48 ms in, frames out, each decoded to its 48 ms of audio as it comes (what a live system would play)
        sa = StreamingAnonymizer(parts, prompt, speaker, inf, args.seed)
        pieces = []
        with sa.streaming(), parts.codec.streaming(1):
            x = torch.from_numpy(wav)
            for chunk in [x[i:i + 768] for i in range(0, len(x), 768)] + [None]:
                for frame in sa.push(chunk) if chunk is not None else sa.flush():
                    pieces.append(parts.codec.decode_frame_to_wav(frame, sa.source_tokens[len(pieces)]))
        out = np.concatenate(pieces)
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
