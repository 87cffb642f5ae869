"""Serving the API: one process (uvicorn with our protocol and time-outs) or `api_workers` processes.

`graphrag up` (cli/service.py) starts what is missing around it: the database, the schema, the
sample corpus, the CPU answerer.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from api.deps import ComponentBuilder, Components
from api.security import check_exposure, exposure_message
from graphrag.config import Settings, get_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("api.server")

SAMPLE_CORPUS = Path(__file__).resolve().parent / "sample_corpus"
SAMPLE_QUESTION = "Which river flows through the city where Marie Curie was born?"


def banner(settings: Settings, mode: str | None) -> str:
    url = f"http://{settings.api_host}:{settings.api_port}"
    auth = "" if not settings.api_keys_enforced else ' -H "X-API-Key: $GRAPHRAG_API_KEY"'
    closed = [name for name, public in (("docs", settings.api_docs_public), ("metrics", settings.api_metrics_public))
              if not public]
    lines = [f"graphrag API on {url}  (docs: {url}/docs, metrics: {url}/metrics"
             + (f"; {' and '.join(closed)} need a key)" if closed else ")"),
             f"web console: {url}/  (ask, sources, the evidence graph, documents, jobs)"]
    if mode:
        lines.append(f"answerer: {mode}")
    if (message := exposure_message(settings)) is not None:
        lines.append(message)
    else:
        lines.append("API keys are required. Create one on this machine with `graphrag api-key create --scope read` "
                     "(`--scope admin` to ingest and delete), then `export GRAPHRAG_API_KEY=<the key>`: the curl "
                     "below and `graphrag ask` send it, and the web console asks for it once")
    lines.append("try:")
    lines.append(f"  curl -s {url}/v1/ask{auth} -H 'Content-Type: application/json' \\\n"
                 f"    -d '{{\"question\": \"{SAMPLE_QUESTION}\"}}'")
    lines.append("Ctrl-C stops everything this command started.")
    return "\n".join(lines)


def limit_native_threads(threads: int) -> None:
    """One thread per torch / BLAS call: requests run concurrently in the threadpool, and each of
    them also spinning up multi-threaded kernels oversubscribes the cores. Measured on 2 cores with
    8 clients on /v1/retrieve: 3.2 req/s with the libraries' defaults, 14.4 req/s with 1 thread.

    torch is not imported for it: the service loads torch only for its first document to embed
    (`graphrag.embeddings.LazyEmbedder`), and reads the thread count from the environment then."""
    if threads <= 0:
        return
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    else:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # BLAS keeps its default; torch was the larger share
        return
    threadpool_limits(threads)


def create_worker_app() -> FastAPI:
    """The app of one `graphrag serve` worker process (`api_workers` > 1): settings from the
    environment `serve_workers` exported, logging and native threads as `serve` sets them.

    It lives here, beside `serve_workers` that names it, so that `api.main` never imports this
    module: serving depends on the app, the app not on serving (no import cycle)."""
    from api.context import configure_logging
    from api.main import create_app

    settings = get_settings()
    configure_logging()
    limit_native_threads(settings.api_native_threads)
    return create_app(settings)


def serve(settings: Settings, components: Components | ComponentBuilder | None = None, *,
          echo: Callable[[str], None] = print) -> None:
    """Serve the API until interrupted (uvicorn handles SIGINT/SIGTERM gracefully).

    Args:
        components: how the app gets its working parts, as `create_app` takes them; `graphrag up`
            passes the `ComponentFactory` it already loaded the models into. None: `graphrag serve`,
            which also runs `api_workers` processes.
    """
    from api.main import create_app

    check_exposure(settings)  # before any worker starts: a refused setting is one error line, not N crashes
    if settings.api_workers > 1:
        if components is None:
            serve_workers(settings, echo=echo)
            return
        echo(f"api_workers={settings.api_workers} ignored: this command serves the models it already "
             "loaded, in one process (use `graphrag serve` for workers)")
    limit_native_threads(settings.api_native_threads)
    app = create_app(settings, components=components)
    echo(banner(settings, _answer_mode(components)))
    uvicorn.Server(uvicorn_config(app, settings)).run()


def _answer_mode(components: Components | ComponentBuilder | None) -> str | None:
    """The banner's "answerer: llm|extractive", where the answerer is already built."""
    if isinstance(components, Components):
        return getattr(components.answerer, "mode", None)
    models = getattr(components, "loaded_models", None)
    return models.answerer.mode if models is not None else None


def uvicorn_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """uvicorn's settings for the API: our h11 protocol with its request-head and request-body
    deadlines (`api_header_timeout_s`, `api_body_timeout_s`) and the keep-alive time-out
    (`api_keep_alive_s`), against slow or idle connections (slowloris); no access log of uvicorn's
    own (ours escapes what clients send)."""
    from api.protocol import BODY_CONFIG_ATTRIBUTE, CONFIG_ATTRIBUTE, PROTOCOL

    config = uvicorn.Config(app, host=settings.api_host, port=settings.api_port, log_config=None, access_log=False,
                            timeout_graceful_shutdown=10, http=PROTOCOL,
                            timeout_keep_alive=settings.api_keep_alive_s,  # type: ignore[arg-type]
                            proxy_headers=True, forwarded_allow_ips=settings.api_forwarded_allow_ips,
                            **options)
    setattr(config, CONFIG_ATTRIBUTE, settings.api_header_timeout_s)
    setattr(config, BODY_CONFIG_ATTRIBUTE, settings.api_body_timeout_s)
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
    config = uvicorn_config("api.server:create_worker_app", settings, factory=True, workers=settings.api_workers)
    Multiprocess(config, sockets=[config.bind_socket()]).run()
