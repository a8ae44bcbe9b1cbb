"""Issue 16, part 4: the 2027 Gers itinerary reaches Grand-Bas-Armagnac and keeps every rule.

Facts pinned on the bundle: several depots (the tiers-lieux), stops in the far
west (Estang...), Mondays against Fridays within one, communes that already
have a site excluded, one weekday per stop when asked.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from coverage.itinerary import ItinerarySettings
from coverage.itinerary.calendar import balanced_service_days, working_days
from coverage.jobs.itinerary import plan_itinerary
from coverage.jobs.resources import TerritoryResources
from tests.test_itinerary_plan import assert_plan_rules

SETTINGS = ItinerarySettings(year=2027)
AUGUST_CLOSED = tuple(date(2027, 8, 9) + timedelta(days=i) for i in range(12))
GRAND_BAS_ARMAGNAC = {"32127": "Estang", "32155": "Le Houga", "32271": "Monguilhem"}


@pytest.fixture(scope="module")
def resources(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COVERAGE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        return TerritoryResources.load("gers", data_dir=shared_data / "gers")


@pytest.fixture(scope="module")
def plan(resources):
    return plan_itinerary(resources=resources, settings=SETTINGS)


def _canton(shared_data: Path) -> pd.Series:
    table = pd.read_csv(shared_data / "gers" / "communes_gers.csv", dtype=str)
    return table.set_index("insee_code")["canton_nom"]


def test_default_plan_reaches_grand_bas_armagnac(plan, shared_data: Path) -> None:
    assert_plan_rules(plan, SETTINGS)
    assert plan.violations() == []
    assert "Estang" in set(plan.stops["name"])  # 62-80 min from Auch, a stop now
    communes = plan.choice.communes.set_index("insee_code")
    # Le Houga and Monguilhem are within 10 min of a stop
    for code in GRAND_BAS_ARMAGNAC:
        assert communes.at[code, "stop_code"] != "", GRAND_BAS_ARMAGNAC[code]
        assert communes.at[code, "minutes_to_stop"] <= 10.0
    canton = _canton(shared_data)
    far = communes[canton.reindex(communes.index).to_numpy() == "Grand-Bas-Armagnac"]
    unreached = int(far.loc[far["stop_code"] == "", "underserved"].sum())
    assert unreached < 0.1 * int(far["underserved"].sum())  # before: all 2 793 unreached
    # the days of the far stops start from Nogaro or Eauze, not Auch
    days = plan.days()
    estang = days[days["stop_names"].str.contains("Estang")]
    assert set(estang["depot"]) <= {"Nogaro", "Eauze", "Riscle", "Condom"}
    # Auch, the 14 other canton chefs-lieux (planned tiers-lieux) and Lombez (open)
    assert len(plan.summary()["depots"]) == 16


def test_mondays_and_fridays_balanced(plan) -> None:
    per = plan.summary()["service_days_per_weekday"]
    assert sum(per.values()) == 103
    assert max(per.values()) - min(per.values()) <= 1
    working = working_days(pd.Timestamp("2027-01-01").date(), pd.Timestamp("2027-12-31").date())
    days = balanced_service_days(working, 103)
    mondays = sum(d.weekday() == 0 for d in days)
    fridays = sum(d.weekday() == 4 for d in days)
    assert abs(mondays - fridays) <= 1 and len(set(days)) == 103


def test_served_communes_are_excluded_and_reported(plan) -> None:
    communes = plan.choice.communes.set_index("insee_code")
    for code in ("32013", "32107"):  # Auch and Condom have a France services
        assert communes.at[code, "served"]
    assert not communes.loc[plan.stops["insee_code"], "served"].any()  # no stop there
    reach = plan.summary()["reach"]
    reached = communes[communes["stop_code"] != ""]
    own = reached[~reached["served"]]
    assert reach["population_reached_without_sites"] == int(own["population"].sum())
    assert reach["population_reached"] == int(reached["population"].sum())
    assert reach["population_reached_without_sites"] < reach["population_reached"]
    runs = plan.details["solver_runs"]
    assert {r["step"] for r in runs} >= {"choice of stops", "day groups"}
    assert all(r["threads"] == 1 and r["time_limit_s"] > 0 for r in runs)


def test_fixed_weekday_per_stop(resources) -> None:
    settings = ItinerarySettings(year=2027, n_stops=8, days=32, fixed_weekday=True)
    plan = plan_itinerary(resources=resources, settings=settings)
    assert plan.violations() == []
    for days in plan.visit_days():
        assert len({d.weekday() for d in days}) == 1
    assert plan.summary()["weekdays_per_stop"] == {"min": 1, "max": 1}


def test_no_served_exclusion_keeps_hosting_rule(resources) -> None:
    settings = ItinerarySettings(year=2027, n_stops=8, days=32, served_minutes=0)
    plan = plan_itinerary(resources=resources, settings=settings)
    assert plan.violations() == []
    assert not plan.choice.communes["served"].any()


@pytest.mark.parametrize(
    "closed",
    [pytest.param((), id="open"), pytest.param(AUGUST_CLOSED, id="august", marks=pytest.mark.slow)],
)
def test_fixed_weekday_on_the_default_plan(resources, closed) -> None:
    """The default 26-stop plan with one weekday per stop keeps every rule (~4 s each).

    Each weekday's days spread evenly over its working days left gaps of 63 days; the
    weekdays whose dates break the spacing choose their dates again among all their
    working days (measured: 12 dates moved, worst gap 56 days, with or without the
    August closure).
    """
    settings = ItinerarySettings(year=2027, fixed_weekday=True, closures=closed)
    plan = plan_itinerary(resources=resources, settings=settings)
    assert_plan_rules(plan, settings)
    assert plan.violations() == []
    summary = plan.summary()
    assert summary["weekdays_per_stop"] == {"min": 1, "max": 1}
    assert summary["spacing_days"]["worst_gap"] <= 60
    assert summary["spacing_days"]["worst_wait"] <= 60
    assert summary["permanences"] == 206 and summary["service_days"] == 103
    assert plan.details["search"]["dates_moved_within_weekday"] > 0
    assert "Estang" in set(plan.stops["name"])
