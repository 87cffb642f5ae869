"""The retriever interface, its configuration, and the records channels hand to fusion.

A `Retriever` turns a question into a `RetrievalResult`: ranked passages (with the channels that
found them) and the entity paths that led there. Passage n (1-based, in rank order) is what an
answer's `[n]` cites; the answerer alone decides how many of them fit its model's window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from graphrag.relevance import DEFAULT_THRESHOLD
from graphrag.types import PathStep, RetrievalResult

if TYPE_CHECKING:
    from graphrag.config import Settings

Channel = Literal["dense", "keyword", "graph"]
Ranking = Literal["ppr", "rrf", "dense", "keyword", "graph"]


class RetrievalConfig(BaseModel):
    """Every knob of retrieval, with the defaults that measured best on both dev sets.

    See docs/retrieval.md for what each default measured against the alternatives.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    ranking: Ranking = Field("ppr", description="'ppr' (graph-aware, default), 'rrf', or one channel alone")
    top_k: int = Field(8, ge=1, le=200, description="Passages returned")
    # channels
    dense_k: int = Field(30, ge=1, le=500, description="Candidates from the chunk vector index")
    dense_ef_search: int = Field(0, ge=0, le=10000, description="HNSW search breadth of the chunk vector "
                                 "index (0: the index's default)")
    dense_timeout_s: float = Field(5.0, gt=0, description="A vector query slower than this counts as "
                                   "unanswered (the index is building): the keyword index stands in")
    keyword_k: int = Field(30, ge=1, le=500, description="Candidates from the chunk full-text index")
    graph_k: int = Field(30, ge=1, le=500, description="Candidates from the Cypher graph walk")
    graph_hops: int = Field(2, ge=1, le=3, description="Hops over RELATED / SAME_AS from the seeds")
    graph_beam: int = Field(40, ge=1, le=1000, description="Entities kept per hop of the walk")
    graph_per_source: int = Field(25, ge=1, le=1000, description="Strongest edges followed per entity")
    graph_decay: float = Field(0.5, gt=0, le=1, description="Score factor per hop")
    graph_max_mentions: int = Field(200, ge=1, description="Entities mentioned by more chunks are not expanded")
    # seed linking
    use_ner: bool = Field(True, description="Also link spaCy names found in the question")
    max_ngram: int = Field(6, ge=1, le=10, description="Longest question span matched to entity keys")
    require_capital: bool = Field(True, description="Keep spans with a capitalised/digit token after word 1")
    fuzzy_linking: bool = Field(False, description="Also link unmatched spans by full text and vector search")
    fuzzy_k: int = Field(3, ge=1, le=50, description="Entities per unmatched span from fuzzy linking")
    fuzzy_min_similarity: float = Field(0.8, ge=0, le=1, description="Vector-linking similarity floor")
    fuzzy_weight: float = Field(0.5, ge=0, le=1, description="Seed weight factor of a fuzzy link")
    # fusion
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant")
    rrf_channels: tuple[Channel, ...] = ("dense", "keyword", "graph")
    # personalized PageRank
    ppr_damping: float = Field(0.6, gt=0, lt=1, description="Probability of following an edge")
    ppr_iterations: int = Field(50, ge=1, le=500)
    ppr_passage_weight: float = Field(0.015, ge=0, description="Reset mass per passage x normalised dense score")
    ppr_related_weight: float = Field(1.0, ge=0, description="Scale of co-occurrence edges (0 leaves them out)")
    ppr_related_mode: Literal["count", "binary", "log"] = Field(
        "count", description="Co-occurrence edge weight: the count, 1, or 1 + ln(count)")
    ppr_synonym_edges: bool = Field(True, description="SAME_AS edges in the PPR graph")
    ppr_idf_seeds: bool = Field(True, description="Weight a seed entity by 1 / chunks mentioning it")
    ppr_dense_power: float = Field(1.0, gt=0, description="Exponent on the normalised dense score in the reset")
    ppr_dense_top: int = Field(0, ge=0, description="Only the top N dense passages get reset mass (0 = all)")
    ppr_mention_idf: float = Field(0.0, ge=0, description="MENTIONS edge weight = mentions(entity)^-x")
    ppr_title_weight: float = Field(2.0, gt=0, description="Weight of the edge between a chunk and the entity "
                                    "its document's title names (other MENTIONS weigh 1)")
    ppr_skip_entity_types: tuple[str, ...] = Field((), description="Entity types left out of the PPR graph")
    ppr_feedback_passages: int = Field(1, ge=0, le=20, description="Passages of a first PageRank whose entities "
                                       "seed a second one (0 = one round only)")
    ppr_feedback_weight: float = Field(0.1, ge=0, description="Seed mass of a feedback entity, relative to a "
                                       "question seed (then divided by its mentions, like them)")
    # the neighbourhood PPR reads per question (graphrag/retrieval/neighbourhood.py)
    ppr_dense_k: int = Field(100, ge=1, le=1000, description="Nearest chunks from the vector index that get "
                             "dense reset mass (the rest of the graph gets none)")
    ppr_dense_read: int = Field(100, ge=0, le=1000, description="Of those, the nearest whose mentions are read "
                                "up front (the others only when the PageRank finds them probable)")
    ppr_dense_floor: float | None = Field(None, ge=-1, le=1, description="Cosine that normalises to 0 in the "
                                          "dense reset (None: the worst of the ppr_dense_k hits)")
    ppr_entity_cap: int = Field(200, ge=1, description="An entity named by more chunks is a hub: its "
                                "mentions are never read (its share per chunk is negligible)")
    # Measured on both dev sets (docs/retrieval.md): reading every dense hit's mentions up front and then one
    # round ranks as well as 32 up front and two rounds (hotpot R@5 0.935, musique 0.787), with one PageRank less.
    ppr_expand_rounds: int = Field(1, ge=0, le=10, description="Rounds that read the most probable "
                                   "unread part of the neighbourhood (a request's `hops` is 1 + these)")
    ppr_expand_budget: int = Field(1000, ge=0, description="Entity mentions read per expansion round")
    ppr_expand_chunks: int = Field(64, ge=0, description="Chunks whose mentions are read per expansion round")
    # output
    max_paths: int = Field(8, ge=0, description="Entity paths reported")
    min_relevance: float = Field(DEFAULT_THRESHOLD, ge=0, description="Below this fit score "
                                 "(`graphrag.relevance.judge`) nothing retrieved answers the question: the "
                                 "result says so, and answers abstain")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> RetrievalConfig:
        """The knobs that settings carry (`GRAPHRAG_RETRIEVAL_*`, `GRAPHRAG_ANSWER_MIN_RELEVANCE`), for every
        face that builds a retriever: the API and the CLI read the same ones."""
        return cls.model_validate({"dense_ef_search": settings.retrieval_dense_ef_search,
                                   "ppr_dense_k": settings.retrieval_dense_neighbours,
                                   "ppr_dense_read": settings.retrieval_dense_neighbours,
                                   "min_relevance": settings.answer_min_relevance, **overrides})


class Retriever(Protocol):
    """Anything that answers `retrieve(question) -> RetrievalResult`."""

    def retrieve(self, question: str, *, top_k: int | None = None) -> RetrievalResult:
        ...


@dataclass
class ChunkRecord:
    """A chunk's stored fields, as the channels read them."""

    id: str
    document_id: str
    title: str
    text: str
    ordinal: int = 0

    @property
    def size(self) -> int:
        """What it counts against the graph cache's budget of rows (a row is about 0.3-0.5 KB)."""
        return 1 + (len(self.text) + len(self.title)) // 512


@dataclass
class ChannelHit:
    """One passage one channel found, with that channel's score (higher is better)."""

    chunk_id: str
    score: float
    chunk: ChunkRecord | None = None  # filled when the channel read the text anyway
    path: list[PathStep] = field(default_factory=list)  # how the graph channel got there
