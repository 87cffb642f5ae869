"""Citation markers: parsing, checking against the context's numbers, and the streaming filter."""

from __future__ import annotations

import pytest

from graphrag.citations import MarkerFilter, check_citations, find_markers, parse_marker


@pytest.mark.parametrize(("body", "numbers"), [
    ("1", [1]), (" 2 ", [2]), ("1, 3", [1, 3]), ("1;2", [1, 2]), ("2-4", [2, 3, 4]), ("3–4", [3, 4]),
    ("1, 1", [1]), ("1-2000", [1, 2000]),
])
def test_parse_marker(body: str, numbers: list[int]) -> None:
    assert parse_marker(body) == numbers


def test_find_markers_in_order_of_first_appearance() -> None:
    assert find_markers("B [2] and A [1][2], C [3, 1]. Not [x] nor [] nor [1a].") == [2, 1, 3]


@pytest.mark.parametrize(("text", "checked", "cited", "removed"), [
    ("Paris [1].", "Paris [1].", [1], []),
    ("Paris [9].", "Paris.", [], [9]),
    ("Paris [1, 9] is big [2-3].", "Paris [1] is big [2-3].", [1, 2, 3], [9]),
    ("a [1][2][7] b", "a [1][2] b", [1, 2], [7]),
    ("[7] The answer [2]", "The answer [2]", [2], [7]),
    ("In [1999] it grew [1].", "In it grew [1].", [1], [1999]),
    ("  [3] hi  ", "[3] hi", [3], []),
    ("list[1] and [x] and [ 1 ]", "list[1] and [x] and [ 1 ]", [1], []),
    ("unclosed [12", "unclosed [12", [], []),
    ("nested [[1]]", "nested [[1]]", [1], []),
    ("no markers at all", "no markers at all", [], []),
    ("[0] zero is never a passage", "zero is never a passage", [], [0]),
])
def test_check_citations(text: str, checked: str, cited: list[int], removed: list[int]) -> None:
    result = check_citations(text, {1, 2, 3})
    assert (result.text, result.cited, result.removed) == (checked, cited, removed)


@pytest.mark.parametrize("text", [
    "Paris [1] is the capital [9] of France [2, 8].",
    "[5] starts with a dead marker [1]",
    "ends with an unclosed [1",
    "brackets [ of text ] and [3 ] and [2-3][4]   ",
    "a long one [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17] end",
])
@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_streamed_text_equals_checked_text(text: str, size: int) -> None:
    """Token by token or all at once, the filter produces the same text and the same report."""
    whole = check_citations(text, {1, 2, 3})
    filt = MarkerFilter({1, 2, 3})
    streamed = "".join(filt.feed(text[i:i + size]) for i in range(0, len(text), size)) + filt.finish()
    assert streamed == whole.text
    assert (filt.cited, filt.removed) == (whole.cited, whole.removed)


def test_filter_holds_back_only_a_possible_marker() -> None:
    filt = MarkerFilter({1})
    assert filt.feed("Paris") == "Paris"
    assert filt.feed(" [") == ""  # might be a marker: held
    assert filt.feed("1") == ""
    assert filt.feed("] is") == " [1] is"
    assert filt.feed(" [b") == " [b"  # a letter: not a marker, released at once
