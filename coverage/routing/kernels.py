"""Exact shortest-path kernels on CSR graphs: the C extension and its scipy fallback.

Four searches, all Dijkstra on a directed graph with non-negative weights, all
taking *seeds*: start nodes with an initial distance (``seed_offset``, finite,
possibly negative; when a node is seeded several times the smallest offset
counts). Batched searches take one row of seeds per search, CSR-style:
row ``r`` starts from ``seed_node[seed_ptr[r]:seed_ptr[r+1]]``.

- :func:`shortest_to_targets`: distances from each row to a list of targets; a
  row stops as soon as its targets are settled.
- :func:`shortest_multi_source`: one search from all seeds at once, with the
  label of the seed each node is closest to (catchments).
- :func:`shortest_reached`: every node within a limit of each row (isochrones).
- :func:`shortest_tree`: full distance and predecessor rows (path recovery).

And two steps of isochrones: :func:`best_per_cell`, the best time of each grid
cell over the points (portals) where it joins the states a search reached, and
:func:`outline_rings` (C only), the rings of the outline of a set of cells.

Backends (:func:`kernel_backend`): the C extension ``coverage.routing._kernels``
(an indexed 4-ary heap, the GIL released, rows split in contiguous blocks across
threads) when it is built, else scipy. ``COVERAGE_KERNELS=scipy`` forces scipy,
``COVERAGE_KERNELS=c`` requires the extension.

The scipy fallback gives the same numbers (to about 1e-9): it adds one virtual
source node per row to the matrix, with an edge to each seed whose weight is
``seed_offset + shift``, where ``shift = 1 - min(seed_offset)`` makes every such
weight >= 1 (scipy needs non-negative weights, and a positive one cannot be
confused with a missing entry). It runs ``scipy.sparse.csgraph.dijkstra`` from
the virtual sources with ``limit + shift`` and subtracts ``shift`` afterwards.

Limits: a node is reached when its distance is <= ``limit``; nodes beyond the
limit are neither returned nor expanded. The C kernels check every edge they
scan (target in range, weight >= 0) but only :meth:`CsrGraph.validate` checks the
whole graph: call it once after building a graph (the scipy fallback always does).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import dijkstra

from coverage.errors import ConfigError, QueryError
from coverage.settings import KERNELS_ENV, kernel_backend_choice, routing_threads

__all__ = [
    "CsrGraph",
    "best_per_cell",
    "kernel_backend",
    "outline_rings",
    "ranges",
    "shortest_multi_source",
    "shortest_reached",
    "shortest_to_targets",
    "shortest_tree",
]

KERNEL_API = 2
"""Version of the C module's calling convention this wrapper speaks."""
MIN_ROWS_PER_THREAD = 8
"""Rows are split across threads only when each thread gets at least this many."""
CHUNK_BYTES = 64 * 1024 * 1024
"""Largest dense scipy output block (rows × nodes × 8 bytes) held at once by the fallback."""
TIE_RTOL = 1e-12
"""Relative tolerance under which the scipy fallback treats two distances as a tie."""

try:
    from coverage.routing import _kernels as _c
except ImportError as exc:  # extension not built: scipy fallback
    _c: Any = None
    _C_MISSING = f"coverage.routing._kernels cannot be imported ({exc})"
else:
    _C_MISSING = ""
    if getattr(_c, "KERNEL_API", None) != KERNEL_API:
        _C_MISSING = (
            f"coverage.routing._kernels speaks API {getattr(_c, 'KERNEL_API', None)}, "
            f"expected {KERNEL_API} (stale build)"
        )
        _c = None

_INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))


# --------------------------------------------------------------------------- graph


