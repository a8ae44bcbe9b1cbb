"""A placement as a scenario: the base, the sites it adds, coverage before and after.

A placement is judged the way ``coverage run`` judges any offer: the chosen
sites become ``[[services.add]]`` entries of a scenario (the base scenario plus
the new sites), and :func:`evaluate` measures both scenarios with
:func:`coverage.access.service_access` on the population cells, per commune
and per canton. The figures of the folder are therefore those a run of the
written ``scenario.toml`` gives; the model's own objective (on its demand
points, commune points by default) is reported beside them.

The canton figures are :meth:`coverage.access.ServiceAccess.table` of the two
runs side by side, so ``coverage place`` and ``coverage run`` print the same
canton means and shares for the same plan (one denominator: a mean time is
weighted by the inhabitants who reach a service, a share by all inhabitants).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage import tomlio
from coverage.access import AccessContext, ServiceAccess, service_access, threshold_key
from coverage.errors import ConfigError
from coverage.jobs.placement_instance import PlacementInstance
from coverage.placement.problem import PlacementResult
from coverage.scenario import Scenario, select_services

SCENARIO_TOP_ORDER = (
    "scenario",
    "thresholds",
    "analyses",
    "services",
    "network",
    "access",
    "population",
    "health",
    "outputs",
)


# --- the scenario ---------------------------------------------------------------------------


def analysis_for_kind(raw: Mapping[str, Any], kind: str) -> str | None:
    """Name of the scenario analysis that measures exactly ``kind`` (None when there is none)."""
    for index, analysis in enumerate(raw.get("analyses") or [], 1):
        kinds = analysis.get("kinds", [])
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        if kinds == [kind]:
            return str(analysis.get("name") or kinds[0] or f"analysis_{index}")
    return None


def prepare_base(
    raw: Mapping[str, Any],
    *,
    kind: str,
    kind_label: str,
    threshold_minutes: float,
    base_dir: Path | None,
) -> tuple[dict[str, Any], str]:
    """The base scenario made ready for a placement of ``kind`` at threshold ``T``.

    Adds ``T`` to the thresholds and, when no analysis measures ``kind`` alone,
    an analysis for it (reference threshold ``T``); catalogue files become
    absolute paths so that the scenario can be written anywhere.

    Returns
    -------
    tuple
        The scenario as plain data, and the name of the analysis of ``kind``.
    """
    out = json.loads(json.dumps(raw))  # a deep copy of plain TOML data
    thresholds = (out.get("thresholds") or {}).get("minutes", [15, 20, 30])
    merged = sorted({float(t) for t in thresholds} | {float(threshold_minutes)})
    out.setdefault("thresholds", {})["minutes"] = [_number(t) for t in merged]
    name = analysis_for_kind(out, kind)
    if name is None:
        names = {str(a.get("name", "")) for a in out.get("analyses") or []}
        name = kind if kind not in names else f"placement_{kind}"
        out.setdefault("analyses", []).append(
            {
                "name": name,
                "label": kind_label,
                "kinds": [kind],
                "reference_minutes": _number(threshold_minutes),
            }
        )
    services = out.get("services")
    if services and services.get("files") and base_dir is not None:
        services["files"] = [
            str(p if Path(p).expanduser().is_absolute() else (base_dir / p).resolve())
            for p in services["files"]
        ]
    return out, name


def added_services(
    instance: PlacementInstance, result: PlacementResult, *, prefix: str = "place"
) -> list[dict[str, Any]]:
    """The ``[[services.add]]`` entries of the new (not fixed) chosen sites.

    A candidate at its commune's representative point is added by INSEE code
    (the point ``coverage run`` gives it), any other by its Lambert-93 ``x``/``y``.
    """
    cand = instance.candidates
    communes = instance.territory.communes.set_index("insee_code")
    label = _kind_label(instance)
    out = []
    for j in result.added:
        row = cand.iloc[int(j)]
        code = str(row["insee_code"] or "")
        entry: dict[str, Any] = {
            "service_id": _service_id(prefix, instance.kind or "site", str(row["candidate_id"])),
            "kind": instance.kind or "",
            "name": f"{label} proposé : {row['name']}",
        }
        at_point = (
            code in communes.index
            and abs(float(communes.at[code, "point_x"]) - row.geometry.x) < 0.01
            and abs(float(communes.at[code, "point_y"]) - row.geometry.y) < 0.01
        )
        if at_point:
            entry["insee_code"] = code
        else:
            entry["x"] = round(float(row.geometry.x), 2)
            entry["y"] = round(float(row.geometry.y), 2)
        entry["status"] = "planned"
        capacity = float(row["capacity"])
        if math.isfinite(capacity):
            entry["capacity"] = capacity
        out.append(entry)
    return out


def placement_scenario(
    base: Mapping[str, Any],
    instance: PlacementInstance,
    result: PlacementResult,
    *,
    name: str,
    label: str,
    description: str,
    remove: Sequence[str] = (),
) -> dict[str, Any]:
    """The base scenario (from :func:`prepare_base`) with the new sites added.

    ``remove`` lists the ``service_id`` of sites the new scenario leaves out (the
    open sites of the kind when the placement does not keep them,
    ``--no-existing``): a site the base adds itself (``[[services.add]]``) is
    dropped from that list, a catalogue site goes to ``[services] remove``. The
    scenario then counts exactly the chosen sites for the kind.
    """
    out = json.loads(json.dumps(base))
    head = out.setdefault("scenario", {})
    head["name"] = name
    head["label"] = label
    head["description"] = description
    services = out.setdefault("services", {})
    gone = {str(s) for s in remove}
    kept = [a for a in services.get("add", []) if str(a.get("service_id")) not in gone]
    from_base = {str(a.get("service_id")) for a in services.get("add", [])}
    from_catalogue = sorted(gone - from_base)
    if from_catalogue:
        services["remove"] = sorted({*services.get("remove", []), *from_catalogue})
    services["add"] = [*kept, *added_services(instance, result)]
    return out


def scenario_toml(raw: Mapping[str, Any], *, header: str = "") -> str:
    """Write a scenario (plain data) as TOML text that ``load_scenario`` reads.

    Raises
    ------
    coverage.errors.DataError
        For a value TOML cannot hold (NaN, infinity, None), naming its key.
    """
    return tomlio.dumps(raw, header=header, order=SCENARIO_TOP_ORDER, max_table_depth=1)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _service_id(prefix: str, kind: str, candidate_id: str) -> str:
    text = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{prefix}-{kind}-{candidate_id}")
    return text.strip("-")


def _kind_label(instance: PlacementInstance) -> str:
    return str(instance.settings.get("kind_label") or instance.kind or "Site")


# --- before / after ------------------------------------------------------------------------------


@dataclass(eq=False)
class PlacementEvaluation:
    """Coverage of a kind before and after the placement, as ``coverage run`` measures it.

    Attributes
    ----------
    analysis
        Name of the scenario analysis of the kind.
    threshold_minutes
        The placement threshold ``T``.
    before, after
        The access results of the base and of the new scenario (``before`` is None
        when the base scenario has no site of the kind: nobody is covered).
    communes
        Per commune (see :func:`evaluate`).
    cantons
        Per canton (Auch on its own line, pseudo-canton ``3299``): the canton
        tables of ``coverage run`` for the two scenarios side by side.
    """

    analysis: str
    threshold_minutes: float
    before: ServiceAccess | None
    after: ServiceAccess
    communes: pd.DataFrame
    cantons: pd.DataFrame

    def summary(self) -> dict[str, Any]:
        """Headline figures (population within ``T`` before and after, newly covered)."""
        key = threshold_key(self.threshold_minutes)
        total = int(self.communes["population"].sum())
        before = int(self.communes[f"pop_within_{key}_before"].sum())
        after = int(self.communes[f"pop_within_{key}_after"].sum())
        return {
            "analysis": self.analysis,
            "threshold_minutes": self.threshold_minutes,
            "population": total,
            "pop_within_before": before,
            "pop_within_after": after,
            "pop_newly_within": after - before,
            "share_within_before": round(before / total, 4) if total else None,
            "share_within_after": round(after / total, 4) if total else None,
            "communes_gaining": int((self.communes[f"pop_newly_within_{key}"] > 0).sum()),
            "minutes_mean_before": _territory_mean(self.before),
            "minutes_mean_after": _territory_mean(self.after),
            "method": "cellules de population (coverage.access), comme coverage run",
        }


def _territory_mean(result: ServiceAccess | None) -> float | None:
    """The territory's mean time, as ``coverage run`` reports it (reachable inhabitants)."""
    if result is None:
        return None
    value = float(result.table("departement")["minutes_mean"].iat[0])
    return round(value, 2) if np.isfinite(value) else None


