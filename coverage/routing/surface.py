"""Travel-time surfaces: a raster of seconds to the nearest of a set of facilities.

A surface is laid on a north-up grid (a rasterio ``Affine`` transform and a
shape, 200 m cells in EPSG:2154 by default, usually the population surface's
grid). Each cell centre joins the network where it projects on its nearest
roads (:mod:`coverage.routing.snap`); its time is the best over its portals of
``offset + time from the portal's state to the nearest facility``, from one
multi-source search over the turn graph (:mod:`coverage.routing.matrix`). The
cell's nearest facility gives the catchments. Snapping the cells is done once
per grid (:func:`snap_grid`) and reused for every set of facilities.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.transform import Affine
from scipy.spatial import cKDTree

from coverage.errors import QueryError
from coverage.routing.graph import RoadNetwork
from coverage.routing.matrix import Direction, StateTimes, state_times_to_nearest
from coverage.routing.snap import AccessSettings, SnappedPoints, snap_points

DEFAULT_CELL_SIZE_M = 200.0


@dataclass(frozen=True, eq=False)
class GridCells:
    """The cells of a grid that are routed, and how they join the network.

    Attributes
    ----------
    transform
        Grid transform (north-up, metres).
    shape
        Grid shape (rows, cols).
    rows, cols
        Row and column of each routed cell (the cells of ``mask``).
    snapped
        The cell centres joined to the network.
    """

    transform: Affine
    shape: tuple[int, int]
    rows: np.ndarray
    cols: np.ndarray
    snapped: SnappedPoints

    @property
    def n_cells(self) -> int:
        """Number of routed cells."""
        return int(self.rows.shape[0])

    @cached_property
    def tree(self) -> cKDTree:
        """KD-tree over the cell centres."""
        return cKDTree(np.column_stack([self.snapped.x, self.snapped.y]))

    @property
    def cell_size_m(self) -> float:
        """Cell width in metres."""
        return float(self.transform.a)

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Centre coordinates (x, y) of the routed cells."""
        return cell_centres(self.transform, self.rows, self.cols)

    def to_grid(self, values: np.ndarray, fill: float = np.nan) -> np.ndarray:
        """Scatter per-cell values into a full grid array (``fill`` elsewhere)."""
        values = np.asarray(values)
        out = np.full(self.shape, fill, dtype=np.result_type(values.dtype, np.asarray(fill)))
        out[self.rows, self.cols] = values
        return out


@dataclass(frozen=True, eq=False)
class TravelTimeSurface:
    """Seconds from each cell to its nearest facility, and that facility.

    Attributes
    ----------
    seconds
        Grid of seconds (float64): ``inf`` when no facility is reachable (within the
        limit), ``NaN`` outside the routed cells or for cells too far from the network.
    facility
        Grid of nearest-facility indices (int32), -1 where none.
    transform, crs
        Georeferencing of the grid.
    direction
        ``to_facility`` or ``from_facility``.
    max_seconds
        Search limit, or None.
    state_times
        The per-state result behind the surface (turn graph).
    metadata
        How the surface was made (network, access settings...).
    """

    seconds: np.ndarray
    facility: np.ndarray
    transform: Affine
    crs: str
    direction: str
    max_seconds: float | None
    state_times: StateTimes
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def minutes(self) -> np.ndarray:
        """The surface in minutes."""
        return self.seconds / 60.0

    def to_geotiff(self, path: str | Path, *, minutes: bool = True) -> Path:
        """Write the surface as a float32 GeoTIFF (minutes by default; NaN is nodata).

        Unreachable cells (``inf``) are written as nodata too, with a tag saying so.
        """
        from coverage._raster import write_geotiff

        data = (self.minutes if minutes else self.seconds).astype(np.float32)
        data = np.where(np.isfinite(data), data, np.nan).astype(np.float32)
        return write_geotiff(
            path,
            data,
            transform=self.transform,
            crs=self.crs,
            nodata=float("nan"),
            tags={
                "units": "minutes" if minutes else "seconds",
                "direction": self.direction,
                "nodata_meaning": "hors réseau, hors zone ou inaccessible",
            },
        )


