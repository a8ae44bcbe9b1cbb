"""Fairness objectives: the worst group's coverage (max-min) and the coverage/mean-time trade-off.

Two mixed-integer programmes on a
:class:`~coverage.placement.problem.PlacementProblem`, solved by HiGHS through
:func:`coverage._highs.solve_mip` (one thread, fixed seed, like every MIP of
the engine), with the same constraints as the other models: ``p`` open sites,
fixed sites open, zone bounds.

- :func:`solve_maxmin` (model ``maxmin``): open ``p`` sites so that the **worst
  group's covered share** within ``T`` is as large as possible. The groups are
  labels on the demand points (the job layer uses the cantons: a demand point's
  group is its commune's zone). Among the plans reaching that worst share, a
  second solve keeps the one covering the most inhabitants overall (the max-min
  optimum is rarely unique). With ``a_ij = 1`` when demand ``i`` is within ``T`` of
  candidate ``j``, ``W_g`` the weight of group ``g``::

      stage 1:  maximise  t
                subject to  y_i <= sum_j a_ij x_j                for every demand i
                            t <= sum_{i in g} w_i y_i / W_g      for every group g
                            sum_j x_j = p ; fixed sites ; zone bounds
      stage 2:  maximise  sum_i w_i y_i   with, in addition,  t >= t*  (stage 1's optimum)

  The result's ``objective`` is the worst share (0..1), ``bound`` stage 1's
  proven bound and ``gap`` their difference relative to the objective; the
  status is ``optimal`` only when both stages are proven.
- :func:`solve_tradeoff`: the p-median (least population-weighted time to the
  nearest open site) under a coverage floor ``sum_i w_i [i within T of its
  site] >= min_covered``. Because a demand point is assigned to its nearest open
  site, it is within ``T`` of its site exactly when some open site is within
  ``T``: the floor is the MCLP's covered weight. Asked with ``α ×`` the MCLP
  optimum, it gives the least mean time that keeps ``α`` of the best coverage.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from coverage._french import plural
from coverage._highs import solve_mip
from coverage.placement.problem import (
    COVER_TOLERANCE_S,
    DEFAULT_TIME_LIMIT_S,
    PlacementError,
    PlacementProblem,
    PlacementResult,
    threshold_seconds,
)

_SCALE_S = 60.0
"""Times go to HiGHS in minutes (smaller coefficients), objectives come back in seconds."""
_SHARE_SLACK = 1e-7
"""Stage 2 keeps the worst share within this of stage 1's optimum (rounding of HiGHS)."""


class _Rows:
    """Constraint rows accumulated as COO triplets (a minimal builder for two models)."""

    def __init__(self, n_cols: int) -> None:
        self.n_cols = n_cols
        self.r: list[np.ndarray] = []
        self.c: list[np.ndarray] = []
        self.v: list[np.ndarray] = []
        self.lo: list[float] = []
        self.hi: list[float] = []

    def add(self, cols: np.ndarray, vals: np.ndarray, lo: float, hi: float) -> None:
        self.r.append(np.full(len(cols), len(self.lo), dtype=np.int64))
        self.c.append(np.asarray(cols, np.int64))
        self.v.append(np.asarray(vals, float))
        self.lo.append(float(lo))
        self.hi.append(float(hi))

    def add_many(
        self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, lo: np.ndarray, hi: np.ndarray
    ) -> None:
        """Add ``len(lo)`` rows at once; ``rows`` numbers them from 0 within the batch."""
        self.r.append(np.asarray(rows, np.int64) + len(self.lo))
        self.c.append(np.asarray(cols, np.int64))
        self.v.append(np.asarray(vals, float))
        self.lo.extend(np.asarray(lo, float).tolist())
        self.hi.extend(np.asarray(hi, float).tolist())

    def matrix(self) -> sp.csc_matrix:
        return sp.csc_matrix(
            (np.concatenate(self.v), (np.concatenate(self.r), np.concatenate(self.c))),
            shape=(len(self.lo), self.n_cols),
        )


