"""The console's rough edges, in the real browser against the real app (fixtures of test_web_console):
what a read key is offered, a refused delete that stays on screen, a rejected key that is not "set",
no empty badge, labels that do not overlap, "Delete" whole at phone width, and a 503 that will not
pass by itself shown once instead of retried."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Route

from tests.e2e import test_web_console as web
from tests.e2e.test_web_console import QUESTION, WAIT_MS, Console

# that module's fixtures, found by pytest under these names (the server, the browser, one tab a test)
base_url, playwright, browser, console = web.base_url, web.playwright, web.browser, web.console

pytestmark = pytest.mark.browser


def _documents(console: Console, key: str) -> None:
    console.open(key, "/#/documents")
    console.page.wait_for_selector("#documents-body tr", timeout=WAIT_MS)


def test_a_read_key_is_offered_no_upload_and_no_delete(console: Console) -> None:
    page = console.page
    _documents(console, console.keys["read"])
    assert page.locator("body").get_attribute("data-scope") == "read"
    assert page.locator("#dropzone").is_hidden()
    buttons = page.locator("#documents-body button", has_text="Delete")
    assert buttons.count() > 0 and not any(b.is_visible() for b in buttons.all())

    page.click("#key-button")  # the same tab with an admin key: both come back
    console.enter_key(console.keys["admin"])
    page.wait_for_selector("body[data-scope=admin]", timeout=WAIT_MS)
    assert page.locator("#dropzone").is_visible()
    assert page.locator("#documents-body button", has_text="Delete").first.is_visible()


def test_a_refused_delete_stays_on_screen(console: Console) -> None:
    """The service refuses the delete (a key whose scope was narrowed after the page loaded): the
    message must stay, not be cleared by a reload of the unchanged list."""
    page = console.page
    _documents(console, console.keys["admin"])
    console.allow(403)
    body = {"error": {"code": "forbidden", "message": "this operation needs the 'admin' scope"}, "request_id": "r1"}

    def refuse(route: Route) -> None:
        if route.request.method == "DELETE":
            route.fulfill(status=403, content_type="application/json", body=json.dumps(body))
        else:
            route.fallback()

    page.route("**/v1/documents/**", refuse)
    reloads: list[str] = []
    page.on("request", lambda r: reloads.append(r.url) if r.method == "GET" and "/v1/documents?" in r.url else None)
    page.locator("#documents-body button", has_text="Delete").first.click()
    page.wait_for_selector("#confirm-dialog[open]")
    page.click("#confirm-delete")
    page.wait_for_selector("#documents-error:not([hidden])", timeout=WAIT_MS)
    page.wait_for_load_state("networkidle")
    error = page.locator("#documents-error")
    assert error.is_visible() and "Not allowed with this API key" in error.inner_text()
    assert reloads == []  # nothing changed, nothing reloaded


def test_a_rejected_key_is_not_shown_as_set(console: Console) -> None:
    page = console.page
    console.open(console.keys["read"])
    assert page.locator("#key-button").inner_text() == "API key: set (change)"
    console.allow(401)
    page.click("#key-button")
    page.wait_for_selector("#key-dialog[open]", timeout=WAIT_MS)
    page.fill("#key-input", "grk_not_a_key")
    page.press("#key-input", "Enter")  # the page asks the service with it at once (its workspaces)
    page.wait_for_selector("#key-reason:has-text('not accepted')", timeout=WAIT_MS)
    page.click("#key-cancel")
    page.wait_for_selector("#key-dialog", state="hidden", timeout=WAIT_MS)
    # the requests the page sends after the cancel (the status line's) must not open the prompt again
    page.wait_for_timeout(2000)
    assert page.locator("#key-dialog").is_hidden()
    assert page.locator("#key-button").inner_text() == "API key"
    assert page.evaluate("sessionStorage.getItem('graphrag.apiKey')") is None


def test_no_empty_badge_before_an_answer_and_no_overlapping_labels(console: Console) -> None:
    page = console.page
    console.open(console.keys["read"])
    assert page.locator("#mode-badge").is_hidden()
    console.ask(QUESTION)
    assert page.locator("#mode-badge").is_visible() and page.locator("#mode-badge").inner_text()
    seed = page.locator("#graph-list button[data-kind=seed]").first
    nodes_before = int(page.locator("#graph-canvas").get_attribute("data-nodes") or 0)
    with page.expect_response(lambda r: "/v1/graph/entities/" in r.url, timeout=WAIT_MS):
        seed.click()
    web.wait_for_more_nodes(page, nodes_before)
    overlaps = page.evaluate("""() => {
        const boxes = window.graphragConsole.cy.nodes().map((n) => [n.id(), n.boundingBox({includeLabels: true})]);
        const hit = (a, b) => a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2;
        const found = [];
        boxes.forEach(([a, boxA], i) => boxes.slice(i + 1).forEach(([b, boxB]) => {
            if (hit(boxA, boxB)) found.push([a, b]);
        }));
        return found;
    }""")
    console.shot("expanded-no-overlap", full_page=False)
    assert overlaps == [], overlaps


def test_delete_is_one_word_at_phone_width(console: Console) -> None:
    page = console.page
    page.set_viewport_size({"width": 390, "height": 844})
    _documents(console, console.keys["admin"])
    lines = page.evaluate("""() => [...document.querySelectorAll('#documents-body button')].map((b) => {
        const range = document.createRange();
        range.selectNodeContents(b);
        return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
    })""")
    assert lines and all(n == 1 for n in lines), lines


def test_a_503_that_will_not_pass_is_shown_once_not_retried(console: Console) -> None:
    page = console.page
    console.open(console.keys["read"])
    console.allow(503)
    body = {"error": {"code": "not_available", "message": "retrieval is not available in this service"},
            "request_id": "r2"}
    asked: list[str] = []

    def unavailable(route: Route) -> None:
        asked.append(route.request.url)
        route.fulfill(status=503, content_type="application/json", body=json.dumps(body),
                      headers={"Retry-After": "1"})

    page.route("**/v1/ask", unavailable)
    page.fill("#question", QUESTION)
    page.press("#question", "Enter")
    page.wait_for_selector("#ask-error:not([hidden])", timeout=WAIT_MS)
    page.wait_for_load_state("networkidle")
    text = page.locator("#ask-error").inner_text()
    # no countdown to a retry ("Retry in 1 s. (attempt 1 of 3)"): the message says what is wrong, once
    assert text == "This service cannot answer: retrieval is not available in this service.", text
    assert len(asked) == 1
