"""Isochrones: the areas within 10, 20, 30... minutes of a facility, as polygons.

An isochrone is drawn from a travel-time surface (:mod:`coverage.routing.surface`):
the outline of the cells whose time is within the band is traced
(:func:`cells_outline`: cells joined by their sides, every corner of the
staircase cut at half a cell; by the C kernel when it is built, else with numpy,
both giving the same rings), which smooths it while keeping every cell centre
on its side: a cell's centre lies inside the band polygon exactly when the
cell's time is within the band. The polygons are valid by construction. Bands
are cumulative (the 20-minute polygon contains the 10-minute one), per facility
and merged over all facilities. When a weight grid is given (the population
surface on the same grid), each polygon carries the sum of the weights of its
cells.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from rasterio.transform import Affine

from coverage._french import plural
from coverage.errors import QueryError
from coverage.routing.graph import RoadNetwork
from coverage.routing.kernels import (
    best_per_cell,
    kernel_backend,
    outline_rings,
    ranges,
    shortest_reached,
)
from coverage.routing.matrix import DIRECTIONS, LIMIT_TOLERANCE_S, Direction, _portals
from coverage.routing.snap import AccessSettings, SnappedPoints, snap_points
from coverage.routing.surface import GridCells, travel_time_surface

MAX_BAND_MINUTES = 24 * 60
RECORD_KEYS = ("scope", "facility_id", "minutes", "cells", "weight", "geometry")
"""Keys of the rows of :func:`isochrone_records` (the columns of :func:`isochrones`)."""


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
    records = isochrone_records(
        network,
        facilities,
        cells,
        bands_minutes=bands_minutes,
        per_facility=per_facility,
        merged=merged,
        direction=direction,
        weights=weights,
        facility_ids=facility_ids,
        access=access,
    )
    return records_frame(records, network.info.crs)


def records_frame(records: list[dict[str, Any]], crs: Any) -> gpd.GeoDataFrame:
    """The isochrone layer made of :func:`isochrone_records` records (columns ``RECORD_KEYS``)."""
    return gpd.GeoDataFrame(records, columns=list(RECORD_KEYS), geometry="geometry", crs=crs)


def isochrone_records(
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
) -> list[dict[str, Any]]:
    """The rows of :func:`isochrones` as plain dicts (keys :data:`RECORD_KEYS`).

    For callers that serialise the polygons at once (the API), without the cost
    of a GeoDataFrame. Same parameters and errors as :func:`isochrones`.
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
    records: list[dict[str, Any]] = []

    if merged:
        cell_weight = weights[cells.rows, cells.cols] if weights is not None else None
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
        records += _per_facility(network, fac, cells, bands, direction, weights, ids)
    return records


def _per_facility(
    network: RoadNetwork,
    fac: Any,
    cells: GridCells,
    bands: list[float],
    direction: str,
    weights: np.ndarray | None,
    ids: list[Any],
) -> list[dict[str, Any]]:
    limit = bands[-1] * 60.0 + LIMIT_TOLERANCE_S
    turns = network.turn_graph
    if direction == "to_facility":
        graph = turns.reversed
        seeds = _portals(fac, turns, "arrival")
        cell_role = "departure"
    else:
        graph = turns.graph
        seeds = _portals(fac, turns, "departure")
        cell_role = "arrival"
    d_fac, d_cell, d_seconds = _direct(turns, cells, fac, to_facility=direction == "to_facility")
    # the cells' portals grouped by state, to find the cells a facility reaches
    state_start, portal_offset, portal_cell = _portals_by_state(cells.snapped, turns, cell_role)
    direct_order = np.argsort(d_fac, kind="stable")
    direct_start = np.searchsorted(d_fac[direct_order], np.arange(fac.n_points + 1))
    live = np.unique(seeds.point)
    seed_bounds = np.searchsorted(seeds.point, np.append(live, fac.n_points))
    records: list[dict[str, Any]] = []
    scratch = np.full(cells.n_cells, np.inf)
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
            # best time per cell over its portals and direct trips, within the limit
            mine = direct_order[direct_start[f] : direct_start[f + 1]]
            best_cells, best_times = best_per_cell(
                state_start,
                portal_offset,
                portal_cell,
                states,
                values,
                d_cell[mine],
                d_seconds[mine],
                limit=limit,
                scratch=scratch,
            )
            if best_cells.size == 0:
                continue
            best_rows, best_cols = cells.rows[best_cells], cells.cols[best_cells]
            records += _band_polygons(
                best_times,
                best_rows,
                best_cols,
                cells.transform,
                bands,
                weights[best_rows, best_cols] if weights is not None else None,
                scope="facility",
                facility_id=ids[int(f)],
            )
    return records


