"""Builds the real working parts (embedder, retriever, answerer, store, ingestion) from settings and
adapts them to the small protocols in `api.deps`. Adapters only translate call shapes and counts;
the work stays in `graphrag/` and `ingestion/`."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.batching import QUESTIONS_IN_FLIGHT, BatchingEmbedder
from api.deps import Components
from api.schemas import IngestSummary
from graphrag import ner_process
from graphrag.answer import Answerer
from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from graphrag.embeddings import Embedder, LazyEmbedder, SentenceTransformerEmbedder, TracedEmbedder
from graphrag.errors import DatabaseUnavailableError, IngestionError
from graphrag.graph_view import GraphView
from graphrag.ner_process import NerProcess
from graphrag.retrieval import HybridRetriever, RetrievalConfig
from graphrag.retrieval.cache import GraphCache
from graphrag.retrieval.ppr import compile_kernels
from graphrag.store import GraphStore
from graphrag.types import SourceDocument
from ingestion.loaders import LoadFailure, document_id, load_file
from ingestion.pipeline import IngestionPipeline, IngestionReport, make_pipeline

log = logging.getLogger(__name__)
class StoreDocuments:
    """`DocumentsLike` over `GraphStore`."""

    def __init__(self, store: GraphStore):
        self.store = store

    def list(self, *, offset: int, limit: int, query: str | None = None) -> tuple[list[dict[str, Any]], int]:
        """A page of documents by id; with `query`, only those whose id, title or shown source (see
        `graphrag.queries.DOCUMENT_FILTER`) contains it, in any case."""
        return (self.store.list_documents(skip=offset, limit=limit, query=query),
                self.store.count_documents(query=query))

    def chunks(self, document_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The document's chunks in order (each with the keys of the entities it mentions) and those
        entities, most mentioned first: what a person reads to see what ingestion made of it."""
        rows, mentions = self.store.document_chunks(document_id)
        chunks = [{"id": r["id"], "ordinal": int(r.get("ordinal") or 0), "text": r.get("text") or "", "entities": []}
                  for r in rows]
        by_id = {c["id"]: c for c in chunks}
        entities: dict[str, dict[str, Any]] = {}
        for row in mentions:
            key = row["key"]
            if row["chunk"] in by_id and key not in by_id[row["chunk"]]["entities"]:
                by_id[row["chunk"]]["entities"].append(key)
            seen = entities.setdefault(key, {"key": key, "name": row.get("name") or key,
                                             "type": row.get("type") or "UNKNOWN", "count": 0})
            seen["count"] += int(row.get("count") or 1)
        ranked = sorted(entities.values(), key=lambda e: (-e["count"], e["name"].lower()))
        return chunks, [{k: e[k] for k in ("key", "name", "type")} for e in ranked]

    def get(self, document_id: str) -> dict[str, Any] | None:
        return self.store.get_document(document_id)

    def delete(self, document_id: str) -> bool:
        return self.store.delete_document(document_id) is not None


def summary_of(report: IngestionReport, document_ids: list[str], failed: list[str]) -> IngestSummary:
    """The API's summary of a job, derived from its report (whose row counts are `WriteStats`'s): the
    client's names (`entities`, `relations`, `skipped`) are the API's contract (`docs/api.md`), so they
    are mapped here, once, and never counted a second time."""
    return IngestSummary(
        document_ids=document_ids,
        documents=report.documents_new + report.documents_replaced, skipped=report.documents_unchanged,
        chunks=report.chunks, entities=report.entity_rows, relations=report.relation_rows,
        failed=failed + [f"{f.path}: {f.reason}" for f in report.failures],
        seconds=round(float(report.seconds.get("total", 0.0)), 3))


UPLOAD_ID_PREFIX = "upload-"


def upload_document_id(path: Path) -> str:
    """An uploaded file's document id: `upload-` + the first 24 hex digits of the SHA-256 of its bytes.

    The content, not the name, is what an upload is: the same bytes sent again (under any name) are
    the same document and a no-op, and a different file that happens to share a name is a new
    document instead of silently replacing the earlier one.
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return UPLOAD_ID_PREFIX + digest.hexdigest()[:24]


def _shown(where: str, path: Path, name: str) -> str:
    """A loader's `source` or failure location with the server path replaced by what the client knows."""
    full = str(path)
    return name + where[len(full):] if where.startswith(full) else where


