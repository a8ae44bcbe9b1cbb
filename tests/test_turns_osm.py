"""From an OSM file to the turn graph: barriers, access tags, traffic signals, restrictions.

A 3 × 3 grid of tertiary streets (nodes 1..9, about 400 m apart) is written as
OSM XML in code, with the tags under test on a few nodes, ways and relations.
Every expectation is a fact of the file (which moves exist, which cost what,
which routes are forbidden), checked through the public builders and queries.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pyproj import Transformer

from coverage.routing.matrix import travel_times
from coverage.routing.network import load_network
from coverage.routing.paths import routes
from coverage.routing.speeds import load_speed_profile

#   7 --78-- 8 ---- 9        78: a bollard (or not) between 7 and 8
#   |        |      |
#   4 ------ 5 ---- 6        5: the centre junction, traffic signals
#   |        |      36       36: a gate between 3 and 6
#   1 ------ 2 ---- 3
NODES = {
    1: (0.500, 43.600),
    2: (0.505, 43.600),
    3: (0.510, 43.600),
    4: (0.500, 43.604),
    5: (0.505, 43.604),
    6: (0.510, 43.604),
    7: (0.500, 43.608),
    8: (0.505, 43.608),
    9: (0.510, 43.608),
    78: (0.5025, 43.608),
    36: (0.510, 43.602),
}
STREET = {"highway": "tertiary", "maxspeed": "50"}
WAYS = {
    101: [1, 2],
    111: [2, 3],
    102: [4, 5],
    112: [5, 6],
    103: [7, 78, 8],
    113: [8, 9],
    201: [1, 4],
    211: [4, 7],
    202: [2, 5],
    212: [5, 8],
    203: [3, 36, 6],
    213: [6, 9],
}


def write_osm(
    path: Path,
    *,
    node_tags: dict[int, dict[str, str]] | None = None,
    way_tags: dict[int, dict[str, str]] | None = None,
    extra_ways: dict[int, tuple[list[int], dict[str, str]]] | None = None,
    relations: list[dict] | None = None,
) -> Path:
    """The grid as OSM XML, with extra tags, ways and restriction relations."""
    node_tags = node_tags or {}
    lines = ["<?xml version='1.0' encoding='UTF-8'?>", "<osm version='0.6' generator='test'>"]
    for nid, (lon, lat) in NODES.items():
        tags = node_tags.get(nid, {})
        if not tags:
            lines.append(f"  <node id='{nid}' version='1' lat='{lat}' lon='{lon}'/>")
            continue
        lines.append(f"  <node id='{nid}' version='1' lat='{lat}' lon='{lon}'>")
        lines += [f"    <tag k='{k}' v='{v}'/>" for k, v in tags.items()]
        lines.append("  </node>")
    ways = {
        wid: (nodes, {**STREET, **(way_tags or {}).get(wid, {})}) for wid, nodes in WAYS.items()
    }
    ways.update(extra_ways or {})
    for wid, (nodes, tags) in ways.items():
        lines.append(f"  <way id='{wid}' version='1'>")
        lines += [f"    <nd ref='{n}'/>" for n in nodes]
        lines += [f"    <tag k='{k}' v='{v}'/>" for k, v in tags.items()]
        lines.append("  </way>")
    for rid, rel in enumerate(relations or [], start=900):
        lines.append(f"  <relation id='{rid}' version='1'>")
        lines.append(f"    <member type='way' ref='{rel['from']}' role='from'/>")
        for via in rel.get("via_ways", []):
            lines.append(f"    <member type='way' ref='{via}' role='via'/>")
        if "via" in rel:
            lines.append(f"    <member type='node' ref='{rel['via']}' role='via'/>")
        lines.append(f"    <member type='way' ref='{rel['to']}' role='to'/>")
        lines.append("    <tag k='type' v='restriction'/>")
        for k, v in rel["tags"].items():
            lines.append(f"    <tag k='{k}' v='{v}'/>")
        lines.append("  </relation>")
    lines.append("</osm>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def build(tmp_path: Path, name: str = "grid.osm", **kwargs):
    return load_network(write_osm(tmp_path / name, **kwargs), use_cache=False)


def on_road(net, a: int, b: int, fraction: float) -> np.ndarray:
    """A point on the street from OSM node a to OSM node b (Lambert-93)."""
    (lon1, lat1), (lon2, lat2) = NODES[a], NODES[b]
    lon, lat = lon1 + fraction * (lon2 - lon1), lat1 + fraction * (lat2 - lat1)
    x, y = Transformer.from_crs("EPSG:4326", net.info.crs, always_xy=True).transform(lon, lat)
    return np.array([[x, y]])


def edge(net, a: int, b: int) -> int:
    idx = {int(o): i for i, o in enumerate(net.node_id)}
    found = int(net.edge_index(np.array([idx[a]]), np.array([idx[b]]))[0])
    return found


def move(net, a: int, b: int, c: int) -> float | None:
    """Weight of the move a -> b then b -> c in the turn graph (None when forbidden)."""
    tg = net.turn_graph
    e, f = edge(net, a, b), edge(net, b, c)
    if e < 0 or f < 0:
        return None
    row = slice(tg.indptr[e], tg.indptr[e + 1])
    hits = np.flatnonzero(tg.indices[row] == f)
    return float(tg.weights[row][hits[0]]) if hits.size else None


def osm_path(net, route) -> list[int]:
    nodes = [int(net.edge_tail[route.edges[0]]), *net.indices[route.edges].tolist()]
    return [int(net.node_id[n]) for n in nodes]


def test_signals_gates_and_turn_costs_in_the_moves(tmp_path: Path) -> None:
    net = build(
        tmp_path,
        node_tags={5: {"highway": "traffic_signals"}, 36: {"barrier": "gate"}},
    )
    profile = load_speed_profile("france")
    turns = profile.turns
    gate = profile.barriers.delay_s["gate"]
    assert net.info.report["barriers"]["with_delay"] == 2
    t = net.seconds
    # node 36 is a bend with a gate: its delay only
    assert move(net, 3, 36, 6) == pytest.approx(t[edge(net, 3, 36)] + gate)
    # node 5 is a junction of four streets with signals: turn cost + signals
    straight = move(net, 2, 5, 8)
    right = move(net, 2, 5, 6)  # heading north, turning east
    left = move(net, 2, 5, 4)
    base = t[edge(net, 2, 5)] + turns.traffic_signals_s
    assert straight == pytest.approx(base + turns.straight_s)
    assert right == pytest.approx(base + turns.right_s)
    assert left == pytest.approx(base + turns.left_s)
    assert move(net, 2, 5, 2) is None  # no U-turn at a junction
    # node 1 is a corner (two streets): nothing added
    assert move(net, 2, 1, 4) == pytest.approx(t[edge(net, 2, 1)])


def test_a_bollard_cuts_the_road_and_access_tags_on_it_win(tmp_path: Path) -> None:
    cut = build(tmp_path, node_tags={78: {"barrier": "bollard"}})
    report = cut.info.report["barriers"]
    assert report["blocking"] == 1 and report["nodes_cut"] == 1
    assert report["by_value"] == {"bollard": 1}
    a, b = on_road(cut, 7, 78, 0.5), on_road(cut, 78, 8, 0.5)
    route = routes(cut, a, b)[0][0]
    path = osm_path(cut, route)
    # never driven through: at the bollard's node a route can only turn back
    assert all(path[k - 1] == path[k + 1] for k in range(1, len(path) - 1) if path[k] == 78)
    open_road = build(
        tmp_path, "open.osm", node_tags={78: {"barrier": "bollard", "motor_vehicle": "yes"}}
    )
    assert open_road.info.report["barriers"]["blocking"] == 0
    direct = travel_times(open_road, a, b).seconds[0, 0]
    detour = travel_times(cut, a, b).seconds[0, 0]
    # through the bollard: half of 7-78 and half of 78-8, about 200 m at 50 × 0.76 km/h
    length = 2 * 0.5 * 0.0025 * 111_320 * np.cos(np.radians(43.608))
    assert direct == pytest.approx(length / (50 * 0.76 / 3.6), rel=0.01)
    assert detour > direct + 60  # round by 7-4-5-8
    # a point right next to the bollard reaches it from its own side only, by a U-turn
    # at the cut if it drives the wrong way: the bollard's two sides are dead ends
    assert cut.turn_graph.report["u_turns_allowed"] >= 2


def test_access_no_keeps_cars_off_and_specific_tags_win(tmp_path: Path) -> None:
    diagonal = {301: ([1, 5], {"highway": "tertiary", "maxspeed": "50", "access": "no"})}
    closed = build(tmp_path, extra_ways=diagonal)
    assert edge(closed, 1, 5) < 0 and closed.info.report["ways_no_car_access"] == 1
    allowed = {
        301: (
            [1, 5],
            {"highway": "tertiary", "maxspeed": "50", "access": "no", "motor_vehicle": "yes"},
        )
    }
    opened = build(tmp_path, "open.osm", extra_ways=allowed)
    assert edge(opened, 1, 5) >= 0 and opened.info.report["ways_no_car_access"] == 0
    private_gate = build(
        tmp_path, "gate.osm", node_tags={36: {"barrier": "gate", "access": "private"}}
    )
    assert private_gate.info.report["barriers"]["blocking"] == 1


def test_restriction_via_a_node(tmp_path: Path) -> None:
    no_left = [{"from": 202, "via": 5, "to": 102, "tags": {"restriction": "no_left_turn"}}]
    net = build(tmp_path, relations=no_left)
    assert net.info.report["turn_restrictions"]["matched"] == 1
    assert move(net, 2, 5, 4) is None and move(net, 2, 5, 6) is not None
    free = build(tmp_path, "free.osm")
    a, b = on_road(net, 2, 5, 0.3), on_road(net, 5, 4, 0.7)
    route = routes(net, a, b)[0][0]
    path = osm_path(net, route)
    assert all(path[i : i + 3] != [2, 5, 4] for i in range(len(path) - 2))
    assert route.seconds > travel_times(free, a, b).seconds[0, 0]
    # the restriction binds cars only: an except=motorcar relation is not applied
    exempt = [{**no_left[0], "tags": {"restriction": "no_left_turn", "except": "motorcar"}}]
    assert build(tmp_path, "exempt.osm", relations=exempt).restrictions.n == 0


def test_only_straight_on_leaves_one_move(tmp_path: Path) -> None:
    only = [{"from": 202, "via": 5, "to": 212, "tags": {"restriction": "only_straight_on"}}]
    net = build(tmp_path, relations=only)
    assert move(net, 2, 5, 8) is not None
    assert move(net, 2, 5, 4) is None and move(net, 2, 5, 6) is None
    assert move(net, 4, 5, 8) is not None  # other arrivals are free


def test_restriction_via_a_way(tmp_path: Path) -> None:
    # no going 1 -> 2 -> 5 -> 4 (from 101, via 202, to 102); 3 -> 2 -> 5 -> 4 stays allowed
    rel = [{"from": 101, "via_ways": [202], "to": 102, "tags": {"restriction": "no_left_turn"}}]
    net = build(tmp_path, relations=rel)
    assert net.turn_graph.report["restrictions_via_ways"] == 1
    assert net.turn_graph.report["state_copies"] == 1
    start_west, start_east = on_road(net, 1, 2, 0.5), on_road(net, 3, 2, 0.5)
    target = on_road(net, 5, 4, 0.5)
    west = osm_path(net, routes(net, start_west, target)[0][0])
    east = osm_path(net, routes(net, start_east, target)[0][0])
    assert all(west[i : i + 4] != [1, 2, 5, 4] for i in range(len(west) - 3))
    assert east[:4] == [3, 2, 5, 4]
