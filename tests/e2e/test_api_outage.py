"""With its database stopped, the service answers 503 + Retry-After (never a 500, never a trace)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.main import create_app
from graphrag.embeddings import SentenceTransformerEmbedder
from graphrag.types import SourceDocument
from tests.e2e.conftest import own_database


def test_database_down_gives_503_with_retry_after(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    # Our own server: stopping the session's would break every other test.
    with own_database(tmp_path, embedder) as own:
        srv, settings, components = own.server, own.settings, own.components
        assert components.ingestor is not None
        components.ingestor.ingest_documents([SourceDocument(
            id="curie", source="test", title="Marie Curie",
            text="Marie Curie was born in Warsaw in 1867. She studied in Paris.")])
        with TestClient(create_app(settings, components=components), raise_server_exceptions=False) as client:
            question = {"question": "Where was Marie Curie born?"}
            assert client.post("/v1/retrieve", json=question).json()["sources"]
            srv.stop()  # every request reads the database: the very next one meets the outage
            for path in ("/v1/ask", "/v1/retrieve"):
                response = client.post(path, json=question)
                assert response.status_code == 503, response.text
                assert response.headers["retry-after"] == "5"
                assert response.json()["error"]["code"] == "database_unavailable"
                assert "Traceback" not in response.text and srv.url not in response.text
            ready = client.get("/readyz")
            assert ready.status_code == 503 and not ready.json()["checks"]["database"]["ok"]
            assert client.get("/healthz").status_code == 200  # the process itself is fine
