"""Exact MIP formulations of the placement models, built as sparse matrices and solved by HiGHS.

The formulations are written out in the docstrings of
:func:`coverage.placement.solving.solve_mclp`, ``solve_pmedian`` and
``solve_lscp``. This module reduces the data exactly (:func:`reduce_cover`),
builds each model as one sparse constraint matrix, passes it to HiGHS in a single
call (:func:`coverage._highs.solve_mip`), starts HiGHS from the greedy solution, and
reads back the open sites, the proven bound and the gap.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from coverage._french import plural
from coverage._highs import MipResult, SolverUnavailableError, solve_mip
from coverage.placement.problem import PlacementError, PlacementProblem

_PMEDIAN_SCALE_S = 60.0
"""p-median costs go to HiGHS in minutes (smaller coefficients), results come back in seconds."""


@dataclass(eq=False)
class ReducedCover:
    """The demand of a covering model after exact reductions.

    Attributes
    ----------
    cover
        ``(n_groups, n_candidates)`` boolean coverage of each demand group.
    weights
        Weight of each group (sum of its members' weights).
    group_of
        Per original demand point: its group, or -1 when it left the model.
    constant
        Weight covered whatever the choice (by the fixed sites).
    """

    cover: np.ndarray
    weights: np.ndarray
    group_of: np.ndarray
    constant: float


def reduce_cover(
    problem: PlacementProblem, cover: np.ndarray, *, drop_fixed: bool, merge: bool = True
) -> ReducedCover:
    """Reduce a covering model's demand exactly.

    Zero-weight demand and demand no candidate covers leave the model; with
    ``drop_fixed``, so does demand a fixed site already covers (counted in
    ``constant``); with ``merge`` (the default), the remaining demand points with
    the same set of covering candidates become one group whose weight is the sum
    of theirs (``merge=False``: one group per demand point, the unreduced model).
    """
    w = problem.weights
    keep = (w > 0) & cover.any(axis=1)
    constant = 0.0
    if drop_fixed and problem.fixed.size:
        by_fixed = cover[:, problem.fixed].any(axis=1)
        constant = float(w[keep & by_fixed].sum())
        keep &= ~by_fixed
    rows = np.flatnonzero(keep)
    group_of = np.full(problem.n_demand, -1, dtype=np.int64)
    if rows.size == 0:
        return ReducedCover(
            np.zeros((0, problem.n_candidates), dtype=bool), np.zeros(0), group_of, constant
        )
    if not merge:
        group_of[rows] = np.arange(rows.size)
        return ReducedCover(cover[rows], w[rows], group_of, constant)
    packed = np.packbits(cover[rows], axis=1)
    _, first, inverse = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    group_of[rows] = inverse
    weights = np.bincount(inverse, weights=w[rows], minlength=first.shape[0])
    return ReducedCover(cover[rows[first]], weights, group_of, constant)


def dominated_candidates(problem: PlacementProblem, reduced: ReducedCover, p: int) -> np.ndarray:
    """Candidates an uncapacitated MCLP can do without (an exact reduction).

    Candidate ``j`` is dominated by ``k`` when ``k`` covers every demand group
    ``j`` covers, both are in the same zone (or both in none) and ``j`` is not
    fixed. Any optimal choice holding ``j`` then stays optimal with ``j``
    replaced by ``k`` or, when ``k`` is open too, by any other remaining
    candidate of the zone (``j`` adds nothing). So that such a candidate always
    exists, a zone keeps at least ``min(max sites of the zone, p)`` candidates;
    dominators are never removed themselves.

    Returns
    -------
    numpy.ndarray
        Boolean mask of the candidates to leave closed.
    """
    n_cand = problem.n_candidates
    out = np.zeros(n_cand, dtype=bool)
    if reduced.weights.size == 0:
        return out
    cover = reduced.cover.astype(np.float32)
    size = cover.sum(axis=0)
    inter = cover.T @ cover
    zone_of, _, hi = problem.zone_table()
    fixed = np.zeros(n_cand, dtype=bool)
    fixed[problem.fixed] = True
    # a candidate's zone key: its zone, or -1 for candidates without zone
    keep_at_least = {
        z: min(float(hi[z]) if z >= 0 else np.inf, float(p)) for z in np.unique(zone_of)
    }
    remaining = {z: int((zone_of == z).sum()) for z in keep_at_least}
    is_dominator = np.zeros(n_cand, dtype=bool)
    # larger coverage first, so that dominators are settled before the candidates they cover
    for j in np.lexsort((np.arange(n_cand), -size)):
        if fixed[j] or is_dominator[j]:
            continue
        z = zone_of[j]
        if remaining[z] - 1 < keep_at_least[z]:
            continue
        same = (zone_of == z) & ~out
        same[j] = False
        contains = same & (inter[j] >= size[j] - 0.5)
        # ties (same set): only a lower index may dominate, so one of them stays
        contains &= (size > size[j] + 0.5) | (np.arange(n_cand) < j)
        if contains.any():
            out[j] = True
            is_dominator[np.flatnonzero(contains)[0]] = True
            remaining[z] -= 1
    return out


@dataclass(eq=False)
class ReducedLscp:
    """An uncapacitated LSCP after its exact reductions (:func:`reduce_lscp`).

    Attributes
    ----------
    reduced
        The demand groups left: a group whose covering set contains another
        group's is implied by it and leaves the model (``group_of`` is -1 for its
        members).
    closed
        Boolean mask of the candidates held closed (dominated, only without zones).
    dominator
        Per candidate: the candidate that replaces it in a start (itself when open).
    """

    reduced: ReducedCover
    closed: np.ndarray
    dominator: np.ndarray

    def start(self, chosen: np.ndarray) -> np.ndarray:
        """A cover of the reduced model from a cover of the full one (closed sites replaced)."""
        return np.unique(self.dominator[np.asarray(chosen, dtype=np.int64)])


def reduce_lscp(problem: PlacementProblem, reduced: ReducedCover) -> ReducedLscp:
    """Exact reductions of an uncapacitated LSCP: implied rows, dominated candidates.

    Rows. A group ``g`` whose set of covering candidates contains the set of
    another group ``h`` is covered whenever ``h`` is: its row is implied and
    dropped (the groups are distinct sets, so of two nested sets the larger goes;
    zone rows and fixed sites only constrain ``x`` and are untouched).

    Candidates, only without zones. Candidate ``j`` (not fixed) covering a subset
    of the remaining groups of ``k``, with ``k`` ahead of ``j`` (larger set, or the
    same set and a lower index), is held closed: in any cover holding ``j``,
    replacing ``j`` by ``k`` keeps a cover with no more sites. The candidate
    ahead of all the supersets of ``j`` is never closed itself, so every closed
    candidate has an open replacement (:attr:`ReducedLscp.dominator`).
    """
    n_cand = problem.n_candidates
    dominator = np.arange(n_cand)
    closed = np.zeros(n_cand, dtype=bool)
    cover = reduced.cover
    if cover.shape[0] == 0:
        return ReducedLscp(reduced, closed, dominator)
    rows = cover.astype(np.float32)
    row_size = rows.sum(axis=1)
    inside = rows @ rows.T  # inside[g, h]: candidates covering both g and h
    nested = (inside >= row_size[None, :] - 0.5) & (row_size[None, :] < row_size[:, None] - 0.5)
    keep = ~nested.any(axis=1)
    kept = np.flatnonzero(keep)
    renumber = np.full(cover.shape[0], -1, dtype=np.int64)
    renumber[kept] = np.arange(kept.size)
    group_of = np.where(reduced.group_of >= 0, renumber[np.maximum(reduced.group_of, 0)], -1)
    small = ReducedCover(cover[kept], reduced.weights[kept], group_of, reduced.constant)
    if problem.zones is None:
        cols = small.cover.astype(np.float32)
        size = cols.sum(axis=0)
        inter = cols.T @ cols
        index = np.arange(n_cand)
        contains = inter >= size[:, None] - 0.5  # contains[j, k]: k covers all j covers
        ahead = (size[None, :] > size[:, None] + 0.5) | (
            (np.abs(size[None, :] - size[:, None]) < 0.5) & (index[None, :] < index[:, None])
        )
        fixed = np.zeros(n_cand, dtype=bool)
        fixed[problem.fixed] = True
        closed = (contains & ahead).any(axis=1) & ~fixed
        # the replacement: the superset ahead of every other one (largest, then lowest index)
        rank = np.lexsort((index, -size))
        order = np.empty(n_cand, dtype=np.int64)
        order[rank] = index
        best = np.argmin(np.where(contains, order[None, :], n_cand), axis=1)
        dominator = np.where(closed, best, index)
    return ReducedLscp(small, closed, dominator)


@dataclass(eq=False)
class MipOutcome:
    """What HiGHS returned.

    Attributes
    ----------
    chosen
        Open candidates, or None when HiGHS produced no solution.
    status
        ``optimal`` (proven within ``mip_gap``), ``time_limit`` or ``feasible`` (a
        solution HiGHS did not prove optimal within ``mip_gap``).
    bound
        Proven bound on the full objective (the reductions' constant included).
    reason
        Why there is no solution (when ``chosen`` is None).
    details
        Model size, HiGHS status, nodes, times.
    shares
        For capacitated models: per demand point (site, seconds, covered share) and
        the objective, as :func:`coverage.placement.solving._finish` expects.
    """

    chosen: np.ndarray | None
    status: str = ""
    bound: float | None = None
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    shares: Any = None


def _capacitated_start(
    model: _Model,
    x: np.ndarray,
    pairs: np.ndarray,
    start: np.ndarray | None,
    shares: np.ndarray | None,
) -> np.ndarray | None:
    """The start vector of a capacitated model: open sites and the pairs' shares."""
    if start is None or shares is None:
        return None
    vec = np.zeros(model.n_cols)
    vec[x[start]] = 1.0
    vec[pairs] = shares
    return vec


class _Model:
    """Columns and rows of a MIP, accumulated as COO triplets."""

    def __init__(self) -> None:
        self.cost: list[np.ndarray] = []
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.integer: list[np.ndarray] = []
        self.n_cols = 0
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.row_lower: list[np.ndarray] = []
        self.row_upper: list[np.ndarray] = []
        self.n_rows = 0

    def add_cols(
        self, cost: np.ndarray, lower: np.ndarray, upper: np.ndarray, *, integer: bool
    ) -> np.ndarray:
        n = cost.shape[0]
        self.cost.append(np.asarray(cost, float))
        self.lower.append(np.asarray(lower, float))
        self.upper.append(np.asarray(upper, float))
        self.integer.append(np.full(n, integer))
        index = np.arange(self.n_cols, self.n_cols + n)
        self.n_cols += n
        return index

    def add_rows(
        self,
        row: np.ndarray,
        col: np.ndarray,
        val: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
    ) -> None:
        """Add rows; ``row`` numbers them from 0 within this batch."""
        n = lower.shape[0]
        self.rows.append(np.asarray(row, np.int64) + self.n_rows)
        self.cols.append(np.asarray(col, np.int64))
        self.vals.append(np.asarray(val, float))
        self.row_lower.append(np.asarray(lower, float))
        self.row_upper.append(np.asarray(upper, float))
        self.n_rows += n

    def matrix(self) -> sp.csc_matrix:
        if not self.rows:
            return sp.csc_matrix((0, self.n_cols))
        return sp.csc_matrix(
            (np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols))),
            shape=(self.n_rows, self.n_cols),
        )


