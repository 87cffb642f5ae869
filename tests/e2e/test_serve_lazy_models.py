"""`graphrag serve` answers questions with no torch in its process, and loads the embedding model for the
first document it ingests: the question encoder comes from its cache (`GRAPHRAG_MODEL_CACHE_DIR`) and its
inputs from the model's tokenizer.json, names from the NER child."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from api.components import question_encoder
from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from graphrag.embedded import EmbeddedServer
from graphrag.embeddings import SentenceTransformerEmbedder
from tests.conftest import free_port
from tests.e2e.conftest import terminate, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
TEXT = ("Quillon Abernathy founded the Zorvath Observatory in Lisbon in 1911. The observatory's first "
        "telescope came from Glasgow.")


def _mapped(pid: int, library: str) -> bool:
    return library in Path(f"/proc/{pid}/maps").read_text()


def test_serve_answers_without_torch_and_loads_it_for_the_first_document(
        server: EmbeddedServer, e2e_db: ArcadeDB, embedder: SentenceTransformerEmbedder, tmp_path: Path) -> None:
    # the encoder's file in the model cache, as an earlier start leaves it (a fresh clone has none yet, and
    # a first start makes it with torch)
    question_encoder(Settings(), embedder)
    port = free_port()
    env = {**os.environ, "GRAPHRAG_DATA_DIR": str(tmp_path), "GRAPHRAG_API_PORT": str(port),
           "GRAPHRAG_DB_URL": server.url, "GRAPHRAG_DB_PASSWORD": server.password,
           "GRAPHRAG_DB_NAME": e2e_db.database, "GRAPHRAG_API_KEYS_REQUIRED": "false"}
    env.pop("GRAPHRAG_DB_URLS", None)
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "serve"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(proc, url, log, timeout=180)
        question = {"question": "Who founded the Zorvath Observatory?", "top_k": 3}
        assert httpx.post(f"{url}/v1/retrieve", json=question, timeout=60).status_code == 200
        assert not _mapped(proc.pid, "libtorch"), "torch was loaded to answer a question"
        assert "loading the embedding model" not in log.read_text()

        created = httpx.post(f"{url}/v1/documents", json={"title": "Zorvath Observatory", "text": TEXT}, timeout=180)
        assert created.status_code == 201, created.text
        assert _mapped(proc.pid, "libtorch")  # the first document to embed loads the model
        assert "loading the embedding model" in log.read_text()
        found = httpx.post(f"{url}/v1/retrieve", json=question, timeout=60).json()
        assert "Quillon Abernathy" in " ".join(s["snippet"] for s in found["sources"]), found
    finally:
        terminate(proc, timeout=60)
