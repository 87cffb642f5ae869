"""The cited-answer prompt: retrieved passages as a request to the agent's own model to answer from them.

It numbers every passage (no budget: the agent's model and its window are the client's) through
`graphrag.prompts.numbered` and writes the `[n] Title: text` lines the service's own answerer reads,
and the entity paths as `graphrag.retrieval.format_path` writes them everywhere else.
"""

from __future__ import annotations

from graphrag.prompts import numbered, passage_line
from graphrag.retrieval.paths import format_path
from graphrag.types import RetrievalResult


def cited_answer_prompt(result: RetrievalResult) -> str:
    """The prompt text: numbered passages (the `[n] Title: text` lines the service's own answerer reads),
    their ids, the linking entity paths, the citation rules, then the question."""
    ranked = numbered(result.passages)
    lines = [passage_line(n, p.title, p.text) for n, p in ranked]
    ids = [f"[{n}] document {p.document_id}, chunk {p.chunk_id}" for n, p in ranked]
    paths = [format_path(path) for path in result.paths]
    parts = ["Answer the question using only the numbered passages below.",
             "Rules:",
             "- Use only facts stated in the passages, never outside knowledge.",
             "- Cite the passage each fact comes from by its number in square brackets, like [1] or [1][2].",
             '- If the passages do not contain the answer, say exactly: "The passages do not contain the answer."',
             "", "Passages:", *(lines or ["(none were found)"]), "", "Sources:", *ids]
    if paths:
        parts += ["", "Entity paths linking the passages:", *paths]
    parts += ["", f"Question: {result.question}"]
    return "\n".join(parts)
