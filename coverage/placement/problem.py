"""A placement problem: its data, their checks, the result of a solve, the errors.

The optimiser never sees geometry or a graph (the spopt/access style): a
:class:`PlacementProblem` holds a matrix of travel times in seconds from each
demand point to each candidate site, the demand weights (inhabitants), the
candidate ids and the constraints (sites kept open, zones, capacities); it
checks them when built. :class:`PlacementResult` is what a solve returns
(:mod:`coverage.placement.solving`), the same report for every solver.

Conventions. Times are seconds; ``inf`` (or ``NaN``, a point off the network)
means the pair cannot be used. ``p`` counts every open site, the fixed ones
included. A demand point is covered within ``T`` minutes when its time to an
open site is at most ``T`` minutes.

Zones. Each candidate may belong to a zone (a canton, a group of cantons, any
label; ``None`` for none). A zone rule bounds the number of open sites per zone:
``at_most_one`` (0..1), ``exactly_one`` (1..1) or ``at_least_one`` (1..any);
``zone_bounds`` overrides the bounds of single zones. ``zone_names`` lists every
zone that exists, so that a zone required to get a site but holding no candidate
is reported as such.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from coverage._french import plural
from coverage.errors import QueryError

ZONE_RULES: dict[str, tuple[int, float]] = {
    "at_most_one": (0, 1),
    "exactly_one": (1, 1),
    "at_least_one": (1, np.inf),
}
"""Bounds (min, max) on the number of open sites per zone for each zone rule."""

SOLVERS: tuple[str, ...] = ("highs", "greedy")
MODELS: tuple[str, ...] = ("mclp", "pmedian", "lscp", "maxmin")
DEFAULT_TIME_LIMIT_S = 120.0
COVER_TOLERANCE_S = 1e-6
"""Slack added to a threshold so that a time equal to it counts as covered."""
MISSING_PAIR_S = 86_400.0
"""Travel time counted for an unusable pair when comparing equally good covers (a day)."""

Solver = Literal["highs", "greedy"]

RESULT_STATUS_LABELS: dict[str, str] = {
    "optimal": "optimum prouvé",
    "time_limit": "limite de temps atteinte",
    "feasible": "solution non prouvée optimale",
    "heuristic": "heuristique (non prouvé)",
}
"""What each result status means, in French (CLI, ``placement.json``)."""


class PlacementError(QueryError):
    """Placement settings that cannot be satisfied (p, fixed sites, zones, capacities).

    The message says which parameter or zone is at fault and how to fix it.
    """


@dataclass(frozen=True, eq=False)
class PlacementProblem:
    """The data of a placement problem: travel times, weights, candidates and constraints.

    Parameters
    ----------
    cost_s
        ``(n_demand, n_candidates)`` travel times in seconds from each demand point
        to each candidate; ``inf`` or ``NaN`` where the pair is unusable.
    weights
        ``(n_demand,)`` demand weights (inhabitants), finite and non-negative.
    candidate_ids
        One unique id per candidate (strings).
    demand_ids
        One id per demand point (default ``"0"``, ``"1"``...).
    fixed
        Candidates that are open whatever happens (existing sites): ids or indices.
    zones
        One zone label per candidate (``None`` or ``""``: no zone), or None for no
        zone constraint at all.
    zone_rule
        ``at_most_one`` (default), ``exactly_one`` or ``at_least_one``.
    zone_names
        Every zone of the territory, also those without any candidate (default: the
        zones of the candidates).
    zone_bounds
        Per-zone ``(min, max)`` overrides of the rule (``max`` may be None: no limit).
    capacities
        Optional ``(n_candidates,)`` largest demand weight each site may serve
        (``inf``: no limit). Demand may then be split between sites.

    Raises
    ------
    PlacementError
        Naming the parameter that is malformed (shapes, negative or NaN values,
        duplicate or unknown ids, unknown zone rule).
    """

    cost_s: np.ndarray
    weights: np.ndarray
    candidate_ids: np.ndarray
    demand_ids: np.ndarray
    fixed: np.ndarray
    zones: np.ndarray | None
    zone_rule: str
    zone_names: tuple[str, ...]
    zone_bounds: dict[str, tuple[int, float]]
    capacities: np.ndarray | None

    def __init__(
        self,
        cost_s: Any,
        weights: Any,
        *,
        candidate_ids: Sequence[Any],
        demand_ids: Sequence[Any] | None = None,
        fixed: Iterable[Any] = (),
        zones: Sequence[Any] | None = None,
        zone_rule: str = "at_most_one",
        zone_names: Sequence[str] | None = None,
        zone_bounds: Mapping[str, tuple[int, int | float | None]] | None = None,
        capacities: Sequence[float] | None = None,
    ) -> None:
        cost = np.array(cost_s, dtype=np.float64, copy=True)
        if cost.ndim != 2:
            raise PlacementError(
                f"cost_s doit être un tableau 2-D (n_demand, n_candidates), reçu la forme "
                f"{tuple(int(n) for n in cost.shape)}"
            )
        n, n_cand = cost.shape
        if n_cand == 0:
            raise PlacementError(
                "cost_s n'a aucune colonne de candidat : donnez au moins un candidat"
            )
        if (cost < 0).any():
            i, j = np.argwhere(cost < 0)[0]
            raise PlacementError(
                f"cost_s[{int(i)}, {int(j)}] est négatif ({float(cost[i, j]):g} s)"
            )
        cost[np.isnan(cost)] = np.inf
        w = np.asarray(weights, dtype=np.float64).ravel()
        if w.shape[0] != n:
            raise PlacementError(
                f"weights a {plural(int(w.shape[0]), 'valeur')} mais cost_s a "
                f"{plural(n, 'ligne de demande', 'lignes de demande')}"
            )
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise PlacementError(
                f"weights[{int(i)}] doit être un nombre fini >= 0, reçu {float(w[i])!r}"
            )
        ids = np.array([str(c) for c in candidate_ids], dtype=object)
        if ids.shape[0] != n_cand:
            raise PlacementError(
                f"candidate_ids a {plural(int(ids.shape[0]), 'identifiant')} mais cost_s a "
                f"{plural(n_cand, 'colonne de candidat', 'colonnes de candidats')}"
            )
        seen: dict[str, int] = {}
        for index, cid in enumerate(ids):
            if cid in seen:
                raise PlacementError(
                    f"candidate_ids : '{cid}' est donné deux fois (positions {seen[cid]} et "
                    f"{index})"
                )
            seen[cid] = index
        if demand_ids is None:
            dids = np.array([str(i) for i in range(n)], dtype=object)
        else:
            dids = np.array([str(d) for d in demand_ids], dtype=object)
            if dids.shape[0] != n:
                raise PlacementError(
                    f"demand_ids a {plural(int(dids.shape[0]), 'identifiant')} mais cost_s a "
                    f"{plural(n, 'ligne de demande', 'lignes de demande')}"
                )
        fixed_idx = _candidate_indices(fixed, seen, n_cand, name="fixed")
        if zone_rule not in ZONE_RULES:
            raise PlacementError(
                f"zone_rule doit être l'une de {', '.join(ZONE_RULES)}, reçu {zone_rule!r}"
            )
        zone_arr: np.ndarray | None = None
        names: tuple[str, ...] = ()
        if zones is not None:
            zone_arr = np.array(
                [
                    None
                    if z is None or (isinstance(z, float) and np.isnan(z)) or str(z) == ""
                    else str(z)
                    for z in zones
                ],
                dtype=object,
            )
            if zone_arr.shape[0] != n_cand:
                raise PlacementError(
                    f"zones a {plural(int(zone_arr.shape[0]), 'libellé')} mais il y a "
                    f"{plural(n_cand, 'candidat')}"
                )
            present = sorted({z for z in zone_arr if z is not None})
            names = tuple(dict.fromkeys([*(zone_names or []), *present]))
            if zone_names is not None:
                unknown = sorted(set(present) - {str(z) for z in zone_names})
                if unknown:
                    raise PlacementError(
                        f"zones : la zone de candidat '{unknown[0]}' n'est pas dans zone_names"
                    )
        elif zone_names:
            raise PlacementError("zone_names est donné sans zones (un libellé par candidat)")
        bounds: dict[str, tuple[int, float]] = {}
        for zone, pair in (zone_bounds or {}).items():
            if zone_arr is None or str(zone) not in names:
                raise PlacementError(f"zone_bounds : zone inconnue '{zone}'")
            lo, hi = pair
            hi_f = np.inf if hi is None else float(hi)
            if int(lo) < 0 or hi_f < int(lo):
                raise PlacementError(
                    f"zone_bounds['{zone}'] = ({lo}, {hi}) : il faut 0 <= min <= max"
                )
            bounds[str(zone)] = (int(lo), hi_f)
        caps = None
        if capacities is not None:
            caps = np.asarray(capacities, dtype=np.float64).ravel()
            if caps.shape[0] != n_cand:
                raise PlacementError(
                    f"capacities a {plural(int(caps.shape[0]), 'valeur')} mais il y a "
                    f"{plural(n_cand, 'candidat')}"
                )
            bad = np.isnan(caps) | (caps < 0)
            if bad.any():
                j = int(np.flatnonzero(bad)[0])
                raise PlacementError(
                    f"capacities[{int(j)}] (candidat '{ids[j]}') doit être >= 0 (inf : sans limite)"
                )
        object.__setattr__(self, "cost_s", cost)
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "candidate_ids", ids)
        object.__setattr__(self, "demand_ids", dids)
        object.__setattr__(self, "fixed", fixed_idx)
        object.__setattr__(self, "zones", zone_arr)
        object.__setattr__(self, "zone_rule", zone_rule)
        object.__setattr__(self, "zone_names", names)
        object.__setattr__(self, "zone_bounds", bounds)
        object.__setattr__(self, "capacities", caps)

    @property
    def n_demand(self) -> int:
        """Number of demand points."""
        return int(self.cost_s.shape[0])

    @property
    def n_candidates(self) -> int:
        """Number of candidate sites."""
        return int(self.cost_s.shape[1])

    @property
    def capacitated(self) -> bool:
        """Whether some candidate has a finite capacity."""
        return self.capacities is not None and bool(np.isfinite(self.capacities).any())

    def index_of(self, candidate_id: str) -> int:
        """Index of a candidate id.

        Raises
        ------
        PlacementError
            If the id is unknown.
        """
        hits = np.flatnonzero(self.candidate_ids == str(candidate_id))
        if hits.size == 0:
            raise PlacementError(f"identifiant de candidat inconnu : '{candidate_id}'")
        return int(hits[0])

    def zone_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Zones as arrays: each candidate's zone index (-1: none), and per zone min and max.

        Returns
        -------
        tuple of arrays
            ``zone_of`` (n_candidates,), ``lo`` and ``hi`` (n_zones,); ``hi`` may be
            ``inf``. Empty arrays when the problem has no zones.
        """
        if self.zones is None:
            return np.full(self.n_candidates, -1, dtype=np.int64), np.zeros(0), np.zeros(0)
        position = {z: i for i, z in enumerate(self.zone_names)}
        zone_of = np.array([-1 if z is None else position[z] for z in self.zones], dtype=np.int64)
        base_lo, base_hi = ZONE_RULES[self.zone_rule]
        lo = np.full(len(self.zone_names), float(base_lo))
        hi = np.full(len(self.zone_names), float(base_hi))
        for zone, (z_lo, z_hi) in self.zone_bounds.items():
            lo[position[zone]] = z_lo
            hi[position[zone]] = z_hi
        return zone_of, lo, hi

    def coverage(self, threshold_minutes: float) -> np.ndarray:
        """Boolean ``(n_demand, n_candidates)`` matrix: candidate within the threshold.

        Raises
        ------
        PlacementError
            If the threshold is not a positive number of minutes.
        """
        limit = threshold_seconds(threshold_minutes)
        return self.cost_s <= limit + COVER_TOLERANCE_S

    def check_sites(self, p: int | None) -> None:
        """Check that ``p`` open sites can satisfy the fixed sites and the zone bounds.

        Parameters
        ----------
        p
            Number of open sites (fixed included), or None for a model that chooses
            the number itself (LSCP: only the zone checks apply).

        Raises
        ------
        PlacementError
            p smaller than the fixed sites or larger than the candidates, a zone with
            more fixed sites than its maximum, a zone that needs a site and has no
            candidate, ``exactly_one`` with p different from the number of zones...
        """
        n_fixed = int(self.fixed.size)
        if p is not None:
            if isinstance(p, bool) or not isinstance(p, int | np.integer):
                raise PlacementError(f"p doit être un nombre entier de sites, reçu {p!r}")
            if p < 1:
                raise PlacementError(f"p doit valoir au moins 1, reçu {int(p)}")
            if p < n_fixed:
                raise PlacementError(
                    f"p = {int(p)} est inférieur aux {plural(n_fixed, 'site imposé')} "
                    f"({', '.join(self.candidate_ids[self.fixed][:5])}"
                    f"{'...' if n_fixed > 5 else ''}) ; p compte tous les sites ouverts, "
                    "imposés compris"
                )
            if p > self.n_candidates:
                raise PlacementError(
                    f"p = {int(p)} dépasse le nombre de sites candidats ({self.n_candidates})"
                )
        if self.zones is None:
            return
        zone_of, lo, hi = self.zone_table()
        n_zones = len(self.zone_names)
        per_zone = np.bincount(zone_of[zone_of >= 0], minlength=n_zones)
        fixed_zone = zone_of[self.fixed]
        fixed_per_zone = np.bincount(fixed_zone[fixed_zone >= 0], minlength=n_zones)
        for z in range(n_zones):
            name = self.zone_names[z]
            if lo[z] > per_zone[z]:
                what = (
                    "aucun candidat"
                    if per_zone[z] == 0
                    else f"seulement {plural(int(per_zone[z]), 'candidat')}"
                )
                raise PlacementError(
                    f"la zone '{name}' doit recevoir au moins {plural(int(lo[z]), 'site')} "
                    f"({self.zone_rule}) mais n'a que {what} ; ajoutez-y des candidats ou "
                    "assouplissez la règle de zones"
                )
            if fixed_per_zone[z] > hi[z]:
                fixed_names = self.candidate_ids[self.fixed[fixed_zone == z]]
                raise PlacementError(
                    f"la zone '{name}' a déjà {plural(int(fixed_per_zone[z]), 'site imposé')} "
                    f"({', '.join(fixed_names)}) mais la règle {self.zone_rule} en permet au "
                    f"plus {int(hi[z])} ; changez de règle de zones ou imposez moins de sites"
                )
        if p is None:
            return
        free = int((zone_of < 0).sum())
        least = int(np.maximum(lo, fixed_per_zone).sum()) + int((fixed_zone < 0).sum())
        most = float(np.minimum(hi, per_zone).sum()) + free
        if self.zone_rule == "exactly_one" and not self.zone_bounds and free == 0 and p != n_zones:
            raise PlacementError(
                f"la règle de zones exactly_one demande p = {n_zones} (un site dans chacune des "
                f"{n_zones} zones), reçu p = {int(p)} ; prenez at_least_one ou at_most_one "
                "pour un autre nombre"
            )
        if p < least:
            raise PlacementError(
                f"p = {int(p)} est trop petit : la règle de zones {self.zone_rule} et les sites "
                f"imposés demandent au moins {plural(least, 'site')}"
            )
        if p > most:
            raise PlacementError(
                f"p = {int(p)} est trop grand : la règle de zones {self.zone_rule} permet au plus "
                f"{plural(int(most), 'site')} sur {plural(n_zones, 'zone')}"
            )


