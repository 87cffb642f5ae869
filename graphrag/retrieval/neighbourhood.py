"""The part of the graph one question's ranking needs, read from ArcadeDB at query time.

Personalized PageRank with restart probability 1 - d (d = 0.6 here) keeps almost all of its mass
within a few steps of where it restarts: the question's seed entities and its nearest passages.
So instead of a copy of the whole graph, each question reads a bounded neighbourhood:

1. the mentions of the dense passages (`vectorNeighbors` top k) and of the chunks that name a seed;
2. every mention of the seeds and of the entities the first PageRank round finds most probable
   per mention, as long as an entity is named by at most `ppr_entity_cap` chunks and the whole
   expansion stays within `ppr_expand_budget` mentions;
3. the SAME_AS edges of every expanded entity.

A hub entity (named by more than `ppr_entity_cap` chunks) is never expanded, so a name that a
hundred thousand chunks mention cannot pull them in: its share per chunk would be a hundred
thousandth of its mass anyway.

Transition probabilities are the whole graph's, not the neighbourhood's: a node whose every edge
was read (an expanded entity, a chunk whose mentions were read) divides its mass by its degree in
the whole graph, so the share of it that would leave the neighbourhood is lost instead of being
pushed back onto the nodes that happen to be present. A node whose edges were not all read sends
nothing on. Scores inside the neighbourhood are therefore the whole graph's PageRank restricted
to walks that stay inside it: close to it where the mass is, exactly zero far away.

Co-occurrence (entities named in one sentence) is read from `MENTIONS.cooc`: the weight of a pair
is the number of chunks naming both, and an expanded entity's mentions give its whole co-occurrence
degree (see `graphrag/queries.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain, repeat
from typing import Any

import numpy as np
from scipy import sparse

from graphrag import queries
from graphrag.arcadedb import ArcadeDB
from graphrag.normalize import entity_key, strip_title_qualifier
from graphrag.retrieval.cache import CacheView


@dataclass
class EntityRow:
    name: str
    type: str
    mentions: int  # chunks that name it, in the whole graph


_SHIFT = 21  # node positions below 2**21 (a neighbourhood is a few thousand nodes) pack three to an int64
_NO_INT = np.empty(0, dtype=np.int64)


@dataclass
class Neighbourhood:
    """Everything read for one question so far (it grows as the ranking expands it).

    Chunks and entities get their matrix positions as they arrive (first read, first position).
    A read's mentions are taken as columns (`add_mentions`): positions are looked up once per
    row and everything else is numpy, since a question reads thousands of mention rows. A mention's
    co-occurring partners are kept as (partner, entity, chunk) numbers and resolved to positions
    by `pairs`, so a partner that arrives in a later read still gets its pair.
    """

    titles: dict[str, str] = field(default_factory=dict)  # chunk id -> its document's title, in arrival order
    title_keys: dict[str, str] = field(default_factory=dict)  # chunk id -> key of the entity its title names
    entities: dict[str, EntityRow] = field(default_factory=dict)  # in arrival order
    same_as: dict[tuple[str, str], float] = field(default_factory=dict)  # (smaller key, larger key)
    complete_chunks: set[str] = field(default_factory=set)  # every mention of these was read
    complete_entities: set[str] = field(default_factory=set)  # every mention and SAME_AS of these
    # complete entity -> its co-occurrence degree in the whole graph: (sum of pair counts, distinct
    # partners, sum of 1 + ln count), for the "count", "binary" and "log" weightings
    related_degree: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    rows_read: int = 0  # mentions and SAME_AS rows the database returned (tests check the bound)
    chunk_index: dict[str, int] = field(default_factory=dict)
    entity_index: dict[str, int] = field(default_factory=dict)
    # each (chunk, entity) mention once, as chunk position << _SHIFT | entity position: sorted, to drop repeats
    _mention_codes: np.ndarray = field(default_factory=lambda: _NO_INT)
    _mention_rows: list[np.ndarray] = field(default_factory=list)  # chunk position of each mention, per read
    _mention_cols: list[np.ndarray] = field(default_factory=list)  # entity position of each mention, per read
    _partner_ids: dict[str, int] = field(default_factory=dict)  # key named in a `cooc` -> its number
    _partner_position: list[int] = field(default_factory=list)  # partner number -> entity position, or -1
    # one entry per co-occurring partner of a mention not resolved yet (read since the last `pairs`, or
    # whose partner had no position then): the partner's number, the mention's entity and chunk
    _pair_partner: list[np.ndarray] = field(default_factory=list)
    _pair_entity: list[np.ndarray] = field(default_factory=list)
    _pair_chunk: list[np.ndarray] = field(default_factory=list)
    _pair_codes: np.ndarray = field(default_factory=lambda: _NO_INT)  # resolved pairs, sorted (see `pairs`)

    def add_chunk(self, chunk_id: str, title: str | None = None) -> int:
        """A chunk to rank (a dense hit may be known before any of its mentions is read)."""
        if chunk_id not in self.chunk_index:
            self.chunk_index[chunk_id] = len(self.chunk_index)
            self.titles[chunk_id] = ""
            self.title_keys[chunk_id] = ""
        if title and not self.titles[chunk_id]:
            self.titles[chunk_id] = title
            self.title_keys[chunk_id] = title_key(title)
        return self.chunk_index[chunk_id]

    def add_entity(self, key: str, row: EntityRow, *, replace: bool = True) -> int:
        if key in self.entity_index:
            if replace:
                self.entities[key] = row
            return self.entity_index[key]
        self.entities[key] = row
        return self._index(key)

    def add_mention(self, chunk_id: str, title: str | None, key: str, cooc: Sequence[str] | None) -> None:
        """One mention (see `add_mentions`)."""
        self.add_mentions([chunk_id], [title], [key], [cooc])

    def add_mentions(self, chunk_ids: Sequence[str], titles: Sequence[str | None], keys: Sequence[str],
                     coocs: Sequence[Sequence[str] | None], *,
                     partners: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Mentions given as columns, row i: chunk `chunk_ids[i]` names entity `keys[i]` with `coocs[i]`.

        A (chunk, entity) pair already read, or repeated here, counts once: its first row. A chunk
        takes its first non-empty title; an entity not known yet gets a placeholder row.

        Args:
            partners: `self.partners(coocs)` when the caller has it already.
        """
        n = len(chunk_ids)
        if n == 0:
            return
        self._add_chunks(chunk_ids, titles)
        for key in dict.fromkeys(keys):
            if key not in self.entity_index:
                self.add_entity(key, self.entities.get(key) or EntityRow(key, "", 0))
        rows = np.fromiter(map(self.chunk_index.__getitem__, chunk_ids), dtype=np.int64, count=n)
        cols = np.fromiter(map(self.entity_index.__getitem__, keys), dtype=np.int64, count=n)
        ids, lengths = partners if partners is not None else self.partners(coocs)
        unique, first = np.unique((rows << _SHIFT) | cols, return_index=True)
        seen, where = _find(self._mention_codes, unique)
        fresh = ~seen
        self._mention_codes = np.insert(self._mention_codes, where[fresh], unique[fresh])
        kept = np.sort(first[fresh])
        if len(kept) < n:
            keep = np.zeros(n, dtype=bool)
            keep[kept] = True
            by_partner = np.repeat(keep, lengths)
            rows_kept, cols_kept, ids = rows[kept], cols[kept], ids[by_partner]
            lengths = lengths[kept]
        else:
            rows_kept, cols_kept = rows, cols
        self._mention_rows.append(rows_kept)
        self._mention_cols.append(cols_kept)
        if len(ids):
            self._pair_partner.append(ids)
            self._pair_entity.append(np.repeat(cols_kept, lengths))
            self._pair_chunk.append(np.repeat(rows_kept, lengths))

    def _add_chunks(self, chunk_ids: Sequence[str], titles: Sequence[str | None]) -> None:
        index = self.chunk_index
        for chunk_id in dict.fromkeys(chunk_ids):
            if chunk_id not in index:
                index[chunk_id] = len(index)
                self.titles[chunk_id] = ""
                self.title_keys[chunk_id] = ""
        # each chunk's first non-empty title (reversed, so the first one is the one kept)
        named = {c: t for c, t in zip(reversed(chunk_ids), reversed(titles), strict=True) if t}
        for chunk_id, title in named.items():
            if not self.titles[chunk_id]:
                self.titles[chunk_id] = title
                self.title_keys[chunk_id] = title_key(title)

    def partners(self, coocs: Sequence[Sequence[str] | None]) -> tuple[np.ndarray, np.ndarray]:
        """The partners of each row, flattened to partner numbers, and how many each row has."""
        lists = [c or () for c in coocs]
        lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        flat = list(chain.from_iterable(lists))
        known, position = self._partner_ids, self.entity_index
        for key in dict.fromkeys(flat):
            if key not in known:
                known[key] = len(known)
                self._partner_position.append(position.get(key, -1))
        return np.fromiter(map(known.__getitem__, flat), dtype=np.int64, count=len(flat)), lengths

    def _index(self, key: str) -> int:
        k = self.entity_index[key] = len(self.entity_index)
        partner = self._partner_ids.get(key)
        if partner is not None:
            self._partner_position[partner] = k
        return k

    def index_entities(self) -> None:
        """Give a position to entities set directly in `entities` (their pairs are resolved too)."""
        for key in self.entities:
            if key not in self.entity_index:
                self._index(key)

    def mention_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Every mention read, once: (chunk positions, entity positions)."""
        if len(self._mention_rows) > 1:
            self._mention_rows = [np.concatenate(self._mention_rows)]
            self._mention_cols = [np.concatenate(self._mention_cols)]
        if not self._mention_rows:
            return _NO_INT, _NO_INT
        return self._mention_rows[0], self._mention_cols[0]

    def has_mentions(self, chunks: np.ndarray, entities: np.ndarray) -> np.ndarray:
        """Per (chunk position, entity position): True when that mention was read."""
        return _find(self._mention_codes, (chunks << _SHIFT) | entities)[0]

    @property
    def mentions(self) -> set[tuple[str, str]]:
        """Every (chunk id, entity key) mention read."""
        chunk_ids, keys = list(self.chunk_index), list(self.entity_index)
        rows, cols = self.mention_positions()
        return {(chunk_ids[i], keys[j]) for i, j in zip(rows.tolist(), cols.tolist(), strict=True)}

    def pairs(self) -> np.ndarray:
        """The co-occurring pairs read so far whose partner has a position, as sorted unique codes
        (smaller entity << 2 * _SHIFT | larger entity << _SHIFT | chunk).

        Each call resolves what was read since the last one, and what is still waiting for its
        partner; a partner that never gets a position never makes a pair.
        """
        if not self._pair_partner:
            return self._pair_codes
        partner, entity, chunk = (np.concatenate(refs) for refs in (self._pair_partner, self._pair_entity,
                                                                    self._pair_chunk))
        other = np.asarray(self._partner_position, dtype=np.int64)[partner]
        waiting = other < 0
        self._pair_partner, self._pair_entity = [partner[waiting]], [entity[waiting]]
        self._pair_chunk = [chunk[waiting]]
        ok = ~waiting & (other != entity)
        entity, other, chunk = entity[ok], other[ok], chunk[ok]
        codes = np.unique((np.minimum(entity, other) << (2 * _SHIFT)) | (np.maximum(entity, other) << _SHIFT) | chunk)
        seen, where = _find(self._pair_codes, codes)
        self._pair_codes = np.insert(self._pair_codes, where[~seen], codes[~seen])
        return self._pair_codes


@lru_cache(maxsize=1 << 15)
def title_key(title: str) -> str:
    """The key of the entity a document title names ('Mercury (planet)' -> 'mercury').

    Cached: every question's neighbourhood takes the titles of hundreds of chunks, the same popular
    ones again and again, and the normalisation is a few regular expressions per title.
    """
    return entity_key(strip_title_qualifier(title))


def _find(table: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which `values` are in the sorted `table`, and where each would be inserted to keep it sorted."""
    where = np.searchsorted(table, values)
    seen = where < len(table)
    seen[seen] = table[where[seen]] == values[seen]
    return seen, where


