"""The road network as arrays: CSR road edges, their attributes, node coordinates.

:class:`RoadArrays` is plain data shared by every routing stage, and the base of
:class:`~coverage.routing.graph.RoadNetwork`, which adds the structures built from it
once for queries. The modules that build those structures (``turns``, ``stretches``,
``core``) read only this module, so that ``graph`` can import them. Builders in
``coverage.routing.network`` produce it; queries in ``coverage.routing.matrix``,
``surface``, ``isochrones`` and ``paths`` consume it through its turn graph
(:attr:`RoadNetwork.turn_graph`, :mod:`coverage.routing.turns`), where a car's
state is the road edge it drives on, so that turns, turn restrictions and
U-turn rules are part of every route.

Invariants (checked by :meth:`RoadArrays.validate`):

- nodes are numbered ``0 .. n_nodes-1``; edges of node ``u`` are
  ``indices[indptr[u]:indptr[u+1]]`` with travel times ``seconds[...]``; an
  edge is a straight segment between its two nodes (long roads are cut at
  shape points by the builder), so a point projects on it exactly;
- no parallel edges (``u -> v`` appears at most once, the fastest kept) and no
  self-loops;
- every travel time is finite and strictly positive (at least
  :data:`MIN_EDGE_SECONDS`);
- per-edge attributes (road class, OSM way, bearings) and per-node delays have
  one value per edge / node;
- coordinates are metres in EPSG:2154 (Lambert-93) unless ``crs`` says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Self

import numpy as np
import scipy.sparse
from scipy.spatial import cKDTree

from coverage._french import plural
from coverage.errors import NetworkError
from coverage.routing.speeds import TurnCosts

MIN_EDGE_SECONDS = 1e-3
"""Smallest travel time kept on an edge, in seconds."""

ROAD_CLASSES: tuple[str, ...] = (
    "motorway",
    "motorway_link",
    "trunk",
    "trunk_link",
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
    "tertiary",
    "tertiary_link",
    "unclassified",
    "road",
    "residential",
    "living_street",
    "busway",
    "service",
    "track",
    "other",
)
"""OSM ``highway`` classes an edge may have; :attr:`RoadNetwork.edge_class` indexes this."""

ROAD_CLASS_RANK = np.array([7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 0, 1, 0, 0, 1], dtype=np.int8)
"""Rank of each class of :data:`ROAD_CLASSES` (a link ranks as its road): who gives way."""

UNCLASSIFIED_CODE = ROAD_CLASSES.index("other")
NO_SNAP_CLASSES = frozenset({"motorway", "motorway_link"})
"""Classes a point never joins directly (no house opens on a motorway)."""


def road_class_code(highway: str) -> int:
    """Index of an OSM ``highway`` value in :data:`ROAD_CLASSES` (``other`` when unknown)."""
    try:
        return ROAD_CLASSES.index(highway)
    except ValueError:
        return UNCLASSIFIED_CODE


@dataclass(frozen=True)
class TurnRestrictions:
    """Turn restrictions on a network, as sequences of nodes a route may not (or must) follow.

    Restriction ``i`` is the node sequence ``nodes[ptr[i]:ptr[i+1]]`` (three nodes for a
    restriction via a node: the node before, the via node, the node after; more for a
    restriction via ways). ``only[i]`` says it is mandatory (``only_*``: arriving along the
    first edges, the last edge is the only way on) rather than prohibitive (``no_*``: the
    whole sequence may not be driven). ``relation_id`` is the OSM relation.
    """

    ptr: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    nodes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    only: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    relation_id: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def n(self) -> int:
        """Number of restrictions."""
        return int(self.only.shape[0])

    def sequence(self, i: int) -> np.ndarray:
        """Node sequence of restriction ``i``."""
        return self.nodes[self.ptr[i] : self.ptr[i + 1]]

    @classmethod
    def from_sequences(
        cls, sequences: list[list[int]], only: list[bool], relation_ids: list[int]
    ) -> TurnRestrictions:
        """Build from Python lists (one node list per restriction)."""
        ptr = np.zeros(len(sequences) + 1, dtype=np.int64)
        np.cumsum([len(q) for q in sequences], out=ptr[1:])
        nodes = (
            np.concatenate([np.asarray(q, dtype=np.int64) for q in sequences])
            if sequences
            else np.zeros(0, dtype=np.int64)
        )
        return cls(
            ptr=ptr,
            nodes=nodes,
            only=np.asarray(only, dtype=bool),
            relation_id=np.asarray(relation_ids, dtype=np.int64),
        )


@dataclass(frozen=True)
class NetworkInfo:
    """Provenance and build report of a road network.

    Attributes
    ----------
    source
        Path or description of the source (file path, ``"osmnx:graph_from_polygon"``).
    source_kind
        ``"osm_xml"``, ``"pbf"``, ``"graphml"``, ``"osmnx"`` or ``"synthetic"``.
    source_checksum
        SHA-256 of the source file(s), used as cache key.
    source_date
        Date of the data (OSM replication timestamp, file date) as ISO text, or ``""``.
    profile
        Name of the speed profile.
    detour_factor, calibration_factor, peak_factor
        Multipliers applied to edge lengths and times (see ``coverage.routing.speeds``).
    crs
        CRS of node coordinates.
    report
        Free-form build report: components dropped, dangling ways split, etc.
    """

    source: str = ""
    source_kind: str = ""
    source_checksum: str = ""
    source_date: str = ""
    profile: str = ""
    detour_factor: float = 1.0
    calibration_factor: float = 1.0
    peak_factor: float = 1.0
    crs: str = "EPSG:2154"
    report: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class RoadArrays:
    """A directed road graph in compressed sparse row form (plain arrays).

    Attributes
    ----------
    indptr
        ``int64`` array of length ``n_nodes + 1``.
    indices
        ``int32`` (or ``int64``) array of length ``n_edges``: head node of each edge.
    seconds
        ``float64`` travel time of each edge, in seconds.
    length_m
        ``float64`` length of each edge in metres, detour factor included.
    node_x, node_y
        ``float64`` node coordinates (metres, EPSG:2154).
    node_id
        ``int64`` identifier of each node in the source (OSM id), for tracing.
    info
        Provenance and build report.
    edge_class
        ``int8`` index of each edge's road class in :data:`ROAD_CLASSES` (``None``: all
        ``other``).
    edge_way_id
        ``int64`` OSM id of the way each edge comes from (-1 unknown; ``None``: all unknown).
    edge_bearing_out, edge_bearing_in
        ``float32`` direction of travel in degrees clockwise from north (grid north of
        the CRS) when leaving the edge's tail and when arriving at its head, taken on
        the road's own geometry near the node (``None``: the straight segment's).
    node_delay_s
        ``float64`` seconds added to every move through each node (traffic signals,
        gates, toll booths; ``None``: none).
    restrictions
        Turn restrictions, in node indices of this network.
    turn_costs
        Turn costs of the speed profile (:class:`~coverage.routing.speeds.TurnCosts`).
    """

    indptr: np.ndarray
    indices: np.ndarray
    seconds: np.ndarray
    length_m: np.ndarray
    node_x: np.ndarray
    node_y: np.ndarray
    node_id: np.ndarray
    info: NetworkInfo = field(default_factory=NetworkInfo)
    edge_class: np.ndarray | None = None
    edge_way_id: np.ndarray | None = None
    edge_bearing_out: np.ndarray | None = None
    edge_bearing_in: np.ndarray | None = None
    node_delay_s: np.ndarray | None = None
    restrictions: TurnRestrictions = field(default_factory=TurnRestrictions)
    turn_costs: TurnCosts = field(default_factory=TurnCosts)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.indptr.shape[0] - 1)

    @property
    def n_edges(self) -> int:
        """Number of directed edges."""
        return int(self.indices.shape[0])

    @cached_property
    def edge_tail(self) -> np.ndarray:
        """Tail node of each edge (``int64``)."""
        return np.repeat(np.arange(self.n_nodes, dtype=np.int64), np.diff(self.indptr))

    @cached_property
    def classes(self) -> np.ndarray:
        """:attr:`edge_class`, or ``other`` everywhere when unknown."""
        if self.edge_class is not None:
            return self.edge_class
        return np.full(self.n_edges, UNCLASSIFIED_CODE, dtype=np.int8)

    @cached_property
    def bearings(self) -> tuple[np.ndarray, np.ndarray]:
        """(bearing leaving the tail, bearing arriving at the head) of every edge, degrees."""
        if self.edge_bearing_out is not None and self.edge_bearing_in is not None:
            return self.edge_bearing_out, self.edge_bearing_in
        tail, head = self.edge_tail, self.indices
        chord = np.degrees(
            np.arctan2(self.node_x[head] - self.node_x[tail], self.node_y[head] - self.node_y[tail])
        ).astype(np.float32)
        return chord, chord

    @cached_property
    def delays(self) -> np.ndarray:
        """:attr:`node_delay_s`, or zeros."""
        if self.node_delay_s is not None:
            return self.node_delay_s
        return np.zeros(self.n_nodes, dtype=np.float64)

    def edge_index(self, tail: np.ndarray, head: np.ndarray) -> np.ndarray:
        """Index of edge ``tail -> head`` for each pair (-1 where there is no such edge)."""
        tail = np.asarray(tail, dtype=np.int64)
        head = np.asarray(head, dtype=np.int64)
        keys = self.edge_tail * self.n_nodes + self.indices
        wanted = tail * self.n_nodes + head
        pos = np.minimum(np.searchsorted(keys, wanted), max(keys.size - 1, 0))
        if keys.size == 0:
            return np.full(wanted.shape, -1, dtype=np.int64)
        return np.where(keys[pos] == wanted, pos, -1).astype(np.int64)

    @cached_property
    def csr(self) -> scipy.sparse.csr_matrix:
        """Node-to-node travel-time matrix (seconds, no turn model), shared, not copied.

        This is the plain road graph, without turn costs and restrictions; queries use the
        turn graph (:attr:`coverage.routing.graph.RoadNetwork.turn_graph`). It serves as the
        free-turn reference in benchmarks and tests.
        """
        n = self.n_nodes
        return scipy.sparse.csr_matrix((self.seconds, self.indices, self.indptr), shape=(n, n))

    @cached_property
    def csr_reversed(self) -> scipy.sparse.csr_matrix:
        """Transposed travel-time matrix, for queries *to* a set of nodes."""
        return self.csr.transpose().tocsr()

    @cached_property
    def kdtree(self) -> cKDTree:
        """KD-tree over node coordinates."""
        return cKDTree(np.column_stack([self.node_x, self.node_y]))

    @property
    def total_length_km(self) -> float:
        """Sum of directed edge lengths in kilometres (a two-way road counts twice)."""
        return float(self.length_m.sum() / 1000.0)

    def validate(self) -> Self:
        """Check the invariants listed in the module docstring.

        Returns
        -------
        RoadArrays
            ``self``, so that builders can ``return net.validate()``.

        Raises
        ------
        NetworkError
            If an invariant does not hold.
        """
        n = self.n_nodes
        if n <= 0:
            raise NetworkError(
                f"le réseau de {self.info.source or 'source inconnue'} n'a aucun nœud"
            )
        if self.indptr[0] != 0 or self.indptr[-1] != self.n_edges:
            raise NetworkError("indptr ne correspond pas au nombre d'arcs")
        if np.any(np.diff(self.indptr) < 0):
            raise NetworkError("indptr n'est pas monotone")
        for name in ("seconds", "length_m"):
            arr = getattr(self, name)
            if arr.shape[0] != self.n_edges:
                raise NetworkError(
                    f"{name} a {int(arr.shape[0])} valeurs pour {plural(self.n_edges, 'arc')}"
                )
        for name in ("node_x", "node_y", "node_id"):
            arr = getattr(self, name)
            if arr.shape[0] != n:
                raise NetworkError(f"{name} a {int(arr.shape[0])} valeurs pour {plural(n, 'nœud')}")
        if self.n_edges and (self.indices.min() < 0 or self.indices.max() >= n):
            raise NetworkError("extrémité d'arc hors limites")
        if not np.all(np.isfinite(self.seconds)) or np.any(self.seconds < MIN_EDGE_SECONDS):
            raise NetworkError(
                f"les temps de parcours des arcs doivent être finis et >= {MIN_EDGE_SECONDS} s"
            )
        if not (np.all(np.isfinite(self.node_x)) and np.all(np.isfinite(self.node_y))):
            raise NetworkError("les coordonnées des nœuds doivent être finies")
        for name in ("edge_class", "edge_way_id", "edge_bearing_out", "edge_bearing_in"):
            arr = getattr(self, name)
            if arr is not None and arr.shape[0] != self.n_edges:
                raise NetworkError(
                    f"{name} a {int(arr.shape[0])} valeurs pour {plural(self.n_edges, 'arc')}"
                )
        if self.node_delay_s is not None:
            if self.node_delay_s.shape[0] != n:
                raise NetworkError(
                    f"node_delay_s a {int(self.node_delay_s.shape[0])} valeurs pour {n}"
                )
            if not np.all(np.isfinite(self.node_delay_s)) or np.any(self.node_delay_s < 0):
                raise NetworkError("les délais aux nœuds doivent être finis et >= 0 s")
        if (
            self.edge_class is not None
            and self.n_edges
            and (self.edge_class.min() < 0 or self.edge_class.max() >= len(ROAD_CLASSES))
        ):
            raise NetworkError("edge_class hors limites")
        r = self.restrictions
        if r.n and (r.nodes.min() < 0 or r.nodes.max() >= n):
            raise NetworkError("une interdiction de tourner cite un nœud hors limites")
        return self

    def summary(self) -> dict[str, Any]:
        """Return a plain-dict summary (nodes, edges, km, provenance, build report)."""
        return {
            "nodes": self.n_nodes,
            "edges": self.n_edges,
            "road_km_directed": round(self.total_length_km, 1),
            "source": self.info.source,
            "source_kind": self.info.source_kind,
            "source_date": self.info.source_date,
            "source_checksum": self.info.source_checksum,
            "profile": self.info.profile,
            "detour_factor": self.info.detour_factor,
            "calibration_factor": self.info.calibration_factor,
            "peak_factor": self.info.peak_factor,
            "crs": self.info.crs,
            "turn_restrictions": self.restrictions.n,
            "turn_costs": self.turn_costs.describe(),
            "report": dict(self.info.report),
        }
