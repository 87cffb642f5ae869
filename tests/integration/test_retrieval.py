"""Retrieval against a real ArcadeDB holding a tiny handcrafted graph.

The corpus hides its answer passage ("Quillon Harbor") two entity hops from the question: it
shares no word with the question and the embedding model prefers the distractors, so only the
graph (Zorblax Industries -> Mirela Vantosh -> Quillon Harbor) can bring it up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from graphrag.arcadedb import ArcadeDB
from graphrag.embeddings import SentenceTransformerEmbedder
from graphrag.errors import RetrievalError
from graphrag.nlp import load_spacy
from graphrag.normalize import entity_key
from graphrag.queries import SET_MENTION_COUNTS
from graphrag.retrieval import HybridRetriever, RetrievalConfig
from graphrag.retrieval.langchain import GraphRAGRetriever
from graphrag.retrieval.question import QuestionAnalyzer
from graphrag.store import MENTION_COUNT_CAP

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
# named together in one sentence of that document (stored on both mentions, as ingestion does)
COOCCURRING = [("Zorblax Industries", "Mirela Vantosh", "d-zorblax"), ("Mirela Vantosh", "Quillon Harbor", "d-mirela")]

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
MERGE (c)-[m:MENTIONS]->(e) SET m.count = 1, m.cooc = r.cooc
"""


def seed_graph(db: ArcadeDB, embedder: SentenceTransformerEmbedder) -> ArcadeDB:
    """Write DOCS, their entities and mentions (with co-occurrence) into `db`."""
    vectors = embedder.embed([f"{title}\n{text}" for _, title, text, _ in DOCS])
    db.cypher(WRITE_DOCS, {"rows": [
        {"doc_id": doc_id, "source": f"test://{doc_id}", "title": title, "hash": doc_id, "chunk_id": f"{doc_id}#0",
         "text": text, "end": len(text), "embedding": vector.tolist()}
        for (doc_id, title, text, _), vector in zip(DOCS, vectors, strict=True)]})
    names = sorted({n for *_, ents in DOCS for n in ents})
    name_vectors = embedder.embed(names)
    db.cypher(WRITE_ENTITIES, {"rows": [{"key": entity_key(n), "name": n, "type": "ORG", "embedding": v.tolist()}
                                        for n, v in zip(names, name_vectors, strict=True)]})
    cooc: dict[tuple[str, str], list[str]] = {}
    for a, b, doc in COOCCURRING:
        cooc.setdefault((doc, entity_key(a)), []).append(entity_key(b))
        cooc.setdefault((doc, entity_key(b)), []).append(entity_key(a))
    db.cypher(WRITE_MENTIONS, {"rows": [{"chunk_id": f"{doc_id}#0", "key": entity_key(n),
                                         "cooc": cooc.get((doc_id, entity_key(n)), [])}
                                        for doc_id, *_, ents in DOCS for n in ents]})
    db.cypher(SET_MENTION_COUNTS, {"keys": [entity_key(n) for n in names], "cap": MENTION_COUNT_CAP})
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
    assert [p.chunk_id for p in result.passages] == list(dict.fromkeys(p.chunk_id for p in result.passages))
    assert all(p.channels for p in result.passages)
    assert result.timings_ms["total"] > 0


def test_hop_limit_is_respected(graph_db: ArcadeDB, embedder: SentenceTransformerEmbedder) -> None:
    one_hop = HybridRetriever(graph_db, embedder, config=RetrievalConfig(graph_hops=1, use_ner=False))
    result = one_hop.retrieve(QUESTION, ranking="graph", top_k=5)
    assert ANSWER_DOC not in [p.document_id for p in result.passages]
    # a request's `hops` means the same, per call
    two_hop = HybridRetriever(graph_db, embedder, config=RetrievalConfig(use_ner=False))
    assert ANSWER_DOC not in [p.document_id for p in two_hop.retrieve(QUESTION, ranking="graph", top_k=5,
                                                                      hops=1).passages]
    assert ANSWER_DOC in [p.document_id for p in two_hop.retrieve(QUESTION, ranking="graph", top_k=5,
                                                                  hops=2).passages]


