"""Which processes a command started, and where they listen: for the checks that a local Ray runtime
binds loopback and ends with the command or service that started it.

psutil comes with Ray (`ray/thirdparty_files`, which `import ray` puts on `sys.path`); these checks
are about Ray, so they need it anyway.
"""

from __future__ import annotations

import contextlib
import importlib
import ipaddress
import time
from typing import Any

try:
    import psutil
except ImportError:  # not installed on its own: Ray's copy
    importlib.import_module("ray")  # puts ray/thirdparty_files on sys.path
    import psutil


class Descendants:
    """Every process seen below `root` (children, their children, ...), except those in `ignore`, with
    the TCP ports any of them listened on: call `look()` while the work runs."""

    def __init__(self, root: int, *, ignore_running: bool = False) -> None:
        """`ignore_running`: not the processes below `root` now (a test's own process has its database
        server below it)."""
        self.root = psutil.Process(root)
        self.ignore = {p.pid for p in self.root.children(recursive=True)} if ignore_running else set()
        self.seen: dict[int, Any] = {}  # pid -> psutil.Process (it remembers the start time: no reused pid)
        self.named: dict[int, str] = {}  # pid -> its name, as last seen alive
        self.listening: dict[tuple[str, int], str] = {}  # (address, port) -> the listener's name

    def look(self, *, listeners: bool = True) -> None:
        """Note the processes below the root now, and (`listeners`: a scan of every socket) their ports."""
        try:
            for child in self.root.children(recursive=True):
                if child.pid not in self.ignore:
                    self.seen.setdefault(child.pid, child)
                    with contextlib.suppress(psutil.NoSuchProcess):
                        self.named[child.pid] = str(child.name())
        except psutil.NoSuchProcess:
            return
        if not listeners:
            return
        for conn in psutil.net_connections("tcp"):
            if conn.pid in self.seen and conn.status == psutil.CONN_LISTEN:
                self.listening[(conn.laddr.ip, conn.laddr.port)] = self._name(conn.pid)

    def names(self) -> set[str]:
        return {self._name(pid) for pid in self.seen}

    def alive(self) -> list[str]:
        left = []
        for pid, p in self.seen.items():
            with contextlib.suppress(psutil.NoSuchProcess):
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    left.append(f"{pid} {self._name(pid)}")
        return left

    def alive_after(self, seconds: float) -> list[str]:
        """The processes still running once `seconds` have passed (or none are left)."""
        deadline = time.monotonic() + seconds
        while (left := self.alive()) and time.monotonic() < deadline:
            time.sleep(0.25)
        return left

    def kill_rest(self) -> None:
        """Only what this watched: the test's own leftovers, so that a failure does not leak them."""
        for p in self.seen.values():
            try:
                if p.is_running():
                    p.kill()
            except psutil.NoSuchProcess:
                pass

    def _name(self, pid: int | None) -> str:
        return self.named.get(pid, "?") if pid is not None else "?"


def not_loopback(listening: dict[tuple[str, int], str]) -> list[str]:
    """The listeners on anything but loopback (an IPv4-mapped ::ffff:127.0.0.1 is loopback)."""
    bad = []
    for (host, port), name in listening.items():
        ip = ipaddress.ip_address(host.split("%", 1)[0])
        mapped = getattr(ip, "ipv4_mapped", None)
        if not (mapped or ip).is_loopback:
            bad.append(f"{name} on {host}:{port}")
    return bad
