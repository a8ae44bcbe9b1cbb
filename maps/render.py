"""HTML pages of a map: a standalone page, or an embeddable page for an iframe (``embed=True``).

Each page carries its Content-Security-Policy (:mod:`maps.csp`) in a
``<meta>`` element ahead of everything else, so that a map file opened from
disk or served by any web server runs only its own scripts; the API sends the
same policy as a header (:func:`render_page` returns it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from markupsafe import Markup

from maps.assets import INLINE_PREFIX, apply_assets, config_of, inline_asset, walk
from maps.csp import page_policy
from maps.errors import MapError
from maps.escape import guard_script, template

if TYPE_CHECKING:
    import folium

EMBED_CSS = Markup("""
<style>
html, body { width: 100%; height: 100%; margin: 0; padding: 0; overflow: hidden; }
.folium-map { position: absolute !important; inset: 0; width: 100% !important;
  height: 100% !important; }
.coverage-title { display: none; }
.coverage-legend { max-width: 230px; max-height: 60vh; overflow: auto; font-size: 11px; }
</style>
""")
"""An iframe page: full-size map, no title box (the host page has its heading)."""

EMBED_SCRIPT = Markup("""
if (window.innerHeight < 560 || window.innerWidth < 560) {
    document.querySelectorAll(".coverage-legend details").forEach(function (d) {
        d.removeAttribute("open");
    });
}
""")
"""Folds the legend in small frames (run after the map script built the controls)."""

PAGE_TEMPLATE = template(
    "<!DOCTYPE html>\n"
    '<html lang="fr">\n'
    "<head>\n"
    '<meta charset="utf-8">\n'
    '<meta http-equiv="Content-Security-Policy" content="{{ policy }}">\n'
    "{% if title %}<title>{{ title }}</title>\n{% endif %}"
    '{% if embed %}<base target="_blank">\n{{ embed_css }}{% endif %}'
    "    {{ header }}\n"
    "</head>\n"
    "<body>\n"
    "    {{ body }}\n"
    "</body>\n"
    "<script>{{ script }}</script>\n"
    "{% if embed %}<script>{{ embed_script }}</script>\n{% endif %}"
    "</html>\n"
)
"""The page: its encoding and policy first, the escaped title, folium's head, the map's div and
script (branca's own ``<meta http-equiv="content-type">`` is left out: one encoding, first)."""

_LINK_RE = re.compile(r"""<(?:script|link)\b[^>]*?(?:src|href)\s*=\s*["']([^"']+)["']""", re.I)
_SCRIPT_RE = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.I | re.S)


_INLINE_KEY = "coverage_inline_"
"""Header keys of the assets written into the page (dropped before the next render)."""


def _inline_assets(header: object) -> None:
    """Replace each link to an inlined asset by its ``<script>`` or ``<style>`` element."""
    from branca.element import CssLink, Element

    children = header._children  # type: ignore[attr-defined]
    inlined, others = [], []
    for key, child in children.items():
        url = str(getattr(child, "url", ""))
        if url.startswith(INLINE_PREFIX):
            name = url[len(INLINE_PREFIX) :]
            text = inline_asset(name)
            if isinstance(child, CssLink):
                html = "<style>" + text.replace("</", "<\\/") + "</style>"
            else:
                html = f"<script>{guard_script(text)}</script>"
            # the text is no template: the element writes it as it is
            element = Element("{{ this.text }}")
            element.text = html
            inlined.append((_INLINE_KEY + name, element))
        else:
            others.append((key, child))
    children.clear()  # Leaflet first, as folium's first render orders it, on every render
    children.update(inlined + others)


@dataclass(frozen=True)
class MapPage:
    """A rendered map page and its Content-Security-Policy.

    Attributes
    ----------
    html
        The page (its policy is in a ``<meta>`` element too).
    policy
        The policy, without ``frame-ancestors`` (for a header, add it).
    """

    html: str
    policy: str


