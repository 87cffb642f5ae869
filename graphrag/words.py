"""Words as the answering side compares them: lower case, accents folded, stop words known.

Shared by the extractive answer (`graphrag.extractive`) and the abstention signal
(`graphrag.relevance`), so a question's words meet a passage's the same way in both. Pure and
light (no model, no numpy): `graphrag.retrieval.base` imports the relevance module through it.
"""

from __future__ import annotations

import re

from graphrag.normalize import fold_accents

_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # letters of any script ("łódź" is one word)
STOP_WORDS = frozenset(
    "a an the of in on at to for from by with and or but is are was were be been being it its this that these "  # noqa: SIM905
    "those as which who whom whose what when where why how did do does has have had not no yes than then so "
    "such there their they he she his her him i you we our your my me us into about over after before also".split()
)


def words(text: str) -> list[str]:
    """Lower-case, accent-folded words of `text` ("Irène" is one word, "irene"; "Aschenbrodel" in a
    question meets "Aschenbrödel" in a passage)."""
    return _WORD.findall(fold_accents(text.lower()))


def content_words(text: str) -> list[str]:
    """`words` without stop words."""
    return [w for w in words(text) if w not in STOP_WORDS]


def name_words(text: str) -> list[str]:
    """The words of `text`'s names: those that start with a capital letter or a digit, except the
    first word (capitalised anyway), lower-cased and accent-folded; order kept, no repeats."""
    tokens = _WORD.findall(text)
    marked = [t for i, t in enumerate(tokens) if i > 0 and (t[0].isupper() or t[0].isdigit())]
    return list(dict.fromkeys(w for t in marked for w in words(t)))
