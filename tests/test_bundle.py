"""The committed mini bundle (models/mini) loads with this code and anonymizes; the smoke-scale export,
equality with the cache and the CLI on folders are tested in test_paper_smoke.py."""
import numpy as np

from paperlib import paths


def test_committed_mini_bundle_loads_and_anonymizes():
    from paperlib.anonymize import anonymize_waveform
    from paperlib.bundle import SYSTEMS, load_bundle

    bundle = load_bundle(paths.models_dir("mini"))           # every file checked against the manifest
    assert set(bundle.systems) == set(SYSTEMS)
    size = sum(f["bytes"] for f in bundle.manifest["files"].values())
    assert size < 25e6, f"bundle is {size / 1e6:.1f} MB"
    wav = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    parts, inf = bundle.parts("baseline")
    out = anonymize_waveform(parts, inf, bundle.prompt_tokens(), bundle.pools(), wav, "noise", 0)
    assert np.isfinite(out).all() and abs(len(out) - len(wav)) <= 768 * 3
