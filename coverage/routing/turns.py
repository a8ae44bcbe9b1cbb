"""The turn-expanded graph: a car's state is the road edge it drives on, moves are turns.

Every query runs on this graph (:func:`build_turn_graph`), not on the node graph of
:class:`~coverage.routing.graph.RoadNetwork`, so that turn costs, turn
restrictions and U-turn rules are part of every route, as in the car profiles of
OSRM and Valhalla.

- **States.** State ``s`` (``0 .. n_edges-1``) is road edge ``s`` of the network,
  taken from its start: the value a search gives a state is the time at which the
  car is at the edge's tail, already heading along it. Restrictions via ways add
  copies of the via edges (see below); ``state_edge`` maps every state to its edge.
- **Moves.** State ``e = u -> v`` leads to state ``f = v -> w`` at cost
  ``seconds[e] + turn(e, f)``: the time to drive ``e`` plus the cost of the move
  at ``v`` (:class:`~coverage.routing.speeds.TurnCosts`): its turn class by
  angle at a junction of three roads or more, ``yield_s`` when another road at
  ``v`` ranks above ``e``'s class, and ``v``'s node delay (traffic signals,
  gates). Along a road (two roads at ``v``) only the node delay counts.
- **U-turns.** Going back to the node one came from (``w == u``) is allowed only
  when ``e`` has no other way on: a dead end, a road cut by a blocking barrier,
  the end of a one-way stretch; it costs ``u_turn_s``.
- **Restrictions via a node** ``[a, v, b]``: ``no_*`` removes the move
  ``(a -> v) -> (v -> b)``; ``only_*`` removes every other move out of ``a -> v``.
- **Restrictions via ways** ``[a, v_1, ..., v_k, b]``: the via edges get copies,
  entered only from ``a -> v_1``; along the copies the last move is removed
  (``no_*``) or made the only one (``only_*``). A car entering the via ways
  elsewhere drives the original states and is not restricted, as the relation
  says. Copies are shared between restrictions with the same beginning.
- **Components.** ``live`` states form the largest strongly connected component
  of the turn graph. A state outside it but joined to it (one can drive from it
  into the component, or from the component onto it: a road stretch entered
  only by a U-turn one may not make, say) is still ``usable``: a point may start
  or end a trip there. States neither way joined (a street closed by bollards at
  both ends) are not usable: points do not join them.

The graph is exact to its own definition: tests compare every query with
networkx's Dijkstra on the graph built here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import connected_components

from coverage.routing.kernels import ranges
from coverage.routing.roads import MIN_EDGE_SECONDS, ROAD_CLASS_RANK, RoadArrays

if TYPE_CHECKING:
    from coverage.routing.core import CoreGraph
    from coverage.routing.hierarchy import Hierarchy
    from coverage.routing.kernels import CsrGraph

HIERARCHY_MAX_STATES = 300_000
"""Largest turn graph whose contraction hierarchy is built on demand, once, then cached on
disk (on 2 cores: about 1-2 s for the Gers' 10 000 states, 10 s for 50 000, a minute for
250 000); a larger one uses a hierarchy only when one is cached."""
HIERARCHY_BREAK_EVEN_SEARCHES = 1_000
"""One-to-many searches after which building a turn graph's contraction hierarchy pays
(:meth:`TurnGraph.hierarchy_for`). Building costs about as many searches on the
contracted core whatever the graph's size (both grow with its states): measured by
``benchmarks/tables.py`` on 2 shared cores (wall), the Gers (9,920 states) 1.35 s
against 0.95 ms a search (1,416 searches), Imperial County (49,596 states) 2.5 s
against 3.0 ms (846), another run 920 on Imperial; earlier runs gave 860 and 545. At
1,000, a single table measured within 2 times the better of the two choices at every
size from 5 to 1,500 points on both graphs (worst: the Gers at 1,000 points, 1.98,
where the build is paid and the core would have been faster); a table on the hierarchy
then costs a tenth of the searches or less."""
HIERARCHY_FORMAT = 1
"""Bumped when the hierarchy or its cache file changes (old files are then ignored)."""


@dataclass(frozen=True, eq=False)
class TurnGraph:
    """The turn-expanded graph of a network (see the module docstring).

    Attributes
    ----------
    indptr, indices, weights
        CSR arrays of moves between states; ``weights`` in seconds (driving the
        state's edge plus the move's turn cost).
    state_edge
        Road edge of each state (``state_edge[s] == s`` for ``s < n_edges``).
    live
        Whether each state lies in the largest strongly connected component.
    usable
        Whether a point may join each state (live, or joined to the live states).
    edge_seconds
        Travel time of each road edge (the network's ``seconds``).
    report
        Counts: moves, U-turns allowed, restrictions applied or not, states not live.
    """

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    state_edge: np.ndarray
    live: np.ndarray
    usable: np.ndarray
    edge_seconds: np.ndarray
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def n_states(self) -> int:
        """Number of states."""
        return int(self.indptr.shape[0] - 1)

    @property
    def n_moves(self) -> int:
        """Number of moves (arcs)."""
        return int(self.indices.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of road edges (states that are not copies)."""
        return int(self.edge_seconds.shape[0])

    @cached_property
    def graph(self) -> CsrGraph:
        """The moves as a kernel graph (forward searches)."""
        from coverage.routing.kernels import CsrGraph

        return CsrGraph(self.indptr, self.indices, self.weights)

    @cached_property
    def reversed(self) -> CsrGraph:
        """The moves reversed (searches toward a set of states), built without copies to spare."""
        from coverage.routing.kernels import CsrGraph

        n = self.n_states
        order = np.argsort(self.indices, kind="stable")
        tail = np.repeat(np.arange(n, dtype=self.indices.dtype), np.diff(self.indptr))
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.indices, minlength=n), out=indptr[1:])
        return CsrGraph(indptr, tail[order], self.weights[order])

    @cached_property
    def csr(self) -> scipy.sparse.csr_matrix:
        """The moves as a ``scipy.sparse.csr_matrix`` (seconds)."""
        n = self.n_states
        return scipy.sparse.csr_matrix((self.weights, self.indices, self.indptr), shape=(n, n))

    @cached_property
    def core(self) -> CoreGraph:
        """The contracted core of the turn graph, for many-to-many queries (computed once)."""
        from coverage.routing.core import contract_graph

        return contract_graph(self.indptr, self.indices, self.weights)

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the moves (structure and weights): names the cached hierarchy."""
        import hashlib

        digest = hashlib.sha256()
        for arr in (self.indptr, self.indices, self.weights):
            digest.update(np.ascontiguousarray(arr).tobytes())
        return digest.hexdigest()

    def hierarchy(self, *, build: bool | None = None) -> Hierarchy | None:
        """The contraction hierarchy of the moves, from memory, the disk cache or built.

        A hierarchy answers many-to-many tables exactly and much faster than one search
        per row (:mod:`coverage.routing.hierarchy`). It is built when the C module is
        there and the graph has at most :data:`HIERARCHY_MAX_STATES` states (or when
        ``build`` is true), and written to ``cache_root()/hierarchies`` under the graph's
        :attr:`fingerprint`, so that later runs only read it.

        Returns
        -------
        Hierarchy or None
            None when no hierarchy is available (no C module, or too large and not cached).
        """
        cache = self.__dict__.setdefault("_hierarchy", {})
        if "value" in cache:
            return cache["value"]
        from coverage.routing.hierarchy import (
            Hierarchy,
            build_hierarchy,
            hierarchy_available,
        )

        if not hierarchy_available():
            return None
        path = _hierarchy_cache_file(self.fingerprint)
        found = None
        if path is not None and path.is_file():
            try:
                with np.load(path, allow_pickle=False) as data:
                    found = Hierarchy.from_arrays({k: data[k] for k in data.files})
            except Exception:  # a damaged or older file: build again
                found = None
        if found is None:
            if build is None:
                build = self.n_states <= HIERARCHY_MAX_STATES
            if not build:
                return None
            found = build_hierarchy(self.graph)
            if path is not None:
                _write_hierarchy(path, found)
        cache["value"] = found
        return found

    def hierarchy_for(self, searches: int) -> Hierarchy | None:
        """The hierarchy a query of ``searches`` one-to-many searches should use, or None.

        Rent or buy: a hierarchy in memory or in the disk cache is always used; otherwise
        it is built (:meth:`hierarchy`) only once the searches this graph has run on its
        core, this query's included, reach :data:`HIERARCHY_BREAK_EVEN_SEARCHES` (what a
        build costs), and the query runs on the core meanwhile. A stream of queries then
        never costs more than about twice the best choice made knowing it in advance, and
        a small table on a new graph never waits for a build (a minute for the largest
        graphs built on demand).

        Parameters
        ----------
        searches
            One-to-many searches the query needs without a hierarchy.

        Returns
        -------
        Hierarchy or None
        """
        found = self.hierarchy(build=False)
        if found is not None or self.n_states > HIERARCHY_MAX_STATES:
            return found
        cache = self.__dict__.setdefault("_hierarchy", {})
        searched = int(cache.get("core_searches", 0)) + max(int(searches), 0)
        if searched >= HIERARCHY_BREAK_EVEN_SEARCHES:
            return self.hierarchy(build=True)
        cache["core_searches"] = searched
        return None

    @cached_property
    def edge_states(self) -> tuple[np.ndarray, np.ndarray]:
        """States of every edge, the edge's own first: ``states[ptr[e]:ptr[e + 1]]``."""
        order = np.argsort(self.state_edge, kind="stable")
        ptr = np.zeros(self.n_edges + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.state_edge, minlength=self.n_edges), out=ptr[1:])
        return ptr, order.astype(np.int64)

    def to_networkx(self) -> Any:
        """The graph as a ``networkx.DiGraph`` (edge attribute ``weight``), for tests."""
        import networkx as nx

        tail = np.repeat(np.arange(self.n_states), np.diff(self.indptr))
        graph = nx.DiGraph()
        graph.add_nodes_from(range(self.n_states))
        graph.add_weighted_edges_from(
            zip(tail.tolist(), self.indices.tolist(), self.weights.tolist(), strict=True)
        )
        return graph


