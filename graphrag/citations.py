"""Citation markers in an answer: find them, keep those that point at a context passage, drop the rest.

An LLM cites passages as ``[n]`` (also ``[1, 2]``, ``[1][2]`` and ranges ``[1-3]``). A marker whose
number is not in the context points nowhere: it is removed from the answer and reported, so a
reader never follows a citation to a passage that was not shown to the model.

The same `MarkerFilter` checks a streamed answer token by token and a whole answer at once, so the
streamed text and the final, checked text are identical. It holds back only what could still turn
out to be a marker (an open ``[`` and the white space before it), never more than a few characters.

Pure logic: no I/O, no models.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_MARKER_BODY = re.compile(r"^\s*\d+\s*(?:[-–,;]\s*\d+\s*)*$")
_MARKER = re.compile(r"\[(\s*\d+\s*(?:[-–,;]\s*\d+\s*)*)\]")
_BODY_CHARS = frozenset("0123456789 ,;-–")
_MAX_MARKER_LEN = 40  # longer than any real "[1, 2, 3, ...]": stop holding text back
_MAX_RANGE = 50  # "[1-3]" expands; "[1-2000]" is not a citation range, keep only its ends


def parse_marker(body: str) -> list[int]:
    """The passage numbers inside one marker's brackets: ``"1, 3-4"`` -> ``[1, 3, 4]`` (order kept, no repeats)."""
    numbers: list[int] = []
    for part in re.split(r"[,;]", body):
        part = part.strip()
        if not part:
            continue
        bounds = [int(x) for x in re.split(r"\s*[-–]\s*", part) if x.strip()]
        if len(bounds) == 2 and bounds[0] <= bounds[1] and bounds[1] - bounds[0] <= _MAX_RANGE:
            expanded = list(range(bounds[0], bounds[1] + 1))
        else:
            expanded = bounds
        for n in expanded:
            if n not in numbers:
                numbers.append(n)
    return numbers


def find_markers(text: str) -> list[int]:
    """Every passage number cited in `text`, in order of first appearance."""
    found: list[int] = []
    for match in _MARKER.finditer(text):
        for n in parse_marker(match.group(1)):
            if n not in found:
                found.append(n)
    return found


class MarkerFilter:
    """Streams text through, rewriting citation markers so that only `valid` numbers remain.

    ``feed(chunk)`` returns the text that is safe to emit now; ``finish()`` returns the rest.
    A marker with some valid numbers keeps those (``[1, 9]`` -> ``[1]`` when 9 is unknown); a marker
    with none is dropped together with the white space before it (``"Paris [9]."`` -> ``"Paris."``).
    Leading and trailing white space of the whole answer is dropped.
    """

    def __init__(self, valid: Iterable[int]):
        self.valid = frozenset(valid)
        self.cited: list[int] = []  # valid numbers, first appearance first
        self.removed: list[int] = []  # numbers that pointed nowhere
        self._space = ""  # white space held back: it goes if a dropped marker follows
        self._marker = ""  # an open "[..." that may still be a marker
        self._started = False  # leading white space of the answer is dropped

    def feed(self, chunk: str) -> str:
        out: list[str] = []
        for ch in chunk:
            self._step(ch, out)
        return "".join(out)

    def finish(self) -> str:
        """Flush what was held back: an unclosed ``[...`` is text, trailing white space is dropped."""
        out: list[str] = []
        if self._marker:
            held, self._marker = self._marker, ""
            self._emit(self._space + held[0], out)
            self._space = ""
            for ch in held[1:]:
                self._step(ch, out)
            return "".join(out) + self.finish()
        self._space = ""
        return "".join(out)

    def _emit(self, text: str, out: list[str]) -> None:
        if not self._started:
            text = text.lstrip()
            if not text:
                return
            self._started = True
        out.append(text)

    def _step(self, ch: str, out: list[str]) -> None:
        if self._marker:
            if ch == "]":
                self._resolve(self._marker[1:], out)
                return
            if ch in _BODY_CHARS and len(self._marker) < _MAX_MARKER_LEN:
                self._marker += ch
                return
            # Not a marker after all: emit the held "[..." as text and read this character afresh.
            held, self._marker = self._marker, ""
            self._emit(self._space + held[0], out)
            self._space = ""
            for c in held[1:] + ch:
                self._step(c, out)
            return
        if ch.isspace():
            self._space += ch
        elif ch == "[":
            self._marker = "["
        else:
            self._emit(self._space + ch, out)
            self._space = ""

    def _resolve(self, body: str, out: list[str]) -> None:
        self._marker = ""
        if not _MARKER_BODY.match(body):
            self._emit(self._space + "[" + body + "]", out)
            self._space = ""
            return
        numbers = parse_marker(body)
        keep = [n for n in numbers if n in self.valid]
        for n in numbers:
            if n in self.valid:
                if n not in self.cited:
                    self.cited.append(n)
            elif n not in self.removed:
                self.removed.append(n)
        if not keep:
            self._space = ""  # the marker and the space before it go: "Paris [9]." -> "Paris."
            return
        text = "[" + body + "]" if len(keep) == len(numbers) else "[" + ", ".join(map(str, keep)) + "]"
        self._emit(self._space + text, out)
        self._space = ""


@dataclass(frozen=True)
class CitationCheck:
    """An answer after checking: its text with dead markers removed, what it cites, what was removed."""

    text: str
    cited: list[int]
    removed: list[int]


def check_citations(text: str, valid: Iterable[int]) -> CitationCheck:
    """Check every marker of a whole answer against the context's passage numbers."""
    filt = MarkerFilter(valid)
    checked = filt.feed(text) + filt.finish()
    return CitationCheck(checked, list(filt.cited), list(filt.removed))
