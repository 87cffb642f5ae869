"""A bounded, process-wide cache of what questions read of the graph, correct from the very next
request after any write.

What a question's ranking reads (each chunk's mentions, each entity's mentions and SAME_AS edges,
whether a question span is an entity key) is the same for the next question that touches the same
names, and reading it again costs a database round trip, a few milliseconds of database CPU and
the parsing of thousands of JSON rows. So the rows are kept here, per database, up to a budget of
rows (the setting `retrieval_cache_rows`; when it is exceeded the oldest half of the largest
database's entries goes). The graph's structure and names are kept, and the texts of the passages
questions were answered from (a round trip a question, counted in the budget by their length); no
vectors. It is a cache, not a copy: an entry exists only because a question read it.

Correctness rests on the graph's change record (schema v6): every write that changes what
retrieval reads creates a `GraphChange` vertex in its own transaction. Each question first reads
the database's fingerprint, (epoch token, number of changes): in the same round trip as its vector
query (the PageRank ranking), or in one cheap statement sent while it is being embedded (the
others). A cache filled under another fingerprint is dropped before it is used. Rows read by a
question are at least as new as the fingerprint it read, so they may be kept under it; a question
whose fingerprint is older than the cache's (it read it before a write that another question has
already seen) neither reads nor fills the cache.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from graphrag.retrieval.vocabulary import Vocabulary

Rows = list[dict[str, Any]]
Fingerprint = tuple[str, int]  # (epoch token, number of recorded changes)


def fingerprint_of(rows: Rows) -> Fingerprint | None:
    """The fingerprint in `GRAPH_FINGERPRINT`'s rows; None when the database records no epoch."""
    if not rows or rows[0].get("epoch") is None:
        return None
    return str(rows[0]["epoch"]), int(rows[0].get("changes") or 0)


@dataclass
class _Shelf:
    """One database's entries, valid for `fingerprint`."""

    fingerprint: Fingerprint | None = None
    generation: int = 0  # bumped whenever the entries are dropped (a new fingerprint, a full vocabulary)
    vocabulary: Vocabulary = field(default_factory=Vocabulary)  # the ids the entries below are in
    chunks: dict[int, Sized] = field(default_factory=dict)  # chunk -> its CHUNK_MENTIONS rows (`entries.ChunkEntry`)
    # entity -> its ENTITY_MENTIONS row and SAME_AS_OF rows (`entries.EntityEntry`)
    entities: dict[int, Sized] = field(default_factory=dict)
    lookups: dict[str, Rows] = field(default_factory=dict)  # asked key -> its ENTITIES_BY_KEY rows (often none)
    texts: dict[str, Sized] = field(default_factory=dict)  # chunk id -> its CHUNKS_BY_ID record (`base.ChunkRecord`)
    rows: int = 0

    def clear(self) -> None:
        self.chunks.clear()
        self.entities.clear()
        self.lookups.clear()
        self.texts.clear()
        self.vocabulary = Vocabulary()
        self.rows = 0
        self.generation += 1


class Sized(Protocol):
    @property
    def size(self) -> int:
        """Rows of the database's answer this entry holds (what the budget counts)."""
        ...


def _size_rows(rows: Rows) -> int:
    return 1 + len(rows)


def _size_entry(entry: Sized) -> int:
    return entry.size


