"""The chosen sites and zones of a placement as tables (territory CRS and WGS84).

Pure presentation of a :class:`~coverage.placement.problem.PlacementResult` on
its :class:`~coverage.jobs.placement_instance.PlacementInstance`: no routing, no
scenario (those are the job's, :mod:`coverage.jobs.place`).
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage.jobs.placement_instance import PlacementInstance
from coverage.placement.problem import PlacementResult

# --- chosen sites -------------------------------------------------------------------------


def sites_frame(
    instance: PlacementInstance,
    result: PlacementResult,
    *,
    threshold_minutes: float | None,
    added_ids: Mapping[int, str] | None = None,
) -> gpd.GeoDataFrame:
    """The chosen sites with what the model gives each (EPSG of the territory).

    Columns: ``candidate_id``, ``name``, ``insee_code``, ``commune_name``,
    ``canton_code``, ``zone``, ``zone_label``, ``status`` (``existant`` or
    ``nouveau``), ``service_id`` (the catalogue id of an existing site, the
    scenario id of a new one), ``origin``, ``demand_population`` (model demand
    assigned to the site: nearest open site), ``covered_population`` (of it,
    within ``T``), ``minutes_mean`` (population-weighted, model times).
    """
    problem = instance.problem
    cand = instance.candidates
    cantons = instance.territory.communes.set_index("insee_code")["canton_code"]
    w = problem.weights
    rows = []
    for j in result.chosen:
        j = int(j)
        mine = result.assignment == j
        seconds = result.assignment_s[mine]
        weight = w[mine]
        covered = None
        if threshold_minutes is not None:
            covered = float(weight[seconds <= threshold_minutes * 60.0 + 1e-6].sum())
        row = cand.iloc[j]
        fixed = j in set(result.fixed.tolist())
        service_id = str(row["service_id"] or "")
        if not fixed and added_ids is not None:
            service_id = added_ids.get(j, service_id)
        code = str(row["insee_code"] or "")
        rows.append(
            {
                "candidate_id": str(row["candidate_id"]),
                "name": str(row["name"]),
                "insee_code": code,
                "commune_name": str(row["commune_name"] or ""),
                "canton_code": str(cantons.get(code, "")) if code else "",
                "zone": str(row["zone"] or ""),
                "zone_label": str(row["zone_label"] or ""),
                "status": "existant" if fixed else "nouveau",
                "service_id": service_id,
                "origin": str(row["origin"]),
                "demand_population": round(float(weight.sum()), 1),
                "covered_population": None if covered is None else round(covered, 1),
                "minutes_mean": round(float((weight * seconds).sum() / weight.sum()) / 60.0, 2)
                if weight.sum() > 0 and np.isfinite(seconds).all()
                else None,
                "geometry": row.geometry,
            }
        )
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=instance.territory.crs)
    return frame.sort_values(["status", "zone", "name"], ascending=[False, True, True]).reset_index(
        drop=True
    )


def zones_frame(instance: PlacementInstance, result: PlacementResult) -> pd.DataFrame:
    """Zones with their bounds and the sites chosen in each (empty without zones)."""
    table = instance.zones.copy()
    if table.empty:
        return table
    problem = instance.problem
    zone_of, lo, hi = problem.zone_table()
    position = {z: i for i, z in enumerate(problem.zone_names)}
    chosen_zone = zone_of[result.chosen]
    names = instance.candidates["name"].to_numpy()
    table["min_sites"] = [int(lo[position[z]]) for z in table["zone"]]
    table["max_sites"] = [
        int(hi[position[z]]) if np.isfinite(hi[position[z]]) else None for z in table["zone"]
    ]
    table["sites"] = [int((chosen_zone == position[z]).sum()) for z in table["zone"]]
    table["chosen"] = [
        ", ".join(str(n) for n in names[result.chosen[chosen_zone == position[z]]])
        for z in table["zone"]
    ]
    return table


def to_wgs84_table(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    """A point layer as a plain table with ``lon``/``lat`` (WGS84), geometry dropped."""
    wgs = frame.to_crs("EPSG:4326")
    out = pd.DataFrame(wgs.drop(columns="geometry"))
    out["lon"] = wgs.geometry.x.round(6)
    out["lat"] = wgs.geometry.y.round(6)
    return out