def _candidate_indices(
    values: Iterable[Any], position: dict[str, int], n: int, *, name: str
) -> np.ndarray:
    out: list[int] = []
    for value in values:
        if isinstance(value, int | np.integer) and not isinstance(value, bool):
            if not 0 <= int(value) < n:
                raise PlacementError(
                    f"{name} : l'indice de candidat {int(value)} est hors "
                    f"de l'intervalle 0..{n - 1}"
                )
            out.append(int(value))
        else:
            key = str(value)
            if key not in position:
                raise PlacementError(f"{name} : identifiant de candidat inconnu '{key}'")
            out.append(position[key])
    return np.array(sorted(set(out)), dtype=np.int64)


def threshold_seconds(threshold_minutes: float) -> float:
    """A coverage threshold in seconds, checked (a positive number of minutes).

    Raises
    ------
    PlacementError
        If the threshold is not a positive, finite number of minutes.
    """
    if (
        isinstance(threshold_minutes, bool)
        or not isinstance(threshold_minutes, int | float | np.integer | np.floating)
        or not np.isfinite(threshold_minutes)
        or threshold_minutes <= 0
    ):
        raise PlacementError(
            f"threshold_minutes doit être un nombre positif de minutes, reçu {threshold_minutes!r}"
        )
    return float(threshold_minutes) * 60.0