def test_hops_bound_how_far_the_pagerank_neighbourhood_grows(graph_db: ArcadeDB,
                                                              embedder: SentenceTransformerEmbedder) -> None:
    """Under the default ranking `hops` is 1 + the number of expansion rounds: more hops read more."""
    retriever = HybridRetriever(graph_db, embedder, config=RetrievalConfig(top_k=5, ppr_dense_read=1),
                                nlp=load_spacy())
    rows = [retriever.retrieve(QUESTION, hops=h).timings_ms["ppr_rows"] for h in (1, 3)]
    assert rows[0] < rows[1]
    with pytest.raises(RetrievalError, match="hops"):
        retriever.retrieve(QUESTION, hops=4)


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


def test_a_write_is_seen_by_the_very_next_retrieval(make_db: Callable[..., ArcadeDB], server: Any,
                                                     embedder: SentenceTransformerEmbedder) -> None:
    """The retriever holds no copy of the graph: a document deleted or added (here by another
    client, as another process would) is reflected in the next request, with nothing to invalidate."""
    from graphrag.store import (
        ChunkRecord,
        DocumentRecord,
        EntityRecord,
        GraphBatch,
        GraphStore,
        MentionRecord,
        RelationRecord,
    )

    db = seed_graph(make_db("retrieval_fresh"), embedder)
    retriever = HybridRetriever(db, embedder, config=RetrievalConfig(top_k=7), nlp=load_spacy())
    assert ANSWER_DOC in [p.document_id for p in retriever.retrieve(QUESTION).passages]
    assert GraphStore(db).delete_document(ANSWER_DOC) is not None
    result = retriever.retrieve(QUESTION)
    assert result.passages and ANSWER_DOC not in [p.document_id for p in result.passages]
    assert not any("Quillon Harbor hosts" in p.text for p in result.passages)
    # written back through the real write path, by another client (as another process would)
    _, title, text, names = next(d for d in DOCS if d[0] == ANSWER_DOC)
    vector = embedder.embed([f"{title}\n{text}"])[0].tolist()
    GraphStore(ArcadeDB(server.url, db.database, "root", server.password)).write_batch(GraphBatch(
        documents=[DocumentRecord(ANSWER_DOC, "test", title, "v2", 1)],
        chunks=[ChunkRecord(f"{ANSWER_DOC}#v2#0", ANSWER_DOC, 0, title, text, 0, len(text), vector)],
        entities=[EntityRecord(entity_key(n), n, "ORG") for n in names],
        mentions=[MentionRecord(f"{ANSWER_DOC}#v2#0", entity_key(n)) for n in names],
        relations=[RelationRecord(entity_key("Mirela Vantosh"), entity_key("Quillon Harbor"),
                                  [f"{ANSWER_DOC}#v2#0"])]))
    again = retriever.retrieve(QUESTION)
    assert ANSWER_DOC in [p.document_id for p in again.passages]
    assert any("Quillon Harbor hosts" in p.text for p in again.passages)


HUB_MENTIONS = 10_000


def _hub_chunks(start: int, end: int) -> Any:
    from graphrag.store import ChunkRecord, DocumentRecord, GraphBatch, MentionRecord

    batch = GraphBatch()
    for i in range(start, end):
        batch.documents.append(DocumentRecord(f"hub-{i}", "test", "Filler", f"h{i}", 1))
        batch.chunks.append(ChunkRecord(f"hub-{i}#0", f"hub-{i}", 0, "Filler", "filler", 0, 6, None))  # type: ignore[arg-type]
        batch.mentions.append(MentionRecord(f"hub-{i}#0", "mirela vantosh"))
    return batch


