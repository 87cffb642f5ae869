"""The embedded-server launcher: idempotent start, clear failures, clean stop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from graphrag.embedded import EmbeddedServer
from graphrag.errors import ServerLaunchError
from tests.conftest import free_port


def test_start_twice_is_a_no_op_and_stop_stops(server: EmbeddedServer) -> None:
    first = server.status()
    again = server.start()
    assert again.running and again.pid == first.pid


def test_the_password_stays_off_the_command_line_and_the_files_are_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    password = "pw-" + os.urandom(8).hex()
    srv = EmbeddedServer(data, free_port(), password, "graphrag", heap="256m")
    status = srv.start(timeout=120)
    try:
        assert status.pid is not None
        cmdline = Path(f"/proc/{status.pid}/cmdline").read_bytes()
        assert b"java" in cmdline and password.encode() not in cmdline  # `ps` shows any user this
        assert (data.stat().st_mode & 0o777) == 0o700
        assert (srv.password_file.stat().st_mode & 0o777) == 0o600
        written = [p for p in data.rglob("*") if p.is_file()]
        assert any("databases" in p.parts for p in written)  # the server made its files...
        assert all(p.stat().st_mode & 0o077 == 0 for p in written), \
            [p for p in written if p.stat().st_mode & 0o077]  # ...and none is open to other users
        assert password not in srv.log_file.read_text(errors="replace")
    finally:
        srv.stop()


def test_port_held_by_another_process_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        srv = EmbeddedServer(tmp_path, port, "pw-" + os.urandom(6).hex(), "graphrag", heap="256m")
        with pytest.raises(ServerLaunchError, match=f"port {port} .* held by another process"):
            srv.start(timeout=30)
    assert not srv.pid_file.exists()


def test_server_that_dies_on_start_is_reported_with_its_log(tmp_path: Path) -> None:
    # An impossible heap makes the JVM exit at once: the launcher must notice, not wait out its timeout.
    srv = EmbeddedServer(tmp_path, free_port(), "pw-" + os.urandom(6).hex(), "graphrag", heap="999999g")
    with pytest.raises(ServerLaunchError, match="exited during start-up"):
        srv.start(timeout=60)
    assert not srv.pid_file.exists()


def test_cli_lifecycle_from_a_fresh_data_dir(tmp_path: Path) -> None:
    env = {**os.environ, "GRAPHRAG_DATA_DIR": str(tmp_path), "GRAPHRAG_DB_PORT": str(free_port()),
           "GRAPHRAG_DB_HEAP": "512m"}
    env.pop("GRAPHRAG_DB_URL", None)
    env.pop("GRAPHRAG_DB_PASSWORD", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli", *args], env=env, capture_output=True, text=True,
                              timeout=180, cwd=Path(__file__).resolve().parents[2])

    try:
        assert cli("db", "status").returncode == 3
        started = cli("db", "start")
        assert started.returncode == 0, started.stderr
        assert (tmp_path / "arcadedb_root_password").stat().st_mode & 0o077 == 0
        assert "already running" in cli("db", "start").stdout
        assert cli("schema", "migrate").returncode == 0
        second = cli("schema", "migrate")
        assert second.returncode == 0 and "up to date" in second.stdout
        status = cli("schema", "status")
        assert status.returncode == 0 and "applied" in status.stdout
        refused = cli("schema", "reset")
        assert refused.returncode == 2 and "--yes" in refused.stderr
    finally:
        assert cli("db", "stop").returncode == 0
    assert cli("db", "status").returncode == 3
    after = cli("schema", "status")
    assert after.returncode == 1 and "unreachable" in after.stderr and "Traceback" not in after.stderr


def test_up_stops_what_it_started_on_sigterm(tmp_path: Path) -> None:
    """`graphrag up` under a supervisor (SIGTERM, as `docker stop` or systemd send) stops the API and
    then the database it started, as Ctrl-C does; before, the process died with the signal and left
    ArcadeDB running."""
    import signal

    from tests.e2e.conftest import wait_until_ready

    db_port, api_port = free_port(), free_port()
    env = {**os.environ, "GRAPHRAG_DATA_DIR": str(tmp_path), "GRAPHRAG_DB_PORT": str(db_port),
           "GRAPHRAG_API_PORT": str(api_port), "GRAPHRAG_DB_HEAP": "512m"}
    for name in ("GRAPHRAG_DB_URL", "GRAPHRAG_DB_PASSWORD", "GRAPHRAG_LLM_BASE_URL"):
        env.pop(name, None)
    log = tmp_path / "up.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "up", "--no-llm", "--no-sample"], env=env,
                                stdout=out, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2])
    try:
        wait_until_ready(proc, f"http://127.0.0.1:{api_port}", log, timeout=240)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 128 + signal.SIGTERM
        text = log.read_text()
        assert "stopped ArcadeDB" in text, text[-2000:]
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", db_port)) != 0, "the database still listens"
    finally:
        if proc.poll() is None:
            proc.kill()
        subprocess.run([sys.executable, "-m", "cli", "db", "stop"], env=env, capture_output=True, timeout=120,
                       cwd=Path(__file__).resolve().parents[2])
