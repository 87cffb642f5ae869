"""Shared fixtures: one real ArcadeDB server per test session, started from the arcadedb-embedded wheel.

Each test module that needs data gets its own database on that server (`fresh_db`), so modules
cannot see each other's writes, and `schema reset` in one cannot break another.
"""

from __future__ import annotations

import itertools
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from graphrag.arcadedb import ArcadeDB, RetryPolicy
from graphrag.config import Settings
from graphrag.embedded import EmbeddedServer
from graphrag.embeddings import SentenceTransformerEmbedder
from graphrag.errors import ServerLaunchError
from graphrag.local_llm import LocalLLMServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Every ArcadeDB server the tests start (here, in fixtures, and through `graphrag up` / `db start` in
# subprocesses, which inherit this) compiles with the JVM's first JIT tier only. A test server lives
# seconds to minutes and runs each statement a few times: the optimising compiler's work is spent before
# it pays. Measured: a server started, three databases migrated and 150 statements run cost the server
# 7.0 s of CPU by default, 3.6 s with C1 alone; `python -m tests.run_groups` took 704 s instead of 766
# (2026-12-07, one run each, 636 passed both times). Behaviour is the JVM's either way; a service that
# runs for hours keeps the default (the service never sets this). JAVA_TOOL_OPTIONS set outside wins.
os.environ.setdefault("JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1")
# The question encoder's ONNX files (GRAPHRAG_MODEL_CACHE_DIR) are made once for a checkout's test runs,
# inside it, rather than in the user's cache or anew by every process that starts the API (3 s each).
os.environ.setdefault("GRAPHRAG_MODEL_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "models"))

_names = itertools.count()


def pytest_addoption(parser: pytest.Parser) -> None:
    # Here, not in tests/chaos/conftest.py: pytest reads options only from the root conftest.
    group = parser.getgroup("chaos", "chaos suite (tests/chaos)")
    group.addoption("--chaos-long", action="store_true", default=os.environ.get("CHAOS_LONG") == "1",
                    help="run the chaos suite's long form (20 client kills, 5 server kills, 5 concurrent runs); "
                         "also CHAOS_LONG=1")
    group.addoption("--chaos-seed", type=int, default=None,
                    help="seed of the chaos suite's random draws (default: a new one, printed in its table); "
                         "also CHAOS_SEED")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# `graphrag ask` and `search` send questions to a service when one answers at GRAPHRAG_API_URL (default
# 127.0.0.1:8000, where someone's `make run` may be serving another database). Tests point it at a port
# nothing listens on, so the commands answer from the test's own database unless a test names a service.
os.environ.setdefault("GRAPHRAG_API_URL", f"http://127.0.0.1:{free_port()}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A real ArcadeDB server on a free port in a temporary folder; fails (never skips) if it cannot start."""
    data_dir = tmp_path_factory.mktemp("arcadedb")
    srv = EmbeddedServer(data_dir, free_port(), "test-" + os.urandom(8).hex(), "graphrag", heap="1g")
    srv.start(timeout=120)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def server_settings(server: EmbeddedServer) -> Settings:
    return Settings(data_dir=server.data_dir, db_url=server.url, db_password=server.password,
                    db_name="graphrag", db_retries=3, db_retry_max_s=10)


@pytest.fixture(scope="session")
def make_db(server: EmbeddedServer, server_settings: Settings) -> Iterator[Callable[..., ArcadeDB]]:
    """Factory: a new, empty database on the session server (optionally migrated to head)."""
    opened: list[ArcadeDB] = []

    def factory(prefix: str = "t", *, migrate: bool = True) -> ArcadeDB:
        name = f"{prefix}_{next(_names)}_{os.getpid()}"
        db = ArcadeDB(server.url, name, "root", server.password, timeout=60,
                      retry=RetryPolicy(attempts=3, max_seconds=10))
        db.ensure_database()
        if migrate:
            from schema.runner import MigrationRunner

            MigrationRunner(db, embedding_dim=server_settings.embedding_dim).migrate()
        opened.append(db)
        return db

    yield factory
    for db in opened:
        db.close()


@pytest.fixture(scope="module")
def db(make_db: Callable[..., ArcadeDB], request: pytest.FixtureRequest) -> ArcadeDB:
    """A migrated database of this test module's own."""
    return make_db(request.module.__name__.rsplit(".", 1)[-1][:20])


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    """The real embedding model, loaded once for the whole session (about 750 MB)."""
    return SentenceTransformerEmbedder(expected_dim=384)


@pytest.fixture(scope="session")
def _llm_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLLMServer]:
    """The packaged SmolLM2-135M under llama.cpp (`make llm`), one process for the whole session.

    One generation thread: `make test` runs three pytest processes on two cores, and llama.cpp's threads
    wait for each other at every step by spinning, so a thread that loses its core stalls the other (the
    web console's streamed answer took 60 s there; alone it takes 10 s with one thread or two)."""
    server = LocalLLMServer(tmp_path_factory.mktemp("llm"), free_port(), "smollm2", context_tokens=2048, threads=1)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def llm_server(_llm_process: LocalLLMServer) -> LocalLLMServer:
    """The session's CPU answerer, running: started by the first module that needs it, and again by a
    later one when a test stopped it (`test_llm_server.py` ends with its stop). Failing to start fails
    the test."""
    try:
        _llm_process.start(timeout=180)  # idempotent: a running server is left as it is
    except ServerLaunchError as exc:
        pytest.fail(f"could not start the local llama.cpp server: {exc}")
    return _llm_process
