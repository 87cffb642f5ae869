"""The operation layer both faces call, without a database: what it counts, where it writes, what it reads back.

The parts are small in-memory stand-ins for the `api.deps` protocols (a document store as a dict);
the real ones are exercised through both faces by `tests/e2e/test_api_e2e.py` and `test_mcp_http.py`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from api import operations
from api.deps import Components, Workspace
from api.keys import ANONYMOUS, Principal, Scope
from api.metrics import Metrics
from api.schemas import IngestSummary
from graphrag.answer import ErrorEvent, FinalEvent, TokenEvent
from graphrag.types import Answer, RetrievalResult, SourceDocument
from schema.workspaces import WorkspaceBusyError


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


class Store:
    """Documents by id; `list` takes no `query`, as an older `DocumentsLike` may not."""

    def __init__(self, rows: dict[str, dict[str, Any]]):
        self.rows = rows
        self.gets: list[str] = []

    def list(self, *, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        ids = sorted(self.rows)
        return [self.rows[i] for i in ids[offset:offset + limit]], len(ids)

    def get(self, document_id: str) -> dict[str, Any] | None:
        self.gets.append(document_id)
        return self.rows.get(document_id)

    def delete(self, document_id: str) -> bool:
        return self.rows.pop(document_id, None) is not None

    def chunks(self, document_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        chunk = {"id": f"{document_id}#0", "ordinal": 0, "text": "Warsaw lies on the Vistula.", "entities": ["warsaw"]}
        return [chunk], [{"key": "warsaw", "name": "Warsaw", "type": "GPE"}]


class Ingestor:
    def __init__(self, store: Store, ids: list[str]):
        self.store, self.ids = store, ids

    def ingest_documents(self, documents: list[SourceDocument]) -> IngestSummary:
        for doc in documents:
            self.store.rows[doc.id] = {"id": doc.id, "title": doc.title, "source": "/srv/data/a.md", "chunks": 1}
        return IngestSummary(document_ids=self.ids, documents=len(documents), chunks=3)

    def ingest_paths(self, paths: list[Path], root: Path, *, by_content: bool = False) -> IngestSummary:
        raise AssertionError("not used here")


class Guard:
    """A workspace registry's write guard that records when writes run inside it."""

    def __init__(self) -> None:
        self.inside = False
        self.entered: list[tuple[str, str | None]] = []

    @contextlib.asynccontextmanager
    async def writing(self, name: str, incarnation: str | None) -> AsyncIterator[None]:
        self.entered.append((name, incarnation))
        self.inside = True
        try:
            yield
        finally:
            self.inside = False


def test_retrieve_and_answer_are_timed_and_observed() -> None:
    metrics = Metrics()
    result = RetrievalResult(question="Q?", passages=[], paths=[], seeds=[], timings_ms={})

    class Retriever:
        def retrieve(self, question: str, *, top_k: int, hops: int) -> RetrievalResult:
            assert (question, top_k, hops) == ("Q?", 3, 2)
            return result

    class Answerer:
        mode = "extractive"

        async def answer(self, retrieval: RetrievalResult, *, temperature: float | None = None) -> Answer:
            assert retrieval is result and temperature == 0.5
            return Answer(question="Q?", answer="No.", mode="extractive", citations=[])

    async def run() -> tuple[operations.Retrieved, operations.Answered]:
        retrieved = await operations.retrieve(Retriever(), "Q?", top_k=3, hops=2, metrics=metrics)
        return retrieved, await operations.answer(Answerer(), retrieved.result, temperature=0.5, metrics=metrics)

    retrieved, answered = anyio.run(run)
    assert retrieved.result is result and retrieved.seconds >= 0
    assert answered.answer.answer == "No." and answered.seconds >= 0
    assert sample(metrics, "graphrag_retrieval_duration_seconds_count") == 1
    assert sample(metrics, "graphrag_answer_duration_seconds_count", mode="extractive") == 1  # MCP's `ask` too


