"""Ingestion when the database goes away mid-job: every stage stops, and the job ends quickly.

Each test runs its own ArcadeDB server (stopping the session's would break every other test).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from graphrag.arcadedb import ArcadeDB, RetryPolicy
from graphrag.config import Settings
from graphrag.embedded import EmbeddedServer
from graphrag.embeddings import SentenceTransformerEmbedder
from graphrag.errors import DatabaseUnavailableError
from graphrag.types import SourceDocument
from ingestion.pipeline import EXIT_FAILED, IngestionConfig, IngestionPipeline
from schema.runner import MigrationRunner
from tests.conftest import free_port


class StopsServerOnFirstEmbed:
    """The real embedder, but the first `embed` call first stops the database server: the embed
    stage's next database read (`entity_keys_with_embedding`) then fails."""

    def __init__(self, embedder: SentenceTransformerEmbedder, server: EmbeddedServer):
        self._embedder = embedder
        self._server = server
        self.stopped = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._embedder, name)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not self.stopped.is_set():
            self._server.stop()
            self.stopped.set()
        return self._embedder.embed(texts)


def test_database_lost_in_the_embed_stage_ends_the_job_within_the_retry_budget(
        tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    srv = EmbeddedServer(tmp_path / "db", free_port(), "pw-" + os.urandom(8).hex(), "graphrag", heap="512m")
    srv.start(timeout=120)
    try:
        retry = RetryPolicy(attempts=2, max_seconds=3)
        db = ArcadeDB(srv.url, "graphrag", "root", srv.password, timeout=5, retry=retry)
        MigrationRunner(db, embedding_dim=384).migrate()
        settings = Settings(data_dir=tmp_path / "data", db_url=srv.url, db_password=srv.password)
        failing = StopsServerOnFirstEmbed(embedder, srv)
        pipeline = IngestionPipeline(settings, db, failing, config=IngestionConfig(documents_per_batch=2))  # type: ignore[arg-type]
        docs = [SourceDocument(id=f"d{i}", source="t", title=f"Report {i}",
                               text=f"Marie Curie was born in Warsaw. Report {i} was filed in Paris.")
                for i in range(6)]
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["report"] = pipeline.run(docs)
            except BaseException as exc:  # a raised error is an ending too; the hang is what fails
                result["error"] = exc

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        # The retry budget is 3 s a call; 60 s only bounds the wait for a job that hangs (it did, for ever).
        worker.join(timeout=60)
        assert not worker.is_alive(), "ingestion hung after the database went away"
        assert failing.stopped.is_set()
        if "report" in result:
            report = result["report"]
            assert report.exit_code == EXIT_FAILED
            assert report.aborted and report.abort_kind == "database_unavailable"
            assert report.documents_new == 0
        else:
            assert isinstance(result["error"], DatabaseUnavailableError), result["error"]
        db.close()
    finally:
        srv.stop()
