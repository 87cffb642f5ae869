"""The FastAPI application: `create_app(settings)` builds one service instance.

The lifespan opens the database clients, refuses to start when the schema is behind its head
(run `graphrag schema migrate`), loads the models once, resumes ingest jobs left by a previous
process, and closes everything on shutdown.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.concurrency import run_in_threadpool

from api.context import install_log_record_factory
from api.deps import ComponentBuilder, Components, IngestorLike, current_workspace, workspace_path
from api.docs import install_docs
from api.errors import install_error_handlers
from api.jobs import JobManager, JobStore
from api.keys import KeyVerifier
from api.mcp.http import McpHttp
from api.metrics import Metrics
from api.middleware import WORKSPACE_PREFIX, BodyLimitMiddleware, RequestContextMiddleware
from api.routes import ask, documents, graph, health, jobs, workspaces
from api.schemas import error_responses
from api.security import check_exposure, exposure_message, install_security
from api.web import install_web_console
from api.workspaces import Workspaces, close_parts
from graphrag.arcadedb import ArcadeDB, AsyncArcadeDB
from graphrag.breaker import shared_breaker
from graphrag.config import Settings, get_settings
from schema.runner import require_head

log = logging.getLogger("api")

DESCRIPTION = """Graph-RAG question answering over a knowledge graph in ArcadeDB.

Authenticate with `X-API-Key: <key>` or `Authorization: Bearer <key>`: the `read` scope asks,
retrieves and reads; the `admin` scope also ingests and deletes; the `global` scope also creates and
deletes workspaces. Every data route works in the `default` workspace at `/v1/...` and in workspace
`{workspace}` at `/v1/workspaces/{workspace}/...`; a key answers 404 on any workspace it is not bound
to. Every response carries an `X-Request-ID` header; errors share one JSON envelope that quotes it.
"""


def create_app(settings: Settings | None = None, *,
               components: Components | ComponentBuilder | None = None) -> FastAPI:
    """One service instance.

    Args:
        settings: defaults to the environment's (`GRAPHRAG_*`).
        components: the default workspace's working parts (other workspaces then have none), or a
            factory `(settings, db) -> Components` called once per workspace with its settings and
            database client; default: `api.components.ComponentFactory`, which loads the models once.
    """
    settings = settings or get_settings()
    check_exposure(settings)  # no anonymous admin on the network unless explicitly, loudly asked for
    install_log_record_factory()
    metrics = Metrics()
    mcp = McpHttp(settings, metrics)  # the same service as MCP tools for agents, at /mcp

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        breaker = shared_breaker(settings.urls)  # an outage seen by one request fails the next ones fast
        db = ArcadeDB.from_settings(settings, breaker=breaker)
        adb = AsyncArcadeDB.from_settings(settings, breaker=breaker)
        build: ComponentBuilder | None = None
        try:
            app.state.schema_head = await run_in_threadpool(require_head, db, settings.embedding_dim)
            if isinstance(components, Components):  # fixed parts (tests): other workspaces get none (501)
                parts, build = components, None
            else:
                from api.components import ComponentFactory

                build = components or ComponentFactory()
                parts = await run_in_threadpool(build, settings, db)
            app.state.db, app.state.adb, app.state.components = db, adb, parts
            app.state.workspaces = Workspaces(settings, db, parts, build)
            # The models are hundreds of thousands of long-lived objects: one full collection walks
            # them all (~320 ms with every request thread stopped). Freezing moves them out of the
            # collector's sight; objects made by requests are collected as before.
            gc.freeze()
            app.state.key_verifier = KeyVerifier(adb, ttl_s=settings.api_key_cache_s)

            async def ingestor_of(workspace: str) -> IngestorLike | None:
                found = await app.state.workspaces.components(workspace)
                return found.ingestor if found is not None else None

            app.state.jobs = JobManager(JobStore(adb), ingestor_of, metrics, stale_s=settings.api_job_stale_s,
                                        uploads_dir=settings.data_dir / "uploads",
                                        writing=app.state.workspaces.writing)
            app.state.jobs.start()
            if (message := exposure_message(settings)) is not None:
                log.warning("%s", message)
            async with mcp.serving():
                yield
        finally:
            if getattr(app.state, "jobs", None) is not None:
                await app.state.jobs.stop()
            if "ingestion.ray_engine" in sys.modules:  # a local Ray runtime ingest jobs started ends here
                from ingestion.ray_runtime import shutdown_local_ray

                await run_in_threadpool(shutdown_local_ray)
            if getattr(app.state, "workspaces", None) is not None:
                await app.state.workspaces.aclose()
                app.state.workspaces = None
            elif getattr(app.state, "components", None) is not None:
                await close_parts(app.state.components)
            # the shared models (ComponentFactory.closers), closed once after every workspace's parts
            await close_parts(Components(closers=list(getattr(build, "closers", []))))
            await adb.aclose()
            db.close()

    app = FastAPI(title="graphrag", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None,  # /docs from local files: api.docs
                  openapi_tags=[{"name": "question answering"}, {"name": "documents"}, {"name": "ingest jobs"},
                                {"name": "graph"}, {"name": "workspaces"}, {"name": "operations"}])
    app.state.settings = settings
    app.state.metrics = metrics
    install_error_handlers(app, retry_after_s=settings.api_retry_after_s)
    app.add_middleware(BodyLimitMiddleware, limit=settings.api_max_body_bytes)
    # --- security layers (api/security.py): headers, Host/Origin guard, key check before any body is read;
    # between the body limit and the request context, and generic: they cover routes mounted later too.
    install_security(app, settings)
    # ---
    app.add_middleware(RequestContextMiddleware, metrics=metrics)  # added last = outermost
    app.include_router(health.router)
    install_docs(app)
    app.include_router(workspaces.router)
    # Every data route twice: under /v1 in the default workspace (the paths from before workspaces),
    # and under /v1/workspaces/{workspace}. Both run the workspace check before the route's own
    # dependencies, so a key sees a workspace it is not bound to as a 404 on every one of them.
    in_default = [Depends(current_workspace)]
    in_named = [Depends(workspace_path), Depends(current_workspace)]
    unbound = error_responses(404)  # a workspace the key is not bound to, or that does not exist
    for module in (ask, documents, jobs, graph):
        app.include_router(module.router, prefix="/v1", dependencies=in_default, responses=unbound)
        app.include_router(module.router, prefix=WORKSPACE_PREFIX, dependencies=in_named, responses=unbound)
    app.include_router(mcp.router, dependencies=in_default)
    app.include_router(mcp.router, prefix=WORKSPACE_PREFIX, dependencies=in_named)
    install_web_console(app)
    return app

