"""Every face through the command users run: `graphrag up`, as `make run` starts it (its own embedded
ArcadeDB, migrations, the sample corpus, the CPU answerer when installed), in a subprocess.

The other e2e modules build the app inside the test (`create_app(settings, components=...)`), which is
how `up` once differed from them unseen: it handed the app fixed parts, so every workspace but
`default` answered 503 under `make run` while every test passed. Here nothing is built in the test:
REST, workspaces (ingest job, retrieve, MCP), MCP over HTTP and the console in Chromium all go to the
process `up` started.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.server import SAMPLE_CORPUS
from graphrag.answer import NOTHING_FITS
from tests.conftest import free_port
from tests.e2e.conftest import terminate, wait_for, wait_until_ready
from tests.e2e.mcp_client import QUESTION, http_session

ROOT = Path(__file__).resolve().parents[2]
UNRELATED = "What is the boiling point of Zorblax at sea level?"
UNIQUE = "The Quorvian lighthouse keeper Adelmo Pratesi logged forty-one storms on Isola Bruna in 1911."


UP_LOGS: dict[str, Path] = {}  # base URL -> what `graphrag up` printed


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`graphrag up` on a fresh data folder and free ports, with the environment `make run` has
    (keyless loopback defaults); its base URL once /readyz answers 200. Stopped with SIGTERM."""
    data_dir = tmp_path_factory.mktemp("up")
    api_port = free_port()
    env = {**os.environ, "GRAPHRAG_DATA_DIR": str(data_dir), "GRAPHRAG_DB_PORT": str(free_port()),
           "GRAPHRAG_API_PORT": str(api_port), "GRAPHRAG_LLM_PORT": str(free_port()),
           "GRAPHRAG_DB_HEAP": "1g", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    for name in [n for n in env if n.startswith("GRAPHRAG_") and n.endswith(("DB_URL", "DB_PASSWORD", "LLM_BASE_URL"))]:
        env.pop(name)
    log = data_dir / "up.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "up"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                cwd=ROOT)
    url = f"http://127.0.0.1:{api_port}"
    try:
        wait_until_ready(proc, url, log, timeout=600)
        UP_LOGS[url] = log
        yield url
    finally:
        try:
            terminate(proc, timeout=120)
        finally:
            subprocess.run([sys.executable, "-m", "cli", "db", "stop"], env=env, capture_output=True, timeout=120,
                           cwd=ROOT)
        text = log.read_text()
        assert "stopped ArcadeDB" in text, text[-3000:]


def test_up_embeds_questions_on_onnx_runtime(up: str) -> None:
    """What `make run` starts embeds questions with ONNX Runtime (GRAPHRAG_API_QUESTION_RUNTIME's
    default), not with a TorchScript fallback it would only log."""
    text = UP_LOGS[up].read_text()
    assert "questions are embedded by the traced encoder in int8 on onnxruntime" in text, text[-3000:]


def test_rest_answers_the_banners_question_from_the_sample_corpus(up: str) -> None:
    response = httpx.post(f"{up}/v1/ask", json={"question": QUESTION}, timeout=300)
    assert response.status_code == 200, response.text
    body = response.json()
    # `up` ingested the six sample files, named by their file names
    samples = {p.name for p in SAMPLE_CORPUS.glob("*.md")}
    assert body["citations"] and {c["document_id"] for c in body["citations"]} <= samples, body["citations"]


def test_a_question_nothing_answers_says_so_over_rest_and_mcp(up: str) -> None:
    """The abstention signal through the command users run: an unrelated question is answered with
    "nothing in the documents answers this" and the closest passages, a related one is answered."""
    unrelated = httpx.post(f"{up}/v1/ask", json={"question": UNRELATED}, timeout=300).json()
    assert unrelated["answerable"] is False and unrelated["answer"].startswith(NOTHING_FITS), unrelated
    assert unrelated["citations"]
    related = httpx.post(f"{up}/v1/ask", json={"question": QUESTION}, timeout=300).json()
    assert related["answerable"] is True and not related["answer"].startswith(NOTHING_FITS), related
    if related["mode"] == "extractive":  # `up` answers with the CPU LLM when one is installed
        assert "Warsaw" in related["answer"] and "Vistula" in related["answer"], related["answer"]
    with http_session(f"{up}/mcp") as client:
        assert client.ok("ask", {"question": UNRELATED})["answerable"] is False
        assert client.ok("retrieve", {"question": QUESTION})["answerable"] is True


def test_a_new_workspace_ingests_retrieves_and_answers_over_rest_and_mcp(up: str) -> None:
    created = httpx.post(f"{up}/v1/workspaces", json={"name": "alpha"}, timeout=120)
    assert created.status_code == 201, created.text
    base = f"{up}/v1/workspaces/alpha"
    job = httpx.post(f"{base}/ingest/jobs", files=[("files", ("storms.md", f"# Isola Bruna\n\n{UNIQUE}\n"))],
                     timeout=120)
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]

    def finished() -> dict[str, object] | None:
        state = httpx.get(f"{base}/ingest/jobs/{job_id}", timeout=30).json()
        return state if state["state"] in ("succeeded", "failed") else None

    done = wait_for(finished, timeout=300, every=0.5)
    assert isinstance(done, dict) and done["state"] == "succeeded", done

    retrieved = httpx.post(f"{base}/retrieve", json={"question": "Who kept the lighthouse on Isola Bruna?"},
                           timeout=120)
    assert retrieved.status_code == 200, retrieved.text
    assert "Adelmo Pratesi" in retrieved.json()["sources"][0]["snippet"]
    listed = httpx.get(f"{base}/documents", timeout=30)
    assert listed.status_code == 200 and listed.json()["total"] == 1
    # the default workspace did not receive it
    in_default = httpx.post(f"{up}/v1/retrieve", json={"question": "Adelmo Pratesi lighthouse"}, timeout=120)
    assert in_default.status_code == 200
    assert not [s for s in in_default.json()["sources"] if "Pratesi" in s["snippet"]]
    with http_session(f"{base}/mcp") as client:
        found = client.ok("retrieve", {"question": "Who kept the lighthouse on Isola Bruna?"})
    assert "Adelmo Pratesi" in found["passages"][0]["text"]

    deleted = httpx.request("DELETE", f"{up}/v1/workspaces/alpha", json={"confirm": "alpha"}, timeout=120)
    assert deleted.status_code == 200, deleted.text
    assert httpx.post(f"{base}/retrieve", json={"question": "lighthouse"}, timeout=60).status_code == 404


