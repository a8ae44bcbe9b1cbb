"""Whole plans on a matrix built in code: every rule re-checked from the published tables."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from coverage.errors import QueryError
from coverage.itinerary import (
    InfeasiblePlanError,
    ItineraryPlan,
    ItinerarySettings,
    LegMatrix,
    build_plan,
)
from coverage.itinerary.calendar import french_public_holidays
from coverage.itinerary.ics import escape_text, fold_line
from coverage.itinerary.plan import PlanExistsError
from coverage.itinerary.tours import round_up
from coverage.tables import read_written_table

HOLIDAYS_2027 = {
    date(2027, 1, 1),
    date(2027, 3, 29),
    date(2027, 5, 1),
    date(2027, 5, 6),
    date(2027, 5, 8),
    date(2027, 5, 17),
    date(2027, 7, 14),
    date(2027, 8, 15),
    date(2027, 11, 1),
    date(2027, 11, 11),
    date(2027, 12, 25),
}
AUGUST = tuple(date(2027, 8, 2) + timedelta(days=i) for i in range(26))


def _minutes(text: str) -> int:
    h, m = text.split(":")
    return int(h) * 60 + int(m)


def assert_plan_rules(plan: ItineraryPlan, settings: ItinerarySettings) -> None:
    """Re-check every rule from the plan's calendar and day tables and its matrix."""
    cal = plan.calendar()
    days = plan.days()
    seconds = plan.legs.seconds
    code_to_stop = {c: i for i, c in enumerate(plan.stops["insee_code"].astype(str))}
    start_p, end_p = plan.period
    holidays = set(french_public_holidays(start_p.year)) | set(french_public_holidays(end_p.year))
    # service days: exactly the number asked, allowed weekdays, no holiday, no closure
    dates = [date.fromisoformat(d) for d in days["date"]]
    assert len(dates) == settings.days == len(set(dates))
    assert dates == sorted(dates)
    for d in dates:
        assert start_p <= d <= end_p
        assert d.weekday() in settings.weekdays, d
        assert d not in holidays, d
        assert d not in set(settings.closures), d
    # visits per commune: as the plan says, one a day at most, never more than allowed a day
    per_day = cal.groupby("date")
    assert per_day.size().max() <= settings.permanences_per_day
    assert (per_day["insee_code"].nunique() == per_day.size()).all()
    counts = cal.groupby("insee_code").size()
    expected = plan.stops.set_index("insee_code")["visits"]
    assert counts.sort_index().to_dict() == expected.sort_index().to_dict()
    assert counts.sum() == len(cal)
    # spacing, consecutive visits and waits at both ends of the period
    for _, rows in cal.groupby("insee_code"):
        visits = sorted(date.fromisoformat(d) for d in rows["date"])
        gaps = [(b - a).days for a, b in itertools.pairwise(visits)]
        assert all(g >= settings.min_spacing_days for g in gaps), gaps
        assert all(g <= settings.max_spacing_days for g in gaps), gaps
        assert (visits[0] - start_p).days <= settings.max_spacing_days
        assert (end_p - visits[-1]).days <= settings.max_spacing_days
    # each day: hours, permanence length, travel time between places, lunch, driving
    step = settings.time_step_minutes
    perm = settings.permanence_minutes
    lunch_len = settings.lunch_minutes
    for day, rows in cal.groupby("date"):
        row = days.loc[days["date"] == day].iloc[0]
        stops = [code_to_stop[c] for c in rows.sort_values("slot")["insee_code"]]
        depot = plan.depot_names().index(row["depot"])  # the day's own depot
        legs = list(itertools.pairwise(plan.legs.day_points(depot, stops)))
        driving = sum(seconds[a, b] for a, b in legs) / 60
        assert row["driving_minutes"] == pytest.approx(driving, abs=0.06)
        assert driving <= settings.max_driving_minutes + 1e-6
        assert _minutes(row["depart"]) >= settings.day_start.hour * 60 + settings.day_start.minute
        end_day = settings.day_end.hour * 60 + settings.day_end.minute
        assert _minutes(row["return"]) <= end_day and _minutes(row["day_end"]) <= end_day
        lunch = (_minutes(row["lunch_start"]), _minutes(row["lunch_end"]))
        assert lunch[1] - lunch[0] == lunch_len
        assert lunch[0] >= settings.lunch_from.hour * 60 + settings.lunch_from.minute
        assert lunch[1] <= settings.lunch_to.hour * 60 + settings.lunch_to.minute
        previous_end = _minutes(row["depart"])
        for k, (_, visit) in enumerate(rows.sort_values("slot").iterrows()):
            start, end = _minutes(visit["start"]), _minutes(visit["end"])
            assert end - start == perm
            assert not (start < lunch[1] and lunch[0] < end), "lunch overlaps a permanence"
            travel = round_up(seconds[legs[k]], step * 60) / 60
            gap = start - previous_end
            lunch_here = previous_end <= lunch[0] and lunch[1] <= start
            assert gap >= travel + (lunch_len if lunch_here else 0), (day, k)
            previous_end = end
        back = round_up(seconds[legs[-1]], step * 60) / 60
        assert _minutes(row["return"]) - previous_end >= back


