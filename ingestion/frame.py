"""`IngestionPipeline`: documents in, a deduplicated knowledge graph with embeddings out.

The job frame, written once for every engine:

    plan      load -> skip unchanged (content hash) -> batches              (`steps.plan_batches`)
    run       the executor takes each batch through prepare, embed, write, link
              (`LocalExecutor`: threads here; `RayExecutor`: Ray Data on a cluster)
    count     graph counts before and after, the steps' counts into one `IngestionReport`
    errors    whatever the executor raises: ours ends the job with one line (`abort_of`), else raised
    close     the closing pass (`steps.close_job`), then the report with seconds per stage

An entity's stored name and type do not depend on order: of all spellings of its key, the first in
`graphrag.normalize.spelling_rank` wins (the write renames a stored entity when a batch brings one), and
its vector is its key's, so jobs writing overlapping inputs at once end with one run's graph.

Resumable: a batch is one transaction and every write is a MERGE on a deterministic key (chunk id =
document id + content hash + ordinal), so a job killed at any point and run again skips what was
committed (same hash), redoes what was not, and ends with the graph an uninterrupted run would have
built. The closing pass embeds entities left without a vector and links entities not yet looked up.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Protocol

from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from graphrag.embeddings import Embedder, SentenceTransformerEmbedder
from graphrag.errors import DatabaseUnavailableError, IngestionError, StoreError
from graphrag.store import GraphStore
from ingestion.chunking import SentenceChunker
from ingestion.extraction import EntityExtractor, SpacyEntityExtractor
from ingestion.job import AbortKind, IngestionConfig, IngestionReport, Job, NoProgress, PreparedBatch, ProgressListener
from ingestion.local_engine import LocalExecutor
from ingestion.steps import (
    BatchProcessor,
    Sources,
    check_dimension,
    close_job,
    load_budget,
    load_items,
    make_chunker,
    new_linker,
    plan_batches,
)


class Executor(Protocol):
    """Where a job's batches are prepared, embedded, written and linked: the one thing engines differ in."""

    def execute(self, job: Job, batches: Iterator[PreparedBatch]) -> None:
        """Take every batch of `batches` (planned lazily: draining it runs the planner) through
        `BatchProcessor.process`, `embed_batch`, `write_batch`, `link_batch` and `count_written`,
        writing and linking in input order. Set `job.stop` on failure and raise the first error once
        every part has stopped; the frame maps it."""


def our_error(exc: BaseException, depth: int = 16) -> StoreError | IngestionError | None:
    """Our error inside whatever wrapped it, or None. Ray Data nests one `RayTaskError` per task it
    crossed (the write inside the map inside the read...), each holding the next as `cause`: looking
    one level in found another wrapper, and a database outage ended in a 236-line Ray traceback
    instead of the local engine's one line (and an API job recorded "internal error" instead of pausing)."""
    current: BaseException | None = exc
    for _ in range(depth):
        if current is None:
            return None
        if isinstance(current, StoreError | IngestionError):
            return current
        current = getattr(current, "cause", None) or current.__cause__
    return None


def abort_of(error: StoreError | IngestionError) -> tuple[str, AbortKind]:
    """`IngestionReport.aborted` and `abort_kind` for a job stopped by `error`, whichever engine ran it.

    --strict's message already says what stopped the job; an error's type names what failed."""
    if isinstance(error, IngestionError):
        return str(error), "strict"
    kind: AbortKind = "database_unavailable" if isinstance(error, DatabaseUnavailableError) else "store_error"
    return f"{type(error).__name__}: {error}", kind


class IngestionPipeline:
    """Runs ingestion jobs into one database: the job frame around an executor (threads in this process
    unless one is given; `RayIngestionPipeline` gives Ray's).

    Args:
        settings: project settings (embedding model and dimension).
        db: the database client (shared; the pipeline does not close it).
        embedder: a loaded embedder (shared with retrieval to load the model once); unset = loaded
            from the settings when first needed.
        extractor: the entity extractor of the local engine; default spaCy NER.
        config: job knobs.
        progress: progress listener (the CLI's progress bar).
        executor: where the batches run; default `LocalExecutor` over `extractor` and `embedder`.

    Example:
        >>> report = IngestionPipeline(settings, db, embedder).run(["docs/"])
        >>> report.exit_code
        0
    """

    def __init__(self, settings: Settings, db: ArcadeDB, embedder: Embedder | None = None, *,
                 extractor: EntityExtractor | None = None, config: IngestionConfig | None = None,
                 progress: ProgressListener | None = None, executor: Executor | None = None):
        self.settings = settings
        self.config = config or IngestionConfig()
        self.db = db
        self.store = GraphStore(db, batch_size=self.config.batch_size)
        self.progress: ProgressListener = progress or NoProgress()
        self.budget = load_budget(settings)
        if embedder is not None:
            check_dimension(embedder, settings)
        self._embedder = embedder
        if executor is None:
            self.processor = BatchProcessor(make_chunker(self.embedder, self.config), extractor or SpacyEntityExtractor(
                titlecase_spans=self.config.titlecase_spans))
            executor = LocalExecutor(self.processor, self.embedder)
        self.executor = executor

    @property
    def embedder(self) -> Embedder:
        """The driver's embedder: the local engine's, or the Ray engine's closing pass (its actors hold their own)."""
        if self._embedder is None:
            self._embedder = SentenceTransformerEmbedder(self.settings.embedding_model,
                                                         expected_dim=self.settings.embedding_dim,
                                                         batch_size=self.settings.embedding_batch_size)
        return self._embedder

    @property
    def extractor(self) -> EntityExtractor:
        """The local engine's extractor (a pipeline on Ray has none here: its actors build theirs)."""
        return self.processor.extractor

    @property
    def chunker(self) -> SentenceChunker:
        """The local engine's chunker."""
        return self.processor.chunker

    def run(self, sources: Sources) -> IngestionReport:
        """Ingest files/folders/globs (strings or paths) or ready `SourceDocument`s.

        Raises:
            StoreError: the database failed before the job began (its first count).
            BaseException: an error not ours (a bug, Ctrl-C), once every stage has stopped.
        """
        started = time.perf_counter()
        job = Job(self.settings, self.config, self.store, self.progress, self.budget)
        report = job.report
        if self.config.count_graph:
            report.graph_before = self.store.counts()
        job.linker = new_linker(self.config, self.store, self.settings.embedding_dim)
        batches = plan_batches(job, load_items(sources, self.config.id_root, self.budget))
        try:
            self.executor.execute(job, batches)
        except BaseException as exc:
            job.stop.set()
            found = our_error(exc)
            if found is None:
                raise
            report.aborted, report.abort_kind = abort_of(found)
        if not report.aborted:
            close_job(job, lambda: self.embedder)
        if self.config.count_graph and not report.aborted:
            with contextlib.suppress(StoreError):  # the summary should not hide the job's own error
                report.graph_after = self.store.counts()
        job.timer.add("total", time.perf_counter() - started)
        report.seconds = {k: round(v, 3) for k, v in job.timer.seconds.items()}
        return report
