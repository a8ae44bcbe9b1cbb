"""The Gers tiers-lieux placement on the real bundle: facts, consistency with ``coverage run``."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pyogrio
import pytest

from coverage.cli import main
from coverage.tables import read_written_table

FIXED = {"32213": "Lombez", "32242": "Masseube", "32208": "Lectoure"}
CALLS: dict[str, list[str]] = {"run_scenario": [], "run_service_access": []}
"""Calls made while the module's placement ran (see ``gers_placement``)."""


@pytest.fixture(scope="module")
def gers_placement(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """The Gers case through the Python API, with the map run (the scenario written, run).

    The real ``run_scenario`` and the run's real ``service_access`` are wrapped to
    record their calls in :data:`CALLS` (the functions run as they are).
    """
    import coverage.jobs.place as place_job
    import coverage.jobs.run as run_job
    from coverage.jobs.place import place

    real_run, real_access = place_job.run_scenario, run_job.service_access

    def counted_run(*args, **kwargs):
        CALLS["run_scenario"].append(args[0].name)
        return real_run(*args, **kwargs)

    def counted_access(*args, **kwargs):
        CALLS["run_service_access"].append(kwargs["name"])
        return real_access(*args, **kwargs)

    out = tmp_path_factory.mktemp("placement") / "tiers-lieux"
    with pytest.MonkeyPatch.context() as mp:  # module fixtures run before the autouse one
        mp.setenv("COVERAGE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        mp.delenv("COVERAGE_DATA_DIR", raising=False)
        mp.setattr(place_job, "run_scenario", counted_run)
        mp.setattr(run_job, "service_access", counted_access)
        study = place(
            "gers",
            kind="tiers_lieu",
            sites=16,
            threshold_minutes=20,
            zone_rule="exactly_one",
            data_dir=shared_data,
            output_dir=out,
        )
    return study


def test_gers_case_sites_zones_and_fixed(gers_placement) -> None:
    study = gers_placement
    result, instance = study.result, study.instance
    assert result.status == "optimal" and result.gap == 0.0
    assert len(result.chosen) == 16
    # 17 cantons, Auch-1/2/3 and Auch's pseudo-canton 3299 merged: 15 zones
    assert len(instance.problem.zone_names) == 15
    auch = "3204+3205+3206+3299"
    zones = study.sites["zone"].value_counts()
    assert set(zones.index) == set(instance.problem.zone_names)
    assert zones[auch] in (1, 2, 3)
    assert (zones.drop(auch) == 1).all()
    assert zones.sum() == 16
    # the three open tiers-lieux are kept, in their own cantons' zones (Lombez in Val de Save)
    existing = study.sites[study.sites["status"] == "existant"]
    assert set(existing["insee_code"]) == set(FIXED)
    assert dict(zip(existing["insee_code"], existing["zone"], strict=True)) == {
        "32213": "3217",
        "32242": "3203",
        "32208": "3214",
    }
    assert dict(zip(existing["insee_code"], existing["commune_name"], strict=True)) == FIXED
    assert (study.sites["status"] == "nouveau").sum() == 13


def test_gers_case_figures_match_the_matrix(gers_placement) -> None:
    study = gers_placement
    problem, result = study.instance.problem, study.result
    # independent recomputation of the model's objective from the raw matrix
    nearest = problem.cost_s[:, result.chosen].min(axis=1)
    within = problem.weights[nearest <= 20 * 60].sum()
    assert result.objective == pytest.approx(within)
    assert problem.weights.sum() == 192_645  # legal population of the 458 communes
    before = problem.weights[problem.cost_s[:, problem.fixed].min(axis=1) <= 20 * 60].sum()
    figures = study.summary["model_figures"]
    assert figures["pop_within_before"] == pytest.approx(before)
    assert figures["pop_within_after"] == pytest.approx(within)
    assert within > before
    # the greedy baseline never beats the proven optimum
    assert study.baseline is not None and study.baseline.objective <= result.objective
    # the matrix times are those of coverage.access: each commune point's time to its
    # nearest site after placement equals the row minimum of the matrix
    communes = study.evaluation.communes
    np.testing.assert_allclose(
        communes["minutes_point_after"].to_numpy(), np.round(nearest / 60.0, 2), atol=0.006
    )
    cov = study.summary["coverage"]
    assert cov["pop_within_after"] >= cov["pop_within_before"]
    assert cov["pop_newly_within"] == cov["pop_within_after"] - cov["pop_within_before"]
    assert cov["pop_within_after"] == communes["pop_within_20_after"].sum()
    cantons = study.evaluation.cantons
    assert cantons["pop_newly_within_20"].sum() == cov["pop_newly_within"]
    assert cantons["population"].sum() == 192_645


def test_gers_written_scenario_runs_to_the_claimed_figure(gers_placement) -> None:
    from coverage.results import ResultFolder
    from coverage.scenario import load_scenario

    study = gers_placement
    out = study.output_dir
    spec = load_scenario(out / "scenario.toml")
    added = [a for a in spec.add if a.kind == "tiers_lieu"]
    assert len(added) == 13
    assert {a.insee_code for a in added} == set(
        study.sites.loc[study.sites["status"] == "nouveau", "insee_code"]
    )
    # the scenario run (the map path): same population within 20 min as claimed
    run = ResultFolder(out / "run")
    figures = run.summary["analyses"]["tiers_lieu"]["thresholds"]["20"]
    assert figures["pop_within"] == study.summary["coverage"]["pop_within_after"]
    assert study.summary["run_check"]["consistent"] is True
    assert (out / "run" / "map.html").is_file()
    assert run.summary["analyses"]["tiers_lieu"]["services"] == 16


def test_gers_result_folder_files(gers_placement) -> None:
    out = gers_placement.output_dir
    for name in (
        "placement.json",
        "sites.gpkg",
        "sites.csv",
        "sites.geojson",
        "communes.csv",
        "cantons.csv",
        "zones.csv",
        "scenario.toml",
    ):
        assert (out / name).is_file(), name
    layers = {n for n, geom in pyogrio.list_layers(out / "sites.gpkg") if geom}
    assert layers == {"sites", "communes"}
    # each opens styled in QGIS, French aliases, snake_case names kept
    with sqlite3.connect(out / "sites.gpkg") as db:
        styles = dict(
            db.execute("SELECT f_table_name, styleQML FROM layer_styles WHERE useAsDefault = 1")
        )
    assert set(styles) == layers
    site_style = ET.fromstring(styles["sites"].split("\n", 1)[1])
    assert site_style.find("renderer-v2").get("attr") == "status"
    aliases = {a.get("field"): a.get("name") for a in site_style.iter("alias")}
    assert aliases["insee_code"] == "Code INSEE"
    communes_style = ET.fromstring(styles["communes"].split("\n", 1)[1])
    assert communes_style.find("renderer-v2").get("attr") == "minutes_mean_after"
    aliases = {a.get("field"): a.get("name") for a in communes_style.iter("alias")}
    assert aliases["minutes_mean_after"] == "Temps moyen (min) (après)"
    assert aliases["pop_within_15_before"] == "Population à moins de 15 min (avant)"
    assert aliases["pop_newly_within_15"] == "Population nouvellement à moins de 15 min"
    sites = read_written_table(out / "sites.csv", dtype={"insee_code": str})
    assert len(sites) == 16 and sites["lon"].between(-0.5, 1.3).all()
    geo = json.loads((out / "sites.geojson").read_text("utf-8"))
    assert len(geo["features"]) == 16
    communes = read_written_table(out / "communes.csv", dtype={"insee_code": str})
    assert len(communes) == 458
    report = json.loads((out / "placement.json").read_text("utf-8"))
    assert report["result"]["status"] == "optimal"
    assert tomllib.loads((out / "scenario.toml").read_text("utf-8"))["scenario"]["territory"] == (
        "gers"
    )


def test_gers_chefs_lieux_cannot_hold_sixteen_one_per_zone(shared_data: Path) -> None:
    """Chefs-lieux only: 15 distinct chefs-lieux + Lombez, but Val de Save takes one site."""
    from coverage.jobs.place import place
    from coverage.placement.problem import PlacementError

    with pytest.raises(PlacementError, match="p = 16 est trop grand"):
        place("gers", sites=16, candidates="chefs-lieux", data_dir=shared_data)


# two more MIP solves of the case gers_placement solves (about 9 s): the slow suite
@pytest.mark.slow
def test_cli_place_writes_the_folder(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "placement"
    buffer = io.StringIO()
    from coverage._cli_common import console

    argv = ["place", "--sites", "16", "--data", str(shared_data), "-o", str(out), "--no-map"]
    with contextlib.redirect_stdout(buffer):
        console.file = buffer
        try:
            code = main(argv)
            again = main(argv)  # the folder exists: refused without --overwrite
            forced = main([*argv, "--overwrite"])
        finally:
            console.file = None
    text = buffer.getvalue()
    assert code == 0, text
    assert again == 1 and forced == 0
    assert "Sites retenus (16)" in text and "optimum prouvé" in text
    assert "Nouvellement à portée" in text
    assert "Plan écrit et optimum" in text and "Sites du plan écrit seulement" in text
    assert (out / "plan_ecrit.csv").is_file() and (out / "comparaison_cantons.csv").is_file()
    assert (out / "scenario.toml").is_file() and not (out / "run").exists()
    assert main(["place", "--data", str(shared_data), "-o", str(tmp_path / "x")]) == 1


def test_place_and_run_give_the_same_canton_figures(gers_placement) -> None:
    """``coverage place`` writes, per canton, exactly what ``coverage run`` of its scenario writes.

    One aggregation (coverage.access): a canton's mean time is weighted by the
    inhabitants who reach a site, its shares by all inhabitants.
    """
    study = gers_placement
    analysis = study.evaluation.analysis
    placed = read_written_table(study.output_dir / "cantons.csv", dtype={"canton_code": str})
    run = read_written_table(
        study.run_dir / "tables" / f"cantons_{analysis}.csv", dtype={"canton_code": str}
    )
    assert list(placed["canton_code"]) == list(run["canton_code"])
    assert len(placed) == 18  # 17 cantons + Auch's own line (pseudo-canton 3299)
    np.testing.assert_array_equal(placed["population"], run["population"])
    np.testing.assert_array_equal(placed["minutes_mean_after"], run["minutes_mean"])
    np.testing.assert_array_equal(placed["pop_unreachable_after"], run["pop_unreachable"])
    for minutes in (15, 20, 30):
        np.testing.assert_array_equal(
            placed[f"pop_within_{minutes}_after"], run[f"pop_within_{minutes}"]
        )
    # the territory mean of placement.json is the run's own
    report = json.loads((study.output_dir / "placement.json").read_text(encoding="utf-8"))
    run_summary = json.loads((study.run_dir / "summary.json").read_text(encoding="utf-8"))
    mean_run = run_summary["analyses"][analysis]["minutes_mean"]
    assert report["coverage"]["minutes_mean_after"] == pytest.approx(mean_run, abs=0.005)


def test_place_runs_its_scenario_once_reusing_the_measured_access(gers_placement) -> None:
    """The map's run is the one run: the placed kind's access is the evaluation's, not redone.

    The run's figures for the placed kind are those of the evaluation (same
    ``ServiceAccess``); the other analyses (France services) are measured by the run.
    """
    study = gers_placement
    analysis = study.evaluation.analysis
    assert CALLS["run_scenario"] == [study.scenario.name]
    names = [a.name for a in study.scenario.analyses]
    assert analysis in names and len(names) == 2
    assert CALLS["run_service_access"] == [n for n in names if n != analysis]
    # the reused access is what measuring again gives, and what the run wrote
    from coverage.access import service_access

    after = study.evaluation.after
    fresh = service_access(
        after.context,
        after.services,
        name=after.name,
        label=after.label,
        thresholds_minutes=after.thresholds_minutes,
        reference_minutes=after.reference_minutes,
    )
    assert fresh.summary() == after.summary()
    np.testing.assert_array_equal(fresh.cell_seconds, after.cell_seconds)
    run_summary = json.loads((study.run_dir / "summary.json").read_text(encoding="utf-8"))
    written = run_summary["analyses"][analysis]
    assert written["thresholds"] == json.loads(json.dumps(fresh.summary()["thresholds"]))
    assert written["minutes_mean"] == fresh.summary()["minutes_mean"]
