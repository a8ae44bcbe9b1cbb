"""A result labelled optimal is the optimum: brute force over every site set as the referee.

Small seeded instances (10 candidates, 30 demand points, some unusable pairs) with
zones, fixed sites and capacities; the reference enumerates every allowed set of
sites and, with capacities, assigns the demand with an independent LP
(``scipy.optimize.linprog``). Also: a result not proven is never labelled
optimal, a bad start does not fool the engine, and alternative optima are every
other optimal set the enumeration lists.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from coverage.placement import (
    PlacementProblem,
    alternative_optima,
    solve,
    solve_lscp,
    solve_mclp,
    solve_pmedian,
)
from coverage.placement.mip import (
    reduce_cover,
    reduce_lscp,
    solve_lscp_mip,
    solve_mclp_mip,
    solve_pmedian_mip,
)
from coverage.placement.problem import PlacementError
from coverage.placement.solving import _finish

T_MIN = 15.0
N_CAND, N_DEMAND = 10, 30
ZONES = ["A", "A", "A", "B", "B", "B", "C", "C", None, None]
CAPS = [400.0, 250.0, np.inf, 300.0, 200.0, 500.0, 350.0, 150.0, 600.0, 250.0]


def instance(seed: int, **kwargs) -> PlacementProblem:
    """Times 2..40 min in seconds, 15 % of pairs unusable, integer weights (a few zero)."""
    rng = np.random.default_rng(seed)
    cost = rng.integers(120, 2400, size=(N_DEMAND, N_CAND)).astype(float)
    cost[rng.random(cost.shape) < 0.15] = np.inf
    weights = rng.integers(1, 120, size=N_DEMAND).astype(float)
    weights[rng.random(N_DEMAND) < 0.1] = 0.0
    return PlacementProblem(cost, weights, candidate_ids=[f"s{j}" for j in range(N_CAND)], **kwargs)


def allowed_sets(problem: PlacementProblem, size: int):
    zone_of, lo, hi = problem.zone_table()
    fixed = set(problem.fixed.tolist())
    for combo in itertools.combinations(range(problem.n_candidates), size):
        if not fixed <= set(combo):
            continue
        if lo.size:
            z = zone_of[list(combo)]
            counts = np.bincount(z[z >= 0], minlength=lo.size)
            if (counts < lo).any() or (counts > hi).any():
                continue
        yield list(combo)


def cover_value(problem: PlacementProblem, combo: list[int]) -> float:
    """Covered weight of open sites ``combo`` (capacities: the best split, an LP)."""
    a = problem.cost_s[:, combo] <= T_MIN * 60 + 1e-6
    w = problem.weights
    if not problem.capacitated:
        return float(w[a.any(axis=1)].sum())
    pairs = np.argwhere(a)
    if pairs.size == 0:
        return 0.0
    rows = [(pairs[:, 0] == i).astype(float) for i in range(problem.n_demand)]
    bounds = [1.0] * problem.n_demand
    for k, j in enumerate(combo):
        if np.isfinite(problem.capacities[j]):
            rows.append(np.where(pairs[:, 1] == k, w[pairs[:, 0]], 0.0))
            bounds.append(problem.capacities[j])
    res = linprog(
        -w[pairs[:, 0]], A_ub=np.array(rows), b_ub=np.array(bounds), bounds=(0, 1), method="highs"
    )
    assert res.status == 0
    return float(-res.fun)


def median_value(problem: PlacementProblem, combo: list[int]) -> float:
    """Weighted seconds of open sites ``combo`` (capacities: transport LP); inf if infeasible."""
    cost, w = problem.cost_s, problem.weights
    served = np.flatnonzero(np.isfinite(cost).any(axis=1) & (w > 0))
    sub = cost[np.ix_(served, combo)]
    if not np.isfinite(sub).any(axis=1).all():
        return np.inf
    if not problem.capacitated:
        return float((w[served] * sub.min(axis=1)).sum())
    pairs = np.argwhere(np.isfinite(sub))
    c = w[served[pairs[:, 0]]] * sub[pairs[:, 0], pairs[:, 1]]
    a_eq = np.array([(pairs[:, 0] == i).astype(float) for i in range(served.size)])
    rows, bounds = [], []
    for k, j in enumerate(combo):
        if np.isfinite(problem.capacities[j]):
            rows.append(np.where(pairs[:, 1] == k, w[served[pairs[:, 0]]], 0.0))
            bounds.append(problem.capacities[j])
    res = linprog(
        c,
        A_ub=np.array(rows) if rows else None,
        b_ub=np.array(bounds) if rows else None,
        A_eq=a_eq,
        b_eq=np.ones(served.size),
        bounds=(0, 1),
        method="highs",
    )
    return float(res.fun) if res.status == 0 else np.inf


def lscp_value(problem: PlacementProblem, combo: list[int]) -> bool:
    """Whether ``combo`` covers every coverable demand point with a weight."""
    cover = problem.cost_s <= T_MIN * 60 + 1e-6
    need = cover.any(axis=1) & (problem.weights > 0)
    if not problem.capacitated:
        return bool(cover[np.ix_(need, combo)].any(axis=1).all())
    return cover_value(problem, combo) >= problem.weights[need].sum() - 1e-6


def brute_mclp(problem: PlacementProblem, p: int) -> tuple[float, list[list[int]]]:
    values = {tuple(s): cover_value(problem, s) for s in allowed_sets(problem, p)}
    best = max(values.values())
    return best, [list(s) for s, v in values.items() if v >= best - 1e-6]


def brute_median(problem: PlacementProblem, p: int) -> tuple[float, list[list[int]]]:
    values = {tuple(s): median_value(problem, s) for s in allowed_sets(problem, p)}
    best = min(values.values())
    return best, [list(s) for s, v in values.items() if v <= best + 1e-6 * max(best, 1.0)]


def brute_lscp(problem: PlacementProblem) -> tuple[int, list[list[int]]]:
    for k in range(1, problem.n_candidates + 1):
        sets = [s for s in allowed_sets(problem, k) if lscp_value(problem, s)]
        if sets:
            return k, sets
    raise AssertionError("no cover")


def assert_label_earned(result) -> None:
    """The label and the gap agree: optimal means the objective meets the bound."""
    if result.status == "optimal":
        assert result.bound is not None and result.gap is not None
        assert result.gap <= result.parameters["mip_gap"] + 1e-9
    if result.bound is not None:
        assert result.gap is not None
    for key in ("time_limit_s", "mip_gap", "threads", "random_seed"):
        assert key in result.parameters


SETTINGS = [
    pytest.param({}, id="libre"),
    pytest.param({"zones": ZONES, "zone_rule": "exactly_one"}, id="exactly_one"),
    pytest.param({"zones": ZONES, "zone_rule": "at_most_one"}, id="at_most_one"),
    pytest.param({"zones": ZONES, "zone_rule": "at_least_one"}, id="at_least_one"),
    pytest.param({"fixed": ["s2"], "zones": ZONES, "zone_rule": "at_least_one"}, id="fixe"),
    pytest.param({"capacities": CAPS}, id="capacités"),
    pytest.param(
        {"capacities": CAPS, "fixed": ["s8"], "zones": ZONES, "zone_rule": "at_most_one"},
        id="capacités+zones",
    ),
]


@pytest.mark.parametrize("seed", [11, 12])
@pytest.mark.parametrize("settings", SETTINGS)
def test_mclp_optimal_is_the_brute_force_optimum(seed: int, settings: dict) -> None:
    problem = instance(seed, **settings)
    for p in (3, 4):
        try:
            best, _ = brute_mclp(problem, p)
        except ValueError:  # no allowed set of that size
            with pytest.raises(PlacementError):
                solve_mclp(problem, p, T_MIN)
            continue
        result = solve_mclp(problem, p, T_MIN)
        assert_label_earned(result)
        assert result.status == "optimal"
        assert result.objective == pytest.approx(best, abs=1e-6)
        assert cover_value(problem, result.chosen.tolist()) == pytest.approx(best, abs=1e-6)
        greedy = solve_mclp(problem, p, T_MIN, solver="greedy")
        # the greedy result (capacities respected) is what its sites really cover
        assert greedy.objective == pytest.approx(cover_value(problem, greedy.chosen.tolist()))
        assert greedy.objective <= best + 1e-6


@pytest.mark.parametrize("seed", [11, 12])
@pytest.mark.parametrize("settings", SETTINGS)
def test_pmedian_optimal_is_the_brute_force_optimum(seed: int, settings: dict) -> None:
    problem = instance(seed, **settings)
    for p in (3, 4):
        try:
            best, _ = brute_median(problem, p)
        except ValueError:
            continue
        if not np.isfinite(best):
            with pytest.raises(PlacementError):
                solve_pmedian(problem, p)
            continue
        result = solve_pmedian(problem, p)
        assert_label_earned(result)
        assert result.status == "optimal"
        assert result.objective == pytest.approx(best, rel=1e-7)
        assert median_value(problem, result.chosen.tolist()) == pytest.approx(best, rel=1e-7)


UNCAPACITATED = [s for s in SETTINGS if "capacities" not in s.values[0]]


@pytest.mark.parametrize("seed", [11, 12, 13])
@pytest.mark.parametrize("settings", UNCAPACITATED)
@pytest.mark.parametrize("neighbours", [1, 2, 4])
def test_reduced_pmedian_is_the_brute_force_optimum(
    seed: int, settings: dict, neighbours: int
) -> None:
    # a neighbourhood of 1..4 of the 10 candidates: the far columns and the rounds that
    # grow the neighbourhoods do the work; the answer must still be the enumeration's
    problem = instance(seed, **settings)
    for p in (3, 4):
        try:
            best, optima = brute_median(problem, p)
        except ValueError:
            continue
        if not np.isfinite(best):
            continue
        for start in (None, np.array(optima[0])):
            out = solve_pmedian_mip(
                problem,
                p,
                start=start,
                time_limit_s=10.0,
                mip_gap=0.0,
                max_pairs=10_000,
                neighbours=neighbours,
            )
            assert out.status == "optimal"
            assert median_value(problem, out.chosen.tolist()) == pytest.approx(best, rel=1e-9)
            assert out.bound == pytest.approx(best, rel=1e-7)
            if len(optima) == 1:
                assert out.chosen.tolist() == optima[0]
            rounds = out.details["reduction"]["rounds"]
            assert rounds[0]["far_columns"] > 0  # the reduction was really in play
            assert out.details["reduction"]["full_pairs"] >= rounds[-1]["pairs"]


def test_reduced_pmedian_merges_identical_demand_rows() -> None:
    # demand rows 0 and 1 have the same times: one group of weight 30 (10 + 20)
    cost = np.array([[60.0, 600.0, 900.0], [60.0, 600.0, 900.0], [900.0, 60.0, 600.0]])
    problem = PlacementProblem(cost, [10.0, 20.0, 5.0], candidate_ids=["a", "b", "c"])
    out = solve_pmedian_mip(
        problem, 1, start=None, time_limit_s=10.0, mip_gap=0.0, max_pairs=100, neighbours=1
    )
    assert out.details["reduction"]["demand_rows"] == 3
    assert out.details["reduction"]["demand_groups"] == 2
    # a: 30 x 60 + 5 x 900 = 6300 ; b: 30 x 600 + 5 x 60 = 18300 ; c: 30 x 900 + 5 x 600
    assert out.chosen.tolist() == [0]
    assert out.bound == pytest.approx(6300.0)


@pytest.mark.parametrize("seed", [11, 12])
@pytest.mark.parametrize("settings", SETTINGS)
def test_lscp_optimal_is_the_brute_force_optimum(seed: int, settings: dict) -> None:
    problem = instance(seed, **settings)
    try:
        best, _ = brute_lscp(problem)
    except AssertionError:
        with pytest.raises(PlacementError):
            solve_lscp(problem, T_MIN)
        return
    result = solve_lscp(problem, T_MIN)
    assert_label_earned(result)
    assert result.status == "optimal"
    assert result.objective == best
    assert lscp_value(problem, result.chosen.tolist())


def test_lscp_reductions_on_a_hand_instance() -> None:
    # candidates a..d, demand points 0..3 (x: within 10 min)
    #        a  b  c  d
    #   0    x  x  .  .
    #   1    x  x  x  .     row 1 contains row 0: implied, dropped
    #   2    .  .  x  x
    #   3    .  .  .  x     row 2 contains row 3: dropped
    # on rows 0 and 3: a = b (a ahead, lower index), c covers nothing, d alone
    near, far = 300.0, 3000.0
    cover = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 1, 1], [0, 0, 0, 1]], bool)
    problem = PlacementProblem(
        np.where(cover, near, far), [1.0, 2.0, 3.0, 4.0], candidate_ids=list("abcd")
    )
    reduced = reduce_cover(problem, problem.coverage(10.0), drop_fixed=True)
    lscp = reduce_lscp(problem, reduced)
    group_of = lscp.reduced.group_of
    assert group_of[1] == group_of[2] == -1
    assert lscp.reduced.weights[group_of[[0, 3]]].tolist() == [1.0, 4.0]
    assert lscp.closed.tolist() == [False, True, True, False]
    assert lscp.dominator.tolist() == [0, 0, 0, 3]
    assert lscp.start(np.array([1, 2])).tolist() == [0]
    result = solve_lscp(problem, 10.0)
    assert result.status == "optimal" and result.objective == 2.0
    assert result.parameters["dominated_candidates"] == 2
    assert result.parameters["model_rows"] == 2
    # a fixed dominated candidate stays open, and zones switch the candidate rule off
    fixed = PlacementProblem(
        np.where(cover, near, far), [1.0, 2.0, 3.0, 4.0], candidate_ids=list("abcd"), fixed=["b"]
    )
    red = reduce_lscp(fixed, reduce_cover(fixed, fixed.coverage(10.0), drop_fixed=True))
    assert not red.closed[1]
    zoned = PlacementProblem(
        np.where(cover, near, far), [1.0] * 4, candidate_ids=list("abcd"), zones=list("ABAB")
    )
    red = reduce_lscp(zoned, reduce_cover(zoned, zoned.coverage(10.0), drop_fixed=True))
    assert not red.closed.any() and red.reduced.weights.size == 2


@pytest.mark.parametrize("model", ["mclp", "lscp"])
@pytest.mark.parametrize("seed", [11, 12])
@pytest.mark.parametrize("settings", SETTINGS)
def test_reduced_and_unreduced_cover_models_agree(model: str, seed: int, settings: dict) -> None:
    problem = instance(seed, **settings)
    for p in (3, 4) if model == "mclp" else (None,):
        try:
            full = solve(problem, model, p=p, threshold_minutes=T_MIN, reduce=False)
        except PlacementError:
            continue
        reduced = solve(problem, model, p=p, threshold_minutes=T_MIN)
        assert full.status == reduced.status == "optimal"
        assert reduced.objective == pytest.approx(full.objective, abs=1e-6)
        assert full.parameters["model_rows"] >= reduced.parameters["model_rows"]


def test_a_result_stopped_early_is_never_labelled_optimal() -> None:
    rng = np.random.default_rng(5)
    n, m = 400, 150
    cost = rng.integers(60, 3600, size=(n, m)).astype(float)
    problem = PlacementProblem(
        cost, rng.integers(1, 500, size=n).astype(float), candidate_ids=[str(j) for j in range(m)]
    )
    for result in (
        solve_pmedian(problem, 12, time_limit_s=0.05),
        solve_mclp(problem, 12, 12.0, time_limit_s=0.05),
    ):
        assert_label_earned(result)
        assert result.status == "time_limit"
        assert result.parameters["highs"]["time_limit_s"] == 0.05
        assert result.parameters["time_limit_s"] == 0.05
        if result.bound is not None:
            assert result.gap is not None and result.gap > 0
        report = result.report()
        assert report["status_label"] == "limite de temps atteinte"
        assert "optimum prouvé" not in report["verdict"].split(";")[0]
        if result.bound is not None:
            assert f"{result.bound:.6g}" in report["verdict"]
            assert "ce n'est pas un optimum prouvé" in report["verdict"]


def test_an_evaluated_objective_that_misses_the_bound_is_not_optimal() -> None:
    # HiGHS said optimal for a bound of 2 sites; the set handed back has 3: the label goes
    problem = instance(11)
    result = _finish(
        problem,
        "lscp",
        "highs",
        "optimal",
        np.array([0, 1, 2]),
        2.0,
        0.0,
        {"mip_gap": 0.0},
        cover=problem.coverage(T_MIN),
        threshold_s=T_MIN * 60,
    )
    assert result.status == "feasible"
    assert result.gap == pytest.approx(1 / 3)
    assert "borne" in result.parameters["optimality_check"]


@pytest.mark.parametrize("seed", [11, 12])
def test_a_bad_start_does_not_fool_the_engine(seed: int) -> None:
    problem = instance(seed, zones=ZONES, zone_rule="at_least_one")
    cover = problem.coverage(T_MIN)
    reduced = reduce_cover(problem, cover, drop_fixed=True)
    # the worst allowed set of 4 as the MCLP start
    sets = list(allowed_sets(problem, 4))
    worst = min(sets, key=lambda s: cover_value(problem, s))
    best, _ = brute_mclp(problem, 4)
    out = solve_mclp_mip(problem, reduced, 4, start=np.array(worst), time_limit_s=10.0, mip_gap=0.0)
    assert out.status == "optimal"
    assert cover_value(problem, out.chosen.tolist()) == pytest.approx(best)
    # every candidate open as the LSCP start (a valid cover, far above the optimum)
    k, _ = brute_lscp(problem)
    out = solve_lscp_mip(problem, reduced, start=np.arange(N_CAND), time_limit_s=10.0, mip_gap=0.0)
    assert out.status == "optimal" and len(out.chosen) == k
    runs = out.details["runs"]
    assert runs[0]["start"] == "glouton" and runs[0]["threads"] == 1
    # the worst p-median set as its start
    costs = {tuple(s): median_value(problem, s) for s in sets}
    worst = max((s for s in costs if np.isfinite(costs[s])), key=costs.get)
    best_m, _ = brute_median(problem, 4)
    out = solve_pmedian_mip(
        problem, 4, start=np.array(worst), time_limit_s=10.0, mip_gap=0.0, max_pairs=10_000
    )
    assert out.status == "optimal"
    assert median_value(problem, out.chosen.tolist()) == pytest.approx(best_m, rel=1e-7)


def tied_instance(**kwargs) -> PlacementProblem:
    """Candidates 0/1 and 4/5 are twins (same column): optima come in several copies."""
    rng = np.random.default_rng(3)
    cost = rng.integers(120, 2400, size=(N_DEMAND, 8)).astype(float)
    cost[:, 1] = cost[:, 0]
    cost[:, 5] = cost[:, 4]
    weights = rng.integers(1, 120, size=N_DEMAND).astype(float)
    return PlacementProblem(cost, weights, candidate_ids=[f"t{j}" for j in range(8)], **kwargs)


TIED_SETTINGS = [
    pytest.param({}, id="libre"),
    pytest.param(
        {"fixed": ["t2"], "zones": ["A", "A", "C", "D", "B", "B", "C", None]},
        id="fixe+zones",
    ),
]


@pytest.mark.parametrize("settings", TIED_SETTINGS)
@pytest.mark.parametrize("model", ["mclp", "pmedian", "lscp"])
def test_alternative_optima_are_every_other_optimal_set(model: str, settings: dict) -> None:
    problem = tied_instance(**settings)
    if model == "mclp":
        _, optimal = brute_mclp(problem, 3)
        result = solve(problem, "mclp", p=3, threshold_minutes=T_MIN)
    elif model == "pmedian":
        _, optimal = brute_median(problem, 3)
        result = solve(problem, "pmedian", p=3)
    else:
        _, optimal = brute_lscp(problem)
        result = solve(problem, "lscp", threshold_minutes=T_MIN)
    assert result.status == "optimal"
    assert len(optimal) >= 2  # the twins make ties
    found = alternative_optima(problem, result, limit=50, time_limit_s=10.0)
    expected = {tuple(s) for s in optimal} - {tuple(result.chosen.tolist())}
    assert {tuple(a.chosen.tolist()) for a in found} == expected
    for alt in found:
        assert alt.objective == pytest.approx(result.objective, rel=1e-9)
        assert set(alt.added).isdisjoint(result.candidate_ids)
        assert alt.added and alt.removed
    # limit respected, and a unique optimum has no alternative
    assert len(alternative_optima(problem, result, limit=1)) == 1


def test_alternatives_of_a_random_instance_match_the_enumeration() -> None:
    problem = instance(11)
    _, optimal = brute_mclp(problem, 3)
    assert len(optimal) <= 6
    result = solve_mclp(problem, 3, T_MIN)
    found = alternative_optima(problem, result, limit=5)
    assert len(found) == len(optimal) - 1
    if len(optimal) == 1:
        assert found == []


def test_alternatives_need_a_proven_optimum() -> None:
    problem = instance(11)
    greedy = solve_mclp(problem, 3, T_MIN, solver="greedy")
    with pytest.raises(PlacementError, match="optimum prouvé"):
        alternative_optima(problem, greedy)


def test_highs_optimal_on_its_start_with_a_gap_is_solved_again(monkeypatch) -> None:
    """HiGHS's quirk of the 15-min LSCP (status Optimal on the greedy start, bound 16 %
    lower), reproduced by stopping HiGHS on the start and relabelling its answer: the
    engine must not believe the label, solve again without the start and find the
    brute-force optimum."""
    import dataclasses

    import coverage.placement.mip as mip

    real = mip.solve_mip
    calls: list[bool] = []

    def quirky(*args, start=None, time_limit_s, **kwargs):
        calls.append(start is not None)
        if start is None:
            return real(*args, start=None, time_limit_s=time_limit_s, **kwargs)
        stopped = real(*args, start=start, time_limit_s=0.0, **kwargs)
        return dataclasses.replace(stopped, status="Optimal", time_limit_reached=False)

    monkeypatch.setattr(mip, "solve_mip", quirky)
    problem = instance(12)
    k, _ = brute_lscp(problem)
    # the unreduced model: on the reduced one HiGHS proves the start optimal even at 0 s
    result = solve_lscp(problem, T_MIN, reduce=False)
    # the greedy start is not optimal on this instance, so the first answer had a gap
    assert calls == [True, False]
    assert result.status == "optimal" and len(result.chosen) == k
    runs = result.parameters["highs"]["runs"]
    assert [r["start"] for r in runs] == ["glouton", "aucun (nouvelle résolution)"]
    assert runs[1].get("kept") is True
