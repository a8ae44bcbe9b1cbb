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

from coverage._french import plural
from coverage.errors import QueryError
from coverage.itinerary.calendar import (
    balanced_service_days,
    holidays_between,
    service_days,
    working_days,
)
from coverage.itinerary.legs import LegMatrix
from coverage.itinerary.plan import ItineraryPlan
from coverage.itinerary.schedule import (
    FEWEST_GROUPS_PENALTY_S,
    GROUP_PENALTY_S,
    assign_dates,
    group_days,
    most_visits,
    naive_schedule,
)
from coverage.itinerary.settings import InfeasiblePlanError, ItinerarySettings
from coverage.itinerary.stops import (
    EPSILON_POPULATION,
    StopChoice,
    build_choice,
    max_covering,
    rows_of_codes,
)
from coverage.itinerary.tours import (
    DayTour,
    schedule_order,
    solve_day,
    solve_day_depots,
    solve_exact,
)
from coverage.itinerary.visits import allocate_visits, tightest_window, visit_bounds
from coverage.itinerary.weekdays import group_days_by_weekday
from coverage.progress import Progress, silent

MIP_TIME_LIMIT_S = 20.0
SEARCH_TIME_LIMIT_S = 20.0
REGROUP_TIME_LIMIT_S = 3.0
"""Time limit of the fewest-groups regrouping (its incumbent is used when it stops there)."""
MAX_CHOICE_ROUNDS = 10
"""Rounds of the choice of stops that drop stops without a feasible companion."""


def _stop_label(stops: pd.DataFrame, s: int) -> str:
    return f"{stops['name'].iat[s]} ({stops['insee_code'].iat[s]})"


def _explain_single(tour: DayTour, out_s: float, back_s: float) -> str:
    legs = f"{out_s / 60:.0f} min depuis le dépôt, {back_s / 60:.0f} min pour le retour"
    if not math.isfinite(out_s) or not math.isfinite(back_s):
        return "aucune route ne le relie au dépôt"
    return f"{legs} : {'; '.join(tour.violations)}"


def service_calendar(
    settings: ItinerarySettings, *, today: date | None = None
) -> tuple[tuple[date, date], list[date], list[date]]:
    """The period, its working days and the service days of a plan.

    With ``balanced_weekdays`` the service days are balanced over the weekdays,
    unless that leaves a spacing window thinner than the plain spread.
    """
    period = settings.period(today=today)
    working = working_days(
        period[0], period[1], weekdays=settings.weekdays, closures=settings.closures
    )
    dates = service_days(working, settings.days)
    if settings.balanced_weekdays:
        balanced = balanced_service_days(working, settings.days)
        window = {"max_spacing_days": settings.max_spacing_days}
        if (
            tightest_window(balanced, period, **window)[2]
            >= tightest_window(dates, period, **window)[2]
        ):
            dates = balanced
    return period, working, dates


def affordable_lonely(n_stops: int, lower: int, n_days: int, per_day: int, held: int) -> int:
    """Most stops that can be alone on their days when every stop gets ``lower`` visits.

    ``L`` lonely stops take ``L × lower`` days alone; the other stops' visits
    must fit in the remaining days: ``(n - L) lower <= per_day (n_days - L lower)``.
    And the tightest ``max_spacing_days`` window, which holds ``held``
    service days, needs a visit of every stop: ``L + ⌈(n - L) / per_day⌉ <= held``.
    """
    best = 0
    for lonely in range(1, n_stops):
        alone = lonely * lower
        if alone > n_days or (n_stops - lonely) * lower > per_day * (n_days - alone):
            break
        if lonely + math.ceil((n_stops - lonely) / per_day) > held:
            break
        best = lonely
    return best


