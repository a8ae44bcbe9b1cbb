"""The HTTP API on the real Gers bundle: every endpoint, every refusal, persistence across restarts.

One server state is loaded for the module (the Gers, its default scenario run
once at start-up); the tests that need another configuration (no token,
CORS, restart) build their own app on their own state folder.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely
import shapely.geometry

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its test client
    warnings.filterwarnings("ignore", message=".*httpx2")
    from starlette.testclient import TestClient

from api.app import create_app
from api.schemas import SCENARIO_EXAMPLE
from api.settings import ApiSettings
from api.store import INTERRUPTED_REASON, RunStore
from tests.conftest import REPO

TOKEN = "jeton-de-test-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GERS_POPULATION = 192_645
AUCH, LOMBEZ, MASSEUBE, LECTOURE = "32013", "32213", "32242", "32208"
GRAND_AUCH = "200066926"
TO_LONLAT = pyproj.Transformer.from_crs(2154, 4326, always_xy=True)
# Auch's representative point (communes_gers.geojson), in WGS84
AUCH_LON, AUCH_LAT = TO_LONLAT.transform(506999.685122, 6287774.0)


def fast_scenario(name: str, **tables: Any) -> dict[str, Any]:
    """A scenario body with the slow optional outputs switched off."""
    body: dict[str, Any] = {
        "scenario": {"name": name, "territory": "gers"},
        "thresholds": {"minutes": [15, 20, 30]},
        "analyses": [{"name": "tiers_lieu", "kinds": ["tiers_lieu"]}],
        "outputs": {"isochrones": False, "cells": False, "catchments": False, "map": False},
    }
    body.update(tables)
    return body


def wait_for(client: TestClient, run_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
    """Poll a run until it is done or failed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = client.get(f"/scenarios/{run_id}").json()
        if run["status"] in ("done", "failed"):
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish in {timeout_s} s")


@pytest.fixture(scope="module")
def api_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The module's cache folder, the same one the per-test fixture of conftest sets."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COVERAGE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        mp.delenv("COVERAGE_DATA_DIR", raising=False)
        yield


@pytest.fixture(scope="module")
def settings(shared_data: Path, tmp_path_factory: pytest.TempPathFactory, api_env) -> ApiSettings:
    return ApiSettings(
        data_dir=shared_data,
        state_dir=tmp_path_factory.mktemp("api-state"),
        token=TOKEN,
        default_run=True,
    )


@pytest.fixture(scope="module")
def client(settings: ApiSettings) -> Iterator[TestClient]:
    """A started server; its default scenario (the Gers' current offer) has finished."""
    app = create_app(settings)
    with TestClient(app) as test_client:
        assert app.state.core.worker.wait_idle(180), "the default run did not finish"
        yield test_client


@pytest.fixture(scope="module")
def default_run(client: TestClient) -> dict[str, Any]:
    (run,) = client.get("/scenarios", params={"status": "done"}).json()["runs"]
    assert run["origin"] == "startup" and run["scenario_name"] == "gers_actuel"
    return run


@pytest.fixture(scope="module")
def auch_run(client: TestClient) -> dict[str, Any]:
    """A posted scenario: one more tiers-lieu, at Auch's point."""
    response = client.post("/scenarios", json=SCENARIO_EXAMPLE, headers=AUTH)
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == f"/scenarios/{response.json()['id']}"
    assert response.json()["status"] == "queued"
    run = wait_for(client, response.json()["id"])
    assert run["status"] == "done", run
    return run


def assert_field_error(response: Any, status: int, field: str) -> dict[str, Any]:
    """The response has the status and its message names the field."""
    assert response.status_code == status, response.text
    body = response.json()
    assert field in body["message"], body
    return body


# --- server and territories -------------------------------------------------------------------


def test_health(client: TestClient, default_run) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["territories"] == ["gers"]
    assert body["writes_enabled"] is True
    assert body["runs"]["done"] >= 1 and body["runs"]["running"] == 0


def test_territories(client: TestClient) -> None:
    (gers,) = client.get("/territories").json()["territories"]
    assert (gers["name"], gers["departement"], gers["communes"]) == ("gers", "32", 458)
    assert gers["population"] == GERS_POPULATION
    assert (gers["cantons"], gers["epci"]) == (17, 17)
    west, south, east, north = gers["bbox"]
    assert -0.4 < west < -0.2 and 1.1 < east < 1.3 and 43.2 < south < 43.4 and 44 < north < 44.2


