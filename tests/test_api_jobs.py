"""Every job on the API, through HTTP on the real Gers bundle: placements, itineraries,
batch geocoding, service lists (imported and given at start-up), their refusals and schema.

One server is started for the module (no default run, small upload limits, a
service list given at start-up as ``coverage serve --services`` does); the
studies are kept small (greedy placements of a few sites, six stops on twenty
days) so that the whole module runs in well under a minute once the Gers is
cached.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import shapely.geometry

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its test client
    warnings.filterwarnings("ignore", message=".*httpx2")
    from starlette.testclient import TestClient

from api.app import create_app
from api.job_schemas import MAX_SITES, MAX_TIME_LIMIT_S, PLACEMENT_EXAMPLE
from api.lists import ListStore, startup_lists
from api.settings import ApiSettings
from api.store import RunStore
from coverage.errors import ConfigError
from coverage.tables import read_written_table
from tests.test_api import (
    AUTH,
    GERS_POPULATION,
    LECTOURE,
    LOMBEZ,
    MASSEUBE,
    TOKEN,
    assert_field_error,
    fast_scenario,
    wait_for,
)
from tests.test_api import api_env as api_env  # the module's cache folder (a fixture)

UPLOAD_LIMIT = 64 * 1024
ROW_LIMIT = 40
STARTUP_LIST = "centres_sante"
MDS_CSV = (
    "id;nom;adresse;code_postal;commune;latitude;longitude\r\n"
    "m1;MDS d'Auch;17 rue d'Étigny;32000;Auch;;\r\n"
    "m2;MDS de L'Isle-Jourdain;25 chem. d'Arques;32600;L'Isle-Jourdain;;\r\n"
    "m3;MDS de Condom;;32100;Condom;43.957361;0.37465\r\n"
    "m6;Permanence;;;Atlantis;;\r\n"
)
MDS_COMMUNES = {"32013", "32160", "32107"}  # Auch, L'Isle-Jourdain, Condom


def wait_job(client: TestClient, path: str, timeout_s: float = 120.0) -> dict[str, Any]:
    """Poll a placement or itinerary until it is done or failed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(path).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"{path} did not finish in {timeout_s} s")


@pytest.fixture(scope="module")
def health_file(shared_data: Path, tmp_path_factory: pytest.TempPathFactory, api_env: None) -> Path:
    """A catalogue file written by ``coverage services import`` (two health centres)."""
    from coverage.cli import main

    folder = tmp_path_factory.mktemp("startup-list")
    source = folder / "centres.csv"
    source.write_text(
        "nom;commune;latitude;longitude\n"
        "Centre de santé de Mirande;Mirande;43.5147;0.4040\n"
        "Centre de santé de Nogaro;Nogaro;43.7589;-0.0330\n",
        encoding="utf-8",
    )
    output = folder / f"{STARTUP_LIST}.gpkg"
    code = main(
        [
            "services",
            "import",
            str(source),
            "--kind",
            "health_centre",
            "-o",
            str(output),
            "--data",
            str(shared_data),
            "--no-progress",
        ]
    )
    assert code in (0, None) and output.is_file()
    return output


@pytest.fixture(scope="module")
def settings(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory, api_env: None, health_file: Path
) -> ApiSettings:
    return ApiSettings(
        data_dir=shared_data,
        state_dir=tmp_path_factory.mktemp("api-jobs-state"),
        token=TOKEN,
        default_run=False,
        max_upload_bytes=UPLOAD_LIMIT,
        max_geocode_rows=ROW_LIMIT,
        services_files=(health_file,),
    )


@pytest.fixture(scope="module")
def client(settings: ApiSettings) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def placement(client: TestClient) -> dict[str, Any]:
    """Three new tiers-lieux besides the three open ones (greedy, no canton rule)."""
    response = client.post("/placements", json=PLACEMENT_EXAMPLE, headers=AUTH)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "queued" and job["kind"] == "placement"
    assert response.headers["Location"] == f"/placements/{job['id']}"
    done = wait_job(client, f"/placements/{job['id']}")
    assert done["status"] == "done", done
    return done


