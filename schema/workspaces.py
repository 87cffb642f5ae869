"""Workspaces: isolated knowledge graphs in one service, each one ArcadeDB database.

A database is ArcadeDB's own unit of isolation (its files, schema, indexes and transactions), so a
query sent to one workspace's database cannot see another's rows, whatever the statement says. The
service keeps no list of its own: the workspaces are the server's databases named
`<db_name>_ws_<workspace>`, and `default` is the configured database itself, so what existed before
workspaces keeps working unchanged.

The API keys and the ingest jobs live in the default database (the control database): one place
to check a key, and one sweeper for abandoned jobs however many workspaces there are.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Protocol

from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from graphrag.errors import GraphRAGError, NotFoundError, QueryError
from schema.runner import RECORD_TYPE, MigrationRunner

log = logging.getLogger(__name__)

DEFAULT = "default"
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
NAME_RULE = "1-32 characters: lowercase letters, digits and '_', starting with a letter"
_NAME = re.compile(NAME_PATTERN)
_SEPARATOR = "_ws_"


class WorkspaceNameError(GraphRAGError, ValueError):
    """A workspace name that breaks `NAME_RULE`."""


class WorkspaceBusyError(GraphRAGError):
    """A workspace that cannot be deleted now (ingest jobs are queued or running in it)."""


class WorkspaceGoneError(GraphRAGError):
    """A write for a workspace that was deleted after it was authorised: the workspace is gone, or
    `replaced` by a new one made under the same name (which the write must not land in)."""

    def __init__(self, workspace: str, *, replaced: bool, deleting: bool = False):
        self.workspace, self.replaced, self.deleting = workspace, replaced, deleting
        if deleting:
            text = f"workspace {workspace!r} is being deleted; nothing was written"
        elif replaced:
            text = (f"workspace {workspace!r} was deleted while this was in flight, and a new workspace of that "
                    "name was made since: nothing was written to it. Send it again if it is meant for the new one")
        else:
            text = f"workspace {workspace!r} was deleted while this was in flight; nothing was written"
        super().__init__(text)


# A workspace's incarnation: a random stamp on its database's first migration record, written once
# (by `create`, or by the first reader of a workspace made before incarnations). The record is made
# with the database and dropped with it, so a workspace deleted and made again under the same name
# has another stamp, and a request or job authorised for the old one can tell (`incarnation`).
_INCARNATION = f"MATCH (m:{RECORD_TYPE}) WHERE m.version = 1 RETURN m.incarnation AS incarnation"
_STAMP = f"MATCH (m:{RECORD_TYPE}) WHERE m.version = 1 AND m.incarnation IS NULL SET m.incarnation = $stamp"


class ControlRecords(Protocol):
    """What a layer above keeps in the control database about each workspace (the API: its ingest jobs
    and its keys, `api.records.WorkspaceRecords`). Their statements belong to their owner, not to this
    package, so a drop is handed them instead of knowing them."""

    def busy(self, workspace: str) -> str | None:
        """Why the workspace cannot be dropped now (e.g. jobs still running), or None."""
        ...

    def forget(self, workspace: str) -> None:
        """Clear what belongs to the dropped workspace, so that one made later under its name starts
        clean. Run again after a failure, it finishes the work."""
        ...


def check_name(name: str) -> str:
    """`name` when it is a valid workspace name; else `WorkspaceNameError` saying the rule."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise WorkspaceNameError(f"invalid workspace name {name!r}: {NAME_RULE}")
    return name


def database_name(settings: Settings, workspace: str) -> str:
    """The ArcadeDB database that holds `workspace` (`default`: the configured database)."""
    check_name(workspace)
    return settings.db_name if workspace == DEFAULT else f"{settings.db_name}{_SEPARATOR}{workspace}"


def settings_for(settings: Settings, workspace: str) -> Settings:
    """`settings` pointed at `workspace`'s database: everything built from them works inside it."""
    return settings.model_copy(update={"db_name": database_name(settings, workspace)})


def names_in(databases: list[str], settings: Settings) -> list[str]:
    """The workspaces among a server's database names: `default` first, then the others by name."""
    prefix = settings.db_name + _SEPARATOR
    found = {d[len(prefix):] for d in databases if d.startswith(prefix)}
    return [DEFAULT, *sorted(n for n in found if _NAME.fullmatch(n) and n != DEFAULT)]


