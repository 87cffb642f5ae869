"""`graphrag ingest PATH...` and `graphrag documents list|show|delete`.

The logic lives in `IngestionPipeline` and `GraphStore`; this module only parses flags and draws
progress and the summary.

Exit codes of `ingest`: 0 everything ingested (or unchanged), 3 some inputs failed (reported),
1 the job failed (database unreachable, --strict met a bad input, nothing could be ingested).
"""

from __future__ import annotations

import glob
import json
import logging
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.common import WorkspaceOpt, err, fail, given, out, workspace_settings
from graphrag.config import Settings
from ingestion.pipeline import IngestionConfig, IngestionReport, make_pipeline
from schema.runner import require_head

_DEFAULTS = IngestionConfig()  # the options' defaults are the job's, not repeated literals

log = logging.getLogger(__name__)


class RichProgress:
    """Progress bar: documents done (written or unchanged) of those seen, chunks, entities, rate."""

    def __init__(self, progress: Progress):
        self._progress = progress
        self._task = progress.add_task("ingest", total=0, chunks=0, entities=0, rate=0.0)
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self.seen = self.done = self.chunks = self.entities = 0

    def _refresh(self) -> None:
        rate = self.done / max(time.monotonic() - self._started, 1e-6)
        self._progress.update(self._task, total=self.seen, completed=self.done, chunks=self.chunks,
                              entities=self.entities, rate=rate)

    def documents_seen(self, n: int) -> None:
        with self._lock:
            self.seen += n
            self._refresh()

    def documents_skipped(self, n: int) -> None:
        with self._lock:
            self.done += n
            self._refresh()

    def batch_written(self, documents: int, chunks: int, entities: int) -> None:
        with self._lock:
            self.done += documents
            self.chunks += chunks
            self.entities += entities
            self._refresh()


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]ingest[/bold]"), BarColumn(), MofNCompleteColumn(), TextColumn("docs"),
        TextColumn("{task.fields[chunks]} chunks, {task.fields[entities]} entity rows"),
        TextColumn("[cyan]{task.fields[rate]:.1f} docs/s"),
        TimeElapsedColumn(), console=err, transient=False, refresh_per_second=4)


def print_report(report: IngestionReport) -> None:
    table = Table("documents", "count", title="ingestion summary")
    for label, value in (("new", report.documents_new), ("unchanged", report.documents_unchanged),
                         ("replaced", report.documents_replaced), ("failed", report.documents_failed)):
        table.add_row(label, str(value))
    out.print(table)
    out.print(f"written: {report.chunks} chunks, {report.entity_rows} entity rows "
              f"({report.entities_embedded} newly embedded), {report.mention_rows} mentions, "
              f"{report.relation_rows} related pairs, {report.next_rows} next edges, "
              f"{report.same_as_edges} same-as pairs; removed {report.stale_chunks_removed} stale chunks, "
              f"{report.orphan_entities_removed} orphan entities")
    if report.graph_after:
        before = report.graph_before
        out.print("graph now: " + ", ".join(
            f"{k} {v} ({v - before.get(k, 0):+d})" for k, v in report.graph_after.items()))
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in report.seconds.items())
    out.print(f"seconds per stage: {stages}")
    for failure in report.failures[:50]:
        err.print(f"[yellow]skipped[/yellow] {failure.path}: {failure.reason}", highlight=False, soft_wrap=True)
    if len(report.failures) > 50:
        err.print(f"... and {len(report.failures) - 50} more failures")
    if report.aborted:
        err.print(f"[red]error:[/red] job stopped: {report.aborted}", highlight=False, soft_wrap=True)


documents_app = typer.Typer(help="Stored documents: list, show, delete.", no_args_is_help=True)

def _open(ctx: typer.Context, workspace: str) -> tuple[Settings, Any]:
    """The workspace's settings and an open client of its database."""
    from graphrag.launch import open_database

    settings = workspace_settings(ctx, workspace)
    return settings, open_database(settings)

