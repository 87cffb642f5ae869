"""Schema v1: documents split into chunks, entities they mention, and the edges between them.

Chunks carry a cosine LSM_VECTOR index for dense retrieval and a full-text index for keywords;
entities carry a vector index on their name embedding (fuzzy linking, SAME_AS) and a full-text
index on their name. The vector dimension is a parameter, taken from the configured embedding model.
"""

from __future__ import annotations

version = 1
name = "initial graph"

VERTEX_TYPES = ("Document", "Chunk", "Entity")
EDGE_TYPES = ("HAS_CHUNK", "NEXT", "MENTIONS", "RELATED", "SAME_AS")


def statements(params: dict[str, int | str]) -> list[str]:
    dim = int(params["embedding_dim"])
    return [
        # types
        *[f"CREATE VERTEX TYPE {t} IF NOT EXISTS" for t in VERTEX_TYPES],
        *[f"CREATE EDGE TYPE {t} IF NOT EXISTS" for t in EDGE_TYPES],
        # properties
        "CREATE PROPERTY Document.id IF NOT EXISTS STRING",
        "CREATE PROPERTY Document.source IF NOT EXISTS STRING",
        "CREATE PROPERTY Document.title IF NOT EXISTS STRING",
        "CREATE PROPERTY Document.content_hash IF NOT EXISTS STRING",
        "CREATE PROPERTY Document.ingested_at IF NOT EXISTS DATETIME",
        "CREATE PROPERTY Document.metadata IF NOT EXISTS MAP",
        "CREATE PROPERTY Chunk.id IF NOT EXISTS STRING",
        "CREATE PROPERTY Chunk.document_id IF NOT EXISTS STRING",
        "CREATE PROPERTY Chunk.ordinal IF NOT EXISTS INTEGER",
        "CREATE PROPERTY Chunk.title IF NOT EXISTS STRING",
        "CREATE PROPERTY Chunk.text IF NOT EXISTS STRING",
        "CREATE PROPERTY Chunk.start_char IF NOT EXISTS INTEGER",
        "CREATE PROPERTY Chunk.end_char IF NOT EXISTS INTEGER",
        "CREATE PROPERTY Chunk.embedding IF NOT EXISTS ARRAY_OF_FLOATS",
        "CREATE PROPERTY Entity.key IF NOT EXISTS STRING",
        "CREATE PROPERTY Entity.name IF NOT EXISTS STRING",
        "CREATE PROPERTY Entity.type IF NOT EXISTS STRING",
        "CREATE PROPERTY Entity.embedding IF NOT EXISTS ARRAY_OF_FLOATS",
        "CREATE PROPERTY RELATED.weight IF NOT EXISTS DOUBLE",
        "CREATE PROPERTY RELATED.evidence IF NOT EXISTS LIST",
        "CREATE PROPERTY SAME_AS.similarity IF NOT EXISTS DOUBLE",
        # indexes, kind always stated
        "CREATE INDEX IF NOT EXISTS ON Document (id) UNIQUE",
        "CREATE INDEX IF NOT EXISTS ON Document (content_hash) NOTUNIQUE",
        "CREATE INDEX IF NOT EXISTS ON Chunk (id) UNIQUE",
        "CREATE INDEX IF NOT EXISTS ON Chunk (document_id) NOTUNIQUE",
        "CREATE INDEX IF NOT EXISTS ON Chunk (text) FULL_TEXT",
        "CREATE INDEX IF NOT EXISTS ON Chunk (title) FULL_TEXT",
        f"CREATE INDEX IF NOT EXISTS ON Chunk (embedding) LSM_VECTOR "
        f"METADATA {{dimensions: {dim}, similarity: 'COSINE'}}",
        "CREATE INDEX IF NOT EXISTS ON Entity (key) UNIQUE",
        "CREATE INDEX IF NOT EXISTS ON Entity (name) FULL_TEXT",
        f"CREATE INDEX IF NOT EXISTS ON Entity (embedding) LSM_VECTOR "
        f"METADATA {{dimensions: {dim}, similarity: 'COSINE'}}",
    ]