class NeighbourhoodReader:
    """Reads parts of the graph into a `Neighbourhood` with parameterised Cypher (a few round trips);
    the rows come back as plain JSON (`ArcadeDB.cypher_rows`), since a question reads thousands.

    Args:
        db: the database client (thread-safe: a round's two statements run at once).
        entity_cap: an entity named by more chunks is a hub: never expanded; the query's LIMIT also
            holds if its mention count grew between being read and being expanded.
    """

    def __init__(self, db: ArcadeDB, *, entity_cap: int):
        self.db = db
        self.entity_cap = entity_cap

    def chunks(self, nb: Neighbourhood, ids: Iterable[str], cache: CacheView | None = None) -> None:
        """Read every mention of these chunks (and their entities' names and mention counts)."""
        self.read(nb, chunk_ids=ids, cache=cache)

    def entities(self, nb: Neighbourhood, keys: Iterable[str], cache: CacheView | None = None) -> None:
        """Read every mention and SAME_AS edge of these entities; hubs and unknown keys are skipped."""
        self.read(nb, entity_keys=keys, cache=cache)

    def read(self, nb: Neighbourhood, *, chunk_ids: Iterable[str] = (), entity_keys: Iterable[str] = (),
             cache: CacheView | None = None) -> None:
        """One round's reads, sent at once (the database works on them together; the question waits
        for the slowest only): the chunks' mentions, the entities' mentions and their SAME_AS edges.
        What `cache` holds is taken from it, and what is read goes into it."""
        chunks = sorted({i for i in chunk_ids if i not in nb.complete_chunks})
        entities = sorted({k for k in entity_keys if k not in nb.complete_entities and k in nb.entities
                           and nb.entities[k].mentions <= self.entity_cap})
        if not chunks and not entities:
            return
        known_chunks, read_chunks = cache.chunk_mentions(chunks) if cache else ({}, chunks)
        known_entities, read_entities = cache.entity_mentions(entities) if cache else ({}, entities)
        calls = []
        if read_chunks:
            calls.append((queries.CHUNK_MENTIONS, {"ids": read_chunks}))
        if read_entities:
            calls.append((queries.ENTITY_MENTIONS, {"keys": read_entities, "cap": self.entity_cap}))
            calls.append((queries.SAME_AS_OF, {"keys": read_entities}))
        results: list[list[dict[str, Any]]] = []
        if calls:
            pending = [_POOL.submit(self.db.cypher_rows, statement, params) for statement, params in calls[1:]]
            results = [self.db.cypher_rows(*calls[0]), *(future.result() for future in pending)]
        if chunks:
            if read_chunks:
                grouped: dict[str, list[dict[str, Any]]] = {i: [] for i in read_chunks}
                for row in results.pop(0):
                    grouped.setdefault(row["id"], []).append(row)
                fresh = {i: MentionColumns.of(rows) for i, rows in grouped.items()}
                known_chunks.update(fresh)
                if cache:
                    cache.keep_chunk_mentions(fresh)
            self._apply_chunks(nb, chunks, [known_chunks[i] for i in chunks if i in known_chunks])
        if entities:
            if read_entities:
                mentions, synonyms = results
                same: dict[str, list[dict[str, Any]]] = {}
                for row in synonyms:
                    same.setdefault(row["key"], []).append(row)
                read = EntityMentions.of_rows(mentions, same)
                known_entities.update(read)
                if cache:
                    cache.keep_entity_mentions(read)
            self._apply_entities(nb, entities, [known_entities[k] for k in entities if k in known_entities])

    @staticmethod
    def _apply_chunks(nb: Neighbourhood, wanted: list[str], parts: list[MentionColumns]) -> None:
        rows: dict[str, EntityRow] = {}
        for part in parts:  # an entity's first row gives its position, its last row its name, type and count
            rows.update(part.entities)
        for key, row in rows.items():
            nb.add_entity(key, row)
        nb.add_mentions(list(chain.from_iterable(p.chunk_ids for p in parts)),
                        list(chain.from_iterable(p.titles for p in parts)),
                        list(chain.from_iterable(p.keys for p in parts)),
                        list(chain.from_iterable(p.coocs for p in parts)))
        nb.rows_read += sum(len(p.keys) for p in parts)
        nb.complete_chunks.update(wanted)

    @staticmethod
    def _apply_entities(nb: Neighbourhood, wanted: list[str], parts: list[EntityMentions]) -> None:
        coocs = list(chain.from_iterable(p.coocs for p in parts))
        nb.add_mentions(list(chain.from_iterable(p.chunk_ids for p in parts)),
                        list(chain.from_iterable(p.titles for p in parts)),
                        list(chain.from_iterable(repeat(p.key, len(p.chunk_ids)) for p in parts)),
                        coocs)
        nb.rows_read += len(coocs)
        for part in parts:
            nb.related_degree[part.key] = part.degree
        for part in parts:
            for other, row, similarity in part.synonyms:
                nb.add_entity(other, row, replace=False)
                a, b = sorted((part.key, other))
                nb.same_as[(a, b)] = similarity
                nb.rows_read += 1
        nb.complete_entities.update(wanted)


