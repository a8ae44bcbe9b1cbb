"""Routing queries: matrices, nearest facility, catchments, contraction, surfaces, isochrones.

Reference values come from hand computation on a small drawn graph and from
networkx's Dijkstra on the same graphs (generated and real).
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import shapely

from coverage.errors import QueryError
from coverage.routing.core import contract_network
from coverage.routing.graph import NetworkInfo, RoadNetwork, network_from_edges
from coverage.routing.isochrones import isochrones
from coverage.routing.matrix import (
    catchments,
    nearest,
    node_times_to_nearest,
    travel_times,
)
from coverage.routing.snap import AccessSettings, SnappedPoints, snap_points
from coverage.routing.surface import grid_for_bounds, snap_grid, travel_time_surface
from coverage.routing.synthetic import synthetic_network

X0, Y0 = 500_000.0, 6_280_000.0


# --- a hand-drawn graph ---------------------------------------------------------------------
#
#   0 ──60s── 1 ──60s── 2          node 4 hangs off the graph: 4 -> 0 only (reaches, never reached)
#   │          │         ↑
#  120s      30s ↓     one-way 3 -> 2 (45 s); 2 -> 3 does not exist
#   │          3 ───────┘
#   5 (two-way with 0)
#
def hand_graph() -> RoadNetwork:
    edges = [
        (0, 1, 60),
        (1, 0, 60),
        (1, 2, 60),
        (2, 1, 60),
        (1, 3, 30),
        (3, 1, 30),
        (3, 2, 45),
        (0, 5, 120),
        (5, 0, 120),
        (4, 0, 10),
    ]
    tail, head, sec = (np.array(c, dtype=float) for c in zip(*edges, strict=True))
    x = X0 + np.array([0, 1000, 2000, 1000, -1000, 0], dtype=float)
    y = Y0 + np.array([0, 0, 0, -1000, 0, -2000], dtype=float)
    return network_from_edges(
        tail.astype(int),
        head.astype(int),
        sec,
        sec * 10,
        x,
        y,
        info=NetworkInfo(crs="EPSG:2154"),
    )


# points placed on nodes: one leg of 0 s, no direct leg between distinct nodes
EXACT = AccessSettings(k_nodes=1, speed_kph=36.0, detour_factor=1.0, max_distance_m=1.0)


def at_nodes(net: RoadNetwork, nodes: list[int]) -> np.ndarray:
    return np.column_stack([net.node_x[nodes], net.node_y[nodes]])


def test_hand_graph_matrix() -> None:
    net = hand_graph()
    pts = at_nodes(net, [0, 1, 2, 3, 4, 5])
    m = travel_times(net, pts, pts, access=EXACT).seconds
    # by hand: 0->2 = 60 + 60; 2->3 = 2->1->3 = 60 + 30; 3->2 one-way 45
    assert m[0, 2] == pytest.approx(120)
    assert m[2, 3] == pytest.approx(90)
    assert m[3, 2] == pytest.approx(45)
    assert m[1, 2] == pytest.approx(60)  # 1->3->2 is 75, the direct edge wins
    assert m[5, 2] == pytest.approx(240)
    assert m[4, 2] == pytest.approx(130)  # 4 -> 0 -> 1 -> 2
    assert np.all(np.isinf(m[:4, 4])) and np.isinf(m[5, 4])  # nobody reaches 4
    assert np.allclose(np.diag(m), 0)


def test_access_legs_by_hand() -> None:
    net = hand_graph()
    access = AccessSettings(k_nodes=1, speed_kph=30.0, detour_factor=1.3)
    origin = np.array([[X0, Y0 + 300.0]])  # 300 m north of node 0
    dest = np.array([[X0 + 2000.0, Y0 + 400.0]])  # 400 m north of node 2
    leg = lambda d: d * 1.3 / (30 / 3.6)  # noqa: E731
    m = travel_times(net, origin, dest, access=access)
    assert m.seconds[0, 0] == pytest.approx(leg(300) + 120 + leg(400))
    assert leg(300) == pytest.approx(46.8)
    assert m.origins.distance_m[0] == pytest.approx(300)


def test_k_nearest_nodes_pick_the_best_leg() -> None:
    net = hand_graph()
    # p is 100 m west of node 1 and 900 m from node 0 (10 m/s legs, k = 2 nodes).
    # To node 2: p -> 1 -> 2. To node 5 the candidates are p -> 1 -> 0 -> 5 (190 s),
    # p -> 0 -> 5 (210 s) and p -> 1 -> 3 then the leg from node 3 to the point on
    # node 5, its second-nearest node 1414.2 m away (10 + 30 + 141.42 s): the best.
    p = np.array([[X0 + 900.0, Y0]])
    access = AccessSettings(k_nodes=2, speed_kph=36.0, detour_factor=1.0, max_distance_m=1500)
    m = travel_times(net, p, at_nodes(net, [2, 5]), access=access).seconds
    assert m[0, 0] == pytest.approx(10 + 60)
    assert m[0, 1] == pytest.approx(10 + 30 + np.hypot(1000, 1000) / 10)


def test_max_minutes_limit() -> None:
    net = hand_graph()
    pts = at_nodes(net, [0, 1, 2, 3, 5])
    m = travel_times(net, pts, pts, access=EXACT, max_minutes=2.0)
    assert m.seconds[0, 1] == pytest.approx(60)
    assert m.seconds[0, 2] == pytest.approx(120)
    assert np.isinf(m.seconds[2, 4])  # 2 -> 5 = 60 + 60 + 120 = 240 > 120
    table = m.to_table()
    assert set(table["status"]) == {"ok", "beyond_limit"}
    assert table["travel_time_s"].isna().sum() == np.isinf(m.seconds).sum()


@pytest.mark.parametrize("bad", [0, -5, float("nan"), float("inf")])
def test_bad_limits(bad: float) -> None:
    net = hand_graph()
    with pytest.raises(QueryError, match="max_minutes"):
        travel_times(net, at_nodes(net, [0]), at_nodes(net, [1]), max_minutes=bad)


def test_nan_and_outside_points_are_errors() -> None:
    net = hand_graph()
    with pytest.raises(QueryError, match=r"origins\[1\]"):
        travel_times(net, [[X0, Y0], [np.nan, Y0]], at_nodes(net, [1]))
    with pytest.raises(QueryError, match=r"destinations\[0\].*outside the road network"):
        travel_times(net, at_nodes(net, [0]), [[0.45, 43.6]])  # lon/lat given by mistake


def test_points_too_far_are_flagged_not_routed() -> None:
    net = hand_graph()
    access = AccessSettings(max_distance_m=2000.0)
    pts = np.array([[X0, Y0], [X0 + 1.0, Y0 + 10_000.0]])
    m = travel_times(net, pts, pts, access=access)
    assert m.origins.too_far.tolist() == [False, True]
    assert np.isfinite(m.seconds[0, 0]) and np.isnan(m.seconds[1]).all()
    assert np.isnan(m.seconds[:, 1]).all()
    assert m.to_table()["status"].tolist() == ["ok", "off_network", "off_network", "off_network"]
    near = nearest(net, pts, pts[:1], access=access)
    assert np.isnan(near.seconds[1]) and near.facility[1] == -1


def test_nearest_and_directions_on_one_way() -> None:
    net = hand_graph()
    facilities = at_nodes(net, [2, 5])
    pts = at_nodes(net, [0, 1, 3])
    to = nearest(net, pts, facilities, access=EXACT, direction="to_facility")
    # 3 -> 2 is 45 s (one-way), 1 -> 2 60 s, 0 -> 5 = 120 = 0 -> 2 (tie: either)
    assert to.seconds.tolist() == pytest.approx([120, 60, 45])
    assert to.facility[1] == 0 and to.facility[2] == 0
    back = nearest(net, pts, facilities, access=EXACT, direction="from_facility")
    # from 2 to 3 must go 2 -> 1 -> 3 = 90 s
    assert back.seconds.tolist() == pytest.approx([120, 60, 90])
    with pytest.raises(QueryError, match="direction"):
        nearest(net, pts, facilities, direction="both")  # type: ignore[arg-type]


def test_catchments_partition_nodes() -> None:
    net = hand_graph()
    res = catchments(net, at_nodes(net, [2, 5]), access=EXACT)
    # node 3 goes to facility 0 (node 2) in 45 s; node 5 is facility 1 itself
    assert res.facility[3] == 0 and res.facility[5] == 1
    assert res.seconds[3] == pytest.approx(45)
    limited = catchments(net, at_nodes(net, [5]), access=EXACT, max_minutes=1.0)
    assert limited.facility[5] == 0 and limited.facility[2] == -1
    assert np.isinf(limited.seconds[2])


def test_no_facility_on_the_network() -> None:
    net = hand_graph()
    with pytest.raises(QueryError, match="facilities"):
        node_times_to_nearest(
            net, [[X0, Y0 + 20_000.0]], access=AccessSettings(max_distance_m=1000.0)
        )


@pytest.mark.parametrize(
    "kwargs",
    [{"speed_kph": 0}, {"detour_factor": 0.5}, {"k_nodes": 0}, {"max_distance_m": -1}],
)
def test_bad_access_settings(kwargs: dict) -> None:
    with pytest.raises(QueryError, match=next(iter(kwargs))):
        AccessSettings(**kwargs)


# --- agreement with networkx ----------------------------------------------------------------


def networkx_reference(
    net: RoadNetwork, src: SnappedPoints, dst: SnappedPoints, rows: list[int]
) -> np.ndarray:
    """Times by networkx's Dijkstra with the access legs (and direct legs) as extra edges."""
    graph = nx.DiGraph()
    for u in range(net.n_nodes):
        for e in range(net.indptr[u], net.indptr[u + 1]):
            graph.add_edge(u, int(net.indices[e]), w=float(net.seconds[e]))
    for p, node, a in zip(src.point, src.node, src.access_s, strict=True):
        graph.add_edge(("o", int(p)), int(node), w=float(a))
    for p, node, a in zip(dst.point, dst.node, dst.access_s, strict=True):
        graph.add_edge(int(node), ("d", int(p)), w=float(a))
    settings = src.settings
    for p in np.flatnonzero(~src.too_far):
        for q in np.flatnonzero(~dst.too_far):
            d = float(np.hypot(src.x[p] - dst.x[q], src.y[p] - dst.y[q]))
            if d <= settings.max_distance_m:
                w = d * settings.detour_factor / (settings.speed_kph / 3.6)
                graph.add_edge(("o", int(p)), ("d", int(q)), w=w)
    out = np.full((len(rows), dst.n_points), np.inf)
    for i, p in enumerate(rows):
        if ("o", p) not in graph:
            continue
        lengths = nx.single_source_dijkstra_path_length(graph, ("o", p), weight="w")
        out[i] = [lengths.get(("d", q), np.inf) for q in range(dst.n_points)]
    return out


