"""`make_pipeline`: the pipeline of the configured engine, for the CLI and the API's ingest jobs.

The parts live in modules of one role each, none importing another engine's private names:
`ingestion/job.py` (config, batch, report), `ingestion/steps.py` (plan, prepare, write, link, close),
`ingestion/frame.py` (`IngestionPipeline`, the job frame over an executor), `ingestion/local_engine.py`
(threads), `ingestion/ray_engine.py` (Ray Data) and `ingestion/ray_runtime.py` (the Ray runtime it runs
on). This module only chooses; it re-exports the names its callers need with the choice.
"""

from __future__ import annotations

from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from graphrag.embeddings import Embedder
from ingestion.frame import IngestionPipeline
from ingestion.job import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL, IngestionConfig, IngestionReport, ProgressListener

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_PARTIAL", "IngestionConfig", "IngestionPipeline", "IngestionReport",
           "ProgressListener", "make_pipeline"]


def make_pipeline(settings: Settings, db: ArcadeDB, embedder: Embedder | None, *,
                  config: IngestionConfig | None = None, progress: ProgressListener | None = None,
                  ) -> IngestionPipeline:
    """The pipeline of the configured engine (`GRAPHRAG_INGEST_ENGINE`): the CLI and the API's ingest jobs
    both build theirs here, so a setting moves both onto the Ray cluster (`GRAPHRAG_RAY_ADDRESS`).

    Args:
        settings: the engine and its Ray settings, the embedding model.
        db: the driver's database client.
        embedder: a loaded embedder to share; unset = the local engine loads one now, the Ray engine only
            if its closing pass needs one (its actors load their own).
        config: job knobs.
        progress: progress listener.
    """
    if settings.ingest_engine == "ray":
        from ingestion.ray_engine import RayIngestionPipeline
        from ingestion.ray_runtime import ray_config_from

        return RayIngestionPipeline(settings, db, embedder, config=config, ray_config=ray_config_from(settings),
                                    progress=progress)
    return IngestionPipeline(settings, db, embedder, config=config, progress=progress)
