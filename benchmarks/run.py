"""Benchmark of the main job: `coverage run` on the Gers (cold, warm, per step), start-up, place.

Each command is a fresh process of the `coverage` command (as a planner runs
it), timed in wall seconds and in CPU seconds of the child (user + system,
``os.wait4``), with its peak memory. "Cold" uses an empty cache directory
(network, population surface, snapped cells rebuilt); "warm" reuses it. The
per-step breakdown is the last warm run's ``summary.json`` ``timings_s``
(load, access, tables, each writer, the map), plus the imports of the run's
modules measured in a process of their own.

The peer is the previous code path: with ``--peer-repo DIR`` (a checkout of
the code before these changes, e.g. the main branch's worktree) every command
is run with ``PYTHONPATH=DIR`` too, in the same session, so the ratios compare
like with like under the same load. Without it, the peer of the warm run is
the figure measured before (9.1 s warm, issue 18).

Usage::

    python benchmarks/run.py --data ../shared/data [--warm-runs 3] [--peer-repo ../main]
        [--no-place] [--json PATH]

Targets (issue 18): warm run under 5 s with identical figures, ``coverage --help``
under 0.5 s, ``coverage --version`` and ``coverage info`` well under a second;
(issue 6) cold under 60 s, peak memory under 2 GiB. Exit code 1 when a target
is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BEFORE_WARM_S = 9.1
"""Warm run measured before issue 18 (``benchmarks/run.py``, same machine)."""
IMPORTS = "import coverage.cli, coverage.jobs.run, maps.result_map, maps.coverage_map, maps.render"
"""The modules a run imports (the CLI, the job, the map writer)."""


def coverage_command() -> list[str]:
    return [sys.executable, "-m", "coverage.cli"]


def timed(args: list[str], env: dict[str, str]) -> dict[str, float]:
    """Wall and CPU seconds and peak RSS (MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        args,
        env=env,
        cwd=env["COVERAGE_BENCH_CWD"],  # not a checkout: PYTHONPATH alone picks the code
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"échec de {' '.join(args[-6:])} : {err[-2000:]}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss": usage.ru_maxrss / 1024.0,  # KiB on Linux
    }


def median_of(args: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    results = [timed(args, env) for _ in range(runs)]
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


def measure(
    repos: dict[str, Path], data: Path, tmp: Path, *, warm_runs: int, place: bool
) -> dict[str, dict[str, Any]]:
    """Every figure for the code of each repository (each with its own cache directory).

    The repositories take turns at every step (cold runs, then each warm run, then
    each small command), so that a change of load on the machine weighs on them alike.
    """
    envs: dict[str, dict[str, str]] = {}
    for name, repo in repos.items():
        folder = tmp / name
        folder.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PYTHONPATH": str(repo),
            "COVERAGE_CACHE_DIR": str(folder / "cache"),
            "COLUMNS": "100",
            "COVERAGE_BENCH_CWD": str(folder),
        }
        env.pop("COVERAGE_DATA_DIR", None)
        envs[name] = env
    base = [*coverage_command(), "run", "--data", str(data)]
    out: dict[str, dict[str, Any]] = {name: {} for name in repos}
    for name in repos:
        out[name]["cold"] = timed([*base, "-o", str(tmp / name / "cold")], envs[name])
    warm: dict[str, list[dict[str, float]]] = {name: [] for name in repos}
    for i in range(warm_runs):
        for name in repos:
            warm[name].append(timed([*base, "-o", str(tmp / name / f"warm{i}")], envs[name]))
    small = {
        "imports": ([sys.executable, "-c", IMPORTS], 3),
        "help": ([*coverage_command(), "--help"], 5),
        "version": ([*coverage_command(), "--version"], 5),
        "info": ([*coverage_command(), "info", "gers", "--data", str(data)], 3),
    }
    rounds: dict[str, dict[str, list[dict[str, float]]]] = {
        name: {key: [] for key in small} for name in repos
    }
    for key, (args, runs) in small.items():
        for _ in range(runs):
            for name in repos:
                rounds[name][key].append(timed(args, envs[name]))
    for name in repos:
        runs_of = warm[name]
        out[name]["warm"] = {k: statistics.median(w[k] for w in runs_of) for k in runs_of[0]}
        out[name]["warm_walls"] = [w["wall"] for w in runs_of]
        last = tmp / name / f"warm{warm_runs - 1}" / "summary.json"
        out[name]["steps"] = json.loads(last.read_text("utf-8")).get("timings_s", {})
        for key, results in rounds[name].items():
            out[name][key] = {k: statistics.median(r[k] for r in results) for k in results[0]}
    if place:
        for name in repos:
            args = [*coverage_command(), "place", "--data", str(data), "--sites", "16"]
            out[name]["place"] = timed([*args, "-o", str(tmp / name / "place")], envs[name])
    return out


def figure(
    name: str,
    ours: float,
    peer: float | None,
    peer_name: str | None,
    unit: str,
    target: str,
    met: bool | None,
) -> dict[str, Any]:
    return {
        "name": name,
        "ours": round(ours, 3),
        "peer": None if peer is None else round(peer, 3),
        "peer_name": peer_name if peer is not None else None,
        "unit": unit,
        "ratio": round(ours / peer, 3) if peer else None,
        "target": target,
        "met": met,
    }


