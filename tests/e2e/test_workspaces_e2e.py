"""Workspaces end to end: two workspaces with different documents behind the real app, keys bound to
each, every data endpoint checked for reach, hundreds of interleaved requests checked for leaks, a
retrieval pinned to its workspace's database whatever the request says, and one workspace deleted
while the other keeps working."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.components import ComponentFactory
from api.keys import Scope, create_key, list_keys
from api.main import create_app
from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from graphrag.embedded import EmbeddedServer
from graphrag.embeddings import SentenceTransformerEmbedder
from schema.workspaces import database_name
from tests.e2e.conftest import app_settings, auth, live_server, wait_for
from tests.e2e.mcp_client import http_session

# Each workspace's documents share no rare word with the other's: a passage, entity or document
# of the other workspace in a response can only have come from the wrong database.
DOCS: dict[str, list[dict[str, str]]] = {
    "alpha": [
        {"id": "alpha-1", "title": "Zorvath Glacier", "text": "The Zorvath Glacier lies above the town of Quellmere. "
         "Quellmere was founded by the surveyor Ilsa Brandvik in 1821, who mapped the Zorvath Glacier."},
        {"id": "alpha-2", "title": "Ilsa Brandvik", "text": "Ilsa Brandvik was a surveyor born in Tromsvik. "
         "Ilsa Brandvik mapped the Zorvath Glacier and later taught at the Tromsvik Academy."},
    ],
    "beta": [
        {"id": "beta-1", "title": "Okonkwo Foundry", "text": "The Okonkwo Foundry stands in the port of Lagossa. "
         "It was built by the engineer Chidi Okafor, who cast the Lagossa Bell at the Okonkwo Foundry."},
        {"id": "beta-2", "title": "Chidi Okafor", "text": "Chidi Okafor was an engineer from Enuvale. "
         "Chidi Okafor built the Okonkwo Foundry and designed the Lagossa Bell."},
    ],
}
QUESTIONS = {"alpha": "Who mapped the glacier above the town founded in 1821?",
             "beta": "Which engineer cast the bell in the port city?"}
OWN_WORDS = {"alpha": ("zorvath", "quellmere", "brandvik", "tromsvik"),
             "beta": ("okonkwo", "lagossa", "okafor", "enuvale")}


@pytest.fixture(scope="module")
def ws_settings(server: EmbeddedServer, e2e_db: ArcadeDB, ingest_dir: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return app_settings(server, e2e_db.database, tmp_path_factory.mktemp("data"), api_allowed_ingest_dir=ingest_dir)


@pytest.fixture(scope="module")
def ws_keys(e2e_db: ArcadeDB) -> dict[str, str]:
    made = {"global": create_key(e2e_db, Scope.global_, "ws-global")[0],
            "default_admin": create_key(e2e_db, Scope.admin, "ws-default")[0],
            "both_read": create_key(e2e_db, Scope.read, "ws-both", ["alpha", "beta"])[0]}
    for ws in ("alpha", "beta"):
        made[f"{ws}_read"] = create_key(e2e_db, Scope.read, f"ws-{ws}-read", [ws])[0]
        made[f"{ws}_admin"] = create_key(e2e_db, Scope.admin, f"ws-{ws}-admin", [ws])[0]
    return made


@pytest.fixture(scope="module")
def ws_app(ws_settings: Settings, embedder: SentenceTransformerEmbedder) -> Any:
    return create_app(ws_settings, components=ComponentFactory(embedder=embedder))


@pytest.fixture(scope="module")
def ws_client(ws_app: Any, ws_keys: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(ws_app, raise_server_exceptions=False) as test_client:
        for ws in ("alpha", "beta"):
            created = test_client.post("/v1/workspaces", json={"name": ws}, headers=auth(ws_keys["global"]))
            assert created.status_code == 201, created.text
            for doc in DOCS[ws]:
                stored = test_client.post(f"/v1/workspaces/{ws}/documents", json=doc,
                                          headers=auth(ws_keys[f"{ws}_admin"]))
                assert stored.status_code == 201, stored.text
        yield test_client


def _other(ws: str) -> str:
    return "beta" if ws == "alpha" else "alpha"


def _leaks(ws: str, payload: Any) -> list[str]:
    """The other workspace's marker words found anywhere in a response body."""
    text = str(payload).lower()
    return [w for w in OWN_WORDS[_other(ws)] if w in text]


