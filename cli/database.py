"""`graphrag db` (the embedded ArcadeDB server) and `graphrag schema` (versioned migrations)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from cli.common import WorkspaceOpt, fail, out, settings_of, workspace_settings
from graphrag.config import Settings
from graphrag.launch import embedded_server, open_database

db_app = typer.Typer(help="Run the embedded ArcadeDB server (from the arcadedb-embedded wheel).",
                     no_args_is_help=True)
schema_app = typer.Typer(help="Versioned schema migrations.", no_args_is_help=True)


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


def _runner(settings: Settings) -> Any:
    from schema.runner import MigrationRunner

    return MigrationRunner(open_database(settings), embedding_dim=settings.embedding_dim)


@schema_app.command("status")
def schema_status(ctx: typer.Context, workspace: WorkspaceOpt = "default") -> None:
    """List every migration version, applied or pending; exit 4 if one changed after being applied."""
    runner = _runner(workspace_settings(ctx, workspace))
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
def schema_migrate(ctx: typer.Context, workspace: Annotated[str | None, typer.Option(
        "--workspace", "-w", help="Only this workspace; unset = the default one and every other")] = None) -> None:
    """Apply pending migrations in order, in every workspace (running it again changes nothing)."""
    from schema.workspaces import DEFAULT, WorkspaceCatalog

    settings = settings_of(ctx)
    names = [workspace] if workspace is not None else [DEFAULT]
    if workspace is None:
        with open_database(settings) as control:
            names = WorkspaceCatalog(settings, control).names()
    for name in names:
        runner = _runner(workspace_settings(ctx, name))
        applied = runner.migrate()
        where = "" if names == [DEFAULT] else f"workspace {name}: "
        if applied:
            out.print(f"{where}applied migrations {', '.join(map(str, applied))}; schema at version {runner.head}")
        else:
            out.print(f"{where}schema is up to date (version {runner.head})")


@schema_app.command("reset")
def schema_reset(ctx: typer.Context,
                 yes: Annotated[bool, typer.Option("--yes", help="Confirm: drop every type and its data")] = False,
                 ) -> None:
    """Drop every type and all data (edge types first); `migrate` rebuilds the schema."""
    if not yes:
        fail("reset drops every type and all data in the database; add --yes to confirm", code=2)
    dropped = _runner(settings_of(ctx)).reset()
    out.print(f"dropped {len(dropped)} types; run `graphrag schema migrate` to rebuild")
