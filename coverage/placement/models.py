"""Former home of the placement models, kept for one release: import from the new modules.

The problem (data, checks, result, errors, constants) is in
:mod:`coverage.placement.problem`, the solve (HiGHS or greedy, evaluation of the
result) in :mod:`coverage.placement.solving`. Nothing in ``coverage`` imports this
module.
"""

from __future__ import annotations

from coverage.placement.problem import (
    COVER_TOLERANCE_S,
    DEFAULT_TIME_LIMIT_S,
    MISSING_PAIR_S,
    MODELS,
    SOLVERS,
    ZONE_RULES,
    PlacementError,
    PlacementProblem,
    PlacementResult,
    Solver,
)
from coverage.placement.solving import solve, solve_lscp, solve_mclp, solve_pmedian

__all__ = [
    "COVER_TOLERANCE_S",
    "DEFAULT_TIME_LIMIT_S",
    "MISSING_PAIR_S",
    "MODELS",
    "SOLVERS",
    "ZONE_RULES",
    "PlacementError",
    "PlacementProblem",
    "PlacementResult",
    "Solver",
    "solve",
    "solve_lscp",
    "solve_mclp",
    "solve_pmedian",
]
