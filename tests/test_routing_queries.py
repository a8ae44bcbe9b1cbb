"""Routing queries on the turn graph: snapping, turns, restrictions, matrices, nearest, isochrones.

Reference values come from hand computation on a small drawn graph (every figure
below is written out) and from networkx's Dijkstra on the turn graph itself
(generated networks with turn costs and restrictions, and the real Gers network).
"""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
import pytest
import shapely

from coverage.errors import QueryError
from coverage.routing.graph import (
    ROAD_CLASSES,
    NetworkInfo,
    RoadNetwork,
    TurnRestrictions,
    network_from_edges,
)
from coverage.routing.isochrones import isochrones
from coverage.routing.kernels import shortest_to_targets
from coverage.routing.matrix import (
    catchments,
    nearest,
    state_times_to_nearest,
    travel_times,
)
from coverage.routing.paths import routes
from coverage.routing.portals import arrival_portals, departure_portals, same_edge_times
from coverage.routing.snap import AccessSettings, SnappedPoints, snap_points
from coverage.routing.speeds import TurnCosts
from coverage.routing.surface import grid_for_bounds, snap_grid, travel_time_surface
from coverage.routing.synthetic import synthetic_network

X0, Y0 = 500_000.0, 6_280_000.0

# --- a hand-drawn graph ---------------------------------------------------------------------
#
#   0 ──60s── 1 ──60s── 2        (x: 0, 1000, 2000 m; y = 0)
#   │         │       ↗
#  120s      30s    one-way 3 -> 2 (45 s); there is no 2 -> 3
#   │         3 ──┘              (3 at x 1000, y -1000)
#   5                            (5 at x 0, y -2000: a dead end)
#
# Node 1 is the only junction (three roads). Turn costs for these tests: straight 1 s,
# right 10 s, left 20 s, U-turn 30 s (allowed only where there is no other way on).
COSTS = TurnCosts(straight_s=1, right_s=10, left_s=20, u_turn_s=30, left_hand_traffic=False)
ON_ROAD = AccessSettings(speed_kph=30.0, detour_factor=1.3, max_distance_m=500.0)


def hand_graph(restrictions: TurnRestrictions | None = None) -> RoadNetwork:
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
    ]
    tail, head, sec = (np.array(c, dtype=float) for c in zip(*edges, strict=True))
    x = X0 + np.array([0, 1000, 2000, 1000, 0, 0], dtype=float)
    y = Y0 + np.array([0, 0, 0, -1000, 0, -2000], dtype=float)
    return network_from_edges(
        tail.astype(int),
        head.astype(int),
        sec,
        sec * 10,
        x,
        y,
        info=NetworkInfo(crs="EPSG:2154"),
        turn_costs=COSTS,
        restrictions=restrictions,
    )


def at(*xy: tuple[float, float]) -> np.ndarray:
    return np.array([[X0 + x, Y0 + y] for x, y in xy])


NODE = {0: (0, 0), 1: (1000, 0), 2: (2000, 0), 3: (1000, -1000), 5: (0, -2000)}


def test_hand_graph_times_with_turns() -> None:
    net = hand_graph()
    pts = at(NODE[0], NODE[2], NODE[3], NODE[5])
    m = travel_times(net, pts, pts, access=ON_ROAD).seconds
    assert m[0, 1] == pytest.approx(60 + 1 + 60)  # 0 -> 1 -> 2, straight on at 1
    assert m[0, 2] == pytest.approx(60 + 10 + 30)  # right turn at 1
    assert m[1, 2] == pytest.approx(60 + 20 + 30)  # from 2 heading west: left turn at 1
    assert m[2, 1] == pytest.approx(45)  # the one-way 3 -> 2
    assert m[1, 3] == pytest.approx(60 + 1 + 60 + 120)  # 2 -> 1 -> 0 -> 5
    assert np.allclose(np.diag(m), 0.0)


