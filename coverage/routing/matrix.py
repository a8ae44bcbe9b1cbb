"""Travel-time queries: origin-destination matrices, nearest facility, catchments.

Every query runs on the turn graph of the network (:mod:`coverage.routing.turns`),
with the shortest-path kernels of :mod:`coverage.routing.kernels`. Points join it
through their candidates (:mod:`coverage.routing.snap`) and portals
(:mod:`coverage.routing.portals`): a search from a point starts at all its
departure portals at once with their offsets, and arrival at a point is the best
of its arrival portals; a trip from a point to a point ahead of it on the same
edge stays on that edge. There is no crow-fly shortcut between points. A point
is 0 s from a point at the very same coordinates (in every query).

- :func:`travel_times` (many-to-many) chooses its algorithm by size
  (``algorithm="auto"``): bucket many-to-many on the turn graph's contraction
  hierarchy (:func:`coverage.routing.hierarchy.hierarchy_to_targets`) when one is
  in memory or cached on disk, or once the graph's searches reach what building
  one costs (:meth:`~coverage.routing.turns.TurnGraph.hierarchy_for`: about 1,000
  searches; graphs of up to 300 000 states); otherwise the contracted core of the
  turn graph (:mod:`coverage.routing.core`), one search per distinct origin (or
  per destination on the reversed graph when there are fewer of them). Both are
  exact and limited to ``max_minutes`` when given; the matrix says which ran.
- :func:`state_times_to_nearest` and :func:`nearest` run one multi-source search
  over the whole turn graph from all facilities at once (PHAST on the hierarchy
  when one is in memory or on disk, else Dijkstra: one search never pays for a
  build), which also tells which facility each state or point is closest to
  (catchments).

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

from coverage._french import plural
from coverage.errors import QueryError
from coverage.routing.core import CoreGraph
from coverage.routing.graph import RoadNetwork
from coverage.routing.hierarchy import hierarchy_multi_source, hierarchy_to_targets
from coverage.routing.kernels import (
    CsrGraph,
    shortest_multi_source,
    shortest_to_targets,
)
from coverage.routing.portals import (
    Portals,
    arrival_portals,
    best_per_point,
    departure_portals,
    same_edge_times,
)
from coverage.routing.snap import AccessSettings, SnappedPoints, snap_points

Direction = Literal["to_facility", "from_facility"]
DIRECTIONS: tuple[str, ...] = ("to_facility", "from_facility")
TableAlgorithm = Literal["auto", "hierarchy", "core"]
TABLE_ALGORITHMS: tuple[str, ...] = ("auto", "hierarchy", "core")
"""``auto``: chosen by size; ``hierarchy``: bucket many-to-many (built if needed);
``core``: one search per row on the contracted core."""
LIMIT_TOLERANCE_S = 1e-6
"""Slack on time limits (rounding of sums of seconds)."""
BLOCK_BYTES = 128 * 1024 * 1024
"""Largest block of search results held at once (rows × targets × 8 bytes)."""


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
    algorithm
        What computed it: ``hierarchy`` (bucket many-to-many) or ``core`` (one
        search per row); ``none`` when no pair needed a search.
    """

    seconds: np.ndarray
    origins: SnappedPoints
    destinations: SnappedPoints
    max_seconds: float | None = None
    algorithm: str = "core"

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
            raise QueryError("origin_ids / destination_ids doivent avoir un identifiant par point")
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
class StateTimes:
    """Seconds between every turn-graph state and its nearest facility (a catchment).

    Attributes
    ----------
    seconds
        Per state: ``to_facility``, the time from the start of the state's edge to the
        nearest facility; ``from_facility``, the time from the nearest facility to the
        start of the edge; ``inf`` when none is reachable (within the limit).
    facility
        Per state: index of the nearest facility, -1 when none.
    direction, max_seconds, facilities
        As in :class:`NearestResult`.
    turns
        The turn graph the times are on.
    """

    seconds: np.ndarray
    facility: np.ndarray
    direction: str
    facilities: SnappedPoints
    max_seconds: float | None
    turns: Any

    def at_points(self, points: SnappedPoints) -> tuple[np.ndarray, np.ndarray]:
        """Best time and facility of each point, over its portals and its own edges.

        Returns
        -------
        tuple of arrays
            ``seconds`` (NaN for points off the network, inf when unreachable or
            beyond the limit) and ``facility`` (-1 when none).
        """
        turns = self.turns
        if self.direction == "to_facility":
            portals = _portals(points, turns, "departure")
            i, _, direct, _, c2 = same_edge_times(turns, points, self.facilities)
        else:
            portals = _portals(points, turns, "arrival")
            _, i, direct, c2, _ = same_edge_times(turns, self.facilities, points)
        total = portals.offset + self.seconds[portals.state]
        label = self.facility[portals.state]
        point = portals.point
        if direct.size:
            point = np.concatenate([point, i])
            total = np.concatenate([total, direct])
            label = np.concatenate([label, self.facilities.point[c2]])
        same_i, same_f = _same_place_pairs(points, self.facilities)
        if same_i.size:
            point = np.concatenate([point, same_i])
            total = np.concatenate([total, np.zeros(same_i.size)])
            label = np.concatenate([label, same_f])
        if self.max_seconds is not None:
            total = np.where(total > self.max_seconds + LIMIT_TOLERANCE_S, np.inf, total)
        seconds, row = best_per_point(points.n_points, point, total)
        facility = np.full(points.n_points, -1, dtype=np.int64)
        reached = np.isfinite(seconds)
        facility[reached] = label[row[reached]]
        seconds[points.too_far] = np.nan
        facility[points.too_far] = -1
        return seconds, facility


