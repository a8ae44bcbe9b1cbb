"""Contraction hierarchies: exact many-to-many tables and one-to-all multi-source queries.

A contraction hierarchy (CH) orders the nodes of a directed graph and adds
*shortcuts* so that between any two nodes some shortest path goes first only
up the order, then only down. Queries then search a small part of the graph:

- :func:`hierarchy_to_targets`: distance tables, rows of seeds × rows of
  targets, by bucket many-to-many (one backward upward search per target row
  fills buckets, one forward upward search per seed row scans them).
- :func:`hierarchy_multi_source`: the nearest seed of every node and its label,
  the same answer as :func:`coverage.routing.kernels.shortest_multi_source`, by
  PHAST (an upward search from all seeds, then one sweep over all nodes in
  decreasing rank); with ``reverse=True`` the nearest seed *to* reach from every
  node (the same query on the transposed graph), on the same hierarchy.

:func:`build_hierarchy` contracts the graph in the C extension
``coverage.routing._hierarchy`` (``_hierarchy.c``). Priority of a node: twice its
edge difference (shortcuts needed minus arcs removed) plus its depth (1 + the
largest depth of a contracted neighbour) plus its contracted neighbours, each
×1000. Witness searches estimating a priority settle at most
``witness_sim_limit`` (20) nodes; those deciding the shortcuts of a contraction
continue up to :data:`WITNESS_SETTLE_LIMIT`, and a search cut short adds its
shortcut, so the hierarchy is exact whatever the limits. Contraction goes in
rounds of independent nodes (local minima of the priority) whose shortcuts and
new neighbour priorities are computed by ``threads`` threads; the output does
not depend on the number of threads.

Build cost, measured on 2 cores with 2 threads (one thread takes about twice as
long) for turn-expanded road graphs (about 2.6 arcs a node; 3.3-3.6 shortcuts an
arc): the real 9,920-node Gers graph 1.2 s, 100k nodes 23 s, 1M nodes 330 s.
Edge-based graphs need many more shortcuts than node-based ones (every shortcut of
a node-based CH becomes one per pair of arcs it joins), so they build more slowly.
Memory is O(n + arcs): while building, about 32 bytes per arc of the remaining
graph (each arc is in an out and an in list, with growth slack) plus 12 bytes per
output arc and about ``100 + 36 × threads`` bytes per node (1M nodes: 390 MB at
the peak, 830 MB process RSS with the input graph and the result); the finished
:class:`Hierarchy` holds ``24 × arcs + 40 × n`` bytes (the arcs in node ids and
again in ranks, the form the queries read; 1M nodes: 326 MB),
:meth:`Hierarchy.arrays` half of that.

Exactness: in exact arithmetic the answers equal Dijkstra's. In floating point a
shortcut weighs the sum of its parts, so a distance may differ from the Dijkstra
kernels' by rounding (a few ulps, far below 1e-9 s), and a value within rounding
of ``limit`` may fall on the other side of it; an exact tie between two seeds
(integer or dyadic weights, zero-weight arcs) is decided by the smallest label as
in the kernels.

Backends: queries use the C module when it is built and ``COVERAGE_KERNELS`` is
not ``scipy`` (:func:`hierarchy_available`); otherwise they run the Dijkstra
kernels on the hierarchy's arcs (original arcs and shortcuts: the same
distances), so a saved hierarchy always answers. Building needs the C module.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from coverage.errors import ConfigError, QueryError
from coverage.routing import kernels
from coverage.routing.kernels import (
    CsrGraph,
    _as_limit,
    _as_nodes,
    _as_threads,
    _blocks,
    _c_call,
    _run_blocks,
)
from coverage.settings import KERNELS_ENV, kernel_backend_choice

__all__ = [
    "WITNESS_SETTLE_LIMIT",
    "Hierarchy",
    "build_hierarchy",
    "hierarchy_available",
    "hierarchy_multi_source",
    "hierarchy_to_targets",
]

HIERARCHY_API = 3
"""Version of the C module's calling convention this wrapper speaks."""
WITNESS_SETTLE_LIMIT = 500
"""Nodes a contraction's witness search settles before giving up (and adding the shortcut)."""
SEARCH_SPACE_SAMPLE = 200
"""Nodes whose upward search spaces are measured for :attr:`Hierarchy.report`."""
FORMAT = "coverage-hierarchy-1"
"""Value of the ``format`` entry of :meth:`Hierarchy.arrays`."""

