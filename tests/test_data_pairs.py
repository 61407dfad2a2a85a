import dataclasses
import hashlib
from collections import Counter
from pathlib import Path

import pytest

from paperlib.config import apply_overrides, preset
from paperlib.data import ROLE_DIRS, generate
from paperlib.kaldi import read_data_dir
from paperlib.pairs import PROMPT_STRATEGIES, finetune_pairs, prompt_for

ALL_DIRS = [d for r, d in ROLE_DIRS.items() if r != "libri"] + ["libri_test_enrolls", "libri_test_trials_f",
                                                                "libri_test_trials_m"]


def test_roles_have_kaldi_files_and_disjoint_speakers(smoke_data):
    owner = {}
    for name in ALL_DIRS:
        d = read_data_dir(smoke_data / name, root=smoke_data)
        for f in ("wav.scp", "utt2spk", "spk2utt", "spk2gender", "text", "utt2dur"):
            assert (smoke_data / name / f).exists(), f"{name}/{f}"
        role = name.replace("_trials_f", "").replace("_trials_m", "").replace("_enrolls", "")
        for spk in d.speakers:
            assert owner.setdefault(spk, role) == role, f"speaker {spk} in {owner[spk]} and {role}"
    iem = read_data_dir(smoke_data / "IEMOCAP_test", root=smoke_data)
    assert set(iem.spk2fold) == set(iem.speakers) and {u.emotion for u in iem.utts.values()} == {"ang", "hap", "neu", "sad"}
    trials = read_data_dir(smoke_data / "libri_test_trials_f", root=smoke_data).trials
    assert any(t for *_, t in trials) and not all(t for *_, t in trials)


def test_generation_is_deterministic_and_resumable(tmp_path):
    cfg = apply_overrides(preset("smoke").data, dict(
        base_voices=["flite_rms", "flite_slt"], pretrain_speakers=2, pretrain_utts=1, crema_speakers=1,
        crema_sentences=1, iemocap_folds=1, iemocap_speakers_per_fold=1, iemocap_utts_per_emotion=1,
        libri_speakers_per_gender=1, libri_enroll_utts=1, libri_trial_utts=1, vctk_speakers=1, vctk_utts=1,
        asv_train_speakers=1, asv_train_utts=1, ser_train_speakers=1, ser_train_utts_per_emotion=1,
        asr_train_speakers=1, asr_train_utts=1, teacher_speakers=1, teacher_utts_per_emotion=1, workers=1))
    digests = []
    for run in ("a", "b"):
        root = generate("smoke", cfg, out_dir=tmp_path / run)
        digests.append({p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted((root / "wav").rglob("*.wav"))})
    assert digests[0] == digests[1] and len(digests[0]) > 10
    # re-running skips finished files (mtimes unchanged) and a changed config is refused
    wav = next((tmp_path / "a" / "wav").rglob("*.wav"))
    before = wav.stat().st_mtime_ns
    generate("smoke", cfg, out_dir=tmp_path / "a")
    assert wav.stat().st_mtime_ns == before
    with pytest.raises(RuntimeError, match="another DataConfig"):
        generate("smoke", apply_overrides(cfg, {"seed": 5}), out_dir=tmp_path / "a")


def test_finetune_pair_invariants(smoke_data):
    crema = read_data_dir(smoke_data / "train_crema", root=smoke_data)
    for pairing in ("random", "neu_emo"):
        pairs = finetune_pairs(crema, pairing, seed=0)
        assert pairs == finetune_pairs(crema, pairing, seed=0)               # deterministic
        for p in pairs:
            assert all(crema.utts[u].speaker == crema.utts[p.source].speaker == p.speaker for u in p.prompt)
            assert p.source not in p.prompt
        if pairing == "neu_emo":
            assert all(crema.utts[p.prompt[0]].emotion == "neu" for p in pairs)
            counts = Counter(crema.utts[p.source].emotion for p in pairs)
            assert set(counts) == {"ang", "hap", "neu", "sad"}
            assert counts["ang"] == counts["hap"] == counts["sad"]             # emotion balance
            assert 0.15 < counts["neu"] / sum(counts.values()) < 0.35         # neutral -> neutral balance


