"""The MCP tools, the document resource and the cited-answer prompt, as module-level functions.

Each checks its arguments (the JSON schema the client sees comes from the same type hints, with the
REST API's bounds), finds its working parts through the server's `ToolDeps`, calls one operation of
`api.operations` (which counts, times and reads back as the REST routes do) and shapes its result.
`api.mcp.server.build_server` registers them.
"""

from __future__ import annotations

import json
from typing import Annotated

from mcp.server.mcpserver import Context, UserMessage
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS
from pydantic import Field

from api import operations
from api.deps import Components
from api.mcp.callers import require_admin
from api.mcp.deps import ToolDeps, deps_of
from api.mcp.errors import BadArguments, need, tool_errors
from api.mcp.prompt import cited_answer_prompt
from api.mcp.results import AskResult, ChunkOut, DocumentDeleted, DocumentList, RetrieveResult, passages_of
from api.schemas import (
    DEFAULT_HOPS,
    DocumentCreated,
    DocumentIn,
    Neighbourhood,
    RetrieveRequest,
    ask_response,
    fit_of,
    paths_out,
    source_document,
)
from graphrag.normalize import entity_key
from graphrag.types import RetrievalResult

QuestionArg = Annotated[str, Field(min_length=1, max_length=2000,
                                   description="The question in natural language, as a full sentence")]
TopKArg = Annotated[int, Field(ge=1, le=50, description="How many passages to use (more = broader context, "
                                                        "slower)")]
HopsArg = Annotated[int, Field(ge=1, le=3, description="How many entity hops the graph search may take; 2 suits "
                                                       "most multi-hop questions")]
DocumentIdArg = Annotated[str, Field(min_length=1, max_length=1000, description="The document id, as `ask`, "
                                                                                "`retrieve` or `list_documents` "
                                                                                "give it")]


async def _retrieval(deps: ToolDeps, ctx: Context, question: str, top_k: int,
                     hops: int) -> tuple[Components, RetrievalResult]:
    """The call's working parts and the retrieval for its question (`retrieval_seconds` observed)."""
    body = RetrieveRequest(question=question, top_k=top_k, hops=hops)  # the REST rules, e.g. a word needed
    parts = (await deps.get_parts(ctx)).parts
    retriever = need(parts.retriever, "retrieval")
    retrieved = await operations.retrieve(retriever, body.question, top_k=body.top_k, hops=body.hops,
                                          metrics=deps.metrics)
    return parts, retrieved.result


async def ask(ctx: Context, question: QuestionArg, top_k: TopKArg = 5, hops: HopsArg = DEFAULT_HOPS) -> AskResult:
    """Answer a question from the stored documents, with numbered citations.

    Retrieves passages (vector, keyword and graph search fused, multi-hop over entities), then
    answers only from them: each `[n]` in `answer` is `citations[n-1]`, with the document id, chunk
    id, title and a snippet of the passage. `mode` says whether a language model wrote the answer
    or it quotes the best sentences. `answerable` false means nothing in the documents answers the
    question: `answer` says so and `citations` are only the closest passages. Use `retrieve`
    instead to read whole passages yourself.
    """
    deps = deps_of(ctx)
    with tool_errors(deps.diagnose):
        parts, result = await _retrieval(deps, ctx, question, top_k, hops)
        answerer = need(parts.answerer, "answering")
        answered = await operations.answer(answerer, result, temperature=None, metrics=deps.metrics)
    shaped = ask_response(answered.answer, {})
    return AskResult(question=shaped.question, answer=shaped.answer, mode=shaped.mode,
                     citations=shaped.citations, paths=shaped.paths, answerable=shaped.answerable,
                     relevance=shaped.relevance)


async def retrieve(ctx: Context, question: QuestionArg, top_k: TopKArg = 5,
                   hops: HopsArg = DEFAULT_HOPS) -> RetrieveResult:
    """Find the passages that answer a question, best first, without writing an answer.

    Returns each passage whole with its document id, chunk id, title, score and the retrievers that
    found it, plus the entity paths (source -relation-> target) that link the question's entities
    to the passages; those paths are the hops of a multi-hop question. Answer from the passages and
    cite them by document and chunk id.
    """
    deps = deps_of(ctx)
    with tool_errors(deps.diagnose):
        _, result = await _retrieval(deps, ctx, question, top_k, hops)
    return RetrieveResult(question=result.question, passages=passages_of(result), paths=paths_out(result.paths),
                          **fit_of(result))


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
    deps = deps_of(ctx)
    require_admin(deps.caller, ctx, "add_document")
    with tool_errors(deps.diagnose):
        body = DocumentIn(id=id, title=title, text=text, source=source)
        workspace = await deps.get_parts(ctx)
        parts = workspace.parts
        ingestor = need(parts.ingestor, "ingestion")
        documents = need(parts.documents, "the document store")
        # the write guard keeps it out of a workspace deleted (or re-made) since the call began
        return await operations.add_documents(workspace, ingestor, documents,
                                              lambda ing: ing.ingest_documents([source_document(body)]),
                                              metrics=deps.metrics)


