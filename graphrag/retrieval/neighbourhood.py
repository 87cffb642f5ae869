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

Everything here is in the integer ids of a `Vocabulary` (`vocabulary.py`): reads arrive as
`entries.py`'s arrays, straight from the graph cache or from the database, and a question's graph is
assembled from them with numpy alone (`Neighbourhood.graph`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from operator import itemgetter
from typing import Any

import numpy as np
from scipy import sparse

from graphrag import queries
from graphrag.arcadedb import ArcadeDB
from graphrag.retrieval.cache import CacheView
from graphrag.retrieval.entries import ChunkEntry, EntityEntry, chunk_entries, entity_entries, flat_partners
from graphrag.retrieval.local_graph import LocalGraph, NodeIndex, csr_from_entries
from graphrag.retrieval.vocabulary import EntityRow, Vocabulary

_SHIFT = 21  # node positions below 2**21 (a neighbourhood is a few thousand nodes) pack three to an int64
_MASK = (1 << _SHIFT) - 1
_NO_INT = np.empty(0, dtype=np.int64)
_NO_FLOAT = np.empty(0, dtype=np.float64)


class Neighbourhood:
    """Everything read for one question so far (it grows as the ranking expands it), in vocabulary ids.

    Chunks and entities get their matrix positions in order of arrival (first read, first position),
    so a position never changes as the neighbourhood grows, and `graph` assembles only what arrived
    since its last call: the new nodes, the new mentions (a (chunk, entity) mention read twice counts
    once, with the partners of its first read), and the co-occurring pairs whose partner now has a
    position (a partner that never becomes an entity of the neighbourhood never makes a pair).
    """

    def __init__(self, vocabulary: Vocabulary | None = None):
        self.vocabulary = vocabulary if vocabulary is not None else Vocabulary()
        self.complete_chunks = _Completed()  # every mention of these was read
        self.complete_entities = _Completed()  # every mention and SAME_AS of these
        # complete entity -> its co-occurrence degree in the whole graph: (sum of pair counts, distinct
        # partners, sum of 1 + ln count), for the "count", "binary" and "log" weightings
        self.related_degree: dict[int, tuple[float, float, float]] = {}
        self.rows_read = 0  # mentions and SAME_AS rows the database returned (tests check the bound)
        # what arrived since the last `graph`: node ids (repeats allowed), mentions with their partners
        self._new_chunks: list[np.ndarray] = []
        self._new_entities: list[np.ndarray] = []
        self._new_mentions: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._same: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # SAME_AS: (entity, other, similarity)
        # what `graph` assembled so far
        self._chunks = _Nodes()
        self._entities = _Nodes()
        self._mention_codes = _NO_INT  # chunk position << _SHIFT | entity position of each one, sorted
        # partners not resolved yet (partner id, the mention's entity and chunk positions): those of
        # the mentions taken at the last build, and those that had no position at an earlier one
        self._incoming = (_NO_INT, _NO_INT, _NO_INT)
        self._waiting = (_NO_INT, _NO_INT, _NO_INT)
        self._fresh: list[np.ndarray] = []  # entities given a position since the pairs were last resolved
        self._last: tuple[tuple[int, ...], LocalGraph] | None = None  # the last graph, and what it saw
        self._pair_codes = _NO_INT  # smaller entity << 2 * _SHIFT | larger entity << _SHIFT | chunk, sorted

    # --- what arrives ----------------------------------------------------------------------------
    def add_chunks(self, chunks: np.ndarray) -> None:
        """Chunks to rank (a dense hit may be known before any of its mentions is read)."""
        self._new_chunks.append(np.asarray(chunks, dtype=np.int64))

    def add_entities(self, entities: np.ndarray) -> None:
        self._new_entities.append(np.asarray(entities, dtype=np.int64))

    def add_chunk_entries(self, entries: Sequence[ChunkEntry]) -> None:
        """Every mention of these chunks (their entities arrive before the chunks, as rows are read)."""
        if not entries:
            return
        entities = _cat([e.entities for e in entries])
        chunks = np.repeat(np.fromiter((e.chunk for e in entries), dtype=np.int64, count=len(entries)),
                           [len(e.entities) for e in entries])
        self._new_entities.append(entities)
        self._new_chunks.append(chunks)
        self._new_mentions.append((chunks, entities, _cat([e.partners for e in entries]),
                                   _cat([e.lengths for e in entries])))
        self.rows_read += len(entities)

    def add_entity_entries(self, entries: Sequence[EntityEntry]) -> None:
        """Every mention and SAME_AS edge of these entities (the synonyms arrive after all the mentions)."""
        if not entries:
            return
        own = np.fromiter((e.entity for e in entries), dtype=np.int64, count=len(entries))
        chunks = _cat([e.chunks for e in entries])
        entities = np.repeat(own, [len(e.chunks) for e in entries])
        self._new_chunks.append(chunks)
        self._new_entities.append(own)
        self._new_mentions.append((chunks, entities, _cat([e.partners for e in entries]),
                                   _cat([e.lengths for e in entries])))
        others = _cat([e.synonyms for e in entries])
        if len(others):
            self._new_entities.append(others)
            self._same.append((np.repeat(own, [len(e.synonyms) for e in entries]), others,
                               _cat([e.similarity for e in entries], np.float64)))
        for e in entries:
            self.related_degree[e.entity] = e.degree
        self.rows_read += len(chunks) + len(others)

    def has_entities(self, entities: np.ndarray) -> np.ndarray:
        """Which of these entities are in the neighbourhood (only those are expanded)."""
        self._fresh.append(self._entities.add(self._new_entities))  # positions in order of arrival all the same
        self._new_entities = []
        return self._entities.positions(entities)[1]

    # --- by name (questions' seeds and dense hits; tests) ------------------------------------------
    def add_entity(self, key: str, row: EntityRow, *, replace: bool = True) -> int:
        """An entity with its row (kept only where none is known yet, unless `replace`)."""
        entity = self.vocabulary.entities([key])
        self.vocabulary.set_rows(entity.tolist(), [row], replace=replace)
        self.add_entities(entity)
        return int(entity[0])

    def add_mention(self, chunk_id: str, title: str | None, key: str, cooc: Sequence[str] | None) -> None:
        """One mention read on its own (tests; reads arrive as entries)."""
        self.add_mentions([chunk_id], [title], [key], [cooc])

    def add_mentions(self, chunk_ids: Sequence[str], titles: Sequence[str | None], keys: Sequence[str],
                     coocs: Sequence[Sequence[str] | None]) -> None:
        """Mentions given as columns, row i: chunk `chunk_ids[i]` names entity `keys[i]` with `coocs[i]`."""
        vocabulary = self.vocabulary
        chunks = vocabulary.chunks(chunk_ids)
        entities = vocabulary.entities(keys)
        vocabulary.set_titles(chunks.tolist(), titles)
        partners, lengths = flat_partners(vocabulary, coocs)
        self._new_entities.append(entities)
        self._new_chunks.append(chunks)
        self._new_mentions.append((chunks, entities, partners, lengths))

    # --- what is read, by name (tests) -------------------------------------------------------------
    @property
    def mentions(self) -> set[tuple[str, str]]:
        """Every (chunk id, entity key) mention read."""
        graph = self.graph()
        return {(graph.chunk_ids[c >> _SHIFT], graph.entity_keys[c & _MASK])
                for c in self._mention_codes.tolist()}

    @property
    def same_as(self) -> dict[tuple[str, str], float]:
        """Every SAME_AS edge read, as (smaller key, larger key) -> similarity (the last read wins)."""
        keys = self.vocabulary.entity_keys
        out: dict[tuple[str, str], float] = {}
        for a, b, similarity in self._same:
            for x, y, s in zip(a.tolist(), b.tolist(), similarity.tolist(), strict=True):
                out[tuple(sorted((keys[x], keys[y])))] = s  # type: ignore[index]
        return out

    # --- the graph ------------------------------------------------------------------------------------
    def graph(self) -> LocalGraph:
        """What has been read so far as a `LocalGraph` (numpy only: no pass over mentions in Python).

        The same graph (and the transition matrices it cached) when nothing arrived since the last
        call: a question's feedback round often reads nothing new.
        """
        # (entities may have been given positions since, by `has_entities`)
        seen = (len(self.complete_chunks), len(self.complete_entities), len(self.related_degree),
                len(self._entities.ids))
        if (self._last is not None and self._last[0] == seen and not self._new_chunks and not self._new_entities
                and not self._new_mentions):
            return self._last[1]
        vocabulary = self.vocabulary
        chunks, entities = self._chunks, self._entities
        chunks.add(self._new_chunks)
        self._fresh.append(entities.add(self._new_entities))
        self._new_chunks, self._new_entities = [], []
        self._take_mentions()
        fresh, self._fresh = _cat(self._fresh), []
        self._resolve_pairs(fresh)
        n_c, n_e = len(chunks.ids), len(entities.ids)
        codes = self._mention_codes  # sorted by chunk, then entity: the matrix's entries in CSR order
        incidence = csr_from_entries(codes >> _SHIFT, codes & _MASK, np.ones(len(codes)), (n_c, n_e))
        # a pair of entities weighs the chunks naming both (a code per chunk: the count of equal prefixes)
        pairs, counts = np.unique(self._pair_codes >> _SHIFT, return_counts=True)
        related = _symmetric(pairs >> _SHIFT, pairs & _MASK, counts.astype(np.float64), n_e)
        degree = {mode: np.zeros(n_e) for mode in ("count", "binary", "log")}
        if self.related_degree:
            at, found = entities.positions(np.fromiter(self.related_degree, dtype=np.int64))
            values = np.array(list(self.related_degree.values()), dtype=np.float64)[found]
            degree["count"][at[found]], degree["binary"][at[found]], degree["log"][at[found]] = values.T
        graph = LocalGraph(chunks.index, entities.index, vocabulary,
                           np.asarray(_pick(vocabulary.entity_mentions, entities.ids), dtype=np.int64),
                           incidence, related, self._same_as_matrix(n_e),
                           self.complete_chunks.flags(chunks), self.complete_entities.flags(entities),
                           degree, self._title_edges())
        self._last = ((*seen[:-1], n_e), graph)  # the entities counted as of this graph
        return graph

    def _take_mentions(self) -> None:
        """The mentions read since the last call, less those already kept, with their partners waiting."""
        if not self._new_mentions:
            return
        parts = self._new_mentions
        self._new_mentions = []
        m_chunk, m_entity, partners, lengths = (_cat([part[i] for part in parts]) for i in range(4))
        all_rows, _ = self._chunks.positions(m_chunk)
        all_cols, _ = self._entities.positions(m_entity)
        unique, first = np.unique((all_rows << _SHIFT) | all_cols, return_index=True)
        seen, _ = _find(self._mention_codes, unique)
        keep = np.zeros(len(m_chunk), dtype=bool)
        keep[first[~seen]] = True
        self._mention_codes = _insert(self._mention_codes, unique[~seen])
        rows, cols = all_rows[keep], all_cols[keep]
        if len(partners):
            kept = lengths[keep]
            self._incoming = (partners[np.repeat(keep, lengths)], np.repeat(cols, kept), np.repeat(rows, kept))

    def _resolve_pairs(self, fresh: np.ndarray) -> None:
        """Pairs whose partner has a position now; the others wait for a later read. A partner that
        waits already can be resolved only by an entity new since (`fresh`): most partners never
        become entities here, and searching all of them again at every build cost more than the rest."""
        resolved = []  # (partner position, entity, chunk)
        partner, entity, chunk = self._waiting
        if len(partner) and len(fresh):
            hit = np.isin(partner, fresh)
            resolved.append((self._entities.positions(partner[hit])[0], entity[hit], chunk[hit]))
            self._waiting = partner, entity, chunk = partner[~hit], entity[~hit], chunk[~hit]
        new_partner, new_entity, new_chunk = self._incoming
        if len(new_partner):
            self._incoming = (_NO_INT, _NO_INT, _NO_INT)
            other, found = self._entities.positions(new_partner)
            resolved.append((other[found], new_entity[found], new_chunk[found]))
            self._waiting = (np.concatenate([partner, new_partner[~found]]),
                             np.concatenate([entity, new_entity[~found]]), np.concatenate([chunk, new_chunk[~found]]))
        for other, entity, chunk in resolved:
            ok = other != entity
            entity, other, chunk = entity[ok], other[ok], chunk[ok]
            codes = (np.minimum(entity, other) << (2 * _SHIFT)) | (np.maximum(entity, other) << _SHIFT) | chunk
            self._pair_codes = _insert(self._pair_codes, codes)

    def _title_edges(self) -> list[tuple[int, int]]:
        """(chunk, entity) where the entity is the one the chunk's title names and that mention was read."""
        ids = self._chunks.ids
        if not len(ids) or not len(self._mention_codes):
            return []
        title_gid = np.asarray(_pick(self.vocabulary.chunk_title_entity, ids), dtype=np.int64)  # type: ignore[arg-type]
        title_entity, found = self._entities.positions(title_gid)
        titled = np.flatnonzero(found & (title_gid >= 0))
        hit, _ = _find(self._mention_codes, (titled << _SHIFT) | title_entity[titled])
        titled = titled[hit]
        return list(zip(titled.tolist(), title_entity[titled].tolist(), strict=True))

    def _same_as_matrix(self, n_e: int) -> sparse.csr_matrix:
        if not self._same:
            return _symmetric(_NO_INT, _NO_INT, _NO_FLOAT, n_e)
        a, _ = self._entities.positions(_cat([part[0] for part in self._same]))
        b, _ = self._entities.positions(_cat([part[1] for part in self._same]))
        similarity = _cat([part[2] for part in self._same], np.float64)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        # the last read of a pair wins: the first of each in reverse
        _, last = np.unique(((lo << _SHIFT) | hi)[::-1], return_index=True)
        last = np.sort(len(lo) - 1 - last)
        return _symmetric(lo[last], hi[last], similarity[last], n_e)


class _Completed(set[int]):
    """A set of vocabulary ids that also keeps, per position of a `_Nodes`, whether each is in it, updated
    with only what was added since the last call (membership of every node, tested again at each of a
    question's graphs, cost more than the rest of the graph's flags). Only `add` and `update` are
    tracked: nothing else changes these sets."""

    def __init__(self) -> None:
        super().__init__()
        self._added: list[int] = []  # since the last `flags`, or still without a position then
        self._flags = np.zeros(0, dtype=bool)

    def add(self, item: int) -> None:
        if item not in self:
            self._added.append(item)
            super().add(item)

    def update(self, *others: Iterable[int]) -> None:
        for other in others:
            new = [item for item in dict.fromkeys(other) if item not in self]  # in order, once each
            self._added.extend(new)
            super().update(new)

    def flags(self, nodes: _Nodes) -> np.ndarray:
        """Whether each of `nodes`, in position order, is in the set (a copy: later calls grow their own)."""
        if len(self._flags) < len(nodes.ids):
            self._flags = np.concatenate([self._flags, np.zeros(len(nodes.ids) - len(self._flags), dtype=bool)])
        if self._added:
            at, found = nodes.positions(np.fromiter(self._added, dtype=np.int64, count=len(self._added)))
            self._flags[at[found]] = True
            self._added = np.asarray(self._added, dtype=np.int64)[~found].tolist()  # a position may come later
        return self._flags.copy()


class _Nodes:
    """One kind of node's vocabulary ids in position order (first arrival first), as they grow."""

    def __init__(self) -> None:
        self.index = NodeIndex.of(_NO_INT)

    @property
    def ids(self) -> np.ndarray:
        return self.index.ids

    def add(self, parts: list[np.ndarray]) -> np.ndarray:
        """Give positions to the ids in `parts` not seen yet (in order of first arrival); returns them."""
        if not parts:
            return _NO_INT
        arrived = _cat(parts)
        unique, first = np.unique(arrived, return_index=True)
        _, seen = self.index.positions(unique)
        fresh = unique[~seen][np.argsort(first[~seen], kind="stable")]
        if len(fresh):
            self.index = NodeIndex.of(np.concatenate([self.index.ids, fresh]))
        return fresh

    def positions(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of `ids` (0 where absent), and which have one."""
        return self.index.positions(ids)


def _symmetric(lower: np.ndarray, upper: np.ndarray, weights: np.ndarray, n: int) -> sparse.csr_matrix:
    """The symmetric (n, n) matrix with `weights` at (lower, upper) and (upper, lower), each pair given once
    (what `M + M.T` gives for M holding them: a pair on the diagonal counts twice, a zero is not stored)."""
    codes = np.concatenate([(lower << _SHIFT) | upper, (upper << _SHIFT) | lower])
    cells, at = np.unique(codes, return_inverse=True)
    values = np.bincount(at, weights=np.concatenate([weights, weights]), minlength=len(cells))
    kept = values != 0
    cells = cells[kept]
    return csr_from_entries(cells >> _SHIFT, cells & _MASK, values[kept], (n, n))


def _find(table: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which `values` are in the sorted `table`, and where each would be inserted to keep it sorted."""
    where = np.searchsorted(table, values)
    seen = where < len(table)
    seen[seen] = table[where[seen]] == values[seen]
    return seen, where


def _insert(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The sorted unique `table` with `values` added (a merge, not a sort of the whole table)."""
    values = np.unique(values)
    seen, where = _find(table, values)
    return np.insert(table, where[~seen], values[~seen]) if not seen.all() else table


def _cat(parts: list[np.ndarray], dtype: type = np.int64) -> np.ndarray:
    if not parts:
        return _NO_FLOAT if dtype is np.float64 else _NO_INT
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _pick(table: list[Any], ids: np.ndarray) -> list[Any]:
    if len(ids) == 0:
        return []
    if len(ids) == 1:
        return [table[int(ids[0])]]
    return list(itemgetter(*ids.tolist())(table))


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

    def read(self, nb: Neighbourhood, *, chunks: Iterable[int] = (), entities: Iterable[int] = (),
             cache: CacheView | None = None, cpu_lock: AbstractContextManager[Any] | None = None) -> None:
        """One round's reads, sent at once (the database works on them together; the question waits
        for the slowest only): the chunks' mentions, the entities' mentions and their SAME_AS edges.
        What `cache` holds is taken from it, and what is read goes into it. Hubs are skipped.
        `cpu_lock`, when the caller holds it, is let go while the database answers."""
        vocabulary = nb.vocabulary
        # in the order of their ids and keys, as the rows are read (positions follow arrival)
        chunk_ids, entity_keys = vocabulary.chunk_ids, vocabulary.entity_keys
        wanted_chunks = sorted({int(c) for c in chunks} - nb.complete_chunks, key=chunk_ids.__getitem__)
        asked = np.fromiter({int(e) for e in entities} - nb.complete_entities, dtype=np.int64)
        wanted_entities = sorted((e for e in asked[nb.has_entities(asked)].tolist()
                                  if vocabulary.entity_mentions[e] <= self.entity_cap), key=entity_keys.__getitem__)
        if not wanted_chunks and not wanted_entities:
            return
        known_chunks, read_chunks = cache.chunk_mentions(wanted_chunks) if cache else ({}, wanted_chunks)
        known_entities, read_entities = cache.entity_mentions(wanted_entities) if cache else ({}, wanted_entities)
        calls = []
        if read_chunks:
            calls.append((queries.CHUNK_MENTIONS, {"ids": [chunk_ids[c] for c in read_chunks]}))
        if read_entities:
            keys = [entity_keys[e] for e in read_entities]
            calls.append((queries.ENTITY_MENTIONS, {"keys": keys, "cap": self.entity_cap}))
            calls.append((queries.SAME_AS_OF, {"keys": keys}))
        results: list[list[dict[str, Any]]] = []
        if calls:
            with released(cpu_lock):
                pending = [_POOL.submit(self.db.cypher_rows, statement, params) for statement, params in calls[1:]]
                results = [self.db.cypher_rows(*calls[0]), *(future.result() for future in pending)]
        if read_chunks:
            fresh = chunk_entries(vocabulary, read_chunks, results.pop(0))
            known_chunks.update(fresh)
            if cache:
                cache.keep_chunk_mentions(fresh)
        if read_entities:
            mentions, synonyms = results
            read = entity_entries(vocabulary, mentions, synonyms)
            known_entities.update(read)
            if cache:
                cache.keep_entity_mentions(read)
        nb.add_chunk_entries([known_chunks[c] for c in wanted_chunks if c in known_chunks])
        nb.complete_chunks.update(wanted_chunks)
        nb.add_entity_entries([known_entities[e] for e in wanted_entities if e in known_entities])
        nb.complete_entities.update(wanted_entities)  # an unknown key too: it has nothing to read


@contextmanager
def released(lock: AbstractContextManager[Any] | None) -> Iterator[None]:
    """`with lock` turned inside out: the block runs without `lock`, which the caller holds (None: no lock)."""
    if lock is None:
        yield
        return
    lock.__exit__(None, None, None)
    try:
        yield
    finally:
        lock.__enter__()


# Shared by every reader in the process: the second statement of a round waits here, not in a new thread.
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="neighbourhood")
