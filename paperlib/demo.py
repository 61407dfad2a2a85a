"""The audio demo page (static HTML, relative audio files, preload="none", no base64 blobs).

Section 1 mirrors the paper's samples: 3 IEMOCAP-like utterances per emotion x 6 methods, waveform images
that play on click and a "Play all" button that plays a row's methods in sequence. Section 2 compares the
ablation rows (Baseline, Exp1..Exp7) on sad utterances. Sample choice is deterministic (seeded hash).
"""
from __future__ import annotations

import html
import shutil
from pathlib import Path

import numpy as np

from .config import EMOTIONS
from .utils import atomic_write_text, stable_int

DEMO_METHODS = (("Original", None), ("Baseline vctk-1fix", "table1/0_vctk-1fix"),
                ("crema-emo-4rnd", "table1/1_crema-emo-4rnd"), ("+[SEP] (Exp3)", "table2/3_exp3_sep"),
                ("pool-distill", "table1/2_pool-distill"), ("frame-distill", "table1/3_frame-distill"))
ABLATION_ROWS = ("table2/0_baseline", "table2/1_exp1_ft_crema", "table2/2_exp2_neu_emo", "table2/3_exp3_sep",
                 "table2/4_exp4_statpool", "table2/5_exp5_causal", "table2/6_exp6_sem", "table2/7_exp7_aco")
UTTS_PER_EMOTION = 3


def pick_samples(ws, seed: int = 0) -> dict[str, list[str]]:
    data = ws.data("IEMOCAP_test")
    out = {}
    for emo in EMOTIONS:
        utts = sorted(u for u, x in data.utts.items() if x.emotion == emo)
        out[emo] = sorted(utts, key=lambda u: stable_int(seed, "demo", u))[:UTTS_PER_EMOTION]
    return out


def _waveform_png(wav: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2.4, 0.6), dpi=80)
    ax.plot(np.arange(len(wav)) / 16000, wav, lw=0.4, color="#1f77b4")
    ax.set_axis_off(); ax.set_ylim(-1, 1)
    fig.subplots_adjust(0, 0, 1, 1)
    fig.savefig(path); plt.close(fig)


def _audio_path(ws, key: str | None, utt: str, seed: int) -> Path:
    if key is None:
        return ws.data("IEMOCAP_test").utts[utt].path
    from .systems import load_system, system_dir

    return system_dir(ws, load_system(ws, key, seed)) / "anon" / "IEMOCAP_test" / "wav" / f"{utt}.wav"


def _page_relpath(key: str | None, utt: str, kind: str = "audio", ext: str = "wav") -> Path:
    return Path(kind) / (key or "original").replace("/", "_") / f"{utt}.{ext}"


def playable_path(ws, key: str | None, utt: str, seed: int, demo_dir: Path) -> Path | None:
    """The anonymized (or original) wav to play: the cached system output, else the demo page's copy (built
    for seed 0 and committed, so a fresh clone can listen without building the systems), else None."""
    # systems are keyed by the target voice: where it is not known yet none was built here, and asking for
    # their paths would train the models to rank the voices
    built = key is None or ws.target_voice_known()
    candidates = ([_audio_path(ws, key, utt, seed)] if built else []) + (
        [demo_dir / _page_relpath(key, utt)] if seed == 0 else [])
    for path in candidates:
        if path.exists():
            return path
    return None


def _cell(ws, out_dir: Path, key: str | None, label: str, utt: str, seed: int) -> str:
    return _file_cell(out_dir, _audio_path(ws, key, utt, seed), _page_relpath(key, utt),
                      _page_relpath(key, utt, "img", "png"), label)


def _file_cell(out_dir: Path, src: Path, rel_wav: Path, rel_png: Path, label: str) -> str:
    """A table cell that plays ``src`` (copied to ``out_dir / rel_wav``) from its waveform image."""
    from .audio import load_wav

    if not src.exists():
        return f'<td class="missing">{html.escape(label)}: not computed</td>'
    for rel in (rel_wav, rel_png):
        (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, out_dir / rel_wav)
    _waveform_png(load_wav(src), out_dir / rel_png)
    return (f'<td><figure><img class="wave" src="{rel_png}" alt="{html.escape(label)} waveform" '
            f'title="click to play"><audio preload="none" src="{rel_wav}" controls></audio>'
            f'<figcaption>{html.escape(label)}</figcaption></figure></td>')


STYLE = """<style>
body { font-family: sans-serif; margin: 2em; } table { border-collapse: collapse; }
td, th { border: 1px solid #ddd; padding: 4px; vertical-align: top; font-size: 12px; }
img.wave { cursor: pointer; display: block; } audio { width: 190px; height: 28px; }
figure { margin: 0; } .playing { outline: 3px solid orange; }
</style>"""

