"""Isochrones: the areas within 10, 20, 30... minutes of a facility, as polygons.

An isochrone is drawn from a travel-time surface (:mod:`coverage.routing.surface`):
the cells whose time is within the band are polygonised with
``rasterio.features.shapes``, then the staircase outline is simplified with a
tolerance below half a cell (0.4 cell), which smooths it while keeping every
cell centre on its side: a cell's centre lies inside the band polygon exactly
when the cell's time is within the band. Bands are cumulative (the 20-minute
polygon contains the 10-minute one), per facility and merged over all
facilities. When a weight grid is given (the population surface on the same
grid), each polygon carries the sum of the weights of its cells.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio.features
import shapely
from rasterio.transform import Affine

from coverage._french import plural
from coverage.errors import QueryError
from coverage.routing.graph import RoadNetwork
from coverage.routing.kernels import shortest_reached
from coverage.routing.matrix import (
    DIRECTIONS,
    LIMIT_TOLERANCE_S,
    Direction,
    _portals,
    _same_place_pairs,
)
from coverage.routing.portals import same_edge_times
from coverage.routing.snap import AccessSettings, snap_points
from coverage.routing.surface import GridCells, travel_time_surface
from coverage.routing.turns import ranges

SIMPLIFY_CELL_FRACTION = 0.4
"""Simplification tolerance as a fraction of the cell size (must stay below 0.5)."""
MAX_BAND_MINUTES = 24 * 60


def check_bands(bands_minutes: Sequence[float]) -> list[float]:
    """Validate isochrone bands in minutes: positive, finite, strictly increasing.

    Raises
    ------
    QueryError
        Naming the offending band.
    """
    bands = list(bands_minutes)
    if not bands:
        raise QueryError("bands_minutes doit contenir au moins une bande (par ex. 10, 20, 30)")
    for value in bands:
        if not isinstance(value, int | float) or not np.isfinite(value):
            raise QueryError(f"la bande {value!r} n'est pas un nombre de minutes")
        if not 0 < value <= MAX_BAND_MINUTES:
            raise QueryError(
                f"la bande {value} min est hors de l'intervalle (0, {MAX_BAND_MINUTES}]"
            )
    if any(b <= a for a, b in itertools.pairwise(bands)):
        raise QueryError(
            f"bands_minutes doit être strictement croissant, reçu {[float(b) for b in bands]}"
        )
    return [float(b) for b in bands]


def isochrones(
    network: RoadNetwork,
    facilities: Any,
    cells: GridCells,
    *,
    bands_minutes: Sequence[float] = (10, 20, 30),
    per_facility: bool = True,
    merged: bool = True,
    direction: Direction = "to_facility",
    weights: np.ndarray | None = None,
    facility_ids: Sequence[Any] | None = None,
    access: AccessSettings | None = None,
) -> gpd.GeoDataFrame:
    """Isochrone polygons for bands of minutes, per facility and merged.

    Parameters
    ----------
    network
        The road network.
    facilities
        Facility points in the network's CRS (or snapped points).
    cells
        Routed grid cells (:func:`coverage.routing.surface.snap_grid`).
    bands_minutes
        Upper limits of the bands, increasing (cumulative polygons).
    per_facility, merged
        Which polygons to produce.
    direction
        ``to_facility`` (default: the area from which the facility is reached in
        time) or ``from_facility``.
    weights
        Optional grid of the same shape as the cells' grid (e.g. inhabitants per
        cell): each polygon gets the sum over its cells in ``weight``.
    facility_ids
        Identifiers reported in ``facility_id`` (default: the facility index).
    access
        Access-leg settings for the facilities.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``scope`` (``facility`` or ``merged``), ``facility_id`` (None for
        merged), ``minutes``, ``cells``, ``weight`` (NaN without weights),
        ``geometry`` (valid polygons, network CRS). Empty bands are omitted.

    Raises
    ------
    QueryError
        Invalid bands, direction, or a weight grid of the wrong shape.
    """
    bands = check_bands(bands_minutes)
    if direction not in DIRECTIONS:
        raise QueryError(
            f"direction doit valoir l'une de {', '.join(DIRECTIONS)}, reçu {direction!r}"
        )
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != cells.shape:
            raise QueryError(
                f"la grille des poids a la forme {tuple(int(n) for n in weights.shape)}, celle des "
                f"cellules {tuple(int(n) for n in cells.shape)}"
            )
    fac = snap_points(network, facilities, access=access, name="facilities")
    ids = list(facility_ids) if facility_ids is not None else list(range(fac.n_points))
    if len(ids) != fac.n_points:
        raise QueryError(
            f"facility_ids a {plural(len(ids), 'identifiant')} pour "
            f"{plural(fac.n_points, 'équipement')}"
        )
    cell_weight = weights[cells.rows, cells.cols] if weights is not None else None
    records: list[dict[str, Any]] = []

    if merged:
        surface = travel_time_surface(
            network, fac, cells, direction=direction, max_minutes=bands[-1]
        )
        times = surface.seconds[cells.rows, cells.cols]
        records += _band_polygons(
            times,
            cells.rows,
            cells.cols,
            cells.transform,
            bands,
            cell_weight,
            scope="merged",
            facility_id=None,
        )
    if per_facility and fac.n_candidates:
        records += _per_facility(network, fac, cells, bands, direction, cell_weight, ids)

    frame = gpd.GeoDataFrame(
        records,
        columns=["scope", "facility_id", "minutes", "cells", "weight", "geometry"],
        geometry="geometry",
        crs=network.info.crs,
    )
    return frame


def _per_facility(
    network: RoadNetwork,
    fac: Any,
    cells: GridCells,
    bands: list[float],
    direction: str,
    cell_weight: np.ndarray | None,
    ids: list[Any],
) -> list[dict[str, Any]]:
    limit = bands[-1] * 60.0 + LIMIT_TOLERANCE_S
    turns = network.turn_graph
    if direction == "to_facility":
        graph = turns.reversed
        seeds = _portals(fac, turns, "arrival")
        cell_portals = _portals(cells.snapped, turns, "departure")
        d_fac, d_cell, d_seconds = _direct(turns, cells.snapped, fac, to_facility=True)
    else:
        graph = turns.graph
        seeds = _portals(fac, turns, "departure")
        cell_portals = _portals(cells.snapped, turns, "arrival")
        d_fac, d_cell, d_seconds = _direct(turns, cells.snapped, fac, to_facility=False)
    # the cells' portals grouped by state, to find the cells a facility reaches
    by_state = np.argsort(cell_portals.state, kind="stable")
    state_start = np.searchsorted(cell_portals.state[by_state], np.arange(turns.n_states + 1))
    direct_order = np.argsort(d_fac, kind="stable")
    direct_start = np.searchsorted(d_fac[direct_order], np.arange(fac.n_points + 1))
    live = np.unique(seeds.point)
    seed_bounds = np.searchsorted(seeds.point, np.append(live, fac.n_points))
    records: list[dict[str, Any]] = []
    scratch = np.full(cells.n_cells, np.inf)
    seen = np.zeros(cells.n_cells, dtype=bool)
    rows_per_call = 64
    for lo in range(0, live.size, rows_per_call):
        chunk = live[lo : lo + rows_per_call]
        first, last = seed_bounds[lo], seed_bounds[lo + chunk.size]
        row_ptr, node, dist = shortest_reached(
            graph,
            seed_bounds[lo : lo + chunk.size + 1] - first,
            seeds.state[first:last],
            seeds.offset[first:last],
            limit=limit,
        )
        for row, f in enumerate(chunk.tolist()):
            states = node[row_ptr[row] : row_ptr[row + 1]]
            values = dist[row_ptr[row] : row_ptr[row + 1]]
            counts = state_start[states + 1] - state_start[states]
            sel = by_state[ranges(state_start[states], counts)]
            total = cell_portals.offset[sel] + np.repeat(values, counts)
            cell_idx = cell_portals.point[sel]
            mine = direct_order[direct_start[f] : direct_start[f + 1]]
            cell_idx = np.concatenate([cell_idx, d_cell[mine]])
            total = np.concatenate([total, d_seconds[mine]])
            keep = total <= limit
            cell_idx, total = cell_idx[keep], total[keep]
            if cell_idx.size == 0:
                continue
            # best time per cell, on scratch arrays reset after use
            np.minimum.at(scratch, cell_idx, total)
            seen[cell_idx] = True
            best_cells = np.flatnonzero(seen)
            best_times = scratch[best_cells].copy()
            scratch[best_cells] = np.inf
            seen[best_cells] = False
            records += _band_polygons(
                best_times,
                cells.rows[best_cells],
                cells.cols[best_cells],
                cells.transform,
                bands,
                cell_weight[best_cells] if cell_weight is not None else None,
                scope="facility",
                facility_id=ids[int(f)],
            )
    return records


def _direct(
    turns: Any, cells: Any, fac: Any, *, to_facility: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(facility, cell, seconds) of the trips that stay on one edge, and of same-place pairs."""
    if to_facility:
        cell, facility, seconds, _, _ = same_edge_times(turns, cells, fac)
    else:
        facility, cell, seconds, _, _ = same_edge_times(turns, fac, cells)
    same_cell, same_fac = _same_place_pairs(cells, fac)
    return (
        np.concatenate([facility, same_fac]),
        np.concatenate([cell, same_cell]),
        np.concatenate([seconds, np.zeros(same_cell.size)]),
    )


