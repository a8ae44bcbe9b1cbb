"""Benchmark of the main job: `coverage run` on the Gers (cold, warm, per step), start-up, place.

Each command is a fresh process of the `coverage` command (as a planner runs
it, the packages byte-compiled as an installation leaves them), timed in wall
seconds and in CPU seconds of the child (user + system, ``os.wait4``), with its
peak memory. "Cold" uses an empty cache directory
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

Every warm run's outputs are compared with the cold run's (:func:`differing_outputs`),
and with ``--peer-repo`` the cold runs' figures of both codes too (both targets: 0 files).

Targets (issue 18): warm run under 5 s with identical figures, ``coverage --help``
under 0.5 s, ``coverage --version`` and ``coverage info`` well under a second;
(issue 6) cold under 60 s, peak memory under 2 GiB. Exit code 1 when a target
is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _figures import Figures, median_by_key

REPO = Path(__file__).resolve().parents[1]
BEFORE_WARM_S = 9.1
"""Warm run measured before issue 18 (``benchmarks/run.py``, same machine)."""
IMPORTS = "import coverage.cli, coverage.jobs.run, maps.result_map, maps.coverage_map, maps.render"
"""The modules a run imports (the CLI, the job, the map writer)."""
PACKAGES = ("coverage", "maps", "api")
"""The repository's packages, byte-compiled before timing (:func:`compile_packages`)."""


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


def compile_packages(repo: Path) -> None:
    """Byte-compile the repository's packages, as installing them does.

    A development checkout run with ``PYTHONDONTWRITEBYTECODE`` (this machine sets
    it) would otherwise compile every module from source at each start.
    """
    folders = [str(repo / p) for p in PACKAGES if (repo / p).is_dir()]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *folders], check=True)


VOLATILE_SUMMARY_KEYS = ("created_utc", "timings_s")
"""``summary.json`` keys that differ between two runs of the same scenario."""
VOLATILE_NETWORK_KEYS = ("build_s", "cache_hit")
"""Keys of the network report that say how the network was obtained, not what it is."""
FIGURE_KEYS = ("territory", "method", "analyses", "headline", "health")
"""``summary.json`` keys holding the figures themselves (not paths, notes or file lists)."""


def _comparable_summary(path: Path, *, figures_only: bool) -> dict[str, Any]:
    summary = json.loads(path.read_text("utf-8"))
    if figures_only:
        return {key: summary.get(key) for key in FIGURE_KEYS}
    for key in VOLATILE_SUMMARY_KEYS:
        summary.pop(key, None)
    report = summary.get("provenance", {}).get("network", {}).get("report", {})
    for key in VOLATILE_NETWORK_KEYS:
        report.pop(key, None)
    return summary


def _gpkg_rows(path: Path, *, geometry: bool = True) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every layer of a GeoPackage, by layer (with or without the geometry)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        geometry_of = dict(db.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))
        rows: dict[str, list[tuple[Any, ...]]] = {}
        for (table,) in db.execute("SELECT table_name FROM gpkg_contents").fetchall():
            columns = [c[1] for c in db.execute(f'PRAGMA table_info("{table}")')]
            if not geometry:
                columns = [c for c in columns if c != geometry_of.get(table)]
            listed = ", ".join(f'"{c}"' for c in columns)
            rows[table] = db.execute(f'SELECT {listed} FROM "{table}" ORDER BY rowid').fetchall()
        return rows


def differing_outputs(reference: Path, other: Path, *, figures_only: bool = False) -> list[str]:
    """The output files of run ``other`` that differ from those of run ``reference``.

    Byte for byte: the CSV tables, the GeoTIFF surfaces and the GeoParquet cells.
    ``summary.json`` without its creation time and timings. The GeoPackage row by row
    (its ``gpkg_contents`` holds the time each layer was written). ``map.html`` is left
    out: folium draws random element ids, so two runs of the same code never match.

    With ``figures_only`` (two versions of the code): the CSV tables, the figures of
    ``summary.json`` (:data:`FIGURE_KEYS`, not its paths and notes) and the layers'
    attributes. The outlines are left out: the isochrone outlines are traced another way
    since issue 18, around the same cells (``benchmarks/isochrones.py`` checks those).
    """
    differing: list[str] = []
    kinds = (".csv",) if figures_only else (".csv", ".tif", ".parquet")
    names = sorted(
        str(p.relative_to(reference))
        for p in reference.rglob("*")
        if p.is_file() and p.suffix in kinds
    )
    for name in names:
        theirs = other / name
        if not theirs.is_file() or theirs.read_bytes() != (reference / name).read_bytes():
            differing.append(name)
    summaries = [
        _comparable_summary(run / "summary.json", figures_only=figures_only)
        for run in (reference, other)
    ]
    if summaries[0] != summaries[1]:
        differing.append("summary.json")
    layers = [
        _gpkg_rows(run / "results.gpkg", geometry=not figures_only) for run in (reference, other)
    ]
    if layers[0] != layers[1]:
        differing.append("results.gpkg")
    return differing


