"""Compare two ingested graphs: what "the Ray engine builds the local engine's graph" means, checked.

`graph_snapshot` reads everything ingestion writes, keyed by the deterministic ids (document id,
chunk id, entity key, edge end points); `graph_differences` lists what differs. Exact for ids, keys,
names, types, texts, offsets, counts and co-occurrence lists; vectors and SAME_AS similarities are
compared within a tolerance, because the same model on another device or thread count gives the same
vector only up to the last float digits (MiniLM on CPU: about 1e-7; stored rounded to 6 decimals).
`ingested_at` (the time of the write) is left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphrag import queries
from graphrag.arcadedb import ArcadeDB

_PAGE = 2000


def _paged(db: ArcadeDB, statement: str) -> list[dict[str, Any]]:
    """Every row of a paged snapshot statement (`$after`, `$limit`, its page key returned as `_k`)."""
    rows: list[dict[str, Any]] = []
    after = ""
    while True:
        page = db.cypher(statement, {"after": after, "limit": _PAGE})
        rows.extend(page)
        if len(page) < _PAGE:
            return rows
        after = page[-1]["_k"]


def graph_snapshot(db: ArcadeDB) -> dict[str, Any]:
    """Every vertex and edge ingestion writes, as comparable Python values."""
    documents = {r["id"]: (r["source"], r["title"], r["hash"], r["chunks"], r["meta"])
                 for r in _paged(db, queries.SNAPSHOT_DOCUMENTS)}
    chunks, chunk_vectors = {}, {}
    for r in _paged(db, queries.SNAPSHOT_CHUNKS):
        chunks[r["id"]] = (r["doc"], r["o"], r["title"], r["text"], r["s"], r["e"])
        chunk_vectors[r["id"]] = r["v"]
    entities, entity_vectors = {}, {}
    for r in _paged(db, queries.SNAPSHOT_ENTITIES):
        entities[r["key"]] = (r["name"], r["type"], r["folded"], bool(r["linked"]))
        entity_vectors[r["key"]] = r["v"]
    has_chunk = {(r["d"], r["c"]) for r in db.cypher(queries.SNAPSHOT_HAS_CHUNK)}
    nexts = {(r["a"], r["b"]) for r in db.cypher(queries.SNAPSHOT_NEXT)}
    mentions = {(r["c"], r["k"]): (r["n"], tuple(r["cooc"] or ())) for r in db.cypher(queries.SNAPSHOT_MENTIONS)}
    same_as = {(r["a"], r["b"]): r["s"] for r in db.cypher(queries.SNAPSHOT_SAME_AS)}
    related = db.cypher(queries.SNAPSHOT_RELATED)[0]["n"]
    return {"documents": documents, "chunks": chunks, "chunk_vectors": chunk_vectors, "entities": entities,
            "entity_vectors": entity_vectors, "has_chunk": has_chunk, "next": nexts, "mentions": mentions,
            "same_as": same_as, "related": related}


def _vector_gap(a: Any, b: Any) -> float:
    if a is None or b is None:
        return 0.0 if a is None and b is None else float("inf")
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(x - y))) if x.shape == y.shape else float("inf")


def graph_differences(a: dict[str, Any], b: dict[str, Any], *, tolerance: float = 1e-4,
                      limit: int = 20) -> list[str]:
    """What differs between two snapshots (empty: the same graph). At most `limit` lines per part."""
    out: list[str] = []
    for part in ("documents", "chunks", "entities", "has_chunk", "next", "mentions", "related"):
        x, y = a[part], b[part]
        if x == y:
            continue
        if isinstance(x, dict):
            keys = sorted(set(x) ^ set(y), key=str)[:limit]
            out += [f"{part}: {k!r} only in {'first' if k in x else 'second'}" for k in keys]
            changed = sorted((k for k in set(x) & set(y) if x[k] != y[k]), key=str)[:limit]
            out += [f"{part}: {k!r}: {x[k]!r} != {y[k]!r}" for k in changed]
        elif isinstance(x, set):
            out += [f"{part}: {e!r} only in first" for e in sorted(x - y, key=str)[:limit]]
            out += [f"{part}: {e!r} only in second" for e in sorted(y - x, key=str)[:limit]]
        else:
            out.append(f"{part}: {x!r} != {y!r}")
    if set(a["same_as"]) != set(b["same_as"]):
        out += [f"same_as: {e!r} only in first" for e in sorted(set(a["same_as"]) - set(b["same_as"]))[:limit]]
        out += [f"same_as: {e!r} only in second" for e in sorted(set(b["same_as"]) - set(a["same_as"]))[:limit]]
    out += [f"same_as: {k!r} similarity {a['same_as'][k]} != {b['same_as'][k]}"
            for k in sorted(set(a["same_as"]) & set(b["same_as"]))
            if abs(a["same_as"][k] - b["same_as"][k]) > tolerance][:limit]
    for part in ("chunk_vectors", "entity_vectors"):
        gaps = {k: _vector_gap(a[part][k], b[part].get(k)) for k in a[part] if k in b[part]}
        out += [f"{part}: {k!r} differs by {g:.2e}" for k, g in sorted(gaps.items()) if g > tolerance][:limit]
    return out


def max_vector_gap(a: dict[str, Any], b: dict[str, Any]) -> float:
    """The largest component difference between the two graphs' vectors (chunks and entities)."""
    gaps = [_vector_gap(a[p][k], b[p][k]) for p in ("chunk_vectors", "entity_vectors") for k in a[p] if k in b[p]]
    return max(gaps, default=0.0)
