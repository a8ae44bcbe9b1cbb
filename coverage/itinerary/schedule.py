"""Which stops go together on a day, and on which dates: the periodic part of the plan.

Two stages, each with its own objective:

1. **Day groups** (:func:`group_days`): the visits are packed into ``n_days``
   days of at most ``per_day`` stops. Candidate groups are sets of stops whose
   tour fits in a day (:mod:`coverage.itinerary.tours`: working hours, lunch,
   driving limit), each costing its tour's driving time. A MIP (HiGHS) chooses
   how many days each group gets::

       min  Σ_g cost_g x_g + λ Σ_g y_g
       s.t. Σ_g x_g = n_days
            Σ_{g ∋ s} x_g = visits_s           for every stop s
            x_g <= ub_g y_g,  x_g ∈ ℕ,  y_g ∈ {0, 1}

   ``λ`` (:data:`GROUP_PENALTY_S`, one hour) prefers few distinct groups, so
   a stop keeps the same companions and its visits come back regularly. When
   no dates meet the spacing rules with those groups (a tight window must hold
   one visit of every stop: a triangle of pairs cannot), the planner groups
   again with :data:`FEWEST_GROUPS_PENALTY_S`: fewest distinct groups first. All
   sets of up to three stops are candidates; for four or more stops a day,
   sets drawn from each stop's nearest neighbours.
2. **Dates** (:func:`assign_dates`): the group-days are laid on the service
   dates. A smooth weighted round robin gives each group evenly spaced days;
   then a local search swaps the groups of two dates while that lowers, for
   every stop, ``10⁴ × (days of spacing violation) + Σ (gap − ideal gap)² /
   ideal gap`` (ideal gap = period length / visits; waits at the ends of the
   period count only beyond one ideal gap). The search is seeded and
   deterministic; it stops after a pass without improvement or at its time
   limit. When spacing violations remain (long closures make a plain rotation
   too regular), a MIP (:func:`repair_dates`) finds the assignment that meets
   every spacing rule while changing the fewest dates (or proves there is
   none), and the search polishes it again (with a few random kicks while
   violations remain).

:func:`naive_schedule` is the baseline the benchmark compares against: stops
in INSEE-code order, cut into consecutive groups, repeated as a fixed round.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import scipy.sparse

from coverage._french import plural
from coverage._highs import solve_mip
from coverage.itinerary.mip_log import record
from coverage.itinerary.settings import InfeasiblePlanError

GROUP_PENALTY_S = 3600.0
"""Cost of each distinct day group in the grouping MIP (seconds of driving)."""
FEWEST_GROUPS_PENALTY_S = 1e6
"""Cost of a distinct group when the dates failed: more than any year's driving gained."""
HARD_WEIGHT = 1e4
"""Weight of a day of spacing violation against the regularity term."""
ALL_COMBINATIONS_UP_TO = 3
NEIGHBOURS_EXTRA = 4


@dataclass(frozen=True)
class DayGroups:
    """The day groups chosen for the period.

    Attributes
    ----------
    groups
        Distinct groups (sorted tuples of stop numbers).
    counts
        Days given to each group.
    cost_s
        Driving time of one day of each group.
    candidates
        Number of candidate groups the MIP chose from.
    status
        HiGHS status (``Optimal`` or the reason it stopped).
    """

    groups: list[tuple[int, ...]]
    counts: list[int]
    cost_s: list[float]
    candidates: int
    status: str

    @property
    def driving_s(self) -> float:
        """Driving time of all the days."""
        return float(sum(c * k for c, k in zip(self.cost_s, self.counts, strict=True)))


def candidate_groups(
    n_stops: int, per_day: int, seconds: np.ndarray | None = None
) -> list[tuple[int, ...]]:
    """Sets of 1..``per_day`` stops that may share a day (before the tour check).

    All sets of up to :data:`ALL_COMBINATIONS_UP_TO` stops; larger sets are
    drawn from each stop's ``per_day + 4`` nearest stops (by the matrix
    ``seconds``, depot at 0), which keeps their number linear in the stops.
    """
    out: set[tuple[int, ...]] = set()
    stops = range(n_stops)
    for size in range(1, min(per_day, ALL_COMBINATIONS_UP_TO) + 1):
        out.update(itertools.combinations(stops, size))
    if per_day > ALL_COMBINATIONS_UP_TO:
        if seconds is None:
            raise ValueError("les groupes plus grands demandent la matrice des durées")
        sym = np.nan_to_num(seconds[1:, 1:] + seconds[1:, 1:].T, nan=np.inf)
        for s in stops:
            near = [int(t) for t in np.argsort(sym[s]) if t != s][: per_day + NEIGHBOURS_EXTRA]
            for size in range(ALL_COMBINATIONS_UP_TO + 1, per_day + 1):
                for rest in itertools.combinations(near, size - 1):
                    out.add(tuple(sorted((s, *rest))))
    return sorted(out, key=lambda g: (len(g), g))