def measure(
    repos: dict[str, Path], data: Path, tmp: Path, *, warm_runs: int, place: bool
) -> dict[str, dict[str, Any]]:
    """Every figure for the code of each repository (each with its own cache directory).

    The repositories take turns at every step (cold runs, then each warm run, then
    each small command), so that a change of load on the machine weighs on them alike.
    """
    envs: dict[str, dict[str, str]] = {}
    for name, repo in repos.items():
        compile_packages(repo)
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
        out[name]["warm"] = median_by_key(runs_of)
        out[name]["warm_walls"] = [w["wall"] for w in runs_of]
        cold = tmp / name / "cold"
        out[name]["warm_differing"] = sorted(
            {f for i in range(warm_runs) for f in differing_outputs(cold, tmp / name / f"warm{i}")}
        )
        last = tmp / name / f"warm{warm_runs - 1}" / "summary.json"
        out[name]["steps"] = json.loads(last.read_text("utf-8")).get("timings_s", {})
        for key, results in rounds[name].items():
            out[name][key] = median_by_key(results)
    if place:
        for name in repos:
            args = [*coverage_command(), "place", "--data", str(data), "--sites", "16"]
            out[name]["place"] = timed([*args, "-o", str(tmp / name / "place")], envs[name])
    return out


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
    args.data = args.data.resolve()  # the commands run in a folder of their own
    place = not args.no_place
    differing_from_peer: list[str] = []
    with tempfile.TemporaryDirectory(prefix="coverage-run-bench-") as tmp:
        repos = {"ours": REPO}
        if args.peer_repo:
            repos["peer"] = args.peer_repo.resolve()
        measured = measure(repos, args.data, Path(tmp), warm_runs=args.warm_runs, place=place)
        if args.peer_repo:
            differing_from_peer = differing_outputs(
                Path(tmp) / "peer" / "cold", Path(tmp) / "ours" / "cold", figures_only=True
            )
    ours = measured["ours"]
    peer = measured.get("peer")
    peer_name = "code précédent" if peer else None

    def p(key: str, field: str) -> float | None:
        return peer[key][field] if peer and key in peer else None

    warm_peer = p("warm", "wall")
    figures = Figures("run", digits=3)
    figures.add(
        "run à chaud (mur)",
        ours["warm"]["wall"],
        "s",
        peer=warm_peer if warm_peer is not None else BEFORE_WARM_S,
        peer_name=peer_name or "mesure d'avant (issue 18)",
        target="< 5 s",
        met=ours["warm"]["wall"] < 5.0,
    )
    figures.add(
        "runs à chaud : fichiers aux chiffres différents du run à froid",
        float(len(ours["warm_differing"])),
        "fichiers",
        target="0 (mêmes chiffres)",
        met=not ours["warm_differing"],
    )
    if peer:
        figures.add(
            "run à froid : fichiers aux chiffres différents du code précédent",
            float(len(differing_from_peer)),
            "fichiers",
            target="0 (mêmes chiffres)",
            met=not differing_from_peer,
        )
    figures.add(
        "run à chaud (CPU)",
        ours["warm"]["cpu"],
        "s CPU",
        peer=p("warm", "cpu"),
        peer_name=peer_name,
    )
    figures.add(
        "run à froid (mur)",
        ours["cold"]["wall"],
        "s",
        peer=p("cold", "wall"),
        peer_name=peer_name,
        target="< 60 s",
        met=ours["cold"]["wall"] < 60.0,
    )
    peak_rss = max(ours["cold"]["rss"], ours["warm"]["rss"])
    figures.add(
        "mémoire de pointe (run)", peak_rss, "MiB", target="< 2048 MiB", met=peak_rss < 2048
    )
    figures.add(
        "imports du run",
        ours["imports"]["cpu"],
        "s CPU",
        peer=p("imports", "cpu"),
        peer_name=peer_name,
    )
    for key, label, limit_s, limit_text in (
        ("help", "coverage --help", 0.5, "< 0,5 s"),
        ("version", "coverage --version", 0.5, "< 0,5 s"),
        ("info", "coverage info gers", 1.0, "< 1 s"),
    ):
        figures.add(
            label,
            ours[key]["wall"],
            "s",
            peer=p(key, "wall"),
            peer_name=peer_name,
            target=limit_text,
            met=ours[key]["wall"] < limit_s,
        )
    if place:
        place_peer = p("place", "wall")
        figures.add(
            "coverage place --sites 16 (mur)",
            ours["place"]["wall"],
            "s",
            peer=place_peer,
            peer_name=peer_name,
            target="plus rapide que le code précédent",
            met=None if place_peer is None else ours["place"]["wall"] < place_peer,
        )
    for key, label in STEP_LABELS.items():
        if key in ours["steps"]:
            figures.add(
                f"étape : {label.strip()}",
                float(ours["steps"][key]),
                "s",
                peer=peer["steps"].get(key) if peer else None,
                peer_name=peer_name,
            )

    print(
        f"cœurs : {os.cpu_count()} ; python {sys.version.split()[0]} ; "
        f"runs à chaud : {', '.join(f'{w:.2f}' for w in ours['warm_walls'])} s"
    )
    for line in figures.table_lines():
        print(line)
    if ours["warm_differing"]:
        print(f"différences à chaud : {', '.join(ours['warm_differing'])}")
    if peer and differing_from_peer:
        print(f"différences avec le code précédent : {', '.join(differing_from_peer)}")
    if args.json:
        figures.write_json(args.json)
    missed = figures.missed()
    if missed:
        print(f"cibles manquées : {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