def scenario_selection(
    scenario: Scenario, catalogue: Any, territory: Any, analysis: str
) -> gpd.GeoDataFrame:
    """The services a run of ``scenario`` counts for one analysis (empty when it has none).

    Raises
    ------
    coverage.errors.ConfigError
        Scenario mistakes other than an analysis without any service.
    """
    try:
        selections, _ = select_services(
            scenario, catalogue.frame, territory, known_kinds=catalogue.kinds
        )
    except ConfigError as exc:
        if f"analysis '{analysis}': no service" in str(exc):
            return catalogue.frame.iloc[0:0].copy()
        raise
    return selections[analysis]


def evaluate(
    context: AccessContext,
    before_services: gpd.GeoDataFrame,
    after_services: gpd.GeoDataFrame,
    *,
    analysis: str,
    label: str,
    thresholds_minutes: tuple[float, ...],
    threshold_minutes: float,
    reference_minutes: float | None = None,
    commune_zone: Mapping[str, str] | None = None,
) -> PlacementEvaluation:
    """Measure a kind's coverage with the sites before and after, per commune and canton.

    Parameters
    ----------
    context
        The run's access context (population cells and commune points joined to the
        network).
    before_services, after_services
        The services the base and the new scenario count for the analysis.
    analysis, label
        Name and French label of the analysis.
    thresholds_minutes
        The scenario's thresholds (``threshold_minutes`` among them).
    threshold_minutes
        The placement threshold ``T``.
    reference_minutes
        The analysis' reference threshold.
    commune_zone
        INSEE code -> placement zone, added as a column.

    Returns
    -------
    PlacementEvaluation
        ``communes``: ``insee_code``, ``name``, ``canton_code``, ``canton_name``,
        ``zone``, ``population``, ``minutes_mean_before``/``_after``,
        ``minutes_point_before``/``_after``, ``nearest_before``/``_after`` (site
        names), ``pop_unreachable_after``, for each threshold ``pop_within_<T>_before``
        and ``_after``, and ``pop_newly_within_<T>``.
    """
    options = {
        "name": analysis,
        "label": label,
        "thresholds_minutes": thresholds_minutes,
        "reference_minutes": reference_minutes,
    }
    after = service_access(context, after_services, **options)
    before = service_access(context, before_services, **options) if len(before_services) else None
    a = after.communes
    frame = a[["insee_code", "name", "canton_code", "canton_name", "population"]].copy()
    zones = {str(code): str(zone) for code, zone in dict(commune_zone or {}).items()}
    frame.insert(4, "zone", [zones.get(str(code), "") for code in frame["insee_code"]])
    if before is not None:
        b = before.communes
        frame["minutes_mean_before"] = b["minutes_mean"].to_numpy()
        frame["minutes_point_before"] = b["minutes_point"].to_numpy()
        frame["nearest_before"] = b["nearest_service_name"].to_numpy()
    else:
        frame["minutes_mean_before"] = np.nan
        frame["minutes_point_before"] = np.nan
        frame["nearest_before"] = ""
    frame["minutes_mean_after"] = a["minutes_mean"].to_numpy()
    frame["minutes_point_after"] = a["minutes_point"].to_numpy()
    frame["nearest_after"] = a["nearest_service_name"].to_numpy()
    frame["pop_unreachable_before"] = (
        before.communes["pop_unreachable"].to_numpy() if before is not None else a["population"]
    )
    frame["pop_unreachable_after"] = a["pop_unreachable"].to_numpy()
    for t in after.thresholds_minutes:
        key = threshold_key(t)
        within_after = a[f"pop_within_{key}"].to_numpy()
        within_before = (
            before.communes[f"pop_within_{key}"].to_numpy()
            if before is not None
            else np.zeros(len(a), dtype=np.int64)
        )
        frame[f"pop_within_{key}_before"] = within_before
        frame[f"pop_within_{key}_after"] = within_after
        frame[f"pop_newly_within_{key}"] = within_after - within_before
    cantons = _canton_table(before, after, after.thresholds_minutes)
    return PlacementEvaluation(
        analysis=analysis,
        threshold_minutes=float(threshold_minutes),
        before=before,
        after=after,
        communes=frame,
        cantons=cantons,
    )


