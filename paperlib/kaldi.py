"""Kaldi-style data directories as VoicePrivacy 2024 uses them.

Files: wav.scp, utt2spk, spk2utt, spk2gender, text, utt2dur and, where they
apply, utt2emo, spk2fold, trials. wav.scp paths may be absolute or relative to
the data root; every path is checked to exist and to stay inside the root.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .utils import atomic_write_text


class ManifestError(ValueError):
    """A data dir is malformed; the message names the file, the line and the problem."""


@dataclass
class Utterance:
    utt_id: str
    speaker: str
    path: Path
    text: str = ""
    emotion: str = ""
    gender: str = ""
    duration: float = 0.0


@dataclass
class DataDir:
    path: Path
    utts: dict[str, Utterance] = field(default_factory=dict)
    spk2gender: dict[str, str] = field(default_factory=dict)
    spk2fold: dict[str, int] = field(default_factory=dict)
    trials: list[tuple[str, str, bool]] = field(default_factory=list)

    @property
    def speakers(self) -> list[str]:
        return sorted({u.speaker for u in self.utts.values()})

    def by_speaker(self) -> dict[str, list[Utterance]]:
        out: dict[str, list[Utterance]] = defaultdict(list)
        for utt in sorted(self.utts.values(), key=lambda u: u.utt_id):
            out[utt.speaker].append(utt)
        return dict(out)

    def __len__(self) -> int:
        return len(self.utts)


def _read_table(path: Path, min_fields: int = 2, rest_is_one: bool = True) -> list[tuple[int, list[str]]]:
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1 if rest_is_one else -1)
        if len(parts) < min_fields:
            raise ManifestError(f"{path}:{lineno}: expected at least {min_fields} fields, got {line!r}")
        rows.append((lineno, parts))
    return rows


def read_data_dir(path: str | Path, root: str | Path | None = None, check_audio: bool = True) -> DataDir:
    """Read and validate a Kaldi data dir. ``root`` bounds relative and absolute wav paths (default: dir's parent)."""
    path = Path(path)
    if not (path / "wav.scp").exists():
        raise ManifestError(f"{path}: not a data dir (no wav.scp)")
    root = Path(root) if root is not None else path.parent
    root_resolved = root.resolve()
    data = DataDir(path=path)
    utt2spk = {p[0]: p[1].strip() for _, p in _read_table(path / "utt2spk")} if (path / "utt2spk").exists() else {}
    for lineno, (utt, wav) in _read_table(path / "wav.scp"):
        wav = wav.strip()
        if wav.endswith("|"):
            raise ManifestError(f"{path / 'wav.scp'}:{lineno}: piped commands are not supported ({wav!r}); "
                                "convert the audio to wav files first")
        wav_path = Path(wav) if Path(wav).is_absolute() else root / wav
        resolved = wav_path.resolve()
        if root_resolved not in resolved.parents:
            raise ManifestError(f"{path / 'wav.scp'}:{lineno}: {wav!r} points outside the data root {root}")
        if check_audio and not resolved.exists():
            raise ManifestError(f"{path / 'wav.scp'}:{lineno}: audio file {resolved} does not exist")
        if utt not in utt2spk:
            raise ManifestError(f"{path / 'utt2spk'}: no speaker for utterance {utt!r} listed in wav.scp")
        data.utts[utt] = Utterance(utt, utt2spk[utt], resolved)
    for name, attr in (("text", "text"), ("utt2emo", "emotion")):
        if (path / name).exists():
            for lineno, parts in _read_table(path / name, min_fields=1):
                if parts[0] in data.utts:
                    setattr(data.utts[parts[0]], attr, parts[1].strip() if len(parts) > 1 else "")
    if (path / "utt2dur").exists():
        for lineno, (utt, dur) in _read_table(path / "utt2dur"):
            if utt in data.utts:
                try:
                    data.utts[utt].duration = float(dur)
                except ValueError:
                    raise ManifestError(f"{path / 'utt2dur'}:{lineno}: duration {dur!r} is not a number") from None
    if (path / "spk2gender").exists():
        data.spk2gender = {p[0]: p[1].strip() for _, p in _read_table(path / "spk2gender")}
        for utt in data.utts.values():
            utt.gender = data.spk2gender.get(utt.speaker, "")
    if (path / "spk2fold").exists():
        for lineno, (spk, fold) in _read_table(path / "spk2fold"):
            try:
                data.spk2fold[spk] = int(fold)
            except ValueError:
                raise ManifestError(f"{path / 'spk2fold'}:{lineno}: fold {fold!r} is not an integer") from None
    if (path / "trials").exists():
        for lineno, parts in _read_table(path / "trials", min_fields=3, rest_is_one=False):
            label = parts[2].strip()
            if label not in ("target", "nontarget"):
                raise ManifestError(f"{path / 'trials'}:{lineno}: label must be target|nontarget, got {label!r}")
            if parts[1] not in data.utts:
                raise ManifestError(f"{path / 'trials'}:{lineno}: trial utterance {parts[1]!r} not in wav.scp")
            data.trials.append((parts[0], parts[1], label == "target"))
    return data


def write_data_dir(path: Path, utts: list[Utterance], root: Path, spk2gender: dict[str, str],
                   spk2fold: dict[str, int] | None = None, trials: list[tuple[str, str, bool]] | None = None) -> None:
    """Write a Kaldi data dir atomically (sorted, wav paths relative to ``root``)."""
    utts = sorted(utts, key=lambda u: u.utt_id)
    spk2utt: dict[str, list[str]] = defaultdict(list)
    for u in utts:
        spk2utt[u.speaker].append(u.utt_id)

    def rel(p: Path) -> str:
        try:
            return str(Path(p).resolve().relative_to(root.resolve()))
        except ValueError:
            return str(p)

    files = {
        "wav.scp": [f"{u.utt_id} {rel(u.path)}" for u in utts],
        "utt2spk": [f"{u.utt_id} {u.speaker}" for u in utts],
        "spk2utt": [f"{s} {' '.join(v)}" for s, v in sorted(spk2utt.items())],
        "spk2gender": [f"{s} {spk2gender[s]}" for s in sorted(spk2utt)],
        "text": [f"{u.utt_id} {u.text}" for u in utts],
        "utt2dur": [f"{u.utt_id} {u.duration:.3f}" for u in utts],
    }
    if any(u.emotion for u in utts):
        files["utt2emo"] = [f"{u.utt_id} {u.emotion}" for u in utts]
    if spk2fold:
        files["spk2fold"] = [f"{s} {spk2fold[s]}" for s in sorted(spk2utt)]
    if trials:
        files["trials"] = [f"{e} {t} {'target' if y else 'nontarget'}" for e, t, y in trials]
    path.mkdir(parents=True, exist_ok=True)
    for name, lines in files.items():
        atomic_write_text(path / name, "\n".join(lines) + "\n")