def _site_rows(model: _Model, x: np.ndarray, problem: PlacementProblem, p: int | None) -> None:
    """The count row (sum x = p) and the zone rows."""
    n_cand = x.shape[0]
    if p is not None:
        model.add_rows(
            np.zeros(n_cand), x, np.ones(n_cand), np.array([float(p)]), np.array([float(p)])
        )
    zone_of, lo, hi = problem.zone_table()
    rows, cols, los, his = [], [], [], []
    for z in range(lo.shape[0]):
        if lo[z] <= 0 and not np.isfinite(hi[z]):
            continue
        members = np.flatnonzero(zone_of == z)
        rows.append(np.full(members.size, len(los)))
        cols.append(x[members])
        los.append(lo[z])
        his.append(hi[z])
    if los:
        model.add_rows(
            np.concatenate(rows),
            np.concatenate(cols),
            np.ones(sum(r.size for r in rows)),
            np.array(los, float),
            np.array(his, float),
        )


def _exclude_rows(
    model: _Model,
    x: np.ndarray,
    problem: PlacementProblem,
    exclude: Sequence[np.ndarray],
    objective_limit: float | None,
    constant: float,
    *,
    maximize: bool,
    scale: float = 1.0,
) -> None:
    """No-good cuts and an objective bound, to look for other optima.

    For every site set ``S`` in ``exclude``, with ``F`` the fixed sites:
    ``sum_{j in S - F} x_j <= |S - F| - 1`` (with the count of sites fixed, at least
    one of ``S``'s free sites closes). ``objective_limit`` is a bound on the full
    objective (``>=`` when maximising, ``<=`` otherwise); ``constant`` is the part
    the reductions took out of the model, ``scale`` what the model's costs were
    divided by.
    """
    fixed = set(int(j) for j in problem.fixed)
    for chosen in exclude:
        free = np.array([int(j) for j in chosen if int(j) not in fixed], dtype=np.int64)
        if free.size == 0:
            # only the fixed sites: any other set differs by construction
            continue
        model.add_rows(
            np.zeros(free.size),
            x[free],
            np.ones(free.size),
            np.array([-np.inf]),
            np.array([float(free.size - 1)]),
        )
    if objective_limit is not None:
        cost = np.concatenate(model.cost)
        cols = np.flatnonzero(cost)
        limit = (objective_limit - constant) / scale
        model.add_rows(
            np.zeros(cols.size),
            cols,
            cost[cols],
            np.array([limit if maximize else -np.inf]),
            np.array([np.inf if maximize else limit]),
        )


