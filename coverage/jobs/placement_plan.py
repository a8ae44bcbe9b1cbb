"""The plan as written (one site at each canton chef-lieu) beside the optimised plan.

Gers Solidaire's aim is « 16 tiers-lieux, correspondant aux chefs-lieux de
cantons », the 3 open ones (Lombez, Masseube, Lectoure) kept. The written plan
of a territory is therefore:

- one site at each **distinct** canton chef-lieu of ``chefs_lieux.csv``
  (:func:`coverage.jobs.placement_instance.read_chefs_lieux`). Auch is the
  chef-lieu of Auch-1, Auch-2 and Auch-3: it is **one site** for the three
  (the plan names places, not cantons; a second or third site at the same point
  would reach nobody more). The Gers' 17 cantons give 15 chefs-lieux;
- plus the open sites of the kind (the base scenario's), kept where they are:
  Lombez is not a chef-lieu (Val de Save's is Samatan) and is kept beside it,
  Masseube and Lectoure are chefs-lieux. Gers: 15 chefs-lieux + Lombez = 16.

The strict reading « one site in each canton » (each of Auch-1/2/3 its own site)
is a placement rule, not this plan: ``coverage place --zone-rule one_per_canton``.

:func:`build_written_plan` measures the plan with the same code as the
optimum: its own instance (same demand points, same access legs, the plan's
sites as candidates, all open) for the model's figures
(:func:`coverage.jobs.place.model_figures`), and the scenario it makes measured
on the population cells (:func:`coverage.jobs.placement_scenario.evaluate`,
as ``coverage run``). :func:`compare_plans` puts the two side by side: the
territory, each canton, the sites that differ.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage.access import threshold_key
from coverage.jobs.placement_instance import PlacementInstance, build_instance, chefs_lieux_path
from coverage.jobs.placement_scenario import (
    PlacementEvaluation,
    evaluate,
    placement_scenario,
    scenario_selection,
)
from coverage.jobs.placement_sites import sites_frame
from coverage.placement.problem import COVER_TOLERANCE_S, PlacementResult
from coverage.scenario import scenario_from_dict

PLAN_RULE = (
    "un site à chaque chef-lieu de canton distinct (Auch, chef-lieu d'Auch-1, Auch-2 et "
    "Auch-3, compte une fois), les sites ouverts du type gardés"
)
"""The written plan's rule, in French (reports and ``placement.json``)."""

PLAN_METHOD = "plan écrit"
PLAN_STATUS = "imposé"


@dataclass(eq=False)
class WrittenPlan:
    """The written plan measured on the placement's instance settings.

    Attributes
    ----------
    instance
        Its own instance: the chefs-lieux and the open sites as candidates, all open.
    result
        Every candidate open (method ``plan écrit``, status ``imposé``).
    sites
        :func:`~coverage.jobs.placement_sites.sites_frame` of the plan.
    evaluation
        Coverage before (the open sites) and with the plan, on the population cells.
    scenario_raw
        The base scenario with the plan's new sites.
    chefs_lieux_file
        The chefs-lieux list read.
    """

    instance: PlacementInstance
    result: PlacementResult
    sites: gpd.GeoDataFrame
    evaluation: PlacementEvaluation
    scenario_raw: dict[str, Any]
    chefs_lieux_file: Path


def plan_result(instance: PlacementInstance, threshold_minutes: float) -> PlacementResult:
    """Every candidate of ``instance`` open: the nearest-site assignment and coverage.

    The same evaluation the solvers end with (nearest open site, covered when
    within ``T`` plus :data:`~coverage.placement.problem.COVER_TOLERANCE_S`).
    """
    started = time.perf_counter()
    problem = instance.problem
    chosen = np.arange(problem.n_candidates, dtype=np.int64)
    cost = problem.cost_s
    local = np.argmin(cost, axis=1)
    seconds = cost[np.arange(problem.n_demand), local]
    limit = threshold_minutes * 60.0 + COVER_TOLERANCE_S
    covered = (seconds <= limit).astype(float)
    return PlacementResult(
        model="mclp",
        method=PLAN_METHOD,
        status=PLAN_STATUS,
        chosen=chosen,
        candidate_ids=[str(c) for c in problem.candidate_ids],
        fixed=problem.fixed.copy(),
        objective=float((problem.weights * covered).sum()),
        bound=None,
        gap=None,
        solve_time_s=time.perf_counter() - started,
        assignment=np.where(np.isfinite(seconds), local, -1).astype(np.int64),
        assignment_s=seconds.astype(np.float64),
        covered=covered,
        unserved=np.flatnonzero(~(cost <= limit).any(axis=1)).astype(np.int64),
        parameters={"p": int(problem.n_candidates), "threshold_minutes": threshold_minutes},
    )