SCRIPT = """<script>
function stopAll() { document.querySelectorAll('audio').forEach(a => { a.pause(); a.currentTime = 0; }); }
document.querySelectorAll('img.wave').forEach(img => img.addEventListener('click', () => {
  stopAll(); const a = img.parentElement.querySelector('audio'); a.play();
}));
window.playLog = [];
function playRow(btn) {
  stopAll();
  const audios = Array.from(btn.closest('tr').querySelectorAll('audio'));
  let i = 0;
  const next = () => {
    audios.forEach(a => a.closest('td').classList.remove('playing'));
    if (i >= audios.length) { window.playLog.push('done'); return; }
    const a = audios[i++];
    a.closest('td').classList.add('playing');
    window.playLog.push(a.getAttribute('src'));
    a.onended = next;
    a.play().catch(next);
  };
  next();
}
</script>"""

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>StreamVoiceAnon+ on MiniVPC: audio samples</title>
{style}</head><body>
<h1>StreamVoiceAnon+ companion: audio samples (MiniVPC, scale {scale})</h1>
<p>{intro}</p>
<p>Real recordings (held-out LibriSpeech readers) through the shipped bundle: <a href="real_speech.html">real_speech.html</a>
(written by <code>python -m paperlib.real_speech</code>).</p>
<h2>Samples: {n} utterances per emotion, {m} methods</h2>
<p>3 utterances per emotion, 6 methods each. Click a waveform to play, or use "Play all" to hear methods
sequentially.</p>
<table id="samples">{header}{rows}</table>
<h2>Ablation on sad utterances</h2>
<p>Compare key ablation configurations on sad utterances to hear the incremental effect of each component.</p>
<table id="ablation">{abl_header}{abl_rows}</table>
{script}</body></html>
"""


def build_demo_page(ws, out_dir: Path, seed: int = 0) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    samples = pick_samples(ws, seed)
    header = "<tr><th>emotion / utterance</th><th></th>" + "".join(f"<th>{html.escape(m)}</th>" for m, _ in DEMO_METHODS) + "</tr>"
    rows = []
    for emo, utts in samples.items():
        for utt in utts:
            cells = "".join(_cell(ws, out_dir, key, label, utt, seed) for label, key in DEMO_METHODS)
            rows.append(f'<tr data-emotion="{emo}"><td>{emo}<br><small>{utt}</small></td>'
                        f'<td><button class="playall" onclick="playRow(this)">Play all</button></td>{cells}</tr>')
    from .systems import load_system

    labels = [load_system(ws, k).label for k in ABLATION_ROWS]
    abl_header = "<tr><th>utterance</th><th></th><th>Original</th>" + "".join(f"<th>{l}</th>" for l in labels) + "</tr>"
    abl_rows = []
    for utt in samples["sad"]:
        cells = _cell(ws, out_dir, None, "Original", utt, seed)
        cells += "".join(_cell(ws, out_dir, k, l, utt, seed) for k, l in zip(ABLATION_ROWS, labels))
        abl_rows.append(f'<tr data-emotion="sad"><td><small>{utt}</small></td>'
                        f'<td><button class="playall" onclick="playRow(this)">Play all</button></td>{cells}</tr>')
    intro = ("Anonymized with the project's own mini-scale models trained on CPU on the synthetic MiniVPC "
             "benchmark (offline TTS + WORLD speakers and emotions); this is not the paper's audio.")
    page = PAGE.format(style=STYLE, script=SCRIPT, scale=html.escape(ws.scale), intro=intro, n=UTTS_PER_EMOTION, m=len(DEMO_METHODS),
                       header=header, rows="".join(rows), abl_header=abl_header, abl_rows="".join(abl_rows))
    atomic_write_text(out_dir / "index.html", page)
    return out_dir / "index.html"


REAL_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>StreamVoiceAnon+ companion: real speech</title>
{style}</head><body>
<h1>Real speech through the shipped anonymizer</h1>
<p>{intro}</p>
<table id="real">{header}{rows}</table>
{script}</body></html>
"""


def build_real_speech_page(out_dir: Path, samples: dict[str, dict[str, Path]], intro: str) -> Path:
    """``out_dir/real_speech.html``: one row per utterance (utt -> {label: wav}), each label a playable cell."""
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = list(next(iter(samples.values())))
    header = "<tr><th>utterance</th><th></th>" + "".join(f"<th>{html.escape(l)}</th>" for l in labels) + "</tr>"
    rows = []
    for utt, wavs in samples.items():
        cells = "".join(_file_cell(out_dir, wavs[l], Path("audio") / "real" / l / f"{utt}.wav",
                                   Path("img") / "real" / l / f"{utt}.png", l) for l in labels)
        rows.append(f'<tr><td><small>{html.escape(utt)}</small></td>'
                    f'<td><button class="playall" onclick="playRow(this)">Play all</button></td>{cells}</tr>')
    page = REAL_PAGE.format(style=STYLE, script=SCRIPT, intro=html.escape(intro), header=header, rows="".join(rows))
    atomic_write_text(out_dir / "real_speech.html", page)
    return out_dir / "real_speech.html"
