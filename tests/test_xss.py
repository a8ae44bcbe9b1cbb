"""Hostile labels and names never run in a browser; every response carries the security headers.

A scenario posted with the token gives its analyses, its own label and its
added sites names such as ``</title><script>alert(...)</script>``; the real
API (uvicorn, the Gers bundle) runs it and serves its coverage map and
portraits. The pages must hold none of that text unescaped, carry a
Content-Security-Policy that allows their own scripts only, and, opened in
headless Chromium with ``alert`` hooked and a ``securitypolicyviolation``
listener, fire nothing, draw the map and report no violation. A script
injected into a page anyway is refused by that policy, in the header (API)
and in the page's ``<meta>`` (map files). Commune, EPCI and stop names are
checked on maps built from a result whose layers were made hostile, and the
map files written by ``coverage run`` / ``coverage itinerary`` with them.

The browser tests need Chromium and Leaflet (see :mod:`tests.browser`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import httpx
import pytest
import shapely

import maps
from coverage.results import ResultFolder
from tests.browser import (
    CHROMIUM_ARGS,
    blank_tile,
    browser_requirements,
    free_port,
    serve_app,
)
from tests.conftest import REPO

pytestmark = pytest.mark.network

TOKEN = "jeton-de-test-xss-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PORTAL = "https://portail.example.fr"
GRAND_AUCH = "200066926"
BAS_ARMAGNAC = "243200409"
TILE_PATH = "/test-tiles/"
CDN = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/"

TITLE_BREAK = "</title><script>alert('titre')</script>"
ATTRIBUTE_BREAK = '"><img src=x onerror=alert("attribut")>'
SCRIPT_BREAK = "</script><script>alert('script')</script><!--"
TEMPLATE_BREAK = '{% for x in range(3) %}boucle{% endfor %} {{ "zq" ~ "xw" }} {# commentaire'
"""Jinja syntax in data: evaluated, it writes ``boucleboucleboucle`` and ``zqxw`` (or fails on
the lone ``{#``); a page writes it as text (see :mod:`maps.literal`)."""
RAW = ("<script>alert", "<img src=x", "</script><script>alert")
"""What any of the hostile texts looks like once it has escaped escaping."""

HOSTILE_SCENARIO: dict[str, Any] = {
    "scenario": {"name": "gers_hostile", "label": TITLE_BREAK, "territory": "gers"},
    "thresholds": {"minutes": [15, 20, 30]},
    "analyses": [
        {"name": "tiers_lieu", "label": TITLE_BREAK, "kinds": ["tiers_lieu"]},
        {"name": "fs", "label": ATTRIBUTE_BREAK + TEMPLATE_BREAK, "kinds": ["france_services"]},
    ],
    "services": {
        "add": [
            {
                "service_id": "tl_script",
                "kind": "tiers_lieu",
                "name": SCRIPT_BREAK,
                "insee_code": "32013",
            },
            {
                "service_id": "tl_img",
                "kind": "tiers_lieu",
                "name": ATTRIBUTE_BREAK + TEMPLATE_BREAK,
                "insee_code": "32208",
            },
        ]
    },
    "outputs": {"isochrones": True, "cells": False, "catchments": True, "map": True},
}

HOOKS = """
window.__alerts = [];
for (const name of ["alert", "confirm", "prompt"]) {
    window[name] = function (...args) { window.__alerts.push(name + ": " + args.join(" ")); };
}
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
    window.__violations.push({directive: e.violatedDirective, blocked: e.blockedURI,
                              sample: e.sample});
});
"""
"""Installed before any script of the page: records alerts and CSP violations."""

EXERCISE = """
() => {
    // every layer on the map, then every popup and tooltip opened: their HTML goes in the DOM
    for (const input of document.querySelectorAll(".leaflet-control-layers-selector")) {
        if (input.type === "checkbox" && !input.checked) input.click();
    }
    const name = Object.keys(window).find(k => /^map_[0-9a-f]{32}$/.test(k));
    const map = window[name];
    let opened = 0;
    map.eachLayer(function (layer) {
        const popup = layer.getPopup && layer.getPopup();
        if (popup) { popup.options.autoPan = false; layer.openPopup(); opened += 1; }
        if (layer.getTooltip && layer.getTooltip()) { layer.openTooltip(); }
    });
    return opened;
}
"""


def assert_inert(page: str, where: str) -> None:
    """No hostile text unescaped in the page."""
    for raw in RAW:
        assert raw not in page, f"{where}: unescaped {raw!r}"


def assert_template_text_literal(page: str, where: str) -> None:
    """The Jinja syntax of :data:`TEMPLATE_BREAK` is in the page as text, never evaluated."""
    assert "boucleboucle" not in page, f"{where}: template evaluated"
    assert "zqxw" not in page, f"{where}: template evaluated"
    assert "{% for x in range(3) %}boucle{% endfor %}" in page, where


def assert_escaped_once(page: str, where: str) -> None:
    """The title-breaking label is in the page, escaped (as HTML, or as HTML inside JSON)."""
    html = "&lt;/title&gt;&lt;script&gt;alert("
    assert html in page or html.replace("&", "\\u0026") in page, where


def inline_script_hashes(page: str) -> set[str]:
    """The CSP hash of every inline script of a page, as the browser parses it."""
    found = re.findall(r"<script\b([^>]*)>(.*?)</script\s*>", page, re.I | re.S)
    return {
        "'sha256-" + base64.b64encode(hashlib.sha256(code.encode()).digest()).decode() + "'"
        for attributes, code in found
        if "src" not in attributes
    }


def directives(policy: str) -> dict[str, list[str]]:
    """A policy's directives by name."""
    out = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


# --- the API serving a hostile run ------------------------------------------------------------


class Server:
    """The API under uvicorn, its settings and its base URL."""

    def __init__(self, base: str, settings: Any) -> None:
        self.base = base
        self.settings = settings
        self.http = httpx.Client(base_url=base, timeout=30)


def _assets_dir() -> Path | None:
    import os

    folder = Path(os.environ.get("COVERAGE_TEST_ASSETS", REPO / ".ci-assets" / "node_modules"))
    return folder.resolve() if (folder / "leaflet" / "dist" / "leaflet.js").is_file() else None


@pytest.fixture(scope="module")
def server(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The real API on 127.0.0.1 (Gers, a token, a portal allowed to frame, a crash route)."""
    from api.app import create_app
    from api.settings import ApiSettings

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    assets = _assets_dir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COVERAGE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        mp.delenv("COVERAGE_DATA_DIR", raising=False)
        settings = ApiSettings(
            data_dir=shared_data,
            territories=("gers",),
            state_dir=tmp_path_factory.mktemp("api_xss"),
            token=TOKEN,
            default_run=False,
            assets_dir=assets,
            assets_url="/assets",
            tiles_url=f"{base}{TILE_PATH}{{z}}/{{x}}/{{y}}.png",
            tiles_attribution="Fond de test",
            frame_ancestors=(PORTAL,),
            cors_origins=(PORTAL,),
        )
        app = create_app(settings)

        def crash() -> None:
            raise RuntimeError("panne simulée")

        app.add_api_route("/test/crash", crash)  # a forced 500 through the real stack
        with serve_app(app, port):
            server = Server(base, settings)
            yield server
            server.http.close()


@pytest.fixture(scope="module")
def hostile_run(server: Server) -> str:
    """The hostile scenario, posted with the token and run to the end; its id."""
    response = server.http.post("/scenarios", json=HOSTILE_SCENARIO, headers=AUTH)
    assert response.status_code == 202, response.text
    run_id = response.json()["id"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        run = server.http.get(f"/scenarios/{run_id}").json()
        if run["status"] == "done":
            return str(run_id)
        assert run["status"] != "failed", run
        time.sleep(0.3)
    raise AssertionError(f"the hostile run {run_id} did not finish")


def page_urls(run_id: str) -> dict[str, str]:
    return {
        "carte": f"/maps/coverage?run={run_id}",
        "carte intégrable": f"/maps/coverage?run={run_id}&embed=true",
        "carte d'une analyse": f"/maps/coverage?run={run_id}&analysis=tiers_lieu",
        "portrait": f"/portraits/{GRAND_AUCH}?run={run_id}",
        "portrait seul": f"/portraits/{GRAND_AUCH}?run={run_id}&embed=false",
    }


def test_hostile_labels_are_escaped_in_every_page(server: Server, hostile_run: str) -> None:
    for where, url in page_urls(hostile_run).items():
        response = server.http.get(url)
        assert response.status_code == 200, (where, response.text)
        assert_inert(response.text, where)
        assert_escaped_once(response.text, where)  # there, not dropped
        assert_template_text_literal(response.text, where)
    one = server.http.get(page_urls(hostile_run)["carte d'une analyse"]).text
    title = re.search(r"<title>(.*?)</title>", one, re.S).group(1)
    assert title == (
        "Temps d’accès en voiture : &lt;/title&gt;&lt;script&gt;alert(&#39;titre&#39;)"
        "&lt;/script&gt;"
    )
    # the map file the run wrote (the same writer as coverage run and coverage place)
    written = server.settings.results_path / f"run-{hostile_run}" / "map.html"
    assert_inert(written.read_text("utf-8"), str(written))


def test_map_pages_carry_their_policy_and_frame_rules(server: Server, hostile_run: str) -> None:
    framed = f"frame-ancestors 'self' {PORTAL}"
    for where, url in page_urls(hostile_run).items():
        response = server.http.get(url)
        policy = response.headers["content-security-policy"]
        rules = directives(policy)
        assert rules["default-src"] == ["'none'"], where
        scripts = rules["script-src"]
        assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, where
        # every inline script of the page, exactly as the browser reads it, is allowed by hash
        hashes = inline_script_hashes(response.text)
        assert len(hashes) >= 2 and hashes <= set(scripts), where
        assert set(scripts) - hashes == {"'self'"}, where  # Leaflet from /assets
        # the same policy in the page, for a copy saved to disk
        assert "content-security-policy" in response.text[:400].lower(), where
        embeddable = "intégrable" in where or where == "portrait"
        if embeddable:
            assert policy.endswith(framed) and "x-frame-options" not in response.headers, where
        else:
            assert policy.endswith("frame-ancestors 'none'"), where
            assert response.headers["x-frame-options"] == "DENY", where
        assert response.headers["x-content-type-options"] == "nosniff", where
        # a revalidation keeps the policy (a 304 updates the cached headers)
        again = server.http.get(url, headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304, where
        assert again.headers["content-security-policy"] == policy, where


def _oversized_post(base: str, path: str) -> httpx.Response:
    """A POST announcing a body over the limit; the server answers before reading it."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            "Content-Length: 999999999\r\n\r\n".encode()
        )
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _sep, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(line.split(": ", 1)) for line in lines]
    return httpx.Response(int(status_line.split()[1]), headers=headers, content=body)


def test_every_response_has_the_security_headers(server: Server) -> None:
    strict = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    answers = {
        "json": server.http.get("/territories"),
        "404 route": server.http.get("/pas-une-route"),
        "404 run": server.http.get("/scenarios/0123456789abcdef"),
        "405": server.http.delete("/territories"),
        "422": server.http.get("/scenarios", params={"limit": 0}),
        "413": _oversized_post(server.base, "/isochrones"),
        "500": server.http.get("/test/crash"),
        "cors": server.http.options(
            "/territories",
            headers={"Origin": PORTAL, "Access-Control-Request-Method": "GET"},
        ),
    }
    for where, response in answers.items():
        assert response.headers.get("x-content-type-options") == "nosniff", where
        assert response.headers.get("content-security-policy") == strict, where
        assert response.headers.get("x-frame-options") == "DENY", where
    assert answers["cors"].status_code == 200
    assert answers["cors"].headers["access-control-allow-origin"] == PORTAL
    crash = answers["500"]
    assert crash.status_code == 500
    assert crash.headers["content-type"] == "application/json"
    assert crash.json() == {
        "error": "internal",
        "message": "erreur interne du serveur ; elle est consignée dans son journal",
    }
    assert "panne simulée" not in crash.text
    assert answers["404 route"].json()["error"] == "not_found"
    assert answers["413"].status_code == 413 and answers["413"].json()["error"] == "body_too_large"


def test_openapi_pages_allow_their_own_scripts(server: Server) -> None:
    docs = server.http.get("/docs")
    rules = directives(docs.headers["content-security-policy"])
    hashes = inline_script_hashes(docs.text)
    assert hashes and hashes <= set(rules["script-src"])
    assert "'unsafe-inline'" not in rules["script-src"]
    # Swagger UI and ReDoc from this server (fastapi-offline's files), never from a CDN
    assert 'src="/docs-assets/swagger-ui-bundle.js"' in docs.text
    assert (
        "'self'" in rules["script-src"] and "https:" not in docs.headers["content-security-policy"]
    )
    assert rules["frame-ancestors"] == ["'none'"] and rules["connect-src"] == ["'self'"]
    redoc = server.http.get("/redoc")
    assert 'src="/docs-assets/redoc.standalone.js"' in redoc.text
    assert "fonts.googleapis" not in redoc.text
    assert "'self'" in directives(redoc.headers["content-security-policy"])["script-src"]
    bundle = server.http.get("/docs-assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and "javascript" in bundle.headers["content-type"]


def test_frame_ancestors_setting() -> None:
    from pydantic import ValidationError

    from api.settings import ApiSettings

    env = {"COVERAGE_API_FRAME_ANCESTORS": f"{PORTAL}/, https://*.exemple.fr:8443, 'self'"}
    assert ApiSettings.from_env(env).frame_ancestors == (PORTAL, "https://*.exemple.fr:8443")
    assert ApiSettings.from_env({"COVERAGE_API_FRAME_ANCESTORS": "*"}).frame_ancestors == ("*",)
    for bad in (f"{PORTAL}; script-src *", "portail.example.fr", f"{PORTAL}/portraits"):
        with pytest.raises(ValidationError, match="n'est pas une origine"):
            ApiSettings(frame_ancestors=(bad,))


# --- maps built from hostile commune, EPCI and stop names -------------------------------------


@pytest.fixture(scope="module")
def hostile_result(gers_result: ResultFolder, tmp_path_factory: pytest.TempPathFactory):
    """The Gers result with hostile commune, EPCI, service names and analysis labels."""
    folder = tmp_path_factory.mktemp("hostile_result") / "actuel"
    (folder / "tables").mkdir(parents=True)
    summary = json.loads((gers_result.path / "summary.json").read_text("utf-8"))
    summary["scenario"]["label"] = SCRIPT_BREAK
    summary["territory"]["label"] = ATTRIBUTE_BREAK
    for number, analysis in enumerate(summary["analyses"].values()):
        analysis["label"] = (TITLE_BREAK, ATTRIBUTE_BREAK)[number % 2]
    (folder / "summary.json").write_text(json.dumps(summary), "utf-8")
    for table in (gers_result.path / "tables").glob("*.csv"):
        shutil.copy(table, folder / "tables")
    names = {
        "communes": ("name", TITLE_BREAK),
        "epci": ("epci_name", SCRIPT_BREAK),
        "services": ("name", ATTRIBUTE_BREAK + TEMPLATE_BREAK),
        "catchments": ("name", SCRIPT_BREAK),
    }
    for layer in ("communes", "epci", "services", "isochrones", "catchments"):
        frame = gers_result.layer(layer).copy()  # the shared result stays as it is
        if layer in names:
            column, text = names[layer]
            frame[column] = [f"{text} {value}" for value in frame[column]]
        if layer == "communes":
            frame["france_services__nearest_service_name"] = ATTRIBUTE_BREAK
        if layer == "epci":
            frame["epci_name"] = frame["epci_name"].where(
                frame["epci_siren"] != BAS_ARMAGNAC, TITLE_BREAK
            )
        frame.to_file(folder / "results.gpkg", layer=layer, engine="pyogrio")
    return ResultFolder(folder)


def _hostile_itinerary(gers) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    communes = gers.communes[gers.communes["insee_code"].isin(["32013", "32296", "32208"])]
    points = communes.geometry.representative_point().to_numpy()
    stops = gpd.GeoDataFrame(
        {
            "name": [TITLE_BREAK, ATTRIBUTE_BREAK + TEMPLATE_BREAK, SCRIPT_BREAK],
            "visits": [12, 4, 8],
            "population": communes["population"].to_numpy(),
            "days": [SCRIPT_BREAK, "mardi", ATTRIBUTE_BREAK],
        },
        geometry=points,
        crs=communes.crs,
    )
    routes = gpd.GeoDataFrame(
        {"day": [1, 2], "label": [TITLE_BREAK, ATTRIBUTE_BREAK], "minutes": [95.0, 70.5]},
        geometry=[shapely.LineString(points[:2]), shapely.LineString(points[1:])],
        crs=communes.crs,
    )
    return stops, routes


@pytest.fixture(scope="module")
def hostile_pages(hostile_result: ResultFolder, gers, tmp_path_factory) -> dict[str, str]:
    """Pages as map files are written: offline, Leaflet inlined."""
    from maps.itinerary_writer import write_itinerary_map
    from maps.result_map import write_result_map

    pages = {
        "carte": (write_result_map(hostile_result.path, {})[0]).read_text("utf-8"),
        "portrait": maps.render_html(maps.portrait_map(hostile_result, BAS_ARMAGNAC), embed=True),
    }
    folder = tmp_path_factory.mktemp("hostile_itinerary")
    stops, routes = _hostile_itinerary(gers)
    stops.to_crs(4326).to_file(folder / "stops.geojson", driver="GeoJSON")
    routes.to_crs(4326).to_file(folder / "tours.geojson", driver="GeoJSON")
    summary = {
        "settings": {"service_label": TITLE_BREAK},
        "territory": {"label": ATTRIBUTE_BREAK},
        "depot": {"name": SCRIPT_BREAK},
        "period": {"start": "2026-01-05"},
    }
    pages["itinéraire"] = write_itinerary_map(folder, summary)[0].read_text("utf-8")
    return pages


def test_hostile_names_are_escaped_in_map_files(hostile_pages: dict[str, str]) -> None:
    for where, page in hostile_pages.items():
        assert_inert(page, where)
        assert_escaped_once(page, where)
        assert_template_text_literal(page, where)
        policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
        scripts = directives(policy.group(1).replace("&#39;", "'"))["script-src"]
        assert inline_script_hashes(page) <= set(scripts), where
        # offline: every script (Leaflet too) allowed by its hash, no URL, no 'unsafe-inline'
        assert all(s.startswith("'sha256-") for s in scripts), (where, scripts)
        assert "Leaflet 1.9.3" in page, where


def test_static_png_takes_dollar_signs_literally(gers_result, tmp_path: Path) -> None:
    """matplotlib reads ``$...$`` as math: an unbalanced one made the export fail."""
    folder = tmp_path / "dollars"
    shutil.copytree(gers_result.path / "tables", folder / "tables")
    (folder / "results.gpkg").symlink_to(gers_result.path / "results.gpkg")
    summary = json.loads((gers_result.path / "summary.json").read_text("utf-8"))
    summary["analyses"]["tiers_lieu"]["label"] = r"Tiers-lieux $\frac{1$"
    (folder / "summary.json").write_text(json.dumps(summary), "utf-8")
    path = maps.export_png(folder, tmp_path / "dollars.png", analysis="tiers_lieu", dpi=40)
    assert path.stat().st_size > 1000


# --- in Chromium -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    chromium, _assets = browser_requirements()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


class Visit:
    """A page opened in Chromium: what it fired, what its policy refused, what it drew."""

    def __init__(self, page: Any, dialogs: list[str], refused: list[str]) -> None:
        self.page = page
        self.dialogs = dialogs
        self.refused = refused
        self.alerts: list[str] = page.evaluate("window.__alerts")
        self.leaflet = page.evaluate("typeof L === 'object' && typeof L.map === 'function'")
        self.paths = page.locator("path.leaflet-interactive").count()

    def settle(self) -> int:
        """Show every layer and open every popup and tooltip; the popups opened."""
        opened = int(self.page.evaluate(EXERCISE))
        self.page.wait_for_timeout(200)
        self.alerts = self.page.evaluate("window.__alerts")
        return opened

    @property
    def violations(self) -> list[dict[str, str]]:
        return list(self.page.evaluate("window.__violations"))


def visit(
    browser: Any, url: str, *, pages: dict[str, tuple[str, dict[str, str]]] | None = None
) -> Visit:
    """Open ``url``; ``pages`` answers URLs with (html, headers), Leaflet's CDN comes from the
    local assets, tiles are blank, any other host is refused."""
    _chromium, assets = browser_requirements()
    tile = blank_tile()
    dialogs: list[str] = []
    refused: list[str] = []
    page = browser.new_page(viewport={"width": 1100, "height": 800}, locale="fr-FR")
    page.add_init_script(HOOKS)
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    def route(route: Any) -> None:
        request = route.request.url
        if pages and request in pages:
            html, headers = pages[request]
            route.fulfill(status=200, body=html, headers={"content-type": "text/html", **headers})
        elif request.startswith(CDN):
            file = assets / "leaflet" / "dist" / request[len(CDN) :]
            kind = "text/css" if request.endswith(".css") else "application/javascript"
            route.fulfill(status=200, body=file.read_bytes(), content_type=kind)
        elif TILE_PATH in request or "tile.openstreetmap.org" in request:
            route.fulfill(status=200, body=tile, content_type="image/png")
        elif request.startswith("http://127.0.0.1"):
            route.continue_()
        else:
            refused.append(request)
            route.abort()

    page.route("**/*", route)
    response = page.goto(url, wait_until="load")
    assert response is not None and response.status == 200, url
    page.wait_for_selector(".leaflet-control-layers", timeout=15_000)
    page.wait_for_timeout(300)
    return Visit(page, dialogs, refused)


def _assert_clean(found: Visit, where: str, *, min_paths: int) -> None:
    assert found.leaflet, f"{where}: Leaflet did not load"
    assert found.paths >= min_paths, f"{where}: {found.paths} paths drawn"
    assert not found.alerts and not found.dialogs, f"{where}: {found.alerts} {found.dialogs}"
    assert not found.violations, f"{where}: the policy refused {found.violations}"
    assert not found.refused, f"{where}: other servers called {found.refused}"


@pytest.mark.slow  # about 12 s in Chromium
def test_hostile_api_pages_fire_nothing_in_chromium(browser, server, hostile_run) -> None:
    for where, min_paths in (("carte", 458), ("portrait", 10), ("portrait seul", 10)):
        found = visit(browser, server.base + page_urls(hostile_run)[where])
        try:
            _assert_clean(found, where, min_paths=min_paths)
            assert found.settle() > min_paths, where  # every popup's HTML went into the DOM
            _assert_clean(found, where, min_paths=min_paths)
            # the labels are shown as text, escaped exactly once
            control = found.page.locator(".leaflet-control-layers").text_content()
            assert f"Temps d’accès : {ATTRIBUTE_BREAK}" in control, control
            assert f"Temps d’accès : {TITLE_BREAK}" in control, control
        finally:
            found.page.close()


@pytest.mark.slow  # about 12 s in Chromium
def test_hostile_map_files_fire_nothing_in_chromium(browser, hostile_pages) -> None:
    for number, (where, html) in enumerate(hostile_pages.items()):
        url = f"http://maps.test/carte-{number}.html"
        found = visit(browser, url, pages={url: (html, {})})  # a static server: no CSP header
        try:
            _assert_clean(found, where, min_paths=2)
            assert found.settle() >= 2, where
            _assert_clean(found, where, min_paths=2)
            if where != "carte":  # its title names no label
                assert TITLE_BREAK in found.page.title(), where  # the title is text
        finally:
            found.page.close()


INJECTED = (
    "<script>alert('injecté')</script>"
    '<img src="data:," onerror="alert(\'attribut injecté\')">'
    "<a id=lien href=\"javascript:alert('lien injecté')\">lien</a>"
)


def test_the_policy_refuses_an_injected_script(browser, server, hostile_run, hostile_pages):
    """Defence in depth: were a script to reach a page, its policy would refuse it."""
    api_url = server.base + page_urls(hostile_run)["portrait"]
    response = server.http.get(api_url)
    header = {"content-security-policy": response.headers["content-security-policy"]}
    cases = {
        "API (en-tête)": (api_url, response.text, header),
        "fichier (meta)": ("http://maps.test/carte.html", hostile_pages["carte"], {}),
    }
    for where, (url, html, headers) in cases.items():
        tampered = html.replace("</body>", f"{INJECTED}</body>", 1)
        found = visit(browser, url, pages={url: (tampered, headers)})
        try:
            found.page.evaluate("document.getElementById('lien').click()")
            found.page.wait_for_timeout(200)
            alerts = found.page.evaluate("window.__alerts")
            assert not alerts and not found.dialogs, f"{where}: {alerts}"
            refused = {v["directive"] for v in found.violations}
            assert refused == {"script-src-elem", "script-src-attr"}, (where, found.violations)
            assert found.leaflet and found.paths > 10, where  # our own scripts still ran
        finally:
            found.page.close()
