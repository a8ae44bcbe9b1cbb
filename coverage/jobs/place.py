"""A placement study in one call: load, build the problem, solve, evaluate, write the folder.

:func:`place` is what ``coverage place`` runs. It loads the territory the way
``coverage run`` does (:class:`coverage.jobs.resources.TerritoryResources`, from the base
scenario: the territory's default scenario unless another is given), so that
the placement's travel times start from the same commune points with the same
access legs as the run's; keeps open the sites the base scenario counts for
the kind; solves the model (HiGHS, and the greedy heuristic as the baseline);
turns the new sites into a scenario; measures coverage before and after as a
run of that scenario does (:mod:`coverage.jobs.placement_scenario`); and, when
asked, writes the result folder and runs the scenario for its map::

    <output>/
      placement.json     settings, solver report (MIP and greedy), figures, files
      sites.gpkg         layers sites (chosen sites) and communes (before/after)
      sites.csv          chosen sites with lon/lat (WGS84)
      sites.geojson      chosen sites (EPSG:4326)
      communes.csv       coverage before/after per commune
      cantons.csv        coverage before/after per canton
      zones.csv          zones, their bounds and sites
      plan_ecrit.csv     the written plan's sites (one per canton chef-lieu, open ones kept)
      plan_ecrit_communes.csv  the written plan's coverage per commune (as communes.csv)
      comparaison_cantons.csv  written plan against optimum, per canton
      scenario.toml      the base scenario with the new sites (``coverage run`` takes it)
      run/               that scenario run (map.html...), unless the map is skipped
"""

from __future__ import annotations

import shutil
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage import __version__
from coverage._outdir import refuse_existing, replace_dir, staging_dir
from coverage.access import threshold_key
from coverage.errors import DataError
from coverage.gpkg_styles import Categorised, Graduated, add_styles
from coverage.jobs import placement_questions as questions
from coverage.jobs.placement_instance import DEFAULT_CELL_SIZE_M, PlacementInstance, build_instance
from coverage.jobs.placement_plan import (
    WrittenPlan,
    build_written_plan,
    compare_plans,
    plan_communes,
)
from coverage.jobs.placement_scenario import (
    PlacementEvaluation,
    added_services,
    evaluate,
    placement_scenario,
    prepare_base,
    scenario_selection,
    scenario_toml,
)
from coverage.jobs.placement_sites import sites_frame, to_wgs84_table, zones_frame
from coverage.jobs.resources import TerritoryResources
from coverage.jobs.run import run_scenario
from coverage.jobs.scenarios import base_scenario_path
from coverage.jsonio import write_json
from coverage.placement.alternatives import alternative_optima
from coverage.placement.problem import (
    COVER_TOLERANCE_S,
    DEFAULT_TIME_LIMIT_S,
    MODELS,
    PlacementError,
    PlacementResult,
)
from coverage.placement.solving import solve
from coverage.progress import Progress, silent
from coverage.scenario import Scenario, load_scenario, scenario_from_dict
from coverage.tables import write_table

DEFAULT_ALTERNATIVES = 3
"""Other optimal site sets looked for by default (``alternatives``)."""
MAX_ALTERNATIVES = 10
"""Most other optimal site sets looked for (the API's limit too)."""
ALTERNATIVE_TIME_LIMIT_S = 30.0
"""HiGHS time limit of each search for another optimum (at most the solve's own)."""
ALTERNATIVE_MODELS = ("mclp", "lscp", "pmedian")
"""Models whose alternative optima are looked for."""

ZONE_RULE_CHOICES: tuple[str, ...] = (
    "none",
    "at_most_one",
    "exactly_one",
    "at_least_one",
    "one_per_canton",
)
"""``one_per_canton``: every canton its own zone with exactly one site (Auch-1, Auch-2 and
Auch-3 one each; Auch itself a candidate of each), the strict reading of the rule."""


SCENARIO_FILE = "scenario.toml"
PLAN_FILE = "plan_ecrit.csv"
CANTON_COMPARISON_FILE = "comparaison_cantons.csv"
PLAN_COMMUNES_FILE = "plan_ecrit_communes.csv"
REPORT_FILE = "placement.json"
RUN_DIR = "run"


