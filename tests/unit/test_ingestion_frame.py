"""The job frame's error mapping, written once for both engines (no database: the stub executors fail
before any batch is planned, and the knobs that would ask the database are off)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields

import pytest

from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from graphrag.errors import DatabaseUnavailableError, IngestionError
from graphrag.store import WriteStats
from ingestion.frame import IngestionPipeline
from ingestion.job import IngestionConfig, IngestionReport, Job, PreparedBatch


class Wrapper(Exception):
    """What Ray raises around a task's error: the next one down as `cause` (ray.exceptions.RayTaskError)."""

    def __init__(self, cause: BaseException):
        super().__init__("wrapped")
        self.cause = cause


class Failing:
    """An executor that fails at once, as an outage or a bug would inside either engine."""

    def __init__(self, error: BaseException):
        self.error = error
        self.job: Job | None = None

    def execute(self, job: Job, batches: Iterator[PreparedBatch]) -> None:
        self.job = job
        raise self.error


def run_with(error: BaseException) -> tuple[IngestionPipeline, Failing]:
    settings = Settings(db_url="http://db.test:2480", db_password="a-real-secret")
    executor = Failing(error)
    pipeline = IngestionPipeline(settings, ArcadeDB(settings.urls, "g", "root", "a-real-secret"), None,
                                 config=IngestionConfig(count_graph=False, link_same_as=False), executor=executor)
    return pipeline, executor


def test_our_error_at_any_depth_ends_the_job_with_one_line_and_stops_every_part() -> None:
    outage = DatabaseUnavailableError("the database is unreachable after 3 attempts")
    pipeline, executor = run_with(Wrapper(Wrapper(outage)))
    report = pipeline.run(["a.md"])
    assert (report.aborted, report.abort_kind) == (
        "DatabaseUnavailableError: the database is unreachable after 3 attempts", "database_unavailable")
    assert report.exit_code == 1 and "total" in report.seconds
    assert executor.job is not None and executor.job.stop.is_set()


def test_a_strict_stop_reads_as_its_message_and_another_error_is_raised() -> None:
    report = run_with(IngestionError("x.md: empty document (no text) (--strict)"))[0].run(["x.md"])
    assert (report.aborted, report.abort_kind) == ("x.md: empty document (no text) (--strict)", "strict")
    with pytest.raises(Wrapper) as raised:  # not ours: raised as it came, traceback and all
        run_with(Wrapper(ValueError("a bug")))[0].run(["a.md"])
    assert isinstance(raised.value.cause, ValueError)


def test_the_report_totals_every_write_counter_under_its_own_name() -> None:
    """`WriteStats` is the one home of the write counters: each name in `ROW_COUNTS` is a report field
    (the `--json-report` key) and `add_written` adds it, batch after batch; nothing else moves."""
    assert set(WriteStats.ROW_COUNTS) <= set(IngestionReport.model_fields)
    assert set(WriteStats.ROW_COUNTS) == {f.name for f in fields(WriteStats)} - {"documents", "seconds"}
    report = IngestionReport()
    stats = WriteStats(**{name: n for n, name in enumerate(WriteStats.ROW_COUNTS, start=1)}, documents=9, seconds=2.0)
    report.add_written(stats)
    report.add_written(stats)
    dumped = report.model_dump()
    assert {name: dumped[name] for name in WriteStats.ROW_COUNTS} == \
        {name: 2 * n for n, name in enumerate(WriteStats.ROW_COUNTS, start=1)}
    assert dumped == {**IngestionReport().model_dump(), **{name: dumped[name] for name in WriteStats.ROW_COUNTS}}
