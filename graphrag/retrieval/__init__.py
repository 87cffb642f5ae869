"""Retrieval: seed linking, dense / keyword / graph channels, RRF and personalized-PageRank ranking."""

from graphrag.retrieval.base import ChannelHit, ChunkRecord, RetrievalConfig, Retriever
from graphrag.retrieval.cache import GraphCache
from graphrag.retrieval.dense import DenseChannel
from graphrag.retrieval.fusion import Fused, reciprocal_rank_fusion
from graphrag.retrieval.graph import GraphChannel
from graphrag.retrieval.hybrid import HybridRetriever
from graphrag.retrieval.keyword import KeywordChannel, plain_terms
from graphrag.retrieval.pagerank import personalized_pagerank
from graphrag.retrieval.paths import format_path
from graphrag.retrieval.ppr import PPRRanker
from graphrag.retrieval.question import QuestionAnalysis, QuestionAnalyzer, candidate_spans, longest_matches

__all__ = [
    "ChannelHit",
    "ChunkRecord",
    "DenseChannel",
    "Fused",
    "GraphCache",
    "GraphChannel",
    "HybridRetriever",
    "KeywordChannel",
    "PPRRanker",
    "QuestionAnalysis",
    "QuestionAnalyzer",
    "RetrievalConfig",
    "Retriever",
    "candidate_spans",
    "format_path",
    "longest_matches",
    "personalized_pagerank",
    "plain_terms",
    "reciprocal_rank_fusion",
]
