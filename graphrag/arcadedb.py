"""The one door to ArcadeDB: a thin layer over the official `arcadedb-driver` (httpx) client.

It adds what the driver leaves to its callers: bounded retries with exponential backoff and
jitter on transient failures, translation of every driver and httpx error into our typed
`StoreError`s, a timeout by default, and a refusal to hand back a truncated result.

Cypher is used for data, SQL for DDL and vector / full-text search. Values always travel as
parameters: Cypher reads `$name`, SQL reads `:name`.

A client may be given several servers (an ArcadeDB HA cluster, `GRAPHRAG_DB_URLS`): `ServerList`
decides which one gets each call (writes to the leader, reads to any node) and moves on to the next
server when one cannot be reached. That choice is all it does; retries, backoff and error typing stay
in `_Attempts`, the same for one server or many.

The two clients share one core, as httpx's `Client` and `AsyncClient` share its `BaseClient`:
`_ClientBase` holds the state, the construction and the building of each request (`_Request`), and
`_Attempts` the policy of a call's attempts (breaker check, server choice, classification, final error).
`ArcadeDB` and `AsyncArcadeDB` add only the sending: `_call`'s retry loop, once blocking and once awaiting.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Self, TypeVar
from urllib.parse import quote

import httpx
import orjson
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

from graphrag.breaker import CircuitBreaker
from graphrag.config import Settings
from graphrag.errors import (
    DatabaseUnavailableError,
    QueryError,
    StoreError,
    TruncatedResultError,
    WriteCommittedError,
)

log = logging.getLogger(__name__)

Language = Literal["cypher", "sql", "sqlscript"]
Rows = list[dict[str, Any]]
T = TypeVar("T")
TransportT = TypeVar("TransportT", httpx.BaseTransport, httpx.AsyncBaseTransport)

# Exceptions the engine raises for a conflict that a retry resolves (surfaced as HTTP 503 or 409).
_RETRYABLE_EXCEPTIONS = ("ConcurrentModificationException", "NeedRetryException", "DuplicatedKeyException",
                         "RequestStillInFlightException", "TimeoutException")
# Of those, the ones a concurrent writer causes (`RetryPolicy.conflict_attempts`): a replay gets through
# once the other transaction is done.
_CONFLICTS = ("ConcurrentModificationException", "NeedRetryException", "DuplicatedKeyException")
# Connection-level failures where the request never reached the server: always safe to resend.
_CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# HA: the transaction reached a Raft quorum, then the node's local apply failed. It IS committed.
_COMMITTED_REMOTELY = "TransactionCommittedRemotelyException"


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and for how long a transient failure is retried.

    `conflict_attempts` / `conflict_max_seconds`, when set, bound the retries of write conflicts alone
    (another transaction changed or created the same records first: `_CONFLICTS`). Concurrent writers
    may need many replays to get through; a database that is down or refusing must still end the call
    within `attempts` / `max_seconds`, as configured (GRAPHRAG_DB_RETRIES, GRAPHRAG_DB_RETRY_MAX_S).
    """

    attempts: int = 5
    max_seconds: float = 20.0
    initial_wait: float = 0.1
    max_wait: float = 3.0
    conflict_attempts: int | None = None
    conflict_max_seconds: float | None = None


