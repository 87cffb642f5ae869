"""The process-wide circuit breaker: once a call's retries ran out on an unreachable database, the
next calls (sync and async clients sharing it) fail without sending anything, and a real HTTP
`/api/v1/ready` answering again closes it."""

from __future__ import annotations

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from graphrag.arcadedb import ArcadeDB, AsyncArcadeDB, RetryPolicy
from graphrag.breaker import CircuitBreaker, shared_breaker
from graphrag.errors import DatabaseKnownDownError, DatabaseUnavailableError, QueryError
from tests.conftest import free_port

FAST = RetryPolicy(attempts=4, max_seconds=5, initial_wait=0.01, max_wait=0.02)


class _Ready(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(204 if self.path == "/api/v1/ready" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_an_unreachable_database_opens_the_breaker_and_later_calls_send_nothing() -> None:
    port = free_port()  # nothing listens: every attempt is refused
    calls: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        raise httpx.ConnectError("connection refused", request=request)

    breaker = CircuitBreaker([f"http://127.0.0.1:{port}"], probe_interval_s=0.05)
    sync = ArcadeDB(f"http://127.0.0.1:{port}", "g", "root", "pw", retry=FAST,
                    transport=httpx.MockTransport(refuse), breaker=breaker)
    with pytest.raises(DatabaseUnavailableError, match="unreachable") as spent:
        sync.sql("SELECT 1")
    assert len(calls) == FAST.attempts and breaker.is_open  # the retry budget, spent once
    assert not isinstance(spent.value, DatabaseKnownDownError)  # this one tried: not "known down"

    calls.clear()
    with pytest.raises(DatabaseKnownDownError, match="fail at once"):
        sync.cypher("MATCH (n) RETURN n")
    with pytest.raises(DatabaseKnownDownError, match="fail at once"):
        sync.cypher_rows("MATCH (n) RETURN n")

    async def async_call() -> None:
        adb = AsyncArcadeDB(f"http://127.0.0.1:{port}", "g", "root", "pw", retry=FAST, breaker=breaker,
                            transport=httpx.MockTransport(refuse))
        try:
            await adb.sql("SELECT 1")
        finally:
            await adb.aclose()

    with pytest.raises(DatabaseKnownDownError, match="fail at once"):
        asyncio.run(async_call())
    assert calls == []  # neither client sent anything while the breaker was open

    # the database answers again: the background probe closes the breaker, calls go through
    server = ThreadingHTTPServer(("127.0.0.1", port), _Ready)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        deadline = time.monotonic() + 10
        while breaker.is_open and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not breaker.is_open
    finally:
        server.shutdown()
        server.server_close()


def test_a_refused_statement_does_not_open_the_breaker() -> None:
    def reject(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "Cannot execute command", "detail": "syntax error"})

    breaker = CircuitBreaker(["http://db.test"])
    db = ArcadeDB("http://db.test", "g", "root", "pw", retry=FAST, transport=httpx.MockTransport(reject),
                  breaker=breaker)
    with pytest.raises(QueryError):
        db.sql("SELEC 1")
    assert not breaker.is_open  # the database answered: it is up, the statement was wrong


def test_one_breaker_per_server_list_in_a_process() -> None:
    assert shared_breaker("http://a:1") is shared_breaker(["http://a:1"])
    assert shared_breaker(["http://a:1", "http://b:1"]) is not shared_breaker("http://a:1")


def test_cypher_rows_opens_the_breaker_as_cypher_does() -> None:
    calls: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        raise httpx.ConnectError("connection refused", request=request)

    breaker = CircuitBreaker(["http://db.test"], probe_interval_s=60)
    db = ArcadeDB("http://db.test", "g", "root", "pw", retry=FAST, transport=httpx.MockTransport(refuse),
                  breaker=breaker)
    with pytest.raises(DatabaseUnavailableError, match="unreachable"):
        db.cypher_rows("MATCH (n) RETURN n")
    assert len(calls) == FAST.attempts and breaker.is_open
