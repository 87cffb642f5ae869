"""Integer ids for one database's chunk ids and entity keys, so a question's ranking works on arrays.

A question's neighbourhood is thousands of mentions. Kept as strings, each one cost a few dict
lookups and list appends per question (most of the API's CPU). Interned once, when first read, they
are numbers: the graph cache keeps its entries as integer arrays in these ids, and a question
assembles its matrices from them with numpy alone (`neighbourhood.py`).

One vocabulary belongs to one generation of a database's cache shelf (`cache.py`): the entries
kept there are in its ids, and it is dropped with them. A question that bypasses the cache gets a
private one. Alongside each id it keeps what every read of it returns (an entity's name, type and
mention count; a chunk's title), which is the same for every question under one fingerprint.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter

import numpy as np

from graphrag.normalize import entity_key, strip_title_qualifier


@dataclass(frozen=True)
class EntityRow:
    name: str
    type: str
    mentions: int  # chunks that name it, in the whole graph


@lru_cache(maxsize=1 << 15)
def title_key(title: str) -> str:
    """The key of the entity a document title names ('Mercury (planet)' -> 'mercury').

    Cached: the same popular titles come back with every read, and the normalisation is a few
    regular expressions per title.
    """
    return entity_key(strip_title_qualifier(title))


class Vocabulary:
    """Chunk ids and entity keys as dense integers (separate number spaces), with their read facts.

    Thread-safe: request threads intern at once (a new id is assigned under a lock; known ids are
    plain dict reads). Lists only grow, so an id handed out stays valid for the vocabulary's life.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.chunk_ids: list[str] = []
        self._chunks: dict[str, int] = {}
        self.chunk_titles: list[str] = []  # "" until a read gives one
        self.chunk_title_entity: list[int] = []  # id of the entity key the title names, -1 for none
        self.entity_keys: list[str] = []
        self._entities: dict[str, int] = {}
        self.entity_rows: list[EntityRow] = []  # a placeholder (name = key) until a read gives the row
        self._has_row: list[bool] = []
        self.entity_mentions: list[int] = []  # each row's mention count, as a list of its own (read per graph)

    def __len__(self) -> int:
        return len(self.chunk_ids) + len(self.entity_keys)

    # --- interning ---------------------------------------------------------------------------------
    def chunks(self, ids: Sequence[str]) -> np.ndarray:
        return self._intern(self._chunks, ids, self._new_chunk)

    def entities(self, keys: Sequence[str]) -> np.ndarray:
        return self._intern(self._entities, keys, self._new_entity)

    def entity(self, key: str) -> int:
        return int(self.entities([key])[0])

    def _intern(self, table: dict[str, int], names: Sequence[str], new: object) -> np.ndarray:
        found = list(map(table.get, names))
        if None in found:
            with self._lock:
                for i, name in enumerate(names):
                    if found[i] is None:
                        number = table.get(name)
                        if number is None:
                            number = table[name] = new(name)  # type: ignore[operator]
                        found[i] = number
        return np.fromiter(found, dtype=np.int64, count=len(found))

    def _new_chunk(self, chunk_id: str) -> int:
        self.chunk_ids.append(chunk_id)
        self.chunk_titles.append("")
        self.chunk_title_entity.append(-1)
        return len(self.chunk_ids) - 1

    def _new_entity(self, key: str) -> int:
        self.entity_keys.append(key)
        self.entity_rows.append(EntityRow(key, "", 0))
        self._has_row.append(False)
        self.entity_mentions.append(0)
        return len(self.entity_keys) - 1

    # --- what reads say about them -----------------------------------------------------------------
    def set_titles(self, chunks: Iterable[int], titles: Iterable[str | None]) -> None:
        """Each chunk keeps the first non-empty title read for it."""
        named = [(int(c), t) for c, t in zip(chunks, titles, strict=True) if t and not self.chunk_titles[c]]
        if not named:
            return
        keys = [title_key(t) for _, t in named]
        numbers = self.entities([k for k in keys if k])
        at = iter(numbers.tolist())
        for (chunk, title), key in zip(named, keys, strict=True):
            if not self.chunk_titles[chunk]:
                self.chunk_title_entity[chunk] = next(at) if key else -1
                self.chunk_titles[chunk] = title
            elif key:
                next(at)

    def set_rows(self, entities: Iterable[int], rows: Iterable[EntityRow], *, replace: bool = True) -> None:
        """An entity's row as a read gave it; with `replace` False, only where none is known yet."""
        table, has_row = self.entity_rows, self._has_row
        for entity, row in zip(entities, rows, strict=True):
            if replace or not has_row[entity]:
                table[entity] = row
                has_row[entity] = True
                self.entity_mentions[entity] = row.mentions

    def rows(self, entities: np.ndarray) -> list[EntityRow]:
        """The rows of these entities (a placeholder for one no read has given a row yet)."""
        if not len(entities):
            return []
        if len(entities) == 1:
            return [self.entity_rows[int(entities[0])]]
        return list(itemgetter(*entities.tolist())(self.entity_rows))
