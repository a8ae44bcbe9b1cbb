"""Folium maps and static images built from engine results; imports coverage, never the reverse.

Public API::

    coverage_map(result, analysis=None, *, assets=None) -> folium.Map
    portrait_map(result, epci_siren, analysis=None, *, assets=None) -> folium.Map
    itinerary_map(stops, routes, *, title, assets=None) -> folium.Map
    render_html(fmap, *, embed=False) -> str
    render_page(fmap, *, embed=False) -> MapPage(html, policy)
    export_png(result, path, *, analysis=None, epci_siren=None, dpi=150) -> Path
    AssetConfig(base_url=None, tiles_url=None, ...)

Builders read a :class:`coverage.results.ResultFolder` and compute no travel
time; folium and matplotlib are imported inside the functions that use them.
Every text from a result is escaped (:mod:`maps.escape`) and every page
carries a Content-Security-Policy allowing only its own scripts (:mod:`maps.csp`).
"""

from __future__ import annotations

from maps import _template_cache

_template_cache.install()  # before folium and branca compile their templates

from maps.assets import AssetConfig, local_asset_files  # noqa: E402
from maps.coverage_map import coverage_map  # noqa: E402
from maps.errors import MapError, UnknownEpciError  # noqa: E402
from maps.itinerary import itinerary_map  # noqa: E402
from maps.portrait import portrait_map  # noqa: E402
from maps.render import MapPage, render_html, render_page  # noqa: E402
from maps.static import export_png  # noqa: E402

__all__ = [
    "AssetConfig",
    "MapError",
    "MapPage",
    "UnknownEpciError",
    "coverage_map",
    "export_png",
    "itinerary_map",
    "local_asset_files",
    "portrait_map",
    "render_html",
    "render_page",
]
