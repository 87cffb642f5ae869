"""The abstention signal (`graphrag.relevance.judge`) and what the answerer does with it: pure logic on
hand-made passages; the calibration on the dev sets is benchmarks/abstention.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from graphrag.answer import EXTRACTIVE_PREFIX, NOTHING_FITS, Answerer, FinalEvent, TokenEvent
from graphrag.config import Settings
from graphrag.relevance import DEFAULT_THRESHOLD, WINDOW, judge
from graphrag.retrieval.base import RetrievalConfig
from graphrag.types import Passage, Relevance, RetrievalResult

WARSAW = Passage(chunk_id="w#0", document_id="w", title="Warsaw", score=0.4, similarity=0.55,
                 text="Warsaw is the capital of Poland. The city stands on the Vistula River.")
CURIE = Passage(chunk_id="c#0", document_id="c", title="Marie Curie", score=0.3, similarity=0.48,
                text="Marie Curie was a physicist. She was born in Warsaw in 1867.")
BECQUEREL = Passage(chunk_id="b#0", document_id="b", title="Henri Becquerel", score=0.2, similarity=0.31,
                    text="Henri Becquerel discovered radioactivity in 1896.")


def test_a_question_the_passages_answer_is_answerable() -> None:
    judged = judge("Which river flows through the city where Marie Curie was born?", [CURIE, WARSAW])
    assert judged.answerable and judged.score is not None and judged.score >= DEFAULT_THRESHOLD
    assert judged.titled and judged.names == 1.0 and judged.similarity == 0.55


def test_a_question_about_something_else_is_not() -> None:
    """The closest passages of an unrelated question still have some cosine; their missing names and
    words, and no title named, keep the score low."""
    judged = judge("What is the boiling point of Zorblax at sea level?",
                   [BECQUEREL.model_copy(update={"similarity": 0.42}), CURIE])
    assert not judged.answerable
    assert judged.names == 0.0 and not judged.titled and judged.score is not None and judged.score < 0.6


def test_the_score_is_the_cosine_plus_a_quarter_for_each_lexical_part() -> None:
    judged = judge("Where was Marie Curie born?", [CURIE])
    assert judged.names == 1.0 and judged.words == 1.0 and judged.titled
    assert judged.score == pytest.approx(0.48 + 0.25 * 3)


def test_a_question_without_names_counts_its_words_twice() -> None:
    judged = judge("which river flows through warsaw", [WARSAW])
    assert judged.names == judged.words == 0.5  # river and warsaw, of river, flows, through, warsaw


def test_accents_and_title_qualifiers_do_not_hide_a_match() -> None:
    opera = Passage(chunk_id="a#0", document_id="a", title="Aschenbrödel (operetta)", score=1.0, similarity=0.5,
                    text="Aschenbrödel is a ballet by Johann Strauss II.")
    judged = judge("Who composed Aschenbrodel?", [opera])
    assert judged.titled and judged.names == 1.0


def test_only_the_first_window_of_passages_is_read() -> None:
    filler = [BECQUEREL.model_copy(update={"chunk_id": f"f{i}", "similarity": 0.1}) for i in range(WINDOW)]
    assert not judge("Where was Marie Curie born?", [*filler, CURIE]).answerable
    assert judge("Where was Marie Curie born?", [CURIE, *filler]).answerable


def test_no_passage_is_unanswerable_and_no_similarity_is_not_judged() -> None:
    assert judge("Where was Marie Curie born?", []) == Relevance(score=0.0, threshold=DEFAULT_THRESHOLD,
                                                                   answerable=False)
    unmeasured = judge("Where was Marie Curie born?", [CURIE.model_copy(update={"similarity": None})])
    assert unmeasured.answerable and unmeasured.score is None


def test_a_passage_the_vector_index_did_not_return_is_no_nearer_than_its_farthest_hit() -> None:
    """The graph can rank up passages from outside the question's nearest chunks; when the index
    answered in full, their cosine is at most its farthest hit's, not unknown."""
    far = [p.model_copy(update={"similarity": None}) for p in (BECQUEREL, CURIE)]
    judged = judge("What is the boiling point of Zorblax at sea level?", far, floor=0.21)
    assert judged.similarity == 0.21 and not judged.answerable
    assert judge("What is the boiling point of Zorblax at sea level?", far).score is None


def test_the_threshold_is_one_setting_everywhere() -> None:
    assert Settings().answer_min_relevance == RetrievalConfig().min_relevance == DEFAULT_THRESHOLD
    assert judge("Where was Marie Curie born?", [CURIE], threshold=5.0).answerable is False


# --- the answerer ------------------------------------------------------------------------------------


class _NoCalls:
    """An LLM client that fails the test when an abstaining answerer asks it anything."""

    model = "never"

    async def complete(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the LLM was asked although nothing fits")

    def stream(self, *args: Any, **kwargs: Any) -> AsyncIterator[str]:
        raise AssertionError("the LLM was asked although nothing fits")

    async def aclose(self) -> None:
        return None


def _result(question: str, passages: list[Passage]) -> RetrievalResult:
    return RetrievalResult(question=question, passages=passages, relevance=judge(question, passages))


UNRELATED = _result("What is the boiling point of Zorblax at sea level?", [BECQUEREL, CURIE, WARSAW, CURIE])


def test_the_answer_says_nothing_fits_and_cites_the_closest_passages() -> None:
    answer = asyncio.run(Answerer(_NoCalls()).answer(UNRELATED))  # type: ignore[arg-type]
    assert answer.answer.startswith(NOTHING_FITS) and not answer.answerable
    assert answer.relevance == UNRELATED.relevance.score  # type: ignore[union-attr]
    assert [c.n for c in answer.citations] == [1, 2, 3]
    assert "“Henri Becquerel” [1]" in answer.answer and "[4]" not in answer.answer


def test_a_stream_abstains_in_one_token_and_a_final_event() -> None:
    async def events() -> list[Any]:
        return [e async for e in Answerer(_NoCalls()).stream(UNRELATED)]  # type: ignore[arg-type]

    token, final = asyncio.run(events())
    assert isinstance(token, TokenEvent) and isinstance(final, FinalEvent)
    assert token.text == final.answer.answer and final.answer.answerable is False


def test_a_fitting_question_is_answered_as_before() -> None:
    result = _result("Where was Marie Curie born?", [CURIE, WARSAW])
    answer = asyncio.run(Answerer(None).answer(result))
    assert answer.answerable and answer.answer.startswith(EXTRACTIVE_PREFIX) and "born in Warsaw" in answer.answer


def test_an_unjudged_result_is_answered() -> None:
    """Retrievers that do not judge (LangChain's, the benchmarks' oracle) keep their answers."""
    answer = asyncio.run(Answerer(None).answer(RetrievalResult(question="Zorblax?", passages=[BECQUEREL])))
    assert answer.answerable and answer.relevance is None and answer.answer.startswith(EXTRACTIVE_PREFIX)