def grid_case(n_stops: int = 12, *, spread_km: float = 22.0, seed: int = 3) -> tuple:
    """Stops scattered around a depot, 70 km/h with a detour of 1.3 (seconds, metres)."""
    rng = np.random.default_rng(seed)
    xy = np.vstack([[500_000.0, 6_280_000.0], rng.uniform(-1, 1, (n_stops, 2)) * spread_km * 1e3])
    xy[1:] += xy[0]
    crow = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    metres = crow * 1.3
    seconds = metres / (70 / 3.6)
    stops = pd.DataFrame(
        {
            "insee_code": [f"99{100 + i:03d}" for i in range(n_stops)][::-1],
            "name": [f"Commune {chr(65 + i)}" for i in range(n_stops)],
            "population": rng.integers(100, 3000, n_stops),
            "x": xy[1:, 0],
            "y": xy[1:, 1],
        }
    )
    depot = {"code": "99000", "name": "Dépôt", "x": xy[0, 0], "y": xy[0, 1]}
    return stops, depot, LegMatrix.from_matrix(seconds, xy, metres=metres)


SETTINGS = ItinerarySettings(
    stop_codes=None,
    year=2027,
    days=40,
    weekdays=(1, 3),
    closures=AUGUST,
    min_spacing_days=14,
    max_spacing_days=90,
)


@pytest.fixture(scope="module")
def plan() -> ItineraryPlan:
    stops, depot, legs = grid_case()
    return build_plan(stops, depot, legs, SETTINGS, territory="test", territory_label="Test")


def test_plan_keeps_every_rule(plan: ItineraryPlan) -> None:
    assert_plan_rules(plan, SETTINGS)
    assert plan.violations() == []
    cal = plan.calendar()
    assert len(cal) == 80 and plan.stops["visits"].sum() == 80  # 40 days × 2 permanences
    assert sorted(set(plan.stops["visits"])) == [6, 7]  # 80 / 12 = 6.67, uniform ±1
    assert {d for d in plan.dates} & (HOLIDAYS_2027 | set(AUGUST)) == set()


def test_population_visits_follow_population() -> None:
    stops, depot, legs = grid_case(seed=5)
    settings = ItinerarySettings(
        year=2027, days=40, visits="population", min_spacing_days=7, max_spacing_days=75
    )
    plan = build_plan(stops, depot, legs, settings)
    assert_plan_rules(plan, settings)
    visits = plan.stops.set_index("insee_code")["visits"]
    pop = plan.stops.set_index("insee_code")["population"]
    # every stop gets at least the 4 visits the 75-day wait needs: ceil(364 / 75) - 1
    assert visits.min() >= 4 and visits.sum() == 80
    # more inhabitants never means fewer visits
    ranked = visits[pop.sort_values().index].to_numpy()
    assert (np.diff(ranked) >= 0).all()


def test_one_permanence_a_day_plan() -> None:
    stops, depot, legs = grid_case(n_stops=6)
    settings = ItinerarySettings(year=2027, days=36, permanences_per_day=1, max_spacing_days=75)
    plan = build_plan(stops, depot, legs, settings)
    assert_plan_rules(plan, settings)
    assert (plan.stops["visits"] == 6).all()
    assert all(len(t.stops) == 1 for t in plan.tours)


