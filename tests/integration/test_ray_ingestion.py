"""The Ray engine against a real ArcadeDB server and the real models: it must build the local engine's graph.

Corpus: `tests/data/musique_40.jsonl` (the first 40 passages of the shared MuSiQue sample, CC BY 4.0,
copied into the repository) and the six Markdown files of the sample corpus, cut into several batches so
that entities recur across batches written concurrently.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from graphrag.arcadedb import ArcadeDB, Connection, RetryPolicy
from graphrag.config import Settings
from graphrag.embeddings import SentenceTransformerEmbedder
from graphrag.types import SourceDocument
from ingestion.graph_diff import graph_differences, graph_snapshot, max_vector_gap
from ingestion.pipeline import IngestionConfig, IngestionPipeline
from ingestion.ray_engine import RayIngestionPipeline
from ingestion.ray_runtime import RayConfig, ensure_ray
from tests.chaos.harness import document_count, wait_until
from tests.conftest import free_port
from tests.procs import Descendants

ROOT = Path(__file__).resolve().parents[2]  # the CLI runs here, and names files relative to it: so do in-process runs
CORPUS = ROOT / "tests" / "data" / "musique_40.jsonl"
SAMPLE = ROOT / "api" / "sample_corpus"
pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One local Ray runtime for this module's in-process runs (2 CPUs: one NER and one embedding actor)."""
    import ray

    ensure_ray(RayConfig(local_cpus=2))
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def clean_run(server_settings: Settings, embedder: SentenceTransformerEmbedder,
              make_db: Callable[..., ArcadeDB]) -> ArcadeDB:
    """The corpus ingested by the local engine in 4-document batches, uninterrupted: the graph each CLI
    run below must equal. Built once for the module; the tests only read it."""
    clean = make_db("clean")
    IngestionPipeline(server_settings, clean, embedder,
                      config=IngestionConfig(documents_per_batch=4, id_root=ROOT)).run([CORPUS])
    return clean


def _same_graph(a: ArcadeDB, b: ArcadeDB) -> None:
    sa, sb = graph_snapshot(a), graph_snapshot(b)
    assert graph_differences(sa, sb) == []
    assert len(sa["entities"]) > 200 and sa["same_as"] and sa["next"]  # the corpus exercises every part
    assert max_vector_gap(sa, sb) < 1e-4


def test_ray_engine_builds_the_local_graph_and_replaces_like_it(
        local_ray: None, server_settings: Settings, embedder: SentenceTransformerEmbedder,
        make_db: Callable[..., ArcadeDB]) -> None:
    config = IngestionConfig(documents_per_batch=6)
    local_db, ray_db = make_db("lcl"), make_db("ray")
    local = IngestionPipeline(server_settings, local_db, embedder, config=config)
    on_ray = RayIngestionPipeline(server_settings, ray_db, embedder, config=config,
                                  ray_config=RayConfig(write_concurrency=3))
    sources = [CORPUS, SAMPLE]
    first_local, first_ray = local.run(sources), on_ray.run(sources)
    assert first_ray.exit_code == 0 and first_ray.documents_new == first_local.documents_new == 46
    assert first_ray.graph_after == first_local.graph_after
    stages = {w["stage"] for w in first_ray.workers}
    assert {"chunk", "extract", "embed_chunks", "embed_entities", "write"} <= stages
    _same_graph(local_db, ray_db)

    again = on_ray.run(sources)
    assert (again.documents_unchanged, again.documents_new, again.chunks) == (46, 0, 0)
    assert again.workers == []  # nothing to write: no actor pool was started

    # Changed documents: replaced in their batch's transaction (the Ray engine runs such a batch alone).
    docs = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    changed = [SourceDocument(id=d["id"], source="edit", title=d["title"],
                              text=d["text"] + (" Barack Obama visited Warsaw." if i % 7 == 0 else ""))
               for i, d in enumerate(docs)]
    second_local, second_ray = local.run(changed), on_ray.run(changed)
    assert second_ray.documents_replaced == second_local.documents_replaced == 6
    assert second_ray.orphan_entities_removed == second_local.orphan_entities_removed
    _same_graph(local_db, ray_db)


