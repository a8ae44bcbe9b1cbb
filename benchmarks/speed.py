"""Speed benchmark of issue 18: every figure beside its peer, in one run, on this machine.

Runs the speed benchmarks one after the other (never two at once: they would share
the cores), each in its own process with ``--json``, and prints one table of all
their figures: ours, the peer's (plain scipy, OSRM's contraction hierarchies,
Valhalla, the previous code path, spopt), the ratio, the target and whether it
is met.

=====================  =================================================================
script                 what it measures
=====================  =================================================================
``isochrones.py``      100 origins x 3 bands on Imperial County and the Gers against
                       Valhalla; one-point API isochrone CPU; new-point requests/s
``tables.py``          458 x 458 tables against OSRM CH and scipy; nearest facility for
                       every node of 1 M nodes against scipy
``run.py``             ``coverage run`` on the Gers cold and warm, per step; ``--help``;
                       ``coverage place --sites 16``
``placement.py``       MCLP, p-median, LSCP proven optimal, reduced vs unreduced, spopt
=====================  =================================================================

Usage::

    python benchmarks/speed.py --data ../shared/data [--only tables,run] [--json all.json]

Exits 1 when a benchmark fails or a target is missed. The peers (OSRM and Valhalla) are
the standalone programs of their PyPI wheels, run on 127.0.0.1 (``benchmarks/peers.py``);
nothing here is a dependency of the engine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS: dict[str, list[str]] = {
    "isochrones": ["isochrones.py"],
    "tables": ["tables.py"],
    "run": ["run.py"],
    "placement": ["placement.py", "--no-map"],
}
"""Name -> script and its own arguments (``--data`` and ``--json`` are added)."""


def run_benchmark(name: str, data: Path, folder: Path) -> tuple[int, float, dict[str, Any]]:
    """Run one benchmark script; its exit code, wall seconds and JSON figures."""
    script, *extra = BENCHMARKS[name]
    out = folder / f"{name}.json"
    command = [sys.executable, str(REPO / "benchmarks" / script), "--data", str(data)]
    command += [*extra, "--json", str(out)]
    print(f"\n=== {name} : {' '.join(command[1:])}", flush=True)
    start = time.perf_counter()
    code = subprocess.call(command)
    wall = time.perf_counter() - start
    figures = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    return code, wall, figures


def format_value(value: Any, unit: str) -> str:
    """A figure with its unit, or a dash."""
    if value is None:
        return "-"
    return f"{float(value):,.3g} {unit}".replace(",", "\u202f")


def summary_rows(name: str, figures: dict[str, Any]) -> list[list[str]]:
    """The printed rows of one benchmark's figures."""
    rows = []
    for fig in figures.get("figures", []):
        unit = str(fig.get("unit", ""))
        ratio = fig.get("ratio")
        met = fig.get("met")
        rows.append(
            [
                name,
                str(fig.get("name", "")),
                format_value(fig.get("ours"), unit),
                format_value(fig.get("peer"), unit),
                str(fig.get("peer_name") or "-"),
                f"{float(ratio):.2f}" if ratio is not None else "-",
                str(fig.get("target") or "-"),
                {True: "oui", False: "NON", None: "-"}[met],
            ]
        )
    return rows


def print_table(rows: list[list[str]]) -> None:
    """Rows under French headers, columns aligned."""
    header = ["banc", "mesure", "nous", "pair", "pair (nom)", "ratio", "cible", "atteinte"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help="benchmarks to run, comma-separated"
    )
    parser.add_argument("--json", type=Path, help="write every figure as JSON")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(
            f"--only : banc inconnu {', '.join(unknown)} (connus : {', '.join(BENCHMARKS)})"
        )
    rows: list[list[str]] = []
    collected: dict[str, Any] = {"cores": os.cpu_count(), "benchmarks": {}}
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="coverage-speed-") as tmp:
        for name in names:
            code, wall, figures = run_benchmark(name, args.data, Path(tmp))
            collected["benchmarks"][name] = {"exit_code": code, "wall_s": wall, **figures}
            rows += summary_rows(name, figures)
            missed = [f for f in figures.get("figures", []) if f.get("met") is False]
            if code != 0 or missed or not figures:
                failed.append(name)
    print(f"\ncœurs : {os.cpu_count()} ; python {sys.version.split()[0]}")
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(collected, indent=2, ensure_ascii=False), "utf-8")
    if failed:
        print(f"\ncibles manquées ou banc en échec : {', '.join(failed)}")
        return 1
    print("\ntoutes les cibles sont atteintes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
