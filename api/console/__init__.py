"""The web console and the API docs, every asset served from here (no CDN).

`install(app)` adds:

* `/ui/static/...`: the console's ES modules, CSS and vendored libraries (Cytoscape.js,
  cytoscape-dagre, Swagger UI, ReDoc; each beside its LICENSE under `static/vendor/`);
* `/` and `/ui/{page}`: one HTML shell; the page is chosen in the browser from the path,
  so every deep link of the contract is a URL to share (`/ui/artifacts/{digest}`,
  `/ui/blast-radius?commit=...`, `/ui/deployments?as_of=...`, `/ui/alerts`, `/ui/audit`);
* `/docs` and `/redoc` over the app's own OpenAPI document.

The shell is public (it holds nothing); the data comes from the read API with the read
token, which the browser asks for once per session and keeps in `sessionStorage`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
_VENDOR = "/ui/static/vendor"


def install(app: FastAPI) -> None:
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="console-static")
    shell = STATIC / "index.html"

    def page() -> FileResponse:
        return FileResponse(shell, media_type="text/html", headers={"Cache-Control": "no-cache"})

    app.add_api_route("/", page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/ui", page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/ui/{rest:path}", page, methods=["GET"], include_in_schema=False)

    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url=f"{_VENDOR}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{_VENDOR}/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/ui/static/favicon.svg",
        )

    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API",
            redoc_js_url=f"{_VENDOR}/redoc/redoc.standalone.js",
            redoc_favicon_url="/ui/static/favicon.svg",
            with_google_fonts=False,
        )

    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)
    app.add_api_route("/redoc", redoc, methods=["GET"], include_in_schema=False)


__all__ = ["STATIC", "install"]
