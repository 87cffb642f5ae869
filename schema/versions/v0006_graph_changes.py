"""Schema v6: a record of every change to the graph that retrieval reads, so a reader can cache.

The API keeps a bounded, process-wide cache of what questions read of the graph (each chunk's
mentions, each entity's mentions and SAME_AS edges, entity keys looked up), which is only correct
while the graph is unchanged. Every write that changes it (a batch, a document deleted, SAME_AS
links) creates one `GraphChange` vertex in the same transaction: insert-only, so concurrent writers
never update one shared record (they would conflict on every batch). A reader compares
(`GraphEpoch.token`, count of `GraphChange`), one cheap statement, with what its cache was filled
under, and drops the cache when it differs. The epoch is a random token made when this migration
runs, so a database reset and refilled to the same number of changes still differs.

The statements live here, not in `graphrag.queries`: a migration's checksum covers its own file.
"""

from __future__ import annotations

import secrets
from typing import Any

version = 6
name = "graph change record"


def statements(params: dict[str, int | str]) -> list[str]:
    return [
        "CREATE VERTEX TYPE GraphChange IF NOT EXISTS",
        "CREATE PROPERTY GraphChange.token IF NOT EXISTS STRING",
        "CREATE PROPERTY GraphChange.at IF NOT EXISTS STRING",
        "CREATE VERTEX TYPE GraphEpoch IF NOT EXISTS",
        "CREATE PROPERTY GraphEpoch.token IF NOT EXISTS STRING",
    ]


def migrate_data(db: Any, params: dict[str, int | str]) -> None:
    if not db.cypher("MATCH (e:GraphEpoch) RETURN e.token AS token LIMIT 1"):
        db.cypher("CREATE (:GraphEpoch {token: $token})", {"token": secrets.token_hex(16)})
