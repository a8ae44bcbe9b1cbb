"""Security headers of every response: no sniffing, a Content-Security-Policy, who may frame.

Every response, errors and crashes included, carries
``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin``. An
unexpected exception is logged with its traceback and answered as the
documented JSON error (``500``, ``{"error": "internal", ...}``), never as
Starlette's plain text, and the connection stays open.

The Content-Security-Policy depends on the page:

- map pages (``/maps/coverage``, ``/portraits/{epci}``) bring their own
  policy (:func:`maps.render_page`: their inline scripts by hash, Leaflet and
  the tiles by URL) and :func:`page_headers` adds who may frame them: a page
  meant for an iframe (``embed=true``, the portraits' default) by the server
  itself and the portal origins of ``COVERAGE_API_FRAME_ANCESTORS``; any other
  page by nobody (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``);
- the OpenAPI pages (``/docs``, ``/redoc``) get :func:`docs_policy`, computed
  from their HTML, which FastAPI writes without data from any request;
- every other response (JSON, errors, assets) :data:`API_POLICY`: nothing
  may run or be framed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from api.errors import error_body
from maps.csp import script_hash, url_source

API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""The policy of every response that is not a page (JSON, errors, files)."""

BASE_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
)
"""Headers of every response."""

log = logging.getLogger("api")

INTERNAL_ERROR_MESSAGE = "erreur interne du serveur ; elle est consignée dans son journal"

_SCRIPT_RE = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.I | re.S)
_SRC_RE = re.compile(r"""\bsrc\s*=\s*["']([^"']+)["']""", re.I)
_LINK_RE = re.compile(r"<link\b[^>]*>", re.I)
_HREF_RE = re.compile(r"""\bhref\s*=\s*["']([^"']+)["']""", re.I)


def frame_ancestors(origins: Iterable[str], *, embeddable: bool) -> str:
    """The ``frame-ancestors`` sources of a page.

    Parameters
    ----------
    origins
        The portal origins allowed to frame embeddable pages (the setting
        ``frame_ancestors``; ``*`` for any site).
    embeddable
        Whether the page is meant for an iframe.
    """
    if not embeddable:
        return "'none'"
    origins = list(origins)
    if "*" in origins:
        return "*"
    return " ".join(["'self'", *origins])


def page_headers(policy: str, origins: Iterable[str], *, embeddable: bool) -> dict[str, str]:
    """The headers of a map page: its policy with ``frame-ancestors``, and DENY when not framed.

    Parameters
    ----------
    policy
        The page's own policy (:attr:`maps.MapPage.policy`).
    origins
        The portal origins allowed to frame embeddable pages.
    embeddable
        Whether the page is meant for an iframe.
    """
    ancestors = frame_ancestors(origins, embeddable=embeddable)
    headers = {"Content-Security-Policy": f"{policy}; frame-ancestors {ancestors}"}
    if not embeddable:
        headers["X-Frame-Options"] = "DENY"
    return headers


def docs_policy(page: str) -> str:
    """The policy of an OpenAPI page (Swagger UI, ReDoc) from its HTML.

    Its inline scripts by hash and its script files and stylesheets by URL
    (this server's, :mod:`api.docs_pages`); images and fonts from this server
    or ``data:``, requests to this server only, ReDoc's worker from a ``blob:``.
    """
    scripts: list[str] = []
    for attributes, code in _SCRIPT_RE.findall(page):
        src = _SRC_RE.search(attributes)
        scripts.append(url_source(src.group(1)) if src else script_hash(code))
    styles = []
    for link in _LINK_RE.findall(page):
        href = _HREF_RE.search(link)
        if href and "stylesheet" in link.lower():
            styles.append(url_source(href.group(1)))
    directives = [
        "default-src 'none'",
        "script-src " + " ".join(dict.fromkeys(scripts or ["'none'"])),
        "style-src " + " ".join(dict.fromkeys(["'unsafe-inline'", *styles])),
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src blob:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ]
    return "; ".join(directives)


def error_headers() -> dict[str, str]:
    """The headers of a response built outside the middleware (the 500 handler)."""
    return {
        **dict(BASE_HEADERS),
        "Content-Security-Policy": API_POLICY,
        "X-Frame-Options": "DENY",
    }


def internal_error_response() -> JSONResponse:
    """The answer to an unexpected exception: the documented JSON error, with the headers."""
    return JSONResponse(
        status_code=500,
        content=error_body("internal", INTERNAL_ERROR_MESSAGE),
        headers=error_headers(),
    )


async def internal_error(_request: Request, _exc: Exception) -> JSONResponse:
    """Starlette's handler of unexpected exceptions (``app.add_exception_handler(Exception)``).

    :class:`SecurityHeaders` answers the exceptions raised inside it (and logs
    them); this handler answers those raised outside it, from Starlette's
    outermost middleware, past :class:`SecurityHeaders`: so it carries the
    headers itself. The server logs the exception.
    """
    return internal_error_response()


def _has(headers: list[tuple[bytes, bytes]], name: bytes) -> bool:
    return any(key.lower() == name for key, _value in headers)


class SecurityHeaders:
    """ASGI middleware adding the security headers to every response (add it last: outermost).

    Parameters
    ----------
    app
        The wrapped ASGI application.
    docs_paths
        Paths of the OpenAPI pages, whose policy is computed from their body
        (:func:`docs_policy`).
    """

    def __init__(self, app: Any, docs_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.docs_paths = frozenset(p for p in docs_paths if p)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def with_headers(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": self._headers(message)}
            await send(message)

        try:
            if scope.get("path") in self.docs_paths:
                await self._docs(scope, receive, send)
            else:
                await self.app(scope, receive, with_headers)
        except Exception as exc:
            if started:  # part of the answer is gone: the server can only close the connection
                raise
            log.error(
                "erreur interne sur %s %s", scope.get("method"), scope.get("path"), exc_info=exc
            )
            response = internal_error_response()
            await response(scope, receive, send)

    @staticmethod
    def _headers(message: dict[str, Any], policy: str | None = None) -> list[tuple[bytes, bytes]]:
        headers = list(message.get("headers", []))
        for name, value in BASE_HEADERS:
            if not _has(headers, name.lower().encode()):
                headers.append((name.lower().encode(), value.encode()))
        if not _has(headers, b"content-security-policy"):
            headers.append((b"content-security-policy", (policy or API_POLICY).encode()))
            if not _has(headers, b"x-frame-options"):
                headers.append((b"x-frame-options", b"DENY"))
        return headers

    async def _docs(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Hold an OpenAPI page until its body is complete, then send it with its policy."""
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def hold(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            policy = docs_policy(body.decode("utf-8", "replace"))
            await send({**start, "headers": self._headers(start, policy)})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, hold)
