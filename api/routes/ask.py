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
    ask_response,
    error_responses,
    fit_of,
    retrieve_response,
    sources_of,
)
from graphrag.answer import ErrorEvent, TokenEvent
from graphrag.errors import DatabaseUnavailableError
from graphrag.types import RetrievalResult

log = logging.getLogger(__name__)
router = APIRouter(tags=["question answering"],
                   responses=error_responses(401, 403, 413, 422, 503))

_SSE_EXAMPLE = ('event: sources\ndata: {"sources": [{"n": 1, "document_id": "doc-3f2a", ...}], "paths": [], '
                '"graph": {"nodes": [...], "edges": [...]}, "answerable": true, "relevance": 1.21}\n\n'
                'event: token\ndata: {"text": "Mara"}\n\n'
                'event: final\ndata: {"answer": "...", "mode": "extractive", "citations": [...], '
                '"timings_ms": {...}}\n\n')


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _timings(stage_ms: dict[str, float], **ours: float) -> dict[str, float]:
    """The library's own per-stage timings, plus the API's view of the big stages."""
    merged = {k: round(float(v), 2) for k, v in stage_ms.items()}
    merged.update({k: _ms(v) for k, v in ours.items()})
    return merged


@router.post("/retrieve", response_model=RetrieveResponse, summary="Retrieve the context for a question")
async def retrieve(body: RetrieveRequest, _: ReadPrincipal, retriever: RetrieverDep,
                   metrics: MetricsDep) -> RetrieveResponse:
    """The passages and entity paths an answer would be built from, without the answer."""
    retrieved = await operations.retrieve(retriever, body.question, top_k=body.top_k, hops=body.hops,
                                          metrics=metrics)
    result, elapsed = retrieved.result, retrieved.seconds
    return retrieve_response(result, _timings(result.timings_ms, retrieve=elapsed, total=elapsed),
                             evidence_graph(result))


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
    result, retrieval_s = retrieved.result, retrieved.seconds
    if body.stream:
        return StreamingResponse(_events(answerer, body, result, retrieval_s, started, metrics),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    answered = await operations.answer(answerer, result, temperature=body.temperature, metrics=metrics)
    answer = answered.answer
    timings = _timings({**result.timings_ms, **answer.timings_ms}, retrieve=retrieval_s, answer=answered.seconds,
                       total=time.perf_counter() - started)
    return ask_response(answer, timings, evidence_graph(result))


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One server-sent event; JSON never holds a raw newline, so one `data:` line is enough."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def _events(answerer: AnswererLike, body: AskRequest, result: RetrievalResult, retrieval_s: float,
                  started: float, metrics: Metrics) -> AsyncIterator[bytes]:
    graph = evidence_graph(result)
    yield sse("sources", {"sources": [s.model_dump() for s in sources_of(result)],
                          "paths": [[step.model_dump() for step in path] for path in result.paths],
                          "graph": graph.model_dump(), **fit_of(result)})
    answer_started = time.perf_counter()
    first_token_s: float | None = None
    tokens = 0
    mode = answerer.mode
    try:
        async for event in answerer.stream(result, temperature=body.temperature):
            if isinstance(event, TokenEvent):
                if first_token_s is None:
                    first_token_s = time.perf_counter() - answer_started
                    metrics.llm_ttft_seconds.labels(mode).observe(first_token_s)
                tokens += 1
                yield sse("token", {"text": event.text})
            elif isinstance(event, ErrorEvent):
                metrics.tokens.labels(mode).inc(tokens)
                log.warning("streamed answer broke off: %s", event.message)
                yield sse("error", error_body("answer_broken", "the language model stopped mid-answer; "
                                              "the answer is incomplete"))
                return
            else:
                final = event.answer
                answer_s = time.perf_counter() - answer_started
                operations.observe_streamed_answer(metrics, final.mode, answer_s, tokens)
                extra = {"first_token": first_token_s} if first_token_s is not None else {}
                timings = _timings({**result.timings_ms, **final.timings_ms}, retrieve=retrieval_s,
                                   answer=answer_s, total=time.perf_counter() - started, **extra)
                yield sse("final", ask_response(final, timings, graph).model_dump())
                return
        raise RuntimeError("the answerer's stream ended without a final answer")
    except Exception as exc:  # headers are sent: the only way left to report it is an event
        log.exception("streamed answer failed")
        failure = error_body("answer_failed", "the answer could not be completed; quote the request id")
        if isinstance(exc, DatabaseUnavailableError):
            failure = error_body("database_unavailable", "the database became unreachable; retry later")
        yield sse("error", failure)
