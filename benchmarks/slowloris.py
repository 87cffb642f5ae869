"""Slowloris check: do idle and slow connections get closed, and does the service keep answering?

    python benchmarks/slowloris.py --url http://127.0.0.1:8000 --sockets 500
    python benchmarks/slowloris.py --self-serve guarded --sockets 500   # our uvicorn settings, a trivial app
    python benchmarks/slowloris.py --self-serve plain --sockets 500 --watch 60   # uvicorn's defaults

Opens `--sockets` connections: half send nothing at all, half send a request head one header line
every `--trickle-s` seconds and never finish it. Every half second it counts how many the server
has closed, and sends one ordinary `GET /healthz` on a fresh connection to see that the service
still answers. Prints when the first and the last attack socket was closed (or how many were
still open after `--watch` seconds). It never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, run as a script


async def _hold(host: str, port: int, index: int, trickle_s: float, closed_at: dict[int, float],
                started: float, stop: asyncio.Event) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        closed_at[index] = -1.0  # refused at once
        return
    slow = index % 2 == 1
    try:
        if slow:
            writer.write(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n".encode())
        line = 0
        while not stop.is_set():
            try:
                data = await asyncio.wait_for(reader.read(4096), timeout=trickle_s if slow else 0.5)
                if data == b"":
                    closed_at[index] = time.monotonic() - started
                    return
            except TimeoutError:
                pass
            if slow:
                writer.write(f"X-Slow-{line}: a\r\n".encode())
                line += 1
                await writer.drain()
    except (ConnectionError, OSError):
        closed_at[index] = time.monotonic() - started
    finally:
        writer.close()


async def _probe(host: str, port: int) -> tuple[bool, float]:
    started = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        writer.write(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        return data.startswith(b"HTTP/1.1 200"), time.monotonic() - started
    except (OSError, TimeoutError):
        return False, time.monotonic() - started


async def attack(host: str, port: int, sockets: int, trickle_s: float, watch_s: float) -> dict[str, Any]:
    closed_at: dict[int, float] = {}
    stop = asyncio.Event()
    started = time.monotonic()
    tasks = [asyncio.create_task(_hold(host, port, i, trickle_s, closed_at, started, stop)) for i in range(sockets)]
    probes: list[tuple[float, bool, float]] = []
    while time.monotonic() - started < watch_s and len(closed_at) < sockets:
        await asyncio.sleep(0.5)
        ok, took = await _probe(host, port)
        probes.append((round(time.monotonic() - started, 1), ok, round(took * 1000, 1)))
    stop.set()
    open_left = sockets - len(closed_at)
    await asyncio.gather(*tasks, return_exceptions=True)
    times = sorted(t for t in closed_at.values() if t >= 0)
    return {"sockets": sockets, "refused_at_connect": sum(1 for t in closed_at.values() if t < 0),
            "closed_by_server": len(times), "still_open_after_watch": open_left, "watch_s": watch_s,
            "first_closed_s": round(times[0], 2) if times else None,
            "last_closed_s": round(times[-1], 2) if times else None,
            "idle_closed": sum(1 for i, t in closed_at.items() if i % 2 == 0 and t >= 0),
            "slow_closed": sum(1 for i, t in closed_at.items() if i % 2 == 1 and t >= 0),
            "healthz_probes_ok": f"{sum(ok for _, ok, _ in probes)}/{len(probes)}",
            "healthz_probe_ms_max": max((ms for _, _, ms in probes), default=None)}


def _self_serve(kind: str, header_timeout_s: float, keep_alive_s: float) -> tuple[str, int]:
    import uvicorn

    from api.server import uvicorn_config
    from graphrag.config import Settings
    from tests.conftest import free_port

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"ok"})

    settings = Settings(api_port=free_port(), api_header_timeout_s=header_timeout_s, api_keep_alive_s=keep_alive_s)
    if kind == "guarded":
        config = uvicorn_config(app, settings, lifespan="off", log_level="warning")
    else:
        config = uvicorn.Config(app, host="127.0.0.1", port=settings.api_port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return "127.0.0.1", settings.api_port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=None, help="a running service (http://host:port)")
    parser.add_argument("--self-serve", choices=["guarded", "plain"], default=None,
                        help="start a trivial app in this process: with the service's uvicorn settings, or plain")
    parser.add_argument("--header-timeout-s", type=float, default=10.0, help="for --self-serve guarded")
    parser.add_argument("--keep-alive-s", type=float, default=5.0, help="for --self-serve guarded")
    parser.add_argument("--sockets", type=int, default=500)
    parser.add_argument("--trickle-s", type=float, default=1.0, help="seconds between header lines")
    parser.add_argument("--watch", type=float, default=60.0, help="give up counting after this many seconds")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.sockets + 256)), hard))
    if args.self_serve:
        host, port = _self_serve(args.self_serve, args.header_timeout_s, args.keep_alive_s)
    else:
        parts = urlsplit(args.url or "http://127.0.0.1:8000")
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
    result = asyncio.run(attack(host, port, args.sockets, args.trickle_s, args.watch))
    result["target"] = args.url or f"self-serve {args.self_serve}"
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
