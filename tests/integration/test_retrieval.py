"""Retrieval against a real ArcadeDB holding a tiny handcrafted graph.

The corpus hides its answer passage ("Quillon Harbor") two entity hops from the question: it
shares no word with the question and the embedding model prefers the distractors, so only the
graph (Zorblax Industries -> Mirela Vantosh -> Quillon Harbor) can bring it up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from graphrag.arcadedb import ArcadeDB
from graphrag.embeddings import SentenceTransformerEmbedder
from graphrag.errors import RetrievalError
from graphrag.nlp import load_spacy
from graphrag.normalize import entity_key
from graphrag.retrieval import HybridRetriever, QuestionAnalyzer, RetrievalConfig
from graphrag.retrieval.langchain import GraphRAGRetriever

QUESTION = "What celebration happens where the founder of Zorblax Industries grew up?"
ANSWER_DOC = "d-quillon"

# (document id, title, text, entity names mentioned)
DOCS = [
    ("d-zorblax", "Zorblax Industries",
     "Zorblax Industries is a shipbuilding firm founded by Mirela Vantosh in 1911.",
     ["Zorblax Industries", "Mirela Vantosh"]),
    ("d-mirela", "Mirela Vantosh",
     "Mirela Vantosh spent her childhood in Quillon Harbor before sailing abroad.",
     ["Mirela Vantosh", "Quillon Harbor"]),
    (ANSWER_DOC, "Quillon Harbor",
     "Quillon Harbor hosts a yearly lantern parade, drawing crowds every autumn.",
     ["Quillon Harbor"]),
    # distractors: closer to the question than the answer is, for the embedding model
    ("d-heritage", "Industrial heritage",
     "Old factories are sometimes turned into museums about local industry.", []),
    ("d-shipbuilding", "Shipbuilding",
     "Shipbuilding firms of the early twentieth century were often started by families.", []),
    ("d-parties", "Corporate culture",
     "Company parties are a common way to reward employees at the end of the year.", []),
    ("d-picard", "Jean-Luc Ardent",
     "Jean-Luc Ardent was a cartographer who charted the northern coasts.",
     ["Jean-Luc Ardent"]),
]
RELATED = [("Zorblax Industries", "Mirela Vantosh", "d-zorblax"), ("Mirela Vantosh", "Quillon Harbor", "d-mirela")]

WRITE_DOCS = """
UNWIND $rows AS r
CREATE (d:Document {id: r.doc_id, source: r.source, title: r.title, content_hash: r.hash})
CREATE (c:Chunk {id: r.chunk_id, document_id: r.doc_id, ordinal: 0, title: r.title, text: r.text,
                 start_char: 0, end_char: r.end})
