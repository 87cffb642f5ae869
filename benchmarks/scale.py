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

`measure` starts ArcadeDB on the folder and the real API (`python -m cli serve`) against it, and
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
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, run as a script

from benchmarks._meta import ROOT, free_port, git_commit, percentile, recorded_command, rss_mb, wait_ready
from benchmarks.load import run_endpoint
from graphrag import queries
from graphrag.arcadedb import ArcadeDB
from graphrag.config import ensure_password_file
from graphrag.embedded import EmbeddedServer
from graphrag.errors import StoreError
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


# The service's own query on each vector index: its first one after a bulk load builds the index's graph.
VECTOR_PROBES = {"chunk": queries.CHUNK_VECTOR_HITS, "entity": queries.ENTITY_VECTOR_NEIGHBOURS}


def wait_for_vector_index(db: ArcadeDB, k: int = 100, index: str = "chunk") -> float:
    """Seconds until a vector index (`VECTOR_PROBES`) answers a query in full. After a bulk load (and
    after every server start that finds no persisted graph) its first query builds the HNSW graph:
    the measurements start from built indexes, and the time it took is reported. Both indexes: at 1M
    an entity graph left unbuilt was rebuilt whole by the first writes of the measurement (1.1M
    vectors, over an hour), and the writer's transactions timed out meanwhile."""
    probe = unit_vectors(np.random.default_rng(12345), 1)[0].tolist()
    started = time.perf_counter()
    while True:
        try:
            rows = db.sql(VECTOR_PROBES[index], {"q": probe, "k": k})
            if len(rows) >= k:
                return round(time.perf_counter() - started, 1)
        except StoreError as exc:  # a call that timed out while the graph builds: ask again
            log.info("vector index not ready yet: %s", exc)
        time.sleep(2)


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
    if state.setdefault("batch", args.batch) != args.batch:
        raise SystemExit(f"{folder} was built with --batch {state['batch']}: continue with the same")
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
            # random vectors have no near-duplicates: mark the new entities as looked up for SAME_AS, as
            # ingestion does after linking them (else the next real ingestion links them all)
            store.mark_linked([e.key for e in batch.entities if e.embedding is not None])
            state["segments"].append({"end": end, "write_s": round(wrote, 3), "generate_s": round(generated, 3)})
            state["written"] = end
            state_file.write_text(json.dumps(state))
            if end % (args.batch * 20) == 0 or end == args.chunks:
                recent = state["segments"][-20:]
                rate = sum(args.batch for _ in recent) / max(sum(s["write_s"] for s in recent), 1e-9)
                log.info("%d/%d chunks, writes %.0f chunks/s over the last %d batches, %.0f s so far",
                         end, args.chunks, rate, len(recent), time.perf_counter() - started)
        counts = GraphStore(db).counts()
        index_build_s = wait_for_vector_index(db)
        entity_index_build_s = wait_for_vector_index(db, index="entity")
    finally:
        server.stop(timeout=300)
    write_s = [s["write_s"] for s in state["segments"]]
    summary = {"chunks": state["written"], "counts": counts, "database_bytes": folder_bytes(folder),
               "vector_index_build_s": index_build_s, "entity_vector_index_build_s": entity_index_build_s,
               "write_seconds": round(sum(write_s), 1),
               "write_chunks_per_s": round(state["written"] / max(sum(write_s), 1e-9), 1),
               "last_tenth_chunks_per_s": _tail_rate(state["segments"], args.batch)}
    (folder / "build-summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def _tail_rate(segments: list[dict[str, Any]], batch: int) -> float:
    """Write throughput over the last tenth of the build (how fast writes are once the graph is big)."""
    tail = segments[-max(1, len(segments) // 10):]
    return round(len(tail) * batch / max(sum(s["write_s"] for s in tail), 1e-9), 1)


# --- the vector index ---------------------------------------------------------------------------

def stored_vectors(chunks: int, batch: int, seed: int) -> np.ndarray:
    """Every chunk vector of a build, regenerated: each batch's first draw from its own generator."""
    return np.concatenate([unit_vectors(np.random.default_rng([seed, start]), min(batch, chunks - start))
                           for start in range(0, chunks, batch)])


def _index_of(chunk_id: str) -> int:
    """Build position of a synthetic chunk id (`syn-<i>#...`); -1 for any other chunk."""
    head = chunk_id.split("#", 1)[0]
    return int(head[4:]) if head.startswith("syn-") else -1


def vector_queries(db: ArcadeDB, queries_: np.ndarray, k: int, ef: int) -> tuple[list[list[str]], list[float]]:
    statement = ("SELECT id, distance FROM (SELECT expand(vectorNeighbors('Chunk[embedding]', :q, :k"
                 + (", :opts)))" if ef else ")))"))
    found, latencies = [], []
    for q in queries_:
        params: dict[str, Any] = {"q": np.round(q.astype(np.float64), 6).tolist(), "k": k}
        if ef:
            params["opts"] = {"efSearch": ef}
        started = time.perf_counter()
        rows = db.sql(statement, params)
        latencies.append((time.perf_counter() - started) * 1000)
        found.append([r["id"] for r in rows])
    return found, latencies


def vectors(args: argparse.Namespace) -> dict[str, Any]:
    """Recall of `vectorNeighbors` against exact search, per search breadth, and the latency of the
    first queries after a bulk insert. Random unit vectors are the hardest case for an HNSW graph
    (no cluster structure); `planted` queries are a stored vector plus noise (cosine about 0.9 to it),
    the near-duplicate the index must not miss."""
    folder: Path = args.dir.resolve()
    state = json.loads((folder / "build.json").read_text())
    n, batch = state["written"], state.get("batch", 500)
    stored = stored_vectors(n, batch, args.seed)
    ids = [f"syn-{i}#{i:016x}#0" for i in range(n)]
    rng = np.random.default_rng([args.seed, 99])
    planted_at = rng.choice(n, size=args.queries, replace=False)
    noise = rng.standard_normal((args.queries, DIM)).astype(np.float32) * 0.025
    planted = stored[planted_at] + noise
    planted /= np.linalg.norm(planted, axis=1, keepdims=True)
    random_q = unit_vectors(rng, args.queries)
    server = server_for(folder, args.heap)
    server.start(timeout=900)
    out: dict[str, Any] = {"chunks": n, "queries": args.queries}
    try:
        db = ArcadeDB(server.url, DATABASE, "root", server.password, timeout=900)
        started = time.perf_counter()
        vector_queries(db, random_q[:1], 10, 0)
        out["first_query_after_start_s"] = round(time.perf_counter() - started, 2)
        for k in (10, 100):
            exact = [set(np.argsort(-(stored @ q))[:k].tolist()) for q in random_q]
            for ef in (0, *args.ef):
                if ef and ef < k:
                    continue
                found, latencies = vector_queries(db, random_q, k, ef)
                recall = statistics.fmean(len({_index_of(c) for c in hits} & want) / k
                                          for hits, want in zip(found, exact, strict=True))
                hits_planted, _ = vector_queries(db, planted, max(k, 20), ef)
                kept = sum(1 for hits, i in zip(hits_planted, planted_at, strict=True) if ids[i] in hits[:20])
                out[f"k{k}_ef{ef or 'default'}"] = {"recall": round(recall, 3), "planted_in_top20": kept,
                                                     **_quantiles(latencies)}
                log.info("k=%d efSearch=%s: %s", k, ef or "default", out[f"k{k}_ef{ef or 'default'}"])
        # bulk insert, then query at once: a fresh delta is scanned, or the graph rebuilt
        store = GraphStore(db, batch_size=500)
        extra = synthetic_batch(n, n + args.insert, max(n, 1000), args.seed + 1)
        for chunk in extra.chunks:
            chunk.id, chunk.document_id = f"bulk-{chunk.id}", f"bulk-{chunk.document_id}"
        for m in extra.mentions:
            m.chunk_id = f"bulk-{m.chunk_id}"
        for d in extra.documents:
            d.id = f"bulk-{d.id}"
        extra.relations = []
        started = time.perf_counter()
        store.write_batch(extra)
        out["bulk_insert"] = {"chunks": args.insert, "write_s": round(time.perf_counter() - started, 2)}
        new = np.array([c.embedding for c in extra.chunks[:50]], dtype=np.float32)
        found, latencies = vector_queries(db, new, 10, 0)
        out["bulk_insert"].update({"found_at_rank_1": sum(1 for hits, c in zip(found, extra.chunks, strict=False)
                                                          if hits and hits[0] == c.id),
                                   "queried": len(new), **_quantiles(latencies)})
        log.info("after a bulk insert: %s", out["bulk_insert"])
        db.close()
    finally:
        server.stop(timeout=300)
    return out


# --- measure ------------------------------------------------------------------------------------

def questions_for(chunks: int, n: int, seed: int) -> list[str]:
    """Questions naming a vocabulary entity (common and rare ones) and a document's title entity,
    so that the graph ranking has seeds, as real multi-hop questions do."""
    rng = np.random.default_rng([seed, 7])
    vocabulary = max(chunks, 1000)
    ranks = np.minimum(rng.zipf(ZIPF_A, size=n), vocabulary)
    topics = rng.integers(0, chunks, size=n)
    return [f"Which {WORDS[i % len(WORDS)]} links {vocabulary_name(int(r))} and {title_of(int(t))}?"
            for i, (r, t) in enumerate(zip(ranks, topics, strict=True))]


def start_api(server: EmbeddedServer, folder: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    """`python -m cli serve` against the folder's database; returns it, its URL and the seconds
    from process start to /readyz answering 200 (models loaded, schema checked)."""
    port = free_port()
    env = {**os.environ, "GRAPHRAG_DB_URL": server.url, "GRAPHRAG_DB_PASSWORD": server.password,
           "GRAPHRAG_DB_NAME": DATABASE, "GRAPHRAG_API_PORT": str(port), "GRAPHRAG_API_KEYS_REQUIRED": "false",
           "GRAPHRAG_DATA_DIR": str(folder / "api-data"), "HF_HUB_OFFLINE": "1"}
    log_file = (folder / "api.log").open("ab")
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve"], cwd=ROOT, env=env, stdout=log_file,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    if not wait_ready(proc, url):
        raise SystemExit(f"the API exited during start-up; see {folder / 'api.log'}")
    return proc, url, round(time.perf_counter() - started, 2)


def sequential(url: str, questions: list[str], *, top_k: int = 8, ready_at: float | None = None) -> dict[str, Any]:
    """One client, one request at a time: p50 / p95 / p99 and the slowest. With `ready_at` (the
    `time.perf_counter()` at which the API answered ready) also apart for the requests begun in the
    first minute after it and for the rest: a cold cache is the first minute's, not the service's."""
    latencies: list[tuple[float, float]] = []  # (begun, seconds after ready; milliseconds)
    errors = 0
    with httpx.Client(base_url=url, timeout=120) as client:
        for question in questions:
            started = time.perf_counter()
            response = client.post("/v1/retrieve", json={"question": question, "top_k": top_k})
            if response.status_code == 200:
                latencies.append((started - (ready_at or started), (time.perf_counter() - started) * 1000))
            else:
                errors += 1
    result = {"requests": len(questions), "errors": errors, **_quantiles([ms for _, ms in latencies])}
    if ready_at is not None:
        for name, part in (("first_minute", [ms for at, ms in latencies if at < 60]),
                           ("after_first_minute", [ms for at, ms in latencies if at >= 60])):
            result[name] = {"requests": len(part), **_quantiles(part)}
    return result


def _quantiles(latencies: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(latencies, 0.5), 1), "p95_ms": round(percentile(latencies, 0.95), 1),
            "p99_ms": round(percentile(latencies, 0.99), 1), "max_ms": round(max(latencies, default=0.0), 1)}


def fresh_document(i: int, vocabulary: int) -> tuple[GraphBatch, str, str]:
    """A new document about a unique name, written as another process would; and a question naming it."""
    run = f"{os.getpid()}x{int(time.time())}"
    tag = f"Freshness {i} {run}"
    batch = synthetic_batch(10**9 + i, 10**9 + i + 1, vocabulary, seed=i)
    doc, chunk = batch.documents[0], batch.chunks[0]
    old_key, old_chunk = doc.title.lower(), chunk.id
    doc.id = chunk.document_id = f"fresh-{i}-{run}"
    chunk.id = f"{doc.id}#{i:016x}#0"
    for entity in batch.entities:
        if entity.key == old_key:
            entity.key, entity.name = tag.lower(), tag
    for mention in batch.mentions:
        mention.chunk_id = chunk.id
        if mention.entity_key == old_key:
            mention.entity_key = tag.lower()
    batch.relations = [r for r in batch.relations if old_key not in (r.source_key, r.target_key)]
    for relation in batch.relations:
        relation.evidence = [chunk.id if c == old_chunk else c for c in relation.evidence]
    return batch, doc.id, f"What is known about {tag}?"


def freshness(url: str, store: GraphStore, vocabulary: int, trials: int) -> dict[str, Any]:
    """Seconds from a document's commit (by another client) to its first appearance in a result."""
    seconds: list[float] = []
    requests: list[int] = []
    statuses: Counter[int] = Counter()
    with httpx.Client(base_url=url, timeout=120) as client:
        for i in range(trials):
            batch, doc_id, question = fresh_document(i, vocabulary)
            store.write_batch(batch)
            committed = time.perf_counter()
            polls = 0
            while time.perf_counter() - committed < 60:
                polls += 1
                response = client.post("/v1/retrieve", json={"question": question, "top_k": 8})
                statuses[response.status_code] += 1
                if response.status_code == 200 and doc_id in [s["document_id"] for s in response.json()["sources"]]:
                    seconds.append(time.perf_counter() - committed)
                    break
            else:
                seconds.append(float("inf"))
            requests.append(polls)
    return {"trials": trials, "max_s": round(max(seconds), 3), "median_s": round(statistics.median(seconds), 3),
            "found_by_the_first_request": sum(1 for n in requests if n == 1), "statuses": dict(statuses)}


def under_ingestion(url: str, server: EmbeddedServer, questions: list[str], seconds: float) -> dict[str, Any]:
    """Query latency (one client) while another process's ingestion writes one document a second
    (here: the real pipeline, with its models, in this process)."""
    from graphrag.config import Settings
    from graphrag.embeddings import SentenceTransformerEmbedder
    from graphrag.types import SourceDocument
    from ingestion.pipeline import IngestionConfig, IngestionPipeline

    settings = Settings(db_url=server.url, db_password=server.password, db_name=DATABASE)
    db = ArcadeDB(server.url, DATABASE, "root", server.password, timeout=120)
    pipeline = IngestionPipeline(settings, db, SentenceTransformerEmbedder(expected_dim=DIM),
                                 config=IngestionConfig(count_graph=False))
    pipeline.run([SourceDocument(id=f"live-{os.getpid()}-warm", source="scale", title="Warm-up note",
                                 text="A first document loads the models before the clock starts.")])
    stop = threading.Event()
    written: list[float] = []

    def writer() -> None:
        i = 0
        while not stop.is_set():
            started = time.perf_counter()
            pipeline.run([SourceDocument(id=f"live-{os.getpid()}-{i}", source="scale", title=f"Live Note {i}",
                                         text=f"Live Note {i} records that the {WORDS[i % len(WORDS)]} of "
                                              f"{vocabulary_name(i + 1)} met {title_of(i)} in spring.")])
            written.append(time.perf_counter() - started)
            i += 1
            stop.wait(max(0.0, 1.0 - (time.perf_counter() - started)))

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    with httpx.Client(base_url=url, timeout=120) as client:
        i = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = client.post("/v1/retrieve", json={"question": questions[i % len(questions)], "top_k": 8})
            i += 1
            if response.status_code == 200:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                errors += 1
    stop.set()
    thread.join(timeout=60)
    db.close()
    return {"seconds": seconds, "documents_written": len(written), "requests": len(latencies) + errors,
            "errors": errors, "over_1s": sum(1 for x in latencies if x > 1000), **_quantiles(latencies)}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    folder: Path = args.dir.resolve()
    built = json.loads((folder / "build.json").read_text())["written"]
    server = server_for(folder, args.heap)
    server.start(timeout=900)
    api = None
    try:
        db = ArcadeDB(server.url, DATABASE, "root", server.password, timeout=600)
        vocabulary = max(built, 1000)
        result_index_s = wait_for_vector_index(db)
        entity_index_s = wait_for_vector_index(db, index="entity")
        log.info("vector indexes answering %.1f s (chunks) and %.1f s (entities) after the database started",
                 result_index_s, entity_index_s)
        api, url, startup_s = start_api(server, folder)
        ready_at = time.perf_counter()
        result: dict[str, Any] = {"chunks": built, "database_bytes": folder_bytes(folder),
                                  "vector_index_ready_after_db_start_s": result_index_s,
                                  "entity_vector_index_ready_after_db_start_s": entity_index_s,
                                  "api_startup_s": startup_s, "api_rss_mb_after_start": rss_mb(api.pid)}
        questions = questions_for(built, args.queries, args.seed)
        log.info("API up in %.1f s; warming up", startup_s)
        sequential(url, questions[:20])
        result["retrieve_1_client"] = sequential(url, questions, ready_at=ready_at)
        log.info("1 client: %s", result["retrieve_1_client"])
        load = asyncio.run(run_endpoint(url, "retrieve", 8, args.duration, 5.0, questions, {}, 8))
        result["retrieve_8_clients"] = {k: load[k] for k in ("requests_ok", "statuses", "throughput_rps", "p50_ms",
                                                             "p95_ms", "p99_ms")}
        log.info("8 clients: %s", result["retrieve_8_clients"])
        result["api_rss_mb_after_queries"] = rss_mb(api.pid)
        result["freshness"] = freshness(url, GraphStore(db), vocabulary, args.freshness_trials)
        log.info("freshness: %s", result["freshness"])
        result["under_ingestion"] = under_ingestion(url, server, questions, args.ingest_seconds)
        log.info("under ingestion: %s", result["under_ingestion"])
        result["api_rss_mb_end"] = rss_mb(api.pid)
        db.close()
    finally:
        if api is not None:
            api.terminate()
            api.wait(timeout=60)
        server.stop(timeout=300)
    return result


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
    m = sub.add_parser("measure", help="start ArcadeDB and the real API on a built folder and measure")
    m.add_argument("--dir", type=Path, required=True)
    m.add_argument("--queries", type=int, default=2000, help="one-client requests, begun as the API is ready: "
                   "the first minute's and the rest's latencies are reported apart (memory is read after them)")
    m.add_argument("--duration", type=float, default=60.0, help="seconds of the 8-client run")
    m.add_argument("--freshness-trials", type=int, default=20)
    m.add_argument("--ingest-seconds", type=float, default=120.0, help="seconds of querying under ingestion")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--heap", default="6g")
    m.add_argument("--json", type=Path, help="also write the results here")
    v = sub.add_parser("vectors", help="recall of the chunk vector index against exact search, and latency "
                                       "right after a bulk insert")
    v.add_argument("--dir", type=Path, required=True)
    v.add_argument("--queries", type=int, default=100)
    v.add_argument("--ef", type=int, action="append", default=[], help="efSearch values to try (repeatable)")
    v.add_argument("--insert", type=int, default=1000, help="chunks bulk-inserted before the last queries")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--heap", default="6g")
    v.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.command == "build":
        summary = build(args)
        print(json.dumps({"commit": git_commit(), **summary}, indent=1))
    else:
        run = measure if args.command == "measure" else vectors
        record = {"commit": git_commit(), "command": recorded_command(sys.argv[0], sys.argv[1:]),
                  "load_average": os.getloadavg()[0], **run(args)}
        print(json.dumps(record, indent=1))
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
