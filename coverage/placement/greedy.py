"""Greedy heuristics for the placement models: the baseline, the MIP's start and its fallback.

Each heuristic starts from the fixed sites and adds, one at a time, the
candidate that improves the objective most among those the zone bounds still
allow (a zone below its minimum is served first when the remaining sites are
just enough for the minimums). The MCLP and p-median heuristics then swap
sites (vertex substitution, Teitz & Bart 1968) while a swap improves the
objective; the LSCP heuristic drops sites that became redundant. Nothing is
proven: the MIP result says how far from the optimum a greedy result is.
"""

from __future__ import annotations

import numpy as np

from coverage.placement.mip import ReducedCover
from coverage.placement.problem import PlacementError, PlacementProblem

_EPS = 1e-9
_MAX_PASSES = 100
_COLUMN_CHUNK = 64


class _ZoneCounts:
    """Open sites per zone, and which candidates the zone bounds allow next."""

    def __init__(self, problem: PlacementProblem) -> None:
        self.zone_of, self.lo, self.hi = problem.zone_table()
        self.count = np.zeros(self.lo.shape[0])
        self.zoned = self.zone_of >= 0

    def add(self, j: int) -> None:
        if self.zone_of[j] >= 0:
            self.count[self.zone_of[j]] += 1

    def remove(self, j: int) -> None:
        if self.zone_of[j] >= 0:
            self.count[self.zone_of[j]] -= 1

    def deficit(self) -> float:
        return float(np.maximum(self.lo - self.count, 0).sum()) if self.lo.size else 0.0

    def room(self) -> np.ndarray:
        """Candidates whose zone can take one more site."""
        out = np.ones(self.zone_of.shape[0], dtype=bool)
        if self.lo.size:
            z = self.zone_of[self.zoned]
            out[self.zoned] = self.count[z] < self.hi[z]
        return out

    def fills(self) -> np.ndarray:
        """Candidates in a zone still below its minimum."""
        out = np.zeros(self.zone_of.shape[0], dtype=bool)
        if self.lo.size:
            z = self.zone_of[self.zoned]
            out[self.zoned] = self.count[z] < self.lo[z]
        return out

    def addable(self, slots_left: int | None) -> np.ndarray:
        """Candidates that keep the zone bounds reachable with ``slots_left`` sites to place."""
        ok = self.room()
        if slots_left is not None:
            fills = self.fills()
            ok &= (self.deficit() - fills) <= slots_left - 1
        return ok

    def swappable(self, j: int) -> np.ndarray:
        """Candidates that may replace open site ``j`` without breaking the zone bounds."""
        zj = self.zone_of[j]
        leaving_ok = zj < 0 or not self.lo.size or self.count[zj] - 1 >= self.lo[zj]
        same = (self.zone_of == zj) & (zj >= 0)
        return same | (leaving_ok & self.room() & ~same)


def greedy_mclp(
    problem: PlacementProblem,
    reduced: ReducedCover,
    p: int,
    *,
    interchange: bool = True,
    closed: np.ndarray | None = None,
) -> np.ndarray:
    """Greedy (+ interchange) MCLP on the reduced demand; returns the open candidates.

    ``closed`` marks candidates never to open (dominated ones, see
    :func:`coverage.placement.mip.dominated_candidates`).
    """
    cover = reduced.cover.astype(np.float32)
    w = reduced.weights.astype(np.float64)
    zones = _ZoneCounts(problem)
    is_open = np.zeros(problem.n_candidates, dtype=bool)
    usable = np.ones(problem.n_candidates, dtype=bool) if closed is None else ~closed
    counts = np.zeros(cover.shape[0])
    for j in problem.fixed:
        is_open[j] = True
        counts += cover[:, j]
        zones.add(int(j))
    while is_open.sum() < p:
        gain = (w * (counts == 0)) @ cover
        allowed = zones.addable(p - int(is_open.sum())) & ~is_open & usable
        if not allowed.any():
            raise PlacementError(
                "l'heuristique gloutonne ne trouve aucun candidat que les "
                "bornes de zones autorisent"
            )
        gain = np.where(allowed, gain, -1.0)
        k = int(np.argmax(gain))
        is_open[k] = True
        counts += cover[:, k]
        zones.add(k)
    if interchange:
        fixed = set(problem.fixed.tolist())
        for _ in range(_MAX_PASSES):
            improved = False
            for j in [int(j) for j in np.flatnonzero(is_open) if j not in fixed]:
                without = counts - cover[:, j]
                loss = float(w[(without == 0) & (cover[:, j] > 0)].sum())
                gain = (w * (without == 0)) @ cover
                allowed = zones.swappable(j) & ~is_open & usable
                if not allowed.any():
                    continue
                gain = np.where(allowed, gain, -1.0)
                k = int(np.argmax(gain))
                if gain[k] - loss > _EPS * max(1.0, float(w.sum())):
                    is_open[j], is_open[k] = False, True
                    counts = without + cover[:, k]
                    zones.remove(j)
                    zones.add(k)
                    improved = True
            if not improved:
                break
    return np.flatnonzero(is_open)


