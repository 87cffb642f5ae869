"""The web console in a real browser: Debian's Chromium, driven by Playwright, against the real app
(uvicorn on a free port) over the session's real ArcadeDB, with the sample corpus uploaded.

Chromium never comes from Playwright's own downloads: `/usr/bin/chromium` (`make chromium` installs
it) with the flags this network-less machine needs. When it cannot start the tests fail, never skip.
Every test fails on a console error or an uncaught page error, except the network log lines of the
HTTP statuses that test provokes on purpose (a 401 that opens the key prompt, a 422 for bad input).
Screenshots of each test's end state (and a few steps) go to test-artifacts/web/ (gitignored).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from api.components import ComponentFactory
from api.deps import Components
from api.main import create_app
from api.server import SAMPLE_CORPUS
from graphrag.answer import Answerer
from graphrag.config import Settings
from graphrag.embeddings import SentenceTransformerEmbedder
from graphrag.llm import LLMClient
from graphrag.local_llm import LocalLLMServer
from graphrag.retrieval import HybridRetriever
from graphrag.types import SourceDocument
from tests.e2e.conftest import live_server, own_database, uploaded_id, wait_for
from tests.integration import tiny_http as th

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
QUESTION = "Which river flows through the city where Marie Curie was born?"
WAIT_MS = 180_000  # a bound for slow steps on a loaded 2-core machine, not a timing assertion


def wait_for_more_nodes(page: Any, nodes_before: int) -> None:
    """Until the graph shows more than `nodes_before` nodes, polled from here: the page's CSP refuses the
    `eval` that `page.wait_for_function` needs once it has to poll."""
    wait_for(lambda: int(page.locator("#graph-canvas").get_attribute("data-nodes") or 0) > nodes_before,
             timeout=WAIT_MS / 1000, every=0.1)
_NETWORK_ERROR = re.compile(r"Failed to load resource: the server responded with a status of (\d{3})")


# --- the server ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def base_url(settings: Settings, components: Components, keys: dict[str, str]) -> Iterator[str]:
    """The real app under uvicorn, with the six sample documents uploaded through its API."""
    with live_server(create_app(settings, components=components)) as url:
        files = [("files", (p.name, p.read_bytes(), "text/markdown")) for p in sorted(SAMPLE_CORPUS.glob("*.md"))]
        response = httpx.post(f"{url}/v1/documents", files=files, headers={"X-API-Key": keys["admin"]}, timeout=600)
        assert response.status_code == 201, response.text
        yield url


# --- the browser -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """Debian's Chromium with a fresh profile folder; a failure to start fails the tests."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (apt-get install chromium)")
    try:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": 800}, accept_downloads=False)
    except PlaywrightError as exc:
        pytest.fail(f"Chromium could not start: {exc}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield context
    context.close()


class Console:
    """One browser tab on the console, with what it logged."""

    def __init__(self, page: Page, base_url: str, name: str, keys: dict[str, str]):
        self.page = page
        self.base_url = base_url
        self.name = name
        self.keys = keys
        self.problems: list[str] = []
        self.allowed_statuses: set[int] = set()
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"uncaught page error: {exc}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        network = _NETWORK_ERROR.search(message.text)
        if network and int(network.group(1)) in self.allowed_statuses:
            return
        self.problems.append(f"console error: {message.text} (at {message.location.get('url')})")

    def allow(self, *statuses: int) -> None:
        """HTTP statuses this test provokes on purpose: their network log lines are not failures."""
        self.allowed_statuses.update(statuses)

    def open(self, key: str | None, path: str = "/") -> None:
        """Load the console; the first API call meets 401 and the key prompt, answered with `key`."""
        self.allow(401)
        self.page.goto(self.base_url + path)
        if key is not None:
            self.enter_key(key)
            self.page.wait_for_selector("#service-status:has-text('documents')", timeout=WAIT_MS)

    def enter_key(self, key: str) -> None:
        self.page.wait_for_selector("#key-dialog[open]", timeout=WAIT_MS)
        self.page.fill("#key-input", key)
        self.page.press("#key-input", "Enter")
        self.page.wait_for_selector("#key-dialog", state="hidden", timeout=WAIT_MS)

    def shot(self, label: str = "", *, full_page: bool = True) -> Path:
        path = ARTIFACTS / f"{self.name}{'-' + label if label else ''}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def ask(self, question: str, endpoint: str = "/v1/ask") -> list[tuple[str, Any]]:
        """Ask through the form (Enter key); the SSE events the page received (from `endpoint`, the
        default workspace's unless told), once it shows the answer."""
        self.page.fill("#question", question)
        with self.page.expect_response(lambda r: r.url.endswith(endpoint), timeout=WAIT_MS) as info:
            self.page.press("#question", "Enter")
        self.page.wait_for_selector("#answer[data-state=done], #answer[data-state=failed]", timeout=WAIT_MS)
        return sse_events(info.value.text())

    def documents_shown(self) -> list[str]:
        return [row.get_attribute("data-id") or "" for row in self.page.locator("#documents-body tr").all()]

    def row_shown(self, doc_id: str) -> list[str]:
        """A listed document's title, source and id, as the table shows them."""
        return self.page.locator(f"#documents-body tr[data-id='{doc_id}'] td").all_inner_texts()[:3]


@pytest.fixture
def console(browser: BrowserContext, base_url: str, keys: dict[str, str],
            request: pytest.FixtureRequest) -> Iterator[Console]:
    page = browser.new_page()  # a new tab: an empty sessionStorage, so no API key yet
    view = Console(page, base_url, request.node.name, keys)
    yield view
    try:
        view.shot()
    finally:
        page.close()
    assert not view.problems, "\n".join(view.problems)


def sse_events(text: str) -> list[tuple[str, Any]]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def drop_files(page: Page, selector: str, files: dict[str, str]) -> None:
    """Drag and drop: a real `drop` event whose DataTransfer holds these files, as a file manager sends."""
    transfer = page.evaluate_handle("""files => {
        const transfer = new DataTransfer();
        for (const [name, text] of Object.entries(files)) transfer.items.add(new File([text], name));
        return transfer;
    }""", files)
    page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def assert_markers_link_to_their_cards(page: Page, final: dict[str, Any]) -> None:
    """Each `[n]` the answer cites is a link to source card n, which shows the passage cited as n."""
    cited = {c["n"]: c for c in final["citations"]}
    links = page.locator("#answer a.cite")
    numbers = [int(links.nth(i).get_attribute("data-n") or 0) for i in range(links.count())]
    assert set(numbers) == set(cited), (numbers, cited)
    for n in numbers:
        assert page.locator(f"#answer a.cite[data-n='{n}']").first.get_attribute("href") == f"#source-{n}"
        card = page.locator(f"#source-{n}")
        assert card.get_attribute("data-chunk") == cited[n]["chunk_id"]
        assert cited[n]["title"] in card.locator("h4").inner_text()


# --- the scenarios ---------------------------------------------------------------------------------

def test_asking_streams_an_answer_whose_markers_link_to_the_right_cards(console: Console) -> None:
    page = console.page
    console.open(None)
    page.wait_for_selector("#key-dialog[open]", timeout=WAIT_MS)
    assert page.locator("#key-reason").inner_text() == "This service requires an API key."
    assert page.locator("#workspace-picker").is_hidden()  # nothing to choose before a key lists any
    console.shot("key-prompt", full_page=False)
    console.enter_key(console.keys["read"])
    events = console.ask(QUESTION)
    assert page.locator("#workspace-picker").is_hidden()  # this key reaches `default` alone
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "sources" and kinds[-1] == "final" and "token" in kinds
    final = events[-1][1]
    assert page.locator("#answer").get_attribute("data-state") == "done"
    assert int(page.locator("#answer").get_attribute("data-tokens") or 0) == kinds.count("token")
    assert " ".join(page.locator("#answer").inner_text().split()) == " ".join(final["answer"].split())
    assert page.locator("#mode-badge").inner_text() == "extractive"
    assert page.locator("[data-timing=total]").inner_text().endswith(("ms", " s"))
    assert final["citations"]
    assert_markers_link_to_their_cards(page, final)
    assert {c["title"] for c in final["citations"]} & {"Warsaw", "Marie Curie"}

    sources = events[0][1]["sources"]
    assert page.locator("#sources article.card").count() == len(sources)
    assert page.locator("#source-1 mark").count() + page.locator("#source-2 mark").count() > 0  # names marked
    first = final["citations"][0]["n"]
    page.locator(f"#answer a.cite[data-n='{first}']").first.click()
    assert page.evaluate("document.activeElement.id") == f"source-{first}"
    assert "flash" in (page.locator(f"#source-{first}").get_attribute("class") or "")

    graph = events[0][1]["graph"]
    assert int(page.locator("#graph-canvas").get_attribute("data-nodes") or 0) == len(graph["nodes"])
    for source in sources:
        assert page.locator(f"#graph-list button[data-node='p:{source['chunk_id']}']").count() == 1
    assert page.locator("#graph-list button[data-kind=seed]").count() >= 1
    assert not page.evaluate("document.documentElement.scrollWidth > window.innerWidth")  # nothing overflows


def test_a_streamed_llm_answer_shows_its_tokens_and_links(browser: BrowserContext, settings: Settings,
                                                          components: Components, keys: dict[str, str],
                                                          base_url: str, llm_server: LocalLLMServer,
                                                          request: pytest.FixtureRequest) -> None:
    """The real CPU answerer (SmolLM2 under llama.cpp) streams many tokens: the page grows the answer
    from them and links whatever markers the model wrote to their cards."""
    client = LLMClient(llm_server.url, "smollm2", timeout_s=300, temperature=0.0, max_tokens=64)
    with_llm = dataclasses.replace(components, answerer=Answerer(client, context_tokens=2048, max_tokens=64),
                                   closers=[])
    with live_server(create_app(settings, components=with_llm)) as url:
        console = Console(browser.new_page(), url, request.node.name, keys)
        try:
            console.open(keys["read"])
            events = console.ask(QUESTION)
            console.shot()
            kinds = [kind for kind, _ in events]
            final = events[-1][1]
            assert kinds[-1] == "final" and final["mode"] == "llm", events[-1]
            assert kinds.count("token") > 1
            page = console.page
            assert int(page.locator("#answer").get_attribute("data-tokens") or 0) == kinds.count("token")
            streamed = "".join(data["text"] for kind, data in events if kind == "token")
            assert streamed.strip() == final["answer"].strip()
            assert " ".join(page.locator("#answer").inner_text().split()) == " ".join(final["answer"].split())
            assert page.locator("#mode-badge").inner_text() == "LLM"
            assert page.locator("[data-timing=first_token]").count() == 1
            assert_markers_link_to_their_cards(page, final)  # whichever the model wrote (SmolLM2 may write none)
        finally:
            console.page.close()
    assert not console.problems, "\n".join(console.problems)


def test_upload_find_ask_delete_and_gone(console: Console) -> None:
    page = console.page
    keys = console.keys
    console.open(keys["admin"])
    page.click("nav a[data-view=documents]")
    page.wait_for_selector("#documents-body tr", timeout=WAIT_MS)
    text = ("# Zelkova Observatory\nThe first director of the Zelkova Observatory was Odile Fenwright. "
            "The observatory stands on Mount Quarrin, where she catalogued the comets of 1911.")
    drop_files(page, "#dropzone", {"zelkova-observatory.md": text})
    page.wait_for_selector("#upload-status:has-text('job-')", timeout=WAIT_MS)
    zelkova = uploaded_id(text)  # an upload's id comes from its bytes; people find it by its file name
    row = f"#documents-body tr[data-id='{zelkova}']"
    page.fill("#filter", "observatory.md")  # the list refreshes itself when the job ends; the filter narrows it
    page.wait_for_selector(row, timeout=WAIT_MS)
    assert console.documents_shown() == [zelkova]
    assert console.row_shown(zelkova) == ["Zelkova Observatory", "zelkova-observatory.md", zelkova]
    assert "1–1 of 1 documents matching “observatory.md”" in page.locator("#documents-caption").inner_text()
    console.shot("listed")

    page.click(f"{row} a")  # one document: its chunks and entities
    page.wait_for_selector("#document-chunks .chunk", timeout=WAIT_MS)
    assert page.url.endswith(f"#/documents/{zelkova}")
    assert page.locator("#document-title").inner_text() == "Zelkova Observatory"
    assert page.locator("#document-meta dd").all_inner_texts()[:2] == ["zelkova-observatory.md", zelkova]
    assert "Odile Fenwright" in page.locator("#document-chunks").inner_text()
    assert page.locator("#document-entities button", has_text="Odile Fenwright").count() == 1
    console.shot("document")

    page.click("nav a[data-view=ask]")
    events = console.ask("Who was the first director of the Zelkova Observatory?")
    final = events[-1][1]
    assert "Odile Fenwright" in page.locator("#answer").inner_text()
    assert any(c["document_id"] == zelkova for c in final["citations"])
    assert page.locator(f"#sources article[data-document='{zelkova}'] a",
                        has_text="Open the document “Zelkova Observatory”").count() >= 1
    assert_markers_link_to_their_cards(page, final)

    page.click("nav a[data-view=documents]")
    page.fill("#filter", "zelkova")
    page.wait_for_selector(row, timeout=WAIT_MS)
    page.click(f"{row} button")
    page.wait_for_selector("#confirm-dialog[open]")
    confirm = page.locator("#confirm-text").inner_text()
    assert confirm.startswith(f"“Zelkova Observatory” (zelkova-observatory.md, {zelkova}) and its "), confirm
    page.click("#confirm-cancel")  # cancelling keeps it
    assert page.locator(row).count() == 1
    page.click(f"{row} button")
    page.click("#confirm-delete")
    page.wait_for_selector("#documents-caption:has-text('No document matches')", timeout=WAIT_MS)
    assert console.documents_shown() == []

    page.click("nav a[data-view=ask]")
    events = console.ask("Who was the first director of the Zelkova Observatory?")
    assert all(s["document_id"] != zelkova for s in events[0][1]["sources"])
    assert page.locator(f"#sources article[data-document='{zelkova}']").count() == 0


def test_expanding_an_entity_draws_its_neighbours(console: Console) -> None:
    page = console.page
    console.open(console.keys["read"])
    console.ask(QUESTION)
    canvas = page.locator("#graph-canvas")
    nodes_before = int(canvas.get_attribute("data-nodes") or 0)
    assert page.locator("#graph-list button[data-node='e:warsaw']").count() == 1

    # a click on the drawn node, where Cytoscape rendered it
    at = page.evaluate("""() => {
        const node = window.graphragConsole.cy.getElementById('e:warsaw');
        const box = document.getElementById('graph-canvas').getBoundingClientRect();
        const p = node.renderedPosition();
        return {x: box.left + p.x, y: box.top + p.y};
    }""")
    with page.expect_response(lambda r: "/v1/graph/entities/warsaw" in r.url, timeout=WAIT_MS) as info:
        page.mouse.click(at["x"], at["y"])
    neighbourhood = info.value.json()
    neighbours = [n["key"] for n in neighbourhood["nodes"] if n["key"] != "warsaw"]
    assert neighbours
    wait_for_more_nodes(page, nodes_before)
    for key in neighbours:
        assert page.locator(f"#graph-list button[data-node='e:{key}']").count() == 1
        assert page.evaluate(f"window.graphragConsole.cy.getElementById({json.dumps('e:' + key)}).length") == 1
    drawn_edges = page.evaluate("window.graphragConsole.cy.edges().length")
    assert drawn_edges >= len(neighbourhood["edges"])
    console.shot("expanded", full_page=False)  # docs/img/console-ask.png comes from this one

    # the same with the keyboard: a neighbour's button, Enter
    neighbour = page.locator("#graph-list button[data-kind=neighbour]").first
    key = (neighbour.get_attribute("data-node") or "")[2:]
    with page.expect_response(lambda r: "/v1/graph/entities/" in r.url, timeout=WAIT_MS) as info:
        neighbour.focus()
        page.keyboard.press("Enter")
    assert info.value.status == 200 and info.value.json()["key"] == key

    # a passage opens its document
    page.locator("#graph-list button[data-kind=passage]", has_text="Warsaw").first.click()
    page.wait_for_selector("#view-document:not([hidden]) #document-chunks .chunk", timeout=WAIT_MS)
    assert page.url.endswith("#/documents/" + uploaded_id(SAMPLE_CORPUS / "warsaw.md"))
    assert page.locator("#document-meta dd").first.inner_text() == "warsaw.md"
    assert "Vistula" in page.locator("#document-chunks").inner_text()


def test_a_job_shows_progress_to_completion(console: Console) -> None:
    page = console.page
    console.open(console.keys["admin"], "/#/documents")
    files = {"krakow.md": "# Kraków\nKraków lies on the Vistula river in southern Poland.",
             "torun.md": "# Toruń\nToruń is a city on the Vistula, birthplace of Nicolaus Copernicus.",
             "plock.txt": "Płock is one of the oldest cities in Poland, on the Vistula.",
             "notes.exe": "not a document"}
    drop_files(page, "#dropzone", files)
    page.wait_for_selector("#upload-status:has-text('job-')", timeout=WAIT_MS)
    assert "notes.exe" in page.locator("#documents-error").inner_text()  # refused, and said so
    job_id = re.search(r"job-[0-9a-f]+", page.locator("#upload-status").inner_text()).group(0)  # type: ignore[union-attr]
    page.click("#upload-status a")  # "follow its progress"
    job = f"#jobs li.job[data-id='{job_id}']"
    page.wait_for_selector(job, timeout=WAIT_MS)
    assert page.locator(f"{job} progress").get_attribute("max") == "3"
    console.shot("running")
    page.wait_for_selector(f"{job}[data-state=succeeded]", timeout=WAIT_MS)
    progress = page.locator(f"{job} progress")
    assert progress.get_attribute("value") == progress.get_attribute("max") == "3"
    assert page.locator(f"{job} p.small").inner_text() == "3 / 3 files"
    assert page.locator(f"{job} .summary").inner_text().startswith("3 new or replaced")
    page.click("nav a[data-view=documents]")
    torun = uploaded_id(files["torun.md"])
    page.fill("#filter", "toruń")  # by its title
    page.wait_for_selector("#documents-caption:has-text('matching “toruń”')", timeout=WAIT_MS)
    assert console.documents_shown() == [torun]
    page.fill("#filter", "torun.md")  # by its file name
    page.wait_for_selector("#documents-caption:has-text('matching “torun.md”')", timeout=WAIT_MS)
    assert console.documents_shown() == [torun]
    assert console.row_shown(torun) == ["Toruń", "torun.md", torun]


def test_a_wrong_api_key_shows_the_prompt(console: Console) -> None:
    page = console.page
    keys = console.keys
    console.open(None)
    page.wait_for_selector("#key-dialog[open]", timeout=WAIT_MS)
    page.fill("#key-input", "grk_wrong")  # the first prompt takes a wrong key ...
    page.press("#key-input", "Enter")
    page.wait_for_selector("#key-reason:has-text('not accepted')", timeout=WAIT_MS)  # ... and it asks again, saying why
    assert page.locator("#key-dialog").is_visible()
    assert page.locator("#key-reason").inner_text() == "The API key was not accepted: the API key is not valid."
    console.shot("wrong-key", full_page=False)
    console.enter_key(keys["read"])
    page.wait_for_selector("#service-status:has-text('documents')", timeout=WAIT_MS)
    assert page.evaluate("sessionStorage.getItem('graphrag.apiKey')") == keys["read"]

    console.allow(403)  # a read key cannot see jobs: the page says so
    page.click("nav a[data-view=jobs]")
    page.wait_for_selector("#jobs-error:not([hidden])", timeout=WAIT_MS)
    assert "Not allowed with this API key: this operation needs the 'admin' scope." in page.locator(
        "#jobs-error").inner_text()

    page.click("#key-button")  # changing the key by hand
    console.enter_key(keys["admin"])
    page.click("nav a[data-view=ask]")
    page.click("nav a[data-view=jobs]")
    page.wait_for_selector("#jobs li.job", timeout=WAIT_MS)
    assert page.locator("#jobs-error").is_hidden()


def test_bad_input_gets_a_clear_message(console: Console) -> None:
    page = console.page
    console.open(console.keys["read"])
    page.fill("#question", "   ")
    page.press("#question", "Enter")
    assert page.locator("#ask-error").inner_text() == "Type a question first."

    console.allow(422)
    page.fill("#question", "???")
    page.press("#question", "Enter")
    page.wait_for_selector("#ask-error:has-text('Please check the input')", timeout=WAIT_MS)
    assert "question" in page.locator("#ask-error").inner_text()
    assert "at least one letter or digit" in page.locator("#ask-error").inner_text()
    page.fill("#top-k", "500")
    page.fill("#question", QUESTION)
    page.press("#question", "Enter")
    page.wait_for_selector("#ask-error:has-text('top_k')", timeout=WAIT_MS)
    console.shot("422")

    console.allow(404)
    page.goto(console.base_url + "/#/documents/no-such-document")
    page.wait_for_selector("#document-error:not([hidden])", timeout=WAIT_MS)
    assert page.locator("#document-error").inner_text() == "There is no document “no-such-document” (deleted?)."


def test_readable_on_a_phone_and_usable_with_the_keyboard(console: Console) -> None:
    page = console.page
    page.set_viewport_size({"width": 390, "height": 844})
    console.open(console.keys["read"])
    page.keyboard.press("Tab")  # the skip link first
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#main"
    for _ in range(30):  # then on through the header to the question box
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "question":
            break
    assert page.evaluate("document.activeElement.id") == "question"
    page.keyboard.type(QUESTION)
    with page.expect_response(lambda r: r.url.endswith("/v1/ask"), timeout=WAIT_MS):
        page.keyboard.press("Enter")
    page.wait_for_selector("#answer[data-state=done]", timeout=WAIT_MS)
    assert not page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    box = page.locator("#graph-canvas").bounding_box()
    assert box is not None and box["width"] <= 390
    console.shot("answer", full_page=False)  # docs/img/console-phone.png comes from this one


def test_a_database_outage_is_explained_and_retried(browser: BrowserContext, embedder: SentenceTransformerEmbedder,
                                                     tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Its own ArcadeDB, stopped under the page: the ask answers 503, the page says the database is
    unavailable and when it retries, and it does retry (a second request) after Retry-After."""
    with own_database(tmp_path, embedder, api_retry_after_s=2) as own:
        srv, settings, parts = own.server, own.settings, own.components
        assert parts.ingestor is not None and isinstance(parts.retriever, HybridRetriever)
        parts.ingestor.ingest_documents([SourceDocument(id="curie", source="test", title="Marie Curie",
                                                        text="Marie Curie was born in Warsaw in 1867.")])
        with live_server(create_app(settings, components=parts)) as url:
            console = Console(browser.new_page(), url, request.node.name, {})
            console.allow(503)
            try:
                page = console.page
                page.goto(url + "/")
                page.wait_for_selector("#service-status:has-text('1 document')", timeout=WAIT_MS)
                srv.stop()  # every request reads the database: the next one meets the outage
                page.fill("#question", "Where was Marie Curie born?")
                with page.expect_response(lambda r: r.url.endswith("/v1/ask"), timeout=WAIT_MS) as first:
                    page.press("#question", "Enter")
                assert first.value.status == 503
                page.wait_for_selector("#ask-error:has-text('Retrying in')", timeout=WAIT_MS)
                text = page.locator("#ask-error").inner_text()
                assert text.startswith("The database is unavailable: the database is unreachable; retry later.")
                assert "(attempt 1 of 3)" in text
                console.shot("503")
                with page.expect_response(lambda r: r.url.endswith("/v1/ask"), timeout=WAIT_MS) as again:
                    pass  # the page asks again by itself once Retry-After has passed
                assert again.value.status == 503
                page.wait_for_selector("#ask-error:has-text('Ask again later')", timeout=WAIT_MS)
                console.shot()
            finally:
                console.page.close()
        assert not console.problems, "\n".join(console.problems)


async def _llm_that_breaks_mid_answer(request: th.Request, writer: Any) -> None:
    """An OpenAI-compatible server whose streamed answer breaks after two tokens (a garbage event)."""
    if request.path.endswith("/models"):
        await th.send(writer, 200, {"object": "list", "data": [{"id": "tiny", "object": "model"}]})
        return
    await th.send_stream_head(writer)
    await th.send_event(writer, th.chunk("The Vistula flows"))
    await th.send_event(writer, th.chunk(" through Warsaw [1]"))
    await th.send_event(writer, "{broken")


def test_a_stream_error_event_is_shown(browser: BrowserContext, settings: Settings, components: Components,
                                       keys: dict[str, str], base_url: str, request: pytest.FixtureRequest) -> None:
    """A language model (a real local HTTP server) that breaks mid-answer: the tokens already shown
    stay, marked incomplete, and the stream's `error` event is shown in words."""
    with th.TinyServer(_llm_that_breaks_mid_answer) as llm:
        answerer = Answerer(LLMClient(llm.url, "tiny", timeout_s=30, retries=0), context_tokens=2048, max_tokens=64)
        broken = dataclasses.replace(components, answerer=answerer, closers=[])
        with live_server(create_app(settings, components=broken)) as url:
            console = Console(browser.new_page(), url, request.node.name, keys)
            try:
                console.open(keys["read"])
                events = console.ask(QUESTION)
                page = console.page
                assert [kind for kind, _ in events] == ["sources", "token", "token", "error"]
                assert page.locator("#answer").get_attribute("data-state") == "failed"
                assert "incomplete" in (page.locator("#answer").get_attribute("class") or "")
                assert page.locator("#answer").inner_text() == "The Vistula flows through Warsaw [1]"
                assert page.locator("#answer a.cite[href='#source-1']").count() == 1
                message = page.locator("#ask-error").inner_text()
                assert message.startswith("The answer broke off: the language model stopped mid-answer; "
                                          "the answer is incomplete (request ")
                console.shot()
            finally:
                console.page.close()
    assert not console.problems, "\n".join(console.problems)


# One distinct document per workspace; no rare word of one is in the other, so a card, row or
# answer that shows the other's words came from the wrong workspace.
WORKSPACE_DOCS = {
    "alpha": {"id": "alpha-glacier", "title": "Zorvath Glacier", "text": "The Zorvath Glacier lies above the town "
              "of Quellmere. Quellmere was founded by the surveyor Ilsa Brandvik in 1821, who mapped the glacier."},
    "beta": {"id": "beta-foundry", "title": "Okonkwo Foundry", "text": "The Okonkwo Foundry stands in the port of "
             "Lagossa. It was built by the engineer Chidi Okafor, who cast the Lagossa Bell at the foundry."},
}


def wait_for_status(page: Page, count: str) -> None:
    """Until the header's status starts with `count` ("1 document"), the chosen workspace's count."""
    page.wait_for_function("""count => {
        const text = document.getElementById('service-status').textContent;
        return text === count || text.startsWith(count + ' ');
    }""", arg=count, timeout=WAIT_MS)


def test_the_workspace_picker_scopes_every_view(browser: BrowserContext, settings: Settings,
                                                embedder: SentenceTransformerEmbedder, keys: dict[str, str],
                                                base_url: str, request: pytest.FixtureRequest) -> None:
    """A workspace-aware app (the module's database, with the sample corpus, is `default`) with
    `alpha` and `beta` holding a document each: whichever the picker chooses, the documents, the
    uploads, the answers and their sources are that workspace's alone; switching empties the page;
    the choice outlives a reload, and falls back to `default` once its workspace is deleted."""
    admin = {"X-API-Key": keys["global"]}
    with live_server(create_app(settings, components=ComponentFactory(embedder=embedder))) as url:
        for ws, doc in WORKSPACE_DOCS.items():
            created = httpx.post(f"{url}/v1/workspaces", json={"name": ws}, headers=admin, timeout=300)
            assert created.status_code == 201, created.text
            stored = httpx.post(f"{url}/v1/workspaces/{ws}/documents", json=doc, headers=admin, timeout=600)
            assert stored.status_code == 201, stored.text
        console = Console(browser.new_page(), url, request.node.name, keys)
        page = console.page
        try:
            console.open(keys["global"], "/#/documents")
            page.wait_for_selector("#documents-body tr", timeout=WAIT_MS)
            assert page.locator("#workspace-picker").is_visible()
            assert page.locator("#workspace option").all_inner_texts() == ["default", "alpha", "beta"]
            assert page.input_value("#workspace") == "default"
            assert page.locator("label[for=workspace]").inner_text() == "Workspace"
            warsaw = uploaded_id(SAMPLE_CORPUS / "warsaw.md")
            page.fill("#filter", "warsaw.md")
            page.wait_for_selector(f"#documents-body tr[data-id='{warsaw}']", timeout=WAIT_MS)
            console.shot("default")

            # alpha: its one document (the filter typed in default is gone), its answers
            with page.expect_response(lambda r: "/v1/workspaces/alpha/documents?" in r.url, timeout=WAIT_MS):
                page.select_option("#workspace", "alpha")
            page.wait_for_selector("#documents-body tr[data-id='alpha-glacier']", timeout=WAIT_MS)
            assert console.documents_shown() == ["alpha-glacier"]
            assert page.input_value("#filter") == ""
            assert page.locator("#documents-caption").inner_text() == "1–1 of 1 documents"
            wait_for_status(page, "1 document")
            assert page.evaluate("localStorage.getItem('graphrag.workspace')") == "alpha"
            assert page.title() == "graphrag console · alpha · documents"
            page.click("nav a[data-view=ask]")
            events = console.ask("Who mapped the glacier above Quellmere?", "/v1/workspaces/alpha/ask")
            sources = events[0][1]["sources"]
            assert sources and {s["document_id"] for s in sources} == {"alpha-glacier"}
            cards = page.locator("#sources article.card")
            assert cards.count() == len(sources)
            assert {cards.nth(i).get_attribute("data-document") for i in range(cards.count())} == {"alpha-glacier"}
            assert "Quellmere" in page.locator("#answer").inner_text()  # an alpha sentence
            assert int(page.locator("#graph-canvas").get_attribute("data-nodes") or 0) > 0
            console.shot("alpha")

            # an upload made in alpha is ingested into alpha, as an alpha job
            page.click("nav a[data-view=documents]")
            notes = "# Quellmere notes\nThe Quellmere ferry crosses the fjord below the Zorvath Glacier twice a day."
            with page.expect_response(lambda r: r.url.endswith("/v1/workspaces/alpha/ingest/jobs"), timeout=WAIT_MS):
                drop_files(page, "#dropzone", {"quellmere-notes.md": notes})
            page.wait_for_selector("#upload-status:has-text('job-')", timeout=WAIT_MS)
            job = re.search(r"job-[0-9a-f]+", page.locator("#upload-status").inner_text()).group(0)  # type: ignore[union-attr]
            page.wait_for_selector(f"#documents-body tr[data-id='{uploaded_id(notes)}']", timeout=WAIT_MS)
            assert sorted(console.documents_shown()) == sorted(["alpha-glacier", uploaded_id(notes)])
            page.click("nav a[data-view=jobs]")
            page.wait_for_selector(f"#jobs li.job[data-id='{job}'][data-state=succeeded]", timeout=WAIT_MS)

            # beta, from the Jobs view: alpha's job, answer, sources and graph leave the page
            with page.expect_response(lambda r: "/v1/workspaces/beta/ingest/jobs?" in r.url, timeout=WAIT_MS) as info:
                page.select_option("#workspace", "beta")
            assert info.value.json()["items"] == []
            assert page.locator("#jobs li.job").count() == 0
            assert page.locator("#jobs").inner_text().startswith("No ingest jobs yet")
            assert page.locator("#answer").text_content() == ""
            assert page.locator("#sources article.card").count() == 0
            page.wait_for_selector("#graph-canvas[data-nodes='0']", state="attached", timeout=WAIT_MS)
            assert page.locator("#graph-list li").count() == 0
            wait_for_status(page, "1 document")
            page.click("nav a[data-view=ask]")
            events = console.ask("Who mapped the glacier above Quellmere?", "/v1/workspaces/beta/ask")
            assert {s["document_id"] for s in events[0][1]["sources"]} <= {"beta-foundry"}
            cards = page.locator("#sources article.card")
            assert all(cards.nth(i).get_attribute("data-document") == "beta-foundry" for i in range(cards.count()))
            shown = (page.locator("#answer").inner_text() + page.locator("#sources").inner_text()).lower()
            assert not [w for w in ("zorvath", "quellmere", "brandvik") if w in shown], shown
            events = console.ask("Which engineer cast the bell in Lagossa?", "/v1/workspaces/beta/ask")
            assert {s["document_id"] for s in events[0][1]["sources"]} == {"beta-foundry"}
            assert "Lagossa" in page.locator("#answer").inner_text()  # a beta sentence
            page.click("nav a[data-view=documents]")
            page.wait_for_selector("#documents-body tr[data-id='beta-foundry']", timeout=WAIT_MS)
            assert console.documents_shown() == ["beta-foundry"]
            console.shot("beta")

            # a reload keeps beta
            page.click("nav a[data-view=documents]")
            page.reload()
            page.wait_for_selector("#documents-body tr", timeout=WAIT_MS)
            assert page.input_value("#workspace") == "beta"
            assert console.documents_shown() == ["beta-foundry"]
            assert page.title() == "graphrag console · beta · documents"

            # beta deleted elsewhere: the next load falls back to default, and lists default's documents
            gone = httpx.request("DELETE", f"{url}/v1/workspaces/beta", json={"confirm": "beta"}, headers=admin,
                                 timeout=120)
            assert gone.status_code == 200, gone.text
            page.reload()
            page.wait_for_selector("#documents-body tr", timeout=WAIT_MS)
            assert page.input_value("#workspace") == "default"
            assert page.locator("#workspace option").all_inner_texts() == ["default", "alpha"]
            assert page.evaluate("localStorage.getItem('graphrag.workspace')") == "default"
            assert not {"alpha-glacier", "beta-foundry"} & set(console.documents_shown())
            console.shot()
        finally:
            page.close()
            for ws in WORKSPACE_DOCS:  # the module's database is shared with the other tests' app
                httpx.request("DELETE", f"{url}/v1/workspaces/{ws}", json={"confirm": ws}, headers=admin, timeout=120)
    assert not console.problems, "\n".join(console.problems)
