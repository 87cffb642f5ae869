"""Ingestion against a real ArcadeDB server with the real models, on small data.

Each test builds its own database (`make_db`) so counts are exact and independent.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from graphrag.embeddings import SentenceTransformerEmbedder
from graphrag.store import GraphStore
from graphrag.types import SourceDocument
from ingestion.extraction import SpacyEntityExtractor
from ingestion.pipeline import EXIT_PARTIAL, IngestionConfig, IngestionPipeline
from tests.chaos.harness import document_count, wait_until

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "musique_sample.jsonl"  # 60 real passages (see tests/data/README.md)


@pytest.fixture(scope="session")
def extractor() -> SpacyEntityExtractor:
    return SpacyEntityExtractor()


@pytest.fixture()
def pipeline_for(server_settings: Settings, embedder: SentenceTransformerEmbedder, extractor: SpacyEntityExtractor,
                 make_db: Callable[..., ArcadeDB]) -> Callable[..., tuple[IngestionPipeline, ArcadeDB]]:
    def factory(db: ArcadeDB | None = None, **config: Any) -> tuple[IngestionPipeline, ArcadeDB]:
        db = db or make_db("ing")
        pipeline = IngestionPipeline(server_settings, db, embedder, extractor=extractor,
                                     config=IngestionConfig(**config))
        return pipeline, db

    return factory


def _corpus_lines(n: int, path: Path) -> Path:
    with CORPUS.open(encoding="utf-8") as handle:
        path.write_text("".join(next(handle) for _ in range(n)), encoding="utf-8")
    return path


def _docs() -> list[SourceDocument]:
    return [
        SourceDocument(id="a", source="t", title="Alpha Report",
                       text="Barack Obama met Angela Merkel in Berlin. The Acme Widget Factory sold anvils to Globex."),
        SourceDocument(id="b", source="t", title="Beta",
                       text="Angela Merkel visited Paris. Berlin and Paris are capitals."),
        SourceDocument(id="c", source="t", title="Gamma (film)",
                       text="Gamma is a film by Steven Spielberg. It was shot in Berlin with Tom Hanks."),
    ]


def _keys(db: ArcadeDB) -> set[str]:
    return {r["k"] for r in db.cypher("MATCH (e:Entity) RETURN e.key AS k")}


def _chunk_ids(db: ArcadeDB) -> set[str]:
    return {r["id"] for r in db.cypher("MATCH (c:Chunk) RETURN c.id AS id")}


def _counts_are_exact(db: ArcadeDB) -> bool:
    """`Entity.mentions` (kept by the writes) equals the entity's MENTIONS edges, for every entity."""
    rows = db.cypher("MATCH (e:Entity) OPTIONAL MATCH (c:Chunk)-[:MENTIONS]->(e) "
                     "RETURN e.key AS k, e.mentions AS stored, count(c) AS real")
    return bool(rows) and all(r["stored"] == r["real"] for r in rows)


def _evidence(db: ArcadeDB) -> set[str]:
    """Chunks whose mentions record a co-occurrence; each pair is on both entities' mentions."""
    rows = db.cypher("MATCH (c:Chunk)-[m:MENTIONS]->(e:Entity) RETURN c.id AS c, e.key AS k, m.cooc AS cooc")
    pairs = {(r["c"], r["k"], other) for r in rows for other in r["cooc"] or []}
    assert pairs and all((c, b, a) in pairs for c, a, b in pairs)
    assert db.cypher("MATCH ()-[r:RELATED]->() RETURN count(r) AS n")[0]["n"] == 0  # schema v4: none written
    return {c for c, _, _ in pairs}


