"""The real CPU answerer: llama.cpp's OpenAI-compatible server with the packaged SmolLM2-135M model,
started by our launcher on a free port in a temporary folder.

Needs the optional extra (`make llm`): without llama-cpp-python these tests fail with that advice.
SmolLM2-135M answers weakly; the tests check the plumbing (answers arrive, parse, stream, and their
citations are checked), not the answers' quality (benchmarks/answer_eval.py measures that).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from graphrag.answer import Answerer, FinalEvent, TokenEvent
from graphrag.citations import check_citations, find_markers
from graphrag.errors import ServerLaunchError
from graphrag.llm import LLMClient
from graphrag.local_llm import LocalLLMServer
from graphrag.prompts import NO_ANSWER
from graphrag.types import Answer, Passage, RetrievalResult

HANG_GUARD_S = 300
RESULT = RetrievalResult(question="What is the capital of France?", passages=[
    Passage(chunk_id="c1", document_id="d1", title="France", score=0.9,
            text="France is a country in western Europe. The capital of France is Paris."),
    Passage(chunk_id="c2", document_id="d2", title="Spain", score=0.5,
            text="Spain is a country in southern Europe. The capital of Spain is Madrid."),
])


def answerer(server: LocalLLMServer) -> Answerer:
    client = LLMClient(server.url, "smollm2", timeout_s=120, temperature=0.0, max_tokens=48)
    return Answerer(client, context_tokens=2048, max_tokens=48)


def run(coro):  # type: ignore[no-untyped-def]
    async def guarded():  # type: ignore[no-untyped-def]
        return await asyncio.wait_for(coro, HANG_GUARD_S)

    return asyncio.run(guarded())


def assert_citations_consistent(answer: Answer, result: RetrievalResult) -> None:
    """Every marker left in the text points at a context passage, and the citations are exactly those."""
    numbers = find_markers(answer.answer)
    assert all(1 <= n <= len(result.passages) for n in numbers)
    assert [c.n for c in answer.citations] == numbers
    for c in answer.citations:
        assert c.chunk_id == result.passages[c.n - 1].chunk_id
    assert not set(answer.removed_markers) & set(range(1, len(result.passages) + 1))


def test_server_is_up_and_start_is_idempotent(llm_server: LocalLLMServer) -> None:
    status = llm_server.status()
    assert status.running and "smollm2" in status.models
    assert llm_server.start().pid == status.pid
    assert llm_server.pid_file.read_text().strip() == str(status.pid)
    assert llm_server.log_file.exists()


def test_a_second_server_on_the_same_port_is_refused_clearly(llm_server: LocalLLMServer, tmp_path: Path) -> None:
    other = LocalLLMServer(tmp_path, llm_server.port, "smollm2")
    with pytest.raises(ServerLaunchError, match=f"port {llm_server.port} .* is held by another process"):
        other.start(timeout=10)


def test_cli_status_reports_the_running_server(llm_server: LocalLLMServer) -> None:
    proc = subprocess.run([sys.executable, "-m", "cli", "--data-dir", str(llm_server.data_dir), "llm", "status",
                           "--port", str(llm_server.port)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"running: smollm2 at {llm_server.url}" in proc.stdout


def test_non_streamed_answer_arrives_and_parses(llm_server: LocalLLMServer) -> None:
    answer = run(answerer(llm_server).answer(RESULT))
    assert answer.mode == "llm"
    assert answer.answer.strip()
    assert_citations_consistent(answer, RESULT)


def test_streamed_answer_arrives_token_by_token(llm_server: LocalLLMServer) -> None:
    async def collect() -> list[TokenEvent | FinalEvent]:
        return [e async for e in answerer(llm_server).stream(RESULT)]  # type: ignore[misc]

    events = run(collect())
    tokens = [e for e in events if isinstance(e, TokenEvent)]
    final = events[-1]
    assert isinstance(final, FinalEvent) and final.answer.mode == "llm"
    assert len(tokens) > 1  # really streamed, not one blob
    assert "".join(t.text for t in tokens) == final.answer.answer
    assert_citations_consistent(final.answer, RESULT)


def test_streamed_answer_under_the_citation_grammar_cites_a_shown_passage(llm_server: LocalLLMServer) -> None:
    """llama.cpp's server honours the grammar while streaming: the answer ends in a marker of the context.

    The model picks the number itself; the grammar only allows the numbers of the shown passages.
    """
    client = LLMClient(llm_server.url, "smollm2", timeout_s=120, temperature=0.0, max_tokens=96)
    cited = Answerer(client, context_tokens=2048, max_tokens=96, citation_grammar=True)

    async def collect() -> list[TokenEvent | FinalEvent]:
        return [e async for e in cited.stream(RESULT)]  # type: ignore[misc]

    events = run(collect())
    tokens = [e for e in events if isinstance(e, TokenEvent)]
    final = events[-1]
    assert isinstance(final, FinalEvent) and final.answer.mode == "llm"
    assert len(tokens) > 1 and "".join(t.text for t in tokens) == final.answer.answer
    assert final.answer.citations or final.answer.answer == NO_ANSWER, final.answer.answer
    assert final.answer.removed_markers == []  # the grammar allows no number outside the context
    assert_citations_consistent(final.answer, RESULT)


def test_concurrent_streamed_answers_both_complete(llm_server: LocalLLMServer) -> None:
    """A second request must queue, not cut off the first (the server interrupts by default)."""
    async def one() -> list[TokenEvent | FinalEvent]:
        return [e async for e in answerer(llm_server).stream(RESULT)]  # type: ignore[misc]

    async def both() -> list[list[TokenEvent | FinalEvent]]:
        return list(await asyncio.gather(one(), one()))

    for events in run(both()):
        final = events[-1]
        assert isinstance(final, FinalEvent) and final.answer.mode == "llm", final
        tokens = [e for e in events if isinstance(e, TokenEvent)]
        assert tokens and "".join(t.text for t in tokens) == final.answer.answer


def test_real_model_output_has_its_citations_checked(llm_server: LocalLLMServer) -> None:
    """Make the model write a valid and a dangling marker, then check its actual output."""
    client = LLMClient(llm_server.url, "smollm2", timeout_s=120, temperature=0.0)
    messages = [{"role": "system", "content": "Repeat the user's message exactly, nothing else."},
                {"role": "user", "content": "Paris is the capital of France [1] [9]."}]
    completion = run(client.complete(messages, max_tokens=30))
    assert {1, 9} <= set(find_markers(completion.text)), completion.text
    checked = check_citations(completion.text, {1, 2})
    assert 1 in checked.cited and checked.removed == [9]
    assert "[9]" not in checked.text and "[1]" in checked.text


def test_stop(llm_server: LocalLLMServer) -> None:
    assert llm_server.stop() is True
    assert not llm_server.status().running
    assert not llm_server.pid_file.exists()
    assert llm_server.stop() is False
