"""Micro-batching of embedding calls from concurrent requests.

Retrieval embeds one short question per request, in a worker thread. On two cores the model runs
one forward pass at a time anyway (the embedder holds a lock), so N concurrent questions queue up
and pay N passes. Here callers queue their texts; one worker thread waits a moment for company,
embeds everything pending in one pass, and hands each caller its rows. One pass over 8 short
questions costs little more than one over a single question, so throughput under load rises and
tail latency falls; a lone request waits at most `max_wait_s`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from graphrag.embeddings import Embedder


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
    """

    def __init__(self, inner: Embedder, *, max_batch: int = 32, max_wait_s: float = 0.002):
        self.inner = inner
        self.dimension = inner.dimension
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
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

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
            time.sleep(self.max_wait_s)  # let concurrent callers join this batch
            with self._cond:
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