def test_territory_summary(client: TestClient, default_run) -> None:
    body = client.get("/territories/gers").json()
    cantons = {c["canton_code"]: c for c in body["canton_list"]}
    assert len(cantons) == 17 and cantons["3201"]["communes"] == 34
    # cantons' own communes plus Auch (pseudo-canton 3299) make the whole population
    (split,) = body["split_cantons"]
    assert split["code"] == "3299" and split["population"] == 22_428
    assert sum(c["population"] for c in cantons.values()) + 22_428 == GERS_POPULATION
    assert sum(e["population"] for e in body["epci_list"]) == GERS_POPULATION
    counts = {(s["kind"], s["in_territory"]): s["count"] for s in body["services"]}
    assert counts[("france_services", True)] == 27
    assert counts[("france_services", True)] + counts[("france_services", False)] == 92
    assert counts[("tiers_lieu", True)] == 3
    assert body["default_scenario"] == {
        "name": "gers_actuel",
        "label": default_run["scenario_label"],
        "latest_run": default_run["id"],
    }
    assert body["provenance"]["network"]["detour_factor"] == 1.3
    # server paths are never shown: only file names
    text = json.dumps(body)
    assert str(REPO) not in text and "/shared/data" not in text
    assert body["provenance"]["network"]["source"] == "roads_gers_travelmapping.osm"


def test_unknown_territory_is_404(client: TestClient) -> None:
    for path in (
        "/territories/landes",
        "/territories/landes/communes",
        "/territories/landes/coverage?kind=france_services",
    ):
        body = client.get(path).json()
        assert body["error"] == "not_found" and "'landes'" in body["message"], path
    assert client.get("/territories/landes").status_code == 404
    # a name that cannot be a territory is a validation error naming the parameter
    assert_field_error(client.get("/territories/Gers!"), 422, "territory")
    assert client.get("/territories/..%2F..%2Fetc").status_code == 404  # no such route


def test_communes_geojson(client: TestClient) -> None:
    response = client.get("/territories/gers/communes")
    assert response.headers["content-type"] == "application/geo+json"
    collection = response.json()
    features = collection["features"]
    assert collection["type"] == "FeatureCollection" and len(features) == 458
    assert sum(f["properties"]["population"] for f in features) == GERS_POPULATION
    auch = next(f for f in features if f["id"] == AUCH)
    assert auch["properties"]["name"] == "Auch" and auch["properties"]["canton_code"] == "3299"
    outline = shapely.geometry.shape(auch["geometry"])  # lon/lat degrees, 6 decimals
    assert outline.contains(shapely.geometry.Point(AUCH_LON, AUCH_LAT))
    west, south, east, north = outline.bounds
    assert 0.45 < west < east < 0.75 and 43.55 < south < north < 43.75
    ring = np.array(auch["geometry"]["coordinates"][0])
    assert all(len(str(v).split(".")[-1]) <= 6 for v in ring.ravel())


def test_communes_filters(client: TestClient) -> None:
    canton = client.get("/territories/gers/communes", params={"canton": "3204"}).json()
    codes = {f["id"] for f in canton["features"]}
    # the five communes of Auch-1 and Auch, which the canton shares with Auch-2 and Auch-3
    assert codes == {"32029", "32065", "32200", "32307", "32381", AUCH}
    epci = client.get("/territories/gers/communes", params={"epci": GRAND_AUCH}).json()
    summary = client.get("/territories/gers").json()
    (row,) = [e for e in summary["epci_list"] if e["epci_siren"] == GRAND_AUCH]
    assert len(epci["features"]) == row["communes"]
    assert {f["properties"]["epci_siren"] for f in epci["features"]} == {GRAND_AUCH}
    both = client.get("/territories/gers/communes", params={"canton": "3204", "epci": "200035632"})
    assert both.json()["features"] == []  # Auch-1 is not in the CC Armagnac Adour


def test_communes_bad_filters(client: TestClient) -> None:
    body = assert_field_error(
        client.get("/territories/gers/communes", params={"canton": "9999"}), 422, "canton"
    )
    assert "aucun canton '9999'" in body["message"]
    assert_field_error(
        client.get("/territories/gers/communes", params={"epci": "123456789"}), 422, "epci"
    )
    assert_field_error(client.get("/territories/gers/communes", params={"epci": "12"}), 422, "epci")
    assert_field_error(
        client.get("/territories/gers/communes", params={"analysis": "mds"}), 422, "analysis"
    )
    assert_field_error(
        client.get("/territories/gers/communes", params={"run": "0123456789abcdef"}), 404, "run"
    )
    assert_field_error(
        client.get("/territories/gers/communes", params={"simplify_m": -1}), 422, "simplify_m"
    )


def test_communes_of_an_analysis_without_a_run(client: TestClient, default_run) -> None:
    """Without ``run``, ``analysis`` reads the default run, as the maps do."""
    layer = client.get("/territories/gers/communes", params={"analysis": "tiers_lieu"}).json()
    assert layer["metadata"]["run"] == default_run["id"]
    assert "share_beyond_30" in layer["features"][0]["properties"]


