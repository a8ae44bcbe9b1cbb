"""Verification of a plan against every rule: dates, visit counts, spacing, day timetables.

:func:`check_plan` re-derives each rule from the plan's data and the leg
matrix, independently of how the plan was built, and returns one English
message per broken rule (an empty list for a valid plan). The planner runs it
on every plan it returns.
"""

from __future__ import annotations

import itertools
import math
from datetime import date
from typing import TYPE_CHECKING, Protocol

from coverage._french import plural
from coverage.itinerary.calendar import holidays_between
from coverage.itinerary.tours import DayTour, round_up

if TYPE_CHECKING:
    import pandas as pd

    from coverage.itinerary.legs import LegMatrix
    from coverage.itinerary.settings import DayRules, ItinerarySettings

TOLERANCE_S = 1e-6


class PlanData(Protocol):
    """What :func:`check_plan` reads of a plan.

    An :class:`~coverage.itinerary.plan.ItineraryPlan` has all of it; this module
    does not import the plan, whose :meth:`~coverage.itinerary.plan.ItineraryPlan.violations`
    calls :func:`check_plan`. Visit dates are derived here from ``dates``, ``day_tour``
    and ``tours``, independently of the plan's own methods.
    """

    settings: ItinerarySettings
    period: tuple[date, date]
    dates: list[date]
    day_tour: list[int]
    tours: list[DayTour]
    stops: pd.DataFrame
    legs: LegMatrix
    rules: DayRules


def check_tour(tour: DayTour, seconds: object, rules: DayRules) -> list[str]:
    """Rules of one day: hours, permanence length, travel between places, lunch, driving."""
    import numpy as np

    m = np.asarray(seconds)
    out: list[str] = []
    n = len(tour.stops)
    if n == 0:
        return ["a day without any stop"]
    if len(set(tour.stops)) != n:
        out.append("un arrêt est visité deux fois le même jour")
    locs = [0, *[s + 1 for s in tour.stops], 0]
    legs = [float(m[locs[i], locs[i + 1]]) for i in range(n + 1)]
    if not all(math.isfinite(v) for v in legs):
        return ["a leg of the tour has no road route"]
    driving = sum(legs)
    if driving > rules.max_driving_s + TOLERANCE_S:
        out.append(
            f"la conduite de {driving / 60:.0f} min dépasse {rules.max_driving_s / 60:.0f} min"
        )
    if abs(driving - tour.driving_s) > 1e-3:
        out.append("le temps de conduite annoncé diffère de la matrice")
    if tour.depart_s < rules.start_s:
        out.append("la tournée quitte le dépôt avant le début de la journée de travail")
    if tour.day_end_s > rules.end_s or tour.return_s > rules.end_s:
        out.append("la tournée finit après la journée de travail")
    lunch = None
    if rules.lunch_s > 0:
        if tour.lunch_start_s is None or tour.lunch_end_s is None or tour.lunch_gap is None:
            out.append("pas de pause déjeuner")
        else:
            lunch = (tour.lunch_start_s, tour.lunch_end_s, tour.lunch_gap)
            if tour.lunch_end_s - tour.lunch_start_s != rules.lunch_s:
                out.append("la pause déjeuner n'a pas la bonne durée")
            if tour.lunch_start_s < rules.lunch_from_s or tour.lunch_end_s > rules.lunch_to_s:
                out.append("la pause déjeuner est hors de sa plage")
    # walk the day: previous activity end, then travel (+ lunch in that gap), then next activity
    ready = tour.depart_s
    for i in range(n + 1):
        need = round_up(legs[i], rules.step_s)
        if lunch is not None and lunch[2] == i:
            ls, le, _ = lunch
            if ls < ready:
                out.append(f"le déjeuner commence avant la fin de l'activité {i}")
            need += rules.lunch_s
            arrive_by = tour.start_s[i] if i < n else tour.day_end_s
            if le > arrive_by:
                out.append(f"le déjeuner chevauche la permanence {i + 1}")
        if i < n:
            if tour.start_s[i] - ready < need - TOLERANCE_S:
                out.append(
                    f"pas assez de temps pour atteindre l'arrêt {i + 1} (et déjeuner) à l'heure"
                )
            if tour.arrival_s[i] > tour.start_s[i]:
                out.append(f"la permanence {i + 1} commence avant l'arrivée")
            if tour.end_s[i] - tour.start_s[i] != rules.permanence_s:
                out.append(f"la permanence {i + 1} n'a pas la bonne durée")
            ready = tour.end_s[i]
        else:
            end = max(tour.return_s, tour.day_end_s)
            if end - ready < need - TOLERANCE_S:
                out.append("pas assez de temps pour rentrer au dépôt")
    return out


