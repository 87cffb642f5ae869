"""Dense channel: the chunk vector index (`vectorNeighbors` over 'Chunk[embedding]', cosine)."""

from __future__ import annotations

import numpy as np

from graphrag.arcadedb import ArcadeDB
from graphrag.retrieval import queries
from graphrag.retrieval.base import ChannelHit, ChunkRecord


def chunk_record(row: dict) -> ChunkRecord:  # type: ignore[type-arg]
    return ChunkRecord(id=row["id"], document_id=row.get("document_id") or "", title=row.get("title") or "",
                       text=row.get("text") or "", ordinal=int(row.get("ordinal") or 0))


class DenseChannel:
    """The k chunks nearest the question's embedding; score = cosine similarity (1 - distance)."""

    name = "dense"

    def __init__(self, db: ArcadeDB):
        self.db = db

    def search(self, embedding: np.ndarray, k: int) -> list[ChannelHit]:
        rows = self.db.sql(queries.CHUNK_VECTOR_NEIGHBOURS, {"q": [float(x) for x in embedding], "k": int(k)})
        hits = [ChannelHit(r["id"], 1.0 - float(r.get("distance") or 0.0), chunk_record(r)) for r in rows]
        hits.sort(key=lambda h: -h.score)
        return hits[:k]