def _hierarchy_cache_file(fingerprint: str) -> Any:
    from coverage.settings import cache_root

    try:
        folder = cache_root() / "hierarchies"
    except Exception:
        return None
    return folder / f"ch{HIERARCHY_FORMAT}-{fingerprint[:24]}.npz"


def _write_hierarchy(path: Any, hierarchy: Any) -> None:
    import os
    import warnings

    from coverage._cache import atomic_path

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = atomic_path(path)
        try:
            with open(tmp, "wb") as handle:
                np.savez(handle, **hierarchy.arrays())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        warnings.warn(f"impossible d'écrire le cache de la hiérarchie {path} ({exc})", stacklevel=3)


def build_turn_graph(network: RoadArrays) -> TurnGraph:
    """Build the turn-expanded graph of a network (see the module docstring).

    Parameters
    ----------
    network
        A validated road network; its ``turn_costs``, ``restrictions``, bearings,
        classes and node delays define the moves.

    Returns
    -------
    TurnGraph
    """
    costs = network.turn_costs
    n_edges = network.n_edges
    tail = network.edge_tail
    head = network.indices.astype(np.int64)
    out_deg = np.diff(network.indptr)
    count = out_deg[head]
    src = np.repeat(np.arange(n_edges, dtype=np.int64), count)
    dst = ranges(network.indptr[head], count)
    at = head[src]
    uturn = head[dst] == tail[src]
    other = np.bincount(src[~uturn], minlength=n_edges)
    allowed = ~uturn | (other[src] == 0)

    # roads meeting at each node: distinct neighbours, either direction
    lo, hi = np.minimum(tail, head), np.maximum(tail, head)
    pairs = np.unique(lo * network.n_nodes + hi)
    roads = np.bincount(pairs // network.n_nodes, minlength=network.n_nodes) + np.bincount(
        pairs % network.n_nodes, minlength=network.n_nodes
    )
    rank = ROAD_CLASS_RANK[network.classes]
    node_rank = np.zeros(network.n_nodes, dtype=np.int8)
    np.maximum.at(node_rank, tail, rank)
    np.maximum.at(node_rank, head, rank)

    bearing_out, bearing_in = network.bearings
    angle = (bearing_out[dst].astype(np.float64) - bearing_in[src] + 180.0) % 360.0 - 180.0
    junction = roads[at] >= 3
    cost = np.where(junction & ~uturn, costs.class_costs()[costs.turn_class(angle)], 0.0)
    cost += np.where(junction & ~uturn & (node_rank[at] > rank[src]), costs.yield_s, 0.0)
    cost += np.where(uturn, costs.u_turn_s, 0.0)
    cost += network.delays[at]
    weight = np.maximum(network.seconds[src] + cost, MIN_EDGE_SECONDS)

    report: dict[str, Any] = {
        "states": n_edges,
        "u_turns_allowed": int((uturn & allowed).sum()),
        "u_turns_forbidden": int((uturn & ~allowed).sum()),
        "junction_moves": int((junction & ~uturn).sum()),
        "turn_costs": costs.describe(),
    }
    restr = network.restrictions
    via_node_seq: list[np.ndarray] = []
    via_way_seq: list[tuple[np.ndarray, bool, int]] = []
    unmatched = 0
    for i in range(restr.n):
        nodes = restr.sequence(i)
        edges = network.edge_index(nodes[:-1], nodes[1:])
        if (edges < 0).any():
            unmatched += 1
            continue
        if edges.size == 2:
            via_node_seq.append(np.array([edges[0], edges[1], int(restr.only[i])]))
        else:
            via_way_seq.append((edges, bool(restr.only[i]), int(restr.relation_id[i])))

    # restrictions via a node: remove moves
    removed = 0
    if via_node_seq:
        table = np.array(via_node_seq, dtype=np.int64)
        key = src * n_edges + dst
        sorter = np.argsort(key, kind="stable")
        no = table[table[:, 2] == 0]
        hit = _find(key, sorter, no[:, 0] * n_edges + no[:, 1])
        removed += int((allowed[hit[hit >= 0]]).sum())
        allowed[hit[hit >= 0]] = False
        only = table[table[:, 2] == 1]
        if only.size:
            from_edges = np.unique(only[:, 0])
            in_scope = np.isin(src, from_edges)
            keep_key = np.unique(only[:, 0] * n_edges + only[:, 1])
            chosen = np.isin(key, keep_key)
            removed += int((allowed & in_scope & ~chosen).sum())
            allowed[in_scope & ~chosen] = False
            allowed[in_scope & chosen] = True  # an only_u_turn makes its U-turn allowed
    src, dst, weight = src[allowed], dst[allowed], weight[allowed]

    state_edge = np.arange(n_edges, dtype=np.int64)
    n_copies = 0
    if via_way_seq:
        src, dst, weight, state_edge, n_copies = _apply_via_ways(
            src, dst, weight, state_edge, via_way_seq
        )
    n_states = state_edge.size
    order = np.lexsort((dst, src))
    src, dst, weight = src[order], dst[order], weight[order]
    indptr = np.zeros(n_states + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n_states), out=indptr[1:])
    index_dtype = np.int32 if n_states < np.iinfo(np.int32).max else np.int64
    indices = dst.astype(index_dtype)

    live = np.zeros(n_states, dtype=bool)
    usable = np.zeros(n_states, dtype=bool)
    if n_states:
        moves = scipy.sparse.csr_matrix(
            (np.ones(dst.size), indices, indptr), shape=(n_states, n_states)
        )
        _, labels = connected_components(moves, directed=True, connection="strong")
        live = labels == np.argmax(np.bincount(labels))
        usable = live | _reached(moves, live) | _reached(moves.transpose().tocsr(), live)
    report.update(
        {
            "moves": int(dst.size),
            "restrictions_via_node": len(via_node_seq),
            "restrictions_via_ways": len(via_way_seq),
            "restrictions_unmatched": unmatched,
            "moves_removed_by_restrictions": removed,
            "state_copies": n_copies,
            "states_not_live": int((~live).sum()),
            "states_not_usable": int((~usable).sum()),
        }
    )
    return TurnGraph(
        indptr=indptr,
        indices=indices,
        weights=weight.astype(np.float64),
        state_edge=state_edge,
        live=live,
        usable=usable,
        edge_seconds=network.seconds,
        report=report,
    )


