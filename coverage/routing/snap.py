"""Join points to the road network: projection onto the nearest road edges, access legs.

A point (a population cell, a commune point, a service) joins the network where
it *projects* onto a road: on its nearest drivable edge, and on the other edges
within ``nearest + max(candidate_margin_m, nearest)`` of it (up to
``max_candidates`` road stretches; :meth:`AccessSettings.candidate_radius`: a
point on a road joins the roads of its junction, not one across a river 100 m
away), each in the directions it is open to (both for a two-way road, one
for a one-way). A *candidate* is one such (edge, position) pair: the point sits
at ``fraction`` of the edge (0 at its tail, 1 at its head), so that leaving it
along the edge takes ``(1 - fraction) × edge seconds`` and reaching it
``fraction × edge seconds`` (one edge has one speed). The *access leg* is only
the stretch from the point to its projection:

    access seconds = distance to the projection × detour factor / access speed

so a point lying on a road has an access leg of about zero, and a route from or
to a point uses whichever candidate is best. There is no crow-fly shortcut
between points: two points near the same road meet along it.

Points never join motorways (:data:`~coverage.routing.graph.NO_SNAP_CLASSES`),
nor edges cut off from the rest of the turn graph (``usable`` in
:mod:`coverage.routing.turns`). A
point whose nearest road is farther than ``max_distance_m`` is *flagged*
(``too_far``) and gets no candidate: queries answer NaN for it, never a silent
number. A point far outside the network's extent (``outside_margin_m`` beyond its
bounding box) is an error, because that is almost always a coordinate-system
mistake.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from coverage.errors import QueryError
from coverage.routing.graph import RoadNetwork
from coverage.routing.kernels import ranges
from coverage.routing.stretches import GRID_CELL_M, SAMPLE_SPACING_M, SnapIndex

MAX_CANDIDATES_LIMIT = 16
"""Largest ``max_candidates`` accepted."""
MAX_MARGIN_M = 1_000.0
"""Largest ``candidate_margin_m`` accepted, metres."""


@dataclass(frozen=True)
class AccessSettings:
    """How points join the network.

    Attributes
    ----------
    speed_kph
        Speed of the access leg (the ground or the local roads the network lacks), km/h.
    detour_factor
        Path length / straight distance of the access leg (>= 1).
    max_distance_m
        Beyond this distance to the nearest road a point is flagged, not routed.
    max_candidates
        Most road stretches a point may join (each in its open directions).
    candidate_margin_m
        Other stretches at most this much farther than the nearest (or twice as far as
        the nearest, whichever is more) are candidates too.
    outside_margin_m
        A point farther than this outside the network's bounding box is an error.
    """

    speed_kph: float = 30.0
    detour_factor: float = 1.3
    max_distance_m: float = 5_000.0
    max_candidates: int = 8
    candidate_margin_m: float = 75.0
    outside_margin_m: float = 50_000.0

    def __post_init__(self) -> None:
        for name in ("speed_kph", "detour_factor", "max_distance_m", "outside_margin_m"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not np.isfinite(value)
                or value <= 0
            ):
                raise QueryError(
                    f"le réglage d'accès '{name}' doit être un nombre positif, reçu {value!r}"
                )
        if self.detour_factor < 1.0:
            raise QueryError(
                f"le réglage d'accès 'detour_factor' doit être >= 1 (un chemin n'est jamais "
                f"plus court "
                f"que la ligne droite), reçu {self.detour_factor}"
            )
        if (
            isinstance(self.max_candidates, bool)
            or not isinstance(self.max_candidates, int)
            or not 1 <= self.max_candidates <= MAX_CANDIDATES_LIMIT
        ):
            raise QueryError(
                f"le réglage d'accès 'max_candidates' doit être un entier entre "
                f"1 et {MAX_CANDIDATES_LIMIT}, reçu {self.max_candidates!r}"
            )
        margin = self.candidate_margin_m
        if (
            isinstance(margin, bool)
            or not isinstance(margin, int | float)
            or not 0 <= margin <= MAX_MARGIN_M
        ):
            raise QueryError(
                f"le réglage d'accès 'candidate_margin_m' doit être un nombre de mètres entre "
                f"0 et {MAX_MARGIN_M:g}, reçu {margin!r}"
            )

    def candidate_radius(self, nearest_m: np.ndarray) -> np.ndarray:
        """Distance within which stretches are candidates, for a nearest distance.

        ``nearest + max(candidate_margin_m, nearest)``: a point on a road joins the roads
        within a few metres of it (the same junction), a point far from the roads may
        join any road up to twice as far as the nearest. The radius grows continuously
        with the point's position, so that two points close together have nearly the
        same candidates.
        """
        nearest_m = np.asarray(nearest_m, dtype=np.float64)
        return nearest_m + np.maximum(self.candidate_margin_m, nearest_m)

    def seconds(self, distance_m: np.ndarray) -> np.ndarray:
        """Access time in seconds for distances in metres."""
        return (
            np.asarray(distance_m, dtype=np.float64) * self.detour_factor / (self.speed_kph / 3.6)
        )

    def describe(self) -> dict[str, Any]:
        """The settings as a plain dict (for result metadata)."""
        return {**asdict(self), "method": "projection on the nearest road edges"}


@dataclass(frozen=True, eq=False)
class SnappedPoints:
    """Points joined to a network: one row per candidate (point, directed edge, position).

    Attributes
    ----------
    n_points
        Number of points.
    point
        For each candidate, the index of its point (sorted ascending).
    edge
        For each candidate, the directed road edge (a state of the turn graph).
    fraction
        For each candidate, the position of the projection along the edge, 0..1 from its tail.
    access_s
        For each candidate, the access time in seconds.
    proj_x, proj_y
        For each candidate, the projection's coordinates.
    distance_m
        For each point, the distance to its nearest road (inf when there is none).
    too_far
        For each point, whether it is beyond ``max_distance_m`` (and has no candidate).
    x, y
        Coordinates of the points.
    settings
        The access settings used.
    """

    n_points: int
    point: np.ndarray
    edge: np.ndarray
    fraction: np.ndarray
    access_s: np.ndarray
    proj_x: np.ndarray
    proj_y: np.ndarray
    distance_m: np.ndarray
    too_far: np.ndarray
    x: np.ndarray
    y: np.ndarray
    settings: AccessSettings = field(default_factory=AccessSettings)

    @property
    def n_candidates(self) -> int:
        """Number of candidates."""
        return int(self.point.shape[0])

    def candidate_starts(self) -> np.ndarray:
        """Index of each point's first candidate (``n_points + 1`` entries, CSR-like)."""
        counts = np.bincount(self.point, minlength=self.n_points)
        starts = np.zeros(self.n_points + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        return starts

    def subset(self, points: np.ndarray) -> SnappedPoints:
        """The listed points only (renumbered ``0 .. len(points)-1``, in that order)."""
        points = np.asarray(points, dtype=np.int64)
        starts = self.candidate_starts()
        counts = starts[points + 1] - starts[points]
        sel = ranges(starts[points], counts)
        return SnappedPoints(
            n_points=int(points.size),
            point=np.repeat(np.arange(points.size, dtype=np.int64), counts),
            edge=self.edge[sel],
            fraction=self.fraction[sel],
            access_s=self.access_s[sel],
            proj_x=self.proj_x[sel],
            proj_y=self.proj_y[sel],
            distance_m=self.distance_m[points],
            too_far=self.too_far[points],
            x=self.x[points],
            y=self.y[points],
            settings=self.settings,
        )

    @classmethod
    def concat(cls, parts: list[SnappedPoints]) -> SnappedPoints:
        """Point sets joined one after the other (points renumbered in that order).

        Each point is joined on its own, so joining chunks of points and putting them
        together gives, array for array, what joining all of them at once gives.

        Raises
        ------
        QueryError
            No part, or parts joined with different access settings.
        """
        if not parts:
            raise QueryError("aucun lot de points à réunir")
        settings = parts[0].settings
        if any(part.settings != settings for part in parts):
            raise QueryError("les lots de points n'ont pas les mêmes réglages d'accès")
        offsets = np.cumsum([0, *[part.n_points for part in parts]])
        return cls(
            n_points=int(offsets[-1]),
            point=np.concatenate(
                [
                    part.point.astype(np.int64) + offset
                    for part, offset in zip(parts, offsets, strict=False)
                ]
            ).astype(parts[0].point.dtype, copy=False),
            edge=np.concatenate([part.edge for part in parts]),
            fraction=np.concatenate([part.fraction for part in parts]),
            access_s=np.concatenate([part.access_s for part in parts]),
            proj_x=np.concatenate([part.proj_x for part in parts]),
            proj_y=np.concatenate([part.proj_y for part in parts]),
            distance_m=np.concatenate([part.distance_m for part in parts]),
            too_far=np.concatenate([part.too_far for part in parts]),
            x=np.concatenate([part.x for part in parts]),
            y=np.concatenate([part.y for part in parts]),
            settings=settings,
        )

    def report(self) -> dict[str, Any]:
        """Summary of the snapping (for result metadata)."""
        finite = self.distance_m[np.isfinite(self.distance_m) & ~self.too_far]
        per_point = np.bincount(self.point, minlength=self.n_points)[~self.too_far]
        access = self.access_s
        return {
            "points": self.n_points,
            "too_far": int(self.too_far.sum()),
            "distance_to_network_m": _stats(finite),
            "candidates_per_point": _stats(per_point.astype(np.float64)),
            "best_access_s": _stats(_best_per_point(self, access)),
            "access": self.settings.describe(),
        }


def _stats(values: np.ndarray) -> dict[str, float | None]:
    if values.size == 0:
        return {"median": None, "p90": None, "max": None}
    return {
        "median": float(np.median(values)),
        "p90": float(np.percentile(values, 90)),
        "max": float(values.max()),
    }


def _best_per_point(snapped: SnappedPoints, values: np.ndarray) -> np.ndarray:
    if snapped.n_candidates == 0:
        return np.empty(0)
    best = np.full(snapped.n_points, np.inf)
    np.minimum.at(best, snapped.point, values)
    return best[np.isfinite(best)]


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
                f"{name} sont en {geometry.crs.to_string()}, le réseau en {crs} ; "
                f"utilisez d'abord .to_crs('{crs}')"
            )
        import shapely

        xy = shapely.get_coordinates(geometry.values)
        if xy.shape[0] != len(geometry):
            raise QueryError(f"{name} doivent être des points (une paire de coordonnées par ligne)")
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
            f"{name} doit être un tableau (n, 2) de coordonnées x, y, reçu la forme "
            f"{tuple(int(n) for n in xy.shape)}"
        )
    bad = ~np.isfinite(xy).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise QueryError(
            f"{name}[{int(first)}] a une coordonnée manquante ou infinie ({xy[first].tolist()})"
        )
    return xy