def _portals(points: SnappedPoints, turns: Any, role: str) -> Portals:
    """A point set's portals of one role on one turn graph (cached on the points)."""
    cache = points.__dict__.setdefault("_portals", {})
    key = (id(turns), role)
    if key not in cache:
        build = departure_portals if role == "departure" else arrival_portals
        cache[key] = (turns, build(turns, points))
    return cache[key][1]


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
    if (
        isinstance(max_minutes, bool)
        or not isinstance(max_minutes, int | float)
        or not np.isfinite(max_minutes)
        or max_minutes <= 0
    ):
        raise QueryError(f"{name} doit être un nombre positif de minutes, reçu {max_minutes!r}")
    return float(max_minutes) * 60.0


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise QueryError(
            f"direction doit valoir l'une de {', '.join(DIRECTIONS)}, reçu {direction!r}"
        )


def travel_times(
    network: RoadNetwork,
    origins: Any,
    destinations: Any,
    *,
    max_minutes: float | None = None,
    access: AccessSettings | None = None,
    algorithm: TableAlgorithm = "auto",
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
    algorithm
        ``auto`` (default): the hierarchy when there is one or when building it pays
        (see the module docstring), else the core; ``hierarchy`` or ``core`` to force
        one (the same times: both are exact).

    Returns
    -------
    TravelTimeMatrix

    Raises
    ------
    QueryError
        Invalid points, limit or algorithm.
    """
    if algorithm not in TABLE_ALGORITHMS:
        raise QueryError(
            f"algorithm doit valoir l'une de {', '.join(TABLE_ALGORITHMS)}, reçu {algorithm!r}"
        )
    limit = max_seconds_from_minutes(max_minutes)
    src = snap_points(network, origins, access=access, name="origins")
    dst = snap_points(network, destinations, access=access, name="destinations")
    turns = network.turn_graph
    out = np.full((src.n_points, dst.n_points), np.inf)
    searched = bool(src.n_candidates and dst.n_candidates)
    hierarchy = _table_hierarchy(turns, src, dst, algorithm) if searched else None
    used = "none" if not searched else ("hierarchy" if hierarchy is not None else "core")
    if hierarchy is not None:
        dep = _portals(src, turns, "departure")
        arr = _portals(dst, turns, "arrival")
        out = _hierarchy_table(hierarchy, dep, arr, src.n_points, dst.n_points, limit)
        i, j, direct, _, _ = same_edge_times(turns, src, dst)
        np.minimum.at(out, (i, j), direct)
    elif src.n_candidates and dst.n_candidates:
        core = turns.core
        dep = _portals(src, turns, "departure")
        arr = _portals(dst, turns, "arrival")
        o_pt, o_node, o_off = core_portals(core, dep, role="origin")
        d_pt, d_node, d_off = core_portals(core, arr, role="destination")
        if np.unique(d_pt).size < np.unique(o_pt).size:
            block = many_to_many(
                _core_graph(core, reverse=True),
                (d_pt, d_node, d_off, dst.n_points),
                (o_pt, o_node, o_off, src.n_points),
                limit,
            )
            out = block.T.copy()
        else:
            out = many_to_many(
                _core_graph(core, reverse=False),
                (o_pt, o_node, o_off, src.n_points),
                (d_pt, d_node, d_off, dst.n_points),
                limit,
            )
        apply_same_chain(core, dep, arr, out)
        i, j, direct, _, _ = same_edge_times(turns, src, dst)
        np.minimum.at(out, (i, j), direct)
    _same_place(src, dst, out)
    if limit is not None:
        out[out > limit + LIMIT_TOLERANCE_S] = np.inf
    out[src.too_far, :] = np.nan
    out[:, dst.too_far] = np.nan
    return TravelTimeMatrix(
        seconds=out, origins=src, destinations=dst, max_seconds=limit, algorithm=used
    )


def _table_hierarchy(
    turns: Any, src: SnappedPoints, dst: SnappedPoints, algorithm: str
) -> Any | None:
    """The hierarchy the table runs on, or None for the core (``algorithm`` and size)."""
    if algorithm == "core":
        return None
    if algorithm == "hierarchy":
        return turns.hierarchy(build=True)
    # the core path searches from the side with fewer points
    searches = min(_searched_points(src), _searched_points(dst))
    return turns.hierarchy_for(searches)


def _searched_points(points: SnappedPoints) -> int:
    """Points on the network (one search each on the core)."""
    return int(points.n_points - np.count_nonzero(points.too_far))


def _hierarchy_table(
    hierarchy: Any, dep: Portals, arr: Portals, n_src: int, n_dst: int, limit: float | None
) -> np.ndarray:
    """Best ``departure offset + path + arrival offset`` for all point pairs, on a hierarchy."""
    out = np.full((n_src, n_dst), np.inf)
    s_live, s_start = np.unique(dep.point, return_index=True)
    t_live, t_start = np.unique(arr.point, return_index=True)
    if s_live.size == 0 or t_live.size == 0:
        return out
    seed_ptr = np.append(s_start, dep.point.size).astype(np.int64)
    target_ptr = np.append(t_start, arr.point.size).astype(np.int64)
    rows = int(max(1, min(s_live.size, BLOCK_BYTES // (8 * t_live.size))))
    search_limit = np.inf if limit is None else limit + LIMIT_TOLERANCE_S
    for lo in range(0, s_live.size, rows):
        hi = min(lo + rows, s_live.size)
        first, last = seed_ptr[lo], seed_ptr[hi]
        block = hierarchy_to_targets(
            hierarchy,
            seed_ptr[lo : hi + 1] - first,
            dep.state[first:last],
            dep.offset[first:last],
            target_ptr,
            arr.state,
            arr.offset,
            limit=search_limit,
        )
        out[np.ix_(s_live[lo:hi], t_live)] = block
    return out


def _same_place_pairs(a: SnappedPoints, b: SnappedPoints) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of points of ``a`` and ``b`` at the very same coordinates (both on the network)."""
    empty = np.empty(0, dtype=np.int64)
    if a.n_points == 0 or b.n_points == 0:
        return empty, empty
    left = pd.DataFrame({"x": a.x, "y": a.y, "i": np.arange(a.n_points)})
    right = pd.DataFrame({"x": b.x, "y": b.y, "j": np.arange(b.n_points)})
    pairs = left.merge(right, on=["x", "y"])
    if pairs.empty:
        return empty, empty
    i, j = pairs["i"].to_numpy(dtype=np.int64), pairs["j"].to_numpy(dtype=np.int64)
    keep = ~a.too_far[i] & ~b.too_far[j]
    return i[keep], j[keep]


def _same_place(src: SnappedPoints, dst: SnappedPoints, out: np.ndarray) -> None:
    """Points at the very same coordinates are 0 s apart."""
    i, j = _same_place_pairs(src, dst)
    out[i, j] = 0.0


def state_times_to_nearest(
    network: RoadNetwork,
    facilities: Any,
    *,
    direction: Direction = "to_facility",
    max_minutes: float | None = None,
    access: AccessSettings | None = None,
) -> StateTimes:
    """Seconds between every turn-graph state and its nearest facility, in one search.

    Parameters
    ----------
    network
        The road network.
    facilities
        Facility points (or snapped points).
    direction
        ``to_facility`` (from the state to the facility) or ``from_facility``.
    max_minutes
        Search limit.
    access
        Access-leg settings.

    Returns
    -------
    StateTimes
        Also the catchments (``facility`` per state).

    Raises
    ------
    QueryError
        No facility joins the network, invalid direction or limit.
    """
    _check_direction(direction)
    limit = max_seconds_from_minutes(max_minutes)
    fac = snap_points(network, facilities, access=access, name="facilities")
    if fac.n_candidates == 0:
        raise QueryError(
            f"aucun des {plural(fac.n_points, 'équipement')} n'est à moins de "
            f"{fac.settings.max_distance_m:g} m du réseau routier"
        )
    turns = network.turn_graph
    reverse = direction == "to_facility"
    seeds = _portals(fac, turns, "arrival" if reverse else "departure")
    search_limit = np.inf if limit is None else limit + LIMIT_TOLERANCE_S
    hierarchy = turns.hierarchy(build=False)  # one search never pays for a build
    if hierarchy is not None:  # PHAST: one upward search, one sweep over all states
        seconds, label = hierarchy_multi_source(
            hierarchy, seeds.state, seeds.offset, seeds.point, limit=search_limit, reverse=reverse
        )
    else:
        seconds, label = shortest_multi_source(
            turns.reversed if reverse else turns.graph,
            seeds.state,
            seeds.offset,
            seeds.point,
            limit=search_limit,
        )
    return StateTimes(
        seconds=seconds,
        facility=label.astype(np.int64, copy=False),
        direction=direction,
        facilities=fac,
        max_seconds=limit,
        turns=turns,
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
    """Time from each origin to its nearest facility, and which one, in one search.

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
    times = state_times_to_nearest(
        network, facilities, direction=direction, max_minutes=max_minutes, access=access
    )
    seconds, facility = times.at_points(pts)
    return NearestResult(
        seconds=seconds,
        facility=facility,
        direction=direction,
        points=pts,
        facilities=times.facilities,
        max_seconds=times.max_seconds,
    )


def catchments(
    network: RoadNetwork,
    facilities: Any,
    *,
    direction: Direction = "to_facility",
    max_minutes: float | None = None,
    access: AccessSettings | None = None,
) -> StateTimes:
    """The nearest-facility partition of the turn graph's states.

    Same as :func:`state_times_to_nearest`; ``result.facility[state]`` is the
    catchment of each state (-1 outside every catchment within the limit); a
    state's road edge is ``network.turn_graph.state_edge[state]``.
    """
    return state_times_to_nearest(
        network, facilities, direction=direction, max_minutes=max_minutes, access=access
    )


# --- internals ------------------------------------------------------------------------------


def _core_graph(core: CoreGraph, *, reverse: bool) -> CsrGraph:
    cache = core.__dict__.setdefault("_kernel_graphs", {})
    if reverse not in cache:
        cache[reverse] = CsrGraph.from_scipy(core.csr_reversed if reverse else core.csr)
    return cache[reverse]


def core_portals(
    core: CoreGraph, portals: Portals, *, role: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Translate portals on turn-graph states into (point, core node, offset) portals.

    A portal on a state removed by the contraction (inside a chain ``A -> ... -> B``)
    becomes portals on the chain's ends: an origin leaves forward to ``B`` (or back to
    ``A`` on a two-way chain), a destination is entered from ``A`` (or from ``B``).
    """
    node, pt, acc = portals.state, portals.point, portals.offset
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


def many_to_many(
    graph: CsrGraph,
    sources: tuple[np.ndarray, np.ndarray, np.ndarray, int],
    targets: tuple[np.ndarray, np.ndarray, np.ndarray, int],
    limit: float | None,
) -> np.ndarray:
    """Best ``source offset + path + target offset`` over portals, for all point pairs.

    ``sources`` and ``targets`` are ``(point, node, offset, n_points)``.
    """
    s_pt, s_node, s_off, n_s = sources
    t_pt, t_node, t_off, n_t = targets
    out = np.full((n_s, n_t), np.inf)
    live_s = np.unique(s_pt)
    if live_s.size == 0 or t_pt.size == 0:
        return out
    s_order = np.argsort(s_pt, kind="stable")
    s_pt, s_node, s_off = s_pt[s_order], s_node[s_order], s_off[s_order]
    s_bounds = np.searchsorted(s_pt, np.append(live_s, n_s))
    t_order = np.argsort(t_pt, kind="stable")
    t_pt, t_node, t_off = t_pt[t_order], t_node[t_order], t_off[t_order]
    t_live, t_start = np.unique(t_pt, return_index=True)
    rows = int(max(1, min(live_s.size, BLOCK_BYTES // (8 * max(t_node.size, 1)))))
    search_limit = np.inf if limit is None else limit + LIMIT_TOLERANCE_S
    for lo in range(0, live_s.size, rows):
        chunk = live_s[lo : lo + rows]
        first, last = s_bounds[lo], s_bounds[min(lo + rows, live_s.size)]
        seed_ptr = s_bounds[lo : lo + chunk.size + 1] - first
        dist = shortest_to_targets(
            graph,
            seed_ptr,
            s_node[first:last],
            s_off[first:last],
            t_node,
            limit=search_limit,
        )
        at_portals = dist + t_off
        out[np.ix_(chunk, t_live)] = np.minimum.reduceat(at_portals, t_start, axis=1)
    return out


def apply_same_chain(core: CoreGraph, dep: Portals, arr: Portals, out: np.ndarray) -> None:
    """Lower ``out`` where an origin and a destination portal lie on one contracted chain."""
    if core.n_chains == 0:
        return
    s_chain = core.chain[dep.state]
    d_chain = core.chain[arr.state]
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
    fs, fd = core.fwd_s[dep.state[s_leg]], core.fwd_s[arr.state[d_leg]]
    gs, gd = core.bwd_s[dep.state[s_leg]], core.bwd_s[arr.state[d_leg]]
    along = np.where(fd >= fs, fd - fs, np.where(core.chain_two_way[c], gs - gd, np.inf))
    total = dep.offset[s_leg] + along + arr.offset[d_leg]
    np.minimum.at(out, (dep.point[s_leg], arr.point[d_leg]), total)
