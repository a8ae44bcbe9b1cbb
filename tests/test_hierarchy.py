"""Contraction hierarchies (coverage.routing.hierarchy): exact against Dijkstra.

Every query is compared with the Dijkstra kernels (coverage.routing.kernels), and
on a small graph with networkx, on seeded random graphs (parallel arcs, loops,
zero weights) and road-like grids (one-way streets, dead ends, several
components, isolated nodes, zero-weight arcs), node-based and turn-expanded.
"""

from __future__ import annotations

import os

import networkx as nx
import numpy as np
import pytest
import scipy.sparse

from coverage.errors import ConfigError, QueryError
from coverage.routing import hierarchy as hmod
from coverage.routing import kernels
from coverage.routing.hierarchy import (
    Hierarchy,
    build_hierarchy,
    hierarchy_available,
    hierarchy_multi_source,
    hierarchy_to_targets,
)
from coverage.routing.kernels import CsrGraph, shortest_multi_source, shortest_to_targets

TOL = 1e-9

needs_c = pytest.mark.skipif(hmod._h is None, reason=f"C extension not built: {hmod._H_MISSING}")


@pytest.fixture(autouse=True)
def _c_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """Queries use the C module unless a test asks for the fallback."""
    monkeypatch.delenv("COVERAGE_KERNELS", raising=False)


# --- graphs and references -------------------------------------------------------------------


def csr(n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray, index_dtype=np.int64) -> CsrGraph:
    order = np.argsort(u, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(u, minlength=n), out=indptr[1:])
    return CsrGraph(indptr, v[order].astype(index_dtype), w[order].astype(float)).validate()


def random_graph(
    seed: int, n: int = 200, m: int = 700, *, zeros: float = 0.05, index_dtype=np.int64
):
    """Random directed graph with parallel arcs, self-loops and some zero weights."""
    rng = np.random.default_rng(seed)
    u, v = rng.integers(0, n, m), rng.integers(0, n, m)
    w = rng.random(m) * 10.0
    w[rng.random(m) < zeros] = 0.0
    return csr(n, u, v, w, index_dtype)


