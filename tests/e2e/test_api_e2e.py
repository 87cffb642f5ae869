"""The service end to end over HTTP: real ingestion, retrieval, answering and ArcadeDB."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.deps import Components
from api.main import create_app
from api.server import SAMPLE_CORPUS
from graphrag.answer import NOTHING_FITS
from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from graphrag.embedded import EmbeddedServer
from tests.e2e.conftest import MAX_BODY, app_settings, auth, uploaded_id, wait_for

QUESTION = "Which river flows through the city where Marie Curie was born?"


@pytest.fixture(scope="module")
def corpus(client: TestClient, keys: dict[str, str]) -> dict[str, Any]:
    """The sample corpus, uploaded as multipart through the synchronous document endpoint."""
    files = [("files", (p.name, p.read_bytes(), "text/markdown")) for p in sorted(SAMPLE_CORPUS.glob("*.md"))]
    response = client.post("/v1/documents", files=files, headers=auth(keys["admin"]))
    assert response.status_code == 201, response.text
    return response.json()


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_uploaded_documents_are_listed_and_readable(client: TestClient, keys: dict[str, str],
                                                    corpus: dict[str, Any]) -> None:
    assert corpus["summary"]["documents"] == 6 and corpus["summary"]["chunks"] >= 6
    assert len(corpus["documents"]) == 6
    page = client.get("/v1/documents", params={"limit": 4}, headers=auth(keys["read"])).json()
    assert page["total"] >= 6 and len(page["items"]) == 4
    rest = client.get("/v1/documents", params={"offset": 4, "limit": 50}, headers=auth(keys["read"])).json()
    assert not {d["id"] for d in page["items"]} & {d["id"] for d in rest["items"]}
    one = corpus["documents"][0]
    got = client.get(f"/v1/documents/{one['id']}", headers=auth(keys["read"]))
    assert got.status_code == 200 and got.json()["title"] == one["title"]
    assert client.get("/v1/documents/no-such-doc", headers=auth(keys["read"])).status_code == 404


def test_ask_cites_chunks_that_are_stored(client: TestClient, keys: dict[str, str], corpus: dict[str, Any],
                                          e2e_db: ArcadeDB) -> None:
    response = client.post("/v1/ask", json={"question": QUESTION, "top_k": 4}, headers=auth(keys["read"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] in ("llm", "extractive") and body["answer"]
    assert body["citations"], body
    for citation in body["citations"]:
        rows = e2e_db.cypher("MATCH (c:Chunk {id: $id}) RETURN c.document_id AS doc, c.text AS text",
                             {"id": citation["chunk_id"]})
        assert rows and rows[0]["doc"] == citation["document_id"]
    assert {"retrieve", "answer", "total"} <= set(body["timings_ms"])
    assert any("Warsaw" in c["title"] or "Curie" in c["title"] for c in body["citations"])


def test_retrieve_returns_the_context_without_an_answer(client: TestClient, keys: dict[str, str],
                                                         corpus: dict[str, Any]) -> None:
    body = client.post("/v1/retrieve", json={"question": QUESTION, "top_k": 3}, headers=auth(keys["read"])).json()
    assert "answer" not in body and 1 <= len(body["sources"]) <= 3
    assert {"Warsaw", "Marie Curie"} & {s["title"] for s in body["sources"]}


def test_stream_sends_sources_then_tokens_then_final(client: TestClient, keys: dict[str, str],
                                                    corpus: dict[str, Any]) -> None:
    with client.stream("POST", "/v1/ask", json={"question": QUESTION, "stream": True},
                       headers=auth(keys["read"])) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _events(response.read().decode())
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "sources" and kinds[-1] == "final" and "token" in kinds
    assert set(kinds[1:-1]) == {"token"}
    final = events[-1][1]
    assert final["citations"] and "total" in final["timings_ms"]
    streamed = "".join(data["text"] for kind, data in events if kind == "token")
    assert streamed.strip() == final["answer"].strip()
    source_chunks = {s["chunk_id"] for s in events[0][1]["sources"]}
    assert {c["chunk_id"] for c in final["citations"]} <= source_chunks


UNRELATED = "What is the boiling point of Zorblax at sea level?"


def test_a_question_nothing_answers_says_so_and_lists_the_closest_passages(
        client: TestClient, keys: dict[str, str], corpus: dict[str, Any]) -> None:
    """Before, it was "answered" with confident, cited sentences about the Curies; now every answer face
    says that nothing fits, and still shows where it looked."""
    read = auth(keys["read"])
    asked = client.post("/v1/ask", json={"question": UNRELATED}, headers=read).json()
    assert asked["answerable"] is False and asked["answer"].startswith(NOTHING_FITS), asked
    assert asked["relevance"] < Settings().answer_min_relevance
    assert asked["citations"] and "Extractive answer" not in asked["answer"]
    retrieved = client.post("/v1/retrieve", json={"question": UNRELATED}, headers=read).json()
    assert retrieved["answerable"] is False and retrieved["sources"]
    with client.stream("POST", "/v1/ask", json={"question": UNRELATED, "stream": True}, headers=read) as response:
        events = _events(response.read().decode())
    assert events[0][0] == "sources" and events[0][1]["answerable"] is False and events[0][1]["sources"]
    assert events[-1][0] == "final" and events[-1][1]["answerable"] is False


def test_the_demo_question_is_answerable_and_names_the_city_and_the_river(
        client: TestClient, keys: dict[str, str], corpus: dict[str, Any]) -> None:
    """The extractive answer follows the question's bridge: before, it joined a sentence about Marie
    Curie with "The city stands on the Vistula River" and never said which city."""
    body = client.post("/v1/ask", json={"question": QUESTION}, headers=auth(keys["read"])).json()
    assert body["answerable"] is True and body["relevance"] >= Settings().answer_min_relevance
    assert body["mode"] == "extractive"  # no LLM in these settings
    assert "Warsaw" in body["answer"] and "Vistula" in body["answer"], body["answer"]
    retrieved = client.post("/v1/retrieve", json={"question": QUESTION}, headers=auth(keys["read"])).json()
    assert retrieved["answerable"] is True and retrieved["relevance"] == body["relevance"]


def test_json_document_round_trip_and_delete(client: TestClient, keys: dict[str, str],
                                             e2e_db: ArcadeDB) -> None:
    doc = {"id": "note-1", "title": "Radium Institute",
           "text": "The Radium Institute in Paris was founded in 1909 by the Pasteur Institute and the "
                   "University of Paris. Marie Curie directed its physics and chemistry laboratory.",
           "metadata": {"lang": "en", "year": 1909}}
    created = client.post("/v1/documents", json=doc, headers=auth(keys["admin"]))
    assert created.status_code == 201, created.text
    assert [d["id"] for d in created.json()["documents"]] == ["note-1"]
    assert created.json()["documents"][0]["metadata"] == {"lang": "en", "year": 1909}
    fetched = client.get("/v1/documents/note-1", headers=auth(keys["read"]))
    assert fetched.status_code == 200 and fetched.json()["metadata"] == {"lang": "en", "year": 1909}
    assert client.delete("/v1/documents/note-1", headers=auth(keys["read"])).status_code == 403
    deleted = client.delete("/v1/documents/note-1", headers=auth(keys["admin"]))
    assert deleted.status_code == 200 and deleted.json() == {"id": "note-1", "deleted": True}
    assert client.get("/v1/documents/note-1", headers=auth(keys["read"])).status_code == 404
    assert e2e_db.cypher("MATCH (c:Chunk {document_id: 'note-1'}) RETURN count(c) AS n") == [{"n": 0}]
    assert client.delete("/v1/documents/note-1", headers=auth(keys["admin"])).status_code == 404


def test_deleted_document_is_never_retrieved(client: TestClient, keys: dict[str, str],
                                             corpus: dict[str, Any]) -> None:
    """Every request reads the graph from the database: a document added through the API is found by
    the very next request, and a deleted one is gone from the very next request."""
    doc = {"id": "note-2", "title": "Zelkova Observatory",
           "text": "The Zelkova Observatory stands on Mount Quarrin. Its first director was Odile Fenwright."}
    question = {"question": "Who was the first director of the Zelkova Observatory?", "top_k": 8}
    assert client.post("/v1/documents", json=doc, headers=auth(keys["admin"])).status_code == 201
    found = client.post("/v1/retrieve", json=question, headers=auth(keys["read"])).json()
    assert "note-2" in [s["document_id"] for s in found["sources"]]
    assert client.delete("/v1/documents/note-2", headers=auth(keys["admin"])).status_code == 200
    after = client.post("/v1/retrieve", json=question, headers=auth(keys["read"])).json()
    assert after["sources"] and "note-2" not in [s["document_id"] for s in after["sources"]]
    assert not any("Zelkova" in s["snippet"] for s in after["sources"])


def test_graph_neighbourhood_of_an_entity(client: TestClient, keys: dict[str, str], corpus: dict[str, Any]) -> None:
    response = client.get("/v1/graph/entities/warsaw", params={"hops": 2}, headers=auth(keys["read"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["nodes"][0]["key"] == "warsaw" and body["nodes"][0]["hops"] == 0
    keys_seen = {n["key"] for n in body["nodes"]}
    assert len(keys_seen) > 1 and all(e["source"] in keys_seen and e["target"] in keys_seen for e in body["edges"])
    assert client.get("/v1/graph/entities/no-such-entity-x", headers=auth(keys["read"])).status_code == 404
    assert client.get("/v1/graph/entities/warsaw", params={"hops": 3},
                      headers=auth(keys["read"])).status_code == 422


def test_missing_wrong_and_weak_keys(client: TestClient, keys: dict[str, str]) -> None:
    ask = {"question": QUESTION}
    missing = client.post("/v1/retrieve", json=ask)
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert client.post("/v1/retrieve", json=ask, headers=auth("grk_wrong")).status_code == 401
    assert client.get("/v1/documents", headers={"Authorization": f"Bearer {keys['read']}"}).status_code == 200
    weak = client.post("/v1/ingest/jobs", json={"paths": ["x"]}, headers=auth(keys["read"]))
    assert weak.status_code == 403 and weak.json()["error"]["code"] == "forbidden"


def test_oversized_body_is_413(client: TestClient, keys: dict[str, str]) -> None:
    big = {"title": "big", "text": "word " * (MAX_BODY // 4)}
    response = client.post("/v1/documents", json=big, headers=auth(keys["admin"]))
    assert response.status_code == 413 and response.headers["x-request-id"]


def test_invalid_input_is_422_with_field_messages(client: TestClient, keys: dict[str, str]) -> None:
    response = client.post("/v1/ask", json={"question": "", "top_k": 0}, headers=auth(keys["read"]))
    assert response.status_code == 422
    assert {f["field"] for f in response.json()["error"]["fields"]} == {"body.question", "body.top_k"}


def test_job_progress_survives_a_restart(client: TestClient, keys: dict[str, str], settings: Settings,
                                         components: Any, ingest_dir: Path) -> None:
    (ingest_dir / "batch").mkdir()
    for name, text in {"a.md": "# Kraków\nKraków lies on the Vistula river in southern Poland.",
                       "b.md": "# Toruń\nToruń is a city on the Vistula, birthplace of Nicolaus Copernicus.",
                       "c.txt": "Płock is one of the oldest cities in Poland, on the Vistula."}.items():
        (ingest_dir / "batch" / name).write_text(text, encoding="utf-8")
    created = client.post("/v1/ingest/jobs", json={"paths": ["batch"]}, headers=auth(keys["admin"]))
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    assert created.headers["location"] == f"/v1/ingest/jobs/{job_id}"

    def finished() -> dict[str, Any] | None:
        job = client.get(f"/v1/ingest/jobs/{job_id}", headers=auth(keys["admin"])).json()
        return job if job["state"] in ("succeeded", "failed") else None

    job = wait_for(finished)
    assert isinstance(job, dict) and job["state"] == "succeeded", job
    assert job["progress"] == {"done": 3, "total": 3, "fraction": 1.0}
    assert job["summary"]["documents"] == 3

    # A new service instance against the same database reads the same job.
    with TestClient(create_app(settings, components=components)) as restarted:
        again = restarted.get(f"/v1/ingest/jobs/{job_id}", headers=auth(keys["admin"]))
        assert again.status_code == 200 and again.json() == job
    assert client.get("/v1/ingest/jobs/job-unknown", headers=auth(keys["admin"])).status_code == 404


def test_upload_job_and_path_confinement(client: TestClient, keys: dict[str, str]) -> None:
    outside = client.post("/v1/ingest/jobs", json={"paths": ["../../etc/passwd"]}, headers=auth(keys["admin"]))
    assert outside.status_code == 403
    files = [("files", ("gdansk.md", b"# Gdansk\nGdansk is a port city where the Vistula meets the Baltic Sea.",
                        "text/markdown"))]
    created = client.post("/v1/ingest/jobs", files=files, headers=auth(keys["admin"]))
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    job = wait_for(lambda: (j := client.get(f"/v1/ingest/jobs/{job_id}", headers=auth(keys["admin"])).json())
                   ["state"] in ("succeeded", "failed") and j)
    assert isinstance(job, dict) and job["state"] == "succeeded" and job["progress"]["done"] == 1


def test_a_link_inside_the_ingest_folder_cannot_read_a_file_outside_it(
        client: TestClient, keys: dict[str, str], ingest_dir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.md"
    secret.write_text("# Vault\nThe vault code of Zbigniew Quarterback is 4417.", encoding="utf-8")
    (ingest_dir / "linked").mkdir()
    (ingest_dir / "linked" / "note.md").write_text("# Sopot\nSopot is a resort town on the Baltic.",
                                                   encoding="utf-8")
    (ingest_dir / "linked" / "vault.md").symlink_to(secret)
    created = client.post("/v1/ingest/jobs", json={"paths": ["linked"]}, headers=auth(keys["admin"]))
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    job = wait_for(lambda: (j := client.get(f"/v1/ingest/jobs/{job_id}", headers=auth(keys["admin"])).json())
                   ["state"] in ("succeeded", "failed") and j)
    assert isinstance(job, dict) and job["state"] == "succeeded", job
    assert job["progress"]["total"] == 1 and job["summary"]["documents"] == 1
    assert any(f.startswith("linked/vault.md: links to a file outside") for f in job["summary"]["failed"])
    found = client.post("/v1/retrieve", json={"question": "What is the vault code of Zbigniew Quarterback?"},
                        headers=auth(keys["read"])).json()
    assert found["sources"] and all("4417" not in source["snippet"] and source["title"] != "Vault"
                                   for source in found["sources"])


def test_health_readiness_and_metrics(client: TestClient, keys: dict[str, str], corpus: dict[str, Any]) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"], ready.text
    assert ready.json()["checks"]["vectors"] == {"ok": True, "detail": "both indexes answer"}
    client.post("/v1/retrieve", json={"question": QUESTION}, headers=auth(keys["read"]))
    assert client.get("/metrics").status_code == 401  # keys are required: metrics are closed by default
    text = client.get("/metrics", headers=auth(keys["read"])).text
    assert ('graphrag_http_request_duration_seconds_count{method="POST",route="/v1/retrieve",status="200",'
            'workspace="default"}') in text
    assert "graphrag_retrieval_duration_seconds_count" in text and "graphrag_ingest_documents_total" in text


def test_sample_corpus_path_exists() -> None:
    assert len(list(Path(SAMPLE_CORPUS).glob("*.md"))) == 6


def test_abandoned_job_is_adopted_and_resumed(settings: Settings, components: Any, keys: dict[str, str],
                                              e2e_db: ArcadeDB, ingest_dir: Path) -> None:
    """A job left `running` by a process that died (stale heartbeat) is picked up where it stopped."""
    (ingest_dir / "orphan").mkdir()
    files = []
    for name in ("one.md", "two.md"):
        path = ingest_dir / "orphan" / name
        path.write_text(f"# {name}\nGdynia is a port city on the Baltic coast, file {name}.", encoding="utf-8")
        files.append(str(path))
    e2e_db.cypher("CREATE (j:IngestJob {id: 'job-orphan', state: 'running', kind: 'paths', sources: $sources, "
                  "root: $root, total: 2, done: 1, owner: 'dead-process', heartbeat_at: 1.0, "
                  "created_at: '2026-01-01T00:00:00+00:00', updated_at: '2026-01-01T00:00:00+00:00'})",
                  {"sources": files, "root": str(ingest_dir.resolve())}, idempotent=False)
    with TestClient(create_app(settings.model_copy(update={"api_job_stale_s": 1.0}),
                               components=components)) as fresh:
        def finished() -> dict[str, Any] | None:
            job = fresh.get("/v1/ingest/jobs/job-orphan", headers=auth(keys["admin"])).json()
            return job if job["state"] in ("succeeded", "failed") else None

        job = wait_for(finished)
    assert isinstance(job, dict) and job["state"] == "succeeded" and job["progress"]["done"] == 2
    assert job["summary"]["documents"] == 1  # only the file after `done` was (re)ingested
    assert e2e_db.cypher("MATCH (d:Document {id: 'orphan/two.md'}) RETURN count(d) AS n") == [{"n": 1}]


def test_a_fresh_service_answers_at_once_and_sees_another_process_write(
        settings: Settings, components: Any, keys: dict[str, str], e2e_db: ArcadeDB, corpus: dict[str, Any],
        embedder: Any) -> None:
    """No copy of the graph is loaded at start-up: a new service instance answers its first request
    from the database, and a document another process writes meanwhile (here the ingestion pipeline
    on its own client) is found by the next request, with nothing to refresh or invalidate."""
    from graphrag.types import SourceDocument
    from ingestion.pipeline import IngestionPipeline

    with TestClient(create_app(settings, components=components)) as fresh:
        first = fresh.post("/v1/retrieve", json={"question": QUESTION}, headers=auth(keys["read"]))
        assert first.status_code == 200 and first.json()["sources"]
        other_process = ArcadeDB(settings.url, settings.db_name, "root", settings.password())
        report = IngestionPipeline(settings, other_process, embedder).run([SourceDocument(
            id="note-3", source="elsewhere", title="Varnholt Lighthouse",
            text="The Varnholt Lighthouse guards the Skerrow Strait. Its keeper was Ilse Marrowby.")])
        assert report.documents_new == 1
        question = {"question": "Who kept the Varnholt Lighthouse?", "top_k": 5}
        found = fresh.post("/v1/retrieve", json=question, headers=auth(keys["read"])).json()
        assert "note-3" in [s["document_id"] for s in found["sources"]]
        other_process.close()


def test_retrieve_and_ask_carry_the_evidence_graph(client: TestClient, keys: dict[str, str],
                                                   corpus: dict[str, Any]) -> None:
    """The web console draws `graph`: its passages are the sources, numbered alike, and every edge
    joins two of its nodes; the stream's sources event carries the same graph as the final event."""
    body = client.post("/v1/retrieve", json={"question": QUESTION, "top_k": 4}, headers=auth(keys["read"])).json()
    nodes = {n["id"]: n for n in body["graph"]["nodes"]}
    passages = {n["chunk_id"]: n["n"] for n in nodes.values() if n["kind"] == "passage" and n["n"] is not None}
    assert passages == {s["chunk_id"]: s["n"] for s in body["sources"]}
    assert any(n["kind"] == "seed" and n["key"] == "marie curie" for n in nodes.values())
    assert all(e["source"] in nodes and e["target"] in nodes for e in body["graph"]["edges"])
    entity = next(n for n in nodes.values() if n["kind"] in ("seed", "entity"))
    assert client.get(f"/v1/graph/entities/{entity['key']}", headers=auth(keys["read"])).status_code == 200
    with client.stream("POST", "/v1/ask", json={"question": QUESTION, "top_k": 4, "stream": True},
                       headers=auth(keys["read"])) as response:
        events = _events(response.read().decode())
    assert events[0][1]["graph"] == events[-1][1]["graph"] and events[0][1]["graph"]["nodes"]
    plain = client.post("/v1/ask", json={"question": QUESTION, "top_k": 4}, headers=auth(keys["read"])).json()
    assert {n["id"] for n in plain["graph"]["nodes"]} == set(nodes)