def _portals_by_state(
    points: SnappedPoints, turns: Any, role: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The points' portals sorted by state: where each state's run starts, offsets, points.

    Cached on the points, like their portals: a grid's cells are routed for many
    facilities (one request of the API each).
    """
    cache = points.__dict__.setdefault("_portals_by_state", {})
    key = (id(turns), role)
    if key not in cache:
        portals = _portals(points, turns, role)
        order = np.argsort(portals.state, kind="stable")
        start = np.searchsorted(portals.state[order], np.arange(turns.n_states + 1))
        cache[key] = (
            turns,
            start.astype(np.int64),
            np.ascontiguousarray(portals.offset[order], dtype=np.float64),
            np.ascontiguousarray(portals.point[order], dtype=np.int64),
        )
    return cache[key][1:]


def _candidates_by_edge(points: SnappedPoints) -> tuple[np.ndarray, np.ndarray]:
    """The points' candidates sorted by edge, and their edges (cached on the points)."""
    cache = points.__dict__.get("_candidates_by_edge")
    if cache is None:
        order = np.argsort(points.edge, kind="stable")
        cache = (order, points.edge[order])
        points.__dict__["_candidates_by_edge"] = cache
    return cache


def _direct(
    turns: Any, cells: GridCells, fac: SnappedPoints, *, to_facility: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(facility, cell, seconds) of the trips that stay on one edge, and of same-place pairs.

    The same trips as :func:`coverage.routing.portals.same_edge_times` and
    :func:`coverage.routing.matrix._same_place_pairs`, found from the facilities'
    side through indexes of the cells kept between calls, so that the cost follows
    the facilities, not the grid.
    """
    snapped = cells.snapped
    order, sorted_edge = _candidates_by_edge(snapped)
    lo = np.searchsorted(sorted_edge, fac.edge, side="left")
    hi = np.searchsorted(sorted_edge, fac.edge, side="right")
    fac_cand = np.repeat(np.arange(fac.edge.size), hi - lo)
    cell_cand = order[ranges(lo, hi - lo)]
    if to_facility:  # the cell departs, the facility is ahead on the edge
        depart, c1, arrive, c2 = snapped, cell_cand, fac, fac_cand
    else:
        depart, c1, arrive, c2 = fac, fac_cand, snapped, cell_cand
    ahead = arrive.fraction[c2] >= depart.fraction[c1]
    c1, c2 = c1[ahead], c2[ahead]
    seconds = (
        depart.access_s[c1]
        + (arrive.fraction[c2] - depart.fraction[c1]) * turns.edge_seconds[depart.edge[c1]]
        + arrive.access_s[c2]
    )
    if to_facility:
        cell, facility = snapped.point[c1], fac.point[c2]
    else:
        facility, cell = fac.point[c1], snapped.point[c2]
    # cells at the very coordinates of a facility (both on the network)
    same = cells.tree.query_ball_point(np.column_stack([fac.x, fac.y]), r=0.0)
    same_fac = np.repeat(np.arange(fac.n_points), [len(m) for m in same])
    same_cell = np.fromiter(itertools.chain.from_iterable(same), dtype=np.int64)
    keep = ~snapped.too_far[same_cell] & ~fac.too_far[same_fac]
    same_fac, same_cell = same_fac[keep], same_cell[keep]
    return (
        np.concatenate([facility, same_fac]),
        np.concatenate([cell, same_cell]).astype(np.int64, copy=False),
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
    """One record per band: the outline of the cells within the band (cumulative)."""
    within = np.isfinite(seconds) & (seconds <= bands[-1] * 60.0 + LIMIT_TOLERANCE_S)
    if not within.any():
        return []
    rows, cols, seconds = rows[within], cols[within], seconds[within]
    w = weight[within] if weight is not None else None
    masks = [seconds <= band * 60.0 + LIMIT_TOLERANCE_S for band in bands]
    kept = [k for k, mask in enumerate(masks) if mask.any()]
    # the bands' cells as layers of one grid (the window of the widest band), traced at once
    r0, c0 = int(rows.min()) - 1, int(cols.min()) - 1
    height, width = int(rows.max()) - r0 + 2, int(cols.max()) - c0 + 2
    grid = np.zeros((len(kept) * height, width), dtype=bool)
    for layer, k in enumerate(kept):
        grid[rows[masks[k]] - r0 + layer * height, cols[masks[k]] - c0] = True
    outlines = _trace_layers(grid, height, r0, c0, transform)
    return [
        {
            "scope": scope,
            "facility_id": facility_id,
            "minutes": bands[k],
            "cells": int(masks[k].sum()),
            "weight": float(w[masks[k]].sum()) if w is not None else float("nan"),
            "geometry": outline,
        }
        for k, outline in zip(kept, outlines, strict=True)
    ]


# Unit steps of the four directions, in (row, col) of the vertex grid: east, south,
# west, north (clockwise on screen, so that a left turn is ``(d + 3) % 4``).
_STEP_ROW = np.array([0, 1, 0, -1], dtype=np.int64)
_STEP_COL = np.array([1, 0, -1, 0], dtype=np.int64)


def _next_direction_table() -> np.ndarray:
    """Direction of the side leaving a vertex, by incoming direction and the four cells around.

    The cells around are coded ``NW + 2 NE + 4 SW + 8 SE``. The sides leaving the
    vertex: east when NE is in and SE out, south when SE is in and SW out, west when
    SW is in and NW out, north when NW is in and NE out. Two leave it when only two
    diagonal cells are in: the left turn is taken. Impossible cases hold -1.
    """
    table = np.full((4, 16), -1, dtype=np.int64)
    for code in range(16):
        nw, ne, sw, se = (bool(code & bit) for bit in (1, 2, 4, 8))
        leaving = [
            d
            for d, ok in enumerate([ne and not se, se and not sw, sw and not nw, nw and not ne])
            if ok
        ]
        for incoming in range(4):
            if len(leaving) == 1:
                table[incoming, code] = leaving[0]
            elif len(leaving) == 2:
                table[incoming, code] = (incoming + 3) % 4
    return table


_NEXT_DIRECTION = _next_direction_table()


def cells_outline(
    rows: np.ndarray, cols: np.ndarray, transform: Affine
) -> shapely.Polygon | shapely.MultiPolygon:
    """The outline of a set of grid cells, corners cut at half a cell.

    The cells are joined by their sides (4-connectivity: cells touching by a corner
    only are separate parts). Each ring of the staircase outline is traced with
    the cells on its left; every corner is then cut by the segment between the
    points half a cell before and after it, and vertices left on a straight line
    are dropped. A cut removes (convex corner) or adds (concave corner) a right
    triangle of legs half a cell, which holds no cell centre: a cell centre lies
    inside the outline exactly when the cell is in the set. The triangles of
    distinct corners do not overlap, so the result is valid by construction
    (rings that touched at a corner no longer do). Shells are counter-clockwise,
    holes clockwise.

    Parameters
    ----------
    rows, cols
        Row and column of each cell (no duplicates needed; at least one cell).
    transform
        The grid's north-up transform.

    Returns
    -------
    shapely.Polygon or shapely.MultiPolygon
        A Polygon when the cells form one part.
    """
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    r0, c0 = int(rows.min()) - 1, int(cols.min()) - 1
    height, width = int(rows.max()) - r0 + 2, int(cols.max()) - c0 + 2
    grid = np.zeros((height, width), dtype=bool)  # one empty cell of margin all round
    grid[rows - r0, cols - c0] = True
    return _trace_layers(grid, height, r0, c0, transform)[0]


def _trace_layers(
    grid: np.ndarray, layer_height: int, r0: int, c0: int, transform: Affine
) -> list[shapely.Polygon | shapely.MultiPolygon]:
    """The outlines of :func:`cells_outline` for layers stacked in one grid.

    ``grid`` holds ``n`` layers of ``layer_height`` rows one above the other, each
    with an empty margin all round (so that layers never touch); row ``i`` of a
    layer is row ``r0 + i`` of the grid of ``transform``, column ``j`` is
    ``c0 + j``. Tracing them together costs one pass instead of one per layer
    (the bands of an isochrone). Returns one outline per layer (an empty
    MultiPolygon for an empty layer).
    """
    height, width = grid.shape
    n_layers = height // layer_height
    pi, pj, ring_start, ring_cell, twice_area, ring_part = _rings(grid)
    # shells turn one way, holes the other (negative area in row-down, column-right axes)
    is_hole = twice_area > 0
    # each part's shell then its holes; rings closed by repeating their first vertex
    ring_order = np.lexsort((is_hole, ring_part))
    closed = np.diff(np.r_[ring_start, pi.size])[ring_order] + 1
    ring_offsets = np.r_[0, np.cumsum(closed)]
    point_order = np.arange(ring_offsets[-1]) + np.repeat(
        ring_start[ring_order] - ring_offsets[:-1], closed
    )
    point_order[ring_offsets[1:] - 1] = ring_start[ring_order]
    pi, pj = pi[point_order], pj[point_order]
    layer_row = (pi // 2) // layer_height * layer_height  # first row of the point's layer
    x = transform.c + (c0 + pj / 2.0) * transform.a
    y = transform.f + (r0 + (pi - 2 * layer_row) / 2.0) * transform.e
    shells = np.flatnonzero(~is_hole[ring_order])
    polygon_offsets = np.r_[shells, ring_order.size]
    shell_layer = ring_cell[ring_order[shells]] // width // layer_height
    per_layer = np.bincount(shell_layer, minlength=n_layers)
    outlines = shapely.from_ragged_array(
        shapely.GeometryType.MULTIPOLYGON,
        np.column_stack([x, y]),
        (ring_offsets, polygon_offsets, np.r_[0, np.cumsum(per_layer)]),
    )
    return [
        shapely.get_geometry(outline, 0) if n == 1 else outline
        for outline, n in zip(outlines.tolist(), per_layer.tolist(), strict=True)
    ]


_Rings = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _rings(grid: np.ndarray) -> _Rings:
    """The rings of the outline of a boolean grid's cells, corners cut at half a cell.

    ``grid`` has an empty cell of margin all round. Returns the rings' points
    (row, column in half-cell units, each ring unclosed, one after the other),
    where each ring starts, the cell left of its first side, twice its signed
    area (positive for holes) and the part (4-connected cells) of that cell. The
    C kernel and :func:`_rings_numpy` give the same arrays.
    """
    if kernel_backend() == "c":
        return outline_rings(grid, _NEXT_DIRECTION)
    return _rings_numpy(grid)


def _rings_numpy(grid: np.ndarray) -> _Rings:
    """:func:`_rings` with numpy: every side at once, rings found by pointer jumping."""
    height, width = grid.shape
    vcols = width + 1  # vertex (i, j) is the top-left corner of cell (i, j)
    cell = np.flatnonzero(grid)
    r, c = cell // width, cell % width

    # the boundary sides, each directed with its cell on the left: a cell's top side
    # goes west, its left side south, its bottom side east, its right side north
    flat = grid.ravel()
    top, left = ~flat[cell - width], ~flat[cell - 1]
    bottom, right = ~flat[cell + width], ~flat[cell + 1]
    corner = r * vcols + c  # the cell's top-left vertex
    start = np.concatenate(
        [corner[top] + 1, corner[left], corner[bottom] + vcols, corner[right] + vcols + 1]
    )
    direction = np.repeat(
        np.arange(4, dtype=np.int64)[[2, 1, 0, 3]],
        [int(top.sum()), int(left.sum()), int(bottom.sum()), int(right.sum())],
    )
    side_cell = np.concatenate([cell[top], cell[left], cell[bottom], cell[right]])
    end = start + _STEP_ROW[direction] * vcols + _STEP_COL[direction]
    n_sides = start.size

    # the next side leaves the end vertex in the direction its four cells give
    # (a left turn where two leave it: corner-touching cells stay apart)
    vi, vj = end // vcols, end % vcols
    around = (
        flat[(vi - 1) * width + vj - 1]
        + 2 * flat[(vi - 1) * width + vj]
        + 4 * flat[vi * width + vj - 1]
        + 8 * flat[vi * width + vj]
    )
    side_at = np.empty(vcols * (height + 1) * 4, dtype=np.int64)
    side_at[start * 4 + direction] = np.arange(n_sides)
    successor = side_at[end * 4 + _NEXT_DIRECTION[direction, around]]

    # the rings (cycles of the successor), each walked from its smallest side
    ring_of = _cycle_minimum(successor)
    head = np.flatnonzero(ring_of == np.arange(n_sides))
    walk = np.lexsort((-_distance_to_tail(successor, head), ring_of))
    ring_of = ring_of[walk]
    d_in, d_out = direction[walk], direction[successor[walk]]
    corner = d_in != d_out
    ring_of, corner_at, d_in, d_out = (
        ring_of[corner],
        end[walk][corner],
        d_in[corner],
        d_out[corner],
    )
    # cut points half a cell before and after each corner, in half-cell units
    vi, vj = 2 * (corner_at // vcols), 2 * (corner_at % vcols)
    pi = np.column_stack([vi - _STEP_ROW[d_in], vi + _STEP_ROW[d_out]]).ravel()
    pj = np.column_stack([vj - _STEP_COL[d_in], vj + _STEP_COL[d_out]]).ravel()
    ring_of = np.repeat(ring_of, 2)
    pi, pj, ring_of = _drop_straight(pi, pj, ring_of)

    following, ring_start = _cyclic_next(ring_of)
    twice_area = np.add.reduceat(pj * pi[following] - pj[following] * pi, ring_start)
    # the part (4-connected cells) of a ring: that of the cell left of its first side
    from scipy.ndimage import label

    parts, _ = label(grid)
    ring_cell = side_cell[head]
    return pi, pj, ring_start, ring_cell, twice_area, parts.ravel()[ring_cell].astype(np.int64)


def _cycle_minimum(successor: np.ndarray) -> np.ndarray:
    """The smallest element of each element's cycle of the permutation ``successor``."""
    smallest = np.arange(successor.size)
    jump = successor
    while True:  # pointer jumping: after k rounds, the minimum of 2**k elements ahead
        wider = np.minimum(smallest, smallest[jump])
        # unchanged for every element: the windows of 2**k elements chained round each
        # cycle have equal minima, which is the cycle's minimum
        if np.array_equal(wider, smallest):
            return smallest
        smallest = wider
        jump = jump[jump]


def _distance_to_tail(successor: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Steps from each element to the end of its cycle of ``successor`` cut before ``head``.

    Walking a cycle from its head visits its elements by decreasing distance.
    """
    n = successor.size
    predecessor = np.empty(n, dtype=np.int64)
    predecessor[successor] = np.arange(n)
    tail = predecessor[head]
    jump = successor.copy()
    jump[tail] = tail
    to_tail = np.ones(n, dtype=np.int64)
    to_tail[tail] = 0
    while True:  # pointer jumping: the distance covered doubles each round
        landed = jump[jump]
        if np.array_equal(landed, jump):
            return to_tail
        to_tail += to_tail[jump]
        jump = landed


def _cyclic_next(ring_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the next vertex of each vertex's ring (rings stored one after the other)."""
    ring_start = np.flatnonzero(np.r_[True, ring_of[1:] != ring_of[:-1]])
    following = np.arange(1, ring_of.size + 1)
    following[np.r_[ring_start[1:], ring_of.size] - 1] = ring_start
    return following, ring_start


def _drop_straight(
    pi: np.ndarray, pj: np.ndarray, ring_of: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop repeated vertices, then those on the segment of their two neighbours."""
    following, _ = _cyclic_next(ring_of)
    keep = (pi != pi[following]) | (pj != pj[following])
    pi, pj, ring_of = pi[keep], pj[keep], ring_of[keep]
    following, _ = _cyclic_next(ring_of)
    previous = np.empty_like(following)
    previous[following] = np.arange(following.size)
    cross = (pi - pi[previous]) * (pj[following] - pj) - (pj - pj[previous]) * (pi[following] - pi)
    keep = cross != 0
    return pi[keep], pj[keep], ring_of[keep]