SET c.embedding = r.embedding
CREATE (d)-[:HAS_CHUNK]->(c)
"""
WRITE_ENTITIES = """
UNWIND $rows AS r
MERGE (e:Entity {key: r.key}) SET e.name = r.name, e.type = r.type, e.embedding = r.embedding
"""
WRITE_MENTIONS = """
UNWIND $rows AS r
MATCH (c:Chunk {id: r.chunk_id}), (e:Entity {key: r.key})
MERGE (c)-[:MENTIONS]->(e)
"""
WRITE_RELATED = """
UNWIND $rows AS r
MATCH (a:Entity {key: r.a}), (b:Entity {key: r.b})
MERGE (a)-[x:RELATED]->(b) SET x.weight = r.weight, x.evidence = r.evidence
"""


def seed_graph(db: ArcadeDB, embedder: SentenceTransformerEmbedder) -> ArcadeDB:
    """Write DOCS, their entities, mentions and RELATED edges into `db`."""
    vectors = embedder.embed([f"{title}\n{text}" for _, title, text, _ in DOCS])
    db.cypher(WRITE_DOCS, {"rows": [
        {"doc_id": doc_id, "source": f"test://{doc_id}", "title": title, "hash": doc_id, "chunk_id": f"{doc_id}#0",
         "text": text, "end": len(text), "embedding": vector.tolist()}
        for (doc_id, title, text, _), vector in zip(DOCS, vectors, strict=True)]})
    names = sorted({n for *_, ents in DOCS for n in ents})
    name_vectors = embedder.embed(names)
    db.cypher(WRITE_ENTITIES, {"rows": [{"key": entity_key(n), "name": n, "type": "ORG", "embedding": v.tolist()}
                                        for n, v in zip(names, name_vectors, strict=True)]})
    db.cypher(WRITE_MENTIONS, {"rows": [{"chunk_id": f"{doc_id}#0", "key": entity_key(n)}
                                        for doc_id, *_, ents in DOCS for n in ents]})
    db.cypher(WRITE_RELATED, {"rows": [{"a": entity_key(a), "b": entity_key(b), "weight": 1.0,
                                        "evidence": [f"{doc}#0"]} for a, b, doc in RELATED]})
    return db


@pytest.fixture(scope="module")
def graph_db(make_db: Callable[..., ArcadeDB], embedder: SentenceTransformerEmbedder) -> ArcadeDB:
    return seed_graph(make_db("retrieval"), embedder)


@pytest.fixture(scope="module")
def retriever(graph_db: ArcadeDB, embedder: SentenceTransformerEmbedder) -> HybridRetriever:
    return HybridRetriever(graph_db, embedder, config=RetrievalConfig(top_k=5), nlp=load_spacy())


def _docs(retriever: HybridRetriever, ranking: str, k: int = 3) -> list[str]:
    result = retriever.retrieve(QUESTION, ranking=ranking, top_k=k)  # type: ignore[arg-type]
    return [p.document_id for p in result.passages]


def test_answer_shares_no_word_with_question() -> None:
    words = {w.strip("?,.").lower() for w in QUESTION.split()}
    answer = next(text for doc, _, text, _ in DOCS if doc == ANSWER_DOC)
    assert not words & {w.strip("?,.").lower() for w in answer.split()}


def test_dense_alone_misses_the_two_hop_passage(retriever: HybridRetriever) -> None:
    assert ANSWER_DOC not in _docs(retriever, "dense")


def test_keyword_alone_misses_it_too(retriever: HybridRetriever) -> None:
    assert ANSWER_DOC not in _docs(retriever, "keyword")


@pytest.mark.parametrize("ranking", ["graph", "rrf", "ppr"])
def test_graph_and_fused_rankings_reach_it(retriever: HybridRetriever, ranking: str) -> None:
    assert ANSWER_DOC in _docs(retriever, ranking)


def test_graph_channel_explains_the_path(retriever: HybridRetriever) -> None:
    result = retriever.retrieve(QUESTION, ranking="graph", top_k=3)
    answer = next(p for p in result.passages if p.document_id == ANSWER_DOC)
    assert answer.channels == ["graph"]
    path = next(path for path in result.paths if path[-1].target == "Quillon Harbor")
    assert [(s.source, s.relation, s.target) for s in path] == [
        ("Zorblax Industries", "RELATED", "Mirela Vantosh"),
        ("Mirela Vantosh", "RELATED", "Quillon Harbor"),
        ("Quillon Harbor", "MENTIONED_IN", "Quillon Harbor"),
    ]


def test_default_result_is_cited_and_numbered(retriever: HybridRetriever) -> None:
    result = retriever.retrieve(QUESTION)
    assert result.ranking == "ppr"
    assert [s.key for s in result.seeds] == ["zorblax industries"]
    assert result.context.startswith("[1] ")
    for n, chunk_id in result.markers.items():
        passage = next(p for p in result.passages if p.chunk_id == chunk_id)
        assert f"[{n}] {passage.title}\n" in result.context
        assert result.marker_documents[n] == passage.document_id
    assert all(p.channels for p in result.passages)
    assert result.timings_ms["total"] > 0


def test_hop_limit_is_respected(graph_db: ArcadeDB, embedder: SentenceTransformerEmbedder) -> None:
    one_hop = HybridRetriever(graph_db, embedder, config=RetrievalConfig(graph_hops=1, use_ner=False))
    result = one_hop.retrieve(QUESTION, ranking="graph", top_k=5)
    assert ANSWER_DOC not in [p.document_id for p in result.passages]


@pytest.mark.parametrize("question", [
    "Who charted coasts with JEAN LUC ardent?",  # case and a missing hyphen
    "Which maps did Jean-Luc Ardent's crew draw?",  # possessive
    "who drew maps with jean-luc ardent",  # all lower case: no capital to anchor on
])
def test_seed_linking_tolerates_spelling(graph_db: ArcadeDB, embedder: SentenceTransformerEmbedder,
                                         question: str) -> None:
    analyzer = QuestionAnalyzer(graph_db, embedder, nlp=load_spacy())
    seeds = analyzer.analyze(question).seeds
    assert "jean luc ardent" in [s.key for s in seeds]
    assert all(s.mentions >= 1 for s in seeds)


def test_fuzzy_linking_scores_near_misses(graph_db: ArcadeDB, embedder: SentenceTransformerEmbedder) -> None:
    config = RetrievalConfig(fuzzy_linking=True, fuzzy_min_similarity=0.5)
    analyzer = QuestionAnalyzer(graph_db, embedder, nlp=None, config=config)
    seeds = {s.key: s for s in analyzer.analyze("Who ran Zorblax Shipyards?").seeds}
    assert "zorblax industries" in seeds
    assert seeds["zorblax industries"].source in {"fulltext", "vector"}
    assert 0 < seeds["zorblax industries"].score < 1


@pytest.mark.parametrize("ranking", ["ppr", "rrf", "dense", "keyword", "graph"])
def test_hostile_question_is_just_text(graph_db: ArcadeDB, retriever: HybridRetriever, ranking: str) -> None:
    question = ('Who founded "Zorblax Industries"\') MATCH (n) DETACH DELETE n RETURN 1 // '
                'title:foo* AND OR NOT ( ~2 ^3 $keys :q')
    before = graph_db.cypher("MATCH (n) RETURN count(n) AS n")
    result = retriever.retrieve(question, ranking=ranking)  # type: ignore[arg-type]
    assert graph_db.cypher("MATCH (n) RETURN count(n) AS n") == before
    if ranking in ("ppr", "graph"):
        assert "zorblax industries" in [s.key for s in result.seeds]
        assert "d-zorblax" in [p.document_id for p in result.passages]


def _passage_fields(result: Any) -> list[tuple[Any, ...]]:
    return [(p.chunk_id, p.document_id, p.title, p.text, p.ordinal, p.score, p.channel_ranks)
            for p in result.passages]


@pytest.mark.parametrize("question", [QUESTION, "Where did Mirela Vantosh grow up?", "What is shipbuilding?"])
def test_snapshot_passages_equal_database_passages(graph_db: ArcadeDB, embedder: SentenceTransformerEmbedder,
                                                   question: str) -> None:
    """PPR serves passage text from the in-memory snapshot; it must be exactly what the database holds."""
    from_snapshot = HybridRetriever(graph_db, embedder, config=RetrievalConfig(top_k=7), nlp=load_spacy())
    from_db = HybridRetriever(graph_db, embedder, config=RetrievalConfig(top_k=7, snapshot_passages=False),
                              nlp=load_spacy())
    assert from_snapshot.snapshots.get().has_passages
    a, b = from_snapshot.retrieve(question), from_db.retrieve(question)
    assert _passage_fields(a) == _passage_fields(b) and len(a.passages) == 7
    assert (a.context, a.markers, a.paths) == (b.context, b.markers, b.paths)
    stored = {r["id"]: r for r in graph_db.cypher(
        "MATCH (c:Chunk) RETURN c.id AS id, c.text AS text, c.title AS title, c.document_id AS doc")}
    for p in a.passages:
        assert (p.text, p.title, p.document_id) == (stored[p.chunk_id]["text"], stored[p.chunk_id]["title"],
                                                    stored[p.chunk_id]["doc"])


def test_deleted_document_never_comes_back_from_the_snapshot(make_db: Callable[..., ArcadeDB],
                                                              embedder: SentenceTransformerEmbedder) -> None:
    """A process that deletes a document invalidates its snapshot: the very next retrieval re-reads the
    graph (the periodic check is an hour away here) and none of the document's chunks is served."""
    from graphrag.store import GraphStore

    db = seed_graph(make_db("retrieval_delete"), embedder)
    retriever = HybridRetriever(db, embedder, config=RetrievalConfig(top_k=7, snapshot_check_s=3600),
                                nlp=load_spacy())
    assert ANSWER_DOC in [p.document_id for p in retriever.retrieve(QUESTION).passages]
    assert GraphStore(db).delete_document(ANSWER_DOC) is not None
    retriever.snapshots.invalidate()
    result = retriever.retrieve(QUESTION)
    assert result.passages and ANSWER_DOC not in [p.document_id for p in result.passages]
    assert f"{ANSWER_DOC}#0" not in retriever.snapshots.get().chunk_index
    assert "Quillon Harbor hosts" not in result.context


