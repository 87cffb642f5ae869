"""`GraphCache`'s rules, without a database: entries live under one fingerprint, a newer one drops
them, an older one is never served, and the budget holds."""

from __future__ import annotations

from dataclasses import dataclass

from graphrag.retrieval.base import ChunkRecord
from graphrag.retrieval.cache import GraphCache


@dataclass(frozen=True)
class Entry:
    """A cached read of `size` rows (as `neighbourhood.MentionColumns` is)."""

    name: str
    size: int = 2


def test_entries_are_served_under_the_fingerprint_they_were_kept_under() -> None:
    cache = GraphCache(max_rows=100)
    cache.view("db", lambda: ("e", 1)).keep_chunk_mentions({"c1": Entry("c1", 3)})
    assert cache.view("db", lambda: ("e", 1)).chunk_mentions(["c1", "c2"]) == ({"c1": Entry("c1", 3)}, ["c2"])
    assert cache.rows == 3
    assert cache.view("other", lambda: ("e", 1)).chunk_mentions(["c1"]) == ({}, ["c1"])  # databases apart


def test_a_newer_fingerprint_drops_everything_and_an_open_view_stops_reading() -> None:
    cache = GraphCache(max_rows=100)
    before = cache.view("db", lambda: ("e", 1))
    before.keep_entity_mentions({"x": Entry("x")})
    before.keep_lookups({"k:x": []})
    after = cache.view("db", lambda: ("e", 2))
    assert after.entity_mentions(["x"]) == ({}, ["x"]) and cache.rows == 0
    # the earlier question may have read before the write: it neither reads nor fills any more
    before.keep_lookups({"k:y": []})
    assert before.lookups(["k:x", "k:y"]) == ({}, ["k:x", "k:y"])
    assert after.lookups(["k:y"]) == ({}, ["k:y"])
    # a reset database (a new epoch) with as many changes as before is another graph too
    cache.view("db", lambda: ("e", 2)).keep_lookups({"k:z": []})
    assert cache.view("db", lambda: ("reset", 2)).lookups(["k:z"]) == ({}, ["k:z"])


def test_a_question_older_than_the_cache_neither_reads_nor_fills_it() -> None:
    cache = GraphCache(max_rows=100)
    cache.view("db", lambda: ("e", 5)).keep_chunk_mentions({"c1": Entry("c1")})
    older = cache.view("db", lambda: ("e", 4))
    assert older.chunk_mentions(["c1"]) == ({}, ["c1"])
    older.keep_chunk_mentions({"c2": Entry("c2")})
    assert cache.view("db", lambda: ("e", 5)).chunk_mentions(["c1", "c2"]) == ({"c1": Entry("c1")}, ["c2"])


def test_the_budget_holds_by_dropping_the_oldest_entries_of_the_largest_database() -> None:
    cache = GraphCache(max_rows=20)
    small = cache.view("small", lambda: ("e", 1))
    small.keep_lookups({"k:s": []})
    big = cache.view("big", lambda: ("e", 1))
    for i in range(12):
        big.keep_chunk_mentions({f"c{i}": Entry(f"c{i}")})
        assert cache.rows <= 20
    found, missing = cache.view("big", lambda: ("e", 1)).chunk_mentions([f"c{i}" for i in range(12)])
    assert "c11" in found and "c0" in missing  # the newest kept, the oldest dropped
    assert cache.view("small", lambda: ("e", 1)).lookups(["k:s"])[0] == {"k:s": []}


def test_no_budget_or_no_fingerprint_caches_nothing() -> None:
    off = GraphCache(max_rows=0)
    off.view("db", lambda: ("e", 1)).keep_lookups({"k:x": []})
    assert off.rows == 0
    unknown = GraphCache(max_rows=10)
    unknown.view("db", lambda: None).keep_lookups({"k:x": []})
    assert unknown.rows == 0


def test_passage_texts_count_against_the_budget_by_their_length() -> None:
    cache = GraphCache(max_rows=100)
    view = cache.view("db", lambda: ("e", 1))
    short = ChunkRecord(id="a#0", document_id="a", title="A", text="short")
    long = ChunkRecord(id="b#0", document_id="b", title="B", text="x" * 5000)
    view.keep_texts({"a#0": short, "b#0": long})
    assert cache.rows == 1 + 10
    assert cache.view("db", lambda: ("e", 1)).texts(["a#0", "b#0", "c#0"]) == ({"a#0": short, "b#0": long}, ["c#0"])
    assert cache.view("db", lambda: ("e", 2)).texts(["a#0"]) == ({}, ["a#0"])  # a write drops them with the rest
