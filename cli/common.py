"""What every command shares: the consoles, the settings the global flags built, one-line failures."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from graphrag.config import Settings
from schema.workspaces import DEFAULT, NAME_RULE

out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> None:
    """One line on stderr and exit `code` (2: usage, 4: not found, 1: the job failed)."""
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def settings_of(ctx: typer.Context) -> Settings:
    """The settings `graphrag`'s global flags built (environment variables under them)."""
    root = ctx.find_root()
    return root.obj if isinstance(root.obj, Settings) else Settings()


WorkspaceOpt = Annotated[str, typer.Option(
    "--workspace", "-w", envvar="GRAPHRAG_WORKSPACE", show_default=True,
    help=f"The workspace to work in ({NAME_RULE}); `default` is the configured database [GRAPHRAG_WORKSPACE]")]


def workspace_settings(ctx: typer.Context, workspace: str) -> Settings:
    """The settings pointed at `workspace`'s database. Exits 2 for a malformed name and 4 for a
    workspace that does not exist: a command never creates one by naming it."""
    from graphrag.launch import open_database
    from schema.workspaces import WorkspaceCatalog, WorkspaceNameError, check_name, settings_for

    settings = settings_of(ctx)
    if workspace == DEFAULT:
        return settings
    try:
        check_name(workspace)
    except WorkspaceNameError as exc:
        fail(str(exc), code=2)
    with open_database(settings) as control:
        if not WorkspaceCatalog(settings, control).exists(workspace):
            fail(f"no workspace named {workspace!r}; create it with `graphrag workspace create {workspace}`", code=4)
    return settings_for(settings, workspace)


def given(**options: Any) -> dict[str, Any]:
    """The options the user gave (unset flags are None), as setting overrides: the environment and
    the settings' defaults stay in force for the rest."""
    return {name: value for name, value in options.items() if value is not None}


def first_validation_error(exc: ValueError) -> str:
    """pydantic's first complaint, as `field: message`."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)


def echo(text: str) -> None:
    """Plain output without wrapping: the curl example in the banner must paste whole."""
    out.print(text, highlight=False, soft_wrap=True)
