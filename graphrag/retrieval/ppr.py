"""Graph-aware ranking: personalized PageRank over the passage–entity graph (as in HippoRAG 2),
computed per question over a neighbourhood read from the database (see `neighbourhood.py`).

Nodes are chunks and entities; edges are MENTIONS (chunk–entity, weight 1, or `ppr_title_weight`
between a chunk and the entity its document's title names), co-occurrence (entity–entity, weight =
chunks naming both in one sentence) and SAME_AS (weight = similarity), all undirected. The walk
restarts at the question's seed entities (weight 1 / chunks mentioning each) and at the dense
passages in proportion to their min-max-normalised similarity, so a bridge passage that shares no
word with the question still gathers mass through the entities it shares with passages that do.

The neighbourhood grows in rounds: the mentions of the dense passages and of the seeds first, then
those of the nodes the PageRank so far finds most probable per edge, within a budget of rows (an
approximation of the push algorithms for local PageRank, with whole database round trips as the
unit). Then one feedback round: the names in the best passage join the seeds and PageRank runs again.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphrag.retrieval.base import RetrievalConfig
from graphrag.retrieval.cache import CacheView
from graphrag.retrieval.entries import ChunkEntry, EntityEntry
from graphrag.retrieval.local_graph import EdgeWeights, LocalGraph
from graphrag.retrieval.neighbourhood import Neighbourhood, NeighbourhoodReader
from graphrag.retrieval.pagerank import personalized_pagerank
from graphrag.retrieval.vocabulary import EntityRow
from graphrag.types import SeedEntity


@dataclass
class Ranking:
    """One question's PageRank: the graph it ran on, and a score per chunk of it (higher is better)."""

    graph: LocalGraph
    scores: np.ndarray
    neighbourhood: Neighbourhood


def seed_weights(seeds: list[SeedEntity], *, idf: bool = True) -> dict[str, float]:
    """Reset mass per seed key: linking score, divided by its mention count when `idf`."""
    weights: dict[str, float] = {}
    for seed in seeds:
        weight = seed.score / max(seed.mentions, 1) if idf else seed.score
        weights[seed.key] = max(weights.get(seed.key, 0.0), weight)
    return weights


def compile_kernels() -> float:
    """Rank a three-node graph, so that the ranking's compiled loops (`kernels.py`) are compiled, or
    loaded from numba's cache, with the argument types a question uses, before the first question
    (compiling takes seconds; loading well under one). Returns the seconds it took."""
    started = time.perf_counter()
    nb = Neighbourhood()
    vocabulary = nb.vocabulary
    a, b = vocabulary.entities(["a", "b"]).tolist()
    nb.add_chunk_entries([ChunkEntry.of(int(vocabulary.chunks(["c"])[0]), np.array([a, b]), np.array([b, a]),
                                        np.ones(2, dtype=np.int64))])
    nb.add_entity_entries([EntityEntry.of(b, vocabulary.chunks(["c"]), np.array([a]), np.ones(1, dtype=np.int64),
                                          (1.0, 1.0, 1.0), np.array([a]), np.array([0.9]))])
    nb.complete_chunks.update(vocabulary.chunks(["c"]).tolist())
    nb.has_entities(vocabulary.entities(["a"]))
    ranker = PPRRanker()
    ranker.scores(nb.graph(), {"a": 1.0}, {"c": 0.5})
    return time.perf_counter() - started