def build_written_plan(
    resources: Any,
    optimum: PlacementInstance,
    existing: gpd.GeoDataFrame,
    base_raw: dict[str, Any],
    base_path: Path,
    *,
    analysis: str,
    label: str,
    thresholds_minutes: tuple[float, ...],
    threshold_minutes: float,
    reference_minutes: float | None,
) -> WrittenPlan:
    """Build and measure the written plan (see the module docstring).

    Parameters
    ----------
    resources
        The placement's :class:`~coverage.jobs.resources.TerritoryResources`.
    optimum
        The optimisation's instance (its kind, demand and access settings are reused).
    existing
        The open sites of the kind the base scenario counts (kept by the plan).
    base_raw, base_path
        The base scenario (from :func:`~coverage.jobs.placement_scenario.prepare_base`)
        and its file.
    analysis, label, thresholds_minutes, threshold_minutes, reference_minutes
        As for :func:`~coverage.jobs.placement_scenario.evaluate`.

    Raises
    ------
    coverage.errors.DataError
        If the territory has no chefs-lieux list (``chefs_lieux.csv``).
    """
    territory = resources.territory
    path = chefs_lieux_path(territory)
    settings = optimum.settings
    instance = build_instance(
        territory,
        resources.network,
        kind=optimum.kind,
        catalogue=resources.catalogue,
        fixed_existing=True,
        existing=existing,
        demand=str(settings.get("demand") or "communes"),
        cell_size_m=float(settings.get("cell_size_m") or 1000.0),
        surface=resources.surface,
        candidates="chefs-lieux",
        zones="cantons",
        zone_rule="at_least_one",
        sites_per_canton=False,
        access=optimum.access,
        commune_points=resources.context.commune_points,
    )
    instance.settings["kind_label"] = settings.get("kind_label")
    result = plan_result(instance, threshold_minutes)
    raw = placement_scenario(
        base_raw,
        instance,
        result,
        name=f"{base_raw.get('scenario', {}).get('name', 'base')}_plan_ecrit"[:60],
        label=f"{base_raw.get('scenario', {}).get('label', '')} + plan écrit".strip(" +"),
        description=f"Plan écrit : {PLAN_RULE} ({path.name}).",
    )
    spec = scenario_from_dict(raw, path=base_path)
    services = scenario_selection(spec, resources.catalogue, territory, analysis)
    evaluation = evaluate(
        resources.context,
        existing,
        services,
        analysis=analysis,
        label=label,
        thresholds_minutes=thresholds_minutes,
        threshold_minutes=threshold_minutes,
        reference_minutes=reference_minutes,
        commune_zone=optimum.commune_zone,
    )
    sites = sites_frame(instance, result, threshold_minutes=threshold_minutes)
    return WrittenPlan(
        instance=instance,
        result=result,
        sites=sites,
        evaluation=evaluation,
        scenario_raw=raw,
        chefs_lieux_file=path,
    )


def plan_communes(plan: WrittenPlan) -> pd.DataFrame:
    """The written plan's coverage per commune (``plan_ecrit_communes.csv``).

    Columns: ``insee_code``, ``name``, ``canton_code``, ``canton_name``,
    ``population``, ``minutes_mean`` (its cells), ``minutes_point`` (from the
    commune point), ``nearest`` (the plan's nearest site), and for each
    threshold ``pop_within_<T>`` (cells): the figures of a run of the plan.
    """
    frame = plan.evaluation.communes
    out = frame[["insee_code", "name", "canton_code", "canton_name", "population"]].copy()
    out["minutes_mean"] = frame["minutes_mean_after"]
    out["minutes_point"] = frame["minutes_point_after"]
    out["nearest"] = frame["nearest_after"]
    for column in frame.columns:
        if column.startswith("pop_within_") and column.endswith("_after"):
            out[column.removesuffix("_after")] = frame[column]
    return out


# --- comparison -------------------------------------------------------------------------------


def _worst_by(evaluation: PlacementEvaluation, keys: list[str]) -> pd.Series:
    """Worst populated cell's time (minutes) per group of communes (after the plan)."""
    communes = evaluation.after.communes
    populated = communes[communes["population"] > 0]
    if not keys:
        return pd.Series([float(populated["minutes_max"].max())])
    return populated.groupby(keys)["minutes_max"].max()


def _site_key(row: Any) -> str:
    return str(row.insee_code or row.candidate_id)


def _site_counts(sites: gpd.GeoDataFrame, territory: Any) -> pd.Series:
    """Sites per commune canton code (Auch's on its own line, 3299)."""
    canton = territory.communes.set_index("insee_code")["canton_code"].astype(str)
    codes = [canton.get(str(c), "") for c in sites["insee_code"]]
    return pd.Series(codes, dtype=object).value_counts()


