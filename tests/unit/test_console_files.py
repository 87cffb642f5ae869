"""The web console ships with the package: its page, modules and the vendored Cytoscape.js are package
data of `api`, served by every installation (wheel, editable checkout, image) without npm."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from fastapi.testclient import TestClient

from api.main import create_app
from api.web import CYTOSCAPE, STATIC_DIR
from graphrag.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_vendored_graph_library_is_the_pinned_version() -> None:
    lock = json.loads((ROOT / "web" / "package-lock.json").read_text(encoding="utf-8"))
    pinned = lock["packages"]["node_modules/cytoscape"]["version"]
    assert f'version="{pinned}"' in CYTOSCAPE.read_text(encoding="utf-8")  # the library's own version string
    assert "MIT" in (CYTOSCAPE.parent / "cytoscape.LICENSE").read_text(encoding="utf-8")


def test_the_app_serves_the_graph_library_from_the_package() -> None:
    client = TestClient(create_app(Settings()), base_url="http://127.0.0.1:8000")
    module = client.get("/ui/vendor/cytoscape.js")
    assert module.status_code == 200 and module.headers["content-type"].startswith("text/javascript")
    assert module.content == CYTOSCAPE.read_bytes()
    assert client.get("/").status_code == 200 and client.get("/ui/js/graph.js").status_code == 200


def test_a_wheel_carries_the_console_and_its_library(tmp_path: Path) -> None:
    """Built from a copy of the sources (the build writes build/ and egg-info beside them)."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("graphrag", "ingestion", "schema", "api", "cli"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "--wheel-dir", str(tmp_path / "dist"), str(source)], check=True, timeout=300)
    [wheel] = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    console = {f"api/{p.relative_to(STATIC_DIR.parent).as_posix()}" for p in STATIC_DIR.rglob("*") if p.is_file()}
    assert "api/console/vendor/cytoscape.esm.min.mjs" in console and "api/console/index.html" in console
    assert console <= names, sorted(console - names)
