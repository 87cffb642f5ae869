"""Who is calling an MCP tool, and in which workspace: the transports' two answers, and the admin check.

Over HTTP the `/mcp` route has checked the key and the workspace of its path and left both in the
request's ASGI scope (`api.mcp.http`); over stdio one principal and one workspace hold for the whole
process (`api.mcp.stdio`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from api.deps import Workspace
from api.keys import Principal
from api.keys import Scope as KeyScope

PRINCIPAL_KEY = "graphrag.principal"  # where the /mcp route leaves the caller's key in the ASGI scope
WORKSPACE_KEY = "graphrag.mcp_workspace"  # and the workspace of its path, with that workspace's parts
STDIO_READ_ONLY = "stdio-read-only"  # the principal of `graphrag mcp --read-only`

Caller = Callable[[Context], Principal]
Source = Callable[[Context], Awaitable[Workspace]]  # a call's workspace and its working parts

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


def require_admin(caller: Caller, ctx: Context, tool: str) -> None:
    """Refuse a tool that writes unless the caller may (a tool error that says how to get the scope)."""
    principal = caller(ctx)
    if principal.allows(KeyScope.admin):
        return
    if principal.key_id == STDIO_READ_ONLY:
        raise ToolError(f"{tool} changes the document store and needs the 'admin' scope; this server was started "
                        "with --read-only, so it only reads.")
    raise ToolError(f"{tool} changes the document store and needs an API key with the 'admin' scope; this key has "
                    f"'{principal.scope.value}'. Ask the operator for an admin key, or only read.")