def test_a_streamed_answer_is_observed_as_a_whole_one() -> None:
    """Tokens pass through as they come; the first token's time, the tokens and the answer's time are counted
    once the answer is final, and only its tokens when the stream breaks off."""
    metrics = Metrics()
    result = RetrievalResult(question="Q?", passages=[], paths=[], seeds=[], timings_ms={})
    final = Answer(question="Q?", answer="Yes, no.", mode="llm", citations=[])

    class Answerer:
        mode = "llm"

        def __init__(self, last: FinalEvent | ErrorEvent):
            self.last = last

        async def stream(self, retrieval: RetrievalResult, *,
                         temperature: float | None = None) -> AsyncIterator[TokenEvent | FinalEvent | ErrorEvent]:
            yield TokenEvent(text="Yes, ")
            yield TokenEvent(text="no.")
            yield self.last

    async def run(answerer: Answerer) -> list[Any]:
        return [e async for e in operations.stream_answer(answerer, result, temperature=None,  # type: ignore[arg-type]
                                                          metrics=metrics)]

    events = anyio.run(run, Answerer(FinalEvent(answer=final)))
    assert [type(e) for e in events] == [TokenEvent, TokenEvent, operations.Streamed]
    assert events[-1].answer is final and 0 <= events[-1].first_token_s <= events[-1].seconds
    assert sample(metrics, "graphrag_answer_tokens_total", mode="llm") == 2
    assert sample(metrics, "graphrag_answer_duration_seconds_count", mode="llm") == 1
    assert sample(metrics, "graphrag_llm_time_to_first_token_seconds_count", mode="llm") == 1

    broken = anyio.run(run, Answerer(ErrorEvent(message="cut")))
    assert [type(e) for e in broken] == [TokenEvent, TokenEvent, ErrorEvent]
    assert sample(metrics, "graphrag_answer_tokens_total", mode="llm") == 4
    assert sample(metrics, "graphrag_answer_duration_seconds_count", mode="llm") == 1  # not a whole answer


def test_add_documents_writes_inside_the_guard_counts_and_reads_each_document_back_once() -> None:
    metrics, guard = Metrics(), Guard()
    store = Store({})
    workspace = Workspace("acme", Components(), "inc-1", guard.writing)
    ingestor = Ingestor(store, ids=["doc-a", "doc-a", "doc-gone"])

    def ingest(ing: Any) -> IngestSummary:
        assert guard.inside, "the ingest ran outside the workspace's write guard"
        return ing.ingest_documents([SourceDocument(id="doc-a", source="s", title="A", text="Text.")])

    created = anyio.run(lambda: operations.add_documents(workspace, ingestor, store, ingest, metrics=metrics))
    assert guard.entered == [("acme", "inc-1")]
    assert [d.id for d in created.documents] == ["doc-a"]  # a repeated id read once; one gone meanwhile left out
    assert store.gets == ["doc-a", "doc-gone"]
    assert created.documents[0].source == "a.md"  # no principal: the server's path is cut to the file's name
    assert created.summary.chunks == 3
    assert sample(metrics, "graphrag_ingest_documents_total", workspace="acme") == 1
    assert sample(metrics, "graphrag_ingest_chunks_total", workspace="acme") == 3


def test_delete_counts_only_a_document_that_was_there() -> None:
    metrics, guard = Metrics(), Guard()
    store = Store({"doc-a": {"id": "doc-a"}})
    workspace = Workspace("default", Components(), "inc", guard.writing)

    async def run() -> list[bool]:
        return [await operations.delete_document(workspace, store, i, metrics=metrics) for i in ("doc-a", "doc-a")]

    assert anyio.run(run) == [True, False]
    assert sample(metrics, "graphrag_documents_deleted_total", workspace="default") == 1
    assert len(guard.entered) == 2


@pytest.mark.parametrize("query", [None, "", "   "])
def test_a_blank_query_is_not_passed_to_the_store(query: str | None) -> None:
    store = Store({i: {"id": i} for i in ("c", "a", "b")})
    page = anyio.run(lambda: operations.list_documents(store, offset=1, limit=1, query=query))
    assert ([d.id for d in page.items], page.total, page.offset, page.limit) == (["b"], 3, 1, 1)


