"""Read-only views of the entity graph for people exploring it (the API's neighbourhood endpoint).

Expands breadth-first over co-occurrence (reported as `RELATED`) and `SAME_AS`, two queries per hop,
keeping the strongest edges first and reading at most a bounded number of a hub's mentions, so an
entity with thousands of neighbours still answers quickly and boundedly.
"""

from __future__ import annotations

from typing import Any

from graphrag.arcadedb import ArcadeDB
from graphrag.queries import ENTITY_GET, NEIGHBOURS, SYNONYMS

MENTIONS_READ_PER_ENTITY = 1000  # a hub's neighbourhood is read from this many of its mentions


class GraphView:
    """Neighbourhoods of entities.

    Args:
        db: the database client (not closed here).
    """

    def __init__(self, db: ArcadeDB):
        self.db = db

    def neighbourhood(self, key: str, *, hops: int = 1, limit: int = 100) -> dict[str, Any] | None:
        """`{"nodes": [{key, name, type, hops}], "edges": [{source, target, type, weight}], "truncated"}`,
        or None when no entity has `key`. At most `limit` nodes; edges only between returned nodes."""
        root = self.db.cypher(ENTITY_GET, {"key": key})
        if not root:
            return None
        nodes: dict[str, dict[str, Any]] = {key: {"key": key, "name": root[0].get("name") or key,
                                                  "type": root[0].get("type") or "UNKNOWN", "hops": 0}}
        edges: dict[tuple[str, str, str], dict[str, Any]] = {}
        frontier = [key]
        truncated = False
        for hop in range(1, hops + 1):
            if not frontier:
                break
            # Ask for a few more rows than nodes still allowed: edges to known nodes use rows too.
            params = {"keys": frontier, "limit": 4 * limit, "cap": MENTIONS_READ_PER_ENTITY}
            rows = [*self.db.cypher(SYNONYMS, params), *self.db.cypher(NEIGHBOURS, params)]
            next_frontier = []
            for row in rows:
                target = row["target"]
                if target not in nodes:
                    if len(nodes) >= limit:
                        truncated = True
                        continue
                    nodes[target] = {"key": target, "name": row.get("name") or target,
                                     "type": row.get("type") or "UNKNOWN", "hops": hop}
                    next_frontier.append(target)
                pair = tuple(sorted((row["source"], target)))
                edges.setdefault((pair[0], pair[1], row["rel"]), {
                    "source": pair[0], "target": pair[1], "type": row["rel"],
                    "weight": float(row["weight"]) if row.get("weight") is not None else None})
            truncated = truncated or len(rows) >= 4 * limit
            frontier = next_frontier
        return {"nodes": list(nodes.values()), "edges": list(edges.values()), "truncated": truncated}
