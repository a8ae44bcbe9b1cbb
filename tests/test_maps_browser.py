"""The maps in a real browser: the API under uvicorn, Debian's headless Chromium, local Leaflet.

The API (``api.app.create_app``) runs on 127.0.0.1 with the Gers bundle and
serves Leaflet from a local folder (``COVERAGE_API_ASSETS_DIR``); Chromium,
driven by playwright, opens the coverage map and one EPCI portrait, and the
test checks what Leaflet put in the DOM (commune polygons, markers, legend,
layer control), that switching layers works, and that the page called no
server but 127.0.0.1. Screenshots are saved as test artefacts.

Environment:

- ``COVERAGE_TEST_ASSETS``: the folder served as ``/assets``, holding
  ``leaflet/dist/leaflet.js`` (npm's ``node_modules`` folder; default
  ``.ci-assets/node_modules``, made by ``npm install --prefix .ci-assets leaflet@1.9``);
- ``COVERAGE_CHROMIUM``: the browser (default ``/usr/bin/chromium``, Debian's ``chromium``);
- ``COVERAGE_TEST_ARTEFACTS``: where screenshots go (default: the test's tmp folder);
- ``COVERAGE_REQUIRE_BROWSER=1`` (CI): a missing browser, playwright or asset
  folder fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.browser import (
    CHROMIUM_ARGS,
    blank_tile,
    browser_requirements,
    free_port,
    serve_app,
)

pytestmark = pytest.mark.network

BAS_ARMAGNAC = "243200409"
TILE_PATH = "/test-tiles/"
VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
    window.__violations.push({directive: e.violatedDirective, blocked: e.blockedURI});
});
"""


@pytest.fixture(scope="module")
def browser_setup() -> tuple[Path, Path]:
    """The Chromium executable and the assets folder, or a clear failure/skip."""
    return browser_requirements()


