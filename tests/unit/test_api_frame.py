"""The HTTP frame without a database: request ids, the error envelope, body limits, SSE framing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api.context import new_request_id
from api.errors import install_error_handlers
from api.metrics import Metrics
from api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from api.routes.ask import sse
from graphrag.errors import DatabaseKnownDownError, DatabaseUnavailableError, QueryError


class Item(BaseModel):
    name: str
    count: int


def _app(limit: int = 1000) -> tuple[FastAPI, Metrics]:
    app = FastAPI()
    metrics = Metrics()
    install_error_handlers(app, retry_after_s=7)
    app.add_middleware(BodyLimitMiddleware, limit=limit)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)

    @app.post("/items")
    async def items(item: Item) -> Item:
        return item

    @app.get("/down")
    async def down() -> None:
        raise DatabaseUnavailableError("ArcadeDB at http://127.0.0.1:1 is unreachable")

    @app.get("/known-down")
    async def known_down() -> None:
        raise DatabaseKnownDownError("ArcadeDB at http://127.0.0.1:1 has been unreachable for 3 s")

    @app.get("/broken")
    async def broken() -> None:
        raise QueryError("ArcadeDB rejected the statement: secret internals", status=400)

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("a bug with a stack trace")

    return app, metrics


@pytest.fixture
def client() -> TestClient:
    return TestClient(_app()[0], raise_server_exceptions=False)


def test_every_response_carries_a_request_id_and_echoes_a_safe_one(client: TestClient) -> None:
    fresh = client.post("/items", json={"name": "a", "count": 1})
    assert fresh.status_code == 200 and len(fresh.headers["x-request-id"]) == 32
    echoed = client.post("/items", json={"name": "a", "count": 1}, headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    assert new_request_id("bad id\nwith newline") != "bad id\nwith newline"


def test_validation_errors_are_422_with_one_message_per_field(client: TestClient) -> None:
    response = client.post("/items", json={"name": 3, "count": "many"})
    assert response.status_code == 422
    body = response.json()
    assert {f["field"] for f in body["error"]["fields"]} == {"body.name", "body.count"}
    assert body["request_id"] == response.headers["x-request-id"]


def test_database_outage_is_503_with_retry_after(client: TestClient) -> None:
    response = client.get("/down")
    assert response.status_code == 503 and response.headers["retry-after"] == "7"
    assert response.json()["error"]["code"] == "database_unavailable"
    assert "127.0.0.1" not in response.text  # internals stay in the log


def test_an_outage_the_breaker_already_knows_says_so(client: TestClient) -> None:
    """A 503 the circuit breaker answered (nothing sent) says "known down"; one that spent its retries
    does not: clients, and the chaos suite, tell them apart."""
    known = client.get("/known-down")
    assert known.status_code == 503 and known.headers["retry-after"] == "7"
    assert known.json()["error"]["code"] == "database_unavailable"
    assert "known down" in known.json()["error"]["message"] and "127.0.0.1" not in known.text
    assert "known down" not in client.get("/down").text


@pytest.mark.parametrize("path", ["/broken", "/crash"])
def test_failures_never_leak_a_trace(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 500
    assert "Traceback" not in response.text and "secret" not in response.text and "bug" not in response.text
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_oversized_bodies_get_413_declared_or_streamed() -> None:
    client = TestClient(_app(limit=1000)[0], raise_server_exceptions=False)
    big = json.dumps({"name": "x" * 2000, "count": 1}).encode()
    declared = client.post("/items", content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413 and declared.json()["error"]["code"] == "body_too_large"

    def chunks():  # no Content-Length: the limit must hold while reading
        for i in range(0, len(big), 100):
            yield big[i:i + 100]

    streamed = client.post("/items", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and "x-request-id" in streamed.headers


def test_latency_is_recorded_per_route_template() -> None:
    app, metrics = _app()
    client = TestClient(app, raise_server_exceptions=False)
    client.post("/items", json={"name": "a", "count": 1})
    client.get("/no/such/route/123")
    text = metrics.render().decode()
    assert 'route="/items"' in text and 'route="unmatched"' in text and "/no/such" not in text


def test_sse_event_framing_keeps_newlines_inside_json() -> None:
    event = sse("token", {"text": "two\nlines"})
    assert event == b'event: token\ndata: {"text": "two\\nlines"}\n\n'


def test_metrics_of_several_worker_processes_are_merged(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR (set by `graphrag serve` for api_workers > 1), /metrics shows the
    sum over every worker process, not the one that happened to answer."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    observe = "from api.metrics import Metrics; Metrics().retrieval_seconds.observe(0.2)"
    for _ in range(2):  # two worker processes, one retrieval each
        subprocess.run([sys.executable, "-c", observe], env=env, check=True, timeout=60)
    render = "from api.metrics import Metrics; print(Metrics().render().decode())"
    text = subprocess.run([sys.executable, "-c", render], env=env, check=True, timeout=60, capture_output=True,
                          text=True).stdout
    assert "graphrag_retrieval_duration_seconds_count 2.0" in text
