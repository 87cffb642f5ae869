"""The security layers without a database: exposure checks, the browser guard (Host, Origin,
Sec-Fetch-Site), the key check before any body is read, closed docs and metrics, security headers,
local /docs assets, the failed-key limiter, and access-log lines that a path cannot forge."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from api.errors import install_error_handlers
from api.main import create_app
from api.metrics import Metrics
from api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from api.security import CSP, DOCS_CSP, FailedAuthLimiter, check_exposure, exposure_message, install_security
from graphrag.config import Settings
from graphrag.errors import ConfigError

LOCAL = "http://127.0.0.1:8000"  # the Host a browser on this machine sends
EVIL = "http://evil.example"
EVERY = "0.0.0.0"  # noqa: S104 - the wildcard address as a setting under test; nothing binds it


# --- exposure ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("host", [EVERY, "10.1.2.3", "::", "api.internal"])
def test_keyless_on_a_network_address_is_refused_without_the_loud_override(host: str) -> None:
    settings = Settings(api_host=host, api_keys_required=False)
    with pytest.raises(ConfigError, match="GRAPHRAG_API_UNSAFE_KEYLESS_ON_NETWORK"):
        check_exposure(settings)
    with pytest.raises(ConfigError):
        create_app(settings)


def test_the_override_starts_keyless_and_says_so_without_claiming_loopback() -> None:
    specific = Settings(api_host="10.1.2.3", api_keys_required=False, api_unsafe_keyless_on_network=True)
    check_exposure(specific)
    message = exposure_message(specific)
    assert message is not None and message.startswith("UNSAFE") and "loopback" not in message
    wildcard = specific.model_copy(update={"api_host": EVERY})
    with pytest.raises(ConfigError, match="GRAPHRAG_API_ALLOWED_HOSTS"):  # rebinding needs a named host list
        check_exposure(wildcard)
    check_exposure(wildcard.model_copy(update={"api_allowed_hosts": ["graphrag.lan"]}))


def test_loopback_and_keyed_starts_need_no_override() -> None:
    for settings in (Settings(), Settings(api_host="127.0.0.2"), Settings(api_host="::1"),
                     Settings(api_host=EVERY), Settings(api_host=EVERY, api_keys_required=True)):
        check_exposure(settings)
    assert "loopback" in (exposure_message(Settings()) or "")
    assert exposure_message(Settings(api_host=EVERY)) is None  # keys required there by default


# --- the browser guard and the key check, on a small app ------------------------------------------------

def _app(**overrides: object) -> FastAPI:
    settings = Settings(**overrides)  # type: ignore[arg-type]
    app = FastAPI()
    app.state.settings = settings
    install_error_handlers(app, retry_after_s=5)
    app.add_middleware(BodyLimitMiddleware, limit=1000)
    install_security(app, settings)
    app.add_middleware(RequestContextMiddleware, metrics=Metrics())

    @app.post("/v1/write")
    async def write(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.get("/v1/read")
    async def read() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/own-csp")
    async def own_csp() -> JSONResponse:
        return JSONResponse({}, headers={"Content-Security-Policy": "default-src 'none'"})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


@pytest.fixture
def keyless() -> TestClient:
    return TestClient(_app(), base_url=LOCAL)


def test_a_cross_site_multipart_post_is_refused(keyless: TestClient) -> None:
    files = {"files": ("x.md", b"# x", "text/markdown")}
    refused = keyless.post("/v1/write", files=files, headers={"Origin": EVIL})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "cross_site_refused"
    assert keyless.post("/v1/write", files=files, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert keyless.post("/v1/write", files=files, headers={"Sec-Fetch-Site": "same-site"}).status_code == 403
    assert keyless.post("/v1/write", files=files, headers={"Origin": "null"}).status_code == 403
    assert keyless.request("DELETE", "/v1/write", headers={"Origin": EVIL}).status_code == 403
    referred = keyless.post("/v1/write", files=files, headers={"Referer": EVIL + "/form.html"})  # an old browser
    assert referred.status_code == 403 and "Referer" in referred.json()["error"]["message"]


def test_a_referer_of_the_service_itself_or_an_allowed_origin_passes() -> None:
    keyless = TestClient(_app(api_allowed_origins=["https://console.example"]), base_url=LOCAL)
    assert keyless.post("/v1/write", content=b"x", headers={"Referer": LOCAL + "/console/"}).status_code == 200
    assert keyless.post("/v1/write", content=b"x",
                        headers={"Referer": "https://console.example/app"}).status_code == 200
    assert keyless.post("/v1/write", content=b"x", headers={"Referer": "not a url"}).status_code == 200


def test_same_origin_and_non_browser_writes_pass(keyless: TestClient) -> None:
    assert keyless.post("/v1/write", content=b"abc").status_code == 200  # curl: no Origin, no Sec-Fetch-Site
    same = {"Origin": LOCAL, "Sec-Fetch-Site": "same-origin"}
    assert keyless.post("/v1/write", content=b"abc", headers=same).status_code == 200
    assert keyless.get("/v1/read", headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}).status_code == 200


def test_a_configured_origin_may_write() -> None:
    client = TestClient(_app(api_allowed_origins=["https://console.example"]), base_url=LOCAL)
    assert client.post("/v1/write", content=b"x", headers={"Origin": "https://console.example"}).status_code == 200
    assert client.post("/v1/write", content=b"x", headers={"Origin": "https://other.example"}).status_code == 403


def test_an_unknown_host_is_refused_against_dns_rebinding(keyless: TestClient) -> None:
    rebound = keyless.get("/v1/read", headers={"Host": "evil.example:8000"})
    assert rebound.status_code == 400 and rebound.json()["error"]["code"] == "host_not_allowed"
    # the rebinding page is same-origin with itself: the Host check is what stops its writes
    write = keyless.post("/v1/write", content=b"x", headers={"Host": "evil.example:8000",
                                                              "Origin": "http://evil.example:8000"})
    assert write.status_code == 400
    for host in ("localhost:8000", "127.0.0.1", "[::1]:8000"):
        assert keyless.get("/v1/read", headers={"Host": host}).status_code == 200
    assert keyless.get("/healthz", headers={"Host": "10.0.0.7:8000"}).status_code == 200  # probes by address
    configured = TestClient(_app(api_allowed_hosts=["graphrag.lan"]), base_url="http://graphrag.lan")
    assert configured.get("/v1/read").status_code == 200
    assert configured.get("/v1/read", headers={"Host": "127.0.0.1:8000"}).status_code == 400


def test_any_host_on_a_wildcard_bind_with_keys() -> None:
    settings = Settings(api_host=EVERY)
    assert settings.api_keys_enforced and settings.api_hosts_accepted is None


def test_no_key_is_401_before_the_body_is_read() -> None:
    client = TestClient(_app(api_keys_required=True), base_url=LOCAL)
    response = client.post("/v1/write", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/v1/read").status_code == 401
    assert client.post("/anything-new", content=b"x").status_code == 401  # writes anywhere need a key
    assert client.get("/healthz").status_code == 200


def test_invalid_json_without_a_key_is_401_on_the_real_app() -> None:
    client = TestClient(create_app(Settings(api_keys_required=True)), base_url=LOCAL)  # no lifespan needed
    response = client.post("/v1/ask", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 401, response.text
    upload = client.post("/v1/documents", files={"files": ("a.md", b"# a", "text/markdown")})
    assert upload.status_code == 401


def test_docs_openapi_and_metrics_are_closed_when_keys_are_required() -> None:
    closed = TestClient(create_app(Settings(api_keys_required=True)), base_url=LOCAL)
    for path in ("/docs", "/openapi.json", "/metrics", "/docs/assets/swagger-ui-bundle.js"):
        assert closed.get(path).status_code == 401, path
    opened = TestClient(create_app(Settings(api_keys_required=True, api_public_docs=True,
                                            api_public_metrics=True)), base_url=LOCAL)
    assert opened.get("/openapi.json").status_code == 200 and opened.get("/docs").status_code == 200
    assert opened.get("/metrics").status_code == 200
    keyless = TestClient(create_app(Settings()), base_url=LOCAL)
    assert keyless.get("/openapi.json").status_code == 200 and keyless.get("/metrics").status_code == 200


def test_docs_come_from_local_files_with_their_own_csp() -> None:
    client = TestClient(create_app(Settings()), base_url=LOCAL)
    page = client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("docs/assets/") for s in sources), sources  # no CDN, no other origin
    assert "<script>" not in page.text  # no inline script: the CSP allows none
    assert page.headers["content-security-policy"] == DOCS_CSP
    bundle = client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and b"SwaggerUIBundle" in bundle.content[:2000]
    assert bundle.headers["content-type"].startswith("text/javascript")
    init = client.get("/docs/assets/init.js")
    assert init.status_code == 200 and b"openapi.json" in init.content
    assert client.get("/docs/assets/LICENSE").status_code == 200
    assert client.get("/docs/assets/..%2f..%2fmain.py").status_code == 404
    assert client.get("/docs/assets/swagger-editor-bundle.js").status_code == 404  # only the listed files
    assert client.get("/redoc").status_code == 404  # its page would load from a CDN


def test_every_response_carries_the_security_headers(keyless: TestClient) -> None:
    response = keyless.get("/v1/read")
    headers = response.headers
    assert headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP and "frame-ancestors 'none'" in CSP and "unsafe" not in CSP
    assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer" and headers["cache-control"] == "no-store"
    assert headers["cross-origin-resource-policy"] == "same-origin"
    refused = keyless.post("/v1/write", content=b"x", headers={"Origin": EVIL})
    assert refused.headers["x-content-type-options"] == "nosniff" and refused.headers["x-request-id"]
    assert keyless.get("/own-csp").headers["content-security-policy"] == "default-src 'none'"  # a route's own wins


# --- failed authentication --------------------------------------------------------------------------------

def test_the_failed_key_limiter_is_a_bucket_per_address() -> None:
    now = [100.0]
    limiter = FailedAuthLimiter(3, 60.0, clock=lambda: now[0])
    assert [limiter.take("1.2.3.4") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("1.2.3.4")
    assert wait == pytest.approx(20.0)  # one token per 20 s
    assert limiter.take("5.6.7.8") == 0.0  # other addresses are not affected
    now[0] += 20.0
    assert limiter.take("1.2.3.4") == 0.0 and limiter.take("1.2.3.4") > 0
    limiter.give_back("1.2.3.4")  # a key that turned out valid costs nothing
    assert limiter.take("1.2.3.4") == 0.0


def test_a_valid_key_during_a_database_outage_gets_503_not_429() -> None:
    """A key the database cannot check (it is down) is not a wrong key: its token is given back.
    Before, each such request spent a token, so after `api_auth_failures` of them a client with a
    valid key got 429 "too many invalid API keys" for the rest of the outage and up to a window
    after it (found by tests/chaos/test_api_faults.py)."""
    import asyncio

    from starlette.datastructures import Headers

    from api.keys import KeyVerifier
    from api.security import Authenticator
    from graphrag.arcadedb import AsyncArcadeDB, RetryPolicy
    from graphrag.errors import DatabaseUnavailableError
    from tests.conftest import free_port

    # a real client of a database that is not there: nothing listens on the port
    db = AsyncArcadeDB(f"http://127.0.0.1:{free_port()}", "graphrag", "root", "pw", timeout=2,
                       retry=RetryPolicy(attempts=1, max_seconds=1))
    limiter = FailedAuthLimiter(3, 60.0)
    authenticator = Authenticator(Settings(api_keys_required=True), limiter)
    headers = Headers({"x-api-key": "grk_" + "a" * 43})

    async def attempt() -> str:
        try:
            await authenticator.authenticate(headers, "10.0.0.7", KeyVerifier(db))
        except DatabaseUnavailableError:
            return "unavailable"
        except Exception as exc:
            return f"{type(exc).__name__} {getattr(exc, 'status_code', '')}"
        return "authenticated"

    async def attempts() -> list[str]:
        try:
            return [await attempt() for _ in range(6)]
        finally:
            await db.aclose()

    assert asyncio.run(attempts()) == ["unavailable"] * 6
    assert limiter.take("10.0.0.7") == 0.0  # the address still has its tokens


def test_the_limiter_forgets_the_oldest_addresses_beyond_its_size() -> None:
    limiter = FailedAuthLimiter(1, 60.0, max_clients=2)
    for address in ("a", "b", "c"):
        limiter.take(address)
    assert limiter.take("a") == 0.0 and limiter.take("c") > 0


# --- access log ---------------------------------------------------------------------------------------------

def test_an_encoded_newline_in_the_path_cannot_forge_an_access_log_line(
        keyless: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="api.access"):
        keyless.get("/v1/read%0a2026-01-01%20INFO%20api.access:%20GET%20/admin%20200%0d%1b[31m")
    lines = [r.getMessage() for r in caplog.records if r.name == "api.access"]
    assert len(lines) == 1
    assert "\n" not in lines[0] and "\r" not in lines[0] and "\x1b" not in lines[0]
    assert "\\n2026-01-01" in lines[0]
