"""A tiny real HTTP/1.1 server for fault tests: it listens on a free 127.0.0.1 port in its own thread
and answers each request with a scripted behaviour (garbage, 5xx, 429, stalls, broken streams).

It is a real socket server, not a mock: the LLM client goes through its whole HTTP stack.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    body: dict[str, Any]


Handler = Callable[[Request, asyncio.StreamWriter], Awaitable[None]]


def completion(text: str) -> dict[str, Any]:
    return {"id": "x", "object": "chat.completion", "created": 0, "model": "tiny",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}


def chunk(text: str) -> dict[str, Any]:
    return {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "tiny",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}


async def send(writer: asyncio.StreamWriter, status: int, body: bytes | str | dict[str, Any],
               content_type: str = "application/json") -> None:
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    head = (f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n")
    writer.write(head.encode() + body)
    await writer.drain()


async def send_stream_head(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
    await writer.drain()


async def send_event(writer: asyncio.StreamWriter, data: dict[str, Any] | str) -> None:
    payload = data if isinstance(data, str) else json.dumps(data)
    writer.write(f"data: {payload}\n\n".encode())
    await writer.drain()


async def answer_ok(request: Request, writer: asyncio.StreamWriter, text: str = "Paris [1].") -> None:
    """A well-formed answer, streamed or not as the request asks."""
    if request.body.get("stream"):
        await send_stream_head(writer)
        for piece in (text[: len(text) // 2], text[len(text) // 2:]):
            await send_event(writer, chunk(piece))
        await send_event(writer, "[DONE]")
    else:
        await send(writer, 200, completion(text))


@dataclass
class TinyServer:
    handler: Handler
    requests: list[Request] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> TinyServer:
        ready = threading.Event()

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            await self._stop.wait()
            server.close()
            for task in list(self._tasks):  # stalled handlers: end them with the server
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        self._thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the tiny HTTP server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._thread is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
            raw = await reader.readexactly(int(headers.get("content-length", "0")))
            request = Request(method, path, json.loads(raw) if raw else {})
            self.requests.append(request)
            await self.handler(request, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            writer.close()


async def stall(request: Request, writer: asyncio.StreamWriter) -> None:
    """Read the request, then say nothing until the server shuts down."""
    await asyncio.sleep(3600)


def elapsed_since(start: float) -> float:
    return round(time.monotonic() - start, 2)
