"""Every page with the network cut: Chromium refuses any request to a host other than 127.0.0.1.

The pages: the ``map.html`` a run and an itinerary plan write (opened as ``file://``, as from a
shared drive), the API's coverage map and an EPCI portrait (API without
``ASSETS_DIR``: Leaflet inlined), ``/docs`` (Swagger UI) and ``/redoc``
(ReDoc) with their files served by the API. Each must render — Leaflet
defined and the communes drawn, Swagger UI's operations, ReDoc's sections —
with no request to another host except OpenStreetMap's tiles (refused too:
the département and commune outlines still draw the map).

Environment: ``COVERAGE_CHROMIUM`` (default ``/usr/bin/chromium``),
``COVERAGE_REQUIRE_BROWSER=1`` (CI: a missing browser fails instead of skipping).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.browser import CHROMIUM_ARGS, free_port, missing, serve_app

pytestmark = pytest.mark.network

BAS_ARMAGNAC = "243200409"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
TILE_HOST = "tile.openstreetmap.org"
VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
    window.__violations.push({directive: e.violatedDirective, blocked: e.blockedURI});
});
"""


@pytest.fixture(scope="module")
def browser():
    chromium = Path(os.environ.get("COVERAGE_CHROMIUM", "/usr/bin/chromium"))
    if not chromium.is_file():
        missing(f"{chromium} does not exist (apt-get install chromium, or set COVERAGE_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the Python package playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def offline_api(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """The API on 127.0.0.1 with its defaults (no ``ASSETS_DIR``, OpenStreetMap's tiles).

    Yields ``(base_url, run_id)`` once the default Gers run is done.
    """
    from api.app import create_app
    from api.settings import ApiSettings

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COVERAGE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        mp.delenv("COVERAGE_DATA_DIR", raising=False)
        settings = ApiSettings(
            data_dir=shared_data,
            territories=("gers",),
            state_dir=tmp_path_factory.mktemp("api_offline"),
            default_run=True,
        )
        with serve_app(create_app(settings), port):
            deadline = time.monotonic() + 240
            with httpx.Client(base_url=base, timeout=10) as client:
                while True:
                    runs = client.get("/scenarios", params={"territory": "gers"}).json()["runs"]
                    done = [r for r in runs if r["origin"] == "startup" and r["status"] == "done"]
                    if done:
                        break
                    assert time.monotonic() < deadline, f"the default run is not done: {runs}"
                    time.sleep(0.5)
            yield base, str(done[0]["id"])


class Cut:
    """A page opened with the network cut: what it asked for off this machine."""

    def __init__(self) -> None:
        self.outside: list[str] = []
        self.tiles: list[str] = []
        self.errors: list[str] = []


def open_cut(browser: Any, url: str, ready: str) -> tuple[Any, Cut]:
    """Open ``url`` refusing every request to a host other than 127.0.0.1/localhost."""
    cut = Cut()
    page = browser.new_page(viewport={"width": 1200, "height": 850}, locale="fr-FR")

    def route(route: Any) -> None:
        request = route.request.url
        parts = urlsplit(request)
        if parts.scheme not in ("file", "data", "blob") and parts.hostname not in LOCAL_HOSTS:
            (cut.tiles if parts.hostname == TILE_HOST else cut.outside).append(request)
            route.abort()
        else:
            route.continue_()

    page.route("**/*", route)
    page.on("pageerror", lambda exc: cut.errors.append(str(exc)))
    page.add_init_script(VIOLATIONS)
    page.goto(url, wait_until="load")
    page.wait_for_selector(ready, timeout=20_000)
    page.wait_for_timeout(300)
    return page, cut


def assert_map_renders(page: Any, cut: Cut, where: str, *, min_paths: int) -> None:
    assert page.evaluate("typeof L !== 'undefined' && L.version") == "1.9.3", where
    paths = page.locator("path.leaflet-interactive").count()
    assert paths >= min_paths, f"{where}: {paths} paths drawn"
    assert not cut.outside, f"{where}: other servers called {cut.outside[:5]}"
    assert cut.tiles, f"{where}: no tile asked for (is the route catching requests?)"
    assert not cut.errors, f"{where}: JavaScript errors {cut.errors}"
    assert page.evaluate("window.__violations") == [], where


def test_written_run_map_offline(browser, gers_result) -> None:
    url = (gers_result.path / "map.html").resolve().as_uri()
    page, cut = open_cut(browser, url, ".leaflet-control-layers")
    try:
        # every Gers commune drawn, and its outline shown with no tile reachable
        assert_map_renders(page, cut, "map.html", min_paths=458)
        artefacts = os.environ.get("COVERAGE_TEST_ARTEFACTS")
        if artefacts:
            Path(artefacts).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(artefacts) / "carte_hors_ligne.png"))
    finally:
        page.close()


def test_written_itinerary_map_offline(browser, gers, tmp_path: Path) -> None:
    import geopandas as gpd
    import shapely

    from maps.itinerary_writer import write_itinerary_map

    communes = gers.communes[gers.communes["insee_code"].isin(["32013", "32296", "32208"])]
    points = communes.geometry.representative_point().to_numpy()
    stops = gpd.GeoDataFrame(
        {
            "name": ["Auch", "Lectoure", "Nogaro"],
            "visits": [12, 4, 8],
            "population": communes["population"].to_numpy(),
            "days": ["lundi", "mardi", "jeudi"],
        },
        geometry=points,
        crs=communes.crs,
    )
    routes = gpd.GeoDataFrame(
        {"day": [1, 2], "label": ["Tournée 1", "Tournée 2"], "minutes": [95.0, 70.5]},
        geometry=[shapely.LineString(points[:2]), shapely.LineString(points[1:])],
        crs=communes.crs,
    )
    stops.to_crs(4326).to_file(tmp_path / "stops.geojson", driver="GeoJSON")
    routes.to_crs(4326).to_file(tmp_path / "tours.geojson", driver="GeoJSON")
    summary = {"territory": {"label": "Gers"}, "period": {"start": "2026-01-05"}}
    url = write_itinerary_map(tmp_path, summary)[0].resolve().as_uri()
    page, cut = open_cut(browser, url, ".leaflet-container")
    try:
        assert_map_renders(page, cut, "itinéraire", min_paths=2)  # the two tours at least
    finally:
        page.close()


def test_api_map_and_portrait_offline(browser, offline_api) -> None:
    base, run_id = offline_api
    pages = {
        "carte": (f"{base}/maps/coverage?run={run_id}", 458),
        "portrait": (f"{base}/portraits/{BAS_ARMAGNAC}?run={run_id}", 26),
    }
    for where, (url, min_paths) in pages.items():
        page, cut = open_cut(browser, url, ".leaflet-control-layers")
        try:
            assert_map_renders(page, cut, where, min_paths=min_paths)
            assert page.locator("script[src], link[href]").count() == 0, where
        finally:
            page.close()


def test_openapi_pages_offline(browser, offline_api) -> None:
    base, _run = offline_api
    page, cut = open_cut(browser, f"{base}/docs", ".swagger-ui .opblock")
    try:
        assert page.locator(".swagger-ui .opblock").count() > 20  # every operation listed
        assert "coverage-territoires" in page.locator(".swagger-ui .info .title").inner_text()
        assert not cut.outside and not cut.tiles, cut.outside
        assert not cut.errors, cut.errors
        assert page.evaluate("window.__violations") == []  # the page's policy let it all run
    finally:
        page.close()
    page, cut = open_cut(browser, f"{base}/redoc", '[id^="operation/"]')
    try:
        assert page.locator('[id^="operation/"]').count() > 20
        assert "coverage-territoires" in page.locator("h1").first.inner_text()
        assert not cut.outside and not cut.tiles, cut.outside
        assert not cut.errors, cut.errors
        # ReDoc always shows Redocly's logo from its CDN: the page's policy refuses it before any
        # request leaves (img-src 'self' data:), ReDoc then hides the image; nothing else refused
        violations = page.evaluate("window.__violations")
        assert {(v["directive"], v["blocked"]) for v in violations} <= {
            ("img-src", "https://cdn.redoc.ly/redoc/logo-mini.svg")
        }, violations
    finally:
        page.close()
