"""Routes between points: the road edges driven, the distance and the line, on the turn graph.

A route is what :func:`coverage.routing.matrix.travel_times` times, made
explicit: from the origin's projection on its road, along the rest of that
edge, through the states of the turn graph (one search per origin with
predecessors, :func:`coverage.routing.kernels.shortest_tree`), onto the
destination's edge up to its projection; or along one edge when the
destination lies ahead of the origin on it. Its time equals the matrix's. Its
distance is the length of the road driven (the network's lengths, detour factor
included) plus the two access legs (distance to the projection × the access
detour factor). Its line (network CRS) runs point, projection, the nodes of the
path, projection, point. Its ``edges`` list the road edges in order (the first
and the last partly driven; an edge left at its very end or reached at its very
start is left out), which is what turn restrictions are checked on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from coverage.routing.graph import RoadNetwork
from coverage.routing.kernels import shortest_tree
from coverage.routing.matrix import _portals
from coverage.routing.portals import same_edge_times
from coverage.routing.snap import AccessSettings, SnappedPoints, snap_points

ROWS_PER_BLOCK = 16
"""Origins searched at once (bounds the memory of the predecessor arrays)."""


@dataclass(frozen=True, eq=False)
class Route:
    """One route between two points.

    Attributes
    ----------
    seconds
        Travel time (access legs included).
    metres
        Road distance plus access legs.
    edges
        Road edges driven, in order (the first and the last partly).
    line
        ``(k, 2)`` coordinates in the network's CRS.
    """

    seconds: float
    metres: float
    edges: np.ndarray
    line: np.ndarray


def routes(
    network: RoadNetwork,
    origins: Any,
    destinations: Any,
    *,
    access: AccessSettings | None = None,
) -> list[list[Route | None]]:
    """The fastest route from every origin to every destination (``None`` when unreachable).

    Parameters
    ----------
    network
        The road network.
    origins, destinations
        Points in the network's CRS or :class:`~coverage.routing.snap.SnappedPoints`.
    access
        Access-leg settings (ignored for already snapped points).

    Returns
    -------
    list of lists
        ``result[i][j]`` is the route from origin ``i`` to destination ``j``, or ``None``
        when either point is off the network or no route exists.
    """
    src = snap_points(network, origins, access=access, name="origins")
    dst = snap_points(network, destinations, access=access, name="destinations")
    turns = network.turn_graph
    dep = _portals(src, turns, "departure")
    arr = _portals(dst, turns, "arrival")
    arr_start = np.searchsorted(arr.point, np.arange(dst.n_points + 1))
    dep_start = np.searchsorted(dep.point, np.arange(src.n_points + 1))
    di, dj, direct_s, dc1, dc2 = same_edge_times(turns, src, dst)
    direct: dict[tuple[int, int], tuple[float, int, int]] = {}
    for i, j, s, c1, c2 in zip(
        di.tolist(), dj.tolist(), direct_s.tolist(), dc1.tolist(), dc2.tolist(), strict=True
    ):
        if (i, j) not in direct or s < direct[(i, j)][0]:
            direct[(i, j)] = (s, c1, c2)
    out: list[list[Route | None]] = [[None] * dst.n_points for _ in range(src.n_points)]
    live = [i for i in range(src.n_points) if dep_start[i + 1] > dep_start[i]]
    for lo in range(0, len(live), ROWS_PER_BLOCK):
        block = live[lo : lo + ROWS_PER_BLOCK]
        seed_ptr = np.zeros(len(block) + 1, dtype=np.int64)
        seed_ptr[1:] = np.cumsum([dep_start[i + 1] - dep_start[i] for i in block])
        sel = np.concatenate([np.arange(dep_start[i], dep_start[i + 1]) for i in block])
        dist, pred = shortest_tree(turns.graph, seed_ptr, dep.state[sel], dep.offset[sel])
        for r, i in enumerate(block):
            mine = sel[seed_ptr[r] : seed_ptr[r + 1]]
            for j in range(dst.n_points):
                a0, a1 = arr_start[j], arr_start[j + 1]
                best: Route | None = None
                if a1 > a0:
                    totals = dist[r, arr.state[a0:a1]] + arr.offset[a0:a1]
                    k = int(np.argmin(totals))
                    if np.isfinite(totals[k]):
                        best = _through_graph(
                            network, src, dst, dep, arr, mine, pred[r], dist[r], a0 + k
                        )
                if (i, j) in direct and (best is None or direct[(i, j)][0] <= best.seconds):
                    s, c1, c2 = direct[(i, j)]
                    best = _along_edge(network, src, dst, c1, c2, s)
                out[i][j] = best
    return out


def _through_graph(
    network: RoadNetwork,
    src: SnappedPoints,
    dst: SnappedPoints,
    dep: Any,
    arr: Any,
    seeds: np.ndarray,
    pred: np.ndarray,
    dist: np.ndarray,
    arrival: int,
) -> Route:
    turns = network.turn_graph
    state = int(arr.state[arrival])
    chain = [state]
    while pred[chain[-1]] >= 0:
        chain.append(int(pred[chain[-1]]))
    chain.reverse()
    start = chain[0]
    # the departure portal that put the search on the first state
    candidates = seeds[dep.state[seeds] == start]
    portal = int(candidates[np.argmin(np.abs(dep.offset[candidates] - dist[start]))])
    c0 = int(dep.candidate[portal])
    c1 = int(arr.candidate[arrival])
    e0 = int(src.edge[c0])
    edges = np.concatenate([[e0], turns.state_edge[np.asarray(chain, dtype=np.int64)]])
    length = network.length_m
    metres = (
        (1.0 - src.fraction[c0]) * length[e0]
        + float(length[edges[1:-1]].sum())
        + dst.fraction[c1] * length[edges[-1]]
    )
    access = src.settings
    metres += _access_m(src, c0, access) + _access_m(dst, c1, dst.settings)
    nodes = network.indices[edges[:-1]]  # head of every edge but the last
    line = np.vstack(
        [
            [src.x[src.point[c0]], src.y[src.point[c0]]],
            [src.proj_x[c0], src.proj_y[c0]],
            np.column_stack([network.node_x[nodes], network.node_y[nodes]]),
            [dst.proj_x[c1], dst.proj_y[c1]],
            [dst.x[dst.point[c1]], dst.y[dst.point[c1]]],
        ]
    )
    seconds = float(dist[state] + arr.offset[arrival])
    # an edge left at its very end, or reached at its very start, is not driven
    if edges.size > 1 and dst.fraction[c1] == 0.0:
        edges = edges[:-1]
    if edges.size > 1 and src.fraction[c0] == 1.0:
        edges = edges[1:]
    return Route(seconds=seconds, metres=float(metres), edges=edges.astype(np.int64), line=line)


def _along_edge(
    network: RoadNetwork, src: SnappedPoints, dst: SnappedPoints, c1: int, c2: int, seconds: float
) -> Route:
    edge = int(src.edge[c1])
    metres = (dst.fraction[c2] - src.fraction[c1]) * network.length_m[edge]
    metres += _access_m(src, c1, src.settings) + _access_m(dst, c2, dst.settings)
    line = np.array(
        [
            [src.x[src.point[c1]], src.y[src.point[c1]]],
            [src.proj_x[c1], src.proj_y[c1]],
            [dst.proj_x[c2], dst.proj_y[c2]],
            [dst.x[dst.point[c2]], dst.y[dst.point[c2]]],
        ]
    )
    return Route(
        seconds=float(seconds),
        metres=float(metres),
        edges=np.array([edge], dtype=np.int64),
        line=line,
    )


def _access_m(snapped: SnappedPoints, candidate: int, access: AccessSettings) -> float:
    p = snapped.point[candidate]
    gap = np.hypot(
        snapped.x[p] - snapped.proj_x[candidate], snapped.y[p] - snapped.proj_y[candidate]
    )
    return float(gap) * access.detour_factor
