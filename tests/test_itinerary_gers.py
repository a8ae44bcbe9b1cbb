"""The Gers yearly plan on the bundle: 26 stops, 103 days; its rules, figures, files and CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

from coverage.cli import main
from coverage.itinerary import ItineraryPlan, ItinerarySettings
from coverage.itinerary.legs import check_consistency
from coverage.jobs.itinerary import leg_matrix, plan_itinerary
from coverage.jobs.resources import TerritoryResources
from coverage.tables import read_written_table
from tests.test_itinerary_plan import assert_plan_rules, parse_ics_strictly

SETTINGS = ItinerarySettings(year=2027)
AUCH_LONLAT = (0.5857, 43.6465)


@pytest.fixture(scope="module")
def resources(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as mp:  # module fixtures run before the autouse one
        mp.setenv("COVERAGE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        return TerritoryResources.load("gers", data_dir=shared_data / "gers")


@pytest.fixture(scope="module")
def gers_plan(resources) -> tuple[ItineraryPlan, float]:
    started = time.perf_counter()
    plan = plan_itinerary(resources=resources, settings=SETTINGS)
    return plan, time.perf_counter() - started


def test_gers_plan_keeps_every_rule_in_time(gers_plan) -> None:
    plan, seconds = gers_plan
    assert seconds < 60.0  # the target (measured: ~3 s once the layers are loaded)
    assert_plan_rules(plan, SETTINGS)
    assert plan.violations() == []
    summary = plan.summary()
    assert summary["stops"] == 26 and summary["service_days"] == 103
    assert summary["permanences"] == 206 == int(plan.stops["visits"].sum())
    assert sorted(set(plan.stops["visits"])) == [7, 8]  # 206 / 26 = 7.9, uniform
    assert summary["depot"]["name"] == "Auch" and summary["depot"]["code"] == "32013"
    assert summary["infeasible_days"] == 0
    # every day drives at most 3 h and every stop is visited at least every 60 days
    assert summary["driving_minutes_day"]["max"] <= 180
    assert summary["spacing_days"]["worst_wait"] <= 60


def test_gers_stops_reach_underserved_people(gers_plan, resources) -> None:
    from coverage.access import service_access

    plan, _ = gers_plan
    catalogue = resources.catalogue
    services = catalogue.of_kind("france_services")
    # the underserved total is the access analysis' own figure (15 min from a France services)
    check = service_access(resources.context, services, name="fs", thresholds_minutes=(15,))
    reach = plan.summary()["reach"]
    assert reach["underserved_total"] == int(check.communes["pop_beyond_15"].sum())
    assert reach["method"]["kinds"] == ["france_services"]  # no MDS in the Gers bundle
    assert reach["method"]["kinds_missing"] == ["mds"]
    communes = plan.choice.communes
    reached = communes[communes["stop_code"] != ""]
    assert reach["underserved_reached"] == int(reached["underserved"].sum())
    assert reach["population_reached"] == int(reached["population"].sum())
    assert (reached["minutes_to_stop"] <= 10.0).all()
    assert 0 < reach["underserved_reached"] <= reach["underserved_total"]
    # no stop where a France services already is
    hosts = set(services["insee_code"].astype(str))
    assert not set(plan.stops["insee_code"]) & hosts
    # each stop's own commune is in its catchment
    own = communes.set_index("insee_code").loc[plan.stops["insee_code"], "stop_code"]
    assert (own.to_numpy() == plan.stops["insee_code"].to_numpy()).all()


def test_gers_plan_beats_the_naive_round(gers_plan, resources) -> None:
    plan, _ = gers_plan
    naive = plan_itinerary(resources=resources, settings=SETTINGS, naive=True)
    assert list(naive.stops["insee_code"]) == list(plan.stops["insee_code"])  # same stops
    a, b = plan.summary(), naive.summary()
    assert a["driving_hours_year"] < b["driving_hours_year"]
    assert a["km_year"] < b["km_year"]
    assert b["infeasible_days"] > 0 and b["violations"]  # fixed pairs in code order break rules


def test_gers_legs_follow_the_road_network(gers_plan, resources) -> None:
    plan, _ = gers_plan
    assert check_consistency(plan.legs)["ok"]
    km = plan.legs.metres / 1000.0
    hours = plan.legs.seconds / 3600.0
    off = ~np.eye(km.shape[0], dtype=bool)
    speeds = km[off] / hours[off]
    assert ((speeds > 20) & (speeds < 110)).all()  # car speeds, access legs included
    lonlat = leg_matrix(resources.network, plan.legs.xy[:3]).seconds
    assert np.allclose(lonlat, plan.legs.seconds[:3, :3])


def test_gers_depot_as_lon_lat(resources) -> None:
    settings = ItinerarySettings(
        year=2027, n_stops=6, days=24, depot=AUCH_LONLAT, depot_name="MDS d'Auch", depots="depot"
    )
    plan = plan_itinerary(resources=resources, settings=settings)
    assert_plan_rules(plan, settings)
    assert plan.depot["name"] == "MDS d'Auch" and plan.depot["code"] == ""
    routes = plan.routes_frame()
    lon, lat = routes.geometry.iloc[0].coords[0]
    assert abs(lon - AUCH_LONLAT[0]) < 1e-6 and abs(lat - AUCH_LONLAT[1]) < 1e-6


@pytest.mark.slow  # the whole command, about 10 s
def test_cli_itinerary_writes_the_plan(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plan"
    closures = tmp_path / "fermetures.txt"
    closures.write_text("2027-08-09..2027-08-20\n", encoding="utf-8")
    code = main(
        [
            "itinerary",
            "gers",
            "--data",
            str(shared_data),
            "--year",
            "2027",
            "--closures",
            str(closures),
            "-o",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0, text
    assert "26 communes, 103 jours de service, 206 permanences" in text
    assert "Population atteinte" in text and "Espacement des passages" in text
    for name in (
        "calendar.csv",
        "calendar.ics",
        "days.csv",
        "stops.csv",
        "spacing.csv",
        "tours.csv",
        "routes.geojson",
        "tours.geojson",
        "stops.geojson",
        "summary.json",
        "map.html",
    ):
        assert (out / name).is_file(), name
    cal = read_written_table(out / "calendar.csv", dtype={"insee_code": str, "date": str})
    assert len(cal) == 206
    assert not cal["date"].between("2027-08-09", "2027-08-20").any()
    events = parse_ics_strictly((out / "calendar.ics").read_bytes())
    assert len(events) == 206
    routes = gpd.read_file(out / "routes.geojson")
    assert len(routes) == 103 and routes.crs.to_epsg() == 4326
    west, south, east, north = routes.total_bounds
    assert west > -0.4 and east < 1.3 and south > 43.2 and north < 44.1  # the Gers
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["violations"] == [] and summary["files"]["map"] == "map.html"
    assert summary["period"]["closures"][0] == "2027-08-09"
    html = (out / "map.html").read_text("utf-8")
    assert "Tourn\\u00e9e" in html or "Tournée" in html
    assert "Service public itinérant" in html
    assert main(["itinerary", "gers", "--data", str(shared_data), "-o", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err


def test_cli_stop_out_of_reach_is_one_clear_line(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    communes = tmp_path / "communes.csv"
    communes.write_text("insee_code;nom\n32412;Saramon\n32087;Castex-d'Armagnac\n", "utf-8")
    code = main(
        [
            "itinerary",
            "gers",
            "--data",
            str(shared_data),
            "--communes",
            str(communes),
            "--max-driving-hours",
            "1.5",
            "--depots",
            "depot",
            "--days",
            "20",
            "--no-map",
            "-o",
            str(tmp_path / "x"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.startswith("Erreur :") and len(err.splitlines()) == 1
    assert "Castex-d'Armagnac (32087) ne peut être visité dans la journée depuis Auch" in err
    assert "dépasse la limite de 90 min" in err  # Saramon (64 min there and back) fits
    assert not (tmp_path / "x").exists()


def test_cli_unknown_commune_and_bad_file(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "communes.txt"
    bad.write_text("32412\n99999\n", "utf-8")
    assert main(["itinerary", "gers", "--data", str(shared_data), "--communes", str(bad)]) == 1
    assert "code INSEE '99999' n'est pas une commune du territoire" in capsys.readouterr().err
    bad.write_text("32412\nSaramon\n", "utf-8")
    assert main(["itinerary", "gers", "--data", str(shared_data), "--communes", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "ligne 2" in err and "'Saramon' n'est pas un code commune INSEE" in err
