"""Errors an agent can act on: the core's typed errors as tool errors whose text says what to do.

The database unreachable (retry later), arguments that fail validation (which field, why), a service
not ready. Anything unexpected stays a crash: the SDK logs it and sends its generic tool error, so no
internals leak.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError

from graphrag.errors import (
    ConfigError,
    DatabaseUnavailableError,
    IngestionError,
    MigrationError,
    NotFoundError,
    RetrievalError,
)
from schema.workspaces import WorkspaceGoneError

log = logging.getLogger(__name__)

class BadArguments(ToolError):
    """The caller's arguments are wrong (the message says which and why): fix them, do not retry as is."""


_DB_DOWN = "the database is unreachable right now; retry in a few seconds (nothing else is wrong with the request)"


Diagnose = Callable[[Exception], str | None]  # a plainer cause of an outage or a set-up error, where one is known


def invalid_arguments(exc: ValidationError) -> str:
    """pydantic's complaints as one line an agent can act on: `invalid arguments: field: message; ...`."""
    fields = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'argument'}: {e['msg']}" for e in exc.errors())
    return f"invalid arguments: {fields}"


@contextlib.contextmanager
def tool_errors(diagnose: Diagnose | None = None) -> Iterator[None]:
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


def need(value: Any, what: str) -> Any:
    """A working part this service was built without: a tool error naming it."""
    if value is None:
        raise ToolError(f"{what} is not available in this service")
    return value