@pytest.fixture(scope="module")
def mds_list(client: TestClient) -> dict[str, Any]:
    """The département's MDS list, imported (the Gers bundle has no MDS)."""
    before = client.get("/territories/gers/coverage", params={"kind": "mds"})
    assert_field_error(before, 422, "kind")
    response = client.post(
        "/services/gers/lists/mds_gers",
        files={"file": ("mds.csv", MDS_CSV.encode("utf-8"), "text/csv")},
        data={"kind": "mds"},
        headers=AUTH,
    )
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == "/services/gers/lists/mds_gers"
    return response.json()


# --- the schema --------------------------------------------------------------------------------


def test_openapi_documents_the_job_endpoints(client: TestClient, settings: ApiSettings) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    posts = (
        "/placements",
        "/itineraries",
        "/geocode",
        "/services/{territory}/lists/{name}",
    )
    for path in posts:
        post = paths[path]["post"]
        assert post["security"] == [{"bearerToken": []}], path
        assert {"401", "403", "413", "422"} <= set(post["responses"]), path
    for path in (
        "/placements/{placement_id}",
        "/placements/{placement_id}/sites",
        "/placements/{placement_id}/cantons",
        "/itineraries/{itinerary_id}",
        "/itineraries/{itinerary_id}/calendar.ics",
        "/itineraries/{itinerary_id}/stops",
        "/services/{territory}/lists",
        "/services/{territory}/lists/{name}",
    ):
        assert "get" in paths[path], path
    assert "429" in paths["/placements"]["post"]["responses"]
    assert "409" in paths["/services/{territory}/lists/{name}"]["post"]["responses"]
    # request and response examples
    components = schema["components"]["schemas"]
    assert components["PlacementBody"]["examples"][0] == PLACEMENT_EXAMPLE
    assert components["ItineraryBody"]["examples"][0]["n_stops"] == 6
    for path, code in (("/placements", "202"), ("/itineraries", "202")):
        assert "example" in paths[path]["post"]["responses"][code]["content"]["application/json"]
    ics = paths["/itineraries/{itinerary_id}/calendar.ics"]["get"]["responses"]["200"]
    assert ics["content"]["text/calendar"]["example"].startswith("BEGIN:VCALENDAR")
    for path in ("/geocode", "/services/{territory}/lists/{name}"):
        form = paths[path]["post"]["requestBody"]["content"]["multipart/form-data"]
        assert "file" in form["example"], path
    answers = paths["/geocode"]["post"]["responses"]["200"]["content"]
    assert {"text/csv", "application/json"} <= set(answers)
    # the limits of the code are the limits of the schema
    placement = components["PlacementBody"]["properties"]
    sites = placement["sites"]["anyOf"][0]
    assert (sites["minimum"], sites["maximum"]) == (1, MAX_SITES)
    assert placement["threshold_minutes"]["exclusiveMinimum"] == 0
    assert placement["time_limit_s"]["maximum"] == MAX_TIME_LIMIT_S
    assert set(placement["model"]["enum"]) == {"mclp", "pmedian", "lscp", "maxmin"}
    itinerary = components["ItineraryBody"]["properties"]
    assert itinerary["permanences_per_day"]["maximum"] == 8
    name = paths["/services/{territory}/lists/{name}"]["post"]["parameters"]
    assert next(p for p in name if p["name"] == "name")["schema"]["pattern"] == (
        "^[a-z0-9_-]{1,40}$"
    )
    # the upload limits of this server are written in the descriptions
    description = paths["/geocode"]["post"]["description"]
    assert f"{UPLOAD_LIMIT} octets" in description and f"{ROW_LIMIT} lignes" in description
    assert (
        f"{UPLOAD_LIMIT} octets"
        in paths["/services/{territory}/lists/{name}"]["post"]["description"]
    )


# --- placements --------------------------------------------------------------------------------