def road_grid(side: int, seed: int, *, integer: bool = False) -> tuple[int, np.ndarray, ...]:
    """Directed road edges of a perturbed grid: one-ways, dead ends, a cut (two
    components), a few isolated intersections, some zero-weight links."""
    rng = np.random.default_rng(seed)
    idx = np.arange(side * side).reshape(side, side)
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    keep = rng.random(a.size) > 0.12  # missing streets: dead ends
    col_a, col_b = a % side, b % side
    keep &= ~((col_a == side // 2 - 1) & (col_b == side // 2))  # cut: two components
    isolated = rng.choice(side * side, 3, replace=False)
    keep &= ~np.isin(a, isolated) & ~np.isin(b, isolated)
    a, b = a[keep], b[keep]
    if integer:
        t = rng.integers(0, 4, a.size).astype(float)
    else:
        t = rng.uniform(5.0, 60.0, a.size)
        t[rng.random(a.size) < 0.03] = 0.0
    oneway = rng.random(a.size) < 0.2
    flip = rng.random(a.size) < 0.5
    src = np.where(oneway & flip, b, a)
    dst = np.where(oneway & flip, a, b)
    src = np.concatenate([src, b[~oneway]])
    dst = np.concatenate([dst, a[~oneway]])
    return side * side, src, dst, np.concatenate([t, t[~oneway]])


def node_grid(side: int, seed: int, **kwargs) -> CsrGraph:
    n, src, dst, t = road_grid(side, seed, **kwargs)
    return csr(n, src, dst, t)


def turn_grid(side: int, seed: int) -> CsrGraph:
    """Turn-expanded grid: a node per directed road edge, an arc per allowed turn
    (no U-turns except at dead ends), weight = the next edge's time + a turn cost."""
    _, src, dst, t = road_grid(side, seed)
    rng = np.random.default_rng(seed + 100)
    arcs = []
    out_of: dict[int, list[int]] = {}
    for e, s in enumerate(src.tolist()):
        out_of.setdefault(s, []).append(e)
    for e in range(src.size):
        nxt = out_of.get(int(dst[e]), [])
        for f in nxt:
            uturn = dst[f] == src[e]
            if uturn and len(nxt) > 1:
                continue
            arcs.append((e, f, t[f] + (20.0 if uturn else rng.uniform(0, 5))))
    u, v, w = (np.array(x) for x in zip(*arcs, strict=True))
    return csr(src.size, u, v, w, np.int32)


def random_rows(rng: np.random.Generator, n: int, rows: int, *, empty=(), lo=-5.0, hi=5.0):
    counts = rng.integers(1, 4, rows)
    counts[list(empty)] = 0
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return ptr, rng.integers(0, n, ptr[-1]), rng.uniform(lo, hi, ptr[-1])


def table_reference(graph, sptr, snode, soff, tptr, tnode, toff, limit=np.inf) -> np.ndarray:
    """min over the row's seeds and targets of offset + Dijkstra distance + offset."""
    dist = shortest_to_targets(graph, sptr, snode, soff, np.arange(graph.n))
    out = np.full((sptr.size - 1, tptr.size - 1), np.inf)
    for c in range(tptr.size - 1):
        t = slice(tptr[c], tptr[c + 1])
        if tptr[c + 1] > tptr[c]:
            out[:, c] = (dist[:, tnode[t]] + toff[t]).min(axis=1)
    out[~(out <= limit)] = np.inf
    return out


def transposed(graph: CsrGraph) -> CsrGraph:
    """Every arc turned around (parallel arcs, loops and zero weights kept)."""
    matrix = scipy.sparse.csr_matrix(
        (graph.weights, graph.indices, graph.indptr), shape=(graph.n, graph.n)
    )
    return CsrGraph.from_scipy(matrix.transpose().tocsr()).validate()


def midpoint_limits(values: np.ndarray) -> list[float]:
    """Limits halfway between two distinct finite values: a value within rounding of the
    limit may fall either side of it (shortcuts are summed in another order than Dijkstra)."""
    values = np.unique(values[np.isfinite(values)])
    return [(values[k] + values[k + 1]) / 2 for k in (values.size // 5, values.size // 2)]


def assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isinf(actual), np.isinf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=0, atol=TOL)


GRAPHS = {
    "random": lambda: random_graph(1),
    "random-int32-dense": lambda: random_graph(2, n=120, m=900, index_dtype=np.int32),
    "random-sparse": lambda: random_graph(3, n=300, m=360, zeros=0.2),
    "node-grid": lambda: node_grid(14, 4),
    "turn-grid": lambda: turn_grid(9, 5),
}
_BUILT: dict[str, tuple[CsrGraph, Hierarchy]] = {}


def built(name: str) -> tuple[CsrGraph, Hierarchy]:
    if name not in _BUILT:
        graph = GRAPHS[name]()
        _BUILT[name] = (graph, build_hierarchy(graph, threads=2))
    return _BUILT[name]


# --- backend ---------------------------------------------------------------------------------


def test_c_extension_required_when_asked() -> None:
    """With COVERAGE_REQUIRE_KERNELS=1 (CI, this environment) the C extension must be built."""
    if os.environ.get("COVERAGE_REQUIRE_KERNELS") == "1":
        assert hierarchy_available(), hmod._H_MISSING
    elif not hierarchy_available():
        pytest.skip(f"C extension not built: {hmod._H_MISSING}")


def test_backend_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVERAGE_KERNELS", "scipy")
    assert not hierarchy_available()
    monkeypatch.setattr(hmod, "_h", None)
    monkeypatch.setenv("COVERAGE_KERNELS", "c")
    with pytest.raises(ConfigError, match="_hierarchy"):
        hierarchy_available()
    monkeypatch.delenv("COVERAGE_KERNELS")
    assert not hierarchy_available()
    with pytest.raises(ConfigError, match="demande l'extension C"):
        build_hierarchy(random_graph(0, n=5, m=5))


# --- hierarchy_to_targets ---------------------------------------------------------------------


@needs_c
@pytest.mark.parametrize("name", list(GRAPHS))
def test_to_targets_matches_kernels(name: str) -> None:
    graph, h = built(name)
    rng = np.random.default_rng(10)
    sptr, snode, soff = random_rows(rng, graph.n, 40, empty=(3,))
    tptr, tnode, toff = random_rows(rng, graph.n, 30, empty=(0, 7))
    snode[1] = snode[0]  # a repeated seed
    out = hierarchy_to_targets(h, sptr, snode, soff, tptr, tnode, toff)
    assert out.dtype == np.float64 and out.shape == (40, 30)
    assert_close(out, table_reference(graph, sptr, snode, soff, tptr, tnode, toff))
    assert np.isinf(out[3]).all() and np.isinf(out[:, 0]).all() and np.isinf(out[:, 7]).all()
    # one node per row and no offsets: exactly kernels.shortest_to_targets
    target = rng.integers(0, graph.n, 25)
    single = hierarchy_to_targets(
        h, sptr, snode, soff, np.arange(26), target, np.zeros(25), threads=1
    )
    assert_close(single, shortest_to_targets(graph, sptr, snode, soff, target))


@needs_c
@pytest.mark.parametrize("name", ["random", "node-grid", "turn-grid"])
def test_to_targets_limit(name: str) -> None:
    graph, h = built(name)
    rng = np.random.default_rng(11)
    sptr, snode, soff = random_rows(rng, graph.n, 20)
    tptr, tnode, toff = random_rows(rng, graph.n, 20, lo=-3.0, hi=3.0)
    full = table_reference(graph, sptr, snode, soff, tptr, tnode, toff)
    values = np.unique(full[np.isfinite(full)])
    # limits halfway between two values: a value within rounding of the limit may fall
    # either side of it (a shortcut's weight is summed in another order than Dijkstra's)
    for k in (values.size // 10, values.size // 2, 9 * values.size // 10):
        limit = (values[k] + values[k + 1]) / 2
        out = hierarchy_to_targets(h, sptr, snode, soff, tptr, tnode, toff, limit=limit)
        assert_close(out, np.where(full <= limit, full, np.inf))
    below = hierarchy_to_targets(h, sptr, snode, soff, tptr, tnode, toff, limit=-20.0)
    assert np.isinf(below).all()


@needs_c
def test_to_targets_matches_networkx() -> None:
    graph, h = built("random-sparse")
    g = nx.DiGraph()
    g.add_nodes_from(range(graph.n))
    for u in range(graph.n):
        for e in range(graph.indptr[u], graph.indptr[u + 1]):
            v, w = int(graph.indices[e]), float(graph.weights[e])
            if u != v and (not g.has_edge(u, v) or g[u][v]["weight"] > w):
                g.add_edge(u, v, weight=w)
    rng = np.random.default_rng(12)
    sources = rng.integers(0, graph.n, 6)
    targets = rng.integers(0, graph.n, 9)
    out = hierarchy_to_targets(
        h, np.arange(7), sources, np.zeros(6), np.arange(10), targets, np.zeros(9)
    )
    for i, s in enumerate(sources):
        lengths = nx.single_source_dijkstra_path_length(g, int(s))
        expected = np.array([lengths.get(int(t), np.inf) for t in targets])
        assert_close(out[i], expected)


@needs_c
def test_negative_offsets_and_duplicates() -> None:
    # 0 -> 1 -> 2 (weights 1, 2), 3 isolated
    graph = CsrGraph(np.array([0, 1, 2, 2, 2]), np.array([1, 2]), np.array([1.0, 2.0]))
    h = build_hierarchy(graph)
    out = hierarchy_to_targets(
        h, [0, 3], [0, 0, 1], [3.0, -1.0, 5.0], [0, 1, 2, 4, 5], [0, 1, 2, 2, 3],
        [0.0, 0.0, 0.5, -4.0, 0.0],
    )  # fmt: skip
    # row 0: node 0 at -1 (its smaller offset), node 1 at min(0, 5); target row 2 = {2, 2-4}
    np.testing.assert_allclose(out[0, :3], [-1.0, 0.0, -2.0], atol=TOL)
    assert np.isinf(out[0, 3])  # isolated node
    # a negative target offset, with a limit that keeps it
    out = hierarchy_to_targets(h, [0, 1], [0], [0.0], [0, 1], [2], [-10.0], limit=-6.0)
    np.testing.assert_allclose(out, [[-7.0]], atol=TOL)


@needs_c
def test_zero_weight_cycle_and_unreachable() -> None:
    # 0 -0-> 1 -0-> 2 -1-> 3 ; 3 -0-> 1 ; 4 isolated ; 5 -> 0
    graph = CsrGraph(
        np.array([0, 1, 2, 3, 4, 4, 5]), np.array([1, 2, 3, 1, 0]),
        np.array([0.0, 0.0, 1.0, 0.0, 7.0]),
    ).validate()  # fmt: skip
    h = build_hierarchy(graph)
    everything = np.arange(6)
    out = hierarchy_to_targets(h, [0, 1], [0], [2.0], np.arange(7), everything, np.zeros(6))
    np.testing.assert_allclose(out[0], [2.0, 2.0, 2.0, 3.0, np.inf, np.inf], atol=TOL)
    dist, label = hierarchy_multi_source(h, [0], [2.0], [7])
    np.testing.assert_allclose(dist, out[0], atol=TOL)
    assert label.tolist() == [7, 7, 7, 7, -1, -1]
    # to node 1 (offset 2 at the seed end): from 2 and 3 over the zero-weight cycle
    dist, label = hierarchy_multi_source(h, [1], [2.0], [7], reverse=True)
    np.testing.assert_allclose(dist, [2.0, 2.0, 3.0, 2.0, np.inf, 9.0], atol=TOL)
    assert label.tolist() == [7, 7, 7, 7, -1, 7]


@needs_c
def test_empty_queries_and_graphs() -> None:
    _, h = built("random")
    assert hierarchy_to_targets(h, [0], [], [], [0, 1], [2], [0.0]).shape == (0, 1)
    assert hierarchy_to_targets(h, [0, 1], [3], [0.0], [0], [], []).shape == (1, 0)
    out = hierarchy_to_targets(h, [0, 0, 0], [], [], [0, 1], [2], [0.0])
    assert out.shape == (2, 1) and np.isinf(out).all()
    for reverse in (False, True):
        dist, label = hierarchy_multi_source(h, [], [], [], reverse=reverse)
        assert np.isinf(dist).all() and (label == -1).all()
    for n in (0, 1):
        empty = build_hierarchy(
            CsrGraph(np.zeros(n + 1, np.int64), np.zeros(0, np.int64), np.zeros(0))
        )
        assert empty.n == n and empty.rank.tolist() == list(range(n))
        for reverse in (False, True):
            dist, label = hierarchy_multi_source(
                empty, [0] * n, [1.5] * n, [3] * n, reverse=reverse
            )
            assert dist.tolist() == [1.5] * n and label.tolist() == [3] * n
        out = hierarchy_to_targets(empty, [0, n], [0] * n, [0.0] * n, [0, n], [0] * n, [1.0] * n)
        assert out.tolist() == [[1.0 if n else np.inf]]


@needs_c
def test_tiny_settle_limit_is_still_exact() -> None:
    """A witness search cut short adds its shortcut: settle_limit=1, more arcs, same answers."""
    graph, h = built("node-grid")
    tight = build_hierarchy(graph, settle_limit=1)
    assert tight.report["shortcuts"] > h.report["shortcuts"]
    assert tight.report["witness_cut_short"] > 0
    rng = np.random.default_rng(13)
    sptr, snode, soff = random_rows(rng, graph.n, 15)
    tptr, tnode, toff = random_rows(rng, graph.n, 15)
    assert_close(
        hierarchy_to_targets(tight, sptr, snode, soff, tptr, tnode, toff),
        hierarchy_to_targets(h, sptr, snode, soff, tptr, tnode, toff),
    )


# --- hierarchy_multi_source ------------------------------------------------------------------


@needs_c
@pytest.mark.parametrize("name", list(GRAPHS))
def test_multi_source_matches_kernels(name: str) -> None:
    graph, h = built(name)
    rng = np.random.default_rng(14)
    node = rng.integers(0, graph.n, 12)
    node[5] = node[4]  # same node, two seeds
    offset = rng.uniform(-3.0, 3.0, 12)
    label = rng.integers(0, 5, 12)
    for limit in (np.inf, 15.0):
        dist, lab = hierarchy_multi_source(h, node, offset, label, limit=limit)
        ref_dist, ref_lab = shortest_multi_source(graph, node, offset, label, limit=limit)
        assert dist.dtype == np.float64 and lab.dtype == np.int64
        assert_close(dist, ref_dist)
        assert (lab == ref_lab).all()  # random weights: no ties
        assert (lab[np.isinf(dist)] == -1).all()


@needs_c
def test_multi_source_ties_smallest_label() -> None:
    """Integer weights (0 to 3) on a grid: exact ties everywhere, the smallest label wins."""
    graph = node_grid(12, 15, integer=True)
    h = build_hierarchy(graph)
    rng = np.random.default_rng(16)
    node = rng.integers(0, graph.n, 12)
    node[3] = node[4]  # same node, same offset, two labels
    offset = rng.integers(-2, 3, 12).astype(float)
    offset[3] = offset[4]
    label = rng.permutation(40)[:12]
    dist, lab = hierarchy_multi_source(h, node, offset, label)
    per_seed = np.array(
        [shortest_to_targets(graph, [0, 1], [s], [o], np.arange(graph.n))[0]
         for s, o in zip(node, offset, strict=True)]
    )  # fmt: skip
    best = per_seed.min(axis=0)
    assert_close(dist, best)
    expected = np.where(per_seed == best, label[:, None], np.iinfo(np.int64).max).min(axis=0)
    expected[np.isinf(best)] = -1
    assert (lab == expected).all()
    if kernels.kernel_backend() == "c":
        assert (lab == shortest_multi_source(graph, node, offset, label)[1]).all()
    perm = rng.permutation(12)  # the seed order does not matter
    dist2, lab2 = hierarchy_multi_source(h, node[perm], offset[perm], label[perm])
    assert np.array_equal(dist2, dist) and np.array_equal(lab2, lab)


@needs_c
@pytest.mark.parametrize("name", list(GRAPHS))
def test_multi_source_reverse_matches_kernels_on_transpose(name: str) -> None:
    """reverse=True: distances to the nearest seed, the kernels' answer on the transposed graph."""
    graph, h = built(name)
    rev = transposed(graph)
    rng = np.random.default_rng(22)
    node = rng.integers(0, graph.n, 12)
    node[5] = node[4]  # same node, two seeds
    node[7] = node[6]  # same node, same label, two offsets
    offset = rng.uniform(-3.0, 3.0, 12)
    label = rng.integers(0, 5, 12)
    label[7] = label[6]
    full, _ = shortest_multi_source(rev, node, offset, label)
    for limit in (np.inf, *midpoint_limits(full), -10.0):
        dist, lab = hierarchy_multi_source(h, node, offset, label, limit=limit, reverse=True)
        ref_dist, ref_lab = shortest_multi_source(rev, node, offset, label, limit=limit)
        assert dist.dtype == np.float64 and lab.dtype == np.int64
        assert_close(dist, ref_dist)
        assert (lab == ref_lab).all()  # random weights: no ties
        assert (lab[np.isinf(dist)] == -1).all()
    assert np.isinf(dist).all()  # limit -10 is below every offset
    # the reverse query differs from the forward one (one-way arcs)
    forward, _ = hierarchy_multi_source(h, node, offset, label)
    assert not np.allclose(forward, full, rtol=0, atol=TOL)


@needs_c
def test_multi_source_reverse_small() -> None:
    # 0 -1-> 1 -2-> 2, 3 -4-> 2, 4 isolated: distances to seed 2, offset at the seed end
    graph = CsrGraph(
        np.array([0, 1, 2, 2, 3, 3]), np.array([1, 2, 2]), np.array([1.0, 2.0, 4.0])
    ).validate()
    h = build_hierarchy(graph)
    dist, label = hierarchy_multi_source(h, [2], [0.5], [4], reverse=True)
    np.testing.assert_allclose(dist, [3.5, 2.5, 0.5, 4.5, np.inf], atol=TOL)
    assert label.tolist() == [4, 4, 4, 4, -1]
    # two seeds: 0 is 1 from seed 1 (offset -1), 3 only reaches 2 (offset 10)
    dist, label = hierarchy_multi_source(h, [1, 2], [-1.0, 10.0], [0, 1], reverse=True, limit=13)
    np.testing.assert_allclose(dist, [0.0, -1.0, 10.0, np.inf, np.inf], atol=TOL)
    assert label.tolist() == [0, 0, 1, -1, -1]


@needs_c
def test_multi_source_reverse_ties_smallest_label() -> None:
    """Integer weights on a grid with one-ways: exact ties, the smallest label wins."""
    graph = node_grid(12, 23, integer=True)
    rev = transposed(graph)
    h = build_hierarchy(graph)
    rng = np.random.default_rng(24)
    node = rng.integers(0, graph.n, 12)
    node[3] = node[4]  # same node, same offset, two labels
    offset = rng.integers(-2, 3, 12).astype(float)
    offset[3] = offset[4]
    label = rng.permutation(40)[:12]
    dist, lab = hierarchy_multi_source(h, node, offset, label, reverse=True)
    per_seed = shortest_to_targets(
        rev, np.arange(13), node, offset, np.arange(graph.n)
    )  # row i: distances to seed i, plus its offset
    best = per_seed.min(axis=0)
    assert_close(dist, best)
    expected = np.where(per_seed == best, label[:, None], np.iinfo(np.int64).max).min(axis=0)
    expected[np.isinf(best)] = -1
    assert (lab == expected).all()
    assert ((per_seed == best).sum(axis=0) > 1).sum() > 10  # the test does see ties
    if kernels.kernel_backend() == "c":
        assert (lab == shortest_multi_source(rev, node, offset, label)[1]).all()
    # the forward query on a hierarchy of the transposed graph agrees, bit for bit on labels
    dist2, lab2 = hierarchy_multi_source(build_hierarchy(rev), node, offset, label)
    assert_close(dist2, dist)
    assert np.array_equal(lab2, lab)
    perm = rng.permutation(12)  # the seed order does not matter
    dist3, lab3 = hierarchy_multi_source(h, node[perm], offset[perm], label[perm], reverse=True)
    assert np.array_equal(dist3, dist) and np.array_equal(lab3, lab)


# --- threads, determinism, structure, saving -------------------------------------------------


@needs_c
def test_threads_and_builds_are_deterministic() -> None:
    graph = node_grid(16, 17)
    one, two = build_hierarchy(graph, threads=1), build_hierarchy(graph, threads=2)
    three = build_hierarchy(graph, threads=3)
    for name, a in one.arrays().items():
        if name != "report":
            assert np.array_equal(a, two.arrays()[name]) and np.array_equal(a, three.arrays()[name])
    for name in hmod._DERIVED:
        assert np.array_equal(getattr(one, name), getattr(two, name))
    rng = np.random.default_rng(18)
    sptr, snode, soff = random_rows(rng, graph.n, 60, empty=(0, 17))
    tptr, tnode, toff = random_rows(rng, graph.n, 50)
    ref = hierarchy_to_targets(one, sptr, snode, soff, tptr, tnode, toff, threads=1)
    for threads in (2, 3, 7):
        out = hierarchy_to_targets(one, sptr, snode, soff, tptr, tnode, toff, threads=threads)
        assert np.array_equal(out, ref)


@needs_c
@pytest.mark.parametrize("name", ["random", "turn-grid"])
def test_structure(name: str) -> None:
    graph, h = built(name)
    n = h.n
    assert sorted(h.rank.tolist()) == list(range(n))
    assert np.array_equal(h.order[h.rank], np.arange(n))
    up_tail = np.repeat(np.arange(n), np.diff(h.up_indptr))
    down_head = np.repeat(np.arange(n), np.diff(h.down_indptr))
    assert (h.rank[h.up_indices] > h.rank[up_tail]).all()
    assert (h.rank[h.down_indices] > h.rank[down_head]).all()
    r = h.report
    assert r["arcs_up"] == h.up_indices.size and r["arcs_down"] == h.down_indices.size
    assert r["arcs_up"] + r["arcs_down"] == r["arcs_input"] + r["shortcuts"]
    assert r["nbytes"] == h.nbytes and r["build_seconds"] >= 0
    for key in ("search_space_mean", "search_space_max", "witness_settle_limit", "rounds"):
        assert key in r
    # the hierarchy's arcs, as one graph, have the original distances
    rng = np.random.default_rng(19)
    sptr, snode, soff = random_rows(rng, n, 10)
    assert_close(
        shortest_to_targets(h.graph(), sptr, snode, soff, np.arange(n)),
        shortest_to_targets(graph, sptr, snode, soff, np.arange(n)),
    )
    assert_close(
        shortest_to_targets(h.graph(reverse=True), sptr, snode, soff, np.arange(n)),
        shortest_to_targets(transposed(graph), sptr, snode, soff, np.arange(n)),
    )


@needs_c
def test_arrays_round_trip(tmp_path) -> None:
    graph, h = built("turn-grid")
    np.savez(tmp_path / "h.npz", **h.arrays())
    with np.load(tmp_path / "h.npz") as data:  # no pickle needed
        loaded = Hierarchy.from_arrays(data)
    assert loaded.n == h.n and loaded.report == h.report
    for name in (*hmod._SAVED, *hmod._DERIVED):  # derived arrays rebuilt identically
        assert np.array_equal(getattr(loaded, name), getattr(h, name)), name
    rng = np.random.default_rng(20)
    sptr, snode, soff = random_rows(rng, graph.n, 10)
    tptr, tnode, toff = random_rows(rng, graph.n, 10)
    assert np.array_equal(
        hierarchy_to_targets(loaded, sptr, snode, soff, tptr, tnode, toff),
        hierarchy_to_targets(h, sptr, snode, soff, tptr, tnode, toff),
    )


@needs_c
def test_from_arrays_rejects_what_is_not_a_hierarchy() -> None:
    _, h = built("random")
    good = h.arrays()
    Hierarchy.from_arrays(good)
    cases = {
        "il manque 'up_weights'": {k: v for k, v in good.items() if k != "up_weights"},
        "de type int32": {**good, "up_indices": good["up_indices"].astype(np.int64)},
        "permutation": {**good, "rank": np.zeros_like(good["rank"])},
        "format": {**good, "format": np.array("something-else")},
        "fini": {**good, "down_weights": -good["down_weights"] - 1.0},
        "rang plus élevé": {
            **good, "rank": good["rank"][::-1].copy(),
        },
        "pointeur de lignes": {**good, "up_indptr": good["up_indptr"][::-1].copy()},
    }  # fmt: skip
    for message, arrays in cases.items():
        with pytest.raises(QueryError, match=message):
            Hierarchy.from_arrays(arrays)


@needs_c
def test_fallback_gives_the_same_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    graph, h = built("turn-grid")
    rng = np.random.default_rng(21)
    sptr, snode, soff = random_rows(rng, graph.n, 12, empty=(2,))
    tptr, tnode, toff = random_rows(rng, graph.n, 9, empty=(4,))
    node, offset, label = snode[:8], soff[:8], np.arange(8) % 3
    c_table = hierarchy_to_targets(h, sptr, snode, soff, tptr, tnode, toff, limit=400.0)
    c_multi = {
        reverse: hierarchy_multi_source(h, node, offset, label, limit=300.0, reverse=reverse)
        for reverse in (False, True)
    }
    rev_ref = shortest_multi_source(transposed(graph), node, offset, label, limit=300.0)
    assert_close(c_multi[True][0], rev_ref[0])
    assert not np.array_equal(c_multi[True][0], c_multi[False][0])
    monkeypatch.setenv("COVERAGE_KERNELS", "scipy")
    assert not hierarchy_available()
    assert_close(
        hierarchy_to_targets(h, sptr, snode, soff, tptr, tnode, toff, limit=400.0), c_table
    )
    for reverse, (c_dist, c_label) in c_multi.items():
        dist, lab = hierarchy_multi_source(h, node, offset, label, limit=300.0, reverse=reverse)
        assert_close(dist, c_dist)
        assert (lab == c_label).all()
    # the C module missing (the Dijkstra kernels may still be C)
    monkeypatch.delenv("COVERAGE_KERNELS")
    monkeypatch.setattr(hmod, "_h", None)
    assert not hierarchy_available()
    for reverse, (c_dist, c_label) in c_multi.items():
        dist, lab = hierarchy_multi_source(h, node, offset, label, limit=300.0, reverse=reverse)
        assert_close(dist, c_dist)
        assert (lab == c_label).all()


# --- validation -------------------------------------------------------------------------------


@needs_c
def test_query_arguments_are_checked() -> None:
    _, h = built("random")
    ok = dict(seed_ptr=[0, 1], seed_node=[1], seed_offset=[0.0])
    target = ([0, 1], [2], [0.0])

    def call(**kwargs):
        args = {**ok, **kwargs}
        return hierarchy_to_targets(
            h, args["seed_ptr"], args["seed_node"], args["seed_offset"], *target,
            **{k: v for k, v in kwargs.items() if k in ("limit", "threads")},
        )  # fmt: skip

    with pytest.raises(QueryError, match="seed_ptr"):
        call(seed_ptr=[0, 2])
    with pytest.raises(QueryError, match="seed_node"):
        call(seed_node=[h.n])
    with pytest.raises(QueryError, match="seed_offset"):
        call(seed_offset=[np.nan])
    with pytest.raises(QueryError, match="limit"):
        call(limit=np.nan)
    with pytest.raises(QueryError, match="threads"):
        call(threads=0)
    with pytest.raises(QueryError, match="target_node"):
        hierarchy_to_targets(h, [0, 1], [1], [0.0], [0, 1], [-1], [0.0])
    with pytest.raises(QueryError, match="target_offset"):
        hierarchy_to_targets(h, [0, 1], [1], [0.0], [0, 1], [2], [np.inf])
    with pytest.raises(QueryError, match="target_ptr"):
        hierarchy_to_targets(h, [0, 1], [1], [0.0], [0, 2, 1], [2], [0.0])
    with pytest.raises(QueryError, match="seed_label"):
        hierarchy_multi_source(h, [1], [0.0], [-1])
    with pytest.raises(QueryError, match="seed_label"):
        hierarchy_multi_source(h, [1, 2], [0.0, 0.0], [1])
    with pytest.raises(QueryError, match="Hierarchy"):
        hierarchy_multi_source(object(), [1], [0.0], [0])  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="reverse"):
        hierarchy_multi_source(h, [1], [0.0], [0], reverse="yes")  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="settle_limit"):
        build_hierarchy(random_graph(0, n=5, m=5), settle_limit=0)
    with pytest.raises(QueryError, match="weights"):
        build_hierarchy(CsrGraph(np.array([0, 1, 1]), np.array([1]), np.array([-1.0])))


@needs_c
def test_bad_arrays_raise_not_crash() -> None:
    """Arrays assembled by hand (not through from_arrays) are bounds-checked by the C module."""
    _, h = built("random")
    fields = {name: getattr(h, name) for name in (*hmod._SAVED, *hmod._DERIVED)}
    bad_up = fields["rank_up_indices"].copy()
    bad_up[:] = h.n + 5
    broken = Hierarchy(n=h.n, **{**fields, "rank_up_indices": bad_up})
    nodes = np.arange(h.n)
    with pytest.raises(QueryError, match="rank_up"):
        hierarchy_to_targets(broken, np.arange(h.n + 1), nodes, np.zeros(h.n), [0, 1], [0], [0.0])
    bad_down = fields["rank_down_indices"].copy()
    bad_down[:] = 0  # tails must be higher than their row
    broken = Hierarchy(n=h.n, **{**fields, "rank_down_indices": bad_down})
    with pytest.raises(QueryError, match="rank_down"):
        hierarchy_multi_source(broken, [0], [0.0], [0])
    # reverse: the upward search reads rank_down, the sweep reads rank_up
    bad_down[:] = h.n + 5
    broken = Hierarchy(n=h.n, **{**fields, "rank_down_indices": bad_down})
    with pytest.raises(QueryError, match="rank_down"):
        hierarchy_multi_source(broken, nodes, np.zeros(h.n), nodes, reverse=True)
    low_up = np.zeros_like(fields["rank_up_indices"])  # heads must be higher than their row
    broken = Hierarchy(n=h.n, **{**fields, "rank_up_indices": low_up})
    with pytest.raises(QueryError, match="rank_up"):
        hierarchy_multi_source(broken, [0], [0.0], [0], reverse=True)
