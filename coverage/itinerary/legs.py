"""Legs between the depot and the stops: the duration matrix, road distances and route lines.

:class:`LegMatrix` holds what the job computes on the road network
(:func:`coverage.jobs.itinerary.leg_matrix`): durations from
:func:`coverage.routing.matrix.travel_times` (access legs included), the matrix
every tour is solved and checked on; distances and route geometries from
:func:`coverage.routing.paths.routes`, the same routes made explicit on the
turn graph: a leg's distance is the length of the road driven (detour factor
included) plus its two access legs; its line runs from the point to its
projection on the road, through the nodes of the path, to the other point
(EPSG:2154).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from coverage.errors import QueryError


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
    n_depots
        The first ``n_depots`` points are depots; stop ``s`` is point ``n_depots + s``.
    """

    seconds: np.ndarray
    metres: np.ndarray
    path_seconds: np.ndarray
    xy: np.ndarray
    _paths: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, repr=False)
    n_depots: int = 1

    def day_points(self, depot: int, stops: Sequence[int]) -> list[int]:
        """Points of a day: the depot, the stops in order, the depot."""
        return [depot, *[self.n_depots + int(s) for s in stops], depot]

    def day_seconds(self, depot: int = 0) -> np.ndarray:
        """Durations seen from one depot: location 0 is depot ``depot``, ``s + 1`` is stop ``s``.

        This is the matrix every tour of that depot is solved and checked on
        (with one depot, the matrix itself).
        """
        if self.n_depots == 1 and depot == 0:
            return self.seconds
        if not 0 <= depot < self.n_depots:
            raise QueryError(f"le dépôt numéro {depot} est hors limites (0..{self.n_depots - 1})")
        idx = [depot, *range(self.n_depots, self.n_points)]
        return self.seconds[np.ix_(idx, idx)]

    @classmethod
    def from_matrix(
        cls,
        seconds: np.ndarray,
        xy: np.ndarray,
        *,
        metres: np.ndarray | None = None,
        n_depots: int = 1,
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
        n_depots
            Number of depots (the first points).

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
                f"la matrice est de forme {tuple(int(n) for n in seconds.shape)} pour "
                f"{int(xy.shape[0])} points ; les deux doivent correspondre"
            )
        if np.any(seconds < 0):
            raise QueryError("les durées doivent être >= 0 secondes")
        if metres is None:
            metres = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
        paths = {(i, j): xy[[i, j]] for i in range(n) for j in range(n) if i != j}
        return cls(
            seconds=seconds,
            metres=np.asarray(metres, dtype=np.float64),
            path_seconds=seconds.copy(),
            xy=xy,
            _paths=paths,
            n_depots=int(n_depots),
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


def check_consistency(legs: LegMatrix, *, tolerance_s: float = 1.0) -> dict[str, Any]:
    """Largest gap between the matrix and the recovered paths (for tests and reports).

    Raises
    ------
    QueryError
        When a finite matrix time has no path.
    """
    finite = np.isfinite(legs.seconds)
    if np.any(finite & ~np.isfinite(legs.path_seconds)):
        raise QueryError("un trajet atteignable n'a pas de chemin retrouvé")
    diff = np.abs(np.where(finite, legs.seconds - legs.path_seconds, 0.0))
    return {
        "max_gap_s": float(diff.max()) if diff.size else 0.0,
        "ok": bool(diff.max() <= tolerance_s),
    }
