"""The access layer's retry and error policy, through httpx.MockTransport (no server needed)."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import httpx
import pytest

from graphrag.arcadedb import ArcadeDB, AsyncArcadeDB, RetryPolicy
from graphrag.errors import DatabaseUnavailableError, QueryError, TruncatedResultError

FAST = RetryPolicy(attempts=4, max_seconds=5, initial_wait=0.01, max_wait=0.02)
OK = {"result": [{"one": 1}], "limit": 20000, "returned": 1, "truncated": False}


def _client(handler, calls: list[httpx.Request]) -> ArcadeDB:  # type: ignore[no-untyped-def]
    def record(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return handler(request, len(calls))

    return ArcadeDB("http://db.test", "g", "root", "pw", retry=FAST, transport=httpx.MockTransport(record))


def test_503_and_concurrent_modification_are_retried_then_succeed() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request, n: int) -> httpx.Response:
        if n == 1:
            return httpx.Response(503, json={"error": "busy", "exception": "x.NeedRetryException"})
        if n == 2:
            return httpx.Response(409, json={"error": "conflict",
                                             "exception": "com.arcadedb.exception.ConcurrentModificationException"})
        return httpx.Response(200, json=OK)

    assert _client(handler, calls).cypher("MATCH (n) RETURN 1 AS one") == [{"one": 1}]
    assert len(calls) == 3
    body = json.loads(calls[0].content)
    assert body["language"] == "cypher" and calls[0].headers["authorization"].startswith("Basic ")


def test_rejected_statement_is_not_retried_and_keeps_the_server_message() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request, n: int) -> httpx.Response:
        return httpx.Response(400, json={"error": "Cannot execute command", "detail": "syntax error at 'FRM'"})

    with pytest.raises(QueryError, match="syntax error at 'FRM'") as info:
        _client(handler, calls).sql("SELEC x FRM y")
    assert info.value.status == 400 and len(calls) == 1


def test_truncated_result_is_never_returned() -> None:
    def handler(request: httpx.Request, n: int) -> httpx.Response:
        return httpx.Response(200, json={**OK, "returned": 1, "limit": 1, "truncated": True})

    with pytest.raises(TruncatedResultError, match="truncated"):
        _client(handler, []).sql("SELECT FROM Chunk")


def test_persistent_refusal_ends_as_unavailable_after_the_bounded_attempts() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request, n: int) -> httpx.Response:
        return httpx.Response(503, json={"error": "Server is not ready"})

    with pytest.raises(DatabaseUnavailableError, match="kept refusing"):
        _client(handler, calls).sql("SELECT 1")
    assert len(calls) == FAST.attempts


@pytest.mark.parametrize("failure", ["conflict", "refusal", "unreachable"])
def test_the_conflict_budget_covers_write_conflicts_only(failure: str) -> None:
    """A writer given more tries for conflicts (the Ray engine's concurrent writes) still ends on a database
    that is down or refusing within the usual budget: it took that writer 12 tries (about 25 s) before."""
    calls: list[httpx.Request] = []
    patient = dataclasses.replace(FAST, conflict_attempts=9, conflict_max_seconds=30)

    def handler(request: httpx.Request, n: int) -> httpx.Response:
        if failure == "unreachable":
            raise httpx.ConnectError("connection refused", request=request)
        if failure == "refusal":
            return httpx.Response(503, json={"error": "Server is not ready"})
        return httpx.Response(409, json={"error": "conflict",
                                         "exception": "com.arcadedb.exception.ConcurrentModificationException"})

    db = ArcadeDB("http://db.test", "g", "root", "pw", retry=patient,
                  transport=httpx.MockTransport(lambda r: calls.append(r) or handler(r, len(calls))))
    with pytest.raises(DatabaseUnavailableError):
        db.cypher("CREATE (n:X)")
    assert len(calls) == (9 if failure == "conflict" else FAST.attempts)


def test_timeout_on_a_non_idempotent_write_is_not_resent() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request, n: int) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(DatabaseUnavailableError, match="not retried"):
        _client(handler, calls).cypher("CREATE (n:X)", idempotent=False)
    assert len(calls) == 1
    calls.clear()
    with pytest.raises(DatabaseUnavailableError):
        _client(handler, calls).cypher("MERGE (n:X {k: 1})", idempotent=True)
    assert len(calls) == FAST.attempts


def test_an_answer_that_is_not_json_is_an_outage_not_a_crash() -> None:
    """A server stopping answered HTTP 400 with an empty body: the driver's JSON error escaped as a
    traceback from `graphrag ingest` (1 run in about 14 of the Ray outage test)."""
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request, n: int) -> httpx.Response:
        return httpx.Response(400, content=b"")

    with pytest.raises(DatabaseUnavailableError):
        _client(handler, calls).sql("SELECT 1")
    assert len(calls) == FAST.attempts  # a read is resent
    calls.clear()
    with pytest.raises(DatabaseUnavailableError, match="not JSON"):
        _client(handler, calls).cypher("CREATE (n:X)", idempotent=False)
    assert len(calls) == 1  # a write is not


def test_async_client_shares_the_policy() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json=OK)

    async def run() -> list[dict[str, int]]:
        db = AsyncArcadeDB("http://db.test", "g", "root", "pw", retry=FAST, transport=httpx.MockTransport(handler))
        try:
            return await db.sql("SELECT 1 AS one")
        finally:
            await db.aclose()

    assert asyncio.run(run()) == [{"one": 1}] and len(calls) == 2


def test_a_replayed_block_retries_a_duplicate_key_and_an_expired_session_a_single_statement_does_not() -> None:
    """A transactional block is replayed whole and re-reads what it decides on, so a duplicate key
    (another writer created the same key first) and a session the server expired (rolled back)
    pass on replay; a single CREATE that meets a duplicate key is the caller's error, and so is a
    single statement's 404. A conflict is retried even for a statement that may not run twice."""
    duplicate = httpx.Response(409, json={"error": "Found duplicate key in index",
                                          "exception": "com.arcadedb.exception.DuplicatedKeyException"})
    expired = httpx.Response(404, json={"error": "Remote transaction session not found or expired"})
    conflict = httpx.Response(409, json={"error": "conflict",
                                         "exception": "com.arcadedb.exception.ConcurrentModificationException"})
    calls: list[httpx.Request] = []
    once: dict[str, httpx.Response] = {}  # path suffix -> the answer the next request there gets

    def handler(request: httpx.Request, n: int) -> httpx.Response:
        for suffix, response in list(once.items()):
            if request.url.path.endswith(suffix):
                del once[suffix]
                return response
        if "/begin/" in request.url.path:
            return httpx.Response(204, headers={"arcadedb-session-id": "s1"})
        if "/commit/" in request.url.path or "/rollback/" in request.url.path:
            return httpx.Response(204)
        return httpx.Response(200, json=OK)

    db = _client(handler, calls)
    for suffix, failure in (("/commit/g", duplicate), ("/command/g", expired), ("/commit/g", conflict)):
        runs: list[int] = []
        once[suffix] = failure
        db.transactional(lambda tx: runs.append(1) or tx.cypher("CREATE (n:X {k: 1})"))  # noqa: B023
        assert len(runs) == 2, failure.json()

    calls.clear()
    once["/command/g"] = duplicate
    with pytest.raises(QueryError, match="duplicate key"):
        db.cypher("CREATE (n:X {k: 1})", idempotent=False)
    once["/query/g"] = expired
    with pytest.raises(QueryError, match="HTTP 404"):
        db.sql("SELECT 1 AS one")
    assert len(calls) == 2  # neither was sent again
    once["/command/g"] = conflict
    assert db.cypher("CREATE (n:X {k: 1})", idempotent=False) == [{"one": 1}] and len(calls) == 4


# --- cypher_rows / sql_rows: the plain-JSON read paths must send, retry and fail exactly as the driver's do ---
ROWS = {"result": [{"id": "c1", "cooc": ["a", "b"], "n": {"x": [1, 2]}}, {"id": "c2", "cooc": None}],
        "limit": 20000, "returned": 2, "truncated": False}


@pytest.mark.parametrize(("plain", "driver", "statement"), [("cypher_rows", "cypher", "MATCH (c) RETURN c"),
                                                           ("sql_rows", "sql", "SELECT id FROM Chunk")])
def test_plain_rows_send_what_the_driver_sends_and_return_the_same_rows(plain: str, driver: str,
                                                                        statement: str) -> None:
    calls: list[httpx.Request] = []
    db = _client(lambda request, n: httpx.Response(200, json=ROWS), calls)
    for params in ({"ids": ["c1", "c2"]}, None, {}):
        assert getattr(db, plain)(statement, params) == getattr(db, driver)(statement, params)
        raw, sent = calls[-2], calls[-1]
        assert (raw.method, raw.url, json.loads(raw.content)) == (sent.method, sent.url, json.loads(sent.content))
        assert raw.headers["authorization"] == sent.headers["authorization"]
        assert raw.headers["content-type"] == sent.headers["content-type"] == "application/json"


@pytest.mark.parametrize("method", ["cypher", "cypher_rows", "sql", "sql_rows"])
def test_plain_rows_retry_and_map_errors_as_the_driver_does(method: str) -> None:
    def run(*answers: httpx.Response) -> tuple[list[dict[str, object]] | BaseException, int]:
        calls: list[httpx.Request] = []
        db = _client(lambda request, n: answers[min(n, len(answers)) - 1], calls)
        try:
            return getattr(db, method)("MATCH (c) RETURN c"), len(calls)
        except Exception as exc:  # compared below
            return exc, len(calls)

    busy = httpx.Response(503, json={"error": "busy", "exception": "x.NeedRetryException"})
    conflict = httpx.Response(409, json={"error": "conflict",
                                         "exception": "com.arcadedb.exception.ConcurrentModificationException"})
    assert run(busy, conflict, httpx.Response(200, json=ROWS)) == (ROWS["result"], 3)
    error, sent = run(httpx.Response(400, json={"error": "Cannot execute command", "detail": "syntax error"}))
    assert isinstance(error, QueryError) and error.status == 400 and "syntax error" in str(error) and sent == 1
    error, sent = run(httpx.Response(401, json={"error": "no"}))
    assert isinstance(error, QueryError) and "credentials" in str(error) and sent == 1
    error, sent = run(httpx.Response(413, json={"error": "too large"}))
    assert isinstance(error, TruncatedResultError) and sent == 1
    error, _ = run(httpx.Response(200, json={**ROWS, "truncated": True}))
    assert isinstance(error, TruncatedResultError)
    error, sent = run(httpx.Response(503, text="not json"))
    assert isinstance(error, DatabaseUnavailableError) and "kept refusing (HTTP 503)" in str(error)
    assert sent == FAST.attempts
    error, _ = run(httpx.Response(200, json={"result": {"vertices": [], "edges": []}, "limit": 1, "returned": 0,
                                             "truncated": False}))
    assert isinstance(error, QueryError) and error.status == 200


def test_plain_rows_send_a_numpy_vector_as_its_own_floats_and_read_what_json_reads() -> None:
    """A question's vector goes as the array it is, each float32 in its shortest form (what the server
    reads back is the same float32); an answer orjson alone refuses (NaN, a 70-bit integer) still
    parses as `json` parses it."""
    import numpy as np

    vector = np.random.default_rng(3).normal(size=384).astype(np.float32)
    calls: list[httpx.Request] = []
    answer = b'{"result": [{"d": NaN, "big": 1180591620717411303424}], "limit": 1, "returned": 1, "truncated": false}'
    db = _client(lambda request, n: httpx.Response(200, content=answer), calls)
    rows = db.sql_rows("SELECT 1", {"q": vector, "k": 5})
    sent = json.loads(calls[-1].content)["params"]
    assert np.array_equal(np.asarray(sent["q"], dtype=np.float32), vector) and sent["k"] == 5
    assert len(calls[-1].content) < len(json.dumps({"q": vector.tolist()}))
    assert rows[0]["big"] == 2 ** 70 and rows[0]["d"] != rows[0]["d"]  # NaN


def test_cypher_rows_refuses_an_answer_that_does_not_say_whether_it_was_truncated() -> None:
    with pytest.raises(QueryError):
        _client(lambda request, n: httpx.Response(200, json={"result": []}), []).cypher_rows("MATCH (c) RETURN c")


def test_cypher_rows_timeouts_follow_idempotence() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request, n: int) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(DatabaseUnavailableError, match="not retried"):
        _client(handler, calls).cypher_rows("CREATE (n:X)", idempotent=False)
    assert len(calls) == 1
    calls.clear()
    with pytest.raises(DatabaseUnavailableError):
        _client(handler, calls).cypher_rows("MATCH (n) RETURN n")
    assert len(calls) == FAST.attempts
