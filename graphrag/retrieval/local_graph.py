"""One question's neighbourhood as matrices: the graph the personalized PageRank runs on.

Chunk i is node i, entity j is node n_chunks + j. Transition probabilities are the whole graph's,
not the neighbourhood's (see `neighbourhood.py`): a complete node divides its mass by its degree in
the whole graph, an incomplete one sends nothing on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, overload

import numpy as np
from scipy import sparse

from graphrag.retrieval import kernels
from graphrag.retrieval.vocabulary import EntityRow, Vocabulary

_NO_INDEX = np.empty(0, dtype=np.int32)  # an absent block's CSR arrays: int32, as scipy keeps its own
_NO_FLOAT = np.empty(0, dtype=np.float64)


@dataclass(frozen=True)
class EdgeWeights:
    """How edges weigh in the walk (the `ppr_*` knobs of `RetrievalConfig`)."""

    related: float = 1.0
    related_mode: str = "count"
    same_as: bool = True
    skip_types: tuple[str, ...] = ()
    mention_idf: float = 0.0
    title_weight: float = 1.0


def related_weight(count: np.ndarray | float, mode: str) -> Any:
    if mode == "binary":
        return np.ones_like(count) if isinstance(count, np.ndarray) else 1.0
    if mode == "log":
        return 1.0 + np.log(np.maximum(count, 1.0))
    return count


class Names(Sequence[str]):
    """The names of a graph's nodes, looked up in the vocabulary's list by id only when one is asked for
    (a question builds several graphs of thousands of nodes and reads a few names of the last one)."""

    def __init__(self, table: list[str], ids: np.ndarray):
        self._table, self._ids = table, ids

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self._table[j] for j in self._ids[i].tolist()]
        return self._table[int(self._ids[i])]

    def __iter__(self) -> Iterator[str]:
        table = self._table
        return (table[j] for j in self._ids.tolist())

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence of the same names in the same order (a list included), as a list is."""
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # a view of mutable names, compared by content


@dataclass(frozen=True)
class NodeIndex:
    """One kind of node's vocabulary ids in position order, with the lookup from id to position.

    Never changed once made: a neighbourhood that grows makes a new one (`with_ids`), so each graph
    keeps the index it was built with, and the sort its lookup needs is done once per growth."""

    ids: np.ndarray  # vocabulary id of each position
    order: np.ndarray  # the positions by ascending id
    sorted_ids: np.ndarray  # ids[order]

    @classmethod
    def of(cls, ids: np.ndarray) -> NodeIndex:
        order = np.argsort(ids, kind="stable")
        return cls(ids, order, ids[order])

    def positions(self, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of these vocabulary ids (0 where absent), and which have one."""
        if not len(self.ids):
            return np.zeros(len(wanted), dtype=np.int64), np.zeros(len(wanted), dtype=bool)
        where = np.minimum(np.searchsorted(self.sorted_ids, wanted), len(self.ids) - 1)
        found = self.sorted_ids[where] == wanted
        return np.where(found, self.order[where], 0), found


@dataclass
class LocalGraph:
    """A `Neighbourhood` as matrices: chunk i is node i, entity j is node n_chunks + j.

    It answers what the ranking and the path explanations ask of a graph (`GraphLike` in ppr.py).
    """

    chunk_nodes: NodeIndex  # each chunk's vocabulary id, in position order
    entity_nodes: NodeIndex
    vocabulary: Vocabulary  # names, types and titles, looked up when asked
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
    _by_entity: sparse.csc_matrix | None = field(init=False, default=None)
    _transitions: dict[EdgeWeights, tuple[sparse.csr_matrix, np.ndarray]] = field(init=False, default_factory=dict)

    @property
    def chunk_gids(self) -> np.ndarray:
        return self.chunk_nodes.ids

    @property
    def entity_gids(self) -> np.ndarray:
        return self.entity_nodes.ids

    @cached_property
    def chunk_ids(self) -> Names:
        return Names(self.vocabulary.chunk_ids, self.chunk_gids)

    @cached_property
    def entity_keys(self) -> Names:
        return Names(self.vocabulary.entity_keys, self.entity_gids)

    @cached_property
    def entity_rows(self) -> list[EntityRow]:
        """Name, type and whole-graph mention count of each entity, as read by the time they are asked."""
        return self.vocabulary.rows(self.entity_gids)

    @cached_property
    def entity_types(self) -> list[str]:
        return [row.type for row in self.entity_rows]

    def entities_at(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Position of each of these entity keys (0 where absent), and which are nodes here."""
        return self.entity_nodes.positions(self.vocabulary.entities(list(keys)))

    def chunks_at(self, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Position of each of these chunk ids (0 where absent), and which are nodes here."""
        return self.chunk_nodes.positions(self.vocabulary.chunks(list(ids)))

    def entity_positions(self, keys: Sequence[str]) -> set[int]:
        """Positions of the entities with these keys that are nodes here."""
        at, found = self.entities_at(keys)
        return set(at[found].tolist())

    def entity_name(self, j: int) -> str:
        return self.vocabulary.entity_rows[int(self.entity_gids[j])].name

    def chunk_label(self, i: int) -> str:
        """The chunk's title, or its id when no read gave one."""
        gid = int(self.chunk_gids[i])
        return self.vocabulary.chunk_titles[gid] or self.vocabulary.chunk_ids[gid]

    @property
    def n_chunks(self) -> int:
        return len(self.chunk_gids)

    @property
    def n_entities(self) -> int:
        return len(self.entity_gids)

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
        incidence = _canonical(self.incidence)
        title = self.title_edges if weights.title_weight != 1.0 else []
        title_rows, title_cols = np.array(title, dtype=np.int64).reshape(-1, 2).T.copy()  # each C-contiguous
        scale = _NO_FLOAT
        if weights.mention_idf > 0:
            scale = np.power(np.maximum(self.mentions, 1).astype(np.float64), -weights.mention_idf)
        keep = _NO_FLOAT
        if weights.skip_types:
            keep = np.array([t not in weights.skip_types for t in self.entity_types], dtype=np.float64)
        rel_ptr, rel_idx, rel_data = _NO_INDEX, _NO_INDEX, _NO_FLOAT  # no co-occurrence block
        if weights.related > 0 and self.related.nnz:
            rel = _canonical(self.related)
            rel_ptr, rel_idx = rel.indptr, rel.indices
            rel_data = weights.related * related_weight(rel.data, weights.related_mode)
        same_ptr, same_idx, same_data = _NO_INDEX, _NO_INDEX, _NO_FLOAT
        if weights.same_as and self.same_as.nnz:
            same = _canonical(self.same_as)
            same_ptr, same_idx, same_data = same.indptr, same.indices, same.data
        degree = self.related_degree[weights.related_mode] if weights.related > 0 else _NO_FLOAT
        indptr, indices, data, dangling = kernels.transition(
            n_c, n_e, incidence.indptr, incidence.indices, incidence.data, title_rows, title_cols,
            float(weights.title_weight - 1.0), scale, keep, rel_ptr, rel_idx, rel_data, same_ptr, same_idx,
            same_data, bool(weights.same_as), degree, float(weights.related),
            np.concatenate([self.complete_chunk, self.complete_entity]))
        matrix = sparse.csr_matrix((data, indices, indptr), shape=(n_c + n_e, n_c + n_e))
        self._transitions[weights] = (matrix, dangling)
        return matrix, dangling


def _canonical(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """`matrix` with sorted indices and no duplicates (a copy, when it had either)."""
    if matrix.has_canonical_format:
        return matrix
    matrix = matrix.copy()
    matrix.sum_duplicates()
    return matrix
