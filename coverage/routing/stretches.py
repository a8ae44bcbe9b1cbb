"""The road stretches points may join, indexed on a grid (built once per network).

A *stretch* is an undirected road segment between two nodes, open in one or both
directions. :func:`build_snap_index` lists the stretches of the usable road edges
(motorways excepted, :data:`~coverage.routing.roads.NO_SNAP_CLASSES`) in the cells
of a :data:`GRID_CELL_M` grid; :mod:`coverage.routing.snap` joins points to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from coverage.routing.kernels import ranges
from coverage.routing.roads import NO_SNAP_CLASSES, ROAD_CLASSES, RoadArrays

SAMPLE_SPACING_M = 50.0
"""Spacing of the points sampled along the stretches to list them in the grid cells."""
GRID_CELL_M = 250.0
"""Side of the cells of the stretch index, metres."""


@dataclass(frozen=True, eq=False)
class SnapIndex:
    """The road stretches points may join, with a grid index (built once per network).

    A stretch is an undirected road segment between two nodes; ``forward`` and
    ``backward`` are its directed edges (``a -> b`` and ``b -> a``, -1 when closed).
    The index is a grid of :data:`GRID_CELL_M` cells: each stretch is listed in the
    cells holding one of its points sampled every :data:`SAMPLE_SPACING_M`
    (``cell_key`` sorted, ``cell_ptr``/``cell_stretch`` CSR), and ``occupied`` is a
    KD-tree of the occupied cells' centres, for points far from every road. It holds
    a few bytes per stretch (no geometry objects), so that a national network fits.
    """

    a: np.ndarray
    b: np.ndarray
    forward: np.ndarray
    backward: np.ndarray
    x0: float
    y0: float
    n_cols: int
    n_rows: int
    cell_key: np.ndarray
    cell_ptr: np.ndarray
    cell_stretch: np.ndarray
    node_x: np.ndarray
    node_y: np.ndarray

    @property
    def n_stretches(self) -> int:
        """Number of stretches in the index."""
        return int(self.a.shape[0])

    def cells_of(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Column and row of the cell holding each point (may lie outside the grid)."""
        col = np.floor((xy[:, 0] - self.x0) / GRID_CELL_M).astype(np.int64)
        row = np.floor((xy[:, 1] - self.y0) / GRID_CELL_M).astype(np.int64)
        return col, row

    def _stretches_in(self, point: np.ndarray, col: np.ndarray, row: np.ndarray) -> tuple:
        """(point, stretch) for the stretches listed in the given cells (outside: none)."""
        inside = (col >= 0) & (col < self.n_cols) & (row >= 0) & (row < self.n_rows)
        point, key = point[inside], row[inside] * self.n_cols + col[inside]
        pos = np.minimum(np.searchsorted(self.cell_key, key), self.cell_key.size - 1)
        hit = self.cell_key[pos] == key
        point, pos = point[hit], pos[hit]
        counts = self.cell_ptr[pos + 1] - self.cell_ptr[pos]
        stretch = self.cell_stretch[ranges(self.cell_ptr[pos], counts)]
        return np.repeat(point, counts), stretch.astype(np.int64)

    def block_pairs(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(point, stretch) pairs of the stretches listed in each point's 3 x 3 block of cells.

        The block holds every stretch within ``GRID_CELL_M - SAMPLE_SPACING_M / 2`` of the
        point (a stretch that close has a sample that close, in a cell of the block).
        A stretch listed in several cells of the block comes several times.
        """
        if self.cell_key.size == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        col, row = self.cells_of(xy)
        dc, dr = np.meshgrid(np.arange(-1, 2), np.arange(-1, 2))
        point = np.repeat(np.arange(xy.shape[0], dtype=np.int64), 9)
        c = (col[:, None] + dc.ravel()[None, :]).ravel()
        r = (row[:, None] + dr.ravel()[None, :]).ravel()
        return self._stretches_in(point, c, r)

    @cached_property
    def tree(self) -> Any:
        """A shapely ``STRtree`` of the stretches, built on first use (points far from roads)."""
        import shapely

        return shapely.STRtree(shapely.linestrings(self.coords))

    @cached_property
    def samples(self) -> Any:
        """A KD-tree of points every :data:`SAMPLE_SPACING_M` along the stretches (first use).

        The nearest sample bounds a point's distance to its nearest stretch from above,
        by at most half the spacing.
        """
        start, end = self.coords[:, 0], self.coords[:, 1]
        delta = end - start
        pieces = np.maximum(1, np.ceil(np.hypot(*delta.T) / SAMPLE_SPACING_M)).astype(np.int64)
        owner = np.repeat(np.arange(self.n_stretches), pieces + 1)
        step = ranges(np.zeros(pieces.size, dtype=np.int64), pieces + 1) / np.repeat(
            pieces, pieces + 1
        )
        return cKDTree(start[owner] + step[:, None] * delta[owner])

    def nearest_bound(self, xy: np.ndarray, max_m: float) -> np.ndarray:
        """An upper bound of each point's distance to its nearest stretch (inf beyond ``max_m``)."""
        slack = SAMPLE_SPACING_M / 2
        bound, _ = self.samples.query(xy, k=1, distance_upper_bound=max_m + slack, workers=-1)
        return bound

    @property
    def coords(self) -> np.ndarray:
        """``(n_stretches, 2, 2)`` end coordinates of the stretches."""
        return np.stack(
            [
                np.column_stack([self.node_x[self.a], self.node_y[self.a]]),
                np.column_stack([self.node_x[self.b], self.node_y[self.b]]),
            ],
            axis=1,
        )

    def within(
        self, xy: np.ndarray, points: np.ndarray, radius: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(point, stretch) pairs of the stretches within ``radius`` of each listed point."""
        import shapely

        if points.size == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        pt, idx = self.tree.query(shapely.points(xy[points]), predicate="dwithin", distance=radius)
        return points[pt], idx.astype(np.int64)


def build_snap_index(network: RoadArrays, live: np.ndarray) -> SnapIndex:
    """Index the stretches points may join: usable road edges, no motorway.

    Parameters
    ----------
    network
        The road network's arrays.
    live
        Whether each road edge is usable (``TurnGraph.usable`` of the network's first
        ``n_edges`` states, :mod:`coverage.routing.turns`).

    Returns
    -------
    SnapIndex
    """
    tail, head = network.edge_tail, network.indices.astype(np.int64)
    excluded = np.array([name in NO_SNAP_CLASSES for name in ROAD_CLASSES])
    usable = live & ~excluded[network.classes]
    lo, hi = np.minimum(tail, head), np.maximum(tail, head)
    key = lo * network.n_nodes + hi
    sel = np.flatnonzero(usable)
    uniq, inverse = np.unique(key[sel], return_inverse=True)
    forward = np.full(uniq.size, -1, dtype=np.int64)
    backward = np.full(uniq.size, -1, dtype=np.int64)
    is_fwd = tail[sel] < head[sel]
    forward[inverse[is_fwd]] = sel[is_fwd]
    backward[inverse[~is_fwd]] = sel[~is_fwd]
    index_dtype = np.int32 if network.n_edges < np.iinfo(np.int32).max else np.int64
    a = (uniq // network.n_nodes).astype(index_dtype)
    b = (uniq % network.n_nodes).astype(index_dtype)
    del uniq, inverse, key, lo, hi, sel
    x0 = float(network.node_x.min()) - GRID_CELL_M
    y0 = float(network.node_y.min()) - GRID_CELL_M
    n_cols = int((network.node_x.max() - x0) // GRID_CELL_M) + 2
    n_rows = int((network.node_y.max() - y0) // GRID_CELL_M) + 2
    # (cell, stretch) pairs from points sampled along the stretches, a block at a time
    chunks = []
    block = 200_000
    for lo_s in range(0, a.size, block):
        s_idx = np.arange(lo_s, min(lo_s + block, a.size))
        ax, ay = network.node_x[a[s_idx]], network.node_y[a[s_idx]]
        dx, dy = network.node_x[b[s_idx]] - ax, network.node_y[b[s_idx]] - ay
        pieces = np.maximum(1, np.ceil(np.hypot(dx, dy) / SAMPLE_SPACING_M)).astype(np.int64)
        owner = np.repeat(np.arange(s_idx.size), pieces + 1)
        step = ranges(np.zeros(s_idx.size, dtype=np.int64), pieces + 1)
        step = step / np.repeat(pieces, pieces + 1)
        col = np.floor((ax[owner] + step * dx[owner] - x0) / GRID_CELL_M).astype(np.int64)
        row = np.floor((ay[owner] + step * dy[owner] - y0) / GRID_CELL_M).astype(np.int64)
        chunks.append(np.unique((row * n_cols + col) * max(a.size, 1) + owner + lo_s))
    pairs = np.unique(np.concatenate(chunks)) if chunks else np.zeros(0, dtype=np.int64)
    del chunks
    cell = pairs // max(a.size, 1)
    cell_key, cell_start = np.unique(cell, return_index=True)
    cell_ptr = np.append(cell_start, cell.size).astype(np.int64)
    return SnapIndex(
        a=a,
        b=b,
        forward=forward,
        backward=backward,
        x0=x0,
        y0=y0,
        n_cols=n_cols,
        n_rows=n_rows,
        cell_key=cell_key.astype(np.int64),
        cell_ptr=cell_ptr,
        cell_stretch=(pairs % max(a.size, 1)).astype(np.int32),
        node_x=network.node_x,
        node_y=network.node_y,
    )
