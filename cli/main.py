"""`graphrag`: one command line for the database, the schema, ingestion, search and answers, and the service.

Settings come from `GRAPHRAG_*` environment variables; the global flags here override them.
Every failure ends with one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from api.context import configure_logging
from cli import database, ingest, keys, llm, search, service, workspace
from cli.common import err, fail, first_validation_error, given
from graphrag.config import Settings
from graphrag.errors import GraphRAGError

app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(database.db_app, name="db")
app.add_typer(database.schema_app, name="schema")
app.add_typer(llm.llm_app, name="llm")
app.add_typer(keys.api_key_app, name="api-key")
app.add_typer(workspace.workspace_app, name="workspace")
app.add_typer(ingest.documents_app, name="documents")
app.command("up")(service.up)
app.command("serve")(service.serve)
app.command("mcp")(service.mcp)
app.command("ingest")(ingest.ingest)
app.command("search")(search.search)
app.command("ask")(search.ask)


@app.callback()
def global_options(
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
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress and retries, and let the model "
                                                                  "libraries show their progress bars and warnings")
                       ] = False,
) -> None:
    configure_logging(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        quiet_libraries()
    overrides = given(data_dir=data_dir, db_url=db_url, db_port=db_port, db_name=db_name, db_user=db_user,
                      db_password_file=db_password_file, embedding_model=embedding_model,
                      embedding_dim=embedding_dim)
    try:
        ctx.obj = Settings(**overrides)
    except ValueError as exc:
        fail(f"invalid setting: {first_validation_error(exc)}", code=2)


# Read by huggingface_hub and transformers when they are first imported, which no command does before
# its options are parsed (models load lazily): without -v, no "Loading weights" bar and no library
# warnings (transformers' `loss_type=None` when the API traces the embedder) reach the terminal or the
# service's log. Worker processes of `graphrag serve` inherit them.
# Ray likewise: its Python loggers and Ray Data's at ERROR (the engine reads GRAPHRAG_RAY_LOG_LEVEL): without
# it an ingest that lost its database printed its one error line after Ray's notices (token auth, progress
# bars). Ray's C++ core is not told a level (RAY_BACKEND_LOG_LEVEL): it announces any level it is given on
# stderr, and the engine gives it nothing to log instead (ingestion/ray_engine.py: no actor restarts on a
# local runtime, Ray Data's threads ended before the runtime stops).
QUIET_LIBRARIES = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error",
                   "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1", "GRAPHRAG_RAY_LOG_LEVEL": "ERROR"}


def quiet_libraries() -> None:
    """Silence the model libraries' progress bars and warnings, unless the user set those variables."""
    for name, value in QUIET_LIBRARIES.items():
        os.environ.setdefault(name, value)


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
