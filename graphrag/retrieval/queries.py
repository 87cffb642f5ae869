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
# `e.mentions` is kept by the writes (exact up to a cap: graphrag/queries.py SET_MENTION_COUNTS);
# counting edges here would cost O(mentions) for every common name.
ENTITIES_BY_KEY = (
    "UNWIND $keys AS k MATCH (e:Entity {key: k}) "
    "RETURN k AS asked, e.key AS key, e.name AS name, e.mentions AS mentions "
    # a question that drops an entity's diacritics ("Aschenbrodel") finds it by its folded key
    "UNION ALL UNWIND $folded AS k MATCH (e:Entity {folded: k}) "
    "RETURN k AS asked, e.key AS key, e.name AS name, e.mentions AS mentions"
)
ENTITY_FULL_TEXT = (
    "SELECT key, name, $score AS score FROM Entity "
    "WHERE SEARCH_INDEX('Entity[name]', :q) = true ORDER BY $score DESC LIMIT :k"
)
ENTITY_VECTOR_NEIGHBOURS = (
    "SELECT key, name, distance FROM (SELECT expand(vectorNeighbors('Entity[embedding]', :q, :k)))"
)

# --- graph channel -----------------------------------------------------------------------------
# One hop out of a frontier of entities over co-occurrence (read from the mentions' `cooc`, at most
# `cap` mentions per entity) and SAME_AS, either direction; each source keeps only its `per_source`
# strongest neighbours so that a hub entity ("United States") cannot flood the frontier.
ENTITY_COOCCURRING = (
    "UNWIND $keys AS k MATCH (s:Entity {key: k}) "
    "CALL { WITH s MATCH (s)<-[m:MENTIONS]-(:Chunk) WHERE m.cooc IS NOT NULL RETURN m.cooc AS cooc LIMIT $cap } "
    "UNWIND cooc AS other WITH k, other, count(*) AS weight ORDER BY weight DESC "
    "WITH k, collect({key: other, weight: weight})[0..$per_source] AS top UNWIND top AS t "
    "MATCH (n:Entity {key: t.key}) "
    "RETURN k AS source, 'RELATED' AS rel, t.weight AS weight, n.key AS key, n.name AS name"
)
SAME_AS_NEIGHBOURS = (
    "UNWIND $keys AS k MATCH (s:Entity {key: k})-[r:SAME_AS]-(n:Entity) "
    "RETURN k AS source, 'SAME_AS' AS rel, r.similarity AS weight, n.key AS key, n.name AS name"
)
CHUNKS_MENTIONING = (
    "MATCH (e:Entity) WHERE e.key IN $keys "
    "MATCH (c:Chunk)-[:MENTIONS]->(e) "
    "RETURN e.key AS key, collect(c.id) AS chunks"
)

# --- neighbourhood of a question (personalized PageRank) ----------------------------------------
# The nearest chunks' ids and similarity only: their text is read for the top passages alone.
CHUNK_VECTOR_HITS = "SELECT id, distance FROM (SELECT expand(vectorNeighbors('Chunk[embedding]', :q, :k)))"
# The same with the index's search breadth (HNSW efSearch) given: `:opts` = {"efSearch": n}.
CHUNK_VECTOR_HITS_EF = (
    "SELECT id, distance FROM (SELECT expand(vectorNeighbors('Chunk[embedding]', :q, :k, :opts)))"
)
COUNT_CHUNKS = "SELECT count(*) AS n FROM Chunk"
# Every mention of these chunks, with its entity's name, type and mention count (a row per mention:
# grouping by entity in the query measured slower than repeating the entity's fields).
CHUNK_MENTIONS = (
    "UNWIND $ids AS id MATCH (c:Chunk {id: id})-[m:MENTIONS]->(e:Entity) "
    "RETURN id, c.title AS title, m.cooc AS cooc, e.key AS key, e.name AS name, e.type AS type, "
    "e.mentions AS mentions"
)
# Every mention of these entities (the caller asks only for entities with at most `cap` mentions;
# the LIMIT holds even if one gained mentions since it was counted). An aggregating subquery, so an
# entity gives its row even without mentions.
ENTITY_MENTIONS = (
    "UNWIND $keys AS k MATCH (e:Entity {key: k}) "
    "CALL { WITH e MATCH (e)<-[m:MENTIONS]-(c:Chunk) WITH c, m LIMIT $cap "
    "RETURN collect([c.id, c.title, m.cooc]) AS chunks } "
    "RETURN k AS key, chunks"
)
# Their SAME_AS edges, in a statement of their own, sent at the same time (inside the statement
# above, the undirected match over every edge of the entity doubled its cost).
SAME_AS_OF = (
    "UNWIND $keys AS k MATCH (e:Entity {key: k})-[s:SAME_AS]-(o:Entity) "
    "RETURN k AS key, o.key AS other, o.name AS name, o.type AS type, o.mentions AS mentions, "
    "s.similarity AS similarity"
)

# --- hydration ---------------------------------------------------------------------------------
CHUNKS_BY_ID = (
    "MATCH (c:Chunk) WHERE c.id IN $ids "
    "RETURN c.id AS id, c.document_id AS document_id, c.title AS title, c.text AS text, c.ordinal AS ordinal"
)
