"""`graphrag`: one command line for the database, the schema, ingestion, evaluation and the service.

Settings come from `GRAPHRAG_*` environment variables; the global flags here override them.
Every failure ends with one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from graphrag.config import Settings
from graphrag.errors import GraphRAGError
from graphrag.launch import embedded_server, open_database

app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Run the embedded ArcadeDB server (from the arcadedb-embedded wheel).",
                     no_args_is_help=True)
schema_app = typer.Typer(help="Versioned schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(schema_app, name="schema")

out = Console()
err = Console(stderr=True)


@app.callback()
def _global(
    ctx: typer.Context,
    data_dir: Annotated[Path | None, typer.Option(help="Data folder [GRAPHRAG_DATA_DIR, default .data]")] = None,
    db_url: Annotated[str | None, typer.Option(help="Existing ArcadeDB server URL [GRAPHRAG_DB_URL]; "
                                                    "unset = embedded")] = None,
    db_port: Annotated[int | None, typer.Option(help="Embedded server port [GRAPHRAG_DB_PORT, 2480]")] = None,
    db_name: Annotated[str | None, typer.Option(help="Database name [GRAPHRAG_DB_NAME, graphrag]")] = None,
    db_user: Annotated[str | None, typer.Option(help="Database user [GRAPHRAG_DB_USER, root]")] = None,
    db_password: Annotated[str | None, typer.Option(help="Database password [GRAPHRAG_DB_PASSWORD]; "
                                                         "unset = the embedded server's generated one")] = None,
    embedding_model: Annotated[str | None, typer.Option(help="Embedding model [GRAPHRAG_EMBEDDING_MODEL]")] = None,
    embedding_dim: Annotated[int | None, typer.Option(help="Embedding dimension [GRAPHRAG_EMBEDDING_DIM]")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details")] = False,
) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("httpx", "httpcore", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    overrides: dict[str, Any] = {k: v for k, v in {
        "data_dir": data_dir, "db_url": db_url, "db_port": db_port, "db_name": db_name, "db_user": db_user,
        "db_password": db_password, "embedding_model": embedding_model, "embedding_dim": embedding_dim,
    }.items() if v is not None}
    try:
        ctx.obj = Settings(**overrides)
    except ValueError as exc:
        fail(f"invalid setting: {_first_validation_error(exc)}", code=2)


def _first_validation_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)


def fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def settings_of(ctx: typer.Context) -> Settings:
    return ctx.obj if isinstance(ctx.obj, Settings) else Settings()


# --- db ---------------------------------------------------------------------------------------------


@db_app.command("start")
def db_start(ctx: typer.Context,
             timeout: Annotated[float, typer.Option(help="Seconds to wait for the server")] = 90.0) -> None:
    """Start the embedded server (a no-op when it already runs) and create the database."""
    settings = settings_of(ctx)
    server = embedded_server(settings)
    before = server.status()
    status = server.start(timeout=timeout)
    open_database(settings).close()
    verb = "already running" if before.running else "started"
    out.print(f"ArcadeDB {status.version} {verb} at {status.url} (pid {status.pid}); "
              f"database '{settings.db_name}', data in {server.root_path}, log {server.log_file}")


@db_app.command("stop")
def db_stop(ctx: typer.Context) -> None:
    """Stop the embedded server."""
    server = embedded_server(settings_of(ctx))
    out.print("ArcadeDB stopped" if server.stop() else "ArcadeDB was not running")


@db_app.command("status")
def db_status(ctx: typer.Context) -> None:
    """Say whether the embedded server runs; exit 3 when it does not."""
    status = embedded_server(settings_of(ctx)).status()
    if status.running:
        out.print(f"running: ArcadeDB {status.version} at {status.url} (pid {status.pid})")
    else:
        out.print(f"not running ({status.detail})")
        raise typer.Exit(3)


# --- schema -----------------------------------------------------------------------------------------


def _runner(settings: Settings) -> Any:
    from schema.runner import MigrationRunner

    return MigrationRunner(open_database(settings), embedding_dim=settings.embedding_dim)


@schema_app.command("status")
def schema_status(ctx: typer.Context) -> None:
    """List every migration version, applied or pending; exit 4 if one changed after being applied."""
    runner = _runner(settings_of(ctx))
    table = Table("version", "name", "state", "applied at")
    changed = False
    for st in runner.status():
        state = "pending" if not st.applied else ("applied" if st.checksum_ok else "CHANGED since applied")
        changed |= st.applied and not st.checksum_ok
        table.add_row(str(st.version), st.name, state, st.applied_at or "")
    out.print(table)
    out.print(f"current version {runner.current_version()}, head {runner.head}")
    if changed:
        raise typer.Exit(4)


@schema_app.command("migrate")
def schema_migrate(ctx: typer.Context) -> None:
    """Apply pending migrations in order (running it again changes nothing)."""
    runner = _runner(settings_of(ctx))
    applied = runner.migrate()
    if applied:
        out.print(f"applied migrations {', '.join(map(str, applied))}; schema at version {runner.head}")
    else:
        out.print(f"schema is up to date (version {runner.head})")


@schema_app.command("reset")
def schema_reset(ctx: typer.Context,
                 yes: Annotated[bool, typer.Option("--yes", help="Confirm: drop every type and its data")] = False,
                 ) -> None:
    """Drop every type and all data (edge types first); `migrate` rebuilds the schema."""
    if not yes:
        fail("reset drops every type and all data in the database; add --yes to confirm", code=2)
    dropped = _runner(settings_of(ctx)).reset()
    out.print(f"dropped {len(dropped)} types; run `graphrag schema migrate` to rebuild")


@app.command("up")
def up(ctx: typer.Context) -> None:
    """Bring everything up on embedded defaults: the database, then the schema migrations."""
    settings = settings_of(ctx)
    if settings.embedded:
        status = embedded_server(settings).start()
        out.print(f"ArcadeDB {status.version} at {status.url} (pid {status.pid})")
    runner = _runner(settings)
    applied = runner.migrate()
    out.print(f"schema at version {runner.head}" + (f" (applied {applied})" if applied else " (up to date)"))


# --- ingestion: `ingest`, `documents` (logic in ingestion/) ------------------------------------------
from ingestion.cli import register as _register_ingestion  # noqa: E402

_register_ingestion(app, settings_of, fail)

# --- retrieval: `search` (logic in graphrag/retrieval/) --------------------------------------------
from graphrag.retrieval.cli import register as _register_retrieval  # noqa: E402

_register_retrieval(app, settings_of, fail)


def main() -> None:
    """Console-script entry: run the app, turning our errors into one line and exit code 1."""
    try:
        app()
    except GraphRAGError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
