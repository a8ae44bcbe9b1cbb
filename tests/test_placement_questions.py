"""Questions around a plan: curves, per-site explanation, equity, trade-off, sensitivity, matrix.

Small instances are checked against hand computations and brute force; the Gers
case against an independent MIP (scipy's ``milp``) on the exported matrix.
"""

from __future__ import annotations

import contextlib
import io
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coverage.jobs.placement_instance import PlacementInstance
from coverage.jobs.placement_questions import (
    cost_matrix_table,
    explain_sites,
    minutes_curve,
    parse_curve,
    parse_minutes,
    sites_curve,
    tradeoff_table,
    write_cost_matrix,
)
from coverage.placement import PlacementError, PlacementProblem, solve
from coverage.placement.equity import group_shares, solve_maxmin, solve_tradeoff
from coverage.tables import read_written_table

# --- small instances -----------------------------------------------------------------------------

# minutes from 4 demand points (A, B, C, D) to 4 candidates (c0..c3)
MINUTES = np.array(
    [
        [0, 15, 30, 40],  # A, 100 inhabitants
        [15, 0, 30, 25],  # B, 50
        [30, 30, 25, 15],  # C, 30: only c3 within 20 min
        [40, 10, 15, 0],  # D, 20
    ],
    dtype=float,
)
WEIGHTS = np.array([100.0, 50.0, 30.0, 20.0])
IDS = ["c0", "c1", "c2", "c3"]


def _instance(
    problem: PlacementProblem, zones: list[str | None] | None = None
) -> PlacementInstance:
    """A PlacementInstance around a hand-made problem (only the tables the questions read)."""
    n = problem.n_candidates
    candidates = pd.DataFrame(
        {
            "candidate_id": list(problem.candidate_ids),
            "name": [f"Commune {c}" for c in problem.candidate_ids],
            "insee_code": list(problem.candidate_ids),
            "commune_name": [f"Commune {c}" for c in problem.candidate_ids],
            "zone": zones or [None] * n,
            "zone_label": zones or [""] * n,
        }
    )
    demand = pd.DataFrame(
        {"demand_id": list(problem.demand_ids), "insee_code": list(problem.demand_ids)}
    )
    return PlacementInstance(
        problem=problem,
        territory=None,  # type: ignore[arg-type]
        demand=demand,
        candidates=candidates,  # type: ignore[arg-type]
        zones=pd.DataFrame(),
        commune_zone={},
        existing=None,  # type: ignore[arg-type]
        kind=None,
        network=None,  # type: ignore[arg-type]
        access=None,  # type: ignore[arg-type]
    )


def test_explain_sites_by_hand() -> None:
    problem = PlacementProblem(
        MINUTES * 60, WEIGHTS, candidate_ids=IDS, demand_ids="ABCD", fixed=["c1", "c3"]
    )
    result = solve(problem, "mclp", p=2, threshold_minutes=20)
    assert result.candidate_ids == ["c1", "c3"]
    table = explain_sites(_instance(problem), result, "mclp", 20).set_index("id_site")
    # c1 alone covers A and B (c3 is 40 and 25 min away); c3 alone covers C; D is covered by both
    assert table.loc["c1", "habitants_seul_couverts"] == 150
    assert table.loc["c3", "habitants_seul_couverts"] == 30
    # nearest open site: A, B -> c1 ; C, D -> c3
    assert table.loc["c1", "habitants_plus_proche"] == 150
    assert table.loc["c3", "habitants_plus_proche"] == 50
    # replacing c1: {c0, c3} covers all 200 (no loss); {c2, c3} only C and D
    assert table.loc["c1", "alternative_id"] == "c0"
    assert table.loc["c1", "perte"] == 0
    # replacing c3: {c0, c1} and {c1, c2} both lose C (30 inhabitants); the first is kept
    assert table.loc["c3", "alternative_id"] == "c0"
    assert table.loc["c3", "objectif_avec_alternative"] == 170
    assert table.loc["c3", "perte"] == 30
    assert set(table["statut"]) == {"existant"}


