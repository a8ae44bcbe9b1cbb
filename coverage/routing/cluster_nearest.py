"""The nearest facility of many origins, computed on a Dask cluster (:func:`nearest_on_cluster`).

The nearest-facility search itself is one multi-source search over the turn
graph from all facilities at once (:func:`coverage.routing.matrix.state_times_to_nearest`,
a fraction of a second even on a million nodes); what grows with the origins is
joining them to the roads and reading their times. So the client runs the search
once, sends the network and the times of every state to every worker once
(:func:`coverage.cluster.scatter_once`, never pickled into each task), and the
**origins** are split into chunks: each task joins its chunk to the roads
(:func:`coverage.routing.snap.snap_points`) and reads its times
(:meth:`coverage.routing.matrix.StateTimes.at_points`), exactly as the local
:func:`coverage.routing.matrix.nearest` does for all of them. The answers are
gathered in chunk order.

Memory per worker: the network and its turn graph (about 800 MB pickled for the
generator's 1 M-node graph), the state times (16 bytes per state) and one
chunk's joins (about 100 bytes per origin). Tasks are pure: a worker lost
mid-run has its tasks run again elsewhere (``retries``), with the same answer.

**One huge territory** (:class:`ClusterPoints`, used by ``coverage run --cluster``
through :class:`coverage.access.AccessContext`): the populated cells are joined to
the roads once, chunk by chunk on the workers (:meth:`ClusterPoints.snap`), and
each analysis' nearest-facility times are read chunk by chunk on the workers
(:meth:`ClusterPoints.at_points`) from the one search the client runs. The network
is scattered once to every worker for the whole run; a chunk's joined cells travel
with its task (a few MB for 20 000 cells), so a task lost with its worker runs
again elsewhere from what the scheduler holds. Memory per worker: the network
(and its turn graph) plus, per running task, one chunk (about 300 bytes per cell
joined, 100 per cell read) and the state times (16 bytes per turn-graph state).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from coverage.cluster import (
    DEFAULT_CHUNK_CELLS,
    MAX_CHUNK_CELLS,
    scatter_once,
    with_rescatter,
)
from coverage.errors import QueryError
from coverage.routing.graph import RoadNetwork
from coverage.routing.matrix import Direction, StateTimes, state_times_to_nearest
from coverage.routing.snap import AccessSettings, SnappedPoints, snap_points

DEFAULT_CHUNK_ORIGINS = 50_000
"""Origins joined and read in one task."""
SNAP_STEP = "Raccordement des cellules au réseau (tâches Dask)"
TIMES_STEP = "Temps d'accès des cellules (tâches Dask)"


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
    points = snap_points(network, origins_xy, access=access, name="origins")
    return _rebuilt(network, state_times).at_points(points)


def _payload(times: StateTimes) -> tuple[np.ndarray, np.ndarray, Any, float | None, str]:
    """What a worker needs of a search's times (its turn graph is the scattered network's)."""
    return (times.seconds, times.facility, times.facilities, times.max_seconds, times.direction)


def _rebuilt(
    network: RoadNetwork, payload: tuple[np.ndarray, np.ndarray, Any, float | None, str]
) -> StateTimes:
    """The search's times again, on the worker's copy of the network's turn graph."""
    seconds, facility, facilities, max_seconds, direction = payload
    return StateTimes(
        seconds=seconds,
        facility=facility,
        direction=direction,
        facilities=facilities,
        max_seconds=max_seconds,
        turns=network.turn_graph,
    )


def snap_chunk(
    network: RoadNetwork, xy: np.ndarray, access: AccessSettings | None, name: str
) -> SnappedPoints:
    """One task: a chunk of points joined to the roads (:func:`snap_points`)."""
    return snap_points(network, xy, access=access, name=name)


def times_of_chunk(
    network: RoadNetwork,
    payload: tuple[np.ndarray, np.ndarray, Any, float | None, str],
    points: SnappedPoints,
) -> tuple[np.ndarray, np.ndarray]:
    """One task: the nearest facility's time of a chunk of joined points."""
    return _rebuilt(network, payload).at_points(points)