try:
    from coverage.routing import _hierarchy as _h
except ImportError as exc:  # extension not built: Dijkstra kernels
    _h: Any = None
    _H_MISSING = f"coverage.routing._hierarchy cannot be imported ({exc})"
else:
    _H_MISSING = ""
    if getattr(_h, "HIERARCHY_API", None) != HIERARCHY_API:
        _H_MISSING = (
            f"coverage.routing._hierarchy speaks API {getattr(_h, 'HIERARCHY_API', None)}, "
            f"expected {HIERARCHY_API} (stale build)"
        )
        _h = None

_I32, _I64, _F64 = np.dtype(np.int32), np.dtype(np.int64), np.dtype(np.float64)
_SAVED: dict[str, np.dtype] = {
    "rank": _I64,
    "up_indptr": _I64,
    "up_indices": _I32,
    "up_weights": _F64,
    "down_indptr": _I64,
    "down_indices": _I32,
    "down_weights": _F64,
}
_DERIVED: dict[str, np.dtype] = {
    "order": _I32,
    "rank_up_indptr": _I64,
    "rank_up_indices": _I32,
    "rank_up_weights": _F64,
    "rank_down_indptr": _I64,
    "rank_down_indices": _I32,
    "rank_down_weights": _F64,
}


# --------------------------------------------------------------------------- hierarchy