@dataclass(frozen=True, eq=False)
class CsrGraph:
    """A directed graph in CSR form: the edges of node ``u`` are ``indptr[u]:indptr[u+1]``.

    Attributes
    ----------
    indptr
        ``int64[n+1]`` row pointer, ``indptr[0] == 0``, non-decreasing,
        ``indptr[n] == len(indices)``.
    indices
        ``int32`` or ``int64[m]`` edge targets, ``0 <= v < n``. Parallel edges
        are allowed (the lightest counts).
    weights
        ``float64[m]`` edge weights, finite and ``>= 0`` (zero is allowed).

    All three must be C-contiguous. The arrays are used as they are, never copied.
    """

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray

    @property
    def n(self) -> int:
        """Number of nodes."""
        return int(self.indptr.shape[0]) - 1

    @classmethod
    def from_scipy(cls, matrix: Any) -> CsrGraph:
        """Wrap a square scipy sparse matrix or array (CSR, or converted to CSR).

        Entry ``(u, v)`` of weight ``w`` is an edge ``u -> v``; explicit zeros are
        zero-weight edges. The index and data arrays are shared, not copied, when
        they already are int32/int64 and float64 (``indptr`` is copied when it is
        int32, since the kernels want int64).

        Raises
        ------
        QueryError
            If ``matrix`` is not a square sparse matrix.
        """
        if not scipy.sparse.issparse(matrix):
            raise QueryError(
                f"CsrGraph.from_scipy : matrice creuse scipy attendue, reçu {type(matrix).__name__}"
            )
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise QueryError(
                f"CsrGraph.from_scipy : la matrice doit être carrée, reçu la forme "
                f"{tuple(int(k) for k in matrix.shape)}"
            )
        if matrix.format != "csr":
            matrix = matrix.tocsr()
        indices = matrix.indices
        if indices.dtype not in _INDEX_DTYPES:
            indices = indices.astype(np.int64)
        return cls(
            indptr=np.ascontiguousarray(matrix.indptr, dtype=np.int64),
            indices=np.ascontiguousarray(indices),
            weights=np.ascontiguousarray(matrix.data, dtype=np.float64),
        )

    def validate(self) -> CsrGraph:
        """Check the whole graph and return it.

        Raises
        ------
        QueryError
            Naming the first problem found: dtypes, shapes, contiguity, a
            decreasing ``indptr``, an edge target out of range, a negative,
            infinite or NaN weight.
        """
        _check_structure(self)
        n = self.n
        if np.any(np.diff(self.indptr) < 0):
            u = int(np.flatnonzero(np.diff(self.indptr) < 0)[0])
            raise QueryError(f"graph.indptr décroît au nœud {u}")
        if self.indices.size:
            bad = (self.indices < 0) | (self.indices >= n)
            if bad.any():
                e = int(np.flatnonzero(bad)[0])
                raise QueryError(
                    f"graph.indices[{e}] = {int(self.indices[e])} n'est pas un identifiant de nœud "
                    f"(0 <= id < {n})"
                )
            bad = ~(np.isfinite(self.weights) & (self.weights >= 0))
            if bad.any():
                e = int(np.flatnonzero(bad)[0])
                raise QueryError(
                    f"graph.weights[{e}] = {float(self.weights[e])!r} ; les poids doivent "
                    f"être finis "
                    "et >= 0"
                )
        return self


def _check_structure(graph: CsrGraph) -> None:
    """Cheap O(1) checks done on every query (the C kernels check the edges they scan)."""
    if not isinstance(graph, CsrGraph):
        raise QueryError(f"graph doit être un CsrGraph, reçu {type(graph).__name__}")
    for name, array, dtypes in (
        ("indptr", graph.indptr, (np.dtype(np.int64),)),
        ("indices", graph.indices, _INDEX_DTYPES),
        ("weights", graph.weights, (np.dtype(np.float64),)),
    ):
        if not isinstance(array, np.ndarray) or array.ndim != 1:
            raise QueryError(f"graph.{name} doit être un tableau numpy 1-D")
        if array.dtype not in dtypes:
            wanted = " ou ".join(str(d) for d in dtypes)
            raise QueryError(f"graph.{name} doit être de type {wanted}, reçu {array.dtype}")
        if not array.flags.c_contiguous:
            raise QueryError(f"graph.{name} doit être C-contigu (utilisez np.ascontiguousarray)")
    if graph.indptr.shape[0] < 1:
        raise QueryError("graph.indptr doit avoir n+1 >= 1 entrées")
    m = graph.indices.shape[0]
    if graph.weights.shape[0] != m:
        raise QueryError(
            f"graph.weights a {int(graph.weights.shape[0])} entrées mais graph.indices en a {m}"
        )
    if graph.indptr[0] != 0 or graph.indptr[-1] != m:
        raise QueryError(f"graph.indptr doit commencer à 0 et finir à len(graph.indices) = {m}")


# --------------------------------------------------------------------------- backend