def test_fixed_visits_per_stop_and_period_dates() -> None:
    stops, depot, legs = grid_case(n_stops=8)
    settings = ItinerarySettings(
        start_date=date(2027, 3, 1),
        end_date=date(2027, 6, 30),
        days=16,
        visits_per_stop=4,
        min_spacing_days=14,
        max_spacing_days=40,
    )
    plan = build_plan(stops, depot, legs, settings)
    assert_plan_rules(plan, settings)
    assert (plan.stops["visits"] == 4).all()
    assert plan.dates[0] >= date(2027, 3, 1) and plan.dates[-1] <= date(2027, 6, 30)


def test_more_visits_than_days_is_a_clear_error() -> None:
    stops, depot, legs = grid_case()
    settings = ItinerarySettings(year=2027, days=40, visits_per_stop=8)
    with pytest.raises(InfeasiblePlanError, match=r"que de permanences : 12 arrêts × 8"):
        build_plan(stops, depot, legs, settings)
    settings = ItinerarySettings(
        year=2027, days=5, visits_per_stop=6, min_spacing_days=0, max_spacing_days=365
    )
    with pytest.raises(InfeasiblePlanError, match="que de jours : 6 visites par arrêt"):
        build_plan(stops.head(1), depot, _sub(legs, 1), settings)
    with pytest.raises(QueryError, match="que 254 jours ouvrés"):
        build_plan(stops, depot, legs, ItinerarySettings(year=2027, days=300))


def _sub(legs: LegMatrix, n: int) -> LegMatrix:
    keep = list(range(n + 1))
    return LegMatrix.from_matrix(
        legs.seconds[np.ix_(keep, keep)], legs.xy[keep], metres=legs.metres[np.ix_(keep, keep)]
    )


def test_stop_out_of_reach_within_the_day_is_named() -> None:
    stops, depot, legs = grid_case(n_stops=4)
    far = legs.seconds.copy()
    far[0, 3] = far[3, 0] = 130 * 60  # Commune C is 130 min away
    legs_far = LegMatrix.from_matrix(far, legs.xy)
    with pytest.raises(InfeasiblePlanError) as err:
        build_plan(stops, depot, legs_far, ItinerarySettings(year=2027, days=20, mixed_days=False))
    message = str(err.value)
    assert "Commune C (99101) ne peut être visité dans la journée depuis Dépôt" in message
    assert "130 min depuis le dépôt" in message


def test_stop_without_companion_for_two_half_days_is_named() -> None:
    stops, depot, legs = grid_case(n_stops=4)
    far = legs.seconds.copy()
    far[0, 2] = far[2, 0] = 65 * 60  # alone it fits, with anyone else the day is too long
    far[2, [1, 3, 4]] = far[[1, 3, 4], 2] = 60 * 60
    settings = ItinerarySettings(year=2027, days=20, max_spacing_days=90, mixed_days=False)
    with pytest.raises(InfeasiblePlanError, match=r"B \(99102\) ne peuvent partager une journée"):
        build_plan(stops, depot, LegMatrix.from_matrix(far, legs.xy), settings)
    # mixed days (the default since issue 16): B gets days of its own instead of an error;
    # 4 stops × 8 visits = 32 in 20 days: B's 8 days alone, A, C, D's 24 visits fill the other 12
    plan = build_plan(
        stops, depot, LegMatrix.from_matrix(far, legs.xy), replace(settings, mixed_days=True)
    )
    days = plan.days()
    cal = plan.calendar()
    alone = cal.groupby("date")["insee_code"].agg(list)
    assert (plan.stops["visits"] == 8).all()
    assert sorted(alone[alone.map(len) == 1].map(tuple)) == [("99102",)] * 8
    assert (alone.map(len) == 2).sum() == 12 and len(days) == 20
    assert plan.details["grouping"]["stops_without_companion"] == ["99102"]
    assert_plan_rules(plan, plan.settings)


