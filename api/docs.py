"""`/docs`: Swagger UI served from this process, not from a CDN.

The page loads nothing from another origin (FastAPI's default page pulls its script and styles
from jsDelivr): the Swagger UI files come from the pinned `swagger-ui-py` package (Swagger UI 5.24,
Apache-2.0; its LICENSE is served at /docs/assets/LICENSE), and the start-up script is our own file,
so the page's Content-Security-Policy needs no inline script (`api.security.DOCS_CSP`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse

from api.errors import NotFound

_OWN = Path(__file__).resolve().parent / "docs_static"


def swagger_ui_folder() -> Path:
    """The static folder of the installed `swagger_ui` package (found without importing it: its
    `__init__` loads web-framework adapters we do not use)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is not installed (it is a dependency: pip install -e .)")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


# The only files served under /docs/assets: name -> (folder, media type).
ASSETS: dict[str, tuple[str, str]] = {
    "swagger-ui-bundle.js": ("swagger", "text/javascript; charset=utf-8"),
    "swagger-ui.css": ("swagger", "text/css; charset=utf-8"),
    "favicon-32x32.png": ("swagger", "image/png"),
    "LICENSE": ("swagger", "text/plain; charset=utf-8"),
    "init.js": ("own", "text/javascript; charset=utf-8"),
}

# Relative URLs: right under a proxy's path prefix too (the page is /docs, so they resolve to /docs/assets/...).
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - API</title>
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/assets/init.js"></script>
</body>
</html>
"""


# What a browser gets at /docs without a key when keys are required, instead of a bare JSON 401: why,
# and the three ways on. Plain HTML with no script or style (the /docs CSP allows neither from elsewhere).
KEY_NEEDED_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>API key needed - graphrag API</title></head>
<body>
<h1>This service's API documentation needs an API key</h1>
<p>This service requires API keys, and a browser cannot send one to this page.</p>
<ul>
<li>The <a href="./">web console</a> asks for a key and works with it.</li>
<li>Read the OpenAPI document with a key:
<code>curl -H "X-API-Key: $GRAPHRAG_API_KEY" SERVICE_URL/openapi.json</code>.</li>
<li>Its operator can open these pages to everyone who reaches the service with
<code>GRAPHRAG_API_PUBLIC_DOCS=true</code>.</li>
</ul>
<p>A key comes from the operator: <code>graphrag api-key create --scope read</code> on the service's machine.</p>
</body>
</html>
"""


def wants_docs_page(path: str, accept: str) -> bool:
    """A browser opening /docs (HTML accepted), not a client that reads JSON errors."""
    return path == "/docs" and "text/html" in accept.lower()


def install_docs(app: FastAPI) -> None:
    """Add `/docs` and its assets (the app must be built with `docs_url=None, redoc_url=None`)."""
    folders = {"swagger": swagger_ui_folder(), "own": _OWN}
    page = PAGE.format(title=app.title)

    @app.get("/docs", include_in_schema=False)
    async def docs_page() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/docs/assets/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> FileResponse:
        if name not in ASSETS:
            raise NotFound("file", name)
        folder, media_type = ASSETS[name]
        return FileResponse(folders[folder] / name, media_type=media_type,
                            headers={"Cache-Control": "public, max-age=3600"})