def _share_rows(model: _Model, u: np.ndarray, x_of_u: np.ndarray) -> None:
    """``u_gj - x_j <= 0``: a demand group's share served by site ``j`` needs ``j`` open."""
    k = u.size
    model.add_rows(
        np.concatenate([np.arange(k), np.arange(k)]),
        np.concatenate([u, x_of_u]),
        np.concatenate([np.ones(k), -np.ones(k)]),
        np.full(k, -np.inf),
        np.zeros(k),
    )


def _capacity_rows(
    model: _Model,
    problem: PlacementProblem,
    x: np.ndarray,
    pair_site: np.ndarray,
    pair_col: np.ndarray,
    pair_weight: np.ndarray,
) -> None:
    """sum_i w_i u_ij - cap_j x_j <= 0 for every candidate with a finite capacity."""
    assert problem.capacities is not None
    caps = problem.capacities
    limited = np.flatnonzero(np.isfinite(caps))
    if limited.size == 0:
        return
    row_of = np.full(problem.n_candidates, -1, dtype=np.int64)
    row_of[limited] = np.arange(limited.size)
    use = row_of[pair_site] >= 0
    rows = np.concatenate([row_of[pair_site[use]], np.arange(limited.size)])
    cols = np.concatenate([pair_col[use], x[limited]])
    vals = np.concatenate([pair_weight[use], -caps[limited]])
    model.add_rows(rows, cols, vals, np.full(limited.size, -np.inf), np.zeros(limited.size))


