"""What every benchmark shares: where the checkout and the shared eval sets are, a free port, and
the commit its numbers belong to. Standard library only, so the light load generator can use it.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The shared eval sets lie beside the checkout (`../shared/eval`), as in CI's clone.
SHARED_EVAL = ROOT.parent / "shared" / "eval"


def git_commit() -> str:
    """The short commit of the checkout, or 'unknown' outside git."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