@dataclass(frozen=True)
class MentionColumns:
    """Mention rows (`CHUNK_MENTIONS`: one chunk's, when cached) as the columns `add_mentions` takes, and
    each entity's row as the last of its rows gives it. Made once per read from the database, so a
    cached chunk costs a question list concatenation, not a pass over dicts."""

    chunk_ids: list[str]
    titles: list[str | None]
    keys: list[str]
    coocs: list[Sequence[str] | None]
    entities: dict[str, EntityRow]

    @classmethod
    def of(cls, rows: list[dict[str, Any]]) -> MentionColumns:
        keys = [row["key"] for row in rows]
        entities = {key: EntityRow(row.get("name") or key, row.get("type") or "", int(row.get("mentions") or 0))
                    for key, row in dict(zip(keys, rows, strict=True)).items()}
        return cls([row["id"] for row in rows], [row.get("title") for row in rows], keys,
                   [row.get("cooc") for row in rows], entities)

    @property
    def size(self) -> int:
        return 1 + len(self.keys)


@dataclass(frozen=True)
class EntityMentions:
    """One entity's `ENTITY_MENTIONS` row and `SAME_AS_OF` rows, as columns, with its co-occurrence
    degree (which depends on all its mentions only, so it is computed once, when read)."""

    key: str
    chunk_ids: list[str]
    titles: list[str | None]
    coocs: list[Sequence[str] | None]
    degree: tuple[float, float, float]
    synonyms: list[tuple[str, EntityRow, float]]  # (other key, its row, similarity)

    @classmethod
    def of(cls, row: dict[str, Any], synonyms: list[dict[str, Any]]) -> EntityMentions:
        return cls.of_rows([row], {row["key"]: synonyms})[row["key"]]

    @classmethod
    def of_rows(cls, rows: list[dict[str, Any]], synonyms: dict[str, list[dict[str, Any]]]
                ) -> dict[str, EntityMentions]:
        """One read's entities by key; their degrees in one vectorised pass (`_related_degrees`: each
        row's floats are those of summing it alone, whatever the partners' numbering)."""
        per_row = [row.get("chunks") or [] for row in rows]
        coocs = [[c[2] for c in chunks] for chunks in per_row]
        numbers: dict[str, int] = {}
        flat = [numbers.setdefault(k, len(numbers)) for row in coocs for c in row for k in (c or ())]
        lengths = np.fromiter((len(c or ()) for row in coocs for c in row), dtype=np.int64)
        sizes = np.fromiter(map(len, per_row), dtype=np.int64, count=len(per_row))
        degrees = _related_degrees((np.asarray(flat, dtype=np.int64), lengths), sizes)
        out: dict[str, EntityMentions] = {}
        for row, chunks, row_coocs, degree in zip(rows, per_row, coocs, degrees, strict=True):
            same = [(s["other"], EntityRow(s.get("name") or s["other"], s.get("type") or "",
                                           int(s.get("mentions") or 0)), float(s.get("similarity") or 1.0))
                    for s in synonyms.get(row["key"], [])]
            out[row["key"]] = cls(row["key"], [c[0] for c in chunks], [c[1] for c in chunks], row_coocs, degree, same)
        return out

    @property
    def size(self) -> int:
        return 1 + len(self.chunk_ids) + len(self.synonyms)


