"""The written plan beside the optimum, the strict one-site-per-canton rule, ``--no-existing``.

All on the real Gers bundle, without the map run.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coverage.tables import read_written_table

FIXED = {"32213": "Lombez", "32242": "Masseube", "32208": "Lectoure"}
AUCH = "32013"
AUCH_CANTONS = ("3204", "3205", "3206")
GERS_POPULATION = 192_645


def _place(shared_data: Path, tmp_path_factory: pytest.TempPathFactory, **options):
    from coverage.jobs.place import place

    with pytest.MonkeyPatch.context() as mp:  # module fixtures run before the autouse one
        mp.setenv("COVERAGE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        mp.delenv("COVERAGE_DATA_DIR", raising=False)
        return place("gers", data_dir=shared_data, write_map=False, **options)


@pytest.fixture(scope="module")
def gers_study(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """``coverage place --sites 16 --no-map``: the optimum and the written plan."""
    out = tmp_path_factory.mktemp("plan") / "tiers-lieux"
    return _place(shared_data, tmp_path_factory, sites=16, threshold_minutes=20, output_dir=out)


def test_written_plan_is_the_fifteen_chefs_lieux_and_lombez(gers_study) -> None:
    plan = gers_study.written_plan
    assert plan is not None
    chefs = pd.read_csv(plan.chefs_lieux_file, dtype=str)
    assert len(chefs) == 17 and chefs["insee_code"].nunique() == 15  # Auch three times
    codes = set(plan.sites["insee_code"])
    assert len(plan.sites) == 16
    assert codes == set(chefs["insee_code"]) | {"32213"}
    assert {AUCH, *FIXED} <= codes
    existing = plan.sites[plan.sites["status"] == "existant"]
    assert set(existing["insee_code"]) == set(FIXED)
    # the file of the folder lists the same 16 sites, with WGS84 coordinates
    written = read_written_table(
        gers_study.output_dir / "plan_ecrit.csv", dtype={"insee_code": str}
    )
    assert set(written["insee_code"]) == codes
    assert written["lon"].between(-0.4, 1.3).all() and written["lat"].between(43.2, 44.2).all()


def test_written_plan_figures_are_hand_checkable(gers_study) -> None:
    """The plan's inhabitants within 20 min, summed independently of the comparison code.

    Measured on the Gers bundle (2026 populations, network of the bundle):
    167 176 inhabitants on the population cells (what ``coverage run`` of the
    plan gives), 167 575 at commune points (the model's demand); the optimum
    reaches 177 796 (cells) and 185 467 (commune points).
    """
    from coverage.routing.matrix import travel_times

    block = json.loads((gers_study.output_dir / "placement.json").read_text("utf-8"))
    figures = block["written_plan"]["territory"]["plan"]
    assert figures["pop_within"] == 167_176
    assert figures["pop_within_model"] == 167_575
    assert block["written_plan"]["territory"]["optimum"]["pop_within_model"] == 185_467

    # cells: plan_ecrit_communes.csv sums to the headline figure ...
    communes = read_written_table(
        gers_study.output_dir / "plan_ecrit_communes.csv", dtype={"insee_code": str}
    )
    assert len(communes) == 458 and communes["population"].sum() == GERS_POPULATION
    assert communes["pop_within_20"].sum() == figures["pop_within"]
    # ... and so do the populated cells within 20 min of a plan site
    # (each commune's cell sum is rounded to whole inhabitants: at most half one per commune)
    after = gers_study.written_plan.evaluation.after
    ctx = after.context
    alloc = ctx.alloc_cell >= 0
    seconds = np.full(alloc.shape[0], np.inf)
    seconds[alloc] = after.cell_seconds[ctx.alloc_cell[alloc]]
    within = ctx.surface.cell_population[seconds <= 20 * 60 + 1e-6].sum()
    assert within == pytest.approx(figures["pop_within"], abs=len(communes) / 2)
    # commune points: the communes whose point is within 20 min of the nearest plan site
    point = communes.loc[communes["minutes_point"] <= 20.0, "population"].sum()
    assert point == figures["pop_within_model"]
    # and the same from a matrix of our own (commune points -> the 16 communes' points)
    instance = gers_study.instance
    territory = instance.territory
    points = territory.communes.set_index("insee_code")
    sites = points.loc[list(gers_study.written_plan.sites["insee_code"])]
    matrix = travel_times(
        instance.network,
        gers_study.evaluation.after.context.commune_points,
        np.column_stack([sites["point_x"].to_numpy(), sites["point_y"].to_numpy()]),
        access=instance.access,
    )
    nearest = np.nanmin(matrix.seconds, axis=1)
    own = territory.communes["population"].to_numpy()[nearest <= 20 * 60 + 1e-6].sum()
    assert own == figures["pop_within_model"]


def test_canton_comparison_sums_to_the_territory(gers_study) -> None:
    block = gers_study.summary["written_plan"]
    cantons = read_written_table(
        gers_study.output_dir / "comparaison_cantons.csv", dtype={"canton_code": str}
    )
    assert len(cantons) == 18  # 17 cantons + Auch's own line (3299)
    assert cantons["population"].sum() == GERS_POPULATION
    territory = block["territory"]
    assert cantons["covered_plan"].sum() == territory["plan"]["pop_within"]
    assert cantons["covered_optimum"].sum() == territory["optimum"]["pop_within"]
    assert cantons["covered_optimum"].sum() == gers_study.summary["coverage"]["pop_within_after"]
    assert cantons["sites_plan"].sum() == 16 and cantons["sites_optimum"].sum() == 16
    assert (cantons["covered_delta"] == cantons["covered_optimum"] - cantons["covered_plan"]).all()
    assert cantons["covered_delta"].sum() == territory["delta"]["pop_within"]
    # the worst canton time is the worst of the territory
    assert cantons["minutes_worst_plan"].max() == territory["plan"]["minutes_worst"]
    # Auch's site sits on Auch's own line; Val de Save holds Samatan and Lombez
    row = cantons.set_index("canton_code")
    assert row.at["3299", "sites_plan"] == 1 and row.at["3217", "sites_plan"] == 2


def test_differing_sites_partition_both_plans(gers_study) -> None:
    block = gers_study.summary["written_plan"]
    plan = {s["insee_code"] for s in block["sites"]}
    optimum = set(gers_study.sites["insee_code"])
    only_plan = {s["insee_code"] for s in block["only_plan"]}
    only_optimum = {s["insee_code"] for s in block["only_optimum"]}
    assert only_plan == plan - optimum and only_optimum == optimum - plan
    assert set(block["common"]) == plan & optimum
    assert set(FIXED) <= set(block["common"])


def test_strict_rule_gives_each_auch_canton_one_site(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    study = _place(
        shared_data,
        tmp_path_factory,
        sites=17,
        zone_rule="one_per_canton",
        written_plan=False,
    )
    assert study.result.status == "optimal"
    zones = study.instance.problem.zone_names
    assert len(zones) == 17 and set(AUCH_CANTONS) <= set(zones)
    counts = study.sites["zone"].value_counts()
    assert set(counts.index) == set(zones) and (counts == 1).all()
    # Auch is a candidate of each of its three cantons (one candidate per canton, same point)
    cand = study.instance.candidates
    auch = cand[cand["insee_code"] == AUCH]
    assert sorted(auch["zone"]) == list(AUCH_CANTONS)
    assert study.summary["placement"]["zone_rule"] == "one_per_canton"
    assert study.summary["written_plan"] == {"skipped": "désactivé (--no-written-plan)"}


def test_strict_rule_needs_canton_zones(shared_data: Path) -> None:
    from coverage.jobs.place import place
    from coverage.placement.problem import PlacementError

    with pytest.raises(PlacementError, match="one_per_canton demande zones='cantons'"):
        place("gers", sites=17, zone_rule="one_per_canton", zones="z.csv", data_dir=shared_data)


def test_no_existing_counts_only_the_chosen_sites(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    out = tmp_path_factory.mktemp("noexisting") / "lscp"
    study = _place(
        shared_data,
        tmp_path_factory,
        model="lscp",
        threshold_minutes=20,
        zone_rule="none",
        keep_existing=False,
        written_plan=False,
        output_dir=out,
    )
    chosen = len(study.result.chosen)
    assert len(study.result.fixed) == 0
    raw = tomllib.loads((out / "scenario.toml").read_text("utf-8"))
    added = [a for a in raw["services"]["add"] if a["kind"] == "tiers_lieu"]
    assert len(added) == chosen
    assert sorted(raw["services"]["remove"]) == sorted(
        study.evaluation.before.services["service_id"]
    )
    # "after" is measured on the chosen sites only; "before" is still the current offer
    assert len(study.evaluation.after.services) == chosen
    assert len(study.evaluation.before.services) == 3
    from coverage.scenario import load_scenario

    spec = load_scenario(out / "scenario.toml")
    from coverage.jobs.placement_scenario import scenario_selection
    from coverage.jobs.resources import TerritoryResources

    resources = TerritoryResources.for_scenario(spec, data_dir=shared_data)
    selected = scenario_selection(spec, resources.catalogue, resources.territory, "tiers_lieu")
    assert len(selected) == chosen


@pytest.mark.slow
def test_alternative_optima_reach_the_same_coverage(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Without the open sites, the 16-site MCLP has another optimum; each one listed is
    checked on the instance's own matrix (coverage summed by hand, not by the solver)."""
    study = _place(
        shared_data,
        tmp_path_factory,
        sites=16,
        threshold_minutes=20,
        keep_existing=False,
        written_plan=False,
        alternatives=2,
    )
    assert study.result.status == "optimal"
    block = study.summary["alternatives"]
    assert block["found"], block
    problem = study.instance.problem
    ids = [str(c) for c in problem.candidate_ids]

    def covered(site_ids: list[str]) -> float:
        columns = [ids.index(c) for c in site_ids]
        best = problem.cost_s[:, columns].min(axis=1)
        return float(problem.weights[best <= 20 * 60 + 1e-6].sum())

    optimum = covered(study.result.candidate_ids)
    assert optimum == pytest.approx(study.result.objective)
    seen = {tuple(sorted(study.result.candidate_ids))}
    for alt in block["found"]:
        assert len(alt["candidate_ids"]) == 16
        assert tuple(sorted(alt["candidate_ids"])) not in seen
        seen.add(tuple(sorted(alt["candidate_ids"])))
        assert covered(alt["candidate_ids"]) == pytest.approx(optimum)
        assert set(alt["added"]) == set(alt["candidate_ids"]) - set(study.result.candidate_ids)
        assert len(alt["added_names"]) == len(alt["added"])


def test_alternatives_outside_its_range_is_refused(shared_data: Path) -> None:
    from coverage.jobs.place import place
    from coverage.placement import PlacementError

    with pytest.raises(PlacementError, match="alternatives"):
        place("gers", sites=16, data_dir=shared_data, write_map=False, alternatives=11)
