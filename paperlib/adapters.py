"""Adapters from local copies of real corpora to the project's Kaldi-style manifests.

    python -m paperlib.adapters crema-d  /corpora/CREMA-D   data/full/train_crema
    python -m paperlib.adapters iemocap  /vpc2024/data/IEMOCAP_dev data/full/IEMOCAP_dev   # VPC 2024 data dir
    python -m paperlib.adapters librispeech /corpora/LibriSpeech/test-clean data/full/libri_test
    python -m paperlib.adapters libritts /corpora/LibriTTS/train-clean-100 data/full/train_pretrain
    python -m paperlib.adapters vctk /corpora/VCTK-Corpus data/full/vctk_pool

Audio stays where it is: wav.scp holds absolute paths (wav or flac; soundfile reads both). Every record
is checked (file exists, readable); problems are reported together, naming files.
"""
from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

import soundfile as sf

from .kaldi import ManifestError, Utterance, read_data_dir, write_data_dir
from .sentences import CREMA_SENTENCES

CREMA_EMOTIONS = {"ANG": "ang", "HAP": "hap", "NEU": "neu", "SAD": "sad"}   # DIS/FEA are not in the protocol
VPC_EMOTION_MAP = {"ang": "ang", "hap": "hap", "exc": "hap", "neu": "neu", "sad": "sad"}


class CorpusError(ValueError):
    pass


def _finish(utts: list[Utterance], spk2gender: dict[str, str], out_dir: Path, problems: list[str],
            spk2fold: dict[str, int] | None = None) -> Path:
    for u in utts:
        try:
            info = sf.info(str(u.path))
            u.duration = info.frames / info.samplerate
        except Exception as exc:
            problems.append(f"{u.path}: unreadable audio ({exc.__class__.__name__})")
    if problems:
        raise CorpusError(f"{len(problems)} problems:\n  " + "\n  ".join(problems[:30]))
    if not utts:
        raise CorpusError("no utterances found")
    write_data_dir(out_dir, utts, Path("/"), spk2gender, spk2fold)
    return out_dir