@dataclass(eq=False)
class ClusterPoints:
    """A run's road network on a Dask cluster, and its points joined and read in chunks.

    Open it once per run (:meth:`open` scatters the network to every worker);
    :meth:`snap` joins points chunk by chunk on the workers, :meth:`at_points`
    reads a search's times chunk by chunk. Both give, array for array, what the
    local :func:`snap_points` and :meth:`StateTimes.at_points` give.

    Attributes
    ----------
    client
        The ``distributed.Client``.
    network
        The road network (the client's copy).
    network_future
        Its copy on every worker.
    chunk_points
        Points per task.
    retries
        Times a task is run again when its worker is lost.
    progress
        Told of each finished task (``progress(step, done=, total=)``).
    """

    client: Any
    network: RoadNetwork
    network_future: Any
    chunk_points: int = DEFAULT_CHUNK_CELLS
    retries: int = 3
    progress: Any = None

    def __post_init__(self) -> None:
        self._chunked: tuple[SnappedPoints, list[SnappedPoints]] | None = None

    @classmethod
    def open(
        cls,
        client: Any,
        network: RoadNetwork,
        *,
        chunk_points: int = DEFAULT_CHUNK_CELLS,
        retries: int = 3,
        progress: Any = None,
    ) -> ClusterPoints:
        """Scatter ``network`` to every worker of ``client``'s cluster, once.

        Raises
        ------
        QueryError
            ``chunk_points`` outside ``1 ..`` :data:`MAX_CHUNK_CELLS`.
        """
        chunk = int(chunk_points)
        if not 1 <= chunk <= MAX_CHUNK_CELLS:
            raise QueryError(
                f"la taille des lots de cellules doit être entre 1 et {MAX_CHUNK_CELLS}, "
                f"reçu {chunk_points}"
            )
        future = with_rescatter(lambda _n: scatter_once(client, network))
        return cls(client, network, future, chunk, int(retries), progress)

    @property
    def workers(self) -> int:
        """Workers of the cluster now."""
        return len(self.client.scheduler_info().get("workers", {}))

    def describe(self) -> dict[str, Any]:
        """Where the run computed (for ``summary.json``)."""
        return {
            "scheduler": str(getattr(self.client.scheduler, "address", "")),
            "workers": self.workers,
            "chunk_cells": self.chunk_points,
            "chunks": len(self._chunked[1]) if self._chunked is not None else None,
        }

    def _network_on_workers(self, attempt: int) -> Any:
        """The network's future; scattered anew on a step's second try (its copies were lost)."""
        if attempt:
            self.network_future = scatter_once(self.client, self.network)
        return self.network_future

    def _submit(self, function: Any, *args: Any) -> Any:
        """One retried task; its chunk travels with it (so that it can run again anywhere)."""
        with warnings.catch_warnings():
            # by design: a chunk is part of its task (a few MB), not scattered data a dead
            # worker would take with it
            warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
            return self.client.submit(function, *args, retries=self.retries, pure=False)

    def _gather(self, futures: list[Any], step: str) -> list[Any]:
        from coverage.cluster import gather_with_progress

        return gather_with_progress(self.client, futures, step=step, progress=self.progress)

    def snap(
        self, xy: np.ndarray, *, access: AccessSettings | None, name: str = "cells"
    ) -> SnappedPoints:
        """``snap_points(network, xy, access=access)``, one task per chunk of points."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        step = self.chunk_points
        if xy.shape[0] == 0:
            return snap_points(self.network, xy, access=access, name=name)

        def attempt(number: int) -> list[SnappedPoints]:
            network = self._network_on_workers(number)
            futures = [
                self._submit(snap_chunk, network, xy[first : first + step], access, name)
                for first in range(0, xy.shape[0], step)
            ]
            return self._gather(futures, SNAP_STEP)

        return SnappedPoints.concat(with_rescatter(attempt))

    def chunks(self, points: SnappedPoints) -> list[SnappedPoints]:
        """``points`` cut into chunks of :attr:`chunk_points` (cut once per point set)."""
        if self._chunked is None or self._chunked[0] is not points:
            step = self.chunk_points
            parts = [
                points.subset(np.arange(first, min(first + step, points.n_points)))
                for first in range(0, points.n_points, step)
            ]
            self._chunked = (points, parts)
        return self._chunked[1]

    def at_points(self, times: StateTimes, points: SnappedPoints) -> tuple[np.ndarray, np.ndarray]:
        """``times.at_points(points)``, one task per chunk of points.

        The search's state times are scattered to every worker once for all chunks.
        """
        parts = self.chunks(points)
        if not parts:
            return times.at_points(points)

        def attempt(number: int) -> list[tuple[np.ndarray, np.ndarray]]:
            network = self._network_on_workers(number)
            payload = scatter_once(self.client, _payload(times))
            futures = [self._submit(times_of_chunk, network, payload, part) for part in parts]
            return self._gather(futures, TIMES_STEP)

        done = with_rescatter(attempt)
        return (
            np.concatenate([seconds for seconds, _ in done]),
            np.concatenate([facility for _, facility in done]).astype(np.int64, copy=False),
        )


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
    step = int(chunk_origins)
    if xy.shape[0] == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)

    def attempt(_number: int) -> list[tuple[np.ndarray, np.ndarray]]:
        network_future = scatter_once(client, network)
        times_future = scatter_once(client, _payload(times))
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
        return client.gather(futures)

    parts = with_rescatter(attempt)
    return (
        np.concatenate([seconds for seconds, _ in parts]),
        np.concatenate([facility for _, facility in parts]).astype(np.int64, copy=False),
    )
