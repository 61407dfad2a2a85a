"""`make paper SCALE=smoke` in miniature: every stage, every notebook under papermill, the demo page in a
real headless browser, and the CLI on a stereo 44.1 kHz file."""
import json
import shutil
from pathlib import Path

import numpy as np
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
    from paperlib.systems import load_system, results_dir, run_system, system_dir

    ws = Workspace("smoke")
    key = "table2/7_exp7_aco"
    spec = load_system(ws, key, 0)
    out, scores = system_dir(ws, spec), results_dir(ws, spec)
    full = json.loads((scores / "results.json").read_text())
    partial = {k: v for k, v in full.items() if k != "EER-S"}
    (scores / "results_no_eer_s.json").write_text(json.dumps(partial))
    (scores / "results.json").unlink()
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


def test_evaluator_change_rescores_cached_speech(smoke_paper):
    """Another evaluation recipe scores the cached anonymized speech again (new results, same audio) instead of
    anonymizing it again; the anonymization time is carried over from when it was made."""
    from paperlib.config import apply_overrides
    from paperlib.eval import EVAL_DIRS
    from paperlib.stages import Workspace
    from paperlib.systems import load_system, results_dir, run_system, system_dir

    ws = Workspace("smoke")
    other = Workspace("smoke", apply_overrides(ws.cfg, {"eval": {"bootstrap": ws.cfg.eval.bootstrap + 20}}))
    key = "table2/0_baseline"
    spec, other_spec = load_system(ws, key, 0), load_system(other, key, 0)
    assert system_dir(ws, spec) == system_dir(other, other_spec)
    assert results_dir(ws, spec) != results_dir(other, other_spec)
    wavs = sorted((system_dir(ws, spec) / "anon" / "IEMOCAP_test" / "wav").glob("*.wav"))
    stamps = [w.stat().st_mtime_ns for w in wavs]
    full = json.loads((results_dir(ws, spec) / "results.json").read_text())
    rescored = run_system(other, key, 0, eer_s=False)
    assert [w.stat().st_mtime_ns for w in wavs] == stamps
    assert rescored["WER"]["value"] == pytest.approx(full["WER"]["value"])      # bootstrap changes CIs only
    made = json.loads((system_dir(ws, spec) / "timing.json").read_text())["anonymize"]
    assert sum(made[n] for n in EVAL_DIRS) > 0
    assert rescored["timing_s"]["anonymize"] == pytest.approx(sum(made[n] for n in EVAL_DIRS), abs=0.11)
    assert (results_dir(other, other_spec) / "results_no_eer_s.json").exists()


def test_systems_prompt_with_the_first_ranked_voice(smoke_paper):
    """The pipeline ranks every pool speaker by the WER of the other speakers' utterances in its voice; every
    system (whatever its seed) then prompts vctk-1fix with the first of them, and the voice is in its cache key."""
    from dataclasses import replace

    from paperlib.anonymize import prompt_pools
    from paperlib.pairs import prompt_for
    from paperlib.stages import Workspace
    from paperlib.systems import load_system, system_hash

    ws = Workspace("smoke")
    report = json.loads((smoke_paper / "target_voices.json").read_text())
    speakers = ws.data("vctk_pool").speakers
    assert sorted(report["ranking"]) == sorted(speakers) == sorted(report["pool_WER"])
    wers = [report["pool_WER"][s] for s in report["ranking"]]
    assert wers == sorted(wers) and all(w >= 0 for w in wers)
    assert all(len(report["pool_WER_per_seed"][s]) == len(ws.cfg.inference.target_voice_seeds) for s in speakers)
    pools = prompt_pools(ws)
    source = next(iter(ws.data("IEMOCAP_test").utts.values()))
    for seed in (0, 1, 2):
        inf = load_system(ws, "table2/0_baseline", seed).inference
        assert inf.fixed_speakers == (report["ranking"][0],)
        prompt = prompt_for(inf.prompt_strategy, source, pools, seed, inf.fixed_prompt, inf.fixed_speakers)
        assert {u.speaker for u in prompt} == {report["ranking"][0]}
    spec = load_system(ws, "table2/0_baseline", 0)
    other = replace(spec, inference=replace(spec.inference, fixed_speakers=(report["ranking"][-1],)))
    assert system_hash(ws, other) != system_hash(ws, spec)


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


def test_emotion_budget(smoke_paper):
    """Every step of the budget is scored, each with a UAR inside its CI and a share per class; the system
    rows are the cached outputs of Baseline and Exp7; the rows are cached by what makes their speech."""
    from paperlib.emotion_budget import SYSTEM_ROWS, budget_table, emotion_budget
    from paperlib.stages import Workspace

    budget = json.loads((smoke_paper / "emotion_budget.json").read_text())
    steps = {"original", "copy_synthesis", "codec_resynthesis", "codec_stage0", "anonymizer_decoder",
             "content_alone", "other_utterance_codes", "lm_same_speaker"}
    assert steps | {f"{label}/seed0" for label in SYSTEM_ROWS} == set(budget["rows"])
    for name, row in budget["rows"].items():
        u = row["UAR"]
        assert 0 <= u["ci_low"] <= u["value"] <= u["ci_high"] <= 100, name
        assert abs(sum(row["predicted_share"].values()) - 100) < 1e-6
        assert set(row["prosody"]) == {"ang", "hap", "neu", "sad"}
    assert {"emotion_acc_tokens", "speaker_acc_tokens", "phone_accuracy"} <= set(budget["content_probes"])
    assert len(budget_table(budget)) == len(budget["rows"])
    assert emotion_budget(Workspace("smoke"), seeds=(0,)) == budget            # a re-run is a cached lookup
    assert "| speech" in (smoke_paper / "emotion_budget.md").read_text()


