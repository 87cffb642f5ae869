"""Sentence-aware chunking that stays inside the embedder's word-piece limit.

all-MiniLM-L6-v2 reads 256 word pieces and silently drops the rest, so a chunk is built from
whole sentences while `title + "\\n" + chunk` stays within the limit (the title is embedded with
every chunk). A single sentence longer than the limit is split at word boundaries. Character
offsets into the document text are kept, so a chunk always equals `text[start_char:end_char]`.

Sentences come from a fast rule-based splitter (no spaCy parser): the NER pass then needs
only spaCy's `ner` pipe, and the same sentence spans serve for co-occurrence relations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

# Token counter: word pieces of each text (batched, as a fast tokenizer prefers).
TokenCounter = Callable[[Sequence[str]], list[int]]

# A sentence ends at . ! ? (optionally followed by quotes/brackets) before white space and an
# upper-case letter, digit or opening quote; or at a blank line. Common abbreviations are kept whole.
_BOUNDARY = re.compile(r"""(?<=[.!?])["'”’)\]]*\s+(?=["'“‘(\[]?[A-Z0-9])|\n\s*\n""")
_ABBREV = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Mt|Ft|Gen|Gov|Sen|Rep|Rev|Col|Lt|Capt|Sgt|"
                     r"Inc|Corp|Ltd|Co|vs|etc|No|Vol|pp|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|"
                     r"U\.S|U\.K|e\.g|i\.e|a\.m|p\.m)\.|\b[A-Z]\.)$")
_WORD = re.compile(r"\S+")


def approx_token_counter(texts: Sequence[str]) -> list[int]:
    """A tokenizer-free estimate (1.4 word pieces per word, plus the two special tokens)."""
    return [int(len(_WORD.findall(t)) * 1.4) + 2 for t in texts]


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences of `text`, white space trimmed."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        candidate = text[start:match.start()]
        if _ABBREV.search(candidate.rstrip("\"'”’)]")):
            continue  # "Dr. Smith", "J. R. R. Tolkien": not a sentence end
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


@dataclass(slots=True)
class TextChunk:
    """A chunk of a document: `text == document_text[start_char:end_char]`."""

    ordinal: int
    text: str
    start_char: int
    end_char: int
    # sentence spans relative to the chunk's start (for co-occurrence relations)
    sentences: list[tuple[int, int]] = field(default_factory=list)


class SentenceChunker:
    """Packs whole sentences into chunks of at most `max_tokens` word pieces (title included).

    Args:
        count_tokens: word pieces per text; the embedder's tokenizer for exact limits.
        max_tokens: the model's limit (256 for all-MiniLM-L6-v2).
        target_tokens: a chunk is closed once it reaches this size (<= max_tokens), which keeps
            chunks focused; the hard limit is still `max_tokens`.
    """

    def __init__(self, count_tokens: TokenCounter = approx_token_counter, *, max_tokens: int = 256,
                 target_tokens: int | None = None):
        if max_tokens < 16:
            raise ValueError("max_tokens must be at least 16")
        self.count_tokens = count_tokens
        self.max_tokens = max_tokens
        self.target_tokens = min(target_tokens or max_tokens, max_tokens)

    def chunk(self, text: str, title: str = "") -> list[TextChunk]:
        sentences = split_sentences(text)
        if not sentences:
            return []
        # The title travels with every chunk into the embedder; its word pieces count against the limit.
        title_cost = (self.count_tokens([title])[0] - 1) if title else 0  # -1: special tokens counted once
        budget = max(self.max_tokens - title_cost, 16)
        target = max(min(self.target_tokens - title_cost, budget), 16)
        counts = self.count_tokens([text[s:e] for s, e in sentences])
        pieces: list[tuple[int, int, int]] = []  # (start, end, cost without the 2 special tokens)
        for (s, e), n in zip(sentences, counts, strict=True):
            if n <= budget:
                pieces.append((s, e, n - 2))
            else:
                pieces.extend(self._split_long(text, s, e, budget))
        chunks: list[TextChunk] = []
        current: list[tuple[int, int, int]] = []
        cost = 2
        for piece in pieces:
            if current and (cost + piece[2] > budget or cost >= target):
                chunks.append(self._make(text, len(chunks), current))
                current, cost = [], 2
            current.append(piece)
            cost += piece[2]
        if current:
            chunks.append(self._make(text, len(chunks), current))
        return chunks

    def _split_long(self, text: str, start: int, end: int, budget: int) -> list[tuple[int, int, int]]:
        """A sentence over the limit, cut at word boundaries into pieces that fit."""
        words = [(m.start() + start, m.end() + start) for m in _WORD.finditer(text[start:end])]
        out: list[tuple[int, int, int]] = []
        i = 0
        while i < len(words):
            # grow a window of words greedily, checking with the real counter in steps
            lo, hi = i + 1, len(words)
            best = i + 1
            while lo <= hi:  # binary search: the longest run of words that fits
                mid = (lo + hi) // 2
                n = self.count_tokens([text[words[i][0]:words[mid - 1][1]]])[0]
                if n <= budget:
                    best, lo = mid, mid + 1
                else:
                    hi = mid - 1
            piece_text = text[words[i][0]:words[best - 1][1]]
            out.append((words[i][0], words[best - 1][1], self.count_tokens([piece_text])[0] - 2))
            i = best
        return out

    @staticmethod
    def _make(text: str, ordinal: int, pieces: list[tuple[int, int, int]]) -> TextChunk:
        start, end = pieces[0][0], pieces[-1][1]
        return TextChunk(ordinal=ordinal, text=text[start:end], start_char=start, end_char=end,
                         sentences=[(s - start, e - start) for s, e, _ in pieces])
