"""`GraphStore`: the code that knows the graph model for writes and for document reads and deletes.

A `GraphBatch` (documents with their chunks, entities, mentions and relations) is written in ONE
server-side transaction: a reader sees a document's old version or its new one, never both, and a
job killed mid-batch leaves nothing of that batch behind. The batch first reads what is stored
(the documents' chunks, which entities exist with which name) and then creates only what is missing,
and renames an entity only where the batch's spelling sorts first (`EntityRecord`), all keyed on
deterministic ids, so a batch replayed after a conflict or a lost commit answer reads its own
earlier work and changes nothing. (Creating instead of merging halves the cost of a vertex written
with its vector, and a MERGE of an edge scanned the edges of its start vertex.)
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import numpy as np

from graphrag import queries as q
from graphrag.arcadedb import ArcadeDB, Transaction
from graphrag.normalize import fold_accents, spelling_rank

log = logging.getLogger(__name__)

VERTEX_TYPES = ("Document", "Chunk", "Entity")
MENTION_COUNT_CAP = 1000  # `Entity.mentions` is exact up to this (see queries.SET_MENTION_COUNTS)
# RELATED (schema v1-v3) is still a type, but nothing writes it any more: see queries.py.
EDGE_TYPES = ("HAS_CHUNK", "NEXT", "MENTIONS", "RELATED", "SAME_AS")

_T = TypeVar("_T")


@dataclass(slots=True)
class DocumentRecord:
    id: str
    source: str
    title: str
    content_hash: str
    chunk_count: int
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ChunkRecord:
    id: str
    document_id: str
    ordinal: int
    title: str
    text: str
    start_char: int
    end_char: int
    embedding: list[float]


@dataclass(slots=True)
class EntityRecord:
    """An entity as a batch carries it.

    `name`/`type`: one spelling of `key`; the stored ones are the first of all spellings written in
    `graphrag.normalize.spelling_rank` (`write_batch` updates them when a batch brings one that sorts
    first). `embedding`: the vector of the KEY, not of the name, so it is the same whichever spelling
    wins and a rename leaves the vector and the SAME_AS links it decided untouched.
    """

    key: str
    name: str
    type: str
    embedding: list[float] | None = None


@dataclass(slots=True)
class MentionRecord:
    chunk_id: str
    entity_key: str
    count: int = 1
    cooc: list[str] = field(default_factory=list)  # other entities named in one sentence with it here


@dataclass(slots=True)
class RelationRecord:
    """Two entities named in one sentence of each `evidence` chunk (stored on those mentions)."""

    source_key: str
    target_key: str
    evidence: list[str]


@dataclass
class GraphBatch:
    """Everything one write transaction stores.

    `documents` are complete versions: any chunk of theirs already in the graph that is not in
    `chunks` (an older version, or leftovers of an interrupted run) is removed in the same transaction.
    """

    documents: list[DocumentRecord] = field(default_factory=list)
    chunks: list[ChunkRecord] = field(default_factory=list)
    entities: list[EntityRecord] = field(default_factory=list)
    mentions: list[MentionRecord] = field(default_factory=list)
    relations: list[RelationRecord] = field(default_factory=list)


@dataclass
class WriteStats:
    """What a write did; `*_rows` count rows sent after client-side de-duplication.

    The one home of the write counters: a job's report (`ingestion.job.IngestionReport`) totals the
    fields named in `ROW_COUNTS` under the same names (`IngestionReport.add_written`), and the API's
    summary (`api.components.summary_of`) is derived from that report.
    """

    # the counts a job's report totals, field for field (`documents` and `seconds` it counts its own way)
    ROW_COUNTS: ClassVar[tuple[str, ...]] = ("chunks", "entity_rows", "mention_rows", "relation_rows", "next_rows",
                                             "stale_chunks_removed", "orphan_entities_removed")

    documents: int = 0
    chunks: int = 0
    entity_rows: int = 0
    mention_rows: int = 0
    relation_rows: int = 0
    next_rows: int = 0
    stale_chunks_removed: int = 0
    orphan_entities_removed: int = 0
    seconds: float = 0.0

    def add(self, other: WriteStats) -> None:
        for name in (f.name for f in fields(self)):  # ROW_COUNTS is a ClassVar, not a field
            setattr(self, name, getattr(self, name) + getattr(other, name))


def batched(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def dedupe_entities(entities: Iterable[EntityRecord]) -> list[EntityRecord]:
    """One row per key: the name/type first in `spelling_rank` wins (whatever the rows' order), an
    embedding given by any row is kept (a vector is the key's, the same for every spelling)."""
    out: dict[str, EntityRecord] = {}
    for entity in entities:
        seen = out.get(entity.key)
        if seen is None:
            out[entity.key] = EntityRecord(entity.key, entity.name, entity.type, entity.embedding)
            continue
        if spelling_rank(entity.name, entity.type) < spelling_rank(seen.name, seen.type):
            seen.name, seen.type = entity.name, entity.type
        if seen.embedding is None and entity.embedding is not None:
            seen.embedding = entity.embedding
    return list(out.values())


def renamed_entities(rows: dict[str, dict[str, Any]], stored: dict[str, tuple[Any, Any]]) -> list[dict[str, Any]]:
    """`{key, name, type}` for each stored entity whose batch spelling sorts before its stored one
    (`spelling_rank`): the only entities a batch updates. `stored`: key -> (name, type) as read."""
    out = []
    for key, (name, type_) in stored.items():
        row = rows.get(key)
        if row is None:
            continue
        if name is None or spelling_rank(row["name"], row["type"]) < spelling_rank(name, type_ or ""):
            out.append({"key": key, "name": row["name"], "type": row["type"]})
    return out


def dedupe_mentions(mentions: Iterable[MentionRecord]) -> list[MentionRecord]:
    """One row per (chunk, entity); counts add up, co-occurring keys are merged in order."""
    out: dict[tuple[str, str], MentionRecord] = {}
    for m in mentions:
        key = (m.chunk_id, m.entity_key)
        if key in out:
            out[key].count += m.count
            out[key].cooc.extend(k for k in m.cooc if k not in out[key].cooc)
        else:
            out[key] = MentionRecord(m.chunk_id, m.entity_key, m.count, list(dict.fromkeys(m.cooc)))
    return list(out.values())


def with_cooccurrence(mentions: list[MentionRecord], relations: Iterable[RelationRecord]) -> list[MentionRecord]:
    """The mentions with each relation written onto both of its entities' mentions in every
    evidence chunk (`MentionRecord.cooc`). A relation whose entity the chunk does not mention is
    dropped: co-occurrence is a property of a mention."""
    by_key = {(m.chunk_id, m.entity_key): m for m in mentions}
    for r in relations:
        for chunk_id in r.evidence:
            for own, other in ((r.source_key, r.target_key), (r.target_key, r.source_key)):
                mention = by_key.get((chunk_id, own))
                if mention is not None and other not in mention.cooc:
                    mention.cooc.append(other)
    return mentions


def dedupe_relations(relations: Iterable[RelationRecord]) -> list[RelationRecord]:
    """One row per unordered pair, oriented smaller key -> larger key, evidence merged in order."""
    out: dict[tuple[str, str], list[str]] = {}
    for r in relations:
        if r.source_key == r.target_key:
            continue
        a, b = sorted((r.source_key, r.target_key))
        evidence = out.setdefault((a, b), [])
        for chunk_id in r.evidence:
            if chunk_id not in evidence:
                evidence.append(chunk_id)
    return [RelationRecord(a, b, ev) for (a, b), ev in out.items()]


def folded_or_none(key: str) -> str | None:
    """`Entity.folded`: the accent-folded key where folding changes it (None keeps the index small)."""
    folded = fold_accents(key)
    return folded if folded != key else None


def _vector(values: Sequence[float] | None) -> list[float] | None:
    """A vector as JSON numbers of 6 decimals: half the bytes of full doubles for the server to
    parse, and unit-vector components keep 6 significant digits (what float32 holds anyway)."""
    if values is None:
        return None
    return np.round(np.asarray(values, dtype=np.float64), 6).tolist()  # type: ignore[no-any-return]


def record_change(tx: Transaction) -> None:
    """Mark this transaction as a change of the graph retrieval reads (schema v6): every reader's
    cache of it is dropped at its next question (`graphrag.retrieval.cache`)."""
    tx.cypher(q.RECORD_GRAPH_CHANGE, {"token": secrets.token_hex(8),
                                      "at": datetime.now(UTC).isoformat(timespec="milliseconds")})


def _dedupe_by(rows: Iterable[_T], key: Any) -> list[_T]:
    out: dict[Any, _T] = {}
    for row in rows:
        out.setdefault(key(row), row)
    return list(out.values())


class GraphStore:
    """Writes and document-level reads/deletes over one ArcadeDB database.

    Args:
        db: the access layer.
        batch_size: rows per `UNWIND` statement.
    """

    def __init__(self, db: ArcadeDB, *, batch_size: int = 500):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.db = db
        self.batch_size = batch_size

    # --- reads --------------------------------------------------------------------------------------

    def document_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        """content_hash of each stored document among `ids` (complete versions only)."""
        found: dict[str, str] = {}
        for part in batched(list(dict.fromkeys(ids)), 1000):
            for row in self.db.cypher(q.DOCUMENT_HASHES, {"ids": list(part)}):
                if row.get("content_hash"):
                    found[row["id"]] = row["content_hash"]
        return found

    def get_document(self, document_id: str) -> dict[str, Any] | None:
        rows = self.db.cypher(q.DOCUMENT_GET, {"id": document_id})
        return rows[0] if rows else None

    def list_documents(self, *, skip: int = 0, limit: int = 100, query: str | None = None) -> list[dict[str, Any]]:
        """A page of documents by id; with `query`, only those whose id, title or source file name
        contains it, in any case (see `queries.DOCUMENT_FILTER`)."""
        if query:
            return self.db.cypher(q.DOCUMENT_FILTER, {"q": query.lower(), "skip": skip, "limit": limit})
        return self.db.cypher(q.DOCUMENT_LIST, {"skip": skip, "limit": limit})

    def count_documents(self, *, query: str | None = None) -> int:
        """How many documents are stored (matching `query` as `list_documents` does)."""
        if query:
            return int(self.db.cypher(q.DOCUMENT_FILTER_COUNT, {"q": query.lower()})[0]["n"])
        return int(self.db.cypher(q.count_vertices("Document"))[0]["n"])

    def document_chunks(self, document_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The document's chunks in order (`id`, `ordinal`, `text`) and its mentions (`chunk`, `key`,
        `name`, `type`, `count`)."""
        return (self.db.cypher(q.DOCUMENT_CHUNKS, {"id": document_id}),
                self.db.cypher(q.DOCUMENT_MENTIONS, {"id": document_id}))

    def entity_keys_with_embedding(self, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for part in batched(list(dict.fromkeys(keys)), 2000):
            found.update(r["key"] for r in self.db.cypher(q.ENTITY_KEYS_WITH_EMBEDDING, {"keys": list(part)}))
        return found

    def counts(self) -> dict[str, int]:
        """Vertices and edges per type (tests and the job summary compare these)."""
        out = {t: int(self.db.cypher(q.count_vertices(t))[0]["n"]) for t in VERTEX_TYPES}
        out.update({t: int(self.db.cypher(q.count_edges(t))[0]["n"]) for t in EDGE_TYPES})
        return out

    def entity_count(self) -> int:
        return int(self.db.cypher(q.count_vertices("Entity"))[0]["n"])

    # --- writes -------------------------------------------------------------------------------------

    def write_batch(self, batch: GraphBatch) -> WriteStats:
        """Store `batch` atomically (see the module docstring); replays the whole batch on a conflict."""
        started = time.perf_counter()
        entities = dedupe_entities(batch.entities)
        chunks = _dedupe_by(batch.chunks, lambda c: c.id)
        relations = dedupe_relations(batch.relations)
        mentions = with_cooccurrence(dedupe_mentions(batch.mentions), relations)
        documents = _dedupe_by(batch.documents, lambda d: d.id)
        chunks.sort(key=lambda c: (c.document_id, c.ordinal))
        next_rows = [{"a": a.id, "b": b.id} for a, b in itertools.pairwise(chunks)
                     if a.document_id == b.document_id and b.ordinal == a.ordinal + 1]
        now = datetime.now(UTC).isoformat(timespec="seconds")
        # Every row is built before the transaction opens: between two of its statements the client
        # does no work, so it cannot stall past the server's session time-out (the server rolls an
        # idle transaction back) even when this process is short of CPU.
        document_rows = [{"id": d.id, "source": d.source, "title": d.title, "content_hash": d.content_hash,
                          "metadata_json": json.dumps(d.metadata, sort_keys=True, default=str),
                          "chunk_count": d.chunk_count, "ingested_at": now} for d in documents]
        entity_rows = {e.key: {"key": e.key, "name": e.name, "type": e.type, "folded": folded_or_none(e.key),
                               "embedding": _vector(e.embedding)} for e in entities}
        by_chunk: dict[str, list[dict[str, Any]]] = {}
        for m in mentions:
            by_chunk.setdefault(m.chunk_id, []).append({"key": m.entity_key, "count": m.count, "cooc": m.cooc})
        chunk_rows = {c.id: {"id": c.id, "document_id": c.document_id, "ordinal": c.ordinal, "title": c.title,
                             "text": c.text, "start_char": c.start_char, "end_char": c.end_char,
                             "embedding": _vector(c.embedding), "mentions": by_chunk.get(c.id, [])} for c in chunks}
        keys = list(entity_rows)

        def work(tx: Transaction) -> WriteStats:
            stats = WriteStats()
            stored: set[str] = set()
            if documents:
                stored = {r["id"] for r in tx.cypher(q.CHUNKS_OF_DOCUMENTS, {"docs": [d.id for d in documents]})}
            stale = sorted(stored - chunk_rows.keys())
            candidates = self._remove_chunks(tx, stale)
            # A kept chunk is stored complete already (same id = same content, written with its edges).
            new_ids = [cid for cid in chunk_rows if cid not in stored]
            present: dict[str, bool] = {}
            spelled: dict[str, tuple[Any, Any]] = {}
            for part in batched(keys, self.batch_size):
                for r in tx.cypher(q.ENTITY_KEYS_PRESENT, {"keys": list(part)}):
                    present[r["key"]] = bool(r["embedded"])
                    spelled[r["key"]] = (r["name"], r["type"])
            self._unwind(tx, q.UPSERT_DOCUMENTS, document_rows)
            self._unwind(tx, q.CREATE_ENTITIES, [row for key, row in entity_rows.items() if key not in present])
            # A stored entity takes this batch's spelling only where it sorts first: two jobs that
            # race to rename one entity both write it, so one of them is replayed and reads the other's.
            self._unwind(tx, q.RENAME_ENTITIES, renamed_entities(entity_rows, spelled))
            self._unwind(tx, q.SET_ENTITY_EMBEDDINGS, [
                {"key": key, "embedding": row["embedding"]} for key, row in entity_rows.items()
                if key in present and not present[key] and row["embedding"] is not None])
            self._unwind(tx, q.CREATE_CHUNKS, [chunk_rows[cid] for cid in new_ids])
            fresh = set(new_ids)
            self._unwind(tx, q.CREATE_NEXT, [r for r in next_rows if r["b"] in fresh])
            stats.orphan_entities_removed = self._delete_orphans(tx, candidates)
            counted = [m["key"] for cid in new_ids for m in chunk_rows[cid]["mentions"]] + candidates
            self._count_mentions(tx, list(dict.fromkeys(counted)))
            stats.stale_chunks_removed = len(stale)
            record_change(tx)
            return stats

        stats = self.db.transactional(work)
        stats.documents = len(documents)
        stats.chunks = len(chunks)
        stats.entity_rows = len(entities)
        stats.mention_rows = len(mentions)
        stats.relation_rows = len(relations)
        stats.next_rows = len(next_rows)
        stats.seconds = time.perf_counter() - started
        return stats

    def delete_document(self, document_id: str) -> WriteStats | None:
        """Remove a document, its chunks, their mentions and evidence, and entities left unmentioned.

        Returns None when no such document (and no leftover chunk of it) exists.
        """

        def work(tx: Transaction) -> WriteStats | None:
            stale = [r["id"] for r in tx.cypher(q.CHUNKS_OF_DOCUMENTS, {"docs": [document_id]})]
            exists = bool(tx.cypher(q.DOCUMENT_GET, {"id": document_id}))
            if not exists and not stale:
                return None
            candidates = self._remove_chunks(tx, stale)
            tx.cypher(q.DELETE_DOCUMENT, {"id": document_id})
            stats = WriteStats(documents=1 if exists else 0, stale_chunks_removed=len(stale))
            stats.orphan_entities_removed = self._delete_orphans(tx, candidates)
            self._count_mentions(tx, candidates)
            record_change(tx)
            return stats

        return self.db.transactional(work)

    def set_entity_embeddings(self, rows: Sequence[tuple[str, list[float]]]) -> None:
        for part in batched(list(rows), self.batch_size):
            self.db.cypher(q.SET_ENTITY_EMBEDDINGS, {"rows": [{"key": k, "embedding": v} for k, v in part]})

    def entities_without_embedding(self, limit: int = 5000) -> list[str]:
        """Keys of entities stored without a vector (an entity's vector is its key's: see `EntityRecord`)."""
        return [r["key"] for r in self.db.cypher(q.ENTITIES_WITHOUT_EMBEDDING, {"limit": limit})]

    def entities_not_linked(self, limit: int = 5000) -> list[str]:
        return [r["key"] for r in self.db.cypher(q.ENTITIES_NOT_LINKED, {"limit": limit})]

    def link_similar_entities(self, keys: Sequence[str], *, threshold: float, k: int = 5) -> int:
        """SAME_AS edges from each entity in `keys` to its near-duplicates by embedding (of the key).

        Neighbours come from the `Entity[embedding]` vector index (cosine distance = 1 - similarity);
        pairs at or above `threshold` get one edge (smaller key -> larger key). The entities are then
        marked `linked` so a resumed job does not look them up again. Returns the pairs written.
        """
        pairs: dict[tuple[str, str], float] = {}
        unique = list(dict.fromkeys(keys))
        for part in batched(unique, self.batch_size):
            rows = self.db.sql(q.ENTITY_NEIGHBOURS_SQL, {"keys": list(part), "k": k + 1})
            for row in rows:
                own = row["key"]
                for other, distance in zip(row.get("neighbours") or [], row.get("distances") or [], strict=False):
                    if other is None or other == own or distance is None:
                        continue
                    similarity = 1.0 - float(distance)
                    if similarity >= threshold:
                        a, b = sorted((own, other))
                        pairs[(a, b)] = max(pairs.get((a, b), 0.0), similarity)
        written = self.write_same_as(pairs)
        self.mark_linked(unique)
        return written

    def write_same_as(self, pairs: dict[tuple[str, str], float]) -> int:
        """MERGE one SAME_AS edge per pair (keys ordered smaller -> larger); returns the pairs written."""
        edge_rows = []
        for (x, y), similarity in sorted(pairs.items()):
            a, b = sorted((x, y))
            edge_rows.append({"a": a, "b": b, "similarity": round(float(similarity), 6)})
        for part in batched(edge_rows, self.batch_size):
            rows = list(part)

            def work(tx: Transaction, rows: list[dict[str, Any]] = rows) -> None:
                tx.cypher(q.MERGE_SAME_AS, {"rows": rows})
                record_change(tx)

            self.db.transactional(work)
        return len(edge_rows)

    def mark_linked(self, keys: Sequence[str]) -> None:
        for part in batched(list(dict.fromkeys(keys)), self.batch_size):
            self.db.cypher(q.MARK_LINKED, {"keys": list(part)})

    def has_embedded_entities(self) -> bool:
        """True when some entity already has a vector (the graph is not empty)."""
        return bool(self.db.cypher(q.ANY_EMBEDDED_ENTITY))

    # --- helpers ------------------------------------------------------------------------------------

    def _unwind(self, tx: Transaction, statement: str, rows: list[dict[str, Any]]) -> None:
        for part in batched(rows, self.batch_size):
            tx.cypher(statement, {"rows": list(part)})

    def _remove_chunks(self, tx: Transaction, ids: list[str]) -> list[str]:
        """Delete chunks with their mentions; returns the keys of entities they mentioned."""
        if not ids:
            return []
        candidates: list[str] = []
        for part in batched(ids, self.batch_size):
            candidates.extend(r["key"] for r in tx.cypher(q.ENTITIES_MENTIONED_BY, {"ids": list(part)}))
            tx.cypher(q.DELETE_CHUNKS, {"ids": list(part)})
        return list(dict.fromkeys(candidates))

    def _count_mentions(self, tx: Transaction, keys: list[str]) -> None:
        """Refresh `Entity.mentions` of these entities (hubs keep theirs: see SET_MENTION_COUNTS)."""
        for part in batched(keys, self.batch_size):
            tx.cypher(q.SET_MENTION_COUNTS, {"keys": list(part), "cap": MENTION_COUNT_CAP})

    def _delete_orphans(self, tx: Transaction, keys: list[str]) -> int:
        deleted = 0
        for part in batched(keys, self.batch_size):
            rows = tx.cypher(q.DELETE_ORPHAN_ENTITIES, {"keys": list(part)})
            deleted += int(rows[0]["deleted"]) if rows else 0
        return deleted
