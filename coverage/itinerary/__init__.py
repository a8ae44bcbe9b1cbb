"""Itinerant public service planning: which communes to serve, on which days, in which order.

Public API (the job that loads a territory and computes its travel times is
:func:`coverage.jobs.itinerary.plan_itinerary`)::

    ItinerarySettings(n_stops=26, days=103, year=2027, depot="32013", ...)
    plan_from_matrices(communes=..., under=..., between=..., out_s=..., back_s=..., ...)
    build_plan(stops, depot, legs, settings, ...) -> ItineraryPlan   # given stops and matrix
    ItineraryPlan: .calendar() .days() .spacing() .tour_table() .summary() .violations()
                   .to_ics() .stops_frame() .routes_frame() .tours_frame() .write(folder)
    french_public_holidays(year), easter_sunday(year), working_days(...), read_closures(path)
    InfeasiblePlanError

Modules: :mod:`~coverage.itinerary.stops` (choice of stops),
:mod:`~coverage.itinerary.calendar` (dates), :mod:`~coverage.itinerary.visits`
(visits per stop), :mod:`~coverage.itinerary.schedule` (day groups and dates),
:mod:`~coverage.itinerary.tours` (daily tours, VROOM), :mod:`~coverage.itinerary.legs`
(duration matrix, km, route lines), :mod:`~coverage.itinerary.plan` (the plan
and its files), :mod:`~coverage.itinerary.ics` (iCalendar),
:mod:`~coverage.itinerary.checks` (verification), :mod:`~coverage.itinerary.planner`
(stops and plan from the matrices). Method: docs/itinerary.md.
"""

from __future__ import annotations

from coverage.itinerary.calendar import (
    easter_sunday,
    french_public_holidays,
    read_closures,
    service_days,
    working_days,
)
from coverage.itinerary.legs import LegMatrix
from coverage.itinerary.plan import ItineraryPlan, PlanExistsError
from coverage.itinerary.planner import build_plan, plan_from_matrices
from coverage.itinerary.settings import DayRules, InfeasiblePlanError, ItinerarySettings
from coverage.itinerary.tours import DayTour, schedule_order, solve_day

__all__ = [
    "DayRules",
    "DayTour",
    "InfeasiblePlanError",
    "ItineraryPlan",
    "ItinerarySettings",
    "LegMatrix",
    "PlanExistsError",
    "build_plan",
    "easter_sunday",
    "french_public_holidays",
    "plan_from_matrices",
    "read_closures",
    "schedule_order",
    "service_days",
    "solve_day",
    "working_days",
]
