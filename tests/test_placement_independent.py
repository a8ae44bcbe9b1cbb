"""Every Gers result labelled optimal equals an independent MIP on the exported instance.

``coverage place`` writes its instance (``matrice_couts.parquet``: every usable
demand × candidate pair with its seconds and the demand's inhabitants;
``candidats.csv``: zones, bounds, sites kept open). Each model is written here
again from those two files only, with :func:`scipy.optimize.milp` (a plain
textbook formulation: no reduction, no start, no tie-break), and its optimum must
equal the engine's objective. Slow: one study and one MIP per case.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from coverage.tables import read_written_table

pytestmark = pytest.mark.slow

TOLERANCE_S = 1e-6


def read_instance(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    pairs = pd.read_parquet(folder / "matrice_couts.parquet")
    candidates = read_written_table(
        folder / "candidats.csv", dtype={"id_candidat": str, "zone": str}
    )
    return pairs, candidates


def site_rows(candidates: pd.DataFrame, n_cols: int, p: int | None) -> list[LinearConstraint]:
    """Σ x = p, the zone bounds and the sites kept open (x are the first columns)."""
    n = len(candidates)
    rows: list[LinearConstraint] = []
    if p is not None:
        a = sp.csr_matrix((np.ones(n), (np.zeros(n), np.arange(n))), shape=(1, n_cols))
        rows.append(LinearConstraint(a, p, p))
    zoned = candidates[candidates["zone"].fillna("") != ""]
    for _, group in zoned.groupby("zone"):
        idx = group.index.to_numpy()
        lo = float(group["min_sites_zone"].iloc[0])
        hi = group["max_sites_zone"].iloc[0]
        a = sp.csr_matrix((np.ones(idx.size), (np.zeros(idx.size), idx)), shape=(1, n_cols))
        rows.append(LinearConstraint(a, lo, np.inf if pd.isna(hi) else float(hi)))
    return rows


def fixed_bounds(candidates: pd.DataFrame, n_cols: int) -> Bounds:
    lower = np.zeros(n_cols)
    lower[np.flatnonzero(candidates["impose"].to_numpy(dtype=bool))] = 1.0
    return Bounds(lower, np.ones(n_cols))


def solve_covering(folder: Path, model: str, minutes: float, p: int | None) -> float:
    pairs, candidates = read_instance(folder)
    col = {c: j for j, c in enumerate(candidates["id_candidat"])}
    close = pairs[(pairs["secondes"] <= minutes * 60 + TOLERANCE_S) & (pairs["poids_demande"] > 0)]
    demand = sorted(close["id_demande"].unique())
    row = {d: i for i, d in enumerate(demand)}
    weight = close.drop_duplicates("id_demande").set_index("id_demande")["poids_demande"]
    n, m = len(candidates), len(demand)
    cover = sp.csr_matrix(
        (
            np.ones(len(close)),
            (close["id_demande"].map(row).to_numpy(), close["id_candidat"].map(col).to_numpy()),
        ),
        shape=(m, n),
    )
    if model == "lscp":
        cost = np.ones(n)
        rows = [LinearConstraint(cover, 1, np.inf), *site_rows(candidates, n, None)]
        out = milp(
            cost, constraints=rows, integrality=np.ones(n), bounds=fixed_bounds(candidates, n)
        )
        assert out.status == 0, out.message
        return float(out.fun)
    # MCLP: columns x (n) then y (m); y_i <= Σ_{j covers i} x_j
    w = weight.reindex(demand).to_numpy()
    cost = np.concatenate([np.zeros(n), -w])
    link = sp.hstack([-cover, sp.identity(m)]).tocsr()
    rows = [LinearConstraint(link, -np.inf, 0), *site_rows(candidates, n + m, p)]
    bounds = fixed_bounds(candidates, n + m)
    integrality = np.concatenate([np.ones(n), np.zeros(m)])
    out = milp(cost, constraints=rows, integrality=integrality, bounds=bounds)
    assert out.status == 0, out.message
    return -float(out.fun)


def solve_pmedian(folder: Path, p: int) -> float:
    pairs, candidates = read_instance(folder)
    pairs = pairs[pairs["poids_demande"] > 0].reset_index(drop=True)
    col = {c: j for j, c in enumerate(candidates["id_candidat"])}
    demand = sorted(pairs["id_demande"].unique())
    row = {d: i for i, d in enumerate(demand)}
    n, k = len(candidates), len(pairs)
    i = pairs["id_demande"].map(row).to_numpy()
    j = pairs["id_candidat"].map(col).to_numpy()
    # columns x (n) then z (one per pair); Σ_j z_ij = 1; z_ij <= x_j
    cost = np.concatenate([np.zeros(n), (pairs["poids_demande"] * pairs["secondes"]).to_numpy()])
    assign = sp.csr_matrix((np.ones(k), (i, n + np.arange(k))), shape=(len(demand), n + k))
    link = sp.csr_matrix(
        (
            np.concatenate([np.ones(k), -np.ones(k)]),
            (np.tile(np.arange(k), 2), np.concatenate([n + np.arange(k), j])),
        ),
        shape=(k, n + k),
    )
    rows = [
        LinearConstraint(assign, 1, 1),
        LinearConstraint(link, -np.inf, 0),
        *site_rows(candidates, n + k, p),
    ]
    integrality = np.concatenate([np.ones(n), np.zeros(k)])
    out = milp(
        cost, constraints=rows, integrality=integrality, bounds=fixed_bounds(candidates, n + k)
    )
    assert out.status == 0, out.message
    return float(out.fun)


CASES = [
    pytest.param("mclp", 20, 16, "exactly_one", True, id="mclp-20-cantons-ouverts"),
    pytest.param("mclp", 15, 16, "exactly_one", True, id="mclp-15-cantons-ouverts"),
    pytest.param("mclp", 20, 16, "none", False, id="mclp-20-libre"),
    pytest.param("lscp", 15, None, "none", False, id="lscp-15-libre"),
    pytest.param("lscp", 20, None, "none", False, id="lscp-20-libre"),
    pytest.param("lscp", 20, None, "none", True, id="lscp-20-ouverts"),
    pytest.param("lscp", 20, None, "at_least_one", True, id="lscp-20-cantons-ouverts"),
    pytest.param("pmedian", 20, 16, "exactly_one", True, id="pmedian-cantons-ouverts"),
    pytest.param("pmedian", 20, 16, "none", False, id="pmedian-libre"),
]


@pytest.mark.parametrize(("model", "minutes", "p", "zone_rule", "keep"), CASES)
def test_optimal_results_equal_an_independent_mip(
    shared_data: Path,
    tmp_path: Path,
    model: str,
    minutes: float,
    p: int | None,
    zone_rule: str,
    keep: bool,
) -> None:
    from coverage.jobs.place import place

    study = place(
        "gers",
        model=model,
        sites=p,
        threshold_minutes=minutes,
        zone_rule=zone_rule,
        keep_existing=keep,
        data_dir=shared_data,
        output_dir=tmp_path / "etude",
        write_map=False,
        written_plan=False,
        alternatives=0,
        baseline=False,
    )
    result = study.result
    assert result.status == "optimal", result.report()
    folder = tmp_path / "etude"
    if model == "pmedian":
        reference = solve_pmedian(folder, int(p))
    else:
        reference = solve_covering(folder, model, minutes, p)
    assert result.objective == pytest.approx(reference, rel=1e-7, abs=1e-6)
