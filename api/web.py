"""The web console: `GET /` serves its page, `/ui/` its ES modules and stylesheet, from the API's own process.

The page is plain ES modules that browsers load as they are (no bundler, no build output). Its files
and its one third-party library, Cytoscape.js, are package data of `api` (`api/console/`), so every
installation serves the same console: a wheel, an editable checkout, the Docker image, `make run`.
The library is vendored (`api/console/vendor/cytoscape.esm.min.mjs`, with its MIT licence) at the
version `web/package-lock.json` pins (a test compares the two; `make vendor-web` refreshes it from
npm), served at `/ui/vendor/cytoscape.js`: no CDN, no internet, and no npm where the service runs.
Nothing here is in the OpenAPI document: these are files, not the API.

The page's responses carry a Content-Security-Policy that allows only same-origin scripts, styles,
images and connections: the page has no inline script, style or handler, and Cytoscape's own
`<style>` injection is pre-empted by a same-origin stylesheet with the id it looks for.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from api.errors import ApiError

STATIC_DIR = Path(__file__).resolve().parent / "console"
CYTOSCAPE = STATIC_DIR / "vendor" / "cytoscape.esm.min.mjs"

CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")
_PAGE_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache",
                 "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


def install_web_console(app: FastAPI, static_dir: Path = STATIC_DIR, cytoscape: Path = CYTOSCAPE) -> None:
    """Serve the console at `/` (its page) and `/ui/` (its files) on `app`."""

    @app.get("/", include_in_schema=False)
    async def console_page() -> FileResponse:
        page = static_dir / "index.html"
        if not page.is_file():
            raise ApiError(404, "not_found", "the web console is not part of this installation (api/console is "
                                             "missing); the API is at /v1 and its documentation at /docs")
        return FileResponse(page, media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)

    @app.get("/ui/vendor/cytoscape.js", include_in_schema=False)
    async def cytoscape_module() -> FileResponse:
        if not cytoscape.is_file():
            raise ApiError(404, "not_found", "the graph library is missing from this installation "
                                             "(api/console/vendor; `make vendor-web` restores it)")
        return FileResponse(cytoscape, media_type="text/javascript; charset=utf-8",
                            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

    app.mount("/ui", StaticFiles(directory=static_dir, check_dir=False), name="ui")
