"""The one door to ArcadeDB: a thin layer over the official `arcadedb-driver` (httpx) client.

It adds what the driver leaves to its callers: bounded retries with exponential backoff and
jitter on transient failures, translation of every driver and httpx error into our typed
`StoreError`s, a timeout by default, and a refusal to hand back a truncated result.

Cypher is used for data, SQL for DDL and vector / full-text search. Values always travel as
parameters: Cypher reads `$name`, SQL reads `:name`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx
from arcadedb_driver import ArcadeDBError, ArcadeDBServer, AsyncArcadeDBServer, QueryEnvelope, basic_auth
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from graphrag.config import Settings
from graphrag.errors import DatabaseUnavailableError, QueryError, StoreError, TruncatedResultError

log = logging.getLogger(__name__)

Language = Literal["cypher", "sql", "sqlscript"]
Rows = list[dict[str, Any]]
T = TypeVar("T")

# Exceptions the engine raises for a conflict that a retry resolves (surfaced as HTTP 503 or 409).
_RETRYABLE_EXCEPTIONS = ("ConcurrentModificationException", "NeedRetryException", "DuplicatedKeyException",
                         "RequestStillInFlightException", "TimeoutException")
# Connection-level failures where the request never reached the server: always safe to resend.
_CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and for how long a transient failure is retried."""

    attempts: int = 5
    max_seconds: float = 20.0
    initial_wait: float = 0.1
    max_wait: float = 3.0


class _Transient(Exception):
    """Internal marker: the failure may pass if the same call is sent again."""

    def __init__(self, cause: BaseException):
        super().__init__(str(cause))
        self.cause = cause


def _classify(exc: BaseException, *, idempotent: bool, block: bool = False) -> BaseException:
    """Map a driver/httpx failure to a `_Transient` (retry it) or a final `StoreError`.

    `block`: the failure ended a `transactional` block, which is replayed whole from the start (it
    re-reads what it decides on). Two more failures are transient there: a duplicate key (another
    writer created the same entity key first; the replay finds it and does not create it again) and
    a transaction session the server expired (it rolled the transaction back: the client stalled
    longer than `server.httpSessionExpireTimeout` between two statements, e.g. starved of CPU).
    """
    if isinstance(exc, _CONNECT_ERRORS):
        return _Transient(exc)
    if isinstance(exc, httpx.TimeoutException | httpx.RemoteProtocolError | httpx.ReadError):
        # The request may have reached the server: resend only what is safe to run twice.
        return _Transient(exc) if idempotent else DatabaseUnavailableError(
            f"ArcadeDB did not answer in time ({type(exc).__name__}); the write was not retried"
        )
    if isinstance(exc, httpx.HTTPError):
        return DatabaseUnavailableError(f"cannot talk to ArcadeDB: {type(exc).__name__}: {exc}")
    if isinstance(exc, ArcadeDBError):
        exception = exc.exception or ""
        retryable = exc.status == 503 or any(name in exception for name in _RETRYABLE_EXCEPTIONS)
        if exc.status == 409 and "RequestStillInFlight" not in exception:
            retryable = "ConcurrentModification" in exception or (block and "DuplicatedKey" in exception)
        if block and exc.status == 404 and "transaction" in _server_message(exc).lower():
            retryable = True
        if retryable:
            return _Transient(exc)
        if exc.status == 413:
            return TruncatedResultError(f"result too large for the server to send: {_server_message(exc)}")
        if exc.status in (401, 403):
            return QueryError(f"ArcadeDB refused the credentials (HTTP {exc.status}); check "
                              "GRAPHRAG_DB_USER / GRAPHRAG_DB_PASSWORD", status=exc.status,
                              server_message=_server_message(exc))
        return QueryError(f"ArcadeDB rejected the statement (HTTP {exc.status}): {_server_message(exc)}",
                          status=exc.status, server_message=_server_message(exc))
    return exc


def _server_message(exc: ArcadeDBError) -> str:
    parts = [p for p in (exc.error, exc.detail) if p]
    text = " - ".join(dict.fromkeys(parts)) or f"status {exc.status}"
    return text if len(text) < 600 else text[:600] + "..."


def _final_error(exc: BaseException, url: str) -> StoreError:
    """The error a caller sees once retries are spent."""
    if isinstance(exc, _Transient):
        cause = exc.cause
        if isinstance(cause, ArcadeDBError):
            return DatabaseUnavailableError(
                f"ArcadeDB at {url} kept refusing (HTTP {cause.status}): {_server_message(cause)}")
        return DatabaseUnavailableError(
            f"ArcadeDB at {url} is unreachable ({type(cause).__name__}); is it running? "
            "(`graphrag db status`)")
    assert isinstance(exc, StoreError)
    return exc