class _Transient(Exception):
    """Internal marker: the failure may pass if the same call is sent again."""

    def __init__(self, cause: BaseException, *, conflict: bool = False):
        super().__init__(str(cause))
        self.cause = cause
        self.conflict = conflict  # a write conflict (`_CONFLICTS`), not an unavailable database


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
    if isinstance(exc, json.JSONDecodeError):
        # An answer whose body is not JSON: a server stopping (seen: HTTP 400, empty body, mid-shutdown)
        # or something else answering on its port. Not a statement's error: like a lost answer.
        return _Transient(exc) if idempotent else DatabaseUnavailableError(
            "ArcadeDB answered with a body that is not JSON (stopping?); the write was not retried")
    if isinstance(exc, ArcadeDBError):
        exception = exc.exception or ""
        if _committed_remotely(exc):  # before the 409 rule below: this one must never be resent
            return WriteCommittedError(f"ArcadeDB committed the write cluster-wide but could not answer it "
                                       f"(HTTP {exc.status}, {_server_message(exc)}); it was not resent")
        retryable = exc.status == 503 or any(name in exception for name in _RETRYABLE_EXCEPTIONS)
        if exc.status == 409 and "RequestStillInFlight" not in exception:
            retryable = "ConcurrentModification" in exception or (block and "DuplicatedKey" in exception)
        if block and exc.status == 404 and "transaction" in _server_message(exc).lower():
            retryable = True
        if retryable:
            return _Transient(exc, conflict=any(name in exception for name in _CONFLICTS))
        if exc.status == 413:
            return TruncatedResultError(f"result too large for the server to send: {_server_message(exc)}")
        if exc.status in (401, 403):
            return QueryError(f"ArcadeDB refused the credentials (HTTP {exc.status}); check "
                              "GRAPHRAG_DB_USER / GRAPHRAG_DB_PASSWORD", status=exc.status,
                              server_message=_server_message(exc))
        return QueryError(f"ArcadeDB rejected the statement (HTTP {exc.status}): {_server_message(exc)}",
                          status=exc.status, server_message=_server_message(exc))
    return exc


def _committed_remotely(exc: BaseException) -> bool:
    return isinstance(exc, ArcadeDBError) and (_COMMITTED_REMOTELY in (exc.exception or "")
                                               or _COMMITTED_REMOTELY in (exc.error or ""))


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


def _tripping(breaker: CircuitBreaker | None, error: StoreError) -> StoreError:
    """Open the breaker when retries ran out on an unreachable database; return `error`."""
    if breaker is not None and isinstance(error, DatabaseUnavailableError):
        breaker.trip(str(error))
    return error


def _rows(envelope: QueryEnvelope, statement: str) -> Rows:
    if envelope.truncated:
        raise TruncatedResultError(
            f"ArcadeDB truncated the result at {envelope.returned} rows (limit {envelope.limit}): "
            f"{statement[:80]!r}; add a LIMIT / paging to the query")
    return envelope.result


def _plain_envelope(response: httpx.Response) -> QueryEnvelope:
    """A command's answer read straight from its JSON: rows stay the dicts `json` made.

    The driver raises `ArcadeDBError` for a status outside 2xx (from the same body and headers as
    here) and for a `result` that is not a list of rows; so does this. A body without the
    `limit`/`returned`/`truncated` the contract requires is refused as well, never read as complete.
    """
    if not 200 <= response.status_code < 300:
        raise ArcadeDBError.from_httpx_response(response)
    data = _json_value(response.content)
    rows = data.get("result", []) if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(k in data for k in ("limit", "returned", "truncated")):
        raise ArcadeDBError(200, {"error": "the server's answer is not a result envelope of rows",
                                  "detail": f"keys: {sorted(data) if isinstance(data, dict) else type(data).__name__}"})
    return QueryEnvelope(result=rows, limit=data["limit"], returned=data["returned"], truncated=data["truncated"],
                         explain=data.get("explain"), explain_plan=data.get("explainPlan"))


_JSON_HEADERS = {"Content-Type": "application/json"}  # of a body `_json_body` wrote