class PipelineIngestor:
    """`IngestorLike` over `IngestionPipeline`, one run at a time in the process (the pipeline already
    uses every core): every workspace's ingestor shares one `lock`.

    Files are loaded here with the ingestion loaders, so that the API decides a document's id and
    `source` (both visible to read-scope clients, so never the server's absolute path):
    - server paths (ingest jobs): the path relative to `root`, the allowed ingest folder, as id and
      source (`batch/a.md`): the same file sent again is the same document;
    - uploads (`by_content`): the id is a hash of the bytes (`upload_document_id`), the source the
      file's name.
    """

    def __init__(self, make_pipeline: Callable[[], IngestionPipeline], lock: threading.Lock | None = None):
        self._make = make_pipeline
        self._pipeline: IngestionPipeline | None = None
        self._made = threading.Lock()
        self._lock = lock or threading.Lock()

    @property
    def pipeline(self) -> IngestionPipeline:
        """The pipeline, made at the first ingest: its extractor loads spaCy and its embedder the model
        and torch, which a service that only answers questions never needs."""
        with self._made:
            if self._pipeline is None:
                self._pipeline = self._make()
            return self._pipeline

    def _run(self, documents: list[SourceDocument], failed: list[str]) -> IngestSummary:
        with self._lock:
            report = self.pipeline.run(documents) if documents else IngestionReport()
        if report.aborted:
            if report.abort_kind == "database_unavailable":
                raise DatabaseUnavailableError(report.aborted)
            raise IngestionError(f"ingestion stopped: {report.aborted}")
        return summary_of(report, [d.id for d in documents], failed)

    def ingest_documents(self, documents: list[SourceDocument]) -> IngestSummary:
        return self._run(documents, [])

    def ingest_paths(self, paths: list[Path], root: Path, *, by_content: bool = False) -> IngestSummary:
        documents: list[SourceDocument] = []
        failed: list[str] = []
        empty_inputs = 0
        for path in paths:
            try:  # resolved when read, not only when the job was made: the file may be a link by now
                relative = document_id(path, root)
            except ValueError:
                failed.append(f"{path.name}: outside the folder this job may read; skipped")
                empty_inputs += 1
                continue
            name = path.name if by_content else relative
            try:
                doc_id = upload_document_id(path) if by_content else relative
            except OSError as exc:
                failed.append(f"{name}: cannot be read ({exc.strerror})")
                empty_inputs += 1
                continue
            loaded = 0
            for item in load_file(path, doc_id, self.pipeline.budget):  # a document over budget fails alone
                if isinstance(item, LoadFailure):
                    failed.append(f"{_shown(item.path, path, name)}: {item.reason}")
                else:
                    documents.append(item.model_copy(update={"source": _shown(item.source, path, name)}))
                    loaded += 1
            empty_inputs += loaded == 0
        summary = self._run(documents, failed)
        summary.inputs, summary.inputs_failed = len(paths), empty_inputs
        return summary


@dataclass
class Models:
    """What every workspace shares: the models (the slow, large part) and the locks that keep their
    CPU work to one request or one ingest run at a time."""

    embedder: Embedder
    questions: BatchingEmbedder
    answerer: Answerer
    cpu_lock: threading.Lock
    ingest_lock: threading.Lock
    graph_cache: GraphCache  # every workspace's cached graph reads, in one budget
    names: NerProcess | None = None  # question NER in a child process (api_ner_process); None: in this one


class ComponentFactory:
    """Builds one workspace's working parts over its database client: `factory(settings, db)`.

    The models are loaded by the first call and shared by every later one, so a workspace costs the
    service a few small objects, not another copy of the embedding and NER models.

    Args:
        embedder: the embedding model to use (tests pass a small one); default: `settings`'.
    """

    def __init__(self, *, embedder: Embedder | None = None):
        self._embedder = embedder
        self._models: Models | None = None
        self._lock = threading.Lock()

    def models(self, settings: Settings) -> Models:
        with self._lock:
            if self._models is None:
                self._models = _load_models(settings, self._embedder)
            return self._models

    @property
    def loaded_models(self) -> Models | None:
        """The shared models once the first call loaded them (None before)."""
        return self._models

    @property
    def closers(self) -> list[Callable[[], Any]]:
        """What to close at shutdown: the shared answerer's HTTP client, once, if it was built."""
        return [self._models.answerer.aclose] if self._models is not None else []

    def __call__(self, settings: Settings, db: ArcadeDB) -> Components:
        models = self.models(settings)
        retriever = HybridRetriever(db, models.questions, cpu_lock=models.cpu_lock, cache=models.graph_cache,
                                    config=RetrievalConfig.from_settings(settings), nlp=models.names)
        return Components(retriever=retriever, answerer=models.answerer, documents=StoreDocuments(GraphStore(db)),
                          # GRAPHRAG_INGEST_ENGINE=ray: on the Ray cluster; made at the first ingest
                          ingestor=PipelineIngestor(lambda: make_pipeline(settings, db, models.embedder),
                                                    models.ingest_lock), graph=GraphView(db))