def _run(
    model: _Model,
    *,
    maximize: bool,
    start: np.ndarray | None,
    time_limit_s: float,
    mip_gap: float,
) -> tuple[str, np.ndarray | None, float | None, dict[str, Any]]:
    """Solve with HiGHS (:func:`coverage._highs.solve_mip`): (status, values, bound, details).

    The status is ``optimal`` (proven within ``mip_gap``: the incumbent meets the
    dual bound), ``time_limit`` (HiGHS ran out of time), ``feasible`` (a solution,
    not proven optimal), ``infeasible``, ``no_solution`` or ``no_solver``; values are
    None without a solution, the bound is HiGHS's proven bound when it has one.

    HiGHS can stop with the status "Optimal" on the start it was given while its
    bound says otherwise (the greedy LSCP start, 16 % above the bound). Then the
    model is solved a second time without the start, with the same limits, and the
    better result is kept (proven first, then the better objective); both runs are
    listed in ``details["runs"]``.
    """
    matrix = model.matrix()
    size = {"columns": model.n_cols, "rows": model.n_rows, "nonzeros": int(matrix.nnz)}
    arrays = (
        np.concatenate(model.cost),
        matrix,
        np.concatenate(model.row_lower) if model.n_rows else np.zeros(0),
        np.concatenate(model.row_upper) if model.n_rows else np.zeros(0),
        np.concatenate(model.lower),
        np.concatenate(model.upper),
    )
    integer = np.concatenate(model.integer)

    def call(x0: np.ndarray | None) -> MipResult:
        return solve_mip(
            *arrays,
            integer=integer,
            maximise=maximize,
            start=x0,
            time_limit_s=time_limit_s,
            mip_gap=mip_gap,
        )

    try:
        result = call(start)
        runs = [{"start": "glouton" if start is not None else "aucun", **result.details()}]
        if start is not None and result.status == "Optimal" and not result.proven_optimal:
            again = call(None)
            runs.append({"start": "aucun (nouvelle résolution)", **again.details()})
            if _better(again, result, maximize):
                result = again
            runs[-1 if result is again else 0]["kept"] = True
    except SolverUnavailableError as exc:  # pragma: no cover - highspy is a declared dependency
        return "no_solver", None, None, {"reason": str(exc)}
    run = result.details()
    details = {
        "highs_status": run["highs_status"],
        "highs_time_s": round(sum(r["highs_time_s"] for r in runs), 3),
        **size,
        "nodes": run["nodes"],
        "highs_version": run["highs_version"],
        "time_limit_s": float(time_limit_s),
        "mip_gap": float(mip_gap),
        "threads": run["threads"],
        "random_seed": run["random_seed"],
        "runs": runs,
    }
    if result.infeasible:
        return "infeasible", None, None, details
    if result.solution is None:
        details["reason"] = f"aucune solution de HiGHS ({result.status})"
        return "no_solution", None, result.dual_bound, details
    if result.proven_optimal:
        label = "optimal"
    elif result.time_limit_reached:
        label = "time_limit"
    else:
        label = "feasible"
    return label, result.solution, result.dual_bound, details


def _better(a: MipResult, b: MipResult, maximize: bool) -> bool:
    """Whether HiGHS result ``a`` beats ``b``: a solution, proven first, then the objective."""
    if a.solution is None or b.solution is None:
        return b.solution is None and a.solution is not None
    if a.proven_optimal != b.proven_optimal:
        return a.proven_optimal
    assert a.objective is not None and b.objective is not None
    return a.objective > b.objective if maximize else a.objective < b.objective


def _no_solution(state: str, details: dict[str, Any], bound: float | None) -> MipOutcome:
    return MipOutcome(None, bound=bound, reason=details.get("reason", state), details=details)


# --- MCLP ----------------------------------------------------------------------------------------