def test_explain_sites_respects_the_zone_bounds() -> None:
    # exactly one site in zone Z1 (c0, c1) and one in Z2 (c2, c3): a swap stays in its zone
    problem = PlacementProblem(
        MINUTES * 60,
        WEIGHTS,
        candidate_ids=IDS,
        zones=["Z1", "Z1", "Z2", "Z2"],
        zone_rule="exactly_one",
    )
    result = solve(problem, "mclp", p=2, threshold_minutes=20)
    table = explain_sites(_instance(problem, ["Z1", "Z1", "Z2", "Z2"]), result, "mclp", 20)
    for row in table.itertuples():
        zone = "Z1" if row.id_site in ("c0", "c1") else "Z2"
        assert ("Z1" if row.alternative_id in ("c0", "c1") else "Z2") == zone


def test_explain_sites_pmedian_loss_in_minutes() -> None:
    problem = PlacementProblem(MINUTES * 60, WEIGHTS, candidate_ids=IDS, fixed=["c0"])
    result = solve(problem, "pmedian", p=2)
    # with c0 open: + c1 -> A 0, B 0, C 30, D 10 min: (900 + 200) / 200 = 5.5 min (the best);
    # + c2 -> (15*50 + 25*30 + 15*20) / 200 = 9 ; + c3 -> (15*50 + 15*30) / 200 = 6
    assert result.candidate_ids == ["c0", "c1"]
    table = explain_sites(_instance(problem), result, "pmedian", 20).set_index("id_site")
    assert table.loc["c1", "objectif_plan"] == pytest.approx(5.5)
    assert table.loc["c1", "alternative_id"] == "c3"
    assert table.loc["c1", "objectif_avec_alternative"] == pytest.approx(6.0)
    assert table.loc["c1", "perte"] == pytest.approx(0.5)
    assert table.loc["c1", "unite"] == "minutes (temps moyen)"
    # nearest open site: B (0 min) and D (10 min) -> c1 ; A (0 min) and C (30 = 30, first) -> c0
    assert table.loc["c1", "habitants_plus_proche"] == 70


def _brute_mclp(cost_s: np.ndarray, w: np.ndarray, p: int, minutes: float, fixed=()) -> float:
    n = cost_s.shape[1]
    best = -1.0
    for combo in itertools.combinations(range(n), p):
        if not set(fixed) <= set(combo):
            continue
        best = max(best, float(w[(cost_s[:, combo] <= minutes * 60).any(axis=1)].sum()))
    return best


def _random_problem(seed: int, n: int = 12, m: int = 7, **kwargs) -> PlacementProblem:
    rng = np.random.default_rng(seed)
    cost = rng.uniform(0, 40, size=(n, m)) * 60
    cost[rng.random((n, m)) < 0.1] = np.inf
    w = rng.integers(1, 100, size=n).astype(float)
    return PlacementProblem(cost, w, candidate_ids=[f"s{j}" for j in range(m)], **kwargs)


def test_sites_curve_matches_brute_force() -> None:
    problem = _random_problem(3, fixed=[2])
    curve = sites_curve(problem, "mclp", (None, 5), 20)
    # starts at the number of fixed sites (1), every point proven
    assert curve["nombre_sites"].tolist() == [1, 2, 3, 4, 5]
    assert (curve["statut"] == "optimal").all()
    for row in curve.itertuples():
        assert row.habitants_couverts == _brute_mclp(
            problem.cost_s, problem.weights, row.nombre_sites, 20, fixed=[2]
        )
    assert curve["habitants_couverts"].is_monotonic_increasing
    assert curve["part_couverte"].iloc[-1] == pytest.approx(
        curve["habitants_couverts"].iloc[-1] / problem.weights.sum()
    )


