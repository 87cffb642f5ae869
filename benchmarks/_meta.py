"""What every benchmark shares: its start-up (models offline, tokenizers single-threaded), where the
checkout and the shared eval sets are, a free port, the commit its numbers belong to, reading JSON
lines, and one definition of a percentile. Standard library and httpx only, so the light load generator
can use it.

A benchmark run as a script (`python benchmarks/x.py`) finds this package with one line before its
imports, `sys.path.insert(0, str(Path(__file__).resolve().parents[1]))`, then imports this module first:
importing it is the start-up, so it must come before any `graphrag` import.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

# Start-up, before any model library is imported: models come from the local cache only (a benchmark
# downloads nothing: its numbers are for the models named in the settings), and the tokenizers do not
# fork their own thread pool under the benchmark's threads. An explicit value in the environment wins.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
# The shared eval sets lie beside the checkout (`../shared/eval`), as in CI's clone.
SHARED_EVAL = ROOT.parent / "shared" / "eval"


def relative(value: str | Path) -> str:
    """A path as the recorded results name it: inside the checkout or the shared sets beside it, relative
    to the checkout (`benchmarks/measured/...`, `../shared/eval/...`); anywhere else (a scratch database
    folder, an output file later folded into a result) `SCRATCH/<its name>`, so that no recorded
    command or input names a folder of the machine it ran on. `KEY=PATH` keeps its key; anything that
    is not a path (absolute or starting with `./` or `../`) stays as it is."""
    text = str(value)
    key, eq, path = text.partition("=") if "=" in text and not text.startswith("-") else ("", "", text)
    if not (os.path.isabs(path) or path.startswith(("./", "../"))):
        return text
    resolved = Path(path).resolve()
    if resolved.is_relative_to(ROOT) or resolved.is_relative_to(SHARED_EVAL.parent):
        return key + eq + os.path.relpath(resolved, ROOT)
    return f"{key}{eq}SCRATCH/{resolved.name}"


def recorded_command(script: str, args: list[str]) -> str:
    """The command line a result was measured with, for its JSON (paths relative to the checkout)."""
    return " ".join([Path(script).name, *map(relative, args)])


def git_commit(checkout: Path = ROOT) -> str:
    """The short commit of the checkout (this one unless another worktree is named), or 'unknown' outside git."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=checkout, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file (blank lines skipped); a missing file ends the benchmark with
    one line saying where the data was looked for (the shared sets are not in the repository)."""
    if not path.is_file():
        raise SystemExit(f"no such file: {path} (benchmarks read the evaluation sets from a folder you name; "
                         f"the shared ones live in {SHARED_EVAL})")
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def percentile(values: list[float], q: float, *, empty: float = 0.0) -> float:
    """The nearest-rank `q` quantile (0..1) of `values`, the same in every benchmark; `empty` if none."""
    ordered = sorted(values)
    if not ordered:
        return empty
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def rss_mb(pid: int) -> float:
    """Resident memory of a process (the API with its models), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def wait_ready(proc: subprocess.Popen[Any], url: str, *, every: float = 0.2) -> bool:
    """Poll the API's `/readyz` until it answers 200 (True) or its process `proc` exits (False)."""
    while proc.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(every)
    return False