def snap_points(
    network: RoadNetwork,
    points: Any,
    *,
    access: AccessSettings | None = None,
    name: str = "points",
) -> SnappedPoints:
    """Project points onto their nearest road edges (see the module docstring).

    Parameters
    ----------
    network
        The road network.
    points
        Points in the network's CRS (see :func:`as_xy`), or an existing
        :class:`SnappedPoints`, returned as is.
    access
        Access settings (defaults: 30 km/h, detour 1.3, up to 8 stretches within
        75 m (or twice the distance) of the nearest, flagged beyond 5 km).
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
        return _flag_all(xy, access)
    _check_extent(network, xy, access.outside_margin_m, name)
    index = network.snap_index
    if index.n_stretches == 0:
        return _flag_all(xy, access)
    # first pass: the 3 x 3 block of grid cells around each point lists every stretch
    # within (cell - half a sample spacing) of it: there the nearest is found exactly
    near_block = GRID_CELL_M - SAMPLE_SPACING_M / 2
    pt, idx = index.block_pairs(xy)
    dist = _project(network, index, xy[pt], idx)[0]
    first = np.full(n, np.inf)
    np.minimum.at(first, pt, dist)
    done = (first <= near_block) & (access.candidate_radius(first) <= near_block)
    keep = done[pt] & (dist <= access.candidate_radius(first[pt]) + 1e-9)
    pt, idx = pt[keep], idx[keep]
    pair = np.unique(pt * index.n_stretches + idx)  # a stretch in several cells, once
    pt, idx = pair // index.n_stretches, pair % index.n_stretches
    # second pass, for the others (far from the roads): every stretch within the radius
    # an upper bound of the nearest distance gives (the first pass's minimum, or the
    # nearest point sampled along the stretches)
    rest = np.flatnonzero(~done)
    if rest.size:
        bound = np.minimum(first[rest], index.nearest_bound(xy[rest], access.max_distance_m))
        live = np.isfinite(bound)
        rest, bound = rest[live], bound[live]
        pt2, idx2 = index.within(xy, rest, access.candidate_radius(bound))
        pt = np.concatenate([pt, pt2])
        idx = np.concatenate([idx, idx2])
    dist, frac, px, py = _project(network, index, xy[pt], idx)
    nearest = np.full(n, np.inf)
    np.minimum.at(nearest, pt, dist)
    too_far = ~(nearest <= access.max_distance_m)
    keep = ~too_far[pt] & (dist <= access.candidate_radius(nearest[pt]) + 1e-9)
    pt, idx, dist, frac, px, py = pt[keep], idx[keep], dist[keep], frac[keep], px[keep], py[keep]
    if pt.size == 0:
        return _flag_all(xy, access, nearest)
    # the max_candidates nearest stretches of each point (the query lists pairs by point;
    # only points with more stretches than that need sorting)
    if pt.size > 1 and np.any(np.diff(pt) < 0):
        order = np.argsort(pt, kind="stable")
        pt, idx, dist, frac, px, py = (arr[order] for arr in (pt, idx, dist, frac, px, py))
    counts = np.bincount(pt, minlength=n)
    crowded = counts > access.max_candidates
    if crowded.any():
        rows = np.flatnonzero(crowded[pt])
        sub = rows[np.lexsort((idx[rows], dist[rows], pt[rows]))]
        first = np.searchsorted(pt[sub], pt[sub])
        rank = np.arange(sub.size) - first
        drop = sub[rank >= access.max_candidates]
        keep = np.ones(pt.size, dtype=bool)
        keep[drop] = False
        pt, idx, dist, frac, px, py = (arr[keep] for arr in (pt, idx, dist, frac, px, py))
    # each stretch in the directions it is open to
    fwd, bwd = index.forward[idx], index.backward[idx]
    has_f, has_b = fwd >= 0, bwd >= 0
    c_point = np.concatenate([pt[has_f], pt[has_b]])
    c_edge = np.concatenate([fwd[has_f], bwd[has_b]])
    c_frac = np.concatenate([frac[has_f], 1.0 - frac[has_b]])
    c_dist = np.concatenate([dist[has_f], dist[has_b]])
    c_px = np.concatenate([px[has_f], px[has_b]])
    c_py = np.concatenate([py[has_f], py[has_b]])
    order = np.argsort(c_point, kind="stable")
    return SnappedPoints(
        n_points=n,
        point=c_point[order],
        edge=c_edge[order],
        fraction=np.clip(c_frac[order], 0.0, 1.0),
        access_s=access.seconds(c_dist[order]),
        proj_x=c_px[order],
        proj_y=c_py[order],
        distance_m=nearest,
        too_far=too_far,
        x=xy[:, 0].copy(),
        y=xy[:, 1].copy(),
        settings=access,
    )


def _project(
    network: RoadNetwork, index: SnapIndex, xy: np.ndarray, stretch: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distance to each stretch, position along it from ``a`` (0..1), projection coordinates."""
    ax, ay = network.node_x[index.a[stretch]], network.node_y[index.a[stretch]]
    bx, by = network.node_x[index.b[stretch]], network.node_y[index.b[stretch]]
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = ((xy[:, 0] - ax) * dx + (xy[:, 1] - ay) * dy) / length2
    t = np.clip(np.nan_to_num(t, nan=0.0), 0.0, 1.0)
    px, py = ax + t * dx, ay + t * dy
    return np.hypot(xy[:, 0] - px, xy[:, 1] - py), t, px, py