def _rows(envelope: QueryEnvelope, statement: str) -> Rows:
    if envelope.truncated:
        raise TruncatedResultError(
            f"ArcadeDB truncated the result at {envelope.returned} rows (limit {envelope.limit}): "
            f"{statement[:80]!r}; add a LIMIT / paging to the query")
    return envelope.result


def _retrying_kwargs(policy: RetryPolicy) -> dict[str, Any]:
    return {
        "stop": stop_after_attempt(policy.attempts) | stop_after_delay(policy.max_seconds),
        "wait": wait_exponential_jitter(initial=policy.initial_wait, max=policy.max_wait),
        "retry": retry_if_exception(lambda e: isinstance(e, _Transient)),
        "before_sleep": _log_retry,
        "reraise": True,
    }


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    cause = exc.cause if isinstance(exc, _Transient) else exc
    wait = state.next_action.sleep if state.next_action else 0.0
    log.info("ArcadeDB call failed (%s: %s); attempt %d, retrying in %.1fs",
             type(cause).__name__, cause, state.attempt_number, wait)


def _policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(attempts=settings.db_retries, max_seconds=settings.db_retry_max_s)


class ArcadeDB:
    """Synchronous access to one database.

    Args:
        url: the server's base URL, e.g. ``http://127.0.0.1:2480``.
        database: the database name.
        user, password: basic-auth credentials.
        timeout: seconds for one HTTP call.
        retry: the retry policy for transient failures.
        transport: an httpx transport (tests pass ``httpx.MockTransport``).
    """

    def __init__(self, url: str, database: str, user: str, password: str, *, timeout: float = 30.0,
                 retry: RetryPolicy | None = None, transport: httpx.BaseTransport | None = None):
        self.url = url
        self.database = database
        self.retry = retry or RetryPolicy()
        self._server = ArcadeDBServer(base_url=url, auth=basic_auth(user, password),
                                      timeout=httpx.Timeout(timeout))
        if transport is not None:
            self._server.raw.set_httpx_client(httpx.Client(
                base_url=url, headers=basic_auth(user, password), timeout=timeout, transport=transport))
        self._db = self._server.db(database)

    @classmethod
    def from_settings(cls, settings: Settings) -> ArcadeDB:
        return cls(settings.url, settings.db_name, settings.db_user, settings.password(),
                   timeout=settings.db_timeout_s, retry=_policy(settings))

    def _call(self, fn: Callable[[], Any], *, idempotent: bool, block: bool = False) -> Any:
        try:
            for attempt in Retrying(**_retrying_kwargs(self.retry)):
                with attempt:
                    try:
                        return fn()
                    except Exception as exc:
                        raise _classify(exc, idempotent=idempotent, block=block) from exc
        except (_Transient, StoreError) as exc:
            raise _final_error(exc, self.url) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def query(self, language: Language, statement: str, params: dict[str, Any] | None = None, *,
              limit: int | None = None) -> Rows:
        """Run a read-only statement; reads are always safe to retry."""
        envelope = self._call(lambda: self._db.query(language=language, command=statement,  # type: ignore[arg-type]
                                                     params=params or None, limit=limit), idempotent=True)
        return _rows(envelope, statement)

    def command(self, language: Language, statement: str, params: dict[str, Any] | None = None, *,
                idempotent: bool = True) -> Rows:
        """Run a write or DDL statement.

        `idempotent` says whether the statement may run twice (MERGE, IF NOT EXISTS): only then is
        a call that timed out after being sent retried.
        """
        envelope = self._call(lambda: self._db.command(language=language, command=statement,  # type: ignore[arg-type]
                                                       params=params or None), idempotent=idempotent)
        return _rows(envelope, statement)

    def cypher(self, statement: str, params: dict[str, Any] | None = None, *, idempotent: bool = True) -> Rows:
        """Cypher through the command endpoint (reads and writes alike)."""
        return self.command("cypher", statement, params, idempotent=idempotent)

    def sql(self, statement: str, params: dict[str, Any] | None = None) -> Rows:
        """A read-only SQL query (vector and full-text search, schema reads)."""
        return self.query("sql", statement, params)

    def sql_command(self, statement: str, params: dict[str, Any] | None = None, *,
                    idempotent: bool = True) -> Rows:
        """A SQL command (DDL)."""
        return self.command("sql", statement, params, idempotent=idempotent)

    def server_info(self) -> dict[str, Any]:
        info = self._call(self._server.server_info, idempotent=True)
        return info.to_dict()

    def transactional(self, work: Callable[[Transaction], T], *, idempotent: bool = True) -> T:
        """Run `work` inside one server-side transaction: all its statements commit together or not at all.

        Readers never see a half-done block (a replaced document's old and new chunks side by side).
        A transient failure (a conflict at commit, a dropped connection) rolls back and replays the
        WHOLE block with the same backoff as single calls, so `work` must be safe to run again; with
        `idempotent=False` a block whose commit may have reached the server is not replayed.

        Args:
            work: called with a `Transaction`; its statements go through `tx.cypher(...)`.

        Returns:
            What `work` returned from the attempt that committed.
        """
        def attempt() -> T:
            with self._db.transaction() as handle:
                return work(Transaction(handle))

        return self._call(attempt, idempotent=idempotent, block=True)  # type: ignore[no-any-return]

    def ensure_database(self) -> bool:
        """Create the database if missing; True when it was created."""
        if self._call(lambda: self._server.exists(self.database), idempotent=True):
            return False
        try:
            self._call(lambda: self._server.create_database(self.database), idempotent=False)
        except QueryError as exc:
            # The embedded server creates its default database just after HTTP comes up, so a
            # fresh start can race us to it: "already exists" is the outcome we wanted.
            if exc.status == 409:
                return False
            raise
        return True

    def close(self) -> None:
        self._server.close()

    def __enter__(self) -> ArcadeDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Transaction:
    """Statements sent inside an open server-side transaction (see `ArcadeDB.transactional`).

    Errors are NOT retried one by one here: a statement that failed leaves the transaction in an
    unknown state, so the failure propagates and `transactional` replays the whole block.
    """

    def __init__(self, handle: Any):
        self._handle = handle

    def cypher(self, statement: str, params: dict[str, Any] | None = None) -> Rows:
        envelope = self._handle.command(language="cypher", command=statement, params=params or None)
        return _rows(envelope, statement)


