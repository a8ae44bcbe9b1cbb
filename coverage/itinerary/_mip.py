"""A thin wrapper over HiGHS (highspy) for the small MIPs of the itinerary (stops, day groups)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse


@dataclass(frozen=True)
class MipResult:
    """Outcome of a MIP: status text, whether a solution exists, values and objective."""

    status: str
    has_solution: bool
    values: np.ndarray
    objective: float
    optimal: bool


def solve_mip(
    cost: np.ndarray,
    matrix: scipy.sparse.spmatrix,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    col_lower: np.ndarray,
    col_upper: np.ndarray,
    *,
    integer: np.ndarray,
    maximise: bool = False,
    time_limit_s: float = 30.0,
    gap: float = 1e-6,
) -> MipResult:
    """Solve ``min/max cost·x`` s.t. ``row_lower <= A x <= row_upper``, bounds, integrality.

    Parameters
    ----------
    integer
        Boolean mask of integer columns.
    time_limit_s
        HiGHS time limit; the best solution found is returned when it is reached.
    gap
        Relative MIP gap at which HiGHS stops.
    """
    import highspy

    a = scipy.sparse.csc_matrix(matrix)
    lp = highspy.HighsLp()
    lp.num_col_ = int(a.shape[1])
    lp.num_row_ = int(a.shape[0])
    lp.col_cost_ = np.asarray(cost, dtype=np.float64)
    lp.col_lower_ = np.asarray(col_lower, dtype=np.float64)
    lp.col_upper_ = np.asarray(col_upper, dtype=np.float64)
    lp.row_lower_ = np.asarray(row_lower, dtype=np.float64)
    lp.row_upper_ = np.asarray(row_upper, dtype=np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(np.float64)
    lp.integrality_ = [
        highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
        for flag in np.asarray(integer, dtype=bool)
    ]
    lp.sense_ = highspy.ObjSense.kMaximize if maximise else highspy.ObjSense.kMinimize
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(gap))
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    h.passModel(lp)
    if h.run() == highspy.HighsStatus.kError and h.getModelStatus() == (
        highspy.HighsModelStatus.kNotset
    ):
        # HiGHS' thread pool is process-wide: once another solve (a placement in the same
        # server) has started it with more threads, asking for one is refused; use the pool
        h.setOptionValue("threads", 0)
        h.run()
    status = h.getModelStatus()
    text = h.modelStatusToString(status)
    info = h.getInfo()
    has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
    values = (
        np.asarray(h.getSolution().col_value, dtype=np.float64) if has_solution else np.empty(0)
    )
    objective = float(info.objective_function_value) if has_solution else float("nan")
    return MipResult(
        status=text,
        has_solution=bool(has_solution),
        values=values,
        objective=objective,
        optimal=status == highspy.HighsModelStatus.kOptimal,
    )
