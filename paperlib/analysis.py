"""Small cached analyses used by the notebooks (prosody statistics per emotion and per system)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyworld

from .audio import SAMPLE_RATE, load_wav
from .utils import atomic_write_text, config_hash


def prosody(wav: np.ndarray) -> dict[str, float]:
    """Median F0 (Hz), F0 range (semitones, 10-90th pct), RMS (dBFS), voiced fraction."""
    x = wav.astype(np.float64)
    f0, t = pyworld.dio(x, SAMPLE_RATE, frame_period=10.0)
    f0 = pyworld.stonemask(x, f0, t, SAMPLE_RATE)
    voiced = f0[f0 > 0]
    rms = float(20 * np.log10(np.sqrt(np.mean(x ** 2)) + 1e-9))
    if len(voiced) < 3:
        return {"f0_median": np.nan, "f0_range_st": np.nan, "rms_db": rms, "voiced": 0.0}
    lo, hi = np.percentile(voiced, [10, 90])
    return {"f0_median": float(np.median(voiced)), "f0_range_st": float(12 * np.log2(hi / lo)), "rms_db": rms,
            "voiced": float(len(voiced) / len(f0))}


def prosody_table(items: list[tuple[str, str, Path]], cache_csv: Path) -> pd.DataFrame:
    """items: (system, utt, wav path) -> DataFrame cached as CSV, keyed by the item list (system dirs are
    named by config hash, so new systems never read a stale table)."""
    cache_csv = cache_csv.with_name(f"{cache_csv.stem}-{config_hash([(s, u, str(p)) for s, u, p in items])}.csv")
    if cache_csv.exists():
        return pd.read_csv(cache_csv)
    rows = [{"system": s, "utt": u, **prosody(load_wav(p))} for s, u, p in items if Path(p).exists()]
    df = pd.DataFrame(rows)
    cache_csv.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cache_csv, df.to_csv(index=False))
    return df
