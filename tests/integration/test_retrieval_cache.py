"""The graph cache against the real server and the real writers: what a question reads is kept
while the graph is unchanged, and a write or a delete counts from the very next question.

The questions are the same before and after each write, so a cache that missed the write would
answer from what it kept: the new document's entities and their mentions would be unknown to it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from graphrag.embeddings import SentenceTransformerEmbedder
from graphrag.nlp import load_spacy
from graphrag.queries import COUNT_CHUNKS, GRAPH_FINGERPRINT
from graphrag.retrieval import GraphCache, HybridRetriever, RetrievalConfig
from graphrag.store import GraphStore
from graphrag.types import SourceDocument
from ingestion.extraction import SpacyEntityExtractor
from ingestion.pipeline import IngestionConfig, IngestionPipeline

QUESTION = "Which festival is held in the town where Orsolya Kemeny was born?"
BASE = [
    SourceDocument(id="kemeny", source="t", title="Orsolya Kemeny",
                   text="Orsolya Kemeny is a violinist who was born in Tarvaszeg in 1931. "
                        "Orsolya Kemeny studied in Vienna."),
    SourceDocument(id="vienna", source="t", title="Vienna",
                   text="Vienna is the capital of Austria. Vienna hosts many concerts."),
    SourceDocument(id="violin", source="t", title="Violin",
                   text="A violin festival is a gathering of musicians who play string instruments."),
]
# the bridge passage: it names the town, not the violinist, so only the graph can bring it up
BRIDGE = SourceDocument(id="tarvaszeg", source="t", title="Tarvaszeg",
                        text="Tarvaszeg holds the Lanthorn Festival every August along the river Ilvesh.")


@pytest.fixture(scope="module")
def parts(make_db: Callable[..., ArcadeDB], server_settings: Settings,
          embedder: SentenceTransformerEmbedder) -> tuple[ArcadeDB, IngestionPipeline, HybridRetriever]:
    db = make_db("cache")
    pipeline = IngestionPipeline(server_settings, db, embedder, extractor=SpacyEntityExtractor(),
                                 config=IngestionConfig())
    pipeline.run(BASE)
    retriever = HybridRetriever(db, embedder, config=RetrievalConfig(top_k=4), nlp=load_spacy(),
                                cache=GraphCache(max_rows=100_000))
    return db, pipeline, retriever


def _fingerprint(db: ArcadeDB) -> tuple[str, int]:
    row = db.sql(GRAPH_FINGERPRINT)[0]
    return row["epoch"], int(row["changes"])


def _ranked(retriever: HybridRetriever) -> list[tuple[str, float]]:
    return [(p.document_id, round(p.score, 9)) for p in retriever.retrieve(QUESTION).passages]


def _uncached(retriever: HybridRetriever) -> HybridRetriever:
    return HybridRetriever(retriever.db, retriever.embedder, config=retriever.config, nlp=retriever.nlp,
                           cache=GraphCache(max_rows=0))


def test_a_repeated_question_is_served_from_the_cache(parts: tuple[ArcadeDB, IngestionPipeline,
                                                                    HybridRetriever]) -> None:
    _, _, retriever = parts
    first = retriever.retrieve(QUESTION)
    hits, misses = retriever.cache.hits, retriever.cache.misses
    assert retriever.cache.rows > 0 and misses > 0
    again = retriever.retrieve(QUESTION)
    assert retriever.cache.misses == misses, "the second question read the database again"
    assert retriever.cache.hits > hits
    assert [(p.chunk_id, p.score, p.title, p.text) for p in again.passages] == \
        [(p.chunk_id, p.score, p.title, p.text) for p in first.passages]  # the texts too, from the cache
    uncached = _uncached(retriever).retrieve(QUESTION)
    assert [(p.chunk_id, round(p.score, 9)) for p in uncached.passages] == \
        [(p.chunk_id, round(p.score, 9)) for p in first.passages]


def test_a_cached_question_costs_one_round_trip(parts: tuple[ArcadeDB, IngestionPipeline,
                                                             HybridRetriever]) -> None:
    """Once its reads are cached, a question sends one statement: its vector query, which brings
    the graph's fingerprint along (the cache cannot be used without it)."""
    db, _, retriever = parts
    sent: list[str] = []

    class Counting:
        def __getattr__(self, name: str) -> object:
            method = getattr(db, name)
            if name not in ("sql", "sql_rows", "cypher", "cypher_rows", "query", "command"):
                return method

            def call(statement: str, *args: object, **kwargs: object) -> object:
                sent.append(statement)
                return method(statement, *args, **kwargs)
            return call

    counted = HybridRetriever(Counting(), retriever.embedder, config=retriever.config,  # type: ignore[arg-type]
                              nlp=retriever.nlp, cache=retriever.cache)
    first = counted.retrieve(QUESTION)
    sent.clear()
    again = counted.retrieve(QUESTION)
    # this corpus holds fewer chunks than the query asks for: the index's short answer is checked
    # against the number stored (a corpus of a hundred chunks or more never sends it)
    assert sent.pop() == COUNT_CHUNKS
    assert len(sent) == 1 and "vectorNeighbors" in sent[0] and "GraphEpoch" in sent[0], sent
    assert [p.chunk_id for p in again.passages] == [p.chunk_id for p in first.passages]


def test_every_writer_records_a_change(parts: tuple[ArcadeDB, IngestionPipeline, HybridRetriever]) -> None:
    db, _, _ = parts
    store = GraphStore(db)
    epoch, before = _fingerprint(db)
    store.write_same_as({("vienna", "violin"): 0.9})
    assert _fingerprint(db) == (epoch, before + 1)
    assert store.delete_document("no-such-document") is None
    assert _fingerprint(db) == (epoch, before + 1), "a delete that deleted nothing changed nothing"


def test_a_write_and_a_delete_count_from_the_very_next_question(
        parts: tuple[ArcadeDB, IngestionPipeline, HybridRetriever]) -> None:
    """After each write the cached retriever ranks exactly as one that reads everything afresh: a
    stale entry (Tarvaszeg's mentions without the new chunk, its old mention count) would move the
    scores even where the order holds."""
    db, pipeline, retriever = parts
    fresh = _uncached(retriever)
    before = _ranked(retriever)
    assert _ranked(retriever) == before == _ranked(fresh)  # the second one from the cache
    assert "tarvaszeg" not in {d for d, _ in before}
    pipeline.run([BRIDGE])
    after = _ranked(retriever)
    assert after == _ranked(fresh) and "tarvaszeg" in {d for d, _ in after}, after
    assert _ranked(retriever) == after  # from the cache again, refilled after the write
    assert GraphStore(db).delete_document("tarvaszeg") is not None
    gone = _ranked(retriever)
    assert gone == _ranked(fresh) and "tarvaszeg" not in {d for d, _ in gone}
