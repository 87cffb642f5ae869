"""Every statement on the graph model, named and parameterised: no value is ever pasted into them.

Sections: reads and writes of ingestion and documents (`GraphStore`), retrieval (the channels, seed
linking, the per-question neighbourhood, hydration), and the entity neighbourhood people explore
(`GraphView`), and the whole-graph reads that compare two ingested graphs (`ingestion.graph_diff`).
The API's own types (`IngestJob`, `ApiKey`) keep their statements in `api/statements.py`; migrations
keep theirs in their files (they are checksummed).

Data is written in Cypher (`$param`); vector search and the hottest indexed reads are SQL
(`:param`). Batched writes take a `$rows` list and `UNWIND` it; every `MATCH`/`MERGE` is keyed on a
uniquely indexed property (`Document.id`, `Chunk.id`, `Entity.key`) so each row is one index lookup.

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
       d.chunk_count AS chunk_count, d.ingested_at AS ingested_at, d.metadata_json AS metadata_json
"""

DOCUMENT_LIST = """
MATCH (d:Document)
RETURN d.id AS id, d.source AS source, d.title AS title, d.content_hash AS content_hash,
       d.chunk_count AS chunk_count, d.ingested_at AS ingested_at, d.metadata_json AS metadata_json
ORDER BY d.id SKIP $skip LIMIT $limit
"""

# The document filter matches the id, the title, and `source` as a read key is shown it
# (the API's `shown_source`): a source stored as an absolute server path (POSIX, a Windows
# drive or share; not a URL) only by its last segment, the file name. So an uploaded file is found by
# its name, and no filter can find documents by the server folders a read key never sees.
# (Cypher string literals: '\\' is one backslash.)
_SOURCE_SHOWN = r"""
MATCH (d:Document)
WITH d, coalesce(d.source, '') AS s
WITH d, CASE WHEN NOT s CONTAINS '://' AND (s STARTS WITH '/' OR s STARTS WITH '\\\\' OR s =~ '(?s)[A-Za-z]:[/\\\\].*')
             THEN last(split(replace(s, '\\', '/'), '/')) ELSE s END AS shown
WHERE toLower(d.id) CONTAINS $q OR toLower(coalesce(d.title, '')) CONTAINS $q OR toLower(shown) CONTAINS $q
"""
DOCUMENT_FILTER = _SOURCE_SHOWN + """
RETURN d.id AS id, d.source AS source, d.title AS title, d.content_hash AS content_hash,
       d.chunk_count AS chunk_count, d.ingested_at AS ingested_at, d.metadata_json AS metadata_json
ORDER BY d.id SKIP $skip LIMIT $limit
"""
DOCUMENT_FILTER_COUNT = _SOURCE_SHOWN + "RETURN count(d) AS n\n"
DOCUMENT_CHUNKS = """
MATCH (c:Chunk {document_id: $id})
RETURN c.id AS id, c.ordinal AS ordinal, c.text AS text
ORDER BY c.ordinal
"""
DOCUMENT_MENTIONS = """
MATCH (c:Chunk {document_id: $id})-[m:MENTIONS]->(e:Entity)
RETURN c.id AS chunk, e.key AS key, e.name AS name, e.type AS type, m.count AS count
"""

# Every stored chunk of these documents: those the version being written keeps are already complete
# (a chunk id holds the content hash, and a chunk is written with all its edges in one transaction);
# the others are stale.
CHUNKS_OF_DOCUMENTS = """
UNWIND $docs AS doc
MATCH (c:Chunk {document_id: doc})
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

ENTITY_KEYS_PRESENT = """
UNWIND $keys AS k
MATCH (e:Entity {key: k})
RETURN e.key AS key, e.embedding IS NOT NULL AS embedded, e.name AS name, e.type AS type
"""

ENTITIES_WITHOUT_EMBEDDING = """
MATCH (e:Entity) WHERE e.embedding IS NULL
RETURN e.key AS key LIMIT $limit
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

