"""Chat client for any OpenAI-compatible ``/v1/chat/completions`` server: vLLM, llama.cpp's server, Ollama.

Built on the `openai` SDK's `AsyncOpenAI` (its own retries off: ``max_retries=0``) so that SSE
parsing and response models are the SDK's; retries are ours, with tenacity, on what is worth
retrying: connection failures, 429 and 5xx. A timeout is not retried (a stalled server rarely
recovers within the caller's patience), and a stream is never retried once its first token has
been handed out: the caller has already shown it, and a second attempt would say something else.

Every failure leaves here as `LLMUnavailableError` or `LLMResponseError`; no caller sees SDK errors.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential_jitter

from graphrag.config import Settings
from graphrag.errors import LLMError, LLMResponseError, LLMUnavailableError

log = logging.getLogger(__name__)

Messages = Sequence[dict[str, Any]]
_NO_KEY = "no-key"  # the SDK insists on some key; local servers ignore it


@dataclass(frozen=True)
class Completion:
    """One whole (non-streamed) answer."""

    text: str
    finish_reason: str | None
    model: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def _transient(exc: BaseException) -> bool:
    """Worth another attempt: connection refused/reset, 429, 5xx. Not timeouts, not other 4xx."""
    if isinstance(exc, openai.APITimeoutError):
        return False
    if isinstance(exc, openai.APIConnectionError):
        return True
    return isinstance(exc, openai.APIStatusError) and (exc.status_code == 429 or exc.status_code >= 500)


def _status_detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else None
    return f"HTTP {exc.status_code}" + (f": {str(message)[:200]}" if message else "")


class LLMClient:
    """Async chat completions against one OpenAI-compatible server.

    Args:
        base_url: the server's API root, ending in ``/v1`` (e.g. ``http://127.0.0.1:8081/v1``).
        model: the model name the server expects (vLLM: the served model; llama.cpp ignores it).
        api_key: bearer key, if the server wants one.
        timeout_s: read timeout: a whole non-streamed answer, or the gap between streamed chunks.
        connect_timeout_s: how long to wait for a connection.
        retries: attempts in all for a transient failure (1 = no retry).
        retry_max_s: stop retrying after this many seconds.
        backoff_s: first wait between attempts (then doubling, with jitter, up to 4 s).
        temperature, max_tokens: defaults for each request (each call may override them).

    Example:
        >>> client = LLMClient("http://127.0.0.1:8081/v1", "local")  # doctest: +SKIP
        >>> (await client.complete([{"role": "user", "content": "Hi"}])).text  # doctest: +SKIP
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, timeout_s: float = 60.0,
                 connect_timeout_s: float = 5.0, retries: int = 3, retry_max_s: float = 20.0,
                 backoff_s: float = 0.5, temperature: float = 0.1, max_tokens: int = 256):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.retries = retries
        self.retry_max_s = retry_max_s
        self.backoff_s = backoff_s
        self.timeout = openai.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s))
        self._client = AsyncOpenAI(base_url=self.base_url, api_key=api_key or _NO_KEY, max_retries=0,
                                   timeout=self.timeout)

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMClient | None:
        """The configured client, or None when no LLM is configured (answers are then extractive)."""
        url = settings.llm_url
        if url is None:
            return None
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key is not None else None
        return cls(url, settings.llm_model, api_key=key, timeout_s=settings.llm_timeout_s,
                   connect_timeout_s=settings.llm_connect_timeout_s, retries=settings.llm_retries,
                   temperature=settings.llm_temperature, max_tokens=settings.llm_max_tokens)

    async def aclose(self) -> None:
        await self._client.close()

    def _retrying(self) -> AsyncRetrying:
        return AsyncRetrying(
            stop=stop_after_attempt(self.retries) | stop_after_delay(self.retry_max_s),
            wait=wait_exponential_jitter(initial=self.backoff_s, max=4.0, jitter=self.backoff_s),
            retry=retry_if_exception(_transient),
            reraise=True,
            before_sleep=lambda state: log.warning(
                "LLM call to %s failed (%s); attempt %d of %d", self.base_url,
                type(state.outcome.exception()).__name__ if state.outcome else "?", state.attempt_number,
                self.retries),
        )

    def _params(self, messages: Messages, temperature: float | None, max_tokens: int | None,
                stop: Sequence[str] | None, extra_body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "temperature": self.temperature if temperature is None else temperature,
            "max_tokens": self.max_tokens if max_tokens is None else max_tokens,
        }
        if stop:
            params["stop"] = list(stop)
        if extra_body:
            params["extra_body"] = dict(extra_body)  # server-specific fields, e.g. llama.cpp's "grammar"
        return params

    def _translate(self, exc: Exception) -> LLMError:
        """Our error for an SDK (or parsing) failure, naming the server and the cause in one line."""
        where = f"LLM at {self.base_url}"
        if isinstance(exc, LLMError):
            return exc
        if isinstance(exc, openai.APITimeoutError):
            return LLMUnavailableError(f"{where} timed out (read timeout {self.timeout.read}s, "
                                       f"connect {self.timeout.connect}s)")
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            return LLMUnavailableError(f"{where} is unreachable: {type(cause).__name__}: {cause}"[:300])
        if isinstance(exc, openai.APIStatusError):
            detail = _status_detail(exc)
            if _transient(exc):
                return LLMUnavailableError(f"{where} kept failing ({detail}) after {self.retries} attempts")
            return LLMResponseError(f"{where} refused the request ({detail})")
        return LLMResponseError(f"{where} sent an unusable answer: {type(exc).__name__}: {exc}"[:300])

    async def complete(self, messages: Messages, *, temperature: float | None = None,
                       max_tokens: int | None = None, stop: Sequence[str] | None = None,
                       extra_body: Mapping[str, Any] | None = None) -> Completion:
        """One whole answer. Raises `LLMUnavailableError` or `LLMResponseError`.

        `extra_body` fields are merged into the request as they are (for fields the OpenAI API
        lacks, such as llama.cpp's ``grammar``); only send what the server understands.
        """
        params = self._params(messages, temperature, max_tokens, stop, extra_body)
        try:
            async for attempt in self._retrying():
                with attempt:
                    response = await self._client.chat.completions.create(**params)
        except Exception as exc:
            raise self._translate(exc) from exc
        return self._parse_completion(response)

    def _parse_completion(self, response: object) -> Completion:
        # Without strict validation the SDK hands back whatever came (even a plain string): check it.
        if not isinstance(response, ChatCompletion):
            raise LLMResponseError(f"LLM at {self.base_url} did not answer with a chat completion "
                                   f"(got {type(response).__name__}: {str(response)[:80]!r})")
        try:
            choice = response.choices[0]
            text = choice.message.content
            finish = choice.finish_reason
        except (AttributeError, IndexError, TypeError, KeyError) as exc:
            raise LLMResponseError(f"LLM at {self.base_url} answered without a usable choice "
                                   f"({type(exc).__name__})") from exc
        if not isinstance(text, str):
            raise LLMResponseError(f"LLM at {self.base_url} answered without message content")
        usage = getattr(response, "usage", None)
        return Completion(text, finish, getattr(response, "model", None),
                          getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None))

    async def stream(self, messages: Messages, *, temperature: float | None = None,
                     max_tokens: int | None = None, stop: Sequence[str] | None = None,
                     extra_body: Mapping[str, Any] | None = None) -> AsyncIterator[str]:
        """Yield the answer's text as it arrives (server-sent events, parsed by the SDK).

        Opening the stream and reading up to the first token is retried like `complete`; once a
        token has been yielded, a failure raises `LLMUnavailableError`/`LLMResponseError` at once.
        """
        params = self._params(messages, temperature, max_tokens, stop, extra_body)
        params["stream"] = True
        try:
            async for attempt in self._retrying():
                with attempt:
                    stream = await self._client.chat.completions.create(**params)
                    chunks = stream.__aiter__()
                    try:
                        first = await self._first_text(chunks)
                    except BaseException:
                        await stream.close()
                        raise
        except Exception as exc:
            raise self._translate(exc) from exc
        try:
            yield first
            try:
                async for chunk in chunks:
                    text = self._chunk_text(chunk)
                    if text:
                        yield text
            except Exception as exc:
                err = self._translate(exc)
                raise type(err)(f"{err} (the stream broke after its first token; not retried)") from exc
        finally:
            await stream.close()

    async def _first_text(self, chunks: AsyncIterator[ChatCompletionChunk]) -> str:
        async for chunk in chunks:
            text = self._chunk_text(chunk)
            if text:
                return text
        raise LLMResponseError(f"LLM at {self.base_url} ended its stream without any text")

    def _chunk_text(self, chunk: object) -> str:
        if not isinstance(chunk, ChatCompletionChunk):
            raise LLMResponseError(f"LLM at {self.base_url} streamed something other than chat chunks "
                                   f"({type(chunk).__name__})")
        try:
            if not chunk.choices:
                return ""  # e.g. a final usage-only chunk
            return chunk.choices[0].delta.content or ""
        except (AttributeError, IndexError, TypeError) as exc:
            raise LLMResponseError(f"LLM at {self.base_url} streamed a malformed chunk ({type(exc).__name__})") \
                from exc

    async def models(self) -> list[str]:
        """The model ids the server lists (`GET /v1/models`): a cheap reachability check."""
        try:
            page = await self._client.models.list()
            return [m.id for m in page.data]
        except Exception as exc:
            raise self._translate(exc) from exc
