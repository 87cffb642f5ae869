"""`graphrag workspace`: isolated knowledge graphs, one ArcadeDB database each."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.common import fail, out, settings_of
from schema.workspaces import NAME_RULE

workspace_app = typer.Typer(help="Workspaces: isolated knowledge graphs in one service (one ArcadeDB database "
                                 "each). Bind keys to them with `graphrag api-key create --workspace NAME`.",
                            no_args_is_help=True)
NameArg = Annotated[str, typer.Argument(help=f"The workspace's name: {NAME_RULE}")]


def _catalog(ctx: typer.Context):  # type: ignore[no-untyped-def]
    from graphrag.launch import open_database
    from schema.workspaces import WorkspaceCatalog

    settings = settings_of(ctx)
    return WorkspaceCatalog(settings, open_database(settings))


def _valid(name: str) -> str:
    from schema.workspaces import WorkspaceNameError, check_name

    try:
        return check_name(name)
    except WorkspaceNameError as exc:
        fail(str(exc), code=2)
        raise  # unreachable: fail exits


@workspace_app.command("create")
def workspace_create(ctx: typer.Context, name: NameArg) -> None:
    """Create a workspace: its database, migrated to the current schema. Exit 3 if it already exists."""
    catalog = _catalog(ctx)
    if not catalog.create(_valid(name)):
        fail(f"workspace {name!r} already exists (its schema is now at head)", code=3)
    out.print(f"created workspace {name!r} (database {catalog.client(name).database}); ingest with "
              f"`graphrag ingest --workspace {name} PATH`", highlight=False)


@workspace_app.command("list")
def workspace_list(ctx: typer.Context) -> None:
    """List the workspaces (with their databases)."""
    catalog = _catalog(ctx)
    table = Table("workspace", "database")
    for name in catalog.names():
        table.add_row(name, catalog.client(name).database)
    out.print(table)


@workspace_app.command("delete")
def workspace_delete(ctx: typer.Context, name: NameArg,
                     yes: Annotated[bool, typer.Option("--yes", help="Confirm: drop its database, every "
                                                                     "document in it, and its jobs")] = False) -> None:
    """Delete a workspace and all its data. Exit 4 if there is none; refused while its jobs run."""
    from api.records import WorkspaceRecords
    from schema.workspaces import WorkspaceBusyError

    _valid(name)
    if not yes:
        fail(f"deleting drops workspace {name!r}'s database and every document in it; add --yes to confirm", code=2)
    try:
        catalog = _catalog(ctx)
        dropped = catalog.drop(name, WorkspaceRecords(catalog.db))
    except WorkspaceBusyError as exc:
        fail(str(exc), code=3)
        return
    if not dropped:
        fail(f"no workspace named {name!r}", code=4)
    out.print(f"deleted workspace {name!r}")