def test_mcp_over_http_answers_with_citations(up: str) -> None:
    with http_session(f"{up}/mcp") as client:
        answer = client.ok("ask", {"question": QUESTION})
    assert answer["citations"] and answer["answer"]


def test_the_console_asks_in_a_real_browser(up: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from tests.e2e.test_web_console import CHROMIUM, CHROMIUM_FLAGS, WAIT_MS, Console

    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: run `make chromium`"
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=str(CHROMIUM),
                                                        headless=True, args=CHROMIUM_FLAGS,
                                                        viewport={"width": 1280, "height": 800})
        try:
            console = Console(context.new_page(), up, "up-console", {})
            console.page.goto(up + "/")
            console.page.wait_for_selector("#service-status:has-text('documents')", timeout=WAIT_MS)
            events = console.ask(QUESTION)
            console.shot()
            answered = (console.page.locator("#answer").get_attribute("data-answerable"),
                        console.page.locator("#sources-title").inner_text())
            unanswered = console.ask(UNRELATED)
            console.shot("nothing-fits")
            abstained = (console.page.locator("#answer").get_attribute("data-answerable"),
                         console.page.locator("#mode-badge").inner_text(),
                         console.page.locator("#sources-title").inner_text(),
                         console.page.locator("#sources .card").count())
        finally:
            context.close()
    assert [kind for kind, _ in events][-1] == "final"
    assert events[-1][1]["citations"]
    assert answered == ("true", "Sources")
    assert unanswered[-1][1]["answerable"] is False
    assert abstained[:3] == ("false", "not in the documents", "Closest passages (none answers the question)")
    assert abstained[3] >= 1  # the closest passages stay listed
    assert not console.problems, "\n".join(console.problems)
