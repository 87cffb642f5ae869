"""The access layer on several servers (`GRAPHRAG_DB_URLS`): where calls go, failover, and the HA answers
that must not be resent. Through httpx.MockTransport; tests/integration/test_db_failover.py does the same
against real servers."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from graphrag.arcadedb import ArcadeDB, AsyncArcadeDB, RetryPolicy, ServerList, leader_address
from graphrag.config import Settings
from graphrag.errors import QueryError, WriteCommittedError

FAST = RetryPolicy(attempts=4, max_seconds=5, initial_wait=0.01, max_wait=0.02)
OK = {"result": [{"one": 1}], "limit": 20000, "returned": 1, "truncated": False}
URLS = ["http://a.test:2480", "http://b.test:2480", "http://c.test:2480"]
COMMITTED_REMOTELY = {"error": "Transaction committed cluster-wide but the local apply failed - do not retry",
                      "exception": "com.arcadedb.exception.TransactionCommittedRemotelyException"}


class Cluster:
    """Three fake servers: which got which request, and which are down."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []  # (host, path)
        self.down: set[str] = set()
        self.answer: dict[str, httpx.Response] = {}  # path suffix -> a canned answer (once)

    def handler(self, request: httpx.Request) -> httpx.Response:
        host, path = request.url.host, request.url.path
        self.calls.append((host, path))
        if host in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        for suffix, response in list(self.answer.items()):
            if path.endswith(suffix):
                del self.answer[suffix]
                return response
        if "/begin/" in path:
            return httpx.Response(204, headers={"arcadedb-session-id": "s1"})
        if "/commit/" in path or "/rollback/" in path:
            return httpx.Response(204)
        return httpx.Response(200, json=OK)

    def client(self, *, cooldown: float = 60.0) -> ArcadeDB:
        db = ArcadeDB(URLS, "g", "root", "pw", retry=FAST, transport=httpx.MockTransport(self.handler))
        db.servers.cooldown_s = cooldown
        return db

    def hosts(self, kind: str) -> list[str]:
        return [h for h, p in self.calls if f"/{kind}/" in p]


def test_writes_go_to_one_server_and_reads_rotate_over_all() -> None:
    cluster = Cluster()
    db = cluster.client()
    for _ in range(3):
        db.cypher("MERGE (n:X {k: 1})")
        db.sql("SELECT 1 AS one")
    assert cluster.hosts("command") == ["a.test"] * 3
    assert sorted(cluster.hosts("query")) == ["a.test", "b.test", "c.test"]


def test_a_server_that_refuses_connections_is_passed_over_without_an_error() -> None:
    cluster = Cluster()
    db = cluster.client()
    cluster.down.add("a.test")
    assert db.cypher("MERGE (n:X {k: 1})") == [{"one": 1}]
    assert cluster.hosts("command") == ["a.test", "b.test"]
    cluster.calls.clear()
    for _ in range(4):  # a stays passed over for the cooldown: no more wasted attempts on it
        db.cypher("MERGE (n:X {k: 1})")
        db.sql("SELECT 1 AS one")
    assert "a.test" not in {h for h, _ in cluster.calls}
    assert cluster.hosts("command") == ["b.test"] * 4


def test_a_server_is_tried_again_after_its_cooldown() -> None:
    cluster = Cluster()
    db = cluster.client(cooldown=0.0)
    cluster.down.update({"a.test", "b.test"})
    db.cypher("MERGE (n:X {k: 1})")
    assert cluster.hosts("command") == ["a.test", "b.test", "c.test"]
    cluster.down.clear()
    cluster.down.add("c.test")
    cluster.calls.clear()
    db.cypher("MERGE (n:X {k: 1})")
    assert cluster.hosts("command") == ["c.test", "a.test"]


def test_committed_remotely_is_never_resent() -> None:
    cluster = Cluster()
    db = cluster.client()
    cluster.answer["/command/g"] = httpx.Response(409, json=COMMITTED_REMOTELY)
    with pytest.raises(WriteCommittedError, match="committed the write"):
        db.cypher("CREATE (n:X {k: 1})")
    assert cluster.hosts("command") == ["a.test"]  # not retried, not sent to another server


