"""Question analysis: the question's embedding and the entities it names (the graph's seeds).

Seeds come from, in order of trust:
1. `ngram`: longest-match question spans (up to `max_ngram` tokens) whose `entity_key` is an entity
   key, keeping spans with a capitalised or digit token that is not the question's first word
   (so "Who" or "What" never link); a question without any such token (all lower case) is matched
   without that filter, minus spans made only of stop words;
2. `ner`: spaCy names in the question (NAME_LABELS) whose key is an entity key;
3. `fulltext` and `vector` (when `fuzzy_linking` is on): names the first two missed, linked by the
   entity-name full-text index and by the entity-name vector index, with a lower weight.
Each seed carries its linking score and how many chunks mention the entity, so rankers can weight
it by 1 / mentions: a rare name says more about which passage is meant than a common one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Protocol

import numpy as np

from graphrag import queries
from graphrag.arcadedb import ArcadeDB
from graphrag.embeddings import Embedder
from graphrag.ner_process import NerProcess
from graphrag.nlp import names_in
from graphrag.normalize import entity_key, fold_accents
from graphrag.retrieval.base import RetrievalConfig
from graphrag.retrieval.cache import CacheView
from graphrag.retrieval.keyword import QUERY_STOP_WORDS, plain_terms
from graphrag.types import SeedEntity

_TOKEN = re.compile(r"\S+")
_ALNUM = re.compile(r"[^\W_]", re.UNICODE)
# Spans made only of these never link when the capitalisation filter is off (lower-case questions).
STOP_WORDS = QUERY_STOP_WORDS | {"here", "same", "other", "another", "many", "much", "more", "most", "few", "first",
                                  "last", "one", "two", "whether"}


@dataclass(frozen=True)
class EntityInfo:
    name: str
    mentions: int
    key: str = ""  # the stored key, when it differs from the one asked for (accent-folded match)


class EntityLookup(Protocol):
    """Finds entities by key (the database; tests may pass their own)."""

    def lookup(self, keys: Iterable[str], cache: CacheView | None = None) -> dict[str, EntityInfo]:
        ...


class DatabaseEntityLookup:
    """Exact key lookup, falling back to the accent-folded key (`Entity.folded`), by index lookups."""

    def __init__(self, db: ArcadeDB):
        self.db = db

    def lookup(self, keys: Iterable[str], cache: CacheView | None = None) -> dict[str, EntityInfo]:
        wanted = sorted({k for k in keys if k})
        if not wanted:
            return {}
        folded = {k: fold_accents(k) for k in wanted}
        exact: dict[str, dict[str, Any]] = {}
        by_folded: dict[str, list[dict[str, Any]]] = {}
        for r in self._rows(sorted(set(wanted) | set(folded.values())), sorted(set(folded.values())), cache):
            if r["asked"] == r["key"]:
                exact[r["key"]] = r
            else:
                by_folded.setdefault(r["asked"], []).append(r)
        out: dict[str, EntityInfo] = {}
        for key in wanted:
            if key in exact:
                out[key] = EntityInfo(exact[key].get("name") or key, int(exact[key].get("mentions") or 0))
                continue
            # "aschenbrodel" asked: the stored "aschenbrodel" (unaccented) or "aschenbrödel" (folded to it);
            # among several spellings, the one most chunks mention
            options = [r for r in [exact.get(folded[key]), *by_folded.get(folded[key], [])] if r]
            if options:
                best = max(options, key=lambda r: (int(r.get("mentions") or 0), r["key"]))
                out[key] = EntityInfo(best.get("name") or best["key"], int(best.get("mentions") or 0), best["key"])
        return out

    def _rows(self, keys: list[str], folded: list[str], cache: CacheView | None) -> list[dict[str, Any]]:
        """ENTITIES_BY_KEY's rows for these keys (matched exactly) and folded keys (matched on
        `Entity.folded`); each asked string's rows come from `cache` when it has them."""
        asked = [f"k:{k}" for k in keys] + [f"f:{k}" for k in folded]  # the two branches, cached apart
        known, missing = cache.lookups(asked) if cache else ({}, asked)
        if missing:
            fresh: dict[str, list[dict[str, Any]]] = {a: [] for a in missing}
            rows = self.db.cypher(queries.ENTITIES_BY_KEY, {"keys": [a[2:] for a in missing if a[0] == "k"],
                                                             "folded": [a[2:] for a in missing if a[0] == "f"]})
            for r in rows:
                # a row of the exact branch has asked == key; any other came from the folded branch
                exact = f"k:{r['asked']}"
                branch = exact if r["asked"] == r["key"] and exact in fresh else f"f:{r['asked']}"
                fresh.setdefault(branch, []).append(r)
            if cache:
                cache.keep_lookups(fresh)
            known.update(fresh)
        return list(chain.from_iterable(known.values()))


