"""`make paper SCALE=smoke` in miniature: every stage, every notebook under papermill, the demo page in a
real headless browser, and the CLI on a stereo 44.1 kHz file."""
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from paperlib import paths
from conftest import run_py, write_wav


@pytest.fixture(scope="module")
def smoke_paper(smoke_data):
    from paperlib.pipeline import run

    figs = run("smoke", seeds=[0])
    return figs


def test_tables_written(smoke_paper):
    for name in ("table2_ablation", "table1_methods", "table_prompts"):
        df = pd.read_csv(smoke_paper / f"{name}.csv")
        assert len(df) >= 4 and {"WER", "UAR", "EER-L", "EER-S", "Sad"} <= set(df.columns)
        assert df["paper_UAR"].notna().all()
        assert (smoke_paper / f"{name}.md").read_text().count("|") > 20
        assert "\\begin{tabular}" in (smoke_paper / f"{name}.tex").read_text()
    t2 = pd.read_csv(smoke_paper / "table2_ablation.csv")
    assert list(t2["system"]) == ["Baseline"] + [f"Exp{i}" for i in range(1, 8)]
    timings = pd.read_csv(smoke_paper / "system_timings.csv")
    assert len(timings) >= 8 and (timings["total"] > 0).all() and not timings[["key", "seed"]].duplicated().any()
    original = json.loads((smoke_paper / "original.json").read_text())
    assert 0 <= original["UAR"]["ci_low"] <= original["UAR"]["value"] <= original["UAR"]["ci_high"] <= 100


def test_eer_s_added_to_cached_results_equals_full_run(smoke_paper):
    """A system evaluated without EER-S gets it later by anonymizing train_asv and retraining the attacker
    only; the value must be the one a full evaluation gives."""
    import torch

    from paperlib.stages import Workspace
    from paperlib.systems import load_system, run_system, system_dir

    ws = Workspace("smoke")
    key = "table2/7_exp7_aco"
    out = system_dir(ws, load_system(ws, key, 0))
    full = json.loads((out / "results.json").read_text())
    partial = {k: v for k, v in full.items() if k != "EER-S"}
    (out / "results_no_eer_s.json").write_text(json.dumps(partial))
    (out / "results.json").unlink()
    shutil.rmtree(out / "anon" / "train_asv")           # anonymized training speech + its attacker
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                            # as the pipeline's workers ran it
    try:
        added = run_system(ws, key, 0, eer_s=True)
    finally:
        torch.set_num_threads(threads)
    assert (out / "anon" / "train_asv" / "wav.scp").exists()
    assert added["EER-S"]["value"] == pytest.approx(full["EER-S"]["value"], abs=1e-6)
    assert added["EER-S"]["ci_low"] == pytest.approx(full["EER-S"]["ci_low"], abs=1e-6)
    assert added["WER"] == full["WER"] and added["UAR"] == full["UAR"]
    assert "eer_s" in added["timing_s"]


def test_lm_report_and_code_statistics(smoke_paper):
    import math

    from paperlib.probes import acoustic_code_statistics
    from paperlib.stages import Workspace

    report = json.loads((smoke_paper / "lm_report.json").read_text())
    gen = report["generation"]
    assert gen["n_utts"] > 0 and gen["prompt"] == "vctk-1fix"
    assert all(0 <= gen[k] for k in ("sampled_WER", "greedy_WER", "codec_resynthesis_WER"))
    assert len(report["vctk_pool"]["accuracy"]) == 8
    table = report["count_table"]
    for part in ("held_out", "train_pretrain"):
        assert table[part]["n_utts"] > 0 and table[part]["WER"] >= 0 and len(table[part]["accuracy"]) == 8
    stats = acoustic_code_statistics(Workspace("smoke"))
    assert len(stats["codebooks"]) == 8
    for cb in stats["codebooks"]:
        assert 0 <= cb["repeat_rate"] <= 1
        assert all(math.isfinite(cb[k]) and cb[k] > 0
                   for k in ("unigram_ce", "previous_code_ce", "content_token_ce", "phone_ce"))


def test_tokenizer_report(smoke_paper):
    report = json.loads((smoke_paper / "tokenizer_report.json").read_text())
    dec = report["codec_decoding"]
    assert {"stages_0", "stages_1", "stages_8", "other_utterance_codes"} <= set(dec)
    assert -1 <= dec["own_codes_f0"]["f0_correlation"] <= 1
    acc = report["phone_accuracy"]
    assert all(0 <= acc[k] <= 100 for k in ("held_out", "train_pretrain", "chance"))


def test_cli_anonymizes_stereo_44k(smoke_paper, tmp_path):
    src = write_wav(tmp_path / "user.wav", seconds=1.5, sr=44100, channels=2)
    out = run_py("-m", "paperlib", "anonymize", str(src), "-o", str(tmp_path / "anon.wav"), "--scale", "smoke",
                 "--stream", "--delay", "2", "--target", "vctk-4rnd")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "resampled 44100 Hz" in out.stderr and "down-mixed" in out.stderr
    import soundfile as sf
    info = sf.info(str(tmp_path / "anon.wav"))
    assert info.samplerate == 16000 and info.frames > 16000


def test_notebooks_execute_headless(smoke_paper):
    from paperlib.notebooks import execute

    timings = execute("smoke")
    assert len(timings) == 6
    for nb in (smoke_paper / "notebooks").glob("*.ipynb"):
        cells = json.loads(nb.read_text())["cells"]
        assert not any(o.get("output_type") == "error" for c in cells for o in c.get("outputs", []))
    for fig in ("fig_data_prosody_per_emotion", "fig_pretrain_curves", "fig_finetune_curves",
                "fig_table2_ablation", "fig_per_emotion_recall", "fig_confusion_matrices",
                "fig1_privacy_emotion_tradeoff"):
        for ext in ("png", "pdf"):
            assert (smoke_paper / f"{fig}.{ext}").stat().st_size > 1000, fig


def test_notebook_twins_in_sync_and_stripped():
    import nbformat

    from paperlib.notebooks import notebook_sources, to_notebook

    for src in notebook_sources():
        twin = nbformat.read(src.with_suffix(".ipynb"), as_version=4)
        assert [c.source for c in twin.cells] == [c.source for c in to_notebook(src).cells], src.name
        assert all(not c.get("outputs") for c in twin.cells if c.cell_type == "code")


@pytest.mark.skipif(shutil.which("chromium") is None or shutil.which("chromedriver") is None,
                    reason="needs Debian chromium + chromium-driver (make system-deps)")
def test_demo_page_in_headless_chromium(smoke_paper):
    from paperlib.demo import check_in_browser

    demo = smoke_paper / "demo"
    html = (demo / "index.html").read_text()
    assert "base64" not in html and 'preload="none"' in html
    result = check_in_browser(demo, screenshot=smoke_paper / "demo_page_screenshot.png")
    assert result["n_audio"] >= 12 * 6 + 3 * 9
    assert all(d > 0.1 for d in result["durations"]), result["durations"]       # every audio loads and decodes
    assert result["play_log"] == result["expected_order"] + ["done"]              # Play all plays in order
    assert (smoke_paper / "demo_page_screenshot.png").stat().st_size > 10_000