def _site_rows(rows: _Rows, problem: PlacementProblem, p: int) -> None:
    """``sum_j x_j = p`` and the zone bounds (the x columns are the first ones)."""
    n = problem.n_candidates
    rows.add(np.arange(n), np.ones(n), p, p)
    zone_of, lo, hi = problem.zone_table()
    for z in range(lo.shape[0]):
        if lo[z] <= 0 and not np.isfinite(hi[z]):
            continue
        members = np.flatnonzero(zone_of == z)
        rows.add(members, np.ones(members.size), lo[z], hi[z])


def _x_bounds(problem: PlacementProblem) -> tuple[np.ndarray, np.ndarray]:
    lower = np.zeros(problem.n_candidates)
    lower[problem.fixed] = 1.0
    return lower, np.ones(problem.n_candidates)


def _status(mip: Any) -> str:
    if mip.proven_optimal:
        return "optimal"
    return "time_limit" if mip.time_limit_reached else "feasible"


def _result(
    problem: PlacementProblem,
    model: str,
    status: str,
    chosen: np.ndarray,
    objective: float,
    bound: float | None,
    gap: float | None,
    threshold_s: float,
    started: float,
    params: dict[str, Any],
) -> PlacementResult:
    """The result of a solve: nearest open site per demand point, covered within ``T``."""
    chosen = np.array(sorted(int(j) for j in chosen), dtype=np.int64)
    cost = problem.cost_s[:, chosen]
    local = np.argmin(cost, axis=1)
    seconds = cost[np.arange(problem.n_demand), local]
    assignment = np.where(np.isfinite(seconds), chosen[local], -1)
    covered = (seconds <= threshold_s + COVER_TOLERANCE_S).astype(float)
    cover_any = (problem.cost_s <= threshold_s + COVER_TOLERANCE_S).any(axis=1)
    return PlacementResult(
        model=model,
        method="highs",
        status=status,
        chosen=chosen,
        candidate_ids=[str(c) for c in problem.candidate_ids[chosen]],
        fixed=problem.fixed.copy(),
        objective=float(objective),
        bound=bound,
        gap=gap,
        solve_time_s=time.perf_counter() - started,
        assignment=assignment.astype(np.int64),
        assignment_s=seconds.astype(np.float64),
        covered=covered,
        unserved=np.flatnonzero(~cover_any).astype(np.int64),
        parameters=params,
    )


def group_shares(
    problem: PlacementProblem,
    chosen: Sequence[int],
    threshold_minutes: float,
    demand_groups: Sequence[Any],
) -> dict[str, float]:
    """Each group's share of its weight within ``T`` of the chosen sites (groups of weight > 0).

    Demand points whose group is None or ``""`` are left out.
    """
    labels, index, weight = _groups(problem, demand_groups)
    limit = threshold_seconds(threshold_minutes) + COVER_TOLERANCE_S
    sites = np.asarray(list(chosen), dtype=np.int64)
    within = (
        (problem.cost_s[:, sites] <= limit).any(axis=1)
        if sites.size
        else np.zeros(problem.n_demand, bool)
    )
    use = index >= 0
    got = np.bincount(index[use], weights=(problem.weights * within)[use], minlength=len(labels))
    return {str(g): float(got[k] / weight[k]) for k, g in enumerate(labels) if weight[k] > 0}