def test_documents_filter_and_one_documents_chunks_and_entities(client: TestClient, keys: dict[str, str],
                                                                corpus: dict[str, Any]) -> None:
    curies = {uploaded_id(SAMPLE_CORPUS / name): name for name in ("marie-curie.md", "pierre-curie.md",
                                                                    "irene-joliot-curie.md")}
    found = client.get("/v1/documents", params={"q": "CURIE"}, headers=auth(keys["read"])).json()
    assert {d["id"]: d["source"] for d in found["items"]} == curies
    assert found["total"] == 3
    # uploads have content ids: the file name (`source`) finds them too, the id still does
    by_name = client.get("/v1/documents", params={"q": "-Curie.MD"}, headers=auth(keys["read"])).json()
    assert {d["id"] for d in by_name["items"]} == set(curies) and by_name["total"] == 3
    irene = client.get("/v1/documents", params={"q": "joliot-curie.md"}, headers=auth(keys["read"])).json()
    assert [(d["source"], d["title"]) for d in irene["items"]] == [("irene-joliot-curie.md", "Irène Joliot-Curie")]
    some_id = next(iter(curies))
    by_id = client.get("/v1/documents", params={"q": some_id}, headers=auth(keys["read"])).json()
    assert [d["id"] for d in by_id["items"]] == [some_id]
    page = client.get("/v1/documents", params={"q": "curie", "limit": 2, "offset": 2}, headers=auth(keys["read"]))
    assert page.json()["total"] == 3 and len(page.json()["items"]) == 1
    assert client.get("/v1/documents", params={"q": "zzz-nothing"}, headers=auth(keys["read"])).json()["total"] == 0

    warsaw = uploaded_id(SAMPLE_CORPUS / "warsaw.md")
    plain = client.get(f"/v1/documents/{warsaw}", headers=auth(keys["read"])).json()
    assert (plain["id"], plain["title"], plain["source"]) == (warsaw, "Warsaw", "warsaw.md")
    assert plain["chunk_list"] is None and plain["entities"] is None
    doc = client.get(f"/v1/documents/{warsaw}", params={"include": "chunks"}, headers=auth(keys["read"])).json()
    assert len(doc["chunk_list"]) == doc["chunks"] and "Vistula" in doc["chunk_list"][0]["text"]
    keys_named = {e["key"] for e in doc["entities"]}
    assert {"warsaw", "vistula river"} & keys_named
    assert all(set(c["entities"]) <= keys_named for c in doc["chunk_list"])
    assert client.get(f"/v1/documents/{warsaw}", params={"include": "everything"},
                      headers=auth(keys["read"])).status_code == 422