def test_prompt_strategies(smoke_data):
    pools = {"vctk": read_data_dir(smoke_data / "vctk_pool", root=smoke_data),
             "pretrain": read_data_dir(smoke_data / "train_pretrain", root=smoke_data),
             "crema": read_data_dir(smoke_data / "train_crema", root=smoke_data)}
    iem = read_data_dir(smoke_data / "IEMOCAP_test", root=smoke_data)
    sources = sorted(iem.utts.values(), key=lambda u: u.utt_id)
    fixed = {prompt_for("vctk-1fix", s, pools, 0)[0].utt_id for s in sources}
    assert len(fixed) == 1
    # the fixed speaker's longest utterance by default, its first by id on request
    speaker_utts = pools["vctk"].by_speaker()[pools["vctk"].speakers[0]]
    assert fixed == {max(speaker_utts, key=lambda u: u.duration).utt_id}
    assert prompt_for("vctk-1fix", sources[0], pools, 0, fixed="first") == [speaker_utts[0]]
    with pytest.raises(ValueError, match="unknown fixed prompt"):
        prompt_for("vctk-1fix", sources[0], pools, 0, fixed="shortest")
    # a ranking of target voices: seed s takes its s-th speaker (cycling), unknown names are refused by name
    ranking = tuple(reversed(pools["vctk"].speakers))
    for seed in range(len(ranking) + 1):
        chosen = prompt_for("vctk-1fix", sources[0], pools, seed, fixed_speakers=ranking)
        assert [u.speaker for u in chosen] == [ranking[seed % len(ranking)]]
    with pytest.raises(ValueError, match="vctk_pool.*fixed_speakers.*nobody"):
        prompt_for("vctk-1fix", sources[0], pools, 0, fixed_speakers=(ranking[0], "nobody"))
    no_durations = {**pools, "vctk": dataclasses.replace(pools["vctk"], utts={
        u: dataclasses.replace(utt, duration=0.0) for u, utt in pools["vctk"].utts.items()})}
    with pytest.raises(ValueError, match="utt2dur missing"):
        prompt_for("vctk-1fix", sources[0], no_durations, 0)
    for strategy in PROMPT_STRATEGIES:
        for s in sources[:4]:
            prompt = prompt_for(strategy, s, pools, 0)
            assert prompt == prompt_for(strategy, s, pools, 0)
            assert len({u.speaker for u in prompt}) == 1                      # one target speaker
            assert len(prompt) == (4 if "4rnd" in strategy else 1)
            if strategy == "crema-emo-4rnd":
                assert all(u.emotion != "neu" for u in prompt)
            assert all(u.speaker != s.speaker for u in prompt)
    with pytest.raises(ValueError, match="unknown prompt strategy"):
        prompt_for("vctk-9rnd", sources[0], pools, 0)


def test_workspace_refuses_cache_built_from_other_data(tmp_path, monkeypatch):
    from paperlib import paths
    from paperlib.stages import Workspace

    monkeypatch.setattr(paths, "PROJECT_ROOT", tmp_path)
    (tmp_path / "data" / "smoke").mkdir(parents=True)
    (tmp_path / "data" / "smoke" / "config_hash.txt").write_text("aaaa\n")
    Workspace("smoke")                                    # first use stamps the cache with the data hash
    assert (tmp_path / "cache" / "smoke" / "data_hash.txt").read_text().strip() == "aaaa"
    (tmp_path / "data" / "smoke" / "config_hash.txt").write_text("bbbb\n")   # data regenerated differently
    with pytest.raises(RuntimeError, match="built from another"):
        Workspace("smoke")