def ingest(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="Files, folders (recursive) or globs")],
    batch_size: Annotated[int, typer.Option(help="Rows per database statement")] = _DEFAULTS.batch_size,
    documents_per_batch: Annotated[int, typer.Option(
        help="Documents per write transaction")] = _DEFAULTS.documents_per_batch,
    workers: Annotated[int, typer.Option(help="Threads for chunking + NER")] = _DEFAULTS.workers,
    strict: Annotated[bool, typer.Option("--strict", help="Stop at the first unusable input")] = False,
    same_as_threshold: Annotated[float, typer.Option(
        help="Cosine similarity for SAME_AS edges")] = _DEFAULTS.same_as_threshold,
    no_same_as: Annotated[bool, typer.Option("--no-same-as", help="Skip SAME_AS linking")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar")] = False,
    json_report: Annotated[Path | None, typer.Option("--json", help="Also write the report here")] = None,
    engine: Annotated[str | None, typer.Option(
        help="'local' (threads in this process) or 'ray' (Ray Data on a cluster or a local Ray runtime) "
             "[GRAPHRAG_INGEST_ENGINE, local]")] = None,
    ray_address: Annotated[str | None, typer.Option(
        help="Ray cluster to join for --engine ray (head:6379, the GCS address; auto); unset = a local "
             "Ray runtime [GRAPHRAG_RAY_ADDRESS]")] = None,
    ray_extract_actors: Annotated[int | None, typer.Option(
        help="--engine ray: spaCy (chunk + NER) actors [GRAPHRAG_RAY_EXTRACT_ACTORS, 1]")] = None,
    ray_embed_actors: Annotated[int | None, typer.Option(
        help="--engine ray: embedding actors [GRAPHRAG_RAY_EMBED_ACTORS, 1]")] = None,
    ray_embed_gpus: Annotated[float | None, typer.Option(
        help="--engine ray: GPUs per embedding actor; unset = 1 when the cluster has GPUs "
             "[GRAPHRAG_RAY_EMBED_GPUS]")] = None,
    write_concurrency: Annotated[int | None, typer.Option(
        help="--engine ray: write transactions in flight [GRAPHRAG_RAY_WRITE_CONCURRENCY, 2]")] = None,
    ray_extract_resources: Annotated[str | None, typer.Option(
        help="--engine ray: custom resources per NER actor, JSON, e.g. '{\"cpu_node\": 1}' "
             "[GRAPHRAG_RAY_EXTRACT_RESOURCES]")] = None,
    ray_embed_resources: Annotated[str | None, typer.Option(
        help="--engine ray: custom resources per embedding actor, JSON [GRAPHRAG_RAY_EMBED_RESOURCES]")] = None,
    root: Annotated[Path | None, typer.Option(
        help="A file under this folder is stored under its path relative to it (id and source: docs/a.md); a file "
             "elsewhere under its absolute path  [default: the current folder]", file_okay=False)] = None,
    workspace: WorkspaceOpt = "default",
) -> None:
    """Ingest documents into the graph: new ones added, unchanged skipped, changed replaced.

    A file's document id is its path relative to the current folder (or --root), e.g. docs/a.md, so
    the same file is the same document however it is named; records of .json/.jsonl files carry their
    own ids.
    """
    overrides = given(ingest_engine=engine, ray_address=ray_address, ray_extract_actors=ray_extract_actors,
                      ray_embed_actors=ray_embed_actors, ray_embed_gpus=ray_embed_gpus,
                      ray_write_concurrency=write_concurrency, ray_extract_resources=ray_extract_resources,
                      ray_embed_resources=ray_embed_resources)
    settings = workspace_settings(ctx, workspace)
    try:  # validated before anything is opened: a wrong --engine is a usage error, not a job failure
        for name in ("ray_extract_resources", "ray_embed_resources"):
            if name in overrides:
                overrides[name] = json.loads(overrides[name])
        settings = Settings.model_validate({**settings.model_dump(), **overrides}) if overrides else settings
    except ValueError as exc:  # json.JSONDecodeError is one too
        fail(f"invalid option: {exc}", code=2)
        return
    missing = [p for p in paths if not _names_a_file(p)]
    if len(missing) == len(paths):  # nothing to do: say so before the database is opened or a model loaded
        for path in missing:
            err.print(f"[yellow]skipped[/yellow] {path}: {_why_missing(path)}", highlight=False, soft_wrap=True)
        fail("nothing to ingest: no input names an existing file", code=1)
    from graphrag.launch import open_database

    db = open_database(settings)
    require_head(db, settings.embedding_dim)  # MigrationError: one line, exit 1
    try:
        config = IngestionConfig(batch_size=batch_size, documents_per_batch=documents_per_batch,
                                 workers=workers, strict=strict, same_as_threshold=same_as_threshold,
                                 link_same_as=not no_same_as, id_root=(root or Path.cwd()).resolve())
    except ValueError as exc:
        fail(f"invalid option: {exc}", code=2)
        return
    embedder = None  # make_pipeline loads it for the local engine; the Ray engine loads it in its actors
    try:
        if no_progress:
            report = make_pipeline(settings, db, embedder, config=config).run(paths)
        else:
            with _progress_bar() as bar:
                listener = RichProgress(bar)
                report = make_pipeline(settings, db, embedder, config=config, progress=listener).run(paths)
        # Said before Ray stops: a Ray Data thread still winding down an aborted job made Ray's core worker
        # end the process while the runtime shut down, and the job's one error line was lost with it. The
        # engine now waits for those threads (ray_engine._end_iteration), for a bounded time only.
        print_report(report)
        if json_report is not None:
            json_report.write_text(report.model_dump_json(indent=2), encoding="utf-8")
    finally:
        if settings.ingest_engine == "ray":  # a local Ray runtime the job started ends with it
            from ingestion.ray_runtime import shutdown_local_ray

            shutdown_local_ray()
    db.close()
    raise typer.Exit(report.exit_code)

