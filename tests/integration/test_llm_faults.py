"""The LLM client and the answerer against servers that misbehave: unreachable, garbage, 5xx, 429,
stalls, broken streams. Each is a real local HTTP server (tests/integration/tiny_http.py).

What must hold: a clear `LLMError` from the client, an extractive fallback from the answerer when
no token was shown yet, an error event when the stream broke after that, and never a hang (every
await is guarded; the guard is a hang detector, not a timing assertion).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import pytest

from graphrag.answer import EXTRACTIVE_PREFIX, Answerer, ErrorEvent, FinalEvent, TokenEvent
from graphrag.errors import LLMResponseError, LLMUnavailableError
from graphrag.llm import LLMClient
from graphrag.types import Passage, RetrievalResult
from tests.conftest import free_port
from tests.integration import tiny_http as th

T = TypeVar("T")
HANG_GUARD_S = 60
MESSAGES = [{"role": "user", "content": "Say hi."}]

RESULT = RetrievalResult(question="What is the capital of France?", passages=[
    Passage(chunk_id="c1", document_id="d1", title="France", score=0.9,
            text="France is a country in Europe. The capital of France is Paris."),
    Passage(chunk_id="c2", document_id="d2", title="Spain", score=0.5,
            text="Spain is a country too. Its capital is Madrid."),
])


def run(awaitable: Awaitable[T]) -> T:
    async def guarded() -> T:
        return await asyncio.wait_for(awaitable, HANG_GUARD_S)

    return asyncio.run(guarded())


STALL_TIMEOUT = {"timeout_s": 1.0}  # the tests of a stalled server wait this long for each call


def client(url: str, **kw: Any) -> LLMClient:
    """A client of the tiny server. Its read timeout leaves room for a loaded machine (`make test` runs
    three test processes on two cores; 1 s once timed out an answer the server gave at once); the
    stall tests pass `STALL_TIMEOUT`, so that they wait one second, not five."""
    options: dict[str, Any] = {"timeout_s": 5.0, "connect_timeout_s": 5.0, "retries": 3, "retry_max_s": 15,
                               "backoff_s": 0.05}
    options.update(kw)
    return LLMClient(url, "tiny", **options)


async def collect(answerer: Answerer, result: RetrievalResult = RESULT) -> list[Any]:
    return [event async for event in answerer.stream(result)]


def _assert_extractive(answer: Any) -> None:
    assert answer.mode == "extractive"
    assert answer.answer.startswith(EXTRACTIVE_PREFIX)
    assert "The capital of France is Paris. [1]" in answer.answer
    assert answer.citations[0].chunk_id == "c1"


# --- unreachable -----------------------------------------------------------------------------------


def test_unreachable_endpoint_falls_back_in_bounded_time() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    with pytest.raises(LLMUnavailableError, match="unreachable"):
        run(client(url).complete(MESSAGES))
    start = time.monotonic()
    answer = run(Answerer(client(url)).answer(RESULT))
    print(f"unreachable -> extractive in {th.elapsed_since(start)} s")
    _assert_extractive(answer)
    assert "failed" in answer.answer
    events = run(collect(Answerer(client(url))))
    assert isinstance(events[-1], FinalEvent) and events[-1].answer.mode == "extractive"
    assert "".join(e.text for e in events if isinstance(e, TokenEvent)) == events[-1].answer.answer


def test_no_llm_configured_answers_extractively() -> None:
    answer = run(Answerer(None).answer(RESULT))
    _assert_extractive(answer)
    assert "no language model is configured" in answer.answer


def test_no_passages_answers_plainly_without_calling_the_llm() -> None:
    with th.TinyServer(th.answer_ok) as server:
        answer = run(Answerer(client(server.url)).answer(RetrievalResult(question="Why?", passages=[])))
    assert server.requests == [] and answer.citations == []
    assert "nothing to answer from" in answer.answer


# --- garbage ----------------------------------------------------------------------------------------


async def _garbage_text(request: th.Request, writer: Any) -> None:
    await th.send(writer, 200, "hello, I am not an LLM", content_type="text/plain")


async def _garbage_json(request: th.Request, writer: Any) -> None:
    await th.send(writer, 200, {"unexpected": True})


async def _garbage_stream(request: th.Request, writer: Any) -> None:
    await th.send_stream_head(writer)
    await th.send_event(writer, "{this is not json")


@pytest.mark.parametrize("handler", [_garbage_text, _garbage_json])
def test_garbage_answer_is_a_clear_error_and_falls_back(handler: th.Handler) -> None:
    with th.TinyServer(handler) as server:
        with pytest.raises(LLMResponseError, match=r"LLM at .* (did not answer|answered without)"):
            run(client(server.url).complete(MESSAGES))
        assert len(server.requests) == 1  # garbage is not retried
        _assert_extractive(run(Answerer(client(server.url)).answer(RESULT)))


@pytest.mark.parametrize("handler", [_garbage_text, _garbage_json, _garbage_stream])
def test_garbage_stream_falls_back(handler: th.Handler) -> None:
    with th.TinyServer(handler) as server:
        with pytest.raises(LLMResponseError):
            run(_drain(client(server.url)))
        events = run(collect(Answerer(client(server.url))))
    assert isinstance(events[-1], FinalEvent)
    _assert_extractive(events[-1].answer)


async def _drain(llm: LLMClient) -> list[str]:
    return [t async for t in llm.stream(MESSAGES)]


# --- 5xx and 429: retried, then a clear error ------------------------------------------------------


async def _always_500(request: th.Request, writer: Any) -> None:
    await th.send(writer, 500, {"error": {"message": "model crashed"}})


def test_5xx_is_retried_then_reported_and_falls_back() -> None:
    with th.TinyServer(_always_500) as server:
        with pytest.raises(LLMUnavailableError, match="HTTP 500"):
            run(client(server.url).complete(MESSAGES))
        assert len(server.requests) == 3  # retries=3 attempts in all
        server.requests.clear()
        _assert_extractive(run(Answerer(client(server.url, retries=2)).answer(RESULT)))
        assert len(server.requests) == 2


def test_unreachable_llm_is_left_alone_for_the_cooldown_then_tried_again() -> None:
    """After the retries are spent, requests answer extractively without calling the server until
    the cool-down ends; the first request after it asks the server again."""
    now = [1000.0]
    with th.TinyServer(_always_500) as server:
        answerer = Answerer(client(server.url, retries=2), cooldown_s=30, clock=lambda: now[0])
        _assert_extractive(run(answerer.answer(RESULT)))
        assert len(server.requests) == 2
        assert answerer.resting_s() == 30

        now[0] += 10
        rested = run(answerer.answer(RESULT))
        _assert_extractive(rested)
        assert "tried again in 20 s" in rested.answer
        events = run(collect(answerer))
        assert isinstance(events[-1], FinalEvent) and events[-1].answer.mode == "extractive"
        assert len(server.requests) == 2  # neither the answer nor the stream called the server

        now[0] += 21
        assert answerer.resting_s() == 0
        _assert_extractive(run(answerer.answer(RESULT)))
        assert len(server.requests) == 4  # tried again, failed again: a new cool-down
        assert answerer.resting_s() == 30


def test_an_llm_that_answers_ends_the_cooldown() -> None:
    now = [0.0]
    with th.TinyServer(_fail_first(503, 2)) as server:
        answerer = Answerer(client(server.url, retries=2), cooldown_s=5, clock=lambda: now[0])
        _assert_extractive(run(answerer.answer(RESULT)))
        assert answerer.resting_s() == 5
        now[0] += 6
        answer = run(answerer.answer(RESULT))
        assert answer.mode == "llm" and answerer.resting_s() == 0


def _fail_first(status: int, times: int) -> th.Handler:
    async def handler(request: th.Request, writer: Any, seen: list[int] = []) -> None:  # noqa: B006
        seen.append(1)
        if len(seen) <= times:
            await th.send(writer, status, {"error": {"message": "busy"}})
        else:
            await th.answer_ok(request, writer, "The capital is Paris [1] [7].")
    return handler


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("streamed", [False, True])
def test_transient_failures_are_retried_then_answered(status: int, streamed: bool) -> None:
    with th.TinyServer(_fail_first(status, 2)) as server:
        answerer = Answerer(client(server.url))
        if streamed:
            events = run(collect(answerer))
            assert isinstance(events[-1], FinalEvent)
            answer = events[-1].answer
            assert "".join(e.text for e in events if isinstance(e, TokenEvent)) == answer.answer
        else:
            answer = run(answerer.answer(RESULT))
    assert len(server.requests) == 3
    assert answer.mode == "llm"
    assert answer.answer == "The capital is Paris [1]."  # [7] pointed nowhere
    assert answer.removed_markers == [7]
    assert [c.chunk_id for c in answer.citations] == ["c1"]


def test_other_4xx_is_not_retried() -> None:
    async def not_found(request: th.Request, writer: Any) -> None:
        await th.send(writer, 404, {"error": {"message": "model 'tiny' not found"}})

    with th.TinyServer(not_found) as server, \
            pytest.raises(LLMResponseError, match="HTTP 404: model 'tiny' not found"):
        run(client(server.url).complete(MESSAGES))
    assert len(server.requests) == 1


# --- stalls -----------------------------------------------------------------------------------------


def test_stalled_server_times_out_without_retry_and_falls_back() -> None:
    with th.TinyServer(th.stall) as server:
        with pytest.raises(LLMUnavailableError, match="timed out"):
            run(client(server.url, **STALL_TIMEOUT).complete(MESSAGES))
        assert len(server.requests) == 1  # a timeout is not retried
        start = time.monotonic()
        _assert_extractive(run(Answerer(client(server.url, **STALL_TIMEOUT)).answer(RESULT)))
        print(f"stalled server -> extractive in {th.elapsed_since(start)} s")
        events = run(collect(Answerer(client(server.url, **STALL_TIMEOUT))))
        assert isinstance(events[-1], FinalEvent)
        _assert_extractive(events[-1].answer)


async def _stall_after_first_token(request: th.Request, writer: Any) -> None:
    await th.send_stream_head(writer)
    await th.send_event(writer, th.chunk("The capital is"))
    await asyncio.sleep(3600)


async def _break_after_first_token(request: th.Request, writer: Any) -> None:
    await th.send_stream_head(writer)
    await th.send_event(writer, th.chunk("The capital is"))
    await th.send_event(writer, "{broken")


@pytest.mark.parametrize(("handler", "error"), [(_stall_after_first_token, LLMUnavailableError),
                                                (_break_after_first_token, LLMResponseError)])
def test_stream_broken_after_first_token_is_an_error_not_a_retry(handler: th.Handler, error: type) -> None:
    with th.TinyServer(handler) as server:
        tokens: list[str] = []

        async def consume() -> None:
            async for token in client(server.url, **STALL_TIMEOUT).stream(MESSAGES):
                tokens.append(token)

        with pytest.raises(error, match="after its first token; not retried"):
            run(consume())
        assert tokens == ["The capital is"]
        assert len(server.requests) == 1
        server.requests.clear()
        events = run(collect(Answerer(client(server.url, **STALL_TIMEOUT))))
        assert len(server.requests) == 1
    assert isinstance(events[0], TokenEvent) and events[0].text == "The capital is"
    assert isinstance(events[-1], ErrorEvent) and "not retried" in events[-1].message


def test_streamed_answer_with_only_dead_markers_falls_back() -> None:
    async def dead_markers(request: th.Request, writer: Any) -> None:
        await th.answer_ok(request, writer, " [8] [9]")

    with th.TinyServer(dead_markers) as server:
        events = run(collect(Answerer(client(server.url))))
        answer = run(Answerer(client(server.url)).answer(RESULT))
    assert isinstance(events[-1], FinalEvent)
    _assert_extractive(events[-1].answer)
    _assert_extractive(answer)


def test_request_carries_the_settings() -> None:
    with th.TinyServer(functools.partial(th.answer_ok, text="ok")) as server:
        run(client(server.url, temperature=0.0, max_tokens=17).complete(MESSAGES, stop=["\n\n"]))
        run(client(server.url).complete(MESSAGES, temperature=0.7, max_tokens=5))
    first, second = (r.body for r in server.requests)
    assert (first["temperature"], first["max_tokens"], first["stop"], first["model"]) == (0.0, 17, ["\n\n"], "tiny")
    assert (second["temperature"], second["max_tokens"], "stop" in second) == (0.7, 5, False)
    assert first["messages"] == MESSAGES and server.requests[0].path == "/v1/chat/completions"


def test_citation_grammar_goes_with_the_request_only_when_enabled() -> None:
    """The grammar names exactly the shown passages' numbers, streamed or not; off, nothing extra is sent."""
    async def both(answerer: Answerer) -> None:
        await answerer.answer(RESULT)
        await collect(answerer)

    with th.TinyServer(functools.partial(th.answer_ok, text="Paris [1].")) as server:
        run(both(Answerer(client(server.url), citation_grammar=True)))
        run(both(Answerer(client(server.url))))
    with_grammar, streamed, plain, plain_streamed = (r.body for r in server.requests)
    assert streamed["stream"] is True and with_grammar["grammar"] == streamed["grammar"]
    assert with_grammar["grammar"].rstrip().endswith('num ::= "1" | "2"')
    assert "grammar" not in plain and "grammar" not in plain_streamed
    # Only the fixed rules and the numbers: no question or passage text goes into the grammar.
    assert "France" not in with_grammar["grammar"] and "capital" not in with_grammar["grammar"]
