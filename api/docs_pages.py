"""The OpenAPI pages (``/docs``: Swagger UI, ``/redoc``: ReDoc) with their files served here.

FastAPI's own pages load Swagger UI and ReDoc from jsDelivr, a favicon from
fastapi.tiangolo.com and ReDoc's fonts from Google: blank pages on a network
without the Internet. These pages load the same files from the Python package
``fastapi-offline`` (Swagger UI 5 and ReDoc 2, MIT/Apache-2.0), served by this
server under :data:`DOCS_ASSETS_URL`; no web font, no validator badge (Swagger
UI would call validator.swagger.io).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
DOCS_ASSETS_URL = "/docs-assets"
"""Where the files of Swagger UI and ReDoc are served."""


def docs_static_folder() -> Path:
    """The folder of ``fastapi-offline`` holding Swagger UI's and ReDoc's files."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def add_docs_pages(app: FastAPI) -> tuple[str, str, str]:
    """Add ``/docs``, its OAuth2 redirect, ``/redoc`` and their files to an app built with
    ``docs_url=None, redoc_url=None``.

    Returns
    -------
    tuple of str
        The paths of the three pages (for :class:`api.headers.SecurityHeaders`).
    """
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=docs_static_folder()), name="docs-assets")
    title = app.title

    def openapi_url(request: Request) -> str:
        return f"{request.scope.get('root_path', '')}{app.openapi_url}"

    def asset(request: Request, name: str) -> str:
        return f"{request.scope.get('root_path', '')}{DOCS_ASSETS_URL}/{name}"

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url(request),
            title=f"{title} — documentation de l’API",
            swagger_js_url=asset(request, "swagger-ui-bundle.js"),
            swagger_css_url=asset(request, "swagger-ui.css"),
            swagger_favicon_url=asset(request, "favicon.png"),
            oauth2_redirect_url=OAUTH2_REDIRECT_URL,
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url(request),
            title=f"{title} — documentation de l’API",
            redoc_js_url=asset(request, "redoc.standalone.js"),
            redoc_favicon_url=asset(request, "favicon.png"),
            with_google_fonts=False,
        )

    return DOCS_URL, OAUTH2_REDIRECT_URL, REDOC_URL
