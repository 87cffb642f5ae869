"""Running the service: `graphrag serve` (the API alone) and `graphrag up` (everything, embedded).

`up` starts what is missing (the embedded database, the schema, a sample corpus on an empty
database), serves the API on loopback, and on Ctrl-C stops exactly what it started.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from api.context import LOG_FORMAT, install_log_record_factory
from api.deps import Components
from api.security import check_exposure, exposure_message
from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from graphrag.store import GraphStore

log = logging.getLogger("api.server")

SAMPLE_CORPUS = Path(__file__).resolve().parent / "sample_corpus"
SAMPLE_QUESTION = "Which river flows through the city where Marie Curie was born?"


def configure_logging(verbose: bool = False) -> None:
    """Every line carries the request id (`-` outside a request)."""
    install_log_record_factory()
    root = logging.getLogger()
    for handler in root.handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
    if not root.handlers:
        logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    for noisy in ("httpx", "httpcore", "sentence_transformers", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def banner(settings: Settings, mode: str | None) -> str:
    url = f"http://{settings.api_host}:{settings.api_port}"
    auth = "" if not settings.api_keys_enforced else ' -H "X-API-Key: $GRAPHRAG_API_KEY"'
    closed = [name for name, public in (("docs", settings.api_docs_public), ("metrics", settings.api_metrics_public))
              if not public]
    lines = [f"graphrag API on {url}  (docs: {url}/docs, metrics: {url}/metrics"
             + (f"; {' and '.join(closed)} need a key)" if closed else ")")]
    if mode:
        lines.append(f"answerer: {mode}")
    if (message := exposure_message(settings)) is not None:
        lines.append(message)
    lines.append("try:")
    lines.append(f"  curl -s {url}/v1/ask{auth} -H 'Content-Type: application/json' \\\n"
                 f"    -d '{{\"question\": \"{SAMPLE_QUESTION}\"}}'")
    lines.append("Ctrl-C stops everything this command started.")
    return "\n".join(lines)


def limit_native_threads(threads: int) -> None:
    """One thread per torch / BLAS call: requests run concurrently in the threadpool, and each of
    them also spinning up multi-threaded kernels oversubscribes the cores. Measured on 2 cores with
    8 clients on /v1/retrieve: 3.2 req/s with the libraries' defaults, 14.4 req/s with 1 thread."""
    if threads <= 0:
        return
    import torch

    torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # BLAS keeps its default; torch was the larger share
        return
    threadpool_limits(threads)


def serve(settings: Settings, components: Components | None = None, *,
          echo: Callable[[str], None] = print) -> None:
    """Serve the API until interrupted (uvicorn handles SIGINT/SIGTERM gracefully)."""
    from api.main import create_app

    check_exposure(settings)  # before any worker starts: a refused setting is one error line, not N crashes
    if settings.api_workers > 1:
        if components is None:
            serve_workers(settings, echo=echo)
            return
        echo(f"api_workers={settings.api_workers} ignored: this command serves components it already "
             "built, in one process (use `graphrag serve` for workers)")
    limit_native_threads(settings.api_native_threads)
    app = create_app(settings, components=components)
    mode = getattr(components.answerer, "mode", None) if components else None
    echo(banner(settings, mode))
    uvicorn.Server(uvicorn_config(app, settings)).run()


def uvicorn_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """uvicorn's settings for the API: our h11 protocol with its request-head deadline
    (`api_header_timeout_s`) and the keep-alive time-out (`api_keep_alive_s`), against slow or idle
    connections (slowloris); no access log of uvicorn's own (ours escapes what clients send)."""
    from api.protocol import CONFIG_ATTRIBUTE, PROTOCOL

    config = uvicorn.Config(app, host=settings.api_host, port=settings.api_port, log_config=None, access_log=False,
                            timeout_graceful_shutdown=10, http=PROTOCOL,
                            timeout_keep_alive=settings.api_keep_alive_s,  # type: ignore[arg-type]
                            proxy_headers=True, forwarded_allow_ips=settings.api_forwarded_allow_ips,
                            **options)
    setattr(config, CONFIG_ATTRIBUTE, settings.api_header_timeout_s)
    return config