STEP_LABELS = {
    "load_s": "chargement (territoire, réseau, population, catalogue, raccordement)",
    "snapping_s": "  dont raccordement des cellules",
    "access_s": "temps d'accès (toutes les analyses)",
    "tables_s": "tableaux CSV",
    "layers_s": "couches communes, cantons, EPCI, services",
    "minutes_tif_s": "surfaces GeoTIFF",
    "cells_parquet_s": "cellules (GeoParquet)",
    "cells_gpkg_s": "cellules (polygones GeoPackage)",
    "isochrones_s": "isochrones",
    "catchments_s": "zones de desserte",
    "styles_s": "styles QGIS",
    "summary_s": "summary.json",
    "writer_carte_s": "carte (map.html)",
    "run_total_s": "run jusqu'au résumé (sans carte, démarrage ni imports)",
    "with_writers_total_s": "run avec la carte (sans démarrage ni imports)",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--warm-runs", type=int, default=3)
    parser.add_argument("--peer-repo", type=Path, default=None)
    parser.add_argument("--no-place", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    place = not args.no_place
    with tempfile.TemporaryDirectory(prefix="coverage-run-bench-") as tmp:
        repos = {"ours": REPO}
        if args.peer_repo:
            repos["peer"] = args.peer_repo.resolve()
        measured = measure(repos, args.data, Path(tmp), warm_runs=args.warm_runs, place=place)
    ours = measured["ours"]
    peer = measured.get("peer")
    peer_name = "code précédent" if peer else None

    def p(key: str, field: str) -> float | None:
        return peer[key][field] if peer and key in peer else None

    warm_peer = p("warm", "wall")
    figures = [
        figure(
            "run à chaud (mur)",
            ours["warm"]["wall"],
            warm_peer if warm_peer is not None else BEFORE_WARM_S,
            peer_name or "mesure d'avant (issue 18)",
            "s",
            "< 5 s",
            ours["warm"]["wall"] < 5.0,
        ),
        figure(
            "run à chaud (CPU)", ours["warm"]["cpu"], p("warm", "cpu"), peer_name, "s CPU", "", None
        ),
        figure(
            "run à froid (mur)",
            ours["cold"]["wall"],
            p("cold", "wall"),
            peer_name,
            "s",
            "< 60 s",
            ours["cold"]["wall"] < 60.0,
        ),
        figure(
            "mémoire de pointe (run)",
            max(ours["cold"]["rss"], ours["warm"]["rss"]),
            None,
            None,
            "MiB",
            "< 2048 MiB",
            max(ours["cold"]["rss"], ours["warm"]["rss"]) < 2048,
        ),
        figure(
            "imports du run",
            ours["imports"]["cpu"],
            p("imports", "cpu"),
            peer_name,
            "s CPU",
            "",
            None,
        ),
        figure(
            "coverage --help",
            ours["help"]["wall"],
            p("help", "wall"),
            peer_name,
            "s",
            "< 0,5 s",
            ours["help"]["wall"] < 0.5,
        ),
        figure(
            "coverage --version",
            ours["version"]["wall"],
            p("version", "wall"),
            peer_name,
            "s",
            "< 0,5 s",
            ours["version"]["wall"] < 0.5,
        ),
        figure(
            "coverage info gers",
            ours["info"]["wall"],
            p("info", "wall"),
            peer_name,
            "s",
            "< 1 s",
            ours["info"]["wall"] < 1.0,
        ),
    ]
    if place:
        place_peer = p("place", "wall")
        figures.append(
            figure(
                "coverage place --sites 16 (mur)",
                ours["place"]["wall"],
                place_peer,
                peer_name,
                "s",
                "plus rapide que le code précédent",
                None if place_peer is None else ours["place"]["wall"] < place_peer,
            )
        )
    for key, label in STEP_LABELS.items():
        if key in ours["steps"]:
            peer_step = peer["steps"].get(key) if peer else None
            figures.append(
                figure(
                    f"étape : {label.strip()}",
                    float(ours["steps"][key]),
                    peer_step,
                    peer_name,
                    "s",
                    "",
                    None,
                )
            )

    print(
        f"cœurs : {os.cpu_count()} ; python {sys.version.split()[0]} ; "
        f"runs à chaud : {', '.join(f'{w:.2f}' for w in ours['warm_walls'])} s"
    )
    print(f"{'mesure':<48} {'nous':>9} {'pair':>9} {'ratio':>7}  {'unité':<6} cible")
    for f in figures:
        peer_text = f"{f['peer']:.3f}" if f["peer"] is not None else "—"
        ratio = f"{f['ratio']:.2f}" if f["ratio"] is not None else "—"
        verdict = {True: "atteinte", False: "MANQUÉE", None: ""}[f["met"]]
        print(
            f"{f['name']:<48} {f['ours']:>9.3f} {peer_text:>9} {ratio:>7}  {f['unit']:<6} "
            f"{f['target']} {verdict}".rstrip()
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {"benchmark": "run", "cores": os.cpu_count(), "figures": figures},
                ensure_ascii=False,
                indent=2,
            ),
            encoding="utf-8",
        )
    missed = [f["name"] for f in figures if f["met"] is False]
    if missed:
        print(f"cibles manquées : {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
