"""Slow and idle connections are closed (slowloris): uvicorn with the service's protocol and
time-outs (`api.server.uvicorn_config`), small configured values, real sockets on a free port.

The bounds below (socket time-outs, loop counts) only keep a broken build from hanging the suite:
the assertions are about what the server did (closed the connection), not how fast."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from api.server import uvicorn_config
from graphrag.config import Settings
from tests.conftest import free_port

BOUND_S = 20.0  # far above the 0.3 s configured: reaching it means the server never closed


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers `ok`; a POST to /read reads its whole body first, as an upload route does."""
    if scope["type"] != "http":
        return
    if scope["method"] == "POST" and scope["path"] == "/read":
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            if not message.get("more_body"):
                break
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@contextmanager
def _served(config: uvicorn.Config, sockets: list[socket.socket] | None = None) -> Iterator[uvicorn.Server]:
    """uvicorn serving `config` in a thread (on `sockets` when given, as a worker process is), stopped after."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        assert server.started
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    settings = Settings(api_port=free_port(), api_header_timeout_s=0.3, api_keep_alive_s=0.3, api_body_timeout_s=0.3)
    with _served(uvicorn_config(hello, settings, lifespan="off")):
        yield settings.api_port


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=BOUND_S)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    """Read until the server closes the connection; False if it is still open after the bound."""
    try:
        while sock.recv(4096):
            pass
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_a_connection_that_never_sends_a_request_is_closed(port: int) -> None:
    with _connect(port) as sock:
        assert _closed_by_server(sock)


def test_a_request_head_sent_a_line_at_a_time_is_cut_off(port: int) -> None:
    with _connect(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sock.settimeout(0.05)
        closed = False
        for number in range(int(BOUND_S / 0.05)):  # a new header line every 50 ms, never the blank line
            try:
                sock.sendall(f"X-Slow-{number}: a\r\n".encode())
                if sock.recv(4096) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        assert closed


def test_an_idle_keep_alive_connection_is_closed_after_its_response(port: int) -> None:
    with _connect(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        response = b""
        while not response.endswith(b"ok"):
            response += sock.recv(4096)
        assert response.startswith(b"HTTP/1.1 200")
        assert _closed_by_server(sock)


def test_requests_that_arrive_in_time_are_served_on_one_connection(port: int) -> None:
    with _connect(port) as sock:
        for _ in range(3):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            response = b""
            while not response.endswith(b"ok"):
                response += sock.recv(4096)
            assert response.startswith(b"HTTP/1.1 200")


def _trickle(sock: socket.socket, request: bytes) -> bytes:
    """Send `request`, then a body byte every 50 ms, never the end; what the server answered until it
    closed the connection (b"" if it never did within the bound)."""
    sock.sendall(request)
    sock.settimeout(0.05)
    answer = b""
    for _ in range(int(BOUND_S / 0.05)):
        try:
            sock.sendall(b"x")
            chunk = sock.recv(4096)
            if chunk == b"":
                return answer or b"closed"
            answer += chunk
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            return answer or b"closed"
    return b""


def test_a_body_sent_a_byte_at_a_time_is_answered_408_and_cut_off(port: int) -> None:
    with _connect(port) as sock:
        answer = _trickle(sock, b"POST /read HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"GRAPHRAG_API_BODY_TIMEOUT_S" in answer


def test_a_trickled_body_the_app_never_reads_is_cut_off_too(port: int) -> None:
    with _connect(port) as sock:  # answered at once (as a 401 is), then the body keeps coming slowly
        answer = _trickle(sock, b"POST /early HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200"), answer


def test_a_body_that_arrives_in_time_is_served(port: int) -> None:
    with _connect(port) as sock:
        sock.sendall(b"POST /read HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello")
        response = b""
        while not response.endswith(b"ok"):
            response += sock.recv(4096)
        assert response.startswith(b"HTTP/1.1 200")


def test_connections_on_the_socket_worker_processes_are_given_send_at_once() -> None:
    """`GRAPHRAG_API_WORKERS` > 1: each worker serves the listener `Config.bind_socket` made, whose
    connections asyncio left with Nagle's algorithm on (uvicorn #3149): a keep-alive response then
    waited for the client's delayed ACK. The service's protocol turns TCP_NODELAY on itself."""
    settings = Settings(api_port=free_port())
    config = uvicorn_config(hello, settings, lifespan="off")
    with _served(config, [config.bind_socket()]) as server, _connect(settings.api_port) as sock:  # as `serve_workers`
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        response = b""
        while not response.endswith(b"ok"):
            response += sock.recv(4096)
        (connection,) = server.server_state.connections
        accepted = connection.transport.get_extra_info("socket")
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