def test_an_outage_met_by_an_embedding_actor_ends_the_job_as_the_local_engines_do(
        local_ray: None, server_settings: Settings, embedder: SentenceTransformerEmbedder,
        make_db: Callable[..., ArcadeDB], monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedding actors reach a database that is down (their connection names a closed port) while
    the driver's is up: the actor's DatabaseUnavailableError must reach the driver and end the job with
    the local engine's one-line abort. Ray pickles an actor's exception without its `__cause__`, so
    raised inside a stage it arrived as a bare `UserCodeException` and the file failed as an internal
    error (the CI failure of the API's outage test, where the outage hit an actor before the writer)."""
    db = make_db("rayout")
    dead = Connection(urls=(f"http://127.0.0.1:{free_port()}",), database=db.database, user="root",
                      password="unused", timeout=2, retry=RetryPolicy(attempts=1, max_seconds=1))
    monkeypatch.setattr(db, "connection", lambda: dead)
    on_ray = RayIngestionPipeline(server_settings, db, embedder, config=IngestionConfig(documents_per_batch=20),
                                  ray_config=RayConfig())
    report = on_ray.run([CORPUS])
    assert report.abort_kind == "database_unavailable", report.aborted
    assert report.exit_code == 1 and report.aborted.startswith("DatabaseUnavailableError: ")
    assert "\n" not in report.aborted


def _cli(db: ArcadeDB, server: Any, *args: str) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "GRAPHRAG_DB_URL": server.url, "GRAPHRAG_DB_PASSWORD": server.password,
           "GRAPHRAG_DB_NAME": db.database, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return [sys.executable, "-m", "cli", "ingest", str(CORPUS), "--documents-per-batch", "4", "--no-progress",
            "--engine", "ray", *args], env


def test_driver_killed_mid_job_and_rerun_equals_a_clean_run(
        clean_run: ArcadeDB, make_db: Callable[..., ArcadeDB], server: Any, tmp_path: Path) -> None:
    db = make_db("rkill")
    cmd, env = _cli(db, server)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tree = Descendants(proc.pid)  # its local Ray runtime: a killed driver cannot stop it (see below)
    killed_at = None
    try:
        def two_batches_in() -> bool:  # two batches committed, more in flight
            tree.look(listeners=False)
            return document_count(db) >= 8

        if wait_until(proc, two_batches_in):
            proc.send_signal(signal.SIGKILL)  # kill -9 the driver
            killed_at = document_count(db)
        proc.wait(timeout=30)
    finally:
        # Ray's GCS, raylet and workers end with the driver; its dashboard and runtime-env agents
        # outlive a SIGKILL (docs/faults.md): this test's own leftovers, stopped by their pids.
        tree.alive_after(10)
        tree.kill_rest()
    assert killed_at is not None and killed_at < 40, "the job ended before it could be killed"

    report_file = tmp_path / "rerun.json"
    rerun = subprocess.run([*cmd, "--json", str(report_file)], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    report = json.loads(report_file.read_text())
    assert report["documents_unchanged"] >= killed_at and report["documents_new"] == 40 - report["documents_unchanged"]
    _same_graph(clean_run, db)


def _ray_start(*args: str, log: Path) -> subprocess.Popen[bytes]:
    """One Ray node (its own raylet), in the foreground (`--block`) so that it ends with this process;
    every port it opens is a free one."""
    ports = {"--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
             "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port"}
    ray_bin = str(Path(sys.executable).with_name("ray"))
    # Each node offers one slot per stage: the pools' two actors each must land on both nodes.
    cmd = [ray_bin, "start", *args, "--node-ip-address=127.0.0.1", "--num-cpus=2", "--object-store-memory=200000000",
           '--resources={"extract_slot": 1, "embed_slot": 1}',
           "--block", "--disable-usage-stats", *(f"{p}={free_port()}" for p in sorted(ports))]
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    return subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for_nodes(address: str, n: int, log: Path) -> None:
    """Until `ray status` lists `n` active nodes (the head answers, the second node has joined)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        out = subprocess.run([str(Path(sys.executable).with_name("ray")), "status", f"--address={address}"],
                             env={**os.environ, "RAY_AUTH_MODE": "token"}, capture_output=True, text=True,
                             timeout=60).stdout
        active = out.split("Active:", 1)[1].split("Pending:", 1)[0] if "Active:" in out else ""
        if sum(1 for line in active.splitlines() if "node_" in line) >= n:
            return
        time.sleep(2)
    raise AssertionError(f"{n} Ray node(s) not up: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End the node: the process group `ray start` leads (its raylet, GCS, agents and workers), nothing else."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # whatever ignored SIGTERM
    proc.wait(timeout=30)


def test_two_node_cluster_spreads_the_work_and_builds_the_same_graph(
        clean_run: ArcadeDB, make_db: Callable[..., ArcadeDB], server: Any, tmp_path: Path) -> None:
    # Ray 2.60 authenticates cluster members with a token (~/.ray/auth_token): made here if missing, never replaced.
    subprocess.run([str(Path(sys.executable).with_name("ray")), "get-auth-token", "--generate"], check=True,
                   capture_output=True, timeout=60)
    port = free_port()
    head = _ray_start("--head", f"--port={port}", "--include-dashboard=false", log=tmp_path / "head.log")
    worker = None
    try:
        address = f"127.0.0.1:{port}"
        _wait_for_nodes(address, 1, tmp_path / "head.log")
        worker = _ray_start(f"--address={address}", log=tmp_path / "worker.log")
        _wait_for_nodes(address, 2, tmp_path / "worker.log")

        db = make_db("ray2")
        cmd, env = _cli(db, server, "--ray-address", address, "--ray-extract-actors", "2", "--ray-embed-actors", "2",
                        "--ray-extract-resources", '{"extract_slot": 1}', "--ray-embed-resources", '{"embed_slot": 1}')
        env["RAY_AUTH_MODE"] = "token"
        report_file = tmp_path / "report.json"
        # Two actors per stage, each needing its stage's slot, of which every node has one: both nodes work.
        run = subprocess.run([*cmd, "--json", str(report_file)], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=900)
        assert run.returncode == 0, run.stderr[-3000:]
        report = json.loads(report_file.read_text())
        for stage in ("extract", "embed_chunks"):
            rows = [w for w in report["workers"] if w["stage"] == stage]
            assert len(rows) == 2 and len({w["node"] for w in rows}) == 2, rows  # one actor on each node
            assert sum(w["documents"] for w in rows) == 40
        # Embedding a batch takes longer than Ray Data takes to hand over the next one, so both embedding
        # actors get work. NER of 4 short passages may not (one actor can keep up with the hand-over rate,
        # and an idle actor is not given work): its row may show 0 batches, which is what the report is for.
        assert all(w["batches"] > 0 for w in report["workers"] if w["stage"] == "embed_chunks"), report["workers"]
        _same_graph(clean_run, db)
    finally:
        if worker is not None:
            _stop(worker)
        _stop(head)
