"""Several builds of the service, served side by side and loaded in turns: an A/B comparison that the
machine's drift cannot decide.

    python benchmarks/interleaved.py --questions ../shared/eval/musique_100/questions.jsonl \
        --serve now=.,DB_DIR --serve before=../wt-before,DB_DIR \
        --serve whole-graph=../wt-99c1558,OLD_DB_DIR,api.cli --rounds 5 --out result.json

Why: on the shared 2-core machine one build measured twice, ten minutes apart, differed by up to a
quarter in throughput and CPU a question (README, "Throughput"). Here every build serves at once (each
its own ArcadeDB server and API process; idle while another is loaded), and each round loads each build
in turn, the order rotating, for `--requests` questions at `--concurrency` clients and then `--single`
at one client. The medians over the rounds are compared, each round being a pair taken minutes apart
at most.

`--serve NAME=CHECKOUT,DB_DIR[,CLI_MODULE]`: CHECKOUT is a git worktree of the build (run with this
venv through PYTHONPATH), DB_DIR a folder `benchmarks/eval.py --db-dir` ingested with that build's
schema, CLI_MODULE its CLI (`cli`; `api.cli` before the CLI moved, e.g. 99c1558). Environment
variables of the form `NAME__GRAPHRAG_X=value` are given to build NAME only (e.g. to serve one
checkout twice with two settings); one whose NAME is no build's is refused.

Per turn: throughput, p50/p95 latency, the CPU milliseconds a question of the API process and of
its database (utime + stime from /proc, Linux), the share of the machine's cores that sat idle, and
the API's resident memory at the end of the turn (with its NER child and any workers).
Keys off, loopback. It never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, run as a script
from benchmarks._meta import free_port, git_commit, percentile, read_jsonl, recorded_command, relative, wait_ready
from benchmarks.cpu_per_request import cpu_seconds, resident_mb, send_questions
from benchmarks.serve_eval import start_database
from graphrag.embedded import EmbeddedServer


@dataclass
class Build:
    name: str
    checkout: Path
    db_dir: Path
    module: str = "cli"
    commit: str = ""
    server: EmbeddedServer | None = None
    api: subprocess.Popen[bytes] | None = None
    url: str = ""
    db_pid: int = 0
    turns: list[dict[str, Any]] = field(default_factory=list)

    def start(self, dataset: str) -> None:
        port = free_port()
        self.server, api_env = start_database(self.db_dir, dataset, port)
        self.db_pid = self.server.status().pid or 0
        env = {**os.environ, **api_env, "PYTHONPATH": str(self.checkout), "TOKENIZERS_PARALLELISM": "false"}
        prefix = f"{self.name}__"
        env.update({k.removeprefix(prefix): v for k, v in os.environ.items() if k.startswith(prefix)})
        self.api = subprocess.Popen([sys.executable, "-m", self.module, "serve"], cwd=self.checkout, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}"
        if not wait_ready(self.api, self.url, every=0.5):
            raise SystemExit(f"{self.name}: the API did not start (exit {self.api.poll()})")
        self.commit = git_commit(self.checkout)

    def stop(self) -> None:
        if self.api is not None and self.api.poll() is None:
            self.api.terminate()
            self.api.wait(timeout=60)
        if self.server is not None:
            self.server.stop()

    def turn(self, questions: list[str], requests: int, concurrency: int, offset: int) -> dict[str, Any]:
        assert self.api is not None and self.db_pid
        api0, db0 = cpu_seconds(self.api.pid), cpu_seconds(self.db_pid)
        idle0 = machine_idle()
        started = time.perf_counter()
        latencies, statuses = asyncio.run(send_questions(self.url, "retrieve", questions, requests, concurrency, 5, {},
                                                offset))
        wall = time.perf_counter() - started
        idle = machine_idle()
        return {"concurrency": concurrency, "requests": requests, "statuses": dict(statuses),
                "rps": round(requests / wall, 2), "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
                "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
                "api_cpu_ms": round((cpu_seconds(self.api.pid) - api0) * 1000 / requests, 2),
                "db_cpu_ms": round((cpu_seconds(self.db_pid) - db0) * 1000 / requests, 2),
                "idle_pct": round(100 * (idle[0] - idle0[0]) / max(idle[1] - idle0[1], 1), 1),
                "api_rss_mb": round(resident_mb(self.api.pid), 1)}


def machine_idle() -> tuple[int, int]:
    """(idle, total) ticks of every core so far (/proc/stat). A turn whose cores sat idle while its
    clients waited was held back by something other than CPU: a lock, the interpreter's, or I/O."""
    with open("/proc/stat", encoding="ascii") as handle:
        ticks = [int(v) for v in handle.readline().split()[1:]]
    return ticks[3] + ticks[4], sum(ticks[:8])  # idle + iowait; user .. steal