def _json_body(body: dict[str, Any]) -> bytes:
    """A request body as orjson writes it: numpy arrays as they are (a question's vector needs no
    `tolist()`), floats in their shortest form (a 384-float vector is half the bytes of `json`'s).

    Why not httpx's `json=`: for the vector query every question sends, the stdlib encoder and the
    longer body cost the API about 0.5 ms of CPU a question (measured on 2 cores, 2026-12-07: 1.96 ->
    1.47 ms of user CPU a call) and the server more parsing."""
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def _json_value(content: bytes) -> Any:
    """A response body parsed by orjson (several times faster than `json` for a neighbourhood's
    thousands of rows); what orjson refuses and `json` reads (NaN, integers past 64 bits) still
    parses, and what neither reads raises `json`'s ValueError, as `httpx.Response.json` did."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


def _retrying_kwargs(policy: RetryPolicy) -> dict[str, Any]:
    return {
        "stop": _stop(policy),
        "wait": wait_exponential_jitter(initial=policy.initial_wait, max=policy.max_wait),
        "retry": retry_if_exception(lambda e: isinstance(e, _Transient)),
        "before_sleep": _log_retry,
        "reraise": True,
    }


def _stop(policy: RetryPolicy) -> Callable[[RetryCallState], bool]:
    """tenacity's stop condition: the policy's budget, or its conflict budget while the last failure was a
    write conflict (the time counts from the first attempt either way)."""
    usual = stop_after_attempt(policy.attempts) | stop_after_delay(policy.max_seconds)
    if policy.conflict_attempts is None and policy.conflict_max_seconds is None:
        return usual
    conflicts = (stop_after_attempt(policy.conflict_attempts or policy.attempts)
                 | stop_after_delay(policy.conflict_max_seconds or policy.max_seconds))

    def stop(state: RetryCallState) -> bool:
        failure = state.outcome.exception() if state.outcome else None
        return (conflicts if isinstance(failure, _Transient) and failure.conflict else usual)(state)

    return stop


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    cause = exc.cause if isinstance(exc, _Transient) else exc
    wait = state.next_action.sleep if state.next_action else 0.0
    log.info("ArcadeDB call failed (%s: %s); attempt %d, retrying in %.1fs",
             type(cause).__name__, cause, state.attempt_number, wait)


def _policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(attempts=settings.db_retries, max_seconds=settings.db_retry_max_s)


def _unreachable(exc: BaseException) -> bool:
    """The server itself failed (no HTTP answer): another server may take the call."""
    cause = exc.cause if isinstance(exc, _Transient) else exc
    return isinstance(cause, httpx.TransportError)


class ServerList:
    """The servers of one database, and which of them gets the next call.

    - Writes go to the leader: the server `leader_hint` named (an HA cluster's `GET /api/v1/server?mode=cluster`
      reports it), else the first server in the list that answers, kept until it fails. A follower
      would forward a write to the leader anyway; sending it there directly saves the hop.
    - Reads go to any node, in turn, so replicas share the load.
    - A server that could not be reached is passed over for `cooldown_s`, then tried again; when every
      server is marked down, the least recently failed one is tried (a call never finds "no server").

    Thread-safe: one client is shared by request threads.
    """

    def __init__(self, urls: Sequence[str], *, cooldown_s: float = 5.0):
        if not urls:
            raise ValueError("at least one server URL is needed")
        self.urls = [u.rstrip("/") for u in urls]
        self.cooldown_s = cooldown_s
        self._down_until = [0.0] * len(self.urls)
        self._writer = 0
        self._reads = itertools.count()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.urls)

    def _up(self, index: int, now: float) -> bool:
        return self._down_until[index] <= now

    def pick(self, *, write: bool) -> int:
        """The index of the server for the next call."""
        with self._lock:
            now = time.monotonic()
            n = len(self.urls)
            if write:
                order = [(self._writer + i) % n for i in range(n)]
            else:
                start = next(self._reads) % n
                order = [(start + i) % n for i in range(n)]
            for index in order:
                if self._up(index, now):
                    if write:
                        self._writer = index
                    return index
            return min(range(n), key=lambda i: self._down_until[i])

    def failed(self, index: int) -> None:
        """`index` could not be reached: pass it over for a while; writes move to the next server."""
        with self._lock:
            self._down_until[index] = time.monotonic() + self.cooldown_s
            if index == self._writer:
                self._writer = (index + 1) % len(self.urls)
        if len(self.urls) > 1:
            log.warning("ArcadeDB server %s unreachable; using the next of %d servers", self.urls[index],
                        len(self.urls))

    def leader_hint(self, address: str | None) -> bool:
        """Send writes to the server whose URL has `address` ("host:port"); False when none has."""
        if not address:
            return False
        wanted = address.split("://")[-1].rstrip("/").lower()
        for index, url in enumerate(self.urls):
            if url.split("://")[-1].lower() == wanted:
                with self._lock:
                    self._writer = index
                return True
        return False


def leader_address(info: dict[str, Any]) -> str | None:
    """The leader's HTTP address from `GET /api/v1/server?mode=cluster`, when the server runs HA."""
    ha = info.get("ha")
    if not isinstance(ha, dict):
        return None
    address = ha.get("leaderAddress") or ha.get("leaderHttpAddress")
    return str(address) if address else None