def test_points_on_edges_and_access_legs_by_hand() -> None:
    net = hand_graph()
    leg = 30 * 1.3 / (30 / 3.6)  # 30 m off the road at 30 km/h, detour 1.3: 4.68 s
    a = at((250, 30))  # 30 m north of edge 0-1, a quarter of the way from 0
    b = at((1000, -500))  # on edge 1-3, halfway
    ab = travel_times(net, a, b, access=ON_ROAD)
    assert ab.origins.distance_m[0] == pytest.approx(30)
    # a -> b: 3/4 of 0 -> 1 (45 s), right turn (10 s), half of 1 -> 3 (15 s)
    assert ab.seconds[0, 0] == pytest.approx(leg + 45 + 10 + 15)
    # b -> a: half of 3 -> 1 (15 s), left turn onto 1 -> 0 (20 s), 3/4 of it (45 s)
    assert travel_times(net, b, a, access=ON_ROAD).seconds[0, 0] == pytest.approx(
        15 + 20 + 45 + leg
    )
    # a point on a road has an access leg of zero
    assert b_snapped_access(net, b) == pytest.approx(0.0)


def b_snapped_access(net: RoadNetwork, xy: np.ndarray) -> float:
    snapped = snap_points(net, xy, access=ON_ROAD)
    return float(snapped.access_s.min())


def test_one_way_edge_has_one_candidate_and_two_way_edges_two() -> None:
    net = hand_graph()
    r = snap_points(net, at((1500, -500)), access=ON_ROAD)  # middle of the one-way 3 -> 2
    assert r.n_candidates == 1
    assert (net.edge_tail[r.edge[0]], net.indices[r.edge[0]]) == (3, 2)
    assert r.fraction[0] == pytest.approx(0.5)
    q = snap_points(net, at((0, -500)), access=ON_ROAD)  # on the two-way 0 - 5
    assert sorted(q.fraction.round(6).tolist()) == [0.25, 0.75]
    # from the one-way's middle: half of it to node 2 (22.5 s); back to it from node 2:
    # 2 -> 1 (60), left onto 1 -> 3 (20), 1 -> 3 (30), then half of 3 -> 2 (22.5)
    m = travel_times(net, at((1500, -500), NODE[2]), at((1500, -500), NODE[2]), access=ON_ROAD)
    assert m.seconds[0, 1] == pytest.approx(22.5)
    assert m.seconds[1, 0] == pytest.approx(60 + 20 + 30 + 22.5)


def test_two_points_on_one_edge_drive_along_it() -> None:
    net = hand_graph()
    p, q = at((200, 0)), at((700, 0))
    assert travel_times(net, p, q, access=ON_ROAD).seconds[0, 0] == pytest.approx(30)
    assert travel_times(net, q, p, access=ON_ROAD).seconds[0, 0] == pytest.approx(30)
    # 20 m apart on the same road: 1.2 s, whatever the direction
    near = travel_times(net, at((500, 0), (520, 0)), at((500, 0), (520, 0)), access=ON_ROAD)
    assert near.seconds[0, 1] == pytest.approx(1.2) and near.seconds[1, 0] == pytest.approx(1.2)


def test_u_turns_only_where_the_road_ends() -> None:
    net = hand_graph()
    tg = net.turn_graph
    e = {
        (int(t), int(h)): i
        for i, (t, h) in enumerate(zip(net.edge_tail, net.indices, strict=False))
    }

    def move(a: tuple[int, int], b: tuple[int, int]) -> float | None:
        s = e[a]
        row = slice(tg.indptr[s], tg.indptr[s + 1])
        hits = np.flatnonzero(tg.indices[row] == e[b])
        return float(tg.weights[row][hits[0]]) if hits.size else None

    assert move((0, 5), (5, 0)) == pytest.approx(120 + 30)  # dead end: U-turn allowed
    assert move((0, 1), (1, 0)) is None  # at a junction: no U-turn
    assert move((5, 0), (0, 5)) is None  # node 0 has another way on (to 1)
    assert move((1, 2), (2, 1)) == pytest.approx(60 + 30)  # 2 is the end of the one-way
    assert move((0, 1), (1, 3)) == pytest.approx(60 + 10)  # right turn at the junction
    assert move((5, 0), (0, 1)) == pytest.approx(120)  # a bend: no cost along a road