class PPRRanker:
    """Scores chunks by personalized PageRank from seed entities and dense scores.

    Args:
        reader: reads the neighbourhood from the database (None: rank only the graph given to
            `scores`, as the unit tests do).
        config: the `ppr_*` knobs.
    """

    def __init__(self, reader: NeighbourhoodReader | None = None, config: RetrievalConfig | None = None):
        self.reader = reader
        self.config = config or RetrievalConfig()
        cfg = self.config
        self.weights = EdgeWeights(related=cfg.ppr_related_weight, related_mode=cfg.ppr_related_mode,
                                   same_as=cfg.ppr_synonym_edges, skip_types=tuple(cfg.ppr_skip_entity_types),
                                   mention_idf=cfg.ppr_mention_idf, title_weight=cfg.ppr_title_weight)

    # --- one PageRank -----------------------------------------------------------------------------
    def reset_vector(self, graph: LocalGraph, seed_weights: dict[str, float], dense: dict[str, float]
                     ) -> np.ndarray:
        """Seed entities' mass, plus `ppr_passage_weight` x the normalised dense score of each passage.

        Passages the vector index did not return score as its worst hit (0 after normalising).
        """
        cfg = self.config
        reset = np.zeros(graph.n_chunks + graph.n_entities, dtype=np.float64)
        if seed_weights:
            keys = list(seed_weights)
            at, found = graph.entities_at(keys)
            for j, key, known in zip(at.tolist(), keys, found.tolist(), strict=True):
                if known:
                    reset[graph.n_chunks + j] += seed_weights[key]
        if dense and cfg.ppr_passage_weight > 0 and graph.n_chunks:
            floor = min(dense.values()) if cfg.ppr_dense_floor is None else cfg.ppr_dense_floor
            ids = list(dense)
            at, found = graph.chunks_at(ids)
            scores = np.full(graph.n_chunks, floor, dtype=np.float64)
            scores[at[found]] = np.fromiter(dense.values(), dtype=np.float64, count=len(ids))[found]
            top = max(float(scores.max()), floor + 1e-9)
            prior = np.clip((scores - floor) / (top - floor), 0.0, 1.0) ** cfg.ppr_dense_power
            if 0 < cfg.ppr_dense_top < len(prior):
                prior[np.argsort(-scores, kind="stable")[cfg.ppr_dense_top:]] = 0.0
            reset[: graph.n_chunks] += cfg.ppr_passage_weight * prior
        return reset

    def scores(self, graph: LocalGraph, seed_weights: dict[str, float], dense: dict[str, float],
               start: np.ndarray | None = None) -> np.ndarray:
        """PageRank over every node of `graph` (zeros when nothing has reset mass)."""
        cfg = self.config
        reset = self.reset_vector(graph, seed_weights, dense)
        if reset.sum() <= 0:
            return np.zeros(graph.n_chunks + graph.n_entities)
        transition, dangling = graph.transition(self.weights)
        if start is not None and len(start) != len(reset):
            start = None
        return personalized_pagerank(transition, reset, damping=cfg.ppr_damping, iterations=cfg.ppr_iterations,
                                     dangling=dangling, start=start)

    def feedback_seeds(self, graph: LocalGraph, seed_weights: dict[str, float], chunk_scores: np.ndarray
                       ) -> dict[str, float]:
        """Entities of the top passages that are not seeds yet, with their feedback seed mass.

        The best passage usually answers the question's first hop; its names are where the second
        hop starts, so the passage about one of them rises. Measured on both dev sets
        (docs/retrieval.md): hotpot R@5 +0.05, musique +0.025.
        """
        cfg = self.config
        if cfg.ppr_feedback_passages <= 0 or cfg.ppr_feedback_weight <= 0 or not seed_weights:
            return {}
        top = self.top_chunks(chunk_scores, cfg.ppr_feedback_passages, graph.chunk_ids)
        best = float(chunk_scores[top[0]]) if len(top) else 0.0
        if best <= 0:
            return {}
        feedback: dict[str, float] = {}
        for i in top:
            share = float(chunk_scores[i]) / best
            for j in graph.chunk_entities(int(i)):
                key = graph.entity_keys[j]
                if key not in seed_weights:
                    weight = cfg.ppr_feedback_weight * share / max(int(graph.mentions[j]), 1)
                    feedback[key] = feedback.get(key, 0.0) + weight
        return feedback

    @staticmethod
    def top_chunks(chunk_scores: np.ndarray, n: int, chunk_ids: list[str] | None = None) -> np.ndarray:
        """Indices of the n best chunks; ties broken by chunk id when given (the order the database
        returned rows in must not decide a ranking), else by position."""
        if chunk_ids is None:
            return np.lexsort((np.arange(len(chunk_scores)), -chunk_scores))[:n]
        if n <= 0 or not len(chunk_scores):
            return np.empty(0, dtype=np.int64)
        # only the chunks scoring at least the n-th best can be among the n: sort those by (score, id)
        last = min(n, len(chunk_scores)) - 1
        nth = -np.partition(-chunk_scores, last)[last]
        candidates = np.flatnonzero(chunk_scores >= nth).tolist()
        candidates.sort(key=lambda i: (-chunk_scores[i], chunk_ids[i]))
        return np.asarray(candidates[:n], dtype=np.int64)

    # --- a question, against the database ---------------------------------------------------------
    def rank(self, seeds: list[SeedEntity], dense: dict[str, float], *,
             cpu_lock: AbstractContextManager[Any] | None = None, rounds: int | None = None,
             cache: CacheView | None = None) -> Ranking:
        """Read the question's neighbourhood round by round and rank its chunks.

        Args:
            seeds: the question's linked entities (with their mention counts).
            dense: chunk id -> cosine similarity of the vector index's nearest chunks.
            cpu_lock: held for the whole ranking except its database reads (the reader lets it go
                around them), so that the Python work of a ranking is not interleaved with other
                requests' (see `HybridRetriever`'s `cpu_lock`).
            rounds: expansion rounds (the request's `hops`); None: `ppr_expand_rounds`.
            cache: this question's view of the graph cache (None: every read goes to the database).
        """
        if self.reader is None:
            raise RuntimeError("PPRRanker.rank needs a NeighbourhoodReader")
        cfg = self.config
        # the vocabulary first, outside the lock: it may wait for the database's fingerprint
        nb = Neighbourhood(cache.vocabulary() if cache else None)
        with cpu_lock or nullcontext():
            return self._rank(nb, seeds, dense, cpu_lock, cfg.ppr_expand_rounds if rounds is None else rounds, cache)

    def _rank(self, nb: Neighbourhood, seeds: list[SeedEntity], dense: dict[str, float],
              cpu_lock: AbstractContextManager[Any] | None, rounds: int, cache: CacheView | None) -> Ranking:
        cfg = self.config
        reader = self.reader
        assert reader is not None  # `rank` checked
        vocabulary = nb.vocabulary
        for seed in seeds:
            nb.add_entity(seed.key, EntityRow(seed.name, "", seed.mentions), replace=False)
        weights = seed_weights(seeds, idf=cfg.ppr_idf_seeds)

        def read(chunks: list[int] | None = None, entities: list[int] | None = None) -> None:
            reader.read(nb, chunks=chunks or (), entities=entities or (), cache=cache, cpu_lock=cpu_lock)

        def run(extra: dict[str, float] | None = None) -> tuple[LocalGraph, np.ndarray]:
            graph = nb.graph()
            return graph, self.scores(graph, {**weights, **(extra or {})}, dense)

        nearest = vocabulary.chunks(sorted(dense, key=lambda c: (-dense[c], c)))
        read(nearest[: cfg.ppr_dense_read].tolist(), vocabulary.entities(list(weights)).tolist())
        nb.add_chunks(nearest)  # every dense hit is a passage to rank, whether read yet or not
        graph, p = run()
        for _ in range(rounds):
            chunks, entities = self._frontier(graph, p)
            if not len(chunks) and not len(entities):
                break
            read(chunks.tolist(), entities.tolist())
            graph, p = run()
        top = graph.chunk_gids[self.top_chunks(p[: graph.n_chunks], cfg.ppr_feedback_passages, graph.chunk_ids)]
        if cfg.ppr_feedback_passages > 0 and not nb.complete_chunks.issuperset(top.tolist()):
            read(top.tolist())  # the best passages' names are the feedback
            graph, p = run()
        feedback = self.feedback_seeds(graph, weights, p[: graph.n_chunks])
        if feedback:
            read(entities=vocabulary.entities(list(feedback)).tolist())
            graph, p = run(feedback)
        return Ranking(graph, p[: graph.n_chunks], nb)

    def _frontier(self, graph: LocalGraph, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What to read next: the incomplete chunks with the most mass, and the incomplete entities
        with the most mass per mention (what each of their edges would carry) within the budget."""
        cfg = self.config
        n_c = graph.n_chunks
        chunk_mass = np.where(graph.complete_chunk, 0.0, p[:n_c])
        best = np.argsort(-chunk_mass, kind="stable")[: cfg.ppr_expand_chunks]
        chunks = graph.chunk_gids[best[chunk_mass[best] > 0]]
        mentions = np.maximum(graph.mentions, 1).astype(np.float64)
        open_entity = ~graph.complete_entity & (graph.mentions <= cfg.ppr_entity_cap)
        if cfg.ppr_skip_entity_types:
            open_entity &= np.array([t not in cfg.ppr_skip_entity_types for t in graph.entity_types])
        per_mention = np.where(open_entity, p[n_c:] / mentions, 0.0)
        entities: list[int] = []
        budget = cfg.ppr_expand_budget
        candidates = np.argsort(-per_mention, kind="stable")[: int(np.count_nonzero(per_mention > 0))]
        sizes = graph.mentions[candidates].tolist()
        for j, size in zip(candidates.tolist(), sizes, strict=True):
            if size > budget:
                continue  # a smaller one may still fit
            entities.append(j)
            budget -= size
        return chunks, graph.entity_gids[np.asarray(entities, dtype=np.int64)]
