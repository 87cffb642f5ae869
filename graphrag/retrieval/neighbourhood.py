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
assembled from them in compiled code, without the GIL (`Neighbourhood.graph`, `kernels.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from operator import itemgetter
from typing import Any

import numpy as np
from scipy import sparse

from graphrag import queries
from graphrag.arcadedb import ArcadeDB
from graphrag.retrieval import kernels
from graphrag.retrieval.cache import CacheView
from graphrag.retrieval.entries import ChunkEntry, EntityEntry, chunk_entries, entity_entries, flat_partners
from graphrag.retrieval.local_graph import LocalGraph, NodeIndex
from graphrag.retrieval.vocabulary import EntityRow, Vocabulary

_NO_INT = np.empty(0, dtype=np.int64)
_NO_FLOAT = np.empty(0, dtype=np.float64)


class Neighbourhood:
    """Everything read for one question so far (it grows as the ranking expands it), in vocabulary ids.

    Chunks and entities get their matrix positions in order of arrival (first read, first position),
    so a position never changes as the neighbourhood grows. A (chunk, entity) mention read twice
    counts once, with the partners of its first read; a co-occurring pair is made only by a partner
    that has a position (one that never becomes an entity of the neighbourhood never makes a pair).
    `graph` assembles all of it at each call in compiled code (`kernels.py`, without the GIL): a
    neighbourhood is a few thousand mentions, tens of microseconds of work.
    """

    def __init__(self, vocabulary: Vocabulary | None = None):
        self.vocabulary = vocabulary if vocabulary is not None else Vocabulary()
        self.complete_chunks: set[int] = set()  # every mention of these was read
        self.complete_entities: set[int] = set()  # every mention and SAME_AS of these
        # complete entity -> its co-occurrence degree in the whole graph: (sum of pair counts, distinct
        # partners, sum of 1 + ln count), for the "count", "binary" and "log" weightings
        self.related_degree = _Degrees()
        self.rows_read = 0  # mentions and SAME_AS rows the database returned (tests check the bound)
        # everything read, in order of arrival: node ids (repeats allowed), mentions with their partners
        self._chunks = _Stream()
        self._entities = _Stream()
        self._mentions = tuple(_Stream() for _ in range(4))  # chunk, entity, partners, partners per mention
        self._same = (_Stream(), _Stream(), _Stream(_NO_FLOAT))  # SAME_AS: entity, other, similarity
        self._last: tuple[tuple[int, ...], LocalGraph] | None = None  # the last graph, and what it saw

    # --- what arrives ----------------------------------------------------------------------------
    def add_chunks(self, chunks: np.ndarray) -> None:
        """Chunks to rank (a dense hit may be known before any of its mentions is read)."""
        self._chunks.add(np.asarray(chunks, dtype=np.int64))

    def add_entities(self, entities: np.ndarray) -> None:
        self._entities.add(np.asarray(entities, dtype=np.int64))

    def add_chunk_entries(self, entries: Sequence[ChunkEntry]) -> None:
        """Every mention of these chunks (their entities arrive before the chunks, as rows are read)."""
        if not entries:
            return
        chunks, entities, partners, lengths = kernels.unpack_chunks(_cat([e.packed for e in entries]))
        self._entities.add(entities)
        self._chunks.add(chunks)
        self._add_mentions(chunks, entities, partners, lengths)
        self.rows_read += len(entities)

    def add_entity_entries(self, entries: Sequence[EntityEntry]) -> None:
        """Every mention and SAME_AS edge of these entities (the synonyms arrive after all the mentions)."""
        if not entries:
            return
        own, chunks, entities, partners, lengths, same_own, others, similarity, degrees = kernels.unpack_entities(
            _cat([e.packed for e in entries]))
        self._chunks.add(chunks)
        self._entities.add(own)
        self._add_mentions(chunks, entities, partners, lengths)
        if len(others):
            self._entities.add(others)
            for stream, part in zip(self._same, (same_own, others, similarity), strict=True):
                stream.add(part)
        self.related_degree.add(own, degrees)
        self.rows_read += len(chunks) + len(others)

    def has_entities(self, entities: np.ndarray) -> np.ndarray:
        """Which of these entities are in the neighbourhood (only those are expanded)."""
        return kernels.contains(self._entities.array(), np.asarray(entities, dtype=np.int64))

    def _add_mentions(self, chunks: np.ndarray, entities: np.ndarray, partners: np.ndarray, lengths: np.ndarray
                      ) -> None:
        for stream, part in zip(self._mentions, (chunks, entities, partners, lengths), strict=True):
            stream.add(part)

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
        self._entities.add(entities)
        self._chunks.add(chunks)
        self._add_mentions(chunks, entities, partners, lengths)

    # --- what is read, by name (tests) -------------------------------------------------------------
    @property
    def mentions(self) -> set[tuple[str, str]]:
        """Every (chunk id, entity key) mention read."""
        graph = self.graph()
        incidence = graph.incidence.tocoo()
        return {(graph.chunk_ids[i], graph.entity_keys[j])
                for i, j in zip(incidence.row.tolist(), incidence.col.tolist(), strict=True)}

    @property
    def same_as(self) -> dict[tuple[str, str], float]:
        """Every SAME_AS edge read, as (smaller key, larger key) -> similarity (the last read wins)."""
        keys = self.vocabulary.entity_keys
        out: dict[tuple[str, str], float] = {}
        a, b, similarity = (stream.array().tolist() for stream in self._same)
        for x, y, s in zip(a, b, similarity, strict=True):
            out[tuple(sorted((keys[x], keys[y])))] = s  # type: ignore[index]
        return out

    # --- the graph ------------------------------------------------------------------------------------
    def graph(self) -> LocalGraph:
        """What has been read so far as a `LocalGraph`, assembled in compiled code without the GIL.

        The same graph (and the transition matrices it cached) when nothing arrived since the last
        call: a question's feedback round often reads nothing new.
        """
        seen = (len(self.complete_chunks), len(self.complete_entities), self.related_degree.rows,
                len(self._chunks), len(self._entities), len(self._mentions[0]), len(self._same[0]))
        if self._last is not None and self._last[0] == seen:
            return self._last[1]
        vocabulary = self.vocabulary
        chunk_ids, chunk_keys, chunk_values, entity_ids, entity_keys, entity_values = kernels.nodes(
            self._chunks.array(), self._entities.array())
        n_c, n_e = len(chunk_ids), len(entity_ids)
        title_entity = np.asarray(_pick(vocabulary.chunk_title_entity, chunk_ids), dtype=np.int64)
        m_chunk, m_entity, partners, lengths = (stream.array() for stream in self._mentions)
        (inc_ptr, inc_idx, inc_data, rel_ptr, rel_idx, rel_data, same_ptr, same_idx, same_data, title_rows,
         title_cols) = kernels.assemble(n_c, chunk_keys, chunk_values, n_e, entity_keys, entity_values, m_chunk,
                                        m_entity, partners, lengths, *(stream.array() for stream in self._same),
                                        title_entity)
        degree = kernels.degrees(*self.related_degree.arrays(), entity_keys, entity_values, n_e)
        graph = LocalGraph(NodeIndex.of(chunk_ids), NodeIndex.of(entity_ids), vocabulary,
                           np.asarray(_pick(vocabulary.entity_mentions, entity_ids), dtype=np.int64),
                           _csr(inc_data, inc_idx, inc_ptr, (n_c, n_e)), _csr(rel_data, rel_idx, rel_ptr, (n_e, n_e)),
                           _csr(same_data, same_idx, same_ptr, (n_e, n_e)),
                           kernels.flags(_ids(self.complete_chunks), chunk_keys, chunk_values, n_c),
                           kernels.flags(_ids(self.complete_entities), entity_keys, entity_values, n_e),
                           {"count": degree[0], "binary": degree[1], "log": degree[2]},
                           list(zip(title_rows.tolist(), title_cols.tolist(), strict=True)))
        self._last = (seen, graph)
        return graph


class _Degrees(Mapping[int, tuple[float, float, float]]):
    """Complete entity -> its co-occurrence degree in the whole graph, kept as the arrays reads bring
    (hundreds of entities a read: a dict entry each cost more than the rest of taking them). Reading it
    as a mapping, or setting one entity's degree by hand (tests), works as a dict would; the last
    value given for an entity wins."""

    def __init__(self) -> None:
        self._ids = _Stream()
        self._values = _Stream(np.empty((0, 3)))  # a row of three per id

    @property
    def rows(self) -> int:
        """Degrees given so far (grows with every change)."""
        return len(self._ids)

    def add(self, ids: np.ndarray, values: np.ndarray) -> None:
        self._ids.add(ids)
        self._values.add(values)

    def __setitem__(self, entity: int, degree: tuple[float, float, float]) -> None:
        self.add(np.array([entity], dtype=np.int64), np.array([degree], dtype=np.float64))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Every degree given, in order (ids, (n, 3) values)."""
        return self._ids.array(), self._values.array()

    def _dict(self) -> dict[int, tuple[float, float, float]]:
        ids, values = self.arrays()
        return dict(zip(ids.tolist(), map(tuple, values.tolist()), strict=True))

    def __getitem__(self, entity: int) -> tuple[float, float, float]:
        return self._dict()[entity]

    def __iter__(self) -> Iterator[int]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())


class _Stream:
    """Arrays arriving in order (along their first axis), concatenated when asked for (once per
    question's graph, not per read)."""

    def __init__(self, empty: np.ndarray = _NO_INT) -> None:
        self._whole = empty
        self._parts: list[np.ndarray] = []
        self._length = 0

    def __len__(self) -> int:
        return self._length

    def add(self, part: np.ndarray) -> None:
        if len(part):
            self._parts.append(part)
            self._length += len(part)

    def array(self) -> np.ndarray:
        if self._parts:
            self._whole = np.concatenate([self._whole, *self._parts])
            self._parts = []
        return self._whole


def _ids(items: set[int]) -> np.ndarray:
    return np.fromiter(items, dtype=np.int64, count=len(items))


def _csr(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, shape: tuple[int, int]) -> sparse.csr_matrix:
    """A canonical CSR matrix from the kernels' arrays (int32 indices: scipy takes them without a scan)."""
    matrix = sparse.csr_matrix((data, indices, indptr), shape=shape)
    matrix.has_sorted_indices = True
    matrix.has_canonical_format = True
    return matrix


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    """One array of these (at least one): the one itself, not a copy, when there is one."""
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