def kernel_backend() -> str:
    """Return the backend the kernels use now: ``"c"`` or ``"scipy"``.

    ``COVERAGE_KERNELS`` (read on every call): ``auto`` (default) picks the C
    extension when it is built, ``scipy`` forces the fallback, ``c`` requires
    the extension.

    Raises
    ------
    ConfigError
        If ``COVERAGE_KERNELS`` is invalid, or is ``c`` while the extension is not built.
    """
    choice = kernel_backend_choice()
    if choice == "scipy":
        return "scipy"
    if _c is None:
        if choice == "c":
            raise ConfigError(
                f"${KERNELS_ENV}=c mais l'extension C coverage.routing._kernels n'est pas "
                f"disponible ({_C_MISSING or 'non compilée'}) ; réinstallez avec un compilateur C "
                f"(pip install -e .) ou retirez ${KERNELS_ENV}"
            )
        return "scipy"
    return "c"


# --------------------------------------------------------------------------- argument checks


def _as_nodes(name: str, values: Any, n: int) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise QueryError(
            f"{name} doit être 1-D, reçu la forme {tuple(int(k) for k in array.shape)}"
        )
    if array.size == 0:
        return np.empty(0, dtype=np.int64)
    if not np.issubdtype(array.dtype, np.integer):
        raise QueryError(
            f"{name} doit contenir des identifiants de nœuds entiers, reçu {array.dtype}"
        )
    lo, hi = int(array.min()), int(array.max())
    if lo < 0 or hi >= n:
        bad = lo if lo < 0 else hi
        raise QueryError(
            f"{name} contient {bad}, qui n'est pas un identifiant de nœud (0 <= id < {n})"
        )
    return np.ascontiguousarray(array, dtype=np.int64)


