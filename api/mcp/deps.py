"""What the MCP tools depend on, carried by the server so that each tool is a plain module-level function.

The SDK calls a tool with its arguments and a `Context`; the context knows its server, and the server
holds one `ToolDeps`: where a call's workspace comes from, who is calling, the API's metrics and how
to explain an outage. A test builds a server over its own `ToolDeps` (`api.mcp.server.build_server`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from api.mcp.callers import Caller, Source
from api.mcp.errors import Diagnose
from api.metrics import Metrics


@dataclass(frozen=True)
class ToolDeps:
    """Args:
        get_parts: awaited by every call, with its context, for the workspace it works in and that
            workspace's parts (over HTTP: the workspace of the path the key was checked against;
            over stdio: the one the process was started for).
        caller: who is calling (the checked key over HTTP, a fixed principal over stdio).
        metrics: the API's metrics, so MCP calls count like REST ones (None: nothing is counted).
        diagnose: names the real cause of an unreachable database or a set-up error in tool errors
            (stdio, whose user started the server; over HTTP the cause stays in the log).
    """

    get_parts: Source
    caller: Caller
    metrics: Metrics | None = None
    diagnose: Diagnose | None = None


class ToolServer(MCPServer):
    """An MCPServer that carries its tools' dependencies."""

    def __init__(self, name: str, deps: ToolDeps, *,
                 lifespan: Callable[[MCPServer], contextlib.AbstractAsyncContextManager[None]] | None = None,
                 **kwargs: Any):
        super().__init__(name, lifespan=lifespan, **kwargs)
        self.deps = deps


def deps_of(ctx: Context) -> ToolDeps:
    """The dependencies of the server this call came to."""
    server = ctx.mcp_server
    if not isinstance(server, ToolServer):  # only reachable by registering the tools on another server
        raise ToolError("this server was built without the tools' dependencies")
    return server.deps
