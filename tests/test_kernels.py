"""Shortest-path kernels (coverage.routing.kernels): C extension and scipy fallback.

Every search is checked against networkx's Dijkstra on seeded random graphs (a
super-source expresses the seeds and their offsets), for both backends.
"""

from __future__ import annotations

import os

import networkx as nx
import numpy as np
import pytest
import scipy.sparse

from coverage.errors import ConfigError, QueryError
from coverage.routing import kernels
from coverage.routing.kernels import (
    CsrGraph,
    best_per_cell,
    shortest_multi_source,
    shortest_reached,
    shortest_to_targets,
    shortest_tree,
)
from coverage.settings import kernel_backend_choice, routing_threads

TOL = 1e-9
BACKENDS = ["c", "scipy"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test once per backend (the C one only when the extension is built)."""
    if request.param == "c" and kernels._c is None:
        pytest.skip(f"C extension not built: {kernels._C_MISSING}")
    monkeypatch.setenv("COVERAGE_KERNELS", request.param)
    assert kernels.kernel_backend() == request.param
    return request.param


# --- graphs and references -------------------------------------------------------------------


def random_graph(
    seed: int, n: int = 300, m: int = 1000, *, zeros: float = 0.05, index_dtype=np.int64
) -> CsrGraph:
    """Random directed graph with parallel edges, self-loops and some zero weights."""
    rng = np.random.default_rng(seed)
    u = rng.integers(0, n, m)
    v = rng.integers(0, n, m)
    w = rng.random(m) * 10.0
    w[rng.random(m) < zeros] = 0.0
    order = np.argsort(u, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(u, minlength=n), out=indptr[1:])
    return CsrGraph(indptr, v[order].astype(index_dtype), w[order]).validate()


def to_networkx(graph: CsrGraph) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(range(graph.n))
    for u in range(graph.n):
        for e in range(graph.indptr[u], graph.indptr[u + 1]):
            v, w = int(graph.indices[e]), float(graph.weights[e])
            if not g.has_edge(u, v) or g[u][v]["weight"] > w:
                g.add_edge(u, v, weight=w)
    return g


def reference(g: nx.DiGraph, nodes, offsets) -> np.ndarray:
    """Distances from seeds with offsets, through a super-source (offsets shifted to >= 0)."""
    n = g.number_of_nodes()
    out = np.full(n, np.inf)
    if len(nodes) == 0:
        return out
    shift = -min(offsets)
    h = g.copy()
    for node, off in zip(nodes, offsets, strict=True):
        w = float(off) + shift
        if not h.has_edge("S", int(node)) or h["S"][int(node)]["weight"] > w:
            h.add_edge("S", int(node), weight=w)
    for v, d in nx.single_source_dijkstra_path_length(h, "S").items():
        if v != "S":
            out[v] = d - shift
    return out


def random_rows(rng: np.random.Generator, n: int, rows: int, *, empty: tuple[int, ...] = ()):
    counts = rng.integers(1, 4, rows)
    counts[list(empty)] = 0
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    node = rng.integers(0, n, ptr[-1])
    offset = rng.uniform(-5.0, 5.0, ptr[-1])
    return ptr, node, offset


def assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isinf(actual), np.isinf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=0, atol=TOL)


# --- backend selection and settings ----------------------------------------------------------


def test_c_backend_required_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """With COVERAGE_REQUIRE_KERNELS=1 (CI, this environment) the C extension must be built."""
    monkeypatch.delenv("COVERAGE_KERNELS", raising=False)
    if os.environ.get("COVERAGE_REQUIRE_KERNELS") == "1":
        assert kernels.kernel_backend() == "c", kernels._C_MISSING
    elif kernels.kernel_backend() != "c":
        pytest.skip(f"C extension not built: {kernels._C_MISSING}")


def test_backend_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVERAGE_KERNELS", "scipy")
    assert kernels.kernel_backend() == "scipy"
    monkeypatch.setenv("COVERAGE_KERNELS", "GPU")
    with pytest.raises(ConfigError, match="COVERAGE_KERNELS"):
        kernel_backend_choice()
    monkeypatch.delenv("COVERAGE_KERNELS")
    assert kernel_backend_choice() == "auto"
    monkeypatch.setattr(kernels, "_c", None)
    assert kernels.kernel_backend() == "scipy"
    monkeypatch.setenv("COVERAGE_KERNELS", "c")
    with pytest.raises(ConfigError, match="pas disponible"):
        kernels.kernel_backend()


def test_routing_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COVERAGE_THREADS", raising=False)
    assert 1 <= routing_threads() <= 8
    monkeypatch.setenv("COVERAGE_THREADS", " 3 ")
    assert routing_threads() == 3
    for bad in ("0", "-2", "two", "1.5"):
        monkeypatch.setenv("COVERAGE_THREADS", bad)
        with pytest.raises(ConfigError, match="COVERAGE_THREADS"):
            routing_threads()


# --- shortest_to_targets ------------------------------------------------------------------------


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_to_targets_matches_networkx(backend: str, index_dtype) -> None:
    graph = random_graph(1, index_dtype=index_dtype)
    g = to_networkx(graph)
    rng = np.random.default_rng(2)
    ptr, node, offset = random_rows(rng, graph.n, 12, empty=(4,))
    target = rng.integers(0, graph.n, 40)
    target[5] = target[9]  # a repeated target
    out = shortest_to_targets(graph, ptr, node, offset, target)
    assert out.dtype == np.float64 and out.shape == (12, 40)
    for r in range(12):
        seeds = slice(ptr[r], ptr[r + 1])
        assert_close(out[r], reference(g, node[seeds], offset[seeds])[target])
    assert np.isinf(out[4]).all()  # the empty row


def test_to_targets_limit(backend: str) -> None:
    graph = random_graph(3)
    g = to_networkx(graph)
    rng = np.random.default_rng(4)
    ptr, node, offset = random_rows(rng, graph.n, 6)
    target = np.arange(graph.n)
    limit = 6.0
    out = shortest_to_targets(graph, ptr, node, offset, target, limit=limit)
    for r in range(6):
        ref = reference(g, node[ptr[r] : ptr[r + 1]], offset[ptr[r] : ptr[r + 1]])
        assert_close(out[r], np.where(ref <= limit, ref, np.inf))
    # a limit below every offset reaches nothing
    assert np.isinf(shortest_to_targets(graph, ptr, node, offset, target, limit=-6.0)).all()


def test_duplicate_and_negative_seeds(backend: str) -> None:
    # 0 -> 1 -> 2, weights 1 and 2
    graph = CsrGraph(np.array([0, 1, 2, 2]), np.array([1, 2]), np.array([1.0, 2.0]))
    out = shortest_to_targets(
        graph, [0, 3], [0, 0, 1], [3.0, -1.0, 5.0], [0, 1, 2, 2], limit=np.inf
    )
    np.testing.assert_allclose(out, [[-1.0, 0.0, 2.0, 2.0]], atol=TOL)
    # the seed offset beats a path arriving later
    out = shortest_to_targets(graph, [0, 2], [0, 2], [0.0, -10.0], [2])
    np.testing.assert_allclose(out, [[-10.0]], atol=TOL)


def test_zero_weight_edges_and_unreachable(backend: str) -> None:
    # 0 -0-> 1 -0-> 2 -1-> 3 ; 3 -0-> 1 (zero cycle back) ; 4 isolated ; 5 -> 0
    indptr = np.array([0, 1, 2, 3, 4, 4, 5])
    indices = np.array([1, 2, 3, 1, 0])
    weights = np.array([0.0, 0.0, 1.0, 0.0, 7.0])
    graph = CsrGraph(indptr, indices, weights).validate()
    out = shortest_to_targets(graph, [0, 1, 1], [0], [2.0], np.arange(6))
    np.testing.assert_allclose(out[0], [2.0, 2.0, 2.0, 3.0, np.inf, np.inf], atol=TOL)
    assert np.isinf(out[1]).all()  # empty row
    dist, pred = shortest_tree(graph, [0, 1], [0], [2.0])
    np.testing.assert_allclose(dist[0], out[0], atol=TOL)
    assert pred[0].tolist() == [-1, 0, 1, 2, -1, -1]
    row_ptr, node, d = shortest_reached(graph, [0, 1, 1], [0], [2.0], limit=2.5)
    assert row_ptr.tolist() == [0, 3, 3]
    assert node.tolist() == [0, 1, 2]  # equal distances by node id
    np.testing.assert_allclose(d, [2.0, 2.0, 2.0], atol=TOL)
    _, label = shortest_multi_source(graph, [0], [2.0], [7])
    assert label.tolist() == [7, 7, 7, 7, -1, -1]


def test_empty_queries(backend: str) -> None:
    graph = random_graph(5, n=20, m=40)
    assert shortest_to_targets(graph, [0], [], [], [1, 2]).shape == (0, 2)
    assert shortest_to_targets(graph, [0, 1], [3], [0.0], []).shape == (1, 0)
    row_ptr, node, dist = shortest_reached(graph, [0, 0, 0], [], [], limit=5.0)
    assert row_ptr.tolist() == [0, 0, 0] and node.size == 0 and dist.size == 0
    dist, label = shortest_multi_source(graph, [], [], [])
    assert np.isinf(dist).all() and (label == -1).all()
    dist, pred = shortest_tree(graph, [0], [], [])
    assert dist.shape == (0, 20) and pred.shape == (0, 20)


# --- shortest_multi_source ------------------------------------------------------------------------


def test_multi_source_matches_networkx(backend: str) -> None:
    graph = random_graph(6, zeros=0.0)
    g = to_networkx(graph)
    rng = np.random.default_rng(7)
    node = rng.integers(0, graph.n, 15)
    offset = rng.uniform(-3.0, 3.0, 15)
    label = rng.integers(0, 6, 15)
    dist, lab = shortest_multi_source(graph, node, offset, label, limit=9.0)
    per_seed = np.array([reference(g, [s], [o]) for s, o in zip(node, offset, strict=True)])
    best = per_seed.min(axis=0)
    assert_close(dist, np.where(best <= 9.0, best, np.inf))
    reached = np.isfinite(dist)
    winner = per_seed.argmin(axis=0)  # random float weights: no ties
    assert (lab[reached] == label[winner[reached]]).all()
    assert (lab[~reached] == -1).all()


def test_multi_source_ties_smallest_label(backend: str) -> None:
    """Integer weights on a grid (exact ties) plus zero-weight edges: smallest label wins."""
    side = 12
    base = nx.grid_2d_graph(side, side).to_directed()
    rng = np.random.default_rng(8)
    mapping = {p: i for i, p in enumerate(sorted(base.nodes))}
    g = nx.relabel_nodes(base, mapping)
    for u, v in g.edges:
        g[u][v]["weight"] = float(rng.choice([0, 1, 1, 2]))
    matrix = nx.to_scipy_sparse_array(g, nodelist=range(side * side), weight="weight", format="csr")
    # to_scipy_sparse_array drops zero weights: put them back as explicit entries
    coo = [(u, v, d["weight"]) for u, v, d in g.edges(data=True)]
    u, v, w = (np.array(x) for x in zip(*coo, strict=True))
    matrix = scipy.sparse.csr_array((w, (u, v)), shape=matrix.shape)
    graph = CsrGraph.from_scipy(matrix).validate()
    node = rng.integers(0, side * side, 10)
    node[3] = node[4]  # same node, two labels, same offset
    offset = rng.integers(-2, 3, 10).astype(float)
    offset[3] = offset[4]
    label = rng.permutation(40)[:10]
    dist, lab = shortest_multi_source(graph, node, offset, label)
    per_seed = np.array([reference(g, [s], [o]) for s, o in zip(node, offset, strict=True)])
    best = per_seed.min(axis=0)
    assert_close(dist, best)
    expected = np.where(per_seed == best, label[:, None], np.iinfo(np.int64).max).min(axis=0)
    assert (lab == expected).all()
    # the rule does not depend on the seed order, and the result is repeatable
    perm = rng.permutation(10)
    dist2, lab2 = shortest_multi_source(graph, node[perm], offset[perm], label[perm])
    assert (lab2 == lab).all() and np.array_equal(dist2, dist)


# --- shortest_reached, shortest_tree -----------------------------------------------------------


def test_reached_matches_networkx(backend: str) -> None:
    graph = random_graph(9)
    g = to_networkx(graph)
    rng = np.random.default_rng(10)
    ptr, node, offset = random_rows(rng, graph.n, 8, empty=(2,))
    limit = 5.0
    row_ptr, reached, dist = shortest_reached(graph, ptr, node, offset, limit=limit)
    assert row_ptr.dtype == np.int64 and reached.dtype == np.int64 and dist.dtype == np.float64
    assert row_ptr[0] == 0 and row_ptr[-1] == reached.size == dist.size
    for r in range(8):
        ref = reference(g, node[ptr[r] : ptr[r + 1]], offset[ptr[r] : ptr[r + 1]])
        rows = slice(row_ptr[r], row_ptr[r + 1])
        expected = np.flatnonzero(ref <= limit)
        assert sorted(reached[rows].tolist()) == expected.tolist()
        np.testing.assert_allclose(dist[rows], ref[reached[rows]], atol=TOL)
        keys = list(zip(dist[rows].tolist(), reached[rows].tolist(), strict=True))
        assert keys == sorted(keys)  # by distance, then node id
    assert row_ptr[2] == row_ptr[3]


def test_tree_matches_networkx(backend: str) -> None:
    graph = random_graph(11)
    g = to_networkx(graph)
    rng = np.random.default_rng(12)
    ptr, node, offset = random_rows(rng, graph.n, 4)
    dist, pred = shortest_tree(graph, ptr, node, offset, limit=12.0)
    assert dist.shape == pred.shape == (4, graph.n) and pred.dtype == np.int64
    for r in range(4):
        seeds, offs = node[ptr[r] : ptr[r + 1]], offset[ptr[r] : ptr[r + 1]]
        ref = reference(g, seeds, offs)
        assert_close(dist[r], np.where(ref <= 12.0, ref, np.inf))
        own = {int(s): min(o for s2, o in zip(seeds, offs, strict=True) if s2 == s) for s in seeds}
        for v in np.flatnonzero(np.isfinite(dist[r])):
            p = pred[r, v]
            if p == -1:
                assert abs(own[int(v)] - dist[r, v]) <= TOL
            else:
                assert abs(dist[r, p] + g[p][v]["weight"] - dist[r, v]) <= TOL
            hops = 0  # following pred ends at a seed
            while pred[r, v] != -1:
                v = pred[r, v]
                hops += 1
                assert hops <= graph.n
            assert int(v) in own
        assert (pred[r][np.isinf(dist[r])] == -1).all()


# --- threads, backends agree ------------------------------------------------------------------


def test_thread_split_is_identical(backend: str) -> None:
    graph = random_graph(13, n=400, m=1300)
    rng = np.random.default_rng(14)
    ptr, node, offset = random_rows(rng, graph.n, 50, empty=(0, 17))
    target = rng.integers(0, graph.n, 30)
    one = shortest_to_targets(graph, ptr, node, offset, target, threads=1)
    for threads in (2, 3, 7):
        assert np.array_equal(
            one, shortest_to_targets(graph, ptr, node, offset, target, threads=threads)
        )
    reached_one = shortest_reached(graph, ptr, node, offset, limit=4.0, threads=1)
    reached_three = shortest_reached(graph, ptr, node, offset, limit=4.0, threads=3)
    for a, b in zip(reached_one, reached_three, strict=True):
        assert np.array_equal(a, b)
    tree_one = shortest_tree(graph, ptr, node, offset, limit=4.0, threads=1)
    tree_two = shortest_tree(graph, ptr, node, offset, limit=4.0, threads=2)
    for a, b in zip(tree_one, tree_two, strict=True):
        assert np.array_equal(a, b)


def test_backends_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    if kernels._c is None:
        pytest.skip(f"C extension not built: {kernels._C_MISSING}")
    graph = random_graph(15, index_dtype=np.int32)
    rng = np.random.default_rng(16)
    ptr, node, offset = random_rows(rng, graph.n, 20)
    results = {}
    for name in BACKENDS:
        monkeypatch.setenv("COVERAGE_KERNELS", name)
        results[name] = (
            shortest_to_targets(graph, ptr, node, offset, np.arange(graph.n), limit=7.0),
            shortest_reached(graph, ptr, node, offset, limit=3.0),
            shortest_multi_source(graph, node, offset, np.arange(node.size) % 5),
        )
    c, s = results["c"], results["scipy"]
    assert_close(c[0], s[0])
    assert np.array_equal(c[1][0], s[1][0]) and np.array_equal(c[1][1], s[1][1])
    np.testing.assert_allclose(c[1][2], s[1][2], atol=TOL)
    assert_close(c[2][0], s[2][0])
    assert np.array_equal(c[2][1], s[2][1])


# --- best time per cell ----------------------------------------------------------------------


def test_best_per_cell_is_the_minimum_over_portals_and_direct_trips(backend: str) -> None:
    """Each cell's best time over its portals of the reached states and its direct trips,
    against a plain loop; cells beyond the limit dropped; the scratch left all +inf."""
    rng = np.random.default_rng(21)
    n_states, n_cells, n_portals = 50, 400, 900
    portal_state = np.sort(rng.integers(0, n_states, n_portals))
    state_start = np.searchsorted(portal_state, np.arange(n_states + 1)).astype(np.int64)
    portal_cell = rng.integers(0, n_cells, n_portals).astype(np.int64)
    portal_offset = rng.random(n_portals) * 100.0
    states = rng.choice(n_states, 30, replace=False).astype(np.int64)
    seconds = rng.random(30) * 500.0
    direct_cell = rng.integers(0, n_cells, 40).astype(np.int64)
    direct_seconds = rng.random(40) * 300.0
    limit = 420.0
    expected: dict[int, float] = {}
    for s, t in zip(states.tolist(), seconds.tolist(), strict=True):
        for k in range(state_start[s], state_start[s + 1]):
            c = int(portal_cell[k])
            expected[c] = min(expected.get(c, np.inf), float(portal_offset[k]) + t)
    for c, t in zip(direct_cell.tolist(), direct_seconds.tolist(), strict=True):
        expected[c] = min(expected.get(c, np.inf), t)
    kept = sorted(c for c, t in expected.items() if t <= limit)
    assert 0 < len(kept) < len(expected)  # the limit drops some cells
    scratch = np.full(n_cells, np.inf)
    for _ in range(2):  # the scratch serves again
        cells, best = best_per_cell(
            state_start, portal_offset, portal_cell, states, seconds, direct_cell,
            direct_seconds, limit=limit, scratch=scratch,
        )  # fmt: skip
        assert cells.tolist() == kept
        assert best.tolist() == [expected[c] for c in kept]
        assert np.isinf(scratch).all()
    empty = np.empty(0, dtype=np.int64)
    cells, best = best_per_cell(
        state_start, portal_offset, portal_cell, empty, np.empty(0), empty, np.empty(0),
        limit=limit, scratch=scratch,
    )  # fmt: skip
    assert cells.size == 0 and best.size == 0


def test_best_per_cell_refuses_an_index_out_of_range() -> None:
    if kernels._c is None:
        pytest.skip(f"C extension not built: {kernels._C_MISSING}")
    start = np.array([0, 1], dtype=np.int64)
    one = np.array([0.0])
    scratch = np.full(3, np.inf)
    with pytest.raises(QueryError, match="portal_cell"):
        best_per_cell(
            start, one, np.array([3], dtype=np.int64), np.array([0], dtype=np.int64), one,
            np.empty(0, dtype=np.int64), np.empty(0), limit=10.0, scratch=scratch,
        )  # fmt: skip
    with pytest.raises(QueryError, match="states"):
        best_per_cell(
            start, one, np.array([0], dtype=np.int64), np.array([1], dtype=np.int64), one,
            np.empty(0, dtype=np.int64), np.empty(0), limit=10.0, scratch=scratch,
        )  # fmt: skip
    assert np.isinf(scratch).all()


# --- validation -----------------------------------------------------------------------------


def test_from_scipy_shares_arrays() -> None:
    small = scipy.sparse.random_array((50, 50), density=0.1, format="csr", rng=17)
    graph = CsrGraph.from_scipy(small)  # int32 indices kept, int32 indptr widened
    assert graph.n == 50 and graph.indices.dtype == np.int32 and graph.indptr.dtype == np.int64
    assert np.shares_memory(graph.indices, small.indices)
    assert np.shares_memory(graph.weights, small.data)
    matrix = scipy.sparse.csr_array(
        (small.data, small.indices.astype(np.int64), small.indptr.astype(np.int64)), shape=(50, 50)
    )
    graph = CsrGraph.from_scipy(matrix)
    assert np.shares_memory(graph.indptr, matrix.indptr)
    assert np.shares_memory(graph.indices, matrix.indices)
    assert CsrGraph.from_scipy(matrix.tocoo()).indices.size == matrix.nnz
    with pytest.raises(QueryError, match="carrée"):
        CsrGraph.from_scipy(scipy.sparse.csr_array((3, 4)))


def test_validate_names_the_problem() -> None:
    indptr, indices, weights = np.array([0, 1, 2]), np.array([1, 0]), np.array([1.0, 2.0])
    CsrGraph(indptr, indices, weights).validate()
    with pytest.raises(QueryError, match="indices"):
        CsrGraph(indptr, np.array([1, 5]), weights).validate()
    with pytest.raises(QueryError, match="weights"):
        CsrGraph(indptr, indices, np.array([1.0, -1.0])).validate()
    with pytest.raises(QueryError, match="weights"):
        CsrGraph(indptr, indices, np.array([np.nan, 1.0])).validate()
    with pytest.raises(QueryError, match="weights"):
        CsrGraph(indptr, indices, np.array([np.inf, 1.0])).validate()
    with pytest.raises(QueryError, match="indptr"):
        CsrGraph(np.array([0, 2, 1, 2]), np.array([1, 0]), weights).validate()
    with pytest.raises(QueryError, match="indices doit être de type int32 ou int64"):
        CsrGraph(indptr, indices.astype(np.int16), weights).validate()
    with pytest.raises(QueryError, match="weights doit être de type float64"):
        CsrGraph(indptr, indices, weights.astype(np.float32)).validate()


def test_query_arguments_are_checked(backend: str) -> None:
    graph = random_graph(18, n=10, m=20)
    with pytest.raises(QueryError, match="seed_ptr"):
        shortest_to_targets(graph, [0, 2, 1, 3], [1, 2, 3], [0.0, 0.0, 0.0], [1])
    with pytest.raises(QueryError, match="seed_ptr"):
        shortest_to_targets(graph, [0, 2], [1, 2, 3], [0.0, 0.0, 0.0], [1])
    with pytest.raises(QueryError, match="seed_node"):
        shortest_to_targets(graph, [0, 1], [10], [0.0], [1])
    with pytest.raises(QueryError, match="target_node"):
        shortest_to_targets(graph, [0, 1], [1], [0.0], [-1])
    with pytest.raises(QueryError, match="seed_offset"):
        shortest_to_targets(graph, [0, 1], [1], [np.nan], [1])
    with pytest.raises(QueryError, match="seed_offset"):
        shortest_tree(graph, [0, 1], [1], [0.0, 1.0])
    with pytest.raises(QueryError, match="limit"):
        shortest_to_targets(graph, [0, 1], [1], [0.0], [1], limit=np.nan)
    with pytest.raises(QueryError, match="limit doit être fini"):
        shortest_reached(graph, [0, 1], [1], [0.0], limit=np.inf)
    with pytest.raises(QueryError, match="threads"):
        shortest_to_targets(graph, [0, 1], [1], [0.0], [1], threads=0)
    with pytest.raises(QueryError, match="seed_label"):
        shortest_multi_source(graph, [1], [0.0], [-1])
    with pytest.raises(QueryError, match="seed_label"):
        shortest_multi_source(graph, [1, 2], [0.0, 0.0], [1])
    with pytest.raises(QueryError, match="graph doit être un CsrGraph"):
        shortest_to_targets(object(), [0, 1], [1], [0.0], [1])  # type: ignore[arg-type]


def test_bad_graph_content_raises_not_crashes(backend: str) -> None:
    """Without validate(), the kernels still refuse an edge they scan that is out of range."""
    indptr = np.array([0, 1, 2, 2])
    bad_target = CsrGraph(indptr, np.array([1, 99]), np.array([1.0, 1.0]))
    with pytest.raises(QueryError, match="indices"):
        shortest_to_targets(bad_target, [0, 1], [0], [0.0], [2])
    negative = CsrGraph(indptr, np.array([1, 2]), np.array([1.0, -1.0]))
    with pytest.raises(QueryError, match="weights"):
        shortest_reached(negative, [0, 1], [0], [0.0], limit=10.0)
    with pytest.raises(QueryError, match="indptr"):
        shortest_tree(CsrGraph(np.array([0, 1, 2, 5]), np.array([1, 2]), np.ones(2)), [0], [], [])
