"""Prometheus metrics of one app instance, in its own registry (two apps in one test never collide)."""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Request latency per route, retrieval and LLM timings, tokens, ingest counters."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.request_seconds = Histogram(
            "graphrag_http_request_duration_seconds", "HTTP request latency by route template",
            ["method", "route", "status"], buckets=_LATENCY_BUCKETS, registry=r)
        self.retrieval_seconds = Histogram(
            "graphrag_retrieval_duration_seconds", "Time to retrieve the context of a question",
            buckets=_LATENCY_BUCKETS, registry=r)
        self.answer_seconds = Histogram(
            "graphrag_answer_duration_seconds", "Time to produce a whole answer, by mode",
            ["mode"], buckets=_LATENCY_BUCKETS, registry=r)
        self.llm_ttft_seconds = Histogram(
            "graphrag_llm_time_to_first_token_seconds", "Time from the answer request to its first token",
            ["mode"], buckets=_LATENCY_BUCKETS, registry=r)
        self.tokens = Counter("graphrag_answer_tokens", "Answer tokens streamed or produced", ["mode"], registry=r)
        self.ingest_documents = Counter("graphrag_ingest_documents", "Documents ingested through the API",
                                        registry=r)
        self.ingest_chunks = Counter("graphrag_ingest_chunks", "Chunks written by API ingestion", registry=r)
        self.ingest_jobs = Counter("graphrag_ingest_jobs", "Ingest jobs by final state", ["state"], registry=r)
        self.documents_deleted = Counter("graphrag_documents_deleted", "Documents deleted through the API",
                                         registry=r)

    def render(self) -> bytes:
        """This instance's metrics; with several worker processes (`PROMETHEUS_MULTIPROC_DIR` set by
        `graphrag serve` before any worker starts) every worker's, merged from the shared folder."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)
            return generate_latest(merged)
        return generate_latest(self.registry)
