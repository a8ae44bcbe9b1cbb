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
- :mod:`coverage.placement.report` — coverage before and after per commune,
  canton and zone, and the result folder (sites, tables, a scenario file for
  ``coverage run``, its map);
- :mod:`coverage.placement.study` — all of it in one call (:func:`place`), as
  ``coverage place`` runs it.

Method and choices: ``docs/placement.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coverage.placement.problem import PlacementError, PlacementProblem, PlacementResult
from coverage.placement.solving import solve, solve_lscp, solve_mclp, solve_pmedian

if TYPE_CHECKING:
    from coverage.placement.study import PlacementStudy


def place(territory: str = "gers", **options: Any) -> PlacementStudy:
    """Run a placement study (loaded lazily): see :func:`coverage.placement.study.place`."""
    from coverage.placement.study import place as _place

    return _place(territory, **options)


__all__ = [
    "PlacementError",
    "PlacementProblem",
    "PlacementResult",
    "place",
    "solve",
    "solve_lscp",
    "solve_mclp",
    "solve_pmedian",
]
