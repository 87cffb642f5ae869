"""Concurrent small embedding calls are merged, and each caller gets exactly its own rows."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from api.batching import BatchingEmbedder


class RecordingEmbedder:
    dimension = 3

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.gate = threading.Event()

    def embed(self, texts: list[str]) -> np.ndarray:
        self.gate.wait(5)
        self.calls.append(list(texts))
        return np.array([[float(len(t)), float(i), 1.0] for i, t in enumerate(texts)], dtype=np.float32)


def test_concurrent_calls_are_merged_and_rows_go_back_to_their_callers() -> None:
    inner = RecordingEmbedder()
    batcher = BatchingEmbedder(inner, max_wait_s=0.05)
    results: dict[str, np.ndarray] = {}

    def call(text: str) -> None:
        results[text] = batcher.embed([text])

    threads = [threading.Thread(target=call, args=("x" * n,)) for n in range(1, 7)]
    for t in threads:
        t.start()
    inner.gate.set()
    for t in threads:
        t.join(5)
    assert sum(len(c) for c in inner.calls) == 6 and len(inner.calls) < 6
    for text, rows in results.items():
        assert rows.shape == (1, 3) and rows[0][0] == len(text)


def test_failures_reach_every_waiting_caller() -> None:
    class Broken:
        dimension = 3

        def embed(self, texts: list[str]) -> np.ndarray:
            raise RuntimeError("model failed")

    with pytest.raises(RuntimeError, match="model failed"):
        BatchingEmbedder(Broken()).embed(["q"])


class Instant:
    dimension = 3

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.zeros((len(texts), 3), dtype=np.float32)


def test_a_question_alone_in_flight_does_not_wait_for_company() -> None:
    import time

    from api.batching import InFlight

    in_flight = InFlight()
    batcher = BatchingEmbedder(Instant(), max_wait_s=2.0, in_flight=in_flight)
    with in_flight:
        started = time.monotonic()
        batcher.embed(["alone"])
        assert time.monotonic() - started < 1.0  # not the 2 s a fixed wait would take


def test_with_others_in_flight_the_batch_waits_for_them_and_goes_once_all_joined() -> None:
    import time

    from api.batching import InFlight

    inner, in_flight = Instant(), InFlight()
    batcher = BatchingEmbedder(inner, max_wait_s=3.0, in_flight=in_flight)
    results: dict[str, np.ndarray] = {}

    both_in = threading.Barrier(2)

    def ask(text: str, delay: float) -> None:
        with in_flight:
            both_in.wait(5)  # both questions are in flight before either reaches the embedder
            time.sleep(delay)
            results[text] = batcher.embed([text])

    threads = [threading.Thread(target=ask, args=("first", 0.0)), threading.Thread(target=ask, args=("late", 0.3))]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    elapsed = time.monotonic() - started
    assert inner.calls == [["first", "late"]]  # the first waited for the second, in flight but not yet queued
    assert elapsed < 2.0 and set(results) == {"first", "late"}  # and went once it joined, not after 3 s


def test_below_min_in_flight_nobody_waits_even_with_others_in_flight() -> None:
    import time

    from api.batching import InFlight

    in_flight = InFlight()
    batcher = BatchingEmbedder(Instant(), max_wait_s=2.0, in_flight=in_flight, min_in_flight=3)
    with in_flight, in_flight:  # two in flight, fewer than 3: the cores are not saturated
        started = time.monotonic()
        batcher.embed(["one of two"])
        assert time.monotonic() - started < 1.0
