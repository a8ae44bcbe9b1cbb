"""The Content-Security-Policy of a map page: our inline scripts by hash, assets and tiles by URL.

A page built by :func:`maps.render_page` runs three kinds of scripts: the
files of its assets (Leaflet), the inline scripts folium puts in the page's
head, and the page's own script (the map, its layers and their data). The
policy allows exactly those: the script files by their URL (``'self'`` for
assets under a path of the same server), the inline scripts by the SHA-256
of their text, no ``'unsafe-inline'``, no ``eval``. A script injected into
the page (a label that escaped escaping) has neither, so the browser refuses
it. Styles stay ``'unsafe-inline'``: the legends and Leaflet's markup carry
``style`` attributes, and a style cannot run code.

``frame-ancestors`` is no part of it: a ``<meta>`` policy cannot say who may
frame the page; the server adds it in its header (:mod:`api.security`).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from maps.errors import MapError

_UNSAFE = re.compile(r"[\s'\"<>\\^`{|}]")


def script_hash(code: str) -> str:
    """The CSP hash source of an inline script: ``'sha256-<base64>'`` of its UTF-8 text."""
    digest = hashlib.sha256(code.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def _clean(source: str, url: str) -> str:
    source = source.replace(";", "%3B").replace(",", "%2C")
    if _UNSAFE.search(source):
        raise MapError(f"URL {url!r} cannot be written in a Content-Security-Policy")
    return source


def url_source(url: str) -> str:
    """The source allowing one file: its full URL, or ``'self'`` for a path on this server."""
    if url.startswith("//"):
        url = "https:" + url
    parts = urlsplit(url)
    if not parts.scheme:
        return "'self'"
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise MapError(f"asset URL {url!r}: only http(s) URLs or paths can be allowed")
    return _clean(f"{parts.scheme}://{parts.netloc}{parts.path}", url)


def folder_source(url: str) -> str:
    """The source of the folder above a stylesheet's folder (its images and fonts)."""
    source = url_source(url)
    if source == "'self'":
        return source
    head, _sep, _name = source.rpartition("/")
    parent, _sep, _folder = head.rpartition("/")
    return parent + "/" if parent.count("/") >= 2 else head + "/"


def tiles_source(template: str) -> str:
    """The source of a Leaflet tile URL template (``https://{s}.tile.x.org/{z}/...``).

    The tile server (``https://tile.openstreetmap.org/``: every path on it); a
    ``{s}`` subdomain becomes ``*.``; a path on this server is ``'self'``.
    """
    parts = urlsplit(template.replace("{s}", "SUBDOMAIN"))
    if not parts.scheme:
        return "'self'"
    host = parts.netloc.replace("SUBDOMAIN", "*")
    if "{" in host or ("*" in host and not host.startswith("*.")):
        return _clean(f"{parts.scheme}:", template)
    return _clean(f"{parts.scheme}://{host}/", template)


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def page_policy(
    *,
    inline_scripts: Iterable[str],
    script_urls: Iterable[str],
    stylesheet_urls: Iterable[str],
    tile_urls: Iterable[str] = (),
) -> str:
    """The policy of a map page.

    Parameters
    ----------
    inline_scripts
        The exact text of every inline ``<script>`` the page holds.
    script_urls, stylesheet_urls
        The URLs of its script files and stylesheets.
    tile_urls
        The URL templates of its tile layers.

    Returns
    -------
    str
        ``default-src 'none'; script-src ...; style-src ...; img-src ...; ...``.
    """
    styles = list(stylesheet_urls)
    scripts = _unique(
        [*(script_hash(code) for code in inline_scripts), *(url_source(u) for u in script_urls)]
    )
    folders = _unique(folder_source(u) for u in styles)
    images = _unique([*(tiles_source(u) for u in tile_urls), *folders, "data:"])
    directives = [
        "default-src 'none'",
        "script-src " + " ".join(scripts or ["'none'"]),
        "style-src " + " ".join(_unique(["'unsafe-inline'", *(url_source(u) for u in styles)])),
        "img-src " + " ".join(images),
    ]
    if folders:
        directives.append("font-src " + " ".join(folders))
    directives += ["base-uri 'none'", "form-action 'none'"]
    return "; ".join(directives)
