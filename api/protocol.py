"""HTTP/1.1 connections with a deadline for each request head, against slowloris.

uvicorn times out an idle keep-alive connection only *after* a response (`timeout_keep_alive`). A
connection that is opened and never sends a request, or sends its head a byte at a time, has no
timer at all and stays open for ever (measured: 500 such sockets were all still open after 60 s),
each holding a file descriptor and a buffer. `HeaderTimeoutH11Protocol` closes a connection whose
request head is not complete within `api_header_timeout_s` of the connection opening or of the
previous response ending. Once the head is in, the request runs as before.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

DEFAULT_HEADER_TIMEOUT_S = 10.0
CONFIG_ATTRIBUTE = "graphrag_header_timeout_s"  # set on the uvicorn Config (it travels to worker processes)
PROTOCOL = "api.protocol:HeaderTimeoutH11Protocol"  # an import string, so a spawned worker can load it


class HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus the request-head deadline (see the module docstring)."""

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout_s = float(getattr(config, CONFIG_ATTRIBUTE, DEFAULT_HEADER_TIMEOUT_S))
        self._head_deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _waiting_for_head(self) -> bool:
        return self.conn.their_state is h11.IDLE

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_deadline is not None and not self._waiting_for_head():
            self._disarm()  # the head is complete: the request is the app's now

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self._waiting_for_head():
            self._arm()  # the next head on this connection gets the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self._waiting_for_head() and not self.transport.is_closing():
            self.transport.close()
