"""Helpers for the local server processes we launch (ArcadeDB, the llama.cpp answerer): free ports,
pid files that survive the CLI process, clean stops, and the log line that explains a failed start.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from graphrag.config import private_dir, write_private
from graphrag.errors import ServerLaunchError


class ProcessStatus(Protocol):
    """What every launcher's status record tells: is it answering, and which process is ours."""

    @property
    def running(self) -> bool: ...

    @property
    def pid(self) -> int | None: ...


T = TypeVar("T")
S = TypeVar("S", bound=ProcessStatus)  # a launcher's status record

log = logging.getLogger(__name__)


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on `host:port` (so our server can bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) still answers kill(0): treat it as gone.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


def cmdline_has(pid: int, needle: str) -> bool:
    """Whether process `pid` runs a command line containing `needle` (a pid file may be stale and
    its number reused by another program: never signal that one)."""
    try:
        return needle.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid_alive(pid)


def read_pid(pid_file: Path, needle: str) -> int | None:
    """The pid in `pid_file` if that process is alive and is ours (its command line has `needle`)."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if pid_alive(pid) and cmdline_has(pid, needle) else None


def spawn(cmd: list[str], log_file: Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start `cmd` detached (own session: a Ctrl-C in the CLI does not kill it), output to `log_file`.

    The child runs with umask 077, so every file it writes (database pages, logs) is owner-only;
    the log file is created 0600 here for the same reason.
    """
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    log_handle = os.fdopen(fd, "ab")
    try:
        return subprocess.Popen(cmd, stdout=log_handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=cwd, env=env, start_new_session=True, umask=0o077)
    finally:
        log_handle.close()


def terminate(pid: int, timeout: float, name: str = "process") -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    log.warning("%s (pid %s) ignored SIGTERM for %.0fs; killing it", name, pid, timeout)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


def last_log_line(log_file: Path, markers: tuple[str, ...] = ("SEVERE", "Exception", "Error")) -> str:
    """The most telling recent line of a log: the last one with an error marker, else the last one."""
    try:
        lines = [ln for ln in log_file.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    interesting = [ln for ln in lines[-40:] if any(m in ln for m in markers)]
    return (interesting or lines or ["(empty log)"])[-1].strip()[:300]


def wait_ready(probe: Callable[[], T | None], *, name: str, url: str, pid: int,
               proc: subprocess.Popen[bytes] | None, pid_file: Path, log_file: Path, timeout: float) -> T:
    """Poll `probe` until it answers; fail in one line if the process exits or the time runs out.

    Shared by every server we launch: the checks that make a failed start say *why* (the process
    died: its last telling log line; it hung: stopped and the log named) live in one place.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        exited = proc.poll() is not None if proc is not None else not pid_alive(pid)
        if exited:
            pid_file.unlink(missing_ok=True)
            raise ServerLaunchError(f"{name} exited during start-up; last log line: {last_log_line(log_file)} "
                                    f"(full log: {log_file})")
        answer = probe()
        if answer is not None:
            log.info("%s is up at %s (pid %s)", name, url, pid)
            return answer
        time.sleep(0.25)
    terminate(pid, 10.0, name)
    pid_file.unlink(missing_ok=True)
    raise ServerLaunchError(f"{name} did not answer on {url} within {timeout:.0f}s; see {log_file}")


class LaunchedServer(Generic[T, S]):
    """Start / stop / status of one local server process we launch, its pid file under our data folder.

    The lifecycle is the same for ArcadeDB and the llama.cpp answerer; a subclass says what differs:
    how to probe it (`_probe`: what it answers, or None), its command line, the folder it runs in,
    and how its status record is built. The class attributes name it in messages, find our process
    by its command line (`marker`), point at the setting that changes the port, and bound a start
    and a stop.
    """

    name = "server"
    marker = ""
    port_setting = ""
    start_timeout = 90.0
    stop_timeout = 30.0
    port: int
    url: str
    pid_file: Path
    log_file: Path

    def _probe(self) -> T | None:
        raise NotImplementedError

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _workdir(self) -> Path:
        raise NotImplementedError

    def _status(self, running: bool, pid: int | None, answer: T | None, detail: str) -> S:
        raise NotImplementedError

    def status(self) -> S:
        pid = read_pid(self.pid_file, self.marker)
        if pid is None:
            return self._status(False, None, None, "not running")
        answer = self._probe()
        if answer is None:
            return self._status(False, pid, None, f"process {pid} is up but does not answer yet")
        return self._status(True, pid, answer, "running")

    def start(self, timeout: float | None = None) -> S:
        """Start the server and wait until it answers; a no-op when it already runs."""
        timeout = self.start_timeout if timeout is None else timeout
        current = self.status()
        if current.running:
            return current
        if current.pid is not None:
            # Ours, still starting (another `start` raced us): wait for it rather than start a second.
            return self._wait_ready(current.pid, None, timeout)
        if not port_free(self.port):
            raise ServerLaunchError(f"port {self.port} on 127.0.0.1 is held by another process; "
                                    f"stop it or choose another port with --port / {self.port_setting}")
        cmd = self._command()
        workdir = self._workdir()
        private_dir(workdir)
        proc = spawn(cmd, self.log_file, workdir)
        write_private(self.pid_file, str(proc.pid))
        return self._wait_ready(proc.pid, proc, timeout)

    def _wait_ready(self, pid: int, proc: subprocess.Popen[bytes] | None, timeout: float) -> S:
        answer = wait_ready(self._probe, name=self.name, url=self.url, pid=pid, proc=proc,
                            pid_file=self.pid_file, log_file=self.log_file, timeout=timeout)
        return self._status(True, pid, answer, "started")

    def stop(self, timeout: float | None = None) -> bool:
        """Stop the server (SIGTERM, then SIGKILL after `timeout`); False if it was not running."""
        pid = read_pid(self.pid_file, self.marker)
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        terminate(pid, self.stop_timeout if timeout is None else timeout, self.name)
        self.pid_file.unlink(missing_ok=True)
        return True
