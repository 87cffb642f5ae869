"""Extractive answers: sentence splitting and lexical scoring (the embedding scorer is tested with the
real model in tests/integration/test_llm_fallback.py)."""

from __future__ import annotations

from graphrag.extractive import LexicalScorer, extract, format_extract, split_sentences
from graphrag.prompts import number_passages
from graphrag.types import Passage


def test_split_sentences() -> None:
    text = "Paris is the capital of France. It has 2.1 million people! Is it very big? \"Yes,\" they say."
    assert split_sentences(text) == ["Paris is the capital of France.", "It has 2.1 million people!",
                                     "Is it very big?", "\"Yes,\" they say."]
    assert split_sentences("short") == ["short"]
    assert split_sentences("") == []


def test_lexical_scorer_prefers_rare_question_words() -> None:
    scores = LexicalScorer().score("Where was Marie Curie born?", [
        "Marie Curie was born in Warsaw.", "Marie Antoinette was a queen.", "Nothing relevant here at all."])
    assert scores[0] > scores[1] > scores[2] == 0.0


def test_extract_quotes_one_sentence_per_passage_with_its_number() -> None:
    passages = [
        Passage(chunk_id="a", document_id="d", title="Curie", score=0.9,
                text="Marie Curie was a physicist. Curie was born in Warsaw in 1867."),
        Passage(chunk_id="b", document_id="d", title="Warsaw", score=0.5,
                text="Warsaw is the capital of Poland. Marie Curie was born in Warsaw, then part of Russia."),
    ]
    ctx = number_passages(passages, 10_000)
    picked = extract("Where was Marie Curie born?", ctx, LexicalScorer(), max_sentences=2)
    assert [p.n for p in picked] == [2, 1] or [p.n for p in picked] == [1, 2]
    assert len({p.n for p in picked}) == 2
    text = format_extract(picked)
    for p in picked:
        assert f"{p.sentence} [{p.n}]" in text
        assert p.sentence in ctx.shown[p.n]
