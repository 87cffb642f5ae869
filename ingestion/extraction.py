"""Entity and relation extraction without an LLM, behind the `EntityExtractor` interface.

`SpacyEntityExtractor` (the default) takes spaCy's named entities of the labels in
`graphrag.nlp.NAME_LABELS`, adds what lifts recall (multi-word Title-Cased spans spaCy missed,
and the document's own title, its trailing "(...)" removed), and relates entities named in the
same sentence. Another extractor (an LLM's triples) only has to implement `extract`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from graphrag.nlp import NAME_LABELS, load_spacy
from graphrag.normalize import entity_key, strip_title_qualifier
from ingestion.chunking import TextChunk

TITLE_TYPE = "TITLE"
SPAN_TYPE = "PROPER_NOUN"
MAX_KEY_CHARS = 200
MAX_ENTITIES_PER_SENTENCE = 12  # pairs grow quadratically; a list of 40 names relates nothing useful


@dataclass(slots=True)
class Mention:
    """An entity named in a chunk; `sentence` indexes `TextChunk.sentences` (-1: the whole chunk)."""

    key: str
    name: str
    type: str
    sentence: int = -1


@dataclass(slots=True)
class ChunkExtraction:
    mentions: list[Mention] = field(default_factory=list)
    # (key_a, key_b) pairs named together in one sentence, key_a < key_b, each pair once
    pairs: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class ExtractionInput:
    title: str
    chunks: list[TextChunk]


class EntityExtractor(Protocol):
    """Entities and relations of documents' chunks: one `ChunkExtraction` per chunk, in order."""

    name: str

    def extract(self, documents: Sequence[ExtractionInput]) -> list[list[ChunkExtraction]]: ...


_CAP = re.compile(r"^[A-Z][\w'’.-]*$|^[A-Z0-9]{2,}$")
_CONNECTORS = {"of", "the", "de", "du", "la", "le", "von", "van", "der", "for", "&"}  # not "and"/"in": lists, places
_LEADING_DROP = {"the", "a", "an", "this", "that", "these", "those", "his", "her", "its", "their"}


# Words of a date: a name made of these and numbers ("12 September 1897", "May 1968", "1890s") is a
# date or a count, which questions do not look up as an entity (spaCy labels them DATE or CARDINAL,
# left out of NAME_LABELS; the Title-Cased runs took them back in, since "12" and "1897" pass for
# capitalised words there).
_DATE_WORDS = frozenset({
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november",
    "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "monday",
    "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "mon", "tue", "tues", "wed", "thu", "thur",
    "thurs", "fri", "sat", "sun",
})
_NUMBER = re.compile(r"^\d+(?:st|nd|rd|th|s)?$")
# A name that ends in one of these was cut before its object ("1903 Nobel Prize in"): spaCy's small
# model sometimes ends an entity there. Such a fragment names nothing a question would.
_DANGLING = frozenset({"in", "of", "on", "at", "by", "for", "to", "from", "with", "into", "and", "or", "the", "a",
                       "an"})


def display_name(text: str) -> str:
    """An entity's name as shown: the source's line breaks and runs of white space as single spaces
    ("Henri\nBecquerel" -> "Henri Becquerel")."""
    return " ".join(text.split())


def _usable(name: str) -> str | None:
    """The key for `name`, or None for names that would only add noise: empty, one letter, numbers,
    dates ("12 September 1897"), fragments cut before their object ("1903 Nobel Prize in")."""
    key = entity_key(name)
    if len(key) < 2 or len(key) > MAX_KEY_CHARS:
        return None
    words = key.split()
    if all(_NUMBER.match(w) or w in _DATE_WORDS for w in words) and any(_NUMBER.match(w) for w in words):
        return None
    if words[-1] in _DANGLING:
        return None
    return key


def title_entity(title: str) -> tuple[str, str] | None:
    """(key, name) of the entity a document's title names: 'Mercury (planet)' -> 'Mercury'."""
    name = display_name(strip_title_qualifier(title))
    key = _usable(name)
    return (key, name) if key else None