def test_placement_keeps_the_open_sites_and_adds_three(
    client: TestClient, placement: dict[str, Any]
) -> None:
    sites = placement["sites"]
    assert len(sites) == 6
    existing = {s["insee_code"] for s in sites if s["status"] == "existant"}
    assert existing == {LOMBEZ, MASSEUBE, LECTOURE}
    new = [s for s in sites if s["status"] == "nouveau"]
    assert len(new) == 3 and not {s["insee_code"] for s in new} & existing
    figures = placement["figures"]
    assert figures["population"] == GERS_POPULATION and figures["threshold_minutes"] == 20
    assert figures["pop_within_after"] > figures["pop_within_before"] > 0
    assert figures["pop_newly_within"] == figures["pop_within_after"] - figures["pop_within_before"]
    assert placement["solver"]["method"] == "greedy"
    assert set(placement["links"]) == {"self", "sites", "cantons", "files"}
    # the written plan beside it: 15 chefs-lieux + Lombez, the open sites among them
    written = placement["written_plan"]
    assert written["territory"]["plan"]["sites"] == 16
    assert {LOMBEZ, MASSEUBE, LECTOURE} <= set(written["common"])

    layer = client.get(placement["links"]["sites"])
    assert layer.headers["content-type"] == "application/geo+json"
    features = layer.json()["features"]
    assert sorted(f["properties"]["insee_code"] for f in features) == sorted(
        s["insee_code"] for s in sites
    )
    gers = shapely.geometry.box(-0.4, 43.2, 1.3, 44.2)
    assert all(gers.contains(shapely.geometry.shape(f["geometry"])) for f in features)

    cantons = client.get(placement["links"]["cantons"]).json()["cantons"]
    assert sum(c["population"] for c in cantons) == GERS_POPULATION
    # the canton table adds up to the headline figures
    assert sum(c["pop_within_20_before"] for c in cantons) == figures["pop_within_before"]
    assert sum(c["pop_within_20_after"] for c in cantons) == figures["pop_within_after"]


def test_placement_files_are_served(client: TestClient, placement: dict[str, Any]) -> None:
    """The explanation and the cost matrix of every placement, as ``coverage place`` writes
    them; a file the study was not asked for is a 404 naming ``name``."""
    files = placement["links"]["files"]
    explained = client.get(files.format(name="sites_explication.csv"))
    assert explained.status_code == 200
    assert explained.headers["content-type"].startswith("text/csv")
    table = read_written_table(explained.content)
    assert len(table) == len(placement["sites"])
    matrix = client.get(files.format(name="matrice_couts.parquet"))
    assert matrix.headers["content-type"] == "application/vnd.apache.parquet"
    pairs = pd.read_parquet(io.BytesIO(matrix.content))
    # one weight per demand point (commune): together the Gers population
    weights = pairs.drop_duplicates("id_demande")["poids_demande"]
    assert weights.sum() == pytest.approx(GERS_POPULATION)
    assert list(pairs["minutes"] * 60) == pytest.approx(list(pairs["secondes"]))
    assert_field_error(client.get(files.format(name="courbes.png")), 404, "name")
    assert client.get(files.format(name="..%2Fstate.db")).status_code in (404, 422)


def test_placement_curves_through_the_api(client: TestClient) -> None:
    """The bounds come in either order; each point of both curves is a row of its file."""
    body = {**PLACEMENT_EXAMPLE, "curve_from": 5, "curve_to": 4, "curve_minutes": [20, 15]}
    response = client.post("/placements", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    done = wait_job(client, f"/placements/{response.json()['id']}")
    assert done["status"] == "done", done
    files = done["links"]["files"]
    by_sites = read_written_table(client.get(files.format(name="courbe_sites.csv")).content)
    assert list(by_sites["nombre_sites"]) == [4, 5]
    by_minutes = read_written_table(client.get(files.format(name="courbe_seuil.csv")).content)
    assert len(by_minutes) == 2
    png = client.get(files.format(name="courbes.png"))
    assert png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
    assert [row["nombre_sites"] for row in done["questions"]["curve_sites"]] == [4, 5]


def test_jobs_of_one_kind_are_not_found_as_another(
    client: TestClient, placement: dict[str, Any]
) -> None:
    pid = placement["id"]
    assert_field_error(client.get(f"/scenarios/{pid}"), 404, pid)
    assert_field_error(client.get(f"/itineraries/{pid}"), 404, pid)
    assert_field_error(client.get(f"/maps/coverage?run={pid}"), 404, "run")
    assert all(r["id"] != pid for r in client.get("/scenarios").json()["runs"])
    assert_field_error(client.get("/placements/0123456789abcdef"), 404, "0123456789abcdef")
    assert_field_error(client.get("/placements/PAS-UN-ID"), 422, "placement_id")
    jobs = client.get("/health").json()["jobs"]
    assert jobs["placement"]["done"] >= 1 and jobs["run"]["running"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sites": 0}, "sites"),
        ({"sites": MAX_SITES + 1}, "sites"),
        ({"sites": 459, "zone_rule": "none"}, "sites"),  # the Gers has 458 communes
        ({"sites": 20, "new_sites": 2}, "new_sites"),
        ({"model": "pmedian"}, "sites"),
        ({"new_sites": 2, "threshold_minutes": 0}, "threshold_minutes"),
        ({"new_sites": 2, "time_limit_s": MAX_TIME_LIMIT_S + 1}, "time_limit_s"),
        ({"new_sites": 2, "model": "maxcover"}, "model"),
        ({"new_sites": 2, "kind": "boulangerie"}, "kind"),
        ({"new_sites": 2, "fixed": ["32999"]}, "fixed[0]"),
        ({"new_sites": 2, "lists": ["absente"]}, "lists[0]"),
        ({"new_sites": 2, "territory": "landes"}, "territory"),
        ({"new_sites": 2, "demand": "cells", "cell_size_m": 300}, "cell_size_m"),
        ({"new_sites": 2, "candidates": "/etc/passwd"}, "candidates"),
        ({"new_sites": 2, "scenario": "x.toml"}, "scenario"),
        ({"new_sites": 2, "curve_to": 101}, "curve_to"),
        ({"new_sites": 2, "curve_from": 0}, "curve_from"),
        ({"new_sites": 2, "curve_minutes": [10, 0]}, "curve_minutes[1]"),
        ({"new_sites": 2, "curve_minutes": [10] * 13}, "curve_minutes"),
        ({"new_sites": 2, "alternatives": 11}, "alternatives"),
    ],
)
def test_bad_placement_bodies_name_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    error = assert_field_error(client.post("/placements", json=body, headers=AUTH), 422, field)
    assert error["error"] in ("validation", "invalid")


