"""Legs between the depot and the stops: the duration matrix, road distances and route lines.

Durations come from :func:`coverage.routing.matrix.travel_times` (access legs
included): that is the matrix every tour is solved and checked on. Distances
and route geometries come from one Dijkstra per point on the full network with
predecessors (``scipy.sparse.csgraph.dijkstra``), following the same rules as
the matrix: a point joins the network through its access legs (crow-fly ×
detour factor), and two points closer than the access limit may be joined by a
direct leg when it is faster. A leg's distance is the length of its network
edges (detour factor included) plus its access legs; its line runs through the
network nodes of the path (EPSG:2154).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import dijkstra

from coverage.errors import QueryError
from coverage.routing.graph import RoadNetwork
from coverage.routing.matrix import travel_times
from coverage.routing.snap import AccessSettings, SnappedPoints, snap_points

ROWS_PER_BLOCK = 16
"""Points searched at once (bounds the memory of the predecessor arrays)."""


@dataclass(eq=False)
class LegMatrix:
    """Travel times, road distances and paths between a few points (depot first, then stops).

    Attributes
    ----------
    seconds
        ``(n, n)`` travel times from :func:`~coverage.routing.matrix.travel_times`
        (``inf`` unreachable, ``NaN`` off the network).
    metres
        ``(n, n)`` road distance of the fastest route.
    path_seconds
        ``(n, n)`` travel time of the recovered path (equals ``seconds``).
    xy
        ``(n, 2)`` point coordinates (EPSG:2154).
    """

    seconds: np.ndarray
    metres: np.ndarray
    path_seconds: np.ndarray
    xy: np.ndarray
    _paths: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def from_matrix(
        cls, seconds: np.ndarray, xy: np.ndarray, *, metres: np.ndarray | None = None
    ) -> LegMatrix:
        """A leg matrix from given durations (your own matrix), with straight route lines.

        Parameters
        ----------
        seconds
            ``(n, n)`` durations in seconds (depot first).
        xy
            ``(n, 2)`` coordinates (for the lines and the map).
        metres
            ``(n, n)`` distances; default: straight-line distances.

        Raises
        ------
        QueryError
            Shapes that do not match, or negative durations.
        """
        seconds = np.asarray(seconds, dtype=np.float64)
        xy = np.asarray(xy, dtype=np.float64)
        n = xy.shape[0]
        if seconds.shape != (n, n) or xy.shape != (n, 2):
            raise QueryError(
                f"the matrix is {seconds.shape} for {xy.shape[0]} points; both must match"
            )
        if np.any(seconds < 0):
            raise QueryError("durations must be >= 0 seconds")
        if metres is None:
            metres = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
        paths = {(i, j): xy[[i, j]] for i in range(n) for j in range(n) if i != j}
        return cls(
            seconds=seconds,
            metres=np.asarray(metres, dtype=np.float64),
            path_seconds=seconds.copy(),
            xy=xy,
            _paths=paths,
        )

    @property
    def n_points(self) -> int:
        """Number of points."""
        return int(self.seconds.shape[0])

    def line(self, i: int, j: int) -> np.ndarray:
        """Coordinates (EPSG:2154) of the route from point ``i`` to point ``j``."""
        if i == j:
            return np.array([self.xy[i], self.xy[i]])
        return self._paths[(i, j)]

    def route_line(self, points: list[int]) -> np.ndarray:
        """Coordinates of a route through several points, in order."""
        parts = [self.line(a, b) for a, b in itertools.pairwise(points)]
        if not parts:
            return np.array([self.xy[points[0]], self.xy[points[0]]])
        out = [parts[0]]
        out.extend(p[1:] for p in parts[1:])
        return np.concatenate(out)


def _edge_lookup(network: RoadNetwork, tail: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Index of edge ``tail -> head`` in the CSR arrays (vectorised)."""
    out = np.empty(tail.shape[0], dtype=np.int64)
    for k, (u, v) in enumerate(zip(tail.tolist(), head.tolist(), strict=True)):
        lo, hi = network.indptr[u], network.indptr[u + 1]
        hits = np.flatnonzero(network.indices[lo:hi] == v)
        out[k] = lo + hits[0]
    return out


def _augmented(
    network: RoadNetwork, snapped: SnappedPoints, points: np.ndarray
) -> scipy.sparse.csr_matrix:
    """The network plus one source node per listed point, with edges along its access legs."""
    n = network.n_nodes
    m = points.size
    legs = np.isin(snapped.point, points)
    local = np.searchsorted(points, snapped.point[legs])
    counts = np.bincount(local, minlength=m)
    order = np.argsort(local, kind="stable")
    indptr = np.concatenate([network.indptr, network.indptr[-1] + np.cumsum(counts)])
    indices = np.concatenate([network.indices, snapped.node[legs][order]])
    data = np.concatenate([network.seconds, np.maximum(snapped.access_s[legs][order], 1e-9)])
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=(n + m, n + m))


