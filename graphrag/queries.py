"""Statement texts for the graph model, named and parameterised: no value is ever pasted into them.

Data is written in Cypher (`$param`), vector search is SQL (`:param`). Batched writes take a
`$rows` list and `UNWIND` it; every `MATCH`/`MERGE` is keyed on a uniquely indexed property
(`Document.id`, `Chunk.id`, `Entity.key`) so each row is one index lookup.

Graph conventions (retrieval reads them):
- `(:Document)-[:HAS_CHUNK]->(:Chunk)`, `(:Chunk)-[:NEXT]->(:Chunk)` in ordinal order.
- `(:Chunk)-[:MENTIONS {count, cooc}]->(:Entity)`: `cooc` lists the keys of the other entities
  this chunk names in one sentence with this one. Co-occurrence lives on the mention, not on an
  entity-entity edge: writing it is one property of an edge the batch creates anyway, deleting a
  chunk deletes it, and the co-occurrence weight of a pair (the number of chunks naming both in
  one sentence) is read from the mentions of either entity. (Schema v1-v3 kept `RELATED` edges
  with an evidence list; merging those scanned a hub entity's edges on every write and grew its
  evidence lists without bound. v4 moved them onto the mentions.)
- `(:Entity)-[:SAME_AS {similarity}]->(:Entity)`: once per pair, smaller key to larger.
"""

from __future__ import annotations

# --- reads ------------------------------------------------------------------------------------------

DOCUMENT_HASHES = """
UNWIND $ids AS id
MATCH (d:Document {id: id})
RETURN d.id AS id, d.content_hash AS content_hash
"""

DOCUMENT_GET = """
MATCH (d:Document {id: $id})
RETURN d.id AS id, d.source AS source, d.title AS title, d.content_hash AS content_hash,
       d.chunk_count AS chunk_count, d.ingested_at AS ingested_at
"""

DOCUMENT_LIST = """
MATCH (d:Document)
RETURN d.id AS id, d.source AS source, d.title AS title, d.content_hash AS content_hash,
       d.chunk_count AS chunk_count, d.ingested_at AS ingested_at
ORDER BY d.id SKIP $skip LIMIT $limit
"""

# Chunks of these documents that are not in the version being written (stale or half-written).
STALE_CHUNKS = """
UNWIND $docs AS doc
MATCH (c:Chunk {document_id: doc})
WHERE NOT c.id IN $keep
RETURN c.id AS id
"""

ENTITIES_MENTIONED_BY = """
UNWIND $ids AS id
MATCH (c:Chunk {id: id})-[:MENTIONS]->(e:Entity)
RETURN DISTINCT e.key AS key
"""

ENTITY_KEYS_WITH_EMBEDDING = """
UNWIND $keys AS k
MATCH (e:Entity {key: k})
WHERE e.embedding IS NOT NULL
RETURN e.key AS key
"""

ENTITIES_WITHOUT_EMBEDDING = """
MATCH (e:Entity) WHERE e.embedding IS NULL
RETURN e.key AS key, e.name AS name LIMIT $limit
"""

ANY_EMBEDDED_ENTITY = "MATCH (e:Entity) WHERE e.embedding IS NOT NULL RETURN e.key AS key LIMIT 1"

ENTITIES_NOT_LINKED = """
MATCH (e:Entity) WHERE e.linked IS NULL AND e.embedding IS NOT NULL
RETURN e.key AS key LIMIT $limit
"""

# SQL: the nearest entities of each entity named (itself included, at distance 0).
ENTITY_NEIGHBOURS_SQL = (
    "SELECT key, nb.record.key AS neighbours, nb.distance AS distances FROM ("
    "SELECT key, vectorNeighbors('Entity[embedding]', embedding, :k) AS nb "
    "FROM Entity WHERE key IN :keys AND embedding IS NOT NULL)"
)

COUNT_VERTICES = "MATCH (n:{label}) RETURN count(n) AS n"
COUNT_EDGES = "MATCH ()-[r:{label}]->() RETURN count(r) AS n"

# --- writes -----------------------------------------------------------------------------------------

# A name/type seen first wins (ON CREATE): the order of a job is deterministic, so a resumed job
# gives every entity the same name as an uninterrupted one. The embedding is set when given.
UPSERT_ENTITIES = """
UNWIND $rows AS r
MERGE (e:Entity {key: r.key})
ON CREATE SET e.name = r.name, e.type = r.type, e.folded = r.folded
WITH e, r WHERE r.embedding IS NOT NULL
SET e.embedding = r.embedding
"""

UPSERT_CHUNKS = """
UNWIND $rows AS r
MERGE (c:Chunk {id: r.id})
SET c.document_id = r.document_id, c.ordinal = r.ordinal, c.title = r.title, c.text = r.text,
    c.start_char = r.start_char, c.end_char = r.end_char, c.embedding = r.embedding
"""

MERGE_NEXT = """
UNWIND $rows AS r
MATCH (a:Chunk {id: r.a}), (b:Chunk {id: r.b})
MERGE (a)-[:NEXT]->(b)
"""

MERGE_MENTIONS = """
UNWIND $rows AS r
MATCH (c:Chunk {id: r.chunk}), (e:Entity {key: r.key})
MERGE (c)-[m:MENTIONS]->(e)
SET m.count = r.count, m.cooc = r.cooc
"""

# Written last in a batch: a Document with its content_hash means "this version is complete".
UPSERT_DOCUMENTS = """
UNWIND $rows AS r
MERGE (d:Document {id: r.id})
SET d.source = r.source, d.title = r.title, d.content_hash = r.content_hash,
    d.metadata_json = r.metadata_json, d.chunk_count = r.chunk_count, d.ingested_at = r.ingested_at
"""

MERGE_HAS_CHUNK = """
UNWIND $rows AS r
MATCH (d:Document {id: r.document_id}), (c:Chunk {id: r.id})
MERGE (d)-[:HAS_CHUNK]->(c)
"""

# Removing chunks: delete them with their edges (their mentions, co-occurrence included), then
# the entities nothing mentions any more.
DELETE_CHUNKS = """
UNWIND $ids AS id
MATCH (c:Chunk {id: id})
DETACH DELETE c
"""

DELETE_ORPHAN_ENTITIES = """
UNWIND $keys AS k
MATCH (e:Entity {key: k})
WHERE NOT (e)<-[:MENTIONS]-()
DETACH DELETE e
RETURN count(*) AS deleted
"""

DELETE_DOCUMENT = """
MATCH (d:Document {id: $id})
DETACH DELETE d
"""

MERGE_SAME_AS = """
UNWIND $rows AS r
MATCH (a:Entity {key: r.a}), (b:Entity {key: r.b})
MERGE (a)-[s:SAME_AS]->(b)
SET s.similarity = r.similarity
"""

MARK_LINKED = """
UNWIND $keys AS k
MATCH (e:Entity {key: k})
SET e.linked = true
"""

SET_ENTITY_EMBEDDINGS = """
UNWIND $rows AS r
MATCH (e:Entity {key: r.key})
SET e.embedding = r.embedding
"""


def count_vertices(label: str) -> str:
    """Count statement for a vertex type; `label` must be one of the schema's own type names."""
    if not label.isidentifier():
        raise ValueError(f"not a type name: {label!r}")
    return COUNT_VERTICES.format(label=label)


def count_edges(label: str) -> str:
    """Count statement for an edge type; `label` must be one of the schema's own type names."""
    if not label.isidentifier():
        raise ValueError(f"not a type name: {label!r}")
    return COUNT_EDGES.format(label=label)
