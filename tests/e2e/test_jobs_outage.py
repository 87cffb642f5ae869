"""An ingest job that loses its database mid-run is resumed once the database is back, and the
jobs queued behind it run (before, it stayed `running` for ever and blocked every later job)."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.components import build_components
from api.main import create_app
from graphrag.arcadedb import ArcadeDB, RetryPolicy
from graphrag.embedded import EmbeddedServer
from graphrag.embeddings import SentenceTransformerEmbedder
from ingestion.ray_engine import RayIngestionPipeline
from schema.runner import MigrationRunner
from tests.conftest import free_port
from tests.e2e.conftest import app_settings, wait_for
from tests.procs import Descendants

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "data" / "musique_40.jsonl"


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


class OutageOnceStored:
    """Stops the database server once `at_least` documents are stored, and starts it again `down_s`
    later: for the Ray engine, whose actors load their own embedder (`OutageOnEmbed` cannot reach them)."""

    def __init__(self, server: EmbeddedServer, db: ArcadeDB, at_least: int, down_s: float):
        self._server, self._db, self._at_least, self._down_s = server, db, at_least, down_s
        self.stored_at_stop: int | None = None
        self.restarted = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            try:
                n = int(self._db.cypher("MATCH (d:Document) RETURN count(d) AS n")[0]["n"])
            except Exception:  # a failed read is "not yet"
                n = 0
            if n >= self._at_least:
                self.stored_at_stop = n
                self._server.stop()
                time.sleep(self._down_s)
                self._server.start(timeout=120)
                self.restarted.set()
                return
            time.sleep(0.05)


@pytest.mark.slow
def test_a_ray_job_paused_by_an_outage_resumes_and_stores_every_document(
        tmp_path: Path, embedder: SentenceTransformerEmbedder, caplog: pytest.LogCaptureFixture) -> None:
    """GRAPHRAG_INGEST_ENGINE=ray, one 40-record file cut into batches of 4; the database stops once the
    first batch is stored. The job pauses (its file is not failed) and, once the database is back, resumes
    and succeeds with all 40 documents (before, Ray's wrapped outage failed the file as "internal error
    (RayTaskError)", and the job paused only because its own progress write met the same outage)."""
    import ray

    ray.shutdown()  # the service starts its own local runtime, and stops it with its lifespan
    tree = Descendants(os.getpid(), ignore_running=True)
    srv = EmbeddedServer(tmp_path / "db", free_port(), "pw-" + os.urandom(8).hex(), "graphrag", heap="512m")
    srv.start(timeout=120)
    allowed = tmp_path / "allowed"
    (allowed / "ray").mkdir(parents=True)
    shutil.copy(CORPUS, allowed / "ray" / "musique.jsonl")
    try:
        db = ArcadeDB(srv.url, "graphrag", "root", srv.password, timeout=10,
                      retry=RetryPolicy(attempts=2, max_seconds=3))  # shorter than the outage
        MigrationRunner(db, embedding_dim=384).migrate()
        settings = app_settings(srv, "graphrag", tmp_path / "data", api_keys_required=False,
                                api_allowed_ingest_dir=allowed, api_job_stale_s=2.0, ingest_engine="ray",
                                ray_extract_actors=1, ray_embed_actors=1)
        components = build_components(settings, db, embedder=embedder)
        pipeline = components.ingestor.pipeline  # type: ignore[attr-defined]
        assert isinstance(pipeline, RayIngestionPipeline)
        pipeline.config = pipeline.config.model_copy(update={"documents_per_batch": 4})
        caplog.set_level(logging.WARNING, logger="api.jobs")
        with TestClient(create_app(settings, components=components), raise_server_exceptions=False) as client:
            created = client.post("/v1/ingest/jobs", json={"paths": ["ray"]})
            assert created.status_code == 202, created.text
            job_id = created.json()["id"]
            watch_db = ArcadeDB(srv.url, "graphrag", "root", srv.password, timeout=5,
                                retry=RetryPolicy(attempts=1, max_seconds=1))
            outage = OutageOnceStored(srv, watch_db, at_least=4, down_s=10.0)
            assert wait_for(outage.restarted.is_set, timeout=900, every=0.5)

            def ended() -> dict[str, Any] | None:
                tree.look(listeners=False)
                response = client.get(f"/v1/ingest/jobs/{job_id}")
                if response.status_code != 200:
                    return None
                job = response.json()
                return job if job["state"] in ("succeeded", "failed") else None

            job = wait_for(ended, timeout=600, every=0.5)
            assert isinstance(job, dict) and job["state"] == "succeeded", job
            assert not job["summary"]["failed"] and not job.get("error"), job
            assert job["progress"]["done"] == 1
        assert outage.stored_at_stop is not None and outage.stored_at_stop < 40, outage.stored_at_stop
        paused = [r.getMessage() for r in caplog.records if "paused, database unreachable" in r.getMessage()]
        assert any(job_id in m and "DatabaseUnavailableError" in m for m in paused), caplog.text[-3000:]
        assert int(db.cypher("MATCH (d:Document) RETURN count(d) AS n")[0]["n"]) == 40
        db.close()
        watch_db.close()
    finally:
        ray.shutdown()
        tree.kill_rest()
        srv.stop()
