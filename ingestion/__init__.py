"""Batch ingestion: documents in, a deduplicated knowledge graph with embeddings out."""

from ingestion.frame import IngestionPipeline
from ingestion.job import IngestionConfig, IngestionReport
from ingestion.pipeline import make_pipeline

__all__ = ["IngestionConfig", "IngestionPipeline", "IngestionReport", "make_pipeline"]