def test_shared_corpus_lines_load_and_land_in_the_graph(pipeline_for, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pipeline, db = pipeline_for()
    report = pipeline.run([_corpus_lines(5, tmp_path / "corpus.jsonl")])
    assert (report.documents_new, report.documents_failed, report.exit_code) == (5, 0, 0)
    counts = GraphStore(db).counts()
    assert counts["Document"] == 5 and counts["Chunk"] == counts["HAS_CHUNK"] >= 5
    row = db.cypher("MATCH (d:Document {id: 'm0'})-[:HAS_CHUNK]->(c:Chunk) "
                    "RETURN d.title AS dt, c.title AS ct, c.text AS text, c.ordinal AS o")[0]
    assert row["dt"] == row["ct"] == "Journal of Mathematical Physics" and row["o"] == 0
    assert "journal of mathematical physics" in _keys(db)  # the title is an entity
    assert db.cypher("MATCH (e:Entity) WHERE e.embedding IS NULL RETURN count(e) AS n")[0]["n"] == 0
    # chunk vectors are title + text and searchable
    query = pipeline.embedder.embed(["Journal of Mathematical Physics\n" + row["text"]])[0].tolist()
    hits = db.sql("SELECT id, distance FROM (SELECT expand(vectorNeighbors('Chunk[embedding]', :q, 1)))", {"q": query})
    assert hits[0]["id"].startswith("m0#") and hits[0]["distance"] < 1e-3


def test_one_entity_named_100_ways_is_one_entity(pipeline_for) -> None:  # type: ignore[no-untyped-def]
    spellings = ["ACME Corp.", "acme corp", "ACME Corp's", "Acme Corp", "ACME CORP", "acme corp.", "Acme Corp’s",
                 "ACME  Corp", "ａｃｍｅ corp", "\"ACME Corp\""]
    docs = [SourceDocument(id=f"d{i}", source="t", title=spellings[i % len(spellings)],
                           text=f"Report number {i} about anvils and rockets.") for i in range(100)]
    pipeline, db = pipeline_for(documents_per_batch=100)
    report = pipeline.run(docs)
    assert report.documents_new == 100
    rows = db.cypher("MATCH (e:Entity) WHERE e.key = 'acme corp' RETURN count(e) AS n")
    assert rows[0]["n"] == 1
    assert db.cypher("MATCH (c:Chunk)-[:MENTIONS]->(e:Entity {key: 'acme corp'}) RETURN count(c) AS n")[0]["n"] == 100
    assert db.cypher("MATCH (e:Entity) WHERE e.key CONTAINS 'acme' RETURN count(e) AS n")[0]["n"] == 1


def test_reingest_is_a_no_op_and_changed_document_is_replaced(pipeline_for) -> None:  # type: ignore[no-untyped-def]
    pipeline, db = pipeline_for(documents_per_batch=2)
    store = GraphStore(db)
    docs = _docs()
    first = pipeline.run(docs)
    assert first.documents_new == 3
    before = store.counts()
    stamp = store.get_document("a")["ingested_at"]  # type: ignore[index]

    again = pipeline.run(docs)
    assert (again.documents_unchanged, again.documents_new, again.documents_replaced, again.chunks) == (3, 0, 0, 0)
    assert store.counts() == before
    assert store.get_document("a")["ingested_at"] == stamp  # type: ignore[index]

    old_chunks = {c for c in _chunk_ids(db) if c.startswith("a#")}
    assert "globex" in _keys(db)
    changed = docs[0].model_copy(update={"text": "Barack Obama met Olaf Scholz in Munich. Munich is in Bavaria."})
    report = pipeline.run([changed, docs[1], docs[2]])
    assert (report.documents_replaced, report.documents_unchanged) == (1, 2)
    chunks = _chunk_ids(db)
    assert not old_chunks & chunks
    assert store.get_document("a")["chunk_count"] == len([c for c in chunks if c.startswith("a#")])  # type: ignore[index]
    keys = _keys(db)
    assert {"olaf scholz", "munich", "barack obama"} <= keys
    assert "globex" not in keys  # only the old version named it
    assert "angela merkel" in keys  # still named by "b"
    assert not old_chunks & _evidence(db)
    assert _evidence(db) <= chunks
    assert store.counts()["Document"] == 3
    assert _counts_are_exact(db)


def test_delete_removes_exactly_what_only_that_document_contributed(pipeline_for) -> None:  # type: ignore[no-untyped-def]
    pipeline, db = pipeline_for()
    store = GraphStore(db)
    pipeline.run(_docs())
    b_chunks = {c for c in _chunk_ids(db) if c.startswith("b#")}
    keys_before = _keys(db)
    stats = store.delete_document("b")
    assert stats is not None and stats.stale_chunks_removed == len(b_chunks)
    assert store.get_document("b") is None
    assert not b_chunks & _chunk_ids(db)
    assert not b_chunks & _evidence(db)
    keys = _keys(db)
    assert keys_before - keys == {"beta", "paris"}  # named by "b" alone
    assert {"angela merkel", "berlin"} <= keys  # also named by "a" / "c"
    assert db.cypher("MATCH (c:Chunk) WHERE c.document_id = 'b' RETURN count(c) AS n")[0]["n"] == 0
    assert db.cypher("MATCH (e:Entity) WHERE NOT (e)<-[:MENTIONS]-() RETURN count(e) AS n")[0]["n"] == 0
    assert _counts_are_exact(db)
    assert store.delete_document("b") is None


def test_malformed_jsonl_line_is_reported_and_the_rest_ingested(pipeline_for, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "mixed.jsonl"
    good = [json.loads(line) for line in _corpus_lines(3, tmp_path / "c.jsonl").read_text().splitlines()]
    path.write_text("\n".join([json.dumps(good[0]), '{"id": "broken", "text": ', json.dumps(good[1]),
                               json.dumps(good[2])]) + "\n", encoding="utf-8")
    pipeline, db = pipeline_for()
    report = pipeline.run([path])
    assert (report.documents_new, report.documents_failed, report.exit_code) == (3, 1, EXIT_PARTIAL)
    assert report.failures[0].path == f"{path}:2" and "malformed JSON" in report.failures[0].reason
    assert GraphStore(db).counts()["Document"] == 3


def test_strict_stops_at_the_first_bad_input(pipeline_for, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "x", "text": \n', encoding="utf-8")
    pipeline, _ = pipeline_for(strict=True)
    report = pipeline.run([path])
    assert report.exit_code == 1 and report.aborted and "--strict" in report.aborted and report.abort_kind == "strict"


def test_transaction_is_all_or_nothing_and_invisible_until_commit(make_db) -> None:  # type: ignore[no-untyped-def]
    db = make_db("tx")

    def work(tx):  # type: ignore[no-untyped-def]
        tx.cypher("CREATE (e:Entity {key: 'tx-1', name: 'x'})")
        assert db.cypher("MATCH (e:Entity {key: 'tx-1'}) RETURN count(e) AS n")[0]["n"] == 0  # outside: unseen
        assert tx.cypher("MATCH (e:Entity {key: 'tx-1'}) RETURN count(e) AS n")[0]["n"] == 1
        raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        db.transactional(work)
    assert db.cypher("MATCH (e:Entity {key: 'tx-1'}) RETURN count(e) AS n")[0]["n"] == 0
    db.transactional(lambda tx: tx.cypher("CREATE (e:Entity {key: 'tx-2', name: 'y'})"))
    assert db.cypher("MATCH (e:Entity {key: 'tx-2'}) RETURN count(e) AS n")[0]["n"] == 1


def _snapshot(db: ArcadeDB) -> dict[str, Any]:
    mentions = db.cypher("MATCH (c:Chunk)-[m:MENTIONS]->(e:Entity) RETURN c.id AS c, e.key AS k, m.cooc AS cooc")
    return {"counts": GraphStore(db).counts(), "chunks": _chunk_ids(db), "keys": _keys(db),
            "mentions": sorted((r["c"], r["k"], tuple(sorted(r["cooc"] or []))) for r in mentions)}


def test_job_killed_mid_run_and_rerun_equals_a_clean_run(pipeline_for, make_db, server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    corpus = _corpus_lines(48, tmp_path / "corpus.jsonl")
    clean_pipeline, clean_db = pipeline_for(documents_per_batch=4)
    clean_pipeline.run([corpus])

    db = make_db("kill")
    env = {**os.environ, "GRAPHRAG_DB_URL": server.url, "GRAPHRAG_DB_PASSWORD": server.password,
           "GRAPHRAG_DB_NAME": db.database, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "cli", "ingest", str(corpus), "--documents-per-batch", "4", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed_at = None
    if wait_until(proc, lambda: document_count(db) >= 8, timeout=300):  # two batches committed, more on the way
        proc.send_signal(signal.SIGKILL)  # kill it mid-job
        killed_at = document_count(db)
    proc.wait(timeout=30)
    assert killed_at is not None and killed_at < 48, "the job ended before it could be killed"

    rerun = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert _snapshot(db) == _snapshot(clean_db)


def test_documents_cli_lists_shows_and_deletes(pipeline_for, server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from cli.main import app

    pipeline, db = pipeline_for()
    pipeline.run(_docs())
    password_file = tmp_path / "db-password"
    password_file.write_text(server.password + "\n", encoding="utf-8")
    flags = ["--db-url", server.url, "--db-password-file", str(password_file), "--db-name", db.database]
    runner = CliRunner()
    listed = runner.invoke(app, [*flags, "documents", "list"])
    assert listed.exit_code == 0 and "Alpha Report" in listed.output
    shown = runner.invoke(app, [*flags, "documents", "show", "c"])
    assert shown.exit_code == 0 and "Gamma (film)" in shown.output
    deleted = runner.invoke(app, [*flags, "documents", "delete", "c"])
    assert deleted.exit_code == 0 and "deleted c" in deleted.output
    assert GraphStore(db).get_document("c") is None
    missing = runner.invoke(app, [*flags, "documents", "delete", "c"])
    assert missing.exit_code == 4


def test_two_writers_creating_the_same_entities_at_once_both_succeed(make_db, server) -> None:  # type: ignore[no-untyped-def]
    """Writes read which entities exist and create the others: two writers racing on the same new
    keys collide on the unique index, and the loser's transaction is replayed (it then finds the
    winner's entity). Nothing is lost, nothing is duplicated, the counts are exact."""
    import threading

    from graphrag.arcadedb import ArcadeDB as Client
    from graphrag.store import ChunkRecord, DocumentRecord, EntityRecord, GraphBatch, MentionRecord

    db = make_db("race")
    rounds = 12
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def batch(writer: int, r: int) -> GraphBatch:
        doc, chunk = f"w{writer}-r{r}", f"w{writer}-r{r}#0"
        keys = [f"shared {r} {k}" for k in range(5)]  # the same five new keys for both writers
        return GraphBatch(documents=[DocumentRecord(doc, "t", doc, doc, 1)],
                          chunks=[ChunkRecord(chunk, doc, 0, doc, "text", 0, 4, None)],  # type: ignore[arg-type]
                          entities=[EntityRecord(k, k.title(), "ORG") for k in keys],
                          mentions=[MentionRecord(chunk, k) for k in keys])

    def write(writer: int) -> None:
        store = GraphStore(Client(server.url, db.database, "root", server.password))
        try:
            for r in range(rounds):
                barrier.wait(timeout=60)
                store.write_batch(batch(writer, r))
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=write, args=(w,)) for w in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    assert db.cypher("MATCH (e:Entity) RETURN count(e) AS n")[0]["n"] == rounds * 5
    assert db.cypher("MATCH (d:Document) RETURN count(d) AS n")[0]["n"] == rounds * 2
    assert _counts_are_exact(db)
    assert all(r["n"] == 2 for r in db.cypher("MATCH (e:Entity) RETURN e.mentions AS n"))


def test_jobs_that_both_started_on_an_empty_graph_link_each_others_entities(
        pipeline_for, make_db, server_settings, embedder) -> None:  # type: ignore[no-untyped-def]
    """Issue 11 item 4: two jobs that start on an empty graph both link SAME_AS in memory, among
    their own entities. Job B starts, then job A runs to the end before B embeds anything: B's
    "Zurich" must still be linked to A's "Zürich" (one embedding: the model strips accents).
    Before, the link was missing, and no re-run added it (both entities were marked linked)."""
    import threading

    class HeldEmbedder:
        """The real embedder; its first call waits until `release` is set."""

        def __init__(self) -> None:
            self.called = threading.Event()
            self.release = threading.Event()
            self.dimension = embedder.dimension

        def __getattr__(self, name: str) -> Any:
            return getattr(embedder, name)

        def embed(self, texts: list[str]) -> Any:
            self.called.set()
            assert self.release.wait(timeout=300)
            return embedder.embed(texts)

    db = make_db("sameas")
    held = HeldEmbedder()
    job_b = IngestionPipeline(server_settings, db, held, config=IngestionConfig())  # type: ignore[arg-type]
    job_a, _ = pipeline_for(db)
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(report=job_b.run([SourceDocument(
        id="b", source="t", title="Trams", text="Tram lines run through Zurich and Basel every day.")])))
    thread.start()
    try:
        assert held.called.wait(timeout=300)  # B has started (on an empty graph) and waits to embed
        report_a = job_a.run([SourceDocument(id="a", source="t", title="Lakes",
                                             text="The lake beside Zürich is clean enough to swim in.")])
        assert report_a.exit_code == 0
    finally:
        held.release.set()
        thread.join(timeout=300)
    assert result["report"].exit_code == 0
    keys = _keys(db)
    assert {"zurich", "zürich"} <= keys
    rows = db.cypher("MATCH (a:Entity)-[s:SAME_AS]->(b:Entity) RETURN a.key AS a, b.key AS b, s.similarity AS s")
    assert {(r["a"], r["b"]) for r in rows} >= {("zurich", "zürich")}, rows


def _entities_and_links(db: ArcadeDB) -> tuple[dict[str, tuple[Any, ...]], list[tuple[str, str, float]]]:
    entities = db.cypher("MATCH (e:Entity) RETURN e.key AS k, e.name AS name, e.type AS type, e.mentions AS m, "
                         "e.embedding IS NOT NULL AS vec, e.linked AS linked")
    links = db.cypher("MATCH (a:Entity)-[s:SAME_AS]->(b:Entity) RETURN a.key AS a, b.key AS b, s.similarity AS s")
    return ({r["k"]: (r["name"], r["type"], r["m"], bool(r["vec"]), bool(r["linked"])) for r in entities},
            sorted((r["a"], r["b"], round(float(r["s"]), 4)) for r in links))


def test_entity_names_types_vectors_and_links_do_not_depend_on_the_order_of_jobs(pipeline_for) -> None:  # type: ignore[no-untyped-def]
    """Issue 11 item 4: documents A and B name the same entities in different spellings. A then B,
    B then A (one job each, so the second job renames what the first wrote) and both in one job end
    with the same name, type, vector, mention count, `linked` mark and SAME_AS edges for every
    entity: the spelling first in `spelling_rank`, whichever was written first."""
    a = SourceDocument(id="a", source="t", title="Initech Ltd.",
                       text="Initech Ltd. builds printers in Zürich. Engineers at Initech Ltd. like Café Müller.")
    b = SourceDocument(id="b", source="t", title="INITECH Ltd",
                       text="INITECH Ltd opened a second site near Zurich. Its staff eat at CAFÉ MÜLLER.")
    graphs = []
    for jobs in ([[a], [b]], [[b], [a]], [[a, b]]):
        pipeline, db = pipeline_for()
        for docs in jobs:
            assert pipeline.run(docs).exit_code == 0
        graphs.append(_entities_and_links(db))
    entities, links = graphs[0]
    assert entities["initech ltd"][0] == "INITECH Ltd" and entities["initech ltd"][2] == 2  # the shortest
    assert ("zurich", "zürich") in {(x, y) for x, y, _ in links}
    assert all(e[3] and e[4] for e in entities.values())  # every entity has a vector and was linked
    for other in graphs[1:]:
        assert other[0] == entities
        assert [(x, y) for x, y, _ in other[1]] == [(x, y) for x, y, _ in links]
        assert all(abs(s - t) < 1e-3 for (_, _, s), (_, _, t) in zip(other[1], links, strict=True))
