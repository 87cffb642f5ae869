"""CPU milliseconds per request of the API process and the database server: a number that does not
depend on how busy the machine is, unlike latency.

    python benchmarks/cpu_per_request.py --url http://127.0.0.1:8000 --api-pid PID --db-pid PID \
        --questions ../shared/eval/musique_100/questions.jsonl --requests 600 --concurrency 8

Reads utime + stime of each process (all its threads) from /proc/<pid>/stat before and after a
fixed number of requests (after a short warm-up) and divides by the count. Linux only. Closed-loop
clients as in `load.py`; the wall throughput and latency it also prints are as noisy as the
machine. The load average is recorded at both ends. It never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, run as a script
from benchmarks._meta import git_commit, percentile, read_jsonl, recorded_command, rss_mb

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds so far of a process (every thread) and of its live descendants (the API's
    question-NER child works for the API's requests, so its CPU counts as the API's)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / _TICKS
    return own + sum(cpu_seconds(child) for child in _children(pid))


def resident_mb(pid: int) -> float:
    """Resident memory (VmRSS) of a process and of its live descendants, in MB: an API's NER child and,
    with `GRAPHRAG_API_WORKERS` > 1, its workers and theirs. Pages shared between them (the workers'
    libraries) count once per process, so this is an upper bound."""
    try:
        own = rss_mb(pid)
    except OSError:  # gone meanwhile
        return 0.0
    return (0.0 if math.isnan(own) else own) + sum(resident_mb(child) for child in _children(pid))  # nan: a zombie


def _children(pid: int) -> list[int]:
    """Live child processes (Linux's /proc/PID/task/TID/children); a process gone meanwhile has none."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


async def send_questions(url: str, endpoint: str, questions: list[str], count: int, concurrency: int, top_k: int,
                headers: dict[str, str], offset: int = 0) -> tuple[list[float], Counter[str]]:
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    todo = iter(range(count))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=limits) as client:
        async def worker() -> None:
            for i in todo:
                started = time.perf_counter()
                response = await client.post(f"/v1/{endpoint}",
                                             json={"question": questions[(i + offset) % len(questions)],
                                                   "top_k": top_k})
                statuses[str(response.status_code)] += 1
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*[worker() for _ in range(concurrency)])
    return latencies, statuses


def measure(args: argparse.Namespace, questions: list[str]) -> dict[str, Any]:
    headers = {"X-API-Key": args.api_key} if args.api_key else {}
    asyncio.run(send_questions(args.url, args.endpoint, questions, args.warmup, args.concurrency, args.top_k,
                               headers, 50))
    load_start = load_average()
    api0 = sum(cpu_seconds(pid) for pid in args.api_pid)
    db0 = cpu_seconds(args.db_pid) if args.db_pid else 0.0
    started = time.perf_counter()
    latencies, statuses = asyncio.run(send_questions(args.url, args.endpoint, questions, args.requests,
                                                     args.concurrency, args.top_k, headers))
    wall = time.perf_counter() - started
    api_ms = (sum(cpu_seconds(pid) for pid in args.api_pid) - api0) * 1000 / args.requests
    db_ms = ((cpu_seconds(args.db_pid) - db0) * 1000 / args.requests) if args.db_pid else 0.0
    return {"endpoint": f"/v1/{args.endpoint}", "concurrency": args.concurrency, "requests": args.requests,
            "statuses": dict(statuses), "api_cpu_ms": round(api_ms, 2), "db_cpu_ms": round(db_ms, 2),
            "total_cpu_ms": round(api_ms + db_ms, 2), "wall_rps": round(args.requests / wall, 1),
            "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
            "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
            "load_start": load_start, "load_end": load_average()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--endpoint", choices=["retrieve", "ask"], default="retrieve")
    parser.add_argument("--api-pid", type=int, nargs="+", required=True,
                        help="the API process (graphrag serve), or each worker process with api_workers > 1")
    parser.add_argument("--db-pid", type=int, help="the ArcadeDB server's java process")
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--questions", type=Path, required=True, help="a questions.jsonl")
    parser.add_argument("--api-key", default=os.environ.get("GRAPHRAG_API_KEY"))
    parser.add_argument("--out", type=Path, help="write the result here as JSON")
    args = parser.parse_args(argv)
    questions = [record["question"] for record in read_jsonl(args.questions)]
    result = measure(args, questions)
    print(f"{result['endpoint']} c={result['concurrency']}: {result['api_cpu_ms']} ms API + {result['db_cpu_ms']} ms "
          f"DB = {result['total_cpu_ms']} ms CPU a request; {result['wall_rps']} req/s, p50 {result['p50_ms']} ms, "
          f"p95 {result['p95_ms']} ms; load {result['load_start']} -> {result['load_end']}; "
          f"statuses {result['statuses']}", flush=True)
    if args.out:
        record = {"commit": git_commit(), "command": recorded_command(sys.argv[0], argv or sys.argv[1:]),
                  "result": result}
        args.out.write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
