"""The neighbourhood's column-wise assembly against a row-by-row reference (the code it replaced).

The reference below reads every row in Python, one mention and one partner at a time, the way
`Neighbourhood` did before it took reads as numpy columns. Both must give the same positions, the
same matrices and the same floats (exactly: rankings are tie-broken, so a last-bit change could move a
passage), on hand-made reads with the awkward cases: a mention read twice, a partner that arrives in
a later read (or only through SAME_AS, or set directly), one that never arrives, an entity listed as
its own partner, missing titles and `cooc`, and a hub the reader must not expand.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from scipy import sparse

from graphrag import queries
from graphrag.normalize import entity_key, strip_title_qualifier
from graphrag.retrieval.entries import entity_entries, related_degrees
from graphrag.retrieval.local_graph import EdgeWeights, LocalGraph, NodeIndex, related_weight
from graphrag.retrieval.neighbourhood import Neighbourhood, NeighbourhoodReader
from graphrag.retrieval.vocabulary import EntityRow, Vocabulary


class Reference:
    """Row by row: positions, mentions (first read wins), pairs resolved when their partner arrives."""

    def __init__(self) -> None:
        self.chunks: dict[str, int] = {}
        self.titles: dict[str, str] = {}
        self.entity_rows: dict[str, EntityRow] = {}
        self.entities: dict[str, int] = {}
        self.mentions: dict[tuple[str, str], tuple[str, ...]] = {}
        self.pairs: set[tuple[int, int, int]] = set()
        self.pending: dict[str, list[tuple[int, int]]] = {}
        self.degree: dict[str, tuple[float, float, float]] = {}
        self.same_as: dict[tuple[str, str], float] = {}
        self.rows_read = 0

    def chunk(self, chunk_id: str, title: str | None) -> int:
        self.chunks.setdefault(chunk_id, len(self.chunks))
        self.titles.setdefault(chunk_id, "")
        if title and not self.titles[chunk_id]:
            self.titles[chunk_id] = title
        return self.chunks[chunk_id]

    def index(self, key: str) -> int:
        k = self.entities[key] = len(self.entities)
        for j, i in self.pending.pop(key, ()):
            if j != k:
                self.pairs.add((min(j, k), max(j, k), i))
        return k

    def entity(self, key: str, row: EntityRow, *, replace: bool = True) -> int:
        if key in self.entities:
            if replace:
                self.entity_rows[key] = row
            return self.entities[key]
        self.entity_rows[key] = row
        return self.index(key)

    def mention(self, chunk_id: str, title: str | None, key: str, cooc: list[str] | None) -> None:
        i = self.chunk(chunk_id, title)
        j = self.entities.get(key)
        if j is None:
            j = self.entity(key, self.entity_rows.get(key) or EntityRow(key, "", 0))
        if (chunk_id, key) in self.mentions:
            return
        self.mentions[(chunk_id, key)] = tuple(cooc or ())
        for other in cooc or ():
            k = self.entities.get(other)
            if k is None:
                self.pending.setdefault(other, []).append((j, i))
            elif k != j:
                self.pairs.add((min(j, k), max(j, k), i))

    def chunk_rows(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            key = row["key"]
            self.entity(key, EntityRow(row.get("name") or key, row.get("type") or "", int(row.get("mentions") or 0)))
            self.mention(row["id"], row.get("title"), key, row.get("cooc"))
            self.rows_read += 1

    def entity_rows_(self, rows: list[dict[str, Any]], synonyms: list[dict[str, Any]]) -> None:
        for row in rows:
            partners: Counter[str] = Counter()
            for chunk_id, title, cooc in row.get("chunks") or []:
                self.mention(chunk_id, title, row["key"], cooc)
                partners.update(cooc or ())
                self.rows_read += 1
            counts = np.fromiter(partners.values(), dtype=np.float64, count=len(partners))
            self.degree[row["key"]] = (float(counts.sum()), float(len(counts)),
                                       float(np.sum(1.0 + np.log(np.maximum(counts, 1.0)))))
        for row in synonyms:
            other = row["other"]
            synonym = EntityRow(row.get("name") or other, row.get("type") or "", int(row.get("mentions") or 0))
            self.entity(other, synonym, replace=False)
            a, b = sorted((row["key"], other))
            self.same_as[(a, b)] = float(row.get("similarity") or 1.0)
            self.rows_read += 1

    def finish(self) -> None:
        for key in self.entity_rows:
            if key not in self.entities:
                self.index(key)


def _related_matrix(pairs: set[tuple[int, int, int]], n: int) -> np.ndarray:
    out = np.zeros((n, n))
    for a, b, _ in pairs:
        out[a, b] += 1
        out[b, a] += 1
    return out


def _assert_same(graph: LocalGraph, ref: Reference) -> None:
    ref.finish()
    assert graph.chunk_ids == list(ref.chunks)
    assert graph.entity_keys == list(ref.entities)
    assert [graph.vocabulary.chunk_titles[g] for g in graph.chunk_gids] == [ref.titles[c] for c in ref.chunks]
    assert [graph.entity_name(j) for j in range(graph.n_entities)] == [ref.entity_rows[k].name for k in ref.entities]
    assert graph.mentions.tolist() == [ref.entity_rows[k].mentions for k in ref.entities]
    incidence = np.zeros((len(ref.chunks), len(ref.entities)))
    for chunk_id, key in ref.mentions:
        incidence[ref.chunks[chunk_id], ref.entities[key]] = 1.0
    np.testing.assert_array_equal(graph.incidence.toarray(), incidence)
    np.testing.assert_array_equal(graph.related.toarray(), _related_matrix(ref.pairs, len(ref.entities)))
    title_edges = []
    for chunk_id, i in ref.chunks.items():
        key = entity_key(strip_title_qualifier(ref.titles[chunk_id])) if ref.titles[chunk_id] else ""
        if key and (chunk_id, key) in ref.mentions:
            title_edges.append((i, ref.entities[key]))
    assert graph.title_edges == title_edges


class FakeDB:
    """Answers the reader's three statements from canned rows (keyed by what was asked)."""

    def __init__(self, chunk_rows: dict[str, list[dict[str, Any]]], entity_rows: dict[str, dict[str, Any]],
                 synonyms: dict[str, list[dict[str, Any]]]):
        self.chunk_rows, self.entity_rows, self.synonyms = chunk_rows, entity_rows, synonyms
        self.asked: list[tuple[str, dict[str, Any]]] = []

    def cypher_rows(self, statement: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.asked.append((statement, params))
        return self.answer(statement, params)

    def answer(self, statement: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        if statement == queries.CHUNK_MENTIONS:
            return [row for i in params["ids"] for row in self.chunk_rows.get(i, [])]
        if statement == queries.ENTITY_MENTIONS:
            return [self.entity_rows[k] for k in params["keys"] if k in self.entity_rows]
        return [row for k in params["keys"] for row in self.synonyms.get(k, [])]


def _m(chunk: str, key: str, cooc: list[str] | None, title: str | None = None, **entity: Any) -> dict[str, Any]:
    return {"id": chunk, "title": title if title is not None else chunk.upper(), "key": key, "cooc": cooc,
            "name": entity.get("name", key.title()), "type": entity.get("type", "ORG"),
            "mentions": entity.get("mentions", 3)}


CHUNK_ROWS = {
    # c0: a and b together; b's partner z arrives only in a later read; a lists itself
    "c0": [_m("c0", "a", ["b", "a"], title="A (band)"), _m("c0", "b", ["a", "z"]), _m("c0", "a", ["b", "a"])],
    # c1: the title names b; x is never read as an entity (its pairs must never appear)
    "c1": [_m("c1", "b", ["x", "c"], title="B"), _m("c1", "c", ["b"], title=None), _m("c1", "x", None)],
    "c2": [_m("c2", "c", [], title="")],  # no title here; c2 gets one from an entity read later
    "c3": [_m("c3", "hub", ["z"], mentions=10_000), _m("c3", "z", ["hub"], name=None, type=None, mentions=None)],
}
ENTITY_ROWS = {
    "a": {"key": "a", "chunks": [["c0", "A (band)", ["b", "a"]], ["c4", "C4", ["w", "b", "w"]]]},
    "c": {"key": "c", "chunks": [["c1", "B", ["b"]], ["c2", "C (river)", ["q"]], ["c2", "C (river)", ["q"]]]},
    "z": {"key": "z", "chunks": [["c0", "C0", ["b"]], ["c3", "C3", ["hub"]], ["c5", None, None]]},
    "hub": {"key": "hub", "chunks": [["c9", "C9", []]]},  # never asked for: a hub
    "empty": {"key": "empty", "chunks": []},
}
SYNONYMS = {"a": [{"key": "a", "other": "w", "name": "W", "type": "ORG", "mentions": 2, "similarity": 0.9}],
            "z": [{"key": "z", "other": "q", "name": "Q", "type": "", "mentions": 1, "similarity": None}]}


def _read_both(rounds: list[tuple[list[str], list[str]]]) -> tuple[Neighbourhood, Reference, FakeDB]:
    db = FakeDB(CHUNK_ROWS, ENTITY_ROWS, SYNONYMS)
    reader = NeighbourhoodReader(db, entity_cap=200)  # type: ignore[arg-type]
    nb, ref = Neighbourhood(), Reference()
    nb.add_entity("empty", EntityRow("Empty", "", 0))
    ref.entity("empty", EntityRow("Empty", "", 0))
    for chunks, entities in rounds:
        db.asked.clear()
        reader.read(nb, chunks=nb.vocabulary.chunks(chunks).tolist(),
                    entities=nb.vocabulary.entities(entities).tolist())
        for statement, params in db.asked:
            if statement == queries.CHUNK_MENTIONS:
                ref.chunk_rows(db.answer(statement, params))
        entity_reads = [p for s, p in db.asked if s == queries.ENTITY_MENTIONS]
        if entity_reads:
            ref.entity_rows_(db.answer(queries.ENTITY_MENTIONS, entity_reads[0]),
                             db.answer(queries.SAME_AS_OF, entity_reads[0]))
    return nb, ref, db


def _by_key(nb: Neighbourhood) -> dict[str, tuple[float, float, float]]:
    return {nb.vocabulary.entity_keys[e]: degree for e, degree in nb.related_degree.items()}


def _apply_rows(nb: Neighbourhood, rows: list[dict[str, Any]]) -> None:
    """`CHUNK_MENTIONS` rows as one read in row order: their entities (with their rows), then the mentions."""
    entities = nb.vocabulary.entities([r["key"] for r in rows])
    nb.vocabulary.set_rows(entities.tolist(), [EntityRow(r.get("name") or r["key"], r.get("type") or "",
                                                         int(r.get("mentions") or 0)) for r in rows])
    nb.add_entities(entities)
    nb.add_mentions([r["id"] for r in rows], [r.get("title") for r in rows], [r["key"] for r in rows],
                    [r.get("cooc") for r in rows])


def test_reads_assemble_the_graph_the_row_by_row_code_did() -> None:
    nb, ref, db = _read_both([(["c0", "c1", "c2"], []), (["c3", "c0"], ["a", "c", "hub", "empty"]), ([], ["z"])])
    _assert_same(nb.graph(), ref)
    assert nb.rows_read == ref.rows_read
    assert _by_key(nb) == ref.degree  # the same floats, "log" included
    assert nb.same_as == ref.same_as
    assert {c for c, _ in nb.mentions} == {c for c, _ in ref.mentions} and nb.mentions == set(ref.mentions)
    asked = [p for s, p in db.asked if s == queries.ENTITY_MENTIONS]
    assert asked == [{"keys": ["z"], "cap": 200}]


def test_a_partner_pairs_whenever_it_gets_a_position() -> None:
    # z is named in c0 and c3 before it is an entity; it becomes one in the second read
    nb, _, _ = _read_both([(["c0"], [])])
    graph = nb.graph()
    assert "z" not in graph.entity_keys and graph.related.nnz == 2  # a-b only: z has no position yet
    nb2, ref2, _ = _read_both([(["c0"], []), (["c3"], [])])
    graph = nb2.graph()
    _assert_same(graph, ref2)
    b, z = graph.entity_keys.index("b"), graph.entity_keys.index("z")
    assert graph.related[b, z] == 1.0  # c0's b-z pair, read before z arrived
    # an entity set directly in `entities` gets its position (and its pairs) when the graph is built
    nb3 = Neighbourhood()
    nb3.add_mention("c0", "T", "a", ["later"])
    nb3.add_entity("later", EntityRow("Later", "", 1))
    graph = nb3.graph()
    assert graph.related[graph.entity_keys.index("a"), graph.entity_keys.index("later")] == 1.0


def test_a_mention_counts_once_with_its_first_cooc() -> None:
    nb = Neighbourhood()
    nb.add_mentions(["c0", "c0", "c1"], ["T0", "T0", None], ["a", "a", "b"], [["b"], ["b", "c"], ["a"]])
    nb.add_mention("c0", None, "a", ["c"])  # read again later: ignored, its cooc too
    nb.add_entity("c", EntityRow("C", "", 1))
    graph = nb.graph()
    assert graph.incidence.nnz == 2
    # a-b named together in c0 and in c1; the a-c pair came only with the repeats
    assert graph.related.toarray().tolist() == [[0, 2, 0], [2, 0, 0], [0, 0, 0]]


@pytest.mark.parametrize("seed", range(6))
def test_random_reads_match_the_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    keys = [f"e{k}" for k in range(25)]
    nb, ref = Neighbourhood(), Reference()
    for _ in range(4):
        rows = []
        for _ in range(int(rng.integers(0, 40))):
            chunk = f"c{int(rng.integers(0, 15))}"
            cooc = None if rng.random() < 0.1 else [keys[int(k)] for k in rng.integers(0, 30, int(rng.integers(0, 5)))
                                                     if k < 25] + (["ghost"] if rng.random() < 0.2 else [])
            rows.append(_m(chunk, keys[int(rng.integers(0, 25))], cooc, title=None if rng.random() < 0.2 else chunk,
                           mentions=int(rng.integers(0, 9))))
        _apply_rows(nb, rows)
        ref.chunk_rows(rows)
        entity_rows = [{"key": k, "chunks": [[r["id"], r["title"], r["cooc"]] for r in rows if r["key"] == k]}
                       for k in sorted({r["key"] for r in rows})[:5]]
        nb.add_entity_entries(list(entity_entries(nb.vocabulary, entity_rows, []).values()))
        ref.entity_rows_(entity_rows, [])
    _assert_same(nb.graph(), ref)
    assert _by_key(nb) == ref.degree


def test_related_degrees_sum_each_entity_in_first_seen_order() -> None:
    # many partners, counts from 1 to a few: the "log" sums round differently in another order
    rng = np.random.default_rng(7)
    sizes = np.array([0, 3, 1, 25, 0, 40, 12])
    lengths = rng.integers(0, 30, int(sizes.sum()))
    ids = rng.integers(0, 300, int(lengths.sum()))
    got = related_degrees((ids, lengths), sizes)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    chunk = 0
    for r, size in enumerate(sizes):
        partners: Counter[int] = Counter()
        for c in range(chunk, chunk + size):
            partners.update(ids[starts[c]:starts[c + 1]].tolist())
        chunk += size
        counts = np.fromiter(partners.values(), dtype=np.float64, count=len(partners))
        assert got[r] == (float(counts.sum()), float(len(counts)), float(np.sum(1.0 + np.log(np.maximum(counts, 1.0)))))


def _bmat(incidence: sparse.csr_matrix, ee: sparse.csr_matrix) -> sparse.csr_matrix:
    n_c, n_e = incidence.shape
    return sparse.csr_matrix(sparse.bmat([[sparse.csr_matrix((n_c, n_c)), incidence], [incidence.T, ee]],
                                         format="csr", dtype=np.float64), shape=(n_c + n_e, n_c + n_e))


def _old_transition(graph: LocalGraph, weights: EdgeWeights) -> tuple[sparse.csr_matrix, np.ndarray]:
    """`LocalGraph.transition` as it was, with sparse.bmat."""
    n_c, n_e = graph.n_chunks, graph.n_entities
    incidence = graph.incidence
    if weights.title_weight != 1.0 and graph.title_edges:
        rows, cols = zip(*graph.title_edges, strict=True)
        bonus = sparse.csr_matrix((np.full(len(rows), weights.title_weight - 1.0), (rows, cols)), shape=incidence.shape)
        incidence = (incidence + bonus).tocsr()
    if weights.mention_idf > 0:
        scale = np.power(np.maximum(graph.mentions, 1).astype(np.float64), -weights.mention_idf)
        incidence = (incidence @ sparse.diags(scale)).tocsr()
    keep = np.array([t not in weights.skip_types for t in graph.entity_types], dtype=np.float64)
    if weights.skip_types:
        incidence = (incidence @ sparse.diags(keep)).tocsr()
    ee = sparse.csr_matrix((n_e, n_e), dtype=np.float64)
    if weights.related > 0 and graph.related.nnz:
        rel = graph.related.copy()
        rel.data = related_weight(rel.data, weights.related_mode)
        ee = ee + weights.related * rel
    if weights.same_as:
        ee = ee + graph.same_as
    if weights.skip_types:
        ee = (sparse.diags(keep) @ ee @ sparse.diags(keep)).tocsr()
    adjacency = _bmat(incidence, ee)
    adjacency.eliminate_zeros()
    local = np.asarray(adjacency.sum(axis=0)).ravel()
    degree = np.zeros(n_c + n_e)
    degree[:n_c] = np.where(graph.complete_chunk, local[:n_c], 0.0)
    entity_degree = np.asarray(incidence.sum(axis=0)).ravel()
    if weights.related > 0:
        entity_degree = entity_degree + weights.related * graph.related_degree[weights.related_mode]
    if weights.same_as:
        entity_degree = entity_degree + np.asarray(graph.same_as.sum(axis=1)).ravel()
    if weights.skip_types:
        entity_degree = entity_degree * keep
    degree[n_c:] = np.where(graph.complete_entity, entity_degree, 0.0)
    inverse = np.divide(1.0, degree, out=np.zeros_like(degree), where=degree > 0)
    matrix = (adjacency @ sparse.diags(inverse)).tocsr()
    dangling = np.flatnonzero(np.concatenate([graph.complete_chunk, graph.complete_entity]) & (degree == 0))
    return matrix, dangling


@pytest.mark.parametrize("weights", [
    EdgeWeights(), EdgeWeights(title_weight=2.0), EdgeWeights(title_weight=1.7, mention_idf=0.5),
    EdgeWeights(related_mode="log", same_as=False), EdgeWeights(related=0.0, related_mode="binary"),
    EdgeWeights(related=0.3, skip_types=("DATE",), title_weight=2.0)])
def test_transition_matrices_are_the_old_ones_bit_for_bit(weights: EdgeWeights) -> None:
    nb, _, _ = _read_both([(["c0", "c1", "c2"], []), (["c3", "c0"], ["a", "c", "hub", "empty"]), ([], ["z"])])
    nb.add_entity("x", EntityRow("X", "DATE", 2))
    graph = nb.graph()
    got, dangling = graph.transition(weights)
    want, want_dangling = _old_transition(graph, weights)
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.data, want.data)
    np.testing.assert_array_equal(dangling, want_dangling)


def _random_graph(seed: int) -> LocalGraph:
    """A LocalGraph of random blocks: incidence, symmetric co-occurrence counts and SAME_AS, flags, degrees."""
    rng = np.random.default_rng(seed)
    n_c, n_e = int(rng.integers(1, 40)), int(rng.integers(1, 40))
    incidence = sparse.random(n_c, n_e, density=0.2, format="csr", random_state=seed, data_rvs=np.ones)
    counts = sparse.random(n_e, n_e, density=0.1, format="csr", random_state=seed + 1,
                           data_rvs=lambda k: rng.integers(1, 5, k).astype(np.float64))
    related = sparse.triu(counts + counts.T, k=1)
    related = (related + related.T).tocsr()
    same = sparse.random(n_e, n_e, density=0.05, format="csr", random_state=seed + 2)
    same = (same + same.T).tocsr()
    vocabulary = Vocabulary()
    chunk_ids = vocabulary.chunks([f"c{i}" for i in range(n_c)])
    entity_ids = vocabulary.entities([f"e{j}" for j in range(n_e)])
    vocabulary.set_rows(entity_ids.tolist(), [EntityRow(f"E{j}", "DATE" if j % 3 == 0 else "PERSON", j + 1)
                                              for j in range(n_e)])
    coo = incidence.tocoo()
    title = sorted({int(r): int(c) for r, c in zip(coo.row, coo.col, strict=True) if rng.random() < 0.5}.items())
    return LocalGraph(NodeIndex.of(chunk_ids), NodeIndex.of(entity_ids), vocabulary,
                      rng.integers(0, 9, n_e), incidence, related, same, rng.random(n_c) < 0.7, rng.random(n_e) < 0.7,
                      {mode: rng.random(n_e) * 5 for mode in ("count", "binary", "log")}, title)


@pytest.mark.parametrize("seed", range(8))
def test_transition_matrices_are_the_old_ones_on_random_graphs(seed: int) -> None:
    """Same entries and dangling nodes as the bmat form; values within an ulp or two, since on some of
    these graphs (random SAME_AS weights) the bmat form itself adds in another order."""
    graph = _random_graph(seed)
    for weights in (EdgeWeights(), EdgeWeights(title_weight=2.0, mention_idf=0.5),
                    EdgeWeights(related=0.3, related_mode="log", skip_types=("DATE",)),
                    EdgeWeights(related=0.0, same_as=False)):
        got, dangling = graph.transition(weights)
        want, want_dangling = _old_transition(graph, weights)
        np.testing.assert_array_equal(got.indptr, want.indptr)
        np.testing.assert_array_equal(got.indices, want.indices)
        np.testing.assert_allclose(got.data, want.data, rtol=1e-15, atol=0)
        np.testing.assert_array_equal(dangling, want_dangling)