def _related_degrees(partners: tuple[np.ndarray, np.ndarray], sizes: np.ndarray) -> list[tuple[float, float, float]]:
    """Per entity row (`sizes`: its chunk count) of an entity read: its co-occurrence degree over
    all its chunks' partners (`partners`: `Neighbourhood.partners` of those chunks, in row order).

    Each row's "log" degree is summed with `np.add.reduce` over its partners in first-seen order, so
    it is the same float as summing that row alone.
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


# Shared by every reader in the process: the second statement of a round waits here, not in a new thread.
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="neighbourhood")


@dataclass(frozen=True)
class EdgeWeights:
    """How edges weigh in the walk (the `ppr_*` knobs of `RetrievalConfig`)."""

    related: float = 1.0
    related_mode: str = "count"
    same_as: bool = True
    skip_types: tuple[str, ...] = ()
    mention_idf: float = 0.0
    title_weight: float = 1.0


def _related_weight(count: np.ndarray | float, mode: str) -> Any:
    if mode == "binary":
        return np.ones_like(count) if isinstance(count, np.ndarray) else 1.0
    if mode == "log":
        return 1.0 + np.log(np.maximum(count, 1.0))
    return count


@dataclass
class LocalGraph:
    """A `Neighbourhood` as matrices: chunk i is node i, entity j is node n_chunks + j.

    It answers what the ranking and the path explanations ask of a graph (`GraphLike` in ppr.py).
    """

    chunk_ids: list[str]
    chunk_titles: list[str]
    entity_keys: list[str]
    entity_names: list[str]
    entity_types: list[str]
    mentions: np.ndarray  # chunks naming each entity, in the whole graph
    incidence: sparse.csr_matrix  # (n_chunks, n_entities) 1 where a read mention links them
    related: sparse.csr_matrix  # (n_entities, n_entities) co-occurrence counts seen in read mentions
    same_as: sparse.csr_matrix
    complete_chunk: np.ndarray  # bool per chunk: all its mentions read
    complete_entity: np.ndarray  # bool per entity: all its mentions (and SAME_AS) read
    # per entity, over ALL its mentions when complete (else 0): co-occurrence weight in the whole graph
    # as the sum of pair counts ("count"), the number of distinct partners ("binary"), sum of 1 + ln count ("log")
    related_degree: dict[str, np.ndarray]
    title_edges: list[tuple[int, int]]  # (chunk, entity): the entity its document's title names
    chunk_index: dict[str, int] = field(init=False)
    entity_index: dict[str, int] = field(init=False)
    _by_entity: sparse.csc_matrix | None = field(init=False, default=None)
    _transitions: dict[EdgeWeights, tuple[sparse.csr_matrix, np.ndarray]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.chunk_index = dict(zip(self.chunk_ids, range(len(self.chunk_ids)), strict=True))
        self.entity_index = dict(zip(self.entity_keys, range(len(self.entity_keys)), strict=True))

    @classmethod
    def build(cls, nb: Neighbourhood) -> LocalGraph:
        nb.index_entities()
        chunk_ids = list(nb.chunk_index)
        entity_keys = list(nb.entity_index)
        n_c, n_e = len(chunk_ids), len(entity_keys)
        mention_rows, mention_cols = nb.mention_positions()
        incidence = sparse.csr_matrix((np.ones(len(mention_rows)), (mention_rows, mention_cols)), shape=(n_c, n_e))
        incidence.data[:] = 1.0
        # a pair's weight: the chunks that name both in one sentence (each seen from either mention)
        related = sparse.csr_matrix((n_e, n_e), dtype=np.float64)
        codes = nb.pairs()
        if len(codes):
            smaller, larger = codes >> (2 * _SHIFT), (codes >> _SHIFT) & ((1 << _SHIFT) - 1)
            # both directions at once (never a loop: a pair's two entities differ); repeats add up
            related = sparse.csr_matrix((np.ones(2 * len(codes)), (np.concatenate([smaller, larger]),
                                                                   np.concatenate([larger, smaller]))),
                                        shape=(n_e, n_e))
        index = nb.entity_index
        same = _symmetric({(index[a], index[b]): s for (a, b), s in nb.same_as.items()
                           if a in index and b in index}, n_e)
        degree = {mode: np.zeros(n_e) for mode in ("count", "binary", "log")}
        if nb.related_degree:
            at = np.fromiter(map(index.__getitem__, nb.related_degree), dtype=np.int64, count=len(nb.related_degree))
            values = np.array(list(nb.related_degree.values()), dtype=np.float64)
            degree["count"][at], degree["binary"][at], degree["log"][at] = values.T
        # the entity each chunk's title names, where that chunk's mention of it was read
        title_entity = np.fromiter((index.get(k, -1) if k else -1 for k in map(nb.title_keys.__getitem__, chunk_ids)),
                                   dtype=np.int64, count=n_c)
        titled = np.flatnonzero(title_entity >= 0)
        titled = titled[nb.has_mentions(titled, title_entity[titled])]
        title_edges = list(zip(titled.tolist(), title_entity[titled].tolist(), strict=True))
        rows = list(map(nb.entities.__getitem__, entity_keys))
        return cls(chunk_ids, list(map(nb.titles.__getitem__, chunk_ids)), entity_keys, [r.name for r in rows],
                   [r.type for r in rows], np.fromiter((r.mentions for r in rows), dtype=np.int64, count=n_e),
                   incidence, related, same,
                   np.fromiter(map(nb.complete_chunks.__contains__, chunk_ids), dtype=bool, count=n_c),
                   np.fromiter(map(nb.complete_entities.__contains__, entity_keys), dtype=bool, count=n_e),
                   degree, title_edges)

    @property
    def n_chunks(self) -> int:
        return len(self.chunk_ids)

    @property
    def n_entities(self) -> int:
        return len(self.entity_keys)

    def chunk_entities(self, i: int) -> list[int]:
        return [int(j) for j in self.incidence.indices[self.incidence.indptr[i]:self.incidence.indptr[i + 1]]]

    def entity_chunks(self, j: int) -> list[int]:
        if self._by_entity is None:
            self._by_entity = self.incidence.tocsc()
        col = self._by_entity
        return [int(i) for i in col.indices[col.indptr[j]:col.indptr[j + 1]]]

    def neighbours(self, j: int) -> dict[int, str]:
        """Entity j's entity neighbours here and the relation to each (co-occurrence wins over SAME_AS)."""
        out = {int(n): "SAME_AS" for n in self.same_as.indices[self.same_as.indptr[j]:self.same_as.indptr[j + 1]]}
        out.update({int(n): "RELATED" for n in self.related.indices[self.related.indptr[j]:self.related.indptr[j + 1]]})
        out.pop(j, None)
        return out

    def transition(self, weights: EdgeWeights) -> tuple[sparse.csr_matrix, np.ndarray]:
        """The column-stochastic-or-less transition matrix and its dangling nodes (cached per weights).

        Column x holds the share of node x's mass that moves to each node of the neighbourhood: its
        edge weight over x's weighted degree in the WHOLE graph when x is complete, nothing when it is
        not (see the module docstring). Dangling nodes are complete nodes without any edge; the
        PageRank spreads their mass by the reset vector, as it would on the whole graph.
        """
        if weights in self._transitions:
            return self._transitions[weights]
        n_c, n_e = self.n_chunks, self.n_entities
        incidence = self.incidence
        if weights.title_weight != 1.0 and self.title_edges:
            rows, cols = zip(*self.title_edges, strict=True)
            bonus = sparse.csr_matrix((np.full(len(rows), weights.title_weight - 1.0), (rows, cols)),
                                      shape=incidence.shape)
            incidence = (incidence + bonus).tocsr()
        if weights.mention_idf > 0:
            scale = np.power(np.maximum(self.mentions, 1).astype(np.float64), -weights.mention_idf)
            incidence = (incidence @ sparse.diags(scale)).tocsr()
        keep = np.ones(n_e)
        if weights.skip_types:
            keep = np.array([t not in weights.skip_types for t in self.entity_types], dtype=np.float64)
            incidence = (incidence @ sparse.diags(keep)).tocsr()
        ee = sparse.csr_matrix((n_e, n_e), dtype=np.float64)
        if weights.related > 0 and self.related.nnz:
            rel = self.related.copy()
            rel.data = _related_weight(rel.data, weights.related_mode)
            ee = weights.related * rel
        if weights.same_as:
            ee = ee + self.same_as
        if weights.skip_types:
            ee = (sparse.diags(keep) @ ee @ sparse.diags(keep)).tocsr()
        adjacency = _adjacency(incidence, ee)
        adjacency.eliminate_zeros()
        local = np.asarray(adjacency.sum(axis=0)).ravel()
        degree = np.zeros(n_c + n_e)
        # A complete chunk has every edge here: its local degree is its whole-graph degree.
        degree[:n_c] = np.where(self.complete_chunk, local[:n_c], 0.0)
        # A complete entity has every chunk here; its co-occurrence degree counts partners outside too.
        entity_degree = np.asarray(incidence.sum(axis=0)).ravel()
        if weights.related > 0:
            entity_degree = entity_degree + weights.related * self.related_degree[weights.related_mode]
        if weights.same_as:
            entity_degree = entity_degree + np.asarray(self.same_as.sum(axis=1)).ravel()
        if weights.skip_types:
            entity_degree = entity_degree * keep
        degree[n_c:] = np.where(self.complete_entity, entity_degree, 0.0)
        inverse = np.divide(1.0, degree, out=np.zeros_like(degree), where=degree > 0)
        matrix = (adjacency @ sparse.diags(inverse)).tocsr()
        complete = np.concatenate([self.complete_chunk, self.complete_entity])
        dangling = np.flatnonzero(complete & (degree == 0))
        self._transitions[weights] = (matrix, dangling)
        return matrix, dangling


