"""Daily tours: the order and timetable of a day's stops, from the depot and back.

A day leaves the depot at the start of the working day, drives to each stop in
turn, holds a permanence there (``permanence_s`` long, starting on arrival),
and drives back. Travel times are rounded up to the timetable step (5 minutes
by default) so that every time of the timetable is a round time and the
timetable never assumes faster driving than the network says; the driving
limit is checked on the real (unrounded) times.

The lunch break (``lunch_s`` long) is taken between two activities, never
while driving or during a permanence, and must start inside the lunch window
so as to end by its close. In the gap before permanence ``i`` it is taken on
arrival at the stop (waiting there for the window to open if need be) or, when
that would be too late, before leaving the previous place. For an order of
stops, :func:`schedule_order` tries the break in every gap and keeps the
timetable that ends earliest; it is the one definition of the rules, used to
check every day of a plan.

The order is chosen by:

- :func:`solve_vroom`: pyvroom (VROOM) on our own duration matrix, with the
  working hours as the vehicle's time window, the lunch break as a vehicle
  break, the permanence as the service time and the driving limit as
  ``max_travel_time``; its order is then timed by :func:`schedule_order` (and
  checked);
- :func:`solve_exact`: enumeration of every order (up to 8 stops), the
  reference for tests and the fallback when VROOM finds no complete tour.

Both minimise the day's driving time among feasible orders (ties: the earliest
end of day).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from coverage.errors import QueryError
from coverage.itinerary.settings import DayRules

MAX_EXACT_STOPS = 8
VROOM_EXPLORATION = 5


@dataclass(frozen=True)
class DayTour:
    """One day's tour: order, timetable and driving.

    Times are seconds since midnight (local time). Stop numbers index the
    stops of the duration matrix (location ``stop + 1``; the depot is location 0).

    Attributes
    ----------
    stops
        Stops in visiting order.
    arrival_s, start_s, end_s
        Per stop: arrival, start and end of the permanence.
    depart_s, return_s
        Leaving and coming back to the depot.
    day_end_s
        End of the working day: the return, or the end of a lunch taken at the depot.
    lunch_start_s, lunch_end_s
        The lunch break (None when ``lunch_s`` is 0).
    lunch_gap
        Where the break is: before permanence ``lunch_gap`` (``len(stops)``: after the last).
    lunch_at
        Location of the break: a stop number, or -1 for the depot.
    leg_s
        Real driving time of each leg (depot -> first stop ... last stop -> depot).
    driving_s
        Total real driving time.
    violations
        Broken rules (empty for a feasible tour), in English, for reports.
    overrun_s
        Seconds by which the rules are broken in total (0 when feasible).
    solver
        ``vroom``, ``exact`` or ``fixed`` (a given order).
    depot
        The depot the day starts and ends at (its number in the plan's depots;
        the matrix the tour was timed on is that depot's
        :meth:`~coverage.itinerary.legs.LegMatrix.day_seconds`).
    """

    stops: tuple[int, ...]
    arrival_s: tuple[int, ...]
    start_s: tuple[int, ...]
    end_s: tuple[int, ...]
    depart_s: int
    return_s: int
    day_end_s: int
    lunch_start_s: int | None
    lunch_end_s: int | None
    lunch_gap: int | None
    lunch_at: int | None
    leg_s: tuple[float, ...]
    driving_s: float
    violations: tuple[str, ...] = ()
    overrun_s: float = 0.0
    solver: str = "fixed"
    depot: int = 0

    @property
    def feasible(self) -> bool:
        """Whether every rule holds."""
        return not self.violations


def round_up(seconds: float, step_s: int) -> int:
    """Round a travel time up to the timetable step (a tiny tolerance for float noise)."""
    if step_s <= 1:
        return int(math.ceil(seconds - 1e-6))
    return int(math.ceil((seconds - 1e-6) / step_s)) * step_s


def _check_matrix(seconds: np.ndarray, order: Sequence[int]) -> None:
    n = seconds.shape[0] - 1
    for s in order:
        if not 0 <= s < n:
            raise QueryError(f"l'arrêt numéro {int(s)} est hors limites (0..{n - 1})")
    if len(set(order)) != len(order):
        raise QueryError(f"un arrêt figure deux fois dans l'ordre {[int(s) for s in order]}")


def schedule_order(order: Sequence[int], seconds: np.ndarray, rules: DayRules) -> DayTour:
    """Time a given order of stops under the day rules (the best place for lunch).

    Parameters
    ----------
    order
        Stop numbers (matrix location ``stop + 1``).
    seconds
        Duration matrix in seconds, location 0 = depot.
    rules
        The day rules.

    Returns
    -------
    DayTour
        The feasible timetable ending earliest; when none is feasible, the one
        breaking the rules by the fewest seconds, with its ``violations``.
    """
    order = tuple(int(s) for s in order)
    _check_matrix(seconds, order)
    locs = [0, *[s + 1 for s in order], 0]
    legs = [float(seconds[locs[i], locs[i + 1]]) for i in range(len(locs) - 1)]
    if not all(math.isfinite(v) for v in legs):
        bad = next(i for i, v in enumerate(legs) if not math.isfinite(v))
        return _unreachable(order, legs, bad)
    rounded = [round_up(v, rules.step_s) for v in legs]
    gaps: list[int | None] = list(range(len(order) + 1)) if rules.lunch_s > 0 else [None]
    best: DayTour | None = None
    for gap in gaps:
        tour = _timetable(order, legs, rounded, rules, gap)
        if best is None or _better(tour, best):
            best = tour
    assert best is not None
    return best


def _better(a: DayTour, b: DayTour) -> bool:
    if a.feasible != b.feasible:
        return a.feasible
    if not a.feasible and a.overrun_s != b.overrun_s:
        return a.overrun_s < b.overrun_s
    return a.day_end_s < b.day_end_s


def _unreachable(order: tuple[int, ...], legs: list[float], bad: int) -> DayTour:
    n = len(order)
    where = (
        "depuis le dépôt" if bad == 0 else "retour au dépôt" if bad == n else f"après l'arrêt {bad}"
    )
    return DayTour(
        stops=order,
        arrival_s=(0,) * n,
        start_s=(0,) * n,
        end_s=(0,) * n,
        depart_s=0,
        return_s=0,
        day_end_s=0,
        lunch_start_s=None,
        lunch_end_s=None,
        lunch_gap=None,
        lunch_at=None,
        leg_s=tuple(legs),
        driving_s=math.inf,
        violations=(f"le trajet {bad} ({where}) n'a pas de route",),
        overrun_s=math.inf,
    )


def _timetable(
    order: tuple[int, ...],
    legs: list[float],
    rounded: list[int],
    rules: DayRules,
    gap: int | None,
) -> DayTour:
    n = len(order)
    latest = rules.lunch_latest_start_s
    t = rules.start_s
    arrival, start, end = [], [], []
    lunch_start = lunch_end = None
    lunch_at: int | None = None
    late_lunch = 0
    return_s = day_end = t
    for i in range(n + 1):
        here = -1 if i == 0 else order[i - 1]
        there = -1 if i == n else order[i]
        if gap == i:
            # on arrival (waiting for the window if early), or before leaving when that is late
            on_arrival = max(t + rounded[i], rules.lunch_from_s)
            before = max(t, rules.lunch_from_s)
            if on_arrival <= latest or before > latest:
                lunch_start, lunch_at = on_arrival, there
                arrive = t + rounded[i]
                ready = on_arrival + rules.lunch_s
            else:
                lunch_start, lunch_at = before, here
                arrive = before + rules.lunch_s + rounded[i]
                ready = arrive
            late_lunch = max(0, lunch_start - latest)
            lunch_end = lunch_start + rules.lunch_s
        else:
            arrive = t + rounded[i]
            ready = arrive
        if i < n:
            arrival.append(arrive)
            start.append(ready)
            end.append(ready + rules.permanence_s)
            t = ready + rules.permanence_s
        else:
            return_s = arrive
            day_end = max(arrive, ready)
    driving = float(sum(legs))
    violations = []
    overrun = 0.0
    if late_lunch:
        violations.append(f"le déjeuner commence {late_lunch // 60} min après l'heure limite")
        overrun += late_lunch
    if day_end > rules.end_s:
        violations.append(
            f"la journée finit {math.ceil((day_end - rules.end_s) / 60)} min trop tard"
        )
        overrun += day_end - rules.end_s
    if driving > rules.max_driving_s + 1e-6:
        violations.append(
            f"la conduite de {driving / 60:.0f} min dépasse la limite de "
            f"{rules.max_driving_s / 60:.0f} min"
        )
        overrun += driving - rules.max_driving_s
    return DayTour(
        stops=order,
        arrival_s=tuple(arrival),
        start_s=tuple(start),
        end_s=tuple(end),
        depart_s=rules.start_s,
        return_s=return_s,
        day_end_s=day_end,
        lunch_start_s=lunch_start,
        lunch_end_s=lunch_end,
        lunch_gap=gap,
        lunch_at=lunch_at,
        leg_s=tuple(legs),
        driving_s=driving,
        violations=tuple(violations),
        overrun_s=overrun,
    )


def _rank(tour: DayTour) -> tuple[float, float, float, int]:
    if tour.feasible:
        return (0.0, tour.driving_s, float(tour.day_end_s), 0)
    return (1.0, tour.overrun_s, tour.driving_s, tour.day_end_s)


def solve_exact(stops: Sequence[int], seconds: np.ndarray, rules: DayRules) -> DayTour:
    """Best order by enumerating all of them (at most :data:`MAX_EXACT_STOPS` stops).

    Returns
    -------
    DayTour
        The feasible order with the least driving (ties: earliest end, then the
        first order in lexicographic order); when none is feasible, the order
        breaking the rules least, with its violations.

    Raises
    ------
    QueryError
        More than :data:`MAX_EXACT_STOPS` stops, or no stop.
    """
    stops = tuple(sorted(int(s) for s in stops))
    if not stops:
        raise QueryError("une journée demande au moins un arrêt")
    if len(stops) > MAX_EXACT_STOPS:
        raise QueryError(
            f"l'énumération exacte est limitée à {MAX_EXACT_STOPS} arrêts par jour, reçu "
            f"{len(stops)} ; "
            "utilisez le solveur vroom"
        )
    best: DayTour | None = None
    for order in itertools.permutations(stops):
        tour = schedule_order(order, seconds, rules)
        if best is None or _rank(tour) < _rank(best):
            best = tour
    assert best is not None
    return _with_solver(best, "exact")


def _with_solver(tour: DayTour, solver: str) -> DayTour:
    return dataclasses.replace(tour, solver=solver)


def vroom_order(
    stops: Sequence[int], seconds: np.ndarray, rules: DayRules
) -> tuple[int, ...] | None:
    """The order VROOM chooses for a day's stops, or None when it leaves a stop out.

    VROOM gets the rounded travel times as durations (so its timetable is as
    strict as ours), the real ones as costs (so it minimises real driving), the
    working hours, the lunch break and ``max_travel_time``.
    """
    import vroom

    stops = [int(s) for s in stops]
    locs = [0, *[s + 1 for s in stops]]
    sub = seconds[np.ix_(locs, locs)]
    if not np.all(np.isfinite(sub)):
        return None
    durations = np.vectorize(lambda v: round_up(float(v), rules.step_s))(sub).astype(np.int64)
    costs = np.ceil(sub - 1e-6).astype(np.int64)
    problem = vroom.Input()
    problem.set_durations_matrix("car", durations)
    problem.set_costs_matrix("car", costs)
    breaks = []
    if rules.lunch_s > 0:
        breaks.append(
            vroom.Break(
                1,
                time_windows=[vroom.TimeWindow(rules.lunch_from_s, rules.lunch_latest_start_s)],
                service=rules.lunch_s,
            )
        )
    slack = rules.step_s * (len(stops) + 1)
    problem.add_vehicle(
        vroom.Vehicle(
            1,
            start=0,
            end=0,
            time_window=vroom.TimeWindow(rules.start_s, rules.end_s),
            breaks=breaks,
            max_travel_time=int(rules.max_driving_s + slack),
        )
    )
    problem.add_job(
        [
            vroom.Job(i + 1, location=i + 1, default_service=rules.permanence_s)
            for i in range(len(stops))
        ]
    )
    solution = problem.solve(exploration_level=VROOM_EXPLORATION, nb_threads=1)
    if len(solution.unassigned):
        return None
    routes = solution.routes
    jobs = routes[routes["type"] == "job"]["id"].astype(int).tolist()
    if sorted(jobs) != list(range(1, len(stops) + 1)):
        return None
    return tuple(stops[j - 1] for j in jobs)


def solve_vroom(stops: Sequence[int], seconds: np.ndarray, rules: DayRules) -> DayTour:
    """Best order found by VROOM, timed by :func:`schedule_order`.

    When VROOM leaves a stop out, or its order breaks our rules (rounding
    edge cases), the exact enumeration decides (up to 8 stops).

    Returns
    -------
    DayTour
        ``solver`` says which one produced the order.
    """
    stops = tuple(sorted(int(s) for s in stops))
    if not stops:
        raise QueryError("une journée demande au moins un arrêt")
    order = vroom_order(stops, seconds, rules)
    if order is not None:
        tour = schedule_order(order, seconds, rules)
        if tour.feasible:
            return _with_solver(tour, "vroom")
    if len(stops) <= MAX_EXACT_STOPS:
        return solve_exact(stops, seconds, rules)
    if order is not None:
        return _with_solver(schedule_order(order, seconds, rules), "vroom")
    return _with_solver(schedule_order(_nearest_neighbour(stops, seconds), seconds, rules), "nn")


def _nearest_neighbour(stops: Sequence[int], seconds: np.ndarray) -> tuple[int, ...]:
    left = list(stops)
    here, out = 0, []
    while left:
        nxt = min(left, key=lambda s: (seconds[here, s + 1], s))
        out.append(nxt)
        left.remove(nxt)
        here = nxt + 1
    return tuple(out)


def solve_day(
    stops: Sequence[int], seconds: np.ndarray, rules: DayRules, *, solver: str = "vroom"
) -> DayTour:
    """Order and time a day's stops with the chosen solver (``vroom`` or ``exact``)."""
    if solver == "exact":
        return solve_exact(stops, seconds, rules)
    if solver == "vroom":
        return solve_vroom(stops, seconds, rules)
    raise QueryError(f"solver doit valoir vroom ou exact, reçu {solver!r}")


def solve_day_depots(
    stops: Sequence[int],
    matrices: Sequence[np.ndarray],
    rules: DayRules,
    *,
    solver: str = "vroom",
) -> DayTour:
    """The best tour of a day's stops over several depots (the rule of the plan).

    Each depot's tour is solved on its matrix (location 0 = that depot); the
    day starts and ends at the depot whose feasible tour drives least (ties:
    the lowest depot number, i.e. the first listed). When no depot gives a
    feasible tour, the one breaking the rules least is returned.
    """
    best: DayTour | None = None
    for d, m in enumerate(matrices):
        tour = dataclasses.replace(solve_day(stops, m, rules, solver=solver), depot=d)
        if best is None or _rank(tour) < _rank(best):
            best = tour
    if best is None:
        raise QueryError("aucun dépôt donné")
    return best


def single_stop_check(seconds: np.ndarray, rules: DayRules) -> list[DayTour]:
    """The tour of each stop alone (depot -> stop -> depot): which stops fit in a day at all."""
    n = seconds.shape[0] - 1
    return [schedule_order((s,), seconds, rules) for s in range(n)]
