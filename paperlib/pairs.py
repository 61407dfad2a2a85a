"""Finetuning pairs and inference prompt strategies, deterministic by seed.

Finetuning (paper section "Supervised Finetuning"):
    neu_emo  neutral prompt -> emotional source of the same speaker, plus neutral -> neutral pairs of the
             same speaker so that about a quarter of the sources stay neutral (the CREMA-D balance)
    random   a random prompt of the same speaker, any emotion (Exp1 "FT-CREMA"; DESIGN.md section 1)
Prompt strategies (target speakers for anonymization):
    vctk-1fix       one fixed utterance of one fixed VCTK-like speaker for every source: by default that
                    speaker's longest utterance (``fixed="longest"``; ``"first"``: its first by id). Seed s
                    takes speaker s of ``fixed_speakers``, or of the pool's speakers sorted by id when it
                    is empty (the pipeline never passes it empty: Workspace.inference_config writes in the
                    first voice of ``probes.target_voice_report``'s ranking, one voice for every seed)
    vctk-1rnd       one random VCTK-like utterance (random speaker) per source utterance
    vctk-4rnd       four random utterances of one random VCTK-like speaker per source utterance
    cross-ds-4rnd   four random utterances of one random speaker from another corpus (the LibriTTS-like
                    pretraining corpus) per source utterance
    crema-emo-4rnd  four random emotional (non-neutral) CREMA-like utterances of one random speaker
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from .kaldi import DataDir, Utterance
from .utils import stable_int

PROMPT_STRATEGIES = ("vctk-1fix", "vctk-1rnd", "vctk-4rnd", "cross-ds-4rnd", "crema-emo-4rnd")


@dataclass(frozen=True)
class Pair:
    prompt: tuple[str, ...]     # prompt utterance ids (same speaker)
    source: str                 # source utterance id
    speaker: str


def finetune_pairs(crema: DataDir, pairing: str, seed: int) -> list[Pair]:
    rng = random.Random(seed)
    pairs: list[Pair] = []
    for spk, utts in sorted(crema.by_speaker().items()):
        neutral = [u for u in utts if u.emotion == "neu"]
        emotional = [u for u in utts if u.emotion != "neu"]
        if pairing == "random":
            for src in utts:
                others = [u for u in utts if u.utt_id != src.utt_id]
                pairs.append(Pair((rng.choice(others).utt_id,), src.utt_id, spk))
        elif pairing == "neu_emo":
            if len(neutral) < 2:
                raise ValueError(f"speaker {spk} has {len(neutral)} neutral utterances; neu_emo pairing needs >= 2")
            for src in emotional:
                pairs.append(Pair((rng.choice(neutral).utt_id,), src.utt_id, spk))
            # neutral -> neutral balance: one neutral source per three emotional ones (3 emotions : 1 neutral)
            n_neutral = max(1, len(emotional) // 3)
            for k in range(n_neutral):
                src = neutral[k % len(neutral)]
                prompt = rng.choice([u for u in neutral if u.utt_id != src.utt_id])
                pairs.append(Pair((prompt.utt_id,), src.utt_id, spk))
        else:
            raise ValueError(f"unknown pairing {pairing!r}; expected 'random' or 'neu_emo'")
    return pairs


FIXED_PROMPTS = ("longest", "first")


def prompt_for(strategy: str, source: Utterance, pools: dict[str, DataDir], seed: int,
               fixed: str = "longest", fixed_speakers: tuple[str, ...] = ()) -> list[Utterance]:
    """Target-speaker prompt utterances for one source utterance. ``fixed``: which utterance of the fixed
    speaker vctk-1fix uses. The LM continues its prompt's voice, so the longest one gives it the most of it:
    the first of seed 0's speaker is 2.0 s and a quarter voiced, and its continuations were whispered
    (docs/FINDINGS.md)."""
    rng = random.Random(stable_int(seed, strategy, source.utt_id))
    if strategy == "vctk-1fix":
        vctk = pools["vctk"].by_speaker()
        unknown = [spk for spk in fixed_speakers if spk not in vctk]
        if unknown:
            raise ValueError(f"{pools['vctk'].path}: inference.fixed_speakers names speakers the pool does not have: "
                             f"{', '.join(unknown)}")
        order = list(fixed_speakers) or sorted(vctk)
        utts = vctk[order[seed % len(order)]]
        if fixed == "first":
            return [utts[0]]
        if fixed != "longest":
            raise ValueError(f"unknown fixed prompt {fixed!r}; choose from {FIXED_PROMPTS}")
        if not any(u.duration > 0 for u in utts):
            raise ValueError(f"{pools['vctk'].path}: no durations for speaker {utts[0].speaker} (utt2dur missing?); "
                             "vctk-1fix takes the speaker's longest utterance")
        return [max(utts, key=lambda u: (u.duration, u.utt_id))]
    if strategy == "vctk-1rnd":
        return [rng.choice(sorted(pools["vctk"].utts.values(), key=lambda u: u.utt_id))]
    if strategy in ("vctk-4rnd", "cross-ds-4rnd", "crema-emo-4rnd"):
        pool = {"vctk-4rnd": "vctk", "cross-ds-4rnd": "pretrain", "crema-emo-4rnd": "crema"}[strategy]
        by_spk = pools[pool].by_speaker()
        spk = rng.choice(sorted(by_spk))
        utts = by_spk[spk]
        if strategy == "crema-emo-4rnd":
            utts = [u for u in utts if u.emotion != "neu"]
        elif strategy == "cross-ds-4rnd":
            utts = [u for u in utts if u.emotion in ("neu", "")] or utts
        return rng.sample(utts, min(4, len(utts)))
    raise ValueError(f"unknown prompt strategy {strategy!r}; choose from {PROMPT_STRATEGIES}")
