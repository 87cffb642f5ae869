import itertools

import pytest

from graphrag.normalize import entity_key, spelling_rank, strip_title_qualifier


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


def test_the_stored_spelling_does_not_depend_on_the_order_spellings_come_in() -> None:
    spellings = [("ACME Corp.", "ORG"), ("acme corp", "ORG"), ("ACME Corp's", "ORG"), ("Acme Corp", "ORG"),
                 ("ACME Corp", "PERSON"), ("ACME Corp", "ORG"), ("\"ACME Corp\"", "ORG"), ("Ａｃｍｅ Corp", "ORG")]
    winners = {min(order, key=lambda s: spelling_rank(*s)) for order in itertools.permutations(spellings)}
    assert winners == {("ACME Corp", "ORG")}  # shortest, then capitals first, then the type
    # a total order: two different spellings never tie
    ranks = [spelling_rank(*s) for s in spellings]
    assert len(set(ranks)) == len(spellings)


def test_the_least_decorated_spelling_wins() -> None:
    def best(*names: str) -> str:
        return min(names, key=lambda n: spelling_rank(n, "ORG"))

    assert best("Tolkien's", "Tolkien") == "Tolkien"
    assert best("Initech Ltd.", "Initech Ltd") == "Initech Ltd"
    assert best("\"Globex\"", "Globex") == "Globex"
    assert best("paris", "Paris") == "Paris"
    assert best("ａｃｍｅ corp", "acme corp") == "acme corp"  # ASCII before full-width forms
