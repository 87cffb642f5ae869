"""The API's records in the control database that belong to a workspace: its ingest jobs (`IngestJob`)
and the keys bound to it (`ApiKey`). A workspace's delete (`schema.workspaces.WorkspaceCatalog.drop`)
asks them whether it may go, and has them forgotten once its database is dropped; `schema` cannot
import the API, so the API hands them in (`schema.workspaces.ControlRecords`)."""

from __future__ import annotations

import logging

from api import statements
from graphrag.arcadedb import ArcadeDB

log = logging.getLogger(__name__)


class WorkspaceRecords:
    """The workspace's jobs and keys, through a (sync) client of the control database."""

    def __init__(self, db: ArcadeDB):
        self.db = db

    def busy(self, workspace: str) -> str | None:
        active = self.db.cypher(statements.ACTIVE_WORKSPACE_JOBS, {"workspace": workspace})
        if active and int(active[0]["n"]):
            return f"workspace {workspace!r} has ingest jobs queued or running; delete it once they have ended"
        return None

    def forget(self, workspace: str) -> None:
        self.db.cypher(statements.FORGET_WORKSPACE_JOBS, {"workspace": workspace})
        self._unbind_keys(workspace)

    def _unbind_keys(self, workspace: str) -> None:
        """A key bound to this workspace alone is revoked (its list is kept: `api-key list` still says
        what it was for); a key bound to others too loses this one. An empty list is never stored:
        it reads as a key from before workspaces, bound to `default`."""
        rows = self.db.cypher(statements.WORKSPACE_KEYS, {"workspace": workspace})
        alone = [row["id"] for row in rows if set(row["workspaces"]) == {workspace}]
        others = [{"id": row["id"], "workspaces": [w for w in row["workspaces"] if w != workspace]}
                  for row in rows if row["id"] not in alone]
        if alone:
            self.db.cypher(statements.REVOKE_KEYS, {"ids": alone})
        if others:
            self.db.cypher(statements.REBIND_KEYS, {"keys": others})
        if rows:
            log.info("workspace %s: %d key(s) revoked, %d unbound", workspace, len(alone), len(others))
