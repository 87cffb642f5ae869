"""`graphrag mcp` as a desktop client starts it: a subprocess speaking MCP over stdin/stdout, configured by
GRAPHRAG_* variables to reach the test's database, driven by the SDK's own client."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import pytest

from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from graphrag.embedded import EmbeddedServer
from schema.workspaces import WorkspaceCatalog
from tests.e2e.conftest import app_settings
from tests.e2e.mcp_client import (
    QUESTION,
    SyncClient,
    assert_cites_stored_chunks,
    check_tools_listed,
    sample_documents,
    stdio_session,
)


@pytest.fixture(scope="module")
def stdio_db(make_db: Callable[..., ArcadeDB]) -> ArcadeDB:
    return make_db("mcp_stdio")


@pytest.fixture(scope="module")
def stdio_settings(server: EmbeddedServer, stdio_db: ArcadeDB, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return app_settings(server, stdio_db.database, tmp_path_factory.mktemp("mcp-stdio"))


@pytest.fixture(scope="module")
def errlog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TextIO]:
    """The subprocess's stderr (its log), kept in a file so that a failure can be read there."""
    path = tmp_path_factory.mktemp("mcp-stdio-log") / "stderr.log"
    with path.open("w", encoding="utf-8") as handle:
        yield handle


@pytest.fixture(scope="module")
def client(stdio_settings: Settings, errlog: TextIO) -> Iterator[SyncClient]:
    with stdio_session(stdio_settings, errlog) as session:
        yield session


@pytest.fixture(scope="module")
def corpus(client: SyncClient) -> list[dict[str, Any]]:
    return [client.ok("add_document", doc) for doc in sample_documents()]


def test_tools_are_listed_with_their_schemas(client: SyncClient) -> None:
    check_tools_listed(client)


def test_add_document_then_retrieve_finds_it(client: SyncClient, corpus: list[dict[str, Any]],
                                             stdio_db: ArcadeDB) -> None:
    assert {d["documents"][0]["id"] for d in corpus} >= {"warsaw", "marie-curie"}
    created = client.ok("add_document", {"title": "Kestrel Mill", "text": "Kestrel Mill grinds rye on the "
                                                                           "river Ambrell. Its miller is Tobiah Venn."})
    doc_id = created["documents"][0]["id"]
    assert doc_id.startswith("doc-")  # no id given: a hash of title and text
    found = client.ok("retrieve", {"question": "Who is the miller of Kestrel Mill?", "top_k": 3})
    assert found["passages"][0]["document_id"] == doc_id and "Tobiah Venn" in found["passages"][0]["text"]
    stored = json.loads(client.read_resource(f"graphrag://documents/{doc_id}").contents[0].text)
    assert stored["chunks"][0]["id"] == found["passages"][0]["chunk_id"]
    assert stdio_db.cypher("MATCH (c:Chunk {document_id: $d}) RETURN count(c) AS n", {"d": doc_id}) == [{"n": 1}]


def test_ask_cites_chunks_that_are_stored(client: SyncClient, corpus: list[dict[str, Any]],
                                          stdio_db: ArcadeDB) -> None:
    answer = client.ok("ask", {"question": QUESTION, "top_k": 4})
    assert_cites_stored_chunks(answer, stdio_db)


def test_errors_come_back_as_tool_errors_and_the_session_goes_on(client: SyncClient,
                                                                  corpus: list[dict[str, Any]]) -> None:
    assert "no document has the id 'missing'" in client.error("delete_document", {"document_id": "missing"})
    assert "hops" in client.error("entity_neighbourhood", {"entity": "Warsaw", "hops": 5})
    before = client.ok("list_documents", {"limit": 1})["total"]
    assert client.ok("delete_document", {"document_id": "henri-becquerel"})["deleted"] is True
    assert client.ok("list_documents", {"limit": 1})["total"] == before - 1


def test_read_only_refuses_writes(stdio_settings: Settings, tmp_path: Path, stdio_db: ArcadeDB) -> None:
    with (tmp_path / "stderr.log").open("w", encoding="utf-8") as log, \
            stdio_session(stdio_settings, log, "--read-only") as read_only:
        refused = read_only.error("add_document", {"id": "sneaky", "title": "Sneaky", "text": "Not allowed."})
        assert "'admin' scope" in refused and "--read-only" in refused
        assert "--read-only" in read_only.error("delete_document", {"document_id": "warsaw"})
    assert stdio_db.cypher("MATCH (d:Document) WHERE d.id IN ['sneaky', 'warsaw'] RETURN d.id AS id") == [
        {"id": "warsaw"}]


def test_a_workspace_server_works_only_in_its_workspace(stdio_settings: Settings, tmp_path: Path,
                                                        stdio_db: ArcadeDB) -> None:
    catalog = WorkspaceCatalog(stdio_settings, stdio_db)
    catalog.create("mcpws")
    with (tmp_path / "stderr.log").open("w", encoding="utf-8") as log:
        with stdio_session(stdio_settings, log, "--workspace", "nosuch") as missing:
            assert "no workspace named 'nosuch'" in missing.error("list_documents")
        assert f"{stdio_db.database}_ws_nosuch" not in stdio_db.list_databases()  # naming one never makes it
        with stdio_session(stdio_settings, log, "--workspace", "mcpws") as scoped:
            scoped.ok("add_document", {"id": "ws-only", "title": "Kestrel Pass",
                                       "text": "Kestrel Pass crosses the Dunmore range north of Harlow."})
            assert [d["id"] for d in scoped.ok("list_documents")["items"]] == ["ws-only"]
    assert stdio_db.cypher("MATCH (d:Document {id: 'ws-only'}) RETURN d.id AS id") == []
    assert catalog.client("mcpws").cypher("MATCH (d:Document {id: 'ws-only'}) RETURN d.id AS id") == [{"id": "ws-only"}]
