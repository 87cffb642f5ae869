"""Dense channel: the chunk vector index (`vectorNeighbors` over 'Chunk[embedding]', cosine).

The LSM_VECTOR index has states in which it does not answer fully (measured on 26.10.2): before its
first graph build a query blocks, and during a rebuild a query returns no rows at all, without an
error. `DenseChannel.nearest` never takes such an answer for the truth: a query that does not come
back within `timeout_s`, or that returns fewer rows than asked while the database holds more
chunks than that, is reported as incomplete (`DenseHits.complete`), so the caller can fall back.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import numpy as np

from graphrag import queries
from graphrag.arcadedb import ArcadeDB
from graphrag.errors import QueryError
from graphrag.retrieval.base import ChannelHit, ChunkRecord
from graphrag.retrieval.cache import Fingerprint, Rows, fingerprint_of

log = logging.getLogger(__name__)
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="vector-query")
_WARN_EVERY_S = 30.0
_last_warning = [0.0]


@dataclass
class DenseHits:
    """Chunk id -> cosine similarity of the nearest chunks, and whether the index answered in full."""

    scores: dict[str, float]
    complete: bool = True
    reason: str = ""


def chunk_record(row: dict) -> ChunkRecord:  # type: ignore[type-arg]
    return ChunkRecord(id=row["id"], document_id=row.get("document_id") or "", title=row.get("title") or "",
                       text=row.get("text") or "", ordinal=int(row.get("ordinal") or 0))


class DenseChannel:
    """The k chunks nearest the question's embedding; score = cosine similarity (1 - distance)."""

    name = "dense"

    def __init__(self, db: ArcadeDB):
        self.db = db

    def nearest(self, embedding: np.ndarray, k: int, *, timeout_s: float = 5.0, ef_search: int = 0) -> DenseHits:
        """Ids and similarities only (no text): what the graph ranking needs of the k nearest chunks.

        `ef_search` > 0 widens the index's graph search (recall for latency); 0 keeps its default.
        """
        return self.send(embedding, k, ef_search=ef_search, timeout_s=timeout_s).hits()

    def send(self, embedding: np.ndarray, k: int, *, ef_search: int = 0, fingerprint: bool = False,
             timeout_s: float = 5.0) -> PendingHits:
        """`nearest`'s query, sent now in a worker thread; the caller collects it later (`PendingHits.hits`)
        and does other work meanwhile (a question's names are linked while its vector query runs).

        `fingerprint`: the same round trip also reads the graph's fingerprint (`PendingHits.fingerprint`),
        which a question needs before its first cached read. `timeout_s` counts from now.
        """
        params: dict[str, object] = {"q": embedding, "k": int(k)}  # sent as it is (`ArcadeDB._json_body`)
        statement = queries.CHUNK_VECTOR_HITS
        if ef_search > 0:
            statement, params["opts"] = queries.CHUNK_VECTOR_HITS_EF, {"efSearch": int(ef_search)}
        return PendingHits(self.db, _POOL.submit(_vector_query, self.db, statement, params, fingerprint), int(k),
                           timeout_s)

    def search(self, embedding: np.ndarray, k: int) -> list[ChannelHit]:
        rows = self.db.sql_rows(queries.CHUNK_VECTOR_NEIGHBOURS, {"q": embedding.tolist(), "k": int(k)})
        hits = [ChannelHit(r["id"], 1.0 - float(r.get("distance") or 0.0), chunk_record(r)) for r in rows]
        hits.sort(key=lambda h: -h.score)
        return hits[:k]


def _vector_query(db: ArcadeDB, statement: str, params: dict[str, object], fingerprint: bool
                  ) -> tuple[Rows, Fingerprint | None]:
    """The hits, and the graph's fingerprint read in the same statement when asked for."""
    if not fingerprint:
        return db.sql_rows(statement, params), None
    try:
        rows = db.sql_rows(queries.with_graph_fingerprint(statement), params)
    except QueryError:  # a schema before v6 records no changes: the hits alone, and nothing is cached
        return db.sql_rows(statement, params), None
    if not rows:
        return [], None
    return rows[0].get("hits") or [], fingerprint_of(rows[0].get("graph") or [])


class PendingHits:
    """A vector query on its way: `hits` waits for it (until its deadline) and judges its answer."""

    def __init__(self, db: ArcadeDB, future: Future[tuple[Rows, Fingerprint | None]], k: int, timeout_s: float):
        self.db = db
        self.future = future
        self.k = k
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s

    def _answer(self) -> tuple[Rows, Fingerprint | None]:
        return self.future.result(timeout=max(0.0, self.deadline - time.monotonic()))

    def fingerprint(self) -> Fingerprint | None:
        """The graph's fingerprint read with the hits (None: not asked for, or no change record).

        Raises:
            TimeoutError: the query did not answer by its deadline.
            StoreError: it failed.
        """
        return self._answer()[1]

    def hits(self) -> DenseHits:
        """The query's hits; incomplete when it did not answer by its deadline (`send`'s `timeout_s`)
        or answered fewer rows than it asked while the database holds more chunks than that."""
        k = self.k
        try:
            rows = self._answer()[0]
        except FutureTimeout:
            return _incomplete({}, f"the vector index did not answer within {self.timeout_s:g} s")
        scores = {r["id"]: 1.0 - float(r.get("distance") or 0.0) for r in rows}
        if len(scores) < k:
            stored = int(self.db.sql_rows(queries.COUNT_CHUNKS)[0]["n"])
            if len(scores) < min(k, stored):
                return _incomplete(scores, f"the vector index returned {len(scores)} of {min(k, stored)} "
                                           "chunks (building or rebuilding its graph?)")
        return DenseHits(scores)


def _incomplete(scores: dict[str, float], reason: str) -> DenseHits:
    now = time.monotonic()
    if now - _last_warning[0] >= _WARN_EVERY_S:  # once in a while, not once per request
        _last_warning[0] = now
        log.warning("dense retrieval degraded: %s; the keyword index stands in", reason)
    return DenseHits(scores, complete=False, reason=reason)