def test_a_transaction_committed_remotely_counts_as_committed() -> None:
    cluster = Cluster()
    db = cluster.client()
    cluster.answer["/commit/g"] = httpx.Response(409, json=COMMITTED_REMOTELY)
    runs: list[int] = []

    def work(tx) -> str:  # type: ignore[no-untyped-def]
        runs.append(1)
        tx.cypher("CREATE (n:X {k: 1})")
        return "done"

    assert db.transactional(work) == "done"
    assert len(runs) == 1 and len(cluster.hosts("commit")) == 1


def test_a_conflict_at_commit_replays_the_transaction() -> None:
    cluster = Cluster()
    db = cluster.client()
    cluster.answer["/commit/g"] = httpx.Response(409, json={
        "error": "conflict", "exception": "com.arcadedb.exception.ConcurrentModificationException"})
    runs: list[int] = []
    assert db.transactional(lambda tx: runs.append(1) or tx.cypher("MERGE (n:X {k: 1})")) == [{"one": 1}]
    assert len(runs) == 2 and len(cluster.hosts("commit")) == 2


def test_a_duplicate_key_is_a_conflict_in_a_transaction_and_an_error_in_a_statement() -> None:
    duplicate = {"error": "Found duplicate key in index",
                 "exception": "com.arcadedb.exception.DuplicatedKeyException"}
    cluster = Cluster()
    db = cluster.client()
    cluster.answer["/commit/g"] = httpx.Response(409, json=duplicate)
    runs: list[int] = []
    db.transactional(lambda tx: runs.append(1) or tx.cypher("CREATE (n:X {k: 1})"))
    assert len(runs) == 2  # another writer created the key first: the replay reads it
    cluster.answer["/command/g"] = httpx.Response(409, json=duplicate)
    cluster.calls.clear()
    with pytest.raises(QueryError, match="duplicate key"):
        db.cypher("CREATE (n:X {k: 1})")
    assert len(cluster.hosts("command")) == 1


def test_writes_follow_the_leader_the_cluster_names() -> None:
    cluster = Cluster()
    cluster.answer["/api/v1/server"] = httpx.Response(200, json={
        "version": "26.10.2", "ha": {"clusterName": "graphrag", "leader": "arcadedb-2",
                                     "leaderAddress": "b.test:2480"}})
    db = cluster.client()
    assert db.discover_leader() == "b.test:2480"
    db.cypher("MERGE (n:X {k: 1})")
    assert cluster.hosts("command") == ["b.test"]
    assert leader_address({"version": "x"}) is None


def test_server_list_never_runs_out_of_servers() -> None:
    servers = ServerList(URLS, cooldown_s=60)
    for index in range(3):
        servers.failed(index)
    assert servers.pick(write=True) == 0  # all down: the one that failed longest ago is tried
    with pytest.raises(ValueError):
        ServerList([])


def test_async_client_fails_over_too() -> None:
    cluster = Cluster()
    cluster.down.add("a.test")

    async def run() -> list[dict[str, int]]:
        db = AsyncArcadeDB(URLS, "g", "root", "pw", retry=FAST, transport=httpx.MockTransport(cluster.handler))
        try:
            return await db.cypher("MERGE (n:X {k: 1})")
        finally:
            await db.aclose()

    assert asyncio.run(run()) == [{"one": 1}]
    assert cluster.hosts("command") == ["a.test", "b.test"]


def test_db_urls_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHRAG_DB_URLS", "http://db-1:2480, http://db-2:2480/,http://db-3:2480")
    settings = Settings()
    assert settings.urls == ["http://db-1:2480", "http://db-2:2480", "http://db-3:2480"]
    assert settings.url == "http://db-1:2480" and not settings.embedded
    assert Settings(_env_file=None).to_env()["GRAPHRAG_DB_URLS"].startswith("[")
    monkeypatch.setenv("GRAPHRAG_DB_URLS", "db-1:2480")
    with pytest.raises(ValueError, match="not a server URL"):
        Settings()


def test_cypher_rows_fails_over_and_follows_the_writer_as_cypher_does() -> None:
    cluster = Cluster()
    db = cluster.client()
    cluster.down.add("a.test")
    assert db.cypher_rows("MATCH (n) RETURN 1 AS one") == [{"one": 1}]
    assert cluster.hosts("command") == ["a.test", "b.test"]
    cluster.calls.clear()
    db.cypher_rows("MATCH (n) RETURN 1 AS one")
    db.cypher("MATCH (n) RETURN 1 AS one")
    assert cluster.hosts("command") == ["b.test", "b.test"]
