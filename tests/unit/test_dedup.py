"""Client-side de-duplication of write batches and deterministic ids (no database needed)."""

from __future__ import annotations

from collections.abc import Sequence

from graphrag.normalize import entity_key
from graphrag.store import (
    EntityRecord,
    MentionRecord,
    RelationRecord,
    dedupe_entities,
    dedupe_mentions,
    dedupe_relations,
    renamed_entities,
)
from graphrag.types import SourceDocument
from ingestion.chunking import TextChunk
from ingestion.extraction import ChunkExtraction, ExtractionInput, Mention
from ingestion.job import PreparedBatch, StageTimer
from ingestion.ray_engine import FirstMentions
from ingestion.steps import BatchProcessor, chunk_id, embedding_text


def test_entity_spellings_share_one_key_and_the_first_in_spelling_order_wins() -> None:
    names = ["ACME Corp.", "acme corp", "ACME Corp's", "Acme  Corp", "ＡＣＭＥ Corp"]
    rows = [EntityRecord(entity_key(n), n, "ORG") for n in names]
    rows.append(EntityRecord("acme corp", "ACME Corp.", "PROPER_NOUN", embedding=[0.5]))
    for order in (rows, rows[::-1], rows[2:] + rows[:2]):
        merged = dedupe_entities(order)
        assert len(merged) == 1
        assert merged[0].key == "acme corp" and merged[0].name == "acme corp" and merged[0].type == "ORG"
        assert merged[0].embedding == [0.5]  # a vector given by any row is kept


def test_a_batch_renames_only_entities_whose_spelling_sorts_first() -> None:
    rows = {k: {"key": k, "name": n, "type": t} for k, n, t in [
        ("acme corp", "ACME Corp", "ORG"), ("globex", "Globex.", "ORG"), ("initech", "Initech", "ORG"),
        ("vistula", "Vistula", "GPE"), ("new", "New", "ORG")]}
    stored = {"acme corp": ("ACME Corp.", "ORG"), "globex": ("Globex", "ORG"), "initech": ("Initech", "ORG"),
              "vistula": ("Vistula", "ORG"), "legacy": ("Legacy", None)}
    assert sorted(r["key"] for r in renamed_entities(rows, stored)) == ["acme corp", "vistula"]
    assert renamed_entities({"x": {"key": "x", "name": "X", "type": "ORG"}}, {"x": (None, None)}) == [
        {"key": "x", "name": "X", "type": "ORG"}]


def test_mentions_add_up_per_chunk_and_entity() -> None:
    merged = dedupe_mentions([MentionRecord("c1", "a"), MentionRecord("c1", "a", 2), MentionRecord("c2", "a")])
    assert sorted((m.chunk_id, m.entity_key, m.count) for m in merged) == [("c1", "a", 3), ("c2", "a", 1)]


def test_relations_are_unordered_pairs_with_merged_evidence() -> None:
    merged = dedupe_relations([RelationRecord("b", "a", ["c1"]), RelationRecord("a", "b", ["c2", "c1"]),
                               RelationRecord("a", "a", ["c3"]), RelationRecord("a", "c", ["c1"])])
    assert sorted((r.source_key, r.target_key, tuple(r.evidence)) for r in merged) == [
        ("a", "b", ("c1", "c2")), ("a", "c", ("c1",))]


def test_chunk_ids_are_deterministic_and_version_specific() -> None:
    assert chunk_id("doc", "ab" * 32, 3) == chunk_id("doc", "ab" * 32, 3)
    assert chunk_id("doc", "ab" * 32, 3) != chunk_id("doc", "cd" * 32, 3)
    assert embedding_text("Title", "text") == "Title\ntext" and embedding_text("", "text") == "text"


def test_exact_linker_pairs_close_names_once_and_respects_k() -> None:
    import numpy as np

    from ingestion.dedup import ExactLinker

    def unit(*xs: float) -> np.ndarray:
        v = np.array(xs, dtype=np.float32)
        return v / np.linalg.norm(v)

    linker = ExactLinker(threshold=0.95, k=1, dimension=3)
    assert linker.add(["a", "far"], np.stack([unit(1, 0, 0), unit(0, 1, 0)])) == {}
    pairs = linker.add(["a2", "a3"], np.stack([unit(1, 0.05, 0), unit(1, 0.2, 0)]))
    # a2 ~ a (0.9988); a3's single nearest (k=1) is a2; far stays alone
    assert set(pairs) == {("a", "a2"), ("a2", "a3")}
    assert all(0.95 <= s <= 1.0 for s in pairs.values())
    assert len(linker) == 4


class _OneChunk:
    def chunk(self, text: str, title: str) -> list[TextChunk]:
        return [TextChunk(0, text, 0, len(text))]


class _Names:
    """Every chunk names the entity its text lists, one mention per ';'-separated "name/type"."""

    def extract(self, documents: Sequence[ExtractionInput]) -> list[list[ChunkExtraction]]:
        return [[ChunkExtraction(mentions=[Mention(entity_key(n), n, t) for n, t in
                                           (part.split("/") for part in c.text.split(";"))]) for c in d.chunks]
                for d in documents]


def _batch(texts: list[str]) -> PreparedBatch:
    docs = [(SourceDocument(id=f"d{i}", source="t", text=t), f"{i:064d}", False) for i, t in enumerate(texts)]
    return BatchProcessor(_OneChunk(), _Names()).process(PreparedBatch(index=0, documents=docs), StageTimer())  # type: ignore[arg-type]


def test_a_batch_carries_the_spelling_first_in_spelling_order_whatever_the_document_order() -> None:
    texts = ["Initech Ltd./ORG", "INITECH Ltd/ORG;Globex/GPE", "Initech Ltd/PERSON;Globex/ORG", "Initech Ltd/ORG"]
    for order in (texts, texts[::-1]):
        prepared = _batch(order)
        got = {e.key: (e.name, e.type) for e in prepared.graph.entities}
        assert got == {"initech ltd": ("INITECH Ltd", "ORG"), "globex": ("Globex", "GPE")}
        assert prepared.entity_names == {"initech ltd": "INITECH Ltd", "globex": "Globex"}


def test_the_ray_driver_gives_later_batches_the_best_spelling_so_far() -> None:
    writer = FirstMentions()  # the driver writer's de-duplication state: no pool, no database
    first, second, third = _batch(["Initech Ltd./ORG"]), _batch(["Initech Ltd/ORG"]), _batch(["Initech Ltd./ORG"])
    for index, prepared in enumerate((first, second, third)):
        prepared.index = index
        writer.apply(prepared)
    assert [(b.graph.entities[0].name, b.graph.entities[0].type) for b in (first, second, third)] == [
        ("Initech Ltd.", "ORG"), ("Initech Ltd", "ORG"), ("Initech Ltd", "ORG")]
    assert writer.claimed == {0: ["initech ltd"], 1: [], 2: []}
