"""Entity-key normalisation: one key for every spelling of the same name.

"ACME Corp.", "acme corp" and "ACME Corp's" all become ``acme corp``: Unicode NFKC, case
folding, possessives and punctuation stripped, white space collapsed. Ingestion merges entities on
this key and retrieval links question spans through it, so both must use this one function.

Which of a key's spellings is stored as the entity's `name` (with its `type`) is decided by one fixed
order, `spelling_rank`, never by which spelling was read or written first: every engine, and every
interleaving of jobs writing at once, ends with the same name and type.
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


def spelling_rank(name: str, type_: str) -> tuple[int, str, str]:
    """The sort key that picks an entity's stored (name, type): the smallest over every spelling of
    the key wins.

    Shortest name first (the spelling with the least decoration: no trailing period, possessive,
    quotes or doubled spaces), then the name by code point (capitals before lower case, ASCII before
    full-width forms), then the type by code point (one name that spaCy labelled two ways). A total
    order on (name, type), so the minimum does not depend on the order the spellings come in.

    Example:
        >>> min([("ACME Corp.", "ORG"), ("Acme Corp", "ORG"), ("ACME Corp", "PERSON"), ("ACME Corp", "ORG")],
        ...     key=lambda s: spelling_rank(*s))
        ('ACME Corp', 'ORG')
    """
    return (len(name), name, type_)


def strip_title_qualifier(title: str) -> str:
    """'Mercury (planet)' -> 'Mercury': the trailing parenthesis disambiguates pages, not names."""
    return re.sub(r"\s*\([^()]*\)\s*$", "", title).strip() or title.strip()


def fold_accents(key: str) -> str:
    """'aschenbrödel' -> 'aschenbrodel': questions often drop diacritics that titles keep.

    Stored as `Entity.folded` (where it differs from the key) so that a question's span finds an
    entity whose key has accents the question lacks, by one index lookup.
    """
    if key.isascii():  # nothing to decompose (a question's spans and most keys: the common case, per span)
        return key
    decomposed = unicodedata.normalize("NFKD", key)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