def _canton_table(
    before: ServiceAccess | None, after: ServiceAccess, thresholds: list[float]
) -> pd.DataFrame:
    """Per canton, before and after: :meth:`ServiceAccess.table` of both runs side by side."""
    keys = ["canton_code", "canton_name"]
    a = after.table("canton")
    b = before.table("canton") if before is not None else None
    out = a[[*keys, "communes", "population"]].copy()
    out["minutes_mean_before"] = b["minutes_mean"].to_numpy() if b is not None else np.nan
    out["minutes_mean_after"] = a["minutes_mean"].to_numpy()
    out["pop_unreachable_before"] = (
        b["pop_unreachable"].to_numpy() if b is not None else a["population"].to_numpy()
    )
    out["pop_unreachable_after"] = a["pop_unreachable"].to_numpy()
    pop = out["population"].where(out["population"] > 0)
    for t in thresholds:
        key = threshold_key(t)
        within_before = (
            b[f"pop_within_{key}"].to_numpy() if b is not None else np.zeros(len(a), np.int64)
        )
        out[f"pop_within_{key}_before"] = within_before
        out[f"pop_within_{key}_after"] = a[f"pop_within_{key}"].to_numpy()
        out[f"pop_newly_within_{key}"] = out[f"pop_within_{key}_after"] - within_before
        for suffix in ("before", "after"):
            out[f"share_within_{key}_{suffix}"] = (out[f"pop_within_{key}_{suffix}"] / pop).round(4)
    return out
