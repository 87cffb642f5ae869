"""Batch ingest jobs whose state lives in the database (`IngestJob`), not in the process.

A job is a fixed, ordered list of files (folders are expanded when the job is created, uploads are
saved under the data folder first), so progress is simply "files done of total", and a job can be
resumed at its `done` index by any process: ingestion is idempotent by content hash, so a file
that was half-written when a process died is rewritten cleanly.

Workspaces: a job is bound to the incarnation of its workspace it was authorised for, not to its
name (`api.workspaces`): each file runs inside `Workspaces.writing`, so a job whose workspace was
deleted stops, even when a workspace of the same name exists again, and never writes there. Deleting
a workspace cancels its jobs (`JobManager.end_workspace`): they stop at the next file, and the delete
waits for the file this process is on.

Fairness: the jobs of a process take turns file by file (one file at a time on the CPU, in the order
they asked), so a long job delays a small one by one file, not by the whole job; a file's own cost is
bounded by the ingest budgets (`GRAPHRAG_INGEST_MAX_*`, `ingestion.loaders.LoadBudget`).

Ownership: the process working on a job refreshes `heartbeat_at` every few seconds. A job still
`queued`/`running` whose heartbeat is older than `api_job_stale_s` was abandoned (the service
restarted, or lost the database for a while); the sweeper of any process adopts it with a
compare-and-set on the heartbeat it saw, so two replicas never run the same job.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool

from api import statements
from api.context import set_workspace
from api.deps import IngestorLike
from api.metrics import Metrics
from api.schemas import IngestSummary, JobOut, JobProgress
from graphrag.arcadedb import AsyncArcadeDB
from graphrag.errors import DatabaseUnavailableError, GraphRAGError
from schema.workspaces import DEFAULT, WorkspaceGoneError

log = logging.getLogger(__name__)
IngestorSource = Callable[[str], Awaitable[IngestorLike | None]]
WriteGuard = Callable[[str, str | None], AbstractAsyncContextManager[None]]  # `Workspaces.writing`

HEARTBEAT_S = 5.0
ACTIVE = ("queued", "running")
CANCELLED = "cancelled"

def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def job_out(row: dict[str, Any]) -> JobOut:
    total, done = int(row.get("total") or 0), int(row.get("done") or 0)
    summary = IngestSummary.model_validate_json(row["summary_json"]) if row.get("summary_json") else None
    return JobOut(id=row["id"], state=row["state"],
                  progress=JobProgress(done=done, total=total, fraction=round(done / total, 4) if total else 1.0),
                  created_at=row.get("created_at") or "", updated_at=row.get("updated_at") or "",
                  error=row.get("error") or None, summary=summary)


class JobStore:
    """Reads and writes `IngestJob` vertices (`api.statements`, parameters only) in the control database.

    Every job names its workspace, and every read a client can cause filters on it: a job of
    another workspace is "not found". Jobs made before workspaces have no name stored and belong to
    `default`."""

    def __init__(self, db: AsyncArcadeDB):
        self.db = db

    async def create(self, job_id: str, workspace: str, kind: str, sources: list[str], root: str, owner: str,
                     summary: IngestSummary | None = None, incarnation: str | None = None) -> dict[str, Any]:
        now = _now_iso()
        rows = await self.db.cypher(
            statements.CREATE_JOB,
            {"id": job_id, "workspace": workspace, "incarnation": incarnation, "kind": kind, "sources": sources,
             "root": root,
             "total": len(sources), "owner": owner, "hb": time.time(), "now": now,
             "summary": summary.model_dump_json() if summary else None},
            idempotent=False)
        return rows[0]

    async def get(self, job_id: str, workspace: str | None = None,
                  incarnation: str | None = None) -> dict[str, Any] | None:
        """The job, if it exists and (with `workspace`) belongs to that workspace (and incarnation)."""
        rows = await self.db.cypher(statements.GET_JOB,
                                    {"id": job_id, "workspace": workspace, "incarnation": incarnation})
        return rows[0] if rows else None

    async def recent(self, limit: int, workspace: str, incarnation: str | None = None) -> list[dict[str, Any]]:
        """The workspace's newest jobs first: what a person who started uploads wants to watch."""
        return await self.db.cypher(statements.RECENT_JOBS,
                                    {"limit": limit, "workspace": workspace, "incarnation": incarnation})

    async def cancel_workspace(self, workspace: str) -> list[dict[str, Any]]:
        """Mark the workspace's queued and running jobs cancelled (its delete); the jobs marked."""
        return await self.db.cypher(statements.CANCEL_WORKSPACE_JOBS,
                                    {"workspace": workspace, "active": list(ACTIVE), "cancelled": CANCELLED,
                                     "error": f"cancelled: workspace {workspace!r} was deleted", "now": _now_iso()})

    async def update(self, job_id: str, owner: str, **fields: Any) -> bool:
        """Set fields on a job this process still owns and that is still queued or running (False:
        another process adopted it, or it was cancelled or forgotten with its workspace)."""
        fields |= {"updated_at": _now_iso(), "heartbeat_at": time.time()}
        rows = await self.db.cypher(statements.update_job(fields),  # names are ours, values parameters
                                    {"id": job_id, "owner": owner, "active": list(ACTIVE),
                                     **{f"f_{k}": v for k, v in fields.items()}})
        return bool(rows)

    async def heartbeat(self, owner: str, job_ids: list[str]) -> None:
        """Keep alive the jobs this process is working on or has queued, and only those: a job it
        gave up (paused on a database outage) must go stale so that a sweeper resumes it."""
        if not job_ids:
            return
        await self.db.cypher(statements.HEARTBEAT_JOBS,
                             {"ids": job_ids, "owner": owner, "active": list(ACTIVE), "hb": time.time()})

    async def stale(self, older_than_s: float) -> list[dict[str, Any]]:
        return await self.db.cypher(statements.STALE_JOBS,
                                    {"active": list(ACTIVE), "cutoff": time.time() - older_than_s})

    async def adopt(self, job_id: str, seen_heartbeat: float, owner: str) -> bool:
        rows = await self.db.cypher(
            statements.ADOPT_JOB,
            {"id": job_id, "seen": seen_heartbeat, "active": list(ACTIVE), "owner": owner, "hb": time.time()})
        return bool(rows)


