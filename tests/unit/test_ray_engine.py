"""Choosing and configuring the ingestion engine (no Ray runtime, no database: nothing is started here;
tests/integration/test_ray_ingestion.py runs the engine)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from graphrag.errors import DatabaseUnavailableError, QueryError
from ingestion.frame import abort_of, our_error
from ingestion.pipeline import IngestionConfig, IngestionPipeline, IngestionReport, make_pipeline
from ingestion.ray_engine import RayIngestionPipeline, feed_queue, per_worker
from ingestion.ray_runtime import ray_config_from


def test_the_setting_picks_the_engine_for_cli_and_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHRAG_INGEST_ENGINE", "ray")
    monkeypatch.setenv("GRAPHRAG_RAY_ADDRESS", "head.example:6379")
    monkeypatch.setenv("GRAPHRAG_RAY_EMBED_ACTORS", "4")
    settings = Settings(db_url="http://db.test:2480", db_password="a-real-secret")
    db = ArcadeDB(settings.urls, "g", "root", "a-real-secret")
    pipeline = make_pipeline(settings, db, None, config=IngestionConfig(documents_per_batch=16))
    assert isinstance(pipeline, RayIngestionPipeline)
    assert pipeline.ray_config.address == "head.example:6379" and pipeline.ray_config.embed_actors == 4
    assert pipeline.config.documents_per_batch == 16
    connection = db.connection()
    assert connection.urls == ("http://db.test:2480",) and "a-real-secret" not in repr(connection)


def test_blank_address_means_a_local_runtime_and_a_bad_engine_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHRAG_RAY_ADDRESS", " ")
    settings = Settings()
    assert settings.ingest_engine == "local" and ray_config_from(settings).address is None
    assert issubclass(RayIngestionPipeline, IngestionPipeline)
    monkeypatch.setenv("GRAPHRAG_INGEST_ENGINE", "spark")
    with pytest.raises(ValueError, match="ingest_engine"):
        Settings()


def test_cli_refuses_an_unknown_engine_before_opening_anything(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "ingest", "x.md", "--engine", "spark"])
    assert result.exit_code == 2 and "ingest_engine" in result.output
    assert not (tmp_path / "arcadedb").exists()  # no server was started, no password generated


def test_per_worker_rows_sum_each_workers_batches_and_list_idle_actors() -> None:
    one = {"stage": "extract", "node": "n1", "worker": "n1/1"}
    traces = [
        {**one, "seconds": 0.5, "documents": 4, "chunks": 5, "mentions": 7},
        {**one, "seconds": 0.25, "documents": 2, "chunks": 2, "mentions": 1},
    ]
    rows = per_worker(traces, [one, {"stage": "extract", "node": "n2", "worker": "n2/9"}])  # both pool actors
    assert rows == [
        {"stage": "extract", "worker": "n1/1", "node": "n1", "batches": 2, "documents": 6, "chunks": 7,
         "seconds": 0.75, "mentions": 8},
        {"stage": "extract", "worker": "n2/9", "node": "n2", "batches": 0, "documents": 0, "chunks": 0, "seconds": 0.0},
    ]


class _FullQueue:
    """A cluster queue that refuses `refusals` puts (as while the actor pools load their models)."""

    def __init__(self, refusals: int):
        self.refusals = refusals
        self.items: list[object] = []

    def put(self, item: object, timeout: float) -> None:
        from ray.util.queue import Full

        if self.refusals:
            self.refusals -= 1
            raise Full
        self.items.append(item)


def test_the_end_mark_waits_for_room_in_the_queue_as_long_as_the_driver_reads() -> None:
    # A full queue for longer than any fixed timeout (each refusal is a 0.5 s wait on the real queue):
    # the read task ends only on this mark, so giving it up would leave the job waiting forever.
    queue, stop, finished = _FullQueue(refusals=1000), threading.Event(), threading.Event()
    stop.set()  # the planner's own stop does not cancel the end mark
    feed_queue(queue, iter(()), stop, finished, [])  # a planner without batches
    assert queue.items == [None]

    gone = _FullQueue(refusals=10**9)
    finished.set()  # the driver has stopped reading: nothing to wait for
    feed_queue(gone, iter(()), stop, finished, [])
    assert gone.items == []


def test_a_database_outage_wrapped_by_ray_at_any_depth_ends_the_job_like_the_local_engines() -> None:
    from ray.exceptions import RayTaskError  # the wrapper Ray Data raises, made here without a runtime

    outage = DatabaseUnavailableError("the database is unreachable after 3 attempts")
    nested = RayTaskError("read", "trace", RayTaskError("map_batches", "trace", RayTaskError("write", "trace", outage)))
    raised = nested.as_instanceof_cause()  # what the driver's iterator raises
    assert our_error(raised) is outage
    assert abort_of(outage) == ("DatabaseUnavailableError: the database is unreachable after 3 attempts",
                                "database_unavailable")
    # the local engine's report for the same outage: one line, exit 1, and the API's ingestor pauses on it
    report = IngestionReport()
    report.aborted, report.abort_kind = abort_of(outage)
    assert report.exit_code == 1 and "\n" not in report.aborted
    assert abort_of(QueryError("bad"))[1] == "store_error"
    assert our_error(RayTaskError("map", "trace", ValueError("a bug"))) is None  # not ours: raised as it is


def test_rays_log_level_follows_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI without -v sets GRAPHRAG_RAY_LOG_LEVEL=ERROR (cli.main.QUIET_LIBRARIES): Ray's notices then stay
    out of the one line a failed ingest prints; the default keeps Ray's WARNINGs (the API's log)."""
    import logging

    from cli.main import QUIET_LIBRARIES

    monkeypatch.delenv("GRAPHRAG_RAY_LOG_LEVEL", raising=False)  # an in-process CLI test above may have set it
    assert ray_config_from(Settings()).log_level == logging.WARNING
    monkeypatch.setenv("GRAPHRAG_RAY_LOG_LEVEL", QUIET_LIBRARIES["GRAPHRAG_RAY_LOG_LEVEL"])
    assert ray_config_from(Settings()).log_level == logging.ERROR