def _groups(
    problem: PlacementProblem, demand_groups: Sequence[Any]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    values = list(demand_groups)
    if len(values) != problem.n_demand:
        raise PlacementError(
            f"demand_groups a {plural(len(values), 'libellé')} mais le problème a "
            f"{plural(problem.n_demand, 'point de demande', 'points de demande')} "
            "(un libellé de groupe par point de demande)"
        )
    keys = [None if v is None or str(v) in ("", "nan", "None") else str(v) for v in values]
    labels = sorted({k for k in keys if k is not None})
    position = {g: k for k, g in enumerate(labels)}
    index = np.array([-1 if k is None else position[k] for k in keys], dtype=np.int64)
    use = index >= 0
    weight = np.bincount(index[use], weights=problem.weights[use], minlength=len(labels))
    return labels, index, weight


def solve_maxmin(
    problem: PlacementProblem,
    p: int,
    threshold_minutes: float,
    *,
    demand_groups: Sequence[Any],
    solver: str = "highs",
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    mip_gap: float = 0.0,
    interchange: bool = True,
) -> PlacementResult:
    """Open ``p`` sites maximising the worst group's covered share within ``T`` (module docs).

    Parameters
    ----------
    problem
        The data (capacities are not supported by this model).
    p
        Number of open sites, fixed ones included.
    threshold_minutes
        Coverage threshold ``T``.
    demand_groups
        One group label per demand point (the cantons for the job layer); None or
        ``""``: the point counts in stage 2 only.
    solver
        Only ``highs`` (there is no heuristic for this model).
    time_limit_s, mip_gap
        HiGHS limits, for each of the two stages.
    interchange
        Ignored (accepted so that :func:`coverage.placement.solving.solve` can pass
        the common options).

    Returns
    -------
    PlacementResult
        ``model="maxmin"``, ``objective`` the worst group share (0..1);
        ``parameters`` hold the covered weight, the worst group and both stages.

    Raises
    ------
    PlacementError
        Capacities, a solver other than HiGHS, groups of the wrong length, no group
        with weight, infeasible sites or zone bounds, or no solution in time.
    """
    del interchange
    started = time.perf_counter()
    if solver != "highs":
        raise PlacementError(
            "le modèle maxmin n'est résolu que par HiGHS (solver='highs') ; il n'a pas "
            "d'heuristique"
        )
    if problem.capacitated:
        raise PlacementError("le modèle maxmin ne prend pas de capacités ; retirez-les")
    threshold_s = threshold_seconds(threshold_minutes)
    problem.check_sites(p)
    _labels, index, weight = _groups(problem, demand_groups)
    if not (weight > 0).any():
        raise PlacementError("demand_groups : aucun groupe n'a de poids (habitants)")
    cover = problem.coverage(threshold_minutes)
    w = problem.weights
    rows_i = np.flatnonzero((w > 0) & cover.any(axis=1))
    n_cand, n_y = problem.n_candidates, rows_i.size
    x = np.arange(n_cand)
    y = n_cand + np.arange(n_y)
    t = n_cand + n_y
    n_cols = t + 1
    rows = _Rows(n_cols)
    gi, gj = np.nonzero(cover[rows_i])
    # y_i - sum_j a_ij x_j <= 0
    rows.add_many(
        np.concatenate([np.arange(n_y), gi]),
        np.concatenate([y, x[gj]]),
        np.concatenate([np.ones(n_y), -np.ones(gi.size)]),
        np.full(n_y, -np.inf),
        np.zeros(n_y),
    )
    # t - sum_{i in g} w_i y_i / W_g <= 0, for every group with weight
    heavy = np.flatnonzero(weight > 0)
    for g in heavy:
        members = np.flatnonzero(index[rows_i] == g)
        rows.add(
            np.concatenate([[t], y[members]]),
            np.concatenate([[1.0], -w[rows_i[members]] / weight[g]]),
            -np.inf,
            0.0,
        )
    _site_rows(rows, problem, p)
    x_lo, x_hi = _x_bounds(problem)
    col_lo = np.concatenate([x_lo, np.zeros(n_y), [0.0]])
    col_hi = np.concatenate([x_hi, np.ones(n_y), [1.0]])
    integer = np.concatenate([np.ones(n_cand, bool), np.zeros(n_y + 1, bool)])
    matrix = rows.matrix()
    r_lo, r_hi = np.array(rows.lo), np.array(rows.hi)
    c1 = np.zeros(n_cols)
    c1[t] = 1.0
    first = solve_mip(
        c1,
        matrix,
        r_lo,
        r_hi,
        col_lo,
        col_hi,
        integer=integer,
        maximise=True,
        time_limit_s=time_limit_s,
        mip_gap=mip_gap,
    )
    if first.solution is None:
        if first.infeasible:
            raise PlacementError(
                "HiGHS ne trouve aucun choix de sites possible avec ces bornes de zones et "
                "sites fixés"
            )
        raise PlacementError(
            f"HiGHS n'a trouvé aucune solution maxmin en {time_limit_s:g} s ({first.status}) ; "
            "augmentez la limite de temps"
        )
    worst_star = float(first.solution[t])
    c2 = np.zeros(n_cols)
    c2[y] = w[rows_i]
    col_lo2 = col_lo.copy()
    col_lo2[t] = max(0.0, worst_star - _SHARE_SLACK)
    second = solve_mip(
        c2,
        matrix,
        r_lo,
        r_hi,
        col_lo2,
        col_hi,
        integer=integer,
        maximise=True,
        start=first.solution,
        time_limit_s=time_limit_s,
        mip_gap=mip_gap,
    )
    stage = second if second.solution is not None else first
    chosen = np.flatnonzero(stage.solution[x] > 0.5)
    shares = group_shares(problem, chosen, threshold_minutes, demand_groups)
    worst_group = min(shares, key=lambda g: (shares[g], g))
    worst = shares[worst_group]
    bound = None if first.dual_bound is None else min(1.0, float(first.dual_bound))
    gap = None if bound is None else max(0.0, bound - worst) / max(worst, 1e-9)
    if gap is not None and gap < 1e-7:
        gap = 0.0
    proven = first.proven_optimal and second.solution is not None and second.proven_optimal
    status = "optimal" if proven else _status(first if not first.proven_optimal else second)
    covered_weight = float(w[cover[:, chosen].any(axis=1)].sum()) if chosen.size else 0.0
    params = {
        "p": int(p),
        "threshold_minutes": float(threshold_minutes),
        "zone_rule": problem.zone_rule if problem.zones is not None else None,
        "zones": len(problem.zone_names),
        "demand_points": problem.n_demand,
        "candidates": n_cand,
        "groups": int(heavy.size),
        "worst_group": worst_group,
        "covered_weight": covered_weight,
        "rule": "part couverte du groupe (canton) le moins couvert, puis population couverte",
        "highs": {
            "stage_worst_share": {**first.details(), "gap": first.gap},
            "stage_covered": {**second.details(), "gap": second.gap},
        },
    }
    return _result(
        problem, "maxmin", status, chosen, worst, bound, gap, threshold_s, started, params
    )


def solve_tradeoff(
    problem: PlacementProblem,
    p: int,
    threshold_minutes: float,
    *,
    min_covered: float,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    mip_gap: float = 0.0,
    max_pairs: int = 4_000_000,
    start: Sequence[int] | None = None,
) -> PlacementResult:
    """The least weighted mean time with at least ``min_covered`` weight within ``T``.

    Parameters
    ----------
    problem
        The data (no capacities).
    p
        Number of open sites, fixed ones included.
    threshold_minutes
        Coverage threshold ``T`` of the floor.
    min_covered
        Weight (inhabitants) that must be within ``T`` of an open site.
    time_limit_s, mip_gap, max_pairs
        HiGHS limits and the largest number of assignment pairs.
    start
        Optional open sites (``p`` indices, the fixed ones included) meeting the
        floor, given to HiGHS as its first solution (e.g. the MCLP optimum).

    Returns
    -------
    PlacementResult
        ``model="pmedian"`` (``parameters["min_covered"]`` set); ``objective`` the sum
        of weight × seconds to the nearest open site over the reachable demand.

    Raises
    ------
    PlacementError
        Capacities, infeasible settings, a floor no choice reaches, too many pairs,
        or no solution in time.
    """
    started = time.perf_counter()
    if problem.capacitated:
        raise PlacementError("le compromis couverture/temps moyen ne prend pas de capacités")
    threshold_s = threshold_seconds(threshold_minutes)
    problem.check_sites(p)
    cost, w = problem.cost_s, problem.weights
    finite = np.isfinite(cost)
    served = np.flatnonzero(finite.any(axis=1) & (w > 0))
    usable = finite[served]
    if problem.fixed.size:
        # a demand point never goes past its nearest fixed (always open) site: exact
        nearest_fixed = cost[np.ix_(served, problem.fixed)].min(axis=1)
        usable &= cost[served] <= nearest_fixed[:, None]
    li, sj = np.nonzero(usable)
    if li.size > max_pairs:
        raise PlacementError(
            f"le compromis demanderait {plural(int(li.size), 'variable')} d'affectation (limite "
            f"{plural(int(max_pairs), 'variable')}) ; prenez les communes comme demande ou des "
            "cellules plus grandes"
        )
    demand = served[li]
    n_cand, k, n_s = problem.n_candidates, li.size, served.size
    x = np.arange(n_cand)
    z = n_cand + np.arange(k)
    rows = _Rows(n_cand + k)
    rows.add_many(li, z, np.ones(k), np.ones(n_s), np.ones(n_s))  # sum_j z_ij = 1
    rows.add_many(  # z_ij - x_j <= 0
        np.concatenate([np.arange(k), np.arange(k)]),
        np.concatenate([z, x[sj]]),
        np.concatenate([np.ones(k), -np.ones(k)]),
        np.full(k, -np.inf),
        np.zeros(k),
    )
    within = cost[demand, sj] <= threshold_s + COVER_TOLERANCE_S
    floor = float(min_covered) - 1e-6 * max(1.0, float(min_covered))
    rows.add(z[within], w[demand[within]], floor, np.inf)
    _site_rows(rows, problem, p)
    x_lo, x_hi = _x_bounds(problem)
    c = np.concatenate([np.zeros(n_cand), w[demand] * cost[demand, sj] / _SCALE_S])
    x0 = None
    if start is not None:
        x0 = np.zeros(n_cand + k)
        sites = np.asarray(sorted(int(j) for j in start), dtype=np.int64)
        x0[x[sites]] = 1.0
        is_open = np.zeros(n_cand, bool)
        is_open[sites] = True
        masked = np.where(usable & is_open[None, :], cost[served], np.inf)
        nearest = np.argmin(masked, axis=1)
        pick = np.flatnonzero(sj == nearest[li])
        _, first = np.unique(li[pick], return_index=True)  # one pair per demand point
        x0[z[pick[first]]] = 1.0
    mip = solve_mip(
        c,
        rows.matrix(),
        np.array(rows.lo),
        np.array(rows.hi),
        np.concatenate([x_lo, np.zeros(k)]),
        np.concatenate([x_hi, np.ones(k)]),
        integer=np.concatenate([np.ones(n_cand, bool), np.zeros(k, bool)]),
        start=x0,
        time_limit_s=time_limit_s,
        mip_gap=mip_gap,
    )
    if mip.solution is None:
        if mip.infeasible:
            raise PlacementError(
                f"aucun choix de {plural(p, 'site')} ne met "
                f"{plural(round(float(min_covered)), 'habitant')} à moins de "
                f"{threshold_minutes:g} min avec ces bornes de zones et sites fixés"
            )
        raise PlacementError(
            f"HiGHS n'a trouvé aucune solution de compromis en {time_limit_s:g} s ({mip.status}) ; "
            "augmentez la limite de temps"
        )
    chosen = np.flatnonzero(mip.solution[x] > 0.5)
    best = cost[:, chosen].min(axis=1)
    reach = np.isfinite(best)
    objective = float((w[reach] * best[reach]).sum())
    bound = None if mip.dual_bound is None else float(mip.dual_bound) * _SCALE_S
    gap = None if bound is None else abs(objective - bound) / max(abs(objective), 1.0)
    if gap is not None and gap < 1e-9:
        gap = 0.0
    params = {
        "p": int(p),
        "threshold_minutes": float(threshold_minutes),
        "min_covered": float(min_covered),
        "served_weight": float(w[finite.any(axis=1)].sum()),
        "covered_weight": float(w[best <= threshold_s + COVER_TOLERANCE_S].sum()),
        "assignment_pairs": int(k),
        "highs": mip.details(),
    }
    status = _status(mip)
    return _result(
        problem, "pmedian", status, chosen, objective, bound, gap, threshold_s, started, params
    )


__all__ = ["group_shares", "solve_maxmin", "solve_tradeoff"]
