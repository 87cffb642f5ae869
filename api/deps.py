"""What the routes need, as small protocols, and the providers that hand them out.

The routes depend on these shapes, not on concrete classes: `api/components.py` adapts the real
retriever, answerer, store and ingestion pipeline to them, and unit tests pass fakes through
`create_app(components=...)`. A component that is `None` answers 501 (the app was built without it).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from fastapi import Path as PathParam

from api.auth import Authenticated
from api.context import set_workspace
from api.errors import ApiError, NotFound
from api.metrics import WORKSPACE_STATE, Metrics
from api.schemas import IngestSummary
from graphrag.answer import ErrorEvent, FinalEvent, TokenEvent
from graphrag.arcadedb import ArcadeDB, AsyncArcadeDB
from graphrag.config import Settings
from graphrag.types import Answer, RetrievalResult, SourceDocument
from schema.workspaces import DEFAULT, NAME_PATTERN, NAME_RULE

_NAME = re.compile(NAME_PATTERN)


class RetrieverLike(Protocol):
    def retrieve(self, question: str, *, top_k: int, hops: int) -> RetrievalResult:
        """Blocking (embedding + database reads): routes call it in a worker thread."""
        ...


class AnswererLike(Protocol):
    """What the routes use of `graphrag.answer.Answerer` (tests may pass their own)."""

    @property
    def mode(self) -> str:
        """ "llm" or "extractive": where answers come from when all goes well."""
        ...

    async def answer(self, retrieval: RetrievalResult, *, temperature: float | None = None) -> Answer:
        """The whole answer (CPU work inside runs off the event loop)."""
        ...

    def stream(self, retrieval: RetrievalResult, *,
               temperature: float | None = None) -> AsyncIterator[TokenEvent | FinalEvent | ErrorEvent]:
        """Token events, then exactly one `FinalEvent` (or one `ErrorEvent`)."""
        ...

    async def probe(self, timeout_s: float = 2.0) -> tuple[bool, str]:
        """(usable, detail): the LLM answers, or the extractive fallback is active."""
        ...


class DocumentsLike(Protocol):
    def list(self, *, offset: int, limit: int, query: str | None = None) -> tuple[list[dict[str, Any]], int]: ...
    def get(self, document_id: str) -> dict[str, Any] | None: ...
    def delete(self, document_id: str) -> bool: ...

    def chunks(self, document_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(chunks in order, each with `entities` keys; the entities `{key, name, type}` they mention)."""
        ...


class IngestorLike(Protocol):
    def ingest_documents(self, documents: list[SourceDocument]) -> IngestSummary:
        """Blocking (chunking, NER, embedding, writes): called in a worker thread."""
        ...

    def ingest_paths(self, paths: list[Path], root: Path, *, by_content: bool = False) -> IngestSummary:
        """Files under `root`; each document's id is its path relative to `root`, or with `by_content`
        (uploads) a hash of the file's bytes."""
        ...


class GraphLike(Protocol):
    def neighbourhood(self, key: str, *, hops: int, limit: int) -> dict[str, Any] | None:
        """`{"nodes": [...], "edges": [...], "truncated": bool}` or None for an unknown key."""
        ...


@dataclass
class Components:
    """The working parts of the service; built once per app in the lifespan."""

    retriever: RetrieverLike | None = None
    answerer: AnswererLike | None = None
    documents: DocumentsLike | None = None
    ingestor: IngestorLike | None = None
    graph: GraphLike | None = None
    closers: list[Callable[[], Any]] = field(default_factory=list)  # called (awaited if async) at shutdown


ComponentBuilder = Callable[[Settings, ArcadeDB], Components]
"""Builds one workspace's parts over its settings and database client (`api.components.ComponentFactory`)."""


@dataclass(frozen=True)
class Workspace:
    """The workspace a request works in, its working parts, and its incarnation when the request was
    authorised (the write it makes is refused if that one is deleted meanwhile: `api.workspaces`)."""

    name: str
    parts: Components
    incarnation: str | None = None
    guard: Callable[[str, str | None], AbstractAsyncContextManager[None]] | None = None  # `Workspaces.writing`

    def write(self) -> AbstractAsyncContextManager[None]:
        """Where a write runs: refused (`WorkspaceGoneError`) when this incarnation of the workspace is
        being deleted or is gone, and waited for by a delete; a plain block without a registry (stdio)."""
        return self.guard(self.name, self.incarnation) if self.guard is not None else nullcontext()