def random_points(net: RoadNetwork, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            rng.uniform(net.node_x.min(), net.node_x.max(), n),
            rng.uniform(net.node_y.min(), net.node_y.max(), n),
        ]
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matrix_matches_networkx_on_generated_graphs(seed: int) -> None:
    net = synthetic_network(3_000, seed=seed, oneway_fraction=0.2)
    assert net.core.n_core < net.n_nodes  # the contraction is exercised
    origins = snap_points(net, random_points(net, 40, seed))
    dests = snap_points(net, random_points(net, 35, seed + 100))
    m = travel_times(net, origins, dests)
    rows = list(range(0, 40, 3))
    ref = networkx_reference(net, origins, dests, rows)
    np.testing.assert_allclose(m.seconds[rows], ref, rtol=0, atol=1e-6)
    # the reversed search (fewer destinations than origins) agrees as well
    m2 = travel_times(net, origins, snap_points(net, random_points(net, 5, seed + 7)))
    ref2 = networkx_reference(net, origins, m2.destinations, rows)
    np.testing.assert_allclose(m2.seconds[rows], ref2, rtol=0, atol=1e-6)


def test_points_sharing_a_chain_use_it_directly() -> None:
    # a long two-way road 0-1-2-3-4 (removable 1..3) plus a detour loop 0-5-4
    edges = []
    for u, v in [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 4)]:
        edges += [(u, v, 100.0), (v, u, 100.0)]
    t, h, s = (np.array(c) for c in zip(*edges, strict=True))
    x = X0 + np.array([0, 1000, 2000, 3000, 4000, 2000], dtype=float)
    y = Y0 + np.array([0, 0, 0, 0, 0, 3000], dtype=float)
    net = network_from_edges(t, h, s, s, x, y, info=NetworkInfo(crs="EPSG:2154"))
    core = contract_network(net)
    assert core.chain[1] >= 0 and core.chain[1] == core.chain[3]
    m = travel_times(net, at_nodes(net, [1, 3]), at_nodes(net, [3, 1, 2]), access=EXACT)
    assert m.seconds[0].tolist() == pytest.approx([200, 0, 100])
    assert m.seconds[1].tolist() == pytest.approx([0, 200, 100])