# --- itineraries -------------------------------------------------------------------------------


def test_itinerary_plan_calendar_and_stops(client: TestClient, placement) -> None:
    """Planned after a placement in the same server (HiGHS' process-wide thread pool)."""
    body = {"n_stops": 6, "days": 20, "year": 2027, "max_spacing_days": 120}
    response = client.post("/itineraries", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    assert response.json()["label"] == "Itinérance : 6 arrêts, 20 jours"
    plan = wait_job(client, response.headers["Location"])
    assert plan["status"] == "done", plan
    summary = plan["summary"]
    assert (summary["stops"], summary["service_days"], summary["permanences"]) == (6, 20, 40)
    assert summary["period"]["start"] == "2027-01-01" and summary["violations"] == []
    assert summary["depot"]["code"] == "32013"
    assert summary["driving_minutes_day"]["max"] <= 180
    assert summary["reach"]["underserved_reached"] <= summary["reach"]["underserved_total"]

    ics = client.get(plan["links"]["calendar"])
    assert ics.headers["content-type"] == "text/calendar; charset=utf-8"
    text = ics.text
    assert text.startswith("BEGIN:VCALENDAR") and text.count("BEGIN:VEVENT") == 40
    starts = [line for line in text.splitlines() if line.startswith("DTSTART;TZID=Europe/Paris")]
    assert len(starts) == 40 and all(":2027" in line for line in starts)

    stops = client.get(plan["links"]["stops"]).json()["features"]
    assert len(stops) == 6
    assert sum(f["properties"]["visits"] for f in stops) == 40
    assert all(f["id"] == f["properties"]["insee_code"] for f in stops)
    assert all(len(f["properties"]["first_visit"]) == 10 for f in stops)  # an ISO date
    assert_field_error(client.get(f"/itineraries/{plan['id']}/calendar.ics/x"), 404, "")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"n_stops": 0}, "n_stops"),
        ({"n_stops": 6, "stop_codes": ["32013"]}, "stop_codes"),
        ({"stop_codes": ["32013", "32999"]}, "stop_codes[1]"),
        ({"depot": "99999"}, "depot"),
        ({"depot": {"lon": 0.58, "lat": 95}}, "depot"),
        ({"start": "25:00"}, "start"),
        ({"days": 367}, "days"),
        ({"min_spacing_days": 30, "max_spacing_days": 20}, "max_spacing_days"),
        ({"lunch_minutes": 120}, "lunch_minutes"),
        ({"weekdays": ["lundi"]}, "weekdays[0]"),
        ({"permanences_per_day": 9}, "permanences_per_day"),
        ({"start_date": "2027-01-01"}, "end_date"),
        ({"lists": ["absente"]}, "lists[0]"),
        ({"closures_file": "/etc/passwd"}, "closures_file"),
    ],
)
def test_bad_itinerary_bodies_name_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    assert_field_error(client.post("/itineraries", json=body, headers=AUTH), 422, field)


