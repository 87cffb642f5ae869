"""The service's operations, each written once: what happens between a face's checks and its shaping.

A face (a REST route, an MCP tool, the CLI answering in process) checks its caller and arguments,
finds the working parts it needs (REST answers 501 for a missing one, MCP a tool error), calls one
operation here and shapes its result for its wire. The operation does the rest, the same for every
face: the blocking core call off the event loop, the write guard of the workspace, the metrics and
timings, and the read-back of what was written. So a metric, a timing or a read-back is added or
fixed once, and the faces cannot drift apart (issue 22: the MCP tools had copied the routes' work,
and the copies already differed).

Workspaces are managed over REST only (the CLI's `graphrag workspace` works on the catalog of a
stopped service, `schema.workspaces.WorkspaceCatalog`), but their steps live here too, so the route
only checks the key and maps errors.

`metrics` is None where a face has none (`graphrag mcp` over stdio, tests): nothing is counted then.
Errors are the core's typed errors; each face maps them its own way (`api.errors`, `api.mcp.errors`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import anyio

from api.batching import QUESTIONS_IN_FLIGHT
from api.deps import AnswererLike, DocumentsLike, GraphLike, IngestorLike, RetrieverLike, Workspace
from api.evidence import evidence_graph
from api.keys import Principal
from api.metrics import Metrics
from api.schemas import (
    AskResponse,
    ChunkOut,
    DocumentCreated,
    DocumentOut,
    DocumentPage,
    EntityRef,
    EvidenceGraph,
    GraphEdge,
    GraphNode,
    IngestSummary,
    Neighbourhood,
    RetrieveResponse,
    WorkspaceOut,
    ask_response,
    document_out,
    retrieve_response,
)
from api.workspaces import Workspaces
from graphrag.answer import ErrorEvent, TokenEvent
from graphrag.types import Answer, RetrievalResult

T = TypeVar("T")


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Database and model work in a worker thread, so the event loop keeps serving other requests
    (the same threadpool FastAPI's `run_in_threadpool` uses)."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))


# --- questions ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Retrieved:
    """A retrieval and the seconds it took as the API saw it (thread hand-off included)."""

    result: RetrievalResult
    seconds: float


@dataclass(frozen=True)
class Answered:
    answer: Answer
    seconds: float


async def retrieve(retriever: RetrieverLike, question: str, *, top_k: int, hops: int,
                   metrics: Metrics | None) -> Retrieved:
    """Retrieve the passages for `question`; `retrieval_seconds` observes how long it took."""
    started = time.perf_counter()
    with QUESTIONS_IN_FLIGHT:  # the question batcher waits for company only when there is some
        result = await blocking(retriever.retrieve, question, top_k=top_k, hops=hops)
    elapsed = time.perf_counter() - started
    if metrics is not None:
        metrics.retrieval_seconds.observe(elapsed)
    return Retrieved(result, elapsed)


async def answer(answerer: AnswererLike, result: RetrievalResult, *, temperature: float | None,
                 metrics: Metrics | None) -> Answered:
    """The whole answer from retrieved passages; `answer_seconds` observes it under the answer's mode."""
    started = time.perf_counter()
    answered = await answerer.answer(result, temperature=temperature)
    elapsed = time.perf_counter() - started
    if metrics is not None:
        metrics.answer_seconds.labels(answered.mode).observe(elapsed)
    return Answered(answered, elapsed)


@dataclass(frozen=True)
class Streamed:
    """A streamed answer that finished: the answer, its seconds, and the seconds to its first token
    (None when no token came before the final answer)."""

    answer: Answer
    seconds: float
    first_token_s: float | None


