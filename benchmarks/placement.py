"""Benchmark of the placement models on the Gers: reduced MIP, unreduced MIP, spopt, greedy.

The instance is the Gers with its 458 communes as demand (commune points,
legal population) and as candidate sites, times from the same commune points
and access legs as ``coverage run``. For each case the script solves, in the
same run:

- the MIP as the engine solves it, after its exact reductions (merged demand
  rows, demand covered by fixed sites, dominated candidates, implied LSCP rows,
  the p-median's nearest-candidate neighbourhoods with far columns);
- the same MIP without the reductions (``reduce=False``: one row per demand
  point, every pair), the "before" figure;
- the same model with spopt (``spopt.locate``, through PuLP and HiGHS), when it is
  installed (it is not a dependency of the engine: ``pip install spopt``), for
  the unconstrained cases (spopt has no zones);
- the greedy + interchange heuristic;

and prints the model sizes (rows × columns before → after), the objectives,
status, gap, wall and CPU seconds and the ratios. Cases:

- MCLP: 16 sites, most population within 20 min, no constraint;
- p-median: 16 sites, least population-weighted time;
- LSCP: fewest sites so that everyone is within 20 (and 15) min;
- the Gers tiers-lieux case: 16 sites, one per canton zone (Auch's three
  cantons form one zone that may hold up to three), Lombez, Masseube and
  Lectoure kept, 20 min.

Then up to three alternative optima of the Gers case, the whole ``coverage
place`` study of the Gers case and the plan as written (the 15 distinct canton
chefs-lieux and Lombez) for comparison.

Targets (issues 8 and 18), the script exits 1 when one is missed:

- each instance proven optimal in under 30 s (wall) on 2 cores, reduced model;
- the reduced and unreduced models reach the same objective (and, for the
  p-median, the same sites), and spopt's objective is the same.

Usage::

    python benchmarks/placement.py --data ../shared/data [--no-map] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from _figures import Figures, timed

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 30.0
TARGET_TEXT = "optimum prouvé en moins de 30 s sur 2 cœurs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--no-map", action="store_true", help="skip the scenario run (map)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="coverage-place-bench-")
    os.environ.setdefault("COVERAGE_CACHE_DIR", str(Path(tmp.name) / "cache"))

    from coverage.jobs.place import place
    from coverage.jobs.placement_instance import build_instance
    from coverage.jobs.resources import TerritoryResources
    from coverage.jobs.scenarios import default_scenario_path
    from coverage.placement import alternative_optima, solve
    from coverage.scenario import load_scenario

    t0 = time.perf_counter()
    spec = load_scenario(default_scenario_path("gers"))
    res = TerritoryResources.for_scenario(spec, data_dir=args.data)
    load_s = time.perf_counter() - t0
    ctx = res.context

    def instance(**options):
        t = time.perf_counter()
        inst = build_instance(
            res.territory,
            res.network,
            kind="tiers_lieu",
            catalogue=res.catalogue,
            surface=res.surface,
            access=ctx.access,
            commune_points=ctx.commune_points,
            **options,
        )
        return inst, time.perf_counter() - t

    free, matrix_s = instance(zones="none", fixed_existing=False)
    gers, _ = instance(zones="cantons", zone_rule="exactly_one")
    cases = [
        ("MCLP p=16, T=20", free, "mclp", {"p": 16, "threshold_minutes": 20.0}),
        ("p-médiane p=16", free, "pmedian", {"p": 16}),
        ("LSCP T=20", free, "lscp", {"threshold_minutes": 20.0}),
        ("LSCP T=15", free, "lscp", {"threshold_minutes": 15.0}),
        ("Gers tiers-lieux", gers, "mclp", {"p": 16, "threshold_minutes": 20.0}),
    ]
    print(f"cores: {os.cpu_count()}; python {sys.version.split()[0]}; load {_load()}")
    print(
        f"Gers: {free.problem.n_demand} demand points × {free.problem.n_candidates} candidates; "
        f"loading {load_s:.1f} s, matrix {matrix_s:.2f} s"
    )
    header = (
        f"{'case':<18} {'model rows × cols (before → after)':>52} {'objective':>15} "
        f"{'status':>8} {'MIP s':>6} {'CPU s':>6} {'before s':>8} {'CPU':>6} {'after/before':>12} "
        f"{'spopt s':>7} {'/spopt':>6} {'greedy obj.':>15}"
    )
    print(header)
    print("-" * len(header))
    failures: list[str] = []
    figures = Figures("placement", digits=3, ratio_digits=4)
    for label, inst, model, params in cases:
        mip_cpu, _, mip = timed(partial(solve, inst.problem, model, **params))
        before_cpu, _, before = timed(partial(solve, inst.problem, model, reduce=False, **params))
        spopt = None if inst.problem.zones is not None else _spopt(inst.problem, model, params)
        greedy = solve(inst.problem, model, solver="greedy", **params)
        sizes = f"{_size(before)} → {_size(mip)}"
        spopt_s = "—" if spopt is None else f"{spopt[1]:.2f}"
        spopt_ratio = "—" if spopt is None else f"{mip_cpu / spopt[2]:.3f}"
        print(
            f"{label:<18} {sizes:>52} {_obj(mip):>15} {mip.status:>8} "
            f"{mip.solve_time_s:>6.2f} {mip_cpu:>6.2f} {before.solve_time_s:>8.2f} "
            f"{before_cpu:>6.2f} {mip_cpu / before_cpu:>12.3f} {spopt_s:>7} {spopt_ratio:>6} "
            f"{_obj(greedy):>15}"
        )
        for run in mip.parameters.get("highs", {}).get("runs", []):
            print(
                f"{'':<18}   HiGHS (départ {run['start']}) : {run['highs_status']}, "
                f"objectif {run['objective']}, borne {run['dual_bound']}, écart {run['gap']}, "
                f"{run['highs_time_s']} s, {run['threads']} fil(s), graine {run['random_seed']}"
            )
        for step in mip.parameters.get("highs", {}).get("reduction", {}).get("rounds", []):
            print(
                f"{'':<18}   voisinages : {step['pairs']} paires, {step['far_columns']} colonnes "
                f"lointaines, {step['highs_time_s']} s, {step['status']}"
                + (f", {step['too_far']} points trop loin" if "too_far" in step else "")
            )
        if spopt is not None:
            print(
                f"{'':<18}   spopt {spopt[3]} : objectif {_obj(mip, spopt[0])}, "
                f"{spopt[1]:.2f} s ({spopt[2]:.2f} s CPU)"
            )
        if not mip.proven_optimal or mip.solve_time_s > TARGET_S:
            failures.append(f"{label} (non prouvé en {TARGET_S:g} s)")
        if mip.proven_optimal and (mip.gap is None or mip.gap > mip.parameters["mip_gap"] + 1e-9):
            failures.append(f"{label} (étiqueté optimal avec un écart de {mip.gap})")
        same = _same(mip.objective, before.objective)
        if model == "pmedian":
            same = same and mip.chosen.tolist() == before.chosen.tolist()
        if not same or before.status != "optimal":
            failures.append(
                f"{label} (réduit {mip.objective:g} {mip.candidate_ids}, non réduit "
                f"{before.objective:g} {before.candidate_ids}, {before.status})"
            )
        if spopt is not None and not _same(mip.objective, spopt[0]):
            failures.append(f"{label} (optimum {mip.objective:g} mais spopt {spopt[0]:g})")
        met = mip.proven_optimal and mip.solve_time_s <= TARGET_S and same
        figures.add(
            f"{label} : MIP réduit contre non réduit",
            mip_cpu,
            "s CPU",
            peer=before_cpu,
            peer_name="modèle non réduit",
            target=TARGET_TEXT + ", même optimum que le modèle non réduit",
            met=bool(met),
        )
        if spopt is not None:
            figures.add(
                f"{label} : contre spopt",
                mip_cpu,
                "s CPU",
                peer=spopt[2],
                peer_name=f"spopt {spopt[3]}",
                target="même objectif que spopt",
                met=_same(mip.objective, spopt[0]),
            )
    names = gers.candidates["name"].to_numpy()
    print("\nGers tiers-lieux (MIP):", ", ".join(sorted(str(names[j]) for j in mip.chosen)))
    t = time.perf_counter()
    others = alternative_optima(gers.problem, mip, limit=3, time_limit_s=60.0)
    print(f"optima alternatifs ({time.perf_counter() - t:.1f} s) : {len(others)}")
    for alt in others:
        print(
            f"  {alt.objective:,.0f} hab : + "
            + ", ".join(str(names[gers.problem.index_of(c)]) for c in alt.added)
            + " ; - "
            + ", ".join(str(names[gers.problem.index_of(c)]) for c in alt.removed)
        )

    with tempfile.TemporaryDirectory(prefix="placement-") as out:
        t = time.perf_counter()
        study = place(
            "gers",
            sites=16,
            data_dir=args.data,
            output_dir=Path(out) / "tiers-lieux",
            write_map=not args.no_map,
            resources=res,
        )
        study_s = time.perf_counter() - t
        cov = study.summary["coverage"]
        print(
            f"\ncoverage place (Gers case, {'sans carte' if args.no_map else 'avec carte'}): "
            f"{study_s:.1f} s; population within 20 min (cells, as coverage run): "
            f"{cov['pop_within_before']:,} -> {cov['pop_within_after']:,} "
            f"(+{cov['pop_newly_within']:,}); model (commune points): "
            f"{study.summary['model_figures']['pop_within_before']:,.0f} -> "
            f"{study.summary['model_figures']['pop_within_after']:,.0f}"
        )
        if "run_check" in study.summary:
            check = study.summary["run_check"]
            print(
                f"scenario run: {check['pop_within_run']:,} within 20 min "
                f"(consistent: {check['consistent']}); map: {study.files.get('map')}"
            )
        plan = place(
            "gers",
            sites=16,
            candidates="chefs-lieux",
            zone_rule="none",
            data_dir=args.data,
            resources=res,
        )
        pcov = plan.summary["coverage"]
        print(
            f"plan as written (15 chefs-lieux + Lombez): {pcov['pop_within_after']:,} within "
            f"20 min (+{pcov['pop_newly_within']:,}); sites: "
            + ", ".join(sorted(plan.sites["commune_name"].astype(str)))
        )
    tmp.cleanup()
    if args.json is not None:
        figures.write_json(args.json)
        print(f"figures JSON : {args.json}")
    if failures:
        print("échecs : " + "; ".join(failures), file=sys.stderr)
        raise SystemExit(1)
    print("objectifs atteints")


def _load() -> str:
    """The 1-minute load average (the machine is shared: figures under load are noisy)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def _size(result) -> str:
    """Rows × columns of the MIP HiGHS was given."""
    highs = result.parameters.get("highs", {})
    closed = result.parameters.get("dominated_candidates") or 0
    held = f" ({closed} fermées)" if closed else ""
    return f"{highs.get('rows', 0)} × {highs.get('columns', 0)}{held}"


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)