def test_a_hub_entity_does_not_pull_its_chunks_into_the_neighbourhood(
        make_db: Callable[..., ArcadeDB], embedder: SentenceTransformerEmbedder) -> None:
    """Mirela Vantosh, the bridge of the question, is named by 10,000 more chunks here: she is a hub
    (over `ppr_entity_cap`), so her mentions are never read; the rows the ranking reads stay
    bounded, and the passage that names her next to Zorblax is still found. No edge is counted at
    query time: the writes keep the count (exact up to MENTION_COUNT_CAP)."""
    from graphrag.store import GraphStore

    db = seed_graph(make_db("retrieval_hub"), embedder)
    for start in range(0, HUB_MENTIONS, 2500):  # through the real write path, which keeps the counts
        GraphStore(db).write_batch(_hub_chunks(start, start + 2500))
    config = RetrievalConfig(top_k=5)
    retriever = HybridRetriever(db, embedder, config=config, nlp=load_spacy())
    analysis = retriever.analyze("Where did Zorblax Industries' founder Mirela Vantosh grow up?")
    seeds = {s.key: s for s in analysis.seeds}
    assert seeds["mirela vantosh"].mentions == MENTION_COUNT_CAP + 1  # counted up to the cap: a hub
    dense = {c: 0.5 for c in (f"{doc}#0" for doc, *_ in DOCS)}
    ranking = retriever.ppr.rank(analysis.seeds, dense)
    nb = ranking.neighbourhood
    assert nb.vocabulary.entity("mirela vantosh") not in nb.complete_entities  # a hub: its 10,002 mentions unread
    assert sum(1 for chunk, key in nb.mentions if key == "mirela vantosh") <= len(DOCS)
    # everything read: the 7 passages' own mentions, and the non-hub seed's; far below the hub's size
    assert nb.rows_read <= config.ppr_entity_cap + 50
    assert ranking.graph.n_chunks <= len(DOCS)
    assert "d-zorblax#0" in [ranking.graph.chunk_ids[i] for i in retriever.ppr.top_chunks(ranking.scores, 3)]


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
        assert [p.text for p in a.passages] == [p.text for p in b.passages]


def test_the_question_encoder_on_onnx_runtime_matches_the_eager_model_and_ranks_the_same(
        graph_db: ArcadeDB, embedder: SentenceTransformerEmbedder) -> None:
    """The API's default question encoder (GRAPHRAG_API_QUESTION_RUNTIME=onnxruntime): the trace exported
    to ONNX and run by ONNX Runtime gives the eager model's vectors, and the same passages ranked."""
    from graphrag.embeddings import TracedEmbedder

    onnx = TracedEmbedder(embedder, runtime="onnxruntime")
    texts = [QUESTION, "Who?", "  Zorblax Industries  ", "word " * 400, *[text for _, _, text, _ in DOCS]]
    for batch in ([QUESTION], texts[:3], texts):
        got, want = onnx.embed(batch), embedder.embed(batch)
        assert got.shape == want.shape and got.dtype == want.dtype
        assert float(abs(got - want).max()) < 1e-5
    assert onnx._session is not None and onnx.runtime == "onnxruntime"  # no silent TorchScript fallback
    again = TracedEmbedder(embedder, runtime="onnxruntime")  # every app a test builds: exported once a process
    again.embed([QUESTION])
    assert again._session is onnx._session
    for threads in (1, 2):  # the API's api_native_threads, not torch's count when the session is made
        sized = TracedEmbedder(embedder, runtime="onnxruntime", threads=threads)
        sized.embed([QUESTION])
        assert sized._session.get_session_options().intra_op_num_threads == threads
    assert TracedEmbedder(embedder, dtype="bfloat16", runtime="onnxruntime").runtime == "torchscript"
    eager = HybridRetriever(graph_db, embedder, config=RetrievalConfig(top_k=7), nlp=load_spacy())
    served = HybridRetriever(graph_db, onnx, config=RetrievalConfig(top_k=7), nlp=load_spacy())
    for question in (QUESTION, "Where did Mirela Vantosh grow up?"):
        a, b = eager.retrieve(question), served.retrieve(question)
        assert [p.chunk_id for p in a.passages] == [p.chunk_id for p in b.passages]


def test_the_bfloat16_question_encoder_stays_close_to_the_eager_model_and_ranks_the_same(
        graph_db: ArcadeDB, embedder: SentenceTransformerEmbedder) -> None:
    """bfloat16 weights (GRAPHRAG_API_QUESTION_DTYPE=bfloat16): float32 unit vectors within
    cosine 0.999 of the eager model's, the float32 model left as it was, and the same passages ranked."""
    from graphrag.embeddings import TracedEmbedder

    half = TracedEmbedder(embedder, dtype="bfloat16")
    texts = [QUESTION, "Who?", "word " * 400, *[text for _, _, text, _ in DOCS]]
    got, want = half.embed(texts), embedder.embed(texts)
    assert half._traced is not None and got.dtype == np.float32 and got.shape == want.shape
    assert float(np.abs(np.linalg.norm(got, axis=1) - 1).max()) < 1e-5
    cosines = (got * want).sum(axis=1)
    assert float(cosines.min()) > 0.999, cosines
    import torch

    assert {p.dtype for p in half._traced.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in embedder._model.parameters()} == {torch.float32}  # the documents' model untouched
    assert float(abs(TracedEmbedder(embedder).embed(texts) - want).max()) < 1e-5
    eager = HybridRetriever(graph_db, embedder, config=RetrievalConfig(top_k=7), nlp=load_spacy())
    traced = HybridRetriever(graph_db, half, config=RetrievalConfig(top_k=7), nlp=load_spacy())
    for question in (QUESTION, "Where did Mirela Vantosh grow up?"):
        a, b = eager.retrieve(question), traced.retrieve(question)
        assert [p.chunk_id for p in a.passages] == [p.chunk_id for p in b.passages]


