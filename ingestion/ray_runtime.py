"""The Ray runtime an ingest job runs on: where it is (`RayConfig`, from the `GRAPHRAG_RAY_*` settings), how
this process joins or starts it (`ensure_ray`), and how a runtime it started ends (`shutdown_local_ray`).

Apart from `ingestion/ray_engine.py`, which runs jobs on it, because the CLI and the API stop what a job
started without needing the engine, and the runtime's hygiene (loopback only, log levels, who stops it)
is one concern. What ends a runtime whose process was killed is `ingestion/ray_reaper.py`, a script of its
own.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from graphrag.config import Settings
from graphrag.errors import ConfigError
from ingestion import ray_reaper


class RayConfig(BaseModel):
    """Where the Ray engine runs and how wide each stage is."""

    address: str | None = Field(None, description="Ray cluster to join (`host:6379`, its GCS address; 'auto'); "
                                                   "unset = start a local Ray runtime in this process")
    extract_actors: int = Field(1, ge=1, le=1024, description="actors holding spaCy (chunking + NER)")
    embed_actors: int = Field(1, ge=1, le=1024, description="actors holding the embedding model")
    extract_cpus: float = Field(1.0, gt=0, description="CPUs reserved per extraction actor")
    embed_cpus: float = Field(1.0, gt=0, description="CPUs reserved per embedding actor (its torch threads)")
    embed_gpus: float | None = Field(None, ge=0, description="GPUs per embedding actor; unset = 1 when the "
                                                            "cluster has GPUs, else 0")
    extract_resources: dict[str, float] = Field(default_factory=dict, description="custom Ray resources each "
                                                "extraction actor needs (pins the stage to nodes offering them)")
    embed_resources: dict[str, float] = Field(default_factory=dict, description="custom Ray resources each "
                                              "embedding actor needs (e.g. the GPU machines' own resource)")
    actor_start_timeout_s: int = Field(600, ge=1, description="how long the actor pools may take to start (model "
                                                               "loading, a node joining) before the job fails")
    write_concurrency: int = Field(2, ge=1, le=64, description="write transactions in flight at once")
    write_attempts: int = Field(12, ge=1, le=100, description="tries of one batch's transaction on conflicts "
                                                              "(concurrent writers touch the same entities)")
    queue_batches: int = Field(8, ge=1, description="planned batches waiting for the extraction pool")
    local_cpus: int | None = Field(None, ge=1, description="CPUs of a local runtime (unset: all of them)")
    local_object_store_mb: int = Field(512, ge=100, description="object store of a local runtime")
    log_level: int = Field(logging.WARNING, ge=0, le=50, description="level of Ray's and Ray Data's loggers in "
                                                                      "the driver (Ray's own notices are WARNINGs)")
    ship_code: bool = Field(True, description="send this checkout's `graphrag` and `ingestion` packages to the "
                                              "workers (runtime_env py_modules); off when the nodes run the "
                                              "same image")


def ray_config_from(settings: Settings) -> RayConfig:
    """The engine's settings (`GRAPHRAG_RAY_*`)."""
    return RayConfig(address=settings.ray_address, extract_actors=settings.ray_extract_actors,
                     embed_actors=settings.ray_embed_actors, embed_gpus=settings.ray_embed_gpus,
                     extract_resources=settings.ray_extract_resources or {},
                     embed_resources=settings.ray_embed_resources or {},
                     write_concurrency=settings.ray_write_concurrency,
                     log_level=logging.getLevelName(settings.ray_log_level))


_local_started = False  # this process started the local runtime it is joined to (`ensure_ray`)
_children_before: set[int] = set()  # this process's children before it started that runtime
_reaper: subprocess.Popen[bytes] | None = None  # ends that runtime should this process die (`ray_reaper`)


def ensure_ray(config: RayConfig) -> None:
    """Join `config.address`, or start a local runtime on loopback; a process that already joined one keeps it.

    A runtime started here is this process's: `shutdown_local_ray` stops it (the CLI when the command
    ends, the API on shutdown). Ray would stop it at a normal exit, but not in a process that lives on;
    and should this process be killed, the runtime's reaper ends it (`ingestion/ray_reaper.py`).
    """
    global _local_started, _children_before
    try:
        import ray
    except ImportError:
        raise ConfigError("the Ray engine needs Ray: pip install 'graphrag-arcadedb[ray]' "
                          "(or use GRAPHRAG_INGEST_ENGINE=local)") from None

    if ray.is_initialized():
        return
    _local_started = False  # whatever this process started before has been shut down
    runtime_env: dict[str, Any] = {"env_vars": {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}}
    if config.ship_code:
        import graphrag

        # This package by its folder: importing `ingestion` here (its __init__ imports the engine choice,
        # which imports this module) would close an import cycle.
        runtime_env["py_modules"] = [graphrag, str(Path(__file__).resolve().parent)]
    kwargs: dict[str, Any] = {"runtime_env": runtime_env, "log_to_driver": False, "configure_logging": True,
                              "logging_level": config.log_level}
    try:
        if config.address:
            ray.init(address=config.address, **kwargs)
        else:
            _children_before = {p.pid for p in _descendants()}
            _start_local(ray, config, kwargs)
            _local_started = True
    except ConnectionError as exc:
        raise ConfigError(f"cannot join the Ray cluster at {config.address!r}: {exc}") from exc