def _as_offsets(values: Any, size: int) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or array.shape[0] != size:
        raise QueryError(
            f"seed_offset doit être 1-D avec une valeur par source ({size}), reçu la forme "
            f"{tuple(int(k) for k in array.shape)}"
        )
    if array.size and not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    ):
        raise QueryError(f"seed_offset doit contenir des nombres, reçu {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float64)
    if not np.isfinite(array).all():
        raise QueryError(
            f"seed_offset[{int(np.flatnonzero(~np.isfinite(array))[0])}] n'est pas fini"
        )
    return array


def _as_seed_ptr(values: Any, n_seeds: int) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or array.shape[0] < 1:
        raise QueryError("seed_ptr doit être 1-D avec n_rows + 1 >= 1 entrées")
    if array.size > 1 and not np.issubdtype(array.dtype, np.integer):
        raise QueryError(f"seed_ptr doit contenir des entiers, reçu {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.int64)
    if array[0] != 0 or array[-1] != n_seeds:
        raise QueryError(
            f"seed_ptr doit commencer à 0 et finir à len(seed_node) = {n_seeds}, "
            f"reçu {int(array[0])} .. {int(array[-1])}"
        )
    steps = np.diff(array)
    if (steps < 0).any():
        raise QueryError(f"seed_ptr décroît à la ligne {int(np.flatnonzero(steps < 0)[0])}")
    return array


def _as_limit(limit: Any, *, finite: bool = False) -> float:
    try:
        value = float(limit)
    except (TypeError, ValueError):
        raise QueryError(f"limit doit être un nombre, reçu {limit!r}") from None
    if np.isnan(value):
        raise QueryError("limit vaut NaN")
    if finite and not np.isfinite(value):
        raise QueryError(f"limit doit être fini ici (la sortie grandit avec lui), reçu {value}")
    return value


def _as_threads(threads: int | None) -> int:
    if threads is None:
        return routing_threads()
    if isinstance(threads, bool):
        raise QueryError(f"threads doit être un nombre entier >= 1, reçu {threads!r}")
    try:
        value = operator.index(threads)
    except TypeError:
        raise QueryError(f"threads doit être un nombre entier >= 1, reçu {threads!r}") from None
    if value < 1:
        raise QueryError(f"threads doit être un nombre entier >= 1, reçu {value}")
    return value


def _rows(
    graph: CsrGraph, seed_ptr: Any, seed_node: Any, seed_offset: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    _check_structure(graph)
    node = _as_nodes("seed_node", seed_node, graph.n)
    offset = _as_offsets(seed_offset, node.shape[0])
    ptr = _as_seed_ptr(seed_ptr, node.shape[0])
    return ptr, node, offset


def _blocks(n_rows: int, threads: int) -> list[tuple[int, int]]:
    """Contiguous row blocks, one per thread, at least MIN_ROWS_PER_THREAD rows each."""
    k = max(1, min(threads, n_rows // MIN_ROWS_PER_THREAD))
    bounds = [i * n_rows // k for i in range(k + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(k)]


def _run_blocks(fn: Callable[[int, int], Any], blocks: list[tuple[int, int]]) -> list[Any]:
    if len(blocks) == 1:
        return [fn(*blocks[0])]
    with ThreadPoolExecutor(max_workers=len(blocks), thread_name_prefix="kernels") as pool:
        futures = [pool.submit(fn, r0, r1) for r0, r1 in blocks]
        return [f.result() for f in futures]


def _c_call(fn: Callable[..., Any], *args: Any) -> Any:
    """Call a C kernel; its ValueErrors (bad graph content) become QueryErrors."""
    try:
        return fn(*args)
    except ValueError as exc:
        raise QueryError(str(exc)) from exc


# --------------------------------------------------------------------------- public API


def shortest_to_targets(
    graph: CsrGraph,
    seed_ptr: Any,
    seed_node: Any,
    seed_offset: Any,
    target_node: Any,
    *,
    limit: float = np.inf,
    threads: int | None = None,
) -> np.ndarray:
    """Shortest distances from each row of seeds to each target.

    Parameters
    ----------
    graph
        The directed graph.
    seed_ptr
        ``int[n_rows + 1]``: row ``r``'s seeds are ``seed_ptr[r]:seed_ptr[r+1]``
        (starts at 0, non-decreasing, ends at ``len(seed_node)``; empty rows allowed).
    seed_node
        ``int[n_seeds]`` seed nodes (duplicates allowed: the smallest offset counts).
    seed_offset
        ``float[n_seeds]`` initial distances, finite, may be negative.
    target_node
        ``int[n_targets]`` target nodes (may repeat).
    limit
        Largest distance reported; beyond it a row stops expanding (``inf``: none).
    threads
        Threads for the C backend (``None``: :func:`coverage.settings.routing_threads`).

    Returns
    -------
    numpy.ndarray
        ``float64 (n_rows, n_targets)``: ``out[r, j]`` is the distance from row
        ``r``'s seeds to ``target_node[j]``, ``inf`` if unreached or beyond ``limit``.
        A row stops as soon as all its distinct targets are settled.

    Raises
    ------
    QueryError
        If an argument is malformed (the message names it).
    """
    ptr, node, offset = _rows(graph, seed_ptr, seed_node, seed_offset)
    target = _as_nodes("target_node", target_node, graph.n)
    lim = _as_limit(limit)
    n_threads = _as_threads(threads)
    n_rows = ptr.shape[0] - 1
    if kernel_backend() == "scipy":
        return _scipy_to_targets(graph, ptr, node, offset, target, lim)
    out = np.empty((n_rows, target.shape[0]), dtype=np.float64)

    def block(r0: int, r1: int) -> None:
        _c_call(
            _c.to_targets, graph.indptr, graph.indices, graph.weights,
            ptr[r0 : r1 + 1], node, offset, target, lim, out[r0:r1],
        )  # fmt: skip

    _run_blocks(block, _blocks(n_rows, n_threads))
    return out


def shortest_multi_source(
    graph: CsrGraph,
    seed_node: Any,
    seed_offset: Any,
    seed_label: Any,
    *,
    limit: float = np.inf,
) -> tuple[np.ndarray, np.ndarray]:
    """One search from all seeds at once: each node's distance and closest seed's label.

    Parameters
    ----------
    graph
        The directed graph.
    seed_node, seed_offset
        Seeds and their initial distances (finite, may be negative, nodes may repeat).
    seed_label
        ``int[n_seeds]`` label of each seed, ``>= 0`` (e.g. a facility index);
        several seeds may share a label.
    limit
        Largest distance reported.

    Returns
    -------
    dist : numpy.ndarray
        ``float64[n]``: distance from the nearest seed, ``inf`` if unreached or
        beyond ``limit``.
    label : numpy.ndarray
        ``int64[n]``: label of the seed whose path gives ``dist``, ``-1`` where
        ``dist`` is ``inf``.

    Notes
    -----
    Tie-breaking: among all shortest paths to a node, the one from the seed
    with the **smallest label** wins. The C kernel orders its heap by
    ``(dist, label)`` and relaxes an edge when it improves that pair, which
    computes exactly this (distances equal as floating-point numbers are ties).
    The scipy fallback computes the distances, keeps the edges and seeds that are
    tight within a relative ``TIE_RTOL``, and finds the smallest label reaching
    each node over them with a second search.

    Raises
    ------
    QueryError
        If an argument is malformed (the message names it).
    """
    _check_structure(graph)
    node = _as_nodes("seed_node", seed_node, graph.n)
    offset = _as_offsets(seed_offset, node.shape[0])
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
    if kernel_backend() == "scipy":
        return _scipy_multi_source(graph, node, offset, label, lim)
    dist = np.empty(graph.n, dtype=np.float64)
    lab = np.empty(graph.n, dtype=np.int64)
    _c_call(
        _c.multi_source, graph.indptr, graph.indices, graph.weights,
        node, offset, label, lim, dist, lab,
    )  # fmt: skip
    return dist, lab


def shortest_reached(
    graph: CsrGraph,
    seed_ptr: Any,
    seed_node: Any,
    seed_offset: Any,
    *,
    limit: float,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every node within ``limit`` of each row of seeds.

    Parameters
    ----------
    graph, seed_ptr, seed_node, seed_offset, threads
        As in :func:`shortest_to_targets`.
    limit
        Largest distance; must be finite (the output grows with it).

    Returns
    -------
    row_ptr : numpy.ndarray
        ``int64[n_rows + 1]``: row ``r``'s nodes are ``row_ptr[r]:row_ptr[r+1]``.
    node : numpy.ndarray
        ``int64``: nodes settled with distance <= ``limit``, row-major; within a
        row by increasing distance, equal distances by increasing node id.
    dist : numpy.ndarray
        ``float64``: their distances.

    Raises
    ------
    QueryError
        If an argument is malformed (the message names it).
    """
    ptr, node, offset = _rows(graph, seed_ptr, seed_node, seed_offset)
    lim = _as_limit(limit, finite=True)
    n_threads = _as_threads(threads)
    n_rows = ptr.shape[0] - 1
    if kernel_backend() == "scipy":
        return _scipy_reached(graph, ptr, node, offset, lim)
    counts = np.zeros(n_rows, dtype=np.int64)

    def block(r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
        nodes, dists = _c_call(
            _c.reached, graph.indptr, graph.indices, graph.weights,
            ptr[r0 : r1 + 1], node, offset, lim, counts[r0:r1],
        )  # fmt: skip
        return np.frombuffer(nodes, dtype=np.int64), np.frombuffer(dists, dtype=np.float64)

    parts = _run_blocks(block, _blocks(n_rows, n_threads))
    row_ptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(counts, out=row_ptr[1:])
    if len(parts) == 1:
        return row_ptr, parts[0][0], parts[0][1]
    return (
        row_ptr,
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
    )


def shortest_tree(
    graph: CsrGraph,
    seed_ptr: Any,
    seed_node: Any,
    seed_offset: Any,
    *,
    limit: float = np.inf,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Full distance and predecessor rows, for path recovery on a few rows.

    Parameters
    ----------
    graph, seed_ptr, seed_node, seed_offset, limit, threads
        As in :func:`shortest_to_targets`.

    Returns
    -------
    dist : numpy.ndarray
        ``float64 (n_rows, n)``, ``inf`` if unreached or beyond ``limit``.
    pred : numpy.ndarray
        ``int64 (n_rows, n)``: the node before ``v`` on a shortest path to ``v``,
        ``-1`` where ``v``'s best value is its own seed offset and where ``v`` is
        unreached. Following ``pred`` from a reached node ends at a seed; along
        the way ``dist[v] == dist[pred[v]] + w`` for the lightest edge
        ``pred[v] -> v`` (to rounding in the fallback). Among equally short
        paths, which predecessor is kept depends on the backend.

    Raises
    ------
    QueryError
        If an argument is malformed (the message names it).
    """
    ptr, node, offset = _rows(graph, seed_ptr, seed_node, seed_offset)
    lim = _as_limit(limit)
    n_threads = _as_threads(threads)
    n_rows = ptr.shape[0] - 1
    if kernel_backend() == "scipy":
        return _scipy_tree(graph, ptr, node, offset, lim)
    dist = np.empty((n_rows, graph.n), dtype=np.float64)
    pred = np.empty((n_rows, graph.n), dtype=np.int64)

    def block(r0: int, r1: int) -> None:
        _c_call(
            _c.tree, graph.indptr, graph.indices, graph.weights,
            ptr[r0 : r1 + 1], node, offset, lim, dist[r0:r1], pred[r0:r1],
        )  # fmt: skip

    _run_blocks(block, _blocks(n_rows, n_threads))
    return dist, pred


# --------------------------------------------------------------------------- scipy fallback


def _augmented(
    graph: CsrGraph, counts: np.ndarray, node: np.ndarray, weight: np.ndarray
) -> scipy.sparse.csr_array:
    """The graph plus ``len(counts)`` virtual nodes; virtual node ``n + r`` has ``counts[r]``
    edges, to the next ``counts[r]`` entries of ``node`` with the weights ``weight``."""
    n = graph.n
    size = n + counts.shape[0]
    indptr = np.concatenate([graph.indptr, graph.indptr[-1] + np.cumsum(counts, dtype=np.int64)])
    indices = np.concatenate([graph.indices.astype(np.int64, copy=False), node])
    data = np.concatenate([graph.weights, weight])
    return scipy.sparse.csr_array((data, indices, indptr), shape=(size, size))


def _shift(offset: np.ndarray) -> float:
    """Added to every seed offset so that virtual edges weigh >= 1."""
    return 1.0 - float(offset.min()) if offset.size else 0.0


def _scipy_limit(limit: float, shift: float) -> float:
    # a little slack so that rounding in the shifted space never drops a node at the limit;
    # the exact limit is applied afterwards in the unshifted space
    shifted = limit + shift
    return shifted + 1e-9 * (abs(shifted) + 1.0) if np.isfinite(shifted) else shifted


def _scipy_rows(
    graph: CsrGraph,
    ptr: np.ndarray,
    node: np.ndarray,
    offset: np.ndarray,
    limit: float,
    *,
    predecessors: bool = False,
) -> Any:
    """Yield ``(r0, r1, dist[r0:r1, :n], pred or None)`` from scipy, by memory-bounded chunks."""
    graph.validate()
    n, n_rows = graph.n, ptr.shape[0] - 1
    shift = _shift(offset)
    matrix = _augmented(graph, np.diff(ptr), node, offset + shift)
    slimit = _scipy_limit(limit, shift)
    chunk = max(1, CHUNK_BYTES // (8 * (n + n_rows) * (2 if predecessors else 1)))
    for r0 in range(0, n_rows, chunk):
        r1 = min(n_rows, r0 + chunk)
        if slimit < 0:  # below every seed offset: nothing reached
            dist = np.full((r1 - r0, n), np.inf)
            pred = np.full((r1 - r0, n), -1, dtype=np.int64) if predecessors else None
            yield r0, r1, dist, pred
            continue
        result = dijkstra(
            matrix,
            directed=True,
            indices=np.arange(n + r0, n + r1),
            limit=slimit,
            return_predecessors=predecessors,
        )
        dist, pred = result if predecessors else (result, None)
        dist = dist[:, :n] - shift
        beyond = ~(dist <= limit)
        dist[beyond] = np.inf
        if pred is not None:
            pred = pred[:, :n].astype(np.int64)
            pred[(pred >= n) | (pred < 0) | beyond] = -1
        yield r0, r1, dist, pred


def _scipy_to_targets(
    graph: CsrGraph,
    ptr: np.ndarray,
    node: np.ndarray,
    offset: np.ndarray,
    target: np.ndarray,
    limit: float,
) -> np.ndarray:
    out = np.empty((ptr.shape[0] - 1, target.shape[0]), dtype=np.float64)
    if out.size == 0:
        graph.validate()
        return out
    for r0, r1, dist, _ in _scipy_rows(graph, ptr, node, offset, limit):
        out[r0:r1] = dist[:, target]
    return out


def _scipy_tree(
    graph: CsrGraph, ptr: np.ndarray, node: np.ndarray, offset: np.ndarray, limit: float
) -> tuple[np.ndarray, np.ndarray]:
    n_rows = ptr.shape[0] - 1
    dist = np.empty((n_rows, graph.n), dtype=np.float64)
    pred = np.empty((n_rows, graph.n), dtype=np.int64)
    for r0, r1, d, p in _scipy_rows(graph, ptr, node, offset, limit, predecessors=True):
        dist[r0:r1] = d
        pred[r0:r1] = p
    return dist, pred


def _scipy_reached(
    graph: CsrGraph, ptr: np.ndarray, node: np.ndarray, offset: np.ndarray, limit: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_rows = ptr.shape[0] - 1
    counts = np.zeros(n_rows, dtype=np.int64)
    nodes: list[np.ndarray] = [np.empty(0, dtype=np.int64)]
    dists: list[np.ndarray] = [np.empty(0, dtype=np.float64)]
    for r0, r1, d, _ in _scipy_rows(graph, ptr, node, offset, limit):
        rows, cols = np.nonzero(np.isfinite(d))
        values = d[rows, cols]
        order = np.lexsort((cols, values, rows))
        nodes.append(cols[order].astype(np.int64))
        dists.append(values[order])
        counts[r0:r1] = np.bincount(rows, minlength=r1 - r0)
    row_ptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(counts, out=row_ptr[1:])
    return row_ptr, np.concatenate(nodes), np.concatenate(dists)


def _scipy_multi_source(
    graph: CsrGraph, node: np.ndarray, offset: np.ndarray, label: np.ndarray, limit: float
) -> tuple[np.ndarray, np.ndarray]:
    graph.validate()
    n = graph.n
    dist = np.full(n, np.inf)
    lab = np.full(n, -1, dtype=np.int64)
    shift = _shift(offset)
    slimit = _scipy_limit(limit, shift)
    if node.size == 0 or slimit < 0:
        return dist, lab
    one = np.array([node.shape[0]])
    weight = offset + shift
    shifted = dijkstra(_augmented(graph, one, node, weight), directed=True, indices=n, limit=slimit)
    shifted = shifted[:n]
    dist = shifted - shift
    reached = np.isfinite(dist) & (dist <= limit)
    dist[~reached] = np.inf
    shifted[~reached] = np.inf
    if not reached.any():
        return dist, lab

    # Smallest label over the shortest paths: keep the tight seeds and edges (in the
    # shifted space, where scipy's own tree edges are exactly tight), then a second
    # search from a virtual source whose edge to each tight seed weighs rank(label) + 1
    # and where every tight edge weighs eps: its distance is rank + 1 + hops * eps
    # with hops * eps < 0.25, so its integer part is the smallest rank reaching a node.
    def tol(values: np.ndarray) -> np.ndarray:
        return TIE_RTOL * (np.abs(values) + 1.0)

    tight_seed = weight <= shifted[node] + tol(shifted[node])
    u = np.repeat(np.arange(n), np.diff(graph.indptr))
    v = graph.indices.astype(np.int64, copy=False)
    via = shifted[u] + graph.weights
    tight = reached[u] & reached[v] & (via <= shifted[v] + tol(shifted[v]))
    labels, rank = np.unique(label, return_inverse=True)
    eps = 0.25 / max(n, 1)
    rows = np.concatenate([u[tight], np.full(int(tight_seed.sum()), n)])
    cols = np.concatenate([v[tight], node[tight_seed]])
    data = np.concatenate([np.full(int(tight.sum()), eps), rank[tight_seed] + 1.0])
    spans = _min_duplicates(rows, cols, data, n + 1)  # (a coo -> csr conversion would sum them)
    best = dijkstra(spans, directed=True, indices=n)[:n]
    lab[reached] = labels[np.floor(best[reached]).astype(np.int64) - 1]
    return dist, lab


def _min_duplicates(
    rows: np.ndarray, cols: np.ndarray, data: np.ndarray, size: int
) -> scipy.sparse.csr_array:
    """CSR matrix keeping the smallest value of repeated ``(row, col)`` entries."""
    order = np.lexsort((data, cols, rows))
    rows, cols, data = rows[order], cols[order], data[order]
    first = np.ones(rows.shape[0], dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    rows, cols, data = rows[first], cols[first], data[first]
    indptr = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=size), out=indptr[1:])
    return scipy.sparse.csr_array((data, cols, indptr), shape=(size, size))


def ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(s, s + c)`` for every (s, c) pair, vectorised."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    offsets = np.repeat(np.asarray(starts, dtype=np.int64) - np.cumsum(counts) + counts, counts)
    return offsets + np.arange(total, dtype=np.int64)


def best_per_cell(
    state_start: np.ndarray,
    portal_offset: np.ndarray,
    portal_cell: np.ndarray,
    states: np.ndarray,
    seconds: np.ndarray,
    direct_cell: np.ndarray,
    direct_seconds: np.ndarray,
    *,
    limit: float,
    scratch: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The best time of each cell reached by one search, by increasing cell.

    A cell's time over a portal is the portal's state time plus the portal's
    offset; a direct trip gives a cell its time outright. Cells whose best time
    exceeds ``limit`` are dropped.

    Parameters
    ----------
    state_start
        ``int64[n_states + 1]``: the portals of state ``s`` are
        ``state_start[s]:state_start[s + 1]``.
    portal_offset, portal_cell
        ``float64`` / ``int64``: each portal's offset (seconds) and cell.
    states, seconds
        ``int64`` / ``float64``: the states the search reached and their times.
    direct_cell, direct_seconds
        ``int64`` / ``float64``: trips that reach a cell without a portal.
    limit
        Largest time kept (seconds).
    scratch
        ``float64[n_cells]``, all ``+inf``: working memory, left all ``+inf``
        (so that one allocation serves many searches).

    Returns
    -------
    cells : numpy.ndarray
        ``int64``: the cells reached within ``limit``, increasing.
    best : numpy.ndarray
        ``float64``: their best times.

    Raises
    ------
    QueryError
        If an index is out of range (the message names the array).
    """
    if kernel_backend() == "c":
        cells, best = _c_call(
            _c.cell_best, state_start, portal_offset, portal_cell, states, seconds,
            direct_cell, direct_seconds, float(limit), scratch,
        )  # fmt: skip
        return np.frombuffer(cells, dtype=np.int64), np.frombuffer(best, dtype=np.float64)
    counts = state_start[states + 1] - state_start[states]
    sel = ranges(state_start[states], counts)
    np.minimum.at(scratch, portal_cell[sel], portal_offset[sel] + np.repeat(seconds, counts))
    np.minimum.at(scratch, direct_cell, direct_seconds)
    touched = np.flatnonzero(scratch != np.inf)
    best = scratch[touched]
    scratch[touched] = np.inf
    keep = best <= limit
    return touched[keep], best[keep]


def outline_rings(
    grid: np.ndarray, next_direction: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rings of the outline of a boolean grid's true cells, with the C kernel.

    The algorithm and the numpy version that gives the same arrays are
    :func:`coverage.routing.isochrones._rings_numpy`'s; call this only when
    :func:`kernel_backend` is ``"c"``.

    Parameters
    ----------
    grid
        ``bool[height, width]`` with an empty cell of margin all round.
    next_direction
        ``int64[4, 16]``: the direction of the side leaving a vertex, by incoming
        direction (east, south, west, north) and code of the four cells around.

    Returns
    -------
    rows, cols : numpy.ndarray
        ``int64``: the rings' points in half-cell units, each ring unclosed, one
        ring after the other.
    ring_start : numpy.ndarray
        ``int64``: index of each ring's first point.
    ring_cell : numpy.ndarray
        ``int64``: flat index of the cell left of each ring's first side.
    twice_area : numpy.ndarray
        ``int64``: twice each ring's signed area (positive for holes).
    ring_part : numpy.ndarray
        ``int64``: the 4-connected part of each ring's cell, numbered from 1 by
        first cell in row-major order (as ``scipy.ndimage.label`` numbers them).

    Raises
    ------
    QueryError
        If the grid's margin is not empty.
    """
    if _c is None:
        raise ConfigError(f"outline_rings : {_C_MISSING or 'extension C non compilée'}")
    height, width = grid.shape
    points, ring_start, ring_cell, twice_area, ring_part = _c_call(
        _c.trace_rings,
        np.ascontiguousarray(grid, dtype=bool).view(np.uint8).ravel(),
        height,
        width,
        np.ascontiguousarray(next_direction, dtype=np.int64).ravel(),
    )
    points = np.frombuffer(points, dtype=np.int64)
    return (
        points[0::2],
        points[1::2],
        np.frombuffer(ring_start, dtype=np.int64)[:-1],
        np.frombuffer(ring_cell, dtype=np.int64),
        np.frombuffer(twice_area, dtype=np.int64),
        np.frombuffer(ring_part, dtype=np.int64),
    )
