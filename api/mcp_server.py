"""The service as tools for agents: a Model Context Protocol server over the same working parts as the REST API.

Agents (desktop assistants, coding agents, agent frameworks) reach knowledge through MCP tools, not
REST calls. The tools here are as thin as the REST routes: each checks its arguments (the JSON schema
the client sees comes from the same type hints), calls one component of `api.deps.Components` (in a
worker thread when it blocks), and returns a pydantic model, which is both the tool's output schema
and its structured content. A document is a resource; one prompt turns retrieved passages into a
cited-answer request for the agent's own model.

Two transports, one server definition (`build_server`):

- streamable HTTP inside the API at `/mcp` (`McpHttp`). The route depends on the REST API's own key
  check (`api.auth.require(Scope.read)`), so a request without a valid key never reaches the MCP
  layer and keyless loopback mode behaves exactly as it does for REST; the tools that write check
  for the admin scope themselves. The transport is stateless with JSON responses: every POST stands
  alone and is authenticated on its own, so it works behind a load balancer and with
  `api_workers` > 1 (a session kept in one worker's memory would be unknown to the next).
- stdio (`run_stdio`, `graphrag mcp`) for desktop clients that start the server as a subprocess.
  Whoever can start it already holds the database credentials, so it acts as admin unless started
  with `--read-only`. It answers `initialize` at once and loads the models in the background, so a
  client's start-up timeout is not spent on them; a tool called before they are ready waits.

Errors an agent can act on come back as tool errors (an `is_error` result whose text says what to
do), never as a broken session: the database unreachable (retry later), a document or entity that
does not exist (list or retrieve first), arguments that fail validation (which field, why), a key
without the admin scope. Anything unexpected is logged with its traceback and reaches the client as
the SDK's generic tool error, so no internals leak.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Annotated, Any, Literal, TypeVar

import anyio
from fastapi import APIRouter, Response
from mcp.server.mcpserver import Context, MCPServer, UserMessage
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.types import Receive, Scope, Send

from api.auth import ReadPrincipal
from api.deps import Components, Workspace, WorkspaceDep
from api.errors import ApiError
from api.keys import ANONYMOUS, Principal
from api.keys import Scope as KeyScope
from api.metrics import Metrics
from api.routes.documents import document_out, source_document
from api.schemas import (
    ANSWERABLE_DESCRIPTION,
    RELEVANCE_DESCRIPTION,
    Citation,
    DocumentCreated,
    DocumentIn,
    DocumentOut,
    GraphEdge,
    GraphNode,
    Neighbourhood,
    PathStepOut,
    RetrieveRequest,
    ask_response,
    fit_of,
)
from graphrag.config import Settings
from graphrag.errors import (
    ConfigError,
    DatabaseUnavailableError,
    IngestionError,
    MigrationError,
    NotFoundError,
    RetrievalError,
)
from graphrag.normalize import entity_key
from graphrag.prompts import numbered, passage_line
from graphrag.types import PathStep, RetrievalResult
from schema.workspaces import DEFAULT, WorkspaceGoneError

log = logging.getLogger(__name__)

SERVER_NAME = "graphrag"
INSTRUCTIONS = """Cited answers and passages from a knowledge graph of documents (graph-RAG over ArcadeDB).

