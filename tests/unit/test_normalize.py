import pytest

from graphrag.normalize import entity_key, strip_title_qualifier


@pytest.mark.parametrize("name", ["ACME Corp.", "acme corp", "ACME Corp's", "  Acme   CORP ", "Ａｃｍｅ Corp",
                                  "ACME Corp’s", "acme, corp"])
def test_spellings_of_one_entity_share_a_key(name: str) -> None:
    assert entity_key(name) == "acme corp"


def test_different_names_keep_different_keys() -> None:
    assert entity_key("Paris") != entity_key("Paris Hilton")
    assert entity_key("...") == ""


def test_title_qualifier() -> None:
    assert strip_title_qualifier("Mercury (planet)") == "Mercury"
    assert strip_title_qualifier("(band)") == "(band)"
