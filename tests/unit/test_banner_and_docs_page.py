"""What a person sees first: the start-up banner (where the console is; with keys required, how to
get one) and /docs opened in a browser without a key."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.main import create_app
from api.server import banner
from graphrag.config import Settings

LOCAL = "http://127.0.0.1:8000"


def test_the_banner_points_at_the_console() -> None:
    text = banner(Settings(), "extractive")
    assert "web console: http://127.0.0.1:8000/ " in text


def test_with_keys_required_the_banner_says_how_to_get_one() -> None:
    text = banner(Settings(api_host="0.0.0.0", api_keys_required=True), None)  # noqa: S104 - a setting, not a bind
    assert "graphrag api-key create --scope read" in text and "GRAPHRAG_API_KEY" in text
    assert "web console:" in text


def test_docs_in_a_browser_without_a_key_says_what_to_do() -> None:
    client = TestClient(create_app(Settings(api_keys_required=True)), base_url=LOCAL)
    page = client.get("/docs", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 401 and page.headers["content-type"].startswith("text/html")
    assert "graphrag api-key create --scope read" in page.text and "GRAPHRAG_API_PUBLIC_DOCS=true" in page.text
    assert "<script" not in page.text
    assert page.headers["www-authenticate"].startswith("Bearer")
    # a program still gets the JSON error, and the assets and the OpenAPI document stay closed
    assert client.get("/docs").json()["error"]["code"] == "unauthorized"
    assert client.get("/openapi.json", headers={"Accept": "text/html"}).json()["error"]["code"] == "unauthorized"
