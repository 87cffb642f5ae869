"""Every statement retrieval sends to ArcadeDB, named and parameterised.

No value is ever formatted into these strings: Cypher reads `$name`, SQL reads `:name`. The one
exception to "text is just text" is the full-text index, whose argument is parsed as Lucene syntax
even as a parameter; `keyword.plain_terms` reduces user text to bare lower-case words first.
"""

from __future__ import annotations

# --- dense channel -----------------------------------------------------------------------------
# vectorNeighbors wants a named SQL parameter (`:q`); `$q` fails with "key is null" on 26.10.2.
CHUNK_VECTOR_NEIGHBOURS = (
    "SELECT id, document_id, title, text, ordinal, distance "
    "FROM (SELECT expand(vectorNeighbors('Chunk[embedding]', :q, :k)))"
)

# --- keyword channel ---------------------------------------------------------------------------
# Title and text indexes together: the engine adds the scores of both matches.
CHUNK_FULL_TEXT = (
    "SELECT id, document_id, title, text, ordinal, $score AS score FROM Chunk "
    "WHERE SEARCH_INDEX('Chunk[text]', :q) = true OR SEARCH_INDEX('Chunk[title]', :q) = true "
    "ORDER BY $score DESC LIMIT :k"
)

# --- seed linking ------------------------------------------------------------------------------
ENTITIES_BY_KEY = (
    "MATCH (e:Entity) WHERE e.key IN $keys "
    "OPTIONAL MATCH (c:Chunk)-[:MENTIONS]->(e) "
    "RETURN e.key AS key, e.name AS name, count(c) AS mentions"
)
ENTITY_FULL_TEXT = (
    "SELECT key, name, $score AS score FROM Entity "
    "WHERE SEARCH_INDEX('Entity[name]', :q) = true ORDER BY $score DESC LIMIT :k"
)
ENTITY_VECTOR_NEIGHBOURS = (
    "SELECT key, name, distance FROM (SELECT expand(vectorNeighbors('Entity[embedding]', :q, :k)))"
)

# --- graph channel -----------------------------------------------------------------------------
# One hop out of a frontier of entities over RELATED (co-occurrence) and SAME_AS (synonym) edges,
# either direction; each source keeps only its `per_source` strongest edges so that a hub entity
# ("United States") cannot flood the frontier.
ENTITY_NEIGHBOURS = (
    "MATCH (s:Entity)-[r:RELATED|SAME_AS]-(n:Entity) WHERE s.key IN $keys "
    "WITH s, r, n ORDER BY coalesce(r.weight, r.similarity, 1.0) DESC "
    "WITH s, collect({rel: type(r), weight: coalesce(r.weight, r.similarity, 1.0), key: n.key, name: n.name, "
    "out: startNode(r) = s}) AS nb "
    "RETURN s.key AS source, nb[0..$per_source] AS neighbours"
)
CHUNKS_MENTIONING = (
    "MATCH (e:Entity) WHERE e.key IN $keys "
    "MATCH (c:Chunk)-[:MENTIONS]->(e) "
    "RETURN e.key AS key, collect(c.id) AS chunks"
)

# --- hydration ---------------------------------------------------------------------------------
CHUNKS_BY_ID = (
    "MATCH (c:Chunk) WHERE c.id IN $ids "
    "RETURN c.id AS id, c.document_id AS document_id, c.title AS title, c.text AS text, c.ordinal AS ordinal"
)

# --- graph snapshot (personalized PageRank) ----------------------------------------------------
GRAPH_COUNTS = (
    "SELECT (SELECT count(*) FROM Chunk) AS chunks, (SELECT count(*) FROM Entity) AS entities, "
    "(SELECT count(*) FROM MENTIONS) AS mentions, (SELECT count(*) FROM RELATED) AS related, "
    "(SELECT count(*) FROM SAME_AS) AS same_as, (SELECT max(ingested_at) AS latest FROM Document) AS latest"
)
# Aggregate with `WITH c, collect(...)` first: grouping on a returned list (the embedding) splits
# groups on 26.10.2, one row per mention.
SNAPSHOT_CHUNKS = (
    "MATCH (c:Chunk) WITH c ORDER BY c.id SKIP $skip LIMIT $limit "
    "OPTIONAL MATCH (c)-[:MENTIONS]->(e:Entity) WITH c, collect(e.key) AS entities "
    "RETURN c.id AS id, c.document_id AS document_id, c.title AS title, c.text AS text, c.ordinal AS ordinal, "
    "c.embedding AS embedding, entities"
)
SNAPSHOT_ENTITIES = (
    "MATCH (e:Entity) WITH e ORDER BY e.key SKIP $skip LIMIT $limit "
    "OPTIONAL MATCH (e)-[r:RELATED]->(n:Entity) WITH e, collect(n.key) AS related, collect(r.weight) AS weights "
    "RETURN e.key AS key, e.name AS name, e.type AS type, related, weights"
)
SNAPSHOT_SAME_AS = (
    "MATCH (a:Entity)-[r:SAME_AS]->(b:Entity) WITH a, b, r ORDER BY a.key, b.key SKIP $skip LIMIT $limit "
    "RETURN a.key AS source, b.key AS target, r.similarity AS similarity"
)
