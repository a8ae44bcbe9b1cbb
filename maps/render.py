"""HTML pages of a map: a standalone page, or an embeddable page for an iframe (``embed=True``)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from maps.assets import apply_assets, config_of
from maps.errors import MapError

if TYPE_CHECKING:
    import folium

EMBED_CSS = """
<style>
html, body { width: 100%; height: 100%; margin: 0; padding: 0; overflow: hidden; }
.folium-map { position: absolute !important; inset: 0; width: 100% !important;
  height: 100% !important; }
.coverage-title { display: none; }
.coverage-legend { max-width: 230px; max-height: 60vh; overflow: auto; font-size: 11px; }
</style>
"""
"""An iframe page: full-size map, no title box (the host page has its heading)."""

EMBED_SCRIPT = """
<script>
if (window.innerHeight < 560 || window.innerWidth < 560) {
    document.querySelectorAll(".coverage-legend details").forEach(function (d) {
        d.removeAttribute("open");
    });
}
</script>
"""
"""Folds the legend in small frames (run after the map script built the controls)."""

_LINK_RE = re.compile(r"""<(?:script|link)\b[^>]*?(?:src|href)\s*=\s*["']([^"']+)["']""", re.I)


def render_html(fmap: folium.Map, *, embed: bool = False) -> str:
    """The HTML page of a map, in French (``<html lang="fr">``).

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
    str
        The page. With self-hosted assets (``AssetConfig(base_url=...)``)
        every script and stylesheet URL is under the base URL.

    Raises
    ------
    MapError
        If a self-hosted page would still load a script or stylesheet from elsewhere.
    """
    from branca.element import CssLink, Figure, JavascriptLink

    from maps._controls import PAGE_TEMPLATE

    figure = fmap.get_root()
    if not isinstance(figure, Figure):
        raise MapError("the map is not in a folium Figure; build it with folium.Map")
    figure._template = PAGE_TEMPLATE
    config = config_of(fmap)
    apply_assets(fmap, config)
    # links are re-added by every element at render: drop those of an earlier render
    for key, child in list(figure.header._children.items()):
        if isinstance(child, JavascriptLink | CssLink):
            del figure.header._children[key]
    page = figure.render()
    if embed:
        page = page.replace("</head>", f'<base target="_blank">\n{EMBED_CSS}</head>', 1)
        head, sep, tail = page.rpartition("</html>")
        page = f"{head}{EMBED_SCRIPT}{sep}{tail}"
    if config.base_url is not None:
        base = config.base_url.rstrip("/") + "/"
        outside = [url for url in _LINK_RE.findall(page) if not url.startswith(base)]
        if outside:
            raise MapError(
                f"self-hosted page would load {len(outside)} file(s) from elsewhere "
                f"({', '.join(outside[:3])}); base_url is {config.base_url!r}"
            )
    return page
