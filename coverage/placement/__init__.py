"""Where to open sites: maximal coverage, p-median and set covering on our travel times.

- :mod:`coverage.placement.problem` — a problem on a demand × candidate matrix
  (:class:`PlacementProblem`), its checks and its result (:class:`PlacementResult`);
- :mod:`coverage.placement.solving` — the models solved (:func:`solve_mclp`,
  :func:`solve_pmedian`, :func:`solve_lscp`): exact MIP in
  :mod:`~coverage.placement.mip` (HiGHS), heuristics in
  :mod:`~coverage.placement.greedy` (with capacities:
  :mod:`~coverage.placement.capacitated`);
- :mod:`coverage.placement.alternatives` — other site sets as good as a proven
  optimum (:func:`alternative_optima`);

A decision package: a cost matrix and weights in, a plan out. A territory's
problem (demand, candidates, existing sites, zones, the travel-time matrix) is
built by the job layer (:mod:`coverage.jobs.placement_instance`), which also
turns plans into tables (:mod:`coverage.jobs.placement_sites`) and runs the
whole study (:func:`coverage.jobs.place.place`, what ``coverage place`` runs).

Method and choices: ``docs/placement.md``.
"""

from __future__ import annotations

from coverage.placement.alternatives import AlternativeOptimum, alternative_optima
from coverage.placement.problem import PlacementError, PlacementProblem, PlacementResult
from coverage.placement.solving import solve, solve_lscp, solve_mclp, solve_pmedian

__all__ = [
    "AlternativeOptimum",
    "PlacementError",
    "PlacementProblem",
    "PlacementResult",
    "alternative_optima",
    "solve",
    "solve_lscp",
    "solve_mclp",
    "solve_pmedian",
]