def test_recent_jobs_are_listed_newest_first(client: TestClient, keys: dict[str, str]) -> None:
    files = [("files", (f"list-{i}.md", f"# Note {i}\nNote {i} is about the Baltic coast.".encode(), "text/markdown"))
             for i in range(2)]
    ids = [client.post("/v1/ingest/jobs", files=[f], headers=auth(keys["admin"])).json()["id"] for f in files]
    listed = client.get("/v1/ingest/jobs", params={"limit": 100}, headers=auth(keys["admin"]))
    assert listed.status_code == 200
    order = [j["id"] for j in listed.json()["items"]]
    assert order.index(ids[1]) < order.index(ids[0])
    assert client.get("/v1/ingest/jobs", headers=auth(keys["read"])).status_code == 403
    for job_id in ids:
        wait_for(lambda job_id=job_id: client.get(f"/v1/ingest/jobs/{job_id}", headers=auth(keys["admin"])).json()
                 ["state"] in ("succeeded", "failed"))


def test_readiness_waits_for_both_vector_indexes(make_db: Callable[..., ArcadeDB], server: EmbeddedServer,
                                                 tmp_path: Path) -> None:
    """A database whose entity vector index does not answer (here: it is gone) is not ready: questions
    would be ranked from the keyword fallback without the load balancer knowing."""
    db = make_db("novec")
    db.sql_command("DROP INDEX `Entity[embedding]`")
    settings = app_settings(server, db.database, tmp_path, api_keys_required=False)
    with TestClient(create_app(settings, components=Components()), raise_server_exceptions=False) as fresh:
        ready = fresh.get("/readyz")
    assert ready.status_code == 503
    vectors = ready.json()["checks"]["vectors"]
    assert not vectors["ok"] and "Entity vector index" in vectors["detail"], vectors
