"""Ingestion when the database goes away mid-job: every stage stops, and the job ends quickly.

Each test runs its own ArcadeDB server (stopping the session's would break every other test).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from graphrag.arcadedb import ArcadeDB, RetryPolicy
from graphrag.config import Settings
from graphrag.embedded import EmbeddedServer
from graphrag.embeddings import SentenceTransformerEmbedder
from graphrag.errors import DatabaseUnavailableError
from graphrag.types import SourceDocument
from ingestion.pipeline import EXIT_FAILED, IngestionConfig, IngestionPipeline
from schema.runner import MigrationRunner
from tests.chaos.harness import document_count, wait_until
from tests.conftest import free_port
from tests.procs import Descendants

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "musique_40.jsonl"


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


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["local", "ray"])
def test_cli_ingest_that_loses_its_database_mid_job_exits_1_with_one_line(tmp_path: Path, engine: str) -> None:
    """The real `graphrag ingest` in a subprocess, its database stopped once the first batch is stored: exit
    code 1 and one error line naming the outage, nothing else, on either engine (before, the Ray engine ended in a
    236-line Ray traceback: it looked only one level into the `RayTaskError` that wrapped our error).
    The first batch is stored before the stop, so the outage meets the job mid-stream (on Ray: in its
    embedding actors, whose error Ray wraps)."""
    srv = EmbeddedServer(tmp_path / "db", free_port(), "pw-" + os.urandom(8).hex(), "graphrag", heap="512m")
    srv.start(timeout=120)
    proc = None
    tree = None
    try:
        db = ArcadeDB(srv.url, "graphrag", "root", srv.password, timeout=5,
                      retry=RetryPolicy(attempts=2, max_seconds=3))
        MigrationRunner(db, embedding_dim=384).migrate()
        env = {**os.environ, "GRAPHRAG_DB_URL": srv.url, "GRAPHRAG_DB_PASSWORD": srv.password,
               "GRAPHRAG_DB_NAME": "graphrag", "GRAPHRAG_DB_RETRIES": "2", "GRAPHRAG_DB_RETRY_MAX_S": "3",
               "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        env.pop("GRAPHRAG_RAY_ADDRESS", None)
        env.pop("RAY_ADDRESS", None)
        stderr = tmp_path / "stderr.log"
        with stderr.open("wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "cli", "ingest", str(CORPUS), "--no-progress",
                                     "--documents-per-batch", "4", "--engine", engine,
                                     "--ray-extract-actors", "1", "--ray-embed-actors", "1"],
                                    cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
        tree = Descendants(proc.pid)  # the Ray runtime's processes, stopped at the end if any is left

        def first_batch_in() -> bool:
            tree.look(listeners=False)
            return document_count(db) >= 4

        assert wait_until(proc, first_batch_in, timeout=900), "the job ended before the database could be stopped"
        stored = document_count(db)
        srv.stop()
        stopped_at = time.monotonic()
        code = proc.wait(timeout=120)  # the retry budget is 3 s a call: 120 s only bounds a hang
        took = time.monotonic() - stopped_at
        lines = [line for line in stderr.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        assert stored < 40, "the whole corpus was stored before the database stopped"
        assert code == 1, lines[-40:]
        assert "Traceback" not in "\n".join(lines), lines[-40:]
        # Ours is one line, and it is the only one: before, 236 lines of Ray traceback, then five of Ray's
        # notices (token auth, progress bars, actor constructor arguments) and a stage's own log record;
        # later Ray's C++ core announcing the log level it was told (RAY_BACKEND_LOG_LEVEL), and, on some
        # runs, "The core worker has already been shutdown" from a Ray Data thread that outlived the job.
        assert len(lines) == 1, lines[-40:]
        assert lines[0].startswith("error: job stopped: DatabaseUnavailableError"), lines
        assert took < 90, took
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        if tree is not None:
            tree.alive_after(10)
            tree.kill_rest()
        srv.stop()
