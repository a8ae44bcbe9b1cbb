"""Travel-time queries: origin-destination matrices, nearest facility, catchments.

Every query runs ``scipy.sparse.csgraph.dijkstra`` on a CSR matrix of seconds.
Points join the network through access legs (:mod:`coverage.routing.snap`); a
point is added to the graph as a *virtual node* whose edges are its legs, so a
search from it starts at all its entry nodes at once with their access times,
and arrival at a point is the best of its legs. Two close points may also be
joined by a direct leg (see :mod:`coverage.routing.snap`).

- :func:`travel_times` (many-to-many) runs on the contracted core graph
  (:mod:`coverage.routing.core`), one Dijkstra per distinct origin (or per
  destination on the reversed graph when there are fewer of them), with
  ``limit=`` when a maximum is given.
- :func:`nearest` and :func:`node_times_to_nearest` run one multi-source Dijkstra
  (``min_only=True``) over the whole graph from all facilities at once, which
  also tells which facility each node or point is closest to (catchments).

Directions: ``"to_facility"`` is the time from a point to the facility (the
search runs on the reversed graph), ``"from_facility"`` the time from the
facility to the point. Results are in seconds: ``inf`` when unreachable or
beyond the limit, ``NaN`` for points flagged too far from the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse
from scipy.sparse.csgraph import dijkstra

from coverage.errors import QueryError
from coverage.routing.core import CoreGraph
from coverage.routing.graph import RoadNetwork
from coverage.routing.snap import (
    AccessSettings,
    SnappedPoints,
    direct_pairs,
    nearest_direct,
    snap_points,
)

Direction = Literal["to_facility", "from_facility"]
DIRECTIONS: tuple[str, ...] = ("to_facility", "from_facility")
LIMIT_TOLERANCE_S = 1e-6
"""Slack on time limits, for the 1e-9 s given to zero-length access legs."""
CHUNK_BYTES = 128 * 1024 * 1024
"""Largest Dijkstra output block held at once (rows × nodes × 8 bytes)."""


@dataclass(frozen=True, eq=False)
class TravelTimeMatrix:
    """Travel times from every origin to every destination.

    Attributes
    ----------
    seconds
        ``(n_origins, n_destinations)`` array: seconds, ``inf`` when unreachable or
        beyond ``max_seconds``, ``NaN`` when either point is too far from the network.
    origins, destinations
        The snapped points.
    max_seconds
        The limit used, or None.
    """

    seconds: np.ndarray
    origins: SnappedPoints
    destinations: SnappedPoints
    max_seconds: float | None = None

    @property
    def minutes(self) -> np.ndarray:
        """The matrix in minutes."""
        return self.seconds / 60.0

    def to_table(self, origin_ids: Any = None, destination_ids: Any = None) -> pd.DataFrame:
        """Return the matrix as a long table.

        Columns: ``from_id``, ``to_id``, ``travel_time_s`` (NaN unless ``status`` is
        ``ok``) and ``status`` (``ok``, ``unreachable``, ``beyond_limit``,
        ``off_network``).
        """
        n_o, n_d = self.seconds.shape
        from_ids = np.asarray(origin_ids if origin_ids is not None else np.arange(n_o))
        to_ids = np.asarray(destination_ids if destination_ids is not None else np.arange(n_d))
        if from_ids.shape[0] != n_o or to_ids.shape[0] != n_d:
            raise QueryError("origin_ids / destination_ids must have one id per point")
        flat = self.seconds.ravel()
        status = np.full(flat.shape, "ok", dtype=object)
        status[np.isinf(flat)] = "unreachable" if self.max_seconds is None else "beyond_limit"
        status[np.isnan(flat)] = "off_network"
        return pd.DataFrame(
            {
                "from_id": np.repeat(from_ids, n_d),
                "to_id": np.tile(to_ids, n_o),
                "travel_time_s": np.where(np.isfinite(flat), flat, np.nan),
                "status": status,
            }
        )


@dataclass(frozen=True, eq=False)
class NearestResult:
    """Time from each point to its nearest facility, and which facility that is.

    Attributes
    ----------
    seconds
        Per point: seconds to (or from) the nearest facility; ``inf`` when none is
        reachable within the limit; ``NaN`` when the point is off the network.
    facility
        Per point: index of the nearest facility, -1 when none.
    direction
        ``to_facility`` or ``from_facility``.
    points, facilities
        The snapped points and facilities.
    max_seconds
        The limit used, or None.
    """

    seconds: np.ndarray
    facility: np.ndarray
    direction: str
    points: SnappedPoints
    facilities: SnappedPoints
    max_seconds: float | None = None

    @property
    def minutes(self) -> np.ndarray:
        """Times in minutes."""
        return self.seconds / 60.0


@dataclass(frozen=True, eq=False)
class NodeTimes:
    """Seconds from every network node to its nearest facility (a node catchment).

    Attributes
    ----------
    seconds
        Per node; ``inf`` when no facility is reachable (within the limit).
    facility
        Per node: index of the nearest facility, -1 when none.
    direction, max_seconds, facilities
        As in :class:`NearestResult`.
    """

    seconds: np.ndarray
    facility: np.ndarray
    direction: str
    facilities: SnappedPoints
    max_seconds: float | None = None

    def at_points(self, points: SnappedPoints) -> tuple[np.ndarray, np.ndarray]:
        """Best time and facility over each point's access legs.

        Returns
        -------
        tuple of arrays
            ``seconds`` (NaN for points off the network, inf when unreachable or
            beyond the limit) and ``facility`` (-1 when none).
        """
        seconds, facility = _best_over_legs(points, self.seconds, self.facility, self.max_seconds)
        direct_s, direct_f = nearest_direct(points, self.facilities)
        if self.max_seconds is not None:
            direct_s = np.where(direct_s > self.max_seconds + LIMIT_TOLERANCE_S, np.inf, direct_s)
        better = direct_s < np.nan_to_num(seconds, nan=np.inf)
        seconds[better] = direct_s[better]
        facility[better] = direct_f[better]
        return seconds, facility


def max_seconds_from_minutes(
    max_minutes: float | None, *, name: str = "max_minutes"
) -> float | None:
    """Validate a limit in minutes and return it in seconds (None stays None).

    Raises
    ------
    QueryError
        If the limit is not a positive finite number.
    """
    if max_minutes is None:
        return None
    if not isinstance(max_minutes, int | float) or not np.isfinite(max_minutes) or max_minutes <= 0:
        raise QueryError(f"{name} must be a positive number of minutes, got {max_minutes!r}")
    return float(max_minutes) * 60.0


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise QueryError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")


def travel_times(
    network: RoadNetwork,
    origins: Any,
    destinations: Any,
    *,
    max_minutes: float | None = None,
    access: AccessSettings | None = None,
) -> TravelTimeMatrix:
    """Travel times from every origin to every destination (access legs included).

    Parameters
    ----------
    network
        The road network.
    origins, destinations
        Points in the network's CRS (an (n, 2) array, a GeoSeries...) or
        :class:`~coverage.routing.snap.SnappedPoints`.
    max_minutes
        Stop searching beyond this time; farther pairs are ``inf``.
    access
        Access-leg settings (ignored for already snapped points).

    Returns
    -------
    TravelTimeMatrix

    Raises
    ------
    QueryError
        Invalid points or limit.
    """
    limit = max_seconds_from_minutes(max_minutes)
    src = snap_points(network, origins, access=access, name="origins")
    dst = snap_points(network, destinations, access=access, name="destinations")
    core = network.core
    out = np.full((src.n_points, dst.n_points), np.inf)
    if src.n_legs and dst.n_legs:
        o_pt, o_node, o_off = _core_portals(core, src, role="origin")
        d_pt, d_node, d_off = _core_portals(core, dst, role="destination")
        n_src_live = np.unique(o_pt).size
        n_dst_live = np.unique(d_pt).size
        if n_dst_live < n_src_live:
            block = _many_to_many(
                core.csr_reversed,
                d_pt,
                d_node,
                d_off,
                dst.n_points,
                o_pt,
                o_node,
                o_off,
                src.n_points,
                limit,
            )
            out = block.T.copy()
        else:
            out = _many_to_many(
                core.csr,
                o_pt,
                o_node,
                o_off,
                src.n_points,
                d_pt,
                d_node,
                d_off,
                dst.n_points,
                limit,
            )
        _apply_same_chain(core, src, dst, out)
    i, j, direct = direct_pairs(src, dst)
    np.minimum.at(out, (i, j), direct)
    if limit is not None:
        out[out > limit + LIMIT_TOLERANCE_S] = np.inf
    out[src.too_far, :] = np.nan
    out[:, dst.too_far] = np.nan
    return TravelTimeMatrix(seconds=out, origins=src, destinations=dst, max_seconds=limit)


def node_times_to_nearest(
    network: RoadNetwork,
    facilities: Any,
    *,
    direction: Direction = "to_facility",
    max_minutes: float | None = None,
    access: AccessSettings | None = None,
) -> NodeTimes:
    """Seconds between every node and its nearest facility, in one multi-source pass.

    Parameters
    ----------
    network
        The road network.
    facilities
        Facility points (or snapped points).
    direction
        ``to_facility`` (from the node to the facility) or ``from_facility``.
    max_minutes
        Search limit.
    access
        Access-leg settings.

    Returns
    -------
    NodeTimes
        Also the node catchments (``facility`` per node).

    Raises
    ------
    QueryError
        No facility joins the network, invalid direction or limit.
    """
    _check_direction(direction)
    limit = max_seconds_from_minutes(max_minutes)
    fac = snap_points(network, facilities, access=access, name="facilities")
    if fac.n_legs == 0:
        raise QueryError(
            f"none of the {fac.n_points} facilities lies within "
            f"{fac.settings.max_distance_m:g} m of the road network"
        )
    graph = network.csr_reversed if direction == "to_facility" else network.csr
    aug, virtual = _with_virtual_sources(graph, fac.point, fac.node, fac.access_s, fac.n_points)
    live = np.unique(fac.point)
    dist, _, sources = dijkstra(
        aug,
        directed=True,
        indices=virtual[live],
        min_only=True,
        return_predecessors=True,
        limit=np.inf if limit is None else limit + LIMIT_TOLERANCE_S,
    )
    n = network.n_nodes
    seconds = dist[:n]
    facility = np.where(sources[:n] >= 0, sources[:n] - n, -1)
    return NodeTimes(
        seconds=seconds,
        facility=facility.astype(np.int64),
        direction=direction,
        facilities=fac,
        max_seconds=limit,
    )


def nearest(
    network: RoadNetwork,
    origins: Any,
    facilities: Any,
    *,
    direction: Direction = "to_facility",
    max_minutes: float | None = None,
    access: AccessSettings | None = None,
) -> NearestResult:
    """Time from each origin to its nearest facility, and which one, in one pass.

    Parameters
    ----------
    network
        The road network.
    origins
        Points (or snapped points) to serve.
    facilities
        Facility points (or snapped points).
    direction
        ``to_facility`` (default: from the origin to the facility) or
        ``from_facility`` (from the facility to the origin).
    max_minutes
        Search limit; origins beyond it get ``inf`` and facility -1.
    access
        Access-leg settings.

    Returns
    -------
    NearestResult
    """
    pts = snap_points(network, origins, access=access, name="origins")
    nodes = node_times_to_nearest(
        network, facilities, direction=direction, max_minutes=max_minutes, access=access
    )
    seconds, facility = nodes.at_points(pts)
    return NearestResult(
        seconds=seconds,
        facility=facility,
        direction=direction,
        points=pts,
        facilities=nodes.facilities,
        max_seconds=nodes.max_seconds,
    )


def catchments(
    network: RoadNetwork,
    facilities: Any,
    *,
    direction: Direction = "to_facility",
    max_minutes: float | None = None,
    access: AccessSettings | None = None,
) -> NodeTimes:
    """The nearest-facility partition of the network's nodes.

    Same as :func:`node_times_to_nearest`; ``result.facility[node]`` is the
    catchment of each node (-1 outside every catchment within the limit).
    """
    return node_times_to_nearest(
        network, facilities, direction=direction, max_minutes=max_minutes, access=access
    )


# --- internals ------------------------------------------------------------------------------


def _best_over_legs(
    points: SnappedPoints,
    node_seconds: np.ndarray,
    node_facility: np.ndarray,
    limit: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    seconds = np.full(points.n_points, np.inf)
    facility = np.full(points.n_points, -1, dtype=np.int64)
    if points.n_legs:
        total = points.access_s + node_seconds[points.node]
        if limit is not None:
            total = np.where(total > limit + LIMIT_TOLERANCE_S, np.inf, total)
        # best leg per point: sort legs by (point, total) and take each point's first
        order = np.lexsort((total, points.point))
        pt_sorted = points.point[order]
        first = np.ones(order.size, dtype=bool)
        first[1:] = pt_sorted[1:] != pt_sorted[:-1]
        best = order[first]
        seconds[points.point[best]] = total[best]
        reached = np.isfinite(total[best])
        facility[points.point[best][reached]] = node_facility[points.node[best][reached]]
    seconds[points.too_far] = np.nan
    return seconds, facility


def _core_portals(
    core: CoreGraph, snapped: SnappedPoints, *, role: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Translate access legs into (point, core node, offset seconds) portals."""
    node, pt, acc = snapped.node, snapped.point, snapped.access_s
    cn = core.core_node[node]
    kept = cn >= 0
    parts_pt = [pt[kept]]
    parts_node = [cn[kept]]
    parts_off = [acc[kept]]
    rem = ~kept
    if rem.any():
        x, p, a = node[rem], pt[rem], acc[rem]
        c = core.chain[x]
        f, g = core.fwd_s[x], core.bwd_s[x]
        two = core.chain_two_way[c]
        has_b = core.chain_end[c] >= 0  # pendant chains (dead ends) have no B
        if role == "origin":  # leave x forward to B, or backward to A
            parts_pt += [p[has_b], p[two]]
            parts_node += [core.chain_end[c][has_b], core.chain_start[c][two]]
            parts_off += [(a + core.chain_fwd_total_s[c] - f)[has_b], (a + g)[two]]
        else:  # enter x forward from A, or backward from B
            both = two & has_b
            parts_pt += [p, p[both]]
            parts_node += [core.chain_start[c], core.chain_end[c][both]]
            parts_off += [a + f, (a + core.chain_bwd_total_s[c] - g)[both]]
    p_all = np.concatenate(parts_pt)
    n_all = np.concatenate(parts_node)
    o_all = np.concatenate(parts_off)
    order = np.lexsort((o_all, n_all, p_all))
    p_all, n_all, o_all = p_all[order], n_all[order], o_all[order]
    # the same (point, node) twice: keep the smaller offset (first after the sort)
    keep = np.ones(p_all.size, dtype=bool)
    keep[1:] = (p_all[1:] != p_all[:-1]) | (n_all[1:] != n_all[:-1])
    return p_all[keep], n_all[keep], o_all[keep]