def _titlecase_spans(tokens: list[Any]) -> list[tuple[int, int]]:
    """Token index ranges of runs of >= 2 capitalised words (connectors allowed inside)."""
    spans: list[tuple[int, int]] = []
    i, n = 0, len(tokens)
    while i < n:
        # a span starts at a capitalised word that is not a stop word ("In Berlin", "The Times" -> no / "Times")
        if not _CAP.match(tokens[i].text) or tokens[i].is_stop or tokens[i].lower_ in _LEADING_DROP:
            i += 1
            continue
        j = i + 1
        last_cap = i
        while j < n:
            text = tokens[j].text
            if _CAP.match(text):
                last_cap = j
            elif text.lower() not in _CONNECTORS:
                break
            j += 1
        caps = sum(1 for k in range(i, last_cap + 1) if _CAP.match(tokens[k].text))
        if caps >= 2 and last_cap - i < 8:
            spans.append((i, last_cap + 1))
        i = last_cap + 1
    return spans


class SpacyEntityExtractor:
    """spaCy NER (+ Title-Cased spans + the document title), co-occurrence by sentence.

    Args:
        nlp: a loaded spaCy pipeline; default `graphrag.nlp.load_spacy()` (shared with retrieval).
        labels: entity labels kept.
        titlecase_spans: also take runs of capitalised words spaCy did not label.
        title_entity: every chunk also mentions the entity its document's title names.
        batch_size: texts per `nlp.pipe` batch.
    """

    name = "spacy"

    def __init__(self, nlp: Any | None = None, *, labels: frozenset[str] = NAME_LABELS,
                 titlecase_spans: bool = True, title_entity: bool = True, batch_size: int = 64):
        self.nlp = nlp if nlp is not None else load_spacy()
        self.labels = labels
        self.titlecase_spans = titlecase_spans
        self.use_title = title_entity
        self.batch_size = batch_size
        # NER alone: sentences come from the chunker, so the parser and tagger are not run.
        self._disable = [p for p in self.nlp.pipe_names if p not in ("tok2vec", "ner")]

    def extract(self, documents: Sequence[ExtractionInput]) -> list[list[ChunkExtraction]]:
        texts = [chunk.text for doc in documents for chunk in doc.chunks]
        parsed = iter(self.nlp.pipe(texts, batch_size=self.batch_size, disable=self._disable))
        out: list[list[ChunkExtraction]] = []
        for doc in documents:
            title = title_entity(doc.title) if self.use_title and doc.title else None
            out.append([self._chunk(chunk, next(parsed), title) for chunk in doc.chunks])
        return out

    def _chunk(self, chunk: TextChunk, sdoc: Any, title: tuple[str, str] | None) -> ChunkExtraction:
        starts = [s for s, _ in chunk.sentences] or [0]

        def sentence_of(char: int) -> int:
            lo, hi = 0, len(starts) - 1
            while lo < hi:  # the last sentence starting at or before `char`
                mid = (lo + hi + 1) // 2
                if starts[mid] <= char:
                    lo = mid
                else:
                    hi = mid - 1
            return lo

        mentions: list[Mention] = []
        covered: set[int] = set()
        for ent in sdoc.ents:
            covered.update(range(ent.start, ent.end))
            if ent.label_ not in self.labels:
                continue
            span = ent
            while len(span) > 1 and span[0].lower_ in _LEADING_DROP:
                span = span[1:]  # "the United States" and "United States" are one entity
            name = display_name(span.text)
            key = _usable(name)
            if key:
                mentions.append(Mention(key, name, ent.label_, sentence_of(span.start_char)))
        if self.titlecase_spans:
            tokens = list(sdoc)
            for i, j in _titlecase_spans(tokens):
                if all(k in covered for k in range(i, j)):
                    continue  # spaCy already named exactly these words; a longer run is kept too
                span = sdoc[i:j]
                key = _usable(span.text)
                if key:
                    mentions.append(Mention(key, display_name(span.text), SPAN_TYPE, sentence_of(span.start_char)))
        if title is not None:
            mentions.append(Mention(title[0], title[1], TITLE_TYPE, -1))
        return ChunkExtraction(mentions=mentions, pairs=sentence_pairs(mentions))


def sentence_pairs(mentions: Sequence[Mention]) -> list[tuple[str, str]]:
    """Distinct entity pairs named in the same sentence (a title mention counts where the title is named)."""
    by_sentence: dict[int, list[str]] = {}
    for m in mentions:
        if m.sentence >= 0:
            keys = by_sentence.setdefault(m.sentence, [])
            if m.key not in keys:
                keys.append(m.key)
    pairs: set[tuple[str, str]] = set()
    for keys in by_sentence.values():
        for a, b in itertools.combinations(keys[:MAX_ENTITIES_PER_SENTENCE], 2):
            pairs.add((a, b) if a < b else (b, a))
    return sorted(pairs)