def compare_cantons(
    plan: PlacementEvaluation,
    optimum: PlacementEvaluation,
    *,
    plan_sites: gpd.GeoDataFrame,
    optimum_sites: gpd.GeoDataFrame,
    territory: Any,
) -> pd.DataFrame:
    """Per canton (Auch on its own line): inhabitants, covered, share, mean and worst time.

    Columns: ``canton_code``, ``canton_name``, ``population``, then for
    ``plan`` (the written plan) and ``optimum``: ``sites_*``, ``covered_*``
    (inhabitants within ``T``), ``share_*``, ``minutes_mean_*`` (reachable
    inhabitants), ``minutes_worst_*`` (worst populated cell), and the deltas
    ``covered_delta``, ``minutes_mean_delta`` (optimum − plan).
    """
    key = threshold_key(plan.threshold_minutes)
    keys = ["canton_code", "canton_name"]
    a, b = plan.cantons, optimum.cantons
    out = a[[*keys, "population"]].copy()
    pop = out["population"].where(out["population"] > 0)
    worst_a, worst_b = _worst_by(plan, ["canton_code"]), _worst_by(optimum, ["canton_code"])
    count_a = _site_counts(plan_sites, territory)
    count_b = _site_counts(optimum_sites, territory)
    for name, table, worst, count in (
        ("plan", a, worst_a, count_a),
        ("optimum", b, worst_b, count_b),
    ):
        codes = out["canton_code"].astype(str)
        out[f"sites_{name}"] = codes.map(count).fillna(0).astype(int).to_numpy()
        out[f"covered_{name}"] = table[f"pop_within_{key}_after"].to_numpy()
        out[f"share_{name}"] = (out[f"covered_{name}"] / pop).round(4)
        out[f"minutes_mean_{name}"] = table["minutes_mean_after"].to_numpy()
        out[f"minutes_worst_{name}"] = codes.map(worst).round(2).to_numpy()
    out["covered_delta"] = out["covered_optimum"] - out["covered_plan"]
    out["minutes_mean_delta"] = (out["minutes_mean_optimum"] - out["minutes_mean_plan"]).round(2)
    return out


def territory_figures(
    evaluation: PlacementEvaluation, model: dict[str, Any], sites: int
) -> dict[str, Any]:
    """A plan's headline figures: cells (as ``coverage run``) and commune points (model)."""
    cov = evaluation.summary()
    return {
        "sites": int(sites),
        "population": cov["population"],
        "pop_within": cov["pop_within_after"],
        "share_within": cov["share_within_after"],
        "minutes_mean": cov["minutes_mean_after"],
        "minutes_worst": round(float(_worst_by(evaluation, []).iat[0]), 2),
        "pop_within_model": model.get("pop_within_after"),
        "minutes_mean_model": model.get("minutes_mean_after"),
    }


def compare_plans(
    written: WrittenPlan,
    *,
    optimum_evaluation: PlacementEvaluation,
    optimum_sites: gpd.GeoDataFrame,
    plan_model: dict[str, Any],
    optimum_model: dict[str, Any],
) -> dict[str, Any]:
    """The ``written_plan`` block of ``placement.json``: figures, deltas, differing sites.

    ``territory`` holds ``plan``, ``optimum`` and ``delta`` (optimum − plan) of
    :func:`territory_figures`; ``only_plan`` / ``only_optimum`` the sites (INSEE
    code, name) in one plan only, matched by commune; ``cantons`` the records of
    :func:`compare_cantons`.
    """
    plan = territory_figures(written.evaluation, plan_model, len(written.sites))
    best = territory_figures(optimum_evaluation, optimum_model, len(optimum_sites))
    delta = {
        k: None if plan[k] is None or best[k] is None else round(best[k] - plan[k], 4)
        for k in plan
        if k != "population"
    }
    mine = {_site_key(r): str(r.commune_name or r.name) for r in written.sites.itertuples()}
    theirs = {_site_key(r): str(r.commune_name or r.name) for r in optimum_sites.itertuples()}
    cantons = compare_cantons(
        written.evaluation,
        optimum_evaluation,
        plan_sites=written.sites,
        optimum_sites=optimum_sites,
        territory=written.instance.territory,
    )
    return {
        "rule": PLAN_RULE,
        "chefs_lieux_file": str(written.chefs_lieux_file),
        "threshold_minutes": written.evaluation.threshold_minutes,
        "territory": {"plan": plan, "optimum": best, "delta": delta},
        "sites": [
            {
                "insee_code": str(r.insee_code),
                "name": str(r.commune_name or r.name),
                "status": str(r.status),
                "zone_label": str(r.zone_label),
            }
            for r in written.sites.itertuples()
        ],
        "only_plan": [
            {"insee_code": k, "name": v} for k, v in sorted(mine.items()) if k not in theirs
        ],
        "only_optimum": [
            {"insee_code": k, "name": v} for k, v in sorted(theirs.items()) if k not in mine
        ],
        "common": sorted(set(mine) & set(theirs)),
        "cantons": cantons.replace({np.nan: None}).to_dict(orient="records"),
    }


__all__ = [
    "PLAN_RULE",
    "WrittenPlan",
    "build_written_plan",
    "compare_cantons",
    "compare_plans",
    "plan_communes",
    "plan_result",
    "territory_figures",
]
