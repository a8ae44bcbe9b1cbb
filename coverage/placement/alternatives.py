"""Other plans as good as a proven optimum: alternative optima of MCLP, LSCP and p-median.

Covering models often have several optimal site sets (the Gers tiers-lieux
case: three MIPs reach 190 929 inhabitants with different sites). From a result
proven optimal, :func:`alternative_optima` solves the same MIP again with

- the objective held at the optimum (``>= optimum - tolerance`` for the MCLP,
  ``<= optimum + tolerance`` for the LSCP and the p-median), and
- one no-good cut per site set already found (the result's, then each
  alternative's): at least one of its non-fixed sites closes,

so that any solution HiGHS finds is another optimum; it stops when HiGHS proves
none is left (the model becomes infeasible), when ``limit`` sets are found, or
at the time limit. Each alternative's objective is evaluated again on the full
problem (nearest open site; with capacities, the transport LP of
:mod:`coverage.placement.capacitated`) and kept only when it meets the optimum.
No reduction that could hide an optimum is applied (dominated candidates stay).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from coverage.placement.capacitated import assign_cover, assign_median
from coverage.placement.mip import (
    MipOutcome,
    reduce_cover,
    solve_lscp_mip,
    solve_mclp_mip,
    solve_pmedian_mip,
)
from coverage.placement.problem import PlacementError, PlacementProblem, PlacementResult

DEFAULT_TIME_LIMIT_S = 60.0
RELATIVE_TOLERANCE = 1e-9
"""Relative slack on the optimum an alternative must reach (``max(|optimum|, 1)`` × it)."""


@dataclass(frozen=True, eq=False)
class AlternativeOptimum:
    """Another site set that reaches the proven optimum.

    Attributes
    ----------
    chosen
        Indices of its open candidates (fixed included), ascending.
    candidate_ids
        Ids of its open candidates.
    objective
        Its objective, evaluated on the full problem (same unit as the result's).
    added
        Ids of its sites the result does not open.
    removed
        Ids of the result's sites it does not open.
    """

    chosen: np.ndarray
    candidate_ids: list[str]
    objective: float
    added: list[str]
    removed: list[str]

    def report(self) -> dict[str, object]:
        """As plain data (for JSON)."""
        return {
            "candidate_ids": list(self.candidate_ids),
            "objective": float(self.objective),
            "added": list(self.added),
            "removed": list(self.removed),
        }


def alternative_optima(
    problem: PlacementProblem,
    result: PlacementResult,
    *,
    limit: int = 3,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
) -> list[AlternativeOptimum]:
    """Up to ``limit`` other site sets that reach ``result``'s proven optimum.

    Parameters
    ----------
    problem
        The problem ``result`` was solved on.
    result
        A result with status ``optimal`` (MCLP, LSCP or p-median, from
        :func:`coverage.placement.solve`).
    limit
        Most alternatives returned (>= 1).
    time_limit_s
        HiGHS time limit of each re-solve; at the limit the search stops with the
        alternatives found so far.

    Returns
    -------
    list of AlternativeOptimum
        In the order found; empty when HiGHS proves that no other site set reaches
        the optimum (or finds none within the time limit).

    Raises
    ------
    PlacementError
        ``result`` not proven optimal, an unknown model, or a bad ``limit`` /
        ``time_limit_s``.
    """
    if result.status != "optimal":
        raise PlacementError(
            f"optima alternatifs : le résultat a le statut {result.status!r} ; seul un "
            "optimum prouvé (statut 'optimal') a des optima alternatifs"
        )
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise PlacementError(f"limit doit être un entier >= 1, reçu {limit!r}")
    if not isinstance(time_limit_s, int | float) or not time_limit_s > 0:
        raise PlacementError(f"time_limit_s doit être un nombre > 0, reçu {time_limit_s!r}")
    optimum = float(result.objective)
    tolerance = RELATIVE_TOLERANCE * max(abs(optimum), 1.0)
    found: list[np.ndarray] = [np.asarray(result.chosen, dtype=np.int64)]
    out: list[AlternativeOptimum] = []
    # a solution the independent evaluation rejects (numerical slack) is cut too; a
    # few of them in a row end the search
    for _attempt in range(3 * limit):
        if len(out) >= limit:
            break
        options: dict[str, Any] = {
            "start": None,
            "time_limit_s": float(time_limit_s),
            "mip_gap": 0.0,
            "exclude": found,
        }
        try:
            outcome = _resolve(problem, result, optimum, tolerance, options)
        except PlacementError:
            break  # HiGHS proves the cut model infeasible: no other optimum
        if outcome.chosen is None:
            break  # none left (proven), or none found in time
        chosen = np.asarray(outcome.chosen, dtype=np.int64)
        value = _objective(problem, result, chosen)
        if result.model == "mclp":
            meets = value >= optimum - tolerance
        else:
            meets = value <= optimum + tolerance
        found.append(chosen)
        if meets:
            out.append(_alternative(problem, result, chosen, value))
    return out


def _resolve(
    problem: PlacementProblem,
    result: PlacementResult,
    optimum: float,
    tolerance: float,
    options: dict[str, Any],
) -> MipOutcome:
    """The model of ``result`` with the objective held at the optimum and the cuts."""
    params = result.parameters
    if result.model in ("mclp", "lscp"):
        cover = problem.coverage(float(params["threshold_minutes"]))
        reduced = reduce_cover(problem, cover, drop_fixed=not problem.capacitated)
        if result.model == "mclp":
            return solve_mclp_mip(
                problem, reduced, int(params["p"]), objective_limit=optimum - tolerance, **options
            )
        # a whole number of sites: half a site of slack
        return solve_lscp_mip(problem, reduced, objective_limit=optimum + 0.5, **options)
    if result.model == "pmedian":
        return solve_pmedian_mip(
            problem,
            int(params["p"]),
            max_pairs=4_000_000,
            objective_limit=optimum + tolerance,
            **options,
        )
    raise PlacementError(f"optima alternatifs : modèle inconnu {result.model!r}")


def _objective(problem: PlacementProblem, result: PlacementResult, chosen: np.ndarray) -> float:
    """The objective of ``chosen`` on the full problem, evaluated independently of HiGHS."""
    if result.model == "lscp":
        return float(len(chosen))
    if result.model == "mclp":
        cover = problem.coverage(float(result.parameters["threshold_minutes"]))
        if problem.capacitated:
            reduced = reduce_cover(problem, cover, drop_fixed=False)
            return assign_cover(problem, reduced, chosen)[1] + reduced.constant
        return float(problem.weights[cover[:, chosen].any(axis=1)].sum())
    if problem.capacitated:
        got = assign_median(problem, chosen)
        return np.inf if got is None else got[1]
    served = np.isfinite(problem.cost_s).any(axis=1)
    best = problem.cost_s[np.ix_(served, chosen)].min(axis=1)
    return float((problem.weights[served] * best).sum())


def _alternative(
    problem: PlacementProblem, result: PlacementResult, chosen: np.ndarray, value: float
) -> AlternativeOptimum:
    ids = [str(c) for c in problem.candidate_ids[chosen]]
    mine = set(result.candidate_ids)
    return AlternativeOptimum(
        chosen=chosen,
        candidate_ids=ids,
        objective=value,
        added=[c for c in ids if c not in mine],
        removed=[c for c in result.candidate_ids if c not in set(ids)],
    )
