"""Issue 11's security and hygiene defects, reproduced against the real service (real ArcadeDB,
real ingestion) and shown fixed: browser writes to the keyless default, wrong-key floods, key
revocation, strict input types, uploads (identity, deletion, nothing-ingested 422, input counts)
and the server paths that `source` used to show."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.keys import KeyVerifier, Scope, create_key, revoke_key
from api.main import create_app
from graphrag.arcadedb import ArcadeDB, AsyncArcadeDB
from graphrag.config import Settings
from tests.e2e.conftest import auth, wait_for

NOTE = b"# Harbour Light\nThe Harbour Light of Puck stands on the Bay of Puck, built in 1891."
OTHER = b"# Harbour Light\nThe Harbour Light of Hel was moved inland in 1942 after a storm."


def _app_client(settings: Settings, components: Any, **updates: object) -> TestClient:
    return TestClient(create_app(settings.model_copy(update=updates), components=components),
                      raise_server_exceptions=False)


def _finished(client: TestClient, job_id: str, key: str) -> dict[str, Any]:
    job = wait_for(lambda: (j := client.get(f"/v1/ingest/jobs/{job_id}", headers=auth(key)).json())
                   ["state"] in ("succeeded", "failed") and j)
    assert isinstance(job, dict)
    return job


def _count(db: ArcadeDB, doc_id: str) -> int:
    return int(db.cypher("MATCH (d:Document {id: $id}) RETURN count(d) AS n", {"id": doc_id})[0]["n"])


# --- item 6: the keyless loopback default and browsers ---------------------------------------------------

@pytest.fixture(scope="module")
def keyless(settings: Settings, components: Any) -> Iterator[TestClient]:
    with _app_client(settings, components, api_keys_required=False) as client:
        yield client


def test_another_sites_page_cannot_write_to_the_keyless_default(keyless: TestClient, e2e_db: ArcadeDB) -> None:
    doc = {"id": "csrf-note", "title": "Planted", "text": "A page on another site planted this note."}
    files = [("files", ("planted.md", b"# Planted\nA page on another site planted this file.", "text/markdown"))]
    evil = {"Origin": "http://evil.example"}
    assert keyless.post("/v1/documents", files=files, headers=evil).status_code == 403
    assert keyless.post("/v1/ingest/jobs", files=files, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert keyless.post("/v1/documents", json=doc, headers=evil).status_code == 403
    assert keyless.delete("/v1/documents/anything", headers=evil).status_code == 403
    # an older browser's form POST: no Origin, no Sec-Fetch-Site, only the page in Referer
    old_browser = {"Referer": "http://evil.example/page.html"}
    refused = keyless.post("/v1/documents", files=files, headers=old_browser)
    assert refused.status_code == 403 and "Referer" in refused.json()["error"]["message"], refused.text
    assert keyless.post("/v1/documents", json=doc, headers=old_browser).status_code == 403
    # DNS rebinding: the page's own name resolves to 127.0.0.1, so it is "same-origin" with itself
    rebound = {"Host": "evil.example:8000", "Origin": "http://evil.example:8000"}
    assert keyless.post("/v1/documents", json=doc, headers=rebound).status_code == 400
    assert keyless.get("/v1/documents", headers={"Host": "evil.example:8000"}).status_code == 400
    assert _count(e2e_db, "csrf-note") == 0
    assert e2e_db.cypher("MATCH (d:Document) WHERE d.title = 'Planted' RETURN count(d) AS n") == [{"n": 0}]
    # the service's own page (same origin) and clients that are not browsers still write
    own = keyless.post("/v1/documents", json=doc, headers={"Origin": "http://testserver"})
    assert own.status_code == 201, own.text
    own_page = keyless.post("/v1/documents", json=doc, headers={"Referer": "http://testserver/console/"})
    assert own_page.status_code == 201, own_page.text
    assert keyless.delete("/v1/documents/csrf-note").status_code == 200


# --- authentication -------------------------------------------------------------------------------------------

def test_wrong_keys_beyond_the_limit_get_429_without_a_database_lookup(settings: Settings, components: Any,
                                                                      keys: dict[str, str]) -> None:
    with _app_client(settings, components, api_auth_failures=3, api_auth_failure_window_s=3600.0) as client:
        verifier: KeyVerifier = client.app.state.key_verifier  # type: ignore[attr-defined]
        verifier.clock = lambda: 0.0  # the read key verified below stays cached for the whole test
        lookups = 0
        real_verify = verifier.verify

        async def counting_verify(plaintext: str) -> Any:
            nonlocal lookups
            if verifier.cached(plaintext) is None:
                lookups += 1
            return await real_verify(plaintext)

        verifier.verify = counting_verify  # type: ignore[method-assign]
        assert client.get("/v1/documents", headers=auth(keys["read"])).status_code == 200
        assert lookups == 1
        statuses = [client.get("/v1/documents", headers=auth(f"grk_wrong{i}")).status_code for i in range(10)]
        assert statuses == [401] * 3 + [429] * 7
        assert lookups == 1 + 3  # the seven refused keys cost no lookup
        limited = client.get("/v1/documents", headers=auth("grk_wrong-again"))
        assert limited.json()["error"]["code"] == "too_many_failures" and int(limited.headers["retry-after"]) >= 1
        assert client.get("/v1/documents", headers=auth(keys["read"])).status_code == 200  # cached: still served


def test_a_revoked_key_is_refused_once_its_cache_time_is_over(settings: Settings, e2e_db: ArcadeDB) -> None:
    key, key_id = create_key(e2e_db, Scope.read, "revoked-soon")
    now = [1000.0]

    async def scenario() -> list[bool]:
        adb = AsyncArcadeDB.from_settings(settings)
        try:
            verifier = KeyVerifier(adb, ttl_s=settings.api_key_cache_s, clock=lambda: now[0])
            seen = [await verifier.verify(key) is not None]
            revoke_key(e2e_db, key_id)
            now[0] += settings.api_key_cache_s - 0.1
            seen.append(await verifier.verify(key) is not None)  # still inside the cache time
            now[0] += 0.1
            seen.append(await verifier.verify(key) is not None)  # the cache time is over: asked again
            return seen
        finally:
            await adb.aclose()

    assert settings.api_key_cache_s <= 5.0
    assert asyncio.run(scenario()) == [True, True, False]


def test_with_no_key_cache_a_revocation_applies_to_the_next_request(settings: Settings, components: Any,
                                                                   e2e_db: ArcadeDB) -> None:
    key, key_id = create_key(e2e_db, Scope.read, "revoked-now")
    with _app_client(settings, components, api_key_cache_s=0.0) as client:
        assert client.get("/v1/documents", headers=auth(key)).status_code == 200
        revoke_key(e2e_db, key_id)
        assert client.get("/v1/documents", headers=auth(key)).status_code == 401


def test_invalid_json_without_a_key_is_401(client: TestClient) -> None:
    response = client.post("/v1/retrieve", content=b'{"question": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 401


# --- strict input -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "body", "field"), [
    ("/v1/retrieve", {"question": "Where is Warsaw?\x00DROP"}, "body.question"),
    ("/v1/retrieve", {"question": "Where is Warsaw?", "top_k": "5"}, "body.top_k"),
    ("/v1/retrieve", {"question": "Where is Warsaw?", "top_k": True}, "body.top_k"),
    ("/v1/retrieve", {"question": "Where is Warsaw?", "hops": 2.0}, "body.hops"),
    ("/v1/ask", {"question": "Where is Warsaw?", "stream": "true"}, "body.stream"),
    ("/v1/documents", {"text": "Warsaw lies on the Vistula.", "metadata": {"k": "a\x00b"}}, "body.metadata"),
])
def test_loose_types_and_nul_characters_are_422(client: TestClient, keys: dict[str, str], path: str,
                                                body: dict[str, Any], field: str) -> None:
    response = client.post(path, json=body, headers=auth(keys["admin"]))
    assert response.status_code == 422, response.text
    assert field in {f["field"] for f in response.json()["error"]["fields"]}


# --- uploads ------------------------------------------------------------------------------------------------------

def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_a_different_file_with_the_same_name_is_a_new_document(client: TestClient, keys: dict[str, str]) -> None:
    first = client.post("/v1/documents", files=[("files", ("harbour.md", NOTE, "text/markdown"))],
                        headers=auth(keys["admin"]))
    second = client.post("/v1/documents", files=[("files", ("harbour.md", OTHER, "text/markdown"))],
                         headers=auth(keys["admin"]))
    assert first.status_code == 201 and second.status_code == 201, (first.text, second.text)
    first_id, second_id = first.json()["documents"][0]["id"], second.json()["documents"][0]["id"]
    assert first_id.startswith("upload-") and second_id.startswith("upload-") and first_id != second_id
    for doc_id in (first_id, second_id):
        got = client.get(f"/v1/documents/{doc_id}", headers=auth(keys["read"]))
        assert got.status_code == 200 and got.json()["source"] == "harbour.md"
    # the same bytes under another name: the same document, already stored
    again = client.post("/v1/documents", files=[("files", ("copy-of-harbour.md", NOTE, "text/markdown"))],
                        headers=auth(keys["admin"]))
    assert again.status_code == 201 and again.json()["summary"]["skipped"] == 1
    assert [d["id"] for d in again.json()["documents"]] == [first_id]


def test_uploaded_files_are_deleted_when_their_work_ends(client: TestClient, keys: dict[str, str],
                                                         settings: Settings) -> None:
    uploads = settings.data_dir / "uploads"
    synchronous = client.post("/v1/documents", files=[("files", ("sopot.md", b"# Sopot\nSopot has a long pier.",
                                                                "text/markdown"))], headers=auth(keys["admin"]))
    assert synchronous.status_code == 201, synchronous.text
    assert _files_under(uploads) == []
    created = client.post("/v1/ingest/jobs", files=[("files", ("hel.md", b"# Hel\nHel lies at the tip of a spit.",
                                                               "text/markdown"))], headers=auth(keys["admin"]))
    assert created.status_code == 202, created.text
    job = _finished(client, created.json()["id"], keys["admin"])
    assert job["state"] == "succeeded", job
    assert not (uploads / job["id"]).exists() and _files_under(uploads) == []
    refused = client.post("/v1/documents", files=[("files", ("fine.md", b"# Fine\nfine", "text/markdown")),
                                                  ("files", ("tool.exe", b"MZ", "application/octet-stream"))],
                          headers=auth(keys["admin"]))
    assert refused.status_code == 415 and _files_under(uploads) == []


def test_a_request_that_ingests_nothing_is_422_with_a_reason_per_file(client: TestClient,
                                                                       keys: dict[str, str]) -> None:
    files = [("files", ("blank.md", b"   \n\n", "text/markdown")),
             ("files", ("broken.jsonl", b"{not json\n{\"id\": 7}\n", "application/x-ndjson"))]
    response = client.post("/v1/documents", files=files, headers=auth(keys["admin"]))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "nothing_ingested"
    fields = {f["field"] for f in error["fields"]}
    assert {"blank.md", "broken.jsonl:1", "broken.jsonl:2"} <= fields, error
    assert all("/" not in f for f in fields)  # file names, not the server's upload folder


def test_a_job_counts_inputs_not_the_records_inside_them(client: TestClient, keys: dict[str, str]) -> None:
    lines = b"{broken\n{\"title\": \"no text\"}\n[1, 2]\n"
    created = client.post("/v1/ingest/jobs", files=[("files", ("records.jsonl", lines, "application/x-ndjson"))],
                          headers=auth(keys["admin"]))
    assert created.status_code == 202, created.text
    job = _finished(client, created.json()["id"], keys["admin"])
    assert job["state"] == "failed"
    assert job["error"].startswith("1 of 1 inputs failed"), job["error"]
    assert job["summary"]["inputs"] == 1 and job["summary"]["inputs_failed"] == 1
    assert len(job["summary"]["failed"]) == 3


def test_source_never_shows_the_servers_paths_to_read_keys(client: TestClient, keys: dict[str, str],
                                                          ingest_dir: Path) -> None:
    (ingest_dir / "coast").mkdir()
    (ingest_dir / "coast" / "leba.md").write_text("# Łeba\nŁeba has moving dunes.", encoding="utf-8")
    created = client.post("/v1/ingest/jobs", json={"paths": ["coast"]}, headers=auth(keys["admin"]))
    assert created.status_code == 202, created.text
    assert _finished(client, created.json()["id"], keys["admin"])["state"] == "succeeded"
    for key in (keys["read"], keys["admin"]):
        got = client.get("/v1/documents/coast/leba.md", headers=auth(key)).json()
        assert got["source"] == "coast/leba.md", got
    # a source stored as an absolute path (older API ingests, the CLI): read keys see the file name only
    doc = {"id": "legacy-source", "text": "Kashubia lies west of Gdańsk.", "source": "/srv/private/kashubia.md"}
    assert client.post("/v1/documents", json=doc, headers=auth(keys["admin"])).status_code == 201
    assert client.get("/v1/documents/legacy-source", headers=auth(keys["read"])).json()["source"] == "kashubia.md"
    assert client.get("/v1/documents/legacy-source",
                      headers=auth(keys["admin"])).json()["source"] == "/srv/private/kashubia.md"
    listed = client.get("/v1/documents", params={"limit": 100}, headers=auth(keys["read"])).json()["items"]
    assert not [d for d in listed if d["source"].startswith("/")], listed
    assert json.dumps(listed).count(str(ingest_dir)) == 0
    # the list's filter matches `source` as read keys see it: by the file name, never by the hidden folders
    windows = {"id": "legacy-windows", "text": "Hel lies on a spit.", "source": "C:\\Users\\ola\\hel-spit.md"}
    assert client.post("/v1/documents", json=windows, headers=auth(keys["admin"])).status_code == 201
    for key in (keys["read"], keys["admin"]):
        for hidden in ("/srv/private", "private", "users\\ola"):
            found = client.get("/v1/documents", params={"q": hidden}, headers=auth(key)).json()
            assert found["total"] == 0 and found["items"] == [], (hidden, found)
        for name, doc_id in (("KASHUBIA.md", "legacy-source"), ("hel-spit", "legacy-windows")):
            found = client.get("/v1/documents", params={"q": name}, headers=auth(key)).json()
            assert [d["id"] for d in found["items"]] == [doc_id] and found["total"] == 1, (name, found)
