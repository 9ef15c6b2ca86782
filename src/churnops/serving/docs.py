"""The interactive docs, served offline: Swagger UI at /docs, ReDoc at /redoc, and `GET /`.

FastAPI's own pages load their JS, CSS and favicon from a CDN, so without internet they are blank.
Here the assets come from the installed `fastapi-offline` package: only its four static files are
served (under ASSETS_PATH), its FastAPI subclass is not used. The app is built with `docs_url=None,
redoc_url=None, openapi_url=None` and `register(app)` adds the pages and the OpenAPI document.

Offline all the way: ReDoc goes without Google Fonts, Swagger UI without its online validator badge,
and both pages carry a Content-Security-Policy that allows this origin only, because ReDoc's
sidebar logo is hard-wired to its CDN (the logo hides itself when it cannot load).

All of them are APIRoutes, not FastAPI's own routes or a StaticFiles mount: FastAPI's router sets
`scope["route"]` only for APIRoutes, so the others reach the request metrics and log as "unmatched"
and escape service.UNLOGGED_ENDPOINTS, which lists these paths.
"""

import importlib.util
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from churnops.serving.deps import ServiceDep

OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
ASSETS_PATH = "/docs/assets"  # under /docs, so a proxy that exposes /docs exposes its assets too
ASSETS_ROUTE = ASSETS_PATH + "/{name}"
ASSETS_PACKAGE, ASSETS_DISTRIBUTION = "fastapi_offline", "fastapi-offline"
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
# This origin only; inline code, eval, data: and blob: as the bundles need them (styles, search worker, icons).
PAGE_POLICY = {"Content-Security-Policy": "default-src 'self' 'unsafe-inline' 'unsafe-eval' data: blob:"}


class ServedModelSummary(BaseModel):
    name: str = Field(description="Registered model name.")
    alias: str = Field(description="The registry alias the service follows.")
    version: str | None = Field(description="The version answering now; null when none is loaded.")
    inference: Literal["onnx", "pyfunc"] | None = Field(description="How it scores; null when no model is loaded.")
    unavailable: str | None = Field(description="Why no model is loaded (predictions answer 503 meanwhile); null when one is.")


class ServiceLinks(BaseModel):
    docs: str = Field(description="Swagger UI: every endpoint, with 'Try it out'.")
    redoc: str = Field(description="ReDoc: the same reference, for reading.")
    openapi: str = Field(description="The OpenAPI document.")
    model: str = Field(description="The served version in detail.")
    health: str = Field(description="Liveness.")
    ready: str = Field(description="Readiness: model loaded and prediction store reachable.")
    metrics: str = Field(description="Prometheus metrics.")


class ServiceIndex(BaseModel):
    """What this service is, which model answers, and where to go next."""

    service: str
    api_version: str
    model: ServedModelSummary
    links: ServiceLinks


def register(app: FastAPI) -> None:
    """Add /openapi.json, /docs, /docs/oauth2-redirect, /redoc, the assets and `GET /` to an app built without FastAPI's own."""
    folder = _assets_folder()  # fails at start-up, not on the first page view, when the package is missing
    cache_forever = {"Cache-Control": "public, max-age=31536000, immutable"}
    assets_version = version(ASSETS_DISTRIBUTION)  # in every asset URL: an upgrade changes the URLs, so caching forever is safe

    @app.get(ASSETS_ROUTE, include_in_schema=False)
    async def docs_asset(name: str) -> FileResponse:
        if name not in ASSETS:
            raise HTTPException(404, f"No docs asset {name!r}.")
        return FileResponse(folder / name, headers=cache_forever)

    @app.get(OPENAPI_PATH, include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        schema = app.openapi()
        root = _root(request)  # behind a proxy, as FastAPI's own route does: the prefix as the first server
        if root and app.root_path_in_servers and root not in {server.get("url") for server in schema.get("servers", [])}:
            schema = {**schema, "servers": [{"url": root}, *schema.get("servers", [])]}
        return JSONResponse(schema)

    def asset(request: Request, name: str) -> str:
        return f"{_root(request)}{ASSETS_PATH}/{name}?v={assets_version}"

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        redirect = app.swagger_ui_oauth2_redirect_url
        page = get_swagger_ui_html(
            openapi_url=root + OPENAPI_PATH,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=asset(request, "swagger-ui-bundle.js"),
            swagger_css_url=asset(request, "swagger-ui.css"),
            swagger_favicon_url=asset(request, "favicon.png"),
            oauth2_redirect_url=root + redirect if redirect else None,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters={"validatorUrl": None, **(app.swagger_ui_parameters or {})},
        )
        page.headers.update(PAGE_POLICY)
        return page

    if app.swagger_ui_oauth2_redirect_url:

        @app.get(app.swagger_ui_oauth2_redirect_url, include_in_schema=False)
        async def swagger_ui_oauth2_redirect() -> HTMLResponse:
            return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_PATH, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = _root(request)
        page = get_redoc_html(
            openapi_url=root + OPENAPI_PATH,
            title=f"{app.title} - ReDoc",
            redoc_js_url=asset(request, "redoc.standalone.js"),
            redoc_favicon_url=asset(request, "favicon.png"),
            with_google_fonts=False,
        )
        page.headers.update(PAGE_POLICY)
        return page

    @app.get(
        "/",
        response_model=ServiceIndex,
        tags=["operations"],
        summary="Service index",
        responses={307: {"description": "To /docs, when the Accept header prefers text/html (a browser)."}},
    )
    def index(request: Request, service: ServiceDep) -> Any:
        """The service, the model it serves (or why none) and links to the docs and the operational endpoints.

        A browser (Accept preferring text/html over JSON) is redirected to /docs instead.
        """
        root = _root(request)
        if _prefers_html(request.headers.get("accept", "")):
            return RedirectResponse(root + DOCS_PATH, status_code=307)
        settings, model = service.settings, service.watcher.current
        return ServiceIndex(
            service=app.title,
            api_version=app.version,
            model=ServedModelSummary(
                name=settings.model_name,
                alias=settings.serve_alias,
                version=model.version if model else None,
                inference=model.inference if model else None,
                unavailable=None if model else service.watcher.reason,
            ),
            links=ServiceLinks(
                docs=root + DOCS_PATH,
                redoc=root + REDOC_PATH,
                openapi=root + OPENAPI_PATH,
                model=root + "/model",
                health=root + "/health",
                ready=root + "/ready",
                metrics=root + "/metrics",
            ),
        )


@cache
def _assets_folder() -> Path:
    """The package's static folder, found without importing the package (only its files are used)."""
    spec = importlib.util.find_spec(ASSETS_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    folders = [Path(location) / "static" for location in locations if all((Path(location) / "static" / name).is_file() for name in ASSETS)]
    if not folders:
        raise RuntimeError(f"The docs assets ({', '.join(ASSETS)}) are missing: install the '{ASSETS_DISTRIBUTION}' package (`make env`).")
    return folders[0]


def _root(request: Request) -> str:
    """The prefix the app is mounted under behind a proxy (uvicorn --root-path), so links and asset URLs still resolve."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def _prefers_html(accept: str) -> bool:
    """True when text/html ranks above application/json (browsers send `text/html,...,*/*;q=0.8`; curl sends `*/*`: JSON)."""
    ranges: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media:
            ranges[media.lower()] = quality

    def rank(media: str) -> float:
        kind = media.partition("/")[0]
        for candidate in (media, f"{kind}/*", "*/*"):  # the most specific range decides
            if candidate in ranges:
                return ranges[candidate]
        return 0.0

    return rank("text/html") > rank("application/json")
