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
from graphrag.words import STOP_WORDS, content_words, name_words

# A sentence ends at . ! ? (optionally closed by a quote or bracket) followed by space and a capital,
# digit or quote; "e.g. this" or "St. Louis" rarely start with a capital after an abbreviation's
# period, and a rare wrong split only shortens a quoted sentence.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z0-9\"'(])")
_MIN_SENTENCE_CHARS = 12


def split_sentences(text: str) -> list[str]:
    """Sentences of a passage (a regular-expression splitter: fast, good enough to quote from)."""
    parts = [p.strip() for p in _SENTENCE_END.split(text.strip())]
    return [p for p in parts if len(p) >= _MIN_SENTENCE_CHARS] or ([text.strip()] if text.strip() else [])


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
    sentence: str  # quoted as the passage has it
    score: float
    subject: str = ""  # the passage's title, when the sentence names none of it ("She was born ...")


def extract(question: str, context: NumberedContext, scorer: SentenceScorer, *, max_sentences: int = 2,
            max_passages: int = 5, rank_decay: float = 0.05) -> list[ExtractedSentence]:
    """The sentences of the top `max_passages` passages that answer `question` together, in the order picked.

    Greedy: the first sentence is the best match for the question; each next one is the best match
    for what the picked ones leave open: the question's content words they do not contain, plus
    the names they brought in that the question does not have. A multi-hop question ("the river of
    the city where Marie Curie was born") is answered by a chain: the first sentence names the
    bridge ("born in Warsaw"), the next is found through it ("Warsaw ... stands on the Vistula"); a
    comparison of two things gets a sentence about the second, not a second one about the first.
    Measured with benchmarks/answer_eval.py --extractive (docs/answering.md).

    A passage's rank discounts its sentences slightly (`rank_decay` per place), so a tie goes to the
    passage retrieval trusted more. At most one sentence per passage, so the answer shows several
    sources when several match.
    """
    candidates: list[tuple[int, str]] = []
    for n in sorted(context.shown)[:max_passages]:
        candidates.extend((n, s) for s in split_sentences(context.shown[n]))
    if not candidates:
        return []
    titles = {n: p.title for n, p in context.passages.items()}
    # scored with their subject: "She was born in Warsaw" matches a question about Marie Curie
    subjects = [_subject(titles.get(n, ""), s) for n, s in candidates]
    sentences = [f"{subject}: {s}" if subject else s for subject, (_, s) in zip(subjects, candidates, strict=True)]
    ranks = np.asarray([n - 1 for n, _ in candidates], dtype=np.float64)
    asked = content_words(question)
    picked: list[ExtractedSentence] = []
    query = question
    while len(picked) < max_sentences:
        scores = np.asarray(scorer.score(query, sentences), dtype=np.float64)
        used = {p.n for p in picked}
        best = next((int(i) for i in np.argsort(-(scores - rank_decay * ranks), kind="stable")
                     if candidates[int(i)][0] not in used), None)
        if best is None:
            break
        n, sentence = candidates[best]
        picked.append(ExtractedSentence(n, sentence, float(scores[best]), subjects[best]))
        query = _open_part(asked, picked) or question
    return picked


def _subject(title: str, sentence: str) -> str:
    """The passage's title when the sentence names none of its words, else "": "She was born in
    Warsaw" in the passage "Marie Curie" is about Marie Curie, and "The city stands on the Vistula"
    in "Warsaw" about Warsaw. Such a sentence is scored with its subject and shown after it."""
    if not title or set(content_words(title)) & set(content_words(sentence)):
        return ""
    return title


def _open_part(asked: list[str], picked: list[ExtractedSentence]) -> str:
    """What the next sentence should match: the question's words the picked sentences lack, and the
    names they brought in (a multi-hop question's bridge)."""
    quoted = " ".join(p.sentence for p in picked)
    have = set(content_words(" ".join(f"{p.subject} {p.sentence}" for p in picked)))
    bridge = [w for w in name_words(quoted) if w not in asked and w not in STOP_WORDS]
    return " ".join(dict.fromkeys([w for w in asked if w not in have] + bridge))


def format_extract(sentences: list[ExtractedSentence]) -> str:
    """The quoted sentences, each followed by its citation marker, and after its subject when the
    sentence does not name it ("Warsaw: The city stands on the Vistula River. [2]")."""
    return " ".join(f"{s.subject + ': ' if s.subject else ''}{s.sentence} [{s.n}]" for s in sentences)