def _band_polygons(
    seconds: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    transform: Affine,
    bands: list[float],
    weight: np.ndarray | None,
    *,
    scope: str,
    facility_id: Any,
) -> list[dict[str, Any]]:
    """Polygonise the cells within each band (cumulative) over the cells' bounding window."""
    within = np.isfinite(seconds) & (seconds <= bands[-1] * 60.0 + LIMIT_TOLERANCE_S)
    if not within.any():
        return []
    rows, cols, seconds = rows[within], cols[within], seconds[within]
    w = weight[within] if weight is not None else None
    r0, c0 = int(rows.min()), int(cols.min())
    height, width = int(rows.max()) - r0 + 1, int(cols.max()) - c0 + 1
    window_transform = transform @ Affine.translation(c0, r0)
    tolerance = SIMPLIFY_CELL_FRACTION * abs(transform.a)
    out: list[dict[str, Any]] = []
    for band in bands:
        in_band = seconds <= band * 60.0 + LIMIT_TOLERANCE_S
        if not in_band.any():
            continue
        grid = np.zeros((height, width), dtype=np.uint8)
        grid[rows[in_band] - r0, cols[in_band] - c0] = 1
        parts = [
            shapely.geometry.shape(geom)
            for geom, value in rasterio.features.shapes(
                grid, mask=grid.astype(bool), transform=window_transform, connectivity=4
            )
            if value == 1
        ]
        polygon = shapely.MultiPolygon(parts) if len(parts) > 1 else parts[0]
        polygon = shapely.simplify(polygon, tolerance, preserve_topology=True)
        if not shapely.is_valid(polygon):
            polygon = shapely.make_valid(polygon)
        out.append(
            {
                "scope": scope,
                "facility_id": facility_id,
                "minutes": band,
                "cells": int(in_band.sum()),
                "weight": float(w[in_band].sum()) if w is not None else float("nan"),
                "geometry": polygon,
            }
        )
    return out
