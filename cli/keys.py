"""`graphrag api-key`: keys are shown once and stored only as a hash in the database."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.common import err, fail, out, settings_of
from graphrag.launch import open_database

api_key_app = typer.Typer(help="API keys: shown once, stored only as a hash in the database.",
                          no_args_is_help=True)


@api_key_app.command("create")
def api_key_create(ctx: typer.Context,
                   scope: Annotated[str, typer.Option(help="read (ask, retrieve, graph), admin (also ingest and "
                                                           "delete) or global (admin everywhere, and creates "
                                                           "and deletes workspaces)")] = "read",
                   name: Annotated[str, typer.Option(help="A label to recognise the key by")] = "",
                   workspace: Annotated[list[str] | None, typer.Option(
                       "--workspace", "-w", help="A workspace the key reaches (repeat for several; default: "
                                                 "default). Any other answers it 404")] = None) -> None:
    """Create a key bound to workspaces and print it once: only its hash is stored."""
    from api.keys import Scope, create_key
    from schema.workspaces import DEFAULT, WorkspaceNameError

    parsed = Scope.parse(scope)
    if parsed is None:
        fail(f"--scope must be read, admin or global, not {scope!r}", code=2)
        return
    if parsed is Scope.global_ and workspace:
        fail("a global key reaches every workspace; leave out --workspace", code=2)
    bound = workspace or [DEFAULT]
    try:
        with open_database(settings_of(ctx)) as db:
            key, key_id = create_key(db, parsed, name, bound)
    except WorkspaceNameError as exc:
        fail(str(exc), code=2)
        return
    reach = "every workspace" if parsed is Scope.global_ else "workspace " + ", ".join(sorted(set(bound)))
    err.print(f"created {scope} key {key_id} for {reach}; it is shown once, store it now:", highlight=False)
    out.print(key, highlight=False, soft_wrap=True)


@api_key_app.command("list")
def api_key_list(ctx: typer.Context) -> None:
    """List keys (ids, scopes, labels; never the keys)."""
    from api.keys import list_keys

    with open_database(settings_of(ctx)) as db:
        rows = list_keys(db)
    table = Table("id", "scope", "workspaces", "name", "created", "revoked")
    for row in rows:
        table.add_row(str(row["id"]), str(row["scope"]), ", ".join(row["workspaces"]), str(row.get("name") or ""),
                      str(row["created_at"]), "yes" if row.get("revoked") else "")
    out.print(table)


@api_key_app.command("revoke")
def api_key_revoke(ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="The key's id")]) -> None:
    """Revoke a key (running services refuse it within api_key_cache_s, at most 5 s)."""
    from api.keys import revoke_key

    with open_database(settings_of(ctx)) as db:
        if not revoke_key(db, key_id):
            fail(f"no key with id {key_id!r}")
    out.print(f"revoked {key_id}")
