"""The nearest facility of many origins, computed on a Dask cluster (:func:`nearest_on_cluster`).

The nearest-facility search itself is one multi-source search over the turn
graph from all facilities at once (:func:`coverage.routing.matrix.state_times_to_nearest`,
a fraction of a second even on a million nodes); what grows with the origins is
joining them to the roads and reading their times. So the client runs the search
once, sends the network and the times of every state to every worker once
(``client.scatter(..., broadcast=True)``, never pickled into each task), and the
**origins** are split into chunks: each task joins its chunk to the roads
(:func:`coverage.routing.snap.snap_points`) and reads its times
(:meth:`coverage.routing.matrix.StateTimes.at_points`), exactly as the local
:func:`coverage.routing.matrix.nearest` does for all of them. The answers are
gathered in chunk order.

Memory per worker: the network and its turn graph (about 800 MB pickled for the
generator's 1 M-node graph), the state times (16 bytes per state) and one
chunk's joins (about 100 bytes per origin). Tasks are pure: a worker lost
mid-run has its tasks run again elsewhere (``retries``), with the same answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coverage.errors import QueryError
from coverage.routing.graph import RoadNetwork
from coverage.routing.matrix import Direction, StateTimes, state_times_to_nearest
from coverage.routing.snap import AccessSettings, snap_points

DEFAULT_CHUNK_ORIGINS = 50_000
"""Origins joined and read in one task."""


def nearest_in_chunk(
    network: RoadNetwork,
    state_times: tuple[np.ndarray, np.ndarray, Any, float | None, str],
    origins_xy: np.ndarray,
    access: AccessSettings | None,
) -> tuple[np.ndarray, np.ndarray]:
    """One task: a chunk of origins joined to the roads, and their nearest facility.

    Parameters
    ----------
    network
        The road network (scattered to the workers).
    state_times
        ``(seconds, facility, facilities, max_seconds, direction)`` of the search
        (scattered), rebuilt here on the worker's own turn graph.
    origins_xy
        ``(k, 2)`` origin coordinates.
    access
        Access-leg settings of the origins.

    Returns
    -------
    (seconds, facility)
        As :func:`coverage.routing.matrix.nearest` gives them for these origins.
    """
    seconds, facility, facilities, max_seconds, direction = state_times
    times = StateTimes(
        seconds=seconds,
        facility=facility,
        direction=direction,
        facilities=facilities,
        max_seconds=max_seconds,
        turns=network.turn_graph,
    )
    points = snap_points(network, origins_xy, access=access, name="origins")
    return times.at_points(points)


def nearest_on_cluster(
    client: Any,
    network: RoadNetwork,
    origins_xy: np.ndarray,
    facilities: Any,
    *,
    direction: Direction = "to_facility",
    max_minutes: float | None = None,
    access: AccessSettings | None = None,
    chunk_origins: int = DEFAULT_CHUNK_ORIGINS,
    retries: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Time from each origin to its nearest facility, and which one, on a Dask cluster.

    Parameters
    ----------
    client
        A ``distributed.Client``.
    network
        The road network.
    origins_xy
        ``(n, 2)`` origin coordinates in the network's CRS.
    facilities
        Facility points (or snapped points).
    direction, max_minutes, access
        As for :func:`coverage.routing.matrix.nearest`.
    chunk_origins
        Origins per task (1 or more).
    retries
        Times a task is run again when its worker is lost.

    Returns
    -------
    (seconds, facility)
        Equal to :func:`coverage.routing.matrix.nearest`'s ``seconds`` and ``facility``.

    Raises
    ------
    QueryError
        ``chunk_origins`` below 1, or what the search raises (no facility on the network...).
    """
    if int(chunk_origins) < 1:
        raise QueryError(f"chunk_origins doit valoir au moins 1, reçu {chunk_origins}")
    xy = np.asarray(origins_xy, dtype=np.float64).reshape(-1, 2)
    times = state_times_to_nearest(
        network, facilities, direction=direction, max_minutes=max_minutes, access=access
    )
    network_future = client.scatter(network, broadcast=True)
    times_future = client.scatter(
        (times.seconds, times.facility, times.facilities, times.max_seconds, times.direction),
        broadcast=True,
    )
    step = int(chunk_origins)
    futures = [
        client.submit(
            nearest_in_chunk,
            network_future,
            times_future,
            xy[first : first + step],
            access,
            retries=retries,
            pure=False,
        )
        for first in range(0, xy.shape[0], step)
    ]
    if not futures:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    parts = client.gather(futures)
    return (
        np.concatenate([seconds for seconds, _ in parts]),
        np.concatenate([facility for _, facility in parts]).astype(np.int64, copy=False),
    )
