"""A fixed weekday per stop: the day groups and their dates when every stop keeps its weekday.

Residents expect "le mardi, toutes les six semaines", not a different weekday
at each visit. :func:`group_days_by_weekday` extends the grouping MIP of
:func:`coverage.itinerary.schedule.group_days` with the weekday::

    min  Σ_g cost_g Σ_w x_gw + λ Σ_g y_g
    s.t. Σ_g x_gw = D_w                      for every weekday w (its service dates)
         Σ_{g ∋ s} Σ_w x_gw = visits_s       for every stop s
         x_gw <= ub_g z_sw                   for every group g, stop s of g, weekday w
         Σ_w z_sw = 1                        for every stop s (one weekday)
         Σ_w x_gw <= ub_g y_g
         x ∈ ℕ, y, z ∈ {0, 1}

so every stop is visited on one weekday only, and every weekday gets exactly
its number of service dates (balanced by
:func:`coverage.itinerary.calendar.balanced_service_days`). The dates are then
laid weekday by weekday with :func:`coverage.itinerary.schedule.assign_dates`
(a stop's visits all fall on its weekday, so the weekdays are independent).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import scipy.sparse

from coverage._highs import solve_mip
from coverage.itinerary.mip_log import record
from coverage.itinerary.schedule import GROUP_PENALTY_S, assign_dates, candidate_groups
from coverage.itinerary.settings import InfeasiblePlanError

MIP_GAP = 1e-4


@dataclass(frozen=True)
class WeekdayGroups:
    """Day groups with their days per weekday.

    Attributes
    ----------
    groups
        Distinct groups (sorted tuples of stop numbers).
    counts
        Days given to each group (all weekdays).
    per_weekday
        ``{weekday: days}`` of each group.
    cost_s
        Driving time of one day of each group.
    stop_weekday
        The weekday of every stop (0 = Monday).
    candidates, status
        Candidate groups and the HiGHS status.
    """

    groups: list[tuple[int, ...]]
    counts: list[int]
    per_weekday: list[dict[int, int]]
    cost_s: list[float]
    stop_weekday: list[int]
    candidates: int
    status: str

    @property
    def driving_s(self) -> float:
        """Driving time of all the days."""
        return float(sum(c * k for c, k in zip(self.cost_s, self.counts, strict=True)))

    def assign(
        self,
        dates: Sequence[date],
        period: tuple[date, date],
        n_stops: int,
        *,
        min_spacing_days: int,
        max_spacing_days: int,
        seed: int = 0,
        time_limit_s: float = 20.0,
        log: list[dict[str, Any]] | None = None,
    ) -> tuple[list[int], dict[str, float]]:
        """Group index per date, weekday by weekday (see the module docstring)."""
        sequence = [-1] * len(dates)
        stats: dict[str, float] = {"cost": 0.0, "violation_days": 0.0, "seconds": 0.0}
        for w in sorted({d.weekday() for d in dates}):
            where = [i for i, d in enumerate(dates) if d.weekday() == w]
            used = [k for k, per in enumerate(self.per_weekday) if per.get(w, 0) > 0]
            if not where:
                continue
            seq, st = assign_dates(
                [self.groups[k] for k in used],
                [self.per_weekday[k][w] for k in used],
                [dates[i] for i in where],
                period,
                n_stops,
                min_spacing_days=min_spacing_days,
                max_spacing_days=max_spacing_days,
                seed=seed,
                time_limit_s=time_limit_s / 5,
                log=log,
            )
            for i, k in zip(where, seq, strict=True):
                sequence[i] = used[k]
            for key in ("cost", "violation_days", "seconds"):
                stats[key] += float(st.get(key, 0.0))
        stats["method"] = "per weekday"  # type: ignore[assignment]
        return sequence, stats


def group_days_by_weekday(
    visits: Sequence[int],
    dates: Sequence[date],
    per_day: int,
    tour_cost: Callable[[tuple[int, ...]], float | None],
    *,
    seconds: np.ndarray | None = None,
    labels: Sequence[str] | None = None,
    time_limit_s: float = 20.0,
    log: list[dict[str, Any]] | None = None,
) -> WeekdayGroups:
    """Pack the visits into day groups, each stop on one weekday (MIP, module docstring).

    Raises
    ------
    InfeasiblePlanError
        A stop without a feasible day, or no packing that keeps one weekday per
        stop (too few dates on a weekday for a stop's visits...).
    """
    v = np.asarray(visits, dtype=np.int64)
    names = list(labels) if labels is not None else [f"arrêt {i}" for i in range(v.size)]
    weekdays = sorted({d.weekday() for d in dates})
    days_of = {w: sum(1 for d in dates if d.weekday() == w) for w in weekdays}
    n_w = len(weekdays)
    groups, costs = [], []
    for group in candidate_groups(v.size, per_day, seconds):
        if any(v[s] == 0 for s in group):
            continue
        cost = tour_cost(group)
        if cost is not None:
            groups.append(group)
            costs.append(float(cost))
    for s in range(v.size):
        if v[s] > 0 and not any(s in g for g in groups):
            raise InfeasiblePlanError(f"{names[s]} : aucune journée possible dans les règles")
    n_g, n_s = len(groups), v.size
    ub = np.array([min(int(v[s]) for s in g) for g in groups], dtype=np.float64)
    # columns: x[g, w] (n_g * n_w), y[g] (n_g), z[s, w] (n_s * n_w)
    x0, y0, z0 = 0, n_g * n_w, n_g * n_w + n_g
    n_col = z0 + n_s * n_w

    def xc(g: int, k: int) -> int:
        return x0 + g * n_w + k

    def zc(s: int, k: int) -> int:
        return z0 + s * n_w + k

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    lo: list[float] = []
    hi: list[float] = []

    def row(entries: list[tuple[int, float]], low: float, high: float) -> None:
        r = len(lo)
        for c, a in entries:
            rows.append(r)
            cols.append(c)
            vals.append(a)
        lo.append(low)
        hi.append(high)

    for k, w in enumerate(weekdays):
        row([(xc(g, k), 1.0) for g in range(n_g)], days_of[w], days_of[w])
    for s in range(n_s):
        mine = [g for g in range(n_g) if s in groups[g]]
        row([(xc(g, k), 1.0) for g in mine for k in range(n_w)], float(v[s]), float(v[s]))
        row([(zc(s, k), 1.0) for k in range(n_w)], 1.0, 1.0)
    for g in range(n_g):
        for s in groups[g]:
            for k in range(n_w):
                row([(xc(g, k), 1.0), (zc(s, k), -ub[g])], -np.inf, 0.0)
        row([*[(xc(g, k), 1.0) for k in range(n_w)], (y0 + g, -ub[g])], -np.inf, 0.0)
    a = scipy.sparse.coo_matrix((vals, (rows, cols)), shape=(len(lo), n_col))
    cost = np.concatenate(
        [np.repeat(np.asarray(costs), n_w), np.full(n_g, GROUP_PENALTY_S), np.zeros(n_s * n_w)]
    )
    upper = np.concatenate([np.repeat(ub, n_w), np.ones(n_g), np.ones(n_s * n_w)])
    result = solve_mip(
        cost,
        a,
        np.asarray(lo),
        np.asarray(hi),
        np.zeros(n_col),
        upper,
        integer=np.ones(n_col, dtype=bool),
        time_limit_s=time_limit_s,
        mip_gap=MIP_GAP,
    )
    record(
        log, "day groups, one weekday per stop", result, time_limit_s=time_limit_s, mip_gap=MIP_GAP
    )
    if not result.has_solution:
        raise InfeasiblePlanError(
            f"aucun regroupement ne garde un seul jour de la semaine par arrêt ({v.sum()} "
            f"passages, {len(dates)} jours ; solveur : {result.status}) ; "
            "retirez --jour-fixe ou changez le nombre de passages"
        )
    x = np.rint(result.solution[: n_g * n_w]).astype(np.int64).reshape(n_g, n_w)
    z = result.solution[z0:].reshape(n_s, n_w) > 0.5
    used = [g for g in range(n_g) if x[g].sum() > 0]
    return WeekdayGroups(
        groups=[groups[g] for g in used],
        counts=[int(x[g].sum()) for g in used],
        per_weekday=[{weekdays[k]: int(x[g, k]) for k in range(n_w) if x[g, k]} for g in used],
        cost_s=[costs[g] for g in used],
        stop_weekday=[weekdays[int(np.argmax(z[s]))] for s in range(n_s)],
        candidates=n_g,
        status=result.status,
    )
