"""Where snapped points enter and leave the turn graph: portals and trips along one edge.

A search on the turn graph (:mod:`coverage.routing.turns`) gives each state the
time at which a car is at the start of its edge, heading along it. A point
snapped at ``fraction`` of edge ``e`` with access time ``a``
(:mod:`coverage.routing.snap`) relates to those values through *portals*,
``(point, state, offset)`` triples:

- **departure** (the point is where a trip starts): the car drives the rest of
  ``e`` and turns onto a next state ``y`` of ``e``, which it starts at
  ``offset = a + (1 - fraction) × seconds[e] + turn(e, y)``; so a departure
  portal is one per move out of ``e``;
- **arrival** (the point is where a trip ends): the car starts ``e`` (or a copy of
  ``e``, see restrictions via ways) and drives ``fraction`` of it:
  ``time = value(state) + a + fraction × seconds[e]``, one portal per state of ``e``.

A trip from a point to a point ahead of it on the same edge does not leave the
edge: :func:`same_edge_times` gives ``a1 + (f2 - f1) × seconds[e] + a2`` for those
pairs; every other trip goes through the portals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from coverage.routing.kernels import ranges
from coverage.routing.snap import SnappedPoints
from coverage.routing.turns import TurnGraph

INDEX_DTYPE = np.int32
"""Integer type of the portals' point, state and candidate indices.

A département's cells have some two million portals, kept for every search of the
process (:func:`coverage.routing.matrix._portals`): 32-bit indices save a quarter of
their memory (22 MB on the Gers). The shortest-path kernels widen them to 64 bits at
their boundary. An index that would not fit keeps 64 bits (:func:`_indices`).
"""


def _indices(values: np.ndarray, bound: int) -> np.ndarray:
    """``values`` (all below ``bound``) as :data:`INDEX_DTYPE` when ``bound`` fits it."""
    if bound <= np.iinfo(INDEX_DTYPE).max:
        return values.astype(INDEX_DTYPE, copy=False)
    return values.astype(np.int64, copy=False)


@dataclass(frozen=True, eq=False)
class Portals:
    """Portals of a set of points, sorted by point.

    The three index arrays are :data:`INDEX_DTYPE` (64-bit beyond its range).

    Attributes
    ----------
    point
        Point of each portal.
    state
        Turn-graph state of each portal.
    offset
        Seconds between the point and the state's value (see the module docstring).
    candidate
        The point's candidate (:class:`~coverage.routing.snap.SnappedPoints` row) it
        comes from.
    """

    point: np.ndarray
    state: np.ndarray
    offset: np.ndarray
    candidate: np.ndarray

    @property
    def size(self) -> int:
        """Number of portals."""
        return int(self.point.shape[0])


def departure_portals(turns: TurnGraph, snapped: SnappedPoints) -> Portals:
    """Portals of points as trip origins: one per move out of each candidate's edge."""
    edge = snapped.edge
    count = np.diff(turns.indptr)[edge]
    cand = np.repeat(np.arange(edge.size, dtype=np.int64), count)
    moves = ranges(turns.indptr[edge], count)
    seconds = turns.edge_seconds[edge[cand]]
    offset = snapped.access_s[cand] - snapped.fraction[cand] * seconds + turns.weights[moves]
    return Portals(
        point=_indices(snapped.point[cand], snapped.n_points),
        state=_indices(turns.indices[moves], turns.n_states),
        offset=np.maximum(offset, 0.0),
        candidate=_indices(cand, edge.size),
    )


def arrival_portals(turns: TurnGraph, snapped: SnappedPoints) -> Portals:
    """Portals of points as trip destinations: one per state of each candidate's edge."""
    ptr, states = turns.edge_states
    edge = snapped.edge
    count = ptr[edge + 1] - ptr[edge]
    cand = np.repeat(np.arange(edge.size, dtype=np.int64), count)
    offset = snapped.access_s[cand] + snapped.fraction[cand] * turns.edge_seconds[edge[cand]]
    return Portals(
        point=_indices(snapped.point[cand], snapped.n_points),
        state=_indices(states[ranges(ptr[edge], count)], turns.n_states),
        offset=offset,
        candidate=_indices(cand, edge.size),
    )


def same_edge_times(
    turns: TurnGraph, departing: SnappedPoints, arriving: SnappedPoints
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Trips that stay on one edge: a departing candidate and an arriving one ahead of it.

    Returns
    -------
    tuple of arrays
        Departing point, arriving point, seconds, and the two candidates (rows of
        ``departing`` and ``arriving``).
    """
    empty_i = np.empty(0, dtype=np.int64)
    if departing.n_candidates == 0 or arriving.n_candidates == 0:
        return empty_i, empty_i, np.empty(0), empty_i, empty_i
    left = pd.DataFrame({"edge": departing.edge, "c1": np.arange(departing.n_candidates)})
    right = pd.DataFrame({"edge": arriving.edge, "c2": np.arange(arriving.n_candidates)})
    pairs = left.merge(right, on="edge")
    if pairs.empty:
        return empty_i, empty_i, np.empty(0), empty_i, empty_i
    c1 = pairs["c1"].to_numpy(dtype=np.int64)
    c2 = pairs["c2"].to_numpy(dtype=np.int64)
    ahead = arriving.fraction[c2] >= departing.fraction[c1]
    c1, c2 = c1[ahead], c2[ahead]
    seconds = (
        departing.access_s[c1]
        + (arriving.fraction[c2] - departing.fraction[c1]) * turns.edge_seconds[departing.edge[c1]]
        + arriving.access_s[c2]
    )
    return departing.point[c1], arriving.point[c2], seconds, c1, c2


def best_per_point(
    n_points: int, point: np.ndarray, seconds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Smallest value per point and the row it comes from (-1 and inf for points without rows)."""
    best = np.full(n_points, np.inf)
    row = np.full(n_points, -1, dtype=np.int64)
    if point.size == 0:
        return best, row
    np.minimum.at(best, point, seconds)
    # the first row holding each point's minimum (fancy assignment keeps the last write:
    # write in reverse order)
    hits = np.flatnonzero((seconds == best[point]) & np.isfinite(seconds))[::-1]
    row[point[hits]] = hits
    return best, row