# --- access ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/placements", "/itineraries"])
def test_studies_need_the_token(client: TestClient, path: str) -> None:
    missing = client.post(path, json={})
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    wrong = client.post(path, json={}, headers={"Authorization": "Bearer faux-jeton-0123456789"})
    assert wrong.status_code == 401


@pytest.mark.parametrize("path", ["/geocode", "/services/gers/lists/sans_jeton"])
def test_uploads_need_the_token(client: TestClient, path: str) -> None:
    files = {"file": ("a.csv", b"adresse;commune\n1 rue Gambetta;Auch\n", "text/csv")}
    response = client.post(path, files=files, data={"kind": "mds"})
    assert response.status_code == 401 and "Authorization" in response.json()["message"]


def test_writes_disabled_without_a_token(settings: ApiSettings) -> None:
    bare = TestClient(create_app(settings.model_copy(update={"token": None})))
    for path in ("/placements", "/itineraries"):
        response = bare.post(path, json={}, headers=AUTH)
        assert response.status_code == 403 and "COVERAGE_API_TOKEN" in response.json()["message"]
    files = {"file": ("a.csv", b"adresse\nx\n", "text/csv")}
    assert bare.post("/geocode", files=files, headers=AUTH).status_code == 403


def test_a_restarted_server_keeps_its_lists_and_shares_its_queue(
    settings: ApiSettings, mds_list: dict[str, Any], tmp_path: Path
) -> None:
    """Imported lists are served again after a restart; studies wait in the run queue under
    its limit (a full queue refuses them with 429)."""
    # one server per state folder: this one gets a copy of the imported lists, its own database
    shutil.copytree(settings.lists_path, tmp_path / "state" / "services")
    again = settings.model_copy(update={"state_dir": tmp_path / "state", "max_queued_runs": 1})
    app = create_app(again)
    with TestClient(app) as c:
        listed = {e["name"]: e for e in c.get("/services/gers/lists").json()["lists"]}
        assert listed["mds_gers"]["origin"] == "import"
        assert listed["mds_gers"]["kinds"] == mds_list["kinds"]
        coverage = c.get("/territories/gers/coverage", params={"kind": "mds"}).json()
        assert coverage["services"] == mds_list["services"]
        app.state.core.worker.stop()  # nothing runs: posted jobs stay queued
        waiting = c.post("/scenarios", json=fast_scenario("en_attente"), headers=AUTH)
        assert waiting.status_code == 202
        for path, body in (("/placements", PLACEMENT_EXAMPLE), ("/itineraries", {"n_stops": 4})):
            full = c.post(path, json=body, headers=AUTH)
            assert full.status_code == 429 and full.json()["error"] == "queue_full", path


# --- geocoding ---------------------------------------------------------------------------------

ADDRESSES = (
    "ref;adresse;commune\n"
    "a1;17 rue d'Étigny;Auch\n"
    "\n"
    "a3;place de la Halle;Nulle-Part-sur-Gers\n"
    "a4;25 chem. d'Arques;L'Isle-Jourdain\n"
    "a5;;Condom\n"
)


