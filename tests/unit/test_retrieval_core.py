"""Pure retrieval logic: fusion, span linking, keyword terms, PageRank, context building."""

from __future__ import annotations

import numpy as np
import pytest

from graphrag.normalize import fold_accents
from graphrag.retrieval.base import RetrievalConfig
from graphrag.retrieval.fusion import reciprocal_rank_fusion
from graphrag.retrieval.keyword import plain_terms
from graphrag.retrieval.local_graph import EdgeWeights, LocalGraph
from graphrag.retrieval.neighbourhood import Neighbourhood
from graphrag.retrieval.pagerank import normalise, personalized_pagerank
from graphrag.retrieval.paths import explain, format_path
from graphrag.retrieval.ppr import PPRRanker, seed_weights
from graphrag.retrieval.question import candidate_spans, longest_matches
from graphrag.retrieval.vocabulary import EntityRow
from graphrag.types import PathStep, SeedEntity


def test_rrf_orders_by_summed_reciprocal_ranks() -> None:
    fused = reciprocal_rank_fusion({"dense": ["a", "b", "c"], "keyword": ["c", "a"]}, k=60)
    assert [f.id for f in fused] == ["a", "c", "b"]
    assert fused[0].ranks == {"dense": 1, "keyword": 2}
    assert fused[0].score == pytest.approx(1 / 61 + 1 / 62)


def test_rrf_counts_duplicates_once_and_weights_channels() -> None:
    fused = reciprocal_rank_fusion({"x": ["a", "a", "b"], "y": ["b"]}, k=1, weights={"y": 0.0})
    assert [f.id for f in fused] == ["a", "b"]
    assert fused[1].ranks == {"x": 2, "y": 1}
    with pytest.raises(ValueError):
        reciprocal_rank_fusion({}, k=0)


def test_spans_skip_the_first_word_and_unmarked_spans() -> None:
    keys = {s.key for s in candidate_spans("Who founded Acme Corp. in Paris?", 6)}
    assert "acme corp" in keys and "paris" in keys
    assert "who" not in keys and "founded" not in keys
    assert "who founded acme corp" in keys  # holds a marked token; longest match sorts it out


def test_lower_case_question_falls_back_to_non_stop_spans() -> None:
    keys = {s.key for s in candidate_spans("who founded acme corp", 6)}
    assert {"acme corp", "acme", "founded"} <= keys
    assert "who" not in keys


def test_longest_match_prefers_longer_spans() -> None:
    spans = candidate_spans("When did New York City Ballet open?", 6)
    chosen = longest_matches(spans, {"new york", "new york city ballet", "ballet"})
    assert [s.key for s in chosen] == ["new york city ballet"]


def test_seed_weights_divide_by_mentions() -> None:
    seeds = [SeedEntity(key="a", name="A", source="ngram", mentions=4),
             SeedEntity(key="b", name="B", source="vector", score=0.5, mentions=1)]
    assert seed_weights(seeds) == {"a": 0.25, "b": 0.5}
    assert seed_weights(seeds, idf=False) == {"a": 1.0, "b": 0.5}


def test_plain_terms_strip_query_syntax() -> None:
    terms = plain_terms('Who is "Lothair II"? title:foo* AND (bar OR ~2 ^3) NOT')
    assert terms == ["lothair", "ii", "title", "foo", "bar", "2", "3"]
    assert plain_terms("?!") == []