@dataclass
class QuestionAnalysis:
    question: str
    embedding: np.ndarray
    seeds: list[SeedEntity]
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Span:
    start: int  # token index
    end: int  # exclusive
    text: str
    key: str


def _is_marked(token: str) -> bool:
    """Capitalised (first letter upper case) or holding a digit."""
    match = _ALNUM.search(token)
    return bool(match and match.group().isupper()) or any(ch.isdigit() for ch in token)


def candidate_spans(question: str, max_ngram: int, require_capital: bool = True) -> list[Span]:
    """Every question span of up to `max_ngram` tokens worth looking up, in reading order.

    With `require_capital`, a span must hold a marked token other than the question's first
    word; a question with no such token at all falls back to spans that are not all stop words.
    """
    tokens = _TOKEN.findall(question)
    marked = [i > 0 and _is_marked(t) for i, t in enumerate(tokens)]
    use_marks = require_capital and any(marked)
    spans: list[Span] = []
    for i in range(len(tokens)):
        for j in range(i + 1, min(len(tokens), i + max_ngram) + 1):
            if use_marks and not any(marked[i:j]):  # before the key: most spans hold no mark
                continue
            key = entity_key(" ".join(tokens[i:j]))
            if not key:
                continue
            if not use_marks and all(w in STOP_WORDS or (len(w) < 2 and not w.isdigit()) for w in key.split()):
                continue
            spans.append(Span(i, j, " ".join(tokens[i:j]), key))
    return spans


def longest_matches(spans: list[Span], known: set[str]) -> list[Span]:
    """Greedy left-to-right longest match: at each position take the longest known span, then jump past it."""
    by_start: dict[int, list[Span]] = {}
    for span in spans:
        if span.key in known:
            by_start.setdefault(span.start, []).append(span)
    chosen: list[Span] = []
    position = 0
    last = max((s.end for s in spans), default=0)
    while position < last:
        options = by_start.get(position)
        if options:
            best = max(options, key=lambda s: s.end)
            chosen.append(best)
            position = best.end
        else:
            position += 1
    return chosen


