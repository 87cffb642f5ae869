"""`graphrag up` (everything on embedded defaults), `graphrag serve` (the API alone) and `graphrag mcp`
(the tools for agents over stdio).

`up` starts what is missing (the embedded database, the schema, a sample corpus on an empty
database, the CPU answerer when installed), serves the API on loopback, and on Ctrl-C stops exactly
what it started.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import typer

from api.context import configure_logging
from cli.common import WorkspaceOpt, echo, fail, given, settings_of
from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from graphrag.errors import ConfigError
from graphrag.store import GraphStore

if TYPE_CHECKING:
    from api.deps import Components

# `api.server` (and through it the app's schemas, the answerer and the LLM client libraries, about
# a second of imports) is imported by the commands that serve, not by every `graphrag` command: a
# `graphrag ingest` or `graphrag db stop` starts that much sooner.

_HostOpt = Annotated[str | None, typer.Option("--host", help="API interface [GRAPHRAG_API_HOST, 127.0.0.1]")]
_PortOpt = Annotated[int | None, typer.Option("--port", help="API port [GRAPHRAG_API_PORT, 8000]")]


def _api_settings(ctx: typer.Context, host: str | None, port: int | None) -> Settings:
    settings = settings_of(ctx)
    overrides = given(api_host=host, api_port=port)
    return settings.model_copy(update=overrides) if overrides else settings


def up(ctx: typer.Context, host: _HostOpt = None, port: _PortOpt = None,
       sample: Annotated[bool, typer.Option(help="Ingest the sample corpus into an empty database")] = True,
       llm: Annotated[bool, typer.Option(help="Start the local CPU answerer when it is installed and no "
                                              "GRAPHRAG_LLM_BASE_URL is set")] = True,
       ) -> None:
    """Bring the whole service up on embedded defaults: database, migrations, sample corpus, API."""
    configure_logging(logging.INFO)
    bring_up(_api_settings(ctx, host, port), sample=sample, llm=llm, echo=echo)


def serve(ctx: typer.Context, host: _HostOpt = None, port: _PortOpt = None) -> None:
    """Serve the API alone (the database must be running and migrated)."""
    from api.server import serve as serve_api

    configure_logging(logging.INFO)
    serve_api(_api_settings(ctx, host, port), echo=echo)


def mcp(ctx: typer.Context,
        read_only: Annotated[bool, typer.Option("--read-only", help="Refuse add_document and delete_document, "
                                                                     "as a read key does over HTTP")] = False,
        workspace: WorkspaceOpt = "default") -> None:
    """Serve the tools for agents (MCP) over stdin/stdout, for desktop clients that start it themselves.

    The database must be running and migrated. Over HTTP the same server is at /mcp of `graphrag serve`
    (and at /v1/workspaces/NAME/mcp for a workspace). Every call works in --workspace.
    """
    from api.mcp.stdio import run_stdio
    from schema.workspaces import WorkspaceNameError, check_name

    try:
        check_name(workspace)
    except WorkspaceNameError as exc:
        fail(str(exc), code=2)
    run_stdio(settings_of(ctx), read_only=read_only, workspace=workspace)


# --- the orchestration behind `up` -------------------------------------------------------------------


def database_is_empty(db: ArcadeDB) -> bool:
    return GraphStore(db).count_documents() == 0


def ingest_sample_corpus(components: Components, echo: Callable[[str], None] = print) -> int:
    """The six sample documents, so that a first `graphrag up` answers the banner's question."""
    from api.server import SAMPLE_CORPUS

    if components.ingestor is None:
        raise ConfigError("this service has no ingestion: the sample corpus cannot be loaded")
    files = sorted(SAMPLE_CORPUS.glob("*.md"))
    summary = components.ingestor.ingest_paths(files, SAMPLE_CORPUS)
    echo(f"sample corpus: {summary.documents} documents, {summary.chunks} chunks, {summary.entities} entities "
         f"in {summary.seconds:.1f}s")
    return summary.documents


@dataclass
class Started:
    """What `up` started, to stop on the way out (and nothing else)."""

    stops: list[tuple[str, Callable[[], object]]] = field(default_factory=list)

    def stop_all(self, echo: Callable[[str], None]) -> None:
        for name, stop in reversed(self.stops):
            try:
                stop()
                echo(f"stopped {name}")
            except Exception as exc:  # keep stopping the rest
                echo(f"could not stop {name}: {exc}")


def start_local_llm(settings: Settings, started: Started, echo: Callable[[str], None]) -> Settings:
    """The CPU answerer when its pieces are installed (llama-cpp-python and a packaged GGUF model);
    otherwise the settings unchanged, and answers are extractive."""
    import importlib.util

    from graphrag.errors import GraphRAGError
    from graphrag.local_llm import local_llm_server, resolve_model

    if importlib.util.find_spec("llama_cpp") is None:
        echo("no CPU model (llama-cpp-python is not installed: `make llm`): answers are extractive")
        return settings
    try:
        resolve_model(settings.llm_local_model, settings.data_dir)
        server = local_llm_server(settings)
        was_running = server.status().running
        status = server.start()
    except GraphRAGError as exc:
        echo(f"no CPU model ({exc}): answers are extractive")
        return settings
    echo(f"CPU answerer {settings.llm_local_model} at {status.url} "
         f"({'already running' if was_running else 'started'})")
    if not was_running:
        started.stops.append(("the CPU answerer", server.stop))
    return settings.model_copy(update={"llm_base_url": "local"})


def bring_up(settings: Settings, *, sample: bool = True, llm: bool = True,
             echo: Callable[[str], None] = print) -> None:
    """Database, migrations, sample corpus (empty database only), CPU answerer when installed and no
    LLM is configured, API; Ctrl-C stops what this started."""
    from api.components import ComponentFactory
    from api.server import serve as serve_api
    from graphrag.launch import embedded_server, open_database
    from schema.runner import MigrationRunner

    started = Started()
    # SIGTERM (systemd, `docker stop`, a supervisor) must stop what `up` started, as Ctrl-C does:
    # uvicorn re-raises the signal after its graceful shutdown, and the default action would end the
    # process before the `finally` below, leaving the database running.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        if settings.embedded:
            server = embedded_server(settings)
            was_running = server.status().running
            status = server.start()
            echo(f"ArcadeDB {status.version} at {status.url} ({'already running' if was_running else 'started'})")
            if not was_running:
                started.stops.append(("ArcadeDB", server.stop))
        db = open_database(settings)
        started.stops.append(("database client", db.close))
        runner = MigrationRunner(db, embedding_dim=settings.embedding_dim)
        applied = runner.migrate()
        echo(f"schema at version {runner.head}" + (f" (applied {applied})" if applied else " (up to date)"))
        if llm and settings.llm_base_url is None:
            settings = start_local_llm(settings, started, echo)
        echo("loading models ...")
        # The factory, not parts built from it, goes to the app: the app builds every workspace's parts
        # with it (the models load once, here). Fixed parts would leave every other workspace without
        # any, which is what `up` once did.
        factory = ComponentFactory()
        if sample and database_is_empty(db):
            ingest_sample_corpus(factory(settings, db), echo)
        serve_api(settings, factory, echo=echo)
    finally:
        started.stop_all(echo)
        signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
