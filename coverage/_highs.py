"""One HiGHS call for every mixed-integer programme of the engine (placement, itinerary).

:func:`solve_mip` passes a MIP in column-wise sparse form to HiGHS (``highspy``)
with the same options everywhere: a time limit (``time_limit_s``), a relative
gap (``mip_gap``), one thread, a fixed random seed, and no output at all (HiGHS
prints nothing, not even its banner). It returns a :class:`MipResult`.

HiGHS's status alone is no proof: it can hand back the start solution with the
status "Optimal" and a gap of 16 %. :attr:`MipResult.proven_optimal` is true only
when HiGHS says optimal *and* the gap between the objective and the dual bound,
``|objective - bound| / max(|objective|, 1)``, is within the requested
``mip_gap`` (plus :data:`GAP_TOLERANCE`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse

from coverage.errors import CoverageError, QueryError

THREADS = 1
"""HiGHS threads: one, so that solves are reproducible and share the machine."""
RANDOM_SEED = 0
"""HiGHS random seed: fixed, so that the same model gives the same answer."""
GAP_TOLERANCE = 1e-9
"""Slack on the requested gap when deciding whether a solution is proven optimal."""


class SolverUnavailableError(CoverageError, RuntimeError):
    """The HiGHS solver (the ``highspy`` package) cannot be imported."""


@dataclass(frozen=True, eq=False)
class MipResult:
    """What HiGHS returned for a MIP.

    Attributes
    ----------
    status
        HiGHS's model status as HiGHS spells it (``Optimal``, ``Time limit reached``,
        ``Infeasible``...).
    solution
        Value of every column, or None when HiGHS has no feasible solution.
    objective
        Objective of :attr:`solution` (None without a solution).
    dual_bound
        Best proven bound on the objective (upper when maximising, lower otherwise),
        or None when HiGHS has none (it may exist without a solution).
    gap
        ``|objective - dual_bound| / max(|objective|, 1)``, or None when either is
        missing.
    proven_optimal
        HiGHS says optimal and :attr:`gap` is within the requested ``mip_gap``.
    infeasible
        HiGHS proved that no solution exists.
    time_limit_reached
        HiGHS stopped at the time limit.
    time_s
        Wall time of the HiGHS run, seconds.
    nodes
        Branch-and-bound nodes explored.
    version
        HiGHS version (``major.minor.patch``).
    time_limit_s
        The time limit HiGHS was given, seconds.
    mip_gap
        The relative gap HiGHS was asked to reach (and :attr:`proven_optimal` checks).
    threads
        Threads HiGHS was asked for (:data:`THREADS`, or 0 when the process-wide pool
        was already started with another count and had to be used as it is).
    """

    status: str
    solution: np.ndarray | None
    objective: float | None
    dual_bound: float | None
    gap: float | None
    proven_optimal: bool
    infeasible: bool
    time_limit_reached: bool
    time_s: float
    nodes: int
    version: str
    time_limit_s: float = float("nan")
    mip_gap: float = float("nan")
    threads: int = THREADS

    @property
    def has_solution(self) -> bool:
        """Whether HiGHS returned a feasible solution."""
        return self.solution is not None

    def details(self) -> dict[str, Any]:
        """The run as plain data, for result metadata."""
        return {
            "highs_status": self.status,
            "highs_time_s": round(self.time_s, 3),
            "nodes": self.nodes,
            "highs_version": self.version,
            "objective": self.objective,
            "dual_bound": self.dual_bound,
            "gap": self.gap,
            "proven_optimal": self.proven_optimal,
            "time_limit_s": self.time_limit_s,
            "mip_gap": self.mip_gap,
            "threads": self.threads,
            "random_seed": RANDOM_SEED,
        }


def solve_mip(
    cost: Any,
    matrix: Any,
    row_lower: Any,
    row_upper: Any,
    col_lower: Any,
    col_upper: Any,
    *,
    integer: Any,
    maximise: bool = False,
    start: Any = None,
    time_limit_s: float,
    mip_gap: float,
) -> MipResult:
    """Solve ``min`` (or ``max``) ``cost · x`` s.t. ``row_lower <= A x <= row_upper``, bounds.

    Parameters
    ----------
    cost
        ``(n_cols,)`` objective coefficients.
    matrix
        ``(n_rows, n_cols)`` constraint matrix ``A``, any scipy sparse format or a
        dense array (passed to HiGHS column-wise).
    row_lower, row_upper
        ``(n_rows,)`` row bounds (``-inf`` / ``inf``: none).
    col_lower, col_upper
        ``(n_cols,)`` column bounds (``-inf`` / ``inf``: none).
    integer
        ``(n_cols,)`` boolean mask of the integer columns.
    maximise
        Maximise instead of minimise.
    start
        Optional ``(n_cols,)`` feasible solution HiGHS starts from.
    time_limit_s
        HiGHS time limit in seconds (>= 0); at the limit the best solution found is
        returned, not proven.
    mip_gap
        Relative gap in [0, 1) at which HiGHS stops and a solution counts as proven.

    Returns
    -------
    MipResult

    Raises
    ------
    QueryError
        A parameter of the wrong length or out of range (named in the message).
    SolverUnavailableError
        If ``highspy`` cannot be imported.
    """
    c = _vector(cost, "cost")
    n = c.shape[0]
    a = scipy.sparse.csc_matrix(matrix, dtype=np.float64)
    if a.shape[1] != n:
        raise QueryError(
            f"matrix a {a.shape[1]} colonnes mais cost a {n} valeurs (une par colonne)"
        )
    m = a.shape[0]
    r_lo, r_hi = _vector(row_lower, "row_lower", m), _vector(row_upper, "row_upper", m)
    c_lo, c_hi = _vector(col_lower, "col_lower", n), _vector(col_upper, "col_upper", n)
    is_int = np.asarray(integer, dtype=bool).ravel()
    if is_int.shape[0] != n:
        raise QueryError(f"integer a {is_int.shape[0]} valeurs pour {n} colonnes")
    x0 = None if start is None else _vector(start, "start", n)
    if isinstance(time_limit_s, bool) or not isinstance(time_limit_s, int | float):
        raise QueryError(f"time_limit_s doit être un nombre de secondes, reçu {time_limit_s!r}")
    if not time_limit_s >= 0:
        raise QueryError(f"time_limit_s doit être positif ou nul, reçu {time_limit_s!r}")
    if isinstance(mip_gap, bool) or not isinstance(mip_gap, int | float) or not 0 <= mip_gap < 1:
        raise QueryError(f"mip_gap doit être dans [0, 1), reçu {mip_gap!r}")
    try:
        import highspy
    except ImportError as exc:  # pragma: no cover - highspy is a declared dependency
        raise SolverUnavailableError("le solveur HiGHS est absent (pip install highspy)") from exc

    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = m
    lp.col_cost_ = c
    lp.col_lower_ = np.where(np.isfinite(c_lo), c_lo, -inf)
    lp.col_upper_ = np.where(np.isfinite(c_hi), c_hi, inf)
    lp.row_lower_ = np.where(np.isfinite(r_lo), r_lo, -inf)
    lp.row_upper_ = np.where(np.isfinite(r_hi), r_hi, inf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(np.float64)
    lp.a_matrix_.num_col_ = n
    lp.a_matrix_.num_row_ = m
    lp.integrality_ = [
        highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
        for flag in is_int
    ]
    lp.sense_ = highspy.ObjSense.kMaximize if maximise else highspy.ObjSense.kMinimize
    h = _silent_highs(highspy)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    h.setOptionValue("threads", THREADS)
    h.setOptionValue("random_seed", RANDOM_SEED)
    h.passModel(lp)
    if x0 is not None:
        given = highspy.HighsSolution()
        given.col_value = list(x0)
        given.value_valid = True
        h.setSolution(given)
    threads = THREADS
    started = time.perf_counter()
    if h.run() == highspy.HighsStatus.kError and (
        h.getModelStatus() == highspy.HighsModelStatus.kNotset
    ):
        # HiGHS' thread pool is process-wide: once another solve in the same process (a
        # library, a server running several jobs) has started it with more threads, asking
        # for one is refused; use the pool as it is
        h.setOptionValue("threads", 0)
        threads = 0
        h.run()
    elapsed = time.perf_counter() - started
    status = h.getModelStatus()
    info = h.getInfo()
    version = (
        f"{highspy.HIGHS_VERSION_MAJOR}.{highspy.HIGHS_VERSION_MINOR}.{highspy.HIGHS_VERSION_PATCH}"
    )
    optimal = status == highspy.HighsModelStatus.kOptimal
    feasible = int(info.primal_solution_status) == int(highspy.kSolutionStatusFeasible)
    solution = objective = bound = gap = None
    if is_int.any():
        # the proven bound exists also when no solution was found (time limit)
        raw = float(info.mip_dual_bound)
        bound = raw if np.isfinite(raw) and abs(raw) < inf else None
    if feasible:
        solution = np.asarray(h.getSolution().col_value, dtype=np.float64)
        objective = float(info.objective_function_value)
        if not is_int.any() and optimal:
            bound = objective  # a linear programme solved to optimality is its own bound
        if bound is not None:
            gap = abs(objective - bound) / max(abs(objective), 1.0)
    return MipResult(
        status=h.modelStatusToString(status),
        solution=solution,
        objective=objective,
        dual_bound=bound,
        gap=gap,
        proven_optimal=bool(optimal and gap is not None and gap <= mip_gap + GAP_TOLERANCE),
        infeasible=status == highspy.HighsModelStatus.kInfeasible,
        time_limit_reached=status == highspy.HighsModelStatus.kTimeLimit,
        time_s=elapsed,
        nodes=int(info.mip_node_count),
        version=version,
        time_limit_s=float(time_limit_s),
        mip_gap=float(mip_gap),
        threads=threads,
    )


def _silent_highs(highspy: Any) -> Any:
    """A HiGHS instance whose output is off before it can print anything.

    ``highspy.Highs()`` registers its Python callbacks in its constructor, and that
    first call prints the banner while the output is still on; the bare binding
    ``highspy._Highs`` (exported by highspy, without those callbacks, which are not
    used here) lets the output be switched off first.
    """
    factory = getattr(highspy, "_Highs", None) or highspy.Highs
    h = factory()
    h.setOptionValue("output_flag", False)
    return h


def _vector(values: Any, name: str, size: int | None = None) -> np.ndarray:
    """A float vector, of ``size`` values when given (else an error naming ``name``)."""
    out = np.asarray(values, dtype=np.float64).ravel()
    if size is not None and out.shape[0] != size:
        raise QueryError(f"{name} a {out.shape[0]} valeurs, {size} attendues")
    if np.isnan(out).any():
        i = int(np.flatnonzero(np.isnan(out))[0])
        raise QueryError(f"{name}[{i}] n'est pas un nombre (NaN)")
    return out
