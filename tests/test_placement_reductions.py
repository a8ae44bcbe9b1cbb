"""The exact reductions on the Gers: the reduced models reach the unreduced optimum.

The instances are the benchmark's (``benchmarks/placement.py``): the 458 Gers
communes as demand points and as candidates, times from the commune points; the
free instance has no zone and no fixed site, the Gers case has the canton zones
and Lombez, Masseube and Lectoure kept. Each reduced solve is compared with the
unreduced model (``reduce=False``: one row per demand point, every pair), solved
by HiGHS to proven optimality too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from coverage.placement import solve
from coverage.placement.mip import solve_pmedian_mip

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gers_instances(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    from coverage.jobs.placement_instance import build_instance
    from coverage.jobs.resources import TerritoryResources
    from coverage.jobs.scenarios import default_scenario_path
    from coverage.scenario import load_scenario

    with pytest.MonkeyPatch.context() as mp:  # module fixtures run before the autouse one
        mp.setenv("COVERAGE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        mp.delenv("COVERAGE_DATA_DIR", raising=False)
        spec = load_scenario(default_scenario_path("gers"))
        res = TerritoryResources.for_scenario(spec, data_dir=shared_data)
        ctx = res.context

        def instance(**options):
            return build_instance(
                res.territory,
                res.network,
                kind="tiers_lieu",
                catalogue=res.catalogue,
                surface=res.surface,
                access=ctx.access,
                commune_points=ctx.commune_points,
                **options,
            ).problem

        return {
            "free": instance(zones="none", fixed_existing=False),
            "gers": instance(zones="cantons", zone_rule="exactly_one"),
        }


def median_seconds(problem, chosen) -> float:
    """Weighted seconds to the nearest open site, summed by hand."""
    best = problem.cost_s[:, list(chosen)].min(axis=1)
    return float((problem.weights * best).sum())


@pytest.mark.parametrize(
    ("name", "model", "params"),
    [
        ("free", "pmedian", {"p": 16}),
        ("free", "pmedian", {"p": 6}),
        ("gers", "pmedian", {"p": 16}),
        ("free", "mclp", {"p": 16, "threshold_minutes": 20.0}),
        ("gers", "mclp", {"p": 16, "threshold_minutes": 20.0}),
        ("free", "lscp", {"threshold_minutes": 15.0}),
    ],
)
def test_reduced_model_reaches_the_unreduced_optimum(
    gers_instances, name: str, model: str, params: dict
) -> None:
    problem = gers_instances[name]
    reduced = solve(problem, model, **params)
    full = solve(problem, model, reduce=False, **params)
    assert reduced.status == full.status == "optimal"
    assert reduced.objective == pytest.approx(full.objective, rel=1e-12, abs=1e-6)
    highs_r, highs_f = reduced.parameters["highs"], full.parameters["highs"]
    if model == "pmedian":
        # the p-median's optimum is unique here: the same sites, the same time summed by hand
        assert reduced.candidate_ids == full.candidate_ids
        assert median_seconds(problem, reduced.chosen) == pytest.approx(full.objective, rel=1e-12)
        reduction = highs_r["reduction"]
        assert highs_r["assignment_pairs"] < highs_f["assignment_pairs"]
        assert reduction["full_pairs"] == highs_f["assignment_pairs"]
    else:
        assert highs_r["rows"] < highs_f["rows"]
        assert reduced.parameters["dominated_candidates"] > 0


def test_a_small_neighbourhood_grows_to_the_same_pmedian(gers_instances) -> None:
    # 3 candidates per commune at first: several rounds, and still the optimum of the full model
    problem = gers_instances["free"]
    default = solve(problem, "pmedian", p=16)
    out = solve_pmedian_mip(
        problem,
        16,
        start=None,
        time_limit_s=120.0,
        mip_gap=0.0,
        max_pairs=4_000_000,
        neighbours=3,
    )
    rounds = out.details["reduction"]["rounds"]
    assert len(rounds) > 1 and all("too_far" in r for r in rounds[:-1])
    assert out.status == "optimal"
    assert np.array_equal(out.chosen, default.chosen)
    assert median_seconds(problem, out.chosen) == pytest.approx(default.objective, rel=1e-12)
