"""Where to open sites: maximal coverage, p-median and set covering on our travel times.

- :mod:`coverage.placement.problem` — a problem on a demand × candidate matrix
  (:class:`PlacementProblem`), its checks and its result (:class:`PlacementResult`);
- :mod:`coverage.placement.solving` — the models solved (:func:`solve_mclp`,
  :func:`solve_pmedian`, :func:`solve_lscp`): exact MIP in
  :mod:`~coverage.placement.mip` (HiGHS), heuristics in
  :mod:`~coverage.placement.greedy`;
- :mod:`coverage.placement.instance` — a territory's problem: demand (communes or
  population cells), candidates (communes, chefs-lieux, a file), existing
  services kept open, zones (cantons);
- :mod:`coverage.placement.report` — the chosen sites and zones as tables.

The job that loads a territory, computes the matrix, solves, measures before
and after and writes the folder is :func:`coverage.jobs.place.place` (what
``coverage place`` runs).

Method and choices: ``docs/placement.md``.
"""

from __future__ import annotations

from coverage.placement.problem import PlacementError, PlacementProblem, PlacementResult
from coverage.placement.solving import solve, solve_lscp, solve_mclp, solve_pmedian

__all__ = [
    "PlacementError",
    "PlacementProblem",
    "PlacementResult",
    "solve",
    "solve_lscp",
    "solve_mclp",
    "solve_pmedian",
]