def cell_centres(
    transform: Affine, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Centre coordinates of cells given by row and column indices."""
    x = transform.c + (np.asarray(cols) + 0.5) * transform.a
    y = transform.f + (np.asarray(rows) + 0.5) * transform.e
    return x, y


def grid_for_bounds(
    bounds: tuple[float, float, float, float], *, cell_size_m: float = DEFAULT_CELL_SIZE_M
) -> tuple[Affine, tuple[int, int]]:
    """A north-up grid aligned on multiples of the cell size that covers ``bounds``.

    Raises
    ------
    QueryError
        If the cell size is not positive or the bounds are empty.
    """
    if not np.isfinite(cell_size_m) or cell_size_m <= 0:
        raise QueryError(f"cell_size_m doit être un nombre de mètres positif, reçu {cell_size_m}")
    xmin, ymin, xmax, ymax = bounds
    if not (xmax > xmin and ymax > ymin):
        raise QueryError(f"limites vides {tuple(float(b) for b in bounds)}")
    x0 = np.floor(xmin / cell_size_m) * cell_size_m
    y0 = np.floor(ymin / cell_size_m) * cell_size_m
    x1 = np.ceil(xmax / cell_size_m) * cell_size_m
    y1 = np.ceil(ymax / cell_size_m) * cell_size_m
    shape = (int(round((y1 - y0) / cell_size_m)), int(round((x1 - x0) / cell_size_m)))
    return Affine(cell_size_m, 0.0, x0, 0.0, -cell_size_m, y1), shape


def snap_grid(
    network: RoadNetwork,
    transform: Affine,
    shape: tuple[int, int],
    *,
    mask: np.ndarray | None = None,
    access: AccessSettings | None = None,
    snapper: Callable[[np.ndarray], SnappedPoints] | None = None,
) -> GridCells:
    """Join the cells of a grid (those of ``mask``, or all) to the network.

    Parameters
    ----------
    network
        The road network (same CRS as the grid).
    transform, shape
        The grid.
    mask
        Boolean grid of the cells to route (e.g. populated cells, or cells inside
        the territory); all cells when None.
    access
        Access-leg settings.
    snapper
        Joins the cell centres (an ``(n, 2)`` array) instead of
        ``snap_points(network, centres, access=access)`` in this process, with the
        same answer (:meth:`coverage.routing.cluster_nearest.ClusterPoints.snap`
        joins them chunk by chunk on a Dask cluster).

    Returns
    -------
    GridCells

    Raises
    ------
    QueryError
        A mask of the wrong shape, a non north-up transform.
    """
    if transform.b != 0 or transform.d != 0 or transform.a <= 0 or transform.e >= 0:
        raise QueryError(
            "la transformation de la grille doit être orientée nord en haut "
            "(sans rotation, pas y négatif)"
        )
    if mask is None:
        rows, cols = np.indices(shape).reshape(2, -1)
    else:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != tuple(shape):
            raise QueryError(
                f"le masque a la forme {tuple(int(n) for n in mask.shape)}, la grille "
                f"{tuple(int(n) for n in shape)}"
            )
        rows, cols = np.nonzero(mask)
    x, y = cell_centres(transform, rows, cols)
    if snapper is None:
        snapped = snap_points(network, (x, y), access=access, name="cells")
    else:
        snapped = snapper(np.column_stack([x, y]))
    return GridCells(
        transform=transform,
        shape=(int(shape[0]), int(shape[1])),
        rows=rows.astype(np.int32),
        cols=cols.astype(np.int32),
        snapped=snapped,
    )


def travel_time_surface(
    network: RoadNetwork,
    facilities: Any,
    cells: GridCells,
    *,
    direction: Direction = "to_facility",
    max_minutes: float | None = None,
    access: AccessSettings | None = None,
) -> TravelTimeSurface:
    """Seconds from every routed cell to its nearest facility (access legs included).

    Parameters
    ----------
    network
        The road network.
    facilities
        Facility points in the network's CRS (or snapped points).
    cells
        The routed grid cells (:func:`snap_grid`).
    direction
        ``to_facility`` (default) or ``from_facility``.
    max_minutes
        Search limit; cells beyond it are ``inf``.
    access
        Access-leg settings for the facilities.

    Returns
    -------
    TravelTimeSurface
    """
    state_times = state_times_to_nearest(
        network, facilities, direction=direction, max_minutes=max_minutes, access=access
    )
    seconds, facility = state_times.at_points(cells.snapped)
    return TravelTimeSurface(
        seconds=cells.to_grid(seconds),
        facility=cells.to_grid(facility.astype(np.int32), fill=-1).astype(np.int32),
        transform=cells.transform,
        crs=network.info.crs,
        direction=direction,
        max_seconds=state_times.max_seconds,
        state_times=state_times,
        metadata={
            "cell_size_m": cells.cell_size_m,
            "cells_routed": cells.n_cells,
            "cells": cells.snapped.report(),
            "facilities": state_times.facilities.report(),
            "direction": direction,
        },
    )
