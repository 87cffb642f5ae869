"""The spaCy extractor with the real en_core_web_sm model: names, title entity, sentence pairs."""

from __future__ import annotations

import pytest

from ingestion.chunking import SentenceChunker
from ingestion.extraction import (
    SPAN_TYPE,
    TITLE_TYPE,
    ExtractionInput,
    Mention,
    SpacyEntityExtractor,
    sentence_pairs,
    title_entity,
)


@pytest.fixture(scope="module")
def extractor() -> SpacyEntityExtractor:
    return SpacyEntityExtractor()


def test_names_title_and_pairs(extractor: SpacyEntityExtractor) -> None:
    text = ("Barack Obama met Angela Merkel in the United States. "
            "Later the Acme Widget Factory opened in Paris.")
    chunks = SentenceChunker().chunk(text, "Mercury (planet)")
    [[result]] = extractor.extract([ExtractionInput("Mercury (planet)", chunks)])
    by_key = {m.key: m for m in result.mentions}
    assert {"barack obama", "angela merkel", "united states", "paris", "mercury"} <= set(by_key)
    assert by_key["united states"].name == "United States"  # leading "the" dropped
    assert by_key["mercury"].type == TITLE_TYPE and by_key["mercury"].sentence == -1
    assert ("angela merkel", "barack obama") in result.pairs
    assert all(a < b for a, b in result.pairs)
    # entities of different sentences are not related; the title relates only where it is named
    assert not any({"paris", "barack obama"} == {a, b} for a, b in result.pairs)
    assert not any("mercury" in pair for pair in result.pairs)


def test_titlecase_runs_spacy_does_not_name_whole_are_named_too(extractor: SpacyEntityExtractor) -> None:
    """A run of capitalised words, connectors inside, is a name of its own (`SPAN_TYPE`) unless spaCy named
    exactly those words; it never starts at a capitalised stop word ("In Berlin", "The Lord ...")."""
    chunks = SentenceChunker().chunk("In Berlin we saw The Lord of the Rings and Zorp Quibble Method today.")
    [[with_spans]] = extractor.extract([ExtractionInput("", chunks)])
    assert [m.name for m in with_spans.mentions if m.type == SPAN_TYPE] == ["Lord of the Rings"]
    assert {"berlin", "zorp quibble method"} <= {m.key for m in with_spans.mentions}  # spaCy's own names
    plain = SpacyEntityExtractor(extractor.nlp, titlecase_spans=False, title_entity=False)
    chunks = SentenceChunker().chunk("We read The Lord of the Rings twice.")
    [[with_spans]] = extractor.extract([ExtractionInput("", chunks)])
    [[without]] = plain.extract([ExtractionInput("", chunks)])
    assert "lord of the rings" in {m.key for m in with_spans.mentions}
    assert not any(m.type in (SPAN_TYPE, TITLE_TYPE) for m in without.mentions)


def test_sentence_pairs_and_title_entity() -> None:
    mentions = [Mention("a", "A", "X", 0), Mention("b", "B", "X", 0), Mention("a", "A", "X", 1),
                Mention("c", "C", "X", 1), Mention("t", "T", TITLE_TYPE, -1)]
    assert sentence_pairs(mentions) == [("a", "b"), ("a", "c")]
    assert title_entity("Mercury (planet)") == ("mercury", "Mercury")
    assert title_entity("1999") is None


def test_names_are_single_spaced_and_dates_and_fragments_are_not_entities(extractor: SpacyEntityExtractor) -> None:
    """From the sample corpus as it was ingested: a name broken over two source lines, a birth date
    that the Title-Cased runs took for a name, and spaCy's entity cut before its object."""
    text = ("Irène Joliot-Curie (12 September 1897 – 17 March 1956) was a French chemist. In 1896 Henri\n"
            "Becquerel discovered radioactivity, and he shared the 1903 Nobel Prize in Physics with Pierre Curie "
            "and Marie Curie.")
    chunks = SentenceChunker().chunk(text, "Henri\nBecquerel")
    [[result]] = extractor.extract([ExtractionInput("Henri\nBecquerel", chunks)])
    names = {m.name for m in result.mentions}
    assert "Henri Becquerel" in names and not any(any(c in n for c in "\n\t") or "  " in n for n in names), names
    assert not any("1897" in n or "1956" in n or "September" in n or "March" in n for n in names), names
    assert not any(n.split()[-1] in ("in", "of") for n in names), names
    assert {"marie curie", "pierre curie", "irène joliot curie"} <= {m.key for m in result.mentions}


@pytest.mark.parametrize(("name", "kept"), [
    ("12 September 1897", False), ("September 1897", False), ("1890s", False), ("21st", False), ("1999", False),
    ("1903 Nobel Prize in", False), ("University of", False),
    ("Nobel Prize in Physics", True), ("Apollo 11", True), ("May", True), ("World War II", True),
    ("Henri\nBecquerel", True),
])
def test_which_names_are_usable(name: str, kept: bool) -> None:
    assert (title_entity(name) is not None) is kept, name
