"""The long form's share of issue 23, repeated with random draws against the real server: the workspace
race (an upload stalled across delete and re-create), PDF text bombs beside ordinary files, and many
slow bodies at once. The set-ups are the e2e tests' (`tests/e2e/test_tenancy_e2e.py`, `tests/pdfs.py`);
the short form deselects this module and leaves these to those tests (`--chaos-long` or CHAOS_LONG=1
runs them)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from api.components import ComponentFactory
from api.keys import Scope as KeyScope
from api.keys import create_key
from api.main import create_app
from graphrag.arcadedb import ArcadeDB
from graphrag.embedded import EmbeddedServer
from graphrag.embeddings import SentenceTransformerEmbedder
from tests.chaos.conftest import Form, rng_for
from tests.chaos.harness import Results, Trial
from tests.conftest import free_port
from tests.e2e.conftest import app_settings, auth, live_server, wait_for
from tests.e2e.test_tenancy_e2e import BodyWatch, stalled_upload, trickle_upload
from tests.pdfs import write_pdf

MAX_CHARS = 100_000


@pytest.fixture(scope="module")
def long_form(form: Form) -> Form:
    """The long form's trial counts (the short form deselects this module: see tests/chaos/conftest.py)."""
    assert form.name == "long", "this module runs in the long form only (--chaos-long or CHAOS_LONG=1)"
    return form


