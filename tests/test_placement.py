"""Placement models on small instances: optimum checked by enumeration, constraints, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from coverage.placement import (
    PlacementError,
    PlacementProblem,
    solve,
    solve_lscp,
    solve_mclp,
    solve_pmedian,
)

T_MIN = 10.0
INF = np.inf


def random_problem(seed: int, n: int = 14, m: int = 8, **kwargs) -> PlacementProblem:
    """Integer times in seconds (some pairs unusable) and integer weights."""
    rng = np.random.default_rng(seed)
    cost = rng.integers(60, 1500, size=(n, m)).astype(float)
    cost[rng.random((n, m)) < 0.15] = INF
    weights = rng.integers(1, 100, size=n).astype(float)
    return PlacementProblem(cost, weights, candidate_ids=[f"c{j}" for j in range(m)], **kwargs)


ZONES = ["A", "A", "A", "B", "B", "C", "C", None]


def feasible_sets(problem: PlacementProblem, size: int):
    """Every set of ``size`` candidates holding the fixed ones and meeting the zone bounds."""
    zone_of, lo, hi = problem.zone_table()
    fixed = set(problem.fixed.tolist())
    for combo in itertools.combinations(range(problem.n_candidates), size):
        if not fixed <= set(combo):
            continue
        if lo.size:
            counts = np.bincount(zone_of[list(combo)][zone_of[list(combo)] >= 0], minlength=lo.size)
            if (counts < lo).any() or (counts > hi).any():
                continue
        yield list(combo)


def covered_weight(problem: PlacementProblem, combo: list[int]) -> float:
    ok = (problem.cost_s[:, combo] <= T_MIN * 60 + 1e-6).any(axis=1)
    return float(problem.weights[ok].sum())


def median_cost(problem: PlacementProblem, combo: list[int]) -> float:
    best = problem.cost_s[:, combo].min(axis=1)
    served = np.isfinite(problem.cost_s).any(axis=1)
    if not np.isfinite(best[served]).all():
        return INF  # a servable point left without any open site: not a p-median solution
    return float((problem.weights[served] * best[served]).sum())


def capacitated_cover_lp(problem: PlacementProblem, combo: list[int]) -> float:
    """Best covered weight of a fixed set of open sites with capacities (a small LP)."""
    a = problem.cost_s[:, combo] <= T_MIN * 60 + 1e-6
    pairs = np.argwhere(a)
    if pairs.size == 0:
        return 0.0
    w = problem.weights
    c = -w[pairs[:, 0]]
    rows, b = [], []
    for i in range(problem.n_demand):
        rows.append((pairs[:, 0] == i).astype(float))
        b.append(1.0)
    for k, j in enumerate(combo):
        if np.isfinite(problem.capacities[j]):
            rows.append(np.where(pairs[:, 1] == k, w[pairs[:, 0]], 0.0))
            b.append(problem.capacities[j])
    res = linprog(c, A_ub=np.array(rows), b_ub=np.array(b), bounds=(0, 1), method="highs")
    assert res.status == 0
    return float(-res.fun)


def check_sites(problem: PlacementProblem, result, p: int | None = None) -> None:
    chosen = result.chosen.tolist()
    assert set(problem.fixed.tolist()) <= set(chosen)
    if p is not None:
        assert len(chosen) == p
    zone_of, lo, hi = problem.zone_table()
    if lo.size:
        counts = np.bincount(zone_of[chosen][zone_of[chosen] >= 0], minlength=lo.size)
        assert (counts >= lo).all() and (counts <= hi).all(), counts


# --- MCLP ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"fixed": ["c1"]},
        {"zones": ZONES, "zone_rule": "at_most_one"},
        {"zones": ZONES, "zone_rule": "exactly_one", "fixed": ["c3"]},
        {"zones": ZONES, "zone_rule": "at_least_one"},
    ],
)
def test_mclp_matches_enumeration(seed: int, options: dict) -> None:
    problem = random_problem(seed, **options)
    for p in (2, 3, 4):
        sets = list(feasible_sets(problem, p))
        if not sets:
            with pytest.raises(PlacementError, match="p = "):
                solve_mclp(problem, p, T_MIN)
            continue
        best = max(covered_weight(problem, s) for s in sets)
        result = solve_mclp(problem, p, T_MIN)
        assert result.status == "optimal"
        assert result.objective == pytest.approx(best)
        assert result.gap == 0.0
        assert covered_weight(problem, result.chosen.tolist()) == pytest.approx(best)
        check_sites(problem, result, p)
        greedy = solve_mclp(problem, p, T_MIN, solver="greedy")
        check_sites(problem, greedy, p)
        assert greedy.objective <= best + 1e-9
        assert greedy.objective == pytest.approx(covered_weight(problem, greedy.chosen.tolist()))


@pytest.mark.parametrize("seed", [3, 4])
def test_mclp_with_capacities_matches_enumeration(seed: int) -> None:
    caps = [150.0, 80.0, INF, 200.0, 60.0, 120.0, 90.0, 300.0]
    problem = random_problem(seed, capacities=caps, zones=ZONES, zone_rule="at_most_one")
    for p in (2, 3):
        best = max(capacitated_cover_lp(problem, s) for s in feasible_sets(problem, p))
        result = solve_mclp(problem, p, T_MIN)
        assert result.status == "optimal"
        assert result.objective == pytest.approx(best, abs=1e-6)
        check_sites(problem, result, p)
        # a capacity binds: the same sites without capacities would cover more
        free = PlacementProblem(
            problem.cost_s, problem.weights, candidate_ids=problem.candidate_ids
        )
        assert covered_weight(free, result.chosen.tolist()) >= result.objective - 1e-6
    # the greedy heuristic respects capacities: its covered weight is what its sites
    # can serve within their capacities (transport LP), never more than the optimum
    greedy = solve_mclp(problem, 2, T_MIN, solver="greedy")
    check_sites(problem, greedy, 2)
    assert greedy.objective == pytest.approx(
        capacitated_cover_lp(problem, greedy.chosen.tolist()), abs=1e-6
    )
    assert greedy.objective <= best + 1e-6


# --- p-median ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 5])
@pytest.mark.parametrize(
    "options",
    [{}, {"fixed": ["c0", "c6"]}, {"zones": ZONES, "zone_rule": "exactly_one"}],
)
def test_pmedian_matches_enumeration(seed: int, options: dict) -> None:
    problem = random_problem(seed, **options)
    for p in (2, 3, 4):
        sets = list(feasible_sets(problem, p))
        if not sets:
            with pytest.raises(PlacementError):
                solve_pmedian(problem, p)
            continue
        best = min(median_cost(problem, s) for s in sets)
        result = solve_pmedian(problem, p)
        assert result.status == "optimal"
        assert result.objective == pytest.approx(best, rel=1e-9)
        check_sites(problem, result, p)
        greedy = solve_pmedian(problem, p, solver="greedy")
        assert greedy.objective >= best - 1e-6
        assert greedy.objective == pytest.approx(median_cost(problem, greedy.chosen.tolist()))


def test_pmedian_with_capacities_matches_enumeration() -> None:
    rng = np.random.default_rng(7)
    cost = rng.integers(60, 900, size=(8, 5)).astype(float)
    weights = rng.integers(5, 40, size=8).astype(float)
    caps = [60.0, 70.0, 200.0, 50.0, 90.0]
    problem = PlacementProblem(cost, weights, candidate_ids=list("abcde"), capacities=caps)

    def lp(combo: list[int]) -> float:
        pairs = [(i, k) for i in range(8) for k in range(len(combo))]
        c = [weights[i] * cost[i, combo[k]] for i, k in pairs]
        a_eq = [[1.0 if i == r else 0.0 for i, _ in pairs] for r in range(8)]
        a_ub = [[weights[i] if k == s else 0.0 for i, k in pairs] for s in range(len(combo))]
        res = linprog(
            c,
            A_ub=a_ub,
            b_ub=[caps[j] for j in combo],
            A_eq=a_eq,
            b_eq=[1] * 8,
            bounds=(0, 1),
            method="highs",
        )
        return float(res.fun) if res.status == 0 else INF

    best = min(lp(list(s)) for s in itertools.combinations(range(5), 2))
    result = solve_pmedian(problem, 2)
    assert result.objective == pytest.approx(best, rel=1e-7)


# --- LSCP ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 8])
@pytest.mark.parametrize(
    "options", [{}, {"fixed": ["c2"]}, {"zones": ZONES, "zone_rule": "at_least_one"}]
)
def test_lscp_matches_enumeration(seed: int, options: dict) -> None:
    problem = random_problem(seed, **options)
    cover = problem.cost_s <= T_MIN * 60 + 1e-6
    coverable = cover.any(axis=1)
    best = None
    for size in range(1, problem.n_candidates + 1):
        for combo in feasible_sets(problem, size):
            if (cover[:, combo].any(axis=1) | ~coverable).all():
                best = size
                break
        if best is not None:
            break
    result = solve_lscp(problem, T_MIN)
    assert result.objective == best
    assert len(result.chosen) == best
    check_sites(problem, result)
    assert (cover[:, result.chosen].any(axis=1) | ~coverable).all()
    # who cannot be covered is reported, by index
    assert result.unserved.tolist() == np.flatnonzero(~coverable).tolist()
    greedy = solve_lscp(problem, T_MIN, solver="greedy")
    assert greedy.objective >= best
    assert (cover[:, greedy.chosen].any(axis=1) | ~coverable).all()


def test_lscp_reports_or_refuses_uncoverable_demand() -> None:
    cost = np.array([[100.0, 900.0], [800.0, 200.0], [2000.0, 3000.0]])
    problem = PlacementProblem(
        cost, [10, 20, 5], candidate_ids=["a", "b"], demand_ids=["nord", "sud", "loin"]
    )
    result = solve_lscp(problem, 10)
    assert result.objective == 2
    assert problem.demand_ids[result.unserved].tolist() == ["loin"]
    with pytest.raises(PlacementError, match=r"threshold_minutes = 10.*loin"):
        solve_lscp(problem, 10, require_all=True)


# --- hand-made cases, reports and errors ------------------------------------------------------


def hand_problem(**kwargs) -> PlacementProblem:
    """Three villages on a line, candidates at each (times in minutes × 60)."""
    minutes = np.array(
        [
            [0, 12, 25],
            [12, 0, 13],
            [25, 13, 0],
            [30, 18, 5],
        ],
        dtype=float,
    )
    return PlacementProblem(
        minutes * 60,
        [100, 40, 30, 50],
        candidate_ids=["ouest", "centre", "est"],
        demand_ids=["o", "c", "e", "e2"],
        **kwargs,
    )


def test_hand_case_mclp_and_report() -> None:
    problem = hand_problem()
    # one site within 15 min: the centre covers o (12), c, e (13) = 170; the east covers c, e, e2
    result = solve_mclp(problem, 1, 15)
    assert result.candidate_ids == ["centre"] and result.objective == 170
    report = result.report()
    assert report["status"] == "optimal" and report["gap"] == 0.0 and report["sites"] == 1
    assert report["objective"] == 170 and report["solve_time_s"] >= 0
    assert result.covered.tolist() == [1.0, 1.0, 1.0, 0.0]
    # fixing the east site forces it in; the best second site is then the west (adds o = 100)
    fixed = solve_mclp(hand_problem(fixed=["est"]), 2, 15)
    assert fixed.candidate_ids == ["ouest", "est"] and fixed.objective == 220
    assert fixed.added.tolist() == [0]
    greedy = solve_mclp(problem, 1, 15, solver="greedy")
    assert greedy.method == "greedy" and greedy.status == "heuristic"
    assert greedy.bound is None and greedy.gap is None and greedy.objective == 170


def test_hand_case_pmedian() -> None:
    # one site: centre = 100*12 + 0 + 30*13 + 50*18 = 2490 min; west 1*... larger; east 2500+
    result = solve_pmedian(hand_problem(), 1)
    assert result.candidate_ids == ["centre"]
    assert result.objective == pytest.approx(2490 * 60)
    assert result.assignment_s.tolist() == [720.0, 0.0, 780.0, 1080.0]


def test_zone_rule_is_respected() -> None:
    # within 10 min each site covers its own village (and the east also e2): without zones
    # the best pair is west + east (100 + 30 + 50 = 180); west and east in one zone with at
    # most one site per zone leave west + centre (140)
    assert solve_mclp(hand_problem(), 2, 10).candidate_ids == ["ouest", "est"]
    problem = hand_problem(zones=["Z1", "Z2", "Z1"], zone_rule="at_most_one")
    result = solve_mclp(problem, 2, 10)
    assert result.candidate_ids == ["ouest", "centre"] and result.objective == 140
    assert solve_mclp(problem, 2, 10, solver="greedy").objective == 140
    problem = hand_problem(zones=["Z1", "Z1", "Z1"], zone_rule="at_most_one")
    with pytest.raises(PlacementError, match="p = 2 est trop grand"):
        solve_mclp(problem, 2, 15)


def test_error_p_smaller_than_fixed() -> None:
    with pytest.raises(PlacementError, match=r"p = 1 est inférieur aux 2 sites imposés"):
        solve_mclp(hand_problem(fixed=["ouest", "est"]), 1, 15)


def test_error_zone_without_candidate() -> None:
    problem = hand_problem(
        zones=["Z1", "Z1", "Z2"], zone_rule="exactly_one", zone_names=["Z1", "Z2", "Z3"]
    )
    with pytest.raises(
        PlacementError, match=r"zone 'Z3' doit recevoir au moins 1 site.*aucun candidat"
    ):
        solve_mclp(problem, 3, 15)


def test_error_exactly_one_with_p_too_small() -> None:
    problem = hand_problem(zones=["Z1", "Z2", "Z3"], zone_rule="exactly_one")
    with pytest.raises(PlacementError, match=r"exactly_one demande p = 3.*reçu p = 2"):
        solve_mclp(problem, 2, 15)
    with pytest.raises(PlacementError, match="exactly_one demande p = 3"):
        solve_pmedian(problem, 2)


def test_error_fixed_sites_break_zone_rule() -> None:
    problem = hand_problem(
        zones=["Z1", "Z1", "Z2"], zone_rule="at_most_one", fixed=["ouest", "centre"]
    )
    with pytest.raises(PlacementError, match="zone 'Z1' a déjà 2 sites imposés"):
        solve_mclp(problem, 2, 15)


def test_error_lscp_zone_bounds_make_cover_impossible() -> None:
    problem = hand_problem(zones=["Z", "Z", "Z"], zone_rule="at_most_one")
    with pytest.raises(PlacementError, match="aucun choix de sites ne couvre"):
        solve_lscp(problem, 6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": [1, 2]}, "weights a 2 valeurs"),
        ({"weights": [1, -2, 3, 4]}, r"weights\[1\]"),
        ({"candidate_ids": ["a", "a", "b"]}, "candidate_ids : 'a' est donné deux fois"),
        ({"fixed": ["nulle-part"]}, "fixed : identifiant de candidat inconnu 'nulle-part'"),
        ({"zones": ["Z"]}, "zones a 1 libellé mais"),
        ({"zone_rule": "un_seul"}, "zone_rule doit être l'une de"),
        ({"capacities": [1, 2]}, "capacities a 2 valeurs"),
    ],
)
def test_problem_input_errors_name_the_parameter(kwargs: dict, message: str) -> None:
    base = {
        "cost_s": np.ones((4, 3)),
        "weights": [1, 2, 3, 4],
        "candidate_ids": ["a", "b", "c"],
    }
    base.update(kwargs)
    cost = base.pop("cost_s")
    weights = base.pop("weights")
    with pytest.raises(PlacementError, match=message):
        PlacementProblem(cost, weights, **base)


def test_solve_dispatch_and_parameter_errors() -> None:
    problem = hand_problem()
    assert solve(problem, "mclp", p=1, threshold_minutes=15).objective == 170
    with pytest.raises(PlacementError, match="model doit être l'un de"):
        solve(problem, "centre", p=1)
    with pytest.raises(PlacementError, match="le MCLP demande p et threshold_minutes"):
        solve(problem, "mclp", p=1)
    with pytest.raises(PlacementError, match="threshold_minutes doit être un nombre positif"):
        solve_mclp(problem, 1, -5)
    with pytest.raises(PlacementError, match="solver doit valoir l'un de"):
        solve_mclp(problem, 1, 15, solver="cplex")  # type: ignore[arg-type]


@pytest.mark.parametrize("solver", ["highs", "greedy"])
def test_equal_covers_prefer_the_site_nearest_to_the_people(solver: str) -> None:
    # both candidates cover the two villages within 10 min; "far" is 9 min from
    # the big one, "near" is in it: same coverage, so the tie-break must open "near"
    cost = np.array([[540.0, 0.0], [300.0, 480.0]])
    problem = PlacementProblem(cost, [1000.0, 10.0], candidate_ids=["far", "near"])
    result = solve_mclp(problem, 1, T_MIN, solver=solver)
    assert result.candidate_ids == ["near"]
    assert result.objective == 1010.0
    tie = result.parameters["tie_break"]
    assert tie["mean_minutes_after"] == pytest.approx((10 * 8.0) / 1010.0, abs=1e-3)
    lscp = solve_lscp(problem, T_MIN, solver=solver)
    assert lscp.candidate_ids == ["near"] and lscp.objective == 1.0
