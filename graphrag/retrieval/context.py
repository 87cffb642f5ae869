"""The numbered context an answerer reads: `[n] title` blocks within a token budget.

Marker n maps to a chunk id and its document id, so a cited `[n]` in an answer resolves to its
source. Tokens are estimated at four characters each (the usual ratio for English with BPE
tokenizers); a caller with the generator's tokenizer passes its own counter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from graphrag.types import Passage, PathStep

TokenCounter = Callable[[str], int]
_MIN_TAIL_TOKENS = 40  # a cut passage shorter than this is noise, not context


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


@dataclass
class Context:
    text: str
    markers: dict[int, str] = field(default_factory=dict)  # n -> chunk id
    documents: dict[int, str] = field(default_factory=dict)  # n -> document id
    tokens: int = 0


def build_context(passages: Sequence[Passage], budget_tokens: int,
                  count_tokens: TokenCounter = estimate_tokens) -> Context:
    """Passages in rank order as `[n] title\\ntext`, stopping at the budget.

    The passage that crosses the budget is cut at a word boundary if enough of it fits, else left out.
    """
    blocks: list[str] = []
    ctx = Context("")
    used = 0
    for passage in passages:
        n = len(blocks) + 1
        header = f"[{n}] {passage.title}".rstrip() + "\n"
        block = header + passage.text.strip()
        cost = count_tokens(block) + (1 if blocks else 0)
        if used + cost > budget_tokens:
            room = budget_tokens - used - count_tokens(header) - 1
            if room < _MIN_TAIL_TOKENS:
                break
            block = header + _cut(passage.text.strip(), room, count_tokens)
            cost = count_tokens(block) + (1 if blocks else 0)
            if used + cost > budget_tokens:
                break
        blocks.append(block)
        ctx.markers[n] = passage.chunk_id
        ctx.documents[n] = passage.document_id
        used += cost
    ctx.text = "\n\n".join(blocks)
    ctx.tokens = used
    return ctx


def _cut(text: str, tokens: int, count_tokens: TokenCounter) -> str:
    words = text.split()
    low, high = 0, len(words)
    while low < high:  # the most words whose text (plus the ellipsis) fits
        mid = (low + high + 1) // 2
        if count_tokens(" ".join(words[:mid]) + " …") <= tokens:
            low = mid
        else:
            high = mid - 1
    return " ".join(words[:low]) + " …"


def format_path(path: Sequence[PathStep]) -> str:
    """'(A) -[RELATED]-> (B) -[MENTIONED_IN]-> (Title)': one readable line per path."""
    if not path:
        return ""
    parts = [f"({path[0].source})"]
    for step in path:
        parts.append(f"-[{step.relation}]-> ({step.target})")
    return " ".join(parts)
