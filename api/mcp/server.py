"""The MCP server: its name and instructions, its argument checks, and the registration of its tools.

`build_server` is the one server definition both transports use (`api.mcp.http` inside the API,
`api.mcp.stdio` for `graphrag mcp`); the tools themselves are module-level functions in
`api.mcp.tools`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import ValidationError

from api.mcp import tools
from api.mcp.callers import Caller, Source
from api.mcp.deps import ToolDeps, ToolServer
from api.mcp.errors import BadArguments, Diagnose, invalid_arguments
from api.mcp.results import DOCUMENT_URI
from api.metrics import Metrics

SERVER_NAME = "graphrag"
INSTRUCTIONS = """Cited answers and passages from a knowledge graph of documents (graph-RAG over ArcadeDB).

Use `ask` for a short answer with numbered citations, `retrieve` when you want to read the passages
and reason yourself (multi-hop questions: the `paths` show which entities link the passages),
`entity_neighbourhood` to explore what an entity is linked to, and `list_documents` /
the `graphrag://documents/{id}` resource to see what is stored. `add_document` and
`delete_document` change the store and need an admin key. Cite passages by their document and
chunk ids when you pass an answer on."""

_READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_ADD = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
_DELETE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False)
# in the order a client lists them
TOOLS = ((tools.ask, _READ), (tools.retrieve, _READ), (tools.add_document, _ADD), (tools.delete_document, _DELETE),
         (tools.list_documents, _READ), (tools.entity_neighbourhood, _READ))


class StrictArgumentsServer(ToolServer):
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
        metrics: the API's metrics, so MCP calls count like REST ones.
        lifespan: entered once while the server runs (stdio: load the models, close them at the end).
        diagnose: names the real cause of an unreachable database or a set-up error in tool errors
            (stdio, whose user started the server; over HTTP the cause stays in the log).
    """
    deps = ToolDeps(get_parts, caller, metrics=metrics, diagnose=diagnose)
    server = StrictArgumentsServer(SERVER_NAME, deps, instructions=INSTRUCTIONS, version="0.1.0", lifespan=lifespan)
    for tool, hints in TOOLS:
        server.add_tool(tool, annotations=hints)
    server.resource(DOCUMENT_URI, name="document", mime_type="application/json",
                    description="One stored document: its id, title, source, when it was stored, and its text "
                                "as the numbered chunks that `ask` and `retrieve` cite")(tools.document)
    server.prompt(name="answer_with_citations",
                  title="Answer from retrieved passages, citing them")(tools.answer_with_citations)
    return server
