"""Builds the embedded server and database client from settings (shared by the CLI and the API)."""

from __future__ import annotations

from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings, ensure_password_file
from graphrag.embedded import EmbeddedServer
from graphrag.errors import ConfigError


def embedded_server(settings: Settings) -> EmbeddedServer:
    """The embedded server for these settings; generates the root password on first use."""
    if not settings.embedded:
        raise ConfigError(f"GRAPHRAG_DB_URL(S) is set ({settings.url}): the database is external, "
                          "so there is no embedded server to manage")
    if settings.db_password is not None or settings.db_password_file is not None:
        password = settings.password()
    else:
        password = ensure_password_file(settings.password_file)
    return EmbeddedServer(settings.data_dir, settings.db_port, password, settings.db_name, settings.db_heap)


def open_database(settings: Settings) -> ArcadeDB:
    """A client for the configured database, creating the database itself when it is missing."""
    db = ArcadeDB.from_settings(settings)
    db.ensure_database()
    return db
