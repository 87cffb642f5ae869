"""A small generated corpus for the chaos suite: fixed (its own seed, not the trial seed):
24 documents, every sixth long enough for several chunks, written as JSON Lines.

It is built to exercise what a fault can break: names spelled several ways that share one entity
key ("ACME Corp." / "Acme Corp"), names that differ only by accents (SAME_AS at similarity ~1),
entities shared across documents (MENTIONS with co-occurrence), and documents long enough for
several chunks (NEXT).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

PEOPLE = ["Marie Curie", "Pierre Curie", "Henri Becquerel", "Ada Lovelace", "Charles Babbage", "Alan Turing",
          "Grace Hopper", "Niels Bohr", "Lise Meitner", "Otto Hahn", "Emmy Noether", "John von Neumann",
          "Irene Joliot-Curie", "Frederic Joliot", "Paul Dirac", "Max Planck"]
# Accented and plain spellings: different keys, one embedding (the model is uncased and strips
# accents), so each pair is a SAME_AS link.
CITIES = [("Zürich", "Zurich"), ("Kraków", "Krakow"), ("Gdańsk", "Gdansk"), ("São Paulo", "Sao Paulo"),
          ("Malmö", "Malmo"), ("Besançon", "Besancon"), ("Warsaw", "Warsaw"), ("Paris", "Paris"),
          ("Vienna", "Vienna"), ("Copenhagen", "Copenhagen"), ("Cambridge", "Cambridge"), ("Berlin", "Berlin")]
# Spellings that normalise to one key, spread over the documents: the one a graph keeps is the first in
# `graphrag.normalize.spelling_rank`, whichever job wrote first (the overlapping-jobs test checks it).
ORGS = [("ACME Corp.", "Acme Corp", "ACME Corp"), ("Globex Inc.", "Globex Inc", "GLOBEX Inc."),
        ("Initech Ltd.", "Initech Ltd", "INITECH Ltd"), ("Vistula Instruments", "Vistula Instruments",
                                                          "VISTULA Instruments"),
        ("the Radium Institute", "the Radium Institute", "the Radium Institute")]
TOPICS = ["radioactivity", "the analytical engine", "computable numbers", "nuclear fission", "quantum theory",
          "abstract algebra", "compilers", "polonium", "cosmic rays", "crystal structures"]


def _sentence(rng: random.Random) -> str:
    p1, p2 = rng.sample(PEOPLE, 2)
    city = rng.choice(CITIES)[rng.randrange(2)]
    city2 = rng.choice(CITIES)[rng.randrange(2)]
    org = rng.choice(ORGS)[rng.randrange(3)]
    year = rng.randrange(1850, 1990)
    topic = rng.choice(TOPICS)
    sentence = rng.choice([
        f"{p1} was born in {city} in {year}.",
        f"{p1} later moved to {city2} to work with {p2} at {org}.",
        f"In {year}, {org} opened a laboratory in {city}.",
        f"{p1} and {p2} published a paper on {topic} in {city2}.",
        f"{org} funded the research of {p1} on {topic}.",
        f"The archive of {p1} is kept in {city}, next to letters from {p2}.",
    ])
    return sentence.replace("..", ".")


def documents(n: int = 24, long_every: int = 6, seed: int = 1867) -> list[dict[str, str]]:
    """`n` records `{id, title, text}`; every `long_every`-th is long enough for several chunks."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        sentences = 24 if long_every and i % long_every == long_every - 1 else rng.randrange(3, 7)
        subject = rng.choice(PEOPLE + [c[0] for c in CITIES])
        out.append({"id": f"chaos-{i:03d}", "title": f"{subject}: note {i}",
                    "text": " ".join(_sentence(rng) for _ in range(sentences))})
    return out


def write_jsonl(records: list[dict[str, str]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path