def _reached(moves: scipy.sparse.csr_matrix, sources: np.ndarray) -> np.ndarray:
    """States reached from any of ``sources`` along ``moves``."""
    n = moves.shape[0]
    start = np.flatnonzero(sources)
    aug = scipy.sparse.csr_matrix(
        (
            np.ones(moves.nnz + start.size),
            np.concatenate([moves.indices, start]),
            np.concatenate([moves.indptr, [moves.indptr[-1] + start.size]]),
        ),
        shape=(n + 1, n + 1),
    )
    order = scipy.sparse.csgraph.breadth_first_order(
        aug, n, directed=True, return_predecessors=False
    )
    out = np.zeros(n + 1, dtype=bool)
    out[order] = True
    return out[:n]


def _find(keys: np.ndarray, sorter: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Position in ``keys`` of each ``wanted`` key (-1 when absent)."""
    if keys.size == 0 or wanted.size == 0:
        return np.full(wanted.shape, -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(keys, wanted, sorter=sorter), keys.size - 1)
    idx = sorter[pos]
    return np.where(keys[idx] == wanted, idx, -1)


def _apply_via_ways(
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    state_edge: np.ndarray,
    sequences: list[tuple[np.ndarray, bool, int]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Copy the via edges of restrictions via ways (a prefix tree of copies, see the docstring).

    Restrictions that begin on an edge another restriction passes through are applied
    first, so that the copies of that edge inherit them.
    """
    rows: dict[int, list[list[float]]] = {}
    order = np.argsort(src, kind="stable")
    starts = np.searchsorted(src[order], np.arange(state_edge.size + 1))

    def row(state: int) -> list[list[float]]:
        if state not in rows:
            sel = order[starts[state] : starts[state + 1]]
            rows[state] = [[float(d), float(w)] for d, w in zip(dst[sel], weight[sel], strict=True)]
        return rows[state]

    edge_of = list(state_edge.tolist())
    via_edges = {int(e) for edges, _, _ in sequences for e in edges[1:-1]}
    ordered = sorted(sequences, key=lambda item: int(item[0][0]) not in via_edges)
    trie: dict[tuple[int, ...], int] = {}
    for edges, only, _ in ordered:
        edges = [int(e) for e in edges]
        prev = edges[0]
        prefix: tuple[int, ...] = (edges[0],)
        for e in edges[1:-1]:
            prefix = (*prefix, e)
            if prefix in trie:
                prev = trie[prefix]
                continue
            copy = len(edge_of)
            edge_of.append(e)
            trie[prefix] = copy
            rows[copy] = [list(move) for move in row(e)]
            for move in row(prev):
                if edge_of[int(move[0])] == e:
                    move[0] = float(copy)
            prev = copy
        last = edges[-1]
        kept = [m for m in row(prev) if (edge_of[int(m[0])] == last) == only]
        rows[prev] = kept
    touched = np.array(sorted(rows), dtype=np.int64)
    keep = ~np.isin(src, touched)
    extra_src = [s for s in touched.tolist() for _ in rows[s]]
    extra = [m for s in touched.tolist() for m in rows[s]]
    new_src = np.concatenate([src[keep], np.asarray(extra_src, dtype=np.int64)])
    new_dst = np.concatenate([dst[keep], np.asarray([int(m[0]) for m in extra], dtype=np.int64)])
    new_w = np.concatenate([weight[keep], np.asarray([m[1] for m in extra], dtype=np.float64)])
    return (
        new_src,
        new_dst,
        new_w,
        np.asarray(edge_of, dtype=np.int64),
        len(edge_of) - state_edge.size,
    )