def _neighbourhood(mentions: dict[str, list[str]], *, titles: dict[str, str] | None = None,
                   cooc: list[tuple[str, str, str]] = (), counts: dict[str, int] | None = None,
                   complete: bool = True) -> Neighbourhood:
    """A neighbourhood read in full: `mentions` chunk -> entity keys, `cooc` (chunk, a, b) pairs."""
    nb = Neighbourhood()
    pairs: dict[tuple[str, str], list[str]] = {}
    for chunk, a, b in cooc:
        pairs.setdefault((chunk, a), []).append(b)
        pairs.setdefault((chunk, b), []).append(a)
    by_entity: dict[str, int] = {}
    for chunk, keys in mentions.items():
        for key in keys:
            nb.add_mention(chunk, (titles or {}).get(chunk, chunk.upper()), key, pairs.get((chunk, key), []))
            by_entity[key] = by_entity.get(key, 0) + 1
    for key, n in by_entity.items():
        nb.add_entity(key, EntityRow(key.upper(), "ORG", (counts or {}).get(key, n)))
        if complete:
            partners = [o for (c, k), others in pairs.items() if k == key for o in others]
            nb.related_degree[nb.vocabulary.entity(key)] = (float(len(partners)), float(len(set(partners))),
                                                            float(len(partners)))
    if complete:
        nb.complete_chunks.update(nb.vocabulary.chunks(list(mentions)).tolist())
        nb.complete_entities.update(nb.vocabulary.entities(list(by_entity)).tolist())
    return nb


def _graph() -> LocalGraph:
    # chunks c0 (A, B), c1 (B, C), c2 (C), c3 (D); A-B named together in c0, B-C in c1
    return _neighbourhood({"c0": ["a", "b"], "c1": ["b", "c"], "c2": ["c"], "c3": ["d"]},
                                           cooc=[("c0", "a", "b"), ("c1", "b", "c")]).graph()


def test_pagerank_is_a_distribution_and_favours_the_seed() -> None:
    graph = _graph()
    transition, dangling = graph.transition(EdgeWeights())
    np.testing.assert_allclose(np.asarray(transition.sum(axis=0)).ravel(), 1.0)  # read in full: nothing leaks
    assert len(dangling) == 0
    reset = np.zeros(8)
    reset[4] = 1.0  # entity A
    p = personalized_pagerank(transition, reset, damping=0.5, iterations=100, dangling=dangling)
    assert p.sum() == pytest.approx(1.0)
    assert p[0] > p[1] > p[2] > p[3] == 0


def test_a_node_read_in_part_divides_by_its_whole_graph_degree_and_leaks_the_rest() -> None:
    # entity b is named by 10 chunks in the whole graph but only c0 and c1 were read, and not all of
    # its mentions: it is incomplete and sends nothing on. Entity a was read in full, and its whole-graph
    # co-occurrence degree (3 partners) is larger than what is here (b): the rest of its mass leaks.
    nb = _neighbourhood({"c0": ["a", "b"], "c1": ["b"]}, cooc=[("c0", "a", "b")], counts={"b": 10}, complete=False)
    nb.complete_chunks.update(nb.vocabulary.chunks(["c0", "c1"]).tolist())
    nb.complete_entities.add(nb.vocabulary.entity("a"))
    nb.related_degree[nb.vocabulary.entity("a")] = (3.0, 3.0, 3.0)
    graph = nb.graph()
    transition, dangling = graph.transition(EdgeWeights())
    out = np.asarray(transition.sum(axis=0)).ravel()
    a, b = graph.n_chunks + graph.entity_keys.index("a"), graph.n_chunks + graph.entity_keys.index("b")
    assert out[b] == 0  # incomplete: no outflow
    assert out[a] == pytest.approx((1 + 1) / (1 + 3))  # to c0 and to b, of degree chunk 1 + co-occurrence 3
    np.testing.assert_allclose(out[: graph.n_chunks], 1.0)  # chunks read in full
    assert b not in dangling and a not in dangling


def test_ranker_mixes_seed_and_dense_mass() -> None:
    graph = _graph()
    ranker = PPRRanker()
    scores = ranker.scores(graph, {"a": 1.0}, {"c3": 0.9, "c0": 0.1})[: graph.n_chunks]
    assert scores[0] == scores.max()
    assert scores[3] > 0  # only the dense reset reaches the isolated chunk
    np.testing.assert_allclose(normalise(np.array([1.0, 3.0])), [0.0, 1.0])