def test_a_write_in_one_process_invalidates_the_others(make_db: Callable[..., ArcadeDB],
                                                       embedder: SentenceTransformerEmbedder,
                                                       tmp_path: Any) -> None:
    """API workers share a generation file: the worker that deletes bumps it, and another worker's
    next `get()` re-reads the graph at once instead of serving its old snapshot for check_s."""
    from graphrag.retrieval.ppr import SnapshotCache
    from graphrag.store import GraphStore

    db = seed_graph(make_db("retrieval_workers"), embedder)
    shared = tmp_path / "snapshot-generation"
    writer = SnapshotCache(db, check_s=3600, generation_file=shared)
    reader = SnapshotCache(db, check_s=3600, generation_file=shared)
    assert f"{ANSWER_DOC}#0" in reader.get().chunk_index and f"{ANSWER_DOC}#0" in writer.get().chunk_index
    assert GraphStore(db).delete_document(ANSWER_DOC) is not None
    assert f"{ANSWER_DOC}#0" in reader.get().chunk_index  # nothing told it yet (hour-long interval)
    writer.invalidate()
    assert f"{ANSWER_DOC}#0" not in reader.get().chunk_index
    assert f"{ANSWER_DOC}#0" not in writer.get().chunk_index


def test_snapshot_signature_sees_a_same_shape_rewrite(graph_db: ArcadeDB) -> None:
    """Replacing documents with others of exactly the same counts still changes the signature
    (the latest `ingested_at`), so the snapshot, and the text it serves, is re-read."""
    from graphrag.retrieval.ppr import read_signature

    before = read_signature(graph_db)
    graph_db.cypher("MATCH (d:Document {id: $id}) SET d.ingested_at = $at",
                    {"id": "d-picard", "at": "2031-01-02 03:04:05"})
    after = read_signature(graph_db)
    assert after[:5] == before[:5] and after != before


