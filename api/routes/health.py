"""GET /healthz (the process answers), GET /readyz (it can serve), GET /metrics (Prometheus)."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import AsyncDBDep, MetricsDep
from api.files import uploads_check
from api.keys import Principal
from api.schemas import Check, Health, Readiness
from api.security import PRINCIPAL_STATE
from graphrag.errors import DatabaseKnownDownError, GraphRAGError
from graphrag.queries import CHUNK_VECTOR_HITS, ENTITY_VECTOR_NEIGHBOURS
from schema.runner import CURRENT_VERSION

router = APIRouter(tags=["operations"])
_CHECK_TIMEOUT_S = 3.0


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
async def healthz() -> Health:
    return Health()


async def _database(adb: AsyncDBDep) -> Check:
    try:
        info = await asyncio.wait_for(adb.server_info(), _CHECK_TIMEOUT_S)
    except DatabaseKnownDownError:
        return Check(ok=False, detail="unreachable: known down (failing at once until it answers again)")
    except (TimeoutError, GraphRAGError) as exc:
        return Check(ok=False, detail=f"unreachable: {type(exc).__name__}")
    return Check(ok=True, detail=str(info.get("version", "")).split(" ")[0])


async def _schema(request: Request, adb: AsyncDBDep) -> Check:
    head: int = request.app.state.schema_head
    try:
        rows = await asyncio.wait_for(
            adb.cypher(CURRENT_VERSION), _CHECK_TIMEOUT_S)
    except (TimeoutError, GraphRAGError) as exc:
        return Check(ok=False, detail=f"cannot read the schema version: {type(exc).__name__}")
    current = int(rows[0]["v"] or 0) if rows else 0
    return Check(ok=current >= head, detail=f"version {current}, head {head}")


async def _answerer(request: Request) -> Check:
    answerer = request.app.state.components.answerer
    if answerer is None:
        return Check(ok=False, detail="no answerer configured")
    try:
        ok, detail = await asyncio.wait_for(answerer.probe(), _CHECK_TIMEOUT_S)
    except Exception as exc:  # a probe must report, never raise
        return Check(ok=False, detail=f"check failed: {type(exc).__name__}")
    return Check(ok=ok, detail=detail)


async def _storage(request: Request) -> Check:
    """Uploads can be saved: their folder is writable and its disk has room for one more."""
    settings = request.app.state.settings
    try:
        ok, detail = await asyncio.wait_for(
            run_in_threadpool(uploads_check, settings.data_dir, settings.api_max_body_bytes), _CHECK_TIMEOUT_S)
    except TimeoutError:
        return Check(ok=False, detail="the data folder did not answer within 3 s")
    return Check(ok=ok, detail=detail)


# The two vector indexes a question uses; a search in each must answer before the service says it is
# ready, or a fresh stack would rank from the keyword fallback (`dense_timeout_s`) unannounced.
_VECTOR_PROBES = {"Chunk": CHUNK_VECTOR_HITS, "Entity": ENTITY_VECTOR_NEIGHBOURS}
_VECTORS_OK_FOR_S = 10.0  # a success is trusted this long: /readyz is polled, a probe costs a search


async def _vectors(request: Request, adb: AsyncDBDep) -> Check:
    """A nearest-neighbour search in each vector index answers within the check's time (an index
    still building, or missing, does not)."""
    state = request.app.state
    if time.monotonic() - getattr(state, "vectors_ok_at", -_VECTORS_OK_FOR_S) < _VECTORS_OK_FOR_S:
        return Check(ok=True, detail="both indexes answer")
    probe = [1.0] + [0.0] * (state.settings.embedding_dim - 1)
    for name, statement in _VECTOR_PROBES.items():
        try:
            await asyncio.wait_for(adb.sql(statement, {"q": probe, "k": 1}), _CHECK_TIMEOUT_S)
        except TimeoutError:
            return Check(ok=False, detail=f"the {name} vector index did not answer within {_CHECK_TIMEOUT_S:.0f} s "
                                          "(still building?)")
        except GraphRAGError as exc:
            return Check(ok=False, detail=f"the {name} vector index failed: {type(exc).__name__}")
    state.vectors_ok_at = time.monotonic()
    return Check(ok=True, detail="both indexes answer")


@router.get("/readyz", response_model=Readiness,
            summary="Readiness: database, schema, vector indexes, answerer and storage",
            responses={503: {"model": Readiness, "description": "Not ready; `checks` says what failed"}})
async def readyz(request: Request, adb: AsyncDBDep) -> JSONResponse:
    database = await _database(adb)
    schema = await _schema(request, adb) if database.ok else Check(ok=False, detail="database unreachable")
    vectors = await _vectors(request, adb) if schema.ok else Check(ok=False, detail="schema not at head")
    checks = {"database": database, "schema": schema, "vectors": vectors, "answerer": await _answerer(request),
              "storage": await _storage(request)}
    ready = all(c.ok for c in checks.values())
    body = Readiness(ready=ready, checks=checks).model_dump()
    return JSONResponse(body, status_code=200 if ready else 503,
                        headers=None if ready else {"Retry-After": str(request.app.state.settings.api_retry_after_s)})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
async def metrics(request: Request, m: MetricsDep) -> Response:
    """Every series for a key that sees every workspace (global, or keyless on loopback) and when the
    metrics are public (`GRAPHRAG_API_PUBLIC_METRICS`: the operator opened them to whoever reaches the
    port); for a key bound to some workspaces, only theirs (README: a key cannot learn that another
    workspace exists)."""
    principal = request.scope.get("state", {}).get(PRINCIPAL_STATE)
    sees = principal.sees if isinstance(principal, Principal) and principal.workspaces is not None else None
    return Response(m.render(sees), media_type=m.content_type)