def test_get_document_with_its_chunks_and_as_an_admin_sees_it() -> None:
    store = Store({"doc-a": {"id": "doc-a", "source": "/srv/data/a.md", "metadata_json": '{"lang": "en"}'}})
    plain = anyio.run(lambda: operations.get_document(store, "doc-a"))
    full = anyio.run(lambda: operations.get_document(store, "doc-a", chunks=True, principal=ANONYMOUS))
    assert plain is not None and plain.chunk_list is None and plain.source == "a.md"
    assert plain.metadata == {"lang": "en"}
    assert full is not None and full.source == "/srv/data/a.md"  # keyless loopback acts as admin
    assert [c.id for c in full.chunk_list or []] == ["doc-a#0"] and [e.key for e in full.entities or []] == ["warsaw"]
    assert anyio.run(lambda: operations.get_document(store, "nothing")) is None


def test_entity_neighbourhood_shapes_what_the_graph_found() -> None:
    class Graph:
        def neighbourhood(self, key: str, *, hops: int, limit: int) -> dict[str, Any] | None:
            if key != "warsaw":
                return None
            return {"nodes": [{"key": "warsaw", "name": "Warsaw", "type": "GPE", "hops": 0}], "edges": [],
                    "truncated": 1}

    found = anyio.run(lambda: operations.entity_neighbourhood(Graph(), "warsaw", hops=1, limit=5))
    assert found is not None and found.key == "warsaw" and found.truncated is True
    assert [n.key for n in found.nodes] == ["warsaw"]
    assert anyio.run(lambda: operations.entity_neighbourhood(Graph(), "nowhere", hops=1, limit=5)) is None


class Registry:
    """The parts of `api.workspaces.Workspaces` the workspace operations use, over a set of names."""

    def __init__(self, names: set[str], *, busy: bool = False):
        self.names_, self.busy = names, busy
        self.steps: list[str] = []

    async def names(self) -> list[str]:
        return sorted(self.names_)

    async def exists(self, name: str) -> bool:
        return name in self.names_

    async def create(self, name: str) -> bool:
        self.names_.add(name)
        return True

    @contextlib.asynccontextmanager
    async def deleting(self, name: str) -> AsyncIterator[None]:
        if self.busy:
            raise WorkspaceBusyError(f"workspace {name!r} is busy")
        self.steps.append("writes drained")
        yield

    async def drop(self, name: str) -> bool:
        self.steps.append("dropped")
        found = name in self.names_
        self.names_.discard(name)
        return found


class Jobs:
    def __init__(self, registry: Registry):
        self.registry = registry

    async def end_workspace(self, workspace: str) -> int:
        self.registry.steps.append("jobs ended")
        return 0


def test_workspaces_are_created_once_and_listed_as_the_key_sees_them() -> None:
    registry = Registry({"default", "acme"})
    bound = Principal("k1", Scope.read, frozenset({"acme"}))
    assert anyio.run(lambda: operations.create_workspace(registry, "acme")) is False  # type: ignore[arg-type]
    assert anyio.run(lambda: operations.create_workspace(registry, "beta")) is True  # type: ignore[arg-type]
    seen = anyio.run(lambda: operations.visible_workspaces(registry, bound))  # type: ignore[arg-type]
    assert [w.name for w in seen] == ["acme"]


def test_a_workspace_delete_ends_its_jobs_before_the_drop_and_forgets_keys_even_when_refused() -> None:
    registry, forgotten = Registry({"acme"}), []
    dropped = anyio.run(lambda: operations.delete_workspace(registry, Jobs(registry), "acme",  # type: ignore[arg-type]
                                                            forget_keys=lambda: forgotten.append(1)))
    assert dropped and registry.steps == ["writes drained", "jobs ended", "dropped"] and forgotten == [1]
    busy = Registry({"acme"}, busy=True)
    with pytest.raises(WorkspaceBusyError):
        anyio.run(lambda: operations.delete_workspace(busy, Jobs(busy), "acme",  # type: ignore[arg-type]
                                                      forget_keys=lambda: forgotten.append(2)))
    assert forgotten == [1, 2] and busy.steps == []
