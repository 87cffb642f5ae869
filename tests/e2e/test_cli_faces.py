"""The command line as users start it: each command in its own process (so what it imports and prints
is its own), against the real database and a real running service.

- commands that need no model load none (`documents list`, a mistyped path);
- `ask` and `search` send the question to a running service when one answers, and load the models
  only when none does;
- no progress bar or library warning reaches the terminal unless -v.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.deps import Components
from api.main import create_app
from api.server import SAMPLE_CORPUS
from graphrag.config import Settings
from graphrag.embedded import EmbeddedServer
from tests.conftest import free_port
from tests.e2e.conftest import auth, live_server

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "Which river flows through the city where Marie Curie was born?"
MODEL_MODULES = ("torch", "sentence_transformers", "transformers", "spacy")

# Runs `graphrag ARGS...` as the console script does, then says on stderr which model libraries the
# command imported and how transformers was told to log (when it was imported at all).
_RUN = f"""
import sys
from cli.main import main
sys.argv = ["graphrag", *sys.argv[1:]]
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
loaded = [m for m in {MODEL_MODULES!r} if m in sys.modules]
print("LOADED=" + ",".join(loaded), file=sys.stderr)
if "transformers" in sys.modules:
    import transformers
    print(f"TRANSFORMERS_VERBOSITY={{transformers.logging.get_verbosity()}}", file=sys.stderr)
sys.exit(code)
"""


def graphrag(*args: str, env: dict[str, str], cwd: Path = ROOT) -> tuple[int, str, str, list[str]]:
    """(exit code, stdout, stderr without the probe's lines, the model libraries it imported)."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("GRAPHRAG_", "HF_HUB_DISABLE", "TRANSFORMERS_"))}
    done = subprocess.run([sys.executable, "-c", _RUN, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**clean, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **env})
    lines = done.stderr.splitlines()
    loaded = next(line for line in lines if line.startswith("LOADED="))[len("LOADED="):]
    stderr = "\n".join(line for line in lines if not line.startswith("LOADED="))
    return done.returncode, done.stdout, stderr, [m for m in loaded.split(",") if m]


@pytest.fixture(scope="module")
def cli_env(server: EmbeddedServer, settings: Settings) -> dict[str, str]:
    """The test database, and no service: a port nothing listens on."""
    return {"GRAPHRAG_DB_URL": server.url, "GRAPHRAG_DB_PASSWORD": server.password,
            "GRAPHRAG_DB_NAME": settings.db_name, "GRAPHRAG_API_URL": f"http://127.0.0.1:{free_port()}"}


@pytest.fixture(scope="module")
def service(settings: Settings, components: Components, keys: dict[str, str]) -> Iterator[str]:
    """The real app under uvicorn with the sample corpus, keys required."""
    with live_server(create_app(settings, components=components)) as url:
        files = [("files", (p.name, p.read_bytes(), "text/markdown")) for p in sorted(SAMPLE_CORPUS.glob("*.md"))]
        stored = httpx.post(f"{url}/v1/documents", files=files, headers=auth(keys["admin"]), timeout=300)
        assert stored.status_code == 201, stored.text
        yield url


def test_documents_list_loads_no_model(service: str, cli_env: dict[str, str]) -> None:
    code, stdout, stderr, loaded = graphrag("documents", "list", env=cli_env)
    assert code == 0, stderr
    assert "Warsaw" in stdout
    assert loaded == [], loaded


def test_a_mistyped_path_is_refused_before_anything_loads(cli_env: dict[str, str], tmp_path: Path) -> None:
    code, _, stderr, loaded = graphrag("ingest", str(tmp_path / "no-such.md"), str(tmp_path / "*.nothing"),
                                       env=cli_env)
    assert code == 1
    assert "no-such.md: no such file or folder" in stderr and "the pattern matched no file" in stderr
    assert loaded == [], loaded


def test_ask_and_search_go_to_the_running_service(service: str, cli_env: dict[str, str],
                                                  keys: dict[str, str]) -> None:
    env = {**cli_env, "GRAPHRAG_API_URL": service, "GRAPHRAG_API_KEY": keys["read"]}
    code, stdout, stderr, loaded = graphrag("ask", QUESTION, env=env)
    assert code == 0, stderr
    assert f"(service at {service})" in stdout
    assert re.search(r"^\[\d\] .+ \(upload-[0-9a-f]+\): ", stdout, re.M), stdout  # [n] title (document id): snippet
    assert loaded == [], loaded  # the service's models answered

    code, stdout, stderr, loaded = graphrag("search", QUESTION, "--top-k", "3", env=env)
    assert code == 0, stderr
    sources = httpx.post(f"{service}/v1/retrieve", json={"question": QUESTION, "top_k": 3},
                         headers=auth(keys["read"]), timeout=60).json()["sources"]
    assert all(s["snippet"][:60] in stdout for s in sources), stdout  # passage text, not only ids
    assert loaded == [], loaded

    code, _, stderr, loaded = graphrag("ask", QUESTION, env={**env, "GRAPHRAG_API_KEY": ""})
    assert code == 1 and "GRAPHRAG_API_KEY" in stderr and loaded == []
    code, _, stderr, _ = graphrag("ask", QUESTION, "--workspace", "nosuch", env=env)
    assert code == 4 and "no workspace named 'nosuch'" in stderr


def test_without_a_service_the_command_answers_itself_quietly(service: str, cli_env: dict[str, str]) -> None:
    code, stdout, stderr, loaded = graphrag("search", QUESTION, "--top-k", "3", env=cli_env)
    assert code == 0, stderr
    assert stdout.startswith("[1] ") and "service at" not in stdout
    assert len(stdout.splitlines()[1].strip()) > 40  # the first passage's text under its line
    assert "sentence_transformers" in loaded  # it loaded the models itself
    assert "no graphrag service answers at" in stderr  # and said why it takes a while
    assert "Loading weights" not in stderr + stdout and "it/s" not in stderr  # no progress bar
    assert "TRANSFORMERS_VERBOSITY=40" in stderr  # transformers' warnings (loss_type=None) silenced

    code, _, stderr, _ = graphrag("ask", "", env=cli_env)
    assert code == 2 and "the question is empty" in stderr


def test_ingested_files_are_named_relative_to_the_current_folder(cli_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "kestrel.md").write_text("# Kestrel Mill\n\nKestrel Mill grinds rye on the river Ambrell.",
                                                   encoding="utf-8")
    code, _, stderr, _ = graphrag("ingest", "--no-progress", str(tmp_path / "notes"), env=cli_env, cwd=tmp_path)
    assert code == 0, stderr
    code, stdout, stderr, _ = graphrag("documents", "show", "notes/kestrel.md", env=cli_env)
    assert code == 0, stderr
    assert '"source": "notes/kestrel.md"' in stdout and str(tmp_path) not in stdout
