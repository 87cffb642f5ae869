"""Fairness benchmark: a 1,000-file ingest job through the API, and a small job submitted beside it.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/ingest_fairness.py \\
        [--files 1000] [--json benchmarks/results/ingest_fairness.json]

Starts its own ArcadeDB server in a temporary folder, migrates it, writes `--files` small Markdown files
(one short paragraph each) and one small file into the API's allowed ingest folder, and runs the app in
process (keyless, local engine). It submits the big job as a server-path job (`POST /v1/ingest/jobs`),
waits until its first files are stored, submits the one-file job, and reports how long the small one
took from its submission to `succeeded` (and how many of the big job's files were still to go then),
and the big job's documents/s over its whole run. Never asserts: it measures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, run as a script

from benchmarks._meta import free_port, git_commit  # first: importing it is the start-up

# isort: split
from fastapi.testclient import TestClient

from api.components import build_components
from api.main import create_app
from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from graphrag.embedded import EmbeddedServer
from schema.runner import MigrationRunner

CITIES = ["Gdańsk", "Kraków", "Poznań", "Wrocław", "Toruń", "Lublin", "Szczecin", "Łódź"]


def write_corpus(folder: Path, n: int) -> None:
    (folder / "big").mkdir(parents=True)
    (folder / "small").mkdir()
    for i in range(n):
        city = CITIES[i % len(CITIES)]
        (folder / "big" / f"note-{i:04d}.md").write_text(
            f"# Note {i}\n{city} hosted meeting {i} of the Baltic trade council; report {i} was filed by "
            f"the harbour office of {city}.\n", encoding="utf-8")
    (folder / "small" / "one.md").write_text("# One\nGdynia is a port city on the Baltic coast.\n", encoding="utf-8")


def job(client: TestClient, job_id: str) -> dict[str, Any]:
    return dict(client.get(f"/v1/ingest/jobs/{job_id}").json())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        srv = EmbeddedServer(base / "db", free_port(), "pw-" + os.urandom(8).hex(), "graphrag", heap="1g")
        srv.start(timeout=180)
        try:
            db = ArcadeDB(srv.url, "graphrag", "root", srv.password, timeout=30)
            MigrationRunner(db, embedding_dim=384).migrate()
            write_corpus(base / "allowed", args.files)
            settings = Settings(data_dir=base / "data", db_url=srv.url, db_password=srv.password, db_name="graphrag",
                                api_keys_required=False, api_allowed_ingest_dir=base / "allowed",
                                api_allowed_hosts=["testserver"])
            components = build_components(settings, db)
            with TestClient(create_app(settings, components=components)) as client:
                t_big = time.monotonic()
                big = client.post("/v1/ingest/jobs", json={"paths": ["big"]}).json()["id"]
                while job(client, big)["progress"]["done"] < 5:  # the big job is under way
                    time.sleep(0.2)
                t_small = time.monotonic()
                small = client.post("/v1/ingest/jobs", json={"paths": ["small"]}).json()["id"]
                while (s := job(client, small))["state"] not in ("succeeded", "failed"):
                    time.sleep(0.1)
                small_wait = time.monotonic() - t_small
                big_left = args.files - job(client, big)["progress"]["done"]
                while (b := job(client, big))["state"] not in ("succeeded", "failed"):
                    time.sleep(0.5)
                big_seconds = time.monotonic() - t_big
            documents = int(db.cypher("MATCH (d:Document) RETURN count(d) AS n")[0]["n"])
            db.close()
        finally:
            srv.stop()
    result = {
        "benchmark": "ingest_fairness", "commit": git_commit(), "python": platform.python_version(),
        "cpus": os.cpu_count(), "files": args.files,
        "small_job": {"state": s["state"], "seconds_submit_to_end": round(small_wait, 2),
                      "big_job_files_left_then": big_left},
        "big_job": {"state": b["state"], "seconds": round(big_seconds, 1),
                    "documents": b["summary"]["documents"], "docs_per_s": round(args.files / big_seconds, 2)},
        "documents_stored": documents,
    }
    print(f"small job: {s['state']} {small_wait:.2f} s after its submission "
          f"(the big job had {big_left} of {args.files} files to go)")
    print(f"big job: {b['state']} {args.files} files in {big_seconds:.1f} s = {args.files / big_seconds:.2f} docs/s "
          f"({documents} documents stored)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