def leg_matrix(
    network: RoadNetwork, xy: np.ndarray, *, access: AccessSettings | None = None
) -> LegMatrix:
    """Durations, distances and route lines between every pair of points.

    Parameters
    ----------
    network
        The road network.
    xy
        ``(n, 2)`` coordinates in the network's CRS (depot first, by convention).
    access
        Access-leg settings (default :class:`~coverage.routing.snap.AccessSettings`).

    Returns
    -------
    LegMatrix

    Raises
    ------
    QueryError
        Invalid coordinates (see :func:`~coverage.routing.snap.snap_points`).
    """
    access = access or AccessSettings()
    xy = np.asarray(xy, dtype=np.float64)
    snapped = snap_points(network, xy, access=access, name="itinerary points")
    n = snapped.n_points
    seconds = travel_times(network, snapped, snapped).seconds.copy()
    np.fill_diagonal(seconds, np.where(snapped.too_far, np.nan, 0.0))
    metres = np.full((n, n), np.inf)
    path_seconds = np.full((n, n), np.inf)
    np.fill_diagonal(metres, 0.0)
    np.fill_diagonal(path_seconds, 0.0)
    paths: dict[tuple[int, int], np.ndarray] = {}
    starts = snapped.leg_starts()
    live = np.flatnonzero(~snapped.too_far)
    nn = network.n_nodes
    for lo in range(0, live.size, ROWS_PER_BLOCK):
        block = live[lo : lo + ROWS_PER_BLOCK]
        graph = _augmented(network, snapped, block)
        dist, pred = dijkstra(
            graph, directed=True, indices=nn + np.arange(block.size), return_predecessors=True
        )
        for r, i in enumerate(block.tolist()):
            for j in live.tolist():
                if i == j:
                    continue
                legs = slice(starts[j], starts[j + 1])
                nodes = snapped.node[legs]
                total = dist[r, nodes] + snapped.access_s[legs]
                best = int(np.argmin(total))
                net_s = float(total[best])
                gap = float(np.hypot(*(xy[i] - xy[j])))
                direct_s = float(access.seconds(np.array([gap]))[0])
                if gap <= access.max_distance_m and direct_s <= net_s:
                    path_seconds[i, j] = direct_s
                    metres[i, j] = gap * access.detour_factor
                    paths[(i, j)] = np.array([xy[i], xy[j]])
                    continue
                if not np.isfinite(net_s):
                    continue
                chain = [int(nodes[best])]
                while pred[r, chain[-1]] < nn and pred[r, chain[-1]] >= 0:
                    chain.append(int(pred[r, chain[-1]]))
                chain.reverse()
                first = chain[0]
                edge_m = 0.0
                if len(chain) > 1:
                    idx = _edge_lookup(network, np.array(chain[:-1]), np.array(chain[1:]))
                    edge_m = float(network.length_m[idx].sum())
                d_in = float(
                    np.hypot(network.node_x[first] - xy[i, 0], network.node_y[first] - xy[i, 1])
                )
                d_out = float(
                    np.hypot(
                        network.node_x[chain[-1]] - xy[j, 0], network.node_y[chain[-1]] - xy[j, 1]
                    )
                )
                path_seconds[i, j] = net_s
                metres[i, j] = edge_m + (d_in + d_out) * access.detour_factor
                coords = np.column_stack([network.node_x[chain], network.node_y[chain]])
                paths[(i, j)] = np.vstack([xy[i], coords, xy[j]])
    return LegMatrix(seconds=seconds, metres=metres, path_seconds=path_seconds, xy=xy, _paths=paths)


def check_consistency(legs: LegMatrix, *, tolerance_s: float = 1.0) -> dict[str, Any]:
    """Largest gap between the matrix and the recovered paths (for tests and reports).

    Raises
    ------
    QueryError
        When a finite matrix time has no path.
    """
    finite = np.isfinite(legs.seconds)
    if np.any(finite & ~np.isfinite(legs.path_seconds)):
        raise QueryError("a reachable leg has no recovered path")
    diff = np.abs(np.where(finite, legs.seconds - legs.path_seconds, 0.0))
    return {
        "max_gap_s": float(diff.max()) if diff.size else 0.0,
        "ok": bool(diff.max() <= tolerance_s),
    }