def test_restriction_via_a_node_by_hand() -> None:
    # no right turn from 0 -> 1 onto 1 -> 3: go on to 2, U-turn at the one-way's end,
    # come back and turn left: 60 + 1 + 60 + 30 + 60 + 20 + 30
    no_right = TurnRestrictions.from_sequences([[0, 1, 3]], [False], [1])
    net = hand_graph(no_right)
    m = travel_times(net, at(NODE[0]), at(NODE[3]), access=ON_ROAD)
    assert m.seconds[0, 0] == pytest.approx(60 + 1 + 60 + 30 + 60 + 20 + 30)
    assert net.turn_graph.report["moves_removed_by_restrictions"] == 1
    # only straight on from 2 -> 1: to reach 3, go to the dead end 5 and back
    only = TurnRestrictions.from_sequences([[2, 1, 0]], [True], [2])
    net = hand_graph(only)
    m = travel_times(net, at(NODE[2]), at(NODE[3]), access=ON_ROAD)
    assert m.seconds[0, 0] == pytest.approx(60 + 1 + 60 + 120 + 30 + 120 + 60 + 10 + 30)


def line_graph(restrictions: TurnRestrictions | None = None) -> RoadNetwork:
    """A road 0 - 1 - 2 - 3 (100 s a link) with a side road 4 - 1 and a bypass 2 - 5 - 3."""
    links = [(0, 1, 100), (1, 2, 100), (2, 3, 100), (4, 1, 100), (2, 5, 100), (5, 3, 100)]
    edges = [(u, v, s) for u, v, s in links] + [(v, u, s) for u, v, s in links]
    t, h, s = (np.array(c, dtype=float) for c in zip(*edges, strict=True))
    x = X0 + np.array([0, 1000, 2000, 3000, 1000, 2500], dtype=float)
    y = Y0 + np.array([0, 0, 0, 0, 1000, -800], dtype=float)
    return network_from_edges(
        t.astype(int),
        h.astype(int),
        s,
        s * 10,
        x,
        y,
        info=NetworkInfo(crs="EPSG:2154"),
        restrictions=restrictions,
    )


def test_restriction_via_a_way_copies_the_via_edge() -> None:
    # no 0 -> 1 -> 2 -> 3 (via the way 1 - 2): coming from 0 one must take the bypass;
    # coming from 4 onto the same via way, 4 -> 1 -> 2 -> 3 is allowed
    restr = TurnRestrictions.from_sequences([[0, 1, 2, 3]], [False], [7])
    net = line_graph(restr)
    assert net.turn_graph.report["state_copies"] == 1
    pts = at((0, 0), (1000, 1000), (3000, 0))
    m = travel_times(net, pts[:2], pts[2:], access=ON_ROAD).seconds
    assert m[0, 0] == pytest.approx(100 + 100 + 100 + 100)  # 0-1-2-5-3
    assert m[1, 0] == pytest.approx(300)  # 4-1-2-3
    free = travel_times(line_graph(), pts[:1], pts[2:], access=ON_ROAD).seconds
    assert free[0, 0] == pytest.approx(300)
    # a point on the via way itself is not bound by the restriction
    mid = travel_times(net, at((1500, 0)), pts[2:], access=ON_ROAD).seconds
    assert mid[0, 0] == pytest.approx(50 + 100)
    # and the route found avoids the restricted sequence
    route = routes(net, pts[:1], pts[2:], access=ON_ROAD)[0][0]
    heads = net.indices[route.edges].tolist()
    assert heads == [1, 2, 5, 3] and route.seconds == pytest.approx(400)


def test_max_minutes_limit() -> None:
    net = hand_graph()
    pts = at(NODE[0], NODE[2], NODE[3], NODE[5])
    m = travel_times(net, pts, pts, access=ON_ROAD, max_minutes=2.0)
    assert m.seconds[2, 1] == pytest.approx(45)
    assert np.isinf(m.seconds[0, 1])  # 121 s > 120 s
    table = m.to_table()
    assert set(table["status"]) == {"ok", "beyond_limit"}
    assert table["travel_time_s"].isna().sum() == np.isinf(m.seconds).sum()


@pytest.mark.parametrize("bad", [0, -5, float("nan"), float("inf"), True])
def test_bad_limits(bad: float) -> None:
    net = hand_graph()
    with pytest.raises(QueryError, match="max_minutes"):
        travel_times(net, at(NODE[0]), at(NODE[2]), max_minutes=bad)


def test_nan_and_outside_points_are_errors() -> None:
    net = hand_graph()
    with pytest.raises(QueryError, match=r"origins\[1\]"):
        travel_times(net, [[X0, Y0], [np.nan, Y0]], at(NODE[1]))
    with pytest.raises(QueryError, match=r"destinations\[0\].*hors de l'étendue du réseau routier"):
        travel_times(net, at(NODE[0]), [[0.45, 43.6]])  # lon/lat given by mistake


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


