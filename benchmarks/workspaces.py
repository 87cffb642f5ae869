"""What a workspace costs when it sits idle, and how many one machine holds: a fresh embedded ArcadeDB
and the real API (`python -m cli serve`), with N workspaces made through the service's own code.

    python benchmarks/workspaces.py --count 100 --json benchmarks/measured/workspaces_100.json

Measured, with the commit and the load average: the database server's memory and disk after 0, 10,
25, 50 and N workspaces (each created and migrated, then one small document ingested into each
through `POST /v1/workspaces/{ws}/documents`); the seconds to create one; the server's restart time
and memory with all of them; the API's start-up and memory before and after every workspace has
answered a question; and the latency of a workspace's first question (its parts are built then)
and of a later one. Numbers are printed and written as JSON; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, run as a script
from benchmarks._meta import ROOT, free_port, git_commit, percentile, rss_mb, wait_ready
from benchmarks.scale import folder_bytes
from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings, ensure_password_file
from graphrag.embedded import EmbeddedServer
from schema.runner import MigrationRunner
from schema.workspaces import WorkspaceCatalog

log = logging.getLogger("workspaces")
DATABASE = "graphrag"
STEPS = (0, 10, 25, 50)


def server_pid(server: EmbeddedServer) -> int:
    pid = server.status().pid
    if pid is None:
        raise SystemExit("the database server reports no pid")
    return pid


def document(i: int) -> dict[str, str]:
    return {"id": f"note-{i}", "title": f"Station {i}",
            "text": f"Station {i} of the survey lies on the ridge above Lake Varnow. The surveyor Tamsin Hale "
                    f"measured station {i} in the spring and named it after the ridge."}


def start_api(server: EmbeddedServer, folder: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    port = free_port()
    env = {**os.environ, "GRAPHRAG_DB_URL": server.url, "GRAPHRAG_DB_PASSWORD": server.password,
           "GRAPHRAG_DB_NAME": DATABASE, "GRAPHRAG_API_PORT": str(port), "GRAPHRAG_API_KEYS_REQUIRED": "false",
           "GRAPHRAG_DATA_DIR": str(folder / "api-data"), "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve"], cwd=ROOT, env=env,
                            stdout=(folder / "api.log").open("ab"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    if not wait_ready(proc, url):
        raise SystemExit(f"the API exited during start-up; see {folder / 'api.log'}")
    return proc, url, round(time.perf_counter() - started, 2)


def timed_questions(http: httpx.Client, names: list[str]) -> list[float]:
    latencies = []
    for name in names:
        started = time.perf_counter()
        response = http.post(f"/v1/workspaces/{name}/retrieve", json={"question": "Who measured the station on "
                                                                                  "the ridge above Lake Varnow?"})
        latencies.append(round((time.perf_counter() - started) * 1000, 1))
        if response.status_code != 200 or not response.json()["sources"]:
            raise SystemExit(f"workspace {name}: {response.status_code} {response.text[:300]}")
    return latencies


def summary(latencies: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(latencies), 1), "p95_ms": round(percentile(latencies, 95), 1),
            "max_ms": max(latencies)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="graphrag-workspaces-"))
    password = ensure_password_file(folder / "password")
    server = EmbeddedServer(folder, free_port(), password, DATABASE, heap=args.heap)
    started = time.perf_counter()
    server.start(timeout=300)
    result: dict[str, Any] = {"commit": git_commit(), "command": " ".join(sys.argv[1:]), "workspaces": args.count,
                              "heap": args.heap, "load_average_start": os.getloadavg()[0],
                              "server_start_s_empty": round(time.perf_counter() - started, 1)}
    settings = Settings(db_url=server.url, db_password=password, db_name=DATABASE, data_dir=folder)
    db = ArcadeDB(server.url, DATABASE, "root", password, timeout=120)
    db.ensure_database()
    MigrationRunner(db, embedding_dim=settings.embedding_dim).migrate()
    catalog = WorkspaceCatalog(settings, db)
    names = [f"ws{i:03d}" for i in range(args.count)]
    api, url, startup_s = start_api(server, folder)
    result["api_startup_s"] = startup_s
    result["api_rss_mb_after_start"] = rss_mb(api.pid)
    steps: list[dict[str, Any]] = []
    create_s: list[float] = []
    try:
        with httpx.Client(base_url=url, timeout=300) as http:
            for i, name in enumerate(names):
                if i in STEPS:
                    steps.append({"workspaces": i, "server_rss_mb": rss_mb(server_pid(server)),
                                  "disk_mb": round(folder_bytes(folder) / 1e6, 1)})
                    log.info("%s", steps[-1])
                t0 = time.perf_counter()
                catalog.create(name)
                create_s.append(time.perf_counter() - t0)
                stored = http.post(f"/v1/workspaces/{name}/documents", json=document(i))
                if stored.status_code != 201:
                    raise SystemExit(f"workspace {name}: {stored.status_code} {stored.text[:300]}")
            steps.append({"workspaces": len(names), "server_rss_mb": rss_mb(server_pid(server)),
                          "disk_mb": round(folder_bytes(folder) / 1e6, 1)})
            log.info("%s", steps[-1])
            result["create_s"] = {"p50": round(statistics.median(create_s), 2),
                                  "p95": round(percentile(create_s, 95), 2), "max": round(max(create_s), 2)}
            result["api_rss_mb_after_ingest_everywhere"] = rss_mb(api.pid)
            result["first_question"] = summary(timed_questions(http, names))
            result["later_question"] = summary(timed_questions(http, names))
            result["api_rss_mb_after_questions_everywhere"] = rss_mb(api.pid)
    finally:
        api.terminate()
        api.wait(timeout=60)
    result["steps"] = steps
    db.close()
    server.stop(timeout=300)
    started = time.perf_counter()
    server.start(timeout=900)
    result["server_restart_s"] = round(time.perf_counter() - started, 1)
    result["server_rss_mb_after_restart"] = rss_mb(server_pid(server))
    api, url, startup_s = start_api(server, folder)
    try:
        result["api_startup_s_after_restart"] = startup_s
        with httpx.Client(base_url=url, timeout=300) as http:
            result["first_question_after_restart"] = summary(timed_questions(http, names))
        result["server_rss_mb_after_questions_after_restart"] = rss_mb(server_pid(server))
    finally:
        api.terminate()
        api.wait(timeout=60)
        server.stop(timeout=300)
    result["load_average_end"] = os.getloadavg()[0]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100, help="workspaces to make")
    parser.add_argument("--heap", default="2g", help="the database server's Java heap (the embedded default)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result = run(args)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
