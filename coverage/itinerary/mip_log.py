"""The record of every HiGHS run of a plan: status, time, gap, limits, threads and seed.

Each solver step appends one entry to a list it is given (``log``); the plan
writes the list in ``summary.json`` (``solver_runs``) so that a run can be
reproduced and its optimality judged.
"""

from __future__ import annotations

from typing import Any

from coverage._highs import RANDOM_SEED, THREADS, MipResult


def record(
    log: list[dict[str, Any]] | None,
    step: str,
    result: MipResult,
    *,
    time_limit_s: float,
    mip_gap: float,
) -> None:
    """Append one HiGHS run to ``log`` (nothing when ``log`` is None)."""
    if log is None:
        return
    log.append(
        {
            "step": step,
            "status": result.status,
            "proven_optimal": bool(result.proven_optimal),
            "time_s": round(float(result.time_s), 3),
            "time_limit_s": float(time_limit_s),
            "mip_gap_asked": float(mip_gap),
            "gap": None if result.gap is None else round(float(result.gap), 8),
            "objective": None if result.objective is None else float(result.objective),
            "nodes": int(result.nodes),
            "threads": THREADS,
            "random_seed": RANDOM_SEED,
            "highs_version": result.version,
        }
    )