def test_the_int8_question_encoder_stays_close_to_the_eager_model_and_ranks_the_same(
        graph_db: ArcadeDB, embedder: SentenceTransformerEmbedder) -> None:
    """int8 weights on ONNX Runtime (GRAPHRAG_API_QUESTION_DTYPE=int8): float32 unit vectors within
    cosine 0.97 of the eager model's (0.991 at worst over musique_100's questions, 0.976 for "Who?"), not
    the float32 ones (it is quantized), on ONNX Runtime whatever runtime is asked for, and the same passages ranked."""
    from graphrag.embeddings import TracedEmbedder

    quantized = TracedEmbedder(embedder, dtype="int8", runtime="torchscript")
    assert quantized.runtime == "onnxruntime"
    texts = [QUESTION, "Who?", "word " * 400, *[text for _, _, text, _ in DOCS]]
    got, want = quantized.embed(texts), embedder.embed(texts)
    assert quantized._session is not None and got.dtype == np.float32 and got.shape == want.shape
    assert float(np.abs(np.linalg.norm(got, axis=1) - 1).max()) < 1e-5
    cosines = (got * want).sum(axis=1)
    assert float(cosines.min()) > 0.97 and float(cosines.max()) < 0.99999, cosines
    assert quantized._session is not TracedEmbedder(embedder, runtime="onnxruntime")._compiled()[1]
    eager = HybridRetriever(graph_db, embedder, config=RetrievalConfig(top_k=7), nlp=load_spacy())
    served = HybridRetriever(graph_db, quantized, config=RetrievalConfig(top_k=7), nlp=load_spacy())
    for question in (QUESTION, "Where did Mirela Vantosh grow up?"):
        a, b = eager.retrieve(question), served.retrieve(question)
        assert [p.chunk_id for p in a.passages] == [p.chunk_id for p in b.passages]


def test_question_inputs_from_tokenizer_json_are_sentence_transformers_own(
        embedder: SentenceTransformerEmbedder) -> None:
    """The API makes the encoder's inputs with the tokenizers library alone (no torch in its process):
    the same ids, masks and types as sentence-transformers' preprocessing, for a padded batch and for
    blank, padded, accented, CJK, control-character and over-long texts alone."""
    from graphrag.embeddings import QuestionTokenizer

    tokenizer = QuestionTokenizer.for_model(embedder.path, embedder.max_tokens)
    assert tokenizer is not None
    texts = [QUESTION, "  Zorblax Industries  ", "Who?", "word " * 400, "Émile Zola's café — naïve résumé",
             "北京 is a city", "", "a\tb\nc", "x" * 3000]
    for batch in (texts, *([text] for text in texts)):
        features = embedder._model.preprocess(batch)
        want = [features[name].numpy() for name in ("input_ids", "attention_mask", "token_type_ids")]
        got = tokenizer(batch)
        assert all(g.dtype == np.int64 and np.array_equal(g, w) for g, w in zip(got, want, strict=True)), batch
    assert tokenizer(["word " * 400])[0].shape == (1, embedder.max_tokens)