def _start_local(ray: Any, config: RayConfig, kwargs: dict[str, Any]) -> None:
    """A new runtime of this process, every server of it (GCS, raylet, agents, workers) on 127.0.0.1.

    `address="local"`: a new runtime even where `ray start` left a cluster running (a bare `ray.init()`
    would join that one). Loopback: Ray takes the node's address for a local runtime from
    `services.get_node_ip_address`, which gives the machine's routable address (and turns a
    `_node_ip_address` of 127.0.0.1 into it too) unless Ray holds clusters unsupported, as on macOS
    and Windows; then it is 127.0.0.1, and the raylet and GCS bind their servers to it and hand it
    to the agents and workers. That switch is held off for this call only. Nobody else needs to
    reach this runtime: it is this process's and ends with it. A runtime other machines join is a
    cluster started with `ray start` and given by address (GRAPHRAG_RAY_ADDRESS).
    """
    from ray._private import ray_constants

    cluster_mode = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(address="local", _node_ip_address="127.0.0.1", num_cpus=config.local_cpus,
                 include_dashboard=False, object_store_memory=config.local_object_store_mb * 1024 * 1024,
                 **kwargs)
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = cluster_mode
    _start_reaper()


def _start_reaper() -> None:
    """The runtime's reaper (`ingestion/ray_reaper.py`): a process apart, its stdin a pipe only this
    process holds, that ends the runtime's processes once this one is gone, even killed with SIGKILL.

    POSIX only: on Windows Ray ties the runtime to its driver with a job object of its own, and marks no
    process with its raylet's pid (`ray/_private/process_watcher.py`).
    """
    global _reaper
    _stop_reaper()  # one a runtime before this one had (that runtime stopped by `ray.shutdown` directly)
    if os.name != "posix":
        return
    thirdparty = Path(_psutil().__file__).resolve().parents[1]  # ray/thirdparty_files: Ray's psutil
    _reaper = subprocess.Popen([sys.executable, str(Path(ray_reaper.__file__).resolve()), str(os.getpid())],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "PYTHONPATH": str(thirdparty)})


def _stop_reaper(timeout_s: float = 10.0) -> None:
    """Close the reaper's pipe (it ends what is left of the runtime, then itself) and wait for it."""
    global _reaper
    if _reaper is None:
        return
    reaper, _reaper = _reaper, None
    if reaper.stdin is not None:
        with contextlib.suppress(OSError):
            reaper.stdin.close()
    try:
        reaper.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        reaper.kill()
        reaper.wait()


def shutdown_local_ray(grace_s: float = 10.0) -> bool:
    """Stop the local runtime `ensure_ray` started in this process, with every process of it; True if
    there was one. A cluster joined by address is left alone: it is not ours to stop.

    `ray.shutdown` stops the GCS and the raylet; their workers and agents notice and exit on their own,
    but one busy in native code (an embedding actor loading its model, on a loaded machine) can take
    longer than a service's stop should wait, and lives on as an orphan. So the runtime's processes
    (this process's descendants that were not there before the runtime started and are Ray's: never
    another child, such as a database server restarted meanwhile) get `grace_s` to end, then are killed.
    The runtime's reaper goes last.
    """
    global _local_started
    if not _local_started:
        return False
    import ray

    others = _children_before | ({_reaper.pid} if _reaper is not None else set())
    runtime = [p for p in _descendants() if p.pid not in others and ray_reaper.is_ray(p)]
    ray.shutdown()
    _local_started = False
    _end(runtime, grace_s)
    _stop_reaper()
    return True


def _descendants() -> list[Any]:
    psutil = _psutil()
    try:
        return list(psutil.Process().children(recursive=True))
    except psutil.Error:
        return []


def _end(processes: list[Any], grace_s: float) -> None:
    psutil = _psutil()
    _, alive = psutil.wait_procs(processes, timeout=grace_s)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    if alive:
        logging.getLogger(__name__).info("killed %d Ray process(es) still running %.0f s after the runtime stopped",
                                         len(alive), grace_s)


def _psutil() -> Any:
    """psutil, which comes with Ray (`ray/thirdparty_files`, which `import ray` puts on `sys.path`)."""
    importlib.import_module("ray")
    return importlib.import_module("psutil")
