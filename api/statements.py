"""The statements on the API's own vertex types, `IngestJob` (`api.jobs`) and `ApiKey` (`api.keys`), in
one place, named; values always travel as parameters.

The graph model's statements live in `graphrag/queries.py`; these types are the API's, kept in the
control database (the default workspace's), so their statements stay in the API's package. The one
statement built at run time, `update_job`, puts only field names of ours into the text.
"""

from __future__ import annotations

from collections.abc import Iterable

# --- IngestJob -------------------------------------------------------------------------------------

# A job's fields as `api.jobs.job_out` reads them; jobs made before workspaces have no name and are
# the default workspace's.
_JOB_FIELDS = ("j.id AS id, coalesce(j.workspace, 'default') AS workspace, j.state AS state, j.kind AS kind, "
               "j.sources AS sources, j.total AS total, "
               "j.root AS root, j.done AS done, j.error AS error, j.summary_json AS summary_json, "
               "j.owner AS owner, j.heartbeat_at AS heartbeat_at, j.created_at AS created_at, "
               "j.updated_at AS updated_at, j.incarnation AS incarnation")
# A job of this incarnation of the workspace, or made before incarnations (none stored); a leftover
# job of a deleted workspace of the same name is not shown
_OF_INCARNATION = "($incarnation IS NULL OR j.incarnation IS NULL OR j.incarnation = $incarnation)"

CREATE_JOB = ("CREATE (j:IngestJob {id: $id, workspace: $workspace, incarnation: $incarnation, state: 'queued', "
              "kind: $kind, sources: $sources, "
              "root: $root, total: $total, done: 0, owner: $owner, heartbeat_at: $hb, created_at: $now, "
              "updated_at: $now, summary_json: $summary}) RETURN " + _JOB_FIELDS)
GET_JOB = ("MATCH (j:IngestJob {id: $id}) WHERE ($workspace IS NULL OR "
           "coalesce(j.workspace, 'default') = $workspace) AND " + _OF_INCARNATION + " RETURN " + _JOB_FIELDS)
RECENT_JOBS = ("MATCH (j:IngestJob) WHERE coalesce(j.workspace, 'default') = $workspace AND "
               + _OF_INCARNATION + " RETURN " + _JOB_FIELDS + " ORDER BY j.created_at DESC, j.id LIMIT $limit")
CANCEL_WORKSPACE_JOBS = ("MATCH (j:IngestJob) WHERE j.workspace = $workspace AND j.state IN $active "
                         "SET j.state = $cancelled, j.error = $error, j.updated_at = $now "
                         "RETURN j.id AS id, j.kind AS kind, j.root AS root")
HEARTBEAT_JOBS = ("MATCH (j:IngestJob) WHERE j.id IN $ids AND j.owner = $owner AND j.state IN $active "
                  "SET j.heartbeat_at = $hb")
STALE_JOBS = ("MATCH (j:IngestJob) WHERE j.state IN $active AND j.heartbeat_at < $cutoff "
              "RETURN " + _JOB_FIELDS + " ORDER BY j.created_at LIMIT 50")
# compare-and-set on the heartbeat the sweeper saw: two replicas never adopt the same job
ADOPT_JOB = ("MATCH (j:IngestJob {id: $id}) WHERE j.heartbeat_at = $seen AND j.state IN $active "
             "SET j.owner = $owner, j.heartbeat_at = $hb RETURN j.id AS id")
# A workspace's jobs, for its delete (`api.records`): those still queued or running refuse it, and
# the records of the others are forgotten with it (a job from before workspaces has no name and is
# the default workspace's, which is never deleted).
ACTIVE_WORKSPACE_JOBS = ("MATCH (j:IngestJob) WHERE j.workspace = $workspace AND j.state IN ['queued', 'running'] "
                         "RETURN count(j) AS n")
FORGET_WORKSPACE_JOBS = "MATCH (j:IngestJob) WHERE j.workspace = $workspace DETACH DELETE j"


def update_job(fields: Iterable[str]) -> str:
    """Set `fields` (names of ours, each value the parameter `f_<name>`) on a job its owner still holds
    while it is queued or running."""
    sets = ", ".join(f"j.{name} = $f_{name}" for name in fields)
    return (f"MATCH (j:IngestJob {{id: $id}}) WHERE j.owner = $owner AND j.state IN $active "
            f"SET {sets} RETURN j.id AS id")


# --- ApiKey ----------------------------------------------------------------------------------------

CREATE_KEY = ("CREATE (k:ApiKey {id: $id, hash: $hash, scope: $scope, name: $name, created_at: $created, "
              "revoked: false, workspaces: $workspaces})")
REVOKE_KEY = "MATCH (k:ApiKey {id: $id}) SET k.revoked = true RETURN k.id AS id"
LIST_KEYS = ("MATCH (k:ApiKey) RETURN k.id AS id, k.scope AS scope, k.name AS name, "
             "k.created_at AS created_at, k.revoked AS revoked, k.workspaces AS workspaces "
             "ORDER BY k.created_at")
# one indexed read (the hash is UNIQUE)
KEY_BY_HASH = ("MATCH (k:ApiKey {hash: $hash}) RETURN k.id AS id, k.scope AS scope, "
               "k.revoked AS revoked, k.workspaces AS workspaces")
# The keys bound to a workspace, for its delete (`api.records`)
WORKSPACE_KEYS = "MATCH (k:ApiKey) WHERE $workspace IN k.workspaces RETURN k.id AS id, k.workspaces AS workspaces"
REVOKE_KEYS = "MATCH (k:ApiKey) WHERE k.id IN $ids SET k.revoked = true"
REBIND_KEYS = "UNWIND $keys AS r MATCH (k:ApiKey {id: r.id}) SET k.workspaces = r.workspaces"
