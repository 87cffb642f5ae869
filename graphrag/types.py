"""The records that flow between ingestion, the store, retrieval and answering (pydantic, validated)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceDocument(_Model):
    """A document as a loader produced it, before chunking."""

    id: str = Field(min_length=1)
    source: str
    title: str = ""
    text: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class PathStep(_Model):
    """One readable triple of an entity path: (source) -[relation]-> (target)."""

    source: str
    relation: str
    target: str


class Passage(_Model):
    """A ranked passage: the chunk, its score, and which channels found it."""

    chunk_id: str
    document_id: str
    title: str
    text: str
    score: float
    channels: list[str] = Field(default_factory=list)
    channel_ranks: dict[str, int] = Field(default_factory=dict)  # channel -> 1-based rank there
    ordinal: int = 0
    # The cosine of the passage's embedding to the question's, when the vector index scored it (None:
    # it did not, or it did not answer). Comparable across questions and rankings, unlike `score`:
    # what the answerer reads to tell whether anything fits the question at all (`graphrag.relevance`).
    similarity: float | None = None


class SeedEntity(_Model):
    """An entity the question was linked to, how it was found, and its weight as a graph seed."""

    key: str
    name: str
    source: Literal["ngram", "ner", "fulltext", "vector"]
    span: str = ""  # the question text it was linked from
    score: float = 1.0  # linking confidence in [0, 1]
    mentions: int = 0  # chunks that mention it (its document frequency)


class Relevance(_Model):
    """How well the retrieved passages fit the question (`graphrag.relevance.judge`), and whether
    that is enough to answer from them. `score` is None when it could not be measured (no passage
    has a dense similarity); such a result counts as answerable."""

    score: float | None
    threshold: float
    answerable: bool
    similarity: float | None = None  # the parts of `score`, for whoever wants to see why
    names: float | None = None
    words: float | None = None
    titled: bool | None = None


class RetrievalResult(_Model):
    question: str
    passages: list[Passage]
    paths: list[list[PathStep]] = Field(default_factory=list)
    seeds: list[SeedEntity] = Field(default_factory=list)
    ranking: str = ""  # the ranking that ordered `passages` ("ppr", "rrf", or one channel)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    relevance: Relevance | None = None  # None: this retriever does not judge (the answer is not withheld)


class Citation(_Model):
    n: int
    chunk_id: str
    document_id: str
    title: str
    snippet: str
    score: float


class Answer(_Model):
    question: str
    answer: str
    mode: Literal["llm", "extractive"]
    citations: list[Citation]
    removed_markers: list[int] = Field(default_factory=list)  # cited markers that pointed nowhere
    paths: list[list[PathStep]] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    # False: nothing retrieved fits the question; `answer` says so and `citations` are the closest
    # passages, not evidence. `relevance` is the retrieval's fit score (None: not judged).
    answerable: bool = True
    relevance: float | None = None
