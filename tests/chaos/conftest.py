"""Chaos suite fixtures: the form (short in `make test`, long by hand), the seed, the corpus and its
clean graph, and the table every test adds its trials to (printed at the end of the session and
written to test-artifacts/chaos/summary.md)."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from graphrag.embeddings import SentenceTransformerEmbedder
from ingestion.pipeline import IngestionConfig, IngestionPipeline
from tests.chaos import corpus
from tests.chaos.harness import ARTIFACTS, Results, Snapshot, snapshot

DOCUMENTS_PER_BATCH = 4  # small batches: ten transactions for forty documents, so kills land mid-job


@dataclass(frozen=True)
class Form:
    """How many trials of each kind."""

    name: str
    client_kills: int
    server_kills: int
    concurrent_runs: int
    outages: int
    fuzz_examples: int
    # the long form only (tests/chaos/test_tenancy_long.py; the short form's are the e2e tests)
    workspace_races: int = 0
    pdf_bombs: int = 0
    slow_bodies: int = 0  # connections trickling a body at once


SHORT = Form("short", client_kills=5, server_kills=2, concurrent_runs=2, outages=1, fuzz_examples=3)
LONG = Form("long", client_kills=20, server_kills=5, concurrent_runs=5, outages=3, fuzz_examples=25,
            workspace_races=6, pdf_bombs=3, slow_bodies=50)

_results: Results | None = None


LONG_FORM_ONLY = ("test_tenancy_long.py",)  # modules the short form leaves to the e2e tests they repeat


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks the chaos tests; without --chaos-long the long-form-only modules are deselected (reported
    as such, never run and skipped)."""
    long_form = config.getoption("--chaos-long")
    dropped = []
    for item in items:
        if "/chaos/" in str(item.fspath):
            item.add_marker(pytest.mark.chaos)
            item.add_marker(pytest.mark.slow)
            if not long_form and item.fspath.basename in LONG_FORM_ONLY:
                dropped.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]


@pytest.fixture(scope="session")
def form(request: pytest.FixtureRequest) -> Form:
    return LONG if request.config.getoption("--chaos-long") else SHORT


@pytest.fixture(scope="session")
def chaos_seed(request: pytest.FixtureRequest) -> int:
    given = request.config.getoption("--chaos-seed")
    if given is None and os.environ.get("CHAOS_SEED"):
        given = int(os.environ["CHAOS_SEED"])
    return given if given is not None else random.SystemRandom().randrange(1, 1_000_000)


@pytest.fixture(scope="session")
def results(form: Form, chaos_seed: int) -> Results:
    global _results
    _results = Results(form.name, chaos_seed)
    return _results


def rng_for(seed: int, scenario: str, trial: int) -> random.Random:
    """The draws of one trial: the same seed replays the same kill points."""
    return random.Random(f"{seed}:{scenario}:{trial}")


@pytest.fixture(scope="session")
def chaos_corpus(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    return corpus.documents()


@pytest.fixture(scope="session")
def corpus_file(chaos_corpus: list[dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return corpus.write_jsonl(chaos_corpus, tmp_path_factory.mktemp("chaos-corpus") / "corpus.jsonl")


@pytest.fixture(scope="session")
def clean_graph(corpus_file: Path, make_db: Callable[..., ArcadeDB], server_settings: Settings,
                embedder: SentenceTransformerEmbedder) -> Snapshot:
    """The graph of one uninterrupted run over the whole corpus (what every trial must end equal to)."""
    db = make_db("chaos_clean")
    report = IngestionPipeline(server_settings, db, embedder,
                               config=IngestionConfig(documents_per_batch=DOCUMENTS_PER_BATCH)).run([corpus_file])
    assert report.exit_code == 0, report
    graph = snapshot(db)
    assert graph.counts["NEXT"] > 0 and graph.counts["SAME_AS"] > 0, graph.counts  # the corpus does its job
    return graph


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _results is None or not _results.trials:
        return
    text = _results.table()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "summary.md").write_text(text, encoding="utf-8")
    terminalreporter.write_sep("=", "chaos suite")
    terminalreporter.write_line(text)
    terminalreporter.write_line(f"(written to {ARTIFACTS / 'summary.md'})")
