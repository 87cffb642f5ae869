"""The answer prompt (langchain-core templates) and the one place where passages get their numbers.

The model sees fixed instructions (with one fixed, invented worked example), the question and the
numbered passages, nothing else: no metadata, no graph paths, no text from other requests.
Numbering lives here only (`numbered`, and `number_passages` for a prompt with a budget), so the
``[n]`` a model cites, the context it read, the citations we return and every face's numbered list
always agree.

Token counts are estimated from characters (the LLM's tokenizer lives on its server); the estimate
errs on the long side so a prompt never overflows the model's context window.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, convert_to_openai_messages
from langchain_core.prompts import ChatPromptTemplate

from graphrag.types import Passage

NO_ANSWER = "The context does not contain the answer."

SYSTEM_PROMPT = (
    "You answer questions using only the numbered context passages.\n"
    "Rules:\n"
    "- Use only facts stated in the context, never outside knowledge.\n"
    "- Cite the passage each fact comes from by its number in square brackets, like [1] or [1][2].\n"
    f'- If the context does not contain the answer, say exactly: "{NO_ANSWER}"\n'
    "- Answer in one short sentence."
)
# Small models (SmolLM2-135M, Qwen2.5-1.5B) follow the instruction they read last: the rule to
# cite comes again *after* the context, with the exact format (docs/answering.md has the numbers).
ANSWER_INSTRUCTION = (
    "Answer the question in one short sentence from the context above, and end the sentence with the "
    "number of the passage you used in square brackets, like [2]."
)
USER_PROMPT = "Context:\n{context}\n\nQuestion: {question}\n\n" + ANSWER_INSTRUCTION

# One worked example as an earlier turn of the chat, in exactly the format asked for: small models
# copy a shown format far more reliably than they follow a described one (Qwen2.5-1.5B: 0.7 -> 0.9
# of answers citing; docs/answering.md). Its places are invented so that an answer echoing it is
# recognisable; its passages are not part of the numbered context, so the [n] of a real answer are
# checked against the real passages only (an echoed "[2]" with one real passage is removed).
EXAMPLE_CONTEXT = (
    "[1] Lake Vell: Lake Vell is a lake at the foot of Mount Kora.\n"
    "[2] Mount Kora: Mount Kora is a mountain 2,310 metres high."
)
EXAMPLE_QUESTION = "How high is the mountain above Lake Vell?"
EXAMPLE_ANSWER = "The mountain above Lake Vell, Mount Kora, is 2,310 metres high [1][2]."
EXAMPLE_NAMES = ("Lake Vell", "Mount Kora")  # invented: an answer naming them echoes the example


def echoes_example(answer: str, context: NumberedContext) -> bool:
    """Whether `answer` names the worked example's invented places although the context does not."""
    return any(name in answer and name not in context.text for name in EXAMPLE_NAMES)


EXAMPLE_MESSAGES = (
    HumanMessage(USER_PROMPT.format(context=EXAMPLE_CONTEXT, question=EXAMPLE_QUESTION)),
    AIMessage(EXAMPLE_ANSWER),
)

ANSWER_PROMPT = ChatPromptTemplate.from_messages(
    [("system", SYSTEM_PROMPT), *EXAMPLE_MESSAGES, ("human", USER_PROMPT)]
)

CHARS_PER_TOKEN = 3.5  # English runs about 4 characters a token in Llama/Qwen vocabularies: err long
CHAT_OVERHEAD_TOKENS = 48  # role headers and special tokens the server's chat template adds
_MIN_TRUNCATED_TOKENS = 48  # a shorter tail of a passage is not worth showing
_SPACE = re.compile(r"\s+")