@dataclass(frozen=True)
class Connection:
    """What it takes to open the same client in another process (a Ray actor): picklable, no sockets.
    The password is excluded from `repr`, so a logged `Connection` shows no secret."""

    urls: tuple[str, ...]
    database: str
    user: str
    password: str = field(repr=False)
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True, slots=True)
class _Request:
    """One call, built once for both clients: what to send to server `index`, and how to treat it.

    `send(index)` returns the driver's answer (a coroutine for the async client); `statement` is set
    for a call that answers with rows (checked against truncation by `_rows`).
    """

    send: Callable[[int], Any]
    idempotent: bool
    write: bool
    block: bool = False
    statement: str | None = None


class _Attempts:
    """The policy of one call's attempts, written once for both clients (only the I/O differs):
    each attempt checks the breaker and asks `servers` where to go; a failure marks an unreachable
    server and is classified (retry it or not); once retries are spent, the final error may trip
    the breaker."""

    def __init__(self, client: _ClientBase, request: _Request):
        self.client = client
        self.request = request
        self.url = client.url

    def retrying(self) -> dict[str, Any]:
        """tenacity's arguments for `Retrying` / `AsyncRetrying`."""
        return _retrying_kwargs(self.client.retry)

    def start(self) -> int:
        """Before an attempt: fail now when the database is known down, else the server to send to."""
        if self.client.breaker is not None:
            self.client.breaker.check()  # known down: fail now, whichever attempt this is
        index = self.client.servers.pick(write=self.request.write)
        self.url = self.client.servers.urls[index]
        return index

    def failure(self, index: int, exc: Exception) -> BaseException:
        """What an attempt's failure becomes: a `_Transient` to retry (on the next server, when this
        one could not be reached) or a final `StoreError`."""
        if _unreachable(exc):
            self.client.servers.failed(index)
        return _classify(exc, idempotent=self.request.idempotent, block=self.request.block)

    def final(self, exc: BaseException) -> StoreError:
        """The error the caller sees once the attempts are spent."""
        return _tripping(self.client.breaker, _final_error(exc, self.url))

    def answer(self, result: Any) -> Any:
        """The call's result: rows checked against truncation, or the driver's answer as it is."""
        return result if self.request.statement is None else _rows(result, self.request.statement)


class _ClientBase(Generic[TransportT]):
    """What `ArcadeDB` and `AsyncArcadeDB` share, as httpx's `BaseClient` does for its two clients:
    every piece of state, the construction, and the building of each request (which statement, which
    server role, whether it may be resent). The two clients add only the sending (`_call`) and the
    methods that await or do not. The arguments are `ArcadeDB`'s.
    """

    def __init__(self, url: str | Sequence[str], database: str, user: str, password: str, *, timeout: float = 30.0,
                 retry: RetryPolicy | None = None, transport: TransportT | None = None,
                 breaker: CircuitBreaker | None = None):
        self.servers = ServerList([url] if isinstance(url, str) else list(url))
        self.url = self.servers.urls[0]
        self.database = database
        self.retry = retry or RetryPolicy()
        self.breaker = breaker
        self._auth = (user, password)
        self._timeout = timeout
        self._transport = transport
        self._clients = [self._open(u) for u in self.servers.urls]
        self._dbs = [c.db(database) for c in self._clients]
        self._owns_clients = True  # False for a `for_database` view, which shares them

    def _open(self, url: str) -> Any:
        """The driver's server client for `url` (sync or async: the subclass's one difference here)."""
        raise NotImplementedError

    def _httpx_options(self, url: str) -> dict[str, Any]:
        """The httpx client a given transport is installed in: the driver's own settings, the transport."""
        return {"base_url": url, "headers": basic_auth(*self._auth), "timeout": self._timeout,
                "transport": self._transport}

    @classmethod
    def from_settings(cls, settings: Settings, *, breaker: CircuitBreaker | None = None) -> Self:
        """A client for the database `settings` names (`GRAPHRAG_DB_*`), with its retry policy."""
        return cls(settings.urls, settings.db_name, settings.db_user, settings.password(),
                   timeout=settings.db_timeout_s, retry=_policy(settings), breaker=breaker)

    def connection(self) -> Connection:
        """This client's parameters, to open it again in another process (`ArcadeDB.open`)."""
        return Connection(tuple(self.servers.urls), self.database, *self._auth, timeout=self._timeout,
                          retry=self.retry)

    @classmethod
    def open(cls, connection: Connection) -> Self:
        """A client from a `Connection` another process sent (no breaker, no transport)."""
        return cls(list(connection.urls), connection.database, connection.user, connection.password,
                   timeout=connection.timeout, retry=connection.retry)

    def clone(self, *, retry: RetryPolicy | None = None) -> Self:
        """A second client for the same database (its own connections), e.g. with more patient retries."""
        return type(self)(self.servers.urls, self.database, *self._auth, timeout=self._timeout,
                          retry=retry or self.retry, transport=self._transport)

    def for_database(self, database: str) -> Self:
        """A client for another database on the same servers, sharing this one's connections, retry
        policy and breaker (one per workspace costs no sockets). Closing it closes nothing: the
        connections belong to this client."""
        view = copy.copy(self)
        view.database = database
        view._dbs = [c.db(database) for c in self._clients]
        view._owns_clients = False
        return view

    # --- request building: one place for both clients

    def _query_request(self, language: Language, statement: str, params: dict[str, Any] | None,
                       limit: int | None) -> _Request:
        """A read: any node of a cluster may answer, and it is always safe to resend."""
        return _Request(lambda i: self._dbs[i].query(language=language, command=statement,  # type: ignore[arg-type]
                                                     params=params or None, limit=limit),
                        idempotent=True, write=False, statement=statement)

    def _command_request(self, language: Language, statement: str, params: dict[str, Any] | None, *,
                         idempotent: bool) -> _Request:
        """A write or DDL statement, sent to a cluster's leader."""
        return _Request(lambda i: self._dbs[i].command(language=language, command=statement,  # type: ignore[arg-type]
                                                       params=params or None),
                        idempotent=idempotent, write=True, statement=statement)

    def _server_info_request(self) -> _Request:
        return _Request(lambda i: self._clients[i].server_info(), idempotent=True, write=False)


