"""A circuit breaker shared by every database client of a process: while ArcadeDB is known to be
down, calls fail at once instead of each one spending the retry budget.

Without it, every request during an outage waited for its own retries (4-24 s) before its 503, and
clients with a short timeout saw time-outs. With it, the first call whose retries run out opens the
breaker; from then on every call (sync or async, any thread) raises `DatabaseUnavailableError`
before it sends anything, and the API answers 503 with `Retry-After` at once. A background probe
asks the servers' `GET /api/v1/ready` (no credentials needed) every `probe_interval_s` and closes
the breaker as soon as one answers, so service resumes within that interval of the database coming
back, and no request ever waits on a probe.

Why not pybreaker: while half-open it lets every call through (each would wait for the retry
budget again), it counts failures per call rather than trusting the retry layer's verdict, and it
has no asyncio support.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import httpx

from graphrag.errors import DatabaseKnownDownError

log = logging.getLogger(__name__)


class CircuitBreaker:
    """Open while the database is known to be unreachable; closed by a background probe."""

    def __init__(self, urls: Sequence[str], *, probe_interval_s: float = 0.25, probe_timeout_s: float = 1.0):
        self.urls = list(urls)
        self.probe_interval_s = probe_interval_s
        self.probe_timeout_s = probe_timeout_s
        self._lock = threading.Lock()
        self._opened_at: float | None = None
        self._reason = ""

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    def check(self) -> None:
        """Raise at once while open: the caller sends nothing."""
        opened = self._opened_at
        if opened is not None:
            raise DatabaseKnownDownError(
                f"ArcadeDB has been unreachable for {time.monotonic() - opened:.0f} s ({self._reason}); "
                "calls fail at once until it answers again")

    def trip(self, reason: str) -> None:
        """Open (a call's retries ran out on an unreachable database) and start probing."""
        with self._lock:
            if self._opened_at is not None:
                return
            self._opened_at = time.monotonic()
            self._reason = reason
        log.warning("database unreachable; failing fast until it answers again (%s)", reason)
        threading.Thread(target=self._probe, name="db-breaker-probe", daemon=True).start()

    def close(self) -> None:
        with self._lock:
            opened, self._opened_at = self._opened_at, None
        if opened is not None:
            log.warning("database answers again after %.1f s; calls go through", time.monotonic() - opened)

    def _probe(self) -> None:
        with httpx.Client(timeout=self.probe_timeout_s) as http:
            while self.is_open:
                for url in self.urls:
                    try:
                        if http.get(f"{url.rstrip('/')}/api/v1/ready").status_code < 500:
                            self.close()
                            return
                    except httpx.HTTPError:
                        pass
                time.sleep(self.probe_interval_s)


_SHARED: dict[tuple[str, ...], CircuitBreaker] = {}
_SHARED_LOCK = threading.Lock()


def shared_breaker(urls: str | Sequence[str]) -> CircuitBreaker:
    """The process's one breaker for these servers, so that the API's sync and async clients (and
    any other client a request uses) learn of an outage together."""
    key = (urls,) if isinstance(urls, str) else tuple(urls)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = CircuitBreaker(key)
        return _SHARED[key]