def test_motorways_are_not_joined() -> None:
    # two parallel roads 100 m apart; the nearer is a motorway: points join the other one
    t = np.array([0, 1, 2, 3])
    h = np.array([1, 0, 3, 2])
    x = X0 + np.array([0, 1000, 0, 1000], dtype=float)
    y = Y0 + np.array([0, 0, 100, 100], dtype=float)
    classes = np.array([ROAD_CLASSES.index("motorway")] * 2 + [ROAD_CLASSES.index("tertiary")] * 2)
    # join the two roads at both ends so that the graph is one component
    t = np.concatenate([t, [0, 2, 1, 3]])
    h = np.concatenate([h, [2, 0, 3, 1]])
    classes = np.concatenate([classes, [ROAD_CLASSES.index("tertiary")] * 4])
    sec = np.full(t.size, 10.0)
    net = network_from_edges(
        t, h, sec, sec, x, y, info=NetworkInfo(crs="EPSG:2154"), edge_class=classes
    )
    snapped = snap_points(net, at((500, 10)), access=ON_ROAD)
    assert snapped.distance_m[0] == pytest.approx(90)
    assert set(net.classes[snapped.edge].tolist()) == {ROAD_CLASSES.index("tertiary")}


def test_nearest_and_directions_on_one_way() -> None:
    net = hand_graph()
    facilities = at(NODE[2], NODE[5])
    pts = at(NODE[0], (1500, -500), NODE[3])
    to = nearest(net, pts, facilities, access=ON_ROAD, direction="to_facility")
    assert to.seconds.tolist() == pytest.approx([120, 22.5, 45])
    assert to.facility.tolist() == [1, 0, 0]
    back = nearest(net, pts, facilities, access=ON_ROAD, direction="from_facility")
    # to the one-way's middle from node 2: 2 -> 1, left, 1 -> 3, half of 3 -> 2
    assert back.seconds.tolist() == pytest.approx([120, 132.5, 110])
    with pytest.raises(QueryError, match="direction"):
        nearest(net, pts, facilities, direction="both")  # type: ignore[arg-type]


def test_catchments_partition_states() -> None:
    net = hand_graph()
    res = catchments(net, at(NODE[2], NODE[5]), access=ON_ROAD)
    e = {
        (int(t), int(h)): i
        for i, (t, h) in enumerate(zip(net.edge_tail, net.indices, strict=False))
    }
    # from the start of 3 -> 2 to node 2: 45 s, facility 0; from the start of 0 -> 5: 120 s
    assert res.facility[e[(3, 2)]] == 0 and res.seconds[e[(3, 2)]] == pytest.approx(45)
    assert res.facility[e[(0, 5)]] == 1 and res.seconds[e[(0, 5)]] == pytest.approx(120)
    limited = catchments(net, at(NODE[5]), access=ON_ROAD, max_minutes=1.0)
    assert np.isinf(limited.seconds[e[(0, 5)]]) and limited.facility[e[(0, 5)]] == -1


def test_no_facility_on_the_network() -> None:
    net = hand_graph()
    with pytest.raises(QueryError, match="équipement"):
        state_times_to_nearest(
            net, [[X0, Y0 + 20_000.0]], access=AccessSettings(max_distance_m=1000.0)
        )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"speed_kph": 0},
        {"detour_factor": 0.5},
        {"max_candidates": 0},
        {"max_candidates": 17},
        {"candidate_margin_m": -1},
        {"max_distance_m": -1},
    ],
)
def test_bad_access_settings(kwargs: dict) -> None:
    with pytest.raises(QueryError, match=next(iter(kwargs))):
        AccessSettings(**kwargs)


# --- agreement with networkx on the turn graph ----------------------------------------------