def test_contraction_is_exact_on_all_node_pairs() -> None:
    net = synthetic_network(1_500, seed=4, oneway_fraction=0.3)
    nodes = np.arange(net.n_nodes)
    pts = at_nodes(net, list(nodes[::7]))
    m = travel_times(net, pts, pts, access=EXACT)
    from scipy.sparse.csgraph import dijkstra

    full = dijkstra(net.csr, indices=nodes[::7])[:, nodes[::7]]
    np.testing.assert_allclose(m.seconds, full, rtol=0, atol=1e-6)


@pytest.mark.parametrize("fixture_name", ["gers_network"])
def test_matrix_matches_networkx_on_the_gers(fixture_name: str, request) -> None:
    net = request.getfixturevalue(fixture_name)
    pts = snap_points(net, random_points(net, 60, 3))
    m = travel_times(net, pts, pts)
    rows = [int(r) for r in np.flatnonzero(~pts.too_far)[[0, 17, 42]]]
    ref = networkx_reference(net, pts, pts, rows)
    ref[:, pts.too_far] = np.nan  # off-network points are flagged, not routed
    np.testing.assert_allclose(m.seconds[rows], ref, rtol=0, atol=1e-6)
    # every point is its own nearest facility, 0 s away (direct leg)
    near = nearest(net, pts, pts, direction="from_facility")
    on = ~pts.too_far
    assert on.sum() > 40
    assert np.allclose(near.seconds[on], 0.0) and np.array_equal(
        near.facility[on], np.flatnonzero(on)
    )


