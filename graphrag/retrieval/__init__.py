"""Retrieval: seed linking, dense / keyword / graph channels, RRF and personalized-PageRank ranking.

What a user imports: `HybridRetriever` (configured by `RetrievalConfig`, its `ranking` one of
`Ranking`), the process-wide `GraphCache` it may share with others, and the `Retriever` protocol.
The parts it is built from (channels, question analysis, PageRank, path formatting) are imported from
their own modules (`graphrag.retrieval.question`, `.pagerank`, `.paths`, ...), not promised here.
"""

from graphrag.retrieval.base import Ranking, RetrievalConfig, Retriever
from graphrag.retrieval.cache import GraphCache
from graphrag.retrieval.hybrid import HybridRetriever

__all__ = [
    "GraphCache",
    "HybridRetriever",
    "Ranking",
    "RetrievalConfig",
    "Retriever",
]
