"""Forced phone alignment of known transcripts (pocketsphinx's bundled en-US acoustic model and CMUdict).

The content encoder's dense target and the phonetic probes need, for every 48 ms token frame, the phones
of its four 12 ms quarters. pocketsphinx aligns in two passes: word alignment (``set_align_text``), then
sub-word alignment (``set_alignment``), giving phones with 10 ms starts and durations.

    python -m paperlib.align --scale mini train_pretrain     # align one data dir (cached), print failures

Utterances that cannot be aligned (a word missing from the dictionary, empty text, no alignment found) are
named with their reason and left out of the labels; the data card counts them.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass

import numpy as np

from .audio import SAMPLE_RATE
from .phones import PHONE_INDEX, PHONES, QUARTERS

ALIGN_FRAME_MS = 10                     # pocketsphinx's frame rate
ALIGNER_VERSION = "pocketsphinx-5.1.1-en-us-2pass-nofwdflat"   # part of the cache key of the labels


class AlignmentError(ValueError):
    """An utterance that cannot be aligned; the message is the reason."""


def normalise_words(text: str) -> list[str]:
    """Transcript -> CMUdict words: lower case, punctuation dropped except in-word apostrophes."""
    return [w.strip("'") for w in re.sub(r"[^a-z' ]", " ", text.lower()).split() if w.strip("'")]


@dataclass
class PhoneSegment:
    phone: int          # index into PHONES
    start: int          # in 10 ms frames
    duration: int


class Aligner:
    """One pocketsphinx decoder, reused across utterances (creating it loads the model, ~0.3 s)."""

    def __init__(self) -> None:
        from pocketsphinx import Decoder, get_model_path

        # without the flat-lexicon and best-path passes: with them the sub-word pass fails to finish on some
        # utterances ("Failed to stop utterance processing"), and alignment does not use them
        self.decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL", fwdflat=False, bestpath=False)
        with open(f"{get_model_path()}/en-us/cmudict-en-us.dict", encoding="utf-8") as handle:
            self.dictionary = {line.split(maxsplit=1)[0] for line in handle if line.strip()}

    def align(self, wav: np.ndarray, text: str) -> list[PhoneSegment]:
        words = normalise_words(text)
        if not words:
            raise AlignmentError("empty transcript")
        missing = sorted({w for w in words if w not in self.dictionary})
        if missing:
            raise AlignmentError(f"not in the pronunciation dictionary: {', '.join(missing)}")
        if len(wav) < SAMPLE_RATE // 10:
            raise AlignmentError(f"audio too short ({len(wav)} samples)")
        raw = (np.clip(wav, -1, 1) * 32767).astype("<i2").tobytes()
        dec = self.decoder
        try:
            dec.set_align_text(" ".join(words))
            for second_pass in (False, True):
                if second_pass:
                    dec.set_alignment()
                dec.start_utt()
                dec.process_raw(raw, full_utt=True)
                dec.end_utt()
            alignment = dec.get_alignment()
        except RuntimeError as err:
            raise AlignmentError(f"pocketsphinx: {err}") from err
        segments = [PhoneSegment(PHONE_INDEX.get(p.name, 0), p.start, p.duration)
                    for word in (alignment or []) for p in word]
        if not any(s.phone for s in segments):
            raise AlignmentError("the aligner found no phones")
        return segments


def quarter_phones(segments: list[PhoneSegment], n_tokens: int, frame_ms: float) -> np.ndarray:
    """Phone segments -> (n_tokens, 4) int8: the phone at the centre of each 12 ms quarter of every token
    frame (silence past the last segment)."""
    per_10ms = np.zeros(max((s.start + s.duration for s in segments), default=0) + 1, dtype=np.int8)
    for s in segments:
        per_10ms[s.start:s.start + s.duration] = s.phone
    quarter_ms = frame_ms / QUARTERS
    centres = (np.arange(n_tokens * QUARTERS) * quarter_ms + quarter_ms / 2) // ALIGN_FRAME_MS
    idx = centres.astype(int)
    labels = np.where(idx < len(per_10ms), per_10ms[np.minimum(idx, len(per_10ms) - 1)], 0)
    return labels.reshape(n_tokens, QUARTERS).astype(np.int8)


def _align_worker(args):
    utt, wav, text, n_tokens, frame_ms = args
    aligner = _worker_aligner()
    try:
        return utt, quarter_phones(aligner.align(wav, text), n_tokens, frame_ms), None
    except AlignmentError as err:
        return utt, None, str(err)


_ALIGNER: Aligner | None = None


def _worker_aligner() -> Aligner:
    global _ALIGNER
    if _ALIGNER is None:
        _ALIGNER = Aligner()
    return _ALIGNER


def align_items(items: list[tuple[str, np.ndarray, str]], n_tokens: dict[str, int], frame_ms: float,
                workers: int = 2, desc: str = "align") -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """[(utt, wav, text)] -> ({utt: (T, 4) quarter phones}, {utt: reason it failed})."""
    import multiprocessing as mp

    from tqdm import tqdm

    jobs = [(u, w, t, n_tokens[u], frame_ms) for u, w, t in items]
    labels, failures = {}, {}
    with mp.get_context("fork").Pool(workers) as pool:
        for utt, lab, err in tqdm(pool.imap(_align_worker, jobs, chunksize=8), total=len(jobs), desc=desc):
            if err is None:
                labels[utt] = lab
            else:
                failures[utt] = err
    return labels, failures


if __name__ == "__main__":    # the command lives with the stages it runs: no import cycle (paperlib.commands)
    from paperlib.commands import align_main

    sys.exit(align_main())