@dataclass(frozen=True, eq=False)
class Hierarchy:
    """A contraction hierarchy of a directed graph of ``n`` nodes.

    Attributes
    ----------
    n
        Number of nodes.
    rank
        ``int64[n]``: contraction order, 0 = contracted first (lowest).
    up_indptr, up_indices, up_weights
        CSR by ``u`` (``int64[n+1]``, ``int32``, ``float64``): the arcs
        ``u -> v`` with ``rank[v] > rank[u]`` (original arcs and shortcuts, the
        lightest of parallel arcs), each row by increasing ``rank[v]``: what the
        forward upward search follows.
    down_indptr, down_indices, down_weights
        CSR by ``v``: the arcs ``u -> v`` with ``rank[u] > rank[v]``, stored at
        ``v`` as ``(v <- u)``, each row by increasing ``rank[u]``: what the
        backward upward search follows.
    order
        ``int32[n]``: the node of each rank (``order[rank[v]] == v``).
    rank_up_indptr, rank_up_indices, rank_up_weights
        The upward arcs with every node renumbered by its rank (row ``r`` is
        node ``order[r]``'s, heads are ranks): the form the C queries read, so
        that the top of the hierarchy, which every search visits, is contiguous.
    rank_down_indptr, rank_down_indices, rank_down_weights
        The downward arcs likewise, by the rank of the head, tails as ranks
        (always greater than the row's): the PHAST sweep reads them in order
        (the reverse sweep reads ``rank_up`` the same way).
    report
        Build statistics: ``nodes``, ``arcs_input`` (distinct arcs, loops
        dropped), ``arcs_up``, ``arcs_down``, ``shortcuts`` (new arcs),
        ``shortcuts_improving`` (lighter parallel arcs), ``rounds``,
        ``simulations``, ``witness_searches``, ``witness_settled``,
        ``witness_cut_short``, ``witness_sim_limit``, ``witness_settle_limit``,
        ``max_degree_contracted``, ``threads``, ``build_seconds``,
        ``peak_build_bytes``, ``nbytes``, and the upward search spaces of a
        fixed sample of nodes (``search_space_mean`` / ``search_space_max``
        forward, ``backward_space_mean`` / ``backward_space_max``).

    Build one with :func:`build_hierarchy`; save :meth:`arrays` in an ``.npz``
    and load it back with :meth:`from_arrays`.
    """

    n: int
    rank: np.ndarray
    up_indptr: np.ndarray
    up_indices: np.ndarray
    up_weights: np.ndarray
    down_indptr: np.ndarray
    down_indices: np.ndarray
    down_weights: np.ndarray
    order: np.ndarray
    rank_up_indptr: np.ndarray
    rank_up_indices: np.ndarray
    rank_up_weights: np.ndarray
    rank_down_indptr: np.ndarray
    rank_down_indices: np.ndarray
    rank_down_weights: np.ndarray
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        return int(sum(getattr(self, name).nbytes for name in (*_SAVED, *_DERIVED)))

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays to save: ``rank``, ``up_*``, ``down_*``, plus ``format`` and ``report``.

        ``format`` and ``report`` (JSON) are 0-d string arrays, so
        ``np.savez(path, **h.arrays())`` needs no pickling to load. The rank-space
        arrays are left out: :meth:`from_arrays` derives them.
        """
        out = {name: getattr(self, name) for name in _SAVED}
        out["format"] = np.array(FORMAT)
        out["report"] = np.array(json.dumps(self.report, sort_keys=True))
        return out

    @classmethod
    def from_arrays(cls, arrays: Any) -> Hierarchy:
        """Rebuild a hierarchy from :meth:`arrays` (a dict or a loaded ``.npz``), checking it.

        Raises
        ------
        QueryError
            If an array is missing or has the wrong dtype or shape, or the arrays
            are not a hierarchy (``rank`` not a permutation, an upward arc that
            does not go up, an index out of range, a negative weight...).
        """
        if "format" in arrays and str(np.asarray(arrays["format"])) != FORMAT:
            raise QueryError(
                f"les tableaux de la hiérarchie ont le format "
                f"{str(np.asarray(arrays['format']))!r}, "
                f"attendu {FORMAT!r}"
            )
        values: dict[str, np.ndarray] = {}
        for name, dtype in _SAVED.items():
            if name not in arrays:
                raise QueryError(f"il manque {name!r} aux tableaux de la hiérarchie")
            array = np.asarray(arrays[name])
            if array.ndim != 1:
                raise QueryError(
                    f"hiérarchie : {name} doit être 1-D, reçu la forme "
                    f"{tuple(int(k) for k in array.shape)}"
                )
            if array.dtype != dtype and not (array.size == 0 and array.dtype.kind in "iuf"):
                raise QueryError(
                    f"hiérarchie : {name} doit être de type {dtype}, reçu {array.dtype}"
                )
            values[name] = np.ascontiguousarray(array, dtype=dtype)
        report: dict[str, Any] = {}
        if "report" in arrays:
            try:
                report = json.loads(str(np.asarray(arrays["report"])))
            except ValueError as exc:
                raise QueryError(f"le rapport de la hiérarchie n'est pas du JSON : {exc}") from None
        n = values["rank"].shape[0]
        _check_saved(n, values)
        return cls(n=n, report=report, **values, **_rank_space(values))

    def graph(self, *, reverse: bool = False) -> CsrGraph:
        """All arcs of the hierarchy (original arcs and shortcuts) as one graph, CSR by tail.

        Its shortest distances are the original graph's; the fallback queries run on
        it. ``reverse=True``: every arc turned around (the transposed graph).
        """
        n = self.n
        up_tail = np.repeat(np.arange(n, dtype=np.int64), np.diff(self.up_indptr))
        down_head = np.repeat(np.arange(n, dtype=np.int64), np.diff(self.down_indptr))
        tail = np.concatenate([up_tail, self.down_indices.astype(np.int64)])
        head = np.concatenate([self.up_indices.astype(np.int64), down_head])
        if reverse:
            tail, head = head, tail
        weight = np.concatenate([self.up_weights, self.down_weights])
        order = np.argsort(tail, kind="stable")
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(tail, minlength=n), out=indptr[1:])
        return CsrGraph(indptr, np.ascontiguousarray(head[order]), weight[order])


def _check_csr(name: str, indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray, n: int):
    if indptr.shape[0] != n + 1:
        raise QueryError(f"hiérarchie : {name}_indptr doit avoir n+1 = {n + 1} entrées")
    m = indices.shape[0]
    if weights.shape[0] != m:
        raise QueryError(f"hiérarchie : {name}_weights et {name}_indices diffèrent en longueur")
    if indptr[0] != 0 or indptr[-1] != m or (np.diff(indptr) < 0).any():
        raise QueryError(f"hiérarchie : {name}_indptr n'est pas un pointeur de lignes sur {m} arcs")
    if m and (indices.min() < 0 or indices.max() >= n):
        raise QueryError(f"hiérarchie : {name}_indices contient des identifiants hors de [0, {n})")
    if m and not (np.isfinite(weights).all() and (weights >= 0).all()):
        raise QueryError(f"hiérarchie : {name}_weights doit être fini et >= 0")


def _check_saved(n: int, v: dict[str, np.ndarray]) -> None:
    """O(n + arcs) consistency checks: permutation, shapes, arcs going the right way."""
    rank = v["rank"]
    if n and (rank.min() < 0 or rank.max() >= n or np.bincount(rank, minlength=n).max() != 1):
        raise QueryError("hiérarchie : rank n'est pas une permutation de 0..n-1")
    for name in ("up", "down"):
        ptr, idx, w = v[f"{name}_indptr"], v[f"{name}_indices"], v[f"{name}_weights"]
        _check_csr(name, ptr, idx, w, n)
        row = np.repeat(np.arange(n), np.diff(ptr))
        if (rank[idx] <= rank[row]).any():
            raise QueryError(
                f"hiérarchie : les arcs {name} doivent mener à un rang plus élevé (up : "
                f"têtes, down : queues)"
            )


def _rank_space(v: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``order`` and the upward and downward arcs renumbered by rank (O(n + arcs) gathers)."""
    rank = v["rank"]
    n = rank.shape[0]
    order = np.empty(n, dtype=np.int32)
    order[rank] = np.arange(n, dtype=np.int32)
    out = {"order": order}
    for name in ("up", "down"):
        ptr, idx, w = v[f"{name}_indptr"], v[f"{name}_indices"], v[f"{name}_weights"]
        counts = np.diff(ptr)[order]
        rptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=rptr[1:])
        gather = np.arange(idx.shape[0], dtype=np.int64)
        gather += np.repeat(ptr[:-1][order] - rptr[:-1], counts)
        out[f"rank_{name}_indptr"] = rptr
        out[f"rank_{name}_indices"] = rank[idx[gather]].astype(np.int32)
        out[f"rank_{name}_weights"] = w[gather]
    return out