@dataclass(frozen=True, eq=False)
class PlacementResult:
    """A solved placement: which sites, how good, how sure.

    Attributes
    ----------
    model
        ``mclp``, ``pmedian`` or ``lscp``.
    method
        ``highs`` (exact MIP) or ``greedy`` (greedy + interchange heuristic), with the
        reason when the greedy result stands in for the MIP (``greedy (repli : ...)``).
    status
        ``optimal`` (proven, within ``mip_gap``), ``time_limit`` (best found when the
        time ran out, see ``gap``), ``feasible`` (HiGHS stopped with a solution it did
        not prove within ``mip_gap``) or ``heuristic`` (greedy, nothing proven).
    chosen
        Indices of the open candidates (fixed included), ascending.
    candidate_ids
        Ids of the open candidates.
    fixed
        Indices of the fixed candidates.
    objective
        MCLP: weight covered within the threshold; p-median: sum of weight × seconds
        to the assigned site; LSCP: number of open sites.
    bound
        Best proven bound on the objective (upper for MCLP, lower otherwise), or None
        for a heuristic.
    gap
        ``|bound - objective| / max(|objective|, 1)``, or None for a heuristic.
    solve_time_s
        Wall time of the solve (model building included).
    assignment
        Per demand point: index of its site (-1: none); the nearest open site when
        uncapacitated, the site serving the largest share otherwise.
    assignment_s
        Per demand point: seconds to that site (``inf``: none reachable).
    covered
        Per demand point: share of its weight covered within the threshold (0..1;
        MCLP and LSCP), or None.
    unserved
        Demand points no candidate can serve (beyond the threshold of every candidate,
        or unreachable for the p-median); they are left out of the model.
    parameters
        What was asked (p, threshold, zone rule...) and solver details.
    """

    model: str
    method: str
    status: str
    chosen: np.ndarray
    candidate_ids: list[str]
    fixed: np.ndarray
    objective: float
    bound: float | None
    gap: float | None
    solve_time_s: float
    assignment: np.ndarray
    assignment_s: np.ndarray
    covered: np.ndarray | None
    unserved: np.ndarray
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def added(self) -> np.ndarray:
        """Indices of the open candidates that are not fixed."""
        return np.setdiff1d(self.chosen, self.fixed)

    @property
    def proven_optimal(self) -> bool:
        """Whether the solution is proven optimal (gap within the requested tolerance)."""
        return self.status == "optimal"

    def verdict(self) -> str:
        """One French sentence saying how sure the result is (proven, or incumbent, bound, gap)."""
        label = RESULT_STATUS_LABELS.get(self.status, self.status)
        if self.status == "optimal":
            return f"{label} (écart {_share(self.gap)} à la borne)"
        if self.bound is None or not np.isfinite(self.bound):
            return f"{label} : meilleure solution trouvée, sans borne prouvée"
        return (
            f"{label} : meilleure solution trouvée {self.objective:.6g}, borne prouvée "
            f"{self.bound:.6g}, écart {_share(self.gap)} ; ce n'est pas un optimum prouvé"
        )

    def report(self) -> dict[str, Any]:
        """The solver report as plain data (for JSON and the CLI)."""
        return {
            "model": self.model,
            "method": self.method,
            "status": self.status,
            "status_label": RESULT_STATUS_LABELS.get(self.status, self.status),
            "verdict": self.verdict(),
            "objective": _plain(self.objective),
            "bound": _plain(self.bound),
            "gap": _plain(self.gap),
            "solve_time_s": round(self.solve_time_s, 3),
            "sites": len(self.chosen),
            "fixed": len(self.fixed),
            "added": len(self.added),
            "candidate_ids": list(self.candidate_ids),
            "unserved_demand_points": len(self.unserved),
            "parameters": {k: _plain(v) for k, v in self.parameters.items()},
        }


def _share(gap: float | None) -> str:
    return "inconnu" if gap is None else f"{gap:.2%}".replace(".", ",")


def _plain(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    return value
