"""The questions around a plan: how many sites, why each site, how fair, how robust, the data.

Everything here works on a solved placement (a
:class:`~coverage.jobs.placement_instance.PlacementInstance` and its
:class:`~coverage.placement.problem.PlacementResult`) and solves again
with the same engine (:func:`coverage.placement.solve`, :mod:`coverage.placement.equity`):

- :func:`sites_curve` / :func:`minutes_curve` — covered inhabitants (and share) and
  mean time against the number of sites ``p`` and against the threshold ``T``,
  every point solved exactly with the study's model (status and gap per point);
  :func:`plot_curves` draws them (PNG). The curve against ``p`` is solved
  **without the zone rule** (one site per canton allows a single ``p``; the curve
  answers "how many sites are enough" for the territory as a whole), the fixed
  sites kept; the curve against ``T`` keeps every constraint of the study.
- :func:`explain_sites` — per chosen site: the inhabitants only it covers within
  ``T`` (lost if it closed), the inhabitants it serves as the nearest open site,
  and the best alternative (the candidate which, swapped in for it with the other
  sites kept and the zone bounds respected, gives the best objective) with the
  objective's loss.
- :func:`tradeoff_table` — the least mean time that keeps ``α`` × the MCLP optimum
  covered (:func:`coverage.placement.equity.solve_tradeoff`).
- :func:`sensitivity_table` — the study re-solved with speeds × 0.9 and × 1.1 (the
  whole travel-time matrix divided by the factor: every road speed and the
  access-leg speed scale together, so shortest paths keep their route and only
  their times change) and with the access-leg detour factor 20 % lower and
  higher (the matrix re-routed with that factor); the sites that change per variant.
- :func:`cost_matrix_table` — the matrix as a long table (finite pairs only).

:func:`write_questions` writes the files of the result folder (comma-separated
CSV with French headers, like the other CSVs of ``coverage place``).

**On a Dask cluster** (``client=``, issue 20): the curves, the trade-off and the
sensitivity are sweeps of independent MIP solves. Given a ``distributed.Client``, each
solve is one Dask task (:func:`_sweep`): the instance (the matrix, the weights, the
demand groups) is scattered once to every worker
(:func:`coverage.cluster.scatter_once`), never pickled into each task; each task is
side-effect free and retried on another worker when its worker dies (``retries=3``); the
rows are gathered in the sweep's order through
:func:`coverage.cluster.gather_with_progress`, so the CLI's progress follows the
scheduler. The point functions are the same ones the local run calls, so the tables are
the same (HiGHS runs single-threaded with a fixed seed: the same model gives the same
plan on any process), but for the solve times and for solves that stop at their time
limit (where they stop depends on the CPU they got). Without a client nothing changes:
the points are solved here, in order.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coverage.jobs.placement_instance import PlacementInstance
from coverage.placement.equity import group_shares, solve_tradeoff
from coverage.placement.problem import (
    COVER_TOLERANCE_S,
    PlacementError,
    PlacementProblem,
    PlacementResult,
)
from coverage.placement.solving import solve
from coverage.progress import Progress
from coverage.tables import write_table

SPEED_FACTORS: tuple[float, ...] = (0.9, 1.1)
DETOUR_FACTORS: tuple[float, ...] = (0.8, 1.2)
"""Multipliers of the instance's access-leg detour factor (floored at 1)."""
TRADEOFF_ALPHAS: tuple[float, ...] = (1.0, 0.99, 0.97, 0.95)
DEFAULT_CURVE_MINUTES: tuple[float, ...] = (10.0, 15.0, 20.0, 25.0, 30.0)

STATUS_FR = {
    "optimal": "optimum prouvé",
    "time_limit": "limite de temps",
    "feasible": "non prouvé",
    "heuristic": "heuristique",
}

MAX_CURVE_POINTS = 100
"""Largest number of sites of the curve against the number of sites (each point a solve)."""
MAX_CURVE_MINUTES = 12
"""Most thresholds of the curve against the threshold."""
TASK_RETRIES = 3
"""Times a Dask task is run again elsewhere when its worker dies (``client=``)."""

STEPS = {
    "curve_sites": "Courbe selon le nombre de sites (tâches Dask)",
    "curve_minutes": "Courbe selon le seuil (tâches Dask)",
    "tradeoff": "Compromis couverture / temps moyen (tâches Dask)",
    "sensitivity": "Sensibilité vitesses et détour (tâches Dask)",
}
"""Progress labels of the sweeps run on a cluster (one count per finished solve)."""

FILES = {
    "curve_sites": "courbe_sites.csv",
    "curve_minutes": "courbe_seuil.csv",
    "curve_png": "courbes.png",
    "explanation": "sites_explication.csv",
    "tradeoff": "compromis.csv",
    "sensitivity": "sensibilite.csv",
    "matrix_parquet": "matrice_couts.parquet",
    "matrix_csv": "matrice_couts.csv",
    "candidates": "candidats.csv",
}


