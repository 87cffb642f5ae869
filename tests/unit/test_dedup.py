"""Client-side de-duplication of write batches and deterministic ids (no database needed)."""

from __future__ import annotations

from graphrag.normalize import entity_key
from graphrag.store import (
    EntityRecord,
    MentionRecord,
    RelationRecord,
    dedupe_entities,
    dedupe_mentions,
    dedupe_relations,
)
from ingestion.pipeline import chunk_id, embedding_text


def test_entity_spellings_share_one_key_and_first_name_wins() -> None:
    names = ["ACME Corp.", "acme corp", "ACME Corp's", "Acme  Corp", "ＡＣＭＥ Corp"]
    rows = [EntityRecord(entity_key(n), n, "ORG") for n in names]
    rows.append(EntityRecord("acme corp", "Acme", "PROPER_NOUN", embedding=[0.5]))
    merged = dedupe_entities(rows)
    assert len(merged) == 1
    assert merged[0].key == "acme corp" and merged[0].name == "ACME Corp." and merged[0].type == "ORG"
    assert merged[0].embedding == [0.5]  # a vector given by any row is kept


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
