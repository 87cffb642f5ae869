"""Migrations against a real server: idempotent, recorded, refuse drift, reset rebuilds exactly."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import pytest

from graphrag.arcadedb import ArcadeDB
from graphrag.errors import ChecksumMismatchError
from schema.runner import MigrationRunner


def _schema(db: ArcadeDB) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    types = sorted((t["name"], t["type"], *sorted(p["name"] + ":" + p["type"] for p in t["properties"]))
                   for t in db.sql("SELECT FROM schema:types"))
    indexes = sorted((i["typeName"], i["indexType"], ",".join(p[0] for p in i["properties"]), str(i["unique"]))
                     for i in db.sql("SELECT FROM schema:indexes"))
    return types, indexes


@pytest.fixture
def empty_db(make_db: Callable[..., ArcadeDB]) -> ArcadeDB:
    return make_db("schema", migrate=False)


def test_migrate_twice_is_a_no_op(empty_db: ArcadeDB) -> None:
    runner = MigrationRunner(empty_db, embedding_dim=384)
    assert runner.migrate() == [m.version for m in runner.migrations]
    before = _schema(empty_db)
    assert runner.migrate() == []
    assert _schema(empty_db) == before


def test_status_lists_every_version(empty_db: ArcadeDB) -> None:
    runner = MigrationRunner(empty_db, embedding_dim=384)
    assert [s.applied for s in runner.status()] == [False] * len(runner.migrations)
    runner.migrate()
    states = runner.status()
    assert [s.version for s in states] == list(range(1, runner.head + 1))
    assert all(s.applied and s.checksum_ok and s.applied_at for s in states)


def test_vector_indexes_take_the_configured_dimension(empty_db: ArcadeDB) -> None:
    MigrationRunner(empty_db, embedding_dim=384).migrate()
    vector = {(i["typeName"], i["dimensions"]) for t in empty_db.sql("SELECT FROM schema:types")
              for i in t.get("indexes", []) if i["type"] == "LSM_VECTOR"}
    assert vector == {("Chunk", 384), ("Entity", 384)}
    full_text = {i["name"] for i in empty_db.sql("SELECT FROM schema:indexes") if i["indexType"] == "FULL_TEXT"}
    assert {"Chunk[text]", "Entity[name]"} <= full_text


def test_changed_migration_is_refused(empty_db: ArcadeDB) -> None:
    MigrationRunner(empty_db, embedding_dim=384).migrate()
    with pytest.raises(ChecksumMismatchError, match="changed after it was applied"):
        MigrationRunner(empty_db, embedding_dim=768).migrate()


def test_a_database_migrated_with_a_former_text_is_still_accepted(empty_db: ArcadeDB) -> None:
    """v4 and v5 were edited to carry their own copies of what they imported; databases that recorded
    their first texts' checksums must not be refused (and a checksum of neither still is)."""
    runner = MigrationRunner(empty_db, embedding_dim=384)
    runner.migrate()
    set_checksum = "MATCH (m:SchemaMigration {version: $v}) SET m.checksum = $c"
    for migration in runner.migrations:
        for text in migration.former_texts():
            digest = hashlib.sha256(text.read_bytes())
            digest.update(json.dumps(runner.params, sort_keys=True).encode())
            empty_db.cypher(set_checksum, {"v": migration.version, "c": digest.hexdigest()})
    recorded = {r["v"]: r["c"] for r in empty_db.cypher("MATCH (m:SchemaMigration) RETURN m.version AS v, "
                                                       "m.checksum AS c")}
    assert {v for v in recorded if recorded[v] != runner.migrations[v - 1].checksum(runner.params)} == {4, 5}
    assert MigrationRunner(empty_db, embedding_dim=384).migrate() == []
    assert all(s.checksum_ok for s in MigrationRunner(empty_db, embedding_dim=384).status())
    empty_db.cypher(set_checksum, {"v": 5, "c": "0" * 64})
    with pytest.raises(ChecksumMismatchError, match="migration 5"):
        MigrationRunner(empty_db, embedding_dim=384).check()


def test_reset_then_migrate_rebuilds_exactly(empty_db: ArcadeDB) -> None:
    runner = MigrationRunner(empty_db, embedding_dim=384)
    runner.migrate()
    empty_db.cypher("CREATE (:Entity {key: 'k', name: 'n'})")
    before = _schema(empty_db)
    dropped = runner.reset()
    assert dropped.index("RELATED") < dropped.index("Entity")
    assert empty_db.sql("SELECT FROM schema:types") == []
    assert runner.migrate() == [m.version for m in runner.migrations]
    assert _schema(empty_db) == before
    assert empty_db.cypher("MATCH (e:Entity) RETURN count(e) AS c") == [{"c": 0}]