class ArcadeDB(_ClientBase[httpx.BaseTransport]):
    """Synchronous access to one database, on one server or on an HA cluster.

    Args:
        url: the server's base URL, e.g. ``http://127.0.0.1:2480``, or several (a cluster's nodes):
            see `ServerList` for which one gets each call.
        database: the database name.
        user, password: basic-auth credentials.
        timeout: seconds for one HTTP call.
        retry: the retry policy for transient failures.
        transport: an httpx transport (tests pass ``httpx.MockTransport``): an `httpx.BaseTransport`
            for `ArcadeDB`, an `httpx.AsyncBaseTransport` for `AsyncArcadeDB` (`TransportT`).
        breaker: a circuit breaker shared by the clients of one database (`graphrag.breaker`).
    """

    def _open(self, url: str) -> ArcadeDBServer:
        server = ArcadeDBServer(base_url=url, auth=basic_auth(*self._auth), timeout=httpx.Timeout(self._timeout))
        if self._transport is not None:
            server.raw.set_httpx_client(httpx.Client(**self._httpx_options(url)))
        return server

    def _call(self, request: _Request) -> Any:
        """Send `request` with retries; each attempt asks `servers` where to go, so an attempt after a
        connection failure lands on the next server."""
        attempts = _Attempts(self, request)
        try:
            for attempt in Retrying(**attempts.retrying()):
                with attempt:
                    index = attempts.start()
                    try:
                        answer = request.send(index)
                    except Exception as exc:
                        raise attempts.failure(index, exc) from exc
        except (_Transient, StoreError) as exc:
            raise attempts.final(exc) from exc
        return attempts.answer(answer)

    def _run(self, send: Callable[[int], T], *, idempotent: bool, write: bool) -> T:
        """`send(server index)` with the retries of any call (the database-level operations)."""
        return self._call(_Request(send, idempotent=idempotent, write=write))  # type: ignore[no-any-return]

    def query(self, language: Language, statement: str, params: dict[str, Any] | None = None, *,
              limit: int | None = None) -> Rows:
        """Run a read-only statement (any node of a cluster may answer); reads are always safe to retry."""
        return self._call(self._query_request(language, statement, params, limit))  # type: ignore[no-any-return]

    def command(self, language: Language, statement: str, params: dict[str, Any] | None = None, *,
                idempotent: bool = True) -> Rows:
        """Run a write or DDL statement (on a cluster's leader).

        `idempotent` says whether the statement may run twice (MERGE, IF NOT EXISTS): only then is
        a call that timed out after being sent retried.
        """
        return self._call(self._command_request(language, statement, params,  # type: ignore[no-any-return]
                                                idempotent=idempotent))

    def cypher(self, statement: str, params: dict[str, Any] | None = None, *, idempotent: bool = True) -> Rows:
        """Cypher through the command endpoint (reads and writes alike)."""
        return self.command("cypher", statement, params, idempotent=idempotent)

    def cypher_rows(self, statement: str, params: dict[str, Any] | None = None, *, idempotent: bool = True) -> Rows:
        """`cypher`, with the rows taken straight from the response's JSON.

        The driver turns every row into a model object and back into a dict; for a statement that
        returns thousands of rows (a question's neighbourhood) that costs several times the JSON
        parsing itself. Same endpoint, body, connection, routing, retries and errors as `cypher`:
        only the reading of a successful answer differs.
        """
        return self._plain("command", "cypher", statement, params, idempotent=idempotent, write=True)

    def sql_rows(self, statement: str, params: dict[str, Any] | None = None) -> Rows:
        """`sql`, with the rows taken straight from the response's JSON (as `cypher_rows`): for the
        statements every question sends (the vector search's hundred rows, the graph's fingerprint),
        where the driver's models cost more client CPU than the database's answer."""
        return self._plain("query", "sql", statement, params, idempotent=True, write=False)

    def _plain(self, endpoint: Literal["query", "command"], language: Language, statement: str,
               params: dict[str, Any] | None, *, idempotent: bool, write: bool) -> Rows:
        body: dict[str, Any] = {"command": statement, "language": language}
        if params:
            body["params"] = params
        path = f"/api/v1/{endpoint}/{quote(self.database, safe='')}"
        payload = _json_body(body)

        def send(index: int) -> QueryEnvelope:
            return _plain_envelope(self._clients[index].raw.get_httpx_client().post(path, content=payload,
                                                                                    headers=_JSON_HEADERS))

        return self._call(_Request(send, idempotent=idempotent, write=write,  # type: ignore[no-any-return]
                                   statement=statement))

    def sql(self, statement: str, params: dict[str, Any] | None = None) -> Rows:
        """A read-only SQL query (vector and full-text search, schema reads)."""
        return self.query("sql", statement, params)

    def sql_command(self, statement: str, params: dict[str, Any] | None = None, *,
                    idempotent: bool = True) -> Rows:
        """A SQL command (DDL)."""
        return self.command("sql", statement, params, idempotent=idempotent)

    def server_info(self) -> dict[str, Any]:
        return self._call(self._server_info_request()).to_dict()  # type: ignore[no-any-return]

    def discover_leader(self) -> str | None:
        """Ask the cluster which node leads and send writes there; the leader's address, or None
        (a single server, or no node answered with HA information)."""
        if len(self.servers) < 2:
            return None
        for index, client in enumerate(self._clients):
            try:
                response = client.raw.get_httpx_client().get("/api/v1/server", params={"mode": "cluster"})
                address = leader_address(response.json()) if response.status_code == 200 else None
            except (httpx.HTTPError, ValueError):
                self.servers.failed(index)
                continue
            if address and self.servers.leader_hint(address):
                return address
        return None

    def transactional(self, work: Callable[[Transaction], T], *, idempotent: bool = True) -> T:
        """Run `work` inside one server-side transaction: all its statements commit together or not at all.

        Readers never see a half-done block (a replaced document's old and new chunks side by side).
        A transient failure (a conflict at commit, a dropped connection) rolls back and replays the
        WHOLE block with the same backoff as single calls, so `work` must be safe to run again; with
        `idempotent=False` a block whose commit may have reached the server is not replayed. A unique
        key taken by a concurrent writer is a conflict too (replayed: `work` reads before it creates). A commit
        that an HA cluster reports committed remotely (409) did commit: `work`'s result is returned.

        Args:
            work: called with a `Transaction`; its statements go through `tx.cypher(...)`.

        Returns:
            What `work` returned from the attempt that committed.
        """
        def attempt(index: int) -> T:
            done: list[T] = []
            try:
                with self._dbs[index].transaction() as handle:
                    done.append(work(Transaction(handle)))
            except ArcadeDBError as exc:
                if done and _committed_remotely(exc):  # the block ran; only the commit's answer failed
                    log.warning("ArcadeDB reported the transaction committed remotely (%s); not replayed",
                                _server_message(exc))
                    return done[0]
                raise
            return done[0]

        return self._call(_Request(attempt, idempotent=idempotent, write=True,  # type: ignore[no-any-return]
                                   block=True))

    def ensure_database(self) -> bool:
        """Create the database if missing; True when it was created."""
        if self._run(lambda i: self._clients[i].exists(self.database), idempotent=True, write=True):
            return False
        try:
            self._run(lambda i: self._clients[i].create_database(self.database), idempotent=False, write=True)
        except QueryError as exc:
            # The embedded server creates its default database just after HTTP comes up, so a
            # fresh start can race us to it: "already exists" is the outcome we wanted.
            if exc.status == 409:
                return False
            raise
        return True

    def list_databases(self) -> list[str]:
        """Every database on the server (needs a server user, as the embedded root is)."""
        return list(self._run(lambda i: self._clients[i].list_databases(), idempotent=True, write=False))

    def drop_database(self, database: str) -> bool:
        """Drop `database` and all its data; False when it did not exist."""
        if not self._run(lambda i: self._clients[i].exists(database), idempotent=True, write=True):
            return False
        self._run(lambda i: self._clients[i].drop_database(database), idempotent=False, write=True)
        return True

    def close(self) -> None:
        if not self._owns_clients:
            return
        for client in self._clients:
            client.close()

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