def _stray_variables(environ: Mapping[str, str], names: list[str]) -> list[str]:
    """`NAME__GRAPHRAG_X` variables whose NAME is no build's."""
    return sorted(k for k in environ if "__GRAPHRAG_" in k and k.split("__GRAPHRAG_", 1)[0] not in names)


def _build(spec: str) -> Build:
    name, _, rest = spec.partition("=")
    parts = rest.split(",")
    if not name or len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError(f"--serve NAME=CHECKOUT,DB_DIR[,CLI_MODULE], not {spec!r}")
    return Build(name, Path(parts[0]).resolve(), Path(parts[1]).resolve(), *(parts[2:]))


def _recordable(args: list[str]) -> list[str]:
    """The arguments with each `--serve` spec's paths made relative (`recorded_command` sees one word)."""
    out = []
    for arg in args:
        name, eq, rest = arg.partition("=")
        if eq and "," in rest and not arg.startswith("-"):
            checkout, db_dir, *module = rest.split(",")
            arg = f"{name}=" + ",".join([relative(Path(checkout).resolve()), relative(Path(db_dir).resolve()),
                                         *module])
        out.append(arg)
    return out


def medians(turns: list[dict[str, Any]], concurrency: int) -> dict[str, float]:
    rows = [t for t in turns if t["concurrency"] == concurrency]
    keys = ("rps", "p50_ms", "p95_ms", "api_cpu_ms", "db_cpu_ms", "idle_pct", "api_rss_mb")
    return {k: round(statistics.median(t[k] for t in rows), 2) for k in keys} if rows else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", type=_build, action="append", required=True, metavar="NAME=CHECKOUT,DB_DIR")
    parser.add_argument("--dataset", default="musique_100", help="names the database (as eval.py named it)")
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=400, help="questions a turn at --concurrency")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--single", type=int, default=100, help="questions a turn at one client (0: none)")
    parser.add_argument("--warmup", type=int, default=400, help="questions each build answers before round 1")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    questions = [record["question"] for record in read_jsonl(args.questions)]
    builds: list[Build] = args.serve
    if stray := _stray_variables(os.environ, [b.name for b in builds]):
        # a misspelt prefix served the build without its setting, and the run said nothing
        parser.error(f"{', '.join(stray)} name no --serve build ({', '.join(b.name for b in builds)})")
    try:
        for build in builds:
            build.start(args.dataset)
            print(f"{build.name}: {build.commit} at {build.url}", flush=True)
        for build in builds:  # the JVM's JIT and the graph caches warm before anything counts
            asyncio.run(send_questions(build.url, "retrieve", questions, args.warmup, args.concurrency, 5, {}, 0))
        for n in range(args.rounds):
            order = builds[n % len(builds):] + builds[: n % len(builds)]
            for build in order:
                turns = [build.turn(questions, args.requests, args.concurrency, n * 37)]
                if args.single:
                    turns.append(build.turn(questions, args.single, 1, n * 41))
                build.turns.extend(turns)
                print(f"round {n + 1} {build.name:>12}: " + "; ".join(
                    f"c={t['concurrency']} {t['rps']} req/s p95 {t['p95_ms']} ms, CPU {t['api_cpu_ms']} + "
                    f"{t['db_cpu_ms']} ms, {t['idle_pct']} % idle, API {t['api_rss_mb']} MB"
                    for t in turns), flush=True)
    finally:
        for build in builds:
            build.stop()
    summary = {b.name: {"commit": b.commit, "checkout": relative(b.checkout), f"c{args.concurrency}":
                        medians(b.turns, args.concurrency), "c1": medians(b.turns, 1)} for b in builds}
    print("\nmedians over the rounds:")
    for name, row in summary.items():
        print(f"{name:>12} ({row['commit']}): c={args.concurrency} {row[f'c{args.concurrency}']}; c=1 {row['c1']}")
    if args.out:
        args.out.write_text(json.dumps({
            "commit": git_commit(), "command": recorded_command(sys.argv[0], _recordable(argv or sys.argv[1:])),
            "dataset": args.dataset, "summary": summary,
            "turns": {b.name: b.turns for b in builds}}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
