"""The MCP face without a database: its argument rules match the REST API's, typed errors become tool
errors without internals, the stdio server's lazy loading retries, and the prompt numbers passages."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import CallToolResult

from api.deps import Components, Workspace
from api.keys import ANONYMOUS
from api.mcp.callers import fixed_caller
from api.mcp.prompt import cited_answer_prompt
from api.mcp.server import build_server
from api.mcp.stdio import LazyComponents
from api.metrics import Metrics
from api.schemas import DocumentIn, RetrieveRequest
from graphrag.errors import DatabaseUnavailableError
from graphrag.types import Answer, Passage, PathStep, RetrievalResult


class DownRetriever:
    def retrieve(self, question: str, *, top_k: int, hops: int) -> RetrievalResult:
        raise DatabaseUnavailableError("ArcadeDB at http://10.0.0.7:2480 is unreachable after 3 attempts")


async def _parts(ctx: object) -> Workspace:
    return Workspace("default", Components(retriever=DownRetriever()))


def _bounds(schema: dict[str, Any]) -> dict[str, Any]:
    keys = ("minLength", "maxLength", "minimum", "maximum", "pattern")
    return {k: v for k, v in schema.items() if k in keys}


def _model_bounds(model: type[Any], field: str) -> dict[str, Any]:
    schema = model.model_json_schema()["properties"][field]
    return _bounds(schema.get("anyOf", [schema])[0])


def test_tool_arguments_follow_the_rest_api_rules() -> None:
    tools = {t.name: t for t in anyio.run(build_server(_parts, fixed_caller(ANONYMOUS)).list_tools)}
    for name in ("ask", "retrieve"):
        props = tools[name].input_schema["properties"]
        for field in ("question", "top_k", "hops"):
            assert _bounds(props[field]) == _model_bounds(RetrieveRequest, field), (name, field)
    props = tools["add_document"].input_schema["properties"]
    assert _bounds(props["id"]["anyOf"][0]) == _model_bounds(DocumentIn, "id")
    for field in ("title", "text"):
        assert _bounds(props[field]) == _model_bounds(DocumentIn, field), field


def test_database_outage_is_a_tool_error_without_internals() -> None:
    async def call() -> CallToolResult:
        async with Client(build_server(_parts, fixed_caller(ANONYMOUS))) as client:  # in process, as a session
            return await client.call_tool("retrieve", {"question": "Where was Marie Curie born?"})

    result = anyio.run(call)
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert "the database is unreachable right now; retry" in text and "10.0.0.7" not in text


class EmptyRetriever:
    def retrieve(self, question: str, *, top_k: int, hops: int) -> RetrievalResult:
        return RetrievalResult(question=question, passages=[], paths=[], seeds=[], timings_ms={})


def test_bad_and_unknown_arguments_are_refused_in_plain_words() -> None:
    async def parts(ctx: object) -> Workspace:
        return Workspace("default", Components(retriever=EmptyRetriever()))

    async def calls() -> list[CallToolResult]:
        async with Client(build_server(parts, fixed_caller(ANONYMOUS))) as client:
            return [await client.call_tool("retrieve", arguments) for arguments in (
                {"question": "Where?", "top_k": 99}, {"question": "Where?", "topk": 3}, {},
                {"question": "Where?", "hops": "two"}, {"question": "Where?", "top_k": 3})]

    too_many, misspelt, missing, wrong_type, good = anyio.run(calls)
    texts = [r.content[0].text for r in (too_many, misspelt, missing, wrong_type)]  # type: ignore[union-attr]
    assert all(r.is_error for r in (too_many, misspelt, missing, wrong_type)) and not good.is_error
    assert texts[0] == ("Error executing tool retrieve: invalid arguments: top_k: Input should be less than or "
                        "equal to 50")
    assert texts[1] == "Error executing tool retrieve: unknown argument 'topk'; retrieve takes hops, question, top_k"
    assert texts[2].endswith("invalid arguments: question: Field required")
    assert "hops: Input should be a valid integer" in texts[3]
    for text in texts:  # none of pydantic's raw report
        assert "validation error for" not in text and "errors.pydantic.dev" not in text and "[type=" not in text


def test_lazy_components_retry_a_failed_build_and_then_keep_the_result() -> None:
    built = Components()
    calls: list[int] = []

    def build() -> Components:
        calls.append(1)
        if len(calls) == 1:
            raise DatabaseUnavailableError("not up yet")
        return built

    lazy = LazyComponents(build)
    with pytest.raises(DatabaseUnavailableError):
        anyio.run(lazy)
    assert anyio.run(lazy) is built and anyio.run(lazy) is built and lazy.built is built
    assert len(calls) == 2


def test_prompt_numbers_the_passages_as_the_answerer_does() -> None:
    passages = [Passage(chunk_id=f"d{i}#0", document_id=f"d{i}", title=f"T{i}", text=f"Text {i}.", score=1.0 / i)
                for i in (1, 2)]
    result = RetrievalResult(question="Q?", passages=passages,
                             paths=[[PathStep(source="a", relation="related", target="b")]])
    text = cited_answer_prompt(result)
    assert "[1] T1: Text 1.\n[2] T2: Text 2." in text
    assert "[2] document d2, chunk d2#0" in text and "(a) -[related]-> (b)" in text  # as `format_path` writes it
    assert text.endswith("Question: Q?")


def test_ask_counts_its_answer_time_as_the_rest_route_does() -> None:
    """The MCP `ask` goes through `api.operations`, so `answer_seconds` is observed (it once was not)."""
    metrics = Metrics()

    class Answerer:
        mode = "extractive"

        async def answer(self, retrieval: RetrievalResult, *, temperature: float | None = None) -> Answer:
            return Answer(question=retrieval.question, answer="Nothing answers it.", mode="extractive", citations=[])

    async def parts(ctx: object) -> Workspace:
        return Workspace("default", Components(retriever=EmptyRetriever(), answerer=Answerer()))

    async def call() -> CallToolResult:
        async with Client(build_server(parts, fixed_caller(ANONYMOUS), metrics=metrics)) as client:
            return await client.call_tool("ask", {"question": "Where was Marie Curie born?"})

    result = anyio.run(call)
    assert not result.is_error and result.structured_content["answer"] == "Nothing answers it."  # type: ignore[index]
    assert metrics.registry.get_sample_value("graphrag_retrieval_duration_seconds_count") == 1
    assert metrics.registry.get_sample_value("graphrag_answer_duration_seconds_count", {"mode": "extractive"}) == 1
