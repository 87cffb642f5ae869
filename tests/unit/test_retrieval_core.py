"""Pure retrieval logic: fusion, span linking, keyword terms, PageRank, context building."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from graphrag.retrieval.base import RetrievalConfig
from graphrag.retrieval.context import build_context, estimate_tokens, format_path
from graphrag.retrieval.fusion import reciprocal_rank_fusion
from graphrag.retrieval.keyword import plain_terms
from graphrag.retrieval.ppr import GraphSnapshot, PPRRanker, explain, normalise, personalized_pagerank
from graphrag.retrieval.question import candidate_spans, fold_accents, longest_matches, seed_weights
from graphrag.types import Passage, PathStep, SeedEntity


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


def _snapshot() -> GraphSnapshot:
    # chunks c0 (mentions A, B), c1 (B, C), c2 (C), c3 (D); RELATED A-B, B-C
    incidence = sparse.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=float))
    related = sparse.csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]], dtype=float))
    embeddings = np.eye(4, dtype=np.float32)
    return GraphSnapshot(["c0", "c1", "c2", "c3"], ["d0", "d1", "d2", "d3"], ["T0", "T1", "T2", "T3"],
                         embeddings, ["a", "b", "c", "d"], ["A", "B", "C", "D"], ["ORG"] * 4, incidence, related,
                         sparse.csr_matrix((4, 4)))


def test_pagerank_is_a_distribution_and_favours_the_seed() -> None:
    snap = _snapshot()
    transition = snap.transition()
    np.testing.assert_allclose(np.asarray(transition.sum(axis=0)).ravel(), 1.0)
    reset = np.zeros(8)
    reset[4] = 1.0  # entity A
    p = personalized_pagerank(transition, reset, damping=0.5, iterations=100)
    assert p.sum() == pytest.approx(1.0)
    assert p[0] > p[1] > p[2] > p[3] == 0


def test_ranker_mixes_seed_and_dense_mass() -> None:
    snap = _snapshot()
    ranker = PPRRanker()
    dense = snap.dense_scores(np.array([0, 0, 0, 1], dtype=np.float32))
    scores = ranker.rank(snap, {"a": 1.0}, dense)
    assert scores[0] == scores.max()
    assert scores[3] > 0  # only the dense reset reaches the isolated chunk
    assert snap.lookup(["b", "zz"])["b"].mentions == 2
    np.testing.assert_allclose(normalise(np.array([1.0, 3.0])), [0.0, 1.0])


def test_explain_finds_two_hop_paths() -> None:
    snap = _snapshot()
    path = explain(snap, ["a"], 2)
    assert [(s.source, s.relation, s.target) for s in path] == [
        ("A", "RELATED", "B"), ("B", "RELATED", "C"), ("C", "MENTIONED_IN", "T2")]
    assert explain(snap, ["a"], 3) == []
    # without co-occurrence edges the path goes through the passage that names both
    snap.related = sparse.csr_matrix((4, 4))
    path = explain(snap, ["a"], 1)
    assert [(s.source, s.relation, s.target) for s in path] == [
        ("A", "MENTIONED_IN", "T0"), ("T0", "MENTIONS", "B"), ("B", "MENTIONED_IN", "T1")]


def _passage(i: int, words: int) -> Passage:
    return Passage(chunk_id=f"c{i}", document_id=f"d{i}", title=f"T{i}", text=" ".join(["word"] * words),
                   score=1.0 / (i + 1))


def test_context_numbers_markers_and_respects_the_budget() -> None:
    passages = [_passage(i, 100) for i in range(5)]
    ctx = build_context(passages, budget_tokens=300)
    assert ctx.tokens <= 300
    assert ctx.text.startswith("[1] T0\nword")
    assert ctx.markers == {n: f"c{n - 1}" for n in ctx.markers}
    assert ctx.documents == {n: f"d{n - 1}" for n in ctx.markers}
    assert estimate_tokens(ctx.text) <= 300
    assert ctx.text.rstrip().endswith("…")  # the passage at the edge was cut, not dropped


def test_context_skips_a_tail_too_small_to_help() -> None:
    ctx = build_context([_passage(0, 100), _passage(1, 100)], budget_tokens=140)
    assert list(ctx.markers) == [1]


def test_format_path() -> None:
    steps = [PathStep(source="A", relation="RELATED", target="B"), PathStep(source="B", relation="MENTIONED_IN",
                                                                            target="T")]
    assert format_path(steps) == "(A) -[RELATED]-> (B) -[MENTIONED_IN]-> (T)"
    assert format_path([]) == ""


def test_accent_folded_lookup_returns_the_stored_key() -> None:
    snap = _snapshot()
    snap.entity_keys[0] = "aschenbrödel"
    snap.__post_init__()
    found = snap.lookup(["aschenbrodel"])
    assert found["aschenbrodel"].key == "aschenbrödel"
    assert fold_accents("crème brûlée") == "creme brulee"


def test_title_edge_weight_moves_mass_to_the_passage_about_an_entity() -> None:
    snap = _snapshot()
    snap.chunk_titles[2] = "C"  # chunk 2 is the page about C; chunk 1 merely mentions C
    plain = snap.transition()
    weighted = snap.transition(title_weight=3.0)
    c = snap.n_chunks + 2
    assert weighted[2, c] > plain[2, c]
    assert weighted[1, c] < plain[1, c]


def test_feedback_round_lifts_the_passage_about_a_name_the_best_passage_mentions() -> None:
    # c0 is about seed A and names B; c1 is the page about B; c2 is a distractor the dense score
    # prefers. Only the feedback round seeds B, so only it can lift c1 above c2.
    incidence = sparse.csr_matrix(np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=float))
    empty = sparse.csr_matrix((3, 3))
    snap = GraphSnapshot(["c0", "c1", "c2"], ["d0", "d1", "d2"], ["A", "B", "X"], None, ["a", "b", "x"],
                         ["A", "B", "X"], ["ORG"] * 3, incidence, empty, empty)
    dense = np.array([0.9, 0.1, 0.5])
    one_round = PPRRanker(RetrievalConfig(ppr_feedback_passages=0, ppr_passage_weight=0.2)
                          ).rank(snap, {"a": 1.0}, dense)
    assert one_round[2] > one_round[1]
    ranker = PPRRanker(RetrievalConfig(ppr_feedback_passages=1, ppr_feedback_weight=1.0, ppr_passage_weight=0.2))
    feedback = ranker.feedback_seeds(snap, {"a": 1.0}, one_round)
    assert set(feedback) == {"b"}  # the seed itself is not fed back
    two_rounds = ranker.rank(snap, {"a": 1.0}, dense)
    assert two_rounds[0] > two_rounds[1] > two_rounds[2]
    assert ranker.feedback_seeds(snap, {}, one_round) == {}