def serve_workers(settings: Settings, *, echo: Callable[[str], None] = print) -> None:
    """`api_workers` processes behind one port (uvicorn's supervisor; each worker its own models).

    Python runs one thread at a time per process; a second process uses the second core for the
    request work the GIL serialises (measured on 2 cores before the CPU lock: about +10% throughput,
    so the default stays one process; docs/api.md).
    Workers rebuild the settings from `GRAPHRAG_*` variables (this process's settings, CLI options
    included, are exported first) and report metrics through a shared prometheus folder. They hold
    no graph data (every request reads the database), so a write through one is seen by all. Ingest
    jobs need nothing more: the sweeper's compare-and-set already keeps two processes off one job.
    """
    import os
    import shutil

    os.environ.update(settings.to_env())
    metrics_dir = settings.data_dir / "prometheus-multiproc"
    shutil.rmtree(metrics_dir, ignore_errors=True)  # counters start at zero with the service
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
    echo(banner(settings, None) + f"\n{settings.api_workers} worker processes")
    from uvicorn.supervisors import Multiprocess

    # what uvicorn.run does for workers, with our config (its protocol and time-outs reach every worker)
    config = uvicorn_config("api.main:create_worker_app", settings, factory=True, workers=settings.api_workers)
    Multiprocess(config, sockets=[config.bind_socket()]).run()


def database_is_empty(db: ArcadeDB) -> bool:
    return GraphStore(db).count_documents() == 0


def ingest_sample_corpus(components: Components, echo: Callable[[str], None] = print) -> int:
    if components.ingestor is None:
        echo("ingestion is not available: the sample corpus was not loaded")
        return 0
    files = sorted(SAMPLE_CORPUS.glob("*.md"))
    summary = components.ingestor.ingest_paths(files, SAMPLE_CORPUS)
    echo(f"sample corpus: {summary.documents} documents, {summary.chunks} chunks, {summary.entities} entities "
         f"in {summary.seconds:.1f}s")
    return summary.documents


@dataclass
class Started:
    """What `up` started, to stop on the way out (and nothing else)."""

    stops: list[tuple[str, Callable[[], object]]] = field(default_factory=list)

    def stop_all(self, echo: Callable[[str], None]) -> None:
        for name, stop in reversed(self.stops):
            try:
                stop()
                echo(f"stopped {name}")
            except Exception as exc:  # keep stopping the rest
                echo(f"could not stop {name}: {exc}")


def start_local_llm(settings: Settings, started: Started, echo: Callable[[str], None]) -> Settings:
    """The CPU answerer when its pieces are installed (llama-cpp-python and a packaged GGUF model);
    otherwise the settings unchanged, and answers are extractive."""
    import importlib.util

    from graphrag.errors import GraphRAGError
    from graphrag.local_llm import local_llm_server, resolve_model

    if importlib.util.find_spec("llama_cpp") is None:
        echo("no CPU model (llama-cpp-python is not installed: `make llm`): answers are extractive")
        return settings
    try:
        resolve_model(settings.llm_local_model, settings.data_dir)
        server = local_llm_server(settings)
        was_running = server.status().running
        status = server.start()
    except GraphRAGError as exc:
        echo(f"no CPU model ({exc}): answers are extractive")
        return settings
    echo(f"CPU answerer {settings.llm_local_model} at {status.url} "
         f"({'already running' if was_running else 'started'})")
    if not was_running:
        started.stops.append(("the CPU answerer", server.stop))
    return settings.model_copy(update={"llm_base_url": "local"})


def up(settings: Settings, *, sample: bool = True, llm: bool = True, echo: Callable[[str], None] = print) -> None:
    """Database, migrations, sample corpus (empty database only), CPU answerer when installed and no
    LLM is configured, API; Ctrl-C stops what this started."""
    from api.components import build_components
    from graphrag.launch import embedded_server, open_database
    from schema.runner import MigrationRunner

    started = Started()
    try:
        if settings.embedded:
            server = embedded_server(settings)
            was_running = server.status().running
            status = server.start()
            echo(f"ArcadeDB {status.version} at {status.url} ({'already running' if was_running else 'started'})")
            if not was_running:
                started.stops.append(("ArcadeDB", server.stop))
        db = open_database(settings)
        started.stops.append(("database client", db.close))
        runner = MigrationRunner(db, embedding_dim=settings.embedding_dim)
        applied = runner.migrate()
        echo(f"schema at version {runner.head}" + (f" (applied {applied})" if applied else " (up to date)"))
        if llm and settings.llm_base_url is None:
            settings = start_local_llm(settings, started, echo)
        echo("loading models ...")
        components = build_components(settings, db)
        if sample and database_is_empty(db):
            ingest_sample_corpus(components, echo)
        serve(settings, components, echo=echo)
    finally:
        started.stop_all(echo)