Use `ask` for a short answer with numbered citations, `retrieve` when you want to read the passages
and reason yourself (multi-hop questions: the `paths` show which entities link the passages),
`entity_neighbourhood` to explore what an entity is linked to, and `list_documents` /
the `graphrag://documents/{id}` resource to see what is stored. `add_document` and
`delete_document` change the store and need an admin key. Cite passages by their document and
chunk ids when you pass an answer on."""

DOCUMENT_URI = "graphrag://documents/{+document_id}"
PRINCIPAL_KEY = "graphrag.principal"  # where the /mcp route leaves the caller's key in the ASGI scope
WORKSPACE_KEY = "graphrag.mcp_workspace"  # and the workspace of its path, with that workspace's parts
STDIO_READ_ONLY = "stdio-read-only"  # the principal of `graphrag mcp --read-only`

# --- results: the tools' output schemas -------------------------------------------------------------


class _Result(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PassageOut(_Result):
    """A retrieved passage in full, numbered by rank (the numbering an answer's `[n]` uses)."""

    n: int = Field(description="Rank, 1 = best; `[n]` in an answer built from these passages")
    document_id: str
    chunk_id: str
    title: str
    text: str = Field(description="The whole passage")
    score: float
    channels: list[str] = Field(default_factory=list, description="Which retrievers found it (dense, keyword, "
                                                                     "graph, ppr)")
    document_uri: str = Field(description="Resource URI of the whole document")


class RetrieveResult(_Result):
    question: str
    passages: list[PassageOut]
    paths: list[list[PathStepOut]] = Field(default_factory=list,
                                           description="Entity paths (source -relation-> target) that link the "
                                                       "question's entities to the passages: the multi-hop reasoning")
    answerable: bool = Field(True, description=ANSWERABLE_DESCRIPTION)
    relevance: float | None = Field(None, description=RELEVANCE_DESCRIPTION)


class AskResult(_Result):
    question: str
    answer: str = Field(description="The answer; `[n]` markers refer to `citations[].n`")
    mode: Literal["llm", "extractive"] = Field(description="llm: written by the language model; extractive: the "
                                                           "best sentences of the passages, quoted")
    citations: list[Citation]
    paths: list[list[PathStepOut]] = Field(default_factory=list)
    answerable: bool = Field(True, description=ANSWERABLE_DESCRIPTION + "; then `answer` says so and `citations` "
                                               "are the closest passages, not evidence")
    relevance: float | None = Field(None, description=RELEVANCE_DESCRIPTION)


class DocumentList(_Result):
    items: list[DocumentOut]
    total: int = Field(description="Documents stored in all")
    offset: int
    limit: int
    next_offset: int | None = Field(description="Pass as `offset` for the next page; null on the last page")


class ChunkOut(_Result):
    id: str
    ordinal: int
    text: str


class DocumentDeleted(_Result):
    id: str
    deleted: bool = True


# --- who is calling ---------------------------------------------------------------------------------

Caller = Callable[[Context], Principal]


def http_caller(ctx: Context) -> Principal:
    """The key the `/mcp` route checked; it put the principal into the request's ASGI scope."""
    request = ctx.request_context.request
    principal = getattr(request, "scope", {}).get(PRINCIPAL_KEY)
    if not isinstance(principal, Principal):  # only reachable by mounting the server without McpHttp
        raise ToolError("this request carries no checked API key")
    return principal


async def http_workspace(ctx: Context) -> Workspace:
    """The workspace of the `/mcp` path this call came through, checked against its key by the route."""
    request = ctx.request_context.request
    workspace = getattr(request, "scope", {}).get(WORKSPACE_KEY)
    if not isinstance(workspace, Workspace):  # only reachable by mounting the server without McpHttp
        raise ToolError("this request names no workspace")
    return workspace


def fixed_caller(principal: Principal) -> Caller:
    """stdio: one local user for the whole process."""
    return lambda ctx: principal


def _require_admin(caller: Caller, ctx: Context, tool: str) -> None:
    principal = caller(ctx)
    if principal.allows(KeyScope.admin):
        return
    if principal.key_id == STDIO_READ_ONLY:
        raise ToolError(f"{tool} changes the document store and needs the 'admin' scope; this server was started "
                        "with --read-only, so it only reads.")
    raise ToolError(f"{tool} changes the document store and needs an API key with the 'admin' scope; this key has "
                    f"'{principal.scope.value}'. Ask the operator for an admin key, or only read.")


# --- errors an agent can act on --------------------------------------------------------------------

class BadArguments(ToolError):
    """The caller's arguments are wrong (the message says which and why): fix them, do not retry as is."""


_DB_DOWN = "the database is unreachable right now; retry in a few seconds (nothing else is wrong with the request)"


Diagnose = Callable[[Exception], str | None]  # a plainer cause of an outage or a set-up error, where one is known


def invalid_arguments(exc: ValidationError) -> str:
    """pydantic's complaints as one line an agent can act on: `invalid arguments: field: message; ...`."""
    fields = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'argument'}: {e['msg']}" for e in exc.errors())
    return f"invalid arguments: {fields}"


