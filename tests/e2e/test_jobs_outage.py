"""An ingest job that loses its database mid-run is resumed once the database is back, and the
jobs queued behind it run (before, it stayed `running` for ever and blocked every later job)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from api.components import build_components
from api.main import create_app
from graphrag.arcadedb import ArcadeDB, RetryPolicy
from graphrag.embedded import EmbeddedServer
from graphrag.embeddings import SentenceTransformerEmbedder
from schema.runner import MigrationRunner
from tests.conftest import free_port
from tests.e2e.conftest import app_settings, wait_for


class OutageOnEmbed:
    """The real embedder; once armed, its next call stops the database server and starts it
    again a few seconds later, in the background (the job meets the outage in its embed stage)."""

    def __init__(self, embedder: SentenceTransformerEmbedder, server: EmbeddedServer, down_s: float):
        self._embedder = embedder
        self._server = server
        self._down_s = down_s
        self.armed = threading.Event()
        self.restarted = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._embedder, name)

    def embed(self, texts: list[str]) -> np.ndarray:
        if self.armed.is_set():
            self.armed.clear()
            self._server.stop()
            threading.Thread(target=self._restart, daemon=True).start()
        return self._embedder.embed(texts)

    def _restart(self) -> None:
        time.sleep(self._down_s)
        self._server.start(timeout=120)
        self.restarted.set()


def test_job_paused_by_an_outage_resumes_and_later_jobs_run(tmp_path: Path,
                                                            embedder: SentenceTransformerEmbedder) -> None:
    srv = EmbeddedServer(tmp_path / "db", free_port(), "pw-" + os.urandom(8).hex(), "graphrag", heap="512m")
    srv.start(timeout=120)
    allowed = tmp_path / "allowed"
    for batch in ("first", "second"):
        (allowed / batch).mkdir(parents=True)
        for i in range(2):
            (allowed / batch / f"{batch}-{i}.md").write_text(
                f"# {batch.title()} {i}\nGdynia is a port city on the Baltic coast, note {batch} {i}.",
                encoding="utf-8")
    try:
        db = ArcadeDB(srv.url, "graphrag", "root", srv.password, timeout=10,
                      retry=RetryPolicy(attempts=2, max_seconds=3))  # shorter than the outage
        MigrationRunner(db, embedding_dim=384).migrate()
        settings = app_settings(srv, "graphrag", tmp_path / "data", api_keys_required=False,
                                api_allowed_ingest_dir=allowed, api_job_stale_s=2.0)
        outage = OutageOnEmbed(embedder, srv, down_s=10.0)
        components = build_components(settings, db, embedder=outage)  # type: ignore[arg-type]
        with TestClient(create_app(settings, components=components), raise_server_exceptions=False) as client:
            outage.armed.set()
            first = client.post("/v1/ingest/jobs", json={"paths": ["first"]})
            assert first.status_code == 202, first.text
            assert wait_for(outage.restarted.is_set, timeout=180)
            # submitted once the database is back: it queues behind the first job in this process
            second = wait_for(lambda: (r := client.post("/v1/ingest/jobs", json={"paths": ["second"]}))
                              .status_code == 202 and r, timeout=60)

            def state(job_id: str) -> dict[str, Any] | None:
                response = client.get(f"/v1/ingest/jobs/{job_id}")
                if response.status_code != 200:
                    return None
                job = response.json()
                return job if job["state"] in ("succeeded", "failed") else None

            for created in (first, second):
                job = wait_for(lambda c=created: state(c.json()["id"]), timeout=180)  # type: ignore[union-attr]
                assert isinstance(job, dict) and job["state"] == "succeeded", job
                assert job["progress"]["done"] == 2
        titles = {r["t"] for r in db.cypher("MATCH (d:Document) RETURN d.title AS t")}
        assert titles == {"First 0", "First 1", "Second 0", "Second 1"}
        db.close()
    finally:
        srv.stop()
