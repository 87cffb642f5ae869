"""The default retriever: question analysis, the three channels, and a graph-aware ranking.

`ranking` picks how passages are ordered:
- "ppr" (default): personalized PageRank over the passage–entity graph, reset at the question's
  seed entities and at its nearest passages in proportion to their dense similarity, over a
  bounded neighbourhood read from the database per question (see `ppr.py`, `neighbourhood.py`);
- "rrf": reciprocal-rank fusion of the dense, keyword and graph channels;
- "dense", "keyword", "graph": one channel alone (the graph channel is pure parameterised Cypher).
Every passage lists the channels that found it; paths explain how the graph reached it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractContextManager
from functools import partial
from typing import Any

import numpy as np

from graphrag import queries
from graphrag.arcadedb import ArcadeDB
from graphrag.embeddings import Embedder
from graphrag.errors import QueryError, RetrievalError
from graphrag.relevance import judge
from graphrag.retrieval.base import ChannelHit, ChunkRecord, Ranking, RetrievalConfig
from graphrag.retrieval.cache import CacheView, Fingerprint, GraphCache, fingerprint_of
from graphrag.retrieval.dense import DenseChannel, DenseHits, PendingHits, chunk_record
from graphrag.retrieval.fusion import reciprocal_rank_fusion
from graphrag.retrieval.graph import GraphChannel
from graphrag.retrieval.keyword import KeywordChannel
from graphrag.retrieval.neighbourhood import NeighbourhoodReader
from graphrag.retrieval.paths import explain
from graphrag.retrieval.ppr import PPRRanker, seed_weights
from graphrag.retrieval.question import QuestionAnalysis, QuestionAnalyzer
from graphrag.types import Passage, PathStep, RetrievalResult

MAX_QUESTION_CHARS = 2000
# The graph fingerprint of a question that is not ranked by PageRank is read here while the question is
# embedded (the PageRank's comes with its vector query, in `dense`'s pool): one task for each of the 8
# requests a 2-core API serves at once, and room for more.
_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="retrieve")
RANKINGS = ("ppr", "rrf", "dense", "keyword", "graph")


class HybridRetriever:
    """Retrieves ranked, cited passages for a question.

    Args:
        db: the database client.
        embedder: the model that embedded the chunks (same dimension as the vector index).
        config: retrieval settings; the defaults are the measured best.
        nlp: a spaCy pipeline for question names; loaded with `graphrag.nlp.load_spacy` when None
            and `config.use_ner` is on.
        cpu_lock: held around question NER and around PPR ranking (let go while the ranking's
            reads wait on the database), the stages that are CPU-bound Python. A server running many
            requests in threads shares one lock among them: with the GIL, several threads in these
            stages at once only wait on each other (each short C call gives the GIL up and waits to
            get it back), so one at a time is faster for all; the embedding, batched and GIL-free,
            runs outside it. None (the default) locks nothing.
        cache: what questions read of the graph, kept while the graph is unchanged (`cache.py`);
            the API shares one among every workspace. Default: one of this retriever's own;
            `GraphCache(max_rows=0)` reads everything from the database every time.

    Example:
        >>> retriever = HybridRetriever(db, SentenceTransformerEmbedder())  # doctest: +SKIP
        >>> result = retriever.retrieve("Who founded the company that makes the Model S?")  # doctest: +SKIP
        >>> result.passages[0].title  # doctest: +SKIP
        'Tesla, Inc.'
    """

    def __init__(self, db: ArcadeDB, embedder: Embedder, *, config: RetrievalConfig | None = None,
                 nlp: Any = None, cpu_lock: AbstractContextManager[Any] | None = None,
                 cache: GraphCache | None = None):
        self.db = db
        self.cache = cache if cache is not None else GraphCache()
        self.cpu_lock = cpu_lock
        self.embedder = embedder
        self.config = config or RetrievalConfig()
        if nlp is None and self.config.use_ner:
            from graphrag.nlp import load_spacy

            nlp = load_spacy()
        self.nlp = nlp if self.config.use_ner else None
        self.dense = DenseChannel(db)
        self.keyword = KeywordChannel(db)
        self.graph = GraphChannel(db, self.config)
        self.ppr = PPRRanker(NeighbourhoodReader(db, entity_cap=self.config.ppr_entity_cap), self.config)
        self.analyzer = QuestionAnalyzer(db, embedder, nlp=self.nlp, config=self.config, cpu_lock=cpu_lock)

    def analyze(self, question: str, *, link: bool = True,
                on_embedding: Callable[[np.ndarray], None] | None = None,
                cache: CacheView | None = None) -> QuestionAnalysis:
        return self.analyzer.analyze(question, link=link, on_embedding=on_embedding, cache=cache)

    def cache_view(self, vector_query: Future[PendingHits] | None = None) -> CacheView | None:
        """This question's view of the graph cache (None when caching is off). The database's
        fingerprint is waited for at the first cached read: read with `vector_query` once that is
        sent, or else read at once, in the background."""
        if self.cache.max_rows <= 0:
            return None
        if vector_query is None:
            read = _POOL.submit(self._fingerprint).result
        else:
            read = partial(self._fingerprint_of, vector_query)
        return self.cache.view(f"{','.join(self.db.servers.urls)}/{self.db.database}", read)

    def _fingerprint(self) -> Fingerprint | None:
        try:
            return fingerprint_of(self.db.sql_rows(queries.GRAPH_FINGERPRINT))
        except QueryError:  # a schema before v6 records no changes: nothing may be cached
            return None

    def _fingerprint_of(self, vector_query: Future[PendingHits]) -> Fingerprint | None:
        """The fingerprint the question's vector query read; read on its own if that query was never
        sent or did not answer in time (the hits are judged apart, by `PendingHits.hits`)."""
        try:
            return vector_query.result(timeout=self.config.dense_timeout_s).fingerprint()
        except FutureTimeout:
            return self._fingerprint()

    def retrieve(self, question: str, *, top_k: int | None = None, ranking: Ranking | None = None,
                 hops: int | None = None) -> RetrievalResult:
        """Rank passages for `question`; passage n (1-based) is what an answer's `[n]` cites.

        Args:
            hops: how far from the question's seeds and nearest passages the graph reaches (1 to 3;
                None: the configured values). For the PageRank, the first read is one hop (the
                mentions of the seeds and of the dense hits) and each expansion round one more, so
                `hops - 1` rounds (`ppr_expand_rounds`); for the `graph` and `rrf` rankings, the
                Cypher walk's hops (`graph_hops`). Dense and keyword rankings ignore it.

        Raises:
            RetrievalError: the question is empty or too long, or `ranking` is unknown.
            StoreError: the database failed.
        """
        started = time.perf_counter()
        question = _check_question(question)
        ranking = ranking or self.config.ranking
        if ranking not in RANKINGS:
            raise RetrievalError(f"unknown ranking {ranking!r}; choose one of {', '.join(RANKINGS)}")
        top_k = top_k or self.config.top_k
        if top_k < 1:
            raise RetrievalError("top_k must be at least 1")
        if hops is not None and not 1 <= hops <= 3:
            raise RetrievalError("hops must be 1, 2 or 3")
        # for the PageRank, the graph's fingerprint comes with the vector query (one round trip)
        vector_query: Future[PendingHits] = Future()
        cache = None
        if ranking in ("ppr", "rrf", "graph"):
            cache = self.cache_view(vector_query if ranking == "ppr" else None)
        # dense and keyword alone use no seed entities: skip NER and linking for them
        started_dense = [0.0]

        def send_vector_query(embedding: np.ndarray) -> None:  # while NER and linking run
            started_dense[0] = time.perf_counter()
            cfg = self.config
            vector_query.set_result(self.dense.send(embedding, max(cfg.ppr_dense_k, cfg.dense_k),
                                                    ef_search=cfg.dense_ef_search, fingerprint=cache is not None,
                                                    timeout_s=cfg.dense_timeout_s))

        analysis = self.analyze(question, link=ranking in ("ppr", "rrf", "graph"),
                                on_embedding=send_vector_query if ranking == "ppr" else None, cache=cache)
        timings = {f"question_{k}": v for k, v in analysis.timings_ms.items()}

        if ranking == "ppr":
            found = vector_query.result().hits()
            timings["dense"] = (time.perf_counter() - started_dense[0]) * 1000
            cosines = dict(found.scores)  # before the ranking may add keyword stand-ins to them
            complete = found.complete
            ranked, hits = self._rank_ppr(analysis, found, top_k, timings, hops, cache)
        else:
            ranked, hits = self._rank_channels(analysis, ranking, top_k, timings, hops)
            cosines = {chunk_id: hit.score for chunk_id, hit in hits.get("dense", {}).items()}
            complete = bool(cosines)

        t0 = time.perf_counter()
        passages, paths = self._passages(ranked, hits, analysis, top_k, cache)
        for passage in passages:
            passage.similarity = cosines.get(passage.chunk_id)
        timings["hydrate"] = (time.perf_counter() - t0) * 1000
        timings["total"] = (time.perf_counter() - started) * 1000
        return RetrievalResult(question=question, passages=passages, paths=paths, seeds=analysis.seeds,
                               ranking=ranking, timings_ms=timings,
                               relevance=judge(question, passages, self.config.min_relevance,
                                               floor=min(cosines.values()) if complete and cosines else None))

    # --- rankings ------------------------------------------------------------------------------
    def _channel(self, name: str, analysis: QuestionAnalysis, timings: dict[str, float],
                 hops: int | None = None) -> list[ChannelHit]:
        cfg = self.config
        t0 = time.perf_counter()
        if name == "dense":
            hits = self.dense.search(analysis.embedding, cfg.dense_k)
        elif name == "keyword":
            hits = self.keyword.search(analysis.question, cfg.keyword_k)
        else:
            hits = self.graph.search(analysis.seeds, cfg.graph_k, hops)
        timings[name] = (time.perf_counter() - t0) * 1000
        return hits

    def _rank_channels(self, analysis: QuestionAnalysis, ranking: str, top_k: int, timings: dict[str, float],
                       hops: int | None = None
                       ) -> tuple[list[tuple[str, float, dict[str, int]]], dict[str, dict[str, ChannelHit]]]:
        channels = list(self.config.rrf_channels) if ranking == "rrf" else [ranking]
        hits = {name: {h.chunk_id: h for h in self._channel(name, analysis, timings, hops)} for name in channels}
        fused = reciprocal_rank_fusion({name: list(found) for name, found in hits.items()}, k=self.config.rrf_k)
        if ranking != "rrf":  # one channel: keep its own scores
            only = hits[ranking]
            return [(f.id, only[f.id].score, f.ranks) for f in fused[:top_k]], hits
        return [(f.id, f.score, f.ranks) for f in fused[:top_k]], hits

    def _rank_ppr(self, analysis: QuestionAnalysis, found: DenseHits, top_k: int, timings: dict[str, float],
                  hops: int | None = None, cache: CacheView | None = None
                  ) -> tuple[list[tuple[str, float, dict[str, int]]], dict[str, dict[str, ChannelHit]]]:
        cfg = self.config
        dense = found.scores
        if not found.complete:  # never rank silently from an empty or partial vector index
            timings["dense_fallback"] = 1.0
            keyword = self.keyword.search(analysis.question, cfg.keyword_k)
            if not dense:  # the keyword scores stand in for the similarities (the prior is scale-free)
                dense = {hit.chunk_id: hit.score for hit in keyword}
            else:  # the passages the index did return keep their order above the keyword ones
                floor = min(dense.values())
                for hit in keyword:
                    dense.setdefault(hit.chunk_id, floor)
        dense_order = sorted(dense, key=lambda c: (-dense[c], c))
        dense_rank = {c: r + 1 for r, c in enumerate(dense_order[: cfg.dense_k])}
        weights = seed_weights(analysis.seeds, idf=cfg.ppr_idf_seeds)
        hits: dict[str, dict[str, ChannelHit]] = {}
        if not weights:  # no entity in the question: PageRank from dense mass alone only blurs the dense ranking
            return [(c, dense[c], {"dense": dense_rank[c]} if c in dense_rank else {})
                    for c in dense_order[:top_k]], hits
        t0 = time.perf_counter()
        prior = {c: dense[c] for c in dense_order[: cfg.ppr_dense_k]}
        rounds = None if hops is None else hops - 1
        ranking = self.ppr.rank(analysis.seeds, prior, cpu_lock=self.cpu_lock, rounds=rounds, cache=cache)
        graph, scores = ranking.graph, ranking.scores
        timings["ppr"] = (time.perf_counter() - t0) * 1000
        timings["ppr_rows"] = float(ranking.neighbourhood.rows_read)
        ranked = []
        seed_keys = [s.key for s in analysis.seeds]
        paths = hits.setdefault("graph", {})
        for position, i in enumerate(PPRRanker.top_chunks(scores, top_k, graph.chunk_ids), start=1):
            chunk_id = graph.chunk_ids[i]
            ranks = {"ppr": position}
            if chunk_id in dense_rank:
                ranks["dense"] = dense_rank[chunk_id]
            path = explain(graph, seed_keys, int(i))
            if path:
                ranks["graph"] = position
                paths[chunk_id] = ChannelHit(chunk_id, float(scores[i]), path=path)
            ranked.append((chunk_id, float(scores[i]), ranks))
        return ranked, hits

    # --- output --------------------------------------------------------------------------------
    def _passages(self, ranked: list[tuple[str, float, dict[str, int]]], hits: dict[str, dict[str, ChannelHit]],
                  analysis: QuestionAnalysis, top_k: int, cache: CacheView | None = None
                  ) -> tuple[list[Passage], list[list[PathStep]]]:
        records: dict[str, ChunkRecord] = {}
        for by_id in hits.values():
            for chunk_id, hit in by_id.items():
                if hit.chunk is not None:
                    records[chunk_id] = hit.chunk
        missing = [chunk_id for chunk_id, _, _ in ranked if chunk_id not in records]
        if missing and cache is not None:
            known, missing = cache.texts(missing)
            records.update(known)
        if missing:
            read = {row["id"]: chunk_record(row) for row in self.db.sql_rows(queries.CHUNKS_BY_ID, {"ids": missing})}
            records.update(read)
            if cache is not None:
                cache.keep_texts(read)
        passages: list[Passage] = []
        paths: list[list[PathStep]] = []
        for chunk_id, score, ranks in ranked[:top_k]:
            record = records.get(chunk_id)
            if record is None:  # deleted between ranking and reading
                continue
            passages.append(Passage(chunk_id=chunk_id, document_id=record.document_id, title=record.title,
                                    text=record.text, score=score, channels=list(ranks), channel_ranks=ranks,
                                    ordinal=record.ordinal))
            graph_hit = hits.get("graph", {}).get(chunk_id)
            if graph_hit is not None and graph_hit.path and len(paths) < self.config.max_paths:
                path = [PathStep(source=step.source, relation=step.relation,
                                 target=record.title or chunk_id if step.target == chunk_id else step.target)
                        for step in graph_hit.path]
                if path not in paths:
                    paths.append(path)
        return passages, paths


def _check_question(question: str) -> str:
    if not isinstance(question, str) or not question.strip():
        raise RetrievalError("the question is empty")
    question = question.strip()
    if len(question) > MAX_QUESTION_CHARS:
        raise RetrievalError(f"the question is {len(question)} characters long; the limit is {MAX_QUESTION_CHARS}")
    return question
