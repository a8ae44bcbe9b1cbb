"""Join points to the road network: nearest nodes and access legs.

The network has gaps: people live off the roads it holds. Every point (a
commune point, a population cell, a service) therefore joins the network at
its ``k`` nearest nodes, each through an *access leg* whose time is

    crow-fly distance × access detour factor / access speed

and a route from or to the point may use whichever of its legs is best. Two
points less than ``max_distance_m`` apart may also be joined directly by such a
leg (a *direct leg*), so that a point is 0 s from itself and a facility in the
same village is not reached through the nearest junction and back. A point
whose nearest node is farther than ``max_distance_m`` is *flagged* (``too_far``)
and gets no legs: queries answer NaN for it, never a silent number. A point far
outside the network's extent (``outside_margin_m`` beyond its bounding box) is an
error, because that is almost always a coordinate-system mistake.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from coverage.errors import QueryError
from coverage.routing.graph import RoadNetwork


@dataclass(frozen=True)
class AccessSettings:
    """How points join the network.

    Attributes
    ----------
    speed_kph
        Speed of the access leg (the local roads the network lacks), km/h.
    detour_factor
        Road distance / crow-fly distance of the access leg.
    max_distance_m
        Beyond this distance to the nearest node a point is flagged, not routed.
    k_nodes
        Number of nearest nodes a point may join.
    outside_margin_m
        A point farther than this outside the network's bounding box is an error.
    """

    speed_kph: float = 30.0
    detour_factor: float = 1.3
    max_distance_m: float = 5_000.0
    k_nodes: int = 3
    outside_margin_m: float = 50_000.0

    def __post_init__(self) -> None:
        for name in ("speed_kph", "detour_factor", "max_distance_m", "outside_margin_m"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not np.isfinite(value) or value <= 0:
                raise QueryError(
                    f"access setting '{name}' must be a positive number, got {value!r}"
                )
        if self.detour_factor < 1.0:
            raise QueryError(
                f"access setting 'detour_factor' must be >= 1 (a road is never shorter than a "
                f"straight line), got {self.detour_factor}"
            )
        if not isinstance(self.k_nodes, int) or not 1 <= self.k_nodes <= 16:
            raise QueryError(
                f"access setting 'k_nodes' must be an integer in 1..16, got {self.k_nodes!r}"
            )

    def seconds(self, distance_m: np.ndarray) -> np.ndarray:
        """Access time in seconds for crow-fly distances in metres."""
        return (
            np.asarray(distance_m, dtype=np.float64) * self.detour_factor / (self.speed_kph / 3.6)
        )

    def describe(self) -> dict[str, Any]:
        """The settings as a plain dict (for result metadata)."""
        return asdict(self)


@dataclass(frozen=True, eq=False)
class SnappedPoints:
    """Points joined to a network: one row per (point, entry node) leg.

    Attributes
    ----------
    n_points
        Number of points.
    point
        For each leg, the index of its point (sorted ascending).
    node
        For each leg, the network node it joins.
    access_s
        For each leg, the access time in seconds.
    distance_m
        For each point, the crow-fly distance to its nearest node.
    too_far
        For each point, whether it is beyond ``max_distance_m`` (and has no leg).
    x, y
        Coordinates of the points (for direct legs between close points).
    settings
        The access settings used.
    """

    n_points: int
    point: np.ndarray
    node: np.ndarray
    access_s: np.ndarray
    distance_m: np.ndarray
    too_far: np.ndarray
    x: np.ndarray
    y: np.ndarray
    settings: AccessSettings = field(default_factory=AccessSettings)

    @property
    def n_legs(self) -> int:
        """Number of access legs."""
        return int(self.point.shape[0])

    def leg_starts(self) -> np.ndarray:
        """Index of each point's first leg (``n_points + 1`` entries, CSR-like)."""
        counts = np.bincount(self.point, minlength=self.n_points)
        starts = np.zeros(self.n_points + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        return starts

    def nearest_node(self) -> np.ndarray:
        """Each point's nearest node (-1 when flagged too far)."""
        out = np.full(self.n_points, -1, dtype=np.int64)
        if self.n_legs:
            starts = self.leg_starts()
            has = starts[1:] > starts[:-1]
            out[has] = self.node[starts[:-1][has]]
        return out

    def report(self) -> dict[str, Any]:
        """Summary of the snapping (for result metadata)."""
        finite = self.distance_m[np.isfinite(self.distance_m)]
        return {
            "points": self.n_points,
            "too_far": int(self.too_far.sum()),
            "distance_to_network_m": {
                "median": float(np.median(finite)) if finite.size else None,
                "p90": float(np.percentile(finite, 90)) if finite.size else None,
                "max": float(finite.max()) if finite.size else None,
            },
            "access": self.settings.describe(),
        }


def as_xy(points: Any, *, name: str = "points", crs: str | None = None) -> np.ndarray:
    """Return point coordinates as a float array of shape (n, 2).

    Parameters
    ----------
    points
        An (n, 2) array-like of x, y; a pair ``(x_array, y_array)``; a shapely point
        array, GeoSeries or GeoDataFrame (its CRS must equal ``crs`` when both are set).
    name
        Name of the argument, used in error messages.
    crs
        The network's CRS, to check a GeoSeries against.

    Raises
    ------
    QueryError
        If the input cannot be read as points, has the wrong CRS, or holds NaN.
    """
    geometry = getattr(points, "geometry", None)
    if geometry is not None and hasattr(geometry, "crs"):
        if crs is not None and geometry.crs is not None and not geometry.crs.equals(crs):
            raise QueryError(
                f"{name} are in {geometry.crs.to_string()}, the network in {crs}; "
                f"use .to_crs('{crs}') first"
            )
        import shapely

        xy = shapely.get_coordinates(geometry.values)
        if xy.shape[0] != len(geometry):
            raise QueryError(f"{name} must be points (one coordinate pair per row)")
    elif isinstance(points, tuple) and len(points) == 2:
        xy = np.column_stack([np.asarray(points[0], float), np.asarray(points[1], float)])
    else:
        arr = np.asarray(points)
        if arr.dtype == object:
            import shapely

            xy = shapely.get_coordinates(arr)
        else:
            xy = np.asarray(arr, dtype=np.float64)
            if xy.ndim == 1 and xy.size == 2:
                xy = xy.reshape(1, 2)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise QueryError(
            f"{name} must be an (n, 2) array of x, y coordinates, got shape {xy.shape}"
        )
    bad = ~np.isfinite(xy).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise QueryError(
            f"{name}[{first}] has a missing or infinite coordinate ({xy[first].tolist()})"
        )
    return xy


def snap_points(
    network: RoadNetwork,
    points: Any,
    *,
    access: AccessSettings | None = None,
    name: str = "points",
) -> SnappedPoints:
    """Join points to their nearest nodes with access legs.

    Parameters
    ----------
    network
        The road network.
    points
        Points in the network's CRS (see :func:`as_xy`), or an existing
        :class:`SnappedPoints`, returned as is.
    access
        Access settings (defaults: 30 km/h, detour 1.3, 3 nodes, flagged beyond 5 km).
    name
        Argument name for error messages.

    Returns
    -------
    SnappedPoints

    Raises
    ------
    QueryError
        NaN coordinates, or a point far outside the network's extent.
    """
    if isinstance(points, SnappedPoints):
        return points
    access = access or AccessSettings()
    xy = as_xy(points, name=name, crs=network.info.crs)
    n = xy.shape[0]
    if n == 0:
        empty_i = np.empty(0, dtype=np.int64)
        return SnappedPoints(
            0, empty_i, empty_i, np.empty(0), np.empty(0), np.empty(0, bool), access
        )
    _check_extent(network, xy, access.outside_margin_m, name)
    k = min(access.k_nodes, network.n_nodes)
    dist, idx = network.kdtree.query(xy, k=k)
    dist = dist.reshape(n, k)
    idx = idx.reshape(n, k).astype(np.int64)
    nearest = dist[:, 0]
    too_far = nearest > access.max_distance_m
    keep = ~too_far
    point = np.repeat(np.arange(n, dtype=np.int64)[keep], k)
    return SnappedPoints(
        n_points=n,
        point=point,
        node=idx[keep].ravel(),
        access_s=access.seconds(dist[keep].ravel()),
        distance_m=nearest,
        too_far=too_far,
        x=xy[:, 0].copy(),
        y=xy[:, 1].copy(),
        settings=access,
    )


def direct_pairs(a: SnappedPoints, b: SnappedPoints) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of points of ``a`` and ``b`` close enough for a direct leg, with its time.

    Only points on the network (not flagged) are paired, within ``a``'s
    ``max_distance_m``.

    Returns
    -------
    tuple of arrays
        Index in ``a``, index in ``b``, direct time in seconds.
    """
    from scipy.spatial import cKDTree

    ia = np.flatnonzero(~a.too_far)
    ib = np.flatnonzero(~b.too_far)
    if ia.size == 0 or ib.size == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0)
    tree_a = cKDTree(np.column_stack([a.x[ia], a.y[ia]]))
    tree_b = cKDTree(np.column_stack([b.x[ib], b.y[ib]]))
    pairs = tree_a.sparse_distance_matrix(tree_b, a.settings.max_distance_m, output_type="ndarray")
    return ia[pairs["i"]], ib[pairs["j"]], a.settings.seconds(pairs["v"])


def nearest_direct(
    points: SnappedPoints, facilities: SnappedPoints
) -> tuple[np.ndarray, np.ndarray]:
    """For each point, the direct-leg time to its crow-fly nearest facility (inf beyond reach).

    A direct leg's time grows with distance, so the crow-fly nearest facility is
    the best one by direct leg.

    Returns
    -------
    tuple of arrays
        Seconds (inf when no facility is within ``max_distance_m`` or the point is
        flagged) and facility index (-1 when none).
    """
    from scipy.spatial import cKDTree

    seconds = np.full(points.n_points, np.inf)
    facility = np.full(points.n_points, -1, dtype=np.int64)
    live_f = np.flatnonzero(~facilities.too_far)
    live_p = np.flatnonzero(~points.too_far)
    if live_f.size == 0 or live_p.size == 0:
        return seconds, facility
    tree = cKDTree(np.column_stack([facilities.x[live_f], facilities.y[live_f]]))
    dist, idx = tree.query(
        np.column_stack([points.x[live_p], points.y[live_p]]),
        k=1,
        distance_upper_bound=points.settings.max_distance_m,
    )
    ok = np.isfinite(dist)
    seconds[live_p[ok]] = points.settings.seconds(dist[ok])
    facility[live_p[ok]] = live_f[idx[ok]]
    return seconds, facility


def _check_extent(network: RoadNetwork, xy: np.ndarray, margin: float, name: str) -> None:
    xmin, xmax = network.node_x.min() - margin, network.node_x.max() + margin
    ymin, ymax = network.node_y.min() - margin, network.node_y.max() + margin
    outside = (xy[:, 0] < xmin) | (xy[:, 0] > xmax) | (xy[:, 1] < ymin) | (xy[:, 1] > ymax)
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        x, y = xy[first]
        raise QueryError(
            f"{name}[{first}] at ({x:.6g}, {y:.6g}) lies outside the road network's extent "
            f"(x {xmin + margin:.0f}..{xmax - margin:.0f}, "
            f"y {ymin + margin:.0f}..{ymax - margin:.0f} in {network.info.crs}); "
            "are the coordinates in that CRS (metres, not lon/lat)?"
        )