def crema_d(root: Path, out_dir: Path) -> Path:
    """CREMA-D: AudioWAV/ActorID_Sentence_Emotion_Level.wav + VideoDemographics.csv (ActorID, Sex)."""
    root = Path(root)
    demo = root / "VideoDemographics.csv"
    if not demo.exists():
        raise CorpusError(f"{demo}: demographics CSV not found")
    with open(demo, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "ActorID" not in rows[0] or "Sex" not in rows[0]:
        raise CorpusError(f"{demo}: expected columns ActorID and Sex")
    spk2gender = {r["ActorID"]: ("f" if r["Sex"].strip().lower().startswith("f") else "m") for r in rows}
    audio_dir = root / "AudioWAV" if (root / "AudioWAV").exists() else root
    utts, problems = [], []
    for path in sorted(audio_dir.glob("*.wav")):
        m = re.fullmatch(r"(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})", path.stem)
        if not m:
            problems.append(f"{path}: name does not match ActorID_Sentence_Emotion_Level")
            continue
        actor, sentence, emotion, level = m.groups()
        if emotion not in CREMA_EMOTIONS:
            continue
        if sentence not in CREMA_SENTENCES:
            problems.append(f"{path}: unknown sentence code {sentence}")
            continue
        if actor not in spk2gender:
            problems.append(f"{path}: actor {actor} missing from {demo.name}")
            continue
        utts.append(Utterance(f"{actor}-{sentence}-{CREMA_EMOTIONS[emotion]}-{level}", actor, path.resolve(),
                              CREMA_SENTENCES[sentence].upper(), CREMA_EMOTIONS[emotion], spk2gender[actor]))
    return _finish(utts, spk2gender, out_dir, problems)


def kaldi_dir(src: Path, out_dir: Path) -> Path:
    """A VPC 2024 / IEMOCAP Kaldi data dir: validated, emotions mapped (exc -> hap), others dropped."""
    data = read_data_dir(src, root=Path("/"))
    utts, problems = [], []
    for u in data.utts.values():
        if u.emotion:
            if u.emotion not in VPC_EMOTION_MAP:
                continue
            u.emotion = VPC_EMOTION_MAP[u.emotion]
        utts.append(u)
    out = _finish(utts, data.spk2gender or {u.speaker: "u" for u in utts}, out_dir, problems, data.spk2fold or None)
    if (Path(src) / "trials").exists():
        (out / "trials").write_text((Path(src) / "trials").read_text())
    return out


def librispeech(root: Path, out_dir: Path) -> Path:
    """LibriSpeech subset dir (<spk>/<chapter>/*.flac + *.trans.txt); gender from ../SPEAKERS.TXT."""
    root = Path(root)
    speakers_txt = next((p for p in (root / "SPEAKERS.TXT", root.parent / "SPEAKERS.TXT") if p.exists()), None)
    spk2gender = {}
    if speakers_txt:
        for line in speakers_txt.read_text().splitlines():
            if line.startswith(";") or "|" not in line:
                continue
            parts = [p.strip() for p in line.split("|")]
            spk2gender[parts[0]] = parts[1].lower()
    utts, problems = [], []
    for trans in sorted(root.glob("*/*/*.trans.txt")):
        for line in trans.read_text().splitlines():
            if not line.strip():
                continue
            utt, text = line.split(" ", 1)
            audio = trans.parent / f"{utt}.flac"
            if not audio.exists():
                problems.append(f"{trans}: {utt} listed but {audio.name} missing")
                continue
            spk = utt.split("-")[0]
            utts.append(Utterance(utt, spk, audio.resolve(), text.strip(), "", spk2gender.get(spk, "u")))
    return _finish(utts, {u.speaker: spk2gender.get(u.speaker, "u") for u in utts}, out_dir, problems)


def libritts(root: Path, out_dir: Path) -> Path:
    """LibriTTS subset dir (<spk>/<chapter>/<id>.wav + <id>.normalized.txt); gender from speakers.tsv."""
    root = Path(root)
    spk2gender = {}
    tsv = next((p for p in (root / "speakers.tsv", root.parent / "speakers.tsv") if p.exists()), None)
    if tsv:
        for row in csv.reader(tsv.open(), delimiter="\t"):
            if len(row) >= 2 and row[0] != "READER":
                spk2gender[row[0]] = row[1].strip().lower()[:1]
    utts, problems = [], []
    for wav in sorted(root.glob("*/*/*.wav")):
        text_path = wav.with_suffix(".normalized.txt")
        if not text_path.exists():
            problems.append(f"{wav}: no {text_path.name}")
            continue
        spk = wav.stem.split("_")[0]
        utts.append(Utterance(wav.stem, spk, wav.resolve(), text_path.read_text().strip(), "", spk2gender.get(spk, "u")))
    return _finish(utts, {u.speaker: spk2gender.get(u.speaker, "u") for u in utts}, out_dir, problems)


def vctk(root: Path, out_dir: Path) -> Path:
    """VCTK (wav48[_silence_trimmed]/<spk>/*.{wav,flac} + txt/<spk>/*.txt + speaker-info.txt)."""
    root = Path(root)
    spk2gender = {}
    info = root / "speaker-info.txt"
    if info.exists():
        for line in info.read_text().splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 3:
                spk = parts[0] if parts[0].startswith("p") else f"p{parts[0]}"
                spk2gender[spk] = parts[2].lower()[:1]
    audio_root = next((root / d for d in ("wav48_silence_trimmed", "wav48") if (root / d).exists()), None)
    if audio_root is None:
        raise CorpusError(f"{root}: neither wav48_silence_trimmed/ nor wav48/ found")
    utts, problems = [], []
    for audio in sorted(list(audio_root.glob("*/*.wav")) + list(audio_root.glob("*/*_mic1.flac"))):
        base = audio.stem.replace("_mic1", "")
        spk = base.split("_")[0]
        txt = root / "txt" / spk / f"{base}.txt"
        if not txt.exists():
            continue      # VCTK has a few utterances without transcripts; they are not needed as prompts
        utts.append(Utterance(base, spk, audio.resolve(), txt.read_text().strip(), "neu", spk2gender.get(spk, "u")))
    return _finish(utts, {u.speaker: spk2gender.get(u.speaker, "u") for u in utts}, out_dir, problems)


ADAPTERS = {"crema-d": crema_d, "iemocap": kaldi_dir, "vpc": kaldi_dir, "librispeech": librispeech,
            "libritts": libritts, "vctk": vctk}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paperlib.adapters", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", choices=sorted(ADAPTERS))
    parser.add_argument("source", type=Path)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    try:
        out = ADAPTERS[args.corpus](args.source, args.out_dir)
    except (CorpusError, ManifestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({len(read_data_dir(out, root=Path('/')))} utterances)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