def test_communes_with_a_run(client: TestClient, default_run) -> None:
    response = client.get(
        "/territories/gers/communes", params={"run": default_run["id"], "analysis": "tiers_lieu"}
    )
    features = {f["id"]: f["properties"] for f in response.json()["features"]}
    assert len(features) == 458
    # Lombez, Masseube and Lectoure have their tiers-lieu; Auch is entirely beyond 20 min
    for code in (LOMBEZ, MASSEUBE, LECTOURE):
        assert features[code]["minutes_point"] < 15
    assert features[AUCH]["pop_beyond_20"] == 22_428 and features[AUCH]["share_beyond_20"] == 1.0
    everything = client.get("/territories/gers/communes", params={"run": default_run["id"]})
    props = everything.json()["features"][0]["properties"]
    assert "france_services__minutes_mean" in props and "tiers_lieu__pop_beyond_30" in props
    assert_field_error(
        client.get(
            "/territories/gers/communes", params={"run": default_run["id"], "analysis": "mds"}
        ),
        422,
        "analysis",
    )


def test_services(client: TestClient) -> None:
    tiers = client.get("/territories/gers/services", params={"kind": "tiers_lieu"}).json()
    assert {f["properties"]["insee_code"] for f in tiers["features"]} == {
        LOMBEZ,
        MASSEUBE,
        LECTOURE,
    }
    assert {f["properties"]["kind_label"] for f in tiers["features"]} == {"Tiers-lieu solidaire"}
    for feature in tiers["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        assert 0.3 < lon < 1.0 and 43.4 < lat < 44.0
    inside = client.get(
        "/territories/gers/services", params={"kind": "france_services", "in_territory": "true"}
    ).json()
    assert len(inside["features"]) == 27
    everything = client.get("/territories/gers/services").json()
    assert len(everything["features"]) == 95
    closed = client.get("/territories/gers/services", params={"status": "closed"}).json()
    assert closed["features"] == []


def test_services_bad_parameters(client: TestClient) -> None:
    body = assert_field_error(
        client.get("/territories/gers/services", params={"kind": "piscine"}), 422, "kind"
    )
    assert "piscine" in body["message"] and "france_services" in body["message"]
    assert_field_error(
        client.get("/territories/gers/services", params={"status": "ouvert"}), 422, "status"
    )


# --- coverage on the fly ----------------------------------------------------------------------


def test_coverage_per_commune(client: TestClient) -> None:
    response = client.get(
        "/territories/gers/coverage", params={"kind": "tiers_lieu", "threshold": 20}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["services"] == 3 and body["threshold_minutes"] == 20
    rows = {r["insee_code"]: r for r in body["communes"]}
    assert len(rows) == 458
    for row in rows.values():
        assert row["pop_within"] + row["pop_beyond"] == row["population"]
    for code in (LOMBEZ, MASSEUBE, LECTOURE):
        assert rows[code]["minutes_point"] < 15
        assert rows[code]["nearest_service_id"].startswith("tiers_lieu")
    assert rows[AUCH]["pop_beyond"] == 22_428 and rows[AUCH]["share_beyond"] == 1.0
    summary = body["summary"]
    assert summary["pop_within"] + summary["pop_beyond"] == GERS_POPULATION
    assert summary["pop_beyond"] == sum(r["pop_beyond"] for r in rows.values())
    assert summary["share_beyond"] == round(summary["pop_beyond"] / GERS_POPULATION, 4)


def test_coverage_matches_the_run(client: TestClient, default_run) -> None:
    """On the fly and in the default run, the same engine gives the same figures."""
    fly = client.get(
        "/territories/gers/coverage", params={"kind": "france_services", "threshold": 20}
    ).json()
    run = default_run["headline"]["analyses"]["france_services"]["thresholds"]["20"]
    assert fly["summary"]["pop_beyond"] == run["pop_beyond"]
    assert fly["summary"]["communes_with_pop_beyond"] == run["communes_with_pop_beyond"]


def test_coverage_is_cached(client: TestClient) -> None:
    params = {"kind": "france_services", "threshold": 15, "format": "geojson"}
    first = client.get("/territories/gers/coverage", params=params)
    assert first.headers["content-type"] == "application/geo+json"
    assert first.headers["content-encoding"] == "gzip"  # httpx asks for gzip
    second = client.get("/territories/gers/coverage", params=params)
    assert second.headers["etag"] == first.headers["etag"] and second.content == first.content
    again = client.get(
        "/territories/gers/coverage",
        params=params,
        headers={"If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304 and again.content == b""
    raw = client.get(
        "/territories/gers/coverage", params=params, headers={"Accept-Encoding": "identity"}
    )
    assert "content-encoding" not in raw.headers
    assert gzip.decompress(gzip.compress(raw.content)) == first.content
    layer = first.json()
    assert len(layer["features"]) == 458
    assert (
        layer["metadata"]["summary"]["pop_within"] + layer["metadata"]["summary"]["pop_beyond"]
        == GERS_POPULATION
    )
    assert {"minutes_mean", "share_beyond", "nearest_service_name"} <= set(
        layer["features"][0]["properties"]
    )


def test_coverage_validation(client: TestClient) -> None:
    url = "/territories/gers/coverage"
    assert_field_error(client.get(url), 422, "'kind'")
    assert_field_error(
        client.get(url, params={"kind": "tiers_lieu", "threshold": 0}), 422, "threshold"
    )
    assert_field_error(
        client.get(url, params={"kind": "tiers_lieu", "threshold": 601}), 422, "threshold"
    )
    assert_field_error(
        client.get(url, params={"kind": "tiers_lieu", "threshold": "nan"}), 422, "threshold"
    )
    assert_field_error(
        client.get(url, params={"kind": "tiers_lieu", "format": "csv"}), 422, "format"
    )
    body = assert_field_error(client.get(url, params={"kind": "mds"}), 422, "kind")
    assert "aucun service de type mds" in body["message"]


# --- isochrones -------------------------------------------------------------------------------


def test_isochrones_around_auch(client: TestClient) -> None:
    """Bands are nested, their population matches the travel-time surface of the engine."""
    from coverage.routing.surface import travel_time_surface

    body = {
        "points": [{"lon": AUCH_LON, "lat": AUCH_LAT, "id": "auch"}],
        "bands_minutes": [10, 20, 30],
    }
    response = client.post("/isochrones", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json"
    features = response.json()["features"]
    assert [f["properties"]["minutes"] for f in features] == [10, 20, 30]
    assert {f["properties"]["point_id"] for f in features} == {"auch"}
    populations = [f["properties"]["population"] for f in features]
    assert populations[0] < populations[1] < populations[2] < GERS_POPULATION
    # most of Auch (22 428 inhabitants) lives within 10 minutes of its centre
    assert populations[0] > 20_000
    # same figures from an independent path: the travel-time surface of the point
    state = client.app.state.core.territory("gers")
    ctx = state.resources.context
    surface = travel_time_surface(
        ctx.network, np.array([[506999.685122, 6287774.0]]), ctx.cells, max_minutes=30
    )
    seconds = surface.seconds[ctx.cells.rows, ctx.cells.cols]
    weights = state.resources.surface.values[ctx.cells.rows, ctx.cells.cols]
    for band, population in zip((10, 20, 30), populations, strict=True):
        expected = weights[np.isfinite(seconds) & (seconds <= band * 60 + 1e-6)].sum()
        assert abs(population - expected) <= 1
    # the point itself is inside its 10-minute polygon (GeoJSON in lon/lat)
    ten = shapely.geometry.shape(features[0]["geometry"])
    assert ten.contains(shapely.geometry.Point(AUCH_LON, AUCH_LAT))


def test_isochrones_several_points(client: TestClient) -> None:
    lectoure = TO_LONLAT.transform(510782.681026, 6319057.0)
    body = {
        "points": [
            {"lon": AUCH_LON, "lat": AUCH_LAT},
            {"lon": lectoure[0], "lat": lectoure[1], "id": "lectoure"},
        ],
        "bands_minutes": [15],
        "territory": "gers",
    }
    features = client.post("/isochrones", json=body).json()["features"]
    assert [(f["properties"]["point_index"], f["properties"]["point_id"]) for f in features] == [
        (0, "0"),
        (1, "lectoure"),
    ]
    assert features[0]["properties"]["population"] > features[1]["properties"]["population"] > 0


def test_isochrones_outside_the_territory(client: TestClient) -> None:
    body = {
        "points": [{"lon": AUCH_LON, "lat": AUCH_LAT}, {"lon": 2.35, "lat": 48.85, "id": "paris"}]
    }
    response = client.post("/isochrones", json=body)
    error = assert_field_error(response, 400, "points[1]")
    assert error["error"] == "outside_territory" and "'paris'" in error["message"]
    assert "km hors du Gers" in error["message"]


def test_isochrones_validation(client: TestClient) -> None:
    point = {"lon": AUCH_LON, "lat": AUCH_LAT}
    cases = [
        ({"points": [{"lon": 0.6, "lat": 95}]}, "points[0].lat"),
        ({"points": [{"lon": 0.6}]}, "points[0].lat"),
        ({"points": []}, "points"),
        ({"points": [point] * 21}, "points"),  # configured limit: 20
        ({"points": [point], "bands_minutes": [20, 10]}, "bands_minutes"),
        ({"points": [point], "bands_minutes": [10, 200]}, "bands_minutes"),  # limit: 120
        ({"points": [point], "bands_minutes": [5, 10, 15, 20, 25, 30, 35]}, "bands_minutes"),
        ({"points": [point], "territory": "landes"}, "territory"),
        ({"points": [point], "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        assert_field_error(client.post("/isochrones", json=body), 422, field)
    invalid_json = client.post(
        "/isochrones", content=b"{points:", headers={"content-type": "application/json"}
    )
    assert invalid_json.status_code == 422


def test_body_too_large_is_413(client: TestClient) -> None:
    big = {"points": [{"lon": AUCH_LON, "lat": AUCH_LAT, "id": "x" * 64}] * 3000}
    response = client.post("/isochrones", json=big)
    assert response.status_code == 413
    assert "262 144 octets" in response.json()["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while reading
        yield b'{"points": ['
        for _ in range(5000):
            yield b'{"lon": 0.6, "lat": 43.6, "id": "0123456789012345678901234567890123"},'
        yield b"]}"

    streamed = client.post(
        "/isochrones", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413


# --- scenarios --------------------------------------------------------------------------------


def test_posting_needs_the_token(client: TestClient) -> None:
    missing = client.post("/scenarios", json=fast_scenario("sans_jeton"))
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization" in missing.json()["message"]
    wrong = client.post(
        "/scenarios", json=fast_scenario("faux"), headers={"Authorization": "Bearer faux-jeton"}
    )
    assert wrong.status_code == 401 and "n'est pas valide" in wrong.json()["message"]
    basic = client.post(
        "/scenarios", json=fast_scenario("basic"), headers={"Authorization": "Basic YTpi"}
    )
    assert basic.status_code == 401
    assert client.get("/scenarios", params={"status": "queued"}).json()["runs"] == []


def test_writes_disabled_without_a_token(settings: ApiSettings) -> None:
    app = create_app(settings.model_copy(update={"token": None}))
    bare = TestClient(app)  # not started: the refusal needs no loaded state
    response = bare.post("/scenarios", json=fast_scenario("x"), headers=AUTH)
    assert response.status_code == 403
    assert "COVERAGE_API_TOKEN" in response.json()["message"]


def test_scenario_mistakes_are_422(client: TestClient) -> None:
    def post(body: dict[str, Any]) -> Any:
        return client.post("/scenarios", json=body, headers=AUTH)

    body = assert_field_error(
        post(fast_scenario("x", analyses=[{"kinds": ["piscine"]}])), 422, "type de service inconnu"
    )
    assert "'piscine'" in body["message"]
    assert_field_error(
        post(fast_scenario("x", services={"files": ["/etc/passwd"]})), 422, "services.files"
    )
    assert_field_error(
        post(fast_scenario("x", network={"profile": "../../etc/profile"})), 422, "network.profile"
    )
    assert_field_error(
        post(fast_scenario("x", network={"profile": "allemagne"})), 422, "network.profile"
    )
    assert_field_error(post(fast_scenario("nom avec espaces")), 422, "scenario.name")
    other = fast_scenario("x")
    other["scenario"]["territory"] = "landes"
    assert_field_error(post(other), 422, "scenario.territory")
    assert_field_error(post(fast_scenario("x", services={"remove": ["inconnu"]})), 422, "'inconnu'")
    assert_field_error(
        post(fast_scenario("x", thresholds={"minutes": [30, 20]})), 422, "increasing"
    )
    assert_field_error(
        post(fast_scenario("x", population={"cell_size_m": 10})), 422, "population.cell_size_m"
    )
    added = {"service_id": "a", "kind": "tiers_lieu", "name": "A", "insee_code": "99999"}
    assert_field_error(post(fast_scenario("x", services={"add": [added]})), 422, "99999")
    assert client.get("/scenarios", params={"status": "queued"}).json()["runs"] == []


def test_run_lifecycle_and_results(client: TestClient, default_run, auch_run) -> None:
    run = auch_run
    assert run["origin"] == "api" and run["scenario_name"] == "gers_tiers_lieux_auch"
    assert run["started_at"] >= run["created_at"] and run["finished_at"] >= run["started_at"]
    tl = run["headline"]["analyses"]["tiers_lieu"]
    before = default_run["headline"]["analyses"]["tiers_lieu"]
    assert tl["services"] == 4 and before["services"] == 3
    assert tl["thresholds"]["20"]["pop_beyond"] < before["thresholds"]["20"]["pop_beyond"]
    assert set(run["links"]) == {"self", "summary", "communes", "map"}

    summary = client.get(f"/scenarios/{run['id']}/summary").json()
    assert summary["territory"]["population"] == GERS_POPULATION
    assert summary["scenario"]["add"][0]["service_id"] == "tl_auch"
    assert "/shared/data" not in json.dumps(summary)

    layer = client.get(
        f"/scenarios/{run['id']}/communes", params={"analysis": "tiers_lieu", "epci": GRAND_AUCH}
    ).json()
    auch = next(f["properties"] for f in layer["features"] if f["id"] == AUCH)
    assert auch["nearest_service_id"] == "tl_auch" and auch["minutes_point"] < 5
    assert layer["metadata"]["run"] == run["id"]

    listed = client.get("/scenarios", params={"territory": "gers"}).json()
    ids = [r["id"] for r in listed["runs"]]
    assert ids.index(run["id"]) < ids.index(default_run["id"])  # newest first


def test_compare_two_runs(client: TestClient, default_run, auch_run) -> None:
    response = client.get(f"/scenarios/{default_run['id']}/compare/{auch_run['id']}")
    assert response.status_code == 200
    body = response.json()
    assert (body["a"], body["b"]) == ("gers_actuel", "gers_tiers_lieux_auch")
    assert body["runs"] == {"a": default_run["id"], "b": auch_run["id"]}
    totals = {(t["analysis"], t["threshold_minutes"]): t for t in body["totals"]}
    assert set(totals) == {("tiers_lieu", 15.0), ("tiers_lieu", 20.0), ("tiers_lieu", 30.0)}
    t20 = totals[("tiers_lieu", 20.0)]
    assert t20["lost"] == 0 and t20["pop_beyond_a"] - t20["pop_beyond_b"] == t20["gained"]
    auch = next(
        c for c in body["changes"] if c["insee_code"] == AUCH and c["threshold_minutes"] == 20.0
    )
    # all of Auch was beyond 20 min of a tiers-lieu; with one at its point, nearly nobody is
    assert auch["pop_beyond_a"] == 22_428 and auch["gained"] > 20_000


def test_failed_run_says_why(client: TestClient) -> None:
    body = fast_scenario("sante_sans_centre", health={"kinds": ["health_centre"]})
    response = client.post("/scenarios", json=body, headers=AUTH)
    assert response.status_code == 202
    run = wait_for(client, response.json()["id"])
    assert run["status"] == "failed"
    assert "health_centre" in run["reason"] and "[health]" in run["reason"]
    for path in ("summary", "communes"):
        error = assert_field_error(client.get(f"/scenarios/{run['id']}/{path}"), 409, "failed")
        assert error["error"] == "not_ready"
    assert_field_error(client.get(f"/maps/coverage?run={run['id']}"), 409, "run")


def test_a_posted_run_never_replaces_the_default_map(client: TestClient, default_run) -> None:
    """A run posted under the default scenario's name is not taken for the server's own."""
    body = fast_scenario("gers_actuel")
    run = wait_for(client, client.post("/scenarios", json=body, headers=AUTH).json()["id"])
    assert run["status"] == "done" and run["origin"] == "api"
    summary = client.get("/territories/gers").json()
    assert summary["default_scenario"]["latest_run"] == default_run["id"]


def test_paths_are_stripped_from_messages() -> None:
    from api.deps import strip_paths, strip_paths_in_text

    text = "file /srv/data/gers/communes_gers.geojson, row 11: bad; 1/2 km"
    assert strip_paths_in_text(text) == "file communes_gers.geojson, row 11: bad; 1/2 km"
    assert strip_paths({"a": ["/srv/x/roads.osm", "gers"]}) == {"a": ["roads.osm", "gers"]}


def test_unknown_and_malformed_runs(client: TestClient, default_run) -> None:
    unknown = "0123456789abcdef"
    for path in (
        f"/scenarios/{unknown}",
        f"/scenarios/{unknown}/summary",
        f"/scenarios/{unknown}/communes",
    ):
        assert_field_error(client.get(path), 404, unknown)
    assert_field_error(
        client.get(f"/scenarios/{default_run['id']}/compare/{unknown}"), 404, "other_id"
    )
    assert_field_error(client.get("/scenarios/UPPER-CASE-NOPE"), 422, "run_id")
    assert_field_error(client.get("/scenarios", params={"status": "paused"}), 422, "status")
    assert_field_error(client.get("/scenarios", params={"limit": 0}), 422, "limit")


# --- maps -------------------------------------------------------------------------------------


def test_coverage_map_page(client: TestClient, default_run, auch_run) -> None:
    page = client.get("/maps/coverage")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "leaflet" in page.text.lower() and "France services" in page.text
    one = client.get("/maps/coverage", params={"run": auch_run["id"], "analysis": "tiers_lieu"})
    assert one.status_code == 200 and "Tiers-lieu d" in one.text
    assert_field_error(
        client.get("/maps/coverage", params={"run": auch_run["id"], "analysis": "mds"}),
        422,
        "analysis",
    )
    assert_field_error(client.get("/maps/coverage", params={"run": "0123456789abcdef"}), 404, "run")
    assert_field_error(client.get("/maps/coverage", params={"territory": "landes"}), 404, "landes")


def test_portrait_page(client: TestClient, default_run) -> None:
    page = client.get(f"/portraits/{GRAND_AUCH}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Grand Auch" in page.text
    assert '<base target="_blank">' in page.text  # embeddable by default
    standalone = client.get(f"/portraits/{GRAND_AUCH}", params={"embed": "false"})
    assert '<base target="_blank">' not in standalone.text
    assert "x-frame-options" not in page.headers  # meant for an iframe on the portrait pages
    assert_field_error(client.get("/portraits/200000000"), 404, "epci")
    assert_field_error(client.get("/portraits/2000"), 422, "epci")


# --- other configurations ---------------------------------------------------------------------


def test_openapi_documents_every_endpoint(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/health",
        "/territories",
        "/territories/{territory}",
        "/territories/{territory}/communes",
        "/territories/{territory}/services",
        "/territories/{territory}/coverage",
        "/isochrones",
        "/scenarios",
        "/scenarios/{run_id}",
        "/scenarios/{run_id}/summary",
        "/scenarios/{run_id}/communes",
        "/scenarios/{run_id}/compare/{other_id}",
        "/maps/coverage",
        "/portraits/{epci}",
    ):
        assert path in paths, path
    post = paths["/scenarios"]["post"]
    assert post["security"] == [{"bearerToken": []}]
    assert {"202", "401", "403", "413", "422", "429"} <= set(post["responses"])
    assert all("security" not in op for op in paths["/territories"].values())
    components = schema["components"]["schemas"]
    assert components["ScenarioBody"]["examples"][0]["scenario"]["territory"] == "gers"
    assert components["IsochroneRequest"]["examples"][0]["points"][0]["id"] == "auch"
    geojson = paths["/territories/{territory}/communes"]["get"]["responses"]["200"]["content"]
    assert "example" in geojson["application/geo+json"]


def test_cors_origins_from_settings(settings: ApiSettings) -> None:
    app = create_app(settings.model_copy(update={"cors_origins": ("https://www.gers.fr",)}))
    bare = TestClient(app)  # preflight answers need no loaded state
    headers = {
        "Origin": "https://www.gers.fr",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    allowed = bare.options("/scenarios", headers=headers)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://www.gers.fr"
    other = bare.options("/scenarios", headers={**headers, "Origin": "https://ailleurs.example"})
    assert "access-control-allow-origin" not in other.headers


def test_settings_from_environment(tmp_path: Path) -> None:
    env = {
        "COVERAGE_API_TERRITORIES": "gers, landes",
        "COVERAGE_API_CORS_ORIGINS": "https://a.fr,https://b.fr",
        "COVERAGE_API_TOKEN": TOKEN,
        "COVERAGE_API_STATE_DIR": str(tmp_path),
        "COVERAGE_API_MAX_POINTS": "5",
    }
    s = ApiSettings.from_env(env)
    assert s.territories == ("gers", "landes") and s.cors_origins == (
        "https://a.fr",
        "https://b.fr",
    )
    assert s.max_points == 5 and s.token == TOKEN
    assert s.database == f"sqlite:///{tmp_path / 'runs.sqlite'}"
    assert s.results_path == tmp_path / "results"
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="max_points"):
        ApiSettings.from_env({"COVERAGE_API_MAX_POINTS": "beaucoup"})
    with pytest.raises(ValidationError, match="16 caractères au moins"):
        ApiSettings.from_env({"COVERAGE_API_TOKEN": "court"})


def test_restart_keeps_runs(settings: ApiSettings, tmp_path: Path) -> None:
    """Runs survive a restart; one left running by a crash is marked failed, queued ones run."""
    assets = tmp_path / "node_modules"
    (assets / "leaflet" / "dist").mkdir(parents=True)
    (assets / "leaflet" / "dist" / "leaflet.js").write_text("/* leaflet */", "utf-8")
    first = settings.model_copy(
        update={"state_dir": tmp_path / "state", "default_run": False, "max_queued_runs": 1}
    )
    app = create_app(first)
    with TestClient(app) as c:
        done = c.post("/scenarios", json=fast_scenario("avant_redemarrage"), headers=AUTH)
        assert wait_for(c, done.json()["id"])["status"] == "done"
        app.state.core.worker.stop()  # nothing runs any more: the next posts stay queued
        waiting = c.post("/scenarios", json=fast_scenario("en_attente"), headers=AUTH)
        assert waiting.status_code == 202
        full = c.post("/scenarios", json=fast_scenario("de_trop"), headers=AUTH)
        assert full.status_code == 429 and full.json()["error"] == "queue_full"
    # a crash in the middle of a run: the store says running
    store = RunStore(first.database)
    crashed = store.create(
        territory="gers", scenario_name="crash", scenario_label="", body=fast_scenario("crash")
    )
    store.mark_running(crashed.id)
    store.close()
    assert (tmp_path / "state" / "runs.sqlite").is_file()

    second = first.model_copy(update={"assets_dir": assets, "max_queued_runs": 5})
    app2 = create_app(second)
    with TestClient(app2) as c2:
        assert app2.state.core.worker.wait_idle(120)
        before = c2.get(f"/scenarios/{done.json()['id']}").json()
        assert before["status"] == "done" and before["scenario_name"] == "avant_redemarrage"
        layer = c2.get(f"/scenarios/{before['id']}/communes", params={"analysis": "tiers_lieu"})
        assert len(layer.json()["features"]) == 458
        assert wait_for(c2, waiting.json()["id"])["status"] == "done"
        lost = c2.get(f"/scenarios/{crashed.id}").json()
        assert lost["status"] == "failed" and lost["reason"] == INTERRUPTED_REASON
        # self-hosted Leaflet under /assets, and nothing else from the disk
        assert c2.get("/assets/leaflet/dist/leaflet.js").text == "/* leaflet */"
        assert c2.get("/assets/../runs.sqlite").status_code == 404
        assert c2.get("/assets/%2e%2e/state/runs.sqlite").status_code == 404
        page = c2.get("/maps/coverage", params={"run": before["id"]})
        assert page.status_code == 200
        assert 'src="/assets/leaflet/dist/leaflet.js"' in page.text
        assert "cdn.jsdelivr.net" not in page.text


def test_coverage_serve_command(shared_data: Path, tmp_path: Path) -> None:
    """`coverage serve` finds the API through its entry point and serves on 127.0.0.1."""
    import httpx

    from coverage.commands.serve import load_server

    assert load_server().__module__ == "api.app"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "COVERAGE_API_STATE_DIR": str(tmp_path),
        "COVERAGE_API_DEFAULT_RUN": "false",
        "SERVE_TEST_TOKEN": TOKEN,
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "coverage.cli",
            "serve",
            "--port",
            str(port),
            "--data",
            str(shared_data),
            "--token-env",
            "SERVE_TEST_TOKEN",
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
                break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.3)
        assert health["territories"] == ["gers"] and health["writes_enabled"] is True
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_refuses_an_unset_token_variable() -> None:
    from coverage.cli import main

    os.environ.pop("NO_SUCH_TOKEN_VARIABLE", None)
    assert main(["serve", "--token-env", "NO_SUCH_TOKEN_VARIABLE"]) == 1


def test_response_cache_bounds() -> None:
    from api.cache import CachedBody, ResponseCache

    cache = ResponseCache(max_entries=3, max_bytes=10_000)
    bodies = {k: CachedBody.build(bytes([65 + k]) * 3_000, "text/plain") for k in range(4)}
    assert bodies[0].gzipped is not None and len(bodies[0].gzipped) < 100
    for k in range(3):
        cache.put(k, bodies[k])
    assert len(cache) == 3 and cache.bytes == sum(b.size for b in list(bodies.values())[:3])
    assert cache.get(0) is bodies[0]  # 0 becomes the most recently used
    cache.put(3, bodies[3])  # 3 x 3 000 bytes and their gzip copies fit; 4 entries do not
    assert cache.get(1) is None and cache.get(0) is bodies[0] and cache.get(3) is bodies[3]
    cache.put("big", CachedBody.build(b"x" * 20_000, "text/plain"))  # larger than the budget
    assert cache.get("big") is None and cache.bytes <= 10_000
    calls = []
    value = cache.get_or_compute("new", lambda: calls.append(1) or bodies[2])
    assert value is bodies[2] and cache.get_or_compute("new", lambda: bodies[0]) is bodies[2]
    assert calls == [1]


def test_simplified_outlines(client: TestClient) -> None:
    exact = client.get("/territories/gers/communes", params={"epci": GRAND_AUCH}).json()
    light = client.get(
        "/territories/gers/communes", params={"epci": GRAND_AUCH, "simplify_m": 200}
    ).json()

    def vertices(collection: dict[str, Any]) -> int:
        shapes = [shapely.geometry.shape(f["geometry"]) for f in collection["features"]]
        return int(shapely.get_num_coordinates(shapes).sum())

    assert vertices(light) < vertices(exact) / 2
    assert [f["id"] for f in light["features"]] == [f["id"] for f in exact["features"]]


def test_a_repeated_query_parameter_is_refused(client: TestClient) -> None:
    # FastAPI would read the last value and hide the invalid first one
    response = client.get("/scenarios?offset=abc&offset=6")
    body = assert_field_error(response, 422, "offset")
    assert body["error"] == "validation" and body["field"] == "offset"
    assert "plusieurs fois" in body["message"]
    assert response.headers["content-type"] == "application/json"
    assert response.headers.get("x-content-type-options") == "nosniff"
    # one value per parameter is still answered
    assert client.get("/scenarios?offset=0&limit=5").status_code == 200
    # and a parameter the schema describes as a list keeps its repeated values
    repeated_list = client.get("/territories/gers/services?status=open&status=planned")
    assert repeated_list.status_code == 200, repeated_list.text
    statuses = {f["properties"]["status"] for f in repeated_list.json()["features"]}
    assert statuses and statuses <= {"open", "planned"}
    # a one-value parameter of the same route is still refused when repeated
    body = assert_field_error(
        client.get("/territories/gers/services?in_territory=true&in_territory=false"),
        422,
        "in_territory",
    )
    assert body["field"] == "in_territory"
