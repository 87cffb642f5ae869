"""A full disk, for real, under the command users run (issue 23): `graphrag serve` with its uploads
folder on a 1 MiB tmpfs that the test then fills.

The service runs in a mount namespace of its own (`unshare --user --map-root-user --mount`: no
privilege needed, nothing mounted on the machine), so the small filesystem exists for it alone. The
test fills and empties it from inside that namespace (`nsenter`), as another writer on the same disk
would. A full disk must answer 507 with what to fix, never 500; `/readyz` must say so; and once space
is freed, the next upload must be stored.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from graphrag.arcadedb import ArcadeDB
from graphrag.embedded import EmbeddedServer
from tests.conftest import free_port
from tests.e2e.conftest import terminate, wait_for, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
# mounts a small tmpfs over the uploads folder, then becomes the given command (in the new namespace)
MOUNT_THEN_RUN = 'mount -t tmpfs -o size=1m,mode=700 graphrag-test-disk "$1" && shift && exec "$@"'
NOTE = b"# Tidewater\n\nThe Tidewater ferry to Quellmere runs twice a day.\n"


class Disk:
    """The served process's uploads filesystem, written from inside its mount namespace."""

    def __init__(self, pid: int, uploads: Path):
        self.pid = pid
        self.uploads = uploads

    def run(self, script: str) -> subprocess.CompletedProcess[str]:
        nsenter = shutil.which("nsenter")
        assert nsenter, "nsenter (util-linux) is needed to reach the service's filesystem"
        return subprocess.run([nsenter, "-t", str(self.pid), "-U", "-m", "--preserve-credentials",
                               "sh", "-c", script, "sh", str(self.uploads)],
                              capture_output=True, text=True, timeout=60)

    def fill(self) -> None:
        """Write until the filesystem refuses (the write fails with ENOSPC by design)."""
        self.run('head -c 4194304 /dev/zero > "$1/ballast"')
        assert self.run('df -k --output=avail "$1" | tail -n 1').stdout.strip() == "0"

    def free(self) -> None:
        assert self.run('rm -f "$1/ballast"').returncode == 0

    def leftovers(self) -> list[str]:
        return self.run('find "$1" -type f ! -name ballast').stdout.split()


@pytest.fixture(scope="module")
def served(server: EmbeddedServer, e2e_db: ArcadeDB, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, Disk]]:
    unshare = shutil.which("unshare")
    assert unshare, "unshare (util-linux) is needed to give the service a small disk of its own"
    data_dir = tmp_path_factory.mktemp("disk-full")
    uploads = data_dir / "uploads"
    uploads.mkdir(mode=0o700)
    port = free_port()
    env = {**os.environ, "GRAPHRAG_DATA_DIR": str(data_dir), "GRAPHRAG_API_PORT": str(port),
           "GRAPHRAG_DB_URL": server.url, "GRAPHRAG_DB_PASSWORD": server.password,
           "GRAPHRAG_DB_NAME": e2e_db.database, "GRAPHRAG_API_MAX_BODY_BYTES": str(64 * 1024),
           "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("GRAPHRAG_DB_URLS", None)
    log = data_dir / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([unshare, "--user", "--map-root-user", "--mount", "sh", "-c", MOUNT_THEN_RUN, "sh",
                                 str(uploads), sys.executable, "-m", "cli", "serve"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(proc, url, log, timeout=300)
        yield url, Disk(proc.pid, uploads)
    finally:
        terminate(proc, timeout=60)


def test_a_full_disk_answers_507_saying_what_to_fix_and_readyz_reports_it_until_space_is_freed(
        served: tuple[str, Disk]) -> None:
    url, disk = served
    with httpx.Client(base_url=url, timeout=120) as http:
        storage = http.get("/readyz").json()["checks"]["storage"]
        assert storage["ok"], storage  # the 1 MiB disk has room for one 64 KiB upload
        disk.fill()
        for path in ("/v1/documents", "/v1/ingest/jobs"):
            response = http.post(path, files={"files": ("tidewater.md", NOTE)})
            assert response.status_code == 507, (path, response.text)
            error = response.json()["error"]
            assert error["code"] == "insufficient_storage" and "free space" in error["message"], error
            assert "GRAPHRAG_DATA_DIR" in error["message"] and str(disk.uploads) not in error["message"]
            assert response.headers["Retry-After"]
        ready = http.get("/readyz")
        assert ready.status_code == 503, ready.text
        checks = ready.json()["checks"]
        assert not checks["storage"]["ok"] and "disk full" in checks["storage"]["detail"], checks
        assert checks["database"]["ok"]  # the rest of the service is fine
        assert http.get("/v1/documents", params={"q": "Tidewater"}).json()["total"] == 0
        assert disk.leftovers() == []  # nothing half-written is left behind

        disk.free()
        wait_for(lambda: http.get("/readyz").status_code == 200, timeout=30)
        stored = http.post("/v1/documents", files={"files": ("tidewater.md", NOTE)})
        assert stored.status_code == 201, stored.text
        assert http.get("/v1/documents", params={"q": "Tidewater"}).json()["total"] == 1