@dataclass(eq=False)
class PlacementStudy:
    """Everything a placement produced.

    Attributes
    ----------
    instance
        The problem and its tables.
    result
        The solution (HiGHS, or greedy when asked or as the fallback).
    baseline
        The greedy heuristic's solution when the main solver is HiGHS (None when it
        could not run, e.g. with capacities).
    evaluation
        Coverage before and after, as ``coverage run`` measures it.
    sites
        The chosen sites (:func:`coverage.jobs.placement_sites.sites_frame`).
    scenario
        The new scenario (base + new sites), as plain data and parsed.
    summary
        The content of ``placement.json``.
    output_dir
        The result folder (None when nothing was written).
    run_dir
        The scenario run with its map (None when skipped).
    """

    instance: PlacementInstance
    result: PlacementResult
    baseline: PlacementResult | None
    evaluation: PlacementEvaluation
    sites: gpd.GeoDataFrame
    scenario_raw: dict[str, Any]
    scenario: Scenario
    summary: dict[str, Any]
    output_dir: Path | None = None
    run_dir: Path | None = None
    files: dict[str, str] = field(default_factory=dict)
    written_plan: WrittenPlan | None = None

    def figures(self) -> dict[str, Any]:
        """The headline figures (coverage before/after within ``T``, model objective)."""
        return self.summary["coverage"]