class AsyncArcadeDB:
    """The async twin of `ArcadeDB`, for the API service: same retries, same errors."""

    def __init__(self, url: str, database: str, user: str, password: str, *, timeout: float = 30.0,
                 retry: RetryPolicy | None = None, transport: httpx.AsyncBaseTransport | None = None):
        self.url = url
        self.database = database
        self.retry = retry or RetryPolicy()
        self._server = AsyncArcadeDBServer(base_url=url, auth=basic_auth(user, password),
                                           timeout=httpx.Timeout(timeout))
        if transport is not None:
            self._server.raw.set_async_httpx_client(httpx.AsyncClient(
                base_url=url, headers=basic_auth(user, password), timeout=timeout, transport=transport))
        self._db = self._server.db(database)

    @classmethod
    def from_settings(cls, settings: Settings) -> AsyncArcadeDB:
        return cls(settings.url, settings.db_name, settings.db_user, settings.password(),
                   timeout=settings.db_timeout_s, retry=_policy(settings))

    async def _call(self, fn: Callable[[], Any], *, idempotent: bool) -> Any:
        try:
            async for attempt in AsyncRetrying(**_retrying_kwargs(self.retry)):
                with attempt:
                    try:
                        return await fn()
                    except Exception as exc:
                        raise _classify(exc, idempotent=idempotent) from exc
        except (_Transient, StoreError) as exc:
            raise _final_error(exc, self.url) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def query(self, language: Language, statement: str, params: dict[str, Any] | None = None, *,
                    limit: int | None = None) -> Rows:
        envelope = await self._call(lambda: self._db.query(language=language, command=statement,  # type: ignore[arg-type]
                                                           params=params or None, limit=limit),
                                    idempotent=True)
        return _rows(envelope, statement)

    async def command(self, language: Language, statement: str, params: dict[str, Any] | None = None, *,
                      idempotent: bool = True) -> Rows:
        envelope = await self._call(lambda: self._db.command(language=language, command=statement,  # type: ignore[arg-type]
                                                             params=params or None), idempotent=idempotent)
        return _rows(envelope, statement)

    async def cypher(self, statement: str, params: dict[str, Any] | None = None, *,
                     idempotent: bool = True) -> Rows:
        return await self.command("cypher", statement, params, idempotent=idempotent)

    async def sql(self, statement: str, params: dict[str, Any] | None = None) -> Rows:
        return await self.query("sql", statement, params)

    async def server_info(self) -> dict[str, Any]:
        info = await self._call(self._server.server_info, idempotent=True)
        return info.to_dict()

    async def aclose(self) -> None:
        await self._server.aclose()
