"""POST /v1/retrieve and POST /v1/ask (JSON, or server-sent events with `stream: true`).

Retrieval and non-streamed answering are blocking, CPU-bound calls: they run in the threadpool so
the event loop keeps serving other requests. Retrieval happens before a stream opens, so a
database outage still answers a plain 503 rather than a broken stream.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from api import operations
from api.auth import ReadPrincipal
from api.deps import AnswererDep, AnswererLike, MetricsDep, RetrieverDep
from api.errors import error_body
from api.evidence import evidence_graph
from api.metrics import Metrics
from api.schemas import (
    AskRequest,
    AskResponse,
    RetrieveRequest,
    RetrieveResponse,
    error_responses,
    fit_of,
    sources_of,
)
from graphrag.answer import ErrorEvent, TokenEvent
from graphrag.errors import DatabaseUnavailableError

log = logging.getLogger(__name__)
router = APIRouter(tags=["question answering"],
                   responses=error_responses(401, 403, 413, 422, 503))

_SSE_EXAMPLE = ('event: sources\ndata: {"sources": [{"n": 1, "document_id": "doc-3f2a", ...}], "paths": [], '
                '"graph": {"nodes": [...], "edges": [...]}, "answerable": true, "relevance": 1.21}\n\n'
                'event: token\ndata: {"text": "Mara"}\n\n'
                'event: final\ndata: {"answer": "...", "mode": "extractive", "citations": [...], '
                '"timings_ms": {...}}\n\n')


@router.post("/retrieve", response_model=RetrieveResponse, summary="Retrieve the context for a question")
async def retrieve(body: RetrieveRequest, _: ReadPrincipal, retriever: RetrieverDep,
                   metrics: MetricsDep) -> RetrieveResponse:
    """The passages and entity paths an answer would be built from, without the answer."""
    retrieved = await operations.retrieve(retriever, body.question, top_k=body.top_k, hops=body.hops,
                                          metrics=metrics)
    return operations.retrieve_out(retrieved)


@router.post("/ask", response_model=AskResponse, summary="Answer a question with citations",
             responses={200: {"description": "The answer; with `stream: true`, server-sent events",
                              "content": {"text/event-stream": {"schema": {"type": "string"},
                                                                "example": _SSE_EXAMPLE}}}})
async def ask(body: AskRequest, _: ReadPrincipal, retriever: RetrieverDep, answerer: AnswererDep,
              metrics: MetricsDep) -> Any:
    """Retrieve, then answer from the retrieved passages only, citing them as `[n]`.

    With `stream: true` the answer comes as server-sent events: one `sources` event (sources, paths and
    the evidence `graph`), `token` events, then one `final` event carrying the citations and timings
    (or one `error` event).
    """
    started = time.perf_counter()
    retrieved = await operations.retrieve(retriever, body.question, top_k=body.top_k, hops=body.hops,
                                          metrics=metrics)
    if body.stream:
        return StreamingResponse(_events(answerer, body, retrieved, started, metrics),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    answered = await operations.answer(answerer, retrieved.result, temperature=body.temperature, metrics=metrics)
    return operations.ask_out(retrieved, answered.answer, answer_s=answered.seconds,
                              total_s=time.perf_counter() - started)


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One server-sent event; JSON never holds a raw newline, so one `data:` line is enough."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def _events(answerer: AnswererLike, body: AskRequest, retrieved: operations.Retrieved, started: float,
                  metrics: Metrics) -> AsyncIterator[bytes]:
    result = retrieved.result
    graph = evidence_graph(result)
    yield sse("sources", {"sources": [s.model_dump() for s in sources_of(result)],
                          "paths": [[step.model_dump() for step in path] for path in result.paths],
                          "graph": graph.model_dump(), **fit_of(result)})
    try:
        async for event in operations.stream_answer(answerer, result, temperature=body.temperature,
                                                    metrics=metrics):
            if isinstance(event, TokenEvent):
                yield sse("token", {"text": event.text})
            elif isinstance(event, ErrorEvent):
                log.warning("streamed answer broke off: %s", event.message)
                yield sse("error", error_body("answer_broken", "the language model stopped mid-answer; "
                                              "the answer is incomplete"))
                return
            else:
                final = operations.ask_out(retrieved, event.answer, answer_s=event.seconds,
                                           total_s=time.perf_counter() - started, first_token_s=event.first_token_s,
                                           graph=graph)
                yield sse("final", final.model_dump())
                return
    except Exception as exc:  # headers are sent: the only way left to report it is an event
        log.exception("streamed answer failed")
        failure = error_body("answer_failed", "the answer could not be completed; quote the request id")
        if isinstance(exc, DatabaseUnavailableError):
            failure = error_body("database_unavailable", "the database became unreachable; retry later")
        yield sse("error", failure)
