"""The service's guards against browsers, the network and key guessing, as pure ASGI middleware.

Middleware rather than route dependencies, for two reasons: they cover every route, including ones
mounted later (the MCP endpoint, the web console) that never mention them; and they run before any
route reads the request body, so a request without a valid key gets 401 before its JSON is parsed.

Layers, outermost first (all inside the request-context layer, so refusals carry a request id and
an access-log line):

    SecurityHeadersMiddleware  CSP, nosniff, frame, referrer and cross-origin headers on every response
    BrowserGuardMiddleware     Host allow-list (DNS rebinding); state-changing requests from another site
                               refused (a multipart POST is a CORS "simple" request: no preflight stops it)
    AuthenticationMiddleware   the key checked before the body is read; wrong keys rate-limited per address

Which requests need a key (when keys are required): every state-changing method on any path, and
every request under `/v1/` and `/mcp`; `/docs`, `/openapi.json` and `/metrics` unless made public;
never `/healthz` and `/readyz`. Other GET paths (the static web console) are public.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.docs import KEY_NEEDED_PAGE, wants_docs_page
from api.errors import ApiError, error_body, outage_message
from api.keys import ANONYMOUS, KeyVerifier, Principal
from graphrag.config import WILDCARD_HOSTS, Settings, is_loopback_host
from graphrag.errors import ConfigError, DatabaseUnavailableError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PRINCIPAL_STATE = "graphrag.principal"  # where the authenticated principal waits in scope["state"]
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="graphrag"'}
_MAX_KEY_CHARS = 200  # keys are 47 characters; anything far longer is refused without a lookup

# A same-origin page (the web console: its own JS and CSS files, fetch() to the API, a canvas or SVG
# graph) works under this; inline scripts, other origins and framing do not.
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; "
       "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
# Swagger UI sets inline styles and draws its icons from data: URIs; its start-up script is a file.
DOCS_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
            "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


def _is_docs(path: str) -> bool:
    return path == "/docs" or path.startswith("/docs/")


# --- exposure: refuse to start anonymous-admin on the network --------------------------------------

def check_exposure(settings: Settings) -> None:
    """Refuse settings that would make every reachable client an admin without saying so.

    Keyless is fine on loopback (one machine; the browser guard keeps web pages out). On any other
    address it needs `api_unsafe_keyless_on_network`, and on a wildcard bind also an explicit Host
    allow-list, since the names clients use are not known here and DNS rebinding needs one.
    """
    if settings.api_keys_enforced or is_loopback_host(settings.api_host):
        return
    host = settings.api_host
    if not settings.api_unsafe_keyless_on_network:
        raise ConfigError(
            f"refusing to serve without API keys on {host!r}: it is not a loopback address, so anyone who reaches "
            "it would be admin. Require keys (unset GRAPHRAG_API_KEYS_REQUIRED; create them with `graphrag api-key "
            "create`), bind 127.0.0.1, or set GRAPHRAG_API_UNSAFE_KEYLESS_ON_NETWORK=true to accept that")
    if host.strip() in WILDCARD_HOSTS and settings.api_allowed_hosts is None:
        raise ConfigError(
            f"serving without API keys on every interface ({host!r}) also needs GRAPHRAG_API_ALLOWED_HOSTS: the "
            "host names clients use (a DNS-rebinding page could otherwise reach the API under any name)")


def exposure_message(settings: Settings) -> str | None:
    """The start-up line about keys, true to what the settings do (None when keys are required)."""
    if settings.api_keys_enforced:
        return None
    if is_loopback_host(settings.api_host):
        return (f"API keys are NOT required: bound to the loopback address {settings.api_host}, so only this "
                "machine reaches the API and a request without a key acts as admin; web pages of other sites "
                "cannot write to it (cross-site requests and unknown Host headers are refused). "
                "Create keys with `graphrag api-key create --scope read`")
    return (f"UNSAFE: API keys are NOT required and the API binds {settings.api_host}, which is reachable from "
            f"the network: anyone who reaches port {settings.api_port} is admin "
            "(GRAPHRAG_API_UNSAFE_KEYLESS_ON_NETWORK=true)")


# --- failed authentication: a token bucket per client address ---------------------------------------

class FailedAuthLimiter:
    """At most `failures` unverified keys per `window_s` from one client address, refilled evenly.

    A key not in the verifier's cache takes a token before its database lookup (and gives it back if
    it was valid), so a burst of concurrent wrong keys cannot run more lookups than there are tokens.
    An address with no token left gets 429 with no lookup at all. The table keeps the most recently
    failing `max_clients` addresses.
    """

    def __init__(self, failures: int, window_s: float, *, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = 10_000):
        self.capacity = float(failures)
        self.rate = failures / window_s
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # address -> (tokens, at)

    def _tokens(self, client: str, now: float) -> float:
        entry = self._buckets.get(client)
        if entry is None:
            return self.capacity
        tokens, at = entry
        return min(self.capacity, tokens + (now - at) * self.rate)

    def take(self, client: str) -> float:
        """Take a token: 0.0 when taken, else the seconds until one is free (nothing taken)."""
        now = self.clock()
        tokens = self._tokens(client, now)
        if tokens < 1.0:
            return (1.0 - tokens) / self.rate
        self._buckets[client] = (tokens - 1.0, now)
        self._buckets.move_to_end(client)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return 0.0

    def give_back(self, client: str) -> None:
        """Return the token of a key that turned out valid."""
        if client in self._buckets:
            now = self.clock()
            self._buckets[client] = (min(self.capacity, self._tokens(client, now) + 1.0), now)


def presented_key(headers: Headers) -> str | None:
    """The key in `X-API-Key`, else in `Authorization: Bearer`."""
    key = headers.get("x-api-key")
    if key:
        return key.strip() or None
    scheme, _, credentials = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


class Authenticator:
    """Turns a request's headers into a principal, or raises the `ApiError` to answer with."""

    def __init__(self, settings: Settings, limiter: FailedAuthLimiter):
        self.enforced = settings.api_keys_enforced
        self.limiter = limiter

    async def authenticate(self, headers: Headers, client: str, verifier: KeyVerifier | None) -> Principal:
        key = presented_key(headers)
        if key is None:
            if not self.enforced:
                return ANONYMOUS  # loopback default: no key acts as admin; a key that is sent is still checked
            raise ApiError(401, "unauthorized", "an API key is required (X-API-Key or Authorization: Bearer)",
                           headers=CHALLENGE)
        if verifier is None:
            raise ApiError(503, "not_ready", "the service is starting; retry shortly", headers={"Retry-After": "5"})
        known = verifier.cached(key)
        if known is not None:
            return known
        wait = self.limiter.take(client)
        if wait > 0:
            raise ApiError(429, "too_many_failures", "too many invalid API keys from this address; retry later",
                           headers={"Retry-After": str(max(1, math.ceil(wait)))})
        try:
            principal = await verifier.verify(key) if len(key) <= _MAX_KEY_CHARS else None
        except BaseException:
            # not a wrong key: it could not be checked (the database is down: the caller answers
            # 503). Spending a token here turned a valid key into 429s for the outage and after it.
            self.limiter.give_back(client)
            raise
        if principal is None:
            raise ApiError(401, "unauthorized", "the API key is not valid", headers=CHALLENGE)
        self.limiter.give_back(client)
        return principal


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def _refuse(scope: Scope, receive: Receive, send: Send, exc: ApiError) -> None:
    response = JSONResponse(error_body(exc.code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)
    await response(scope, receive, send)


@dataclass(frozen=True)
class AccessPolicy:
    """Which requests must present a key when keys are required (see the module docstring)."""

    docs_public: bool
    metrics_public: bool
    open_paths: frozenset[str] = frozenset({"/healthz", "/readyz"})
    api_prefixes: tuple[str, ...] = ("/v1", "/mcp")

    def needs_key(self, method: str, path: str) -> bool:
        if path in self.open_paths:
            return False
        if path == "/metrics":
            return not self.metrics_public
        if path == "/openapi.json" or _is_docs(path):
            return not self.docs_public
        if method not in SAFE_METHODS:
            return True
        return any(path == p or path.startswith(p + "/") for p in self.api_prefixes)


class AuthenticationMiddleware:
    """Authenticates before the route runs (and so before the body is read): the principal waits in
    `scope["state"]` for the routes' scope checks (`api.auth`), or the request ends here with 401/429/503."""

    def __init__(self, app: ASGIApp, *, policy: AccessPolicy, authenticator: Authenticator, retry_after_s: int = 5):
        self.app = app
        self.policy = policy
        self.authenticator = authenticator
        self.retry_after_s = retry_after_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self.policy.needs_key(scope.get("method", "GET"),
                                                                                   scope["path"]):
            await self.app(scope, receive, send)
            return
        verifier = getattr(scope["app"].state, "key_verifier", None) if "app" in scope else None
        try:
            principal = await self.authenticator.authenticate(Headers(scope=scope), client_address(scope), verifier)
        except ApiError as exc:
            if exc.status_code == 401 and wants_docs_page(scope["path"], Headers(scope=scope).get("accept", "")):
                await HTMLResponse(KEY_NEEDED_PAGE, status_code=401, headers=exc.headers)(scope, receive, send)
                return
            await self._refuse(scope, receive, send, exc)
            return
        except DatabaseUnavailableError as outage:
            unavailable = ApiError(503, "database_unavailable", outage_message(outage),
                                   headers={"Retry-After": str(self.retry_after_s)})
            await self._refuse(scope, receive, send, unavailable)
            return
        scope.setdefault("state", {})[PRINCIPAL_STATE] = principal
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, exc: ApiError) -> None:
        if scope["type"] == "websocket":  # closing before accepting answers the handshake with 403
            await send({"type": "websocket.close", "code": 1008})
            return
        await _refuse(scope, receive, send, exc)


