"""The one HiGHS call: known optima proven, limits not taken for proofs, no output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse

from coverage._highs import solve_mip
from coverage.errors import QueryError

ROOT = Path(__file__).resolve().parent.parent

# set cover by hand: elements 0..5, sets A={0,1,2} (2), B={3,4,5} (2), C={0,3} (1),
# D={1,4} (1), E={2,5} (1), F=everything (5). Every element needs a set; A+B costs 4,
# F 5, and C+D+E covers all six for 3, the only cover of that cost.
SETS = [{0, 1, 2}, {3, 4, 5}, {0, 3}, {1, 4}, {2, 5}, {0, 1, 2, 3, 4, 5}]
SET_COST = np.array([2.0, 2.0, 1.0, 1.0, 1.0, 5.0])


def _cover_matrix() -> scipy.sparse.csc_matrix:
    rows = [e for s in SETS for e in sorted(s)]
    cols = [j for j, s in enumerate(SETS) for _ in s]
    return scipy.sparse.csc_matrix((np.ones(len(rows)), (rows, cols)), shape=(6, len(SETS)))


def _set_cover(**options):
    n = len(SETS)
    return solve_mip(
        SET_COST,
        _cover_matrix(),
        np.ones(6),
        np.full(6, np.inf),
        np.zeros(n),
        np.ones(n),
        integer=np.ones(n, dtype=bool),
        **{"time_limit_s": 10.0, "mip_gap": 0.0, **options},
    )


def test_set_cover_reaches_the_hand_computed_optimum() -> None:
    result = _set_cover()
    assert result.proven_optimal and result.status == "Optimal"
    assert result.objective == pytest.approx(3.0)
    assert result.dual_bound == pytest.approx(3.0) and result.gap == pytest.approx(0.0)
    assert np.flatnonzero(result.solution > 0.5).tolist() == [2, 3, 4]  # C, D, E
    assert not result.infeasible and not result.time_limit_reached


def test_knapsack_reaches_the_hand_computed_optimum() -> None:
    # values 10, 13, 7, 8; weights 3, 4, 2, 3; capacity 7: items 0 and 1 (23) beat
    # {0, 3} (18), {1, 3} (21), {1, 2} (20), {0, 2} (17), {2, 3} (15)
    values, weights = np.array([10.0, 13.0, 7.0, 8.0]), np.array([[3.0, 4.0, 2.0, 3.0]])
    result = solve_mip(
        values,
        weights,
        [-np.inf],
        [7.0],
        np.zeros(4),
        np.ones(4),
        integer=np.ones(4, dtype=bool),
        maximise=True,
        start=[0.0, 0.0, 1.0, 1.0],  # a feasible start (15), to be improved on
        time_limit_s=10.0,
        mip_gap=0.0,
    )
    assert result.proven_optimal
    assert result.objective == pytest.approx(23.0) and result.dual_bound == pytest.approx(23.0)
    assert np.flatnonzero(result.solution > 0.5).tolist() == [0, 1]


def test_a_solve_stopped_by_the_time_limit_is_not_proven() -> None:
    rng = np.random.default_rng(7)
    n = 60
    values = rng.integers(10, 100, n).astype(float)
    weights = rng.integers(10, 100, n).astype(float)
    start = np.zeros(n)
    start[0] = 1.0
    result = solve_mip(
        values,
        weights[None, :],
        [-np.inf],
        [weights.sum() / 3],
        np.zeros(n),
        np.ones(n),
        integer=np.ones(n, dtype=bool),
        maximise=True,
        start=start,
        time_limit_s=0.0,
        mip_gap=0.0,
    )
    assert result.time_limit_reached and not result.proven_optimal
    # the start is all HiGHS had: a solution, but nothing proven about it
    assert result.has_solution and result.objective == pytest.approx(values[0])


def test_an_infeasible_model_has_no_solution() -> None:
    # x0 + x1 >= 3 with two binaries
    result = solve_mip(
        [1.0, 1.0],
        [[1.0, 1.0]],
        [3.0],
        [np.inf],
        [0.0, 0.0],
        [1.0, 1.0],
        integer=[True, True],
        time_limit_s=10.0,
        mip_gap=0.0,
    )
    assert result.infeasible and not result.has_solution and not result.proven_optimal
    assert result.objective is None and result.gap is None


def test_bad_arguments_are_named() -> None:
    with pytest.raises(QueryError, match="row_lower"):
        _set_cover_rows(np.ones(5))
    with pytest.raises(QueryError, match="mip_gap"):
        _set_cover(mip_gap=1.5)
    with pytest.raises(QueryError, match="time_limit_s"):
        _set_cover(time_limit_s=-1.0)


def _set_cover_rows(row_lower: np.ndarray):
    n = len(SETS)
    return solve_mip(
        SET_COST,
        _cover_matrix(),
        row_lower,
        np.full(6, np.inf),
        np.zeros(n),
        np.ones(n),
        integer=np.ones(n, dtype=bool),
        time_limit_s=10.0,
        mip_gap=0.0,
    )


def test_highs_writes_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    capfd.readouterr()
    assert _set_cover().proven_optimal
    assert capfd.readouterr() == ("", "")
    # HiGHS prints its banner once a process, at its first instance: a fresh interpreter
    # (writing to the captured descriptors) shows that the first solve is silent too
    script = (
        "from tests.test_highs import _set_cover\n"
        "assert _set_cover().proven_optimal\n"
        "print('fin')\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True)
    assert capfd.readouterr() == ("fin\n", "")
