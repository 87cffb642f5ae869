"""Entity-key normalisation: one key for every spelling of the same name.

"ACME Corp.", "acme corp" and "ACME Corp's" all become ``acme corp``: Unicode NFKC, case
folding, possessives and punctuation stripped, white space collapsed. Ingestion merges entities on
this key and retrieval links question spans through it, so both must use this one function.
"""

from __future__ import annotations

import re
import unicodedata

_POSSESSIVE = re.compile(r"(?<=\w)['’‘`´]s\b|(?<=s)['’‘`´](?=\s|$)")
_PUNCT = re.compile(r"[^\w\s]|_", re.UNICODE)
_SPACE = re.compile(r"\s+")


def entity_key(name: str) -> str:
    """The normalised key of an entity name ('' when nothing is left)."""
    text = unicodedata.normalize("NFKC", name).casefold()
    text = _POSSESSIVE.sub("", text)
    text = _PUNCT.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def strip_title_qualifier(title: str) -> str:
    """'Mercury (planet)' -> 'Mercury': the trailing parenthesis disambiguates pages, not names."""
    return re.sub(r"\s*\([^()]*\)\s*$", "", title).strip() or title.strip()


def fold_accents(key: str) -> str:
    """'aschenbrödel' -> 'aschenbrodel': questions often drop diacritics that titles keep.

    Stored as `Entity.folded` (where it differs from the key) so that a question's span finds an
    entity whose key has accents the question lacks, by one index lookup.
    """
    decomposed = unicodedata.normalize("NFKD", key)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
