"""`Answerer`: a `RetrievalResult` in, a cited `Answer` out, from the LLM when it answers, else extractive.

The LLM path numbers the passages that fit the model's window (`prompts.number_passages`), asks
for an answer citing them, and checks every ``[n]`` against that numbering (`citations`). When no
LLM is configured, or it fails before its first token, the answer is extractive: the best-matching
sentences of the same numbered passages, and it says so. `Answer.mode` always tells which.

Streaming (`Answerer.stream`) yields `TokenEvent`s as the LLM writes, then one `FinalEvent` with
the checked answer; a stream that breaks after its first token ends with an `ErrorEvent` (it cannot
fall back: part of an answer has been shown). The FastAPI layer turns these events into SSE.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Literal

from pydantic import BaseModel

from graphrag.citations import MarkerFilter, check_citations
from graphrag.config import Settings
from graphrag.embeddings import Embedder
from graphrag.errors import LLMError, LLMUnavailableError
from graphrag.extractive import (
    EmbeddingScorer,
    HybridScorer,
    LexicalScorer,
    SentenceScorer,
    extract,
    format_extract,
)
from graphrag.llm import LLMClient
from graphrag.prompts import (
    NumberedContext,
    build_messages,
    citation_grammar,
    context_budget,
    number_passages,
)
from graphrag.types import Answer, Citation, RetrievalResult

log = logging.getLogger(__name__)

EXTRACTIVE_PREFIX = "Extractive answer"  # every extractive answer starts so: "Extractive answer (why): ..."
NO_PASSAGES = "No passage in the sources matches this question, so there is nothing to answer from."
NOTHING_FITS = "Nothing in the documents answers this question."  # every abstention starts so
CLOSEST_CITED = 3  # passages an abstention still points at
SNIPPET_CHARS = 300


class TokenEvent(BaseModel):
    """A piece of the answer's text, in order; concatenated they are the final answer's text."""

    type: Literal["token"] = "token"
    text: str


class FinalEvent(BaseModel):
    """The last event of a good stream: the whole answer with its checked citations and mode."""

    type: Literal["final"] = "final"
    answer: Answer


class ErrorEvent(BaseModel):
    """The LLM failed after some of its answer had been streamed; the answer is incomplete."""

    type: Literal["error"] = "error"
    message: str


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The one way a passage is shortened for display (citations, the API's sources): white space
    collapsed, cut at a word boundary within `limit` characters, an ellipsis when cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


class Answerer:
    """Answers from retrieved passages with an optional LLM and an always-available extractive path.

    Args:
        llm: the chat client, or None for extractive answers only.
        scorer: sentence scorer of the extractive path (default: lexical, no model).
        context_tokens: the LLM's context window; passages are trimmed to fit it with the answer.
        max_tokens: cap on the answer's tokens.
        temperature: sampling temperature (None: the client's default).
        extractive_sentences: sentences quoted by an extractive answer.
        citation_grammar: send llama.cpp's server a grammar (`prompts.citation_grammar`) that makes
            the answer end in ``[n]`` markers of the shown passages; only for llama.cpp's server.
        cooldown_s: after the LLM was unreachable (`LLMUnavailableError`: every retry spent), answer
            extractively at once for this many seconds instead of paying the retries again on every
            request; the first request after it tries the LLM again. 0 tries every time.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(self, llm: LLMClient | None, *, scorer: SentenceScorer | None = None,
                 context_tokens: int = 4096, max_tokens: int = 256, temperature: float | None = None,
                 extractive_sentences: int = 2, citation_grammar: bool = False, cooldown_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic):
        self.llm = llm
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._down_until = 0.0
        self.citation_grammar = citation_grammar
        self.scorer: SentenceScorer = scorer or LexicalScorer()
        self.context_tokens = context_tokens
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.extractive_sentences = extractive_sentences

    @classmethod
    def from_settings(cls, settings: Settings, *, embedder: Embedder | None = None,
                      scorer: Literal["lexical", "embedding", "hybrid"] = "lexical") -> Answerer:
        """The configured answerer.

        Extractive sentences are ranked lexically by default: on the eval sets the three scorers
        tie within noise (docs/answering.md) and the lexical one costs about 1 ms instead of a
        forward pass over every candidate sentence. `embedder` serves the other two.
        """
        chosen: SentenceScorer | None = None
        if scorer != "lexical":
            if embedder is None:
                raise ValueError(f"the {scorer!r} sentence scorer needs an embedder")
            chosen = EmbeddingScorer(embedder) if scorer == "embedding" else HybridScorer(embedder)
        return cls(LLMClient.from_settings(settings), scorer=chosen, context_tokens=settings.llm_context_tokens,
                   max_tokens=settings.llm_max_tokens, temperature=settings.llm_temperature,
                   citation_grammar=settings.llm_citation_grammar_on, cooldown_s=settings.llm_cooldown_s)

    async def aclose(self) -> None:
        if self.llm is not None:
            await self.llm.aclose()

    @property
    def mode(self) -> Literal["llm", "extractive"]:
        """Where answers come from when all goes well: "llm" when one is configured."""
        return "llm" if self.llm is not None else "extractive"

    async def probe(self, timeout_s: float = 2.0) -> tuple[bool, str]:
        """(usable, detail) for a readiness check: always usable (the extractive fallback needs
        nothing); the detail says which mode serves now."""
        if self.llm is None:
            return True, "extractive (no LLM configured)"
        try:
            await asyncio.wait_for(self.llm.models(), timeout_s)
        except (LLMError, TimeoutError) as exc:
            return True, f"LLM unreachable ({type(exc).__name__}): extractive fallback active"
        return True, f"llm ({self.llm.model})"

    def context_for(self, result: RetrievalResult) -> NumberedContext:
        """The numbered passages that fit the LLM's window with the instructions, question and answer."""
        budget = context_budget(result.question, context_tokens=self.context_tokens, max_tokens=self.max_tokens)
        return number_passages(result.passages, budget)

    def _temperature(self, override: float | None) -> float | None:
        return self.temperature if override is None else override

    def resting_s(self) -> float:
        """Seconds the LLM is still left alone after it was unreachable (0: it is asked)."""
        return max(0.0, self._down_until - self._clock())

    def _record(self, error: LLMError | None) -> None:
        """Start the cool-down after an unreachable LLM; end it after any answer from the server."""
        if isinstance(error, LLMUnavailableError):
            if self.cooldown_s > 0:
                self._down_until = self._clock() + self.cooldown_s
        else:
            self._down_until = 0.0

    def _resting_reason(self) -> str:
        return f"the language model was unreachable; it is tried again in {math.ceil(self.resting_s())} s"

    def _extra_body(self, context: NumberedContext) -> dict[str, str] | None:
        """Server-specific request fields: llama.cpp's citation grammar when enabled."""
        return {"grammar": citation_grammar(context.passages)} if self.citation_grammar else None

    # --- whole answers ---------------------------------------------------------------------------

    async def answer(self, result: RetrievalResult, *, temperature: float | None = None) -> Answer:
        """The answer to `result.question`: the LLM's when it answers, else extractive (never raises LLMError).

        `temperature` overrides the answerer's for this call (None: the answerer's own).
        """
        started = time.perf_counter()
        context = self.context_for(result)
        if not context.passages:
            return self._finish(result, NO_PASSAGES, "extractive", context, [], [], {}, started)
        if not _answerable(result):
            return self._abstain(result, context, started)
        if self.llm is None:
            return await self._extractive(result, context, "no language model is configured", started)
        if self.resting_s() > 0:
            return await self._extractive(result, context, self._resting_reason(), started)
        try:
            completion = await self.llm.complete(build_messages(result.question, context),
                                                 temperature=self._temperature(temperature), max_tokens=self.max_tokens,
                                                 extra_body=self._extra_body(context))
        except LLMError as exc:
            self._record(exc)
            log.warning("answering extractively: %s", exc)
            return await self._extractive(result, context, "the language model failed", started)
        self._record(None)
        checked = check_citations(completion.text, context.passages)
        if not checked.text:
            log.warning("answering extractively: the LLM's answer was empty")
            return await self._extractive(result, context, "the language model's answer was empty", started)
        return self._finish(result, checked.text, "llm", context, checked.cited, checked.removed, {}, started)

    async def _extractive(self, result: RetrievalResult, context: NumberedContext, why: str,
                          started: float) -> Answer:
        # The embedder runs torch on the CPU: keep it off the event loop.
        picked = await asyncio.to_thread(extract, result.question, context, self.scorer,
                                         max_sentences=self.extractive_sentences)
        if not picked:
            return self._finish(result, NO_PASSAGES, "extractive", context, [], [], {}, started)
        text = f"{EXTRACTIVE_PREFIX} ({why}): {format_extract(picked)}"
        snippets = {s.n: s.sentence for s in picked}
        return self._finish(result, text, "extractive", context, [s.n for s in picked], [], snippets, started)

    def _abstain(self, result: RetrievalResult, context: NumberedContext, started: float) -> Answer:
        """The answer when nothing retrieved fits (`RetrievalResult.relevance`): it says so, names the
        closest passages and cites them, so a reader can still look; no language model is asked, since
        it would write an answer from passages that do not hold one."""
        closest = sorted(context.passages)[:CLOSEST_CITED]
        named = [f"“{context.passages[n].title}” [{n}]" if context.passages[n].title else f"[{n}]" for n in closest]
        listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
        text = f"{NOTHING_FITS} The closest passages are {listed}, but none of them fits the question well enough."
        return self._finish(result, text, "extractive", context, closest, [], {}, started)

    def _finish(self, result: RetrievalResult, text: str, mode: Literal["llm", "extractive"],
                context: NumberedContext, cited: list[int], removed: list[int], snippets: dict[int, str],
                started: float) -> Answer:
        citations = [
            Citation(n=n, chunk_id=context.passages[n].chunk_id, document_id=context.passages[n].document_id,
                     title=context.passages[n].title, snippet=snippet(snippets.get(n) or context.shown[n]),
                     score=context.passages[n].score)
            for n in cited
        ]
        timings = dict(result.timings_ms)
        timings["answer"] = round((time.perf_counter() - started) * 1000, 1)
        relevance = result.relevance
        return Answer(question=result.question, answer=text, mode=mode, citations=citations,
                      removed_markers=removed, paths=result.paths, timings_ms=timings,
                      answerable=bool(context.passages) and _answerable(result),
                      relevance=relevance.score if relevance is not None else None)

    # --- streamed answers ------------------------------------------------------------------------

    async def stream(self, result: RetrievalResult, *, temperature: float | None = None
                     ) -> AsyncIterator[TokenEvent | FinalEvent | ErrorEvent]:
        """Yield the answer as `TokenEvent`s, then a `FinalEvent` (or an `ErrorEvent` if the LLM broke mid-way).

        Falls back to an extractive answer (one `TokenEvent` and the `FinalEvent`) when no LLM is
        configured or it fails before its first token.
        """
        started = time.perf_counter()
        context = self.context_for(result)
        if self.llm is None or not context.passages or not _answerable(result) or self.resting_s() > 0:
            answer = await self.answer(result, temperature=temperature)
            yield TokenEvent(text=answer.answer)
            yield FinalEvent(answer=answer)
            return
        tokens = self.llm.stream(build_messages(result.question, context), temperature=self._temperature(temperature),
                                 max_tokens=self.max_tokens, extra_body=self._extra_body(context))
        try:
            try:
                first = await anext(tokens)
            except LLMError as exc:
                self._record(exc)
                log.warning("answering extractively: %s", exc)
                answer = await self._extractive(result, context, "the language model failed", started)
                yield TokenEvent(text=answer.answer)
                yield FinalEvent(answer=answer)
                return
            self._record(None)
            markers = MarkerFilter(context.passages)
            parts: list[str] = []
            piece = markers.feed(first)
            try:
                while True:
                    if piece:
                        parts.append(piece)
                        yield TokenEvent(text=piece)
                    try:
                        piece = markers.feed(await anext(tokens))
                    except StopAsyncIteration:
                        break
            except LLMError as exc:
                log.warning("the LLM's stream broke: %s", exc)
                yield ErrorEvent(message=str(exc))
                return
            tail = markers.finish()
            if tail:
                parts.append(tail)
                yield TokenEvent(text=tail)
            if not parts:  # nothing shown yet (only white space or dead markers came): fall back
                log.warning("answering extractively: the LLM's streamed answer was empty")
                answer = await self._extractive(result, context, "the language model's answer was empty", started)
                yield TokenEvent(text=answer.answer)
                yield FinalEvent(answer=answer)
                return
            yield FinalEvent(answer=self._finish(result, "".join(parts), "llm", context, markers.cited,
                                                 markers.removed, {}, started))
        finally:
            await tokens.aclose()


def _answerable(result: RetrievalResult) -> bool:
    """Whether the retrieval judged its passages fit to answer from (unjudged results are)."""
    return result.relevance is None or result.relevance.answerable