def test_the_question_encoder_is_kept_in_its_cache_and_made_again_when_the_file_is_bad(
        embedder: SentenceTransformerEmbedder, tmp_path: Path) -> None:
    """The API's ONNX question encoder is kept between starts (`GRAPHRAG_MODEL_CACHE_DIR`): the first
    start exports and quantizes it into an owner-only folder, a later one loads the file without tracing
    and embeds the same vectors, and a file ONNX Runtime cannot load is made again. (A different thread
    count stands for a new process: the in-process memo is per thread count.)"""
    from graphrag.embeddings import TracedEmbedder

    cache = tmp_path / "cache"
    texts = [QUESTION, "Who?", *[text for _, _, text, _ in DOCS]]
    first = TracedEmbedder(embedder, dtype="int8", threads=1, cache_dir=cache)
    made = first.embed(texts)
    files = list(cache.glob("question-encoder-int8-*.onnx"))
    assert len(files) == 1 and first._traced is not None and list(cache.iterdir()) == files  # no temporary left
    assert cache.stat().st_mode & 0o077 == 0
    loaded = TracedEmbedder(embedder, dtype="int8", threads=2, cache_dir=cache)
    again = loaded.embed(texts)
    assert loaded._session is not None and loaded._traced is None  # from the file: nothing traced or exported
    assert float(np.abs(again - made).max()) < 1e-5
    files[0].write_bytes(b"half a model")
    remade = TracedEmbedder(embedder, dtype="int8", threads=3, cache_dir=cache)
    assert float(np.abs(remade.embed(texts) - made).max()) < 1e-5 and remade._traced is not None
    assert files[0].stat().st_size > 1_000_000
    float32 = TracedEmbedder(embedder, dtype="float32", runtime="onnxruntime", threads=1, cache_dir=cache)
    assert float(np.abs(float32.embed(texts) - embedder.embed(texts)).max()) < 1e-5
    assert len(list(cache.glob("question-encoder-*.onnx"))) == 2  # one file per dtype


def test_a_cache_folder_of_another_user_is_not_used(embedder: SentenceTransformerEmbedder, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """A model file is code the service runs: one in a folder someone else owns is never loaded (the
    encoder is made in the process instead, and the log says why)."""
    import os

    from graphrag.embeddings import TracedEmbedder

    cache = tmp_path / "theirs"
    cache.mkdir()
    monkeypatch.setattr(os, "getuid", lambda: cache.stat().st_uid + 1)  # as if the folder were another's
    with caplog.at_level("WARNING", logger="graphrag.embeddings"):
        encoder = TracedEmbedder(embedder, dtype="int8", threads=4, cache_dir=cache)
        vectors = encoder.embed([QUESTION])
    assert "belongs to another user" in caplog.text
    assert encoder._session is not None and vectors.shape == (1, embedder.dimension)
    assert list(cache.iterdir()) == []  # nothing read from it, nothing written to it


def test_cpu_lock_guards_ner_and_ppr_only(graph_db: ArcadeDB, embedder: SentenceTransformerEmbedder) -> None:
    """The API's shared lock is held for question NER and for the ranking's work between its reads,
    never for the embedding (which batches across requests), a database read, or the whole request."""
    import threading

    class Recording:
        def __init__(self) -> None:
            self.lock = threading.Lock()
            self.owner: int | None = None
            self.entered = 0

        def __enter__(self) -> None:
            self.lock.acquire()
            self.owner = threading.get_ident()
            self.entered += 1

        def __exit__(self, *exc: object) -> None:
            self.owner = None
            self.lock.release()

        def held_here(self) -> bool:
            # the vector query runs on a pool thread while this request's NER holds the lock:
            # what matters is that no call *made under the lock* waits on the network or the model
            return self.owner == threading.get_ident()

    class Embedder:
        dimension = embedder.dimension

        def embed(self, texts: list[str]) -> Any:
            assert not guard.held_here(), "the embedding must run outside the CPU lock"
            return embedder.embed(texts)

    class Database:
        def __getattr__(self, name: str) -> Any:
            method = getattr(graph_db, name)
            if name not in ("cypher", "sql", "sql_rows", "cypher_rows"):
                return method

            def call(*args: Any, **kwargs: Any) -> Any:
                assert not guard.held_here(), "a database read must run outside the CPU lock"
                return method(*args, **kwargs)
            return call

    guard = Recording()
    locked = HybridRetriever(Database(), Embedder(), config=RetrievalConfig(top_k=5), nlp=load_spacy(),  # type: ignore[arg-type]
                             cpu_lock=guard)
    plain = HybridRetriever(graph_db, embedder, config=RetrievalConfig(top_k=5), nlp=load_spacy())
    a, b = locked.retrieve(QUESTION), plain.retrieve(QUESTION)
    assert guard.entered >= 3 and not guard.lock.locked()  # NER, the ranking, and again after each read
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

    from cli.main import app

    args = ["--db-url", server.url, "--db-name", graph_db.database, "search", QUESTION, "--top-k", "3", "--json"]
    env = {"GRAPHRAG_DB_PASSWORD": server.password}
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)  # the JSON of POST /v1/retrieve, whoever answered
    assert payload["question"] == QUESTION and len(payload["sources"]) == 3
    assert ANSWER_DOC in [s["document_id"] for s in payload["sources"]]
    shown = CliRunner().invoke(app, args[:-1], env=env)
    assert shown.exit_code == 0, shown.output
    assert payload["sources"][0]["snippet"][:60] in shown.stdout  # the passage's text, not only its id
    empty = CliRunner().invoke(app, [*args[:4], "search", "  "], env=env)
    assert empty.exit_code == 2  # a usage error