def _spopt(problem, model: str, params: dict):
    """The model solved by spopt (PuLP + HiGHS): objective on our problem, wall s, CPU s, version.

    None when spopt is not installed. The objective is evaluated on the engine's
    problem from the facilities spopt opens.
    """
    try:
        import pulp
        import spopt
        from spopt.locate import LSCP, MCLP, PMedian
    except ImportError:
        return None
    import numpy as np

    cost, w = problem.cost_s, problem.weights
    t, c = time.perf_counter(), time.process_time()
    solver = pulp.HiGHS(msg=False, timeLimit=600, threads=1)
    if model == "mclp":
        located = MCLP.from_cost_matrix(
            cost,
            w,
            service_radius=params["threshold_minutes"] * 60.0 + 1e-6,
            p_facilities=params["p"],
        ).solve(solver)
    elif model == "pmedian":
        located = PMedian.from_cost_matrix(cost, w, p_facilities=params["p"]).solve(solver)
    else:
        located = LSCP.from_cost_matrix(
            cost, service_radius=params["threshold_minutes"] * 60.0 + 1e-6
        ).solve(solver)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    chosen = np.array([j for j, v in enumerate(located.fac_vars) if v.value() > 0.5])
    if model == "mclp":
        value = float(w[problem.coverage(params["threshold_minutes"])[:, chosen].any(axis=1)].sum())
    elif model == "pmedian":
        value = float((w * cost[:, chosen].min(axis=1)).sum())
    else:
        value = float(chosen.size)
    return value, wall, cpu, f"{spopt.__version__} (PuLP {pulp.__version__} + HiGHS)"


def _obj(result, value: float | None = None) -> str:
    value = result.objective if value is None else value
    if result.model == "pmedian":
        served = result.parameters.get("served_weight") or 1.0
        return f"{value / served / 60.0:.3f} min"
    if result.model == "lscp":
        return f"{value:.0f} sites"
    return f"{value:,.0f} hab"


if __name__ == "__main__":
    main()
