"""Benchmark of the main job: `coverage run` on the Gers bundle, cold and warm cache.

Each run is a fresh process of the `coverage` command (as a planner runs it);
the script prints wall time and peak memory (max RSS of the child process).
"Cold" uses an empty cache directory (network, population surface and every
other cached artefact rebuilt); "warm" reuses it.

Usage::

    python benchmarks/run.py --data ../shared/data [--warm-runs 3]

Targets (issue 6): under 60 s cold, under 15 s warm, under 2 GiB peak memory.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def coverage_command() -> list[str]:
    exe = Path(sys.executable).with_name("coverage")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "coverage.cli"]


def timed_run(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, _, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if proc.returncode not in (None, 0):
        raise SystemExit(f"run failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, usage.ru_maxrss / 1024.0  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--warm-runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="coverage-run-bench-") as tmp:
        env = {**os.environ, "COVERAGE_CACHE_DIR": str(Path(tmp) / "cache"), "COLUMNS": "100"}
        base = [*coverage_command(), "run", "--data", str(args.data)]
        cold, cold_rss = timed_run([*base, "-o", str(Path(tmp) / "cold")], env)
        warm = []
        for i in range(args.warm_runs):
            warm.append(timed_run([*base, "-o", str(Path(tmp) / f"warm{i}")], env))
    print(f"cores: {os.cpu_count()}; python {sys.version.split()[0]}")
    print(f"{'run':<8} {'wall (s)':>9} {'peak RSS (MiB)':>15}   target")
    print(f"{'cold':<8} {cold:>9.1f} {cold_rss:>15.0f}   < 60 s, < 2048 MiB")
    walls = [w for w, _ in warm]
    peak = max(r for _, r in warm)
    print(
        f"{'warm':<8} {statistics.median(walls):>9.1f} {peak:>15.0f}   < 15 s "
        f"(median of {len(walls)}: {', '.join(f'{w:.1f}' for w in walls)})"
    )


if __name__ == "__main__":
    main()