# --- parsing of the CLI forms -------------------------------------------------------------------


def parse_curve(text: str) -> tuple[int | None, int]:
    """``"1-30"`` -> (1, 30); ``"30"`` -> (None, 30) (from the number of fixed sites).

    Raises
    ------
    PlacementError
        If the text is not ``N`` or ``A-B`` with whole numbers ``1 <= A <= B``.
    """
    parts = str(text).strip().split("-")
    try:
        values = [int(v) for v in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values) < 1 or (len(values) == 2 and values[0] > values[1]):
        raise PlacementError(
            f"--curve : « {text} » n'est pas un nombre de sites « N » ou un intervalle « A-B » "
            "(entiers, 1 <= A <= B), par exemple 3-25"
        )
    if values[-1] > MAX_CURVE_POINTS:
        raise PlacementError(
            f"--curve : « {text} » va au-delà de {MAX_CURVE_POINTS} sites (une résolution "
            "par point) ; réduire l'intervalle"
        )
    return (None, values[0]) if len(values) == 1 else (values[0], values[1])


def parse_minutes(text: str) -> list[float]:
    """``"10,15,20"`` -> [10.0, 15.0, 20.0] (each in (0, 600]).

    Raises
    ------
    PlacementError
        Naming the value that is not a number of minutes.
    """
    out: list[float] = []
    for part in str(text).split(","):
        try:
            value = float(part.strip())
        except ValueError:
            value = float("nan")
        if not 0 < value <= 600:
            raise PlacementError(
                f"--curve-minutes : « {part.strip()} » n'est pas un nombre de minutes dans "
                "(0, 600] (liste séparée par des virgules, par exemple 10,15,20,25,30)"
            )
        out.append(value)
    if len(set(out)) > MAX_CURVE_MINUTES:
        raise PlacementError(
            f"--curve-minutes : {len(set(out))} seuils, au plus {MAX_CURVE_MINUTES}"
        )
    return sorted(set(out))


def curve_text(curve: str | tuple[int | None, int]) -> str:
    """The CLI form of a curve span given as text or as a ``(first, last)`` tuple."""
    if isinstance(curve, str):
        return curve
    first, last = curve
    return str(last) if first is None else f"{first}-{last}"


def minutes_text(curve_minutes: str | Sequence[float]) -> str:
    """The CLI form (``"10,15,20"``) of thresholds given as text or as numbers."""
    if isinstance(curve_minutes, str):
        return curve_minutes
    return ",".join(str(v) for v in curve_minutes)


def check_options(
    curve: str | tuple[int | None, int] | None, curve_minutes: str | Sequence[float] | None
) -> None:
    """Refuse bad curve options before any solve (:class:`PlacementError` naming the option)."""
    if curve is not None:
        parse_curve(curve_text(curve))
    if curve_minutes is not None:
        parse_minutes(minutes_text(curve_minutes))


# --- helpers ------------------------------------------------------------------------------------


def demand_groups(instance: PlacementInstance) -> list[str | None]:
    """Each demand point's zone (its commune's canton zone), None outside every zone."""
    return [instance.commune_zone.get(str(code)) for code in instance.demand["insee_code"]]


def variant_problem(
    problem: PlacementProblem, *, cost_s: np.ndarray | None = None, zones: bool = True
) -> PlacementProblem:
    """The same problem with another matrix, or without its zone constraints."""
    keep = zones and problem.zones is not None
    return PlacementProblem(
        problem.cost_s if cost_s is None else cost_s,
        problem.weights,
        candidate_ids=list(problem.candidate_ids),
        demand_ids=list(problem.demand_ids),
        fixed=problem.fixed.tolist(),
        zones=list(problem.zones) if keep else None,
        zone_rule=problem.zone_rule if keep else "at_most_one",
        zone_names=list(problem.zone_names) if keep else None,
        zone_bounds=(
            {
                z: (lo, None if not np.isfinite(hi) else hi)
                for z, (lo, hi) in problem.zone_bounds.items()
            }
            if keep
            else None
        ),
        capacities=problem.capacities,
    )


def _figures(problem: PlacementProblem, chosen: np.ndarray, minutes: float) -> dict[str, float]:
    """Covered inhabitants, share and weighted mean minutes (reachable demand) of a plan."""
    w = problem.weights
    best = problem.cost_s[:, chosen].min(axis=1) if len(chosen) else np.full(len(w), np.inf)
    covered = float(w[best <= minutes * 60.0 + COVER_TOLERANCE_S].sum())
    reach = np.isfinite(best)
    total = float(w[reach].sum())
    mean = float((w[reach] * best[reach]).sum() / total / 60.0) if total else np.nan
    return {
        "covered": covered,
        "share": covered / float(w.sum()) if w.sum() else np.nan,
        "mean_minutes": mean,
    }


