"""`graphrag search` and `graphrag ask` answering in process print what the REST routes return: both go
through `api.operations`, so their JSON is the routes' own (issue 22), timings' values aside.

The parts are stand-ins for the `api.deps` protocols; `tests/e2e/test_cli_faces.py` runs the real commands.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from api.metrics import Metrics
from api.routes import ask as routes
from api.schemas import AskRequest, RetrieveRequest
from cli.search import ask_here, search_here
from graphrag.answer import FinalEvent, TokenEvent
from graphrag.types import Answer, Citation, Passage, PathStep, RetrievalResult

QUESTION = "Which river flows through Warsaw?"
RESULT = RetrievalResult(
    question=QUESTION,
    passages=[Passage(chunk_id="warsaw.md#0", document_id="warsaw.md", title="Warsaw",
                      text="Warsaw lies on the Vistula, the longest river of Poland.", score=0.8123456789,
                      channels=["vector", "keyword"])],
    paths=[[PathStep(source="Warsaw", relation="RELATED", target="Vistula")]],
    timings_ms={"embed": 3.14159})
ANSWER = Answer(question=QUESTION, answer="The Vistula [1].", mode="extractive",
                citations=[Citation(n=1, chunk_id="warsaw.md#0", document_id="warsaw.md", title="Warsaw",
                                    snippet="Warsaw lies on the Vistula.", score=0.81234567)],
                paths=RESULT.paths, timings_ms={"compose": 1.0}, relevance=0.912345)


class Retriever:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def retrieve(self, question: str, *, top_k: int, hops: int) -> RetrievalResult:
        self.calls.append((question, top_k, hops))
        return RESULT


class Answerer:
    mode = "extractive"

    async def answer(self, retrieval: RetrievalResult, *, temperature: float | None = None) -> Answer:
        return ANSWER

    async def stream(self, retrieval: RetrievalResult, *,
                     temperature: float | None = None) -> AsyncIterator[TokenEvent | FinalEvent]:
        yield TokenEvent(text=ANSWER.answer)
        yield FinalEvent(answer=ANSWER)

    async def probe(self, timeout_s: float = 2.0) -> tuple[bool, str]:
        return True, "extractive"


def without_timing_values(body: dict[str, Any]) -> dict[str, Any]:
    """The body with each timing's value blanked: the keys are the shape, the values are clocks."""
    return {**body, "timings_ms": dict.fromkeys(body["timings_ms"])}


def test_search_here_prints_what_post_retrieve_returns() -> None:
    rest_retriever, cli_retriever = Retriever(), Retriever()
    rest = anyio.run(lambda: routes.retrieve(RetrieveRequest(question=QUESTION, top_k=3), None,  # type: ignore[arg-type]
                                             rest_retriever, Metrics()))
    printed, result = search_here(cli_retriever, QUESTION, 3)
    assert result is RESULT
    assert cli_retriever.calls == rest_retriever.calls  # the service's default reach, not one of the CLI's own
    assert without_timing_values(printed) == without_timing_values(rest.model_dump())
    assert list(printed["timings_ms"]) == ["embed", "retrieve", "total"]  # the stages and the operation's view
    assert printed["graph"] is not None and printed["sources"][0]["score"] == 0.812346


async def rest_ask(stream: bool) -> dict[str, Any]:
    """POST /v1/ask's body; streamed, its `final` event's."""
    answered = await routes.ask(AskRequest(question=QUESTION, top_k=3, stream=stream), None,  # type: ignore[arg-type]
                                Retriever(), Answerer(), Metrics())
    if not stream:
        return answered.model_dump()  # type: ignore[no-any-return]
    events = [chunk.decode() if isinstance(chunk, bytes) else chunk async for chunk in answered.body_iterator]
    assert [e.split("\n")[0] for e in events] == ["event: sources", "event: token", "event: final"]
    return json.loads(events[-1].split("\n")[1].removeprefix("data: "))  # type: ignore[no-any-return]


@pytest.mark.parametrize("stream", [False, True])
def test_ask_here_prints_what_post_ask_returns(stream: bool, capsys: pytest.CaptureFixture[str]) -> None:
    rest = anyio.run(rest_ask, stream)
    printed = ask_here(Retriever(), Answerer(), QUESTION, 3, stream=stream)
    assert without_timing_values(printed) == without_timing_values(rest)
    assert ("first_token" in printed["timings_ms"]) is stream
    assert ("The Vistula [1]." in capsys.readouterr().out) is stream  # only a streamed answer is printed as it comes
