"""Sentence sources: the 12 CREMA-D sentences and a seeded word grammar for varied read speech."""
from __future__ import annotations

import random

CREMA_SENTENCES = {
    "IEO": "It's eleven o'clock",
    "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before",
    "TSI": "The surface is slick",
    "WSI": "We'll stop in a couple of minutes",
}

_ADJ = "small bright old green heavy quiet warm cold dark clean soft long short red blue young simple rough sharp".split()
_NOUN = ("house garden river window table letter market doctor teacher engine bridge forest kitchen "
         "station jacket picture village ocean mountain basket candle ladder wagon pencil").split()
_VERB_PAST = "found painted carried opened moved fixed watched cleaned sold covered pushed lifted".split()
_VERB = "bring open close paint carry fix move clean watch cover".split()
_PREP = "near behind under beside across inside".split()
_NAME = "Mary John Peter Susan Thomas Helen David Laura Henry Alice".split()
_TIME = "this morning last night at noon on Sunday before dinner after school".split(" ")
_TIMES = ["this morning", "last night", "at noon", "on Sunday", "before dinner", "after school"]

_TEMPLATES = (
    lambda r: f"The {r.choice(_ADJ)} {r.choice(_NOUN)} {r.choice(_VERB_PAST)} the {r.choice(_NOUN)} {r.choice(_PREP)} the {r.choice(_NOUN)}",
    lambda r: f"{r.choice(_NAME)} {r.choice(_VERB_PAST)} the {r.choice(_ADJ)} {r.choice(_NOUN)} {r.choice(_TIMES)}",
    lambda r: f"A {r.choice(_NOUN)} is {r.choice(_ADJ)} when the {r.choice(_NOUN)} is {r.choice(_ADJ)}",
    lambda r: f"Please {r.choice(_VERB)} the {r.choice(_ADJ)} {r.choice(_NOUN)} {r.choice(_PREP)} the {r.choice(_NOUN)}",
    lambda r: f"{r.choice(_NAME)} and {r.choice(_NAME)} saw a {r.choice(_ADJ)} {r.choice(_NOUN)} {r.choice(_TIMES)}",
)


def grammar_sentences(n: int, seed: int) -> list[str]:
    """n distinct sentences from the word grammar, deterministic by seed."""
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        s = rng.choice(_TEMPLATES)(rng)
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out
