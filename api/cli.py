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
    db_password_file: Annotated[Path | None, typer.Option(
        help="File holding the database password [GRAPHRAG_DB_PASSWORD_FILE, or GRAPHRAG_DB_PASSWORD]; unset = "
             "the embedded server's generated one. There is no password flag: a command line is visible to "
             "every local user")] = None,
    embedding_model: Annotated[str | None, typer.Option(help="Embedding model [GRAPHRAG_EMBEDDING_MODEL]")] = None,
    embedding_dim: Annotated[int | None, typer.Option(help="Embedding dimension [GRAPHRAG_EMBEDDING_DIM]")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress and retries")] = False,
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("httpx", "httpcore", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    overrides: dict[str, Any] = {k: v for k, v in {
        "data_dir": data_dir, "db_url": db_url, "db_port": db_port, "db_name": db_name, "db_user": db_user,
        "db_password_file": db_password_file, "embedding_model": embedding_model, "embedding_dim": embedding_dim,
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


# --- llm (the local CPU answerer) ----------------------------------------------------------------

llm_app = typer.Typer(help="Run the local CPU answerer: llama.cpp's OpenAI-compatible server with a packaged "
                           "GGUF model (needs `make llm`).", no_args_is_help=True)
app.add_typer(llm_app, name="llm")
LLMModelOpt = Annotated[str | None, typer.Option("--model", help="'smollm2' or 'qwen2.5-1.5b' "
                                                                 "[GRAPHRAG_LLM_LOCAL_MODEL, smollm2]")]
LLMPortOpt = Annotated[int | None, typer.Option("--port", help="Port on 127.0.0.1 [GRAPHRAG_LLM_PORT, 8081]")]


@llm_app.command("start")
def llm_start(ctx: typer.Context, model: LLMModelOpt = None, port: LLMPortOpt = None,
              threads: Annotated[int | None, typer.Option(help="CPU threads [all cores]; fewer on a busy "
                                                                  "machine")] = None,
              timeout: Annotated[float, typer.Option(help="Seconds to wait for the server")] = 120.0) -> None:
    """Start the local llama.cpp server (a no-op when it already runs)."""
    from graphrag.local_llm import local_llm_server

    server = local_llm_server(settings_of(ctx), model=model, port=port, threads=threads)
    before = server.status()
    status = server.start(timeout=timeout)
    verb = "already running" if before.running else "started"
    out.print(f"llama.cpp server ({', '.join(status.models) or server.model}) {verb} at {status.url} "
              f"(pid {status.pid}); log {server.log_file}\n"
              f"answer with it: export GRAPHRAG_LLM_BASE_URL=local", highlight=False)


@llm_app.command("stop")
def llm_stop(ctx: typer.Context, port: LLMPortOpt = None) -> None:
    """Stop the local llama.cpp server."""
    from graphrag.local_llm import local_llm_server

    server = local_llm_server(settings_of(ctx), port=port)
    out.print("llama.cpp server stopped" if server.stop() else "llama.cpp server was not running")


@llm_app.command("status")
def llm_status(ctx: typer.Context, port: LLMPortOpt = None) -> None:
    """Say whether the local llama.cpp server runs; exit 3 when it does not."""
    from graphrag.local_llm import local_llm_server

    status = local_llm_server(settings_of(ctx), port=port).status()
    if status.running:
        out.print(f"running: {', '.join(status.models)} at {status.url} (pid {status.pid})", highlight=False)
    else:
        out.print(f"not running ({status.detail})")
        raise typer.Exit(3)


# --- service (api/server.py) -------------------------------------------------------------------------

api_key_app = typer.Typer(help="API keys: shown once, stored only as a hash in the database.",
                          no_args_is_help=True)
app.add_typer(api_key_app, name="api-key")

_HostOpt = Annotated[str | None, typer.Option("--host", help="API interface [GRAPHRAG_API_HOST, 127.0.0.1]")]
_PortOpt = Annotated[int | None, typer.Option("--port", help="API port [GRAPHRAG_API_PORT, 8000]")]


def _echo(text: str) -> None:
    out.print(text, highlight=False, soft_wrap=True)  # no wrapping: the curl example must paste whole


def _api_settings(ctx: typer.Context, host: str | None, port: int | None) -> Settings:
    settings = settings_of(ctx)
    overrides = {k: v for k, v in {"api_host": host, "api_port": port}.items() if v is not None}
    return settings.model_copy(update=overrides) if overrides else settings


@app.command("up")
def up(ctx: typer.Context, host: _HostOpt = None, port: _PortOpt = None,
       sample: Annotated[bool, typer.Option(help="Ingest the sample corpus into an empty database")] = True,
       llm: Annotated[bool, typer.Option(help="Start the local CPU answerer when it is installed and no "
                                              "GRAPHRAG_LLM_BASE_URL is set")] = True,
       ) -> None:
    """Bring the whole service up on embedded defaults: database, migrations, sample corpus, API."""
    from api.server import configure_logging
    from api.server import up as run_up

    configure_logging()
    run_up(_api_settings(ctx, host, port), sample=sample, llm=llm, echo=_echo)


@app.command("serve")
def serve(ctx: typer.Context, host: _HostOpt = None, port: _PortOpt = None) -> None:
    """Serve the API alone (the database must be running and migrated)."""
    from api.server import configure_logging
    from api.server import serve as run_serve

    configure_logging()
    run_serve(_api_settings(ctx, host, port), echo=_echo)


@app.command("mcp")
def mcp(ctx: typer.Context,
        read_only: Annotated[bool, typer.Option("--read-only", help="Refuse add_document and delete_document, "
                                                                     "as a read key does over HTTP")] = False,
        ) -> None:
    """Serve the tools for agents (MCP) over stdin/stdout, for desktop clients that start it themselves.

    The database must be running and migrated. Over HTTP the same server is at /mcp of `graphrag serve`.
    """
    from api.mcp_server import run_stdio

    run_stdio(settings_of(ctx), read_only=read_only)


@api_key_app.command("create")
def api_key_create(ctx: typer.Context,
                   scope: Annotated[str, typer.Option(help="read (ask, retrieve, graph) or admin (also "
                                                           "ingest and delete)")] = "read",
                   name: Annotated[str, typer.Option(help="A label to recognise the key by")] = "") -> None:
    """Create a key and print it once: only its hash is stored."""
    from api.keys import Scope, create_key

    if scope not in Scope.__members__:
        fail(f"--scope must be read or admin, not {scope!r}", code=2)
    with open_database(settings_of(ctx)) as db:
        key, key_id = create_key(db, Scope(scope), name)
    err.print(f"created {scope} key {key_id}; it is shown once, store it now:", highlight=False)
    out.print(key, highlight=False, soft_wrap=True)


@api_key_app.command("list")
def api_key_list(ctx: typer.Context) -> None:
    """List keys (ids, scopes, labels; never the keys)."""
    from api.keys import list_keys

    with open_database(settings_of(ctx)) as db:
        rows = list_keys(db)
    table = Table("id", "scope", "name", "created", "revoked")
    for row in rows:
        table.add_row(str(row["id"]), str(row["scope"]), str(row.get("name") or ""), str(row["created_at"]),
                      "yes" if row.get("revoked") else "")
    out.print(table)


@api_key_app.command("revoke")
def api_key_revoke(ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="The key's id")]) -> None:
    """Revoke a key (running services refuse it within api_key_cache_s, at most 5 s)."""
    from api.keys import revoke_key

    with open_database(settings_of(ctx)) as db:
        if not revoke_key(db, key_id):
            fail(f"no key with id {key_id!r}")
    out.print(f"revoked {key_id}")


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
