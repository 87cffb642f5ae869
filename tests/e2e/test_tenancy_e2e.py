"""Tenancy that survives races, and jobs that cannot starve the service, against the real server
(issue 23): a write authorised for a workspace that is deleted meanwhile never lands in a workspace
made again under its name; deleting a workspace cancels its jobs; jobs take turns file by file; a
document over its ingest budget fails alone, naming the cap."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from api.components import ComponentFactory
from api.keys import Scope as KeyScope
from api.keys import create_key
from api.main import create_app
from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from graphrag.embedded import EmbeddedServer
from graphrag.embeddings import SentenceTransformerEmbedder
from tests.conftest import free_port
from tests.e2e.conftest import app_settings, auth, live_server, wait_for
from tests.pdfs import write_pdf

MAX_CHARS = 100_000


class BodyWatch:
    """Wraps the app and tells when a route starts reading the body of a POST to `path`: the key and
    the workspace were checked before that (they are checked before any body is read)."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self.path = ""
        self.reading = threading.Event()

    def arm(self, path: str) -> None:
        self.path = path
        self.reading.clear()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return

        async def watched() -> Any:
            self.reading.set()
            return await receive()

        await self.app(scope, watched, send)


def stalled_upload(go: threading.Event, name: str, text: str) -> tuple[dict[str, str], Iterator[bytes]]:
    """A multipart upload of one file whose body stops halfway until `go` is set."""
    boundary = "stall-" + uuid.uuid4().hex
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: text/markdown\r\n\r\n").encode()
    data = text.encode()

    def body() -> Iterator[bytes]:
        yield head + data[: len(data) // 2]
        go.wait(300)
        yield data[len(data) // 2:] + f"\r\n--{boundary}--\r\n".encode()

    return {"Content-Type": f"multipart/form-data; boundary={boundary}"}, body()


@pytest.fixture(scope="module")
def t_settings(server: EmbeddedServer, e2e_db: ArcadeDB, ingest_dir: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return app_settings(server, e2e_db.database, tmp_path_factory.mktemp("data"), api_allowed_ingest_dir=ingest_dir,
                        ingest_max_chars=MAX_CHARS)


@pytest.fixture(scope="module")
def global_key(e2e_db: ArcadeDB) -> str:
    return create_key(e2e_db, KeyScope.global_, "tenancy-global")[0]


@pytest.fixture(scope="module")
def live(t_settings: Settings, embedder: SentenceTransformerEmbedder) -> Iterator[tuple[str, BodyWatch, Any]]:
    app = create_app(t_settings, components=ComponentFactory(embedder=embedder))
    watch = BodyWatch(app)
    with live_server(watch) as url:
        yield url, watch, app


def _admin_of(e2e_db: ArcadeDB, workspace: str) -> dict[str, str]:
    return auth(create_key(e2e_db, KeyScope.admin, f"{workspace}-admin", [workspace])[0])


def _job(http: httpx.Client, path: str, headers: dict[str, str]) -> dict[str, Any]:
    response = http.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _ended(http: httpx.Client, path: str, headers: dict[str, str]) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        body = _job(http, path, headers)
        return body if body["state"] not in ("queued", "running") else None

    return wait_for(check, timeout=300)  # type: ignore[return-value]


@pytest.mark.parametrize("target", ["documents", "ingest/jobs"])
def test_an_upload_stalled_across_delete_and_re_create_never_lands_in_the_new_workspace(
        live: tuple[str, BodyWatch, Any], global_key: str, e2e_db: ArcadeDB, target: str) -> None:
    url, watch, _ = live
    g = auth(global_key)
    name = "gamma" if target == "documents" else "delta"
    path = f"/v1/workspaces/{name}/{target}"
    with httpx.Client(base_url=url, timeout=300) as http, httpx.Client(base_url=url, timeout=300) as slow:
        assert http.post("/v1/workspaces", json={"name": name}, headers=g).status_code == 201
        admin = _admin_of(e2e_db, name)
        go = threading.Event()
        watch.arm(path)
        headers, body = stalled_upload(go, "old-tenant.md", "# Old tenant ledger\n\nThe old tenant's ledger lists "
                                       "the Quellmere bonds held by Ilsa Brandvik.\n")
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(slow.post, path, content=body, headers={**admin, **headers})
            try:
                wait_for(watch.reading.is_set)  # authorised, and the route is reading the body
                gone = http.request("DELETE", f"/v1/workspaces/{name}", json={"confirm": name}, headers=g)
                assert gone.status_code == 200, gone.text
                # the old tenant's key was revoked with the workspace
                assert http.get(f"/v1/workspaces/{name}/documents", headers=admin).status_code == 401
                assert http.post("/v1/workspaces", json={"name": name}, headers=g).status_code == 201
            finally:
                go.set()
            late = pending.result()
        assert late.status_code == 409, late.text
        assert late.json()["error"]["code"] == "workspace_gone"
        assert "was deleted while this was in flight" in late.json()["error"]["message"]
        # the new workspace holds nothing of the old tenant's: no document, no job record
        assert http.get(f"/v1/workspaces/{name}/documents", headers=g).json()["total"] == 0
        assert http.get(f"/v1/workspaces/{name}/ingest/jobs", headers=g).json()["items"] == []


def test_an_upload_stalled_across_a_delete_fails_and_leaves_no_job_for_the_name(
        live: tuple[str, BodyWatch, Any], global_key: str, e2e_db: ArcadeDB) -> None:
    url, watch, _ = live
    g = auth(global_key)
    path = "/v1/workspaces/epsilon/ingest/jobs"
    with httpx.Client(base_url=url, timeout=300) as http, httpx.Client(base_url=url, timeout=300) as slow:
        assert http.post("/v1/workspaces", json={"name": "epsilon"}, headers=g).status_code == 201
        go = threading.Event()
        watch.arm(path)
        headers, body = stalled_upload(go, "leftover.md", "# Leftover\n\nA leftover note about Tromsvik.\n")
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(slow.post, path, content=body, headers={**_admin_of(e2e_db, "epsilon"), **headers})
            try:
                wait_for(watch.reading.is_set)
                gone = http.request("DELETE", "/v1/workspaces/epsilon", json={"confirm": "epsilon"}, headers=g)
                assert gone.status_code == 200, gone.text
            finally:
                go.set()
            late = pending.result()
        assert late.status_code == 404, late.text
        assert late.json()["error"]["code"] == "workspace_gone"
        # made again later, the name starts with no job of the deleted workspace's
        assert http.post("/v1/workspaces", json={"name": "epsilon"}, headers=g).status_code == 201
        assert http.get("/v1/workspaces/epsilon/ingest/jobs", headers=g).json()["items"] == []


def test_deleting_a_workspace_cancels_its_running_job_and_waits_for_its_file(
        live: tuple[str, BodyWatch, Any], global_key: str, ingest_dir: Path) -> None:
    url, _, app = live
    g = auth(global_key)
    folder = ingest_dir / "zeta"
    folder.mkdir()
    for n in range(60):
        (folder / f"note-{n:02d}.md").write_text(f"# Note {n}\n\nThe Zeta archive keeps note {n} about "
                                                  f"the harbour of Quellmere.\n", encoding="utf-8")
    with httpx.Client(base_url=url, timeout=300) as http:
        assert http.post("/v1/workspaces", json={"name": "zeta"}, headers=g).status_code == 201
        created = http.post("/v1/workspaces/zeta/ingest/jobs", json={"paths": ["zeta"]}, headers=g)
        assert created.status_code == 202, created.text
        job = created.json()["id"]
        wait_for(lambda: _job(http, f"/v1/workspaces/zeta/ingest/jobs/{job}", g)["progress"]["done"] >= 1)
        gone = http.request("DELETE", "/v1/workspaces/zeta", json={"confirm": "zeta"}, headers=g)
        assert gone.status_code == 200, gone.text  # was 409 while a job ran
        assert job not in app.state.jobs._tasks  # stopped before the delete answered, not merely told to
        assert http.post("/v1/workspaces", json={"name": "zeta"}, headers=g).status_code == 201
        assert http.get("/v1/workspaces/zeta/documents", headers=g).json()["total"] == 0
        assert http.get("/v1/workspaces/zeta/ingest/jobs", headers=g).json()["items"] == []
        assert http.get(f"/v1/workspaces/zeta/ingest/jobs/{job}", headers=g).status_code == 404


def test_a_small_job_is_not_kept_waiting_behind_a_long_one(
        live: tuple[str, BodyWatch, Any], global_key: str, ingest_dir: Path) -> None:
    url, _, _ = live
    g = auth(global_key)
    folder = ingest_dir / "long"
    folder.mkdir()
    for n in range(40):
        (folder / f"part-{n:02d}.md").write_text(f"# Part {n}\n\nPart {n} of the long Okonkwo survey names "
                                                  f"the port of Lagossa.\n", encoding="utf-8")
    (ingest_dir / "small.md").write_text("# Small\n\nA small note on the Enuvale foundry.\n", encoding="utf-8")
    with httpx.Client(base_url=url, timeout=300) as http:
        long = http.post("/v1/ingest/jobs", json={"paths": ["long"]}, headers=g).json()["id"]
        wait_for(lambda: _job(http, f"/v1/ingest/jobs/{long}", g)["progress"]["done"] >= 1)
        small = http.post("/v1/ingest/jobs", json={"paths": ["small.md"]}, headers=g).json()["id"]
        assert _ended(http, f"/v1/ingest/jobs/{small}", g)["state"] == "succeeded"
        # the small job ended while the long one still had files to go: they took turns
        progress = _job(http, f"/v1/ingest/jobs/{long}", g)["progress"]
        assert progress["done"] < progress["total"], progress
        assert _ended(http, f"/v1/ingest/jobs/{long}", g)["state"] == "succeeded"


def test_a_pdf_text_bomb_fails_naming_its_cap_and_the_rest_of_its_job_goes_on(
        live: tuple[str, BodyWatch, Any], global_key: str, ingest_dir: Path) -> None:
    url, _, _ = live
    g = auth(global_key)
    folder = ingest_dir / "bomb"
    folder.mkdir()
    bomb = write_pdf(folder / "bomb.pdf", pages=3, words_per_page=10_000)  # 510,000 characters
    assert bomb.stat().st_size < 20_000
    (folder / "fine.md").write_text("# Fine\n\nA fine note on the Tromsvik Academy.\n", encoding="utf-8")
    with httpx.Client(base_url=url, timeout=300) as http:
        created = http.post("/v1/ingest/jobs", json={"paths": ["bomb"]}, headers=g)
        assert created.status_code == 202, created.text
        job = _ended(http, f"/v1/ingest/jobs/{created.json()['id']}", g)
    assert job["state"] == "succeeded", job
    assert job["summary"]["documents"] == 1
    assert job["summary"]["failed"] == [f"bomb/bomb.pdf: over the ingest budget: more than {MAX_CHARS:,} characters "
                                        "of text (GRAPHRAG_INGEST_MAX_CHARS)"]


def trickle_upload(port: int, stop_after_s: float) -> tuple[bytes, float]:
    """One connection sending a multipart body a byte every 100 ms; the answer and when it came."""
    head = (b"POST /v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n"
            b"Content-Type: multipart/form-data; boundary=trickle\r\n\r\n--trickle\r\n"
            b'Content-Disposition: form-data; name="files"; filename="slow.md"\r\n\r\n# Slow\n\n')
    answer, started = b"", time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        sock.settimeout(0.1)
        while time.monotonic() - started < stop_after_s:
            try:
                sock.sendall(b"a")
                chunk = sock.recv(4096)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if not chunk:
                break
            answer += chunk
    return answer, time.monotonic() - started


def test_a_trickled_upload_is_cut_off_on_the_keyless_default(t_settings: Settings,
                                                            embedder: SentenceTransformerEmbedder) -> None:
    """The real app as `graphrag serve` runs it (our protocol, keys not required on loopback): a body
    sent a byte at a time is answered 408 once `api_body_timeout_s` has passed, and nothing is stored."""
    settings = t_settings.model_copy(update={"api_keys_required": False, "api_port": free_port(),
                                             "api_body_timeout_s": 1.0})
    with live_server(create_app(settings, components=ComponentFactory(embedder=embedder)), settings) as url:
        answer, _ = trickle_upload(settings.api_port, 60.0)  # a bound, not a timing assertion
        assert answer.startswith(b"HTTP/1.1 408"), answer
        with httpx.Client(base_url=url, timeout=60) as http:
            assert http.get("/v1/documents", params={"q": "slow"}).json()["total"] == 0


def test_an_unwritable_uploads_folder_answers_503_saying_what_to_fix_and_readyz_reports_it(
        t_settings: Settings, embedder: SentenceTransformerEmbedder, global_key: str,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    data_dir = tmp_path_factory.mktemp("broken-data")
    (data_dir / "uploads").write_text("not a folder", encoding="utf-8")  # no folder can be made there, even by root
    settings = t_settings.model_copy(update={"data_dir": data_dir})
    g = auth(global_key)
    with TestClient(create_app(settings, components=ComponentFactory(embedder=embedder)),
                    raise_server_exceptions=False) as client:
        for path in ("/v1/documents", "/v1/ingest/jobs"):
            response = client.post(path, files={"files": ("note.md", b"# Note\n\nA note on Quellmere.\n")},
                                   headers=g)
            assert response.status_code == 503, (path, response.text)
            error = response.json()["error"]
            assert error["code"] == "storage_unavailable"
            assert "GRAPHRAG_DATA_DIR/uploads" in error["message"] and str(data_dir) not in error["message"]
            assert response.headers["Retry-After"]
        ready = client.get("/readyz")
        assert ready.status_code == 503, ready.text
        storage = ready.json()["checks"]["storage"]
        assert not storage["ok"] and "uploads folder cannot be written" in storage["detail"]
        assert ready.json()["checks"]["database"]["ok"]  # the rest of the service is fine
