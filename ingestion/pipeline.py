"""`IngestionPipeline`: documents in, a deduplicated knowledge graph with embeddings out.

Three stages run at once, joined by bounded queues, so CPU work overlaps database writes:

    main thread   load -> skip unchanged (content hash) -> chunk -> NER        (batches of documents)
    embed thread  chunk texts ("title\\ntext") and new entity keys -> vectors
    write thread  one transaction per batch (GraphStore.write_batch), then SAME_AS for new entities

Batches stay in input order end to end, so a job's result does not depend on timing. An entity's
stored name and type do not depend on order at all: of all spellings of its key, the first in
`graphrag.normalize.spelling_rank` wins (the write renames a stored entity when a batch brings one),
and its vector is its key's, so jobs writing overlapping inputs at once end with one run's graph.

Resumable: a batch is one transaction and every write is a MERGE on a deterministic key
(chunk id = document id + content hash + ordinal), so a job killed at any point and run again
skips what was committed (same hash), redoes what was not, and ends with the graph an
uninterrupted run would have built. The closing pass embeds entities left without a vector and
links entities not yet looked up for SAME_AS.

The steps are functions the Ray engine (`ingestion/ray_engine.py`) runs too: planning (`_plan`),
chunking + NER (`BatchProcessor`), embedding (`embed_batch`), writing and linking (`_write_one`,
`_link_one`); only where they run differs, so both engines build the same graph.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, Field

from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from graphrag.embeddings import Embedder
from graphrag.errors import DatabaseUnavailableError, IngestionError, StoreError
from graphrag.normalize import spelling_rank
from graphrag.store import (
    ChunkRecord,
    DocumentRecord,
    EntityRecord,
    GraphBatch,
    GraphStore,
    MentionRecord,
    RelationRecord,
    WriteStats,
)
from graphrag.types import SourceDocument
from ingestion.chunking import SentenceChunker, TextChunk, TokenCounter, approx_token_counter
from ingestion.dedup import ExactLinker
from ingestion.extraction import EntityExtractor, ExtractionInput, SpacyEntityExtractor
from ingestion.loaders import LoadBudget, LoadFailure, content_hash, load_paths

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_PARTIAL = 3


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
    """What a job did, honestly counted (rows are after client-side de-duplication)."""

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
    abort_kind: Literal["database_unavailable", "strict", "store_error"] | None = None

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


class _NoProgress:
    def documents_seen(self, n: int) -> None: ...
    def batch_written(self, documents: int, chunks: int, entities: int) -> None: ...
    def documents_skipped(self, n: int) -> None: ...


@dataclass
class _Prepared:
    """A batch between stages."""

    index: int
    documents: list[tuple[SourceDocument, str, bool]]  # (doc, hash, replaces an older version)
    chunks: list[list[TextChunk]] = field(default_factory=list)
    graph: GraphBatch = field(default_factory=GraphBatch)
    entity_names: dict[str, str] = field(default_factory=dict)  # key -> the batch's name of it
    new_entity_keys: list[str] = field(default_factory=list)
    new_entity_vectors: np.ndarray | None = None
    trace: list[dict[str, Any]] = field(default_factory=list)  # per stage: worker, seconds (Ray engine)


_STOP = object()


class _Timer:
    """Seconds per stage, added up across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: dict[str, float] = {}

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds


def chunk_id(document_id: str, digest: str, ordinal: int) -> str:
    """Deterministic chunk id: the same document version always yields the same ids."""
    return f"{document_id}#{digest[:16]}#{ordinal}"


def embedding_text(title: str, text: str) -> str:
    """What is embedded for a chunk: its document title, then its text (measured best for retrieval)."""
    return f"{title}\n{text}" if title else text


def check_dimension(embedder: Embedder, settings: Settings) -> None:
    """Refuse an embedder whose vectors do not fit the schema's vector indexes."""
    if embedder.dimension != settings.embedding_dim:
        from graphrag.errors import ConfigError

        raise ConfigError(f"the embedder makes {embedder.dimension}-d vectors but the schema expects "
                          f"{settings.embedding_dim} (GRAPHRAG_EMBEDDING_DIM)")