class WorkspaceCatalog:
    """Creates, lists and drops workspaces on the server, through the control database's client.

    Args:
        settings: the service's settings (the default workspace's database name, the embedding
            dimension every workspace's vector indexes are made with).
        db: a client of the default database; the other workspaces' clients share its connections.
    """

    def __init__(self, settings: Settings, db: ArcadeDB):
        self.settings = settings
        self.db = db

    def names(self) -> list[str]:
        return names_in(self.db.list_databases(), self.settings)

    def exists(self, workspace: str) -> bool:
        return workspace == DEFAULT or workspace in self.names()

    def client(self, workspace: str) -> ArcadeDB:
        """A client of `workspace`'s database (sharing the control client's connections)."""
        return self.db if workspace == DEFAULT else self.db.for_database(database_name(self.settings, workspace))

    def require(self, workspace: str) -> ArcadeDB:
        """The client of an existing workspace; `NotFoundError` otherwise (nothing is created)."""
        check_name(workspace)
        if not self.exists(workspace):
            raise NotFoundError(f"no workspace named {workspace!r}; create it with `graphrag workspace create "
                                f"{workspace}`")
        return self.client(workspace)

    def create(self, workspace: str) -> bool:
        """Create the workspace's database and migrate it to the schema head; False when it existed
        (it is then only migrated). A database whose first migration failed is dropped again, so a
        failed create leaves nothing half-made behind."""
        check_name(workspace)
        db = self.client(workspace)
        created = db.ensure_database() if workspace != DEFAULT else False
        try:
            MigrationRunner(db, embedding_dim=self.settings.embedding_dim).migrate()
        except GraphRAGError:  # a MigrationError or the database failing mid-migration
            if created:
                log.warning("workspace %s: migration failed; dropping its new database", workspace)
                self.db.drop_database(db.database)
            raise
        if created:
            self.incarnation(workspace)  # stamped now: a request authorised from here on carries it
            log.info("workspace %s created (database %s)", workspace, db.database)
        return created

    def incarnation(self, workspace: str) -> str | None:
        """The identity of the workspace as it exists now (asked of the server, never cached here):
        None when there is no such workspace, `default` for the default one (never deleted). A
        workspace deleted and made again under its name has another one."""
        check_name(workspace)
        if workspace == DEFAULT:
            return DEFAULT
        if not self.exists(workspace):
            return None
        db = self.client(workspace)
        try:
            rows = db.cypher(_INCARNATION)
            if rows and not rows[0].get("incarnation"):  # made before incarnations: stamp it once
                db.cypher(_STAMP, {"stamp": uuid.uuid4().hex})
                rows = db.cypher(_INCARNATION)
        except QueryError:
            if not self.exists(workspace):  # dropped between the two questions
                return None
            raise
        return str(rows[0]["incarnation"]) if rows and rows[0].get("incarnation") else None

    def migrate(self, workspace: str) -> list[int]:
        """Apply pending migrations to an existing workspace; the versions applied."""
        return MigrationRunner(self.require(workspace), embedding_dim=self.settings.embedding_dim).migrate()

    def drop(self, workspace: str, records: ControlRecords) -> bool:
        """Drop the workspace's database and every row in it, and have `records` forget what belongs to
        it (the API's ingest jobs and keys); False when there was no database (the rest is still done,
        so `graphrag workspace delete` run again after a failure between these steps finishes it; the
        API answers 404 before this). Refused (`WorkspaceBusyError`) while `records` says it is busy
        (one of its jobs is queued or running), and for the default workspace (it holds the keys and
        the jobs of every workspace)."""
        check_name(workspace)
        if workspace == DEFAULT:
            raise WorkspaceBusyError("the default workspace cannot be deleted (it holds the service's keys and jobs)")
        busy = records.busy(workspace)
        if busy:
            raise WorkspaceBusyError(busy)
        dropped = self.db.drop_database(database_name(self.settings, workspace))
        # a workspace made later under the same name must not inherit the records of these jobs, nor
        # be reached by the keys of this one
        records.forget(workspace)
        if dropped:
            log.info("workspace %s deleted", workspace)
        return dropped