def group_days(
    visits: Sequence[int],
    n_days: int,
    per_day: int,
    tour_cost: Callable[[tuple[int, ...]], float | None],
    *,
    seconds: np.ndarray | None = None,
    labels: Sequence[str] | None = None,
    time_limit_s: float = 20.0,
    log: list[dict] | None = None,
    group_penalty_s: float = GROUP_PENALTY_S,
) -> DayGroups:
    """Pack the visits into day groups of feasible tours, at least driving (MIP).

    Parameters
    ----------
    visits
        Visits of each stop over the period.
    n_days
        Service days.
    per_day
        Most stops a day.
    tour_cost
        Driving seconds of a group's best feasible tour, or None when none fits in a day.
    seconds
        Duration matrix (depot at 0), needed for more than three stops a day.
    labels
        Stop names for error messages.
    time_limit_s
        HiGHS time limit.
    log
        HiGHS runs are recorded there (:mod:`coverage.itinerary.mip_log`).
    group_penalty_s
        Cost of each distinct group (``λ``).

    Raises
    ------
    InfeasiblePlanError
        More visits than permanences, fewer visits than days, a stop visited
        more often than there are days, or no packing of feasible tours.
    """
    v = np.asarray(visits, dtype=np.int64)
    names = list(labels) if labels is not None else [f"stop {i}" for i in range(v.size)]
    total = int(v.sum())
    if total > n_days * per_day:
        raise InfeasiblePlanError(
            f"{plural(total, 'visite demandée', 'visites demandées')} mais "
            f"{plural(n_days, 'jour')} × {plural(per_day, 'permanence')} n'en donnent que "
            f"{n_days * per_day} : demandez moins de visites ou d'arrêts, ou plus de jours"
        )
    if total < n_days:
        raise InfeasiblePlanError(
            f"{plural(total, 'visite')} ne peuvent remplir "
            f"{plural(n_days, 'jour de service', 'jours de service')} (au moins une visite par "
            "jour) : demandez moins de jours ou plus de visites"
        )
    over = np.flatnonzero(v > n_days)
    if over.size:
        i = int(over[0])
        raise InfeasiblePlanError(
            f"{names[i]} demanderait {plural(int(v[i]), 'visite')} mais il n'y a que "
            f"{plural(n_days, 'jour de service', 'jours de service')} (une visite par jour au plus)"
        )
    groups, costs = [], []
    for group in candidate_groups(v.size, per_day, seconds):
        if any(v[s] == 0 for s in group):
            continue
        cost = tour_cost(group)
        if cost is None:
            continue
        groups.append(group)
        costs.append(float(cost))
    uncovered = [s for s in range(v.size) if v[s] > 0 and not any(s in g for g in groups)]
    if uncovered:
        raise InfeasiblePlanError(
            f"{names[uncovered[0]]} ne peut être visité dans la journée depuis le dépôt "
            "(horaires de travail, déjeuner, limite de conduite)"
        )
    if total == n_days * per_day and per_day > 1:
        # every day must be full: each stop needs a feasible group of per_day stops
        lonely = [
            s
            for s in range(v.size)
            if v[s] > 0 and not any(s in g and len(g) == per_day for g in groups)
        ]
        if lonely:
            raise InfeasiblePlanError(
                f"{', '.join(names[s] for s in lonely)} ne peuvent partager une journée de "
                f"{plural(per_day, 'permanence')} avec d'autres arrêts dans les règles (horaires "
                "de travail, déjeuner, limite de conduite) : trop loin du dépôt ou des autres "
                "arrêts ; choisissez d'autres arrêts, moins de permanences par jour, des "
                "permanences plus courtes ou plus de conduite"
            )
    n_g = len(groups)
    ub = np.array([min(int(v[s]) for s in g) for g in groups], dtype=np.float64)
    # columns: x_g (n_g) then y_g (n_g); rows: days, one per stop, x_g - ub_g y_g <= 0
    rows, cols, vals = [], [], []
    for k, g in enumerate(groups):
        rows.append(0)
        cols.append(k)
        vals.append(1.0)
        for s in g:
            rows.append(1 + s)
            cols.append(k)
            vals.append(1.0)
        rows += [1 + v.size + k, 1 + v.size + k]
        cols += [k, n_g + k]
        vals += [1.0, -ub[k]]
    n_rows = 1 + v.size + n_g
    a = scipy.sparse.coo_matrix((vals, (rows, cols)), shape=(n_rows, 2 * n_g))
    lower = np.concatenate([[n_days], v.astype(np.float64), np.full(n_g, -np.inf)])
    upper = np.concatenate([[n_days], v.astype(np.float64), np.zeros(n_g)])
    result = solve_mip(
        np.concatenate([np.asarray(costs), np.full(n_g, float(group_penalty_s))]),
        a,
        lower,
        upper,
        np.zeros(2 * n_g),
        np.concatenate([ub, np.ones(n_g)]),
        integer=np.ones(2 * n_g, dtype=bool),
        time_limit_s=time_limit_s,
        mip_gap=1e-4,
    )
    record(log, "day groups", result, time_limit_s=time_limit_s, mip_gap=1e-4)
    if not result.has_solution:
        raise InfeasiblePlanError(
            f"les {plural(total, 'visite')} ne peuvent être réparties en "
            f"{plural(n_days, 'jour')} d'au plus {plural(per_day, 'arrêt')} "
            "dont les tournées tiennent dans la journée (horaires de travail, déjeuner, limite "
            "de conduite) ; autorisez plus de conduite, des permanences plus courtes ou "
            f"choisissez des arrêts plus proches (solveur : {result.status})"
        )
    x = np.rint(result.solution[:n_g]).astype(np.int64)
    used = np.flatnonzero(x > 0)
    return DayGroups(
        groups=[groups[k] for k in used],
        counts=[int(x[k]) for k in used],
        cost_s=[costs[k] for k in used],
        candidates=n_g,
        status=result.status,
    )


