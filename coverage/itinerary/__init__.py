"""Itinerant public service planning: which communes to serve, on which days, in which order.

Public API::

    plan_itinerary(territory="gers", *, settings=None, data_dir=None, resources=None,
                   naive=False, progress=None) -> ItineraryPlan
    ItinerarySettings(n_stops=26, days=103, year=2027, depot="32013", ...)
    ItineraryResources.load(territory, data_dir=None)        # load once, plan many times
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
(the whole job). Method: docs/itinerary.md.
"""

from __future__ import annotations

from coverage.itinerary.calendar import (
    easter_sunday,
    french_public_holidays,
    read_closures,
    service_days,
    working_days,
)
from coverage.itinerary.legs import LegMatrix, leg_matrix
from coverage.itinerary.plan import ItineraryPlan, PlanExistsError
from coverage.itinerary.planner import (
    ItineraryResources,
    build_plan,
    plan_itinerary,
    resolve_depot,
)
from coverage.itinerary.settings import DayRules, InfeasiblePlanError, ItinerarySettings
from coverage.itinerary.tours import DayTour, schedule_order, solve_day

__all__ = [
    "DayRules",
    "DayTour",
    "InfeasiblePlanError",
    "ItineraryPlan",
    "ItineraryResources",
    "ItinerarySettings",
    "LegMatrix",
    "PlanExistsError",
    "build_plan",
    "easter_sunday",
    "french_public_holidays",
    "leg_matrix",
    "plan_itinerary",
    "read_closures",
    "resolve_depot",
    "schedule_order",
    "service_days",
    "solve_day",
    "working_days",
]