def test_minutes_curve_matches_brute_force() -> None:
    problem = _random_problem(5)
    curve = minutes_curve(problem, "mclp", 2, [10, 20, 30])
    for row in curve.itertuples():
        assert row.habitants_couverts == _brute_mclp(
            problem.cost_s, problem.weights, 2, row.seuil_minutes
        )


def test_sites_curve_drops_the_zone_rule_by_default() -> None:
    problem = PlacementProblem(
        MINUTES * 60, WEIGHTS, candidate_ids=IDS, zones=["Z1", "Z1", "Z2", "Z2"],
        zone_rule="exactly_one",
    )  # fmt: skip
    free = sites_curve(problem, "mclp", (1, 3), 20)
    assert free["regle_zones"].unique().tolist() == ["aucune"]
    assert free["habitants_couverts"].tolist() == [170, 200, 200]
    zoned = sites_curve(problem, "mclp", (1, 3), 20, keep_zones=True)
    # exactly one site per zone: only p = 2 can be solved
    assert zoned["statut"].str.startswith("impossible").tolist() == [True, False, True]


def test_parse_curve_and_minutes() -> None:
    assert parse_curve("3-25") == (3, 25)
    assert parse_curve("12") == (None, 12)
    assert parse_minutes("30, 10,15") == [10.0, 15.0, 30.0]
    for bad in ("25-3", "0-4", "a-b", "1-2-3"):
        with pytest.raises(PlacementError, match="--curve"):
            parse_curve(bad)
    with pytest.raises(PlacementError, match="--curve-minutes : « 0 »"):
        parse_minutes("10,0")


# --- equity --------------------------------------------------------------------------------------


def test_maxmin_by_hand_differs_from_the_mclp() -> None:
    # group X: x1 (600), x2 (400) ; group Y: y1 (100). c0 covers X, c1 covers x1 and y1, c2 y1
    minutes = np.array([[5, 5, 50], [5, 50, 50], [50, 5, 5]], dtype=float)
    problem = PlacementProblem(minutes * 60, [600, 400, 100], candidate_ids=["c0", "c1", "c2"])
    mclp = solve(problem, "mclp", p=1, threshold_minutes=20)
    assert mclp.candidate_ids == ["c0"] and mclp.objective == 1000
    fair = solve(problem, "maxmin", p=1, threshold_minutes=20, demand_groups=["X", "X", "Y"])
    assert fair.candidate_ids == ["c1"]
    assert fair.status == "optimal" and fair.gap == 0.0
    assert fair.objective == pytest.approx(0.6)  # X gets 600 / 1000, Y 100 / 100
    assert fair.parameters["worst_group"] == "X"
    assert fair.parameters["covered_weight"] == 700
    assert group_shares(problem, fair.chosen, 20, ["X", "X", "Y"]) == {"X": 0.6, "Y": 1.0}


def _brute_maxmin(problem, p, minutes, groups, zone_ok=lambda combo: True):
    w = problem.weights
    labels = sorted(set(groups))
    best = (-1.0, -1.0)
    for combo in itertools.combinations(range(problem.n_candidates), p):
        if not set(problem.fixed.tolist()) <= set(combo) or not zone_ok(combo):
            continue
        within = (problem.cost_s[:, combo] <= minutes * 60).any(axis=1)
        shares = [
            w[within & (np.array(groups) == g)].sum() / w[np.array(groups) == g].sum()
            for g in labels
        ]
        best = max(best, (round(min(shares), 12), float(w[within].sum())))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_maxmin_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    zones = ["Z1", "Z1", "Z2", "Z2", "Z3", "Z3", None]
    problem = _random_problem(seed, n=14, m=7, zones=zones, zone_rule="at_most_one", fixed=[0])
    groups = [str(g) for g in rng.integers(0, 4, size=14)]

    def zone_ok(combo):
        used = [zones[j] for j in combo if zones[j] is not None]
        return len(used) == len(set(used))

    for p in (2, 3):
        result = solve_maxmin(problem, p, 20, demand_groups=groups)
        worst, covered = _brute_maxmin(problem, p, 20, groups, zone_ok)
        assert result.status == "optimal"
        assert result.objective == pytest.approx(worst, abs=1e-9)
        # among the fairest plans, the one covering the most people
        assert result.parameters["covered_weight"] == pytest.approx(covered)
        assert zone_ok(result.chosen.tolist()) and 0 in result.chosen