def most_visits(
    visits: Sequence[int],
    lower: Sequence[int],
    n_days: int,
    per_day: int,
    tour_cost: Callable[[tuple[int, ...]], float | None],
    *,
    seconds: np.ndarray | None = None,
    time_limit_s: float = 20.0,
    log: list[dict] | None = None,
) -> np.ndarray | None:
    """The most visits that fit in feasible day groups, each stop between its bounds (MIP).

    One solve instead of trying one visit fewer at a time: with the candidate
    groups of :func:`group_days`, ``max Σ_g |g| x_g`` s.t. ``Σ_g x_g = n_days``
    and ``lower_s <= Σ_{g ∋ s} x_g <= visits_s`` (ties: least driving).

    Returns
    -------
    numpy.ndarray or None
        Visits of each stop in such a packing, or None when even the lower
        bounds do not fit (or HiGHS finds nothing in time).
    """
    v = np.asarray(visits, dtype=np.int64)
    lo = np.minimum(np.asarray(lower, dtype=np.int64), v)
    groups, costs = [], []
    for group in candidate_groups(v.size, per_day, seconds):
        if any(v[s] == 0 for s in group):
            continue
        cost = tour_cost(group)
        if cost is not None:
            groups.append(group)
            costs.append(float(cost))
    if not groups:
        return None
    n_g = len(groups)
    rows, cols = [], []
    for k, g in enumerate(groups):
        rows.append(0)
        cols.append(k)
        for s in g:
            rows.append(1 + s)
            cols.append(k)
    a = scipy.sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(1 + v.size, n_g))
    # a visit is worth more than any day's driving (at most a day of 86 400 s)
    objective = np.array([-len(g) * 1e5 + c for g, c in zip(groups, costs, strict=True)])
    result = solve_mip(
        objective,
        a,
        np.concatenate([[n_days], lo.astype(np.float64)]),
        np.concatenate([[n_days], v.astype(np.float64)]),
        np.zeros(n_g),
        np.array([min(int(v[s]) for s in g) for g in groups], dtype=np.float64),
        integer=np.ones(n_g, dtype=bool),
        time_limit_s=time_limit_s,
        mip_gap=1e-4,
    )
    record(log, "most visits that fit", result, time_limit_s=time_limit_s, mip_gap=1e-4)
    if not result.has_solution:
        return None
    x = np.rint(result.solution).astype(np.int64)
    out = np.zeros(v.size, dtype=np.int64)
    for k, g in enumerate(groups):
        for s in g:
            out[s] += x[k]
    return out


