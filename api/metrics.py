"""Prometheus metrics of one app instance, in its own registry (two apps in one test never collide)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

WORKSPACE_STATE = "graphrag.workspace"  # where a request's workspace waits in scope["state"] (api.deps)
WORKSPACE_LABELS = 20  # workspaces that get their own label value; the rest share "other"
NO_WORKSPACE = "-"  # the label of requests outside any workspace (/healthz, /v1/workspaces)
OTHER = "other"  # the label shared by the workspaces after the first WORKSPACE_LABELS
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Request latency per route, retrieval and LLM timings, tokens, ingest counters."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.request_seconds = Histogram(
            "graphrag_http_request_duration_seconds", "HTTP request latency by route template",
            ["method", "route", "status", "workspace"], buckets=_LATENCY_BUCKETS, registry=r)
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
                                        ["workspace"], registry=r)
        self.ingest_chunks = Counter("graphrag_ingest_chunks", "Chunks written by API ingestion", ["workspace"],
                                     registry=r)
        self.ingest_jobs = Counter("graphrag_ingest_jobs", "Ingest jobs by final state", ["state", "workspace"],
                                   registry=r)
        self.documents_deleted = Counter("graphrag_documents_deleted", "Documents deleted through the API",
                                         ["workspace"], registry=r)
        self._labelled: set[str] = set()

    def workspace_label(self, workspace: str | None) -> str:
        """The `workspace` label value: the name for the first `WORKSPACE_LABELS` workspaces this
        process serves, "other" after them (bounded cardinality however many workspaces exist),
        "-" for requests outside any workspace."""
        if not workspace:
            return NO_WORKSPACE
        if workspace in self._labelled or len(self._labelled) < WORKSPACE_LABELS:
            self._labelled.add(workspace)
            return workspace
        return OTHER

    def render(self, sees: Callable[[str], bool] | None = None) -> bytes:
        """This instance's metrics; with several worker processes (`PROMETHEUS_MULTIPROC_DIR` set by
        `graphrag serve` before any worker starts) every worker's, merged from the shared folder.

        Args:
            sees: whether the reader may know of a workspace (`Principal.sees`); None shows every
                series. Otherwise a series labelled with a workspace the reader does not see is left
                out, and so is `other` (it sums workspaces the reader may not know of): a key bound
                to `alpha` learns nothing of `beta`, not even that it exists.

        Returns:
            The Prometheus text exposition.
        """
        source: Collector = self.registry
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)
            source = merged
        return generate_latest(source if sees is None else _WorkspaceFilter(source, sees))


class _WorkspaceFilter(Collector):
    """The families of `source` with only the samples whose `workspace` label the reader sees."""

    def __init__(self, source: Collector, sees: Callable[[str], bool]):
        self.source = source
        self.sees = sees

    def _shown(self, labels: dict[str, str]) -> bool:
        workspace = labels.get("workspace")
        return workspace is None or workspace == NO_WORKSPACE or (workspace != OTHER and self.sees(workspace))

    def collect(self) -> Iterable[Metric]:
        for family in self.source.collect():
            kept = Metric(family.name, family.documentation, family.type, family.unit)
            kept.samples = [s for s in family.samples if self._shown(s.labels)]
            yield kept
