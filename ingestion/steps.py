"""The steps of an ingestion job, as public functions every engine calls: plan batches, prepare one
(chunk + NER, then embed), write it, link it, count it, and the closing pass.

The engines differ only in where a step runs (a thread of this process, a Ray actor, the Ray driver)
and in how batches travel between them; that both call these functions is why they build the same graph.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from graphrag.config import Settings
from graphrag.embeddings import Embedder
from graphrag.errors import ConfigError, DatabaseUnavailableError, IngestionError, StoreError
from graphrag.normalize import spelling_rank
from graphrag.store import (
    ChunkRecord,
    DocumentRecord,
    EntityRecord,
    GraphStore,
    MentionRecord,
    RelationRecord,
    WriteStats,
)
from graphrag.types import SourceDocument
from ingestion.chunking import SentenceChunker, TokenCounter, approx_token_counter
from ingestion.dedup import ExactLinker
from ingestion.extraction import EntityExtractor, ExtractionInput
from ingestion.job import FailedInput, IngestionConfig, Job, PreparedBatch, StageTimer
from ingestion.loaders import LoadBudget, LoadFailure, content_hash, load_paths

log = logging.getLogger(__name__)

Sources = Iterable[str | Path] | Iterable[SourceDocument]


def chunk_id(document_id: str, digest: str, ordinal: int) -> str:
    """Deterministic chunk id: the same document version always yields the same ids."""
    return f"{document_id}#{digest[:16]}#{ordinal}"


def embedding_text(title: str, text: str) -> str:
    """What is embedded for a chunk: its document title, then its text (measured best for retrieval)."""
    return f"{title}\n{text}" if title else text


def check_dimension(embedder: Embedder, settings: Settings) -> None:
    """Refuse an embedder whose vectors do not fit the schema's vector indexes."""
    if embedder.dimension != settings.embedding_dim:
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


def new_linker(config: IngestionConfig, store: GraphStore, dimension: int) -> ExactLinker | None:
    """An in-memory linker for a first load into an empty graph (exact, see ingestion/dedup.py);
    None when the job adds to existing entities: then the vector index, which knows them all, is asked."""
    if config.link_same_as and not store.has_embedded_entities():
        return ExactLinker(config.same_as_threshold, config.same_as_neighbours, dimension)
    return None


# --- plan ----------------------------------------------------------------------------------------------


def load_items(sources: Sources, id_root: Path | None, budget: LoadBudget) -> Iterator[SourceDocument | LoadFailure]:
    """The job's inputs in order: files, folders and globs loaded, ready documents passed through."""
    if isinstance(sources, str | Path | SourceDocument):
        sources = [sources]  # type: ignore[list-item]  # one path given bare, not a list of characters
    paths: list[str | Path] = []
    for item in sources:
        if isinstance(item, SourceDocument):
            if paths:
                yield from load_paths(paths, id_root, budget)
                paths = []
            yield item
        else:
            paths.append(item)
    if paths:
        yield from load_paths(paths, id_root, budget)


def plan_batches(job: Job, items: Iterator[SourceDocument | LoadFailure]) -> Iterator[PreparedBatch]:
    """Batches of documents that need work, in input order (every engine plans with this).

    Unusable inputs, empty documents and repeated ids are reported here; documents whose stored
    content hash matches are counted unchanged and never reach the CPU stages. Batch boundaries
    depend only on the input and the stored hashes, so every engine cuts the same batches.

    Raises:
        IngestionError: an unusable input under `--strict`.
    """
    report, lock, timer = job.report, job.lock, job.timer
    seen: dict[str, str] = {}
    pending: list[SourceDocument] = []
    index = 0

    def fail(path: str, reason: str) -> None:
        with lock:
            report.documents_failed += 1
            report.failures.append(FailedInput(path=path, reason=reason))
        log.warning("skipped %s: %s", path, reason)
        if job.config.strict:
            raise IngestionError(f"{path}: {reason} (--strict)")

    def flush() -> Iterator[PreparedBatch]:
        nonlocal pending, index
        if not pending:
            return
        batch, pending = pending, []
        t0 = time.perf_counter()
        stored = job.store.document_hashes([d.id for d in batch])
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
            job.progress.documents_skipped(unchanged)
        if not todo:
            return
        yield PreparedBatch(index=index, documents=todo)
        index += 1

    t_load = time.perf_counter()
    for item in items:
        if job.stop.is_set():
            return
        if isinstance(item, LoadFailure):
            fail(item.path, item.reason)
            continue
        with lock:
            report.documents_seen += 1
        job.progress.documents_seen(1)
        if not item.text.strip():
            fail(item.source, "empty document (no text)")
            continue
        if (over := job.budget.over_chars(len(item.text))) is not None:  # sent whole (JSON, MCP)
            fail(item.source, over)
            continue
        if item.id in seen:
            fail(item.source, f"duplicate document id {item.id!r} (first from {seen[item.id]})")
            continue
        seen[item.id] = item.source
        pending.append(item)
        if len(pending) >= job.config.documents_per_batch:
            timer.add("load", time.perf_counter() - t_load)
            yield from flush()
            t_load = time.perf_counter()
    timer.add("load", time.perf_counter() - t_load)
    yield from flush()


# --- prepare -------------------------------------------------------------------------------------------


class BatchProcessor:
    """Chunking and entity extraction of one batch (CPU only, no database): the work the local
    engine runs in its NLP threads and the Ray engine in its extraction actors."""

    def __init__(self, chunker: SentenceChunker, extractor: EntityExtractor):
        self.chunker = chunker
        self.extractor = extractor

    def process(self, prepared: PreparedBatch, timer: StageTimer) -> PreparedBatch:
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