def render_page(fmap: folium.Map, *, embed: bool = False) -> MapPage:
    """The HTML page of a map, in French (``<html lang="fr">``), with its policy.

    Parameters
    ----------
    fmap
        A map built by this package (or any folium map).
    embed
        ``False``: a standalone page (title box, legend, layer control).
        ``True``: a page meant for an ``<iframe>``: the map fills the frame,
        no title box, compact legend, links open outside the frame, and no
        web font (system fonts, inline SVG pins).

    Returns
    -------
    MapPage
        The page and its policy. With self-hosted assets
        (``AssetConfig(base_url=...)``) every script and stylesheet URL is
        under the base URL.

    Raises
    ------
    MapError
        If a self-hosted page would still load a script or stylesheet from elsewhere.
    """
    import folium
    from branca.element import CssLink, Figure, JavascriptLink

    from maps._controls import FIGURE_TEMPLATE
    from maps.literal import install as keep_rendered_text_literal

    keep_rendered_text_literal()
    figure = fmap.get_root()
    if not isinstance(figure, Figure):
        raise MapError("the map is not in a folium Figure; build it with folium.Map")
    figure._template = FIGURE_TEMPLATE
    config = config_of(fmap)
    apply_assets(fmap, config)
    # links are re-added by every element at render: drop those of an earlier render
    for key, child in list(figure.header._children.items()):
        if isinstance(child, JavascriptLink | CssLink) or key.startswith(_INLINE_KEY):
            del figure.header._children[key]
    for child in figure._children.values():  # as Figure.render: fills header, html, script
        child.render()
    if config.inline:
        _inline_assets(figure.header)
    # the page declares its encoding first, itself: branca's declaration stays out of this page
    encoding = figure.header._children.pop("meta_http", None)
    try:
        header = figure.header.render()
    finally:
        if encoding is not None:
            figure.header._children["meta_http"] = encoding
            figure.header._children.move_to_end("meta_http", last=False)
    body = figure.html.render()
    script = guard_script(f"\n{figure.script.render()}\n")
    links = [c for c in figure.header._children.values() if isinstance(c, JavascriptLink | CssLink)]
    # the head holds folium's own elements (links, styles, switches), never data
    inline = [code for attrs, code in _SCRIPT_RE.findall(header) if "src" not in attrs.lower()]
    inline.append(str(script))
    if embed:
        inline.append(str(EMBED_SCRIPT))
    policy = page_policy(
        inline_scripts=inline,
        script_urls=[c.url for c in links if isinstance(c, JavascriptLink)],
        stylesheet_urls=[c.url for c in links if isinstance(c, CssLink)],
        tile_urls=[str(c.tiles) for c in walk(fmap) if isinstance(c, folium.TileLayer)],
    )
    page = PAGE_TEMPLATE.render(
        policy=policy,
        title=figure.title,
        embed=embed,
        embed_css=EMBED_CSS,
        embed_script=EMBED_SCRIPT,
        header=Markup(header),
        body=Markup(body),
        script=script,
    )
    if config.inline and _LINK_RE.search(page):
        raise MapError(
            "une page hors ligne chargerait un fichier d’ailleurs "
            f"({_LINK_RE.search(page).group(1)}) ; AssetConfig(cdn=True) accepte les CDN"
        )
    if config.base_url is not None:
        base = config.base_url.rstrip("/") + "/"
        outside = [url for url in _LINK_RE.findall(page) if not url.startswith(base)]
        if outside:
            raise MapError(
                f"self-hosted page would load {len(outside)} file(s) from elsewhere "
                f"({', '.join(outside[:3])}); base_url is {config.base_url!r}"
            )
    return MapPage(html=page, policy=policy)


def render_html(fmap: folium.Map, *, embed: bool = False) -> str:
    """The HTML page of a map (:func:`render_page`'s page, its policy in a ``<meta>``).

    Parameters
    ----------
    fmap
        A map built by this package (or any folium map).
    embed
        A page for an ``<iframe>`` (see :func:`render_page`).

    Returns
    -------
    str
        The page.

    Raises
    ------
    MapError
        If a self-hosted page would still load a script or stylesheet from elsewhere.
    """
    return render_page(fmap, embed=embed).html