def _solve(
    problem: PlacementProblem,
    model: str,
    p: int,
    minutes: float,
    groups: Sequence[Any] | None,
    options: dict[str, Any],
) -> PlacementResult:
    model = "mclp" if model == "lscp" else model
    extra = {"demand_groups": groups} if model == "maxmin" else {}
    return solve(problem, model, p=p, threshold_minutes=minutes, **options, **extra)


def _ids(problem: PlacementProblem, indices: Any) -> str:
    return " ".join(str(problem.candidate_ids[j]) for j in sorted(int(j) for j in indices))


def _row(problem: PlacementProblem, result: PlacementResult, minutes: float) -> dict[str, Any]:
    fig = _figures(problem, result.chosen, minutes)
    return {
        "habitants_couverts": round(fig["covered"], 1),
        "part_couverte": round(fig["share"], 6),
        "temps_moyen_min": round(fig["mean_minutes"], 3),
        "statut": result.status,
        "ecart": None if result.gap is None else round(float(result.gap), 8),
        "temps_resolution_s": round(result.solve_time_s, 3),
        "sites": _ids(problem, result.chosen),
    }


def _sweep(
    task: Any,
    shared: Sequence[Any],
    points: Sequence[Sequence[Any]],
    *,
    client: Any | None,
    step: str,
    progress: Progress | None,
) -> list[Any]:
    """``task(*shared, *point)`` for every point, in the points' order.

    Without a client, solved here one after the other (the local run). With a
    ``distributed.Client``, each ``shared`` object (the problem, the demand
    groups: what every point reads) is scattered once to every worker, then one
    task per point (retried :data:`TASK_RETRIES` times if its worker dies) is
    gathered through :func:`coverage.cluster.gather_with_progress` under ``step``.
    """
    if client is None:
        return [task(*shared, *point) for point in points]
    from coverage.cluster import with_rescatter

    def attempt(_number: int) -> list[Any]:
        handles = _scatter(client, shared)
        futures = [
            client.submit(task, *handles, *point, retries=TASK_RETRIES, pure=False)
            for point in points
        ]
        return _gather(client, futures, step=step, progress=progress)

    return with_rescatter(attempt)


def _scatter(client: Any, objects: Sequence[Any]) -> list[Any]:
    """One future per object, its data on every worker (:func:`coverage.cluster.scatter_once`)."""
    from coverage.cluster import scatter_once

    return [scatter_once(client, obj) for obj in objects]


def _gather(client: Any, futures: list[Any], *, step: str, progress: Progress | None) -> list[Any]:
    from coverage.cluster import gather_with_progress

    return gather_with_progress(client, futures, step=step, progress=progress)


def _curve_point(
    problem: PlacementProblem,
    groups: Sequence[Any] | None,
    model: str,
    p: int,
    minutes: float,
    options: dict[str, Any],
    head: dict[str, Any],
) -> dict[str, Any]:
    """One row of a curve: ``head`` and the figures of the plan solved for ``p`` and ``T``."""
    try:
        result = _solve(problem, model, p, minutes, groups, options)
    except PlacementError as exc:
        return {**head, "statut": f"impossible : {exc}"}
    return {**head, **_row(problem, result, minutes)}


# --- curves -------------------------------------------------------------------------------------