def build_plan(
    stops: pd.DataFrame,
    depot: dict[str, Any] | list[dict[str, Any]],
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
        ``code``, ``name``, ``x``, ``y``; or a list of them (several depots:
        each day starts and ends at the one whose tour drives least).
    legs
        Leg matrix of the depots (points ``0 .. D - 1``) and the stops (point
        ``D + s``).
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
    depots = list(depot) if isinstance(depot, list) else [depot]
    n_dep = legs.n_depots
    if len(depots) != n_dep:
        raise QueryError(
            f"{plural(len(depots), 'dépôt donné', 'dépôts donnés')} mais la "
            f"matrice des trajets "
            f"en a {n_dep}"
        )
    if legs.n_points != n + n_dep:
        raise QueryError(
            f"la matrice des trajets a {plural(legs.n_points, 'point')} pour "
            f"{plural(n, 'arrêt')} et {plural(n_dep, 'dépôt')}"
        )
    if n == 0:
        raise InfeasiblePlanError("aucun arrêt à planifier")
    matrices = [legs.day_seconds(d) for d in range(n_dep)]
    seconds = matrices[0]
    per_day = settings.permanences_per_day
    mip_log: list[dict[str, Any]] = []

    # stops that cannot be served within a day on their own
    if not naive:
        for s in range(n):
            tours_alone = [schedule_order((s,), m, rules) for m in matrices]
            if not any(t.feasible for t in tours_alone):
                why = _explain_single(tours_alone[0], seconds[0, s + 1], seconds[s + 1, 0])
                names_dep = ", ".join(d["name"] for d in depots)
                raise InfeasiblePlanError(
                    f"{_stop_label(stops, s)} ne peut être visité dans la journée depuis "
                    f"{names_dep} : {why}"
                    " (autorisez plus de conduite, des journées plus longues ou des permanences "
                    "plus courtes, ou choisissez un autre dépôt)"
                )

    say("Calendrier : jours ouvrés et jours de service")
    period, working, dates = service_calendar(settings, today=today)
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
        cache: dict[tuple[int, ...], float | None] = {}

        def cost(group: tuple[int, ...]) -> float | None:
            if group not in cache:
                best: float | None = None
                for m in matrices:
                    tour = (
                        solve_exact(group, m, rules)
                        if len(group) <= 3
                        else solve_day(group, m, rules, solver="vroom")
                    )
                    if tour.feasible and (best is None or tour.driving_s < best - 1e-9):
                        best = tour.driving_s
                cache[group] = best
            return cache[group]

        say("Nombre de passages par commune")
        lonely = _lonely_stops(n, per_day, cost) if settings.mixed_days else []
        visits = _visits(stops, settings, dates, period, n_days, names)
        if lonely:
            floor = _lower_visits(settings, dates, period)
            visits = _mixed_visits(visits, lonely, floor, n_days, per_day)
            window = tightest_window(dates, period, max_spacing_days=settings.max_spacing_days)
            _check_lonely_fit(visits, lonely, n_days, per_day, names, window)
        timings["visits"] = time.perf_counter() - t1
        say("Regroupement des communes par jour (MIP)")
        t2 = time.perf_counter()

        def pack(
            v: np.ndarray, penalty: float = GROUP_PENALTY_S, limit: float = MIP_TIME_LIMIT_S
        ) -> Any:
            if settings.fixed_weekday:
                out, days = group_days_by_weekday(
                    v,
                    working,
                    settings.weekdays,
                    n_days,
                    per_day,
                    cost,
                    seconds=seconds,
                    labels=names,
                    time_limit_s=limit,
                    log=mip_log,
                    group_penalty_s=penalty,
                )
                return out, days
            out = group_days(
                v,
                n_days,
                per_day,
                cost,
                seconds=seconds,
                labels=names,
                time_limit_s=limit,
                log=mip_log,
                group_penalty_s=penalty,
            )
            return out, dates

        try:
            packed, dates = pack(visits)
        except InfeasiblePlanError:
            if not settings.mixed_days:
                raise
            # mixed days: one MIP says how many visits fit (no retry one visit fewer at a time)
            floor = np.full(n, _lower_visits(settings, dates, period), dtype=np.int64)
            fit = most_visits(
                visits,
                floor,
                n_days,
                per_day,
                cost,
                seconds=seconds,
                time_limit_s=MIP_TIME_LIMIT_S,
                log=mip_log,
            )
            if fit is None:
                raise
            spread = _visits(stops, settings, dates, period, n_days, names, cap=int(fit.sum()))
            try:  # the same total spread evenly, else the packing the MIP found
                packed, dates = pack(spread)
                visits = spread
            except InfeasiblePlanError:
                packed, dates = pack(fit)
                visits = fit
        timings["grouping"] = time.perf_counter() - t2
        say("Placement des jours dans l'année (recherche locale)")
        t3 = time.perf_counter()

        def place(packed: Any, days: list[date]) -> tuple[list[int], dict[str, Any], list[date]]:
            if settings.fixed_weekday:
                return packed.assign(
                    days,
                    period,
                    n,
                    min_spacing_days=settings.min_spacing_days,
                    max_spacing_days=settings.max_spacing_days,
                    seed=settings.seed,
                    time_limit_s=SEARCH_TIME_LIMIT_S,
                    log=mip_log,
                    working=working,
                )
            seq, stats = assign_dates(
                packed.groups,
                packed.counts,
                days,
                period,
                n,
                min_spacing_days=settings.min_spacing_days,
                max_spacing_days=settings.max_spacing_days,
                seed=settings.seed,
                time_limit_s=SEARCH_TIME_LIMIT_S,
                log=mip_log,
            )
            return seq, stats, days

        sequence, search, dates = place(packed, dates)
        regrouped = False
        if search.get("violation_days", 0) > 0:
            # no dates keep the spacing with these groups (e.g. a triangle of pairs in a window
            # that must hold one visit of every stop): group again, fewest distinct groups first
            try:
                again, again_dates = pack(visits, FEWEST_GROUPS_PENALTY_S, REGROUP_TIME_LIMIT_S)
            except InfeasiblePlanError:
                again = None
            if again is not None:
                seq2, search2, dates2 = place(again, again_dates)
                if search2.get("violation_days", 0) < search["violation_days"]:
                    packed, dates, sequence, search = again, dates2, seq2, search2
                    regrouped = True
        groups, counts = packed.groups, packed.counts
        singles = sum(c for g, c in zip(groups, counts, strict=True) if len(g) < per_day)
        grouping = {
            "candidates": packed.candidates,
            "groups": len(groups),
            "status": packed.status,
            "driving_hours": round(packed.driving_s / 3600.0, 2),
            "mixed_days": settings.mixed_days,
            "stops_without_companion": [str(stops["insee_code"].iat[s]) for s in lonely],
            "days_with_fewer_permanences": int(singles),
            "fixed_weekday": settings.fixed_weekday,
            "regrouped_for_spacing": regrouped,
        }
        timings["dates"] = time.perf_counter() - t3

    # number the tours in the order they first run
    first_use = list(dict.fromkeys(sequence))
    renumber = {old: new for new, old in enumerate(first_use)}
    groups = [groups[old] for old in first_use]
    sequence = [renumber[k] for k in sequence]
    say(f"Tournées quotidiennes ({'VROOM' if settings.solver == 'vroom' else 'énumération'})")
    t4 = time.perf_counter()
    tours = [solve_day_depots(g, matrices, rules, solver=settings.solver) for g in groups]
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
        depot=depots[0],
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
            "depots": depots,
            "solver_runs": [*(details or {}).get("solver_runs", []), *mip_log],
            "limits": {
                "mip_time_limit_s": MIP_TIME_LIMIT_S,
                "search_time_limit_s": SEARCH_TIME_LIMIT_S,
                "regroup_time_limit_s": REGROUP_TIME_LIMIT_S,
                "mip_gap_groups": 1e-4,
                "mip_gap_stops": 1e-6,
                "mip_gap_repair": 1e-6,
            },
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
        more = f" (et {len(problems) - 5} autres)" if len(problems) > 5 else ""
        raise InfeasiblePlanError(
            f"aucun plan ne respecte toutes les règles avec ces réglages : {shown}{more} ; "
            "assouplissez les règles d'espacement ou changez le nombre de visites ou de jours"
        )
    return plan


def _visits(
    stops: pd.DataFrame,
    settings: ItinerarySettings,
    dates: list[date],
    period: tuple[date, date],
    n_days: int,
    names: list[str],
    *,
    cap: int | None = None,
) -> np.ndarray:
    n = len(stops)
    per_day = settings.permanences_per_day
    slots = n_days * per_day
    first_wait = (dates[0] - period[0]).days
    last_wait = (period[1] - dates[-1]).days
    if first_wait > settings.max_spacing_days or last_wait > settings.max_spacing_days:
        raise InfeasiblePlanError(
            f"espacement impossible : le premier jour de service vient "
            f"{plural(first_wait, 'jour')} "
            f"après le début de la période et le dernier {plural(last_wait, 'jour')} avant sa "
            f"fin, plus que max_spacing_days ({settings.max_spacing_days}) ; ajoutez des jours "
            "de service ou assouplissez-le"
        )
    first, last, held = tightest_window(dates, period, max_spacing_days=settings.max_spacing_days)
    if held * per_day < n:
        raise InfeasiblePlanError(
            f"espacement impossible : les {settings.max_spacing_days} jours du {first} au {last} "
            f"ne comptent que {plural(held, 'jour de service', 'jours de service')} "
            f"({plural(held * per_day, 'permanence')}), mais chacun des {plural(n, 'arrêt')} "
            f"doit y avoir une visite pour attendre au plus {settings.max_spacing_days} jours ; "
            "raccourcissez les fermetures, ajoutez des jours de service ou augmentez "
            "max_spacing_days"
        )
    lower, upper = visit_bounds(
        dates,
        period,
        min_spacing_days=settings.min_spacing_days,
        max_spacing_days=settings.max_spacing_days,
    )
    if lower > upper:
        raise InfeasiblePlanError(
            f"espacement impossible : attendre au plus {settings.max_spacing_days} jours "
            f"demande au "
            f"moins {plural(lower, 'visite')} par arrêt, mais {settings.min_spacing_days} jours "
            f"entre les visites en permettent au plus {upper} sur la période"
        )
    if settings.visits_per_stop is not None:
        v = settings.visits_per_stop
        if n * v > slots:
            raise InfeasiblePlanError(
                f"plus de visites que de permanences : {plural(n, 'arrêt')} × "
                f"{plural(v, 'visite')} "
                f"= {n * v}, mais {plural(n_days, 'jour')} × {plural(per_day, 'permanence')} "
                f"= {slots}"
            )
        if v > n_days:
            raise InfeasiblePlanError(
                f"plus de visites que de jours : {plural(v, 'visite')} par arrêt mais seulement "
                f"{plural(n_days, 'jour de service', 'jours de service')}"
            )
        if v > upper:
            raise InfeasiblePlanError(
                f"espacement impossible : {plural(v, 'visite')} par arrêt demandent plus "
                f"que les {upper} "
                f"que permettent {settings.min_spacing_days} jours entre les visites sur la "
                "période"
            )
        if v < lower:
            raise InfeasiblePlanError(
                f"espacement impossible : {plural(v, 'visite')} par arrêt laissent des "
                f"écarts plus longs "
                f"que max_spacing_days ({settings.max_spacing_days}) ; il en faut au moins {lower}"
            )
        return np.full(n, v, dtype=np.int64)
    lower = _lower_visits(settings, dates, period)
    if n * lower > slots:
        raise InfeasiblePlanError(
            f"plus de visites que de permanences : attendre au plus "
            f"{settings.max_spacing_days} jours "
            f"demande {plural(lower, 'visite')} pour chacun des {plural(n, 'arrêt')} "
            f"({n * lower}), mais {plural(n_days, 'jour')} × "
            f"{plural(per_day, 'permanence')} = {slots} ; choisissez moins d'arrêts ou plus "
            "de jours"
        )
    total = min(slots, n * upper)
    if cap is not None:
        total = min(total, max(cap, n * lower, n_days))
    if total < n_days:
        raise InfeasiblePlanError(
            f"{plural(n, 'arrêt')} ne peuvent remplir "
            f"{plural(n_days, 'jour de service', 'jours de service')} : "
            f"avec {settings.min_spacing_days} jours entre les visites ils prennent au plus "
            f"{plural(n * upper, 'visite')}"
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


def _lower_visits(settings: ItinerarySettings, dates: list[date], period: tuple[date, date]) -> int:
    """Least visits :func:`_visits` gives a stop (the spacing bound plus a margin of one)."""
    if settings.visits_per_stop is not None:
        return settings.visits_per_stop
    lower, upper = visit_bounds(
        dates,
        period,
        min_spacing_days=settings.min_spacing_days,
        max_spacing_days=settings.max_spacing_days,
    )
    return min(lower + 1, upper)  # a margin: see coverage.itinerary.visits


class LonelyStopsError(InfeasiblePlanError):
    """Stops that share no day with another stop and cannot all get days of their own.

    Attributes
    ----------
    stops
        Their numbers in the plan's stops.
    """

    def __init__(self, message: str, stops: list[int]) -> None:
        super().__init__(message)
        self.stops = stops


def _check_lonely_fit(
    visits: np.ndarray,
    lonely: list[int],
    n_days: int,
    per_day: int,
    names: list[str],
    window: tuple[date, date, int],
) -> None:
    """Raise :class:`LonelyStopsError` when the lonely stops' own days leave too few for the rest.

    The ``A`` visits of the lonely stops take ``A`` days alone; the other
    visits must fill the other ``n_days - A`` days, ``per_day`` at most a day;
    and the tightest spacing window (``window``: first day, last day, service
    days it holds) needs a day for each lonely stop plus days for the others.
    """
    alone = int(visits[lonely].sum())
    rest = int(visits.sum()) - alone
    n_l, n = len(lonely), visits.size
    who = ", ".join(names[s] for s in lonely)
    first, last, held = window
    if n_l + math.ceil((n - n_l) / per_day) > held:
        raise LonelyStopsError(
            f"{who} ne peut partager une journée avec un autre arrêt, mais les "
            f"{plural(held, 'jour de service', 'jours de service')} du {first} au {last} doivent "
            f"contenir une visite de chaque arrêt : {plural(n_l, 'jour')} à part et "
            f"{math.ceil((n - n_l) / per_day)} pour les {plural(n - n_l, 'autre arrêt')} ne "
            "tiennent pas ; choisissez d'autres arrêts, plus de jours ou un max_spacing_days "
            "plus long",
            list(lonely),
        )
    if alone <= n_days and n_days - alone <= rest <= per_day * (n_days - alone):
        return
    raise LonelyStopsError(
        f"{who} ne peut partager une journée avec un autre arrêt, et ses "
        f"{plural(alone, 'visite')} sur des journées à part laissent "
        f"{plural(n_days - alone, 'jour')} pour les {plural(rest, 'visite')} des autres arrêts "
        f"({per_day} par jour au plus) : choisissez d'autres arrêts, plus de jours ou moins "
        "de visites",
        list(lonely),
    )


def _lonely_stops(
    n: int, per_day: int, cost: Callable[[tuple[int, ...]], float | None]
) -> list[int]:
    """Stops that share no feasible day with any other stop (from any depot)."""
    if per_day < 2 or n < 2:
        return []
    return [
        s for s in range(n) if all(cost(tuple(sorted((s, t)))) is None for t in range(n) if t != s)
    ]


def _mixed_visits(
    visits: np.ndarray, lonely: list[int], floor: int, n_days: int, per_day: int
) -> np.ndarray:
    """Visits when the ``lonely`` stops are alone on their days.

    A lonely stop's visit takes a whole day: while the lonely stops' days
    leave too few days for the other visits (``per_day`` a day), the largest
    visit count is lowered by one (ties: a lonely stop first, it frees a
    day), never below ``floor``. When nothing is left to lower, the visits are
    returned as they are (:func:`_check_lonely_fit` says why).
    """
    v = visits.astype(np.int64).copy()
    mask = np.zeros(v.size, dtype=bool)
    mask[lonely] = True

    def fits() -> bool:
        alone = int(v[mask].sum())
        rest = int(v.sum()) - alone
        return alone <= n_days and rest <= per_day * (n_days - alone)

    while not fits():
        movable = np.flatnonzero(v > floor)
        if not movable.size:
            break
        k = movable[np.lexsort((~mask[movable], -v[movable]))[0]]
        v[k] -= 1
    return v


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


def _as_depots(a: np.ndarray) -> np.ndarray:
    """Times from (or to) the depots as ``(n_depots, n_communes)``."""
    a = np.asarray(a, dtype=np.float64)
    return a[None, :] if a.ndim == 1 else a


def without_companion(
    rows: list[int],
    out_s: np.ndarray,
    back_s: np.ndarray,
    between: np.ndarray,
    rules: Any,
    per_day: int,
) -> list[int]:
    """Chosen communes that share no feasible full day with the other chosen ones.

    ``out_s``/``back_s`` are per commune, or ``(n_depots, n_communes)``: a day is
    feasible when it is from one of the depots.
    """
    if per_day == 1 or per_day > 3 or len(rows) < per_day:
        return []
    idx = np.asarray(rows)
    mats = [
        _day_matrix(idx, o, b, between)
        for o, b in zip(_as_depots(out_s), _as_depots(back_s), strict=True)
    ]
    ok = np.zeros(idx.size, dtype=bool)
    for group in itertools.combinations(range(idx.size), per_day):
        if ok[list(group)].all():
            continue
        if any(solve_exact(group, m, rules).feasible for m in mats):
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
    outs, backs = _as_depots(out_s), _as_depots(back_s)
    mats = [_day_matrix(idx, o, b, between) for o, b in zip(outs, backs, strict=True)]
    count = np.zeros(idx.size, dtype=np.int64)
    size = min(per_day, idx.size)
    for group in itertools.combinations(range(idx.size), size):
        if any(solve_exact(group, m, rules).feasible for m in mats):
            count[list(group)] += 1
    # ties: the one farthest from its nearest depot
    far = (outs + backs).min(axis=0)[idx]
    order = np.lexsort((-far, count))
    return int(idx[order[0]])


def served_communes(
    communes: pd.DataFrame, site_codes: Any, between: np.ndarray, served_minutes: float
) -> np.ndarray:
    """Communes that host a fixed site or lie within ``served_minutes`` of one by car.

    ``between[j, s]`` is the time from commune ``j`` to commune ``s``; a site is
    placed at its commune's point. Codes outside the territory are ignored.
    """
    n = len(communes)
    index = {c: i for i, c in enumerate(communes["insee_code"].astype(str))}
    rows = sorted({index[str(c)] for c in site_codes if str(c) in index})
    served = np.zeros(n, dtype=bool)
    if not rows or served_minutes <= 0:
        return served
    to_site = np.asarray(between)[:, rows]
    served |= (np.nan_to_num(to_site, nan=np.inf) <= served_minutes * 60.0 + 1e-6).any(axis=1)
    served[rows] = True
    return served


def plan_from_matrices(
    *,
    communes: pd.DataFrame,
    under: Any,
    between: np.ndarray,
    out_s: np.ndarray,
    back_s: np.ndarray,
    depot: dict | list[dict],
    legs_for: Callable[..., LegMatrix],
    settings: ItinerarySettings,
    territory_name: str,
    territory_label: str,
    crs: Any,
    provenance: dict[str, Any],
    timings: dict[str, float],
    naive: bool = False,
    progress: Progress | None = None,
    today: date | None = None,
    served_codes: Any = (),
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
        Seconds from the depot to each commune point and back; with several
        depots, ``(n_depots, n_communes)`` arrays (from each depot, back to each).
    depot
        The depot (:func:`coverage.jobs.itinerary.resolve_depot`), or a list of
        depots (:func:`coverage.jobs.itinerary.resolve_depots`).
    legs_for
        Leg matrix (durations, km, route lines) between points ``(n, 2)`` of the
        territory CRS, the depots first (called with ``n_depots=``).
    served_codes
        INSEE codes of the communes of the tiers-lieux (planned and open).
        A commune is *served* already when it hosts a fixed service of the
        kinds, when its inhabitants' mean time to the nearest one
        (``minutes_mean``, computed per population cell) is at most
        ``served_minutes``, or when its point is within ``served_minutes`` by
        car of a tiers-lieu's commune (see :func:`served_communes`).
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
    depots = list(depot) if isinstance(depot, list) else [depot]
    depot_xy = np.array([[d["x"], d["y"]] for d in depots])
    out_s, back_s = _as_depots(out_s), _as_depots(back_s)
    n_communes = len(communes)
    reach_s = settings.reach_minutes * 60.0
    served = served_communes(communes, served_codes, between, settings.served_minutes)
    if settings.served_minutes > 0:
        served |= under.communes["hosts_service"].to_numpy(dtype=bool)
        served |= under.communes["minutes_mean"].to_numpy(dtype=float) <= settings.served_minutes
    mip_log: list[dict[str, Any]] = []
    method: dict[str, Any] = {
        "kinds": under.kinds,
        "kind_labels": under.kind_labels,
        "kinds_missing": under.kinds_missing,
        "fixed_services": under.services,
        "underserved_minutes": settings.underserved_minutes,
        "reach_minutes": settings.reach_minutes,
        "served_minutes": settings.served_minutes,
        "served_weight": settings.served_weight,
        "site_communes": sorted({str(c) for c in served_codes}),
        "communes_served_by_sites": int(served.sum()),
        "depots": [d["name"] for d in depots],
    }
    room = 0
    fits_full: np.ndarray | None = None
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
                    f"{plural(settings.visits_per_stop, 'visite')} par arrêt ne tiennent pas en "
                    f"{plural(settings.days, 'jour')} × "
                    f"{plural(settings.permanences_per_day, 'permanence')}"
                )
        per_day = settings.permanences_per_day
        if settings.mixed_days:  # how many stops the days leave room to be alone
            period, _working, dates = service_calendar(settings, today=today)
            lower = _lower_visits(settings, dates, period)
            held = tightest_window(dates, period, max_spacing_days=settings.max_spacing_days)[2]
            room = affordable_lonely(n_stops, lower, len(dates), per_day, held)
        # a stop alone on its days needs only one permanence to fit in the day
        alone_per_day = 1 if room > 0 else per_day
        fits = np.array(
            [
                any(
                    fits_alone(out_s[d, j], back_s[d, j], rules, alone_per_day)
                    for d in range(len(depots))
                )
                for j in range(n_communes)
            ]
        )
        hosts = under.communes["hosts_service"].to_numpy()
        excluded = hosts | (served if settings.served_weight == 0 else np.zeros_like(served))
        candidates = fits & ~excluded
        if settings.reach_minutes > 0:
            covers = (reach_s + 1e-6 >= between.T) & np.isfinite(between.T)
        else:
            covers = np.eye(n_communes, dtype=bool)
        weight = np.where(served, settings.served_weight, 1.0)
        demand = weight * (
            under.communes["underserved"].to_numpy(dtype=float)
            + EPSILON_POPULATION * under.communes["population"].to_numpy(dtype=float)
        )
        t2 = time.perf_counter()
        lonely: list[int] = []
        unpackable: list[int] = []

        def choose() -> tuple[list[int], str]:
            for _round in range(MAX_CHOICE_ROUNDS):
                rows, status = max_covering(
                    demand,
                    covers,
                    n_stops,
                    candidates=candidates,
                    time_limit_s=MIP_TIME_LIMIT_S,
                    log=mip_log,
                )
                if room > 0:  # mixed days: a stop without companion gets days of its own
                    break
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
                "candidates": int(candidates.sum()),
                "excluded_out_of_day": int((~fits).sum()),
                "underserved_communes_out_of_day": int(len(unreachable)),
                "excludedwithout_companion": [str(communes["insee_code"].iat[j]) for j in lonely],
                "excluded_unpackable": [],
                "underserved_out_of_day": int(unreachable["underserved"].sum()),
            }
        )
    for attempt in range(MAX_CHOICE_ROUNDS + 1):
        choice = build_choice(
            communes,
            under,
            rows,
            between,
            reach_minutes=settings.reach_minutes,
            method=method,
            served=served,
        )
        say("Trajets entre le dépôt et les arrêts (durées, km, tracés)")
        t3 = time.perf_counter()
        xy = np.vstack([depot_xy, choice.stops[["x", "y"]].to_numpy()])
        legs = legs_for(xy, n_depots=len(depots))
        timings["legs"] = time.perf_counter() - t3
        details = {
            "provenance": provenance,
            "timings_s": {k: round(v, 3) for k, v in timings.items()},
            "solver_runs": list(mip_log),
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
            plan = build_plan(choice.stops, depots, legs, settings, naive=False, **kwargs)
            if naive:
                plan = build_plan(choice.stops, depots, legs, settings, naive=True, **kwargs)
            break
        except InfeasiblePlanError as err:
            # the chosen stops cannot be paired into full days: leave out the stops that can
            # only be alone (all of them at once) or else the one with the fewest possible
            # companions, and choose again (only for stops the MIP chose)
            if settings.stop_codes is not None or attempt == MAX_CHOICE_ROUNDS:
                raise
            if isinstance(err, LonelyStopsError):
                # keep the lonely stops the days have room for (most underserved reached first)
                index = {c: j for j, c in enumerate(communes["insee_code"].astype(str))}
                codes = choice.stops["insee_code"].astype(str)
                reached = choice.stops["reached_underserved"].to_numpy()
                ranked = sorted(err.stops, key=lambda s: -reached[s])
                keep = room if len(ranked) > room else len(ranked) - 1
                dropped = [index[codes.iat[s]] for s in ranked[keep:]]
                if fits_full is None:
                    # from now on a new stop must fit a full day alone: the lonely ones kept
                    # are the only stops with one permanence (else the choice would bring new
                    # lonely stops round after round)
                    fits_full = np.array(
                        [
                            any(
                                fits_alone(out_s[d, j], back_s[d, j], rules, per_day)
                                for d in range(len(depots))
                            )
                            for j in range(n_communes)
                        ]
                    )
                    kept = np.zeros(n_communes, dtype=bool)
                    kept[[index[codes.iat[s]] for s in ranked[:keep]]] = True
                    candidates &= fits_full | kept
            else:
                dropped = [fewest_companions(rows, out_s, back_s, between, rules, per_day)]
            unpackable.extend(dropped)
            candidates[dropped] = False
            method["excluded_unpackable"] = [str(communes["insee_code"].iat[j]) for j in unpackable]
            say("Choix des arrêts (couverture maximale, MIP), sans un arrêt impossible à apparier")
            rows, status = choose()
            method["status"] = status
            method["excludedwithout_companion"] = [
                str(communes["insee_code"].iat[j]) for j in lonely
            ]
    return plan