def _flag_all(
    xy: np.ndarray, access: AccessSettings, nearest: np.ndarray | None = None
) -> SnappedPoints:
    """Every point flagged off the network, no candidate (also: no point at all)."""
    n = xy.shape[0]
    empty_i = np.empty(0, dtype=np.int64)
    empty_f = np.empty(0)
    return SnappedPoints(
        n,
        empty_i,
        empty_i,
        empty_f,
        empty_f,
        empty_f,
        empty_f,
        nearest if nearest is not None else np.full(n, np.inf),
        np.ones(n, dtype=bool),
        xy[:, 0].copy(),
        xy[:, 1].copy(),
        access,
    )


def _check_extent(network: RoadNetwork, xy: np.ndarray, margin: float, name: str) -> None:
    xmin, xmax = network.node_x.min() - margin, network.node_x.max() + margin
    ymin, ymax = network.node_y.min() - margin, network.node_y.max() + margin
    outside = (xy[:, 0] < xmin) | (xy[:, 0] > xmax) | (xy[:, 1] < ymin) | (xy[:, 1] > ymax)
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        x, y = xy[first]
        raise QueryError(
            f"{name}[{int(first)}] en ({x:.6g}, {y:.6g}) est hors de l'étendue du réseau routier "
            f"(x {xmin + margin:.0f}..{xmax - margin:.0f}, "
            f"y {ymin + margin:.0f}..{ymax - margin:.0f} en {network.info.crs}) ; "
            "les coordonnées sont-elles dans ce SCR (mètres, pas lon/lat) ?"
        )