# --------------------------------------------------------------------------- backend


def hierarchy_available() -> bool:
    """Whether hierarchy queries run in the C module (else on the Dijkstra kernels).

    True when ``coverage.routing._hierarchy`` is built and ``COVERAGE_KERNELS``
    is not ``scipy``. :func:`build_hierarchy` needs the module in any case.

    Raises
    ------
    ConfigError
        If ``COVERAGE_KERNELS`` is invalid, or is ``c`` while the module is not built.
    """
    choice = kernel_backend_choice()
    if choice == "scipy":
        return False
    if _h is None:
        if choice == "c":
            raise ConfigError(
                f"${KERNELS_ENV}=c mais l'extension C coverage.routing._hierarchy n'est pas "
                f"disponible ({_H_MISSING or 'non compilée'}) ; réinstallez avec un compilateur C "
                f"(pip install -e .) ou retirez ${KERNELS_ENV}"
            )
        return False
    return True


# --------------------------------------------------------------------------- build


def build_hierarchy(
    graph: CsrGraph,
    *,
    settle_limit: int = WITNESS_SETTLE_LIMIT,
    threads: int | None = None,
) -> Hierarchy:
    """Contract ``graph`` into a contraction hierarchy.

    Parameters
    ----------
    graph
        The directed graph (validated here). Parallel arcs are merged keeping the
        lightest, self-loops dropped; zero weights, isolated nodes, several
        components and one-way arcs are fine.
    settle_limit
        Nodes a contraction's witness search settles before it gives up and the
        shortcut is added. Smaller builds faster but adds shortcuts; any value
        >= 1 gives an exact hierarchy.
    threads
        Threads (``None``: :func:`coverage.settings.routing_threads`). The result
        is the same for any number.

    Returns
    -------
    Hierarchy
        Deterministic for a given graph and ``settle_limit``.

    Raises
    ------
    QueryError
        If the graph or an argument is malformed.
    ConfigError
        If the C extension is not built (check :func:`hierarchy_available`
        and use :mod:`coverage.routing.kernels` instead).
    """
    if _h is None:
        raise ConfigError(
            f"build_hierarchy demande l'extension C coverage.routing._hierarchy "
            f"({_H_MISSING or 'non compilée'}) ; utilisez plutôt coverage.routing.kernels"
        )
    graph.validate()
    if isinstance(settle_limit, bool) or not isinstance(settle_limit, int | np.integer):
        raise QueryError(f"settle_limit doit être un nombre entier >= 1, reçu {settle_limit!r}")
    if settle_limit < 1:
        raise QueryError(f"settle_limit doit être un nombre entier >= 1, reçu {settle_limit}")
    n_threads = min(_as_threads(threads), 64)
    start = time.perf_counter()
    built = _c_call(
        _h.build, graph.indptr, graph.indices, graph.weights, int(settle_limit), n_threads
    )
    seconds = time.perf_counter() - start
    dtypes = {**_SAVED, **_DERIVED}
    values = {name: np.frombuffer(built[name], dtype=dtype) for name, dtype in dtypes.items()}
    report: dict[str, Any] = {"nodes": graph.n, **built["stats"]}
    report["witness_settle_limit"] = int(settle_limit)
    report["threads"] = n_threads
    report["build_seconds"] = round(seconds, 4)
    h = Hierarchy(n=graph.n, report=report, **values)
    report["nbytes"] = h.nbytes
    report.update(_search_spaces(h))
    return h