class AsyncArcadeDB(_ClientBase[httpx.AsyncBaseTransport]):
    """The async twin of `ArcadeDB`, for the API service: the same state, requests, retries and errors
    (`_ClientBase`, `_Attempts`); only the sending awaits. It has the calls the service makes:
    `query`, `command`, `cypher`, `sql`, `server_info` (no transactions, no database administration)."""

    def _open(self, url: str) -> AsyncArcadeDBServer:
        server = AsyncArcadeDBServer(base_url=url, auth=basic_auth(*self._auth), timeout=httpx.Timeout(self._timeout))
        if self._transport is not None:
            server.raw.set_async_httpx_client(httpx.AsyncClient(**self._httpx_options(url)))
        return server

    async def _call(self, request: _Request) -> Any:
        """`ArcadeDB._call`, awaiting each attempt."""
        attempts = _Attempts(self, request)
        try:
            async for attempt in AsyncRetrying(**attempts.retrying()):
                with attempt:
                    index = attempts.start()
                    try:
                        answer = await request.send(index)
                    except Exception as exc:
                        raise attempts.failure(index, exc) from exc
        except (_Transient, StoreError) as exc:
            raise attempts.final(exc) from exc
        return attempts.answer(answer)

    async def query(self, language: Language, statement: str, params: dict[str, Any] | None = None, *,
                    limit: int | None = None) -> Rows:
        """`ArcadeDB.query`."""
        return await self._call(self._query_request(language, statement, params, limit))  # type: ignore[no-any-return]

    async def command(self, language: Language, statement: str, params: dict[str, Any] | None = None, *,
                      idempotent: bool = True) -> Rows:
        """`ArcadeDB.command`."""
        return await self._call(self._command_request(language, statement, params,  # type: ignore[no-any-return]
                                                      idempotent=idempotent))

    async def cypher(self, statement: str, params: dict[str, Any] | None = None, *,
                     idempotent: bool = True) -> Rows:
        """`ArcadeDB.cypher`."""
        return await self.command("cypher", statement, params, idempotent=idempotent)

    async def sql(self, statement: str, params: dict[str, Any] | None = None) -> Rows:
        """`ArcadeDB.sql`."""
        return await self.query("sql", statement, params)

    async def server_info(self) -> dict[str, Any]:
        """`ArcadeDB.server_info`."""
        return (await self._call(self._server_info_request())).to_dict()  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        if not self._owns_clients:
            return
        for client in self._clients:
            await client.aclose()
