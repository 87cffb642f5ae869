"""Serve an evaluation database with the real API, for load benchmarks on a real corpus.

    python benchmarks/serve_eval.py --db-dir DB_DIR --dataset musique_100 [--port 8000] [--workers 1]

DB_DIR is a folder that `benchmarks/eval.py DIR --db-dir DB_DIR` ingested. Starts its ArcadeDB
server and `graphrag serve` against it (keys off, loopback), prints the URL, and stops both on
Ctrl-C. Then, in another terminal:

    python benchmarks/load.py --url http://127.0.0.1:8000 --concurrency 8 --duration 30 \\
        --questions ../shared/eval/musique_100/questions.jsonl --endpoint retrieve
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, run as a script

from benchmarks._meta import (
    ROOT,
    free_port,
    wait_ready,
)
from benchmarks.eval import database_name, server_password
from graphrag.embedded import EmbeddedServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-dir", type=Path, required=True)
    parser.add_argument("--dataset", required=True, help="e.g. musique_100 (names the database)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    folder = args.db_dir.resolve()
    if not folder.is_dir():
        parser.error(f"no database folder at {folder}")
    server, api_env = start_database(folder, args.dataset, args.port, workers=args.workers)
    api = subprocess.Popen([sys.executable, "-m", "cli", "serve"], cwd=ROOT, env={**os.environ, **api_env})
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops both too, not only Ctrl-C in a terminal
    try:
        url = f"http://127.0.0.1:{args.port}"
        if not wait_ready(api, url, every=0.5):
            return 1
        print(f"serving {server.database} at {url} (database {server.url}); Ctrl-C stops both", flush=True)
        api.wait()
    except KeyboardInterrupt:
        pass
    finally:
        api.terminate()
        api.wait(timeout=60)
        server.stop()
    return 0


def start_database(folder: Path, dataset: str, api_port: int, *,
                   workers: int = 1) -> tuple[EmbeddedServer, dict[str, str]]:
    """The ArcadeDB server of an ingested eval folder, started, and the variables that point an API at it
    (keys off, loopback, its data under the folder's `api-data`)."""
    password = server_password(folder)
    server = EmbeddedServer(folder, free_port(), password, database_name(dataset))
    server.start(timeout=300)
    return server, {"GRAPHRAG_DB_URL": server.url, "GRAPHRAG_DB_PASSWORD": password,
                    "GRAPHRAG_DB_NAME": server.database, "GRAPHRAG_API_PORT": str(api_port),
                    "GRAPHRAG_API_KEYS_REQUIRED": "false", "GRAPHRAG_API_WORKERS": str(workers),
                    "GRAPHRAG_DATA_DIR": str(folder / "api-data"), "HF_HUB_OFFLINE": "1"}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
