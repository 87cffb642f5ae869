"""Micro-batching of embedding calls from concurrent requests.

Retrieval embeds one short question per request, in a worker thread. On two cores the model runs
one forward pass at a time anyway (the embedder holds a lock), so N concurrent questions queue up
and pay N passes. Here callers queue their texts; one worker thread waits a moment for company,
embeds everything pending in one pass, and hands each caller its rows. One pass over 8 short
questions costs little more than one over a single question, so throughput under load rises and
tail latency falls.

How long to wait for company. Measured on 2 cores, musique_100 (`benchmarks/interleaved.py`, README
"Throughput"): with a fixed 2 ms wait a batch held 1.16 questions at 8 clients. A fixed wait of 20 ms
gave 48.4 instead of 45.6 questions a second there, p95 229 instead of 255 ms, and 3 ms less API CPU a
question. Under load the other questions are mostly past their embedding, so the wait runs its course;
meanwhile answers go out and their clients' next questions come in and join. But a wait only pays
while the cores are saturated: one client paid the whole wait (p50 54 instead of 35 ms), and two
clients, each waiting for the other's next question, lost a fifth of their throughput (31 instead of
39 questions a second). So the worker waits only while `min_in_flight` or more questions are in
flight (`InFlight`), and only until every one of them has joined or `max_wait_s` has passed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from graphrag.embeddings import Embedder


class InFlight:
    """How many questions this process is retrieving now (thread-safe; `with` counts one in and out)."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        return self._count

    def __enter__(self) -> None:
        with self._lock:
            self._count += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._count -= 1


# The API's questions in flight: `api.operations.retrieve` counts them, the question batcher reads them.
QUESTIONS_IN_FLIGHT = InFlight()


@dataclass
class _Pending:
    texts: list[str]
    done: threading.Event = field(default_factory=threading.Event)
    result: np.ndarray | None = None
    error: BaseException | None = None


class BatchingEmbedder:
    """An `Embedder` that merges concurrent small `embed` calls into one model call.

    A daemon worker thread does the merged calls; callers block until their rows are ready.

    Args:
        inner: the real embedder (thread-safe).
        max_batch: most texts per merged call; larger single calls go straight through.
        max_wait_s: how long the worker waits for company once a call is pending.
        in_flight: the questions in flight, when known: the worker waits only while fewer calls are
            pending than there are questions in flight (None: it always waits `max_wait_s`).
        min_in_flight: with `in_flight`, no wait at all while fewer questions than this are in flight.
    """

    def __init__(self, inner: Embedder, *, max_batch: int = 32, max_wait_s: float = 0.002,
                 in_flight: InFlight | None = None, min_in_flight: int = 1):
        self.inner = inner
        self.dimension = inner.dimension
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.in_flight = in_flight
        self.min_in_flight = min_in_flight
        self._cond = threading.Condition()
        self._queue: list[_Pending] = []
        self._worker: threading.Thread | None = None

    def __getattr__(self, name: str) -> object:  # max_tokens, model_name ...
        return getattr(self.inner, name)

    def embed(self, texts: list[str]) -> np.ndarray:
        if len(texts) >= self.max_batch or not texts:
            return self.inner.embed(texts)
        mine = _Pending(list(texts))
        with self._cond:
            self._queue.append(mine)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="embed-batcher", daemon=True)
                self._worker.start()
            self._cond.notify()
        mine.done.wait()
        if mine.error is not None:
            raise mine.error
        assert mine.result is not None
        return mine.result

    def _take(self) -> list[_Pending]:
        batch: list[_Pending] = []
        size = 0
        while self._queue and (not batch or size + len(self._queue[0].texts) <= self.max_batch):
            item = self._queue.pop(0)
            batch.append(item)
            size += len(item.texts)
        return batch

    def _wait_for_company(self) -> None:
        """Let concurrent callers join the pending batch (called holding `_cond`; each call queued wakes it)."""
        if self.in_flight is not None and self.in_flight.count < self.min_in_flight:
            return  # the cores are not saturated: a wait would cost latency and save nothing
        deadline = time.monotonic() + self.max_wait_s
        while (self.in_flight is None or len(self._queue) < self.in_flight.count) and \
                (left := deadline - time.monotonic()) > 0:
            self._cond.wait(left)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                self._wait_for_company()
                batch = self._take()
            try:
                vectors = self.inner.embed([t for item in batch for t in item.texts])
            except BaseException as exc:  # every waiter gets the failure; none hangs
                for item in batch:
                    item.error = exc
                    item.done.set()
                continue
            start = 0
            for item in batch:
                item.result = vectors[start:start + len(item.texts)]
                start += len(item.texts)
                item.done.set()