def test_impossible_spacing_is_a_clear_error() -> None:
    stops, depot, legs = grid_case()
    # Balanced weekdays (the default since issue 16) give 20 Tuesdays and 20 Thursdays; the
    # 75 days from 25 June to 7 September hold 5 of those service days (29/6, 8/7, 20/7, 27/7,
    # 29/7; August closed, the next one 9/9): 10 permanences for 12 stops that each need a
    # visit there
    with pytest.raises(
        InfeasiblePlanError,
        match=r"les 75 jours du 2027-06-25 au 2027-09-07 ne comptent que 5 jours de service",
    ):
        build_plan(stops, depot, legs, replace(SETTINGS, max_spacing_days=75))
    # the plain spread (23 Thursdays, 17 Tuesdays): 16 June to 29 August, 24/6, 1/7, 8/7,
    # 20/7, 27/7
    with pytest.raises(
        InfeasiblePlanError,
        match=r"les 75 jours du 2027-06-16 au 2027-08-29 ne comptent que 5 jours de service",
    ):
        build_plan(
            stops, depot, legs, replace(SETTINGS, max_spacing_days=75, balanced_weekdays=False)
        )
    with pytest.raises(InfeasiblePlanError, match="espacement impossible"):
        build_plan(
            stops,
            depot,
            legs,
            ItinerarySettings(year=2027, days=100, visits_per_stop=15, min_spacing_days=30),
        )
    # exactly 60 days between visits: the bounds allow 6 visits, the dates do not fit
    with pytest.raises(InfeasiblePlanError, match=r"aucun plan ne respecte.*\(max 60\)"):
        build_plan(
            stops,
            depot,
            legs,
            ItinerarySettings(year=2027, days=40, min_spacing_days=60, max_spacing_days=60),
        )
    # 20 days spread over 254 working days: some 30-day stretches hold a single service day
    with pytest.raises(
        InfeasiblePlanError, match=r"impossible : les 30 jours du .* que 1 jour de service"
    ):
        build_plan(stops, depot, legs, ItinerarySettings(year=2027, days=20, max_spacing_days=30))


def test_settings_are_validated() -> None:
    with pytest.raises(QueryError, match="max_spacing_days"):
        ItinerarySettings(min_spacing_days=30, max_spacing_days=20)
    with pytest.raises(QueryError, match="lunch_minutes"):
        ItinerarySettings(lunch_minutes=120)
    with pytest.raises(QueryError, match="permanences_per_day"):
        ItinerarySettings(permanences_per_day=0)
    with pytest.raises(QueryError, match="journée de travail finit"):
        ItinerarySettings(day_start=time(17, 0), day_end=time(9, 0))
    with pytest.raises(QueryError, match="visits doit valoir l'un de"):
        ItinerarySettings(visits="random")  # type: ignore[arg-type]


def test_naive_round_is_in_code_order_and_reports_its_faults() -> None:
    stops, depot, legs = grid_case()
    naive = build_plan(stops, depot, legs, SETTINGS, naive=True)
    codes = sorted(stops["insee_code"])
    firsts = naive.calendar().groupby("day")["insee_code"].apply(sorted)
    assert firsts.iloc[0] == codes[:2] and firsts.iloc[1] == codes[2:4]
    assert firsts.iloc[6] == codes[:2]  # the round of 6 days starts again
    optimised = build_plan(stops, depot, legs, SETTINGS)
    assert optimised.summary()["driving_hours_year"] < naive.summary()["driving_hours_year"]


# --- iCalendar ------------------------------------------------------------------------------


