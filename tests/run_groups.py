"""`make test`: the whole suite as three pytest processes at once, one per group of test folders and files.

Why: one pytest process leaves much of the two cores idle: many of its tests wait on other
processes more than they compute (an ArcadeDB server or a `graphrag` subprocess starting, a Ray
runtime coming up, a database outage lasting its seconds, a killed job's re-run). Measured on this
2-core machine on 2026-12-06, beside other agents' work (load average 6 to 10), with `nice -n 10
/usr/bin/time pytest tests/<folder>`: integration 605 s and e2e 639 s one after the other (at
cfe263e); both at once 721 s (at fee2579), each process using about 175 s of user CPU (its own and
its waited-for children's) in that time.

Each group is a whole pytest session of its own (its own ArcadeDB server, models and temporary
folders), so the groups share nothing but the machine; every test runs, as in one `pytest`. The
chaos suite is whole in one group, so its table is whole. `pytest` alone still runs everything
in one process, as before.

Usage: `python -m tests.run_groups [pytest options...]` (the options go to every group). Each
group's output is kept in `test-artifacts/pytest-<group>.log` and printed, group by group, once all
have ended; the exit code is the first non-zero one of the groups.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "test-artifacts"
# Balanced by measured wall time. Whole folders first (one process each, 2026-12-06): integration 605 s,
# e2e 639 s, unit 15 s, chaos 499 s. Then, as three groups at once at 126001a (2026-12-07), the chaos
# group ended about 450 s before the other two (integration 896 s, e2e 910 s), so it takes two slow
# modules that share nothing with its own tests: test_jobs_outage (e2e, 224 s summed over its tests)
# and test_embedded (integration, 114 s). At 4187d05 (2026-12-07) integration still ended about 190 s
# after chaos (697 against 508 s), so chaos also takes test_ingestion_outage (integration, 141 s summed).
# A path is a folder or a file; a file named in one group is left out of another group's folder
# (`--ignore`), so every test runs exactly once.
GROUPS: dict[str, tuple[str, ...]] = {
    "integration": ("tests/integration",),
    "e2e": ("tests/e2e", "tests/unit"),
    "chaos": ("tests/chaos", "tests/e2e/test_jobs_outage.py", "tests/integration/test_embedded.py",
              "tests/integration/test_ingestion_outage.py"),
}


def selection(name: str) -> list[str]:
    """Group `name`'s pytest arguments: its paths, and `--ignore` for each path of another group under them."""
    own = GROUPS[name]
    others = [path for other, paths in GROUPS.items() if other != name for path in paths]
    inside = [path for path in others if any(Path(path).is_relative_to(mine) and path != mine for mine in own)]
    return [*own, *(f"--ignore={path}" for path in inside)]


NO_TESTS = 5  # pytest's exit code when a group's selection is empty (e.g. under -k or -m)
_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|deselected|xfailed|xpassed)")


def counts(log: str) -> dict[str, int]:
    """The outcome counts of pytest's closing line (the last line that has any)."""
    for line in reversed(log.splitlines()):
        found = _COUNT.findall(line)
        if found:
            return {kind.rstrip("s") if kind.startswith("error") else kind: int(n) for n, kind in found}
    return {}


def wait_all(procs: dict[str, subprocess.Popen[bytes]], started: float,
             every: float = 0.5) -> tuple[dict[str, int], dict[str, float]]:
    """Each process's exit code and when it ended (seconds after `started`), as each ends.

    Why not `wait()` on each in turn: a group that ends before one waited on earlier would be stamped
    with that one's end, and balancing the groups needs each group's own end (a run at 17e6cd1
    reported 1005 s for all three groups, whose pytest sessions took 995, 933 and 579 s).
    """
    codes: dict[str, int] = {}
    ended: dict[str, float] = {}
    while len(codes) < len(procs):
        for name, proc in procs.items():
            if name not in codes and (code := proc.poll()) is not None:
                codes[name], ended[name] = code, time.monotonic() - started
        if len(codes) < len(procs):
            time.sleep(every)
    return codes, ended


def main(args: list[str]) -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    running = []
    for name in GROUPS:
        log = LOGS / f"pytest-{name}.log"
        with log.open("wb") as out:
            # its own cache folder: `--lf` works per group, and no two processes write one file
            cmd = [sys.executable, "-m", "pytest", *selection(name), "-o", f"cache_dir=.pytest_cache/{name}", *args]
            running.append((name, log, subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                                        stdin=subprocess.DEVNULL)))
        print(f"started {name}: {' '.join(selection(name))}", flush=True)
    codes, ended = wait_all({name: proc for name, _log, proc in running}, started)
    total: dict[str, int] = {}
    for name, log, _proc in running:
        text = log.read_text(encoding="utf-8", errors="replace")
        print(f"\n{'=' * 30} group {name} (exit {codes[name]}, ended after {ended[name]:.0f} s) {'=' * 30}")
        print(text, end="" if text.endswith("\n") else "\n")
        for kind, n in counts(text).items():
            total[kind] = total.get(kind, 0) + n
    failed = total.get("failed", 0) + total.get("error", 0)
    print(f"\n{len(GROUPS)} groups in {time.monotonic() - started:.0f} s"
          + (f"; {total['deselected']} deselected" if total.get("deselected") else ""))
    print(f"total: {total.get('passed', 0)} passed, {failed} failed"
          + (f", {total['skipped']} skipped" if total.get("skipped") else ""))
    bad = [code for code in codes.values() if code not in (0, NO_TESTS)]
    if bad:
        return bad[0]
    return NO_TESTS if all(code == NO_TESTS for code in codes.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