def solve_mclp_mip(
    problem: PlacementProblem,
    reduced: ReducedCover,
    p: int,
    *,
    start: np.ndarray | None,
    time_limit_s: float,
    mip_gap: float,
    closed: np.ndarray | None = None,
    start_shares: np.ndarray | None = None,
    exclude: Sequence[np.ndarray] = (),
    objective_limit: float | None = None,
) -> MipOutcome:
    """Solve the MCLP (formulation in :func:`coverage.placement.solving.solve_mclp`).

    ``closed`` candidates (dominated ones) are held at 0. With capacities,
    ``start_shares`` gives the start's share ``u`` of every (group, site) pair of
    ``np.nonzero(reduced.cover)`` (see :mod:`coverage.placement.capacitated`).
    """
    n_cand = problem.n_candidates
    groups, sites = np.nonzero(reduced.cover)
    n_groups = reduced.weights.shape[0]
    model = _Model()
    lower = np.zeros(n_cand)
    lower[problem.fixed] = 1.0
    upper = np.ones(n_cand)
    if closed is not None:
        upper[closed] = 0.0
    x = model.add_cols(np.zeros(n_cand), lower, upper, integer=True)
    capacitated = problem.capacitated
    start_vec = None
    if not capacitated:
        y = model.add_cols(reduced.weights, np.zeros(n_groups), np.ones(n_groups), integer=False)
        # y_g - sum_j a_gj x_j <= 0
        model.add_rows(
            np.concatenate([np.arange(n_groups), groups]),
            np.concatenate([y, x[sites]]),
            np.concatenate([np.ones(n_groups), -np.ones(groups.size)]),
            np.full(n_groups, -np.inf),
            np.zeros(n_groups),
        )
        if start is not None:
            start_vec = np.zeros(model.n_cols)
            start_vec[x[start]] = 1.0
            start_vec[y] = reduced.cover[:, start].any(axis=1)
    else:
        u = model.add_cols(
            reduced.weights[groups], np.zeros(groups.size), np.ones(groups.size), integer=False
        )
        # sum_j u_gj <= 1 ; u_gj - x_j <= 0
        model.add_rows(
            groups, u, np.ones(groups.size), np.full(n_groups, -np.inf), np.ones(n_groups)
        )
        _share_rows(model, u, x[sites])
        _capacity_rows(model, problem, x, sites, u, reduced.weights[groups])
        start_vec = _capacitated_start(model, x, u, start, start_shares)
    _site_rows(model, x, problem, p)
    _exclude_rows(model, x, problem, exclude, objective_limit, reduced.constant, maximize=True)
    state, values, bound, details = _run(
        model, maximize=True, start=start_vec, time_limit_s=time_limit_s, mip_gap=mip_gap
    )
    details["model_groups"] = n_groups
    if values is None:
        if state == "infeasible":
            raise PlacementError(
                "HiGHS ne trouve aucun choix de sites possible avec ces bornes de zones et "
                "sites fixés"
            )
        return _no_solution(state, details, None if bound is None else bound + reduced.constant)
    chosen = np.flatnonzero(values[x] > 0.5)
    shares = None
    if capacitated:
        shares = cover_shares(problem, reduced, chosen, groups, sites, values[u])
    return MipOutcome(
        chosen,
        state,
        None if bound is None else bound + reduced.constant,
        details=details,
        shares=shares,
    )


