"""Applies schema migrations in order and records each one in the database.

The record (`SchemaMigration` vertices: version, name, checksum, applied_at) lives in the same
database as the data, so the schema version travels with it. A migration's checksum covers its
file and the parameters it was rendered with (the embedding dimension): a changed file, or a
changed model dimension, is refused instead of silently drifting.

A migration keeps its statements and helpers in its own file, since the checksum cannot see code it
imports (`tests/unit/test_migrations_frozen.py` checks that none imports project code). v4 and v5
once did; they were edited to carry their own copies, and their first texts stay in
`versions/former/<module>.<n>.txt`: a record whose checksum is that of a former text is accepted as
well, so databases migrated before the edit are not refused. Add a former text only for an edit
that changes nothing a migration does.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import pkgutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from graphrag.errors import ChecksumMismatchError, MigrationError, StoreError
from schema import versions as versions_pkg

log = logging.getLogger(__name__)

RECORD_TYPE = "SchemaMigration"
CURRENT_VERSION = f"MATCH (m:{RECORD_TYPE}) RETURN max(m.version) AS v"  # the applied version (readiness)
_BOOTSTRAP = [
    f"CREATE VERTEX TYPE {RECORD_TYPE} IF NOT EXISTS",
    f"CREATE PROPERTY {RECORD_TYPE}.version IF NOT EXISTS INTEGER",
    f"CREATE PROPERTY {RECORD_TYPE}.name IF NOT EXISTS STRING",
    f"CREATE PROPERTY {RECORD_TYPE}.checksum IF NOT EXISTS STRING",
    f"CREATE PROPERTY {RECORD_TYPE}.applied_at IF NOT EXISTS STRING",
    f"CREATE INDEX IF NOT EXISTS ON {RECORD_TYPE} (version) UNIQUE",
]


class Database(Protocol):
    """What the runner needs from `graphrag.arcadedb.ArcadeDB`."""

    def sql(self, statement: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]: ...
    def sql_command(self, statement: str, params: dict[str, Any] | None = None, *,
                    idempotent: bool = True) -> list[dict[str, Any]]: ...
    def cypher(self, statement: str, params: dict[str, Any] | None = None, *,
               idempotent: bool = True) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    module: ModuleType
    path: Path

    def statements(self, params: dict[str, Any]) -> list[str]:
        return list(self.module.statements(params))

    def migrate_data(self, db: Database, params: dict[str, Any]) -> None:
        """Move existing data to the new shape after the DDL (optional `migrate_data(db, params)` in
        the module; it must give the same result when run again, since a crash may repeat it)."""
        step = getattr(self.module, "migrate_data", None)
        if step is not None:
            step(db, params)

    def checksum(self, params: dict[str, Any]) -> str:
        return _checksum(self.path.read_bytes(), params)

    def former_texts(self) -> list[Path]:
        """This migration's earlier texts (same behaviour, other bytes), oldest first."""
        return sorted((self.path.parent / "former").glob(f"{self.path.stem}.*.txt"))

    def accepts(self, recorded: str, params: dict[str, Any]) -> bool:
        """Whether a recorded checksum is this file's, or one of its former texts'."""
        return recorded == self.checksum(params) or any(
            recorded == _checksum(text.read_bytes(), params) for text in self.former_texts())


