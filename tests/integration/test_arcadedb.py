"""The access layer against a real server: parameters, vector search, typed errors, retries."""

from __future__ import annotations

import time

import pytest

from graphrag.arcadedb import ArcadeDB, RetryPolicy
from graphrag.embedded import EmbeddedServer
from graphrag.errors import DatabaseUnavailableError, QueryError

NASTY = "O'Brien \"quoted\" \\back\\slash\\ `tick` $param :name } ) MATCH (n) DETACH DELETE n RETURN 1 //--"


def test_cypher_parameters_round_trip_hostile_text(db: ArcadeDB) -> None:
    db.cypher("CREATE (e:Entity {key: $key, name: $name})", {"key": "nasty-1", "name": NASTY})
    rows = db.cypher("MATCH (e:Entity {key: $key}) RETURN e.name AS name", {"key": "nasty-1"})
    assert rows == [{"name": NASTY}]
    # The text was data, not code: nothing else was deleted or created.
    assert db.cypher("MATCH (e:Entity) WHERE e.name = $n RETURN count(e) AS c", {"n": NASTY}) == [{"c": 1}]


def test_sql_parameters_are_plain_data(db: ArcadeDB) -> None:
    rows = db.sql("SELECT name FROM Entity WHERE name = :n", {"n": NASTY})
    assert [r["name"] for r in rows] == [NASTY]


def test_vector_neighbors_finds_cypher_written_vectors_in_distance_order(db: ArcadeDB) -> None:
    def unit(i: int) -> list[float]:
        v = [0.0] * 384
        v[0], v[1] = 1.0, i / 10.0
        norm = (1 + (i / 10.0) ** 2) ** 0.5
        return [x / norm for x in v]

    rows = [{"id": f"vec-{i}", "embedding": unit(i)} for i in range(8)]
    db.cypher("UNWIND $rows AS r CREATE (c:Chunk {id: r.id, text: 'v'}) SET c.embedding = r.embedding",
              {"rows": rows})
    hits = db.sql("SELECT id, distance FROM (SELECT expand(vectorNeighbors('Chunk[embedding]', :q, 5)))",
                  {"q": unit(0)})
    assert [h["id"] for h in hits] == ["vec-0", "vec-1", "vec-2", "vec-3", "vec-4"]
    distances = [h["distance"] for h in hits]
    assert distances == sorted(distances) and distances[0] == pytest.approx(0.0, abs=1e-4)


def test_the_server_computes_vector_distances_with_simd(server: EmbeddedServer) -> None:
    """The JVM loaded its SIMD module (as ArcadeDB's own launcher has it load): it says so once, at start.
    Without it the vector index's distances run scalar, and a question costs the database a quarter
    more CPU (`graphrag/embedded.py`)."""
    assert "Using incubator modules: jdk.incubator.vector" in server.log_file.read_text(errors="replace")


def test_rejected_statement_is_a_query_error_with_the_server_message(db: ArcadeDB) -> None:
    with pytest.raises(QueryError) as info:
        db.sql("SELEC name FRM Entity")
    assert info.value.status == 400 and "syntax" in str(info.value).lower()
    with pytest.raises(QueryError, match="NoSuchType"):
        db.sql("SELECT FROM NoSuchType")


PLAIN_READS = [  # (plain path, the driver's path, its key, a read of that key, a statement that fails to parse)
    ("cypher_rows", "cypher", "rows-1",
     "MATCH (e:Entity) WHERE e.key IN $keys "
     "RETURN e.key AS key, e.name AS name, [e.key, [1, 2.5, null]] AS nested, {a: e.name} AS map",
     "MATCH (e:Entity RETURN e"),
    ("sql_rows", "sql", "sql-rows-1", "SELECT key, name, [key, 2.5] AS nested FROM Entity WHERE key IN :keys",
     "SELEC name FRM Entity"),
]


@pytest.mark.parametrize(("plain", "driver", "key", "statement", "broken"), PLAIN_READS)
def test_plain_rows_read_what_the_driver_reads_and_fail_as_it_does(db: ArcadeDB, plain: str, driver: str, key: str,
                                                                   statement: str, broken: str) -> None:
    db.cypher("CREATE (e:Entity {key: $key, name: $name})", {"key": key, "name": NASTY})
    params = {"keys": [key, "absent"]}
    rows = getattr(db, plain)(statement, params)
    assert rows == getattr(db, driver)(statement, params) and rows[0]["name"] == NASTY
    with pytest.raises(QueryError) as info:
        getattr(db, plain)(broken)
    with pytest.raises(QueryError) as same:
        getattr(db, driver)(broken)
    assert (info.value.status, str(info.value)) == (same.value.status, str(same.value))


def test_wrong_dimension_is_refused(db: ArcadeDB) -> None:
    with pytest.raises(QueryError, match="dimension"):
        db.cypher("CREATE (c:Chunk {id: 'short'}) SET c.embedding = $v", {"v": [1.0, 2.0]})


def test_stopped_server_gives_unreachable_error_after_bounded_retries(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import free_port

    srv = EmbeddedServer(tmp_path, free_port(), "pw-" + "x" * 12, "graphrag", heap="512m")
    srv.start(timeout=120)
    client = ArcadeDB(srv.url, "graphrag", "root", srv.password, timeout=5,
                      retry=RetryPolicy(attempts=4, max_seconds=10, initial_wait=0.1, max_wait=0.5))
    assert client.sql("SELECT 1 AS one") == [{"one": 1}]
    srv.stop()
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailableError, match="unreachable"):
        client.sql("SELECT 1 AS one")
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"retries were not bounded: {elapsed:.1f}s"
    assert elapsed > 0.2, "no backoff happened between attempts"