def test_v4_moves_co_occurrence_from_related_edges_onto_mentions(empty_db: ArcadeDB) -> None:
    """A database written before v4 (RELATED edges with evidence) keeps what they said: each mention
    gets its co-occurring keys, the edges go, and accented entities get their folded key."""
    old = MigrationRunner(empty_db, embedding_dim=384)
    old.migrations = old.migrations[:3]
    old.migrate()
    empty_db.cypher(
        "CREATE (c1:Chunk {id: 'c1'}), (c2:Chunk {id: 'c2'}), (a:Entity {key: 'aschenbrödel'}), "
        "(b:Entity {key: 'b'}), (x:Entity {key: 'x'}), (c1)-[:MENTIONS]->(a), (c1)-[:MENTIONS]->(b), "
        "(c2)-[:MENTIONS]->(a), (c2)-[:MENTIONS]->(x), (c2)-[:MENTIONS]->(b), "
        "(a)-[:RELATED {weight: 2, evidence: ['c1', 'c2']}]->(b), (a)-[:RELATED {weight: 1, evidence: ['c2']}]->(x)",
        idempotent=False)

    def cooc() -> set[tuple[str, str, tuple[str, ...]]]:
        rows = empty_db.cypher("MATCH (c:Chunk)-[m:MENTIONS]->(e:Entity) RETURN c.id AS c, e.key AS k, m.cooc AS o")
        return {(r["c"], r["k"], tuple(sorted(r["o"] or []))) for r in rows}

    assert MigrationRunner(empty_db, embedding_dim=384).migrate() == [4, 5, 6]
    assert cooc() == {("c1", "aschenbrödel", ("b",)), ("c1", "b", ("aschenbrödel",)),
                      ("c2", "aschenbrödel", ("b", "x")), ("c2", "b", ("aschenbrödel",)),
                      ("c2", "x", ("aschenbrödel",))}
    assert empty_db.cypher("MATCH ()-[r:RELATED]->() RETURN count(r) AS n") == [{"n": 0}]
    folded = empty_db.cypher("MATCH (e:Entity) WHERE e.folded IS NOT NULL RETURN e.key AS k, e.folded AS f")
    assert folded == [{"k": "aschenbrödel", "f": "aschenbrodel"}]
    from schema.versions import v0004_cooccurrence_on_mentions as v4

    v4.migrate_data(empty_db, {})  # a crash after the data moved but before the record: runs again
    assert cooc() == {("c1", "aschenbrödel", ("b",)), ("c1", "b", ("aschenbrödel",)),
                      ("c2", "aschenbrödel", ("b", "x")), ("c2", "b", ("aschenbrödel",)),
                      ("c2", "x", ("aschenbrödel",))}


def test_v5_counts_every_entitys_mentions(empty_db: ArcadeDB) -> None:
    old = MigrationRunner(empty_db, embedding_dim=384)
    old.migrations = old.migrations[:4]
    old.migrate()
    empty_db.cypher("CREATE (a:Entity {key: 'a'}), (b:Entity {key: 'b'}), (c1:Chunk {id: 'c1'}), "
                    "(c2:Chunk {id: 'c2'}), (c1)-[:MENTIONS]->(a), (c2)-[:MENTIONS]->(a), (c2)-[:MENTIONS]->(b)",
                    idempotent=False)
    assert MigrationRunner(empty_db, embedding_dim=384).migrate() == [5, 6]
    rows = empty_db.cypher("MATCH (e:Entity) RETURN e.key AS k, e.mentions AS n ORDER BY e.key")
    assert rows == [{"k": "a", "n": 2}, {"k": "b", "n": 1}]


def test_v6_makes_one_graph_epoch_and_a_reset_makes_another(empty_db: ArcadeDB) -> None:
    from graphrag.queries import GRAPH_FINGERPRINT
    from schema.versions import v0006_graph_changes as v6

    runner = MigrationRunner(empty_db, embedding_dim=384)
    runner.migrate()
    first = empty_db.sql(GRAPH_FINGERPRINT)
    assert len(first) == 1 and first[0]["changes"] == 0 and len(first[0]["epoch"]) == 32
    v6.migrate_data(empty_db, {})  # a crash between the data step and the record: runs again
    assert empty_db.sql(GRAPH_FINGERPRINT) == first
    runner.reset()
    runner.migrate()
    assert empty_db.sql(GRAPH_FINGERPRINT)[0]["epoch"] != first[0]["epoch"]
