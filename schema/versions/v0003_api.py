"""Schema v3: what the HTTP service keeps in the database.

- `IngestJob`: a batch ingest job's state and progress, so a restart of the service (or another
  replica) can report it and pick it up. `heartbeat_at` (epoch seconds) is refreshed while a
  process works on the job; a job whose heartbeat went stale is adopted by another process.
- `ApiKey`: API keys, stored only as the SHA-256 of the key (the key itself is shown once).
"""

from __future__ import annotations

version = 3
name = "api jobs and keys"


def statements(params: dict[str, int | str]) -> list[str]:
    return [
        "CREATE VERTEX TYPE IngestJob IF NOT EXISTS",
        "CREATE PROPERTY IngestJob.id IF NOT EXISTS STRING",
        "CREATE PROPERTY IngestJob.state IF NOT EXISTS STRING",
        "CREATE PROPERTY IngestJob.kind IF NOT EXISTS STRING",
        "CREATE PROPERTY IngestJob.sources IF NOT EXISTS LIST",
        "CREATE PROPERTY IngestJob.root IF NOT EXISTS STRING",
        "CREATE PROPERTY IngestJob.total IF NOT EXISTS INTEGER",
        "CREATE PROPERTY IngestJob.done IF NOT EXISTS INTEGER",
        "CREATE PROPERTY IngestJob.error IF NOT EXISTS STRING",
        "CREATE PROPERTY IngestJob.summary_json IF NOT EXISTS STRING",
        "CREATE PROPERTY IngestJob.owner IF NOT EXISTS STRING",
        "CREATE PROPERTY IngestJob.heartbeat_at IF NOT EXISTS DOUBLE",
        "CREATE PROPERTY IngestJob.created_at IF NOT EXISTS STRING",
        "CREATE PROPERTY IngestJob.updated_at IF NOT EXISTS STRING",
        "CREATE INDEX IF NOT EXISTS ON IngestJob (id) UNIQUE",
        "CREATE INDEX IF NOT EXISTS ON IngestJob (state) NOTUNIQUE",
        "CREATE VERTEX TYPE ApiKey IF NOT EXISTS",
        "CREATE PROPERTY ApiKey.id IF NOT EXISTS STRING",
        "CREATE PROPERTY ApiKey.hash IF NOT EXISTS STRING",
        "CREATE PROPERTY ApiKey.scope IF NOT EXISTS STRING",
        "CREATE PROPERTY ApiKey.name IF NOT EXISTS STRING",
        "CREATE PROPERTY ApiKey.created_at IF NOT EXISTS STRING",
        "CREATE PROPERTY ApiKey.revoked IF NOT EXISTS BOOLEAN",
        "CREATE INDEX IF NOT EXISTS ON ApiKey (id) UNIQUE",
        "CREATE INDEX IF NOT EXISTS ON ApiKey (hash) UNIQUE",
    ]