@contextlib.contextmanager
def _tool_errors(diagnose: Diagnose | None = None) -> Iterator[None]:
    """Our typed errors as tool errors with a message that says what to do; the rest stays a crash.
    `diagnose` may name the real cause of an unreachable database or a set-up error (stdio: the
    person who started the server reads it)."""
    try:
        yield
    except ToolError:
        raise
    except DatabaseUnavailableError as exc:
        log.warning("MCP tool: database unavailable: %s", exc)
        raise ToolError((diagnose(exc) if diagnose else None) or _DB_DOWN) from None
    except ValidationError as exc:
        raise BadArguments(invalid_arguments(exc)) from None
    except RetrievalError as exc:
        raise BadArguments(f"cannot retrieve for this question: {exc}") from None
    except MigrationError as exc:  # e.g. "run `graphrag schema migrate` first": the operator's next step
        raise ToolError(f"the service is not ready: {exc}") from None
    except ConfigError as exc:
        log.error("MCP tool: service misconfigured: %s", exc)
        raise ToolError((diagnose(exc) if diagnose else None)
                        or "the service is not ready (its log says why); retry later") from None
    except IngestionError as exc:
        raise ToolError(f"ingestion failed: {exc}") from None
    except NotFoundError as exc:  # `graphrag mcp --workspace NAME` for a workspace that does not exist
        raise ToolError(str(exc)) from None
    except WorkspaceGoneError as exc:  # deleted (or re-made) since the call began: nothing was written
        raise ToolError(str(exc)) from None


def _need(value: Any, what: str) -> Any:
    if value is None:
        raise ToolError(f"{what} is not available in this service")
    return value


T = TypeVar("T")


async def _blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Database and model work off the event loop (the REST routes use the same threadpool)."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))


def document_uri(document_id: str) -> str:
    return DOCUMENT_URI.replace("{+document_id}", document_id)


def _paths(paths: list[list[PathStep]]) -> list[list[PathStepOut]]:
    return [[PathStepOut(source=s.source, relation=s.relation, target=s.target) for s in path] for path in paths]


def passages_of(result: RetrievalResult) -> list[PassageOut]:
    return [PassageOut(n=n, document_id=p.document_id, chunk_id=p.chunk_id, title=p.title, text=p.text,
                       score=round(float(p.score), 6), channels=list(p.channels),
                       document_uri=document_uri(p.document_id))
            for n, p in numbered(result.passages)]


# --- the server -------------------------------------------------------------------------------------

Source = Callable[[Context], Awaitable[Workspace]]  # a call's workspace and its working parts

QuestionArg = Annotated[str, Field(min_length=1, max_length=2000,
                                   description="The question in natural language, as a full sentence")]
TopKArg = Annotated[int, Field(ge=1, le=50, description="How many passages to use (more = broader context, "
                                                        "slower)")]
HopsArg = Annotated[int, Field(ge=1, le=3, description="How many entity hops the graph search may take; 2 suits "
                                                       "most multi-hop questions")]
DocumentIdArg = Annotated[str, Field(min_length=1, max_length=1000, description="The document id, as `ask`, "
                                                                                "`retrieve` or `list_documents` "
                                                                                "give it")]

_READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)


