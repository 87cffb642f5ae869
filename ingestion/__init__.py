"""Batch ingestion: documents in, a deduplicated knowledge graph with embeddings out."""