async def delete_document(ctx: Context, document_id: DocumentIdArg) -> DocumentDeleted:
    """Delete a document with its chunks and the entities only it mentioned (needs an admin key).

    It is gone from `ask` and `retrieve` at once. Irreversible: add it again to restore it.
    """
    deps = deps_of(ctx)
    require_admin(deps.caller, ctx, "delete_document")
    with tool_errors(deps.diagnose):
        workspace = await deps.get_parts(ctx)
        documents = need(workspace.parts.documents, "the document store")
        deleted = await operations.delete_document(workspace, documents, document_id, metrics=deps.metrics)
    if not deleted:
        raise ToolError(f"no document has the id {document_id!r}; `list_documents` shows the stored ids")
    return DocumentDeleted(id=document_id)


async def list_documents(
        ctx: Context,
        offset: Annotated[int, Field(ge=0, le=1_000_000, description="How many documents to skip")] = 0,
        limit: Annotated[int, Field(ge=1, le=100, description="Documents on this page")] = 20,
) -> DocumentList:
    """List the stored documents by id, one page at a time (id, title, source, chunk count, when stored).

    Follow `next_offset` for the next page. Read one document's text through the resource
    `graphrag://documents/{id}`.
    """
    deps = deps_of(ctx)
    with tool_errors(deps.diagnose):
        documents = need((await deps.get_parts(ctx)).parts.documents, "the document store")
        page = await operations.list_documents(documents, offset=offset, limit=limit)
    items, total = page.items, page.total
    next_offset = offset + len(items) if items and offset + len(items) < total else None
    return DocumentList(items=items, total=total, offset=offset, limit=limit, next_offset=next_offset)


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
    deps = deps_of(ctx)
    key = entity_key(entity)
    if not key:
        raise BadArguments("invalid arguments: entity: must contain at least one letter or digit")
    with tool_errors(deps.diagnose):
        graph = need((await deps.get_parts(ctx)).parts.graph, "the graph view")
        found = await operations.entity_neighbourhood(graph, key, hops=hops, limit=limit)
    if found is None:
        raise ToolError(f"no entity is named {entity!r}; take names from the `paths` of `retrieve` or `ask`, "
                        "or from the passages")
    return found


async def document(document_id: str, ctx: Context) -> str:
    """The resource `graphrag://documents/{id}`: the document as JSON, its text as its numbered chunks."""
    deps = deps_of(ctx)
    try:
        with tool_errors(deps.diagnose):
            parts = (await deps.get_parts(ctx)).parts
            documents = need(parts.documents, "the document store")
            found = await operations.get_document(documents, document_id, chunks=True)
    except ToolError as exc:  # a resource read reports ResourceErrors, with the same message
        raise ResourceError(str(exc)) from None
    if found is None:
        raise ResourceNotFoundError(f"no document has the id {document_id!r}")
    out = found.model_copy(update={"chunk_list": None, "entities": None}).model_dump()
    out["chunks"] = [ChunkOut(id=c.id, ordinal=c.ordinal, text=c.text).model_dump()
                     for c in found.chunk_list or []]
    return json.dumps(out, ensure_ascii=False)


async def answer_with_citations(ctx: Context, question: str, top_k: str = "8") -> list[UserMessage]:
    """Retrieve the passages for a question and ask the model to answer only from them, citing [n]."""
    deps = deps_of(ctx)
    # Prompt arguments arrive as strings; errors are protocol errors (the SDK would reduce any other
    # exception to "Internal server error"), with the tools' messages.
    if not top_k.strip().isdigit():
        raise MCPError(INVALID_PARAMS, "invalid arguments: top_k: a whole number between 1 and 50")
    try:
        with tool_errors(deps.diagnose):
            _, result = await _retrieval(deps, ctx, question, int(top_k), 2)
    except BadArguments as exc:
        raise MCPError(INVALID_PARAMS, str(exc)) from None
    except ToolError as exc:
        raise MCPError(INTERNAL_ERROR, str(exc)) from None
    return [UserMessage(cited_answer_prompt(result))]

