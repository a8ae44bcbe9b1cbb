"""Benchmark of the itinerant service plan: the Gers yearly plan against a naive round.

Both plans serve the same 26 stops on the same 103 service days with the same
rules (two half-day permanences a day, depot in Auch). The naive plan is the
fixed weekly round a planner would write by hand: the stops in INSEE-code
order, cut into pairs, the pairs repeated in turn over the service days (the
service days are the same evenly spread working days); its daily tours are
still ordered by VROOM, so the comparison isolates the calendar and the
grouping of stops.

Printed: wall time of the whole optimised job (load included, cold and warm
cache), driving hours and km per year, daily driving, spacing between visits
(mean, shortest, longest, longest wait), the rule violations of each plan, and
every HiGHS solve of the optimised plan (step, status, time, limit, gap, from
``details.solver_runs``).

Usage::

    python benchmarks/itinerary.py --data ../shared/data [--year 2027] [--json out.json]

Target (issue 9): the Gers yearly plan (26 stops, 103 days) in under 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def plan_figures(plan: Any) -> dict[str, Any]:
    """The compared figures of one plan."""
    summary = plan.summary()
    spacing = plan.spacing()
    days = plan.days()
    return {
        "method": summary["method"],
        "service_days": summary["service_days"],
        "permanences": summary["permanences"],
        "distinct_tours": summary["tours"],
        "driving_hours_year": summary["driving_hours_year"],
        "km_year": summary["km_year"],
        "driving_minutes_day_mean": summary["driving_minutes_day"]["mean"],
        "driving_minutes_day_max": summary["driving_minutes_day"]["max"],
        "days_over_rules": int((~days["feasible"]).sum()),
        "gap_mean_days": summary["spacing_days"]["mean_gap"],
        "gap_min_days": float(spacing["gap_min_days"].min()),
        "gap_max_days": float(spacing["gap_max_days"].max()),
        "worst_wait_days": summary["spacing_days"]["worst_wait"],
        "visits_min": int(spacing["visits"].min()),
        "visits_max": int(spacing["visits"].max()),
        "violations": len(summary["violations"]),
        "violation_examples": summary["violations"][:3],
    }


def solver_rows(plan: Any) -> list[str]:
    """One line per HiGHS solve of a plan: step, status, time against its limit, gap."""
    lines = [f"{'HiGHS solve':<28} {'status':<20} {'time s':>8} {'limit s':>8} {'gap':>10}"]
    for run in plan.details.get("solver_runs", []):
        gap = run.get("gap")
        lines.append(
            f"{run['step']:<28} {run['status']:<20} {run['time_s']:>8.3f} "
            f"{run['time_limit_s']:>8.1f} {'-' if gap is None else f'{gap:.2e}':>10}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--year", type=int, default=2027)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="coverage-itinerary-bench-") as tmp:
        # empty cache: the first plan rebuilds the network, population surface...
        os.environ["COVERAGE_CACHE_DIR"] = str(Path(tmp) / "cache")
        from coverage.itinerary import ItinerarySettings
        from coverage.jobs.itinerary import plan_itinerary
        from coverage.jobs.resources import TerritoryResources

        settings = ItinerarySettings(year=args.year)
        t0 = time.perf_counter()
        plan_itinerary("gers", settings=settings, data_dir=args.data)
        cold_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        resources = TerritoryResources.load("gers", data_dir=args.data)
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        optimised = plan_itinerary("gers", settings=settings, resources=resources)
        plan_s = time.perf_counter() - t0
        warm_s = load_s + plan_s

        # the naive round serves exactly the stops the optimised plan chose
        codes = tuple(str(c) for c in optimised.stops["insee_code"])
        naive_settings = ItinerarySettings(year=args.year, stop_codes=codes)
        t0 = time.perf_counter()
        naive = plan_itinerary("gers", settings=naive_settings, resources=resources, naive=True)
        naive_s = time.perf_counter() - t0

    ours, base = plan_figures(optimised), plan_figures(naive)
    print(f"cores: {os.cpu_count()}; python {sys.version.split()[0]}; year {args.year}")
    print(
        f"Gers plan, {ours['service_days']} days, {len(codes)} stops: "
        f"cold cache {cold_s:.1f} s, warm {warm_s:.1f} s "
        f"(load {load_s:.1f} s + plan {plan_s:.1f} s)   target < 60 s"
    )
    print(f"naive round planned in {naive_s:.1f} s (same stops, same resources)")
    print()
    rows = [
        ("driving hours per year", "driving_hours_year", "{:.1f}"),
        ("km per year", "km_year", "{:,.0f}"),
        ("driving min per day, mean", "driving_minutes_day_mean", "{:.1f}"),
        ("driving min per day, max", "driving_minutes_day_max", "{:.1f}"),
        ("days breaking the day rules", "days_over_rules", "{:d}"),
        ("distinct tours", "distinct_tours", "{:d}"),
        ("visits per stop, min", "visits_min", "{:d}"),
        ("visits per stop, max", "visits_max", "{:d}"),
        ("days between visits, mean", "gap_mean_days", "{:.1f}"),
        ("days between visits, shortest", "gap_min_days", "{:.0f}"),
        ("days between visits, longest", "gap_max_days", "{:.0f}"),
        ("longest wait (incl. year ends)", "worst_wait_days", "{:.0f}"),
        ("rule violations", "violations", "{:d}"),
    ]
    print(f"{'':<32} {'optimised':>12} {'naive round':>12}")
    for label, key, fmt in rows:
        print(f"{label:<32} {fmt.format(ours[key]):>12} {fmt.format(base[key]):>12}")
    saved = ours["driving_hours_year"] - base["driving_hours_year"]
    share = -saved / base["driving_hours_year"] * 100 if base["driving_hours_year"] else 0.0
    print(f"\ndriving time: {saved:+.1f} h per year ({share:.0f}% less than the naive round)")
    print()
    print("\n".join(solver_rows(optimised)))
    if base["violation_examples"]:
        print("naive round, first violations:")
        for text in base["violation_examples"]:
            print(f"  - {text}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "cold_s": cold_s,
                    "warm_s": warm_s,
                    "load_s": load_s,
                    "plan_s": plan_s,
                    "naive_s": naive_s,
                    "optimised": ours,
                    "naive": base,
                    "solver_runs": optimised.details.get("solver_runs", []),
                },
                indent=2,
                ensure_ascii=False,
            ),
            "utf-8",
        )


if __name__ == "__main__":
    main()
