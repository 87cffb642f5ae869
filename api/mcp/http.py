"""The MCP face over streamable HTTP inside the API, at `/mcp` and `/v1/workspaces/{workspace}/mcp`.

The route depends on the REST API's own key check (`api.auth.require(Scope.read)`), so a request
without a valid key never reaches the MCP layer and keyless loopback mode behaves exactly as it does
for REST; the tools that write check for the admin scope themselves. The transport is stateless with
JSON responses: every POST stands alone and is authenticated on its own, so it works behind a load
balancer and with `api_workers` > 1 (a session kept in one worker's memory would be unknown to the next).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import APIRouter, Response
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.types import Receive, Scope, Send

from api.auth import ReadPrincipal
from api.deps import Workspace, WorkspaceDep
from api.errors import ApiError
from api.keys import Principal
from api.mcp.callers import PRINCIPAL_KEY, WORKSPACE_KEY, http_caller, http_workspace
from api.mcp.server import build_server
from api.metrics import Metrics
from graphrag.config import Settings


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
