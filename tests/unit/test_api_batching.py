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
