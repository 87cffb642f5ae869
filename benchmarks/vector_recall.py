"""Recall of ArcadeDB's chunk vector index against exact cosine search, with real embeddings.

    python benchmarks/vector_recall.py ../shared/eval/musique_100 --db-dir DB_DIR [--ef 200 ...]

DB_DIR is a folder that `benchmarks/eval.py DIR --db-dir DB_DIR` ingested. The set's questions are
embedded with the project's model; for each, the top k of `vectorNeighbors` (the index's default
search breadth, then each `--ef`) is compared with the exact top k over every stored chunk vector
(read from the database, page by page). `benchmarks/scale.py vectors` does the same with random
vectors at 10k-1M chunks (the hardest case for a graph index); this is the case the service meets.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, run as a script

from benchmarks._meta import git_commit, percentile, read_jsonl
from benchmarks.eval import eval_database
from graphrag.embeddings import SentenceTransformerEmbedder

PAGE = "MATCH (c:Chunk) WHERE c.id > $after RETURN c.id AS id, c.embedding AS v ORDER BY c.id LIMIT 1000"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", type=Path, help="evaluation set folder (questions.jsonl)")
    parser.add_argument("--db-dir", type=Path, required=True, help="a folder benchmarks/eval.py ingested")
    parser.add_argument("--ef", type=int, action="append", default=[], help="efSearch values (repeatable)")
    parser.add_argument("--k", type=int, action="append", default=[], help="k values (default 10 and 100)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    dataset = args.dir.resolve().name
    questions = [q["question"] for q in read_jsonl(args.dir / "questions.jsonl")]
    embedder = SentenceTransformerEmbedder(expected_dim=384)
    query_vectors = embedder.embed(questions)
    out: dict[str, Any] = {"dataset": dataset, "commit": git_commit(), "questions": len(questions)}
    with eval_database(args.db_dir.resolve(), dataset) as (db, _):
        ids: list[str] = []
        vectors: list[list[float]] = []
        after = ""
        while rows := db.cypher(PAGE, {"after": after}):
            ids.extend(r["id"] for r in rows)
            vectors.extend(r["v"] for r in rows)
            after = rows[-1]["id"]
        stored = np.asarray(vectors, dtype=np.float32)
        stored /= np.linalg.norm(stored, axis=1, keepdims=True)
        out["chunks"] = len(ids)
        for k in args.k or [10, 100]:
            exact = [{ids[i] for i in np.argsort(-(stored @ q))[:k]} for q in query_vectors]
            for ef in (0, *args.ef):
                statement = ("SELECT id FROM (SELECT expand(vectorNeighbors('Chunk[embedding]', :q, :k"
                             + (", :opts)))" if ef else ")))"))
                recalls, latencies = [], []
                for q, want in zip(query_vectors, exact, strict=True):
                    params: dict[str, Any] = {"q": q.tolist(), "k": k, **({"opts": {"efSearch": ef}} if ef else {})}
                    started = time.perf_counter()
                    got = {r["id"] for r in db.sql(statement, params)}
                    latencies.append((time.perf_counter() - started) * 1000)
                    recalls.append(len(got & want) / k)
                label = f"k{k}_ef{ef or 'default'}"
                out[label] = {"recall": round(statistics.fmean(recalls), 4),
                              "min_recall": round(min(recalls), 3),
                              "p50_ms": round(percentile(latencies, 0.5), 1),
                              "p95_ms": round(percentile(latencies, 0.95), 1)}
                print(label, out[label], flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
