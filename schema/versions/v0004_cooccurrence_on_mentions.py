"""Schema v4: entity co-occurrence moves from `RELATED` edges onto `MENTIONS`; entities get an
accent-folded key.

Until v3 a pair of entities named in one sentence got a `RELATED` edge holding the ids of every
chunk that named both (`evidence`) and their count (`weight`). Writing it merged an edge out of one
entity (ArcadeDB scans that vertex's edges to find it: milliseconds a row once an entity is common)
and rewrote an evidence list that grows without bound; deleting a chunk had to prune those lists.
At 100k chunks those merges were 88-90% of the write time.

From v4 each mention carries `cooc`, the keys of the other entities named in one sentence with it
in that chunk. The weight of a pair is the number of chunks that name both in one sentence, read
from either entity's mentions, so query-time retrieval sees what `RELATED` said; deleting a chunk
deletes its mentions and nothing else needs pruning.

`Entity.folded` holds the key without diacritics where that differs ("aschenbrodel" for
"aschenbrödel"), indexed, so question linking finds such entities in the database; the in-memory
graph copy that did this before is gone.

`migrate_data` rebuilds `cooc` from the existing `RELATED` evidence (recomputed, not appended, so
a repeated run gives the same result), deletes the `RELATED` edges, and fills `folded`. The first
two steps are single transactions: a database with millions of `RELATED` edges needs the server
heap to hold them.

The folding is this file's own copy of `graphrag.normalize.fold_accents` as it was when v4 shipped:
a migration's checksum covers only its file. (Its first text imported it; `former/` keeps that text,
so databases migrated with it are still accepted.)
"""

from __future__ import annotations

import unicodedata
from typing import Any

version = 4
name = "co-occurrence on mentions, folded entity keys"

_COOC_FROM_RELATED = (
    "MATCH (a:Entity)-[r:RELATED]-(b:Entity) UNWIND r.evidence AS cid "
    "MATCH (c:Chunk {id: cid})-[m:MENTIONS]->(a) "
    "WITH m, collect(DISTINCT b.key) AS others SET m.cooc = others"
)
_DROP_RELATED = "MATCH (:Entity)-[r:RELATED]->(:Entity) DELETE r"
_KEYS_AFTER = "MATCH (e:Entity) WHERE e.key > $after RETURN e.key AS key ORDER BY e.key LIMIT $limit"
_SET_FOLDED = "UNWIND $rows AS r MATCH (e:Entity {key: r.key}) SET e.folded = r.folded"


def fold_accents(key: str) -> str:
    """'aschenbrödel' -> 'aschenbrodel' (NFKD, combining marks dropped)."""
    decomposed = unicodedata.normalize("NFKD", key)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def statements(params: dict[str, int | str]) -> list[str]:
    return [
        "CREATE PROPERTY MENTIONS.cooc IF NOT EXISTS LIST",
        "CREATE PROPERTY Entity.folded IF NOT EXISTS STRING",
        "CREATE INDEX IF NOT EXISTS ON Entity (folded) NOTUNIQUE",
    ]


def migrate_data(db: Any, params: dict[str, int | str]) -> None:
    db.cypher(_COOC_FROM_RELATED)
    db.cypher(_DROP_RELATED)
    after = ""
    while True:  # key order, resuming after the last key seen: no SKIP over what was read
        keys = [r["key"] for r in db.cypher(_KEYS_AFTER, {"after": after, "limit": 5000})]
        if not keys:
            return
        rows = [{"key": k, "folded": fold_accents(k)} for k in keys if fold_accents(k) != k]
        if rows:
            db.cypher(_SET_FOLDED, {"rows": rows})
        after = keys[-1]
