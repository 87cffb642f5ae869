"""The compiled ranking loops give numpy's and scipy's results to the last bit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from graphrag.retrieval import kernels
from graphrag.retrieval.pagerank import personalized_pagerank


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 17, 127, 128, 129, 255, 256, 1000, 4099, 70_001])
def test_pairwise_sum_is_numpys_sum(n: int) -> None:
    values = np.random.default_rng(n).standard_normal(n) * 10.0 ** np.random.default_rng(n + 1).integers(-8, 8, n)
    assert kernels.pairwise_sum(values) == values.sum()


def _scipy_pagerank(transition: sparse.csr_matrix, reset: np.ndarray, damping: float, iterations: int, tol: float,
                    dangling: np.ndarray) -> np.ndarray:
    """The power iteration as numpy and scipy computed it before the compiled loop."""
    r = reset / reset.sum()
    restart = (1 - damping) * r
    scratch = np.empty_like(r)
    p = r.copy()
    for _ in range(iterations):
        nxt = transition @ p
        nxt += np.multiply(p[dangling].sum(), r, out=scratch)
        nxt *= damping
        nxt += restart
        np.subtract(nxt, p, out=scratch)
        np.abs(scratch, out=scratch)
        if scratch.sum() < tol:
            return nxt
        p = nxt
    return p


@pytest.mark.parametrize("seed", range(6))
def test_pagerank_is_the_scipy_iteration_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 3000))
    adjacency = sparse.random(n, n, density=min(1.0, 6 / n), random_state=seed, format="csr")
    degree = np.asarray(adjacency.sum(axis=0)).ravel()
    transition = (adjacency @ sparse.diags(np.divide(1.0, degree, out=np.zeros(n), where=degree > 0))).tocsr()
    reset = np.where(rng.random(n) < 0.05, rng.random(n), 0.0)
    reset[0] += 1.0
    dangling = np.flatnonzero(degree == 0)
    for tol in (1e-6, 0.0):
        want = _scipy_pagerank(transition, reset, 0.6, 50, tol, dangling)
        got = personalized_pagerank(transition, reset, damping=0.6, iterations=50, tol=tol, dangling=dangling)
        np.testing.assert_array_equal(got, want)
