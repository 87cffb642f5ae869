"""Scale benchmark: synthetic graphs of 10k to 1M chunks built through the real write path, then the
real API measured on each.

    python benchmarks/scale.py build   --chunks 100000 --dir /data/scale-100k
    python benchmarks/scale.py measure --dir /data/scale-100k [--json out.json]

`build` writes a synthetic corpus with `GraphStore.write_batch` (the code ingestion uses after its
models): one chunk per document, a 384-d random unit vector per chunk and per entity (seeded), the
document's own title entity plus five mentions drawn from a Zipf law over a vocabulary as large as
the corpus (so a few names are mentioned by a large share of all chunks, as "United States" is),
and the pairs of consecutive mentions as same-sentence co-occurrences. It resumes where it stopped
(the folder keeps `build.json`), so a 1M build can be interrupted and continued, and later
`measure` runs reuse the folder.

`measure` starts ArcadeDB on the folder and the real API (`python -m api.cli serve`) against it, and
prints and writes JSON:
- API start-up seconds (process start to /readyz 200) and resident memory after start and after
  the query runs;
- `/v1/retrieve` over HTTP with 1 and 8 concurrent clients (p50 / p95 / p99), questions naming two
  entities of the vocabulary (rare and common ones) so the graph ranking runs;
- the time from a document's commit (written by another client, as a separate ingestion process
  would) to its first appearance in a result;
- query latency while a background writer ingests one document a second.
Nothing is asserted: benchmarks print numbers, tests prove correctness.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._meta import free_port, git_commit
from graphrag.arcadedb import ArcadeDB
from graphrag.config import ensure_password_file
from graphrag.embedded import EmbeddedServer
from graphrag.store import (
    ChunkRecord,
    DocumentRecord,
    EntityRecord,
    GraphBatch,
    GraphStore,
    MentionRecord,
    RelationRecord,
)
from schema.runner import MigrationRunner

log = logging.getLogger("scale")
DIM = 384
DATABASE = "scale"
MENTIONS_PER_CHUNK = 5  # plus the document's own title entity
ZIPF_A = 1.3
WORDS = ("river", "harbour", "council", "league", "museum", "dynasty", "railway", "festival", "treaty", "province",
         "cathedral", "orchestra", "expedition", "parliament", "observatory", "manuscript")


def vocabulary_name(rank: int) -> str:
    """Name of the vocabulary entity of Zipf rank `rank` (1 = most mentioned)."""
    return f"Name {rank}"


def title_of(i: int) -> str:
    return f"Topic {i}"


def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def synthetic_batch(start: int, end: int, vocabulary: int, seed: int, known: set[str] | None = None) -> GraphBatch:
    """Documents start..end-1, the same for the same arguments (each batch seeds its own generator).

    Entities in `known` were written by an earlier batch: like ingestion, which embeds only names
    that have no vector yet, the batch sends no vector for them (and adds the new ones to `known`).
    """
    rng = np.random.default_rng([seed, start])
    n = end - start
    chunk_vectors = unit_vectors(rng, n)
    ranks = np.minimum(rng.zipf(ZIPF_A, size=(n, MENTIONS_PER_CHUNK)), vocabulary)
    batch = GraphBatch()
    entity_vectors: dict[str, list[float]] = {}
    for offset in range(n):
        i = start + offset
        doc_id, title = f"syn-{i}", title_of(i)
        names = [title, *dict.fromkeys(vocabulary_name(int(r)) for r in ranks[offset])]
        words = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(40))
        text = f"{title} is about the {words}. It names " + ", ".join(names[1:]) + "."
        chunk_id = f"{doc_id}#{i:016x}#0"
        batch.documents.append(DocumentRecord(doc_id, "synthetic", title, f"{i:064x}", 1))
        batch.chunks.append(ChunkRecord(chunk_id, doc_id, 0, title, text, 0, len(text),
                                        chunk_vectors[offset].tolist()))
        keys = [name.lower() for name in names]
        for name, key in zip(names, keys, strict=True):
            batch.mentions.append(MentionRecord(chunk_id, key))
            if key not in entity_vectors:
                entity_vectors[key] = []
                batch.entities.append(EntityRecord(key, name, "SYNTHETIC"))
        for a, b in zip(keys[0::2], keys[1::2], strict=False):  # consecutive names share a sentence
            if a != b:
                batch.relations.append(RelationRecord(min(a, b), max(a, b), [chunk_id]))
    vectors = unit_vectors(rng, len(batch.entities))
    for entity, vector in zip(batch.entities, vectors, strict=True):
        if known is None or entity.key not in known:
            entity.embedding = vector.tolist()
    if known is not None:
        known.update(e.key for e in batch.entities)
    return batch


def embedded_entity_keys(db: ArcadeDB) -> set[str]:
    """Keys of the entities that have a vector (a resumed build sends none for them), read by key order."""
    keys: set[str] = set()
    after = ""
    while True:
        rows = db.cypher("MATCH (e:Entity) WHERE e.key > $after RETURN e.key AS key, e.embedding IS NOT NULL AS has "
                         "ORDER BY e.key LIMIT 10000", {"after": after})
        if not rows:
            return keys
        keys.update(r["key"] for r in rows if r["has"])
        after = rows[-1]["key"]


def server_for(folder: Path, heap: str, *, bulk: bool = False) -> EmbeddedServer:
    password = ensure_password_file(folder / "scale-password")
    # During a bulk load the vector graph may take both cores (default: all but one).
    options = {"vectorIndex.graphBuildParallelism": str(os.cpu_count() or 2)} if bulk else {}
    return EmbeddedServer(folder, free_port(), password, DATABASE, heap=heap, options=options)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in (folder / "arcadedb" / "databases").rglob("*") if p.is_file())


def build(args: argparse.Namespace) -> dict[str, Any]:
    folder: Path = args.dir.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    state_file = folder / "build.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {"written": 0, "segments": []}
    if state.get("target", args.chunks) != args.chunks and state["written"] > args.chunks:
        raise SystemExit(f"{folder} already holds {state['written']} chunks, more than --chunks {args.chunks}")
    state["target"] = args.chunks
    server = server_for(folder, args.heap, bulk=True)
    server.start(timeout=600)
    try:
        db = ArcadeDB(server.url, DATABASE, "root", server.password, timeout=600)
        db.ensure_database()
        MigrationRunner(db, embedding_dim=DIM).migrate()
        store = GraphStore(db, batch_size=args.rows)
        vocabulary = max(args.chunks, 1000)
        known = embedded_entity_keys(db) if state["written"] else set()
        started = time.perf_counter()
        while state["written"] < args.chunks:
            t0 = time.perf_counter()
            end = min(state["written"] + args.batch, args.chunks)
            batch = synthetic_batch(state["written"], end, vocabulary, args.seed, known)
            generated = time.perf_counter() - t0
            t1 = time.perf_counter()
            store.write_batch(batch)
            wrote = time.perf_counter() - t1
            state["segments"].append({"end": end, "write_s": round(wrote, 3), "generate_s": round(generated, 3)})
            state["written"] = end
            state_file.write_text(json.dumps(state))
            if end % (args.batch * 20) == 0 or end == args.chunks:
                recent = state["segments"][-20:]
                rate = sum(args.batch for _ in recent) / max(sum(s["write_s"] for s in recent), 1e-9)
                log.info("%d/%d chunks, writes %.0f chunks/s over the last %d batches, %.0f s so far",
                         end, args.chunks, rate, len(recent), time.perf_counter() - started)
        counts = GraphStore(db).counts()
    finally:
        server.stop(timeout=300)
    write_s = [s["write_s"] for s in state["segments"]]
    summary = {"chunks": state["written"], "counts": counts, "database_bytes": folder_bytes(folder),
               "write_seconds": round(sum(write_s), 1),
               "write_chunks_per_s": round(state["written"] / max(sum(write_s), 1e-9), 1),
               "last_tenth_chunks_per_s": _tail_rate(state["segments"], args.batch)}
    (folder / "build-summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def _tail_rate(segments: list[dict[str, Any]], batch: int) -> float:
    """Write throughput over the last tenth of the build (how fast writes are once the graph is big)."""
    tail = segments[-max(1, len(segments) // 10):]
    return round(len(tail) * batch / max(sum(s["write_s"] for s in tail), 1e-9), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write (or continue writing) a synthetic graph into a folder")
    b.add_argument("--chunks", type=int, required=True)
    b.add_argument("--dir", type=Path, required=True)
    b.add_argument("--batch", type=int, default=500, help="documents per write transaction")
    b.add_argument("--rows", type=int, default=500, help="rows per UNWIND statement")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--heap", default="6g", help="Java heap of the benchmark's ArcadeDB server")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.command == "build":
        summary = build(args)
        print(json.dumps({"commit": git_commit(), **summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
