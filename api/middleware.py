"""ASGI middleware: request id, body-size limit, access log and latency metrics, last-resort 500.

Pure ASGI (not `BaseHTTPMiddleware`) so streamed responses pass through untouched and the
request id is set before any other code runs.
"""

from __future__ import annotations

import json
import logging
import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.context import REQUEST_ID_HEADER, new_request_id, set_request_id, set_workspace
from api.errors import BodyTooLarge, error_body
from api.metrics import WORKSPACE_STATE, Metrics

access_log = logging.getLogger("api.access")
log = logging.getLogger("api.middleware")
_LOGGED_PATH_CHARS = 300


def printable(text: str, limit: int = _LOGGED_PATH_CHARS) -> str:
    """`text` safe for a one-line log record: the path arrives percent-decoded, so `%0a` would end the
    line and let a client write a forged access-log line after it. Control and other unprintable
    characters are escaped (`\\n`, `\\x1b`, `\\u2028`), and a long path is cut."""
    if len(text) > limit:
        text = text[:limit] + "..."
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


WORKSPACE_PREFIX = "/v1/workspaces/{workspace}"


def route_template(scope: Scope) -> str:
    """The matched route's path template, prefix included (raw paths would explode the metrics'
    cardinality). A router included under several prefixes (the data routes under `/v1` and under
    `WORKSPACE_PREFIX`, `api.main`) leaves its own route, without the prefix, in the scope; the
    prefix is put back from the path it matched."""
    path = getattr(scope.get("route"), "path", None)
    if not path:
        return "unmatched"
    if path.startswith("/v1/"):
        return str(path)
    if "workspace" in scope.get("path_params", {}):
        return WORKSPACE_PREFIX + path
    return ("/v1" + path) if str(scope.get("path", "")).startswith("/v1/") else str(path)


class RequestContextMiddleware:
    """Outermost layer: gives each request an id (header in, header out, every log line), times it,
    records it in the metrics under its route template, writes one access-log line, and turns an
    exception that escaped everything else into a JSON 500 (with the id, without the trace)."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        set_request_id(request_id)
        set_workspace("-")
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in %s %s", scope.get("method"), printable(scope.get("path", "")))
            status = 500
            if not response_started:
                body = json.dumps(error_body("internal_error", "the request failed; quote the request id "
                                             "when reporting it")).encode()
                await send({"type": "http.response.start", "status": 500, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (REQUEST_ID_HEADER.lower().encode(), request_id.encode())]})
                await send({"type": "http.response.body", "body": body})
        finally:
            elapsed = time.perf_counter() - started
            template = route_template(scope)
            workspace = self.metrics.workspace_label(scope.get("state", {}).get(WORKSPACE_STATE))
            self.metrics.request_seconds.labels(scope.get("method", ""), template, str(status),
                                                workspace).observe(elapsed)
            access_log.info("%s %s %s %.1fms", scope.get("method"), printable(scope.get("path", "")), status,
                            elapsed * 1000)


class BodyLimitMiddleware:
    """Refuses bodies over `limit` bytes with 413: at once when Content-Length says so, else while
    reading (chunked uploads), by raising an HTTP error FastAPI passes through to our handler."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, limited_receive, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(error_body("body_too_large",
                                     f"request body is larger than the limit of {self.limit} bytes")).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