class JobManager:
    """Runs this process's jobs, one file at a time in turn (2 cores: parallel ingest work only
    thrashes), keeps their heartbeats fresh, and adopts abandoned ones.

    Args:
        store: the job records.
        ingestor_of: a job's workspace -> its ingestor (None: gone, or no ingestion).
        metrics: the service's metrics.
        stale_s: a job whose heartbeat is older is adopted.
        uploads_dir: an upload job's files live under it until the job ends.
        writing: `Workspaces.writing`, where each file of a job runs (None: no workspace checks).
    """

    def __init__(self, store: JobStore, ingestor_of: IngestorSource, metrics: Metrics, *, stale_s: float,
                 uploads_dir: Path | None = None, writing: WriteGuard | None = None):
        self.store = store
        self.ingestor_of = ingestor_of
        self.metrics = metrics
        self.stale_s = stale_s
        self.uploads_dir = uploads_dir
        self.writing = writing
        self.owner = uuid.uuid4().hex
        self._turn = asyncio.Lock()  # one file at a time; asyncio.Lock wakes waiters in the order they came
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._workspace_of: dict[str, str] = {}
        self._in_file: set[str] = set()  # jobs working on a file now (a cancel waits for it)
        self._ending: set[str] = set()  # jobs cancelled here: they stop before their next file
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep(), name="ingest-job-sweeper")

    async def stop(self) -> None:
        tasks = [t for t in [self._sweeper, *self._tasks.values()] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def submit(self, workspace: str, kind: str, files: list[Path], root: Path, job_id: str | None = None, *,
                     skipped: list[str] | None = None, incarnation: str | None = None) -> JobOut:
        """Record the job in `workspace` (its `incarnation`, as the request was authorised for), then
        start it; `root` is what document ids are relative to, and `skipped` names inputs refused
        before the job started (they stay in its summary)."""
        job_id = job_id or new_job_id()
        summary = IngestSummary(failed=list(skipped), inputs=len(skipped), inputs_failed=len(skipped)) \
            if skipped else None
        row = await self.store.create(job_id, workspace, kind, [str(f) for f in files], str(root), self.owner,
                                      summary, incarnation)
        self._launch(job_id, workspace, incarnation, kind, [str(f) for f in files], str(root), 0)
        return job_out(row)

    def _launch(self, job_id: str, workspace: str, incarnation: str | None, kind: str, sources: list[str], root: str,
                start_at: int) -> None:
        task = asyncio.create_task(self._run(job_id, workspace, incarnation, kind, sources, root, start_at),
                                   name=f"ingest-job-{job_id}")
        self._tasks[job_id] = task
        self._workspace_of[job_id] = workspace

        def ended(_: asyncio.Task[None]) -> None:
            self._tasks.pop(job_id, None)
            self._workspace_of.pop(job_id, None)
            self._ending.discard(job_id)

        task.add_done_callback(ended)

    async def end_workspace(self, workspace: str) -> int:
        """Cancel the workspace's queued and running jobs, for its delete: their records say
        `cancelled` (a process running one stops before its next file: its record no longer takes its
        progress), and this process's jobs have stopped when this returns, the file one was on
        finished first (a thread cannot be stopped mid-file). The number of jobs cancelled."""
        rows = await self.store.cancel_workspace(workspace)
        ours = [job_id for job_id, name in self._workspace_of.items() if name == workspace]
        self._ending.update(ours)
        for job_id in ours:
            if job_id not in self._in_file:
                self._tasks[job_id].cancel()  # waiting for its turn: nothing of it runs
        await asyncio.gather(*(self._tasks[j] for j in ours if j in self._tasks), return_exceptions=True)
        for row in rows:
            self.discard_upload(str(row.get("kind") or ""), Path(str(row.get("root") or "/")))
        if rows:
            log.info("workspace %s: %d ingest job(s) cancelled", workspace, len(rows))
        return len(rows)

    def discard_upload(self, kind: str, root: Path) -> None:
        """Delete an upload job's folder (its saved files) once the job has ended; only ever a folder
        inside `uploads_dir`, never a server folder that a paths job read."""
        if kind != "upload" or self.uploads_dir is None:
            return
        folder, uploads = root.resolve(), self.uploads_dir.resolve()
        if uploads in folder.parents:
            shutil.rmtree(folder, ignore_errors=True)

    async def _run(self, job_id: str, workspace: str, incarnation: str | None, kind: str, sources: list[str],
                   root: str, start_at: int) -> None:
        set_workspace(workspace)  # the job's log lines carry its workspace
        try:
            if await self._work(job_id, workspace, incarnation, kind, sources, Path(root), start_at):
                self.discard_upload(kind, Path(root))
        except DatabaseUnavailableError as exc:
            # The state cannot be written now. The task ends, so the sweeper stops refreshing the
            # job's heartbeat: once it is stale, a sweeper (this process's or another's) adopts it
            # and resumes at the last file recorded as done.
            log.warning("job %s paused, database unreachable (resumed once it answers again): %s", job_id, exc)
        except asyncio.CancelledError:
            if job_id in self._ending:
                log.info("job %s cancelled: its workspace is being deleted", job_id)
            else:
                log.info("job %s left for another process (shutdown at file %s)", job_id, start_at)
            raise

    def _guard(self, workspace: str, incarnation: str | None) -> AbstractAsyncContextManager[None]:
        return self.writing(workspace, incarnation) if self.writing is not None else nullcontext()

    async def _work(self, job_id: str, workspace: str, incarnation: str | None, kind: str, sources: list[str],
                    root: Path, start_at: int) -> bool:
        """Run the job from `start_at`; True when it ended here (succeeded, failed or cancelled), False
        when it was left to another process."""
        row = await self.store.get(job_id)
        summary = IngestSummary.model_validate_json(row["summary_json"]) if row and row.get("summary_json") \
            else IngestSummary()
        label = self.metrics.workspace_label(workspace)
        ingestor = await self.ingestor_of(workspace)
        if ingestor is None:
            ended = await self.store.update(job_id, self.owner, state="failed",
                                            error=f"ingestion is not available in workspace {workspace!r}")
            self.metrics.ingest_jobs.labels("failed", label).inc()
            return ended
        if not await self.store.update(job_id, self.owner, state="running"):
            return False
        log.info("job %s (workspace %s): %s files from %s", job_id, workspace, len(sources), start_at)
        for index in range(start_at, len(sources)):
            path = Path(sources[index])
            async with self._turn:
                if job_id in self._ending:
                    return True
                try:
                    async with self._guard(workspace, incarnation):
                        self._in_file.add(job_id)
                        try:
                            part = await self._one_file(job_id, ingestor, path, root, kind)
                        finally:
                            self._in_file.discard(job_id)
                except WorkspaceGoneError as exc:
                    # deleted (or deleted and made again) since the job was authorised: not one more file
                    log.warning("job %s stopped: %s", job_id, exc)
                    await self.store.update(job_id, self.owner, state="failed", error=str(exc))
                    self.metrics.ingest_jobs.labels("failed", label).inc()
                    return True
            summary.add(part)
            self.metrics.ingest_documents.labels(label).inc(part.documents)
            self.metrics.ingest_chunks.labels(label).inc(part.chunks)
            if not await self.store.update(job_id, self.owner, done=index + 1,
                                           summary_json=summary.model_dump_json()):
                if job_id in self._ending:
                    return True
                log.warning("job %s was adopted by another process or cancelled; stopping here", job_id)
                return False
        state = "failed" if summary.failed and summary.documents == 0 and summary.skipped == 0 else "succeeded"
        await self.store.update(job_id, self.owner, state=state, error=job_error(summary))
        self.metrics.ingest_jobs.labels(state, label).inc()
        return True

    async def _one_file(self, job_id: str, ingestor: IngestorLike, path: Path, root: Path, kind: str) -> IngestSummary:
        """One file of a job; its failure (a bad file, a file over its budget) is the file's, not the job's."""
        try:
            return await run_in_threadpool(ingestor.ingest_paths, [path], root, by_content=kind == "upload")
        except DatabaseUnavailableError:
            raise
        except GraphRAGError as exc:  # one bad file does not sink the batch
            return IngestSummary(failed=[f"{path.name}: {exc}"], inputs=1, inputs_failed=1)
        except Exception as exc:
            log.exception("job %s: file %s failed", job_id, path)
            return IngestSummary(failed=[f"{path.name}: internal error ({type(exc).__name__})"], inputs=1,
                                 inputs_failed=1)

    async def _sweep(self) -> None:
        while True:
            try:
                await self.store.heartbeat(self.owner, list(self._tasks))
                for row in await self.store.stale(self.stale_s):
                    if row["id"] in self._tasks:
                        continue
                    if await self.store.adopt(row["id"], row["heartbeat_at"], self.owner):
                        log.info("adopted job %s at file %s of %s", row["id"], row.get("done"), row.get("total"))
                        self._launch(row["id"], str(row.get("workspace") or DEFAULT), row.get("incarnation"),
                                     str(row.get("kind") or "paths"), list(row.get("sources") or []),
                                     str(row.get("root") or "/"), int(row.get("done") or 0))
            except GraphRAGError as exc:
                log.warning("job sweeper: %s", exc)
            await asyncio.sleep(HEARTBEAT_S)


def job_error(summary: IngestSummary) -> str | None:
    """The job's error line: failed inputs counted as inputs (files), not as the records inside them."""
    if not summary.failed:
        return None
    text = f"{summary.inputs_failed} of {summary.inputs} inputs failed"
    if len(summary.failed) != summary.inputs_failed:  # records of a JSON Lines file fail one by one
        text += f"; {len(summary.failed)} problems in all, listed in summary.failed"
    return text


def new_job_id() -> str:
    return "job-" + uuid.uuid4().hex[:16]