class QuestionAnalyzer:
    """Embeds a question and links it to seed entities.

    Args:
        db: the database (full-text and vector entity linking).
        embedder: the same model that embedded chunks and entity names.
        lookup: entity-key lookup; the database by default.
        nlp: a spaCy pipeline for question names (`graphrag.nlp.load_spacy()`), or a `NerProcess` that
            runs one in a child process (the API's); None skips `ner` seeds.
        config: retrieval settings (n-gram length, capitalisation filter, fuzzy linking).
    """

    def __init__(self, db: ArcadeDB, embedder: Embedder, *, lookup: EntityLookup | None = None,
                 nlp: Any = None, config: RetrievalConfig | None = None,
                 cpu_lock: AbstractContextManager[Any] | None = None):
        self.db = db
        self.embedder = embedder
        self.lookup = lookup or DatabaseEntityLookup(db)
        self.nlp = nlp
        self.config = config or RetrievalConfig()
        self.cpu_lock = cpu_lock or nullcontext()  # see HybridRetriever's `cpu_lock`

    def analyze(self, question: str, *, embed: bool = True, link: bool = True,
                on_embedding: Callable[[np.ndarray], None] | None = None,
                cache: CacheView | None = None) -> QuestionAnalysis:
        """Embed the question (`embed`) and link its seed entities (`link`; dense and keyword need none).

        The question is embedded first and handed to `on_embedding` at once, so that a caller can
        send its vector query while the names are still being found and linked.
        """
        cfg = self.config
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        embedding = self.embedder.embed([question])[0] if embed else np.zeros(0, dtype=np.float32)
        timings["embed"] = (time.perf_counter() - t0) * 1000
        if on_embedding is not None and embed:
            on_embedding(embedding)
        if not link:
            return QuestionAnalysis(question, embedding, [], timings)
        t0 = time.perf_counter()
        names: list[str] = []
        if isinstance(self.nlp, NerProcess):
            names = self.nlp.names(question)  # in its own process: no GIL here to guard
        elif self.nlp is not None:
            with self.cpu_lock:
                names = names_in(self.nlp, question)
        timings["ner"] = (time.perf_counter() - t0) * 1000

        t0 = time.perf_counter()
        spans = candidate_spans(question, cfg.max_ngram, cfg.require_capital)
        name_keys = {entity_key(n): n for n in names}
        name_keys.update({entity_key(re.sub(r"^(?i:the)\s+", "", n)): n for n in names})
        name_keys.pop("", None)
        found = self.lookup.lookup({s.key for s in spans} | set(name_keys), cache)
        seeds: dict[str, SeedEntity] = {}
        for span in longest_matches(spans, set(found)):
            info = found[span.key]
            stored = info.key or span.key  # differs after an accent-folded match
            seeds.setdefault(stored, SeedEntity(key=stored, name=info.name, source="ngram", span=span.text,
                                                score=1.0, mentions=info.mentions))
        chosen = [f" {k} " for k in seeds]
        for key, text in name_keys.items():
            # a name inside a longer matched span ("Leland" in "Leland, North Carolina") is that span
            if key in found and key not in seeds and not any(f" {key} " in c for c in chosen):
                info = found[key]
                stored = info.key or key
                seeds.setdefault(stored, SeedEntity(key=stored, name=info.name, source="ner", span=text, score=1.0,
                                                    mentions=info.mentions))
        timings["link"] = (time.perf_counter() - t0) * 1000

        unlinked: list[str] = []
        if cfg.fuzzy_linking:
            covered = " ".join(s.span for s in seeds.values()).casefold()
            unlinked = [n for n in dict.fromkeys([*names, *_marked_runs(question)])
                        if entity_key(n) and entity_key(n) not in seeds and n.casefold() not in covered]
        if unlinked:
            t0 = time.perf_counter()
            for seed in self._fuzzy(unlinked, self.embedder.embed(unlinked)):
                if seed.key not in seeds:
                    seeds[seed.key] = seed
            timings["fuzzy"] = (time.perf_counter() - t0) * 1000
        return QuestionAnalysis(question, embedding, [s for s in seeds.values() if s.mentions > 0], timings)

    def _fuzzy(self, spans: list[str], vectors: np.ndarray) -> list[SeedEntity]:
        cfg = self.config
        linked: dict[str, SeedEntity] = {}
        for span, vector in zip(spans, vectors, strict=True):
            terms = plain_terms(span)
            if terms:
                rows = self.db.sql_rows(queries.ENTITY_FULL_TEXT, {"q": " ".join(terms), "k": cfg.fuzzy_k})
                top = max((float(r.get("score") or 0) for r in rows), default=0.0) or 1.0
                for r in rows:
                    score = cfg.fuzzy_weight * float(r.get("score") or 0) / top
                    _keep_best(linked, SeedEntity(key=r["key"], name=r.get("name") or r["key"], source="fulltext",
                                                  span=span, score=score))
            rows = self.db.sql_rows(queries.ENTITY_VECTOR_NEIGHBOURS, {"q": vector.tolist(), "k": cfg.fuzzy_k})
            for r in rows:
                similarity = 1.0 - float(r.get("distance") or 0)
                if similarity >= cfg.fuzzy_min_similarity:
                    _keep_best(linked, SeedEntity(key=r["key"], name=r.get("name") or r["key"], source="vector",
                                                  span=span, score=cfg.fuzzy_weight * similarity))
        infos = self.lookup.lookup(linked)
        return [s.model_copy(update={"mentions": infos[k].mentions}) for k, s in linked.items() if k in infos]


def _keep_best(seeds: dict[str, SeedEntity], seed: SeedEntity) -> None:
    if seed.key not in seeds or seeds[seed.key].score < seed.score:
        seeds[seed.key] = seed


def _marked_runs(question: str) -> list[str]:
    """Maximal runs of capitalised/digit tokens after the first word: candidate names spaCy may miss."""
    tokens = _TOKEN.findall(question)
    runs: list[str] = []
    current: list[str] = []
    for i, token in enumerate(tokens):
        if i > 0 and _is_marked(token):
            current.append(token)
        else:
            if current:
                runs.append(" ".join(current))
            current = []
    if current:
        runs.append(" ".join(current))
    return runs