# --- dates ------------------------------------------------------------------------------------


@dataclass
class _Spacing:
    """Incremental cost of every stop's visit days."""

    days: list[list[int]]
    span: int
    min_gap: int
    max_wait: int
    ideal: list[float]
    costs: list[float] = field(default_factory=list)

    def cost(self, stop: int, visits: list[int]) -> float:
        if not visits:
            return 0.0
        ideal = self.ideal[stop]
        hard = 0.0
        soft = 0.0
        waits = (visits[0], self.span - visits[-1])
        for w in waits:
            hard += max(0, w - self.max_wait)
            soft += max(0.0, w - ideal) ** 2 / ideal
        for a, b in itertools.pairwise(visits):
            gap = b - a
            hard += max(0, self.min_gap - gap) + max(0, gap - self.max_wait)
            soft += (gap - ideal) ** 2 / ideal
        return HARD_WEIGHT * hard + soft

    def violation_days(self, stop: int) -> float:
        return self.cost(stop, self.days[stop]) // HARD_WEIGHT


def _smooth_round_robin(counts: Sequence[int]) -> list[int]:
    """Nginx's smooth weighted round robin: each group's days evenly spread, deterministic."""
    total = sum(counts)
    current = [0] * len(counts)
    out = []
    for _ in range(total):
        for k, c in enumerate(counts):
            current[k] += c
        best = max(range(len(counts)), key=lambda k: (current[k], -k))
        current[best] -= total
        out.append(best)
    return out