def test_nearest_equals_matrix_minimum() -> None:
    net = synthetic_network(5_000, seed=9, oneway_fraction=0.1)
    pts = random_points(net, 80, 1)
    fac = random_points(net, 12, 2)
    m = travel_times(net, pts, fac)
    near = nearest(net, pts, fac)
    np.testing.assert_allclose(near.seconds, m.seconds.min(axis=1), atol=1e-6)
    best = m.seconds.argmin(axis=1)
    ties = np.isclose(m.seconds[np.arange(80), near.facility], m.seconds.min(axis=1))
    assert np.all((near.facility == best) | ties)
    back = nearest(net, pts, fac, direction="from_facility")
    np.testing.assert_allclose(
        back.seconds, travel_times(net, fac, pts).seconds.min(axis=0), atol=1e-6
    )


# --- surfaces and isochrones ------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_world():
    net = synthetic_network(4_000, seed=3)
    bounds = (net.node_x.min(), net.node_y.min(), net.node_x.max(), net.node_y.max())
    transform, shape = grid_for_bounds(bounds, cell_size_m=250.0)
    cells = snap_grid(net, transform, shape)
    fac = random_points(net, 4, 11)
    return net, cells, fac


def test_surface_equals_nearest_at_cell_centres(small_world, tmp_path) -> None:
    net, cells, fac = small_world
    surface = travel_time_surface(net, fac, cells)
    x, y = cells.centres()
    near = nearest(net, np.column_stack([x, y]), fac)
    np.testing.assert_allclose(surface.seconds[cells.rows, cells.cols], near.seconds, atol=1e-9)
    assert np.array_equal(surface.facility[cells.rows, cells.cols], near.facility)
    import rasterio

    path = surface.to_geotiff(tmp_path / "temps.tif")
    with rasterio.open(path) as src:
        band = src.read(1)
        assert src.crs.to_epsg() == 2154 and src.transform == cells.transform
    np.testing.assert_allclose(band, surface.minutes.astype(np.float32), equal_nan=True)