def cover_shares(
    problem: PlacementProblem,
    reduced: ReducedCover,
    chosen: np.ndarray,
    groups: np.ndarray,
    sites: np.ndarray,
    u: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per demand point: main serving site, seconds to it, covered share (capacitated)."""
    n = problem.n_demand
    n_groups = reduced.weights.shape[0]
    share = np.bincount(groups, weights=u, minlength=n_groups)
    best = np.full(n_groups, -1, dtype=np.int64)
    best_u = np.zeros(n_groups)
    for g, j, value in zip(groups, sites, u, strict=True):
        if value > best_u[g] + 1e-9:
            best_u[g], best[g] = value, j
    assignment = np.full(n, -1, dtype=np.int64)
    seconds = np.full(n, np.inf)
    covered = np.zeros(n)
    in_model = reduced.group_of >= 0
    g_of = reduced.group_of[in_model]
    assignment[in_model] = best[g_of]
    covered[in_model] = np.clip(share[g_of], 0.0, 1.0)
    rows = np.flatnonzero(in_model)
    has = assignment[rows] >= 0
    seconds[rows[has]] = problem.cost_s[rows[has], assignment[rows[has]]]
    # points outside the model (zero weight, uncoverable): nearest open site
    rest = np.flatnonzero(~in_model)
    if rest.size and chosen.size:
        local = np.argmin(problem.cost_s[np.ix_(rest, chosen)], axis=1)
        sec = problem.cost_s[rest, chosen[local]]
        assignment[rest] = np.where(np.isfinite(sec), chosen[local], -1)
        seconds[rest] = sec
    return assignment, seconds, covered


# --- p-median ---------------------------------------------------------------------------------


def pmedian_neighbours(problem: PlacementProblem, p: int) -> int:
    """First neighbourhood size of the reduced p-median: ``2 * ceil(n_candidates / p)``, >= 10.

    With ``p`` sites spread over the candidates, a demand point's nearest open
    site is typically among its ``n_candidates / p`` nearest candidates; twice
    that makes a second round rare (the Gers: one round).
    """
    return max(10, 2 * -(-problem.n_candidates // max(int(p), 1)))


def solve_pmedian_mip(
    problem: PlacementProblem,
    p: int,
    *,
    start: np.ndarray | None,
    time_limit_s: float,
    mip_gap: float,
    max_pairs: int,
    start_shares: np.ndarray | None = None,
    exclude: Sequence[np.ndarray] = (),
    objective_limit: float | None = None,
    neighbours: int | None = None,
) -> MipOutcome:
    """Solve the p-median (formulation in :func:`coverage.placement.solving.solve_pmedian`).

    With capacities, ``start_shares`` gives the start's ``z`` of every pair of
    :func:`median_pairs`.

    Without capacities two exact reductions apply. Demand points with the same
    row of times are merged (weights added). With ``neighbours`` (a number of
    candidates), each demand point keeps only the pairs to its nearest
    candidates (at least ``neighbours`` of them, and always the site the start
    gives it) plus one *far* column priced at its time to the nearest candidate
    left out: a relaxation, whose optimum bounds the full one from below. When
    the sites it opens cost the same on the full problem (no demand point goes
    farther than its far column said), they are optimal for the full problem;
    otherwise the demand points that went too far get twice as many pairs and the
    model is solved again (see :func:`_neighbourhoods`). ``neighbours=None``
    builds the full model.
    """
    started = time.perf_counter()
    cost = problem.cost_s
    w = problem.weights
    finite = np.isfinite(cost)
    served = np.flatnonzero(finite.any(axis=1) & (w > 0))
    usable = finite[served]
    capacitated = problem.capacitated
    if not capacitated and problem.fixed.size:
        nearest_fixed = cost[np.ix_(served, problem.fixed)].min(axis=1)
        usable &= cost[served] <= nearest_fixed[:, None]
    full_pairs = int(usable.sum())
    if full_pairs > max_pairs and (capacitated or neighbours is None):
        raise PlacementError(
            f"la p-médiane demanderait {plural(full_pairs, 'variable')} "
            f"d'affectation (limite "
            f"{plural(int(max_pairs), 'variable')}) ; prenez les communes comme demande ou des "
            "cellules plus grandes"
        )
    if capacitated:
        local_i, sites = np.nonzero(usable)
        return _pmedian_round(
            problem,
            p,
            served,
            w[served],
            local_i,
            sites,
            None,
            start=start,
            start_shares=start_shares,
            exclude=exclude,
            objective_limit=objective_limit,
            time_limit_s=time_limit_s,
            mip_gap=mip_gap,
        )
    # merge demand points whose rows of times are the same (their usable pairs too)
    rows_cost = np.where(usable, cost[served], np.inf)
    _, first, inverse = np.unique(rows_cost, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    groups = served[first]
    group_w = np.bincount(inverse, weights=w[served], minlength=first.size)
    group_cost = rows_cost[first]
    reduction: dict[str, Any] = {
        "demand_rows": int(served.size),
        "demand_groups": int(groups.size),
        "full_pairs": full_pairs,
        "neighbours": None if neighbours is None else int(neighbours),
    }
    if neighbours is None:
        sizes = np.isfinite(group_cost).sum(axis=1)
    else:
        sizes = _start_sizes(group_cost, start, int(neighbours))
    rounds: list[dict[str, Any]] = []
    while True:
        local_i, sites, far = _neighbourhoods(group_cost, sizes)
        if local_i.size > max_pairs:
            raise PlacementError(
                f"la p-médiane demanderait {plural(int(local_i.size), 'variable')} "
                f"d'affectation (limite {plural(int(max_pairs), 'variable')}) ; prenez les "
                "communes comme demande ou des cellules plus grandes"
            )
        left = max(time_limit_s - (time.perf_counter() - started), 0.01)
        outcome = _pmedian_round(
            problem,
            p,
            groups,
            group_w,
            local_i,
            sites,
            far,
            start=start,
            start_shares=None,
            exclude=exclude,
            objective_limit=objective_limit,
            time_limit_s=left,
            mip_gap=mip_gap,
            group_cost=group_cost,
        )
        far_rows = int(np.isfinite(far).sum())
        rounds.append(
            {
                "pairs": int(local_i.size),
                "far_columns": far_rows,
                "highs_time_s": outcome.details.get("highs_time_s"),
                "time_limit_s": round(left, 3),
                "status": outcome.status or outcome.reason,
            }
        )
        if outcome.chosen is None or outcome.status == "time_limit" or far_rows == 0:
            break
        # the far columns are priced at a lower bound: check the sites on the real times
        nearest = group_cost[:, outcome.chosen].min(axis=1)
        too_far = np.isfinite(far) & (nearest > far * (1 + 1e-12) + 1e-9)
        if not too_far.any():
            break
        grown = np.minimum(sizes[too_far] * 2, np.isfinite(group_cost[too_far]).sum(axis=1))
        sizes[too_far] = grown
        rounds[-1]["too_far"] = int(too_far.sum())
        if outcome.status == "optimal" and outcome.chosen is not None:
            start = outcome.chosen  # feasible and good: the next round's start
    reduction["rounds"] = rounds
    outcome.details["reduction"] = reduction
    outcome.details["highs_time_s"] = round(sum(r["highs_time_s"] or 0.0 for r in rounds), 3)
    outcome.details["time_limit_s"] = float(time_limit_s)  # over all rounds
    return outcome


def _start_sizes(group_cost: np.ndarray, start: np.ndarray | None, neighbours: int) -> np.ndarray:
    """First neighbourhood size per demand group: ``neighbours``, or up to the start's site."""
    n_finite = np.isfinite(group_cost).sum(axis=1)
    sizes = np.minimum(np.full(group_cost.shape[0], max(int(neighbours), 1)), n_finite)
    if start is not None and len(start):
        nearest = group_cost[:, np.asarray(start)].min(axis=1)
        # candidates no farther than the start's site (ties included)
        within = (group_cost <= nearest[:, None]).sum(axis=1)
        sizes = np.maximum(sizes, np.minimum(within, n_finite))
    return sizes


def _neighbourhoods(
    group_cost: np.ndarray, sizes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of each demand group to its ``sizes`` nearest candidates, and its far price.

    Candidates tied with the last one kept are kept too, so that the far price
    (seconds to the nearest candidate left out, ``inf`` when none is left out) is
    strictly larger than every kept time.

    Returns
    -------
    tuple of arrays
        ``local_i`` (group of each pair), ``sites`` (candidate of each pair), ``far``
        (per group).
    """
    n_groups = group_cost.shape[0]
    order = np.argsort(group_cost, axis=1, kind="stable")
    ranked = np.take_along_axis(group_cost, order, axis=1)
    last = ranked[np.arange(n_groups), np.maximum(sizes, 1) - 1]
    keep = group_cost <= last[:, None]
    outside = np.where(keep, np.inf, group_cost)
    far = outside.min(axis=1)
    local_i, sites = np.nonzero(keep)
    return local_i, sites, far


def _pmedian_round(
    problem: PlacementProblem,
    p: int,
    rows: np.ndarray,
    row_w: np.ndarray,
    local_i: np.ndarray,
    sites: np.ndarray,
    far: np.ndarray | None,
    *,
    start: np.ndarray | None,
    start_shares: np.ndarray | None,
    exclude: Sequence[np.ndarray],
    objective_limit: float | None,
    time_limit_s: float,
    mip_gap: float,
    group_cost: np.ndarray | None = None,
) -> MipOutcome:
    """One p-median MIP over the given pairs (and far columns), solved by HiGHS.

    ``rows`` are the demand points (or the first of each merged group) of the
    model rows, ``row_w`` their weights; ``far`` the far price per row (``inf``:
    no far column), None for none at all.
    """
    n_cand = problem.n_candidates
    cost = problem.cost_s if group_cost is None else None
    pair_s = cost[rows[local_i], sites] if group_cost is None else group_cost[local_i, sites]
    capacitated = problem.capacitated
    model = _Model()
    lower = np.zeros(n_cand)
    lower[problem.fixed] = 1.0
    x = model.add_cols(np.zeros(n_cand), lower, np.ones(n_cand), integer=True)
    pair_cost = row_w[local_i] * pair_s / _PMEDIAN_SCALE_S
    z = model.add_cols(pair_cost, np.zeros(sites.size), np.ones(sites.size), integer=False)
    n_rows = rows.size
    far_rows = np.zeros(0, dtype=np.int64) if far is None else np.flatnonzero(np.isfinite(far))
    # sum_j z_ij (+ far_i) = 1
    if far_rows.size:
        far_cols = model.add_cols(
            row_w[far_rows] * far[far_rows] / _PMEDIAN_SCALE_S,  # type: ignore[index]
            np.zeros(far_rows.size),
            np.ones(far_rows.size),
            integer=False,
        )
        model.add_rows(
            np.concatenate([local_i, far_rows]),
            np.concatenate([z, far_cols]),
            np.ones(sites.size + far_rows.size),
            np.ones(n_rows),
            np.ones(n_rows),
        )
    else:
        model.add_rows(local_i, z, np.ones(sites.size), np.ones(n_rows), np.ones(n_rows))
    # z_ij - x_j <= 0
    model.add_rows(
        np.concatenate([np.arange(sites.size), np.arange(sites.size)]),
        np.concatenate([z, x[sites]]),
        np.concatenate([np.ones(sites.size), -np.ones(sites.size)]),
        np.full(sites.size, -np.inf),
        np.zeros(sites.size),
    )
    if capacitated:
        _capacity_rows(model, problem, x, sites, z, row_w[local_i])
    _site_rows(model, x, problem, p)
    _exclude_rows(
        model, x, problem, exclude, objective_limit, 0.0, maximize=False, scale=_PMEDIAN_SCALE_S
    )
    start_vec = None
    if capacitated:
        start_vec = _capacitated_start(model, x, z, start, start_shares)
    elif start is not None:
        start_vec = np.zeros(model.n_cols)
        start_vec[x[start]] = 1.0
        open_mask = np.zeros(n_cand, dtype=bool)
        open_mask[start] = True
        pair_open = open_mask[sites]
        masked = np.where(pair_open, pair_s, np.inf)
        # per row, the first pair reaching the row's nearest open site
        best = np.full(n_rows, np.inf)
        np.minimum.at(best, local_i, masked)
        pick = pair_open & (masked <= best[local_i])
        first = np.zeros(sites.size, dtype=bool)
        seen = np.zeros(n_rows, dtype=bool)
        for k in np.flatnonzero(pick):
            if not seen[local_i[k]]:
                first[k] = seen[local_i[k]] = True
        start_vec[z[first]] = 1.0
        if far_rows.size:
            # rows whose start site lies beyond their pairs go to their far column
            lost = far_rows[~seen[far_rows]]
            start_vec[far_cols[np.searchsorted(far_rows, lost)]] = 1.0
    state, values, bound, details = _run(
        model, maximize=False, start=start_vec, time_limit_s=time_limit_s, mip_gap=mip_gap
    )
    details["assignment_pairs"] = int(sites.size)
    if values is None:
        if state == "infeasible":
            raise PlacementError(
                "HiGHS ne trouve aucune p-médiane possible : les capacités sont trop petites "
                "pour la demande, ou les bornes de zones ne peuvent être respectées"
                if capacitated
                else "HiGHS ne trouve aucun choix de sites possible avec ces bornes de zones"
            )
        return _no_solution(state, details, None if bound is None else bound * _PMEDIAN_SCALE_S)
    chosen = np.flatnonzero(values[x] > 0.5)
    shares = None
    if capacitated:
        shares = median_shares(problem, rows, local_i, sites, values[z], chosen)
    return MipOutcome(
        chosen,
        state,
        None if bound is None else bound * _PMEDIAN_SCALE_S,
        details=details,
        shares=shares,
    )


def median_pairs(problem: PlacementProblem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The assignment pairs of a capacitated p-median: (served rows, local row, site) per pair."""
    finite = np.isfinite(problem.cost_s)
    served = np.flatnonzero(finite.any(axis=1) & (problem.weights > 0))
    local_i, sites = np.nonzero(finite[served])
    return served, local_i, sites


def median_shares(
    problem: PlacementProblem,
    served: np.ndarray,
    local_i: np.ndarray,
    sites: np.ndarray,
    zv: np.ndarray,
    chosen: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, None]:
    """Per demand point (capacitated p-median): main site and mean seconds over its shares."""
    cost = problem.cost_s
    n = problem.n_demand
    n_served = served.size
    demand = served[local_i]
    mean_s = np.full(n, np.inf)
    assignment = np.full(n, -1, dtype=np.int64)
    sums = np.bincount(local_i, weights=zv * cost[demand, sites], minlength=n_served)
    mean_s[served] = sums
    best_z = np.zeros(n_served)
    for k, (i, j) in enumerate(zip(local_i, sites, strict=True)):
        if zv[k] > best_z[i] + 1e-9:
            best_z[i], assignment[served[i]] = zv[k], j
    others = np.setdiff1d(np.arange(n), served)
    if others.size and chosen.size:
        local = np.argmin(cost[np.ix_(others, chosen)], axis=1)
        sec = cost[others, chosen[local]]
        assignment[others] = np.where(np.isfinite(sec), chosen[local], -1)
        mean_s[others] = sec
    return assignment, mean_s, None


# --- LSCP ----------------------------------------------------------------------------------------


def solve_lscp_mip(
    problem: PlacementProblem,
    reduced: ReducedCover,
    *,
    start: np.ndarray | None,
    time_limit_s: float,
    mip_gap: float,
    start_shares: np.ndarray | None = None,
    exclude: Sequence[np.ndarray] = (),
    objective_limit: float | None = None,
    closed: np.ndarray | None = None,
) -> MipOutcome:
    """Solve the LSCP (formulation in :func:`coverage.placement.solving.solve_lscp`).

    With capacities, ``start_shares`` is as in :func:`solve_mclp_mip`. ``closed``
    candidates (dominated ones, :func:`reduce_lscp`) are held at 0.
    """
    n_cand = problem.n_candidates
    groups, sites = np.nonzero(reduced.cover)
    n_groups = reduced.weights.shape[0]
    model = _Model()
    lower = np.zeros(n_cand)
    lower[problem.fixed] = 1.0
    upper = np.ones(n_cand)
    if closed is not None:
        upper[closed] = 0.0
    x = model.add_cols(np.ones(n_cand), lower, upper, integer=True)
    capacitated = problem.capacitated
    if not capacitated:
        model.add_rows(
            groups, x[sites], np.ones(groups.size), np.ones(n_groups), np.full(n_groups, np.inf)
        )
    else:
        u = model.add_cols(
            np.zeros(groups.size), np.zeros(groups.size), np.ones(groups.size), integer=False
        )
        model.add_rows(groups, u, np.ones(groups.size), np.ones(n_groups), np.ones(n_groups))
        _share_rows(model, u, x[sites])
        _capacity_rows(model, problem, x, sites, u, reduced.weights[groups])
    _site_rows(model, x, problem, None)
    _exclude_rows(model, x, problem, exclude, objective_limit, 0.0, maximize=False)
    start_vec = None
    if capacitated:
        start_vec = _capacitated_start(model, x, u, start, start_shares)
    elif start is not None:
        start_vec = np.zeros(model.n_cols)
        start_vec[x[start]] = 1.0
    state, values, bound, details = _run(
        model, maximize=False, start=start_vec, time_limit_s=time_limit_s, mip_gap=mip_gap
    )
    details["model_groups"] = n_groups
    if values is None:
        if state == "infeasible":
            raise PlacementError(
                "aucun choix de sites ne couvre tous les points de demande couvrables sous "
                "le seuil "
                + ("avec ces capacités" if capacitated else "avec ces bornes de zones")
                + " ; assouplissez la règle de zones ou ajoutez des candidats"
            )
        return _no_solution(state, details, bound)
    chosen = np.flatnonzero(values[x] > 0.5)
    shares = None
    if capacitated:
        shares = cover_shares(problem, reduced, chosen, groups, sites, values[u])
    return MipOutcome(chosen, state, bound, details=details, shares=shares)
