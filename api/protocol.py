"""HTTP/1.1 connections with a deadline for each request head and each request body, against slowloris.

uvicorn times out an idle keep-alive connection only *after* a response (`timeout_keep_alive`). A
connection that is opened and never sends a request, or sends its head a byte at a time, has no
timer at all and stays open for ever (measured: 500 such sockets were all still open after 60 s),
each holding a file descriptor and a buffer. `HeaderTimeoutH11Protocol` closes a connection whose
request head is not complete within `api_header_timeout_s` of the connection opening or of the
previous response ending.

A body has a deadline too (`api_body_timeout_s`, from the end of its head): a client that trickles a
body held the route reading it, and the connection, for as long as it liked, keys or not (100 such
connections were all open at 70 s). Past the deadline the request is answered 408 if the app has not
answered yet, and the connection is closed; the route sees the client gone and stores nothing.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BODY_TIMEOUT_S = 60.0
CONFIG_ATTRIBUTE = "graphrag_header_timeout_s"  # set on the uvicorn Config (it travels to worker processes)
BODY_CONFIG_ATTRIBUTE = "graphrag_body_timeout_s"
PROTOCOL = "api.protocol:HeaderTimeoutH11Protocol"  # an import string, so a spawned worker can load it


class HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus the request-head and request-body deadlines (see the module docstring)."""

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout_s = float(getattr(config, CONFIG_ATTRIBUTE, DEFAULT_HEADER_TIMEOUT_S))
        self.body_timeout_s = float(getattr(config, BODY_CONFIG_ATTRIBUTE, DEFAULT_BODY_TIMEOUT_S))
        self._head_deadline: asyncio.TimerHandle | None = None
        self._body_deadline: asyncio.TimerHandle | None = None

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
        _send_at_once(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_deadline is not None and not self._waiting_for_head():
            self._disarm()  # the head is complete: the request is the app's now
        if self.conn.their_state is h11.SEND_BODY:
            if self._body_deadline is None:  # the head is in and the body is not: its clock starts
                self._body_deadline = self.loop.call_later(self.body_timeout_s, self._body_timed_out)
        else:
            self._disarm_body()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self._waiting_for_head():
            self._arm()  # the next head on this connection gets the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._disarm_body()
        super().connection_lost(exc)

    def _disarm_body(self) -> None:
        if self._body_deadline is not None:
            self._body_deadline.cancel()
            self._body_deadline = None

    def _body_timed_out(self) -> None:
        self._body_deadline = None
        if self.conn.their_state is not h11.SEND_BODY or self.transport.is_closing():
            return
        cycle = getattr(self, "cycle", None)
        if cycle is not None and not cycle.response_started:
            cycle.response_started = True  # the app's own answer, if it ever sends one, goes nowhere
            message = (f"the request body did not arrive within {self.body_timeout_s:g} s of its head "
                       "(GRAPHRAG_API_BODY_TIMEOUT_S); send it faster, or in smaller parts")
            body = json.dumps({"error": {"code": "body_timeout", "message": message}}).encode()
            try:
                self.transport.write(self.conn.send(h11.Response(status_code=408, reason=b"Request Timeout", headers=[
                    (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")])) or b"")
                self.transport.write(self.conn.send(h11.Data(data=body)) or b"")
                self.transport.write(self.conn.send(h11.EndOfMessage()) or b"")
            except h11.LocalProtocolError:  # the connection's state allows no answer: just close it
                pass
        self.transport.close()

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self._waiting_for_head() and not self.transport.is_closing():
            self.transport.close()


def _send_at_once(transport: asyncio.BaseTransport) -> None:
    """TCP_NODELAY on the connection, whatever listening socket the server was given.

    asyncio sets it only on connections whose socket says `proto == IPPROTO_TCP`. The listener uvicorn
    binds for worker processes (`Config.bind_socket`, `GRAPHRAG_API_WORKERS` > 1) says 0, and so did
    every connection it accepted: Nagle's algorithm then held each response on a keep-alive connection
    for the client's delayed ACK. Measured with two workers: /healthz 44 ms a request instead of 1,
    /v1/retrieve at one client 12 instead of 32 questions a second (uvicorn issue #3149, open).
    """
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
