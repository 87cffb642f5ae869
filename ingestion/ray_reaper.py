"""The reaper of a local Ray runtime: ends its processes once the process that started it is gone, however
that process ended (SIGKILL included).

Ray ties most of a local runtime to its driver: a driver killed with SIGKILL takes its GCS and raylet
along (Ray starts them to die with their parent), and a worker that has joined its raylet follows it.
Not the rest of what the raylet started: its two agents (dashboard, runtime env) find the raylet gone
within 2 s, then report that to the GCS, which is gone too, and wait out a fixed 60 s timeout before
they exit (Ray 2.60: `ray/_private/process_watcher.py`, `report_raylet_error_logs` ->
`publish_error_to_driver`; no setting shortens it, and the parent check, the one setting there, already
answers in 2 s); a worker still starting when its raylet died waits on (still there 15 s later).

`ingestion/ray_runtime.py` starts this script beside each runtime of its own, once `ray.init` has started
the runtime's servers, as a process apart (a process killed with SIGKILL runs nothing itself), its stdin
a pipe whose other end only the driver holds: that pipe's end is the driver's end, whichever way it
came, or `shutdown_local_ray` closing it. The script notes the driver's Ray children (GCS, raylet and
the others `ray.init` starts), waits for that end, then kills those still running and every process
the raylet started, agents and workers, found by the raylet's pid, which the raylet puts in their
environment (`RAY_RAYLET_PID`). psutil remembers each process's start time, so a pid reused meanwhile
is never killed.

Run as a script by its path, not as `python -m ingestion.ray_reaper`: the package's `__init__` imports
the pipeline (0.7 s, and its memory, for a process that lives as long as the runtime), and this needs
only psutil (Ray's copy: the driver puts `ray/thirdparty_files` on its PYTHONPATH).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Any


def is_ray(process: Any) -> bool:
    """One of a Ray runtime's processes (its servers, agents and workers), not another child of the driver
    (a database server restarted under a running job, say). Needs psutil importable (`import ray` first)."""
    import psutil

    try:
        name = process.name()
        return (name.startswith("ray::") or name in ("raylet", "gcs_server")
                or any(f"{os.sep}ray{os.sep}" in arg for arg in process.cmdline()))
    except psutil.Error:
        return False


def started_by(raylet: Any) -> list[Any]:
    """The processes `raylet` started that still run (its agents and workers, reparented once it died);
    none when its pid names another process by now: a mark of that pid is no longer this raylet's."""
    import psutil

    if not raylet.is_running() and psutil.pid_exists(raylet.pid):
        return []
    mark = str(raylet.pid)
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):  # another user's process, or one that just ended
            if process.environ().get("RAY_RAYLET_PID") == mark:
                found.append(process)
    return found


def main(driver_pid: int) -> None:
    import psutil

    # Ctrl-C in a terminal reaches the whole process group: the driver's to handle, and this process's
    # work starts once the driver is gone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    runtime: list[Any] = []
    with contextlib.suppress(psutil.Error):  # a driver gone already: nothing was seen, nothing is killed
        runtime = [p for p in psutil.Process(driver_pid).children(recursive=True)
                   if p.pid != os.getpid() and is_ray(p)]
    raylets = [p for p in runtime if _named(p, "raylet")]  # named now: once dead, a process has no name
    sys.stdin.buffer.read()  # returns at the pipe's end: the driver is gone, or stopped its runtime
    for raylet in raylets:
        runtime += started_by(raylet)
    for process in runtime:
        with contextlib.suppress(psutil.Error):
            if process.is_running():
                process.kill()


def _named(process: Any, name: str) -> bool:
    import psutil

    try:
        return bool(process.name() == name)
    except psutil.Error:
        return False


if __name__ == "__main__":
    main(int(sys.argv[1]))
