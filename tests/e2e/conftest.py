"""End-to-end fixtures: the real app (real retriever, answerer, store, ingestion, models) over HTTP
against the session's real ArcadeDB server, one fresh database per test module."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.components import build_components, upload_document_id
from api.deps import Components
from api.keys import Scope, create_key
from api.main import create_app
from api.server import uvicorn_config
from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from graphrag.embedded import EmbeddedServer
from graphrag.embeddings import SentenceTransformerEmbedder
from schema.runner import MigrationRunner
from tests.conftest import free_port

MAX_BODY = 256 * 1024


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def app_settings(server: EmbeddedServer, db_name: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir, "db_url": server.url, "db_password": server.password, "db_name": db_name,
        "db_retries": 2, "db_retry_max_s": 3, "db_timeout_s": 10, "api_keys_required": True,
        "api_max_body_bytes": MAX_BODY, "api_retry_after_s": 5,
        # TestClient sends `Host: testserver`; live servers are reached as 127.0.0.1
        "api_allowed_hosts": ["testserver", "127.0.0.1", "localhost"], **overrides}
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class OwnDatabase:
    """A database server of a test's own, migrated, with the settings and components of an app over it."""

    server: EmbeddedServer
    db: ArcadeDB
    settings: Settings
    components: Components


@contextmanager
def own_database(tmp_path: Path, embedder: SentenceTransformerEmbedder, **overrides: object) -> Iterator[OwnDatabase]:
    """An ArcadeDB server of the test's own, for tests that stop it under the app (an outage): stopping the
    session's server would break every other test. Keys are not required (loopback); `overrides` go to
    `app_settings`. The server is stopped on the way out, whatever the test did to it."""
    srv = EmbeddedServer(tmp_path / "db", free_port(), "pw-" + os.urandom(8).hex(), "graphrag", heap="512m")
    srv.start(timeout=120)
    try:
        db = ArcadeDB(srv.url, "graphrag", "root", srv.password, timeout=10)
        MigrationRunner(db, embedding_dim=384).migrate()
        settings = app_settings(srv, "graphrag", tmp_path / "data", **{"api_keys_required": False, **overrides})
        yield OwnDatabase(srv, db, settings, build_components(settings, db, embedder=embedder))
        db.close()
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def e2e_db(make_db: Callable[..., ArcadeDB], request: pytest.FixtureRequest) -> ArcadeDB:
    return make_db("e2e_" + request.module.__name__.rsplit(".", 1)[-1][-12:])


@pytest.fixture(scope="module")
def ingest_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("allowed")


@pytest.fixture(scope="module")
def settings(server: EmbeddedServer, e2e_db: ArcadeDB, ingest_dir: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return app_settings(server, e2e_db.database, tmp_path_factory.mktemp("data"),
                        api_allowed_ingest_dir=ingest_dir)


@pytest.fixture(scope="module")
def components(settings: Settings, e2e_db: ArcadeDB, embedder: SentenceTransformerEmbedder) -> Components:
    return build_components(settings, e2e_db, embedder=embedder)


@pytest.fixture(scope="module")
def keys(e2e_db: ArcadeDB) -> dict[str, str]:
    return {scope.value: create_key(e2e_db, scope, f"e2e-{scope.value}")[0] for scope in Scope}


@pytest.fixture(scope="module")
def client(settings: Settings, components: Components) -> Iterator[TestClient]:
    with TestClient(create_app(settings, components=components), raise_server_exceptions=False) as test_client:
        yield test_client


def auth(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def uploaded_id(content: bytes | str | Path) -> str:
    """The document id the API gives an uploaded file with these bytes (a str as UTF-8, as a browser's
    `File` holds it; a Path: that file's bytes), by the API's own `upload_document_id`."""
    if isinstance(content, Path):
        return upload_document_id(content)
    data = content.encode("utf-8") if isinstance(content, str) else content
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload"
        path.write_bytes(data)
        return upload_document_id(path)


@contextmanager
def live_server(app: object, settings: Settings | None = None) -> Iterator[str]:
    """The app under uvicorn in a thread; stopped on exit. With `settings`, as `graphrag serve` runs it
    (`api.server.uvicorn_config`: our protocol and its deadlines, on `settings.api_port`); without, plain
    uvicorn on a free loopback port."""
    if settings is not None:
        port = settings.api_port
        config = uvicorn_config(app, settings, lifespan="on")
    else:
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,  # type: ignore[arg-type]
                                access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-e2e", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def wait_for(check: Callable[[], object], timeout: float = 120.0, every: float = 0.25) -> object:
    """Poll `check` until it returns something truthy (no timing assertion: just a bound)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout:.0f}s")


def terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Stop a served command as Ctrl-C's twin would (SIGTERM, so it stops what it started); killed if it
    has not ended within `timeout` (the wait's error still reaches the caller)."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()


def wait_until_ready(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    """Poll `url`/readyz until it answers 200; fail with the end of `log` if `proc` exits first."""

    def ready() -> bool:
        assert proc.poll() is None, log.read_text()[-4000:]
        try:
            return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(ready, timeout=timeout, every=0.5)
