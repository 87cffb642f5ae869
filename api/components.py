"""Builds the real working parts (embedder, retriever, answerer, store, ingestion) from settings and
adapts them to the small protocols in `api.deps`. Adapters only translate call shapes and counts;
the work stays in `graphrag/` and `ingestion/`."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from api.batching import BatchingEmbedder
from api.deps import Components, StreamError, TokenEvent
from api.schemas import IngestSummary
from graphrag import queries
from graphrag.answer import Answerer, ErrorEvent, FinalEvent
from graphrag.answer import TokenEvent as AnswerToken
from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from graphrag.embeddings import Embedder, SentenceTransformerEmbedder, TracedEmbedder
from graphrag.errors import DatabaseUnavailableError, IngestionError, LLMError
from graphrag.graph_view import GraphView
from graphrag.retrieval import HybridRetriever, RetrievalConfig
from graphrag.store import GraphStore
from graphrag.types import Answer, RetrievalResult, SourceDocument
from ingestion.loaders import LOADERS, LoadFailure
from ingestion.pipeline import IngestionPipeline, IngestionReport, make_pipeline

log = logging.getLogger(__name__)
# Reads only the API needs (the document list's filter, one document's chunks for the web console
# and the MCP document resource);
# `graphrag.queries` holds the statements the library itself uses.
#
# The document filter matches the id, the title, and `source` as a read key is shown it
# (`api.routes.documents.shown_source`): a source stored as an absolute server path (POSIX, a Windows
# drive or share; not a URL) only by its last segment, the file name. So an uploaded file is found by
# its name, and no filter can find documents by the server folders a read key never sees.
# (Cypher string literals: '\\' is one backslash.)
_SOURCE_SHOWN = r"""
MATCH (d:Document)
WITH d, coalesce(d.source, '') AS s
WITH d, CASE WHEN NOT s CONTAINS '://' AND (s STARTS WITH '/' OR s STARTS WITH '\\\\' OR s =~ '(?s)[A-Za-z]:[/\\\\].*')
             THEN last(split(replace(s, '\\', '/'), '/')) ELSE s END AS shown
WHERE toLower(d.id) CONTAINS $q OR toLower(coalesce(d.title, '')) CONTAINS $q OR toLower(shown) CONTAINS $q
"""
DOCUMENT_FILTER = _SOURCE_SHOWN + """
RETURN d.id AS id, d.source AS source, d.title AS title, d.content_hash AS content_hash,
       d.chunk_count AS chunk_count, d.ingested_at AS ingested_at
ORDER BY d.id SKIP $skip LIMIT $limit
"""
DOCUMENT_FILTER_COUNT = _SOURCE_SHOWN + "RETURN count(d) AS n\n"
DOCUMENT_CHUNKS = """
MATCH (c:Chunk {document_id: $id})
RETURN c.id AS id, c.ordinal AS ordinal, c.text AS text
ORDER BY c.ordinal
"""
DOCUMENT_MENTIONS = """
MATCH (c:Chunk {document_id: $id})-[m:MENTIONS]->(e:Entity)
RETURN c.id AS chunk, e.key AS key, e.name AS name, e.type AS type, m.count AS count
"""


class StoreDocuments:
    """`DocumentsLike` over `GraphStore`."""

    def __init__(self, store: GraphStore):
        self.store = store

    def list(self, *, offset: int, limit: int, query: str | None = None) -> tuple[list[dict[str, Any]], int]:
        """A page of documents by id; with `query`, only those whose id, title or shown source (see
        `DOCUMENT_FILTER`) contains it, in any case."""
        if query:
            needle = query.lower()
            rows = self.store.db.cypher(DOCUMENT_FILTER, {"q": needle, "skip": offset, "limit": limit})
            total = int(self.store.db.cypher(DOCUMENT_FILTER_COUNT, {"q": needle})[0]["n"])
            return rows, total
        rows = self.store.list_documents(skip=offset, limit=limit)
        total = int(self.store.db.cypher(queries.count_vertices("Document"))[0]["n"])
        return rows, total

    def chunks(self, document_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The document's chunks in order (each with the keys of the entities it mentions) and those
        entities, most mentioned first: what a person reads to see what ingestion made of it."""
        chunks = [{"id": r["id"], "ordinal": int(r.get("ordinal") or 0), "text": r.get("text") or "", "entities": []}
                  for r in self.store.db.cypher(DOCUMENT_CHUNKS, {"id": document_id})]
        by_id = {c["id"]: c for c in chunks}
        entities: dict[str, dict[str, Any]] = {}
        for row in self.store.db.cypher(DOCUMENT_MENTIONS, {"id": document_id}):
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
    """`IngestorLike` over `IngestionPipeline`, one run at a time (the pipeline already uses every core).

    Files are loaded here with the ingestion loaders, so that the API decides a document's id and
    `source` (both visible to read-scope clients, so never the server's absolute path):
    - server paths (ingest jobs): the path relative to `root`, the allowed ingest folder, as id and
      source (`batch/a.md`): the same file sent again is the same document;
    - uploads (`by_content`): the id is a hash of the bytes (`upload_document_id`), the source the
      file's name.
    """

    def __init__(self, pipeline: IngestionPipeline):
        self.pipeline = pipeline
        self._lock = threading.Lock()

    def _run(self, documents: list[SourceDocument], failed: list[str]) -> IngestSummary:
        with self._lock:
            report = self.pipeline.run(documents) if documents else IngestionReport()
        if report.aborted:
            if "DatabaseUnavailable" in report.aborted or "unreachable" in report.aborted:
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
                relative = path.resolve().relative_to(root.resolve()).as_posix()
            except ValueError:
                failed.append(f"{path.name}: outside the folder this job may read; skipped")
                empty_inputs += 1
                continue
            name = path.name if by_content else relative
            loader = LOADERS.get(path.suffix.lower())
            if loader is None:
                failed.append(f"{name}: unsupported file type")
                empty_inputs += 1
                continue
            try:
                doc_id = upload_document_id(path) if by_content else relative
            except OSError as exc:
                failed.append(f"{name}: cannot be read ({exc.strerror})")
                empty_inputs += 1
                continue
            loaded = 0
            for item in loader.load(path, doc_id):
                if isinstance(item, LoadFailure):
                    failed.append(f"{_shown(item.path, path, name)}: {item.reason}")
                else:
                    documents.append(item.model_copy(update={"source": _shown(item.source, path, name)}))
                    loaded += 1
            empty_inputs += loaded == 0
        summary = self._run(documents, failed)
        summary.inputs, summary.inputs_failed = len(paths), empty_inputs
        return summary