def assign_dates(
    groups: Sequence[tuple[int, ...]],
    counts: Sequence[int],
    dates: Sequence[date],
    period: tuple[date, date],
    n_stops: int,
    *,
    min_spacing_days: int,
    max_spacing_days: int,
    seed: int = 0,
    time_limit_s: float = 20.0,
    initial: Sequence[int] | None = None,
    repair: bool = True,
    log: list[dict] | None = None,
) -> tuple[list[int], dict[str, float]]:
    """Lay the group-days on the dates, spacing each stop's visits evenly.

    Parameters
    ----------
    groups, counts
        Day groups and their number of days (``sum(counts) == len(dates)``).
    dates
        Service dates, sorted.
    period
        First and last day of the period.
    n_stops
        Number of stops.
    min_spacing_days, max_spacing_days
        Spacing rules (see :class:`~coverage.itinerary.settings.ItinerarySettings`).
    seed
        Seed of the random order of the local search.
    time_limit_s
        Time limit of the local search.
    initial
        A starting sequence (group per date) instead of the round robin.
    repair
        When violations remain, repair them with :func:`repair_dates` (a MIP)
        and search again from the repaired sequence.

    Returns
    -------
    tuple
        Group index per date, and search statistics (``cost``, ``violation_days``,
        ``passes``, ``swaps``, ``seconds``).
    """
    if sum(counts) != len(dates):
        raise ValueError("les jours des groupes et les dates diffèrent en nombre")
    start = time.perf_counter()
    rng = random.Random(seed)
    day = [(d - period[0]).days for d in dates]
    seq = list(initial) if initial is not None else _smooth_round_robin(counts)
    members = [set(g) for g in groups]
    visits_of = [0] * n_stops
    for g, c in zip(groups, counts, strict=True):
        for s in g:
            visits_of[s] += c
    span = (period[1] - period[0]).days
    state = _Spacing(
        days=[[] for _ in range(n_stops)],
        span=span,
        min_gap=min_spacing_days,
        max_wait=max_spacing_days,
        ideal=[span / v if v else 1.0 for v in visits_of],
    )
    for i, g in enumerate(seq):
        for s in groups[g]:
            state.days[s].append(day[i])
    for s in range(n_stops):
        state.days[s].sort()
    state.costs = [state.cost(s, state.days[s]) for s in range(n_stops)]

    def moved(visits: list[int], old: int, new: int) -> list[int]:
        out = list(visits)
        out.pop(bisect.bisect_left(out, old))
        bisect.insort(out, new)
        return out

    def swap_delta(i: int, j: int) -> tuple[float, list[tuple[int, list[int], float]]]:
        gi, gj = seq[i], seq[j]
        changes = []
        delta = 0.0
        for s in members[gi] - members[gj]:
            new = moved(state.days[s], day[i], day[j])
            c = state.cost(s, new)
            delta += c - state.costs[s]
            changes.append((s, new, c))
        for s in members[gj] - members[gi]:
            new = moved(state.days[s], day[j], day[i])
            c = state.cost(s, new)
            delta += c - state.costs[s]
            changes.append((s, new, c))
        return delta, changes

    def apply(i: int, j: int, changes: list[tuple[int, list[int], float]]) -> None:
        seq[i], seq[j] = seq[j], seq[i]
        for s, new, c in changes:
            state.days[s] = new
            state.costs[s] = c

    n = len(seq)
    passes = swaps = kicks = 0
    best_cost = sum(state.costs)
    best_seq = list(seq)
    deadline = start + time_limit_s
    while time.perf_counter() < deadline:
        improved = False
        order = list(range(n))
        rng.shuffle(order)
        for i in order:
            for j in range(n):
                if seq[i] == seq[j]:
                    continue
                delta, changes = swap_delta(i, j)
                if delta < -1e-9:
                    apply(i, j, changes)
                    swaps += 1
                    improved = True
            if time.perf_counter() > deadline:
                break
        passes += 1
        total = sum(state.costs)
        if total < best_cost - 1e-9:
            best_cost, best_seq = total, list(seq)
        if improved:
            continue
        if total < HARD_WEIGHT or kicks >= 20 or repair:
            break  # with repair on, violations go straight to the exact repair MIP (no kicks)
        # violations remain: kick (random swaps among the violating stops' days) and go on
        kicks += 1
        bad_days = [
            i for i in range(n) if any(state.costs[s] >= HARD_WEIGHT for s in groups[seq[i]])
        ]
        for i in rng.sample(bad_days, min(len(bad_days), 3)):
            j = rng.randrange(n)
            if seq[i] != seq[j]:
                _, changes = swap_delta(i, j)
                apply(i, j, changes)
    if sum(state.costs) > best_cost + 1e-9:
        seq = best_seq
    final = _Spacing(
        days=[[] for _ in range(n_stops)],
        span=span,
        min_gap=min_spacing_days,
        max_wait=max_spacing_days,
        ideal=state.ideal,
    )
    for i, g in enumerate(seq):
        for s in groups[g]:
            final.days[s].append(day[i])
    costs = [final.cost(s, sorted(final.days[s])) for s in range(n_stops)]
    stats = {
        "cost": round(float(sum(costs)), 3),
        "violation_days": float(sum(c // HARD_WEIGHT for c in costs)),
        "passes": float(passes),
        "swaps": float(swaps),
        "kicks": float(kicks),
        "seconds": round(time.perf_counter() - start, 3),
        "repaired": 0.0,
    }
    if repair and stats["violation_days"] > 0:
        fixed = repair_dates(
            groups,
            counts,
            day,
            span,
            n_stops,
            seq,
            min_spacing_days=min_spacing_days,
            max_spacing_days=max_spacing_days,
            time_limit_s=time_limit_s,
            log=log,
        )
        if fixed is not None:
            seq, again = assign_dates(
                groups,
                counts,
                dates,
                period,
                n_stops,
                min_spacing_days=min_spacing_days,
                max_spacing_days=max_spacing_days,
                seed=seed,
                time_limit_s=time_limit_s,
                initial=fixed,
                repair=False,
            )
            changed = sum(a != b for a, b in zip(fixed, best_seq, strict=True))
            stats = {
                **again,
                "passes": stats["passes"] + again["passes"],
                "swaps": stats["swaps"] + again["swaps"],
                "seconds": round(time.perf_counter() - start, 3),
                "repaired": float(changed),
            }
    return seq, stats


def repair_dates(
    groups: Sequence[tuple[int, ...]],
    counts: Sequence[int],
    day: Sequence[int],
    span: int,
    n_stops: int,
    current: Sequence[int],
    *,
    min_spacing_days: int,
    max_spacing_days: int,
    time_limit_s: float = 20.0,
    log: list[dict] | None = None,
    optional_dates: bool = False,
) -> list[int] | None:
    """Find group-per-date assignment meeting every spacing rule, changing as few dates as possible.

    A MIP over binaries ``z[g, i]`` (group ``g`` on date ``i``): one group a
    date, each group on its number of dates, and for every stop: every
    ``max_spacing_days`` consecutive days of the period hold a visit (which is
    the same as no wait longer than that, ends of the period included) and every
    ``min_spacing_days`` consecutive days hold at most one. The objective counts
    the dates whose group differs from ``current``.

    With ``optional_dates`` a date may hold no group (``current`` then holds
    -1 for the dates unused so far): the MIP also chooses which dates serve.

    Returns
    -------
    list of int or None
        Group per date (-1: no service that date), or None when HiGHS finds no
        assignment in time.
    """
    n_g, n = len(groups), len(day)
    day_arr = np.asarray(day)

    def col(g: int, i: int) -> int:
        return g * n + i

    rows: list[int] = []
    cols: list[int] = []
    lower: list[float] = []
    upper: list[float] = []
    r = 0
    for i in range(n):  # one group per date (at most one with optional dates)
        for g in range(n_g):
            rows.append(r)
            cols.append(col(g, i))
        lower.append(0.0 if optional_dates else 1.0)
        upper.append(1.0)
        r += 1
    for g in range(n_g):  # each group its number of dates
        for i in range(n):
            rows.append(r)
            cols.append(col(g, i))
        lower.append(float(counts[g]))
        upper.append(float(counts[g]))
        r += 1
    windows: set[tuple[str, tuple[int, ...]]] = set()
    for t in range(max(span - max_spacing_days, 0)):  # days t+1 .. t+max hold a visit
        inside = np.flatnonzero((day_arr > t) & (day_arr <= t + max_spacing_days))
        windows.add(("cover", tuple(inside.tolist())))
    if min_spacing_days > 1:
        for i in range(n):  # days d_i .. d_i + min - 1 hold at most one visit
            inside = np.flatnonzero(
                (day_arr >= day_arr[i]) & (day_arr < day_arr[i] + min_spacing_days)
            )
            if inside.size > 1:
                windows.add(("pack", tuple(inside.tolist())))
    of_stop = [[g for g in range(n_g) if s in groups[g]] for s in range(n_stops)]
    for kind, inside in sorted(windows):
        for s in range(n_stops):
            if not of_stop[s]:
                continue
            for g in of_stop[s]:
                for i in inside:
                    rows.append(r)
                    cols.append(col(g, i))
            lower.append(1.0 if kind == "cover" else -np.inf)
            upper.append(np.inf if kind == "cover" else 1.0)
            r += 1
    a = scipy.sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(r, n_g * n))
    cost = np.ones(n_g * n)
    for i, g in enumerate(current):
        if g >= 0:
            cost[col(g, i)] = 0.0
    result = solve_mip(
        cost,
        a,
        np.asarray(lower),
        np.asarray(upper),
        np.zeros(n_g * n),
        np.ones(n_g * n),
        integer=np.ones(n_g * n, dtype=bool),
        time_limit_s=time_limit_s,
        mip_gap=1e-6,
    )
    record(log, "date repair", result, time_limit_s=time_limit_s, mip_gap=1e-6)
    if not result.has_solution:
        return None
    z = result.solution.reshape(n_g, n) > 0.5
    return [int(np.flatnonzero(z[:, i])[0]) if z[:, i].any() else -1 for i in range(n)]


def naive_schedule(
    codes: Sequence[str], n_days: int, per_day: int
) -> tuple[list[tuple[int, ...]], list[int]]:
    """The baseline: stops in code order, cut into groups of ``per_day``, in a fixed round.

    Parameters
    ----------
    codes
        INSEE codes of the stops (stop ``i`` has ``codes[i]``).
    n_days
        Service days.
    per_day
        Stops a day.

    Returns
    -------
    tuple
        The groups (stop numbers) and the group of every service day
        (``day k`` -> group ``k mod len(groups)``).
    """
    order = sorted(range(len(codes)), key=lambda i: str(codes[i]))
    groups = [tuple(sorted(order[k : k + per_day])) for k in range(0, len(order), per_day)]
    return groups, [k % len(groups) for k in range(n_days)]


def spacing_stats(visit_days: Sequence[int], span: int) -> dict[str, float]:
    """Gaps between consecutive visits and waits at the ends of the period (days)."""
    visits = sorted(visit_days)
    gaps = [b - a for a, b in itertools.pairwise(visits)]
    waits = [visits[0], span - visits[-1]] if visits else [span]
    return {
        "visits": float(len(visits)),
        "gap_mean": float(np.mean(gaps)) if gaps else math.nan,
        "gap_min": float(min(gaps)) if gaps else math.nan,
        "gap_max": float(max(gaps)) if gaps else math.nan,
        "wait_first": float(waits[0]),
        "wait_last": float(waits[-1]),
        "wait_max": float(max([*gaps, *waits])),
    }