def test_traced_embedder_matches_the_eager_model(embedder: SentenceTransformerEmbedder) -> None:
    """The API embeds questions with a TorchScript trace (GIL released for the whole pass): same
    vectors as the eager model, for one text, a padded batch, and a text past the 256-token limit."""
    from graphrag.embeddings import TracedEmbedder

    traced = TracedEmbedder(embedder)
    texts = [QUESTION, "Who?", "  Zorblax Industries  ", "word " * 400, *[text for _, _, text, _ in DOCS]]
    for batch in ([QUESTION], texts[:3], texts):
        got, want = traced.embed(batch), embedder.embed(batch)
        assert got.shape == want.shape and got.dtype == want.dtype
        assert float(abs(got - want).max()) < 1e-5
    assert traced._traced is not None  # it did trace (no silent eager fallback)
    assert traced.embed([]).shape == (0, embedder.dimension)


def test_retrieval_with_the_traced_embedder_ranks_the_same(graph_db: ArcadeDB,
                                                           embedder: SentenceTransformerEmbedder) -> None:
    from graphrag.embeddings import TracedEmbedder

    eager = HybridRetriever(graph_db, embedder, config=RetrievalConfig(top_k=7), nlp=load_spacy())
    traced = HybridRetriever(graph_db, TracedEmbedder(embedder), config=RetrievalConfig(top_k=7), nlp=load_spacy())
    for question in (QUESTION, "Where did Mirela Vantosh grow up?"):
        a, b = eager.retrieve(question), traced.retrieve(question)
        assert [p.chunk_id for p in a.passages] == [p.chunk_id for p in b.passages]
        assert a.context == b.context


def test_cpu_lock_guards_ner_and_ppr_only(graph_db: ArcadeDB, embedder: SentenceTransformerEmbedder) -> None:
    """The API's shared lock is held for question NER and for PPR ranking, never for the embedding
    (which batches across requests) and never across the whole request."""
    import threading

    class Recording:
        def __init__(self) -> None:
            self.lock = threading.Lock()
            self.entered = 0

        def __enter__(self) -> None:
            self.lock.acquire()
            self.entered += 1

        def __exit__(self, *exc: object) -> None:
            self.lock.release()

    class Embedder:
        dimension = embedder.dimension

        def embed(self, texts: list[str]) -> Any:
            assert not guard.lock.locked(), "the embedding must run outside the CPU lock"
            return embedder.embed(texts)

    guard = Recording()
    locked = HybridRetriever(graph_db, Embedder(), config=RetrievalConfig(top_k=5), nlp=load_spacy(),  # type: ignore[arg-type]
                             cpu_lock=guard)
    plain = HybridRetriever(graph_db, embedder, config=RetrievalConfig(top_k=5), nlp=load_spacy())
    a, b = locked.retrieve(QUESTION), plain.retrieve(QUESTION)
    assert guard.entered == 2 and not guard.lock.locked()
    assert [p.chunk_id for p in a.passages] == [p.chunk_id for p in b.passages]


def test_empty_question_is_refused(retriever: HybridRetriever) -> None:
    with pytest.raises(RetrievalError, match="empty"):
        retriever.retrieve("   ")


def test_langchain_adapter(retriever: HybridRetriever) -> None:
    documents = GraphRAGRetriever(retriever=retriever, top_k=3).invoke(QUESTION)
    assert len(documents) == 3
    assert {"chunk_id", "document_id", "title", "score", "channels", "n"} <= set(documents[0].metadata)
    assert documents[0].metadata["n"] == 1



def test_search_command(graph_db: ArcadeDB, server: Any) -> None:
    from typer.testing import CliRunner

    from api.cli import app

    args = ["--db-url", server.url, "--db-name", graph_db.database, "search", QUESTION, "--top-k", "3", "--json"]
    env = {"GRAPHRAG_DB_PASSWORD": server.password}
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["ranking"] == "ppr"
    assert ANSWER_DOC in [p["document_id"] for p in payload["passages"]]
    empty = CliRunner().invoke(app, [*args[:4], "search", "  "], env=env)
    assert empty.exit_code == 1