def estimate_tokens(text: str) -> int:
    """A conservative token count for `text` (more than a Llama/Qwen tokenizer would give)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def passage_line(n: int, title: str, text: str) -> str:
    """How passage `n` appears in the context: ``[n] Title: text`` on one line."""
    text = _SPACE.sub(" ", text).strip()
    title = _SPACE.sub(" ", title).strip()
    return f"[{n}] {title}: {text}" if title else f"[{n}] {text}"


@dataclass(frozen=True)
class NumberedContext:
    """The context as the model reads it, and which passage each number stands for.

    `shown` holds, per number, the passage text that made it into the context (a passage cut to
    fit the budget keeps only its head), so extractive answers and snippets quote what was shown.
    """

    text: str
    passages: dict[int, Passage] = field(default_factory=dict)
    shown: dict[int, str] = field(default_factory=dict)

    @property
    def markers(self) -> dict[int, str]:
        """n -> chunk id of the passages the prompt shows."""
        return {n: p.chunk_id for n, p in self.passages.items()}


def numbered(passages: Sequence[Passage]) -> list[tuple[int, Passage]]:
    """Passages with their numbers, 1..k in rank order: the `n` of an answer's `[n]`, a citation, a
    source, an MCP passage, a prompt line. Every face numbers through this, so none can start at 0
    or skip one and disagree with the answer it shows."""
    return list(enumerate(passages, start=1))


def number_passages(passages: list[Passage], budget_tokens: int) -> NumberedContext:
    """Number passages 1..k in rank order, keeping as many as fit in `budget_tokens`.

    The first passage that does not fit whole is cut at a word boundary if a useful part of it
    fits; the passages after it are left out (they rank lower).
    """
    lines: list[str] = []
    chosen: dict[int, Passage] = {}
    shown: dict[int, str] = {}
    used = 0
    for n, passage in numbered(passages):  # every passage before `n` was kept, or the loop ended
        line = passage_line(n, passage.title, passage.text)
        cost = estimate_tokens(line) + 1  # + the newline
        if used + cost <= budget_tokens:
            lines.append(line)
            chosen[n] = passage
            shown[n] = _SPACE.sub(" ", passage.text).strip()
            used += cost
            continue
        room = budget_tokens - used - estimate_tokens(passage_line(n, passage.title, "")) - 2
        if room >= _MIN_TRUNCATED_TOKENS:
            text = _SPACE.sub(" ", passage.text).strip()[: int(room * CHARS_PER_TOKEN)]
            text = text.rsplit(" ", 1)[0] if " " in text else text
            lines.append(passage_line(n, passage.title, text + " …"))
            chosen[n] = passage
            shown[n] = text
        break
    return NumberedContext("\n".join(lines), chosen, shown)


def context_budget(question: str, *, context_tokens: int, max_tokens: int) -> int:
    """Tokens left for the passages once instructions, question and the answer's room are counted."""
    fixed = (estimate_tokens(SYSTEM_PROMPT) + sum(estimate_tokens(str(m.content)) for m in EXAMPLE_MESSAGES)
             + estimate_tokens(USER_PROMPT) + estimate_tokens(question))
    # CHAT_OVERHEAD_TOKENS covers two messages' headers; there are four: count it thrice, erring long.
    return max(0, context_tokens - max_tokens - fixed - 3 * CHAT_OVERHEAD_TOKENS)


def build_messages(question: str, context: NumberedContext) -> list[dict[str, Any]]:
    """OpenAI-style chat messages: the system rules, the worked example, then the context and the question."""
    prompt = ANSWER_PROMPT.invoke({"context": context.text, "question": question.strip()})
    return list(convert_to_openai_messages(prompt.to_messages()))


CITED_ANSWER_MAX_CHARS = 300  # about 75 tokens: a short sentence or two, then the marker must come


def citation_grammar(numbers: Iterable[int], *, max_chars: int = CITED_ANSWER_MAX_CHARS) -> str:
    """A llama.cpp GBNF grammar: the no-answer sentence, or one line of text ending in ``[n]`` markers.

    The numbers allowed inside the brackets are exactly the context's, so a grammar-constrained
    answer can only cite a passage the model was shown. The grammar fixes the answer's *form*: at
    most `max_chars` characters of text on one line, then at least one marker (without the bound a
    small model rambles until `max_tokens` and never reaches a marker). Which passage(s) to cite is
    still the model's choice, token by token, from what it read. llama.cpp samples under it while
    streaming, so the answer still arrives token by token. Only llama.cpp's server takes this field
    (``"grammar"``).

    Raises:
        ValueError: no numbers (there is nothing to cite; the caller must not ask the LLM then).
    """
    allowed = sorted(set(numbers))
    if not allowed:
        raise ValueError("a citation grammar needs at least one passage number")
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    choices = " | ".join(f'"{n}"' for n in allowed)
    return (
        f'root ::= "{NO_ANSWER}" | body cite "."?\n'
        f'body ::= [^\\[\\]\\n]{{1,{max_chars}}}\n'
        'cite ::= " [" num "]" ("[" num "]")*\n'
        f"num ::= {choices}\n"
    )