def _adjacency(incidence: sparse.csr_matrix, ee: sparse.csr_matrix) -> sparse.csr_matrix:
    """The block matrix [[0, incidence], [incidence.T, ee]] in canonical CSR (what `sparse.bmat` gives),
    assembled from the blocks' arrays: chunk rows hold their incidence row, entity rows their
    incidence column followed by their `ee` row."""
    incidence, ee = _canonical(incidence), _canonical(ee)
    n_c, n_e = incidence.shape
    by_entity = incidence.tocsc()  # row j: incidence column j, chunks in order
    from_chunks, from_entities = np.diff(by_entity.indptr), np.diff(ee.indptr)
    top = incidence.indptr[-1]
    indptr = np.concatenate([incidence.indptr, top + np.cumsum(from_chunks + from_entities)])
    indices = np.empty(indptr[-1], dtype=np.int64)
    data = np.empty(indptr[-1], dtype=np.float64)
    indices[:top], data[:top] = incidence.indices + n_c, incidence.data
    # where each entity row's parts go: its incidence column first, then its ee row
    start = indptr[n_c:-1]
    at = np.repeat(start - by_entity.indptr[:-1], from_chunks) + np.arange(by_entity.indptr[-1])
    indices[at], data[at] = by_entity.indices, by_entity.data
    at = np.repeat(start + from_chunks - ee.indptr[:-1], from_entities) + np.arange(ee.indptr[-1])
    indices[at], data[at] = ee.indices + n_c, ee.data
    return sparse.csr_matrix((data, indices, indptr), shape=(n_c + n_e, n_c + n_e))


def _canonical(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """`matrix` with sorted indices and no duplicates (a copy, when it had either)."""
    if matrix.has_canonical_format:
        return matrix
    matrix = matrix.copy()
    matrix.sum_duplicates()
    return matrix


def _symmetric(weights: dict[tuple[int, int], float], n: int) -> sparse.csr_matrix:
    if not weights:
        return sparse.csr_matrix((n, n), dtype=np.float64)
    rows, cols = zip(*weights, strict=True)
    upper = sparse.csr_matrix((list(weights.values()), (rows, cols)), shape=(n, n), dtype=np.float64)
    return (upper + upper.T).tocsr()