def test_ask_command_answers_with_citations(graph_db: ArcadeDB, server: Any) -> None:
    """`graphrag ask`: without an LLM the answer is extractive, its markers point at cited passages,
    and the terminal shows each citation under the answer."""
    from typer.testing import CliRunner

    from cli.main import app

    args = ["--db-url", server.url, "--db-name", graph_db.database, "ask", QUESTION, "--top-k", "3"]
    env = {"GRAPHRAG_DB_PASSWORD": server.password, "GRAPHRAG_LLM_BASE_URL": None}
    as_json = CliRunner().invoke(app, [*args, "--json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    answer = json.loads(as_json.stdout)
    assert answer["mode"] == "extractive" and answer["question"] == QUESTION
    assert answer["citations"] and all(1 <= c["n"] <= 3 for c in answer["citations"])  # of the 3 passages
    assert all(f"[{c['n']}]" in answer["answer"] for c in answer["citations"])
    shown = CliRunner().invoke(app, args, env=env)
    assert shown.exit_code == 0, shown.output
    first = answer["citations"][0]
    assert answer["answer"].strip()[:40] in shown.stdout
    assert f"[{first['n']}] {first['title']} ({first['document_id']})" in shown.stdout
    assert "extractive answer" in shown.stdout
    for blank in ("", "  ", "?!"):
        empty = CliRunner().invoke(app, [*args[:4], "ask", blank], env=env)
        assert empty.exit_code == 2, (blank, empty.output)  # a usage error, as `fail` documents


@pytest.mark.parametrize("state", ["rebuilding", "blocked"])
def test_an_unanswering_vector_index_is_noticed_and_the_keyword_index_stands_in(
        graph_db: ArcadeDB, embedder: SentenceTransformerEmbedder, state: str) -> None:
    """The LSM_VECTOR index returns no rows while it rebuilds and blocks before its first build (both
    seen on 26.10.2). The real database answers everything else; only the vector query is replaced
    by what the index does in those states. The ranking must notice and use the keyword index."""
    import threading

    from graphrag import queries

    release = threading.Event()

    class IndexInTrouble:
        def __getattr__(self, name: str) -> Any:
            return getattr(graph_db, name)

        def sql_rows(self, statement: str, params: dict[str, Any] | None = None) -> Any:
            if queries.CHUNK_VECTOR_HITS in statement:  # alone, or with the graph's fingerprint
                if state == "blocked":
                    release.wait(30)
                statement = statement.replace(queries.CHUNK_VECTOR_HITS, "SELECT FROM Chunk LIMIT 0")
            return graph_db.sql_rows(statement, params)

    retriever = HybridRetriever(IndexInTrouble(), embedder,  # type: ignore[arg-type]
                                config=RetrievalConfig(top_k=5, dense_timeout_s=0.5), nlp=load_spacy())
    try:
        result = retriever.retrieve("Who founded Zorblax Industries, the shipbuilding firm?")
    finally:
        release.set()
    assert result.timings_ms.get("dense_fallback") == 1.0
    assert "d-zorblax" in [p.document_id for p in result.passages]
    healthy = HybridRetriever(graph_db, embedder, config=RetrievalConfig(top_k=5), nlp=load_spacy())
    assert "dense_fallback" not in healthy.retrieve("Who founded Zorblax Industries?").timings_ms