async def stream_answer(answerer: AnswererLike, result: RetrievalResult, *, temperature: float | None,
                        metrics: Metrics | None) -> AsyncIterator[TokenEvent | ErrorEvent | Streamed]:
    """The answer as the answerer streams it: its `TokenEvent`s, then one `Streamed` (or one `ErrorEvent`,
    after which nothing follows). The time to the first token, the tokens and the whole answer's time are
    observed as a whole answer's are, so a streamed answer counts like one answered at once.

    Raises:
        RuntimeError: the answerer's stream ended with neither a final answer nor an error.
    """
    started = time.perf_counter()
    first_token_s: float | None = None
    tokens = 0
    mode = answerer.mode
    async for event in answerer.stream(result, temperature=temperature):
        if isinstance(event, TokenEvent):
            if first_token_s is None:
                first_token_s = time.perf_counter() - started
                if metrics is not None:
                    metrics.llm_ttft_seconds.labels(mode).observe(first_token_s)
            tokens += 1
            yield event
        elif isinstance(event, ErrorEvent):
            if metrics is not None:
                metrics.tokens.labels(mode).inc(tokens)
            yield event
            return
        else:
            seconds = time.perf_counter() - started
            final = event.answer
            if metrics is not None:
                metrics.tokens.labels(final.mode).inc(tokens)
                metrics.answer_seconds.labels(final.mode).observe(seconds)
            yield Streamed(final, seconds, first_token_s)
            return
    raise RuntimeError("the answerer's stream ended without a final answer")


# --- shaping for the wire: POST /v1/retrieve and /v1/ask, and the CLI's in-process `--json` ----------------


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _timings(stage_ms: dict[str, float], **ours: float) -> dict[str, float]:
    """The library's own per-stage timings, plus the API's view of the big stages."""
    merged = {k: round(float(v), 2) for k, v in stage_ms.items()}
    merged.update({k: _ms(v) for k, v in ours.items()})
    return merged


def retrieve_out(retrieved: Retrieved) -> RetrieveResponse:
    """The body of `POST /v1/retrieve` for a retrieval: its sources, paths, evidence graph and timings."""
    result = retrieved.result
    return retrieve_response(result, _timings(result.timings_ms, retrieve=retrieved.seconds, total=retrieved.seconds),
                             evidence_graph(result))


def ask_out(retrieved: Retrieved, answer: Answer, *, answer_s: float, total_s: float,
            first_token_s: float | None = None, graph: EvidenceGraph | None = None) -> AskResponse:
    """The body of `POST /v1/ask` (and of a stream's `final` event) for an answer to `retrieved`.

    Args:
        answer_s: the answer's seconds (`answer` in the timings); `total_s`: the request's, retrieval included.
        first_token_s: a stream's seconds to its first token (`first_token`); None leaves it out.
        graph: the retrieval's evidence graph when the caller drew it already (a stream sends it first).
    """
    extra = {"first_token": first_token_s} if first_token_s is not None else {}
    timings = _timings({**retrieved.result.timings_ms, **answer.timings_ms}, retrieve=retrieved.seconds,
                       answer=answer_s, total=total_s, **extra)
    return ask_response(answer, timings, graph if graph is not None else evidence_graph(retrieved.result))


# --- documents ----------------------------------------------------------------------------------------


async def add_documents(workspace: Workspace, ingestor: IngestorLike, documents: DocumentsLike,
                        ingest: Callable[[IngestorLike], IngestSummary], *, metrics: Metrics | None,
                        principal: Principal | None = None) -> DocumentCreated:
    """Run `ingest` (one blocking call of the ingestor: documents, or saved files) inside the workspace's
    write guard, count what it wrote, and read each stored document back as `principal` may see it.

    The guard refuses a workspace deleted (or made again) since the request was authorised, so nothing
    is written into a workspace that is going. A document refused by the ingestor is in
    `summary.failed`; whether none stored is an error is the face's call (REST answers 422)."""
    async with workspace.write():
        summary = await blocking(ingest, ingestor)
    if metrics is not None:
        label = metrics.workspace_label(workspace.name)
        metrics.ingest_documents.labels(label).inc(summary.documents)
        metrics.ingest_chunks.labels(label).inc(summary.chunks)
    stored = []
    for doc_id in dict.fromkeys(summary.document_ids):  # an id once, in the order ingested
        row = await blocking(documents.get, doc_id)
        if row is not None:
            stored.append(document_out(row, principal))
    return DocumentCreated(documents=stored, summary=summary)


