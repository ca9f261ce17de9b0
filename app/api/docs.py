"""``/docs`` (Swagger UI) and ``/redoc``, working offline.

FastAPI's default pages load their scripts and styles from a CDN, so they are
blank without the internet. Here the same pages load them from
``/docs/assets/``, served from the files the ``fastapi-offline`` package ships
(Swagger UI 5, which reads OpenAPI 3.1, and ReDoc); the Swagger UI validator
badge, which would call out too, is off. Open, like ``/openapi.json``.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs/assets"
ASSETS = files("fastapi_offline") / "static"
_OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"


def install_docs(app: FastAPI) -> None:
    """Serve the pages and their assets; ``app`` is made with ``docs_url=None`` and
    ``redoc_url=None`` so that FastAPI's CDN pages are not there as well. The
    handlers are module functions that find the app in the request: FastAPI keeps
    the endpoints it has classified in a process-wide cache, so a handler closing
    over ``app`` would keep every app ever made alive (hundreds in the tests)."""
    app.mount(ASSETS_URL, StaticFiles(directory=str(ASSETS)), name="docs-assets")
    app.add_api_route("/docs", swagger_ui, include_in_schema=False)
    app.add_api_route(_OAUTH2_REDIRECT_URL, swagger_ui_redirect, include_in_schema=False)
    app.add_api_route("/redoc", redoc, include_in_schema=False)


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


async def swagger_ui(request: Request) -> HTMLResponse:
    app, base = request.app, _root(request)
    return get_swagger_ui_html(
        openapi_url=f"{base}{app.openapi_url}",
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{base}{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{base}{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{base}{ASSETS_URL}/favicon.png",
        oauth2_redirect_url=f"{base}{_OAUTH2_REDIRECT_URL}",
        swagger_ui_parameters={"validatorUrl": None},
    )


async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


async def redoc(request: Request) -> HTMLResponse:
    app, base = request.app, _root(request)
    return get_redoc_html(
        openapi_url=f"{base}{app.openapi_url}",
        title=f"{app.title} - ReDoc",
        redoc_js_url=f"{base}{ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{base}{ASSETS_URL}/favicon.png",
        with_google_fonts=False,
    )
