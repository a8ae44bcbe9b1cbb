"""Contract chains of degree-2 nodes into a smaller "core" graph, keeping exact travel times.

A road network built from OpenStreetMap keeps shape nodes along long roads so
that points snap close to where they are; most of its nodes therefore have
exactly two neighbours. Routing many sources over those nodes wastes time: the
core graph replaces every chain ``A - x1 - ... - xm - B`` of such nodes by one
edge ``A -> B`` (and ``B -> A`` for a two-way chain) whose time is the sum of the
chain's edge times. Every removed node remembers its chain and its position on
it, so a travel time to or from a removed node is recovered exactly:

- entering ``x`` (as a destination): ``min(T(s, A) + F[x], T(s, B) + (Gtot - G[x]))``;
- leaving ``x`` (as an origin): ``min((Ftot - F[x]) + T(B, t), G[x] + T(A, t))``;
- two points on the same chain may also travel along it directly:
  ``F[y] - F[x]`` forward, ``G[x] - G[y]`` backward on a two-way chain;

where ``F[x]`` is the forward time from ``A`` to ``x`` along the chain, ``G[x]``
the backward time from ``x`` back to ``A`` (two-way chains only), and ``Ftot``,
``Gtot`` the chain totals. The second bullet needs the chain's interior to have
no other exit, which is what "degree 2" means. The first and last bullets are
what :mod:`coverage.routing.matrix` does with the chain tables below.

A node is removable when it has exactly two distinct neighbours ``a != b`` and its
edges are either all four of ``a <-> x <-> b`` (two-way chain) or exactly
``a -> x -> b`` (one-way chain). Adjacent removable nodes then always share the
chain's kind. A dead end (one neighbour, two-way) is removable too: the chain
``A - x1 - ... - leaf`` is *pendant*, has no end ``B`` (``chain_end == -1``) and
adds no core edge; its nodes are reached from ``A`` and leave through ``A``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import dijkstra

from coverage.routing.roads import MIN_EDGE_SECONDS, RoadArrays


@dataclass(frozen=True, eq=False)
class CoreGraph:
    """The contracted graph and the position of every removed node on its chain.

    Attributes
    ----------
    csr
        Travel-time matrix of the core graph (seconds), ``n_core × n_core``.
    core_node
        For each network node, its index in the core graph, or -1 if removed.
    core_to_node
        For each core node, the network node it stands for.
    chain
        For each network node, the chain it lies on, or -1 if it is kept.
    fwd_s, bwd_s
        For each removed node: ``F[x]`` (seconds from the chain's start ``A``
        forward to ``x``) and ``G[x]`` (seconds from ``x`` backward to ``A``;
        NaN on one-way chains). NaN for kept nodes.
    chain_start, chain_end
        Core indices of each chain's ends ``A`` and ``B`` (-1: pendant chain, no ``B``).
    chain_fwd_total_s, chain_bwd_total_s
        ``Ftot`` and ``Gtot`` of each chain (``Gtot`` NaN when one-way).
    chain_two_way
        Whether each chain can be travelled both ways.
    """

    csr: scipy.sparse.csr_matrix
    core_node: np.ndarray
    core_to_node: np.ndarray
    chain: np.ndarray
    fwd_s: np.ndarray
    bwd_s: np.ndarray
    chain_start: np.ndarray
    chain_end: np.ndarray
    chain_fwd_total_s: np.ndarray
    chain_bwd_total_s: np.ndarray
    chain_two_way: np.ndarray

    @property
    def n_core(self) -> int:
        """Number of nodes of the core graph."""
        return int(self.core_to_node.shape[0])

    @property
    def n_chains(self) -> int:
        """Number of contracted chains."""
        return int(self.chain_start.shape[0])

    @cached_property
    def csr_reversed(self) -> scipy.sparse.csr_matrix:
        """The transposed core matrix (for queries toward a set of nodes)."""
        return self.csr.transpose().tocsr()


def contract_network(network: RoadArrays) -> CoreGraph:
    """Contract the chains of degree-2 nodes of a network's node graph (free turns).

    Parameters
    ----------
    network
        A validated road network (no parallel edges, no self-loops).

    Returns
    -------
    CoreGraph
    """
    return contract_graph(network.indptr, network.indices, network.seconds)


def contract_graph(indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray) -> CoreGraph:
    """Contract the chains of degree-2 nodes of any directed CSR graph (see the module docstring).

    The graph must have no parallel arcs and no self-loops; the turn graph
    (:mod:`coverage.routing.turns`) and the node graph of a network qualify. In a turn
    graph, the states along a road between two junctions form one-way chains (U-turns
    are not allowed there), which this contracts.

    Parameters
    ----------
    indptr, indices, weights
        CSR arrays: node ``u``'s arcs are ``indices[indptr[u]:indptr[u + 1]]``.

    Returns
    -------
    CoreGraph
    """
    n = int(indptr.shape[0] - 1)
    tail = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    head = np.asarray(indices, dtype=np.int64)
    seconds = np.asarray(weights, dtype=np.float64)
    edge_keys = tail * n + head  # sorted: CSR rows are in order and heads sorted within rows
    if edge_keys.size > 1 and np.any(np.diff(edge_keys) <= 0):
        sorter = np.argsort(edge_keys, kind="stable")
    else:
        sorter = None

    def edge_time(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Time of edge u -> v, NaN when there is no such edge."""
        key = u * n + v
        if sorter is None:
            pos = np.minimum(np.searchsorted(edge_keys, key), edge_keys.size - 1)
            idx = pos
        else:
            pos = np.minimum(np.searchsorted(edge_keys, key, sorter=sorter), edge_keys.size - 1)
            idx = sorter[pos]
        return np.where(edge_keys[idx] == key, seconds[idx], np.nan)

    out_deg = np.bincount(tail, minlength=n)
    in_deg = np.bincount(head, minlength=n)
    lo, hi = np.minimum(tail, head), np.maximum(tail, head)
    pairs = np.unique(lo * n + hi)
    plo, phi = pairs // n, pairs % n
    und_deg = np.bincount(plo, minlength=n) + np.bincount(phi, minlength=n)
    in_nb = np.full(n, -1, dtype=np.int64)
    in_nb[head] = tail  # meaningful where in_deg == 1
    out_nb = np.full(n, -1, dtype=np.int64)
    out_nb[tail] = head  # meaningful where out_deg == 1

    leaf = (und_deg == 1) & (out_deg == 1) & (in_deg == 1)
    two_way = ((und_deg == 2) & (out_deg == 2) & (in_deg == 2)) | leaf
    one_way = (und_deg == 2) & (out_deg == 1) & (in_deg == 1) & (in_nb != out_nb)
    removable = two_way | one_way
    if n and removable.all():  # the whole graph is one ring or path: keep one node
        removable[0] = False
    rem_idx = np.flatnonzero(removable)
    m = rem_idx.size
    if m == 0:
        return _no_contraction(indptr, indices, seconds)

    # the neighbours of every removable node, in rem_idx order (-1: a leaf's missing one)
    src = np.concatenate([plo, phi])
    dst = np.concatenate([phi, plo])
    sel = removable[src]
    src, dst = src[sel], dst[sel]
    by_src = np.argsort(src, kind="stable")
    src, dst = src[by_src], dst[by_src]
    nb = np.full((m, 2), -1, dtype=np.int64)
    row = np.searchsorted(rem_idx, src)
    second = np.zeros(src.size, dtype=bool)
    second[1:] = src[1:] == src[:-1]
    nb[row, second.astype(np.int64)] = dst

    # chains: connected components of the subgraph induced by removable nodes
    pos_in_rem = np.full(n, -1, dtype=np.int64)
    pos_in_rem[rem_idx] = np.arange(m)
    both = removable[plo] & removable[phi]
    sub = scipy.sparse.csr_matrix(
        (np.ones(int(both.sum())), (pos_in_rem[plo[both]], pos_in_rem[phi[both]])), shape=(m, m)
    )
    n_chains, comp = scipy.sparse.csgraph.connected_components(sub, directed=False)

    # each chain starts at an end node (next to a kept node); a one-way chain at its entry
    is_kept_nb = (nb >= 0) & ~removable[np.maximum(nb, 0)]
    touches_kept = is_kept_nb[:, 0] | is_kept_nb[:, 1]
    entry_ok = two_way[rem_idx] | ~removable[np.maximum(in_nb[rem_idx], 0)]
    candidates = np.flatnonzero(touches_kept & entry_ok)
    big = np.iinfo(np.int64).max
    start_pos = np.full(n_chains, big, dtype=np.int64)
    np.minimum.at(start_pos, comp[candidates], candidates)

    # order along each chain: hop count from its start (one BFS from a super-source)
    sym = (sub + sub.T).tocoo()
    aug = scipy.sparse.csr_matrix(
        (
            np.ones(sym.nnz + n_chains),
            (np.concatenate([sym.row, np.full(n_chains, m)]), np.concatenate([sym.col, start_pos])),
        ),
        shape=(m + 1, m + 1),
    )
    hops = dijkstra(aug, directed=True, indices=m, unweighted=True)[:m]
    order = np.lexsort((hops, comp))
    nodes = rem_idx[order]
    chain_ids = comp[order]
    nbo = nb[order]
    first = np.ones(m, dtype=bool)
    first[1:] = chain_ids[1:] != chain_ids[:-1]
    last = np.ones(m, dtype=bool)
    last[:-1] = chain_ids[1:] != chain_ids[:-1]

    prev = np.empty(m, dtype=np.int64)
    prev[1:] = nodes[:-1]
    nxt = np.empty(m, dtype=np.int64)
    nxt[:-1] = nodes[1:]
    one = one_way[nodes]
    # the start's outside neighbour A: its in-neighbour on a one-way chain, else the
    # neighbour that is not the next chain node (single-node chains: slot 0)
    inner_next = np.where(last, -1, nxt)
    a_guess = np.where(nbo[:, 0] == inner_next, nbo[:, 1], nbo[:, 0])
    prev[first] = np.where(one[first], in_nb[nodes[first]], a_guess[first])
    other = np.where(nbo[:, 0] == prev, nbo[:, 1], nbo[:, 0])
    nxt[last] = other[last]

    fwd_in = edge_time(prev, nodes)  # prev -> x
    bwd_out = edge_time(nodes, prev)  # x -> prev (two-way chains)
    pendant = nxt[last] < 0  # the chain ends at a leaf: no B
    b_safe = np.maximum(nxt[last], 0)
    fwd_last = np.where(pendant, np.nan, edge_time(nodes[last], b_safe))  # x_m -> B
    bwd_last = np.where(pendant, np.nan, edge_time(b_safe, nodes[last]))  # B -> x_m

    chain_two_way = two_way[nodes[first]]
    starts = np.flatnonzero(first)
    fwd_pos = _segmented_cumsum(fwd_in, starts)
    two_way_node = chain_two_way[chain_ids]
    bwd_pos = np.where(two_way_node, _segmented_cumsum(np.nan_to_num(bwd_out), starts), np.nan)
    fwd_total = fwd_pos[last] + fwd_last
    bwd_total = np.where(chain_two_way & ~pendant, bwd_pos[last] + np.nan_to_num(bwd_last), np.nan)
    a_node, b_node = prev[first], nxt[last]

    kept = ~removable
    core_to_node = np.flatnonzero(kept)
    core_node = np.full(n, -1, dtype=np.int64)
    core_node[core_to_node] = np.arange(core_to_node.size)

    # core edges: kept -> kept edges, plus one per chain and direction
    kk = kept[tail] & kept[head]
    through = ~pendant
    back = chain_two_way & through
    c_tail = [core_node[tail[kk]], core_node[a_node[through]], core_node[b_node[back]]]
    c_head = [core_node[head[kk]], core_node[b_node[through]], core_node[a_node[back]]]
    c_sec = [seconds[kk], fwd_total[through], bwd_total[back]]
    ct, ch, cs = np.concatenate(c_tail), np.concatenate(c_head), np.concatenate(c_sec)
    loop = ct == ch
    ct, ch, cs = ct[~loop], ch[~loop], np.maximum(cs[~loop], MIN_EDGE_SECONDS)
    nc = core_to_node.size
    order_e = np.lexsort((cs, ch, ct))  # parallel edges: keep the fastest
    ct, ch, cs = ct[order_e], ch[order_e], cs[order_e]
    keep_e = np.ones(ct.size, dtype=bool)
    keep_e[1:] = (ct[1:] != ct[:-1]) | (ch[1:] != ch[:-1])
    ct, ch, cs = ct[keep_e], ch[keep_e], cs[keep_e]
    indptr = np.zeros(nc + 1, dtype=np.int64)
    np.cumsum(np.bincount(ct, minlength=nc), out=indptr[1:])
    csr = scipy.sparse.csr_matrix((cs, ch.astype(np.int32), indptr), shape=(nc, nc))

    chain = np.full(n, -1, dtype=np.int64)
    chain[nodes] = chain_ids
    fwd_s = np.full(n, np.nan)
    fwd_s[nodes] = fwd_pos
    bwd_s = np.full(n, np.nan)
    bwd_s[nodes] = bwd_pos
    return CoreGraph(
        csr=csr,
        core_node=core_node,
        core_to_node=core_to_node,
        chain=chain,
        fwd_s=fwd_s,
        bwd_s=bwd_s,
        chain_start=core_node[a_node],
        chain_end=np.where(pendant, -1, core_node[b_safe]),
        chain_fwd_total_s=fwd_total,
        chain_bwd_total_s=bwd_total,
        chain_two_way=chain_two_way,
    )


def _no_contraction(indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray) -> CoreGraph:
    n = int(indptr.shape[0] - 1)
    empty_f = np.empty(0)
    return CoreGraph(
        csr=scipy.sparse.csr_matrix((weights, indices, indptr), shape=(n, n)),
        core_node=np.arange(n, dtype=np.int64),
        core_to_node=np.arange(n, dtype=np.int64),
        chain=np.full(n, -1, dtype=np.int64),
        fwd_s=np.full(n, np.nan),
        bwd_s=np.full(n, np.nan),
        chain_start=np.empty(0, dtype=np.int64),
        chain_end=np.empty(0, dtype=np.int64),
        chain_fwd_total_s=empty_f,
        chain_bwd_total_s=empty_f,
        chain_two_way=np.empty(0, dtype=bool),
    )


def _segmented_cumsum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Cumulative sums restarting at each index of ``starts`` (which must include 0)."""
    total = np.cumsum(values)
    offsets = np.zeros(values.size)
    if starts.size:
        base = np.concatenate([[0.0], total[starts[1:] - 1]])
        seg = np.repeat(np.arange(starts.size), np.diff(np.append(starts, values.size)))
        offsets = base[seg]
    return total - offsets
