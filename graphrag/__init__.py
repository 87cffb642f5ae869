"""Graph-RAG question answering over a knowledge graph in ArcadeDB: the core library."""

from graphrag.arcadedb import ArcadeDB, AsyncArcadeDB, RetryPolicy
from graphrag.config import Settings, get_settings
from graphrag.errors import (
    ChecksumMismatchError,
    ConfigError,
    DatabaseUnavailableError,
    GraphRAGError,
    MigrationError,
    QueryError,
    ServerLaunchError,
    StoreError,
    TruncatedResultError,
)

__all__ = [
    "ArcadeDB",
    "AsyncArcadeDB",
    "ChecksumMismatchError",
    "ConfigError",
    "DatabaseUnavailableError",
    "GraphRAGError",
    "MigrationError",
    "QueryError",
    "RetryPolicy",
    "ServerLaunchError",
    "Settings",
    "StoreError",
    "TruncatedResultError",
    "get_settings",
]
