"""The compact road network: CSR arrays of travel times, node coordinates and a KD-tree.

A :class:`RoadNetwork` is plain data shared by every routing stage. Builders in
``coverage.routing.network`` produce it; queries in ``coverage.routing.matrix``,
``surface`` and ``isochrones`` consume it.

Invariants (checked by :meth:`RoadNetwork.validate`):

- nodes are numbered ``0 .. n_nodes-1``; edges of node ``u`` are
  ``indices[indptr[u]:indptr[u+1]]`` with travel times ``seconds[...]``;
- no parallel edges (``u -> v`` appears at most once, the fastest kept) and no
  self-loops;
- every travel time is finite and strictly positive (at least
  :data:`MIN_EDGE_SECONDS`), because ``scipy.sparse.csgraph`` ignores explicit zeros;
- coordinates are metres in EPSG:2154 (Lambert-93) unless ``crs`` says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse
from scipy.spatial import cKDTree

from coverage.errors import NetworkError

if TYPE_CHECKING:
    from coverage.routing.core import CoreGraph

MIN_EDGE_SECONDS = 1e-3
"""Smallest travel time kept on an edge, in seconds."""


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
class RoadNetwork:
    """A directed road graph in compressed sparse row form.

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
    """

    indptr: np.ndarray
    indices: np.ndarray
    seconds: np.ndarray
    length_m: np.ndarray
    node_x: np.ndarray
    node_y: np.ndarray
    node_id: np.ndarray
    info: NetworkInfo = field(default_factory=NetworkInfo)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.indptr.shape[0] - 1)

    @property
    def n_edges(self) -> int:
        """Number of directed edges."""
        return int(self.indices.shape[0])

    @cached_property
    def csr(self) -> scipy.sparse.csr_matrix:
        """Travel-time matrix (seconds) as a ``scipy.sparse.csr_matrix``, shared, not copied."""
        n = self.n_nodes
        return scipy.sparse.csr_matrix((self.seconds, self.indices, self.indptr), shape=(n, n))

    @cached_property
    def csr_reversed(self) -> scipy.sparse.csr_matrix:
        """Transposed travel-time matrix, for queries *to* a set of nodes."""
        return self.csr.transpose().tocsr()

    @cached_property
    def core(self) -> CoreGraph:
        """The contracted core graph used by many-to-many queries (computed once)."""
        from coverage.routing.core import contract_network

        return contract_network(self)

    @cached_property
    def kdtree(self) -> cKDTree:
        """KD-tree over node coordinates."""
        return cKDTree(np.column_stack([self.node_x, self.node_y]))

    @property
    def total_length_km(self) -> float:
        """Sum of directed edge lengths in kilometres (a two-way road counts twice)."""
        return float(self.length_m.sum() / 1000.0)

    def validate(self) -> RoadNetwork:
        """Check the invariants listed in the module docstring.

        Returns
        -------
        RoadNetwork
            ``self``, so that builders can ``return net.validate()``.

        Raises
        ------
        NetworkError
            If an invariant does not hold.
        """
        n = self.n_nodes
        if n <= 0:
            raise NetworkError(f"network from {self.info.source or 'unknown source'} has no node")
        if self.indptr[0] != 0 or self.indptr[-1] != self.n_edges:
            raise NetworkError("indptr does not match the number of edges")
        if np.any(np.diff(self.indptr) < 0):
            raise NetworkError("indptr is not monotonic")
        for name in ("seconds", "length_m"):
            arr = getattr(self, name)
            if arr.shape[0] != self.n_edges:
                raise NetworkError(f"{name} has {arr.shape[0]} values for {self.n_edges} edges")
        for name in ("node_x", "node_y", "node_id"):
            arr = getattr(self, name)
            if arr.shape[0] != n:
                raise NetworkError(f"{name} has {arr.shape[0]} values for {n} nodes")
        if self.n_edges and (self.indices.min() < 0 or self.indices.max() >= n):
            raise NetworkError("edge head out of range")
        if not np.all(np.isfinite(self.seconds)) or np.any(self.seconds < MIN_EDGE_SECONDS):
            raise NetworkError(f"edge travel times must be finite and >= {MIN_EDGE_SECONDS} s")
        if not (np.all(np.isfinite(self.node_x)) and np.all(np.isfinite(self.node_y))):
            raise NetworkError("node coordinates must be finite")
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
            "report": dict(self.info.report),
        }


def network_from_edges(
    tail: np.ndarray,
    head: np.ndarray,
    seconds: np.ndarray,
    length_m: np.ndarray,
    node_x: np.ndarray,
    node_y: np.ndarray,
    node_id: np.ndarray | None = None,
    *,
    info: NetworkInfo | None = None,
) -> RoadNetwork:
    """Build a :class:`RoadNetwork` from an edge list, enforcing its invariants.

    Self-loops are dropped; among parallel edges the fastest is kept; travel
    times are clamped to at least :data:`MIN_EDGE_SECONDS`.

    Parameters
    ----------
    tail, head
        Node indices (``0 .. n-1``) of each edge.
    seconds
        Travel time of each edge in seconds.
    length_m
        Length of each edge in metres.
    node_x, node_y
        Node coordinates (EPSG:2154 metres).
    node_id
        Source identifiers of nodes; defaults to ``0 .. n-1``.
    info
        Provenance.

    Returns
    -------
    RoadNetwork
    """
    tail = np.asarray(tail, dtype=np.int64)
    head = np.asarray(head, dtype=np.int64)
    seconds = np.maximum(np.asarray(seconds, dtype=np.float64), MIN_EDGE_SECONDS)
    length_m = np.asarray(length_m, dtype=np.float64)
    node_x = np.asarray(node_x, dtype=np.float64)
    node_y = np.asarray(node_y, dtype=np.float64)
    n = node_x.shape[0]
    if node_id is None:
        node_id = np.arange(n, dtype=np.int64)
    keep = tail != head
    tail, head, seconds, length_m = tail[keep], head[keep], seconds[keep], length_m[keep]
    # sort by (tail, head, seconds) and keep the first of each (tail, head) pair
    order = np.lexsort((seconds, head, tail))
    tail, head, seconds, length_m = tail[order], head[order], seconds[order], length_m[order]
    if tail.size:
        first = np.ones(tail.size, dtype=bool)
        first[1:] = (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])
        tail, head, seconds, length_m = tail[first], head[first], seconds[first], length_m[first]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(tail, minlength=n), out=indptr[1:])
    index_dtype = np.int32 if n < np.iinfo(np.int32).max else np.int64
    net = RoadNetwork(
        indptr=indptr,
        indices=head.astype(index_dtype),
        seconds=seconds,
        length_m=length_m,
        node_x=node_x,
        node_y=node_y,
        node_id=np.asarray(node_id, dtype=np.int64),
        info=info or NetworkInfo(),
    )
    return net.validate()