def test_tokenizer_report_follows_the_attacker_recipe(smoke_paper):
    """Its EER-L comes from the evaluation's ASV attacker: another attacker recipe is another report, a
    bootstrap change is not."""
    from paperlib.config import apply_overrides
    from paperlib.pipeline import tokenizer_report_path
    from paperlib.stages import Workspace

    ws = Workspace("smoke")
    other = lambda **kw: Workspace("smoke", apply_overrides(ws.cfg, {"eval": kw}))
    assert tokenizer_report_path(other(asv_epochs=ws.cfg.eval.asv_epochs + 1)) != tokenizer_report_path(ws)
    assert tokenizer_report_path(other(bootstrap=ws.cfg.eval.bootstrap + 20)) == tokenizer_report_path(ws)
    report = json.loads((smoke_paper / "tokenizer_report.json").read_text())
    assert report["codec"]["asv_epochs"] == ws.cfg.eval.asv_epochs


def test_notebook_players_fall_back_to_the_demo_page(smoke_paper, tmp_path, monkeypatch):
    """Without the systems' cached output (a fresh clone) the audio notebook plays the demo page's copies,
    which are seed 0's: another seed gets nothing rather than the wrong audio."""
    from paperlib import demo
    from paperlib.stages import Workspace

    ws = Workspace("smoke")
    utt, key = demo.pick_samples(ws, 0)["sad"][0], demo.DEMO_METHODS[1][1]
    assert demo.playable_path(ws, key, utt, 0, smoke_paper / "demo") == demo._audio_path(ws, key, utt, 0)
    monkeypatch.setattr(demo, "_audio_path", lambda *args: tmp_path / "not-built.wav")
    copy = demo.playable_path(ws, key, utt, 0, smoke_paper / "demo")
    assert copy is not None and copy.is_relative_to(smoke_paper / "demo") and copy.stat().st_size > 1000
    assert demo.playable_path(ws, key, utt, 1, smoke_paper / "demo") is None


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
    from browser import check_in_browser

    demo = smoke_paper / "demo"
    html = (demo / "index.html").read_text()
    assert "base64" not in html and 'preload="none"' in html
    result = check_in_browser(demo, screenshot=smoke_paper / "demo_page_screenshot.png")
    assert result["n_audio"] >= 12 * 6 + 3 * 9
    assert all(d > 0.1 for d in result["durations"]), result["durations"]       # every audio loads and decodes
    assert result["play_log"] == result["expected_order"] + ["done"]              # Play all plays in order
    assert (smoke_paper / "demo_page_screenshot.png").stat().st_size > 10_000


@pytest.fixture(scope="module")
def smoke_bundle(smoke_paper, tmp_path_factory):
    from paperlib.bundle import export_bundle
    from paperlib.stages import Workspace

    return export_bundle(Workspace("smoke"), tmp_path_factory.mktemp("models") / "smoke")


def test_bundle_matches_cache_and_refuses_corruption(smoke_bundle, tmp_path):
    """The bundle's system is the cached one with its weights rounded once (float16 storage): with the same
    prompts, pseudo-speaker and seeds, the same output; a modified file is refused by the manifest."""
    import shutil

    import torch
    from paperlib.anonymize import anonymize_waveform, prompt_pools
    from paperlib.audio import load_wav
    from paperlib.bundle import BundleError, load_bundle, round_weights
    from paperlib.stages import Workspace
    from paperlib.systems import system_parts

    bundle = load_bundle(smoke_bundle)
    manifest = bundle.manifest
    assert manifest["git_commit"] and manifest["data_hash"] == Workspace("smoke").data_hash()
    assert {"lm-frame-distill.safetensors", "lm-baseline.safetensors", "prompts.safetensors"} <= set(manifest["files"])
    ws = Workspace("smoke")
    wav = load_wav(write_wav(tmp_path / "in.wav", seconds=1.2))
    for system, key in (("frame-distill", "table1/3_frame-distill"), ("baseline", "table2/0_baseline")):
        cached, inf = system_parts(ws, key, 0)
        for module in (cached.lm, cached.codec, cached.content_encoder):
            module.load_state_dict(round_weights(module.state_dict()))
        shipped, shipped_inf = bundle.parts(system)
        assert shipped_inf == inf and shipped.use_sep == cached.use_sep
        ours = anonymize_waveform(shipped, inf, bundle.prompt_tokens(), bundle.pools(), wav, "in", 0)
        theirs = anonymize_waveform(cached, inf, bundle.prompt_tokens(), prompt_pools(ws), wav, "in", 0)
        assert np.array_equal(ours, theirs), system
    broken = tmp_path / "broken"
    shutil.copytree(smoke_bundle, broken)
    blob = bytearray((broken / "lm-baseline.safetensors").read_bytes())
    blob[-1] ^= 1
    (broken / "lm-baseline.safetensors").write_bytes(bytes(blob))
    with pytest.raises(BundleError, match="lm-baseline.safetensors: sha256 differs"):
        load_bundle(broken)
    out = run_py("-m", "paperlib", "anonymize", str(tmp_path / "in.wav"), "-o", str(tmp_path / "x.wav"),
                 "--model", "bundle", "--bundle", str(broken))
    assert out.returncode == 2 and "sha256 differs" in out.stderr and not (tmp_path / "x.wav").exists()