def _csv_rows(body: bytes) -> tuple[list[str], list[dict[str, str]]]:
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for spreadsheets
    reader = csv.DictReader(io.StringIO(body.decode("utf-8-sig")), delimiter=";")
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def test_geocoding_returns_every_row_in_order(client: TestClient) -> None:
    files = {"file": ("adresses.csv", ADDRESSES.encode("utf-8"), "text/csv")}
    response = client.post("/geocode", files=files, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "adresses.geocode.csv" in response.headers["content-disposition"]
    columns, rows = _csv_rows(response.content)
    assert columns[:3] == ["ref", "adresse", "commune"] and "status" in columns
    assert [r["ref"] for r in rows] == ["a1", "", "a3", "a4", "a5"]  # 5 rows in, 5 out
    status = [r["status"] for r in rows]
    assert status[0] == "matched" and rows[0]["insee_code"] == "32013"
    assert status[1] == "rejected" and rows[1]["reason"] == "ligne vide"
    assert status[2] == "rejected" and rows[2]["reason"]
    assert rows[3]["insee_code"] == "32160" and status[3] in ("matched", "fallback")
    assert status[4] == "fallback" and rows[4]["insee_code"] == "32107"
    assert abs(float(rows[0]["lon"].replace(",", ".")) - 0.58254) < 1e-3  # decimal comma

    as_json = client.post("/geocode?format=json", files=files, headers=AUTH).json()
    assert as_json["count"] == 5 and as_json["table"]["separator"] == ";"
    assert [r["ref"] for r in as_json["rows"]] == [r["ref"] for r in rows]
    assert [r["status"] for r in as_json["rows"]] == status
    assert sum(as_json["by_status"].values()) == 5 and as_json["columns"]["city"] == "commune"


def test_geocoding_keeps_a_malformed_row_in_place(client: TestClient) -> None:
    """A row with too many fields comes back rejected at its place; the others are not shifted."""
    text = "ref;adresse;commune\nb1;;Auch\nb2;x;Condom;en trop\nb3;;Lectoure\n"
    files = {"file": ("adresses.csv", text.encode("utf-8"), "text/csv")}
    response = client.post("/geocode", files=files, headers=AUTH)
    assert response.status_code == 200, response.text
    _, rows = _csv_rows(response.content)
    assert len(rows) == 3
    assert rows[0]["ref"] == "b1" and rows[0]["insee_code"] == "32013"
    assert rows[1]["status"] == "rejected" and "4 champs" in rows[1]["reason"]
    assert rows[2]["ref"] == "b3" and rows[2]["insee_code"] == "32208"


def test_geocoding_with_forced_columns_and_comma(client: TestClient) -> None:
    text = "Lieu,Ville\n17 rue d'Étigny,Auch\n,Mirande\n"
    files = {"file": ("lieux.csv", text.encode("cp1252"), "text/csv")}
    response = client.post(
        "/geocode", files=files, data={"address": "Lieu", "city": "Ville"}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    body = response.content.decode("utf-8-sig")
    # French spreadsheet style whatever the input's separator: ';' (a ',' file comes back ';')
    assert body.splitlines()[0].startswith("Lieu;Ville;")
    rows = list(csv.DictReader(io.StringIO(body), delimiter=";"))
    assert [r["Ville"] for r in rows] == ["Auch", "Mirande"]
    assert [r["insee_code"] for r in rows] == ["32013", "32256"]


def test_geocoding_refusals(client: TestClient) -> None:
    def post(content: bytes, **data: Any) -> Any:
        files = {"file": ("a.csv", content, "text/csv")}
        return client.post("/geocode", files=files, data=data, headers=AUTH)

    too_big = post(b"adresse;commune\n" + b"1 rue Gambetta;Auch\n" * (UPLOAD_LIMIT // 20 + 1))
    assert_field_error(too_big, 413, "file")
    too_many = post(b"adresse;commune\n" + b"rue;Auch\n" * (ROW_LIMIT + 1))
    body = assert_field_error(too_many, 413, f"{ROW_LIMIT} au plus")
    assert body["field"] == "file"
    assert_field_error(post(b"adresse;commune\nx;Auch\n", backends=["ban"]), 422, "backends")
    assert_field_error(post(b"adresse;commune\nx;Auch\n", backends=["google"]), 422, "backends")
    assert_field_error(post(b"adresse;commune\nx;Auch\n", address="Rue"), 422, "address")
    assert_field_error(post(b"   \n"), 422, "file")
    assert_field_error(post(b"nom;age\nx;3\n"), 422, "file")  # no address column
    assert_field_error(post(b"adresse\nx\n", territory="landes"), 422, "territory")
    # the whole request beyond the upload limit is refused before it is read
    huge = client.post(
        "/geocode",
        content=b"x" * (UPLOAD_LIMIT + 70 * 1024),
        headers={**AUTH, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert huge.status_code == 413 and "MAX_UPLOAD_BYTES" in huge.json()["message"]


# --- service lists -----------------------------------------------------------------------------


def test_a_list_repeating_served_ids_is_refused_and_not_stored(
    client: TestClient, mds_list: dict[str, Any]
) -> None:
    """The same sites under another list name would put one service id in two lists: the
    upload is refused before anything is stored, and the server keeps serving."""
    response = client.post(
        "/services/gers/lists/mds_copie",
        files={"file": ("mds.csv", MDS_CSV.encode("utf-8"), "text/csv")},
        data={"kind": "mds"},
        headers=AUTH,
    )
    error = assert_field_error(response, 422, "file")
    assert "deux listes" in error["message"]
    names = [entry["name"] for entry in client.get("/services/gers/lists").json()["lists"]]
    assert "mds_copie" not in names and mds_list["name"] in names
    assert client.get("/territories/gers/coverage", params={"kind": "mds"}).status_code == 200


def test_imported_list_is_served_and_counted(client: TestClient, mds_list: dict[str, Any]) -> None:
    assert mds_list["kinds"] == {"mds": 3} and mds_list["origin"] == "import"
    assert mds_list["rejected"] == 1
    (rejected,) = mds_list["rejected_rows"]
    assert rejected["line"] == 5 and "atlantis" in rejected["reason"].lower()
    listed = {entry["name"]: entry for entry in client.get("/services/gers/lists").json()["lists"]}
    assert set(listed) == {"mds_gers", STARTUP_LIST}
    assert listed[STARTUP_LIST]["origin"] == "startup"
    assert listed[STARTUP_LIST]["kinds"] == {"health_centre": 2}
    one = client.get("/services/gers/lists/mds_gers").json()
    assert one["services"] == 3 and one["rejected_rows"][0]["line"] == 5
    assert_field_error(client.get("/services/gers/lists/absente"), 404, "absente")

    coverage = client.get(mds_list["links"]["coverage"]).json()
    assert coverage["services"] == 3 and coverage["services_in_territory"] == 3
    auch = next(c for c in coverage["communes"] if c["insee_code"] == "32013")
    assert auch["minutes_point"] < 10
    points = client.get("/territories/gers/services", params={"kind": "mds"}).json()
    assert {f["properties"]["insee_code"] for f in points["features"]} == MDS_COMMUNES
    health = client.get("/territories/gers/coverage", params={"kind": "health_centre"}).json()
    assert health["services"] == 2
    # kept on disk under the server's state folder, and read back as it was
    store = client.app.state.core.list_store  # type: ignore[attr-defined]
    again = store.imported("gers")["mds_gers"]
    assert again.kinds == {"mds": 3} and again.path.suffix == ".gpkg"


def test_a_scenario_and_a_placement_name_the_list(
    client: TestClient, mds_list: dict[str, Any]
) -> None:
    body = fast_scenario(
        "avec_les_mds",
        analyses=[{"name": "mds", "kinds": ["mds"]}],
        services={"lists": ["mds_gers"]},
    )
    run = wait_for(client, client.post("/scenarios", json=body, headers=AUTH).json()["id"])
    assert run["status"] == "done", run
    assert run["headline"]["analyses"]["mds"]["services"] == 3
    without = fast_scenario("sans_les_mds", analyses=[{"name": "mds", "kinds": ["mds"]}])
    assert_field_error(client.post("/scenarios", json=without, headers=AUTH), 422, "mds")
    unknown = fast_scenario("liste_absente", services={"lists": ["absente"]})
    assert_field_error(client.post("/scenarios", json=unknown, headers=AUTH), 422, "lists[0]")

    study = {
        "kind": "mds",
        "new_sites": 1,
        "zone_rule": "none",
        "solver": "greedy",
        "lists": ["mds_gers"],
    }
    response = client.post("/placements", json=study, headers=AUTH)
    assert response.status_code == 202, response.text
    done = wait_job(client, response.headers["Location"])
    assert done["status"] == "done", done
    existing = {s["insee_code"] for s in done["sites"] if s["status"] == "existant"}
    assert existing == MDS_COMMUNES and len(done["sites"]) == 4


def test_list_import_refusals(client: TestClient, mds_list: dict[str, Any]) -> None:
    def post(name: str, content: bytes = MDS_CSV.encode(), **data: Any) -> Any:
        files = {"file": ("mds.csv", content, "text/csv")}
        return client.post(
            f"/services/gers/lists/{name}", files=files, data={"kind": "mds", **data}, headers=AUTH
        )

    exists = assert_field_error(post("mds_gers"), 409, "replace")
    assert exists["error"] == "exists" and exists["field"] == "name"
    assert_field_error(post(STARTUP_LIST, replace="true"), 409, "démarrage")
    assert_field_error(post("MDS!"), 422, "name")
    assert_field_error(post("x" * 41), 422, "name")
    assert_field_error(post("autre", kind="creche"), 422, "kind")
    assert_field_error(post("autre", status="peut-etre"), 422, "status")
    assert_field_error(post("autre", content=b"nom;commune\nX;Atlantis\n"), 422, "file")
    assert_field_error(post("autre", content=b"x" * (UPLOAD_LIMIT + 1)), 413, "file")
    assert_field_error(post("autre", backends=["ban"]), 422, "backends")
    assert (
        client.post(
            "/services/landes/lists/mds",
            files={"file": ("a.csv", b"a\n")},
            data={"kind": "mds"},
            headers=AUTH,
        ).status_code
        == 404
    )
    replaced = post("mds_gers", content=MDS_CSV.encode().rsplit(b"m3;", 1)[0], replace="true")
    assert replaced.status_code == 201 and replaced.json()["kinds"] == {"mds": 2}
    coverage = client.get("/territories/gers/coverage", params={"kind": "mds"}).json()
    assert coverage["services"] == 2
    post("mds_gers", replace="true")  # as the other tests expect it


def test_startup_lists_are_checked(gers, tmp_path: Path, health_file: Path) -> None:
    lists = startup_lists(gers, [health_file])
    assert list(lists) == [STARTUP_LIST] and lists[STARTUP_LIST].services == 2
    bad = tmp_path / "Liste Santé.gpkg"
    bad.write_bytes(health_file.read_bytes())
    with pytest.raises(ConfigError, match="nom du fichier"):
        startup_lists(gers, [bad])
    with pytest.raises(ConfigError, match=r"missing\.gpkg"):
        startup_lists(gers, [tmp_path / "missing.gpkg"])
    assert ListStore(tmp_path / "vide").imported("gers") == {}


# --- the store ---------------------------------------------------------------------------------


def test_an_old_database_gets_the_kind_column(tmp_path: Path) -> None:
    """A runs table made before job kinds is migrated on opening; its rows are runs."""
    path = tmp_path / "runs.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE runs (id VARCHAR(32) PRIMARY KEY, territory VARCHAR(64) NOT NULL, "
            "scenario_name VARCHAR(128) NOT NULL, scenario_label TEXT NOT NULL, "
            "origin VARCHAR(16) NOT NULL, body JSON NOT NULL, status VARCHAR(16) NOT NULL, "
            "reason TEXT, created_at DATETIME NOT NULL, started_at DATETIME, "
            "finished_at DATETIME, result_dir VARCHAR(64), headline JSON)"
        )
        conn.execute(
            "INSERT INTO runs VALUES ('0123456789abcdef', 'gers', 'ancien', '', 'api', '{}', "
            "'done', NULL, '2026-01-01 10:00:00', NULL, '2026-01-01 10:01:00', "
            "'run-0123456789abcdef', NULL)"
        )
    store = RunStore(f"sqlite:///{path}")
    try:
        (old,) = store.list_runs()
        assert (old.id, old.kind, old.result_dir) == ("0123456789abcdef", "run", old.result_dir)
        study = store.create(
            territory="gers",
            scenario_name="placement",
            scenario_label="",
            body={},
            kind="placement",
        )
        assert [r.id for r in store.list_runs()] == [old.id]
        assert [r.id for r in store.list_runs(kind="placement")] == [study.id]
        assert store.count(status="queued") == 1 and store.count(kind="run") == 1
    finally:
        store.close()
    RunStore(f"sqlite:///{path}").close()  # opening a migrated file again changes nothing


# --- coverage serve --services -----------------------------------------------------------------


def test_coverage_serve_loads_service_lists(
    shared_data: Path, tmp_path: Path, health_file: Path
) -> None:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "COVERAGE_API_STATE_DIR": str(tmp_path), "COVERAGE_API_DEFAULT_RUN": "0"}
    command = [sys.executable, "-m", "coverage.cli", "serve", "--port", str(port)]
    command += ["--data", str(shared_data), "--services", str(health_file)]
    proc = subprocess.Popen(
        [*command, "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                lists = httpx.get(f"http://127.0.0.1:{port}/services/gers/lists", timeout=2)
                break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.3)
        (entry,) = lists.json()["lists"]
        assert entry["name"] == STARTUP_LIST and entry["origin"] == "startup"
        assert "/" not in entry["source"]  # the file's name, never its path
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_coverage_serve_refuses_a_missing_list(tmp_path: Path) -> None:
    from coverage.cli import main

    assert main(["serve", "--services", str(tmp_path / "absente.gpkg")]) == 1