def test_workspaces_are_created_listed_and_names_checked(ws_client: TestClient, ws_keys: dict[str, str]) -> None:
    g = auth(ws_keys["global"])
    names = [w["name"] for w in ws_client.get("/v1/workspaces", headers=g).json()["items"]]
    assert names[0] == "default" and {"alpha", "beta"} <= set(names)
    assert ws_client.post("/v1/workspaces", json={"name": "alpha"}, headers=g).status_code == 409
    for bad in ("Alpha", "9lives", "a-b", "x" * 33, "", "../beta"):
        response = ws_client.post("/v1/workspaces", json={"name": bad}, headers=g)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["error"]["fields"][0]["field"] == "body.name"
    assert ws_client.get("/v1/workspaces/Not-A-Name/documents", headers=g).status_code == 422
    # only the global scope creates; an admin key of a workspace cannot
    assert ws_client.post("/v1/workspaces", json={"name": "gamma"},
                          headers=auth(ws_keys["alpha_admin"])).status_code == 403
    # a key lists only the workspaces it is bound to
    listed = ws_client.get("/v1/workspaces", headers=auth(ws_keys["alpha_read"])).json()
    assert [w["name"] for w in listed["items"]] == ["alpha"]
    assert listed["scope"] == "read"  # the console offers a read key no upload and no delete
    assert ws_client.get("/v1/workspaces", headers=auth(ws_keys["alpha_admin"])).json()["scope"] == "admin"
    one = ws_client.get("/v1/workspaces/alpha", headers=auth(ws_keys["alpha_read"])).json()
    assert one == {"name": "alpha", "documents": 2}