def load_budget(settings: Settings) -> LoadBudget:
    """What one document may cost (`GRAPHRAG_INGEST_MAX_PAGES`, `_MAX_CHARS`, `_MAX_SECONDS`): every
    engine and the API's ingest jobs load within it."""
    return LoadBudget(max_pages=settings.ingest_max_pages, max_chars=settings.ingest_max_chars,
                      max_seconds=settings.ingest_max_seconds)


def make_chunker(embedder: Embedder, config: IngestionConfig) -> SentenceChunker:
    """The chunker for `embedder`: counted in its own word pieces when it can count them (a chunk
    must fit its window), else estimated. Every engine builds its chunker here, so chunks agree."""
    make_counter = getattr(embedder, "token_counter", None)
    counter: TokenCounter = make_counter() if callable(make_counter) else approx_token_counter
    return SentenceChunker(counter, max_tokens=min(config.max_tokens, int(getattr(embedder, "max_tokens", 256))),
                           target_tokens=config.target_tokens)


class BatchProcessor:
    """Chunking and entity extraction of one batch (CPU only, no database): the work the local
    engine runs in its NLP threads and the Ray engine in its extraction actors."""

    def __init__(self, chunker: SentenceChunker, extractor: EntityExtractor):
        self.chunker = chunker
        self.extractor = extractor

    def process(self, prepared: _Prepared, timer: _Timer) -> _Prepared:
        """Fills the batch's graph rows; vectors come in the next stage."""
        t0 = time.perf_counter()
        for doc, _digest, _ in prepared.documents:
            prepared.chunks.append(self.chunker.chunk(doc.text, doc.title))
        timer.add("chunk", time.perf_counter() - t0)
        t0 = time.perf_counter()
        extractions = self.extractor.extract([ExtractionInput(doc.title, chunks) for (doc, _, _), chunks
                                              in zip(prepared.documents, prepared.chunks, strict=True)])
        timer.add("extract", time.perf_counter() - t0)
        graph = prepared.graph
        entities: dict[str, EntityRecord] = {}
        for (doc, digest, _), chunks, per_chunk in zip(prepared.documents, prepared.chunks, extractions,
                                                       strict=True):
            graph.documents.append(DocumentRecord(doc.id, doc.source, doc.title, digest, len(chunks),
                                                  dict(doc.metadata)))
            for chunk, extraction in zip(chunks, per_chunk, strict=True):
                cid = chunk_id(doc.id, digest, chunk.ordinal)
                graph.chunks.append(ChunkRecord(cid, doc.id, chunk.ordinal, doc.title, chunk.text,
                                                chunk.start_char, chunk.end_char, []))
                for m in extraction.mentions:
                    entity = entities.get(m.key)
                    if entity is None:
                        entities[m.key] = EntityRecord(m.key, m.name, m.type)
                    elif spelling_rank(m.name, m.type) < spelling_rank(entity.name, entity.type):
                        entity.name, entity.type = m.name, m.type  # see graphrag.normalize.spelling_rank
                    graph.mentions.append(MentionRecord(cid, m.key, 1))
                for a, b in extraction.pairs:
                    graph.relations.append(RelationRecord(a, b, [cid]))
        graph.entities.extend(entities.values())
        prepared.entity_names.update((k, e.name) for k, e in entities.items())
        return prepared


def embed_batch(prepared: _Prepared, embedder: Embedder, keys_with_embedding: Callable[[list[str]], set[str]],
                known: set[str], timer: _Timer, *, chunk_threads: int | None, entity_threads: int) -> None:
    """Vectors for the batch's chunks and for its entities that have none yet.

    `known` holds keys already embedded (in the database, or earlier in this job); it is read and
    extended. `prepared.new_entity_keys` / `new_entity_vectors` are the entities embedded here.
    """
    graph = prepared.graph
    t0 = time.perf_counter()
    _set_torch_threads(chunk_threads)
    vectors = embedder.embed([embedding_text(c.title, c.text) for c in graph.chunks])
    for chunk, vector in zip(graph.chunks, vectors, strict=True):
        chunk.embedding = vector.tolist()
    timer.add("embed_chunks", time.perf_counter() - t0)
    t0 = time.perf_counter()
    candidates = [k for k in prepared.entity_names if k not in known]
    if candidates:
        known.update(keys_with_embedding(candidates))
    todo = [k for k in candidates if k not in known]
    if todo:
        # An entity's vector is its KEY's, not its name's: the same whichever spelling is stored
        # (graphrag.store.EntityRecord), so a later spelling that takes the name changes nothing derived
        # from the vector. (MiniLM is uncased and strips accents: the key loses only punctuation.)
        # Names are a few word pieces: splitting such tiny batches over 2 threads was measured
        # to cost 3-6x the CPU of one thread (synchronisation, not arithmetic).
        _set_torch_threads(entity_threads)
        by_key = dict(zip(todo, embedder.embed(todo), strict=True))
        for entity in graph.entities:
            vector = by_key.get(entity.key)
            if vector is not None:
                entity.embedding = vector.tolist()
        known.update(todo)
        prepared.new_entity_keys = todo
        prepared.new_entity_vectors = np.stack([by_key[k] for k in todo])
    timer.add("embed_entities", time.perf_counter() - t0)