async def workspace_path(workspace: Annotated[str, PathParam(pattern=NAME_PATTERN, description=(
        f"The workspace ({NAME_RULE}); the same paths without `/workspaces/{{workspace}}` work in `default`"))],
                   ) -> str:
    """The `{workspace}` of a prefixed path, as OpenAPI documents it (`current_workspace` checks it)."""
    return workspace


async def current_workspace(request: Request, principal: Authenticated) -> Workspace:
    """The workspace named by the path (`default` without the prefix), checked against the key.

    A key not bound to it gets the same 404 as a workspace that does not exist, before any scope
    check: it cannot learn whether the workspace exists. Every route that touches data depends on
    this (through the router), so no route can reach another workspace's parts.
    """
    name = request.path_params.get("workspace", DEFAULT)
    if not _NAME.fullmatch(name):  # says nothing of any workspace: no name of this shape can exist
        raise ApiError(422, "validation_error", f"invalid workspace name: {NAME_RULE}",
                       fields=[{"field": "path.workspace", "message": NAME_RULE}])
    if not principal.sees(name):
        raise NotFound("workspace", name)
    registry = request.app.state.workspaces
    parts = await registry.components(name)
    incarnation = await registry.incarnation(name) if parts is not None else None
    if parts is None or incarnation is None:
        raise NotFound("workspace", name)
    setattr(request.state, WORKSPACE_STATE, name)
    set_workspace(name)
    return Workspace(name, parts, incarnation, registry.writing)


WorkspaceDep = Annotated[Workspace, Depends(current_workspace)]


# The providers here (and `workspace_path`) are `async def` although nothing in them waits: FastAPI
# runs a plain `def` dependency in the threadpool, a thread hop (and GIL hand-over) per dependency per
# request. Measured with 8 clients on /v1/retrieve: three such hops were 8% of the API's Python time.


async def _components(workspace: WorkspaceDep) -> Components:
    return workspace.parts


def _need(value: Any, what: str) -> Any:
    """A part this app was built without is how it was configured, not a passing state: 501, and no
    Retry-After (a client retrying would wait for ever). `graphrag up` and `graphrag serve` build every
    part of every workspace."""
    if value is None:
        raise ApiError(501, "not_configured", f"{what} is not configured in this service")
    return value


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics  # type: ignore[no-any-return]


async def get_adb(request: Request) -> AsyncArcadeDB:
    return request.app.state.adb  # type: ignore[no-any-return]


async def get_retriever(c: Annotated[Components, Depends(_components)]) -> RetrieverLike:
    return _need(c.retriever, "retrieval")  # type: ignore[no-any-return]


async def get_answerer(c: Annotated[Components, Depends(_components)]) -> AnswererLike:
    return _need(c.answerer, "answering")  # type: ignore[no-any-return]


async def get_documents(c: Annotated[Components, Depends(_components)]) -> DocumentsLike:
    return _need(c.documents, "the document store")  # type: ignore[no-any-return]


async def get_ingestor(c: Annotated[Components, Depends(_components)]) -> IngestorLike:
    return _need(c.ingestor, "ingestion")  # type: ignore[no-any-return]


async def get_graph(c: Annotated[Components, Depends(_components)]) -> GraphLike:
    return _need(c.graph, "the graph view")  # type: ignore[no-any-return]


def get_jobs(request: Request) -> Any:
    return request.app.state.jobs


SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
AsyncDBDep = Annotated[AsyncArcadeDB, Depends(get_adb)]
RetrieverDep = Annotated[RetrieverLike, Depends(get_retriever)]
AnswererDep = Annotated[AnswererLike, Depends(get_answerer)]
DocumentsDep = Annotated[DocumentsLike, Depends(get_documents)]
IngestorDep = Annotated[IngestorLike, Depends(get_ingestor)]
GraphDep = Annotated[GraphLike, Depends(get_graph)]