class StrictArgumentsServer(MCPServer):
    """An MCPServer whose tools refuse arguments they do not take (the SDK drops them silently, so a
    misspelt `topk` quietly became the default) and report bad values in one plain line instead of
    pydantic's multi-line text with its type codes and links."""

    _parameters: dict[str, set[str]] | None = None

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        if self._parameters is None:
            self._parameters = {t.name: set(t.input_schema.get("properties", {})) for t in await self.list_tools()}
        taken = self._parameters.get(name)
        unknown = sorted(set(arguments) - taken) if taken is not None else []
        if unknown:
            raise BadArguments(f"Error executing tool {name}: unknown argument{'s' if len(unknown) > 1 else ''} "
                               f"{', '.join(map(repr, unknown))}; {name} takes {', '.join(sorted(taken or ()))}")
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):  # the SDK's check of the arguments against the schema
                raise BadArguments(f"Error executing tool {name}: {invalid_arguments(exc.__cause__)}"
                                   ) from exc.__cause__
            raise


def build_server(get_parts: Source, caller: Caller, *, metrics: Metrics | None = None,
                 lifespan: Callable[[MCPServer], contextlib.AbstractAsyncContextManager[None]] | None = None,
                 diagnose: Diagnose | None = None) -> MCPServer:
    """The MCP server: tools, the document resource and the cited-answer prompt over `get_parts`'s components.

    Args:
        get_parts: awaited by every call, with its context, for the workspace it works in and that
            workspace's parts (over HTTP: the workspace of the path the key was checked against;
            over stdio: the one the process was started for).
        caller: who is calling (the checked key over HTTP, a fixed principal over stdio).
        metrics: the API's metrics, so documents written or deleted through MCP count like REST ones.
        lifespan: entered once while the server runs (stdio: load the models, close them at the end).
        diagnose: names the real cause of an unreachable database or a set-up error in tool errors
            (stdio, whose user started the server; over HTTP the cause stays in the log).
    """
    server = StrictArgumentsServer(SERVER_NAME, instructions=INSTRUCTIONS, version="0.1.0", lifespan=lifespan)

    async def retrieval(ctx: Context, question: str, top_k: int, hops: int) -> tuple[Components, RetrievalResult]:
        body = RetrieveRequest(question=question, top_k=top_k, hops=hops)  # the REST rules, e.g. a word needed
        parts = (await get_parts(ctx)).parts
        retriever = _need(parts.retriever, "retrieval")
        started = time.perf_counter()
        result = await _blocking(retriever.retrieve, body.question, top_k=body.top_k, hops=body.hops)
        if metrics is not None:
            metrics.retrieval_seconds.observe(time.perf_counter() - started)
        return parts, result

    @server.tool(annotations=_READ)
    async def ask(ctx: Context, question: QuestionArg, top_k: TopKArg = 5, hops: HopsArg = 2) -> AskResult:
        """Answer a question from the stored documents, with numbered citations.

        Retrieves passages (vector, keyword and graph search fused, multi-hop over entities), then
        answers only from them: each `[n]` in `answer` is `citations[n-1]`, with the document id, chunk
        id, title and a snippet of the passage. `mode` says whether a language model wrote the answer
        or it quotes the best sentences. `answerable` false means nothing in the documents answers the
        question: `answer` says so and `citations` are only the closest passages. Use `retrieve`
        instead to read whole passages yourself.
        """
        with _tool_errors(diagnose):
            parts, result = await retrieval(ctx, question, top_k, hops)
            answerer = _need(parts.answerer, "answering")
            answer = await answerer.answer(result, temperature=None)
        shaped = ask_response(answer, {})
        return AskResult(question=shaped.question, answer=shaped.answer, mode=shaped.mode,
                         citations=shaped.citations, paths=shaped.paths, answerable=shaped.answerable,
                         relevance=shaped.relevance)

    @server.tool(annotations=_READ)
    async def retrieve(ctx: Context, question: QuestionArg, top_k: TopKArg = 5, hops: HopsArg = 2) -> RetrieveResult:
        """Find the passages that answer a question, best first, without writing an answer.

        Returns each passage whole with its document id, chunk id, title, score and the retrievers that
        found it, plus the entity paths (source -relation-> target) that link the question's entities
        to the passages; those paths are the hops of a multi-hop question. Answer from the passages and
        cite them by document and chunk id.
        """
        with _tool_errors(diagnose):
            _, result = await retrieval(ctx, question, top_k, hops)
        return RetrieveResult(question=result.question, passages=passages_of(result), paths=_paths(result.paths),
                              **fit_of(result))

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True,
                                             open_world_hint=False))
    async def add_document(
            ctx: Context,
            title: Annotated[str, Field(max_length=500, description="The document's title (names the subject)")],
            text: Annotated[str, Field(min_length=1, description="The document's text, plain or Markdown")],
            id: Annotated[str | None, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:@/-]+$",
                                            description="An id of your choice; omitted, it is a hash of title "
                                                        "and text. The same id again replaces that document")] = None,
            source: Annotated[str | None, Field(max_length=1000, description="Where it came from (a URL or "
                                                                             "a name)")] = None,
    ) -> DocumentCreated:
        """Store a document now so that `ask` and `retrieve` find it (needs an admin key).

        The text is chunked, its entities extracted and linked into the graph, and embedded; this takes
        a second or more per page of text, so add a few documents at a time. Sending the same document
        again changes nothing; the same id with a new text replaces the old version.
        """
        _require_admin(caller, ctx, "add_document")
        with _tool_errors(diagnose):
            body = DocumentIn(id=id, title=title, text=text, source=source)
            workspace = await get_parts(ctx)
            parts = workspace.parts
            ingestor = _need(parts.ingestor, "ingestion")
            documents = _need(parts.documents, "the document store")
            async with workspace.write():  # not into a workspace deleted (or re-made) since the call began
                summary = await _blocking(ingestor.ingest_documents, [source_document(body)])
            if metrics is not None:
                label = metrics.workspace_label(workspace.name)
                metrics.ingest_documents.labels(label).inc(summary.documents)
                metrics.ingest_chunks.labels(label).inc(summary.chunks)
            stored = []
            for doc_id in dict.fromkeys(summary.document_ids):
                row = await _blocking(documents.get, doc_id)
                if row is not None:
                    stored.append(document_out(row))
        return DocumentCreated(documents=stored, summary=summary)

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True,
                                             open_world_hint=False))
    async def delete_document(ctx: Context, document_id: DocumentIdArg) -> DocumentDeleted:
        """Delete a document with its chunks and the entities only it mentioned (needs an admin key).

        It is gone from `ask` and `retrieve` at once. Irreversible: add it again to restore it.
        """
        _require_admin(caller, ctx, "delete_document")
        with _tool_errors(diagnose):
            workspace = await get_parts(ctx)
            documents = _need(workspace.parts.documents, "the document store")
            async with workspace.write():
                deleted = await _blocking(documents.delete, document_id)
        if not deleted:
            raise ToolError(f"no document has the id {document_id!r}; `list_documents` shows the stored ids")
        if metrics is not None:
            metrics.documents_deleted.labels(metrics.workspace_label(workspace.name)).inc()
        return DocumentDeleted(id=document_id)

    @server.tool(annotations=_READ)
    async def list_documents(
            ctx: Context,
            offset: Annotated[int, Field(ge=0, le=1_000_000, description="How many documents to skip")] = 0,
            limit: Annotated[int, Field(ge=1, le=100, description="Documents on this page")] = 20,
    ) -> DocumentList:
        """List the stored documents by id, one page at a time (id, title, source, chunk count, when stored).

        Follow `next_offset` for the next page. Read one document's text through the resource
        `graphrag://documents/{id}`.
        """
        with _tool_errors(diagnose):
            documents = _need((await get_parts(ctx)).parts.documents, "the document store")
            rows, total = await _blocking(documents.list, offset=offset, limit=limit)
        items = [document_out(r) for r in rows]
        next_offset = offset + len(items) if items and offset + len(items) < total else None
        return DocumentList(items=items, total=total, offset=offset, limit=limit, next_offset=next_offset)

    @server.tool(annotations=_READ)
    async def entity_neighbourhood(
            ctx: Context,
            entity: Annotated[str, Field(min_length=1, max_length=300,
                                         description="An entity's name as it appears in passages or paths, "
                                                     "e.g. 'Marie Curie' (case and punctuation do not matter)")],
            hops: Annotated[int, Field(ge=1, le=2, description="1: direct neighbours; 2: theirs too")] = 1,
            limit: Annotated[int, Field(ge=1, le=500, description="Most entities returned")] = 50,
    ) -> Neighbourhood:
        """Explore the knowledge graph around one entity: the entities it is linked to and how.

        Returns the entities (with their type and hop distance) and the edges between them: RELATED
        (mentioned together, with a weight) and SAME_AS (likely the same thing under another name).
        Useful to find what to ask next, or to check how two things are connected.
        """
        key = entity_key(entity)
        if not key:
            raise BadArguments("invalid arguments: entity: must contain at least one letter or digit")
        with _tool_errors(diagnose):
            graph = _need((await get_parts(ctx)).parts.graph, "the graph view")
            found = await _blocking(graph.neighbourhood, key, hops=hops, limit=limit)
        if found is None:
            raise ToolError(f"no entity is named {entity!r}; take names from the `paths` of `retrieve` or `ask`, "
                            "or from the passages")
        return Neighbourhood(key=key, hops=hops, nodes=[GraphNode.model_validate(n) for n in found["nodes"]],
                             edges=[GraphEdge.model_validate(e) for e in found["edges"]],
                             truncated=bool(found.get("truncated")))

    @server.resource(DOCUMENT_URI, name="document", mime_type="application/json",
                     description="One stored document: its id, title, source, when it was stored, and its text "
                                 "as the numbered chunks that `ask` and `retrieve` cite")
    async def document(document_id: str, ctx: Context) -> str:
        try:
            with _tool_errors(diagnose):
                parts = (await get_parts(ctx)).parts
                documents = _need(parts.documents, "the document store")
                row = await _blocking(documents.get, document_id)
                chunks, _ = await _blocking(documents.chunks, document_id) if row is not None else ([], [])
        except ToolError as exc:  # a resource read reports ResourceErrors, with the same message
            raise ResourceError(str(exc)) from None
        if row is None:
            raise ResourceNotFoundError(f"no document has the id {document_id!r}")
        out = document_out(row).model_dump()
        out["chunks"] = [ChunkOut(id=c["id"], ordinal=c["ordinal"], text=c["text"]).model_dump() for c in chunks]
        return json.dumps(out, ensure_ascii=False)

    @server.prompt(name="answer_with_citations", title="Answer from retrieved passages, citing them")
    async def answer_with_citations(ctx: Context, question: str, top_k: str = "8") -> list[UserMessage]:
        """Retrieve the passages for a question and ask the model to answer only from them, citing [n]."""
        # Prompt arguments arrive as strings; errors are protocol errors (the SDK would reduce any other
        # exception to "Internal server error"), with the tools' messages.
        if not top_k.strip().isdigit():
            raise MCPError(INVALID_PARAMS, "invalid arguments: top_k: a whole number between 1 and 50")
        try:
            with _tool_errors(diagnose):
                _, result = await retrieval(ctx, question, int(top_k), 2)
        except BadArguments as exc:
            raise MCPError(INVALID_PARAMS, str(exc)) from None
        except ToolError as exc:
            raise MCPError(INTERNAL_ERROR, str(exc)) from None
        return [UserMessage(cited_answer_prompt(result))]

    return server