class IngestionPipeline:
    """Runs ingestion jobs into one database.

    Args:
        settings: project settings (embedding dimension).
        db: the database client (shared; the pipeline does not close it).
        embedder: a loaded embedder (shared with retrieval to load the model once).
        extractor: the entity extractor; default spaCy NER.
        config: job knobs.
        progress: progress listener (the CLI's progress bar).

    Example:
        >>> report = IngestionPipeline(settings, db, embedder).run(["docs/"])
        >>> report.exit_code
        0
    """

    def __init__(self, settings: Settings, db: ArcadeDB, embedder: Embedder, *,
                 extractor: EntityExtractor | None = None, config: IngestionConfig | None = None,
                 progress: ProgressListener | None = None):
        self._setup(settings, db, config, progress)
        check_dimension(embedder, settings)
        self.embedder = embedder
        self.processor = BatchProcessor(make_chunker(embedder, self.config), extractor or SpacyEntityExtractor(
            titlecase_spans=self.config.titlecase_spans))

    def _setup(self, settings: Settings, db: ArcadeDB, config: IngestionConfig | None,
               progress: ProgressListener | None) -> None:
        """What every engine needs in the driving process: settings, the database, the job knobs."""
        self.settings = settings
        self.config = config or IngestionConfig()
        self.db = db
        self.store = GraphStore(db, batch_size=self.config.batch_size)
        self.progress: ProgressListener = progress or _NoProgress()
        self.budget = load_budget(settings)

    @property
    def extractor(self) -> EntityExtractor:
        return self.processor.extractor

    @property
    def chunker(self) -> SentenceChunker:
        return self.processor.chunker

    # --- public -------------------------------------------------------------------------------------

    def run(self, sources: Iterable[str | Path] | Iterable[SourceDocument]) -> IngestionReport:
        """Ingest files/folders/globs (strings or paths) or ready `SourceDocument`s."""
        if isinstance(sources, str | Path | SourceDocument):
            sources = [sources]  # type: ignore[list-item]  # one path given bare, not a list of characters
        started = time.perf_counter()
        report = IngestionReport()
        timer = _Timer()
        if self.config.count_graph:
            report.graph_before = self.store.counts()
        items = self._items(sources)
        embed_q: queue.Queue[Any] = queue.Queue(maxsize=self.config.queue_size)
        write_q: queue.Queue[Any] = queue.Queue(maxsize=self.config.queue_size)
        stop = threading.Event()
        errors: list[BaseException] = []
        lock = threading.Lock()
        linker = self._new_linker()

        embed_thread = threading.Thread(target=self._guard, name="ingest-embed", daemon=True,
                                        args=(self._embed_stage, embed_q, write_q, timer, stop, errors))
        write_thread = threading.Thread(target=self._guard, name="ingest-write", daemon=True,
                                        args=(self._write_stage, write_q, report, lock, timer, linker, stop, errors))
        embed_thread.start()
        write_thread.start()
        try:
            for prepared in self._prepare_stage(items, report, lock, timer, stop):
                while not stop.is_set():
                    try:
                        embed_q.put(prepared, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
        except IngestionError as exc:
            report.aborted, report.abort_kind = str(exc), "strict"
            stop.set()
        except BaseException:
            stop.set()  # Ctrl-C or a database failure while planning: stop the other stages, then re-raise
            raise
        finally:
            _put_until(embed_q, _STOP, stop)
            embed_thread.join()
            write_thread.join()
        if errors:
            if not report.aborted:
                report.aborted = f"{type(errors[0]).__name__}: {errors[0]}"
                report.abort_kind = ("database_unavailable" if isinstance(errors[0], DatabaseUnavailableError)
                                     else "strict" if isinstance(errors[0], IngestionError) else "store_error")
            if not isinstance(errors[0], StoreError | IngestionError):
                raise errors[0]
        if not report.aborted:
            self._finish(report, timer, linker)
        if self.config.count_graph and not report.aborted:
            with contextlib.suppress(StoreError):  # the summary should not hide the job's own error
                report.graph_after = self.store.counts()
        timer.add("total", time.perf_counter() - started)
        report.seconds = {k: round(v, 3) for k, v in timer.seconds.items()}
        return report

    # --- stages -------------------------------------------------------------------------------------

    def _items(self, sources: Iterable[str | Path] | Iterable[SourceDocument],
               ) -> Iterator[SourceDocument | LoadFailure]:
        paths: list[str | Path] = []
        for item in sources:
            if isinstance(item, SourceDocument):
                if paths:
                    yield from load_paths(paths, self.config.id_root, self.budget)
                    paths = []
                yield item
            else:
                paths.append(item)
        if paths:
            yield from load_paths(paths, self.config.id_root, self.budget)

    def _prepare_stage(self, items: Iterator[SourceDocument | LoadFailure], report: IngestionReport,
                       lock: threading.Lock, timer: _Timer, stop: threading.Event) -> Iterator[_Prepared]:
        """Planned batches, chunked and extracted (by `workers` threads, yielded in input order)."""
        if self.config.workers == 1:
            for prepared in self._plan(items, report, lock, timer, stop):
                yield self.processor.process(prepared, timer)
            return
        from concurrent.futures import ThreadPoolExecutor

        window: list[Any] = []
        with ThreadPoolExecutor(self.config.workers, thread_name_prefix="ingest-nlp") as pool:
            try:
                for prepared in self._plan(items, report, lock, timer, stop):
                    window.append(pool.submit(self.processor.process, prepared, timer))
                    while len(window) > self.config.workers:
                        yield window.pop(0).result()
                while window:
                    yield window.pop(0).result()
            finally:
                for future in window:
                    future.cancel()

    def _plan(self, items: Iterator[SourceDocument | LoadFailure], report: IngestionReport,
              lock: threading.Lock, timer: _Timer, stop: threading.Event) -> Iterator[_Prepared]:
        """Batches of documents that need work, in input order (shared by every engine).

        Unusable inputs, empty documents and repeated ids are reported here; documents whose stored
        content hash matches are counted unchanged and never reach the CPU stages. Batch boundaries
        depend only on the input and the stored hashes, so every engine cuts the same batches.
        """
        seen: dict[str, str] = {}
        pending: list[SourceDocument] = []
        index = 0

        def fail(path: str, reason: str) -> None:
            with lock:
                report.documents_failed += 1
                report.failures.append(FailedInput(path=path, reason=reason))
            log.warning("skipped %s: %s", path, reason)
            if self.config.strict:
                raise IngestionError(f"{path}: {reason} (--strict)")

        def flush() -> Iterator[_Prepared]:
            nonlocal pending, index
            if not pending:
                return
            batch, pending = pending, []
            t0 = time.perf_counter()
            stored = self.store.document_hashes([d.id for d in batch])
            timer.add("plan", time.perf_counter() - t0)
            todo: list[tuple[SourceDocument, str, bool]] = []
            unchanged = 0
            for doc in batch:
                digest = content_hash(doc)
                if stored.get(doc.id) == digest:
                    unchanged += 1
                else:
                    todo.append((doc, digest, doc.id in stored))
            if unchanged:
                with lock:
                    report.documents_unchanged += unchanged
                self.progress.documents_skipped(unchanged)
            if not todo:
                return
            yield _Prepared(index=index, documents=todo)
            index += 1

        t_load = time.perf_counter()
        for item in items:
            if stop.is_set():
                return
            if isinstance(item, LoadFailure):
                fail(item.path, item.reason)
                continue
            with lock:
                report.documents_seen += 1
            self.progress.documents_seen(1)
            if not item.text.strip():
                fail(item.source, "empty document (no text)")
                continue
            if (over := self.budget.over_chars(len(item.text))) is not None:  # sent whole (JSON, MCP)
                fail(item.source, over)
                continue
            if item.id in seen:
                fail(item.source, f"duplicate document id {item.id!r} (first from {seen[item.id]})")
                continue
            seen[item.id] = item.source
            pending.append(item)
            if len(pending) >= self.config.documents_per_batch:
                timer.add("load", time.perf_counter() - t_load)
                yield from flush()
                t_load = time.perf_counter()
        timer.add("load", time.perf_counter() - t_load)
        yield from flush()

    def _embed_stage(self, inbox: queue.Queue[Any], outbox: queue.Queue[Any], timer: _Timer,
                     stop: threading.Event) -> None:
        known: set[str] = set()  # entity keys that have a vector in the database (or are about to)
        chunk_threads = self.config.embed_threads or _torch_threads()
        while True:
            prepared = _get_until(inbox, stop)
            if prepared is _STOP:
                _put_until(outbox, _STOP, stop)
                return
            embed_batch(prepared, self.embedder, self.store.entity_keys_with_embedding, known, timer,
                        chunk_threads=chunk_threads, entity_threads=self.config.entity_embed_threads)
            _put_until(outbox, prepared, stop)

    def _write_stage(self, inbox: queue.Queue[Any], report: IngestionReport, lock: threading.Lock,
                     timer: _Timer, linker: ExactLinker | None, stop: threading.Event) -> None:
        while True:
            prepared = _get_until(inbox, stop)
            if prepared is _STOP:
                return
            stats = self._write_one(prepared, report, lock, timer)
            if stats is None:
                continue
            linked = self._link_one(prepared, linker, timer)
            self._count_written(prepared, stats, linked, report, lock)

    def _new_linker(self) -> ExactLinker | None:
        """An in-memory linker for a first load into an empty graph (exact, see ingestion/dedup.py);
        None when the job adds to existing entities: then the vector index, which knows them all, is asked."""
        if self.config.link_same_as and not self.store.has_embedded_entities():
            return ExactLinker(self.config.same_as_threshold, self.config.same_as_neighbours,
                               self.settings.embedding_dim)
        return None

    def _write_one(self, prepared: _Prepared, report: IngestionReport, lock: threading.Lock, timer: _Timer,
                   store: GraphStore | None = None) -> WriteStats | None:
        """One batch, one transaction; None when the server refused it (its documents are reported
        failed and the job goes on). A database that cannot be reached stops the job."""
        t0 = time.perf_counter()
        try:
            return (store or self.store).write_batch(prepared.graph)
        except DatabaseUnavailableError:
            raise
        except StoreError as exc:
            with lock:
                for doc, _, _ in prepared.documents:
                    report.documents_failed += 1
                    report.failures.append(FailedInput(path=doc.source, reason=f"write failed: {exc}"))
            return None
        finally:
            timer.add("write", time.perf_counter() - t0)

    def _link_one(self, prepared: _Prepared, linker: ExactLinker | None, timer: _Timer) -> int:
        """SAME_AS for the batch's new entities, once the batch (and every batch before it) is stored."""
        if not (self.config.link_same_as and prepared.new_entity_keys):
            return 0
        t0 = time.perf_counter()
        if linker is not None and prepared.new_entity_vectors is not None:
            linked = self.store.write_same_as(linker.add(prepared.new_entity_keys, prepared.new_entity_vectors))
            self.store.mark_linked(prepared.new_entity_keys)
        else:
            linked = self.store.link_similar_entities(prepared.new_entity_keys,
                                                      threshold=self.config.same_as_threshold,
                                                      k=self.config.same_as_neighbours)
        timer.add("link", time.perf_counter() - t0)
        return linked

    def _count_written(self, prepared: _Prepared, stats: WriteStats, linked: int, report: IngestionReport,
                       lock: threading.Lock) -> None:
        with lock:
            for _, _, replaces in prepared.documents:
                if replaces:
                    report.documents_replaced += 1
                else:
                    report.documents_new += 1
            report.chunks += stats.chunks
            report.entity_rows += stats.entity_rows
            report.entities_embedded += len(prepared.new_entity_keys)
            report.mention_rows += stats.mention_rows
            report.relation_rows += stats.relation_rows
            report.next_rows += stats.next_rows
            report.stale_chunks_removed += stats.stale_chunks_removed
            report.orphan_entities_removed += stats.orphan_entities_removed
            report.same_as_edges += linked
        self.progress.batch_written(stats.documents, stats.chunks, stats.entity_rows)

    def _finish(self, report: IngestionReport, timer: _Timer, linker: ExactLinker | None = None) -> None:
        """Closing pass: vectors for entities left without one, SAME_AS for entities not yet linked.

        A job that linked in memory (the graph was empty when it started) knows only its own
        entities. When the graph now holds others (a job that ran at the same time wrote them), the
        job's entities are looked up again in the vector index, which knows every committed one:
        of two overlapping jobs, the one that finishes last sees all of the other's entities.
        """
        t0 = time.perf_counter()
        if linker is not None and len(linker) and self.store.entity_count() > len(linker):
            report.same_as_edges += self.store.link_similar_entities(
                linker.keys, threshold=self.config.same_as_threshold, k=self.config.same_as_neighbours)
        done: set[str] = set()
        while True:
            missing = [k for k in self.store.entities_without_embedding(limit=2000) if k not in done]
            if not missing:
                break
            done.update(missing)
            vectors = self.embedder.embed(missing)  # the keys, as `embed_batch` embeds them
            self.store.set_entity_embeddings([(k, v.tolist()) for k, v in zip(missing, vectors, strict=True)])
            report.entities_embedded += len(missing)
        if self.config.link_same_as:
            looked_up: set[str] = set()
            while True:
                keys = [k for k in self.store.entities_not_linked(limit=2000) if k not in looked_up]
                if not keys:
                    break
                looked_up.update(keys)
                report.same_as_edges += self.store.link_similar_entities(
                    keys, threshold=self.config.same_as_threshold, k=self.config.same_as_neighbours)
        timer.add("finish", time.perf_counter() - t0)

    @staticmethod
    def _guard(target: Any, *args: Any) -> None:
        """Run a stage; on failure record it and stop the others (no thread dies silently)."""
        stop: threading.Event = args[-2]
        errors: list[BaseException] = args[-1]
        try:
            target(*args[:-1])
        except BaseException as exc:
            log.error("ingestion stage %s failed: %s", threading.current_thread().name, exc)
            errors.append(exc)
            stop.set()


def make_pipeline(settings: Settings, db: ArcadeDB, embedder: Embedder | None, *,
                  config: IngestionConfig | None = None, progress: ProgressListener | None = None,
                  ) -> IngestionPipeline:
    """The pipeline of the configured engine (`GRAPHRAG_INGEST_ENGINE`): the CLI and the API's ingest jobs
    both build theirs here, so a setting moves both onto the Ray cluster (`GRAPHRAG_RAY_ADDRESS`)."""
    if settings.ingest_engine == "ray":
        from ingestion.ray_engine import RayIngestionPipeline, ray_config_from

        return RayIngestionPipeline(settings, db, embedder, config=config, ray_config=ray_config_from(settings),
                                    progress=progress)
    if embedder is None:
        from graphrag.embeddings import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder(settings.embedding_model, expected_dim=settings.embedding_dim,
                                               batch_size=settings.embedding_batch_size)
    return IngestionPipeline(settings, db, embedder, config=config, progress=progress)


def _torch_threads() -> int | None:
    try:
        import torch
    except ImportError:  # an embedder without torch: nothing to tune
        return None
    return int(torch.get_num_threads())


def _set_torch_threads(n: int | None) -> None:
    """Set torch's intra-op threads for the CALLING thread only (OpenMP settings are per thread)."""
    if n is None:
        return
    try:
        import torch
    except ImportError:
        return
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def _get_until(q: queue.Queue[Any], stop: threading.Event) -> Any:
    """The next item, or `_STOP` once the job is stopping.

    A stage that failed sets `stop` and never sends its `_STOP`: a reader blocked in a plain
    `get()` would wait for it forever (the job hung at 0 CPU when the database went away during
    the embed stage), so every reader polls `stop` while it waits.
    """
    while not stop.is_set():
        try:
            item = q.get(timeout=0.2)
        except queue.Empty:
            continue
        return _STOP if stop.is_set() else item
    return _STOP


def _put_until(q: queue.Queue[Any], item: Any, stop: threading.Event) -> None:
    """Put `item`, giving up when the job is stopping and nobody reads any more."""
    while True:
        try:
            q.put(item, timeout=0.2)
            return
        except queue.Full:
            if stop.is_set():
                with contextlib.suppress(queue.Empty):
                    q.get_nowait()  # make room: the reader is gone or about to see `stop`