def greedy_pmedian(problem: PlacementProblem, p: int, *, interchange: bool = True) -> np.ndarray:
    """Greedy (+ interchange) p-median; returns the open candidates."""
    cost = problem.cost_s
    served = np.isfinite(cost).any(axis=1) & (problem.weights > 0)
    finite = cost[served]
    w = problem.weights[served]
    big = (
        float(np.nanmax(np.where(np.isfinite(finite), finite, np.nan))) * 10.0 + 1.0
        if finite.size
        else 1.0
    )
    dist = np.where(np.isfinite(finite), finite, big)
    zones = _ZoneCounts(problem)
    is_open = np.zeros(problem.n_candidates, dtype=bool)
    current = np.full(dist.shape[0], big)
    for j in problem.fixed:
        is_open[j] = True
        current = np.minimum(current, dist[:, j])
        zones.add(int(j))
    while is_open.sum() < p:
        totals = _totals(dist, w, current)
        allowed = zones.addable(p - int(is_open.sum())) & ~is_open
        if not allowed.any():
            raise PlacementError(
                "l'heuristique gloutonne ne trouve aucun candidat que les "
                "bornes de zones autorisent"
            )
        totals = np.where(allowed, totals, np.inf)
        k = int(np.argmin(totals))
        is_open[k] = True
        current = np.minimum(current, dist[:, k])
        zones.add(k)
    if interchange and dist.shape[0]:
        fixed = set(problem.fixed.tolist())
        total = float((w * current).sum())
        for _ in range(_MAX_PASSES):
            improved = False
            for j in [int(j) for j in np.flatnonzero(is_open) if j not in fixed]:
                others = np.flatnonzero(is_open & (np.arange(is_open.size) != j))
                without = dist[:, others].min(axis=1) if others.size else np.full(w.size, big)
                totals = _totals(dist, w, without)
                allowed = zones.swappable(j) & ~is_open
                if not allowed.any():
                    continue
                totals = np.where(allowed, totals, np.inf)
                k = int(np.argmin(totals))
                if totals[k] < total - _EPS * max(1.0, total):
                    is_open[j], is_open[k] = False, True
                    current = np.minimum(without, dist[:, k])
                    total = float((w * current).sum())
                    zones.remove(j)
                    zones.add(k)
                    improved = True
            if not improved:
                break
    return np.flatnonzero(is_open)


def _totals(dist: np.ndarray, w: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Weighted cost if each candidate were added to the sites behind ``current``."""
    out = np.empty(dist.shape[1])
    for start in range(0, dist.shape[1], _COLUMN_CHUNK):
        block = np.minimum(current[:, None], dist[:, start : start + _COLUMN_CHUNK])
        out[start : start + block.shape[1]] = w @ block
    return out


def greedy_lscp(problem: PlacementProblem, reduced: ReducedCover) -> np.ndarray:
    """Greedy set cover (most uncovered weight first), then redundant sites dropped.

    Raises
    ------
    PlacementError
        When the zone bounds leave some coverable demand without any allowed site.
    """
    cover = reduced.cover
    coverf = cover.astype(np.float32)
    w = reduced.weights.astype(np.float64)
    zones = _ZoneCounts(problem)
    is_open = np.zeros(problem.n_candidates, dtype=bool)
    counts = np.zeros(cover.shape[0])
    for j in problem.fixed:
        is_open[j] = True
        counts += coverf[:, j]
        zones.add(int(j))
    added: list[int] = []
    while (counts == 0).any():
        gain = (w * (counts == 0)) @ coverf
        allowed = zones.room() & ~is_open
        gain = np.where(allowed, gain, 0.0)
        k = int(np.argmax(gain))
        if gain[k] <= 0:
            group = int(np.flatnonzero(counts == 0)[0])
            members = problem.demand_ids[reduced.group_of == group]
            raise PlacementError(
                f"l'heuristique gloutonne laisse le(s) point(s) de demande "
                f"{', '.join(members[:5])} sans "
                "aucun site autorisé par les bornes de zones sous le seuil (le solveur exact "
                "peut faire mieux : solver='highs') ; assouplissez la règle de zones"
            )
        is_open[k] = True
        counts += coverf[:, k]
        zones.add(k)
        added.append(k)
    reach = coverf.T @ w
    while zones.deficit() > 0:
        allowed = zones.fills() & ~is_open
        k = int(np.argmax(np.where(allowed, reach, -1.0)))
        is_open[k] = True
        counts += coverf[:, k]
        zones.add(k)
        added.append(k)
    for j in reversed(added):
        without = counts - coverf[:, j]
        zj = zones.zone_of[j]
        zone_ok = zj < 0 or zones.count[zj] - 1 >= zones.lo[zj]
        if zone_ok and not ((without == 0) & cover[:, j]).any():
            is_open[j] = False
            counts = without
            zones.remove(j)
    return np.flatnonzero(is_open)