# --- browsers: Host allow-list and cross-site writes --------------------------------------------------

def _host_port(netloc: str, default_port: int) -> tuple[str, int] | None:
    """`host[:port]` (IPv6 in brackets) as (lower-case host, port); None when malformed."""
    try:
        parts = urlsplit("//" + netloc)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname.lower(), port if port is not None else default_port


class BrowserGuardMiddleware:
    """Keeps web pages of other sites out of the API, which matters most for the keyless loopback
    default (no key, no CORS preflight for a multipart POST, so the browser would just send it).

    - The Host header must name an accepted host (`Settings.api_hosts_accepted`): a DNS-rebinding page
      reaches 127.0.0.1 under its own name and is refused (400). `/healthz` and `/readyz` are exempt so
      that probes by address keep working.
    - A state-changing request (any method but GET/HEAD/OPTIONS, and WebSocket handshakes) carrying
      an `Origin` must come from the service's own origin (the Host it was sent to) or one listed in
      `api_allowed_origins`; without `Origin`, `Sec-Fetch-Site: cross-site|same-site` is refused too,
      and without either, a `Referer` of another origin (an older browser's form POST). Clients
      that are not browsers send none of these headers and pass.
    """

    def __init__(self, app: ASGIApp, *, hosts: list[str] | None, origins: list[str],
                 exempt: frozenset[str] = frozenset({"/healthz", "/readyz"})):
        self.app = app
        self.hosts = frozenset(hosts) if hosts is not None else None
        self.origins = frozenset(o.lower().rstrip("/") for o in origins)
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        secure = scope.get("scheme") in ("https", "wss")
        if self.hosts is not None and scope["path"] not in self.exempt:
            found = _host_port(host, 443 if secure else 80)
            if found is None or found[0] not in self.hosts:
                await _refuse(scope, receive, send, ApiError(
                    400, "host_not_allowed", "the Host header names a host this service does not answer for "
                    "(GRAPHRAG_API_ALLOWED_HOSTS)"))
                return
        if scope["type"] == "websocket" or scope.get("method") not in SAFE_METHODS:
            reason = self._cross_site(headers, host, secure)
            if reason:
                await _refuse(scope, receive, send, ApiError(403, "cross_site_refused", reason))
                return
        await self.app(scope, receive, send)

    def _ours(self, origin: str, host: str, secure: bool) -> bool:
        """`origin` (scheme://host[:port], lower case) is the service's own or an allowed one."""
        if origin in self.origins:
            return True
        parts = urlsplit(origin) if origin != "null" else None
        if parts is not None and parts.scheme in ("http", "https") and parts.netloc:
            theirs = _host_port(parts.netloc, 443 if parts.scheme == "https" else 80)
            ours = _host_port(host, 443 if secure else 80)
            return theirs is not None and theirs == ours
        return False

    def _cross_site(self, headers: Headers, host: str, secure: bool) -> str | None:
        origin = headers.get("origin")
        if origin is not None:
            origin = origin.strip().lower().rstrip("/")
            if self._ours(origin, host, secure):
                return None
            return ("requests that change state are refused from another site's page (Origin "
                    f"{origin[:100]!r}); add it to GRAPHRAG_API_ALLOWED_ORIGINS to allow it")
        if (headers.get("sec-fetch-site") or "").lower() in ("cross-site", "same-site"):
            return "requests that change state are refused from another site's page (Sec-Fetch-Site)"
        # An older browser sends neither header on a form POST, but names the page in Referer (unless
        # that page asked for no referrer: then nothing tells, and the request passes as a client's)
        referer = urlsplit((headers.get("referer") or "").strip())
        if referer.scheme.lower() in ("http", "https") and referer.netloc:
            page = f"{referer.scheme}://{referer.netloc}".lower()
            if not self._ours(page, host, secure):
                return ("requests that change state are refused from another site's page (Referer "
                        f"{page[:100]!r}); add its origin to GRAPHRAG_API_ALLOWED_ORIGINS to allow it")
        return None