def networkx_reference(
    net: RoadNetwork, src: SnappedPoints, dst: SnappedPoints, rows: list[int]
) -> np.ndarray:
    """Times by networkx's Dijkstra on the turn graph, with the portals as extra edges."""
    tg = net.turn_graph
    graph = tg.to_networkx()
    dep, arr = departure_portals(tg, src), arrival_portals(tg, dst)
    for p, s, o in zip(dep.point, dep.state, dep.offset, strict=True):
        key = ("o", int(p))
        w = graph.get_edge_data(key, int(s), {}).get("weight", np.inf)
        graph.add_edge(key, int(s), weight=min(w, float(o)))
    for p, s, o in zip(arr.point, arr.state, arr.offset, strict=True):
        key = ("d", int(p))
        w = graph.get_edge_data(int(s), key, {}).get("weight", np.inf)
        graph.add_edge(int(s), key, weight=min(w, float(o)))
    i, j, secs, _, _ = same_edge_times(tg, src, dst)
    for a, b, s in zip(i, j, secs, strict=True):
        key = (("o", int(a)), ("d", int(b)))
        w = graph.get_edge_data(*key, {}).get("weight", np.inf)
        graph.add_edge(*key, weight=min(w, float(s)))
    out = np.full((len(rows), dst.n_points), np.inf)
    for r, p in enumerate(rows):
        if ("o", p) not in graph:
            continue
        lengths = nx.single_source_dijkstra_path_length(graph, ("o", p), weight="weight")
        out[r] = [lengths.get(("d", q), np.inf) for q in range(dst.n_points)]
    return out


def random_points(net: RoadNetwork, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            rng.uniform(net.node_x.min(), net.node_x.max(), n),
            rng.uniform(net.node_y.min(), net.node_y.max(), n),
        ]
    )


def with_turn_model(net: RoadNetwork, seed: int) -> RoadNetwork:
    """The network with turn costs and random restrictions via nodes and via ways."""
    rng = np.random.default_rng(seed)
    tail, head = net.edge_tail, net.indices.astype(np.int64)
    sequences: list[list[int]] = []
    only: list[bool] = []
    for e in rng.choice(net.n_edges, size=60, replace=False):
        v = int(head[e])
        nxt = np.flatnonzero(tail == v)
        nxt = nxt[head[nxt] != tail[e]]
        if nxt.size == 0:
            continue
        f = int(rng.choice(nxt))
        third = np.flatnonzero(tail == head[f])
        third = third[head[third] != v]
        if third.size and rng.random() < 0.3:  # via the way of f
            sequences.append([int(tail[e]), v, int(head[f]), int(head[rng.choice(third)])])
        else:
            sequences.append([int(tail[e]), v, int(head[f])])
        only.append(bool(rng.random() < 0.25))
    costs = TurnCosts(
        straight_s=0.5,
        slight_right_s=1,
        right_s=3,
        sharp_right_s=5,
        slight_left_s=2,
        left_s=6,
        sharp_left_s=8,
        u_turn_s=25,
        yield_s=2,
        left_hand_traffic=False,
    )
    delays = rng.choice([0.0, 0.0, 0.0, 4.0], size=net.n_nodes)
    return dataclasses.replace(
        net,
        turn_costs=costs,
        node_delay_s=delays,
        restrictions=TurnRestrictions.from_sequences(sequences, only, list(range(len(only)))),
    )


