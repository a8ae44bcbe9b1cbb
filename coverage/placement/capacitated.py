"""Greedy placement with capacities: sites chosen greedily, demand assigned by a transport LP.

The uncapacitated heuristics of :mod:`coverage.placement.greedy` send every
demand point to its nearest open site, which a capacity may forbid. Here, once
sites are open, demand is assigned by a linear programme (HiGHS) that respects
every capacity and may split a demand point between sites:

- covering models (MCLP, LSCP): most weight covered within the threshold,
  ``max sum w_g u_gj`` s.t. ``sum_j u_gj <= 1``, ``sum_g w_g u_gj <= cap_j``;
- p-median: least weighted time, ``min sum w_i d_ij z_ij`` s.t.
  ``sum_j z_ij = 1``, ``sum_i w_i z_ij <= cap_j`` (None when the open sites
  cannot take all the demand).

Sites are added one at a time: the candidate whose capacity can take the most
weight still uncovered within its reach (``min(cap_j, uncovered weight it
reaches)``), among those the zone bounds allow; the LSCP then drops sites the
assignment no longer needs. The result is the MIP's start (its shares become
the start's ``u`` / ``z``) and its fallback: it always respects capacities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from coverage._highs import solve_mip
from coverage.placement.greedy import _ZoneCounts, greedy_pmedian
from coverage.placement.mip import ReducedCover, median_pairs
from coverage.placement.problem import PlacementError, PlacementProblem

_LP_TIME_LIMIT_S = 60.0
_EPS = 1e-7


@dataclass(eq=False)
class CapacitatedStart:
    """Open sites and the capacity-respecting assignment of the demand to them.

    Attributes
    ----------
    chosen
        Open candidates.
    shares
        Share of each model pair (``np.nonzero(reduced.cover)`` for covering
        models, :func:`coverage.placement.mip.median_pairs` for the p-median).
    objective
        Covered weight (MCLP, LSCP: reduced demand only) or weighted seconds
        (p-median).
    """

    chosen: np.ndarray
    shares: np.ndarray
    objective: float


def assign_cover(
    problem: PlacementProblem, reduced: ReducedCover, chosen: np.ndarray
) -> tuple[np.ndarray, float]:
    """Most reduced-demand weight the open ``chosen`` sites cover within their capacities.

    Returns
    -------
    tuple
        The share ``u`` of every pair of ``np.nonzero(reduced.cover)`` (0 for
        closed sites) and the covered weight.
    """
    groups, sites = np.nonzero(reduced.cover)
    shares = np.zeros(groups.size)
    is_open = np.zeros(problem.n_candidates, dtype=bool)
    is_open[chosen] = True
    use = np.flatnonzero(is_open[sites])
    if use.size == 0:
        return shares, 0.0
    assert problem.capacities is not None
    g, j, w = groups[use], sites[use], reduced.weights[groups[use]]
    caps = problem.capacities[j]
    limited = np.isfinite(caps)
    site_row = np.unique(j[limited], return_inverse=True)[1]
    n_groups = reduced.weights.shape[0]
    n_sites = int(site_row.max()) + 1 if limited.any() else 0
    cols = np.arange(use.size)
    rows = np.concatenate([g, n_groups + site_row])
    matrix = sp.csc_matrix(
        (
            np.concatenate([np.ones(use.size), w[limited]]),
            (rows, np.concatenate([cols, cols[limited]])),
        ),
        shape=(n_groups + n_sites, use.size),
    )
    site_caps = np.zeros(n_sites)
    if n_sites:
        site_caps[site_row] = caps[limited]
    result = solve_mip(
        w,
        matrix,
        np.full(n_groups + n_sites, -np.inf),
        np.concatenate([np.ones(n_groups), site_caps]),
        np.zeros(use.size),
        np.ones(use.size),
        integer=np.zeros(use.size, dtype=bool),
        maximise=True,
        time_limit_s=_LP_TIME_LIMIT_S,
        mip_gap=0.0,
    )
    if result.solution is None:  # pragma: no cover - u = 0 is always feasible
        return shares, 0.0
    shares[use] = np.clip(result.solution, 0.0, 1.0)
    return shares, float(result.objective or 0.0)


def greedy_cover_capacitated(
    problem: PlacementProblem, reduced: ReducedCover, p: int | None
) -> CapacitatedStart:
    """Greedy capacitated MCLP (``p`` sites) or LSCP (``p`` None: cover all reduced demand).

    Raises
    ------
    PlacementError
        LSCP: the candidates the zone bounds allow cannot cover every coverable
        demand point within their capacities; either: the zone bounds cannot be met.
    """
    cover = reduced.cover.astype(np.float64)
    w = reduced.weights
    total = float(w.sum())
    caps = problem.capacities
    assert caps is not None
    zones = _ZoneCounts(problem)
    is_open = np.zeros(problem.n_candidates, dtype=bool)
    for j in problem.fixed:
        is_open[j] = True
        zones.add(int(j))
    groups, _ = np.nonzero(reduced.cover)
    shares, covered = assign_cover(problem, reduced, np.flatnonzero(is_open))
    added: list[int] = []
    while p is None or is_open.sum() < p:
        uncovered = w * (1.0 - np.bincount(groups, weights=shares, minlength=w.size))
        uncovered = np.maximum(uncovered, 0.0)
        if p is None and uncovered.sum() <= _EPS * max(total, 1.0):
            break
        if p is None:
            allowed = zones.room() & ~is_open
        else:
            allowed = zones.addable(p - int(is_open.sum())) & ~is_open
        gain = np.minimum(caps, uncovered @ cover)
        gain = np.where(allowed, gain, -1.0)
        if p is None and not (gain > _EPS * max(total, 1.0)).any():
            raise PlacementError(
                "l'heuristique gloutonne avec capacités ne peut couvrir tous les points de demande "
                "couvrables dans les capacités et les bornes de zones (le solveur exact le peut "
                "peut-être : solver='highs')"
            )
        if not allowed.any():
            raise PlacementError(
                "l'heuristique gloutonne ne trouve aucun candidat que les "
                "bornes de zones autorisent"
            )
        k = int(np.argmax(gain))
        is_open[k] = True
        zones.add(k)
        added.append(k)
        shares, covered = assign_cover(problem, reduced, np.flatnonzero(is_open))
    if p is None:
        while zones.deficit() > 0:
            fills = zones.fills() & ~is_open
            k = int(np.argmax(np.where(fills, cover.T @ w, -1.0)))
            is_open[k] = True
            zones.add(k)
        for j in reversed(added):
            zj = zones.zone_of[j]
            if zj >= 0 and zones.count[zj] - 1 < zones.lo[zj]:
                continue
            is_open[j] = False
            trial, got = assign_cover(problem, reduced, np.flatnonzero(is_open))
            if got >= covered - _EPS * max(total, 1.0):
                shares, covered = trial, got
                zones.remove(j)
            else:
                is_open[j] = True
        shares, covered = assign_cover(problem, reduced, np.flatnonzero(is_open))
    return CapacitatedStart(np.flatnonzero(is_open), shares, covered)


def assign_median(problem: PlacementProblem, chosen: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Least weighted time assignment to the open ``chosen`` sites within their capacities.

    Returns
    -------
    tuple or None
        The share ``z`` of every pair of :func:`coverage.placement.mip.median_pairs`
        and the weighted seconds; None when the open sites cannot take all demand.
    """
    served, local_i, sites = median_pairs(problem)
    shares = np.zeros(sites.size)
    is_open = np.zeros(problem.n_candidates, dtype=bool)
    is_open[chosen] = True
    use = np.flatnonzero(is_open[sites])
    reached = np.zeros(served.size, dtype=bool)
    reached[local_i[use]] = True
    if not reached.all():
        return None
    assert problem.capacities is not None
    i, j = local_i[use], sites[use]
    w = problem.weights[served[i]]
    caps = problem.capacities[j]
    limited = np.isfinite(caps)
    site_row = np.unique(j[limited], return_inverse=True)[1]
    n_sites = int(site_row.max()) + 1 if limited.any() else 0
    cols = np.arange(use.size)
    matrix = sp.csc_matrix(
        (
            np.concatenate([np.ones(use.size), w[limited]]),
            (np.concatenate([i, served.size + site_row]), np.concatenate([cols, cols[limited]])),
        ),
        shape=(served.size + n_sites, use.size),
    )
    site_caps = np.zeros(n_sites)
    if n_sites:
        site_caps[site_row] = caps[limited]
    result = solve_mip(
        w * problem.cost_s[served[i], j] / 60.0,
        matrix,
        np.concatenate([np.ones(served.size), np.full(n_sites, -np.inf)]),
        np.concatenate([np.ones(served.size), site_caps]),
        np.zeros(use.size),
        np.ones(use.size),
        integer=np.zeros(use.size, dtype=bool),
        time_limit_s=_LP_TIME_LIMIT_S,
        mip_gap=0.0,
    )
    if result.solution is None or not result.proven_optimal:
        return None
    shares[use] = np.clip(result.solution, 0.0, 1.0)
    seconds = float((w * problem.cost_s[served[i], j] * shares[use]).sum())
    return shares, seconds


def greedy_pmedian_capacitated(
    problem: PlacementProblem, p: int, *, interchange: bool = True
) -> CapacitatedStart | None:
    """A capacity-respecting p-median start, or None when the heuristic finds none.

    First the uncapacitated greedy sites with the transport LP; when their
    capacities cannot take all demand, the sites the capacitated covering greedy
    picks on reachability (``p`` sites that can serve the most weight).
    """
    chosen = greedy_pmedian(problem, p, interchange=interchange)
    got = assign_median(problem, chosen)
    if got is None:
        reach = np.isfinite(problem.cost_s)
        keep = (problem.weights > 0) & reach.any(axis=1)
        rows = np.flatnonzero(keep)
        reduced = ReducedCover(
            reach[rows], problem.weights[rows], np.where(keep, np.cumsum(keep) - 1, -1), 0.0
        )
        try:
            chosen = greedy_cover_capacitated(problem, reduced, p).chosen
        except PlacementError:
            return None
        got = assign_median(problem, chosen)
        if got is None:
            return None
    return CapacitatedStart(chosen, got[0], got[1])