def check_plan(plan: PlanData) -> list[str]:
    """Every broken rule of a plan (see the module docstring)."""
    s = plan.settings
    out: list[str] = []
    start, end = plan.period
    if len(plan.dates) != s.days:
        out.append(
            f"{plural(len(plan.dates), 'jour de service', 'jours de service')} au lieu de {s.days}"
        )
    if len(set(plan.dates)) != len(plan.dates):
        out.append("une date est utilisée deux fois")
    holidays = holidays_between(start, end)
    closures = set(s.closures)
    for d in plan.dates:
        if not start <= d <= end:
            out.append(f"{d} est hors de la période")
        if d.weekday() not in s.weekdays:
            out.append(f"{d} n'est pas un des jours de la semaine autorisés")
        if d in holidays:
            out.append(f"{d} est un jour férié ({holidays[d]})")
        if d in closures:
            out.append(f"{d} est un jour de fermeture")
    for k in plan.day_tour:
        if len(plan.tours[k].stops) > s.permanences_per_day:
            out.append(f"la tournée {k + 1} a plus de {plural(s.permanences_per_day, 'arrêt')}")
    n_depots = getattr(plan.legs, "n_depots", 1)
    for k, tour in enumerate(plan.tours):
        if not 0 <= tour.depot < n_depots:
            out.append(
                f"tournée {k + 1} : le dépôt {tour.depot} n'est pas l'un des "
                f"{plural(n_depots, 'dépôt')}"
            )
            continue
        for problem in check_tour(tour, plan.legs.day_seconds(tour.depot), plan.rules):
            out.append(f"tournée {k + 1} : {problem}")
    visits: list[list[date]] = [[] for _ in range(len(plan.stops))]
    for d, k in zip(plan.dates, plan.day_tour, strict=True):
        for stop in plan.tours[k].stops:
            visits[stop].append(d)
    wanted = plan.stops["visits"].to_numpy() if "visits" in plan.stops else None
    for stop, days in enumerate(visits):
        name = f"{plan.stops['name'].iat[stop]} ({plan.stops['insee_code'].iat[stop]})"
        if wanted is not None and len(days) != int(wanted[stop]):
            out.append(f"{name} : {plural(len(days), 'visite')} au lieu de {int(wanted[stop])}")
        if not days:
            out.append(f"{name} : jamais visité")
            continue
        days = sorted(days)
        if getattr(s, "fixed_weekday", False) and len({d.weekday() for d in days}) > 1:
            out.append(
                f"{name} : visité sur {len({d.weekday() for d in days})} jours de la "
                f"semaine (un demandé)"
            )
        for a, b in itertools.pairwise(days):
            gap = (b - a).days
            if gap < s.min_spacing_days:
                out.append(
                    f"{name} : {plural(gap, 'jour')} entre {a} et {b} (min {s.min_spacing_days})"
                )
            if gap > s.max_spacing_days:
                out.append(
                    f"{name} : {plural(gap, 'jour')} entre {a} et {b} (max {s.max_spacing_days})"
                )
        first, last = (days[0] - start).days, (end - days[-1]).days
        if first > s.max_spacing_days:
            out.append(
                f"{name} : première visite le {days[0]} après {plural(first, 'jour')} (max "
                f"{s.max_spacing_days})"
            )
        if last > s.max_spacing_days:
            out.append(
                f"{name} : dernière visite le {days[-1]}, {plural(last, 'jour')} avant la fin"
            )
    return out
