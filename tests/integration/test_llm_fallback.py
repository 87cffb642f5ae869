"""The extractive fallback with the real packaged MiniLM embedder (embedding and hybrid sentence scorers)."""

from __future__ import annotations

import asyncio

import pytest

from graphrag.answer import EXTRACTIVE_PREFIX, Answerer
from graphrag.config import Settings
from graphrag.embeddings import SentenceTransformerEmbedder
from graphrag.extractive import EmbeddingScorer, HybridScorer
from graphrag.types import Passage, RetrievalResult

SENTENCES = ["The Vistula is the longest river in Poland.", "Marie Curie was born in Warsaw in 1867.",
             "Bread is baked in an oven."]


@pytest.mark.parametrize("scorer_cls", [EmbeddingScorer, HybridScorer])
def test_model_scorers_rank_the_answering_sentence_first(embedder: SentenceTransformerEmbedder,
                                                         scorer_cls: type) -> None:
    scores = scorer_cls(embedder).score("In which city was Marie Curie born?", SENTENCES)
    assert max(range(3), key=lambda i: scores[i]) == 1


@pytest.mark.parametrize("scorer", ["lexical", "embedding", "hybrid"])
def test_configured_answerer_without_llm_quotes_and_cites(embedder: SentenceTransformerEmbedder, scorer: str) -> None:
    result = RetrievalResult(question="In which city was Marie Curie born?", passages=[
        Passage(chunk_id="r", document_id="d1", title="Vistula", text=SENTENCES[0] + " " + SENTENCES[2], score=0.9),
        Passage(chunk_id="c", document_id="d2", title="Marie Curie", text=SENTENCES[1], score=0.8),
    ])
    answerer = Answerer.from_settings(Settings(llm_base_url=None), embedder=embedder, scorer=scorer)  # type: ignore[arg-type]
    answer = asyncio.run(answerer.answer(result))
    assert answer.mode == "extractive" and answer.answer.startswith(EXTRACTIVE_PREFIX)
    assert f"{SENTENCES[1]} [2]" in answer.answer
    assert answer.citations[0].chunk_id == "c" and answer.citations[0].snippet == SENTENCES[1]