def _load_models(settings: Settings, embedder: Embedder | None) -> Models:
    names = ner_process.shared() if settings.api_ner_process else None  # loads spaCy beside the models below
    # loaded at the first document to embed (or encoder to make): a service that answers questions runs
    # without torch, sentence-transformers or the model in memory
    embedder = embedder or LazyEmbedder(settings.embedding_model, expected_dim=settings.embedding_dim,
                                        batch_size=settings.embedding_batch_size)
    answerer = Answerer.from_settings(settings, embedder=embedder)
    questions = question_encoder(settings, embedder)
    log.info("ranking kernels ready in %.1f s (compiled once, then loaded from numba's cache)", compile_kernels())
    # one request at a time in the GIL-bound stages (NER, PageRank arithmetic): measured on 2 cores
    # with 8 clients, p95 165-185 ms with it, 195-219 ms without, 188-198 ms with two at a time
    batched = BatchingEmbedder(questions, max_wait_s=settings.api_question_batch_wait_ms / 1000,
                               in_flight=QUESTIONS_IN_FLIGHT, min_in_flight=settings.api_question_batch_min_in_flight)
    return Models(embedder=embedder, questions=batched, answerer=answerer,
                  cpu_lock=threading.Lock(), ingest_lock=threading.Lock(),
                  graph_cache=GraphCache(max_rows=settings.retrieval_cache_rows),
                  names=_ready(names))


def question_encoder(settings: Settings, embedder: Embedder) -> Embedder:
    """What embeds questions: the traced encoder (ONNX Runtime, int8 by default, from the model cache
    once made), ready before the first request. Questions from concurrent requests share its forward
    passes; ingestion batches on its own with `embedder`. The traced model keeps those passes from
    stalling on the GIL behind request threads."""
    if not (settings.api_traced_embedder and isinstance(embedder, (SentenceTransformerEmbedder, LazyEmbedder))):
        return embedder
    started = time.perf_counter()
    questions = TracedEmbedder(embedder, dtype=settings.api_question_dtype, runtime=settings.api_question_runtime,
                               threads=settings.api_native_threads, cache_dir=settings.model_cache)
    questions.embed(["warm-up: trace the model before the first request"])
    log.info("questions are embedded by the traced encoder in %s on %s, ready in %.1f s (GRAPHRAG_API_QUESTION_DTYPE"
             "=%s, GRAPHRAG_API_QUESTION_RUNTIME=%s, cached in %s)", questions.dtype, questions.runtime,
             time.perf_counter() - started, settings.api_question_dtype, settings.api_question_runtime,
             settings.model_cache)
    return questions


def prepare_question_encoder() -> None:
    """Makes the question encoder's cached model for the environment's settings (the image runs this when
    it is built, so no container start spends the seconds)."""
    settings = Settings()
    question_encoder(settings, LazyEmbedder(settings.embedding_model, expected_dim=settings.embedding_dim))


def _ready(names: NerProcess | None) -> NerProcess | None:
    """The NER child once it has loaded spaCy; None (NER in this process) where there is none or it failed."""
    if names is None or not names.wait_ready():
        return None
    log.info("question NER runs in its own process (pid %s; GRAPHRAG_API_NER_PROCESS=false keeps it here)",
             names.pid)
    return names


def build_components(settings: Settings, db: ArcadeDB, *, embedder: Embedder | None = None) -> Components:
    """One database's working parts with models of their own, closed with them (the stdio MCP server,
    tests). The API builds every workspace's through one `ComponentFactory` instead."""
    factory = ComponentFactory(embedder=embedder)
    parts = factory(settings, db)
    parts.closers.extend(factory.closers)
    return parts
