"""The MCP SDK's own client, driven from synchronous tests, over streamable HTTP or a `graphrag mcp` subprocess.

The client session lives in an event loop of its own (an anyio blocking portal in a thread), so one
session can serve several test functions, and a test reads like the REST tests: call, then assert.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TextIO

import httpx2
from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from api.server import SAMPLE_CORPUS
from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "Which river flows through the city where Marie Curie was born?"
TOOLS = {"ask", "retrieve", "add_document", "delete_document", "list_documents", "entity_neighbourhood"}


class SyncClient:
    """`mcp.Client`'s coroutine methods as blocking calls (`client.call_tool(...)` returns the result)."""

    def __init__(self, portal: BlockingPortal, client: Client):
        self._portal = portal
        self._client = client

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._client, name)
        if not inspect.iscoroutinefunction(value):
            return value  # a property such as `protocol_version`
        return lambda *args, **kwargs: self._portal.call(functools.partial(value, *args, **kwargs))

    def tool(self, name: str, arguments: dict[str, Any] | None = None) -> CallToolResult:
        result: CallToolResult = self._portal.call(functools.partial(self._client.call_tool, name, arguments or {}))
        return result

    def ok(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """A tool call that must succeed: its structured content (which must equal its text content)."""
        result = self.tool(name, arguments)
        text = result.content[0].text if result.content else ""  # type: ignore[union-attr]
        assert not result.is_error, text
        assert result.structured_content is not None and json.loads(text) == result.structured_content
        return result.structured_content

    def error(self, name: str, arguments: dict[str, Any] | None = None) -> str:
        """A tool call that must fail as a tool error (not a protocol error): its message."""
        result = self.tool(name, arguments)
        assert result.is_error, result
        return str(result.content[0].text)  # type: ignore[union-attr]


@contextmanager
def _session(make: Any) -> Iterator[SyncClient]:
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(make) as client:
        yield SyncClient(portal, client)


@asynccontextmanager
async def _http(url: str, key: str | None, mode: str) -> AsyncIterator[Client]:
    headers = {"X-API-Key": key} if key else {}
    async with (httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http,
                Client(streamable_http_client(url, http_client=http), mode=mode) as client):
        yield client


def http_session(url: str, key: str | None = None, *, mode: str = "auto") -> Any:
    """A session with the `/mcp` endpoint at `url`, sending `key` as `X-API-Key` (none: no header).

    `mode="legacy"` speaks the 2025 initialize handshake, as most desktop clients still do; "auto"
    negotiates the newest protocol both sides know."""
    return _session(_http(url, key, mode))


def stdio_env(settings: Settings) -> dict[str, str]:
    """The subprocess's environment: `settings` as GRAPHRAG_* variables (the password too: an environment
    is private to the process, a command line is not), offline model loading."""
    env = settings.to_env()
    env.update({"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"})
    env.update({k: v for k, v in os.environ.items() if k.startswith(("HF_", "TRANSFORMERS_", "SENTENCE_"))})
    return env


def stdio_session(settings: Settings, errlog: TextIO, *args: str) -> Any:
    """A session with `python -m cli mcp ARGS` started in the repository root (this checkout's code)."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "cli", "mcp", *args],
                                   env=stdio_env(settings), cwd=ROOT)

    @asynccontextmanager
    async def connect() -> AsyncIterator[Client]:
        from mcp.client.stdio import stdio_client

        async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=600) as client:
            yield client

    return _session(connect())


def check_tools_listed(client: SyncClient) -> None:
    """The six tools, each with a description for a model, an input schema and an output schema."""
    tools = {t.name: t for t in client.list_tools().tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description and len(tool.description) > 80, tool.name
        assert tool.input_schema["type"] == "object" and tool.output_schema, tool.name
    assert tools["ask"].input_schema["required"] == ["question"]
    assert tools["ask"].input_schema["properties"]["top_k"]["maximum"] == 50
    assert set(tools["add_document"].input_schema["required"]) == {"title", "text"}
    assert tools["delete_document"].annotations.destructive_hint is True
    assert tools["retrieve"].annotations.read_only_hint is True
    assert {"answer", "citations", "mode"} <= set(tools["ask"].output_schema["properties"])
    assert {"passages", "paths"} <= set(tools["retrieve"].output_schema["properties"])
    templates = client.list_resource_templates().resource_templates
    assert [t.uri_template for t in templates] == ["graphrag://documents/{+document_id}"]
    assert [p.name for p in client.list_prompts().prompts] == ["answer_with_citations"]


def sample_documents() -> list[dict[str, str]]:
    docs = []
    for path in sorted(SAMPLE_CORPUS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        title = text.splitlines()[0].lstrip("# ").strip()
        docs.append({"id": path.stem, "title": title, "text": text})
    return docs


def assert_cites_stored_chunks(answer: dict[str, Any], db: ArcadeDB) -> None:
    assert answer["mode"] in ("llm", "extractive") and answer["answer"] and answer["citations"], answer
    for citation in answer["citations"]:
        rows = db.cypher("MATCH (c:Chunk {id: $id}) RETURN c.document_id AS doc", {"id": citation["chunk_id"]})
        assert rows and rows[0]["doc"] == citation["document_id"], citation
        assert citation["snippet"] and citation["title"]