def test_isochrones_hold_exactly_the_cells_of_their_band(small_world) -> None:
    net, cells, fac = small_world
    weights = np.arange(cells.shape[0] * cells.shape[1], dtype=float).reshape(cells.shape) % 7
    iso = isochrones(net, fac, cells, bands_minutes=(3, 6, 9), weights=weights)
    assert set(iso["scope"]) == {"merged", "facility"}
    assert iso.geometry.is_valid.all()
    x, y = cells.centres()
    merged_s = travel_time_surface(net, fac, cells).seconds[cells.rows, cells.cols]
    for _, row in iso[iso["scope"] == "merged"].iterrows():
        inside = shapely.contains_xy(row.geometry, x, y)
        expected = merged_s <= row.minutes * 60
        assert np.array_equal(inside, expected)
        assert row.cells == expected.sum()
        assert row.weight == pytest.approx(weights[cells.rows, cells.cols][expected].sum())
    one = iso[(iso["scope"] == "facility") & (iso["facility_id"] == 2)]
    single_s = travel_time_surface(net, fac[2:3], cells).seconds[cells.rows, cells.cols]
    assert len(one) == 3
    for _, row in one.iterrows():
        inside = shapely.contains_xy(row.geometry, x, y)
        assert np.array_equal(inside, single_s <= row.minutes * 60)
    areas = one.sort_values("minutes").geometry.area.to_numpy()
    assert np.all(np.diff(areas) > 0)  # cumulative bands grow


@pytest.mark.parametrize("bands", [(), (10, 5), (0, 10), (10, float("nan"))])
def test_bad_bands(small_world, bands) -> None:
    net, cells, fac = small_world
    with pytest.raises(QueryError, match="band"):
        isochrones(net, fac, cells, bands_minutes=bands)


# --- synthetic generator ------------------------------------------------------------------------


def test_synthetic_is_seeded_sized_and_strongly_connected() -> None:
    a = synthetic_network(20_000, seed=5)
    b = synthetic_network(20_000, seed=5)
    c = synthetic_network(20_000, seed=6)
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.seconds, b.seconds)
    assert not np.array_equal(a.node_x, c.node_x)
    assert abs(a.n_nodes - 20_000) / 20_000 < 0.1
    from scipy.sparse.csgraph import connected_components

    assert connected_components(a.csr, connection="strong")[0] == 1
    # arterials are faster than the local mesh
    speeds = a.length_m / a.seconds * 3.6
    assert set(np.round(np.unique(speeds))) == {50.0, 90.0}
    with pytest.raises(QueryError, match="n_nodes"):
        synthetic_network(10)