# Writes read first what exists, then CREATE only what is new: a MERGE costs a lookup even when
# it creates, and about twice a CREATE once a vector is written with the vertex. Two writers that
# create the same key at once collide on the unique index; the transaction is replayed and, reading
# again, finds the other's vertex. The name/type stored is the first in
# `graphrag.normalize.spelling_rank` of every spelling written, whatever the order of the writes:
# the batch renames an entity (RENAME_ENTITIES) only where its spelling sorts before the stored one.
CREATE_ENTITIES = """
UNWIND $rows AS r
CREATE (e:Entity {key: r.key, name: r.name, type: r.type, folded: r.folded, embedding: r.embedding})
"""

# Only name and type: the vector is the key's (see `graphrag.store.EntityRecord`), so what was
# derived from it (the vector, `linked`, SAME_AS) stays valid.
RENAME_ENTITIES = """
UNWIND $rows AS r
MATCH (e:Entity {key: r.key})
SET e.name = r.name, e.type = r.type
"""

# A new chunk with its HAS_CHUNK edge and its mentions in one statement: the chunk is not looked up
# again for each of its edges. (Inside the batch's transaction statement order is invisible to
# readers: the document, written first, and its chunks commit together.)
CREATE_CHUNKS = """
UNWIND $rows AS r
MATCH (d:Document {id: r.document_id})
CREATE (d)-[:HAS_CHUNK]->(c:Chunk {id: r.id, document_id: r.document_id, ordinal: r.ordinal, title: r.title,
                                   text: r.text, start_char: r.start_char, end_char: r.end_char,
                                   embedding: r.embedding})
WITH c, r
UNWIND r.mentions AS m
MATCH (e:Entity {key: m.key})
CREATE (c)-[:MENTIONS {count: m.count, cooc: m.cooc}]->(e)
"""

CREATE_NEXT = """
UNWIND $rows AS r
MATCH (a:Chunk {id: r.a}), (b:Chunk {id: r.b})
CREATE (a)-[:NEXT]->(b)
"""

# `Entity.mentions`: how many chunks mention the entity, counted exactly up to MENTION_COUNT_CAP and
# stored as MENTION_COUNT_CAP + 1 above it (a "hub"). Query-time retrieval reads it instead of
# counting edges (counting is O(mentions): 30 ms for a name in 77k chunks, ten times that at 1M).
# A hub's count is never rewritten, so concurrent writers do not collide on the names every batch
# shares; recounting the others is cheap because they have at most the cap of mentions.
SET_MENTION_COUNTS = """
UNWIND $keys AS k
MATCH (e:Entity {key: k})
WHERE coalesce(e.mentions, 0) <= $cap
WITH e, node.degree.in(e, 'MENTIONS') AS n
SET e.mentions = CASE WHEN n > $cap THEN $cap + 1 ELSE n END
"""

