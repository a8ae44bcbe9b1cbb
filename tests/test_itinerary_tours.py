"""Daily tours: timetable rules computed by hand, VROOM and enumeration against brute force."""

from __future__ import annotations

import itertools
import math
from datetime import time

import numpy as np
import pytest

from coverage.itinerary import ItinerarySettings, schedule_order, solve_day
from coverage.itinerary.checks import check_tour
from coverage.itinerary.tours import round_up, solve_exact, solve_vroom, vroom_order

MIN = 60


def minutes_matrix(rows: list[list[float]]) -> np.ndarray:
    return np.asarray(rows, dtype=float) * MIN


def hhmm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def test_two_half_days_timetable_by_hand() -> None:
    # depot -> A 30 min, A -> B 20 min, B -> depot 40 min; defaults: 08:30-17:30, 3 h
    # permanences, a 60 min lunch starting 12:00-12:30.
    m = minutes_matrix([[0, 30, 40], [30, 0, 20], [40, 20, 0]])
    rules = ItinerarySettings().day_rules()
    tour = schedule_order((0, 1), m, rules)
    assert tour.feasible
    assert [hhmm(t) for t in tour.arrival_s] == ["09:00", "12:20"]
    assert [hhmm(t) for t in tour.start_s] == ["09:00", "13:20"]
    assert [hhmm(t) for t in tour.end_s] == ["12:00", "16:20"]
    assert (hhmm(tour.lunch_start_s), hhmm(tour.lunch_end_s)) == ("12:20", "13:20")
    assert tour.lunch_at == 1  # on arrival at B
    assert hhmm(tour.return_s) == "17:00"
    assert tour.driving_s == 90 * MIN
    assert check_tour(tour, m, rules) == []


def test_lunch_before_leaving_when_arrival_would_be_too_late() -> None:
    # A -> B takes 45 min: arriving at 12:45 is past the latest lunch start (12:30), so lunch
    # is taken at A from 12:00 and B's permanence starts at 13:45.
    m = minutes_matrix([[0, 30, 40], [30, 0, 45], [40, 45, 0]])
    rules = ItinerarySettings().day_rules()
    tour = schedule_order((0, 1), m, rules)
    assert tour.feasible
    assert tour.lunch_at == 0
    assert (hhmm(tour.lunch_start_s), hhmm(tour.lunch_end_s)) == ("12:00", "13:00")
    assert [hhmm(t) for t in tour.start_s] == ["09:00", "13:45"]
    assert hhmm(tour.return_s) == "17:25"
    assert check_tour(tour, m, rules) == []


def test_travel_times_round_up_to_the_timetable_step() -> None:
    assert round_up(14.2 * MIN, 300) == 15 * MIN
    assert round_up(15 * MIN, 300) == 15 * MIN
    assert round_up(15 * MIN + 1e-9, 300) == 15 * MIN
    m = minutes_matrix([[0, 14.2, 14.2], [14.2, 0, 7.9], [14.2, 7.9, 0]])
    tour = schedule_order((0, 1), m, ItinerarySettings().day_rules())
    assert hhmm(tour.start_s[0]) == "08:45"
    assert all(t % 300 == 0 for t in (*tour.start_s, *tour.end_s, tour.return_s))
    assert tour.driving_s == pytest.approx((14.2 + 7.9 + 14.2) * MIN)  # real times, not rounded


def test_broken_rules_are_reported() -> None:
    # B is 100 min from the depot: the day cannot end by 17:30
    m = minutes_matrix([[0, 30, 100], [30, 0, 80], [100, 80, 0]])
    rules = ItinerarySettings().day_rules()
    best = solve_exact((0, 1), m, rules)
    assert not best.feasible
    assert any("finit" in v or "conduite" in v for v in best.violations)
    tight = ItinerarySettings(max_driving_minutes=60).day_rules()
    alone = schedule_order((0,), minutes_matrix([[0, 40], [40, 0]]), tight)
    assert alone.violations == ("la conduite de 80 min dépasse la limite de 60 min",)
    assert solve_vroom((0,), minutes_matrix([[0, 40], [40, 0]]), tight).feasible is False


def test_unreachable_leg_is_not_feasible() -> None:
    m = np.array([[0.0, 600.0], [math.inf, 0.0]])
    tour = schedule_order((0,), m, ItinerarySettings().day_rules())
    assert not tour.feasible and "retour au dépôt" in tour.violations[0]


def _short_day() -> ItinerarySettings:
    # five 30-minute permanences a day: the order matters
    return ItinerarySettings(
        permanences_per_day=5,
        permanence_minutes=30,
        day_start=time(8, 0),
        day_end=time(18, 0),
        lunch_from=time(12, 0),
        lunch_to=time(14, 0),
        lunch_minutes=60,
        max_driving_minutes=300,
        time_step_minutes=1,
    )


def test_points_on_a_circle_are_toured_in_circle_order() -> None:
    # Points in convex position: the optimal tour follows the hull. Depot and 5 stops on a
    # circle of radius 20 km, at 60 km/h: optimal driving = perimeter of the hexagon = 6 × 20 km
    # = 120 km = 120 min (hexagon side = radius).
    angles = np.deg2rad([0, 60, 120, 180, 240, 300])
    xy = np.column_stack([np.cos(angles), np.sin(angles)]) * 20_000.0
    order_by_angle = [3, 0, 4, 2, 1]  # stop s is point s + 1; points listed out of order
    pts = np.vstack([xy[0], xy[1:][order_by_angle]])
    m = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1)) / (60 / 3.6)
    rules = _short_day().day_rules()
    for solver in ("exact", "vroom"):
        tour = solve_day(range(5), m, rules, solver=solver)
        assert tour.feasible
        assert tour.driving_s == pytest.approx(120 * MIN, rel=1e-9)
        visited = [order_by_angle[s] for s in tour.stops]
        assert visited in ([0, 1, 2, 3, 4], [4, 3, 2, 1, 0])
        assert check_tour(tour, m, rules) == []


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_vroom_and_enumeration_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_stops = 4 + seed % 2
    pts = rng.uniform(-25_000, 25_000, size=(n_stops + 1, 2))
    m = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1)) * 1.3 / (70 / 3.6)
    m[2, 1] *= 1.4  # one asymmetric pair
    rules = _short_day().day_rules()
    # brute force written here: every order, the rules applied by schedule_order
    best = min(
        (
            sum(m[a, b] for a, b in itertools.pairwise([0, *[s + 1 for s in order], 0])),
            order,
        )
        for order in itertools.permutations(range(n_stops))
        if schedule_order(order, m, rules).feasible
    )
    exact = solve_exact(range(n_stops), m, rules)
    vroom = solve_vroom(range(n_stops), m, rules)
    assert exact.driving_s == pytest.approx(best[0])
    assert vroom.driving_s == pytest.approx(best[0])
    assert vroom.solver == "vroom"
    assert vroom_order(range(n_stops), m, rules) is not None


def test_vroom_respects_the_driving_limit() -> None:
    # two orders: 0 -> 1 drives 60 min; the other 110 min (asymmetric roads); a 100 min limit
    # leaves only the first; the timetable and the limit both hold
    m = minutes_matrix([[0, 10, 50], [50, 0, 40], [10, 10, 0]])
    rules = ItinerarySettings(max_driving_minutes=100).day_rules()
    tour = solve_vroom((0, 1), m, rules)
    assert tour.stops == (0, 1) and tour.driving_s == 60 * MIN
    assert tour.feasible