# --- response headers ---------------------------------------------------------------------------------

class SecurityHeadersMiddleware:
    """Adds the usual security headers to every response that has not set them itself: a CSP
    (Swagger UI's allowances only under /docs), nosniff, no framing, no referrer, same-origin
    opener and resource policies, `Cache-Control: no-store` on API answers, HSTS over https."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        extra = dict(_HEADERS, **{"content-security-policy": DOCS_CSP if _is_docs(path) else CSP})
        if path.startswith("/v1/") or path.startswith("/mcp"):
            extra["cache-control"] = "no-store"
        if scope.get("scheme") == "https":
            extra["strict-transport-security"] = "max-age=31536000"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_security(app: FastAPI, settings: Settings) -> None:
    """Add the three layers (call after the body limit and before the request context are added, so
    they sit between the two) and keep the authenticator for the routes' own checks (`api.auth`)."""
    limiter = FailedAuthLimiter(settings.api_auth_failures, settings.api_auth_failure_window_s)
    authenticator = Authenticator(settings, limiter)
    app.state.authenticator = authenticator
    policy = AccessPolicy(docs_public=settings.api_docs_public, metrics_public=settings.api_metrics_public)
    app.add_middleware(AuthenticationMiddleware, policy=policy, authenticator=authenticator,
                       retry_after_s=settings.api_retry_after_s)
    app.add_middleware(BrowserGuardMiddleware, hosts=settings.api_hosts_accepted,
                       origins=settings.api_allowed_origins)
    app.add_middleware(SecurityHeadersMiddleware)
