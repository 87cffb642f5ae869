"""The request id of the request being served, visible to every log line written while serving it.

A `ContextVar` follows the request through `await`s and into threadpool calls (anyio copies the
context), so code deep in `graphrag/` logs with the right id without knowing about HTTP.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"
_request_id: ContextVar[str] = ContextVar("request_id", default="-")
_workspace: ContextVar[str] = ContextVar("workspace", default="-")
# An incoming id is reused only when it is short and plain: it ends up in logs and headers.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def current_request_id() -> str:
    return _request_id.get()


def set_request_id(value: str) -> None:
    _request_id.set(value)


def set_workspace(value: str) -> None:
    """The workspace the request works in, from the point its key was checked against it."""
    _workspace.set(value)


def new_request_id(incoming: str | None = None) -> str:
    """The caller's id when it is safe to echo, else a fresh random one."""
    if incoming and _SAFE_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


_installed = False


def install_log_record_factory() -> None:
    """Give every log record `request_id` and `workspace` attributes (usable in any format string). Idempotent."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)  # type: ignore[arg-type]
        record.request_id = _request_id.get()
        record.workspace = _workspace.get()
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


LOG_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s %(workspace)s] %(name)s: %(message)s"
_NOISY = ("httpx", "httpcore", "sentence_transformers", "uvicorn.access")


def configure_logging(level: int = logging.INFO) -> None:
    """The one logging set-up of the command line and the service: stderr, every line with its
    request id and workspace (`-` outside a request), chatty libraries at WARNING. Calling it again only changes
    the level (`graphrag up` raises the CLI's WARNING to INFO)."""
    install_log_record_factory()
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format=LOG_FORMAT, stream=sys.stderr)
    for handler in root.handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.setLevel(level)
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
