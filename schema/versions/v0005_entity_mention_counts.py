"""Schema v5: `Entity.mentions`, how many chunks mention an entity (exact up to a cap).

Query-time retrieval needs each entity's number of mentions (a seed weighs 1 / mentions; an entity
named by more than `ppr_entity_cap` chunks is a hub, never expanded). Counting a vertex's edges is
O(edges) in ArcadeDB: 30 ms for a name mentioned by 77k chunks, about ten times that at 1M chunks,
for every such name in every question. Writes now keep the count (`graphrag.queries.SET_MENTION_COUNTS`):
exact up to `graphrag.store.MENTION_COUNT_CAP`, and `cap + 1` above it, where it is never rewritten
(so concurrent writers do not collide on the names every batch shares).

`migrate_data` counts the existing entities, in key order, a page at a time; running it again
gives the same counts.

The statement and the cap are this file's own copies of what the writes used when v5 shipped: a
migration's checksum covers only its file. (Its first text imported them; `former/` keeps that
text, so databases migrated with it are still accepted.)
"""

from __future__ import annotations

from typing import Any

version = 5
name = "entity mention counts"

_KEYS_AFTER = "MATCH (e:Entity) WHERE e.key > $after RETURN e.key AS key ORDER BY e.key LIMIT $limit"
MENTION_COUNT_CAP = 1000  # exact up to this, `cap + 1` above (and then never rewritten)
SET_MENTION_COUNTS = """
UNWIND $keys AS k
MATCH (e:Entity {key: k})
WHERE coalesce(e.mentions, 0) <= $cap
WITH e, node.degree.in(e, 'MENTIONS') AS n
SET e.mentions = CASE WHEN n > $cap THEN $cap + 1 ELSE n END
"""


def statements(params: dict[str, int | str]) -> list[str]:
    return ["CREATE PROPERTY Entity.mentions IF NOT EXISTS INTEGER"]


def migrate_data(db: Any, params: dict[str, int | str]) -> None:
    after = ""
    while True:
        keys = [r["key"] for r in db.cypher(_KEYS_AFTER, {"after": after, "limit": 1000})]
        if not keys:
            return
        db.cypher(SET_MENTION_COUNTS, {"keys": keys, "cap": MENTION_COUNT_CAP})
        after = keys[-1]