def _with_virtual_sources(
    graph: scipy.sparse.csr_matrix,
    point: np.ndarray,
    node: np.ndarray,
    offset: np.ndarray,
    n_points: int,
) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
    """Append one source-only node per point, with edges to its portals.

    Returns the augmented matrix and the virtual node index of every point.
    """
    n = graph.shape[0]
    counts = np.bincount(point, minlength=n_points)
    indptr = np.concatenate([graph.indptr, graph.indptr[-1] + np.cumsum(counts)])
    order = np.argsort(point, kind="stable")
    indices = np.concatenate([graph.indices, node[order].astype(graph.indices.dtype)])
    # a zero access time would be read as "no edge": keep it strictly positive
    data = np.concatenate([graph.data, np.maximum(offset[order], 1e-9)])
    size = n + n_points
    aug = scipy.sparse.csr_matrix((data, indices, indptr), shape=(size, size))
    return aug, n + np.arange(n_points)


def _many_to_many(
    graph: scipy.sparse.csr_matrix,
    s_pt: np.ndarray,
    s_node: np.ndarray,
    s_off: np.ndarray,
    n_s: int,
    t_pt: np.ndarray,
    t_node: np.ndarray,
    t_off: np.ndarray,
    n_t: int,
    limit: float | None,
) -> np.ndarray:
    """Best ``source offset + path + target offset`` over portals, for all point pairs."""
    out = np.full((n_s, n_t), np.inf)
    live_s = np.unique(s_pt)
    # sources: portals grouped by point; targets: portals grouped for a segmented minimum
    s_order = np.argsort(s_pt, kind="stable")
    s_pt, s_node, s_off = s_pt[s_order], s_node[s_order], s_off[s_order]
    s_bounds = np.searchsorted(s_pt, np.append(live_s, n_s))
    t_order = np.argsort(t_pt, kind="stable")
    t_pt, t_node, t_off = t_pt[t_order], t_node[t_order], t_off[t_order]
    t_live, t_start = np.unique(t_pt, return_index=True)
    n = graph.shape[0]
    # each block adds only its own virtual sources, so every search runs on n + rows nodes
    rows = int(min(256, max(1, CHUNK_BYTES // (8 * (n + 256)))))
    for lo in range(0, live_s.size, rows):
        chunk = live_s[lo : lo + rows]
        legs = slice(s_bounds[lo], s_bounds[min(lo + rows, live_s.size)])
        local = np.searchsorted(chunk, s_pt[legs])
        aug, virtual = _with_virtual_sources(graph, local, s_node[legs], s_off[legs], chunk.size)
        dist = dijkstra(
            aug,
            directed=True,
            indices=virtual,
            limit=np.inf if limit is None else limit + LIMIT_TOLERANCE_S,
        )
        at_portals = dist[:, t_node] + t_off
        out[np.ix_(chunk, t_live)] = np.minimum.reduceat(at_portals, t_start, axis=1)
    return out


def _apply_same_chain(
    core: CoreGraph, src: SnappedPoints, dst: SnappedPoints, out: np.ndarray
) -> None:
    """Lower ``out`` where an origin and a destination may travel along a shared chain."""
    if core.n_chains == 0:
        return
    s_chain = core.chain[src.node]
    d_chain = core.chain[dst.node]
    s_sel = np.flatnonzero(s_chain >= 0)
    d_sel = np.flatnonzero(d_chain >= 0)
    if s_sel.size == 0 or d_sel.size == 0:
        return
    left = pd.DataFrame({"chain": s_chain[s_sel], "s": s_sel})
    right = pd.DataFrame({"chain": d_chain[d_sel], "d": d_sel})
    pairs = left.merge(right, on="chain")
    if pairs.empty:
        return
    s_leg = pairs["s"].to_numpy()
    d_leg = pairs["d"].to_numpy()
    c = pairs["chain"].to_numpy()
    fs, fd = core.fwd_s[src.node[s_leg]], core.fwd_s[dst.node[d_leg]]
    gs, gd = core.bwd_s[src.node[s_leg]], core.bwd_s[dst.node[d_leg]]
    along = np.where(fd >= fs, fd - fs, np.where(core.chain_two_way[c], gs - gd, np.inf))
    total = src.access_s[s_leg] + along + dst.access_s[d_leg]
    np.minimum.at(out, (src.point[s_leg], dst.point[d_leg]), total)