async def list_documents(documents: DocumentsLike, *, offset: int, limit: int, query: str | None = None,
                         principal: Principal | None = None) -> DocumentPage:
    """One page of documents, ordered by id; `query` (stripped; blank means none) narrows it server-side."""
    query = query.strip() if query else None
    if query:  # only passed when given: `DocumentsLike` implementations without a filter keep working
        rows, total = await blocking(documents.list, offset=offset, limit=limit, query=query)
    else:
        rows, total = await blocking(documents.list, offset=offset, limit=limit)
    return DocumentPage(items=[document_out(r, principal) for r in rows], total=total, offset=offset, limit=limit)


async def get_document(documents: DocumentsLike, document_id: str, *, chunks: bool = False,
                       principal: Principal | None = None) -> DocumentOut | None:
    """One document, None when there is none; with `chunks`, its chunks in order and the entities they
    mention (`chunk_list`, `entities`)."""
    row = await blocking(documents.get, document_id)
    if row is None:
        return None
    out = document_out(row, principal)
    if chunks:
        chunk_rows, entities = await blocking(documents.chunks, document_id)
        out.chunk_list = [ChunkOut.model_validate(c) for c in chunk_rows]
        out.entities = [EntityRef.model_validate(e) for e in entities]
    return out


async def delete_document(workspace: Workspace, documents: DocumentsLike, document_id: str, *,
                          metrics: Metrics | None) -> bool:
    """Delete a document with its chunks (inside the workspace's write guard); False when there was none."""
    async with workspace.write():
        deleted = await blocking(documents.delete, document_id)
    if deleted and metrics is not None:
        metrics.documents_deleted.labels(metrics.workspace_label(workspace.name)).inc()
    return deleted


# --- the graph ----------------------------------------------------------------------------------------


async def entity_neighbourhood(graph: GraphLike, key: str, *, hops: int, limit: int) -> Neighbourhood | None:
    """The entities within `hops` of the entity `key` and the edges between them; None for no such entity."""
    found = await blocking(graph.neighbourhood, key, hops=hops, limit=limit)
    if found is None:
        return None
    return Neighbourhood(key=key, hops=hops, nodes=[GraphNode.model_validate(n) for n in found["nodes"]],
                         edges=[GraphEdge.model_validate(e) for e in found["edges"]],
                         truncated=bool(found.get("truncated")))


# --- workspaces ---------------------------------------------------------------------------------------


class JobsLike(Protocol):
    def end_workspace(self, workspace: str) -> Awaitable[int]:
        """Cancel the workspace's queued and running jobs; return once this process's have stopped."""
        ...


async def visible_workspaces(registry: Workspaces, principal: Principal) -> list[WorkspaceOut]:
    """The workspaces `principal` is bound to (all of them for an unbound key), and only those."""
    return [WorkspaceOut(name=n) for n in await registry.names() if principal.sees(n)]


async def workspace_summary(workspace: Workspace) -> WorkspaceOut:
    """A workspace with its number of documents (None when it has no document store)."""
    documents = workspace.parts.documents
    total = None
    if documents is not None:
        _, total = await blocking(documents.list, offset=0, limit=1)
    return WorkspaceOut(name=workspace.name, documents=total)


async def create_workspace(registry: Workspaces, name: str) -> bool:
    """Create the workspace's database at the current schema; False when it exists (or another request
    made it meanwhile)."""
    if await registry.exists(name):
        return False
    return await registry.create(name)


async def delete_workspace(registry: Workspaces, jobs: JobsLike, name: str, *,
                           forget_keys: Callable[[], None] | None = None) -> bool:
    """Drop the workspace's database; False when there was none.

    New writes are refused and those in flight waited for; its jobs are cancelled (each stops after
    the file it is on); then the database goes. `forget_keys` runs however it ends: the workspace's
    keys were revoked or unbound, so no cached key check may outlive that. Raises
    `schema.workspaces.WorkspaceBusyError` when its writes do not drain in time."""
    try:
        async with registry.deleting(name):
            await jobs.end_workspace(name)
            return await registry.drop(name)
    finally:
        if forget_keys is not None:
            forget_keys()
