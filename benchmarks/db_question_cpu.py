"""The database's CPU for a question's one statement (the vector search with the graph's fingerprint),
sent by several threads at once: what ArcadeDB itself costs a question, with no API beside it.

    python benchmarks/db_question_cpu.py --db-dir DB_DIR --dataset musique_100 --threads 8 \
        --statements 1500 --rounds 3 [--without-simd] [--jvm-option=-XX:+UseSerialGC ...]

DB_DIR is a folder `benchmarks/eval.py --db-dir` ingested. The server is started as the service starts
it (`graphrag.embedded`); `--jvm-option` adds to its java command line (through JAVA_TOOL_OPTIONS) to
compare JVM settings, each run on its own server; `--without-simd` leaves out the JDK's vector module
(`graphrag.embedded.JVM_MODULES`), as the service started the server before 8e6e21f. The query vectors
are random unit vectors (the cost
of an HNSW search hardly depends on where it lands). Per round: the server's utime + stime per
statement (all its threads, from /proc) and the wall time per statement. The first rounds include the
JIT compiling the hot paths: the server's CPU a statement falls over minutes under load. It never
asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, run as a script
from benchmarks._meta import git_commit, recorded_command
from benchmarks.cpu_per_request import cpu_seconds
from benchmarks.eval import database_name, eval_database
from graphrag import embedded, queries
from graphrag.embedded import EmbeddedServer
from graphrag.procs import read_pid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-dir", type=Path, required=True)
    parser.add_argument("--dataset", default="musique_100", help="names the database (as eval.py named it)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--statements", type=int, default=1500, help="statements a round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1500, help="statements before round 1")
    parser.add_argument("--k", type=int, default=100, help="nearest chunks a statement asks for")
    parser.add_argument("--ef-search", type=int, default=100)
    parser.add_argument("--jvm-option", action="append", default=[], help="added to the server's java command")
    parser.add_argument("--without-simd", action="store_true", help="start the server without jdk.incubator.vector")
    parser.add_argument("--out", type=Path, help="also write the rounds as JSON here")
    args = parser.parse_args(argv)
    if args.without_simd:
        embedded.JVM_MODULES = ()
    if args.jvm_option:
        os.environ["JAVA_TOOL_OPTIONS"] = " ".join(args.jvm_option)
    statement = queries.with_graph_fingerprint(queries.CHUNK_VECTOR_HITS_EF)
    rng = np.random.default_rng(0)
    vectors = [(v / np.linalg.norm(v)).tolist() for v in rng.normal(size=(64, 384))]
    rounds = []
    with eval_database(args.db_dir, args.dataset) as (db, _settings), ThreadPoolExecutor(args.threads) as pool:
        db_pid = _server_pid(args.db_dir, args.dataset)

        def send(i: int) -> None:
            db.sql_rows(statement, {"q": vectors[i % len(vectors)], "k": args.k, "opts": {"efSearch": args.ef_search}})

        list(pool.map(send, range(args.warmup)))
        for n in range(1, args.rounds + 1):
            cpu0, wall0 = cpu_seconds(db_pid), time.perf_counter()
            list(pool.map(send, range(args.statements)))
            row = {"round": n, "db_cpu_ms": round((cpu_seconds(db_pid) - cpu0) * 1000 / args.statements, 2),
                   "wall_ms": round((time.perf_counter() - wall0) * 1000 / args.statements, 2)}
            rounds.append(row)
            print(f"round {n}: database {row['db_cpu_ms']:.2f} ms of CPU a statement, {row['wall_ms']:.2f} ms of wall "
                  f"({args.threads} threads{'' if not args.without_simd else ', no SIMD'}"
                  f"{'; ' + ' '.join(args.jvm_option) if args.jvm_option else ''})", flush=True)
    if args.out:
        args.out.write_text(json.dumps({"commit": git_commit(Path(__file__).resolve().parents[1]),
                                        "command": recorded_command(sys.argv[0], argv or sys.argv[1:]),
                                        "jvm_options": args.jvm_option,
                                        "simd": not args.without_simd,
                                        "rounds": rounds}, indent=2) + "\n", encoding="utf-8")
    return 0


def _server_pid(db_dir: Path, dataset: str) -> int:
    """The pid of the server `eval_database` started on `db_dir` (from the pid file it keeps there)."""
    server = EmbeddedServer(db_dir, 0, "", database_name(dataset))
    pid = read_pid(server.pid_file, server.marker)
    if pid is None:
        raise SystemExit("the database server's process was not found")
    return pid


if __name__ == "__main__":
    sys.exit(main())