def _search_spaces(h: Hierarchy) -> dict[str, float]:
    """Mean and largest upward search spaces (settled, not stalled) of a fixed node sample."""
    if h.n == 0:
        return {}
    rng = np.random.default_rng(0)
    nodes = np.sort(rng.choice(h.n, size=min(h.n, SEARCH_SPACE_SAMPLE), replace=False))
    ranks = h.rank[nodes]
    out: dict[str, float] = {}
    for prefix, backward in (("search_space", False), ("backward_space", True)):
        counts = np.empty(ranks.shape[0], dtype=np.int64)
        _c_call(_h.search_space, *_rank_arrays(h), ranks, backward, counts)
        out[f"{prefix}_mean"] = round(float(counts.mean()), 1)
        out[f"{prefix}_max"] = int(counts.max())
    return out


def _rank_arrays(h: Hierarchy) -> tuple[np.ndarray, ...]:
    return (
        h.rank_up_indptr, h.rank_up_indices, h.rank_up_weights,
        h.rank_down_indptr, h.rank_down_indices, h.rank_down_weights,
    )  # fmt: skip


# --------------------------------------------------------------------------- argument checks


def _as_values(name: str, values: Any, size: int) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or array.shape[0] != size:
        raise QueryError(
            f"{name} doit être 1-D avec une valeur par nœud ({size}), reçu la forme "
            f"{tuple(int(k) for k in array.shape)}"
        )
    if array.size and not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    ):
        raise QueryError(f"{name} doit contenir des nombres, reçu {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float64)
    if not np.isfinite(array).all():
        raise QueryError(f"{name}[{int(np.flatnonzero(~np.isfinite(array))[0])}] n'est pas fini")
    return array


def _as_ptr(name: str, node_name: str, values: Any, count: int) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or array.shape[0] < 1:
        raise QueryError(f"{name} doit être 1-D avec n_rows + 1 >= 1 entrées")
    if array.size > 1 and not np.issubdtype(array.dtype, np.integer):
        raise QueryError(f"{name} doit contenir des entiers, reçu {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.int64)
    if array[0] != 0 or array[-1] != count:
        raise QueryError(
            f"{name} doit commencer à 0 et finir à len({node_name}) = {count}, "
            f"reçu {int(array[0])} .. {int(array[-1])}"
        )
    steps = np.diff(array)
    if (steps < 0).any():
        raise QueryError(f"{name} décroît à la ligne {int(np.flatnonzero(steps < 0)[0])}")
    return array


def _rows(
    prefix: str, n: int, ptr: Any, node: Any, offset: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    nodes = _as_nodes(f"{prefix}_node", node, n)
    offsets = _as_values(f"{prefix}_offset", offset, nodes.shape[0])
    rows = _as_ptr(f"{prefix}_ptr", f"{prefix}_node", ptr, nodes.shape[0])
    return rows, nodes, offsets


def _check(h: Any) -> Hierarchy:
    if not isinstance(h, Hierarchy):
        raise QueryError(f"h doit être une Hierarchy, reçu {type(h).__name__}")
    return h


# --------------------------------------------------------------------------- queries


def hierarchy_to_targets(
    h: Hierarchy,
    seed_ptr: Any,
    seed_node: Any,
    seed_offset: Any,
    target_ptr: Any,
    target_node: Any,
    target_offset: Any,
    *,
    limit: float = np.inf,
    threads: int | None = None,
) -> np.ndarray:
    """Distance table between rows of seeds and rows of targets (bucket many-to-many).

    Parameters
    ----------
    h
        The hierarchy.
    seed_ptr, seed_node, seed_offset
        Seed rows, CSR-style as in :func:`coverage.routing.kernels.shortest_to_targets`:
        row ``r`` is ``seed_node[seed_ptr[r]:seed_ptr[r+1]]`` with initial
        distances ``seed_offset`` (finite, may be negative; nodes may repeat, the
        minimum counts; empty rows allowed).
    target_ptr, target_node, target_offset
        Target rows, the same way; ``target_offset`` is added at the end (e.g.
        the time from a road edge to the place it stands for).
    limit
        Largest value reported; the searches are pruned with it.
    threads
        Threads (``None``: :func:`coverage.settings.routing_threads`). Target rows,
        then seed rows, are split in contiguous blocks; the buckets are built
        once and shared read-only.

    Returns
    -------
    numpy.ndarray
        ``float64 (n_seed_rows, n_target_rows)``: ``out[r, c]`` is the minimum,
        over the seeds ``s`` of row ``r`` and the targets ``t`` of row ``c``, of
        ``seed_offset[s] + dist(seed_node[s], target_node[t]) + target_offset[t]``;
        ``inf`` when there is none or it is beyond ``limit``. The same for any
        number of threads.

    Raises
    ------
    QueryError
        If an argument is malformed (the message names it).
    """
    h = _check(h)
    sptr, snode, soff = _rows("seed", h.n, seed_ptr, seed_node, seed_offset)
    tptr, tnode, toff = _rows("target", h.n, target_ptr, target_node, target_offset)
    lim = _as_limit(limit)
    n_threads = _as_threads(threads)
    n_rows, n_cols = sptr.shape[0] - 1, tptr.shape[0] - 1
    if n_rows == 0 or n_cols == 0 or snode.size == 0 or tnode.size == 0:
        return np.full((n_rows, n_cols), np.inf)
    if not hierarchy_available():
        return _fallback_to_targets(h, sptr, snode, soff, tptr, tnode, toff, lim, n_threads)
    # a seed-side value f and a target-side value b only matter when f + b <= limit
    forward_bound = lim - float(toff.min())
    backward_bound = lim - float(soff.min())
    arrays = _rank_arrays(h)
    srank, trank = h.rank[snode], h.rank[tnode]

    def fill(c0: int, c1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        node, col, dist = _c_call(
            _h.backward, *arrays, tptr[c0 : c1 + 1], trank, toff, backward_bound, c0
        )
        return (
            np.frombuffer(node, dtype=np.int32),
            np.frombuffer(col, dtype=np.int32),
            np.frombuffer(dist, dtype=np.float64),
        )

    parts = _run_blocks(fill, _blocks(n_cols, n_threads))
    if len(parts) == 1:
        node, col, dist = parts[0]
    else:
        node, col, dist = (np.concatenate([p[i] for p in parts]) for i in range(3))
    bucket_ptr = np.empty(h.n + 1, dtype=np.int64)
    bucket_col = np.empty(node.shape[0], dtype=np.int32)
    bucket_dist = np.empty(node.shape[0], dtype=np.float64)
    _c_call(_h.bucket_sort, node, col, dist, bucket_ptr, bucket_col, bucket_dist)

    out = np.empty((n_rows, n_cols), dtype=np.float64)

    def scan(r0: int, r1: int) -> None:
        _c_call(
            _h.scan, *arrays, bucket_ptr, bucket_col, bucket_dist,
            sptr[r0 : r1 + 1], srank, soff, forward_bound, lim, n_cols, out[r0:r1],
        )  # fmt: skip

    _run_blocks(scan, _blocks(n_rows, n_threads))
    return out


def hierarchy_multi_source(
    h: Hierarchy,
    seed_node: Any,
    seed_offset: Any,
    seed_label: Any,
    *,
    limit: float = np.inf,
    reverse: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """One search from all seeds: each node's distance and closest seed's label (PHAST).

    Parameters
    ----------
    h
        The hierarchy.
    seed_node, seed_offset
        Seeds and their initial distances (finite, may be negative, nodes may repeat).
    seed_label
        ``int[n_seeds]`` label of each seed, ``>= 0``; several seeds may share one.
    limit
        Largest distance reported.
    reverse
        Distances *to* the seeds instead of from them: ``dist[v]`` is the minimum
        over the seeds ``s`` of ``dist(v, s) + seed_offset[s]`` (the offset is
        added at the seed end, e.g. the time from a facility's road edge to the
        facility). The same answer as the forward query on the transposed graph,
        computed on the same hierarchy: the upward search follows the downward
        arcs backwards, the sweep pulls every node's value over its upward arcs.

    Returns
    -------
    dist : numpy.ndarray
        ``float64[n]``: distance from the nearest seed (``reverse``: to it),
        ``inf`` if unreached or beyond ``limit``.
    label : numpy.ndarray
        ``int64[n]``: label of the seed whose path gives ``dist`` (the smallest
        label on exact ties), ``-1`` where ``dist`` is ``inf``.

    Notes
    -----
    The same answer as :func:`coverage.routing.kernels.shortest_multi_source`
    (``reverse``: run on the transposed graph): the upward search orders its heap
    by ``(dist, label)`` and the sweep keeps the lexicographically smallest
    ``(dist, label)`` over the arcs to higher ranks, which is the smallest label
    among the seeds at the shortest distance. The sweep visits every node: the
    cost is O(n + arcs) whatever ``limit``.

    Raises
    ------
    QueryError
        If an argument is malformed (the message names it).
    """
    h = _check(h)
    node = _as_nodes("seed_node", seed_node, h.n)
    offset = _as_values("seed_offset", seed_offset, node.shape[0])
    label = np.asarray(seed_label)
    if label.ndim != 1 or label.shape[0] != node.shape[0]:
        raise QueryError(
            f"seed_label doit être 1-D avec un libellé par source ({int(node.shape[0])}), reçu la "
            f"forme {tuple(int(k) for k in label.shape)}"
        )
    if label.size and not np.issubdtype(label.dtype, np.integer):
        raise QueryError(f"seed_label doit contenir des entiers, reçu {label.dtype}")
    label = np.ascontiguousarray(label, dtype=np.int64)
    if label.size and label.min() < 0:
        raise QueryError("seed_label doit être >= 0 (-1 marque les nœuds non atteints)")
    lim = _as_limit(limit)
    if not isinstance(reverse, bool | np.bool_):
        raise QueryError(f"reverse doit être un booléen, reçu {reverse!r}")
    if not hierarchy_available():
        graph = h.graph(reverse=bool(reverse))
        return kernels.shortest_multi_source(graph, node, offset, label, limit=lim)
    dist = np.empty(h.n, dtype=np.float64)
    lab = np.empty(h.n, dtype=np.int64)
    _c_call(
        _h.phast, h.rank_up_indptr, h.rank_up_indices, h.rank_up_weights, h.order,
        h.rank_down_indptr, h.rank_down_indices, h.rank_down_weights,
        h.rank[node], offset, label, lim, bool(reverse), dist, lab,
    )  # fmt: skip
    return dist, lab


# --------------------------------------------------------------------------- fallback


def _fallback_to_targets(
    h: Hierarchy,
    sptr: np.ndarray,
    snode: np.ndarray,
    soff: np.ndarray,
    tptr: np.ndarray,
    tnode: np.ndarray,
    toff: np.ndarray,
    limit: float,
    threads: int,
) -> np.ndarray:
    """The Dijkstra kernels on the hierarchy's arcs, then each target row's minimum."""
    unique, where = np.unique(tnode, return_inverse=True)
    dist = kernels.shortest_to_targets(
        h.graph(), sptr, snode, soff, unique, limit=limit - float(toff.min()), threads=threads
    )
    values = dist[:, where] + toff  # (seed rows, targets)
    n_cols = tptr.shape[0] - 1
    out = np.full((sptr.shape[0] - 1, n_cols), np.inf)
    for c in range(n_cols):
        if tptr[c + 1] > tptr[c]:
            out[:, c] = values[:, tptr[c] : tptr[c + 1]].min(axis=1)
    out[~(out <= limit)] = np.inf
    return out