class HopsRetriever:
    """`RetrieverLike` over `HybridRetriever`: one retriever per hop count (its config is frozen),
    all sharing the database client and the models. Nothing here holds graph data: every request
    reads what it needs from the database, so a write is visible to the very next request."""

    def __init__(self, db: ArcadeDB, embedder: Embedder, config: RetrievalConfig | None = None):
        self.config = config or RetrievalConfig()
        # one request at a time in the GIL-bound stages (NER, PageRank arithmetic): measured on 2 cores
        # with 8 clients, p95 165-185 ms with it, 195-219 ms without, 188-198 ms with two at a time
        self.cpu_lock = threading.Lock()
        self.base = HybridRetriever(db, embedder, config=self.config, cpu_lock=self.cpu_lock)
        self._by_hops: dict[int, HybridRetriever] = {self.config.graph_hops: self.base}
        self._lock = threading.Lock()

    def _for(self, hops: int) -> HybridRetriever:
        with self._lock:
            if hops not in self._by_hops:
                self._by_hops[hops] = HybridRetriever(
                    self.base.db, self.base.embedder, config=self.config.model_copy(update={"graph_hops": hops}),
                    nlp=self.base.nlp, cpu_lock=self.cpu_lock)
            return self._by_hops[hops]

    def retrieve(self, question: str, *, top_k: int, hops: int) -> RetrievalResult:
        return self._for(hops).retrieve(question, top_k=top_k)


class AnswererAdapter:
    """`AnswererLike` over `graphrag.answer.Answerer` (async; LLM when configured, else extractive)."""

    def __init__(self, answerer: Answerer, *, check_timeout_s: float = 2.0):
        self.answerer = answerer
        self.check_timeout_s = check_timeout_s

    @property
    def mode(self) -> str:
        return "llm" if self.answerer.llm is not None else "extractive"

    def _with(self, temperature: float | None) -> Answerer:
        """The answerer with this request's temperature (a shallow copy shares the LLM client)."""
        if temperature is None or temperature == self.answerer.temperature:
            return self.answerer
        variant = copy.copy(self.answerer)
        variant.temperature = temperature
        return variant

    async def answer(self, retrieval: RetrievalResult, *, temperature: float | None) -> Answer:
        return await self._with(temperature).answer(retrieval)

    async def stream(self, retrieval: RetrievalResult, *,
                     temperature: float | None) -> AsyncIterator[TokenEvent | Answer | StreamError]:
        async for event in self._with(temperature).stream(retrieval):
            if isinstance(event, AnswerToken):
                yield TokenEvent(event.text)
            elif isinstance(event, FinalEvent):
                yield event.answer
            elif isinstance(event, ErrorEvent):
                yield StreamError(event.message)

    async def check(self) -> tuple[bool, str]:
        """Always usable (the extractive fallback needs nothing); the detail says which mode serves."""
        llm = self.answerer.llm
        if llm is None:
            return True, "extractive (no LLM configured)"
        try:
            await asyncio.wait_for(llm.models(), self.check_timeout_s)
        except (LLMError, TimeoutError) as exc:
            return True, f"LLM unreachable ({type(exc).__name__}): extractive fallback active"
        return True, f"llm ({llm.model})"


def build_components(settings: Settings, db: ArcadeDB, *, embedder: Embedder | None = None) -> Components:
    """Everything the routes use, loaded once (the embedding and NER models are the slow part)."""
    embedder = embedder or SentenceTransformerEmbedder(settings.embedding_model, expected_dim=settings.embedding_dim,
                                                       batch_size=settings.embedding_batch_size)
    store = GraphStore(db)
    pipeline = make_pipeline(settings, db, embedder)  # GRAPHRAG_INGEST_ENGINE=ray: jobs run on the Ray cluster
    answerer = Answerer.from_settings(settings, embedder=embedder)
    # Questions from concurrent requests share forward passes; ingestion batches on its own. The
    # traced model keeps those passes from stalling on the GIL behind request threads.
    questions: Embedder = embedder
    if settings.api_traced_embedder and isinstance(embedder, SentenceTransformerEmbedder):
        questions = TracedEmbedder(embedder)
        questions.embed(["warm-up: trace the model before the first request"])
    retriever = HopsRetriever(db, BatchingEmbedder(questions))
    return Components(retriever=retriever, answerer=AnswererAdapter(answerer), documents=StoreDocuments(store),
                      ingestor=PipelineIngestor(pipeline), graph=GraphView(db), closers=[answerer.aclose])