@pytest.fixture(scope="module")
def api_server(browser_setup, shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """The real API under uvicorn on 127.0.0.1, with its default Gers run finished.

    Yields ``(base_url, run_id)``.
    """
    from api.app import create_app
    from api.settings import ApiSettings

    _chromium, assets = browser_setup
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    state = tmp_path_factory.mktemp("api_browser")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COVERAGE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        mp.delenv("COVERAGE_DATA_DIR", raising=False)
        settings = ApiSettings(
            data_dir=shared_data,
            territories=("gers",),
            state_dir=state,
            assets_dir=assets,
            assets_url="/assets",
            # tiles from this host too; the browser answers them itself (see _route)
            tiles_url=f"{base}{TILE_PATH}{{z}}/{{x}}/{{y}}.png",
            tiles_attribution="Fond de test",
            default_run=True,
        )
        with serve_app(create_app(settings), port):
            run_id = _wait_default_run(base, time.monotonic() + 240)
            yield base, run_id


def _wait_default_run(base: str, deadline: float) -> str:
    """The id of the default scenario's run once it is done (the server starts it)."""
    with httpx.Client(base_url=base, timeout=10) as client:
        while True:
            runs = client.get("/scenarios", params={"territory": "gers"}).json()["runs"]
            startup = [r for r in runs if r["origin"] == "startup"]
            if startup and startup[0]["status"] == "done":
                return str(startup[0]["id"])
            if startup and startup[0]["status"] == "failed":
                pytest.fail(f"the default run failed: {startup[0].get('reason')}")
            assert time.monotonic() < deadline, f"the default run is not done: {startup}"
            time.sleep(0.5)


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("COVERAGE_TEST_ARTEFACTS")
    path = Path(folder) / "maps" if folder else tmp_path_factory.mktemp("artefacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser(browser_setup):
    from playwright.sync_api import sync_playwright

    chromium, _assets = browser_setup
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


class PageLog:
    """What a page asked for and what went wrong in it."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.refused: list[str] = []
        self.tiles = 0
        self.errors: list[str] = []
        self.violations: list[dict[str, str]] = []


def _open(browser, url: str, *, width: int, height: int) -> tuple[object, PageLog]:
    """Open a page; requests off 127.0.0.1 are refused and logged, tiles answered locally."""
    log = PageLog()
    page = browser.new_page(viewport={"width": width, "height": height}, locale="fr-FR")
    tile = blank_tile()

    def route(route) -> None:
        request_url = route.request.url
        log.requests.append(request_url)
        parts = urlsplit(request_url)
        if parts.hostname != "127.0.0.1":
            log.refused.append(request_url)
            route.abort()
        elif parts.path.startswith(TILE_PATH):
            log.tiles += 1
            route.fulfill(status=200, content_type="image/png", body=tile)
        else:
            route.continue_()

    page.route("**/*", route)
    page.on("pageerror", lambda exc: log.errors.append(str(exc)))
    page.add_init_script(VIOLATIONS)
    response = page.goto(url, wait_until="load")
    assert response is not None and response.status == 200, url
    page.wait_for_selector(".leaflet-control-layers", timeout=15_000)
    page.wait_for_timeout(300)
    log.violations = page.evaluate("window.__violations")
    return page, log


def _assert_local_only(log: PageLog, base: str) -> None:
    assert not log.refused, f"the page called other servers: {log.refused[:5]}"
    assert not log.errors, f"JavaScript errors: {log.errors}"
    # the page's Content-Security-Policy lets Leaflet, the tiles and the map's own scripts run
    assert not log.violations, f"refused by the page's policy: {log.violations}"
    assets = [u for u in log.requests if "/assets/" in u]
    assert f"{base}/assets/leaflet/dist/leaflet.js" in assets
    assert f"{base}/assets/leaflet/dist/leaflet.css" in assets
    assert log.tiles > 0  # the configured tile server was used


def test_coverage_map_in_chromium(browser, api_server, artefacts: Path) -> None:
    base, run_id = api_server
    page, log = _open(browser, f"{base}/maps/coverage?run={run_id}", width=1280, height=900)
    try:
        _assert_local_only(log, base)
        # the France services choropleth is shown: one SVG path per commune
        assert page.locator("path.leaflet-interactive").count() == 458
        assert page.locator(".leaflet-marker-icon").count() == 92 + 3
        legend = page.locator(".coverage-legend")
        assert legend.count() == 1
        text = legend.inner_text()
        for line in ("moins de 10 min", "45 min et plus", "Communes mal desservies", "Services"):
            assert line in text
        assert "OpenStreetMap" in page.locator(".leaflet-control-attribution").inner_text()
        assert page.locator(".coverage-title").is_visible()
        # a click on a commune opens its French popup
        # click the centre of a commune shape that nothing covers (the title
        # box or a control may lie over some shapes)
        click_point = page.evaluate(
            """() => {
                for (const path of document.querySelectorAll("path.leaflet-interactive")) {
                    const box = path.getBoundingClientRect();
                    if (box.width < 8 || box.height < 8) continue;
                    const x = box.left + box.width / 2, y = box.top + box.height / 2;
                    if (document.elementFromPoint(x, y) === path) return [x, y];
                }
                return null;
            }"""
        )
        assert click_point is not None, "aucune commune cliquable sur la carte"
        page.mouse.click(*click_point)
        popup = page.locator(".leaflet-popup-content")
        popup.wait_for(timeout=5_000)
        assert "Habitants" in popup.inner_text() and "Temps moyen" in popup.inner_text()
        page.screenshot(path=str(artefacts / "carte_couverture.png"))

        # switch to the tiers-lieux layers: choropleth + its underserved communes
        control = page.locator(".leaflet-control-layers")
        control.get_by_text("Temps d’accès : Tiers-lieux solidaires").click()
        control.get_by_text("Communes mal desservies : Tiers-lieux solidaires").click()
        summary = httpx.get(f"{base}/scenarios/{run_id}/summary", timeout=10).json()
        underserved = int(summary["analyses"]["tiers_lieu"]["underserved_count"])
        assert underserved > 300
        page.wait_for_timeout(200)
        assert page.locator("path.leaflet-interactive").count() == 458 + underserved
        control.get_by_text("Isochrones : Tiers-lieux solidaires").click()
        page.wait_for_timeout(200)
        assert page.locator("path.leaflet-interactive").count() == 458 + underserved + 3
        assert not page.evaluate("window.__violations")  # popups and layer switches included
        page.screenshot(path=str(artefacts / "carte_tiers_lieux.png"))
    finally:
        page.close()
    assert (artefacts / "carte_couverture.png").stat().st_size > 10_000


def test_epci_portrait_in_chromium(browser, api_server, gers, artefacts: Path) -> None:
    base, run_id = api_server
    members = int((gers.communes["epci_siren"] == BAS_ARMAGNAC).sum())
    url = f"{base}/portraits/{BAS_ARMAGNAC}?run={run_id}"
    page, log = _open(browser, url, width=720, height=480)
    try:
        _assert_local_only(log, base)
        # its communes and its outline, nothing else
        assert page.locator("path.leaflet-interactive").count() == members + 1
        assert page.locator(".leaflet-marker-icon").count() >= 1
        assert page.locator(".coverage-legend").count() == 1
        assert "CC du Bas Armagnac" in page.locator(".coverage-legend summary").inner_text()
        assert not page.locator(".coverage-title").is_visible()  # embedded: no title box
        assert page.evaluate("document.documentElement.lang") == "fr"
        # fitted to the EPCI: its polygons fill the frame without leaving it
        left, top, right, bottom = page.evaluate(
            """() => {
                const boxes = [...document.querySelectorAll('path.leaflet-interactive')]
                    .map(p => p.getBoundingClientRect());
                const min = k => Math.min(...boxes.map(b => b[k]));
                const max = k => Math.max(...boxes.map(b => b[k]));
                return [min('left'), min('top'), max('right'), max('bottom')];
            }"""
        )
        assert left >= -1 and top >= -1 and right <= 721 and bottom <= 481
        assert (right - left) > 0.6 * 720 or (bottom - top) > 0.6 * 480
        page.screenshot(path=str(artefacts / "portrait_bas_armagnac.png"))
    finally:
        page.close()
    assert (artefacts / "portrait_bas_armagnac.png").stat().st_size > 5_000