def _endpoints(ws: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every endpoint of a workspace, with a harmless request for each (the prefix-less paths are the
    default workspace's)."""
    base = "/v1" if ws == "default" else f"/v1/workspaces/{ws}"
    return [
        ("POST", f"{base}/retrieve", {"question": "Who mapped the glacier?"}),
        ("POST", f"{base}/ask", {"question": "Who mapped the glacier?"}),
        ("GET", f"{base}/documents", None),
        ("GET", f"{base}/documents/{ws}-1", None),
        ("DELETE", f"{base}/documents/no-such-document", None),
        ("POST", f"{base}/documents", {"title": "t", "text": "   "}),  # reached: 422 (blank text)
        ("GET", f"{base}/graph/entities/zorvath glacier", None),
        ("GET", f"{base}/ingest/jobs", None),
        ("GET", f"{base}/ingest/jobs/job-0000", None),
        ("POST", f"{base}/ingest/jobs", {"paths": []}),  # reached: 422 (no paths)
        ("POST", "/mcp" if ws == "default" else f"{base}/mcp",
         {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    ] + ([] if ws == "default" else [("GET", f"/v1/workspaces/{ws}", None),
                                      ("DELETE", f"/v1/workspaces/{ws}", {"confirm": "nope"})])


def _says_no_workspace(response: httpx.Response, ws: str) -> bool:
    return response.status_code == 404 and f"workspace {ws!r} does not exist" in response.text


def test_each_key_reaches_exactly_its_own_workspaces_on_every_endpoint(
        ws_client: TestClient, ws_keys: dict[str, str]) -> None:
    reach = {"alpha_read": {"alpha"}, "alpha_admin": {"alpha"}, "beta_read": {"beta"}, "beta_admin": {"beta"},
             "both_read": {"alpha", "beta"}, "default_admin": {"default"}, "global": {"default", "alpha", "beta"}}
    mcp_headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}
    checked = 0
    for key_name, reachable in reach.items():
        for ws in ("default", "alpha", "beta", "nosuch"):
            for method, path, body in _endpoints(ws):
                headers = {**auth(ws_keys[key_name]), **(mcp_headers if path.endswith("/mcp") else {})}
                response = ws_client.request(method, path, json=body, headers=headers)
                if ws in reachable:
                    # reached: the route's own answer (200s; 403 for a read key on a write; 404 for a
                    # missing document or job, never for the workspace)
                    assert not _says_no_workspace(response, ws), (key_name, method, path, response.text)
                    assert response.status_code < 500, (key_name, method, path, response.text)
                else:
                    # not bound (or no such workspace): the same 404, whatever the endpoint or scope
                    assert _says_no_workspace(response, ws), (key_name, method, path, response.status_code,
                                                              response.text)
                checked += 1
    assert checked > 250


def test_reads_in_each_workspace_see_only_its_own_data(ws_client: TestClient, ws_keys: dict[str, str]) -> None:
    for ws in ("alpha", "beta"):
        key = auth(ws_keys["both_read"])
        docs = ws_client.get(f"/v1/workspaces/{ws}/documents", headers=key).json()
        assert sorted(d["id"] for d in docs["items"]) == [f"{ws}-1", f"{ws}-2"]
        response = ws_client.post(f"/v1/workspaces/{ws}/retrieve", json={"question": QUESTIONS[ws], "top_k": 5},
                                  headers=key)
        assert response.status_code == 200, response.text
        found = response.json()
        assert found["sources"] and {p["document_id"] for p in found["sources"]} <= {f"{ws}-1", f"{ws}-2"}
        assert not _leaks(ws, found)
        # the other workspace's document and entity are "not found" here, not shown
        assert ws_client.get(f"/v1/workspaces/{ws}/documents/{_other(ws)}-1", headers=key).status_code == 404
        entity = "okonkwo foundry" if ws == "alpha" else "zorvath glacier"
        assert ws_client.get(f"/v1/workspaces/{ws}/graph/entities/{entity}", headers=key).status_code == 404
    # the default workspace holds none of them
    assert ws_client.get("/v1/documents", headers=auth(ws_keys["default_admin"])).json()["total"] == 0


def test_a_retrieval_runs_only_against_its_workspace_database(ws_client: TestClient, ws_app: Any,
                                                              ws_keys: dict[str, str], ws_settings: Settings) -> None:
    registry = ws_app.state.workspaces
    for ws in ("alpha", "beta"):
        parts = registry._parts[ws]
        assert parts.retriever.db.database == database_name(ws_settings, ws)
        assert parts.documents.store.db.database == database_name(ws_settings, ws)
        assert parts.ingestor.pipeline.db.database == database_name(ws_settings, ws)
    # what the workspaces share is the models, not data: one embedder, one tokenizer copy for counting
    # (a copy per workspace cost about 7 MB each), one retrieval model
    alpha, beta = registry._parts["alpha"], registry._parts["beta"]
    assert alpha.ingestor.pipeline.processor.chunker.count_tokens is \
        beta.ingestor.pipeline.processor.chunker.count_tokens
    assert alpha.retriever.embedder is beta.retriever.embedder and alpha.answerer is beta.answerer
    key = auth(ws_keys["global"])
    # whatever else the request says, the path decides: a body field, a header, a query parameter
    sneaky = ws_client.post("/v1/workspaces/alpha/retrieve?workspace=beta",
                            json={"question": QUESTIONS["beta"], "workspace": "beta"},
                            headers={**key, "X-Workspace": "beta", "X-Graphrag-Workspace": "beta"})
    assert sneaky.status_code in (200, 422), sneaky.text
    if sneaky.status_code == 200:
        assert not _leaks("alpha", sneaky.json())
    plain = ws_client.post("/v1/workspaces/alpha/retrieve", json={"question": QUESTIONS["beta"]},
                           headers={**key, "X-Workspace": "beta"})
    assert plain.status_code == 200 and not _leaks("alpha", plain.json())
    # encoded separators and dot segments do not walk out of the workspace
    for path in ("/v1/workspaces/alpha%2F..%2Fbeta/retrieve", "/v1/workspaces/alpha/..%2Fbeta/retrieve",
                 "/v1/workspaces/beta%00/retrieve"):
        response = ws_client.post(path, json={"question": QUESTIONS["beta"]}, headers=key)
        assert response.status_code in (404, 405, 422), (path, response.status_code)


def test_concurrent_mixed_workspace_requests_never_cross(ws_settings: Settings, ws_client: TestClient,
                                                         ws_keys: dict[str, str],
                                                         embedder: SentenceTransformerEmbedder) -> None:
    rng = random.Random(20261202)
    app = create_app(ws_settings, components=ComponentFactory(embedder=embedder))  # a second process's view
    with live_server(app) as url, httpx.Client(base_url=url, timeout=120) as http:
        def one(ws: str, kind: str) -> tuple[str, str, int, list[str]]:
            key = auth(ws_keys[rng.choice([f"{ws}_read", f"{ws}_admin", "both_read", "global"])])
            base = f"/v1/workspaces/{ws}"
            if kind == "retrieve":
                response = http.post(f"{base}/retrieve", json={"question": QUESTIONS[ws], "top_k": 5}, headers=key)
            elif kind == "ask":
                response = http.post(f"{base}/ask", json={"question": QUESTIONS[ws], "top_k": 3}, headers=key)
            elif kind == "documents":
                response = http.get(f"{base}/documents", headers=key)
            elif kind == "document":
                response = http.get(f"{base}/documents/{ws}-2", params={"include": "chunks"}, headers=key)
            elif kind == "graph":
                entity = "zorvath glacier" if ws == "alpha" else "okonkwo foundry"
                response = http.get(f"{base}/graph/entities/{entity}", params={"hops": 2}, headers=key)
            else:
                response = http.get(f"{base}/ingest/jobs", headers=auth(ws_keys["global"]))
            return ws, kind, response.status_code, _leaks(ws, response.json())

        kinds = ["retrieve", "ask", "documents", "document", "graph", "jobs"]
        plan = [(rng.choice(["alpha", "beta"]), rng.choice(kinds)) for _ in range(300)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda p: one(*p), plan))
    assert len(results) == 300 and {r[0] for r in results} == {"alpha", "beta"}
    assert [r for r in results if r[2] != 200] == []
    assert [r for r in results if r[3]] == []  # not one response carried the other workspace's words


def test_jobs_belong_to_their_workspace(ws_client: TestClient, ws_keys: dict[str, str], ingest_dir: Path) -> None:
    (ingest_dir / "alpha-note.md").write_text("# Quellmere harbour\n\nThe Quellmere harbour freezes each winter "
                                              "below the Zorvath Glacier.\n", encoding="utf-8")
    admin = auth(ws_keys["alpha_admin"])
    created = ws_client.post("/v1/workspaces/alpha/ingest/jobs", json={"paths": ["alpha-note.md"]}, headers=admin)
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    assert created.headers["Location"] == f"/v1/workspaces/alpha/ingest/jobs/{job_id}"

    def finished() -> dict[str, Any] | None:
        body = ws_client.get(f"/v1/workspaces/alpha/ingest/jobs/{job_id}", headers=admin).json()
        return body if body["state"] in ("succeeded", "failed") else None

    assert wait_for(finished)["state"] == "succeeded"  # type: ignore[index]
    g = auth(ws_keys["global"])
    assert ws_client.get(f"/v1/workspaces/beta/ingest/jobs/{job_id}", headers=g).status_code == 404
    assert ws_client.get(f"/v1/ingest/jobs/{job_id}", headers=g).status_code == 404
    assert job_id not in {j["id"] for j in ws_client.get("/v1/workspaces/beta/ingest/jobs", headers=g).json()["items"]}
    assert job_id in {j["id"] for j in ws_client.get("/v1/workspaces/alpha/ingest/jobs", headers=g).json()["items"]}
    docs = ws_client.get("/v1/workspaces/alpha/documents", headers=g).json()
    assert "alpha-note.md" in {d["id"] for d in docs["items"]}
    assert ws_client.get("/v1/workspaces/beta/documents/alpha-note.md", headers=g).status_code == 404


def test_mcp_tools_work_in_the_workspace_of_their_path(ws_settings: Settings, ws_client: TestClient,
                                                       ws_keys: dict[str, str],
                                                       embedder: SentenceTransformerEmbedder) -> None:
    with live_server(create_app(ws_settings, components=ComponentFactory(embedder=embedder))) as url:
        for ws in ("alpha", "beta"):
            with http_session(f"{url}/v1/workspaces/{ws}/mcp", ws_keys[f"{ws}_read"]) as mcp:
                listed = mcp.ok("list_documents")
                assert {d["id"] for d in listed["items"]} >= {f"{ws}-1", f"{ws}-2"}
                assert not _leaks(ws, listed)
                found = mcp.ok("retrieve", {"question": QUESTIONS[ws]})
                assert found["passages"] and not _leaks(ws, found)
        # a key bound to alpha cannot open beta's endpoint at all
        refused = httpx.post(f"{url}/v1/workspaces/beta/mcp", headers={**auth(ws_keys["alpha_read"]),
                             "Accept": "application/json, text/event-stream"},
                             json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert refused.status_code == 404


def test_metrics_and_logs_carry_the_workspace(ws_client: TestClient, ws_keys: dict[str, str],
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="api.access")
    ws_client.post("/v1/workspaces/beta/retrieve", json={"question": QUESTIONS["beta"]},
                   headers=auth(ws_keys["beta_read"]))
    metrics = ws_client.get("/metrics", headers=auth(ws_keys["global"])).text
    counted = [line for line in metrics.splitlines() if line.startswith("graphrag_http_request_duration_seconds_count")
               and 'route="/v1/workspaces/{workspace}/retrieve"' in line]
    assert any('workspace="beta"' in line for line in counted), [x for x in metrics.splitlines() if "_count" in x]
    assert 'graphrag_ingest_documents_total{workspace="alpha"}' in metrics
    # a key bound to alpha reads alpha's series and nothing of beta's (README: no key learns that
    # another workspace exists)
    alpha_only = ws_client.get("/metrics", headers=auth(ws_keys["alpha_read"]))
    assert alpha_only.status_code == 200
    assert 'graphrag_ingest_documents_total{workspace="alpha"}' in alpha_only.text
    assert 'workspace="beta"' not in alpha_only.text and "beta" not in alpha_only.text
    access = [r for r in caplog.records if r.name == "api.access" and "/v1/workspaces/beta/retrieve" in r.getMessage()]
    assert access and all(getattr(r, "workspace", None) == "beta" for r in access)


def test_deleting_one_workspace_leaves_the_other_intact(ws_client: TestClient, ws_keys: dict[str, str],
                                                        e2e_db: ArcadeDB, ws_settings: Settings) -> None:
    g = auth(ws_keys["global"])
    assert ws_client.request("DELETE", "/v1/workspaces/beta", json={"confirm": "alpha"}, headers=g).status_code == 422
    assert ws_client.request("DELETE", "/v1/workspaces/beta", json={"confirm": "beta"},
                             headers=auth(ws_keys["beta_admin"])).status_code == 403
    assert ws_client.request("DELETE", "/v1/workspaces/beta", json={"confirm": "beta"},
                             headers=auth(ws_keys["alpha_admin"])).status_code == 404
    assert ws_client.request("DELETE", "/v1/workspaces/default", json={"confirm": "default"},
                             headers=g).status_code == 409
    gone = ws_client.request("DELETE", "/v1/workspaces/beta", json={"confirm": "beta"}, headers=g)
    assert gone.status_code == 200 and gone.json() == {"id": "beta", "deleted": True}
    assert database_name(ws_settings, "beta") not in e2e_db.list_databases()
    assert ws_client.get("/v1/workspaces/beta/documents", headers=g).status_code == 404
    # beta's own keys were revoked with it
    assert ws_client.post("/v1/workspaces/beta/retrieve", json={"question": QUESTIONS["beta"]},
                          headers=auth(ws_keys["beta_read"])).status_code == 401
    # alpha is untouched: its documents, its answers, its jobs
    docs = ws_client.get("/v1/workspaces/alpha/documents", headers=auth(ws_keys["alpha_read"])).json()
    assert {"alpha-1", "alpha-2"} <= {d["id"] for d in docs["items"]}
    found = ws_client.post("/v1/workspaces/alpha/retrieve", json={"question": QUESTIONS["alpha"]},
                           headers=auth(ws_keys["alpha_read"])).json()
    assert {p["document_id"] for p in found["sources"]} & {"alpha-1", "alpha-2"}
    # a workspace made again under the deleted name starts empty, and the old one's keys do not reach it:
    # a key bound to beta alone is revoked, one bound to alpha and beta keeps alpha only
    assert ws_client.post("/v1/workspaces", json={"name": "beta"}, headers=g).status_code == 201
    assert ws_client.get("/v1/workspaces/beta/documents", headers=g).json()["total"] == 0
    assert ws_client.get("/v1/workspaces/beta/ingest/jobs", headers=g).json()["items"] == []
    for old in ("beta_read", "beta_admin"):
        assert ws_client.get("/v1/workspaces/beta/documents", headers=auth(ws_keys[old])).status_code == 401
    both = auth(ws_keys["both_read"])
    assert ws_client.get("/v1/workspaces/beta/documents", headers=both).status_code == 404
    assert ws_client.get("/v1/workspaces/alpha/documents", headers=both).status_code == 200
    keys = {k["name"]: k for k in list_keys(e2e_db)}
    assert keys["ws-beta-read"]["revoked"] and keys["ws-beta-read"]["workspaces"] == ["beta"]
    assert not keys["ws-both"]["revoked"] and keys["ws-both"]["workspaces"] == ["alpha"]


