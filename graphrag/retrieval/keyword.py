"""Keyword channel: the Lucene full-text indexes on chunk text and title.

`SEARCH_INDEX` parses its argument as a Lucene query even when it arrives as a parameter, so a
question is first reduced to bare lower-case words: no quotes, brackets, `field:` prefixes,
wildcards or upper-case AND/OR/NOT operators can reach the parser.
"""

from __future__ import annotations

import re

from graphrag import queries
from graphrag.arcadedb import ArcadeDB
from graphrag.retrieval.base import ChannelHit
from graphrag.retrieval.dense import chunk_record

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Words that carry no topic; dropping them keeps the query's OR from matching every passage.
_STOP_TEXT = """
a an the of in on at to for from by with and or not no is are was were be been being do does did has have had
who whom whose what which when where why how that this these those it its he she they them his her their
there as into than then also both either neither nor but if so such did s
"""
QUERY_STOP_WORDS = frozenset(_STOP_TEXT.split())


def plain_terms(text: str, max_terms: int = 32) -> list[str]:
    """Lower-case word tokens of `text`, stop words dropped, order kept, duplicates removed."""
    words = [w.casefold() for w in _WORD.findall(text)]
    kept = [w for w in dict.fromkeys(words) if w not in QUERY_STOP_WORDS]
    return kept[:max_terms]


class KeywordChannel:
    """BM25-style scoring by ArcadeDB's Lucene index over title and text; score = Lucene score."""

    name = "keyword"

    def __init__(self, db: ArcadeDB):
        self.db = db

    def search(self, question: str, k: int) -> list[ChannelHit]:
        terms = plain_terms(question)
        if not terms:
            return []
        rows = self.db.sql_rows(queries.CHUNK_FULL_TEXT, {"q": " ".join(terms), "k": int(k)})
        return [ChannelHit(r["id"], float(r.get("score") or 0.0), chunk_record(r)) for r in rows]
