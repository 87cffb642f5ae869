"""The answer when no LLM is there: the passages' own sentences that best match the question, cited.

Honest by construction: every word of the answer is quoted from a numbered passage, and the
answer says it is extractive. Two sentence scorers: `LexicalScorer` (IDF-weighted word overlap, no
model) and `EmbeddingScorer` (cosine of the shared sentence embedder's vectors); docs/answering.md
compares them on the evaluation sets.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from graphrag.embeddings import Embedder
from graphrag.prompts import NumberedContext

# A sentence ends at . ! ? (optionally closed by a quote or bracket) followed by space and a capital,
# digit or quote; "e.g. this" or "St. Louis" rarely start with a capital after an abbreviation's
# period, and a rare wrong split only shortens a quoted sentence.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z0-9\"'(])")
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an the of in on at to for from by with and or but is are was were be been being it its this that these "  # noqa: SIM905
    "those as which who whom whose what when where why how did do does has have had not no yes than then so "
    "such there their they he she his her him i you we our your my me us into about over after before also".split()
)
_MIN_SENTENCE_CHARS = 12


def split_sentences(text: str) -> list[str]:
    """Sentences of a passage (a regular-expression splitter: fast, good enough to quote from)."""
    parts = [p.strip() for p in _SENTENCE_END.split(text.strip())]
    return [p for p in parts if len(p) >= _MIN_SENTENCE_CHARS] or ([text.strip()] if text.strip() else [])


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]


class SentenceScorer(Protocol):
    name: str

    def score(self, question: str, sentences: list[str]) -> list[float]:
        """One relevance score per sentence (higher is better)."""
        ...


class LexicalScorer:
    """Share of the question's content words a sentence contains, each weighted by its IDF among
    the candidate sentences (a word in every sentence tells nothing)."""

    name = "lexical"

    def score(self, question: str, sentences: list[str]) -> list[float]:
        q_words = set(content_words(question))
        if not q_words or not sentences:
            return [0.0] * len(sentences)
        bags = [set(content_words(s)) for s in sentences]
        df = Counter(w for bag in bags for w in bag if w in q_words)
        idf = {w: math.log(1 + len(sentences) / (1 + df[w])) for w in q_words}
        total = sum(idf.values())
        return [sum(idf[w] for w in q_words & bag) / total for bag in bags]


class EmbeddingScorer:
    """Cosine similarity of each sentence to the question with the shared sentence embedder."""

    name = "embedding"

    def __init__(self, embedder: Embedder):
        self.embedder = embedder

    def score(self, question: str, sentences: list[str]) -> list[float]:
        if not sentences:
            return []
        vectors = self.embedder.embed([question, *sentences])
        return [float(x) for x in vectors[1:] @ vectors[0]]


class HybridScorer:
    """The mean of the lexical and the embedding score: word overlap catches names and numbers,
    the embedding catches paraphrase."""

    name = "hybrid"

    def __init__(self, embedder: Embedder):
        self.lexical = LexicalScorer()
        self.embedding = EmbeddingScorer(embedder)

    def score(self, question: str, sentences: list[str]) -> list[float]:
        lexical = self.lexical.score(question, sentences)
        dense = self.embedding.score(question, sentences)
        return [(a + b) / 2 for a, b in zip(lexical, dense, strict=True)]


@dataclass(frozen=True)
class ExtractedSentence:
    n: int  # the passage's number in the context
    sentence: str
    score: float


def extract(question: str, context: NumberedContext, scorer: SentenceScorer, *, max_sentences: int = 2,
            max_passages: int = 5, rank_decay: float = 0.05) -> list[ExtractedSentence]:
    """The best-matching sentences of the top `max_passages` passages, best first.

    A passage's rank discounts its sentences slightly (`rank_decay` per place), so a tie goes to the
    passage retrieval trusted more. At most one sentence per passage, so the answer shows several
    sources when several match (multi-hop questions need them).
    """
    candidates: list[tuple[int, str]] = []
    for n in sorted(context.shown)[:max_passages]:
        candidates.extend((n, s) for s in split_sentences(context.shown[n]))
    if not candidates:
        return []
    scores = np.asarray(scorer.score(question, [s for _, s in candidates]), dtype=np.float64)
    ranks = np.asarray([n - 1 for n, _ in candidates], dtype=np.float64)
    adjusted = scores - rank_decay * ranks
    picked: list[ExtractedSentence] = []
    used: set[int] = set()
    for i in np.argsort(-adjusted, kind="stable"):
        n, sentence = candidates[int(i)]
        if n in used:
            continue
        picked.append(ExtractedSentence(n, sentence, float(scores[int(i)])))
        used.add(n)
        if len(picked) == max_sentences:
            break
    return picked


def format_extract(sentences: list[ExtractedSentence]) -> str:
    """The quoted sentences, each followed by its citation marker."""
    return " ".join(f"{s.sentence} [{s.n}]" for s in sentences)