def embed_batch(prepared: PreparedBatch, embedder: Embedder, keys_with_embedding: Callable[[list[str]], set[str]],
                known: set[str], timer: StageTimer, *, chunk_threads: int | None, entity_threads: int) -> None:
    """Vectors for the batch's chunks and for its entities that have none yet.

    `known` holds keys already embedded (in the database, or earlier in this job); it is read and
    extended. `prepared.new_entity_keys` / `new_entity_vectors` are the entities embedded here.
    """
    graph = prepared.graph
    t0 = time.perf_counter()
    set_torch_threads(chunk_threads)
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
        set_torch_threads(entity_threads)
        by_key = dict(zip(todo, embedder.embed(todo), strict=True))
        for entity in graph.entities:
            vector = by_key.get(entity.key)
            if vector is not None:
                entity.embedding = vector.tolist()
        known.update(todo)
        prepared.new_entity_keys = todo
        prepared.new_entity_vectors = np.stack([by_key[k] for k in todo])
    timer.add("embed_entities", time.perf_counter() - t0)


# --- write, link, count --------------------------------------------------------------------------------


def write_batch(job: Job, prepared: PreparedBatch, store: GraphStore | None = None) -> WriteStats | None:
    """One batch, one transaction (on `store`, else the job's); None when the server refused it (its
    documents are reported failed and the job goes on).

    Raises:
        DatabaseUnavailableError: the database cannot be reached: the job stops.
    """
    t0 = time.perf_counter()
    try:
        return (store or job.store).write_batch(prepared.graph)
    except DatabaseUnavailableError:
        raise
    except StoreError as exc:
        with job.lock:
            for doc, _, _ in prepared.documents:
                job.report.documents_failed += 1
                job.report.failures.append(FailedInput(path=doc.source, reason=f"write failed: {exc}"))
        return None
    finally:
        job.timer.add("write", time.perf_counter() - t0)


def link_batch(job: Job, prepared: PreparedBatch) -> int:
    """SAME_AS for the batch's new entities, once the batch (and every batch before it) is stored."""
    config = job.config
    if not (config.link_same_as and prepared.new_entity_keys):
        return 0
    t0 = time.perf_counter()
    if job.linker is not None and prepared.new_entity_vectors is not None:
        linked = job.store.write_same_as(job.linker.add(prepared.new_entity_keys, prepared.new_entity_vectors))
        job.store.mark_linked(prepared.new_entity_keys)
    else:
        linked = job.store.link_similar_entities(prepared.new_entity_keys, threshold=config.same_as_threshold,
                                                 k=config.same_as_neighbours)
    job.timer.add("link", time.perf_counter() - t0)
    return linked


def count_written(job: Job, prepared: PreparedBatch, stats: WriteStats, linked: int) -> None:
    """A stored batch's counts into the report, and its progress to the listener."""
    report = job.report
    with job.lock:
        for _, _, replaces in prepared.documents:
            if replaces:
                report.documents_replaced += 1
            else:
                report.documents_new += 1
        report.add_written(stats)
        report.entities_embedded += len(prepared.new_entity_keys)
        report.same_as_edges += linked
    job.progress.batch_written(stats.documents, stats.chunks, stats.entity_rows)


# --- close ---------------------------------------------------------------------------------------------


def close_job(job: Job, embedder: Callable[[], Embedder]) -> None:
    """Closing pass: vectors for entities left without one, SAME_AS for entities not yet linked.

    A job that linked in memory (the graph was empty when it started) knows only its own
    entities. When the graph now holds others (a job that ran at the same time wrote them), the
    job's entities are looked up again in the vector index, which knows every committed one:
    of two overlapping jobs, the one that finishes last sees all of the other's entities.

    Args:
        job: the job, its executor done.
        embedder: gives the embedder; called only when some entity lacks a vector (the Ray engine's
            driver then loads the model, which its actors held).
    """
    store, config, report, linker = job.store, job.config, job.report, job.linker
    t0 = time.perf_counter()
    if linker is not None and len(linker) and store.entity_count() > len(linker):
        report.same_as_edges += store.link_similar_entities(
            linker.keys, threshold=config.same_as_threshold, k=config.same_as_neighbours)

    def embed(missing: list[str]) -> None:
        vectors = embedder().embed(missing)  # the keys, as `embed_batch` embeds them
        store.set_entity_embeddings([(k, v.tolist()) for k, v in zip(missing, vectors, strict=True)])
        report.entities_embedded += len(missing)

    def link(keys: list[str]) -> None:
        report.same_as_edges += store.link_similar_entities(
            keys, threshold=config.same_as_threshold, k=config.same_as_neighbours)

    _each_page(lambda: store.entities_without_embedding(limit=2000), embed)
    if config.link_same_as:
        _each_page(lambda: store.entities_not_linked(limit=2000), link)
    job.timer.add("finish", time.perf_counter() - t0)


def _each_page(page: Callable[[], list[str]], handle: Callable[[list[str]], None]) -> None:
    """`handle` each page of keys `page` gives, until it gives none not handled yet: a key the handling
    could not settle (a vector refused, an entity with no neighbour to link) comes back, and is not
    handled twice."""
    handled: set[str] = set()
    while True:
        keys = [k for k in page() if k not in handled]
        if not keys:
            return
        handled.update(keys)
        handle(keys)


# --- torch threads -------------------------------------------------------------------------------------


def torch_threads() -> int | None:
    """Torch's intra-op threads of the calling thread; None without torch."""
    try:
        import torch
    except ImportError:  # an embedder without torch: nothing to tune
        return None
    return int(torch.get_num_threads())


def set_torch_threads(n: int | None) -> None:
    """Set torch's intra-op threads for the CALLING thread only (OpenMP settings are per thread)."""
    if n is None:
        return
    try:
        import torch
    except ImportError:
        return
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