def _checksum(text: bytes, params: dict[str, Any]) -> str:
    digest = hashlib.sha256(text)
    digest.update(json.dumps(params, sort_keys=True).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class MigrationState:
    version: int
    name: str
    applied: bool
    applied_at: str | None
    checksum_ok: bool | None  # None when not applied


def discover() -> list[Migration]:
    """Every migration module under `schema/versions`, ordered by version (gaps and twins refused)."""
    found: list[Migration] = []
    for info in pkgutil.iter_modules(versions_pkg.__path__):
        if not info.name.startswith("v"):
            continue
        module = importlib.import_module(f"{versions_pkg.__name__}.{info.name}")
        found.append(Migration(int(module.version), str(module.name), module, Path(module.__file__ or "")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(f"migration versions must be 1..N without gaps; found {migration.version} "
                                 f"where {expected} was expected ({migration.path.name})")
    return found


class MigrationRunner:
    """Brings a database to the newest schema version.

    Args:
        db: an `ArcadeDB` (or anything with its `sql`, `sql_command`, `cypher`).
        embedding_dim: the configured embedding model's dimension, rendered into vector indexes.
    """

    def __init__(self, db: Database, *, embedding_dim: int):
        self.db = db
        self.params: dict[str, Any] = {"embedding_dim": int(embedding_dim)}
        self.migrations = discover()

    @property
    def head(self) -> int:
        return self.migrations[-1].version if self.migrations else 0

    def _records(self) -> dict[int, dict[str, Any]]:
        types = {row["name"] for row in self.db.sql("SELECT name FROM schema:types")}
        if RECORD_TYPE not in types:
            return {}
        rows = self.db.cypher(f"MATCH (m:{RECORD_TYPE}) RETURN m.version AS version, m.name AS name, "
                              "m.checksum AS checksum, m.applied_at AS applied_at")
        return {int(r["version"]): r for r in rows}

    def status(self) -> list[MigrationState]:
        records = self._records()
        states = []
        for migration in self.migrations:
            record = records.get(migration.version)
            states.append(MigrationState(
                migration.version, migration.name, record is not None,
                record["applied_at"] if record else None,
                migration.accepts(record["checksum"], self.params) if record else None))
        return states

    def current_version(self) -> int:
        records = self._records()
        return max(records, default=0)

    def check(self) -> None:
        """Raise if an applied migration changed since it was applied."""
        records = self._records()
        for migration in self.migrations:
            record = records.get(migration.version)
            if record and not migration.accepts(record["checksum"], self.params):
                raise ChecksumMismatchError(
                    f"migration {migration.version} ({migration.name}) changed after it was applied "
                    f"(file {migration.path.name} or embedding_dim={self.params['embedding_dim']} differs); "
                    "restore it, or `graphrag schema reset --yes` and re-ingest")

    def migrate(self) -> list[int]:
        """Apply every pending migration in order; returns the versions applied (empty: nothing to do)."""
        self.check()
        records = self._records()
        pending = [m for m in self.migrations if m.version not in records]
        if not pending:
            return []
        for statement in _BOOTSTRAP:
            self.db.sql_command(statement)
        applied = []
        for migration in pending:
            log.info("applying migration %s: %s", migration.version, migration.name)
            for statement in migration.statements(self.params):
                try:
                    self.db.sql_command(statement)
                except StoreError as exc:
                    raise MigrationError(f"migration {migration.version} failed at `{statement}`: {exc}") from exc
            try:
                migration.migrate_data(self.db, self.params)
            except StoreError as exc:
                raise MigrationError(f"migration {migration.version} failed moving data: {exc}") from exc
            self.db.cypher(
                f"MERGE (m:{RECORD_TYPE} {{version: $version}}) "
                "SET m.name = $name, m.checksum = $checksum, m.applied_at = $applied_at",
                {"version": migration.version, "name": migration.name,
                 "checksum": migration.checksum(self.params),
                 "applied_at": datetime.now(UTC).isoformat(timespec="seconds")})
            applied.append(migration.version)
        return applied

    def reset(self) -> list[str]:
        """Drop every type: edge types first, then vertex and document types (never TRUNCATE)."""
        rows = self.db.sql("SELECT name, type FROM schema:types")
        order = {"edge": 0, "vertex": 1, "document": 2}
        rows.sort(key=lambda r: (order.get(str(r.get("type")), 3), r["name"]))
        dropped = []
        for row in rows:
            # Names come from the server's own catalogue, not from user input.
            self.db.sql_command(f"DROP TYPE `{row['name']}` IF EXISTS UNSAFE")
            dropped.append(row["name"])
        return dropped


def require_head(db: Database, embedding_dim: int) -> int:
    """The one "schema at head" check of the API, the MCP server and `graphrag ingest`: the head
    version, or `MigrationError` when the database is behind it (or `ChecksumMismatchError` when an
    applied migration changed)."""
    runner = MigrationRunner(db, embedding_dim=embedding_dim)
    runner.check()
    current = runner.current_version()
    if current < runner.head:
        raise MigrationError(f"the database schema is at version {current}, the code needs {runner.head}: "
                             "run `graphrag schema migrate` first")
    return runner.head
