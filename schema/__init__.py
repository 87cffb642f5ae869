"""Versioned, idempotent schema migrations for the graph in ArcadeDB."""

from schema.runner import MigrationRunner, MigrationState

__all__ = ["MigrationRunner", "MigrationState"]