class GraphCache:
    """Every database's cached reads, within one budget of rows (0 = cache nothing).

    Thread-safe: request threads read and fill it at once.

    Args:
        max_rows: the budget, in rows as the database returned them (a mention, a SAME_AS edge, a
            key looked up); about 0.3-0.5 KB each.
    """

    def __init__(self, max_rows: int = 400_000):
        self.max_rows = max_rows
        self._shelves: dict[str, _Shelf] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self._shelves.values())

    def view(self, database: str, fingerprint: Callable[[], Fingerprint | None]) -> CacheView:
        """One question's access to `database`'s entries; `fingerprint` (the database's, read by the
        caller, e.g. a future's `result`) is called at the first use, not here."""
        return CacheView(self, database, fingerprint)

    # --- used by CacheView -------------------------------------------------------------------------
    def _open(self, database: str, fingerprint: Fingerprint | None) -> tuple[_Shelf, int, Vocabulary] | None:
        """The shelf, its generation and its vocabulary for a question that read `fingerprint`; None: bypass."""
        if self.max_rows <= 0 or fingerprint is None:
            return None
        with self._lock:
            shelf = self._shelves.setdefault(database, _Shelf())
            current = shelf.fingerprint
            if current != fingerprint:
                if current is not None and current[0] == fingerprint[0] and current[1] > fingerprint[1]:
                    return None  # this question read the fingerprint before a write another one has seen
                shelf.clear()
                shelf.fingerprint = fingerprint
            return shelf, shelf.generation, shelf.vocabulary

    def _keep(self, shelf: _Shelf, generation: int, put: Callable[[_Shelf], int]) -> None:
        with self._lock:
            if shelf.generation != generation:
                return  # dropped meanwhile: these rows may predate the write that dropped it
            shelf.rows += put(shelf)
            if len(shelf.vocabulary) > self.max_rows:  # ids outlive evicted entries: start afresh
                shelf.clear()
            elif self.rows > self.max_rows:
                self._evict()

    def _evict(self) -> None:
        """Drop the oldest half of the largest database's entries (dicts keep insertion order)."""
        largest = max(self._shelves.values(), key=lambda s: s.rows)
        for table, size in ((largest.chunks, _size_entry), (largest.entities, _size_entry),
                            (largest.lookups, _size_rows), (largest.texts, _size_entry)):
            for key in list(table)[: (len(table) + 1) // 2]:
                largest.rows -= size(table.pop(key))  # type: ignore[arg-type]


class CacheView:
    """One question's use of the cache: it sees entries only under the fingerprint it read."""

    def __init__(self, cache: GraphCache, database: str, fingerprint: Callable[[], Fingerprint | None]):
        self._cache = cache
        self._database = database
        self._fingerprint = fingerprint
        self._opened: tuple[_Shelf, int, Vocabulary] | None = None
        self._resolved = False
        self._private: Vocabulary | None = None

    def vocabulary(self) -> Vocabulary:
        """The ids this question's reads are in: its shelf's, or its own when it bypasses the cache.
        Taken once per question (a shelf dropped meanwhile leaves the question its old ids)."""
        opened = self._shelf()
        if opened is not None:
            return opened[2]
        if self._private is None:
            self._private = Vocabulary()
        return self._private

    def _shelf(self) -> tuple[_Shelf, int, Vocabulary] | None:
        if not self._resolved:
            self._resolved = True
            self._opened = self._cache._open(self._database, self._fingerprint())
        opened = self._opened
        if opened is not None and opened[0].generation != opened[1]:
            return None  # a newer fingerprint dropped what this question may use
        return opened

    def _split(self, table_of: Callable[[_Shelf], dict[Any, Any]], wanted: Iterable[Any]
               ) -> tuple[dict[Any, Any], list[Any]]:
        wanted = list(wanted)
        opened = self._shelf()
        if opened is None:
            return {}, wanted
        table = table_of(opened[0])
        found: dict[Any, Any] = {}
        missing: list[Any] = []
        for key in wanted:
            entry = table.get(key)
            if entry is None:
                missing.append(key)
            else:
                found[key] = entry
        self._cache.hits += len(found)
        self._cache.misses += len(missing)
        return found, missing

    def _put(self, table_of: Callable[[_Shelf], dict[Any, Any]], size: Callable[[Any], int],
             entries: Mapping[Any, Any]) -> None:
        opened = self._shelf()
        if opened is None or not entries:
            return

        def put(shelf: _Shelf) -> int:
            table = table_of(shelf)
            added = 0
            for key, entry in entries.items():
                if key not in table:
                    table[key] = entry
                    added += size(entry)
            return added

        self._cache._keep(opened[0], opened[1], put)

    # chunk (an id of `vocabulary()`) -> its mentions (`entries.ChunkEntry`)
    def chunk_mentions(self, ids: Iterable[int]) -> tuple[dict[int, Any], list[int]]:
        return self._split(lambda s: s.chunks, ids)

    def keep_chunk_mentions(self, entries: Mapping[int, Sized]) -> None:
        self._put(lambda s: s.chunks, _size_entry, entries)

    # entity (an id of `vocabulary()`) -> its mentions and SAME_AS edges (`entries.EntityEntry`)
    def entity_mentions(self, keys: Iterable[int]) -> tuple[dict[int, Any], list[int]]:
        return self._split(lambda s: s.entities, keys)

    def keep_entity_mentions(self, entries: Mapping[int, Sized]) -> None:
        self._put(lambda s: s.entities, _size_entry, entries)

    # asked key -> ENTITIES_BY_KEY rows (exact and accent-folded matches; none for most spans)
    def lookups(self, keys: Iterable[str]) -> tuple[dict[str, Rows], list[str]]:
        return self._split(lambda s: s.lookups, keys)

    def keep_lookups(self, entries: dict[str, Rows]) -> None:
        self._put(lambda s: s.lookups, _size_rows, entries)

    # chunk id -> the passage as the answer shows it (`base.ChunkRecord`: title, text, document)
    def texts(self, ids: Iterable[str]) -> tuple[dict[str, Any], list[str]]:
        return self._split(lambda s: s.texts, ids)

    def keep_texts(self, records: Mapping[str, Sized]) -> None:
        self._put(lambda s: s.texts, _size_entry, records)

