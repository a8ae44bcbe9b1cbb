"""The road network queries run on: its arrays and the structures built from them once.

:class:`RoadNetwork` is :class:`~coverage.routing.roads.RoadArrays` (plain CSR
arrays of road edges, their attributes, node coordinates; the invariants are
listed in :mod:`coverage.routing.roads`) plus, computed on first use and kept,
the structures every query needs: the turn graph (:attr:`RoadNetwork.turn_graph`,
:mod:`coverage.routing.turns`), where a car's state is the road edge it drives
on, so that turns, turn restrictions and U-turn rules are part of every route;
the index of the road stretches points join (:attr:`RoadNetwork.snap_index`,
:mod:`coverage.routing.stretches`); the contracted node graph
(:attr:`RoadNetwork.core`, :mod:`coverage.routing.core`). Builders in
``coverage.routing.network`` produce it; queries in ``coverage.routing.matrix``,
``surface``, ``isochrones`` and ``paths`` consume it.

The constants and small types of :mod:`coverage.routing.roads` are importable
from here too, as they always were.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from coverage._memory import release_freed_memory
from coverage.routing.core import CoreGraph, contract_network
from coverage.routing.roads import (
    MIN_EDGE_SECONDS,
    NO_SNAP_CLASSES,
    ROAD_CLASS_RANK,
    ROAD_CLASSES,
    UNCLASSIFIED_CODE,
    NetworkInfo,
    RoadArrays,
    TurnRestrictions,
    road_class_code,
)
from coverage.routing.speeds import TurnCosts
from coverage.routing.stretches import SnapIndex, build_snap_index
from coverage.routing.turns import TurnGraph, build_turn_graph

__all__ = [
    "MIN_EDGE_SECONDS",
    "NO_SNAP_CLASSES",
    "ROAD_CLASSES",
    "ROAD_CLASS_RANK",
    "UNCLASSIFIED_CODE",
    "NetworkInfo",
    "RoadArrays",
    "RoadNetwork",
    "TurnRestrictions",
    "network_from_edges",
    "road_class_code",
]


@dataclass(frozen=True, eq=False)
class RoadNetwork(RoadArrays):
    """A directed road graph (:class:`~coverage.routing.roads.RoadArrays`) ready for queries.

    The fields are those of :class:`~coverage.routing.roads.RoadArrays`; the
    structures below are built on first use and kept with the network.
    """

    @cached_property
    def turn_graph(self) -> TurnGraph:
        """The turn-expanded graph every query runs on (computed once)."""
        graph = build_turn_graph(self)
        release_freed_memory()
        return graph

    @cached_property
    def snap_index(self) -> SnapIndex:
        """The road stretches points may join, spatially indexed (computed once)."""
        index = build_snap_index(self, self.turn_graph.usable[: self.n_edges])
        release_freed_memory()
        return index

    @cached_property
    def core(self) -> CoreGraph:
        """The contracted core of the plain node graph :attr:`csr` (free-turn reference)."""
        return contract_network(self)


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
    edge_class: np.ndarray | None = None,
    edge_way_id: np.ndarray | None = None,
    edge_bearing_out: np.ndarray | None = None,
    edge_bearing_in: np.ndarray | None = None,
    node_delay_s: np.ndarray | None = None,
    restrictions: TurnRestrictions | None = None,
    turn_costs: TurnCosts | None = None,
) -> RoadNetwork:
    """Build a :class:`RoadNetwork` from an edge list, enforcing its invariants.

    Self-loops are dropped; among parallel edges the fastest is kept (with its
    attributes); travel times are clamped to at least :data:`MIN_EDGE_SECONDS`.

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
    edge_class, edge_way_id, edge_bearing_out, edge_bearing_in
        Optional per-edge attributes (see :class:`RoadNetwork`), one per input edge.
    node_delay_s, restrictions, turn_costs
        Optional per-node delays, turn restrictions (node indices) and turn costs.

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
    attrs = {
        name: (np.asarray(value) if value is not None else None)
        for name, value in (
            ("edge_class", None if edge_class is None else np.asarray(edge_class, np.int8)),
            ("edge_way_id", None if edge_way_id is None else np.asarray(edge_way_id, np.int64)),
            (
                "edge_bearing_out",
                None if edge_bearing_out is None else np.asarray(edge_bearing_out, np.float32),
            ),
            (
                "edge_bearing_in",
                None if edge_bearing_in is None else np.asarray(edge_bearing_in, np.float32),
            ),
        )
    }
    keep = tail != head
    # sort by (tail, head, seconds) and keep the first of each (tail, head) pair
    order = np.flatnonzero(keep)
    order = order[np.lexsort((seconds[order], head[order], tail[order]))]
    if order.size:
        t, h = tail[order], head[order]
        first = np.ones(order.size, dtype=bool)
        first[1:] = (t[1:] != t[:-1]) | (h[1:] != h[:-1])
        order = order[first]
    tail, head, seconds, length_m = tail[order], head[order], seconds[order], length_m[order]
    attrs = {name: (None if arr is None else arr[order]) for name, arr in attrs.items()}
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
        node_delay_s=None if node_delay_s is None else np.asarray(node_delay_s, np.float64),
        restrictions=restrictions if restrictions is not None else TurnRestrictions(),
        turn_costs=turn_costs if turn_costs is not None else TurnCosts(),
        **attrs,
    )
    return net.validate()
