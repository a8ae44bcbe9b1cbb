"""Building a plan from travel times: stops, calendar, day groups, dates, tours, checks.

:func:`plan_from_matrices` chooses the stops and builds the plan from the
travel-time matrices (the job, :func:`coverage.jobs.itinerary.plan_itinerary`,
loads the territory and computes them); :func:`build_plan` is its core once the
stops and the leg matrix are known (usable with any matrix, e.g. in tests). Every plan returned
has passed :func:`coverage.itinerary.checks.check_plan`; settings no plan can
meet raise :class:`~coverage.itinerary.settings.InfeasiblePlanError` with a
message saying which rule and which stop.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from coverage.errors import QueryError
from coverage.itinerary.calendar import holidays_between, service_days, working_days
from coverage.itinerary.legs import LegMatrix
from coverage.itinerary.plan import ItineraryPlan
from coverage.itinerary.schedule import assign_dates, group_days, naive_schedule
from coverage.itinerary.settings import InfeasiblePlanError, ItinerarySettings
from coverage.itinerary.stops import (
    EPSILON_POPULATION,
    StopChoice,
    build_choice,
    max_covering,
    rows_of_codes,
)
from coverage.itinerary.tours import DayTour, schedule_order, solve_day, solve_exact
from coverage.itinerary.visits import allocate_visits, tightest_window, visit_bounds
from coverage.progress import Progress, silent

MIP_TIME_LIMIT_S = 20.0
SEARCH_TIME_LIMIT_S = 20.0
MAX_CHOICE_ROUNDS = 10
"""Rounds of the choice of stops that drop stops without a feasible companion."""


def _stop_label(stops: pd.DataFrame, s: int) -> str:
    return f"{stops['name'].iat[s]} ({stops['insee_code'].iat[s]})"


def _explain_single(tour: DayTour, out_s: float, back_s: float) -> str:
    legs = f"{out_s / 60:.0f} min from the depot, {back_s / 60:.0f} min back"
    if not math.isfinite(out_s) or not math.isfinite(back_s):
        return "no road route joins it to the depot"
    return f"{legs}: {'; '.join(tour.violations)}"


def build_plan(
    stops: pd.DataFrame,
    depot: dict[str, Any],
    legs: LegMatrix,
    settings: ItinerarySettings,
    *,
    choice: StopChoice | None = None,
    territory: str = "",
    territory_label: str = "",
    naive: bool = False,
    crs: str = "EPSG:2154",
    progress: Progress | None = None,
    today: date | None = None,
    details: dict[str, Any] | None = None,
) -> ItineraryPlan:
    """Plan the calendar and the daily tours of given stops.

    Parameters
    ----------
    stops
        One row per stop: ``insee_code``, ``name``, ``population``, ``x``, ``y``;
        optional ``reached_population`` (population visits weight),
        ``reached_underserved`` (tie-break of uniform visits).
    depot
        ``code``, ``name``, ``x``, ``y``.
    legs
        Leg matrix of the depot (point 0) and the stops (point ``s + 1``).
    settings
        The settings.
    choice
        How the stops were chosen (kept in the plan).
    naive
        Build the benchmark's baseline instead: stops in code order, a fixed
        round, each day's tour still ordered by the solver; rules are checked
        and reported, not enforced.
    today
        Reference date for the default year (next year).

    Returns
    -------
    ItineraryPlan

    Raises
    ------
    InfeasiblePlanError
        A stop out of reach within a day, more visits than permanences,
        spacing rules no plan can meet, a packing or a calendar that fails.
    """
    say = progress or silent
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    rules = settings.day_rules()
    n = len(stops)
    if legs.n_points != n + 1:
        raise QueryError(f"the leg matrix has {legs.n_points} points for {n} stops and a depot")
    if n == 0:
        raise InfeasiblePlanError("no stop to plan")
    seconds = legs.seconds
    per_day = settings.permanences_per_day

    # stops that cannot be served within a day on their own
    if not naive:
        for s in range(n):
            tour = schedule_order((s,), seconds, rules)
            if not tour.feasible:
                why = _explain_single(tour, seconds[0, s + 1], seconds[s + 1, 0])
                raise InfeasiblePlanError(
                    f"{_stop_label(stops, s)} cannot be visited within a day from "
                    f"{depot['name']}: {why}"
                    " (allow more driving, longer working hours or shorter permanences, "
                    "or choose another depot)"
                )

    say("Calendrier : jours ouvrés et jours de service")
    period = settings.period(today=today)
    working = working_days(
        period[0], period[1], weekdays=settings.weekdays, closures=settings.closures
    )
    dates = service_days(working, settings.days)
    n_days = len(dates)
    timings["calendar"] = time.perf_counter() - t0

    stops = stops.reset_index(drop=True).copy()
    names = [_stop_label(stops, s) for s in range(n)]
    t1 = time.perf_counter()
    if naive:
        groups, sequence = naive_schedule(stops["insee_code"].astype(str).tolist(), n_days, per_day)
        counts = [sequence.count(k) for k in range(len(groups))]
        visits = np.zeros(n, dtype=np.int64)
        for g, c in zip(groups, counts, strict=True):
            for s in g:
                visits[s] += c
        search: dict[str, Any] = {"method": "naive round in INSEE-code order"}
        grouping: dict[str, Any] = {"groups": len(groups)}
    else:
        say("Nombre de passages par commune")
        visits = _visits(stops, settings, dates, period, n_days, names)
        timings["visits"] = time.perf_counter() - t1
        say("Regroupement des communes par jour (MIP)")
        t2 = time.perf_counter()
        cache: dict[tuple[int, ...], float | None] = {}

        def cost(group: tuple[int, ...]) -> float | None:
            if group not in cache:
                tour = (
                    solve_exact(group, seconds, rules)
                    if len(group) <= 3
                    else solve_day(group, seconds, rules, solver="vroom")
                )
                cache[group] = tour.driving_s if tour.feasible else None
            return cache[group]

        packed = group_days(
            visits,
            n_days,
            per_day,
            cost,
            seconds=seconds,
            labels=names,
            time_limit_s=MIP_TIME_LIMIT_S,
        )
        groups, counts = packed.groups, packed.counts
        grouping = {
            "candidates": packed.candidates,
            "groups": len(groups),
            "status": packed.status,
            "driving_hours": round(packed.driving_s / 3600.0, 2),
        }
        timings["grouping"] = time.perf_counter() - t2
        say("Placement des jours dans l'année (recherche locale)")
        t3 = time.perf_counter()
        sequence, search = assign_dates(
            groups,
            counts,
            dates,
            period,
            n,
            min_spacing_days=settings.min_spacing_days,
            max_spacing_days=settings.max_spacing_days,
            seed=settings.seed,
            time_limit_s=SEARCH_TIME_LIMIT_S,
        )
        timings["dates"] = time.perf_counter() - t3

    # number the tours in the order they first run
    first_use = list(dict.fromkeys(sequence))
    renumber = {old: new for new, old in enumerate(first_use)}
    groups = [groups[old] for old in first_use]
    sequence = [renumber[k] for k in sequence]
    say(f"Tournées quotidiennes ({'VROOM' if settings.solver == 'vroom' else 'énumération'})")
    t4 = time.perf_counter()
    tours = [solve_day(g, seconds, rules, solver=settings.solver) for g in groups]
    timings["tours"] = time.perf_counter() - t4
    stops["visits"] = visits
    plan = ItineraryPlan(
        settings=settings,
        territory=territory,
        territory_label=territory_label or territory,
        period=period,
        holidays=holidays_between(*period),
        working_days=len(working),
        dates=dates,
        day_tour=list(sequence),
        tours=tours,
        stops=stops,
        depot=depot,
        legs=legs,
        rules=rules,
        choice=choice,
        method="naive" if naive else "optimised",
        crs=crs,
        details={
            **(details or {}),
            "grouping": grouping,
            "search": search,
            "tour_solvers": sorted({t.solver for t in tours}),
        },
    )
    say("Vérification de toutes les règles")
    problems = plan.violations()
    timings["total_plan"] = time.perf_counter() - t0
    plan.details["timings_s"] = {
        **plan.details.get("timings_s", {}),
        **{k: round(v, 3) for k, v in timings.items()},
    }
    if problems and not naive:
        shown = "; ".join(problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise InfeasiblePlanError(
            f"no plan meets every rule with these settings: {shown}{more}; "
            "loosen the spacing rules or change the number of visits or days"
        )
    return plan


def _visits(
    stops: pd.DataFrame,
    settings: ItinerarySettings,
    dates: list[date],
    period: tuple[date, date],
    n_days: int,
    names: list[str],
) -> np.ndarray:
    n = len(stops)
    per_day = settings.permanences_per_day
    slots = n_days * per_day
    first_wait = (dates[0] - period[0]).days
    last_wait = (period[1] - dates[-1]).days
    if first_wait > settings.max_spacing_days or last_wait > settings.max_spacing_days:
        raise InfeasiblePlanError(
            f"spacing impossible: the first service day comes {first_wait} days after the start "
            f"of the period and the last {last_wait} days before its end, more than "
            f"max_spacing_days ({settings.max_spacing_days}); add service days or loosen it"
        )
    first, last, held = tightest_window(dates, period, max_spacing_days=settings.max_spacing_days)
    if held * per_day < n:
        raise InfeasiblePlanError(
            f"spacing impossible: the {settings.max_spacing_days} days from {first} to {last} "
            f"hold only {held} service days ({held * per_day} permanences), but each of the {n} "
            f"stops needs a visit there to wait at most {settings.max_spacing_days} days; "
            "shorten the closures, add service days or raise max_spacing_days"
        )
    lower, upper = visit_bounds(
        dates,
        period,
        min_spacing_days=settings.min_spacing_days,
        max_spacing_days=settings.max_spacing_days,
    )
    if lower > upper:
        raise InfeasiblePlanError(
            f"spacing impossible: waiting at most {settings.max_spacing_days} days needs at "
            f"least {lower} visits per stop, but {settings.min_spacing_days} days between "
            f"visits allow at most {upper} in the period"
        )
    if settings.visits_per_stop is not None:
        v = settings.visits_per_stop
        if n * v > slots:
            raise InfeasiblePlanError(
                f"more visits than permanences: {n} stops × {v} visits = {n * v}, but "
                f"{n_days} days × {per_day} permanences = {slots}"
            )
        if v > n_days:
            raise InfeasiblePlanError(
                f"more visits than days: {v} visits per stop but only {n_days} service days"
            )
        if v > upper:
            raise InfeasiblePlanError(
                f"spacing impossible: {v} visits per stop need more than the {upper} that "
                f"{settings.min_spacing_days} days between visits allow in the period"
            )
        if v < lower:
            raise InfeasiblePlanError(
                f"spacing impossible: {v} visits per stop leave gaps longer than "
                f"max_spacing_days ({settings.max_spacing_days}); at least {lower} are needed"
            )
        return np.full(n, v, dtype=np.int64)
    lower = min(lower + 1, upper)  # a margin: see coverage.itinerary.visits
    if n * lower > slots:
        raise InfeasiblePlanError(
            f"more visits than permanences: waiting at most {settings.max_spacing_days} days "
            f"needs {lower} visits for each of the {n} stops ({n * lower}), but {n_days} days × "
            f"{per_day} permanences = {slots}; choose fewer stops or more days"
        )
    total = min(slots, n * upper)
    if total < n_days:
        raise InfeasiblePlanError(
            f"{n} stops cannot fill {n_days} service days: with {settings.min_spacing_days} "
            f"days between visits they take at most {n * upper} visits"
        )
    if settings.visits == "population":
        column = "reached_population" if "reached_population" in stops else "population"
        weights = stops[column].to_numpy(dtype=float)
    else:
        weights = np.ones(n)
    tie = (
        stops["reached_underserved"].to_numpy(dtype=float)
        if "reached_underserved" in stops
        else stops["population"].to_numpy(dtype=float)
    )
    return allocate_visits(weights, total, lower=lower, upper=upper, tie_break=tie)


def fits_alone(out_s: float, back_s: float, rules: Any, per_day: int) -> bool:
    """Whether ``per_day`` permanences at one place fit in a day (necessary for any group)."""
    if not (np.isfinite(out_s) and np.isfinite(back_s)):
        return False
    m = np.zeros((per_day + 1, per_day + 1))
    m[0, 1:] = out_s
    m[1:, 0] = back_s
    return schedule_order(tuple(range(per_day)), m, rules).feasible


def _day_matrix(
    idx: np.ndarray, out_s: np.ndarray, back_s: np.ndarray, between: np.ndarray
) -> np.ndarray:
    """Durations between the depot (row and column 0) and the communes ``idx``."""
    m = np.zeros((idx.size + 1, idx.size + 1))
    m[0, 1:] = out_s[idx]
    m[1:, 0] = back_s[idx]
    m[1:, 1:] = between[np.ix_(idx, idx)]
    return m


def without_companion(
    rows: list[int],
    out_s: np.ndarray,
    back_s: np.ndarray,
    between: np.ndarray,
    rules: Any,
    per_day: int,
) -> list[int]:
    """Chosen communes that share no feasible full day with the other chosen ones."""
    if per_day == 1 or per_day > 3 or len(rows) < per_day:
        return []
    idx = np.asarray(rows)
    m = _day_matrix(idx, out_s, back_s, between)
    ok = np.zeros(idx.size, dtype=bool)
    for group in itertools.combinations(range(idx.size), per_day):
        if ok[list(group)].all():
            continue
        if solve_exact(group, m, rules).feasible:
            ok[list(group)] = True
    return [int(idx[k]) for k in np.flatnonzero(~ok)]


def fewest_companions(
    rows: list[int],
    out_s: np.ndarray,
    back_s: np.ndarray,
    between: np.ndarray,
    rules: Any,
    per_day: int,
) -> int:
    """The chosen commune with the fewest feasible full days shared with the others."""
    idx = np.asarray(rows)
    m = _day_matrix(idx, out_s, back_s, between)
    count = np.zeros(idx.size, dtype=np.int64)
    size = min(per_day, idx.size)
    for group in itertools.combinations(range(idx.size), size):
        if solve_exact(group, m, rules).feasible:
            count[list(group)] += 1
    # ties: the one farthest from the depot
    order = np.lexsort((-(out_s[idx] + back_s[idx]), count))
    return int(idx[order[0]])


def plan_from_matrices(
    *,
    communes: pd.DataFrame,
    under: Any,
    between: np.ndarray,
    out_s: np.ndarray,
    back_s: np.ndarray,
    depot: dict,
    legs_for: Callable[[np.ndarray], LegMatrix],
    settings: ItinerarySettings,
    territory_name: str,
    territory_label: str,
    crs: Any,
    provenance: dict[str, Any],
    timings: dict[str, float],
    naive: bool = False,
    progress: Progress | None = None,
    today: date | None = None,
) -> ItineraryPlan:
    """Choose the stops and build the plan from travel-time matrices (no routing here).

    Parameters
    ----------
    communes
        The territory's communes (``insee_code``, ``name``...).
    under
        The underserved population per commune
        (:func:`coverage.jobs.itinerary.underserved_population`).
    between
        Seconds between commune points (communes × communes, NaN diagonal for
        points off the network).
    out_s, back_s
        Seconds from the depot to each commune point and back.
    depot
        The depot (:func:`coverage.jobs.itinerary.resolve_depot`).
    legs_for
        Leg matrix (durations, km, route lines) between points ``(n, 2)`` of the
        territory CRS, the depot first.
    settings
        The plan's settings.
    territory_name, territory_label, crs
        Written with the plan.
    provenance, timings
        Provenance of the access figures and seconds spent so far (completed here).
    naive
        Build the benchmark's baseline (see :func:`build_plan`).
    progress
        Called with a French label at the start of every step.
    today
        Reference date for the default year.

    Raises
    ------
    InfeasiblePlanError
        Settings no plan can meet.
    """
    say = progress or silent
    rules = settings.day_rules()
    depot_xy = np.array([[depot["x"], depot["y"]]])
    n_communes = len(communes)
    reach_s = settings.reach_minutes * 60.0
    method: dict[str, Any] = {
        "kinds": under.kinds,
        "kind_labels": under.kind_labels,
        "kinds_missing": under.kinds_missing,
        "fixed_services": under.services,
        "underserved_minutes": settings.underserved_minutes,
        "reach_minutes": settings.reach_minutes,
    }
    if settings.stop_codes is not None:
        rows = rows_of_codes(communes, settings.stop_codes, what="stops")
        method["chosen_by"] = "list"
    else:
        say("Choix des arrêts (couverture maximale, MIP)")
        n_stops = settings.n_stops
        if n_stops is None:
            assert settings.visits_per_stop is not None
            n_stops = settings.days * settings.permanences_per_day // settings.visits_per_stop
            if n_stops < 1:
                raise InfeasiblePlanError(
                    f"{settings.visits_per_stop} visits per stop do not fit in {settings.days} "
                    f"days × {settings.permanences_per_day} permanences"
                )
        per_day = settings.permanences_per_day
        fits = np.array(
            [fits_alone(out_s[j], back_s[j], rules, per_day) for j in range(n_communes)]
        )
        hosts = under.communes["hosts_service"].to_numpy()
        candidates = fits & ~hosts
        if settings.reach_minutes > 0:
            covers = (reach_s + 1e-6 >= between.T) & np.isfinite(between.T)
        else:
            covers = np.eye(n_communes, dtype=bool)
        demand = under.communes["underserved"].to_numpy(dtype=float) + EPSILON_POPULATION * (
            under.communes["population"].to_numpy(dtype=float)
        )
        t2 = time.perf_counter()
        lonely: list[int] = []
        unpackable: list[int] = []

        def choose() -> tuple[list[int], str]:
            for _round in range(MAX_CHOICE_ROUNDS):
                rows, status = max_covering(
                    demand, covers, n_stops, candidates=candidates, time_limit_s=MIP_TIME_LIMIT_S
                )
                alone = without_companion(rows, out_s, back_s, between, rules, per_day)
                if not alone:
                    break
                lonely.extend(alone)
                candidates[alone] = False
            return rows, status

        rows, status = choose()
        timings["stops"] = time.perf_counter() - t2
        unreachable = under.communes.loc[~fits & (under.communes["underserved"] > 0)]
        method.update(
            {
                "chosen_by": "maximal covering (HiGHS)",
                "status": status,
                "candidates": int((fits & ~hosts).sum()),
                "excluded_out_of_day": int((~fits).sum()),
                "excludedwithout_companion": [str(communes["insee_code"].iat[j]) for j in lonely],
                "excluded_unpackable": [],
                "underserved_out_of_day": int(unreachable["underserved"].sum()),
            }
        )
    for attempt in range(MAX_CHOICE_ROUNDS + 1):
        choice = build_choice(
            communes, under, rows, between, reach_minutes=settings.reach_minutes, method=method
        )
        say("Trajets entre le dépôt et les arrêts (durées, km, tracés)")
        t3 = time.perf_counter()
        xy = np.vstack([depot_xy, choice.stops[["x", "y"]].to_numpy()])
        legs = legs_for(xy)
        timings["legs"] = time.perf_counter() - t3
        details = {
            "provenance": provenance,
            "timings_s": {k: round(v, 3) for k, v in timings.items()},
        }
        kwargs: dict[str, Any] = {
            "choice": choice,
            "territory": territory_name,
            "territory_label": territory_label,
            "crs": crs,
            "progress": say,
            "today": today,
            "details": details,
        }
        try:
            # the optimised plan decides the stops, even for the naive baseline (same stops)
            plan = build_plan(choice.stops, depot, legs, settings, naive=False, **kwargs)
            if naive:
                plan = build_plan(choice.stops, depot, legs, settings, naive=True, **kwargs)
            break
        except InfeasiblePlanError:
            # the chosen stops cannot be paired into full days: leave out the one with the
            # fewest possible companions and choose again (only for stops the MIP chose)
            if settings.stop_codes is not None or attempt == MAX_CHOICE_ROUNDS:
                raise
            weakest = fewest_companions(rows, out_s, back_s, between, rules, per_day)
            unpackable.append(weakest)
            candidates[weakest] = False
            method["excluded_unpackable"] = [str(communes["insee_code"].iat[j]) for j in unpackable]
            say("Choix des arrêts (couverture maximale, MIP), sans un arrêt impossible à apparier")
            rows, status = choose()
            method["status"] = status
            method["excludedwithout_companion"] = [
                str(communes["insee_code"].iat[j]) for j in lonely
            ]
    return plan
