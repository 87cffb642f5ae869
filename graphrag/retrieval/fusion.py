"""Reciprocal-rank fusion: a pure function over ranked lists, blind to the scores' scales."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass
class Fused:
    id: str
    score: float
    ranks: dict[str, int] = field(default_factory=dict)  # channel -> 1-based rank


def reciprocal_rank_fusion(rankings: Mapping[str, Sequence[str]], *, k: int = 60,
                           weights: Mapping[str, float] | None = None) -> list[Fused]:
    """Fuse ranked id lists: score(id) = sum over lists of weight / (k + rank).

    Duplicates inside one list count at their first rank. Ties break by best single rank, then id,
    so the order is deterministic.

    >>> [f.id for f in reciprocal_rank_fusion({"a": ["x", "y"], "b": ["y", "z"]})]
    ['y', 'x', 'z']
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    fused: dict[str, Fused] = {}
    for channel, ids in rankings.items():
        weight = 1.0 if weights is None else weights.get(channel, 1.0)
        for rank, item in enumerate(dict.fromkeys(ids), start=1):
            entry = fused.setdefault(item, Fused(item, 0.0))
            entry.score += weight / (k + rank)
            entry.ranks[channel] = rank
    return sorted(fused.values(), key=lambda f: (-f.score, min(f.ranks.values()), f.id))
