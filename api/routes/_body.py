"""Bodies that may come as JSON or as a multipart upload (one route, two documented content types)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from api.errors import ApiError
from api.files import storage_error


def openapi_body(model: type[BaseModel], description: str) -> dict[str, Any]:
    """`openapi_extra` for a request body that is either `model` as JSON or `files` as multipart."""
    return {"requestBody": {"required": True, "description": description, "content": {
        "application/json": {"schema": model.model_json_schema()},
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["files"],
            "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"},
                                     "description": "One or more .md, .txt, .html, .pdf, .json(l) files"}}}},
    }}}


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def json_body(request: Request, model: type[BaseModel]) -> Any:
    """Parse and validate a JSON body into `model`; errors are the usual 422 with field messages."""
    try:
        raw = await request.json()
    except ValueError:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error",
                                       "input": None}]) from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None


async def uploaded_files(request: Request) -> list[UploadFile]:
    """The `files` (or `file`) parts of a multipart body."""
    try:
        form = await request.form(max_files=1000, max_fields=100)
    except ApiError:
        raise
    except OSError as exc:  # the parser spools large files to a temporary folder: the disk, not the client
        raise storage_error(exc, "the upload") from None
    except Exception as exc:  # malformed multipart: the client's fault
        raise ApiError(400, "bad_request", f"could not read the multipart body: {type(exc).__name__}") from None
    files = [f for key in ("files", "file") for f in form.getlist(key) if isinstance(f, UploadFile)]
    if not files:
        raise RequestValidationError([{"type": "missing", "loc": ("body", "files"),
                                       "msg": "at least one file is required", "input": None}])
    return files


def unsupported(kind: str) -> ApiError:
    return ApiError(415, "unsupported_media_type",
                    f"send {kind} as application/json or multipart/form-data")