def _is_pattern(path: str) -> bool:
    return any(ch in path for ch in "*?[")  # as ingestion.loaders.expand_paths reads them


def _names_a_file(path: str) -> bool:
    """Whether `path` (a file, a folder or a glob) could name any input: cheap checks, no folder walk."""
    if _is_pattern(path):
        return any(Path(m).is_file() for m in glob.iglob(path, recursive=True))
    return Path(path).exists()


def _why_missing(path: str) -> str:
    return "the pattern matched no file" if _is_pattern(path) else "no such file or folder"


@documents_app.command("list")
def documents_list(ctx: typer.Context,
                   limit: Annotated[int, typer.Option(help="At most this many")] = 50,
                   skip: Annotated[int, typer.Option(help="Skip this many first")] = 0,
                   workspace: WorkspaceOpt = "default") -> None:
    """List stored documents (id, title, chunks, ingested at)."""
    from graphrag.store import GraphStore

    _, db = _open(ctx, workspace)
    table = Table("id", "title", "chunks", "ingested at")
    for row in GraphStore(db).list_documents(skip=skip, limit=limit):
        table.add_row(str(row["id"]), str(row.get("title") or ""), str(row.get("chunk_count") or ""),
                      str(row.get("ingested_at") or ""))
    out.print(table)

@documents_app.command("show")
def documents_show(ctx: typer.Context, document_id: Annotated[str, typer.Argument(help="Document id")],
                   workspace: WorkspaceOpt = "default") -> None:
    """Show one stored document's record."""
    from graphrag.store import GraphStore

    _, db = _open(ctx, workspace)
    row = GraphStore(db).get_document(document_id)
    if row is None:
        fail(f"no document with id {document_id!r}", code=4)
    out.print_json(json.dumps(row, default=str))

@documents_app.command("delete")
def documents_delete(ctx: typer.Context,
                     document_ids: Annotated[list[str], typer.Argument(help="Document id(s)")],
                     workspace: WorkspaceOpt = "default") -> None:
    """Delete documents with their chunks, mentions, and the entities no other document mentions."""
    from graphrag.store import GraphStore

    _, db = _open(ctx, workspace)
    store = GraphStore(db)
    missing = []
    for document_id in document_ids:
        stats = store.delete_document(document_id)
        if stats is None:
            missing.append(document_id)
            continue
        out.print(f"deleted {document_id}: {stats.stale_chunks_removed} chunks, "
                  f"{stats.orphan_entities_removed} entities no other document mentions")
    if missing:
        fail(f"no document with id {', '.join(map(repr, missing))}", code=4)
