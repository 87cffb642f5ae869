"""One error envelope for every failure, and the mapping from our typed errors to HTTP statuses.

Clients always get `{"error": {"code", "message", "fields"?}, "request_id"}` and never a stack
trace; the full traceback goes to the log under the same request id.

    DatabaseUnavailableError -> 503 + Retry-After
    ConfigError              -> 503 (the service is misconfigured, not the request)
    MigrationError           -> 503 (schema not at head)
    RetrievalError           -> 422 (the question cannot be retrieved for; the message says why)
    WorkspaceGoneError       -> 404 (the workspace was deleted), 409 (being deleted, or replaced by a
                                new one of the same name, since the request was authorised)
    other GraphRAGError      -> 500 (logged with traceback)
    RequestValidationError   -> 422 with one message per field
    HTTPException            -> its own status (401/403/404/409/413 ...)
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.context import current_request_id
from graphrag.errors import (
    ConfigError,
    DatabaseKnownDownError,
    DatabaseUnavailableError,
    GraphRAGError,
    MigrationError,
    RetrievalError,
)
from schema.workspaces import WorkspaceGoneError

log = logging.getLogger("api.errors")
# The 503 of a request the circuit breaker answered before sending anything (clients, and the chaos
# suite, can tell it from one that spent its retries on the database)
KNOWN_DOWN = "the database is unreachable (known down: failing at once until it answers again); retry later"


def outage_message(exc: DatabaseUnavailableError) -> str:
    """What a 503 says of a database outage: known down (answered at once) or just found unreachable."""
    return KNOWN_DOWN if isinstance(exc, DatabaseKnownDownError) else "the database is unreachable; retry later"


class ApiError(StarletteHTTPException):
    """An HTTP error with a stable machine-readable `code` for clients to branch on."""

    def __init__(self, status_code: int, code: str, message: str, headers: dict[str, str] | None = None, *,
                 fields: list[dict[str, str]] | None = None):
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.code = code
        self.fields = fields  # per-field (or per-file) messages, as in a 422


class NotFound(ApiError):
    def __init__(self, what: str, ident: str):
        super().__init__(404, "not_found", f"{what} {ident!r} does not exist")


class BodyTooLarge(ApiError):
    def __init__(self, limit: int):
        super().__init__(413, "body_too_large", f"request body is larger than the limit of {limit} bytes")


_DEFAULT_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                  405: "method_not_allowed", 409: "conflict", 413: "body_too_large",
                  415: "unsupported_media_type", 422: "validation_error", 503: "unavailable"}


def error_body(code: str, message: str, fields: list[dict[str, str]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields is not None:
        error["fields"] = fields
    return {"error": error, "request_id": current_request_id()}


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc) or "body"


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [{"field": _field_name(e.get("loc", ())), "message": str(e.get("msg", "invalid"))}
              for e in exc.errors()]
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
    return JSONResponse(error_body("validation_error", f"invalid request: {summary}", fields), status_code=422)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = exc.code if isinstance(exc, ApiError) else _DEFAULT_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    fields = exc.fields if isinstance(exc, ApiError) else None
    return JSONResponse(error_body(code, message, fields), status_code=exc.status_code, headers=exc.headers)


def unavailable_response(message: str, retry_after_s: int) -> JSONResponse:
    return JSONResponse(error_body("database_unavailable", message), status_code=503,
                        headers={"Retry-After": str(retry_after_s)})


def install_error_handlers(app: FastAPI, *, retry_after_s: int) -> None:
    """Register the handlers; `retry_after_s` is what a 503 tells clients to wait."""

    async def graphrag_error(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, DatabaseUnavailableError):
            if not isinstance(exc, DatabaseKnownDownError):  # the breaker logged the outage it knows of
                log.warning("database unavailable: %s", exc)
            return unavailable_response(outage_message(exc), retry_after_s)
        if isinstance(exc, RetrievalError):
            return JSONResponse(error_body("invalid_question", str(exc)), status_code=422)
        if isinstance(exc, WorkspaceGoneError):
            status = 409 if exc.replaced or exc.deleting else 404
            code = "workspace_deleting" if exc.deleting else "workspace_gone"
            return JSONResponse(error_body(code, str(exc)), status_code=status)
        if isinstance(exc, ConfigError | MigrationError):
            log.error("service not ready: %s", exc)
            return JSONResponse(error_body("not_ready", "the service is not ready; see its log"), status_code=503,
                                headers={"Retry-After": str(retry_after_s)})
        log.error("request failed: %s", exc, exc_info=exc)
        return JSONResponse(error_body("internal_error", "the request failed; quote the request id when "
                                       "reporting it"), status_code=500)

    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(GraphRAGError, graphrag_error)