# A Document with its content_hash means "this version is complete" (it commits with its chunks).
UPSERT_DOCUMENTS = """
UNWIND $rows AS r
MERGE (d:Document {id: r.id})
SET d.source = r.source, d.title = r.title, d.content_hash = r.content_hash,
    d.metadata_json = r.metadata_json, d.chunk_count = r.chunk_count, d.ingested_at = r.ingested_at
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

# One per write that changes what retrieval reads, in that write's transaction (schema v6): a reader's
# cache of the graph holds while the fingerprint below is the one it was filled under.
RECORD_GRAPH_CHANGE = "CREATE (:GraphChange {token: $token, at: $at})"
GRAPH_FINGERPRINT = (
    "SELECT token AS epoch, $changes[0].n AS changes FROM GraphEpoch "
    "LET $changes = (SELECT count(*) AS n FROM GraphChange) LIMIT 1"
)

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


# === retrieval ====================================================================================
# The one exception to "text is just text" is the full-text index, whose argument is parsed as
# Lucene syntax even as a parameter; `retrieval.keyword.plain_terms` reduces user text to bare
# lower-case words first.

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


def with_graph_fingerprint(vector_hits: str) -> str:
    """A vector search (`CHUNK_VECTOR_HITS` or `_EF`) that also returns the graph's fingerprint, as one
    row: `hits` (its rows) and `graph` (`GRAPH_FINGERPRINT`'s). A question needs both; one round trip
    instead of two saves the database about a millisecond of CPU and the API an HTTP call."""
    return f"SELECT $hits AS hits, $graph AS graph LET $hits = ({vector_hits}), $graph = ({GRAPH_FINGERPRINT})"
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
# SQL (`:ids`): an indexed lookup costs less in SQL than in Cypher (ArcadeDB #8132), and every question
# reads its passages' texts here.
CHUNKS_BY_ID = "SELECT id, document_id, title, text, ordinal FROM Chunk WHERE id IN :ids"

# === the entity neighbourhood people explore (GraphView) =====================================
ENTITY_GET = "MATCH (e:Entity {key: $key}) RETURN e.key AS key, e.name AS name, e.type AS type"

# Co-occurring entities (from the mentions' `cooc`, at most `cap` mentions per entity) and SAME_AS
# synonyms, strongest first.
NEIGHBOURS = """
UNWIND $keys AS k MATCH (a:Entity {key: k})
CALL { WITH a MATCH (a)<-[m:MENTIONS]-(:Chunk) WHERE m.cooc IS NOT NULL RETURN m.cooc AS cooc LIMIT $cap }
UNWIND cooc AS other
WITH k, other, count(*) AS weight
MATCH (b:Entity {key: other})
RETURN k AS source, b.key AS target, b.name AS name, b.type AS type, 'RELATED' AS rel, toFloat(weight) AS weight
ORDER BY weight DESC
LIMIT $limit
"""
SYNONYMS = """
UNWIND $keys AS k MATCH (a:Entity {key: k})-[r:SAME_AS]-(b:Entity)
RETURN k AS source, b.key AS target, b.name AS name, b.type AS type, 'SAME_AS' AS rel, r.similarity AS weight
ORDER BY weight DESC
LIMIT $limit
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


# --- whole-graph comparison (ingestion/graph_diff.py) --------------------------------------------
# Everything ingestion writes, read in pages of `$limit` rows after the key `$after` (each returns its
# page key as `_k`), or whole for the edges; for tests and benchmarks that compare two engines' graphs.

SNAPSHOT_DOCUMENTS = """
MATCH (d:Document) WHERE d.id > $after
RETURN d.id AS _k, d.id AS id, d.source AS source, d.title AS title, d.content_hash AS hash,
       d.chunk_count AS chunks, d.metadata_json AS meta
ORDER BY d.id LIMIT $limit
"""

SNAPSHOT_CHUNKS = """
MATCH (c:Chunk) WHERE c.id > $after
RETURN c.id AS _k, c.id AS id, c.document_id AS doc, c.ordinal AS o, c.title AS title, c.text AS text,
       c.start_char AS s, c.end_char AS e, c.embedding AS v
ORDER BY c.id LIMIT $limit
"""

SNAPSHOT_ENTITIES = """
MATCH (e:Entity) WHERE e.key > $after
RETURN e.key AS _k, e.key AS key, e.name AS name, e.type AS type, e.folded AS folded, e.linked AS linked,
       e.embedding AS v
ORDER BY e.key LIMIT $limit
"""

SNAPSHOT_HAS_CHUNK = "MATCH (d:Document)-[:HAS_CHUNK]->(c:Chunk) RETURN d.id AS d, c.id AS c"
SNAPSHOT_NEXT = "MATCH (a:Chunk)-[:NEXT]->(b:Chunk) RETURN a.id AS a, b.id AS b"
SNAPSHOT_MENTIONS = ("MATCH (c:Chunk)-[m:MENTIONS]->(e:Entity) "
                     "RETURN c.id AS c, e.key AS k, m.count AS n, m.cooc AS cooc")
SNAPSHOT_SAME_AS = "MATCH (a:Entity)-[s:SAME_AS]->(b:Entity) RETURN a.key AS a, b.key AS b, s.similarity AS s"
# Schema v4 deleted every RELATED edge; a graph that has one again was written by old code
SNAPSHOT_RELATED = "MATCH ()-[r:RELATED]->() RETURN count(r) AS n"