def sites_curve(
    problem: PlacementProblem,
    model: str,
    p_range: tuple[int | None, int],
    threshold_minutes: float,
    *,
    groups: Sequence[Any] | None = None,
    keep_zones: bool = False,
    options: dict[str, Any] | None = None,
    client: Any | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Covered inhabitants and mean time against ``p``, each ``p`` solved exactly.

    Parameters
    ----------
    problem
        The study's problem.
    model
        The study's model (``lscp`` is traced as the MCLP, which has a ``p``).
    p_range
        ``(first, last)``; ``first`` None or below the fixed sites starts at the
        number of fixed sites (at least 1).
    threshold_minutes
        ``T``.
    groups
        Demand groups (for ``maxmin``).
    keep_zones
        Keep the zone rule (default: solved without it, see the module docs).
    options
        Solver options (``solver``, ``time_limit_s``, ``mip_gap``).
    client
        A ``distributed.Client``: one Dask task per ``p`` (see the module docs);
        None: solved here.
    progress
        Told of each finished task (with a client).

    Returns
    -------
    pandas.DataFrame
        One row per ``p``: ``nombre_sites``, ``modele``, ``regle_zones``,
        ``seuil_minutes``, ``habitants_couverts``, ``part_couverte``,
        ``temps_moyen_min``, ``statut``, ``ecart``, ``temps_resolution_s``, ``sites``.
    """
    first, last = p_range
    start = max(int(problem.fixed.size), 1, first or 0)
    if last < start:
        raise PlacementError(
            f"--curve : le dernier nombre de sites ({last}) est inférieur au nombre de sites "
            f"existants gardés ({problem.fixed.size})"
        )
    last = min(last, problem.n_candidates)
    target = problem if keep_zones else variant_problem(problem, zones=False)
    rule = problem.zone_rule if keep_zones and problem.zones is not None else "aucune"
    traced = "mclp" if model == "lscp" else model
    points = [
        (
            model,
            p,
            threshold_minutes,
            options or {},
            {
                "nombre_sites": p,
                "modele": traced,
                "regle_zones": rule,
                "seuil_minutes": float(threshold_minutes),
            },
        )
        for p in range(start, last + 1)
    ]
    # the target has the study's matrix, weights and ids: its rows are the study's
    rows = _sweep(
        _curve_point,
        (target, groups),
        points,
        client=client,
        step=STEPS["curve_sites"],
        progress=progress,
    )
    return pd.DataFrame(rows)


def minutes_curve(
    problem: PlacementProblem,
    model: str,
    p: int,
    minutes: Sequence[float],
    *,
    result: PlacementResult | None = None,
    groups: Sequence[Any] | None = None,
    options: dict[str, Any] | None = None,
    client: Any | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Covered inhabitants and mean time against ``T`` for ``p`` sites, every constraint kept.

    The p-median's plan does not depend on ``T``: its ``result`` (when given) is
    evaluated at each threshold instead of being solved again. With a ``client``
    (``distributed.Client``) each threshold is one Dask task (see the module docs).
    """
    heads = [{"seuil_minutes": float(t), "nombre_sites": int(p), "modele": model} for t in minutes]
    if model == "pmedian" and result is not None:
        return pd.DataFrame(
            [{**head, **_row(problem, result, t)} for head, t in zip(heads, minutes, strict=True)]
        )
    points = [(model, p, t, options or {}, head) for head, t in zip(heads, minutes, strict=True)]
    rows = _sweep(
        _curve_point,
        (problem, groups),
        points,
        client=client,
        step=STEPS["curve_minutes"],
        progress=progress,
    )
    return pd.DataFrame(rows)


def plot_curves(
    by_sites: pd.DataFrame | None, by_minutes: pd.DataFrame | None, path: str | Path, title: str
) -> Path:
    """Draw the curves (share covered and mean time) into a PNG (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        (frame, column, label)
        for frame, column, label in (
            (by_sites, "nombre_sites", "Nombre de sites ouverts (existants compris)"),
            (by_minutes, "seuil_minutes", "Seuil de temps de trajet (minutes)"),
        )
        if frame is not None and not frame.empty and "part_couverte" in frame
    ]
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(6.4 * max(len(panels), 1), 4.6))
    axes = np.atleast_1d(axes)
    for ax, (frame, column, label) in zip(axes, panels, strict=False):
        ok = frame.dropna(subset=["part_couverte"])
        ax.plot(ok[column], 100 * ok["part_couverte"], "o-", color="#1f6f8b")
        ax.set_xlabel(label)
        ax.set_ylabel("Population couverte (%)", color="#1f6f8b")
        ax.grid(alpha=0.3)
        twin = ax.twinx()
        twin.plot(ok[column], ok["temps_moyen_min"], "s--", color="#c0392b")
        twin.set_ylabel("Temps moyen au site le plus proche (min)", color="#c0392b")
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --- per-site explanation -----------------------------------------------------------------------


def explain_sites(
    instance: PlacementInstance,
    result: PlacementResult,
    model: str,
    threshold_minutes: float,
    *,
    groups: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """Why each chosen site: who only it covers, whom it serves, its best replacement.

    The objective of a swap is the study's: covered inhabitants within ``T``
    (``mclp``, ``lscp``), population-weighted mean minutes (``pmedian``), worst
    group share (``maxmin``). ``perte`` is how much worse the objective gets
    with the best alternative (>= 0 when the plan is optimal), in the unit
    named by ``unite``. A swap must keep the zone bounds; a site with no
    feasible swap has no alternative.

    Returns
    -------
    pandas.DataFrame
        One row per chosen site: ``id_site``, ``insee``, ``commune``, ``zone``,
        ``statut`` (existant/nouveau), ``habitants_seul_couverts``,
        ``habitants_plus_proche``, ``alternative_id``, ``alternative_commune``,
        ``objectif_plan``, ``objectif_avec_alternative``, ``perte``, ``unite``.
    """
    problem = instance.problem
    cost, w = problem.cost_s, problem.weights
    cover = problem.coverage(threshold_minutes)
    chosen = [int(j) for j in result.chosen]
    zone_of, lo, hi = problem.zone_table()
    counts = np.bincount(zone_of[chosen][zone_of[chosen] >= 0], minlength=lo.size)
    closed = np.setdiff1d(np.arange(problem.n_candidates), chosen)
    kind = "mclp" if model == "lscp" else model
    finite_cost = np.where(np.isfinite(cost), cost, np.inf)
    served = np.isfinite(cost).any(axis=1)
    group_matrix = None
    if kind == "maxmin":
        labels = sorted({str(g) for g in (groups or []) if g})
        pos = {g: k for k, g in enumerate(labels)}
        gi = np.array([pos.get(str(g), -1) if g else -1 for g in (groups or [])])
        gm = np.zeros((len(labels), problem.n_demand))
        use = gi >= 0
        gm[gi[use], np.flatnonzero(use)] = w[use]
        totals = gm.sum(axis=1, keepdims=True)
        heavy = totals[:, 0] > 0
        group_matrix = gm[heavy] / totals[heavy]

    def score(covered: np.ndarray, nearest: np.ndarray) -> np.ndarray:
        """Objective of each column of candidate plans (``covered``/``nearest``: n × k)."""
        if kind == "pmedian":
            sums = w[served] @ np.where(np.isfinite(nearest[served]), nearest[served], 0.0)
            return sums / w[served].sum() / 60.0
        if kind == "maxmin":
            assert group_matrix is not None
            return (group_matrix @ covered).min(axis=0)
        return w @ covered

    base_cov = cover[:, chosen].any(axis=1)
    base_near = finite_cost[:, chosen].min(axis=1)
    base = float(score(base_cov[:, None].astype(float), base_near[:, None])[0])
    cands = instance.candidates
    unit = {"pmedian": "minutes (temps moyen)", "maxmin": "part du canton le moins couvert"}.get(
        kind, "habitants couverts"
    )
    rows = []
    for j in chosen:
        others = [k for k in chosen if k != j]
        cov_others = cover[:, others].any(axis=1) if others else np.zeros(problem.n_demand, bool)
        near_others = finite_cost[:, others].min(axis=1) if others else np.full(len(w), np.inf)
        only = float(w[cover[:, j] & ~cov_others].sum())
        nearest = float(w[np.asarray(result.assignment) == j].sum())
        options = _swaps(closed, j, zone_of, counts, lo, hi)
        row = {
            "id_site": str(problem.candidate_ids[j]),
            "insee": str(cands["insee_code"].iloc[j]),
            "commune": str(cands["commune_name"].iloc[j] or cands["name"].iloc[j]),
            "zone": str(cands["zone_label"].iloc[j] or cands["zone"].iloc[j] or ""),
            "statut": "existant" if j in set(problem.fixed.tolist()) else "nouveau",
            "habitants_seul_couverts": round(only, 1),
            "habitants_plus_proche": round(nearest, 1),
            "alternative_id": "",
            "alternative_commune": "",
            "objectif_plan": round(base, 6),
            "objectif_avec_alternative": None,
            "perte": None,
            "unite": unit,
        }
        if options.size:
            covered = (cov_others[:, None] | cover[:, options]).astype(float)
            near = np.minimum(near_others[:, None], finite_cost[:, options])
            values = score(covered, near)
            k = int(np.argmin(values) if kind == "pmedian" else np.argmax(values))
            best = int(options[k])
            value = float(values[k])
            row["alternative_id"] = str(problem.candidate_ids[best])
            row["alternative_commune"] = str(
                cands["commune_name"].iloc[best] or cands["name"].iloc[best]
            )
            row["objectif_avec_alternative"] = round(value, 6)
            row["perte"] = round(value - base if kind == "pmedian" else base - value, 6)
        rows.append(row)
    return pd.DataFrame(rows)


def _swaps(
    closed: np.ndarray,
    j: int,
    zone_of: np.ndarray,
    counts: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
) -> np.ndarray:
    """The closed candidates that may replace site ``j`` with every zone bound kept."""
    if lo.size == 0:
        return closed
    other = zone_of[closed]
    safe = np.maximum(other, 0)
    z = zone_of[j]
    same = other == z
    leaving_ok = z < 0 or counts[z] - 1 >= lo[z]
    entering_ok = (other < 0) | (counts[safe] + 1 <= hi[safe])
    return closed[same | (leaving_ok & entering_ok & ~same)]


# --- trade-off ----------------------------------------------------------------------------------


def tradeoff_table(
    problem: PlacementProblem,
    p: int,
    threshold_minutes: float,
    *,
    alphas: Sequence[float] = TRADEOFF_ALPHAS,
    options: dict[str, Any] | None = None,
    client: Any | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """The least mean time keeping ``α`` × the MCLP optimum within ``T``, per ``α``.

    The MCLP optimum is solved first with the same constraints; a row per ``α``
    then gives the floor, the covered inhabitants, the mean time, status and gap.
    With a ``client`` (``distributed.Client``) the optimum is one Dask task and
    each ``α`` another that waits for it (see the module docs).
    """
    opts = {k: v for k, v in (options or {}).items() if k in ("time_limit_s", "mip_gap")}
    ordered = sorted(alphas, reverse=True)
    if client is None:
        best = _tradeoff_optimum(problem, p, threshold_minutes, opts)
        rows = [_tradeoff_point(problem, best, a, p, threshold_minutes, opts) for a in ordered]
        return pd.DataFrame(rows)
    from coverage.cluster import with_rescatter

    def attempt(_number: int) -> list[Any]:
        (shared,) = _scatter(client, [problem])
        best_future = client.submit(
            _tradeoff_optimum, shared, p, threshold_minutes, opts, retries=TASK_RETRIES, pure=False
        )
        futures = [
            client.submit(
                _tradeoff_point,
                shared,
                best_future,
                a,
                p,
                threshold_minutes,
                opts,
                retries=TASK_RETRIES,
                pure=False,
            )
            for a in ordered
        ]
        return _gather(client, [best_future, *futures], step=STEPS["tradeoff"], progress=progress)

    return pd.DataFrame(with_rescatter(attempt)[1:])


def _tradeoff_optimum(
    problem: PlacementProblem, p: int, threshold_minutes: float, opts: dict[str, Any]
) -> PlacementResult:
    """The MCLP optimum the trade-off's floors are shares of."""
    return solve(problem, "mclp", p=p, threshold_minutes=threshold_minutes, **opts)


def _tradeoff_point(
    problem: PlacementProblem,
    best: PlacementResult,
    alpha: float,
    p: int,
    threshold_minutes: float,
    opts: dict[str, Any],
) -> dict[str, Any]:
    """The row of one ``α``: the least mean time keeping ``α`` × ``best`` covered."""
    head = {
        "alpha": float(alpha),
        "habitants_mclp": round(best.objective, 1),
        "statut_mclp": best.status,
        "habitants_minimum": round(alpha * best.objective, 1),
    }
    # no start solution: measured on the Gers, starting from the MCLP optimum slows HiGHS
    try:
        result = solve_tradeoff(
            problem, p, threshold_minutes, min_covered=alpha * best.objective, **opts
        )
    except PlacementError as exc:
        return {**head, "statut": f"impossible : {exc}"}
    return {**head, **_row(problem, result, threshold_minutes)}


# --- sensitivity --------------------------------------------------------------------------------


def sensitivity_table(
    instance: PlacementInstance,
    result: PlacementResult,
    model: str,
    p: int | None,
    threshold_minutes: float,
    *,
    groups: Sequence[Any] | None = None,
    options: dict[str, Any] | None = None,
    client: Any | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """The study re-solved with speeds × 0.9 / × 1.1 and the access detour ± 20 %.

    With a ``client`` (``distributed.Client``) each variant's solve is one Dask
    task (see the module docs): the speed variants divide the scattered matrix on
    the worker; the detour variants' matrices are routed here (they need the road
    network) and travel with their task (so that it can run again anywhere).

    Returns
    -------
    pandas.DataFrame
        One row per variant: ``variante``, ``facteur``, ``statut``, ``ecart``,
        ``habitants_couverts`` and ``temps_moyen_min`` of the re-solved plan,
        ``habitants_plan_actuel`` / ``temps_moyen_plan_actuel`` (the study's plan
        under the variant's times), ``sites_identiques`` (oui/non),
        ``sites_sortants`` and ``sites_entrants`` (ids), ``temps_resolution_s``.
    """
    from coverage.routing.matrix import travel_times

    problem = instance.problem
    # (label, factor, speed factor or None, re-routed matrix or None)
    variants: list[tuple[str, float, float | None, Any]] = [
        (f"vitesses × {f:g}".replace(".", ","), f, f, None) for f in SPEED_FACTORS
    ]
    detour = float(instance.access.detour_factor)
    origins = instance.demand[["x", "y"]].to_numpy()
    dest = np.column_stack([instance.candidates.geometry.x, instance.candidates.geometry.y])
    for m in DETOUR_FACTORS:
        factor = max(1.0, round(detour * m, 3))
        if factor == detour:
            continue
        access = dataclasses.replace(instance.access, detour_factor=factor)
        matrix = travel_times(instance.network, origins, dest, access=access).seconds
        label = f"détour d'accès {factor:g} (au lieu de {detour:g})".replace(".", ",")
        variants.append((label, factor, None, matrix))
    plan = np.asarray(result.chosen)
    points = [
        (label, factor, speed, matrix, plan, model, p, threshold_minutes, options or {})
        for label, factor, speed, matrix in variants
    ]
    rows = _sweep(
        _sensitivity_point,
        (problem, groups),
        points,
        client=client,
        step=STEPS["sensitivity"],
        progress=progress,
    )
    return pd.DataFrame(rows)


def _sensitivity_point(
    problem: PlacementProblem,
    groups: Sequence[Any] | None,
    label: str,
    factor: float,
    speed: float | None,
    matrix: np.ndarray | None,
    plan: np.ndarray,
    model: str,
    p: int | None,
    threshold_minutes: float,
    opts: dict[str, Any],
) -> dict[str, Any]:
    """One variant's row: the study re-solved on the matrix divided by ``speed`` (or on
    ``matrix``), beside the study's ``plan`` under the same times."""
    t0 = time.perf_counter()
    cost = problem.cost_s / speed if speed is not None else matrix
    variant = variant_problem(problem, cost_s=cost)
    head = {"variante": label, "facteur": factor}
    try:
        if model == "lscp":
            solved = solve(variant, "lscp", threshold_minutes=threshold_minutes, **opts)
        else:
            solved = _solve(variant, model, int(p or 0), threshold_minutes, groups, opts)
    except PlacementError as exc:
        return {**head, "statut": f"impossible : {exc}"}
    now = _figures(variant, solved.chosen, threshold_minutes)
    kept = _figures(variant, plan, threshold_minutes)
    out = sorted(set(plan.tolist()) - set(solved.chosen.tolist()))
    new = sorted(set(solved.chosen.tolist()) - set(plan.tolist()))
    return {
        **head,
        "statut": solved.status,
        "ecart": None if solved.gap is None else round(float(solved.gap), 8),
        "habitants_couverts": round(now["covered"], 1),
        "temps_moyen_min": round(now["mean_minutes"], 3),
        "habitants_plan_actuel": round(kept["covered"], 1),
        "temps_moyen_plan_actuel": round(kept["mean_minutes"], 3),
        "sites_identiques": "oui" if not out and not new else "non",
        "sites_sortants": _ids(problem, out),
        "sites_entrants": _ids(problem, new),
        "temps_resolution_s": round(time.perf_counter() - t0, 3),
    }


# --- cost matrix --------------------------------------------------------------------------------


def cost_matrix_table(problem: PlacementProblem) -> pd.DataFrame:
    """The travel-time matrix as a long table: one row per usable (demand, candidate) pair.

    Columns ``id_demande``, ``id_candidat``, ``secondes``, ``minutes``,
    ``poids_demande`` (inhabitants of the demand point). Unusable pairs (no
    route) are left out.
    """
    i, j = np.nonzero(np.isfinite(problem.cost_s))
    seconds = problem.cost_s[i, j]
    return pd.DataFrame(
        {
            "id_demande": problem.demand_ids[i].astype(str),
            "id_candidat": problem.candidate_ids[j].astype(str),
            "secondes": seconds,
            "minutes": seconds / 60.0,
            "poids_demande": problem.weights[i],
        }
    )


def candidates_table(problem: PlacementProblem) -> pd.DataFrame:
    """The candidates of the instance: what an independent solver needs beside the matrix.

    Columns ``id_candidat``, ``zone`` (empty outside every zone), ``min_sites_zone``
    and ``max_sites_zone`` (the zone's bounds; empty without zone or bound),
    ``impose`` (kept open whatever the choice) and ``capacite`` (empty: no limit).
    """
    zone_of, lo, hi = problem.zone_table()
    names = list(problem.zone_names) if problem.zone_names is not None else []
    n = problem.n_candidates
    fixed = np.zeros(n, dtype=bool)
    fixed[problem.fixed] = True
    has_zone = zone_of >= 0 if zone_of.size else np.zeros(n, dtype=bool)
    safe = np.where(has_zone, zone_of, 0) if zone_of.size else np.zeros(n, dtype=int)
    caps = (
        np.full(n, np.nan)
        if problem.capacities is None
        else np.where(np.isfinite(problem.capacities), problem.capacities, np.nan)
    )
    return pd.DataFrame(
        {
            "id_candidat": problem.candidate_ids.astype(str),
            "zone": [str(names[z]) if ok else "" for z, ok in zip(safe, has_zone, strict=True)],
            "min_sites_zone": [
                float(lo[z]) if ok else np.nan for z, ok in zip(safe, has_zone, strict=True)
            ],
            "max_sites_zone": [
                float(hi[z]) if ok and np.isfinite(hi[z]) else np.nan
                for z, ok in zip(safe, has_zone, strict=True)
            ],
            "impose": fixed,
            "capacite": caps,
        }
    )


def write_cost_matrix(folder: str | Path, problem: PlacementProblem) -> dict[str, str]:
    """Write the instance: ``matrice_couts.parquet`` (pyarrow), ``matrice_couts.csv`` and
    ``candidats.csv`` (zones, bounds, sites kept open, capacities)."""
    folder = Path(folder)
    table = cost_matrix_table(problem)
    table.to_parquet(folder / FILES["matrix_parquet"], engine="pyarrow", index=False)
    write_table(table, folder / FILES["matrix_csv"])
    write_table(candidates_table(problem), folder / FILES["candidates"])
    return {
        "matrix_parquet": FILES["matrix_parquet"],
        "matrix_csv": FILES["matrix_csv"],
        "candidates": FILES["candidates"],
    }


# --- the files of a study -----------------------------------------------------------------------


def write_questions(
    folder: str | Path,
    instance: PlacementInstance,
    result: PlacementResult,
    *,
    model: str,
    p: int | None,
    threshold_minutes: float,
    options: dict[str, Any] | None = None,
    curve: str | tuple[int | None, int] | None = None,
    curve_minutes: str | Sequence[float] | None = None,
    tradeoff: bool = False,
    sensitivity: bool = False,
    summary: dict[str, Any] | None = None,
    client: Any | None = None,
    progress: Progress | None = None,
) -> dict[str, str]:
    """Write the answers into a result folder; return ``{key: file name}``.

    Always the per-site explanation and the cost matrix; the curves, the
    trade-off and the sensitivity when asked. ``summary`` (``placement.json``'s
    content), when given, gets a ``questions`` entry with the timings and tables
    in short form. ``client`` (a ``distributed.Client``, None: this process)
    runs the sweeps' solves as Dask tasks, ``progress`` told of each finished one
    (see the module docs).
    """
    folder = Path(folder)
    opts = dict(options or {})
    groups = demand_groups(instance)
    cluster = {"client": client, "progress": progress}
    files: dict[str, str] = {}
    report: dict[str, Any] = {}
    t0 = time.perf_counter()
    write_table(
        explain_sites(instance, result, model, threshold_minutes, groups=groups),
        folder / FILES["explanation"],
    )
    files["explanation"] = FILES["explanation"]
    files |= write_cost_matrix(folder, instance.problem)
    report["explanation_and_matrix_s"] = round(time.perf_counter() - t0, 3)
    plan_p = int(p) if p is not None else int(len(result.chosen))
    by_sites = by_minutes = None
    if curve is not None:
        t0 = time.perf_counter()
        span = parse_curve(curve_text(curve))
        by_sites = sites_curve(
            instance.problem, model, span, threshold_minutes, groups=groups, options=opts, **cluster
        )
        write_table(by_sites, folder / FILES["curve_sites"])
        files["curve_sites"] = FILES["curve_sites"]
        report["curve_sites_s"] = round(time.perf_counter() - t0, 3)
        report["curve_sites"] = (
            by_sites[["nombre_sites", "habitants_couverts", "statut"]].to_dict(orient="records")
            if "habitants_couverts" in by_sites
            else []
        )
    if curve_minutes is not None:
        t0 = time.perf_counter()
        values = parse_minutes(minutes_text(curve_minutes))
        by_minutes = minutes_curve(
            instance.problem,
            model,
            plan_p,
            values,
            result=result,
            groups=groups,
            options=opts,
            **cluster,
        )
        write_table(by_minutes, folder / FILES["curve_minutes"])
        files["curve_minutes"] = FILES["curve_minutes"]
        report["curve_minutes_s"] = round(time.perf_counter() - t0, 3)
    if by_sites is not None or by_minutes is not None:
        plot_curves(
            by_sites,
            by_minutes,
            folder / FILES["curve_png"],
            f"Population couverte et temps moyen (modèle {model} ; selon le nombre de sites : "
            f"seuil {threshold_minutes:g} min ; selon le seuil : {plan_p} sites)",
        )
        files["curve_png"] = FILES["curve_png"]
    if tradeoff:
        t0 = time.perf_counter()
        table = tradeoff_table(instance.problem, plan_p, threshold_minutes, options=opts, **cluster)
        write_table(table, folder / FILES["tradeoff"])
        files["tradeoff"] = FILES["tradeoff"]
        report["tradeoff_s"] = round(time.perf_counter() - t0, 3)
    if sensitivity:
        t0 = time.perf_counter()
        table = sensitivity_table(
            instance, result, model, p, threshold_minutes, groups=groups, options=opts, **cluster
        )
        write_table(table, folder / FILES["sensitivity"])
        files["sensitivity"] = FILES["sensitivity"]
        report["sensitivity_s"] = round(time.perf_counter() - t0, 3)
        report["sensitivity"] = table.to_dict(orient="records")
    if model == "maxmin" or "maxmin" in str(result.model):
        report["group_shares"] = group_shares(
            instance.problem, result.chosen, threshold_minutes, groups
        )
    if summary is not None:
        summary["questions"] = report
    return files


__all__ = [
    "cost_matrix_table",
    "demand_groups",
    "explain_sites",
    "minutes_curve",
    "parse_curve",
    "parse_minutes",
    "plot_curves",
    "sensitivity_table",
    "sites_curve",
    "tradeoff_table",
    "variant_problem",
    "write_cost_matrix",
    "write_questions",
]
