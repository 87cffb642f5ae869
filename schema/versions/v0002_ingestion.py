"""Schema v2: what the ingestion job needs beyond v1.

- `Document.metadata_json`: the loader's metadata as a JSON string. ArcadeDB's Cypher refuses a map
  parameter as a property value ("Property values can only be of primitive types"), so the v1 MAP
  property `Document.metadata` stays unused.
- `Document.chunk_count`: how many chunks the stored version has (a cheap completeness check).
- `MENTIONS.count`: how many times the chunk names the entity.
- `Entity.linked`: set once the entity's SAME_AS neighbours were looked up, so a resumed job
  links exactly the entities an interrupted one had not reached.
- `Entity.type` gets an index so type-filtered reads stay cheap.
"""

from __future__ import annotations

version = 2
name = "ingestion bookkeeping"


def statements(params: dict[str, int | str]) -> list[str]:
    return [
        "CREATE PROPERTY Document.metadata_json IF NOT EXISTS STRING",
        "CREATE PROPERTY Document.chunk_count IF NOT EXISTS INTEGER",
        "CREATE PROPERTY MENTIONS.count IF NOT EXISTS INTEGER",
        "CREATE PROPERTY Entity.linked IF NOT EXISTS BOOLEAN",
        "CREATE INDEX IF NOT EXISTS ON Entity (type) NOTUNIQUE",
    ]