def place(
    territory: str = "gers",
    *,
    kind: str = "tiers_lieu",
    model: str = "mclp",
    sites: int | None = None,
    new_sites: int | None = None,
    threshold_minutes: float = 20.0,
    demand: str = "communes",
    cell_size_m: float = DEFAULT_CELL_SIZE_M,
    candidates: str | Path = "communes",
    zones: str | Path = "cantons",
    zone_rule: str = "exactly_one",
    sites_per_canton: bool = True,
    keep_existing: bool = True,
    fixed: Sequence[str] = (),
    solver: str = "highs",
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    mip_gap: float = 0.0,
    baseline: bool = True,
    scenario: str | Path | None = None,
    data_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
    overwrite: bool = False,
    write_map: bool = True,
    written_plan: bool = True,
    resources: Any = None,
    progress: Progress | None = None,
    curve: str | tuple[int | None, int] | None = None,
    curve_minutes: str | Sequence[float] | None = None,
    tradeoff: bool = False,
    sensitivity: bool = False,
    alternatives: int = DEFAULT_ALTERNATIVES,
    client: Any | None = None,
) -> PlacementStudy:
    """Choose sites for a service kind and measure what they change.

    Parameters
    ----------
    territory
        Territory name (its default scenario is the base unless ``scenario`` is given).
    kind
        Service kind placed (``tiers_lieu``, ``france_services``, ...).
    model
        ``mclp`` (most population within ``T``), ``pmedian`` (least mean time) or
        ``lscp`` (fewest sites for everyone within ``T``).
    sites
        Number of open sites ``p``, existing ones included (MCLP, p-median).
    new_sites
        Or the number of sites to add to the existing ones.
    threshold_minutes
        Coverage threshold ``T`` (MCLP, LSCP; also the evaluation threshold).
    demand, cell_size_m
        Demand points: ``communes`` (commune points, legal population) or ``cells``
        (population blocks of ``cell_size_m``).
    candidates
        ``communes``, ``chefs-lieux`` or a CSV file.
    zones
        ``cantons``, ``none`` or a CSV file (``insee_code``, ``zone``).
    zone_rule
        ``exactly_one``, ``at_most_one``, ``at_least_one``, ``none`` (no zone
        constraint) or ``one_per_canton`` (with ``zones="cantons"``: each canton
        its own zone with exactly one site, Auch a candidate of each of its cantons).
    sites_per_canton
        A zone merging several cantons may hold up to one site per canton (Auch);
        only the zone's total is bounded (``one_per_canton`` bounds each canton).
    keep_existing
        Keep open the sites the base scenario counts for the kind. False: the
        scenario written and the "after" figures count the chosen sites only (the
        open ones are left out, ``[services] remove``); "before" stays the base.
    fixed
        Further candidates (ids or INSEE codes) to keep open.
    solver
        ``highs`` (exact) or ``greedy``.
    time_limit_s, mip_gap
        HiGHS limits.
    baseline
        Also run the greedy heuristic as a baseline (when ``solver="highs"``).
    scenario
        Base scenario file (default: the territory's default scenario).
    data_dir
        Data bundle directory (``--data``).
    output_dir
        Result folder to write (None: write nothing).
    overwrite
        Replace an existing result folder.
    write_map
        Run the new scenario into ``<output_dir>/run`` (``map.html``).
    written_plan
        Also measure the written plan (one site per canton chef-lieu, the open
        sites kept: :mod:`coverage.jobs.placement_plan`) and compare it with the
        optimum; skipped with a note when the territory has no chefs-lieux list.
    resources
        Already loaded :class:`coverage.jobs.resources.TerritoryResources` (reused when they match).
    progress
        Called with a French label at the start of every step.
    curve, curve_minutes, tradeoff, sensitivity
        The questions around the plan, written into ``output_dir``
        (:func:`coverage.jobs.placement_questions.write_questions`): the curve against
        the number of sites (``"A-B"``), against the threshold (``"10,15,20"``), the
        coverage/mean-time trade-off, the speeds/detour sensitivity. The per-site
        explanation and the cost matrix are always written.
    alternatives
        Most other site sets reaching the same proven optimum to look for
        (:func:`coverage.placement.alternative_optima`; 0: do not look), each
        re-solve limited to ``min(time_limit_s, 30)`` s; reported in the summary's
        ``alternatives`` block.
    client
        A ``distributed.Client`` (:func:`coverage.cluster.open_client`): the sweeps of
        the questions (curves, trade-off, sensitivity) run as one Dask task per solve,
        with the same tables (:mod:`coverage.jobs.placement_questions`); the study's
        own solve stays here. None (default): everything in this process.

    Returns
    -------
    PlacementStudy

    Raises
    ------
    PlacementError
        Bad or infeasible settings, naming the parameter.
    coverage.errors.OutputExistsError
        If ``output_dir`` exists and ``overwrite`` is false.
    """

    say = progress or silent
    started = time.perf_counter()
    timings: dict[str, float] = {}
    _check_options(model, sites, new_sites, threshold_minutes, zone_rule, zones)
    if (
        isinstance(alternatives, bool)
        or not isinstance(alternatives, int)
        or not 0 <= alternatives <= MAX_ALTERNATIVES
    ):
        raise PlacementError(
            f"alternatives doit être un entier de 0 à {MAX_ALTERNATIVES}, reçu {alternatives!r}"
        )
    questions.check_options(curve, curve_minutes)
    if output_dir is not None:
        refuse_existing(output_dir, overwrite=overwrite)

    base_path = base_scenario_path(territory, scenario)
    base_spec = load_scenario(base_path)
    if base_spec.territory != territory and scenario is not None:
        territory = base_spec.territory
    raw = tomllib.loads(base_path.read_text(encoding="utf-8"))
    if resources is None or not resources.matches(base_spec):
        resources = TerritoryResources.for_scenario(base_spec, data_dir=data_dir, progress=say)
    catalogue, loaded, ctx = resources.catalogue, resources.territory, resources.context
    if kind not in catalogue.kinds:
        raise PlacementError(
            f"kind: unknown service kind '{kind}' (known: {', '.join(sorted(catalogue.kinds))})"
        )
    kind_label = catalogue.kinds[kind]
    base_raw, analysis = prepare_base(
        raw,
        kind=kind,
        kind_label=kind_label,
        threshold_minutes=threshold_minutes,
        base_dir=base_path.parent.resolve(),
    )
    before_spec = scenario_from_dict(base_raw, path=base_path)
    existing = scenario_selection(before_spec, catalogue, loaded, analysis)

    say("Matrice des temps de trajet (demande × sites candidats)")
    t0 = time.perf_counter()
    instance = build_instance(
        loaded,
        resources.network,
        kind=kind,
        catalogue=catalogue,
        fixed_existing=keep_existing,
        fixed=fixed,
        existing=existing,
        demand=demand,
        cell_size_m=cell_size_m,
        surface=resources.surface,
        candidates=candidates,
        zones=_zone_scheme(zones, zone_rule),
        zone_rule=_solver_zone_rule(zone_rule),
        sites_per_canton=sites_per_canton,
        access=ctx.access,
        commune_points=ctx.commune_points,
    )
    instance.settings["kind_label"] = kind_label
    if zone_rule == "one_per_canton":
        instance.settings["zone_rule"] = zone_rule
    timings["instance_s"] = time.perf_counter() - t0
    problem = instance.problem
    p = None
    if model != "lscp":
        p = int(sites) if sites is not None else int(problem.fixed.size) + int(new_sites or 0)

    label = "HiGHS (programme linéaire en nombres entiers)" if solver == "highs" else "glouton"
    say(f"Optimisation : {label}")
    t0 = time.perf_counter()
    options: dict[str, Any] = {"solver": solver, "time_limit_s": time_limit_s, "mip_gap": mip_gap}
    if model == "maxmin":  # the equity model needs each demand point's canton
        options["demand_groups"] = questions.demand_groups(instance)
    result = solve(problem, model, p=p, threshold_minutes=threshold_minutes, **options)
    timings["solve_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    other_optima = _alternatives(
        problem, result, model, solver, alternatives, time_limit_s, say, _candidate_names(instance)
    )
    timings["alternatives_s"] = time.perf_counter() - t0
    greedy_result = None
    if baseline and solver == "highs":
        say("Heuristique gloutonne (référence)")
        try:
            greedy_result = solve(
                problem, model, p=p, threshold_minutes=threshold_minutes, solver="greedy"
            )
        except PlacementError:
            greedy_result = None

    say("Couverture avant et après")
    t0 = time.perf_counter()
    name = f"{base_spec.name}_placement_{kind}"[:60]
    new_raw = placement_scenario(
        base_raw,
        instance,
        result,
        name=name,
        label=f"{base_spec.label} + {len(result.added)} × {kind_label} (placement {model})",
        description=_description(instance, result, model, threshold_minutes, base_path),
        remove=() if keep_existing else [str(s) for s in existing["service_id"]],
    )
    new_spec = scenario_from_dict(new_raw, path=base_path)
    after = scenario_selection(new_spec, catalogue, loaded, analysis)
    analysis_spec = next(a for a in new_spec.analyses if a.name == analysis)
    evaluation = evaluate(
        ctx,
        existing,
        after,
        analysis=analysis,
        label=analysis_spec.label,
        thresholds_minutes=new_spec.thresholds_minutes,
        threshold_minutes=threshold_minutes,
        reference_minutes=analysis_spec.reference_minutes,
        commune_zone=instance.commune_zone,
    )
    timings["evaluation_s"] = time.perf_counter() - t0
    # --- the written plan beside the optimum (coverage.jobs.placement_plan) ---
    plan: WrittenPlan | None = None
    plan_note = "désactivé (--no-written-plan)"
    if written_plan:
        say("Plan écrit : un site par chef-lieu de canton")
        t0 = time.perf_counter()
        try:
            plan = build_written_plan(
                resources,
                instance,
                existing,
                base_raw,
                base_path,
                analysis=analysis,
                label=analysis_spec.label,
                thresholds_minutes=new_spec.thresholds_minutes,
                threshold_minutes=threshold_minutes,
                reference_minutes=analysis_spec.reference_minutes,
            )
        except DataError as exc:
            plan_note = f"pas de plan écrit : {exc}"
        timings["written_plan_s"] = time.perf_counter() - t0
    added_ids = {
        int(j): entry["service_id"]
        for j, entry in zip(result.added, added_services(instance, result), strict=True)
    }
    chosen = sites_frame(
        instance,
        result,
        threshold_minutes=threshold_minutes,
        added_ids=added_ids,
    )
    summary = _summary(
        territory=loaded.name,
        model=model,
        p=p,
        threshold_minutes=threshold_minutes,
        solver=solver,
        instance=instance,
        result=result,
        greedy_result=greedy_result,
        evaluation=evaluation,
        sites=chosen,
        base_path=base_path,
        context=ctx,
    )
    summary["alternatives"] = other_optima
    summary["written_plan"] = _written_plan_block(
        plan, plan_note, instance, result, evaluation, chosen, threshold_minutes
    )
    study = PlacementStudy(
        instance=instance,
        result=result,
        baseline=greedy_result,
        evaluation=evaluation,
        sites=chosen,
        scenario_raw=new_raw,
        scenario=new_spec,
        summary=summary,
        written_plan=plan,
    )
    if output_dir is None:
        summary["timings_s"] = _round_timings(timings, started)
        return study

    output_dir = Path(output_dir)
    tmp = staging_dir(output_dir)
    try:
        say("Écriture des résultats")
        t0 = time.perf_counter()
        files = _write_files(tmp, study)
        timings["write_s"] = time.perf_counter() - t0
        say("Questions autour du plan (explication des sites, matrice, courbes)")
        t0 = time.perf_counter()
        files |= questions.write_questions(
            tmp, instance, result, model=model, p=p, threshold_minutes=threshold_minutes,
            options={"solver": solver, "time_limit_s": time_limit_s, "mip_gap": mip_gap},
            curve=curve, curve_minutes=curve_minutes, tradeoff=tradeoff,
            sensitivity=sensitivity, summary=summary, client=client, progress=say,
        )  # fmt: skip
        timings["questions_s"] = time.perf_counter() - t0
        if write_map:
            say("Carte : exécution du scénario avec les nouveaux sites")
            t0 = time.perf_counter()
            spec = load_scenario(tmp / SCENARIO_FILE)
            run = run_scenario(
                spec,
                output_dir=tmp / RUN_DIR,
                resources=resources,
                measured={evaluation.analysis: evaluation.after},  # measured once, reused
            )
            timings["run_s"] = time.perf_counter() - t0
            files["run"] = RUN_DIR
            if "map" in run.summary.get("files", {}):
                files["map"] = f"{RUN_DIR}/{run.summary['files']['map']}"
            claimed = evaluation.summary()["pop_within_after"]
            got = run.summary["analyses"][analysis]["thresholds"][threshold_key(threshold_minutes)]
            summary["run_check"] = {
                "pop_within_claimed": claimed,
                "pop_within_run": int(got["pop_within"]),
                "consistent": int(got["pop_within"]) == claimed,
            }
        summary["files"] = files
        summary["timings_s"] = _round_timings(timings, started)
        write_json(tmp / REPORT_FILE, summary)
        replace_dir(tmp, output_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    study.output_dir = output_dir
    study.run_dir = output_dir / RUN_DIR if write_map else None
    study.files = files
    return study


def _alternatives(
    problem: Any,
    result: PlacementResult,
    model: str,
    solver: str,
    limit: int,
    time_limit_s: float,
    say: Progress,
    names: dict[str, str],
) -> dict[str, Any]:
    """The other site sets reaching the proven optimum, or why none were looked for."""
    block: dict[str, Any] = {"limit": int(limit), "found": []}
    if limit <= 0:
        block["skipped"] = "recherche désactivée"
    elif solver != "highs" or model not in ALTERNATIVE_MODELS:
        block["skipped"] = f"pas de recherche pour le modèle {model} ({solver})"
    elif result.status != "optimal":
        block["skipped"] = "le résultat n'est pas un optimum prouvé"
    if "skipped" in block:
        return block
    say("Autres optimums de même valeur")
    limit_s = min(float(time_limit_s), ALTERNATIVE_TIME_LIMIT_S)
    found = alternative_optima(problem, result, limit=int(limit), time_limit_s=limit_s)
    block["time_limit_s"] = limit_s
    block["found"] = [
        {
            **alt.report(),
            "added_names": [names.get(c, c) for c in alt.added],
            "removed_names": [names.get(c, c) for c in alt.removed],
        }
        for alt in found
    ]
    block["note"] = (
        f"{len(found)} autre(s) choix de sites atteignent le même objectif"
        if found
        else "aucun autre choix de sites trouvé au même objectif (prouvé, ou non trouvé "
        f"en {limit_s:g} s par recherche)"
    )
    return block


def _candidate_names(instance: PlacementInstance) -> dict[str, str]:
    """Candidate id → its name (commune or site), for messages."""
    frame = instance.candidates
    return dict(zip(frame["candidate_id"].astype(str), frame["name"].astype(str), strict=True))


def _check_options(
    model: str,
    sites: int | None,
    new_sites: int | None,
    threshold_minutes: float,
    zone_rule: str,
    zones: Any = "cantons",
) -> None:
    if zone_rule == "one_per_canton" and str(zones) != "cantons":
        raise PlacementError(
            "zone_rule one_per_canton demande zones='cantons' (une zone par canton), "
            f"reçu {zones!r}"
        )
    if model not in MODELS:
        raise PlacementError(f"model doit être l'un de {', '.join(MODELS)}, reçu {model!r}")
    if zone_rule not in ZONE_RULE_CHOICES:
        raise PlacementError(
            f"zone_rule doit être l'une de {', '.join(ZONE_RULE_CHOICES)}, reçu {zone_rule!r}"
        )
    if sites is not None and new_sites is not None:
        raise PlacementError("donnez sites (p, sites existants compris) ou new_sites, pas les deux")
    if model != "lscp" and sites is None and new_sites is None:
        raise PlacementError(
            f"le modèle {model} demande un nombre de sites : sites (p, sites existants "
            "compris) ou new_sites (sites à ajouter)"
        )
    if new_sites is not None and (isinstance(new_sites, bool) or int(new_sites) < 0):
        raise PlacementError(f"new_sites doit être un nombre entier >= 0, reçu {new_sites!r}")
    if (
        isinstance(threshold_minutes, bool)
        or not isinstance(threshold_minutes, int | float)
        or not 0 < threshold_minutes <= 600
    ):
        raise PlacementError(
            f"threshold_minutes doit être un nombre de minutes dans ]0, 600], reçu "
            f"{threshold_minutes!r}"
        )


def _description(
    instance: PlacementInstance,
    result: PlacementResult,
    model: str,
    threshold_minutes: float,
    base_path: Path,
) -> str:
    names = instance.candidates["name"].to_numpy()
    added = ", ".join(str(names[j]) for j in result.added) or "aucun"
    return (
        f"Écrit par coverage place ({model}, seuil {threshold_minutes:g} min, "
        f"{result.method}, statut {result.status}) à partir de {base_path.name}. "
        f"Sites ajoutés : {added}."
    )


def model_figures(
    instance: PlacementInstance, result: PlacementResult, threshold_minutes: float | None
) -> dict[str, Any]:
    """The model's own figures on its demand points, recomputed from the matrix.

    Population of the demand points within ``T`` of the fixed sites alone and of
    all chosen sites, and the population-weighted mean time to the nearest open
    site (reachable points).
    """
    problem = instance.problem
    cost, w = problem.cost_s, problem.weights
    out: dict[str, Any] = {
        "demand": instance.settings.get("demand"),
        "demand_points": problem.n_demand,
        "demand_population": round(float(w.sum()), 1),
    }

    def nearest(columns: np.ndarray) -> np.ndarray:
        if columns.size == 0:
            return np.full(problem.n_demand, np.inf)
        return cost[:, columns].min(axis=1)

    best_after = nearest(result.chosen)
    best_before = nearest(problem.fixed)
    reach = np.isfinite(best_after)
    out["minutes_mean_after"] = (
        round(float((w[reach] * best_after[reach]).sum() / w[reach].sum()) / 60.0, 2)
        if w[reach].sum() > 0
        else None
    )
    if threshold_minutes is not None:
        limit = threshold_minutes * 60.0 + COVER_TOLERANCE_S
        out["pop_within_before"] = round(float(w[best_before <= limit].sum()), 1)
        out["pop_within_after"] = round(float(w[best_after <= limit].sum()), 1)
        out["pop_newly_within"] = round(out["pop_within_after"] - out["pop_within_before"], 1)
    return out


def _summary(
    *,
    territory: str,
    model: str,
    p: int | None,
    threshold_minutes: float,
    solver: str,
    instance: PlacementInstance,
    result: PlacementResult,
    greedy_result: PlacementResult | None,
    evaluation: PlacementEvaluation,
    sites: gpd.GeoDataFrame,
    base_path: Path,
    context: Any,
) -> dict[str, Any]:
    settings = {k: v for k, v in instance.settings.items() if k != "timings_s"}
    return {
        "engine_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "territory": territory,
        "placement": {
            "model": model,
            "p": p,
            "threshold_minutes": threshold_minutes,
            "solver": solver,
            "base_scenario": str(base_path),
            **settings,
        },
        "result": result.report(),
        "baseline": None if greedy_result is None else greedy_result.report(),
        "model_figures": model_figures(instance, result, threshold_minutes),
        "coverage": evaluation.summary(),
        "sites": [
            {k: v for k, v in row.items() if k != "geometry"}
            for row in sites.to_dict(orient="records")
        ],
        "provenance": context.provenance(),
    }


def _write_files(folder: Path, study: PlacementStudy) -> dict[str, str]:
    files: dict[str, str] = {}
    sites = study.sites
    sites.to_file(folder / "sites.gpkg", layer="sites", driver="GPKG", engine="pyogrio")
    communes = study.instance.territory.communes[["insee_code", "geometry"]].merge(
        study.evaluation.communes, on="insee_code", how="right"
    )
    gpd.GeoDataFrame(communes, geometry="geometry", crs=study.instance.territory.crs).to_file(
        folder / "sites.gpkg", layer="communes", driver="GPKG", engine="pyogrio"
    )
    add_styles(
        folder / "sites.gpkg",
        {"sites": Categorised("status"), "communes": Graduated("minutes_mean_after")},
    )
    files["sites_gpkg"] = "sites.gpkg"
    write_table(to_wgs84_table(sites), folder / "sites.csv")
    files["sites_csv"] = "sites.csv"
    sites.to_crs("EPSG:4326").to_file(folder / "sites.geojson", driver="GeoJSON", engine="pyogrio")
    files["sites_geojson"] = "sites.geojson"
    write_table(study.evaluation.communes, folder / "communes.csv")
    files["communes_csv"] = "communes.csv"
    write_table(study.evaluation.cantons, folder / "cantons.csv")
    files["cantons_csv"] = "cantons.csv"
    zones = zones_frame(study.instance, study.result)
    if not zones.empty:
        write_table(zones, folder / "zones.csv")
        files["zones_csv"] = "zones.csv"
    header = (
        "Scénario écrit par « coverage place » : le scénario de base et les sites choisis\n"
        "(statut « planned »). Lancer : coverage run scenario.toml -o <dossier>\n"
        "Format : docs/scenario-format.md"
    )
    (folder / SCENARIO_FILE).write_text(scenario_toml(study.scenario_raw, header=header), "utf-8")
    files["scenario"] = SCENARIO_FILE
    if study.written_plan is not None:
        write_table(to_wgs84_table(study.written_plan.sites), folder / PLAN_FILE)
        files["written_plan_csv"] = PLAN_FILE
        write_table(plan_communes(study.written_plan), folder / PLAN_COMMUNES_FILE)
        files["written_plan_communes_csv"] = PLAN_COMMUNES_FILE
        cantons = pd.DataFrame(study.summary["written_plan"]["cantons"])
        write_table(cantons, folder / CANTON_COMPARISON_FILE)
        files["canton_comparison_csv"] = CANTON_COMPARISON_FILE
    return files


def _zone_scheme(zones: str | Path, zone_rule: str) -> str | Path:
    """The instance's zones for a zone rule (``one_per_canton``: each canton its own zone)."""
    if zone_rule == "none":
        return "none"
    if zone_rule == "one_per_canton":
        return "cantons_strict"
    return zones


def _solver_zone_rule(zone_rule: str) -> str:
    if zone_rule == "none":
        return "at_most_one"
    if zone_rule == "one_per_canton":
        return "exactly_one"
    return zone_rule


def _written_plan_block(
    plan: WrittenPlan | None,
    note: str,
    instance: PlacementInstance,
    result: PlacementResult,
    evaluation: PlacementEvaluation,
    sites: gpd.GeoDataFrame,
    threshold_minutes: float,
) -> dict[str, Any]:
    """The ``written_plan`` block of ``placement.json`` (or why there is none)."""
    if plan is None:
        return {"skipped": note}
    return compare_plans(
        plan,
        optimum_evaluation=evaluation,
        optimum_sites=sites,
        plan_model=model_figures(plan.instance, plan.result, threshold_minutes),
        optimum_model=model_figures(instance, result, threshold_minutes),
    )


def _round_timings(timings: dict[str, float], started: float) -> dict[str, float]:
    out = {k: round(v, 3) for k, v in timings.items()}
    out["total_s"] = round(time.perf_counter() - started, 3)
    return out


__all__ = ["PlacementStudy", "model_figures", "place"]