def test_maxmin_refuses_bad_groups_and_the_greedy_solver() -> None:
    problem = _random_problem(1)
    with pytest.raises(PlacementError, match="demand_groups a 3 libellés"):
        solve_maxmin(problem, 2, 20, demand_groups=["a", "b", "c"])
    with pytest.raises(PlacementError, match="que par HiGHS"):
        solve_maxmin(problem, 2, 20, demand_groups=["a"] * 12, solver="greedy")
    with pytest.raises(PlacementError, match="demand_groups"):
        solve(problem, "maxmin", p=2, threshold_minutes=20)


def _brute_tradeoff(problem, p, minutes, floor):
    w, best = problem.weights, np.inf
    for combo in itertools.combinations(range(problem.n_candidates), p):
        near = problem.cost_s[:, combo].min(axis=1)
        if w[near <= minutes * 60].sum() < floor - 1e-6:
            continue
        reach = np.isfinite(near)
        best = min(best, float((w[reach] * near[reach]).sum()))
    return best


@pytest.mark.parametrize("seed", [4, 6])
def test_tradeoff_matches_brute_force(seed: int) -> None:
    problem = _random_problem(seed, n=14, m=8)
    table = tradeoff_table(problem, 3, 15, alphas=(1.0, 0.9, 0.5))
    optimum = _brute_mclp(problem.cost_s, problem.weights, 3, 15)
    assert (table["habitants_mclp"] == optimum).all()
    served = problem.weights[np.isfinite(problem.cost_s).any(axis=1)].sum()
    for row in table.itertuples():
        assert row.statut == "optimal"
        assert row.habitants_couverts >= row.alpha * optimum - 1e-6
        expected = _brute_tradeoff(problem, 3, 15, row.alpha * optimum)
        assert row.temps_moyen_min == pytest.approx(expected / served / 60, abs=1e-3)
    # a lower floor never costs time
    assert table["temps_moyen_min"].is_monotonic_decreasing
    unconstrained = solve(problem, "pmedian", p=3)
    low = solve_tradeoff(problem, 3, 15, min_covered=0.0)
    assert low.objective == pytest.approx(unconstrained.objective)


# --- cost matrix ---------------------------------------------------------------------------------


def test_cost_matrix_round_trip(tmp_path: Path) -> None:
    cost = MINUTES * 60
    cost[2, 1] = np.inf  # no route: the pair is left out
    problem = PlacementProblem(cost, WEIGHTS, candidate_ids=IDS, demand_ids="ABCD")
    files = write_cost_matrix(tmp_path, problem)
    assert files == {
        "matrix_parquet": "matrice_couts.parquet",
        "matrix_csv": "matrice_couts.csv",
        "candidates": "candidats.csv",
    }
    candidates = read_written_table(tmp_path / "candidats.csv")
    assert list(candidates["id_candidat"]) == list(IDS)
    assert not candidates["impose"].any() and candidates["capacite"].isna().all()
    table = pd.read_parquet(tmp_path / "matrice_couts.parquet")
    csv = read_written_table(tmp_path / "matrice_couts.csv", dtype={"id_demande": str})
    assert list(table.columns) == [
        "id_demande",
        "id_candidat",
        "secondes",
        "minutes",
        "poids_demande",
    ]
    assert len(table) == len(csv) == 15
    pd.testing.assert_frame_equal(table, csv, check_dtype=False)
    row = table[(table.id_demande == "C") & (table.id_candidat == "c3")].iloc[0]
    assert (row.secondes, row.minutes, row.poids_demande) == (900.0, 15.0, 30.0)
    back = table.pivot(index="id_demande", columns="id_candidat", values="secondes")
    assert np.isnan(back.loc["C", "c1"])
    assert np.array_equal(np.nan_to_num(back.to_numpy(), nan=np.inf), cost)
    assert len(cost_matrix_table(problem)) == 15


