"""Every error this project raises, in one hierarchy, so callers catch ours and never a library's.

GraphRAGError
├── ConfigError                 bad or missing configuration (one line says which setting)
├── ServerLaunchError           the embedded ArcadeDB server could not be started or stopped
├── StoreError                  anything that went wrong talking to ArcadeDB
│   ├── DatabaseUnavailableError   unreachable, or refusing (503) after the bounded retries
│   ├── QueryError                 the server rejected a statement; carries its message
│   ├── WriteCommittedError        a cluster committed the write but could not answer it: never resend
│   └── TruncatedResultError       the server cut the result short; never used as complete
├── MigrationError              a schema migration could not be applied
│   └── ChecksumMismatchError      an applied migration's file or parameters changed since
├── IngestionError              an ingestion job could not go on (e.g. --strict met a bad input)
├── LLMError                    the language model could not give an answer
│   ├── LLMUnavailableError        unreachable, timed out, 429 or 5xx after the bounded retries
│   └── LLMResponseError           it answered, but not with a usable chat completion
└── RetrievalError              a question cannot be retrieved for (empty, too long, bad option)
"""

from __future__ import annotations


class GraphRAGError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(GraphRAGError):
    """A setting is missing or invalid; the message names it and says how to set it."""


class ServerLaunchError(GraphRAGError):
    """The embedded server did not start or stop; the message says why in one line."""


class StoreError(GraphRAGError):
    """A call to ArcadeDB failed."""


class DatabaseUnavailableError(StoreError):
    """ArcadeDB could not be reached, or kept refusing, after the bounded retries."""


class DatabaseKnownDownError(DatabaseUnavailableError):
    """Raised at once, nothing sent, while the process's circuit breaker holds ArcadeDB for down
    (`graphrag.breaker`): the outage was already known, no retry budget was spent on this call."""


class QueryError(StoreError):
    """ArcadeDB rejected a statement. `status` and `server_message` come from its answer."""

    def __init__(self, message: str, *, status: int | None = None, server_message: str | None = None):
        super().__init__(message)
        self.status = status
        self.server_message = server_message


class WriteCommittedError(StoreError):
    """An HA cluster committed the write (Raft quorum) but the node that took it failed to apply it
    locally (HTTP 409 `TransactionCommittedRemotelyException`). The write is durable: sending it
    again would apply it twice, so it is never retried, and its result rows are lost."""


class TruncatedResultError(StoreError):
    """The server returned only part of a result; using it as complete would be silently wrong."""


class MigrationError(GraphRAGError):
    """A schema migration could not be applied."""


class ChecksumMismatchError(MigrationError):
    """An applied migration no longer matches its file (or the parameters it was applied with)."""


class IngestionError(GraphRAGError):
    """An ingestion job stopped: a bad input under --strict, or a failure that leaves no way on."""


class LLMError(GraphRAGError):
    """The language model gave no usable answer; the answerer falls back to extractive mode."""


class LLMUnavailableError(LLMError):
    """The LLM server could not be reached, timed out, or kept refusing (429/5xx) after the retries."""


class LLMResponseError(LLMError):
    """The LLM server answered, but not with a chat completion we can use (garbage, empty, cut off)."""


class RetrievalError(GraphRAGError):
    """A retrieval request is invalid: the message says what to change."""


class NotFoundError(GraphRAGError):
    """A named thing (a workspace) that does not exist: nothing was created in its place."""
