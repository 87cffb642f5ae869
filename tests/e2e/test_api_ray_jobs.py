"""An ingest job submitted through the API runs on Ray when the service is configured so
(`GRAPHRAG_INGEST_ENGINE=ray`; no address here, so a local Ray runtime of the service process)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.components import build_components
from api.main import create_app
from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from graphrag.embedded import EmbeddedServer
from graphrag.embeddings import SentenceTransformerEmbedder
from ingestion.ray_engine import RayIngestionPipeline
from tests.e2e.conftest import app_settings, auth, wait_for
from tests.procs import Descendants, not_loopback

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def ray_settings(server: EmbeddedServer, e2e_db: ArcadeDB, ingest_dir: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return app_settings(server, e2e_db.database, tmp_path_factory.mktemp("data"), api_allowed_ingest_dir=ingest_dir,
                        ingest_engine="ray", ray_extract_actors=1, ray_embed_actors=1)


def test_a_job_runs_on_ray_when_the_service_says_so_and_its_runtime_ends_with_the_service(
        ray_settings: Settings, e2e_db: ArcadeDB, embedder: SentenceTransformerEmbedder, keys: dict[str, str],
        ingest_dir: Path) -> None:
    """The job runs on a local Ray runtime the service starts; that runtime listens on loopback only, and
    stopping the service (its lifespan's end, the process living on) stops every process of it."""
    import ray

    ray.shutdown()  # no runtime left by an earlier test in this process: the service must start its own
    tree = Descendants(os.getpid(), ignore_running=True)  # not the session's database server
    components = build_components(ray_settings, e2e_db, embedder=embedder)
    try:
        with TestClient(create_app(ray_settings, components=components), raise_server_exceptions=False) as client:
            assert isinstance(components.ingestor.pipeline, RayIngestionPipeline)
            records = [{"id": "ray-1", "title": "Kraków",
                        "text": "Kraków lies on the Vistula river in southern Poland."},
                       {"id": "ray-2", "title": "Toruń",
                        "text": "Toruń, birthplace of Nicolaus Copernicus, is on the Vistula."}]
            (ingest_dir / "rayjob").mkdir()
            (ingest_dir / "rayjob" / "cities.jsonl").write_text(
                "\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
            created = client.post("/v1/ingest/jobs", json={"paths": ["rayjob"]}, headers=auth(keys["admin"]))
            assert created.status_code == 202, created.text
            job_id = created.json()["id"]

            def ended() -> dict[str, Any] | None:
                tree.look()  # the runtime's processes and listeners, while they run
                job = client.get(f"/v1/ingest/jobs/{job_id}", headers=auth(keys["admin"])).json()
                return job if job["state"] in ("succeeded", "failed") else None

            job = wait_for(ended, timeout=600, every=0.5)
            assert isinstance(job, dict) and job["state"] == "succeeded", job
            assert job["summary"]["documents"] == 2 and job["summary"]["chunks"] == 2
            assert ray.is_initialized()  # the service process started a Ray runtime for the job
            tree.look()
            found = client.post("/v1/retrieve", json={"question": "Where was Nicolaus Copernicus born?"},
                                headers=auth(keys["read"])).json()
            assert any(source["title"] == "Toruń" for source in found["sources"]), found
        assert {"raylet", "gcs_server"} <= set(tree.named.values()), tree.named
        assert tree.listening and not_loopback(tree.listening) == [], tree.listening
        assert not ray.is_initialized(), "the service's shutdown left its Ray runtime running"
        assert tree.alive_after(15) == [], "Ray processes outlived the service"
    finally:
        ray.shutdown()
        tree.kill_rest()