def test_cli_folder_from_bundle_without_cache(smoke_bundle, tmp_path):
    """A process that sees no cache/ and no data/ (PAPERLIB_ROOT elsewhere) anonymizes a folder from the
    bundle: same relative names, a bad file reported and skipped, exit 1; a re-run skips what is done."""
    import os

    import soundfile as sf

    src = tmp_path / "in"
    write_wav(src / "a.wav", seconds=1.0)
    write_wav(src / "sub" / "b.flac", seconds=0.8, sr=22050, channels=2)
    (src / "sub" / "bad.wav").write_bytes(b"not audio" * 50)
    env = {**os.environ, "PAPERLIB_ROOT": str(tmp_path / "empty_root")}
    args = ("-m", "paperlib", "anonymize", str(src), "-o", str(tmp_path / "out"), "--scale", "smoke",
            "--bundle", str(smoke_bundle))
    out = run_py(*args, env=env)
    assert out.returncode == 1, out.stderr[-2000:]
    assert "2 done, 0 skipped, 1 failed" in out.stdout
    assert f"{src / 'sub' / 'bad.wav'}: cannot decode audio" in out.stderr and "from " + str(smoke_bundle) in out.stderr
    assert sf.info(str(tmp_path / "out" / "a.wav")).samplerate == 16000
    assert sf.info(str(tmp_path / "out" / "sub" / "b.flac")).format == "FLAC"
    assert not (tmp_path / "out" / "sub" / "bad.wav").exists()
    assert not (tmp_path / "empty_root" / "cache").exists()
    again = run_py(*args, env=env)
    assert again.returncode == 1 and "0 done, 2 skipped, 1 failed" in again.stdout
    one = run_py("-m", "paperlib", "anonymize", str(src / "a.wav"), "-o", str(tmp_path / "one.wav"), "--scale", "smoke",
                 "--bundle", str(smoke_bundle), "--system", "baseline", "--stream", env=env)
    assert one.returncode == 0 and "wrote" in one.stdout and sf.info(str(tmp_path / "one.wav")).frames > 8000


def test_bundle_prompts_reencode_exactly_and_target_voice(smoke_bundle, tmp_path):
    """The shipped prompts are the pool's audio encoded by the shipped encoders (features computed afresh
    here): re-encoding gives them exactly. --target-voice makes a prompt of a user's recording the same way."""
    import soundfile as sf
    import torch
    from paperlib.anonymize import encode_utterance
    from paperlib.bundle import PROMPT_POOL, load_bundle
    from paperlib.stages import Workspace

    bundle = load_bundle(smoke_bundle)
    content_enc, codec, speaker_enc = bundle.encoders()
    assert bundle.ships_codec_encoder and speaker_enc is not None
    shipped, wavs = bundle.prompt_tokens(), Workspace("smoke").wavs(PROMPT_POOL)
    assert set(shipped) == set(wavs)
    for utt, wav in wavs.items():
        item = encode_utterance(wav, content_enc, speaker_enc, codec)
        assert torch.equal(item["content"].long(), shipped[utt]["content"].long()), utt
        assert torch.equal(item["acoustic"].long(), shipped[utt]["acoustic"].long()), utt
        assert torch.allclose(item["speaker"], shipped[utt]["speaker"], atol=1e-5), utt
    voice = tmp_path / "voice.wav"
    sf.write(str(voice), np.concatenate([wavs[u] for u in sorted(wavs)[:4]]), 16000)
    src = write_wav(tmp_path / "in.wav", seconds=1.0)
    args = ("-m", "paperlib", "anonymize", str(src), "-o", str(tmp_path / "out.wav"), "--scale", "smoke",
            "--model", "bundle", "--bundle", str(smoke_bundle))
    out = run_py(*args, "--target-voice", str(voice))
    assert out.returncode == 0, out.stderr[-2000:]
    assert sf.info(str(tmp_path / "out.wav")).frames == sf.info(str(src)).frames
    short = tmp_path / "short.wav"
    sf.write(str(short), wavs[sorted(wavs)[0]][: 16000], 16000)
    refused = run_py(*args, "--target-voice", str(short), "--overwrite")
    assert refused.returncode == 2 and f"{short}: the target voice has" in refused.stderr