def test_explain_finds_two_hop_paths() -> None:
    graph = _graph()
    path = explain(graph, ["a"], 2)
    assert [(s.source, s.relation, s.target) for s in path] == [
        ("A", "RELATED", "B"), ("B", "RELATED", "C"), ("C", "MENTIONED_IN", "C2")]
    assert explain(graph, ["a"], 3) == []
    # without co-occurrence the path goes through the passage that names both
    plain = _neighbourhood({"c0": ["a", "b"], "c1": ["b", "c"]}).graph()
    path = explain(plain, ["a"], 1)
    assert [(s.source, s.relation, s.target) for s in path] == [
        ("A", "MENTIONED_IN", "C0"), ("C0", "MENTIONS", "B"), ("B", "MENTIONED_IN", "C1")]


def test_format_path() -> None:
    steps = [PathStep(source="A", relation="RELATED", target="B"), PathStep(source="B", relation="MENTIONED_IN",
                                                                            target="T")]
    assert format_path(steps) == "(A) -[RELATED]-> (B) -[MENTIONED_IN]-> (T)"
    assert format_path([]) == ""


def test_fold_accents() -> None:
    assert fold_accents("crème brûlée") == "creme brulee"
    assert fold_accents("aschenbrödel") == "aschenbrodel"


def test_title_edge_weight_moves_mass_to_the_passage_about_an_entity() -> None:
    # chunk 2 is the page about C; chunk 1 merely mentions C
    graph = _neighbourhood({"c0": ["a", "b"], "c1": ["b", "c"], "c2": ["c"], "c3": ["d"]},
                                            titles={"c2": "C (letter)"}).graph()
    plain, _ = graph.transition(EdgeWeights())
    weighted, _ = graph.transition(EdgeWeights(title_weight=3.0))
    c = graph.n_chunks + graph.entity_keys.index("c")
    assert weighted[2, c] > plain[2, c]
    assert weighted[1, c] < plain[1, c]


def test_feedback_round_lifts_the_passage_about_a_name_the_best_passage_mentions() -> None:
    # c0 is about seed A and names B; c1 is the page about B; c2 is a distractor the dense score
    # prefers. Only the feedback round seeds B, so only it can lift c1 above c2.
    graph = _neighbourhood({"c0": ["a", "b"], "c1": ["b"], "c2": ["x"]}).graph()
    dense = {"c0": 0.9, "c1": 0.1, "c2": 0.5}
    one = PPRRanker(config=RetrievalConfig(ppr_feedback_passages=0, ppr_passage_weight=0.2))
    one_round = one.scores(graph, {"a": 1.0}, dense)[: graph.n_chunks]
    assert one_round[2] > one_round[1]
    ranker = PPRRanker(config=RetrievalConfig(ppr_feedback_passages=1, ppr_feedback_weight=1.0,
                                              ppr_passage_weight=0.2))
    feedback = ranker.feedback_seeds(graph, {"a": 1.0}, one_round)
    assert set(feedback) == {"b"}  # the seed itself is not fed back
    two_rounds = ranker.scores(graph, {"a": 1.0, **feedback}, dense)[: graph.n_chunks]
    assert two_rounds[0] > two_rounds[1] > two_rounds[2]
    assert ranker.feedback_seeds(graph, {}, one_round) == {}


def test_top_chunks_break_ties_by_chunk_id_as_a_full_sort_does() -> None:
    """`top_chunks` sorts only the chunks that can be among the n; the result is the full sort's."""
    rng = np.random.default_rng(0)
    for trial in range(500):
        m, n = int(rng.integers(0, 40)), int(rng.integers(0, 12))
        scores = rng.choice([0.0, 0.1, 0.5, 1.0], m) if trial % 2 else rng.random(m)
        ids = [f"c{int(x)}" for x in rng.permutation(m)]
        by_id = np.argsort(np.argsort(ids, kind="stable"))
        assert PPRRanker.top_chunks(scores, n, ids).tolist() == np.lexsort((by_id, -scores))[:n].tolist()