@pytest.fixture(params=["hierarchy", "core"])
def search(request, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the contraction hierarchy, then with one search per row on the core."""
    from coverage.routing.hierarchy import hierarchy_available
    from coverage.routing.turns import TurnGraph

    if request.param == "hierarchy":
        assert hierarchy_available(), "the C hierarchy module must be built"
    else:
        monkeypatch.setattr(TurnGraph, "hierarchy", lambda self, build=None: None)
    return request.param


# one generated graph per search by default, the two other seeds in the slow suite
@pytest.mark.parametrize(
    "seed", [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)]
)
def test_matrix_matches_networkx_on_generated_graphs(seed: int, search: str) -> None:
    net = with_turn_model(synthetic_network(3_000, seed=seed, oneway_fraction=0.2), seed)
    tg = net.turn_graph
    assert tg.report["restrictions_via_ways"] > 0 and tg.report["state_copies"] > 0
    assert tg.core.n_core < tg.n_states  # the contraction is exercised
    assert (tg.hierarchy() is not None) == (search == "hierarchy")
    origins = snap_points(net, random_points(net, 40, seed))
    dests = snap_points(net, random_points(net, 35, seed + 100))
    m = travel_times(net, origins, dests)
    rows = list(range(0, 40, 3))
    ref = networkx_reference(net, origins, dests, rows)
    ref[:, dests.too_far] = np.nan
    np.testing.assert_allclose(m.seconds[rows], ref, rtol=0, atol=1e-6)
    # the reversed search (fewer destinations than origins) agrees as well
    m2 = travel_times(net, origins, snap_points(net, random_points(net, 5, seed + 7)))
    ref2 = networkx_reference(net, origins, m2.destinations, rows)
    ref2[:, m2.destinations.too_far] = np.nan
    np.testing.assert_allclose(m2.seconds[rows], ref2, rtol=0, atol=1e-6)


def test_contraction_is_exact(search: str) -> None:
    net = with_turn_model(synthetic_network(1_500, seed=4, oneway_fraction=0.3), 4)
    pts = snap_points(net, random_points(net, 60, 5))
    m = travel_times(net, pts, pts)
    tg = net.turn_graph
    dep, arr = departure_portals(tg, pts), arrival_portals(tg, pts)
    seed_ptr = np.searchsorted(dep.point, np.arange(pts.n_points + 1))
    full = shortest_to_targets(tg.graph, seed_ptr, dep.state, dep.offset, arr.state)
    full = full + arr.offset
    expected = np.full((pts.n_points, pts.n_points), np.inf)
    for j in range(pts.n_points):
        cols = arr.point == j
        if cols.any():
            expected[:, j] = full[:, cols].min(axis=1)
    i, j, s, _, _ = same_edge_times(tg, pts, pts)
    np.minimum.at(expected, (i, j), s)
    np.fill_diagonal(expected, 0.0)
    expected[pts.too_far, :] = np.nan
    expected[:, pts.too_far] = np.nan
    np.testing.assert_allclose(m.seconds, expected, rtol=0, atol=1e-6)


def test_matrix_matches_networkx_on_the_gers(gers_network: RoadNetwork, search: str) -> None:
    net = gers_network
    pts = snap_points(net, random_points(net, 60, 3))
    m = travel_times(net, pts, pts)
    rows = [int(r) for r in np.flatnonzero(~pts.too_far)[[0, 17, 42]]]
    ref = networkx_reference(net, pts, pts, rows)
    for r, p in enumerate(rows):
        ref[r, p] = 0.0  # a point is 0 s from itself
    ref[:, pts.too_far] = np.nan  # off-network points are flagged, not routed
    np.testing.assert_allclose(m.seconds[rows], ref, rtol=0, atol=1e-6)


def test_nearest_equals_matrix_minimum() -> None:
    net = with_turn_model(synthetic_network(5_000, seed=9, oneway_fraction=0.1), 9)
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


def test_routes_follow_the_matrix_and_the_restrictions() -> None:
    net = with_turn_model(synthetic_network(2_000, seed=6, oneway_fraction=0.2), 6)
    pts = random_points(net, 12, 8)
    m = travel_times(net, pts, pts)
    found = routes(net, pts, pts)
    tail, head = net.edge_tail, net.indices
    forbidden = set()
    for i in range(net.restrictions.n):
        if not net.restrictions.only[i]:
            forbidden.add(tuple(net.restrictions.sequence(i).tolist()))
    checked = 0
    for i in range(12):
        for j in range(12):
            route = found[i][j]
            if route is None:
                assert not np.isfinite(m.seconds[i, j])
                continue
            if i != j:
                assert route.seconds == pytest.approx(m.seconds[i, j], abs=1e-6)
            edges = route.edges
            assert np.all(head[edges[:-1]] == tail[edges[1:]])  # a connected path
            nodes = [int(tail[edges[0]]), *head[edges].tolist()]
            for seq in forbidden:
                k = len(seq)
                assert all(tuple(nodes[s : s + k]) != seq for s in range(len(nodes) - k + 1))
            assert np.allclose(route.line[0], pts[i]) and np.allclose(route.line[-1], pts[j])
            checked += 1
    assert checked > 100


# --- surfaces and isochrones ------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_world():
    net = with_turn_model(synthetic_network(4_000, seed=3), 3)
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
    for direction in ("to_facility", "from_facility"):
        per = isochrones(net, fac, cells, bands_minutes=(3, 6, 9), direction=direction)
        one = per[(per["scope"] == "facility") & (per["facility_id"] == 2)]
        single = travel_time_surface(net, fac[2:3], cells, direction=direction)
        single_s = single.seconds[cells.rows, cells.cols]
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
