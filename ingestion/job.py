"""What an ingestion job is made of, whichever engine runs it: its knobs (`IngestionConfig`), the batch
that travels between its steps (`PreparedBatch`), the state its steps share (`Job`) and what it reports
(`IngestionReport`).

No engine and no step lives here: `ingestion/steps.py` holds the steps, `ingestion/frame.py` the job
frame, `ingestion/local_engine.py` and `ingestion/ray_engine.py` the two executors. Every one of them
imports this module and none imports another's private names.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, Field

from graphrag.config import Settings
from graphrag.store import GraphBatch, GraphStore, WriteStats
from graphrag.types import SourceDocument
from ingestion.chunking import TextChunk
from ingestion.dedup import ExactLinker
from ingestion.loaders import LoadBudget

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_PARTIAL = 3

AbortKind = Literal["database_unavailable", "strict", "store_error"]


class IngestionConfig(BaseModel):
    """Knobs of a job (defaults suit the 2-core reference machine)."""

    batch_size: int = Field(500, ge=1, description="rows per UNWIND statement")
    documents_per_batch: int = Field(64, ge=1, description="documents per processing and write transaction")
    workers: int = Field(1, ge=1, le=16, description="threads for chunking + NER")
    queue_size: int = Field(2, ge=1, description="batches waiting between stages (bounds memory)")
    strict: bool = Field(False, description="stop at the first unusable input")
    max_tokens: int = Field(256, ge=16, description="embedder word-piece limit per chunk (title included)")
    target_tokens: int = Field(200, ge=16, description="close a chunk once it reaches this size")
    link_same_as: bool = Field(True, description="add SAME_AS edges between near-duplicate entities")
    same_as_threshold: float = Field(0.9, gt=0, le=1, description="cosine similarity for SAME_AS")
    same_as_neighbours: int = Field(5, ge=1, description="neighbours looked at per entity")
    titlecase_spans: bool = Field(True, description="also take capitalised multi-word spans as entities")
    count_graph: bool = Field(True, description="count vertices and edges per type before and after the job")
    embed_threads: int | None = Field(None, ge=1, le=64,
                                      description="torch threads for chunk embedding (None: torch's default)")
    entity_embed_threads: int = Field(1, ge=1, le=64, description="torch threads for entity names")
    id_root: Path | None = Field(None, description="files under this folder get their path relative to it as "
                                                   "document id and source; others (and all when None) their "
                                                   "absolute path")


class FailedInput(BaseModel):
    path: str
    reason: str


class IngestionReport(BaseModel):
    """What a job did, honestly counted (rows are after client-side de-duplication).

    Its row counts are `graphrag.store.WriteStats`'s, totalled under the same names (`add_written`;
    `WriteStats.ROW_COUNTS` lists them). They are declared here too, flat, because this model is what
    `graphrag ingest --json-report` prints and its field names are that report's keys.
    """

    documents_seen: int = 0
    documents_new: int = 0
    documents_unchanged: int = 0
    documents_replaced: int = 0
    documents_failed: int = 0
    failures: list[FailedInput] = Field(default_factory=list)
    chunks: int = 0
    entity_rows: int = 0
    entities_embedded: int = 0
    mention_rows: int = 0
    relation_rows: int = 0
    next_rows: int = 0
    same_as_edges: int = 0
    stale_chunks_removed: int = 0
    orphan_entities_removed: int = 0
    graph_before: dict[str, int] = Field(default_factory=dict, description="vertices/edges per type at start")
    graph_after: dict[str, int] = Field(default_factory=dict, description="vertices/edges per type at the end")
    seconds: dict[str, float] = Field(default_factory=dict)
    workers: list[dict[str, Any]] = Field(default_factory=list, description="Ray engine: seconds and items "
                                          "per stage and worker (throughput per worker)")
    aborted: str | None = None
    # why the job stopped, for programs: the database went away, --strict met a bad input, a store
    # error that is neither (the message in `aborted` says what)
    abort_kind: AbortKind | None = None

    def add_written(self, stats: WriteStats) -> None:
        """Add one stored batch's row counts (every name in `WriteStats.ROW_COUNTS`) to the totals."""
        for name in WriteStats.ROW_COUNTS:
            setattr(self, name, getattr(self, name) + getattr(stats, name))

    @property
    def exit_code(self) -> int:
        """0 success, 3 partial failure (some inputs failed), 1 failure (aborted or nothing succeeded)."""
        if self.aborted:
            return EXIT_FAILED
        if self.documents_failed:
            ok = self.documents_new + self.documents_unchanged + self.documents_replaced
            return EXIT_PARTIAL if ok else EXIT_FAILED
        return EXIT_OK


class ProgressListener(Protocol):
    """Told about progress from the pipeline's threads (the CLI draws a progress bar from it)."""

    def documents_seen(self, n: int) -> None: ...
    def batch_written(self, documents: int, chunks: int, entities: int) -> None: ...
    def documents_skipped(self, n: int) -> None: ...


class NoProgress:
    """The listener of a job nobody watches."""

    def documents_seen(self, n: int) -> None: ...
    def batch_written(self, documents: int, chunks: int, entities: int) -> None: ...
    def documents_skipped(self, n: int) -> None: ...


@dataclass
class PreparedBatch:
    """A batch between steps: planned, then chunked and extracted, then embedded, then written.

    Pickled as it is to the Ray engine's actors and back, so it holds data only.
    """

    index: int
    documents: list[tuple[SourceDocument, str, bool]]  # (doc, hash, replaces an older version)
    chunks: list[list[TextChunk]] = field(default_factory=list)
    graph: GraphBatch = field(default_factory=GraphBatch)
    entity_names: dict[str, str] = field(default_factory=dict)  # key -> the batch's name of it
    new_entity_keys: list[str] = field(default_factory=list)
    new_entity_vectors: np.ndarray | None = None
    trace: list[dict[str, Any]] = field(default_factory=list)  # per stage: worker, seconds (Ray engine)


class StageTimer:
    """Seconds per stage, added up across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: dict[str, float] = {}

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds


@dataclass
class Job:
    """One run's shared state, handed by the frame to its executor and to every step.

    `report` is written from several threads, always under `lock`; `stop` is set by whichever part
    fails first (or by the frame on Ctrl-C) and every other part polls it, so nothing waits for a
    stage that is gone. `linker` is the in-memory SAME_AS linker of a first load (None: the vector
    index is asked); the frame's closing pass reads it after the executor is done.
    """

    settings: Settings
    config: IngestionConfig
    store: GraphStore
    progress: ProgressListener
    budget: LoadBudget
    report: IngestionReport = field(default_factory=IngestionReport)
    timer: StageTimer = field(default_factory=StageTimer)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    linker: ExactLinker | None = None