# --- the Gers case -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gers_questions(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """The Gers case (16 sites, cantons, 20 min) with the sensitivity, written, without the map."""
    from coverage.jobs.place import place

    out = tmp_path_factory.mktemp("questions") / "placement"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COVERAGE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        mp.delenv("COVERAGE_DATA_DIR", raising=False)
        study = place(
            "gers",
            sites=16,
            threshold_minutes=20,
            data_dir=shared_data,
            output_dir=out,
            write_map=False,
            curve="15-17",
            curve_minutes="15,20",
            sensitivity=True,
        )
    return study


@pytest.mark.slow  # builds the full Gers matrix study (about 25 s)
def test_gers_exported_matrix_solved_independently(gers_questions) -> None:
    """scipy's milp on the re-read Parquet matrix gives the engine's optimal MCLP objective."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_matrix

    study = gers_questions
    assert study.result.status == "optimal"
    table = pd.read_parquet(study.output_dir / "matrice_couts.parquet")
    demand = sorted(set(table["id_demande"]))
    cands = list(study.instance.candidates["candidate_id"].astype(str))
    d_pos = {d: i for i, d in enumerate(demand)}
    c_pos = {c: j for j, c in enumerate(cands)}
    near = table[table["minutes"] <= 20 + 1e-9]
    weight = table.groupby("id_demande")["poids_demande"].first().reindex(demand).to_numpy()
    n, m = len(demand), len(cands)
    # variables: x_j (m, binary) then y_i (n, in [0, 1]); maximise sum w_i y_i
    rows = near["id_demande"].map(d_pos).to_numpy()
    cols = near["id_candidat"].map(c_pos).to_numpy()
    link = csr_matrix(
        (
            np.concatenate([np.ones(n), -np.ones(len(rows))]),
            (np.concatenate([np.arange(n), rows]), np.concatenate([m + np.arange(n), cols])),
        ),
        shape=(n, m + n),
    )
    constraints = [LinearConstraint(link, -np.inf, 0)]
    constraints.append(LinearConstraint(np.r_[np.ones(m), np.zeros(n)][None, :], 16, 16))
    # zone bounds and fixed sites as the plan states them (zones.csv-like table)
    problem = study.instance.problem
    zone_of, lo, hi = problem.zone_table()
    for z in range(lo.size):
        row = np.r_[(zone_of == z).astype(float), np.zeros(n)]
        constraints.append(LinearConstraint(row[None, :], lo[z], hi[z]))
    fixed = study.instance.candidates["fixed"].to_numpy()
    lower = np.r_[fixed.astype(float), np.zeros(n)]
    res = milp(
        -np.r_[np.zeros(m), weight],
        constraints=constraints,
        integrality=np.r_[np.ones(m), np.zeros(n)],
        bounds=Bounds(lower, np.ones(m + n)),
    )
    assert res.success
    assert -res.fun == pytest.approx(study.result.objective, abs=0.5)
    assert study.result.objective == 185_467
    assert len(table) == n * m  # every commune reaches every candidate on the Gers network


def test_gers_questions_files(gers_questions) -> None:
    study = gers_questions
    out = study.output_dir
    for name in ("sites_explication.csv", "courbe_sites.csv", "courbe_seuil.csv", "courbes.png"):
        assert (out / name).is_file(), name
    assert (out / "courbes.png").read_bytes()[:4] == b"\x89PNG"
    explain = read_written_table(out / "sites_explication.csv", dtype={"insee": str})
    assert len(explain) == 16
    # the plan is optimal: no single swap within the zone bounds does better
    assert (explain["perte"] >= -1e-6).all()
    problem, result = study.instance.problem, study.result
    cover = problem.cost_s[:, result.chosen] <= 20 * 60
    only = problem.weights[cover.sum(axis=1) == 1] @ cover[cover.sum(axis=1) == 1]
    assert explain["habitants_seul_couverts"].to_numpy() == pytest.approx(only)
    assert explain["habitants_plus_proche"].sum() == pytest.approx(problem.weights.sum())
    curve = read_written_table(out / "courbe_sites.csv")
    assert curve["nombre_sites"].tolist() == [15, 16, 17]
    assert (curve["statut"] == "optimal").all()
    # without the zone rule 16 sites cover at least what the zoned optimum covers
    assert curve.loc[1, "habitants_couverts"] >= result.objective
    threshold = read_written_table(out / "courbe_seuil.csv").set_index("seuil_minutes")
    assert threshold.loc[20.0, "habitants_couverts"] == result.objective
    assert study.summary["files"]["matrix_parquet"] == "matrice_couts.parquet"


def test_gers_sensitivity(gers_questions) -> None:
    study = gers_questions
    table = read_written_table(study.output_dir / "sensibilite.csv").set_index("facteur")
    problem, chosen = study.instance.problem, study.result.chosen
    assert len(table) == 4  # speeds × 0.9 and × 1.1, access detour 1.04 and 1.56
    for factor in (0.9, 1.1):
        # the current plan under the scaled matrix, recomputed independently
        kept = problem.weights[(problem.cost_s[:, chosen] / factor <= 20 * 60).any(axis=1)].sum()
        assert table.loc[factor, "habitants_plan_actuel"] == pytest.approx(kept)
    assert (table["statut"] == "optimal").all()
    # an optimal re-solve never does worse than keeping the plan
    assert (table["habitants_couverts"] >= table["habitants_plan_actuel"]).all()
    slower = table.loc[0.9]
    assert slower["habitants_couverts"] < study.result.objective
    changed = set(str(slower["sites_sortants"]).split())
    assert changed and changed <= set(study.result.candidate_ids)


@pytest.mark.slow
def test_gers_maxmin_cli(shared_data: Path, tmp_path: Path) -> None:
    """``coverage place --model maxmin``: the worst canton's share, proven, no canton below it."""
    from coverage._cli_common import console
    from coverage.cli import main

    out = tmp_path / "equite"
    buffer = io.StringIO()
    argv = ["place", "--model", "maxmin", "--sites", "16", "--data", str(shared_data)]
    with contextlib.redirect_stdout(buffer):
        console.file = buffer
        try:
            code = main([*argv, "-o", str(out), "--no-map"])
        finally:
            console.file = None
    text = buffer.getvalue()
    assert code == 0, text
    assert "canton le moins couvert" in text
    import json

    summary = json.loads((out / "placement.json").read_text("utf-8"))
    result = summary["result"]
    assert result["model"] == "maxmin" and result["status"] == "optimal"
    shares = summary["questions"]["group_shares"]
    assert min(shares.values()) == pytest.approx(result["objective"])
    assert len(shares) == 15  # the 15 canton zones of the Gers


def test_candidates_table_carries_zones_bounds_and_open_sites() -> None:
    from coverage.jobs.placement_questions import candidates_table

    problem = PlacementProblem(
        MINUTES * 60,
        WEIGHTS,
        candidate_ids=IDS,
        zones=["A", "A", None, "B"],
        zone_rule="exactly_one",
        fixed=["c3"],
        capacities=[100.0, np.inf, 50.0, 80.0],
    )
    table = candidates_table(problem)
    assert list(table["zone"]) == ["A", "A", "", "B"]
    assert list(table["min_sites_zone"].fillna(-1)) == [1, 1, -1, 1]
    assert list(table["max_sites_zone"].fillna(-1)) == [1, 1, -1, 1]
    assert list(table["impose"]) == [False, False, False, True]
    assert list(table["capacite"].fillna(-1)) == [100.0, -1, 50.0, 80.0]
