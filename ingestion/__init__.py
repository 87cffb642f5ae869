"""Batch ingestion: documents in, a deduplicated knowledge graph with embeddings out."""

from ingestion.pipeline import IngestionConfig, IngestionPipeline, IngestionReport, make_pipeline

__all__ = ["IngestionConfig", "IngestionPipeline", "IngestionReport", "make_pipeline"]
