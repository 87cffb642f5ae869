"""The local Ray runtime that `graphrag ingest --engine ray` starts (no GRAPHRAG_RAY_ADDRESS): it listens
on loopback only, and none of its processes outlives the command, even one killed with SIGKILL. The real
CLI, in a subprocess, on a two-record corpus (a runtime start and the models' load are the cost)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from graphrag.arcadedb import ArcadeDB
from tests.procs import Descendants, not_loopback

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _ingest_on_a_local_runtime(db: ArcadeDB, server: Any, tmp_path: Path) -> subprocess.Popen[bytes]:
    """`graphrag ingest --engine ray` of a two-record corpus, started: its output goes to tmp_path/cli.log."""
    corpus = tmp_path / "two.jsonl"
    corpus.write_text("\n".join(json.dumps(r) for r in [
        {"id": "h-1", "title": "Gdańsk", "text": "Gdańsk is a port city on the Baltic coast of Poland."},
        {"id": "h-2", "title": "Poznań", "text": "Poznań lies on the Warta river in western Poland."}]) + "\n",
        encoding="utf-8")
    env = {**os.environ, "GRAPHRAG_DB_URL": server.url, "GRAPHRAG_DB_PASSWORD": server.password,
           "GRAPHRAG_DB_NAME": db.database, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("GRAPHRAG_RAY_ADDRESS", None)
    env.pop("RAY_ADDRESS", None)
    with (tmp_path / "cli.log").open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "cli", "ingest", str(corpus), "--no-progress",
                                 "--engine", "ray", "--ray-extract-actors", "1", "--ray-embed-actors", "1"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_the_cli_s_local_ray_runtime_listens_on_loopback_and_ends_with_the_command(
        make_db: Callable[..., ArcadeDB], server: Any, tmp_path: Path) -> None:
    proc = _ingest_on_a_local_runtime(make_db("rayrt"), server, tmp_path)
    log = tmp_path / "cli.log"
    tree = Descendants(proc.pid)
    try:
        deadline = time.monotonic() + 900
        while proc.poll() is None and time.monotonic() < deadline:
            tree.look()
            time.sleep(0.5)
        assert proc.wait(timeout=30) == 0, log.read_text()[-3000:]
        assert {"raylet", "gcs_server"} <= tree.names(), tree.names()  # it did start a local runtime
        assert tree.listening, "no Ray process was seen listening"
        assert not_loopback(tree.listening) == [], tree.listening
        assert tree.alive_after(15) == [], "Ray processes outlived `graphrag ingest`"
    finally:
        if proc.poll() is None:
            proc.kill()
        tree.kill_rest()


AGENTS = {"ray::DashboardAgent", "ray::RuntimeEnvAgent"}


def test_a_cli_killed_with_sigkill_mid_job_leaves_no_ray_process_behind(
        make_db: Callable[..., ArcadeDB], server: Any, tmp_path: Path) -> None:
    """No handler runs in a process killed with SIGKILL: Ray's GCS, raylet and workers share its fate, and
    the runtime's reaper (`ingestion/ray_reaper.py`) ends the rest. Before it, the raylet's two agents
    lived about a minute more, waiting out Ray's 60 s report of their raylet's death to a dead GCS.
    Killed as soon as the job runs an actor of its own (the runtime is whole by then)."""
    proc = _ingest_on_a_local_runtime(make_db("raykill"), server, tmp_path)
    tree = Descendants(proc.pid)
    try:
        deadline = time.monotonic() + 600
        while proc.poll() is None and time.monotonic() < deadline:
            tree.look(listeners=False)
            if {name for name in tree.names() if name.startswith("ray::")} - AGENTS - {"ray::IDLE"}:
                break
            time.sleep(0.25)
        assert proc.poll() is None, (tmp_path / "cli.log").read_text()[-3000:]
        assert {"raylet", "gcs_server"} | AGENTS <= tree.names(), tree.names()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert tree.alive_after(15) == [], "Ray processes outlived a SIGKILLed `graphrag ingest`"
    finally:
        if proc.poll() is None:
            proc.kill()
        tree.kill_rest()


def test_stopping_the_runtime_ends_its_processes_and_no_other_child() -> None:
    """`shutdown_local_ray` ends every process of the runtime it started (stragglers killed after the grace
    time), and only those: a child this process started after the runtime (a database server restarted
    under a running job, in the API's outage test) lives on."""
    import ray

    from ingestion.ray_runtime import RayConfig, ensure_ray, shutdown_local_ray

    ray.shutdown()
    tree = Descendants(os.getpid(), ignore_running=True)
    ensure_ray(RayConfig(local_cpus=1))
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        tree.look(listeners=False)
        assert {"raylet", "gcs_server"} <= tree.names(), tree.names()
        assert shutdown_local_ray(grace_s=5.0)
        ray_pids = [pid for pid in tree.seen if pid != other.pid]
        assert tree.alive_after(10) == [f"{other.pid} {tree.named[other.pid]}"], tree.alive()
        assert ray_pids and other.poll() is None  # the other child still runs
    finally:
        other.kill()
        ray.shutdown()
        tree.kill_rest()