def parse_ics_strictly(data: bytes) -> list[dict[str, str]]:
    """A strict RFC 5545 reader: CRLF only, 75-octet lines, balanced components, events."""
    assert data.endswith(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    raw_lines = data.split(b"\r\n")[:-1]
    for raw in raw_lines:
        assert len(raw) <= 75, raw
    unfolded: list[str] = []
    for raw in raw_lines:
        text = raw.decode("utf-8")
        if text.startswith(" "):
            unfolded[-1] += text[1:]
        else:
            unfolded.append(text)
    stack: list[str] = []
    events: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in unfolded:
        name, _, value = line.partition(":")
        assert re.fullmatch(r"[A-Z-]+(;[A-Z-]+=[^;:]+)*", name), line
        if name == "BEGIN":
            stack.append(value)
            if value == "VEVENT":
                current = {}
        elif name == "END":
            assert stack.pop() == value
            if value == "VEVENT":
                assert current is not None
                events.append(current)
                current = None
        elif current is not None:
            current[name] = value
    assert stack == []
    assert unfolded[0] == "BEGIN:VCALENDAR" and unfolded[1] == "VERSION:2.0"
    return events


def test_ics_is_valid_and_matches_the_calendar(plan: ItineraryPlan) -> None:
    data = plan.to_ics().encode("utf-8")
    events = parse_ics_strictly(data)
    cal = plan.calendar()
    assert len(events) == len(cal)
    first, row = events[0], cal.iloc[0]
    d = row["date"].replace("-", "")
    assert first["DTSTART;TZID=Europe/Paris"] == f"{d}T{row['start'].replace(':', '')}00"
    assert first["DTEND;TZID=Europe/Paris"] == f"{d}T{row['end'].replace(':', '')}00"
    assert first["SUMMARY"] == f"Service public itinérant – {row['name']}"
    assert first["LOCATION"] == f"{row['name']} ({row['insee_code']})"
    assert len({e["UID"] for e in events}) == len(events)
    assert all(re.fullmatch(r"\d{8}T\d{6}Z", e["DTSTAMP"]) for e in events)
    assert b"BEGIN:VTIMEZONE\r\nTZID:Europe/Paris" in data


def test_ics_parses_with_the_icalendar_package(plan: ItineraryPlan) -> None:
    import icalendar  # a test tool (dev extra): reads the file as calendar apps do

    parsed = icalendar.Calendar.from_ical(plan.to_ics())
    events = list(parsed.walk("VEVENT"))
    assert len(events) == len(plan.calendar())
    start = events[0].decoded("DTSTART")
    row = plan.calendar().iloc[0]
    assert start.replace(tzinfo=None) == datetime.fromisoformat(f"{row['date']}T{row['start']}")
    # January: Paris is UTC+1
    if start.month in (1, 2, 11, 12):
        assert start.utcoffset() == timedelta(hours=1)


def test_ics_folding_and_escaping() -> None:
    assert escape_text("Auch, Gers; ligne\nsuivante \\") == "Auch\\, Gers\\; ligne\\nsuivante \\\\"
    line = "DESCRIPTION:" + "é" * 80
    folded = fold_line(line)
    parts = folded.split("\r\n")
    assert all(len(p.encode("utf-8")) <= 75 for p in parts)
    assert "".join([parts[0], *[p[1:] for p in parts[1:]]]) == line


# --- files ----------------------------------------------------------------------------------


def test_write_outputs(plan: ItineraryPlan, tmp_path: Path) -> None:
    out = tmp_path / "plan"
    files = plan.write(out, writers=False)
    for key in ("calendar", "days", "stops", "spacing", "tours", "ics", "routes_geojson"):
        assert files[key].is_file(), key
    cal = read_written_table(out / "calendar.csv", dtype={"insee_code": str})
    assert len(cal) == 80 and cal["insee_code"].str.len().eq(5).all()
    routes = gpd.read_file(out / "routes.geojson")
    assert len(routes) == 40 and routes.crs.to_epsg() == 4326
    assert routes.geom_type.eq("LineString").all()
    lon, lat = routes.geometry.iloc[0].coords[0]
    assert -2 < lon < 3 and 42 < lat < 45  # the depot, south of Auch
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["service_days"] == 40 and summary["permanences"] == 80
    assert summary["violations"] == []
    assert summary["km_year"] == pytest.approx(plan.days()["km"].sum(), abs=0.5)
    with pytest.raises(PlanExistsError, match="--overwrite"):
        plan.write(out, writers=False)
    plan.write(out, writers=False, overwrite=True)


def test_most_visits_that_fit_and_room_for_lonely_stops() -> None:
    from coverage.itinerary.planner import affordable_lonely
    from coverage.itinerary.schedule import most_visits

    # stop 1 shares no day; 16 days of 2 permanences: b days alone for stop 1 and 16 - b
    # pairs among 0, 2, 3 give 32 - b visits, most with b = its floor 4 (pairs 8 + 8 + 8)
    def cost(group: tuple[int, ...]) -> float | None:
        return None if 1 in group and len(group) > 1 else 600.0 * len(group)

    fit = most_visits([8, 8, 8, 8], [4, 4, 4, 4], 16, 2, cost)
    assert fit is not None and fit.tolist() == [8, 4, 8, 8]
    assert most_visits([8, 8, 8, 8], [8, 8, 8, 8], 16, 2, cost) is None  # floors do not fit
    # the default plan: 26 stops, 7 visits at least, 103 days, 15 days in the tightest
    # 60-day window: 3 alone (21 days; 23 × 7 = 161 <= 2 × 82; 3 + 12 <= 15), not 4
    assert affordable_lonely(26, 7, 103, 2, 15) == 3
    assert affordable_lonely(26, 7, 103, 2, 13) == 0  # August closed: 13 days, all paired
    assert affordable_lonely(6, 7, 24, 2, 6) == 0  # 5 × 7 = 35 > 2 × 17
