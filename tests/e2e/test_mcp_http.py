"""The MCP server at /mcp of the real app (uvicorn, real ArcadeDB, real models), driven by the SDK's own client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from api.deps import Components
from api.main import create_app
from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from tests.e2e.conftest import live_server
from tests.e2e.mcp_client import (
    QUESTION,
    SyncClient,
    assert_cites_stored_chunks,
    check_tools_listed,
    http_session,
    sample_documents,
)


@pytest.fixture(scope="module")
def mcp_url(settings: Settings, components: Components) -> Iterator[str]:
    with live_server(create_app(settings, components=components)) as base:
        yield base + "/mcp"


@pytest.fixture(scope="module")
def admin(mcp_url: str, keys: dict[str, str]) -> Iterator[SyncClient]:
    with http_session(mcp_url, keys["admin"]) as client:
        yield client


@pytest.fixture(scope="module")
def reader(mcp_url: str, keys: dict[str, str]) -> Iterator[SyncClient]:
    with http_session(mcp_url, keys["read"]) as client:
        yield client


@pytest.fixture(scope="module")
def corpus(admin: SyncClient) -> list[dict[str, Any]]:
    """The sample corpus, stored through the add_document tool with an admin key."""
    added = [admin.ok("add_document", doc) for doc in sample_documents()]
    assert all(a["documents"][0]["chunks"] >= 1 for a in added)
    return added


def test_tools_are_listed_with_their_schemas(reader: SyncClient, mcp_url: str, keys: dict[str, str]) -> None:
    check_tools_listed(reader)
    with http_session(mcp_url, keys["read"], mode="legacy") as legacy:  # the 2025 handshake
        assert legacy.protocol_version.startswith("2025-") and legacy.protocol_version < reader.protocol_version
        check_tools_listed(legacy)
        assert legacy.ok("list_documents", {"limit": 1})["limit"] == 1


def test_ask_cites_chunks_that_are_stored(reader: SyncClient, corpus: list[dict[str, Any]], e2e_db: ArcadeDB) -> None:
    answer = reader.ok("ask", {"question": QUESTION, "top_k": 4})
    assert_cites_stored_chunks(answer, e2e_db)
    assert {c["document_id"] for c in answer["citations"]} & {"warsaw", "marie-curie", "vistula"}, answer


def test_retrieve_gives_whole_passages_and_paths(reader: SyncClient, corpus: list[dict[str, Any]]) -> None:
    found = reader.ok("retrieve", {"question": QUESTION, "top_k": 3})
    passages = found["passages"]
    assert 1 <= len(passages) <= 3 and [p["n"] for p in passages] == list(range(1, len(passages) + 1))
    assert {"Warsaw", "Marie Curie"} & {p["title"] for p in found["passages"]}
    assert all(p["document_uri"] == f"graphrag://documents/{p['document_id']}" for p in found["passages"])
    assert found["paths"] and all(step["source"] and step["target"] for path in found["paths"] for step in path)


def test_add_document_then_retrieve_finds_it_and_delete_removes_it(admin: SyncClient, reader: SyncClient,
                                                                   corpus: list[dict[str, Any]]) -> None:
    doc = {"id": "notes/zelkova", "title": "Zelkova Observatory",
           "text": "The Zelkova Observatory stands on Mount Quarrin. Its first director was Odile Fenwright."}
    question = {"question": "Who was the first director of the Zelkova Observatory?", "top_k": 5}
    created = admin.ok("add_document", doc)
    assert [d["id"] for d in created["documents"]] == ["notes/zelkova"] and created["summary"]["chunks"] >= 1
    found = reader.ok("retrieve", question)
    top = found["passages"][0]
    assert top["document_id"] == "notes/zelkova" and "Odile Fenwright" in top["text"]
    resource = reader.read_resource("graphrag://documents/notes/zelkova").contents[0]
    stored = json.loads(resource.text)
    assert stored["title"] == "Zelkova Observatory" and "Odile Fenwright" in stored["chunks"][0]["text"]
    assert stored["chunks"][0]["id"] == top["chunk_id"]
    assert admin.ok("delete_document", {"document_id": "notes/zelkova"}) == {"id": "notes/zelkova", "deleted": True}
    after = reader.ok("retrieve", question)
    assert "notes/zelkova" not in [p["document_id"] for p in after["passages"]]
    assert "no document has the id 'notes/zelkova'" in admin.error("delete_document", {"document_id": "notes/zelkova"})


def test_a_read_key_reads_and_explores_but_cannot_add_or_delete(reader: SyncClient, corpus: list[dict[str, Any]],
                                                                  e2e_db: ArcadeDB) -> None:
    refused = reader.error("add_document", {"id": "sneaky", "title": "Sneaky", "text": "Written with a read key."})
    assert "'admin' scope" in refused and "'read'" in refused
    assert e2e_db.cypher("MATCH (d:Document {id: 'sneaky'}) RETURN count(d) AS n") == [{"n": 0}]
    assert "'admin' scope" in reader.error("delete_document", {"document_id": "warsaw"})
    assert e2e_db.cypher("MATCH (d:Document {id: 'warsaw'}) RETURN count(d) AS n") == [{"n": 1}]
    first = reader.ok("list_documents", {"limit": 4})
    assert first["total"] >= 6 and len(first["items"]) == 4 and first["next_offset"] == 4
    rest = reader.ok("list_documents", {"offset": first["next_offset"], "limit": 100})
    assert rest["next_offset"] is None
    assert not {d["id"] for d in first["items"]} & {d["id"] for d in rest["items"]}
    around = reader.ok("entity_neighbourhood", {"entity": "Warsaw", "hops": 2})
    assert around["nodes"][0]["key"] == "warsaw" and len(around["nodes"]) > 1
    prompt = reader.get_prompt("answer_with_citations", {"question": QUESTION, "top_k": "3"})
    text = prompt.messages[0].content.text
    assert "[1]" in text and "square brackets" in text and QUESTION in text


def test_errors_an_agent_can_act_on_leave_the_session_working(reader: SyncClient,
                                                               corpus: list[dict[str, Any]]) -> None:
    assert "must contain at least one letter or digit" in reader.error("retrieve", {"question": "???"})
    assert "top_k" in reader.error("ask", {"question": QUESTION, "top_k": 0})
    assert "no entity is named 'Nobody Atall'" in reader.error("entity_neighbourhood", {"entity": "Nobody Atall"})
    with pytest.raises(Exception, match="no document has the id 'missing'"):
        reader.read_resource("graphrag://documents/missing")
    assert reader.ok("list_documents", {"limit": 1})["items"]  # the same session still works


def test_the_endpoint_needs_a_valid_key(mcp_url: str) -> None:
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
    headers = {"Accept": "application/json, text/event-stream"}
    for extra in ({}, {"X-API-Key": "grk_not-a-key"}, {"Authorization": "Bearer grk_not-a-key"}):
        response = httpx2.post(mcp_url, json=initialize, headers={**headers, **extra})
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["error"]["code"] == "unauthorized"