def cited_answer_prompt(result: RetrievalResult) -> str:
    """The prompt text: numbered passages (the `[n] Title: text` lines the service's own answerer reads),
    their ids, the linking entity paths, the citation rules, then the question."""
    lines = [passage_line(n, p.title, p.text) for n, p in numbered(result.passages)]
    ids = [f"[{n}] document {p.document_id}, chunk {p.chunk_id}" for n, p in numbered(result.passages)]
    paths = ["; ".join(f"{s.source} -{s.relation}-> {s.target}" for s in path) for path in result.paths]
    parts = ["Answer the question using only the numbered passages below.",
             "Rules:",
             "- Use only facts stated in the passages, never outside knowledge.",
             "- Cite the passage each fact comes from by its number in square brackets, like [1] or [1][2].",
             '- If the passages do not contain the answer, say exactly: "The passages do not contain the answer."',
             "", "Passages:", *(lines or ["(none were found)"]), "", "Sources:", *ids]
    if paths:
        parts += ["", "Entity paths linking the passages:", *paths]
    parts += ["", f"Question: {result.question}"]
    return "\n".join(parts)


# --- streamable HTTP inside the API ---------------------------------------------------------------


class _Handover(Response):
    """A response that hands the raw ASGI exchange to the MCP transport, with the checked key in the scope.

    The route's dependencies read only headers, so the request body is still unread here."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], principal: Principal,
                 workspace: Workspace):
        super().__init__()
        self._app = app
        self._principal = principal
        self._workspace = workspace

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app({**scope, PRINCIPAL_KEY: self._principal, WORKSPACE_KEY: self._workspace}, receive, send)


class McpHttp:
    """`/mcp` in the API: a route behind the REST key check, and the MCP session manager run by the lifespan.

    The route is mounted like the REST routes: `/mcp` works in the default workspace and
    `/v1/workspaces/{workspace}/mcp` in that one, after the same workspace check; each call's tools
    work in the workspace of the path its request came through (the server is stateless).

    Args:
        settings: the API's settings (body limit; DNS-rebinding protection when bound to loopback).
        metrics: the API's metrics.
    """

    def __init__(self, settings: Settings, metrics: Metrics):
        self.settings = settings
        self.metrics = metrics
        self._sessions: StreamableHTTPSessionManager | None = None
        self.router = APIRouter()
        self.router.add_api_route("/mcp", self._endpoint, methods=["GET", "POST", "DELETE"],
                                  include_in_schema=False)

    async def _endpoint(self, principal: ReadPrincipal, workspace: WorkspaceDep) -> Response:
        if self._sessions is None:
            raise ApiError(503, "not_available", "the MCP endpoint is not running", headers={"Retry-After": "5"})
        return _Handover(self._sessions.handle_request, principal, workspace)

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """Serve the MCP endpoints while the block runs (a fresh session manager each time: one can run
        only once, and an app's lifespan may run again)."""
        server = build_server(http_workspace, http_caller, metrics=self.metrics)
        # Loopback binding turns on the SDK's Host/Origin checks (DNS rebinding); keys guard the rest.
        server.streamable_http_app(stateless_http=True, json_response=True, host=self.settings.api_host,
                                   max_request_body_size=self.settings.api_max_body_bytes)
        sessions = server.session_manager
        async with sessions.run():
            self._sessions = sessions
            try:
                yield
            finally:
                self._sessions = None


# --- stdio ------------------------------------------------------------------------------------------


class LazyComponents:
    """The stdio server's working parts, built once in a worker thread: started in the background at
    launch, awaited by the first call that needs them, built again by the next call if building
    failed (the database may come up after the client started the server)."""

    def __init__(self, build: Callable[[], Components]):
        self._build = build
        self._lock = threading.Lock()
        self._parts: Components | None = None

    def _get_blocking(self) -> Components:
        with self._lock:
            if self._parts is None:
                self._parts = self._build()
            return self._parts

    def warm_up(self) -> None:
        """Start building in a daemon thread; a failure is logged and left for the next call to retry."""

        def run() -> None:
            try:
                self._get_blocking()
            except Exception as exc:
                log.warning("MCP: could not load the service yet (%s); the next tool call tries again", exc)

        threading.Thread(target=run, name="mcp-warm-up", daemon=True).start()

    async def __call__(self) -> Components:
        if self._parts is not None:
            return self._parts
        return await anyio.to_thread.run_sync(self._get_blocking)

    @property
    def built(self) -> Components | None:
        return self._parts


def stdio_components(settings: Settings, workspace: str = DEFAULT,
                     ) -> tuple[LazyComponents, Callable[[], Awaitable[None]]]:
    """The lazily built components of `workspace`, and a coroutine function that closes what was built."""
    from api.components import build_components
    from graphrag.arcadedb import ArcadeDB
    from graphrag.launch import open_database
    from schema.runner import require_head
    from schema.workspaces import WorkspaceCatalog, settings_for

    opened: list[ArcadeDB] = []

    def build() -> Components:
        control = opened[0] if opened else open_database(settings)
        if not opened:
            opened.append(control)
        db = WorkspaceCatalog(settings, control).require(workspace)  # never creates a workspace
        require_head(db, settings.embedding_dim)  # refuse a database behind the code's schema, as the API does
        return build_components(settings_for(settings, workspace), db)

    lazy = LazyComponents(build)

    async def aclose() -> None:
        parts = lazy.built
        for closer in parts.closers if parts else []:
            try:
                result = closer()
                if inspect.isawaitable(result):
                    await result
            except Exception:  # closing goes on regardless
                log.exception("closing %r failed", closer)
        for db in opened:
            db.close()

    return lazy, aclose


def stdio_diagnosis(settings: Settings) -> Diagnose:
    """What `graphrag mcp` tells its user when it cannot reach its database: the client started it in a
    folder of its own, so a relative data folder (GRAPHRAG_DATA_DIR unset) is the usual cause, and an
    embedded server that is not running the other."""
    data_dir = settings.data_dir.resolve()
    set_it = (f"The data folder is {data_dir}; set GRAPHRAG_DATA_DIR in the MCP client's configuration to the "
              "absolute path of the folder `make run` or `graphrag db start` uses (the repository's .data)")

    def diagnose(exc: Exception) -> str | None:
        if isinstance(exc, ConfigError):
            return f"the server cannot reach its database: {exc}. {set_it}."
        if isinstance(exc, DatabaseUnavailableError) and settings.embedded and settings.password_file.exists():
            from graphrag.launch import embedded_server  # (with the password file there, it creates nothing)

            try:
                running = embedded_server(settings).status().running
            except Exception:  # the status is a hint; the outage itself is already known
                return None
            if not running:
                return (f"the database is not running: no ArcadeDB server holds {data_dir}. Start it with "
                        "`graphrag db start` (or `make run`), then call again. " + set_it + " if it is elsewhere.")
        return None

    return diagnose


def run_stdio(settings: Settings, *, read_only: bool = False, workspace: str = DEFAULT) -> None:
    """Serve MCP over stdin/stdout until the client closes it (`graphrag mcp [--workspace NAME]`); every
    call works in `workspace`."""
    lazy, aclose = stdio_components(settings, workspace)

    async def parts(ctx: Context) -> Workspace:
        return Workspace(workspace, await lazy())

    @contextlib.asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[None]:
        # Entered once the transport holds stdout: the SDK then points fd 1 at stderr, so whatever
        # loading the models prints cannot corrupt the protocol stream.
        lazy.warm_up()
        try:
            yield
        finally:
            await aclose()

    principal = Principal(STDIO_READ_ONLY, KeyScope.read) if read_only else ANONYMOUS
    server = build_server(parts, fixed_caller(principal), lifespan=lifespan, diagnose=stdio_diagnosis(settings))
    anyio.run(server.run_stdio_async)
