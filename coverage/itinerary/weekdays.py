"""A fixed weekday per stop: the day groups and their dates when every stop keeps its weekday.

Residents expect "le mardi, toutes les six semaines", not a different weekday
at each visit. :func:`group_days_by_weekday` takes the day groups of
:func:`coverage.itinerary.schedule.group_days`, joins the groups that share a
stop into components, and gives each component one weekday with a small MIP
(HiGHS) that evens the weekdays' loads::

    min  hi - lo
    s.t. Σ_w a_cw = 1                    for every component c
         lo <= Σ_c days_c a_cw <= hi      for every weekday w
         a_cw ∈ {0, 1}

so every stop is visited on one weekday only and the weekdays carry as even
a number of days as the components allow (the spread, ``hi - lo``, is
reported). The service dates then follow: each weekday's days spread evenly
over its working days. The dates are laid weekday by weekday with
:func:`coverage.itinerary.schedule.assign_dates` (a stop's visits all fall on
its weekday, so the weekdays are independent). A weekday whose dates still
break the spacing chooses them again among all its working days
(:func:`coverage.itinerary.schedule.repair_dates` with optional dates): the
evenly spread dates of one weekday need not suit the stops it serves (63-day
gaps on the default Gers plan before).
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
from coverage.itinerary.schedule import GROUP_PENALTY_S, assign_dates, group_days, repair_dates
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
        working: Sequence[date] | None = None,
    ) -> tuple[list[int], dict[str, Any], list[date]]:
        """Group index per date, weekday by weekday (see the module docstring).

        When a weekday's dates leave spacing violations and ``working`` (the
        period's working days) is given, that weekday's dates are chosen again
        among all its working days (:func:`~coverage.itinerary.schedule.repair_dates`
        with optional dates), so that each stop's visits can be spread over
        the weekday's whole calendar.

        Returns
        -------
        tuple
            Group index per date, statistics, and the dates (sorted; the same
            number, possibly moved within their weekday).
        """
        by_date: dict[date, int] = {}
        stats: dict[str, Any] = {"cost": 0.0, "violation_days": 0.0, "seconds": 0.0}
        moved = 0
        span = (period[1] - period[0]).days
        for w in sorted({d.weekday() for d in dates}):
            where = [d for d in dates if d.weekday() == w]
            used = [k for k, per in enumerate(self.per_weekday) if per.get(w, 0) > 0]
            groups = [self.groups[k] for k in used]
            counts = [self.per_weekday[k][w] for k in used]
            window = {"min_spacing_days": min_spacing_days, "max_spacing_days": max_spacing_days}
            seq, st = assign_dates(
                groups,
                counts,
                where,
                period,
                n_stops,
                seed=seed,
                time_limit_s=time_limit_s / 5,
                log=log,
                **window,
            )
            if st.get("violation_days", 0) > 0 and working is not None:
                every = [d for d in working if d.weekday() == w]
                at = {d: k for d, k in zip(where, seq, strict=True)}
                fixed = repair_dates(
                    groups,
                    counts,
                    [(d - period[0]).days for d in every],
                    span,
                    n_stops,
                    [at.get(d, -1) for d in every],
                    time_limit_s=time_limit_s / 5,
                    log=log,
                    optional_dates=True,
                    **window,
                )
                if fixed is not None:
                    new_where = [d for d, k in zip(every, fixed, strict=True) if k >= 0]
                    seq2, st2 = assign_dates(
                        groups,
                        counts,
                        new_where,
                        period,
                        n_stops,
                        seed=seed,
                        time_limit_s=time_limit_s / 5,
                        initial=[k for k in fixed if k >= 0],
                        repair=False,
                        **window,
                    )
                    if st2["violation_days"] < st["violation_days"]:
                        moved += len(set(new_where) - set(where))
                        where, seq, st = new_where, seq2, st2
            for d, k in zip(where, seq, strict=True):
                by_date[d] = used[k]
            for key in ("cost", "violation_days", "seconds"):
                stats[key] += float(st.get(key, 0.0))
        stats["method"] = "per weekday"
        stats["dates_moved_within_weekday"] = float(moved)
        days = sorted(by_date)
        return [by_date[d] for d in days], stats, days


def _components(groups: Sequence[tuple[int, ...]], n_stops: int) -> list[int]:
    """Component number of every group: groups sharing a stop (directly or not) are one."""
    parent = list(range(n_stops))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for g in groups:
        for s in g[1:]:
            parent[find(s)] = find(g[0])
    roots = {r: k for k, r in enumerate(dict.fromkeys(find(g[0]) for g in groups))}
    return [roots[find(g[0])] for g in groups]


def weekday_dates(working: Sequence[date], per_weekday: dict[int, int]) -> list[date]:
    """``per_weekday[w]`` dates of each weekday, spread evenly over its working days.

    Raises
    ------
    InfeasiblePlanError
        A weekday asked for more days than it has.
    """
    out: list[date] = []
    for w, n in per_weekday.items():
        days = [d for d in working if d.weekday() == w]
        if n > len(days):
            raise InfeasiblePlanError(
                f"{n} jours de service demandés le même jour de la semaine ({w}) mais la période "
                f"n'en compte que {len(days)} ouvrés"
            )
        out += [days[int((k + 0.5) * len(days) / n)] for k in range(n)]
    return sorted(out)


def group_days_by_weekday(
    visits: Sequence[int],
    working: Sequence[date],
    weekdays: Sequence[int],
    n_days: int,
    per_day: int,
    tour_cost: Callable[[tuple[int, ...]], float | None],
    *,
    seconds: np.ndarray | None = None,
    labels: Sequence[str] | None = None,
    time_limit_s: float = 20.0,
    log: list[dict[str, Any]] | None = None,
    group_penalty_s: float = GROUP_PENALTY_S,
) -> tuple[WeekdayGroups, list[date]]:
    """Day groups with one weekday per stop, and the service dates that follow.

    The groups are those of :func:`coverage.itinerary.schedule.group_days`;
    groups sharing a stop form a component, and a small MIP gives each
    component one weekday so that the weekdays' loads (days) are as even as
    possible (least ``max - min``). Each weekday's dates are then spread
    evenly over its working days (:func:`weekday_dates`).

    Returns
    -------
    tuple
        The groups and the service dates (sorted).
    """
    packed = group_days(
        visits,
        n_days,
        per_day,
        tour_cost,
        seconds=seconds,
        labels=labels,
        time_limit_s=time_limit_s,
        log=log,
        group_penalty_s=group_penalty_s,
    )
    comp = _components(packed.groups, len(visits))
    n_c = max(comp) + 1
    load = np.zeros(n_c)
    for k, c in zip(comp, packed.counts, strict=True):
        load[k] += c
    wd = sorted(set(weekdays))
    n_w = len(wd)
    # columns: a[c, w] (n_c * n_w), hi, lo; rows: one weekday per component; lo <= load_w <= hi
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    lo_b: list[float] = []
    hi_b: list[float] = []
    r = 0
    for c in range(n_c):
        for k in range(n_w):
            rows.append(r)
            cols.append(c * n_w + k)
            vals.append(1.0)
        lo_b.append(1.0)
        hi_b.append(1.0)
        r += 1
    hi_col, lo_col = n_c * n_w, n_c * n_w + 1
    for k in range(n_w):
        for sign, col in ((1.0, hi_col), (-1.0, lo_col)):
            for c in range(n_c):
                rows.append(r)
                cols.append(c * n_w + k)
                vals.append(sign * load[c])
            rows.append(r)
            cols.append(col)
            vals.append(-sign)
            lo_b.append(-np.inf)
            hi_b.append(0.0)
            r += 1
    n_col = n_c * n_w + 2
    a = scipy.sparse.coo_matrix((vals, (rows, cols)), shape=(r, n_col))
    cost = np.zeros(n_col)
    cost[hi_col], cost[lo_col] = 1.0, -1.0
    limit = min(time_limit_s, 5.0)
    result = solve_mip(
        cost,
        a,
        np.asarray(lo_b),
        np.asarray(hi_b),
        np.zeros(n_col),
        np.concatenate([np.ones(n_c * n_w), [np.inf, np.inf]]),
        integer=np.concatenate([np.ones(n_c * n_w, dtype=bool), [False, False]]),
        time_limit_s=limit,
        mip_gap=MIP_GAP,
    )
    record(log, "weekday of each stop", result, time_limit_s=limit, mip_gap=MIP_GAP)
    if not result.has_solution:
        raise InfeasiblePlanError(
            f"aucun jour de la semaine par arrêt trouvé (solveur : {result.status})"
        )
    choice = result.solution[: n_c * n_w].reshape(n_c, n_w).argmax(axis=1)
    weekday_of_comp = [wd[int(k)] for k in choice]
    per_weekday: dict[int, int] = {w: 0 for w in wd}
    for c in range(n_c):
        per_weekday[weekday_of_comp[c]] += int(load[c])
    dates = weekday_dates(working, {w: n for w, n in per_weekday.items() if n})
    stop_weekday = [-1] * len(visits)
    for g, c in zip(packed.groups, comp, strict=True):
        for s in g:
            stop_weekday[s] = weekday_of_comp[c]
    out = WeekdayGroups(
        groups=packed.groups,
        counts=packed.counts,
        per_weekday=[{weekday_of_comp[c]: n} for c, n in zip(comp, packed.counts, strict=True)],
        cost_s=packed.cost_s,
        stop_weekday=stop_weekday,
        candidates=packed.candidates,
        status=packed.status,
    )
    return out, dates
