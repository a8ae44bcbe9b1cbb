"""The nearest facility of many origins, computed on a Dask cluster (:func:`nearest_on_cluster`).

The work is split by **facilities**, not by origins: the nearest of all facilities
is the nearest of the nearest of each group, so each task runs one multi-source
search (:func:`coverage.routing.matrix.state_times_to_nearest`) from a group of
facilities and reads every origin's time to that group; the client keeps, per
origin, the smallest time (the lowest facility index on an exact tie). The
network and the snapped origins are sent once to every worker
(``client.scatter(..., broadcast=True)``), never pickled into each task.

Memory per worker: the network and its turn graph, plus one search's arrays
(8 bytes × 2 per turn-graph state) and the group's answer for every origin
(16 bytes per origin). Tasks are pure: a worker lost mid-run has its tasks run
again elsewhere (``retries``), with the same answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coverage.errors import QueryError
from coverage.routing.graph import RoadNetwork
from coverage.routing.matrix import Direction, state_times_to_nearest
from coverage.routing.snap import AccessSettings, SnappedPoints, snap_points

DEFAULT_FACILITIES_PER_TASK = 25
"""Facilities searched together in one task."""


def nearest_in_group(
    network: RoadNetwork,
    points: SnappedPoints,
    facilities_xy: np.ndarray,
    first: int,
    *,
    direction: Direction,
    max_minutes: float | None,
    access: AccessSettings | None,
) -> tuple[np.ndarray, np.ndarray]:
    """One task: every origin's time to the nearest facility of a group, and its global index.

    Parameters
    ----------
    network
        The road network (scattered to the workers).
    points
        The snapped origins (scattered).
    facilities_xy
        ``(k, 2)`` coordinates of the group's facilities.
    first
        Index of the group's first facility among all facilities.
    direction, max_minutes, access
        As for :func:`coverage.routing.matrix.nearest`.

    Returns
    -------
    (seconds, facility)
        ``inf`` and -1 where no facility of the group is reached.
    """
    try:
        times = state_times_to_nearest(
            network, facilities_xy, direction=direction, max_minutes=max_minutes, access=access
        )
    except QueryError:  # no facility of this group joins the network
        return np.full(points.n_points, np.inf), np.full(points.n_points, -1, dtype=np.int64)
    seconds, facility = times.at_points(points)
    facility = np.where(facility >= 0, facility + first, -1).astype(np.int64)
    return seconds, facility


def nearest_on_cluster(
    client: Any,
    network: RoadNetwork,
    origins: Any,
    facilities_xy: np.ndarray,
    *,
    direction: Direction = "to_facility",
    max_minutes: float | None = None,
    access: AccessSettings | None = None,
    facilities_per_task: int = DEFAULT_FACILITIES_PER_TASK,
    retries: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Time from each origin to its nearest facility, and which one, on a Dask cluster.

    Parameters
    ----------
    client
        A ``distributed.Client``.
    network
        The road network.
    origins
        Origin points in the network's CRS (or snapped points).
    facilities_xy
        ``(n, 2)`` facility coordinates in the network's CRS.
    direction, max_minutes, access
        As for :func:`coverage.routing.matrix.nearest`.
    facilities_per_task
        Facilities searched together in one task (1 or more).
    retries
        Times a task is run again when its worker is lost.

    Returns
    -------
    (seconds, facility)
        The same as :func:`coverage.routing.matrix.nearest`'s ``seconds`` and
        ``facility`` (times equal; on an exact tie between two facilities, the
        lower index). ``NaN`` for origins too far from the network.

    Raises
    ------
    QueryError
        ``facilities_per_task`` below 1, or no facility at all.
    """
    if int(facilities_per_task) < 1:
        raise QueryError(f"facilities_per_task doit valoir au moins 1, reçu {facilities_per_task}")
    xy = np.asarray(facilities_xy, dtype=np.float64).reshape(-1, 2)
    if xy.shape[0] == 0:
        raise QueryError("aucun équipement : le plus proche n'a pas de sens")
    points = snap_points(network, origins, access=access, name="origins")
    network_future = client.scatter(network, broadcast=True)
    points_future = client.scatter(points, broadcast=True)
    step = int(facilities_per_task)
    futures = [
        client.submit(
            nearest_in_group,
            network_future,
            points_future,
            xy[first : first + step],
            first,
            direction=direction,
            max_minutes=max_minutes,
            access=access,
            retries=retries,
            pure=False,
        )
        for first in range(0, xy.shape[0], step)
    ]
    best = np.full(points.n_points, np.inf)
    best_facility = np.full(points.n_points, -1, dtype=np.int64)
    # groups are gathered in facility order, so a strict < keeps the lower index on a tie
    for seconds, facility in client.gather(futures):
        better = seconds < best
        best[better] = seconds[better]
        best_facility[better] = facility[better]
    best[points.too_far] = np.nan
    best_facility[points.too_far] = -1
    return best, best_facility
