"""The database's answers to the neighbourhood statements, as integer arrays (one entry per chunk or
entity asked about): what the graph cache keeps, and what a question's neighbourhood is built from.

Made once per read from the database (interning its strings into the `Vocabulary`), so a cached
chunk or entity costs a question an array reference, not a pass over JSON rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from graphrag.retrieval.vocabulary import EntityRow, Vocabulary

_NO_INT = np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class ChunkEntry:
    """One chunk's `CHUNK_MENTIONS` rows: the entity of each mention, in row order, and each
    mention's co-occurring partners (flattened, with a length per mention).

    Packed in one int64 array, `[chunk, mentions, partners, entities..., lengths..., partners...]`, so
    that a question takes hundreds of them with one concatenation and one compiled unpacking
    (`kernels.unpack_chunks`), not one numpy call per array per entry.
    """

    packed: np.ndarray

    @classmethod
    def of(cls, chunk: int, entities: np.ndarray, partners: np.ndarray, lengths: np.ndarray) -> ChunkEntry:
        return cls(np.concatenate([np.array([chunk, len(entities), len(partners)], dtype=np.int64),
                                   entities, lengths, partners]).astype(np.int64, copy=False))

    @property
    def size(self) -> int:
        """Rows of the database's answer it holds (what the cache's budget counts)."""
        return 1 + int(self.packed[1])


@dataclass(frozen=True)
class EntityEntry:
    """One entity's `ENTITY_MENTIONS` row and `SAME_AS_OF` rows: the chunk of each mention with its
    partners, its co-occurrence degree (which depends on all its mentions only, so it is computed
    once, when read) and its synonyms with their similarity.

    Packed in one int64 array (floats as their bits): `[entity, mentions, partners, synonyms,
    chunks..., lengths..., partners..., synonyms..., similarities..., degree x 3]`; see `ChunkEntry`.
    """

    packed: np.ndarray

    @classmethod
    def of(cls, entity: int, chunks: np.ndarray, partners: np.ndarray, lengths: np.ndarray,
           degree: tuple[float, float, float], synonyms: np.ndarray, similarity: np.ndarray) -> EntityEntry:
        head = np.array([entity, len(chunks), len(partners), len(synonyms)], dtype=np.int64)
        floats = np.concatenate([np.asarray(similarity, dtype=np.float64), np.array(degree, dtype=np.float64)])
        return cls(np.concatenate([head, chunks, lengths, partners, synonyms, floats.view(np.int64)]
                                  ).astype(np.int64, copy=False))

    @property
    def size(self) -> int:
        return 1 + int(self.packed[1]) + int(self.packed[3])


def flat_partners(vocabulary: Vocabulary, coocs: Sequence[Sequence[str] | None]) -> tuple[np.ndarray, np.ndarray]:
    """Each mention's co-occurring partners (a `cooc` list, or None), as one array of their ids and a
    length per mention."""
    lists = [c or () for c in coocs]
    lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    return vocabulary.entities(list(chain.from_iterable(lists))), lengths


def chunk_entries(vocabulary: Vocabulary, asked: Sequence[int], rows: list[dict[str, Any]]) -> dict[int, ChunkEntry]:
    """`CHUNK_MENTIONS` rows for the chunks `asked`, by chunk (a chunk without mentions gets an empty entry).

    Every row's entity takes the row's name, type and count (the last row of an entity wins).
    """
    chunks = vocabulary.chunks([row["id"] for row in rows])
    entities = vocabulary.entities([row["key"] for row in rows])
    vocabulary.set_rows(entities.tolist(), [EntityRow(row.get("name") or row["key"], row.get("type") or "",
                                                      int(row.get("mentions") or 0)) for row in rows])
    vocabulary.set_titles(chunks.tolist(), [row.get("title") for row in rows])
    partners, lengths = flat_partners(vocabulary, [row.get("cooc") for row in rows])
    out = {int(c): ChunkEntry.of(int(c), _NO_INT, _NO_INT, _NO_INT) for c in asked}
    if not rows:
        return out
    order = np.argsort(chunks, kind="stable")  # by chunk, each chunk's rows in row order
    starts = np.concatenate([[0], np.cumsum(lengths)])
    by_row = [partners[starts[i]:starts[i + 1]] for i in order.tolist()]
    bounds = np.flatnonzero(np.diff(chunks[order])) + 1
    for part in np.split(np.arange(len(order)), bounds):
        chunk = int(chunks[order[part[0]]])
        rows_of = order[part]
        out[chunk] = ChunkEntry.of(chunk, entities[rows_of], np.concatenate([by_row[i] for i in part.tolist()]),
                                   lengths[rows_of])
    return out


def entity_entries(vocabulary: Vocabulary, rows: list[dict[str, Any]], synonyms: list[dict[str, Any]]
                   ) -> dict[int, EntityEntry]:
    """`ENTITY_MENTIONS` rows and their `SAME_AS_OF` rows, by entity. A synonym's row is taken only
    where its entity has none yet (the expanded entity's own reads give it first)."""
    per_row = [row.get("chunks") or [] for row in rows]
    sizes = np.fromiter(map(len, per_row), dtype=np.int64, count=len(per_row))
    flat_chunks = list(chain.from_iterable(per_row))
    chunks = vocabulary.chunks([c[0] for c in flat_chunks])
    vocabulary.set_titles(chunks.tolist(), [c[1] for c in flat_chunks])
    partners, lengths = flat_partners(vocabulary, [c[2] for c in flat_chunks])
    degrees = related_degrees((partners, lengths), sizes)
    keys = vocabulary.entities([row["key"] for row in rows])
    same: dict[str, list[dict[str, Any]]] = {}
    for row in synonyms:
        same.setdefault(row["key"], []).append(row)
    out: dict[int, EntityEntry] = {}
    chunk_start = 0
    partner_start = 0
    for key, row, size, degree in zip(keys.tolist(), rows, sizes.tolist(), degrees, strict=True):
        own_lengths = lengths[chunk_start:chunk_start + size]
        width = int(own_lengths.sum())
        found = same.get(row["key"], [])
        others = vocabulary.entities([s["other"] for s in found])
        vocabulary.set_rows(others.tolist(), [EntityRow(s.get("name") or s["other"], s.get("type") or "",
                                                        int(s.get("mentions") or 0)) for s in found], replace=False)
        similarity = np.array([float(s.get("similarity") or 1.0) for s in found], dtype=np.float64)
        out[key] = EntityEntry.of(key, chunks[chunk_start:chunk_start + size], partners[partner_start:partner_start
                                  + width], own_lengths, degree, others, similarity)
        chunk_start += size
        partner_start += width
    return out


def related_degrees(partners: tuple[np.ndarray, np.ndarray], sizes: np.ndarray) -> list[tuple[float, float, float]]:
    """Per entity row (`sizes`: its chunk count) of an entity read: its co-occurrence degree over all
    its chunks' partners (`partners`: flattened partner ids of those chunks, and a length per chunk).

    Each row's "log" degree is summed with `np.add.reduce` over its partners in first-seen order, so
    it is the same float as summing that row alone, whatever the partners' numbering.
    """
    ids, lengths = partners
    n_rows = len(sizes)
    owner = np.repeat(np.repeat(np.arange(n_rows, dtype=np.int64), sizes), lengths)
    width = int(ids.max()) + 1 if len(ids) else 1
    pair, first, counts = np.unique(owner * width + ids, return_index=True, return_counts=True)
    order = np.argsort(first, kind="stable")  # by row, then by where the partner first appears in it
    owner = pair[order] // width
    counts = counts[order].astype(np.float64)
    total = np.bincount(owner, weights=counts, minlength=n_rows)  # whole numbers: exact in any order
    distinct = np.bincount(owner, minlength=n_rows)
    terms = 1.0 + np.log(np.maximum(counts, 1.0))
    bounds = np.searchsorted(owner, np.arange(n_rows + 1)).tolist()
    return [(float(total[r]), float(distinct[r]), float(np.add.reduce(terms[bounds[r]:bounds[r + 1]])))
            for r in range(n_rows)]
