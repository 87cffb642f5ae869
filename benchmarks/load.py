"""Load benchmark: N concurrent async clients against a running service.

    python benchmarks/load.py --url http://127.0.0.1:8000 --concurrency 8 --duration 30 \
        --questions ../shared/eval/musique_100/questions.jsonl --endpoint retrieve --endpoint ask

Each client sends one request at a time, questions in rotation, for `--duration` seconds after a
warm-up; the script prints throughput and p50/p95/p99 latency per endpoint and writes them as JSON
(with the commit and the command line). `/v1/ask` is measured in whatever mode the service answers
(extractive when no LLM is configured); the mode seen is reported. It never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, run as a script
from benchmarks._meta import git_commit, percentile, read_jsonl, recorded_command, relative


def _questions(path: Path | None) -> list[str]:
    if path is None:
        return ["Which river flows through the city where Marie Curie was born?",
                "In which city was the husband of Marie Curie born?",
                "Who shared the 1903 Nobel Prize in Physics?"]
    return [record["question"] for record in read_jsonl(path)]


async def _client(client: httpx.AsyncClient, endpoint: str, body_extra: dict[str, Any], questions: list[str],
                  offset: int, deadline: float, latencies: list[float], statuses: Counter[str],
                  modes: Counter[str]) -> None:
    i = offset
    while time.perf_counter() < deadline:
        question = questions[i % len(questions)]
        i += 1
        started = time.perf_counter()
        try:
            response = await client.post(f"/v1/{endpoint}", json={"question": question, **body_extra})
        except httpx.HTTPError as exc:
            statuses[type(exc).__name__] += 1
            continue
        elapsed = time.perf_counter() - started
        statuses[str(response.status_code)] += 1
        if response.status_code == 200:
            latencies.append(elapsed)
            if endpoint == "ask":
                modes[response.json().get("mode", "?")] += 1


async def run_endpoint(url: str, endpoint: str, concurrency: int, duration: float, warmup: float,
                       questions: list[str], headers: dict[str, str], top_k: int) -> dict[str, Any]:
    body_extra: dict[str, Any] = {"top_k": top_k}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=limits) as client:
        if warmup > 0:  # fill caches and load lazily-initialised code paths; not measured
            await asyncio.gather(*[_client(client, endpoint, body_extra, questions, k * 7,
                                           time.perf_counter() + warmup, [], Counter(), Counter())
                                   for k in range(concurrency)])
        latencies: list[float] = []
        statuses: Counter[str] = Counter()
        modes: Counter[str] = Counter()
        started = time.perf_counter()
        deadline = started + duration
        await asyncio.gather(*[_client(client, endpoint, body_extra, questions, k * 13 + 1, deadline, latencies,
                                       statuses, modes) for k in range(concurrency)])
        wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "endpoint": f"/v1/{endpoint}", "concurrency": concurrency, "seconds": round(wall, 2),
        "requests_ok": len(latencies), "statuses": dict(statuses), "answer_modes": dict(modes),
        "throughput_rps": round(len(latencies) / wall, 2) if wall else 0.0,
        "p50_ms": round(percentile(ordered, 0.50, empty=float("nan")) * 1000, 1),
        "p95_ms": round(percentile(ordered, 0.95, empty=float("nan")) * 1000, 1),
        "p99_ms": round(percentile(ordered, 0.99, empty=float("nan")) * 1000, 1),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 1) if ordered else float("nan"),
    }



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--endpoint", action="append", choices=["retrieve", "ask"],
                        help="repeatable; default: retrieve and ask")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds per endpoint")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--questions", type=Path, help="a questions.jsonl (default: three sample questions)")
    parser.add_argument("--api-key", default=os.environ.get("GRAPHRAG_API_KEY"))
    parser.add_argument("--out", type=Path, help="write the results here as JSON")
    args = parser.parse_args(argv)
    headers = {"X-API-Key": args.api_key} if args.api_key else {}
    questions = _questions(args.questions)
    results = []
    for endpoint in args.endpoint or ["retrieve", "ask"]:
        result = asyncio.run(run_endpoint(args.url, endpoint, args.concurrency, args.duration, args.warmup,
                                          questions, headers, args.top_k))
        results.append(result)
        print(f"{result['endpoint']:<14} c={result['concurrency']} {result['throughput_rps']:7.2f} req/s  "
              f"p50 {result['p50_ms']:7.1f} ms  p95 {result['p95_ms']:7.1f} ms  p99 {result['p99_ms']:7.1f} ms  "
              f"ok {result['requests_ok']}  statuses {result['statuses']}"
              + (f"  modes {result['answer_modes']}" if result["answer_modes"] else ""), flush=True)
    record = {"commit": git_commit(), "command": recorded_command(sys.argv[0], argv or sys.argv[1:]),
              "questions": relative(args.questions) if args.questions else "builtin", "results": results}
    if args.out:
        args.out.write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
