"""Itinerary dates: Easter computus, French public holidays, working days, closures, visits."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from coverage.errors import DataError, QueryError
from coverage.itinerary import InfeasiblePlanError
from coverage.itinerary.calendar import (
    easter_sunday,
    french_date,
    french_public_holidays,
    parse_weekdays,
    read_closures,
    service_days,
    working_days,
)
from coverage.itinerary.visits import allocate_visits, visit_bounds

# Easter Sundays from published tables (including the extreme dates 22 March and 25 April).
KNOWN_EASTER = {
    1818: date(1818, 3, 22),
    1943: date(1943, 4, 25),
    2000: date(2000, 4, 23),
    2008: date(2008, 3, 23),
    2011: date(2011, 4, 24),
    2019: date(2019, 4, 21),
    2024: date(2024, 3, 31),
    2025: date(2025, 4, 20),
    2026: date(2026, 4, 5),
    2027: date(2027, 3, 28),
    2038: date(2038, 4, 25),
    2285: date(2285, 3, 22),
}


@pytest.mark.parametrize(("year", "expected"), sorted(KNOWN_EASTER.items()))
def test_easter_sunday_matches_published_dates(year: int, expected: date) -> None:
    assert easter_sunday(year) == expected
    assert expected.weekday() == 6


def test_french_public_holidays_2026_are_the_official_list() -> None:
    assert french_public_holidays(2026) == {
        date(2026, 1, 1): "Jour de l'an",
        date(2026, 4, 6): "Lundi de Pâques",
        date(2026, 5, 1): "Fête du Travail",
        date(2026, 5, 8): "Victoire 1945",
        date(2026, 5, 14): "Ascension",
        date(2026, 5, 25): "Lundi de Pentecôte",
        date(2026, 7, 14): "Fête nationale",
        date(2026, 8, 15): "Assomption",
        date(2026, 11, 1): "Toussaint",
        date(2026, 11, 11): "Armistice 1918",
        date(2026, 12, 25): "Noël",
    }


def test_movable_holidays_2027() -> None:
    days = french_public_holidays(2027)
    assert days[date(2027, 3, 29)] == "Lundi de Pâques"
    assert days[date(2027, 5, 6)] == "Ascension"
    assert days[date(2027, 5, 17)] == "Lundi de Pentecôte"
    assert len(days) == 11


def test_easter_before_gregorian_calendar_is_refused() -> None:
    with pytest.raises(QueryError, match="1583"):
        easter_sunday(1500)


def test_working_days_2027_count_by_hand() -> None:
    # 2027 starts on a Friday: 52 weeks + 1 Friday = 261 weekdays; 7 holidays fall on weekdays
    # (1 Jan Fri, 29 Mar Mon, 6 May Thu, 17 May Mon, 14 Jul Wed, 1 Nov Mon, 11 Nov Thu).
    days = working_days(date(2027, 1, 1), date(2027, 12, 31))
    assert len(days) == 261 - 7
    assert date(2027, 1, 1) not in days and date(2027, 1, 4) in days
    assert all(d.weekday() < 5 for d in days)


def test_working_days_with_weekdays_and_closures() -> None:
    closures = [date(2027, 8, 2) + timedelta(days=i) for i in range(26)]  # 2-27 August
    days = working_days(date(2027, 1, 1), date(2027, 12, 31), weekdays=(1, 3), closures=closures)
    assert all(d.weekday() in (1, 3) for d in days)
    assert not any(date(2027, 8, 2) <= d <= date(2027, 8, 27) for d in days)
    # 52 Tuesdays + 52 Thursdays, minus Thursdays 6 May and 11 Nov, minus 8 days in August
    assert len(days) == 104 - 2 - 8


def test_service_days_are_spread_evenly_over_working_days() -> None:
    working = working_days(date(2027, 1, 1), date(2027, 12, 31))
    chosen = service_days(working, 103)
    assert len(chosen) == 103 == len(set(chosen))
    positions = [working.index(d) for d in chosen]
    steps = np.diff(positions)
    assert set(steps.tolist()) <= {2, 3}  # 254 / 103 = 2.47 working days apart
    assert positions[0] == 1  # floor(0.5 * 254 / 103)
    holidays = french_public_holidays(2027)
    assert not set(chosen) & set(holidays)


def test_more_service_days_than_working_days_is_a_clear_error() -> None:
    working = working_days(date(2027, 1, 1), date(2027, 1, 31))
    with pytest.raises(QueryError, match=r"que 20 jours ouvrés"):
        service_days(working, 21)


def test_read_closures_formats_ranges_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "fermetures.csv"
    path.write_text(
        "debut;fin;motif\n"
        "2027-08-02;2027-08-06;congés d'été\n"
        "24/12/2027 # veille de Noël\n"
        "\n"
        "2027-12-27..2027-12-28\n"
        "2027-08-04\n",
        encoding="utf-8",
    )
    days = read_closures(path)
    assert days == (
        date(2027, 8, 2),
        date(2027, 8, 3),
        date(2027, 8, 4),
        date(2027, 8, 5),
        date(2027, 8, 6),
        date(2027, 12, 24),
        date(2027, 12, 27),
        date(2027, 12, 28),
    )


def test_read_closures_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "fermetures.txt"
    path.write_text("2027-08-02\n2027-02-30\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"ligne 2.*2027-02-30"):
        read_closures(path)
    path.write_text("2027-08-02\nlundi\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"ligne 2"):
        read_closures(path)
    path.write_text("2027-08-20 au 2027-08-02\n", encoding="utf-8")
    with pytest.raises(DataError, match="finit"):
        read_closures(path)


def test_parse_weekdays_and_french_dates() -> None:
    assert parse_weekdays("mar,jeu") == (1, 3)
    assert parse_weekdays("lundi, vendredi") == (0, 4)
    assert parse_weekdays("1 3 5") == (0, 2, 4)
    with pytest.raises(QueryError, match="pas un jour"):
        parse_weekdays("mardi,dim,xyz")
    assert french_date(date(2027, 1, 5)) == "mardi 5 janvier 2027"


def test_uniform_visits_share_206_between_26_stops() -> None:
    visits = allocate_visits([1.0] * 26, 206, lower=6, upper=52, tie_break=range(26))
    assert visits.sum() == 206
    assert sorted(set(visits.tolist())) == [7, 8]
    # 26 × 7 = 182, the 24 remaining visits go to the largest tie-break values
    assert (visits[2:] == 8).all() and (visits[:2] == 7).all()


def test_population_visits_largest_remainder_with_bounds() -> None:
    # quotas 40 × (10, 30, 60) / 100 = 4, 12, 24; the upper bound 20 caps the third and the
    # 4 visits left are shared 10:30 -> 5 and 15 (quotas 5, 15)
    assert allocate_visits([10, 30, 60], 40, upper=20).tolist() == [5, 15, 20]
    # a lower bound lifts the smallest, the rest shares in proportion
    assert allocate_visits([1, 1, 98], 20, lower=3).tolist() == [3, 3, 14]
    # Hamilton: quotas 3.5, 2.33, 1.17 -> 3, 2, 1 then the largest remainder (0.5) gets one
    assert allocate_visits([3, 2, 1], 7).tolist() == [4, 2, 1]


def test_visit_bounds_from_spacing_rules() -> None:
    period = (date(2027, 1, 1), date(2027, 12, 31))
    dates = service_days(working_days(*period), 103)
    # span 364 days: (n + 1) × 60 >= 364 -> n >= 6; first to last service day / 7 + 1
    lower, upper = visit_bounds(dates, period, min_spacing_days=7, max_spacing_days=60)
    assert lower == 6
    assert upper == (dates[-1] - dates[0]).days // 7 + 1
    with pytest.raises(InfeasiblePlanError, match="au moins 26 visites"):
        allocate_visits([1] * 26, 20, lower=1)