@pytest.fixture(scope="module")
def tenancy(long_form: Form, server: EmbeddedServer, make_db: Callable[..., ArcadeDB],
            embedder: SentenceTransformerEmbedder,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    db = make_db("chaos_tenancy")
    ingest_dir = tmp_path_factory.mktemp("chaos-ingest")
    settings = app_settings(server, db.database, tmp_path_factory.mktemp("chaos-data"),
                            api_allowed_ingest_dir=ingest_dir, ingest_max_chars=MAX_CHARS)
    app = create_app(settings, components=ComponentFactory(embedder=embedder))
    watch = BodyWatch(app)
    with live_server(watch) as url:
        yield {"url": url, "watch": watch, "db": db, "settings": settings, "ingest_dir": ingest_dir,
               "global": auth(create_key(db, KeyScope.global_, "chaos-global")[0])}


def _ended(http: httpx.Client, path: str, headers: dict[str, str]) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        body = http.get(path, headers=headers).json()
        return body if body["state"] not in ("queued", "running") else None

    return wait_for(check, timeout=300)  # type: ignore[return-value]


def test_workspace_race(tenancy: dict[str, Any], long_form: Form, chaos_seed: int, results: Results) -> None:
    """An upload authorised for a workspace, stalled mid-body while the workspace is deleted (and, drawn,
    made again): it never lands, and the name's new workspace holds nothing of it."""
    url, watch, g = tenancy["url"], tenancy["watch"], tenancy["global"]
    failures = []
    for n in range(long_form.workspace_races):
        rng = rng_for(chaos_seed, "workspace race", n)
        target = rng.choice(["documents", "ingest/jobs"])
        recreate = rng.random() < 0.7
        name = f"race{n}"
        path = f"/v1/workspaces/{name}/{target}"
        detail = (f"upload to {target} stalled at half, workspace deleted, made again "
                  + ("while it stalls" if recreate else "after it ended"))
        with httpx.Client(base_url=url, timeout=300) as http, httpx.Client(base_url=url, timeout=300) as slow:
            assert http.post("/v1/workspaces", json={"name": name}, headers=g).status_code == 201
            admin = auth(create_key(tenancy["db"], KeyScope.admin, f"{name}-admin", [name])[0])
            go = threading.Event()
            watch.arm(path)
            headers, body = stalled_upload(go, f"tenant-{n}.md", f"# Tenant {n}\n\nTenant {n} holds the "
                                           f"Quellmere bond number {rng.randrange(10**6)}.\n")
            with ThreadPoolExecutor(1) as pool:
                pending = pool.submit(slow.post, path, content=body, headers={**admin, **headers})
                try:
                    wait_for(watch.reading.is_set)
                    time.sleep(rng.uniform(0, 0.5))  # the delete lands at a drawn point of the stall
                    gone = http.request("DELETE", f"/v1/workspaces/{name}", json={"confirm": name}, headers=g)
                    if recreate:
                        http.post("/v1/workspaces", json={"name": name}, headers=g)
                finally:
                    go.set()
                late = pending.result()
            code = late.json().get("error", {}).get("code") if late.status_code >= 400 else None
            if not recreate:  # made again only now: the name must not bring back the late upload's job
                http.post("/v1/workspaces", json={"name": name}, headers=g)
            leaked = (http.get(f"/v1/workspaces/{name}/documents", headers=g).json()["total"]
                      + len(http.get(f"/v1/workspaces/{name}/ingest/jobs", headers=g).json()["items"]))
            ok = gone.status_code == 200 and late.status_code in (404, 409) and code == "workspace_gone" \
                and leaked == 0
        results.add(Trial("workspace race", str(n), detail,
                          f"delete {gone.status_code}, late upload {late.status_code} {code}, "
                          f"{leaked} leftovers in the new workspace", ok))
        if not ok:
            failures.append(n)
    assert failures == [], f"trials {failures} let a deleted workspace's upload through (see the chaos table)"


def test_pdf_bomb(tenancy: dict[str, Any], long_form: Form, chaos_seed: int, results: Results) -> None:
    """A PDF of a few KB expanding past the character budget, in a job beside ordinary files: it fails
    naming its cap, the rest of the job is ingested, and the job ends in bounded time."""
    url, g, ingest_dir = tenancy["url"], tenancy["global"], tenancy["ingest_dir"]
    failures = []
    for n in range(long_form.pdf_bombs):
        rng = rng_for(chaos_seed, "pdf bomb", n)
        pages, words = rng.randrange(1, 30), rng.randrange(8_000, 60_000)
        folder = ingest_dir / f"bomb{n}"
        folder.mkdir()
        bomb = write_pdf(folder / "bomb.pdf", pages=pages, words_per_page=words)
        fine = rng.randrange(1, 4)
        for k in range(fine):
            (folder / f"fine-{k}.md").write_text(f"# Fine {k}\n\nA fine note {k} on the Tromsvik Academy.\n",
                                                 encoding="utf-8")
        started = time.monotonic()
        with httpx.Client(base_url=url, timeout=300) as http:
            created = http.post("/v1/ingest/jobs", json={"paths": [f"bomb{n}"]}, headers=g)
            job = _ended(http, f"/v1/ingest/jobs/{created.json()['id']}", g) if created.status_code == 202 else {}
        took = time.monotonic() - started
        failed = job.get("summary", {}).get("failed", [])
        ok = (job.get("state") == "succeeded" and job["summary"]["documents"] == fine and len(failed) == 1
              and "GRAPHRAG_INGEST_MAX_CHARS" in failed[0] and took < 120)
        results.add(Trial("pdf bomb", str(n), f"{bomb.stat().st_size:,} B PDF, {pages} pages x {words:,} words "
                          f"(~{pages * words * 16:,} chars), beside {fine} files",
                          f"job {job.get('state')} in {took:.1f} s, {job.get('summary', {}).get('documents')} "
                          f"documents, failed: {failed}", ok))
        if not ok:
            failures.append(n)
    assert failures == [], f"trials {failures}: a PDF bomb was not contained (see the chaos table)"


def test_slow_bodies(tenancy: dict[str, Any], long_form: Form, embedder: SentenceTransformerEmbedder,
                     results: Results) -> None:
    """Many connections trickling a body at once on the keyless default (`graphrag serve`'s protocol):
    each is answered 408 once the body timeout has passed, and nothing is stored."""
    timeout_s = 2.0
    settings = tenancy["settings"].model_copy(update={"api_keys_required": False, "api_port": free_port(),
                                                      "api_body_timeout_s": timeout_s})
    with live_server(create_app(settings, components=ComponentFactory(embedder=embedder)), settings) as url:
        with ThreadPoolExecutor(long_form.slow_bodies) as pool:
            answers = list(pool.map(lambda _: trickle_upload(settings.api_port, 60.0), range(long_form.slow_bodies)))
        cut = [took for answer, took in answers if answer.startswith(b"HTTP/1.1 408")]
        with httpx.Client(base_url=url, timeout=60) as http:
            stored = http.get("/v1/documents", params={"q": "slow"}).json()["total"]
    slowest = max(cut, default=0.0)
    ok = len(cut) == len(answers) and slowest < timeout_s + 15 and stored == 0
    results.add(Trial("slow bodies", "1", f"{len(answers)} connections trickling a byte per 100 ms, body "
                      f"timeout {timeout_s:.0f} s", f"{len(cut)} answered 408, the last after {slowest:.1f} s; "
                      f"{stored} stored", ok))
    assert ok, f"{len(cut)}/{len(answers)} cut with 408, slowest {slowest:.1f} s, {stored} stored"
