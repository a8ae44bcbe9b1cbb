"""Routing benchmark: our engine against plain scipy and networkx, same queries, same run.

Cases: the Gers numbered-road network (458 commune points), the Imperial County
OSM extract, synthetic road-like graphs of 100 k and 1 M nodes. Every query of
ours runs on the turn-expanded graph (:mod:`coverage.routing.turns`: a state per
road edge, turn costs, restrictions, U-turn rules), with the C kernels and the
contraction hierarchy when they are built. For each query it times our engine
(median of ``--repeat`` runs) and, in the same run:

- **the previous engine's path**: plain ``scipy.sparse.csgraph.dijkstra`` on the
  node graph (no turn model), the baseline today's figures are compared with
  (issue 13: the Gers matrix and nearest-facility queries within 1.5x of it);
- **networkx** on the *turn graph* (``single_source_dijkstra_path_length`` per
  origin, ``multi_source_dijkstra`` for the nearest facility), which checks that
  the answers agree to 1e-6 s; networkx runs on a sample of origins where a full
  run would take minutes, its time is then scaled to all origins, and the table
  says so.

The points of the comparison queries sit on nodes (access legs of 0 s); the
product's own query (commune points, projected on their roads) is timed
separately.

Usage::

    python benchmarks/routing.py --data ../shared/data [--repeat 5] [--skip-1m]

Targets: nearest facility for every state, 50 facilities, 1 M nodes < 1 s;
458 x 458 matrix on the Gers < 0.1 s and on 100 k nodes < 3 s; 100 facilities
x 3 isochrone bands on the Gers < 5 s; >= 30x networkx on the same matrix;
Gers matrix and nearest within 1.5x of the node-graph scipy baseline; a 1 M-node
network with its turn graph in memory < 500 MB RSS.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
from scipy.sparse.csgraph import dijkstra

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _figures import median_seconds  # noqa: E402

from coverage.routing.graph import RoadNetwork  # noqa: E402
from coverage.routing.isochrones import isochrones  # noqa: E402
from coverage.routing.kernels import kernel_backend  # noqa: E402
from coverage.routing.matrix import state_times_to_nearest, travel_times  # noqa: E402
from coverage.routing.portals import (  # noqa: E402
    arrival_portals,
    departure_portals,
    same_edge_times,
)
from coverage.routing.snap import AccessSettings, snap_points  # noqa: E402
from coverage.routing.surface import snap_grid  # noqa: E402
from coverage.routing.synthetic import synthetic_network  # noqa: E402

ON_NODES = AccessSettings(max_distance_m=0.5)
ROWS: list[dict[str, Any]] = []


median_time = partial(median_seconds, clock=time.perf_counter)
"""Median wall seconds of ``repeat`` calls, and the last result (:func:`median_seconds`)."""


def to_networkx(net: RoadNetwork) -> nx.DiGraph:
    """The turn graph for networkx (edge attribute ``travel_time`` in seconds)."""
    tg = net.turn_graph
    tail = np.repeat(np.arange(tg.n_states), np.diff(tg.indptr))
    graph = nx.DiGraph()
    graph.add_nodes_from(range(tg.n_states))
    graph.add_weighted_edges_from(
        zip(tail.tolist(), tg.indices.tolist(), tg.weights.tolist(), strict=True),
        weight="travel_time",
    )
    return graph


def cached_graph(net: RoadNetwork) -> Callable[[], nx.DiGraph]:
    """A factory that builds the networkx graph on first use and then reuses it."""
    holder: list[nx.DiGraph] = []

    def get() -> nx.DiGraph:
        if not holder:
            holder.append(to_networkx(net))
        return holder[0]

    return get


def record(case: str, query: str, ours: float, **others: Any) -> None:
    row = {"case": case, "query": query, "ours_s": ours, **others}
    ROWS.append(row)
    parts = [f"{case:<16} {query:<34} ours {ours:8.3f} s"]
    for key, value in others.items():
        parts.append(f"{key} {value:.3f}" if isinstance(value, float) else f"{key} {value}")
    print("  ".join(parts), flush=True)


def bench_matrix(
    case: str,
    net: RoadNetwork,
    nodes: np.ndarray,
    *,
    repeat: int,
    nx_graph: Callable[[], nx.DiGraph] | None,
    nx_origins: int,
) -> None:
    """Matrix between points placed on ``nodes``: ours, node-graph scipy, networkx."""
    xy = np.column_stack([net.node_x[nodes], net.node_y[nodes]])
    start = time.perf_counter()
    # turn graph and hierarchy, built once ahead of the timing
    travel_times(net, xy[:2], xy[:2], access=ON_NODES, algorithm="hierarchy")
    prepare_s = time.perf_counter() - start
    pts = snap_points(net, xy, access=ON_NODES)
    ours_s, ours = median_time(lambda: travel_times(net, pts, pts, access=ON_NODES), repeat)
    scipy_s, _ = median_time(lambda: dijkstra(net.csr, indices=nodes)[:, nodes], repeat)
    extra: dict[str, Any] = {
        "scipy_s": scipy_s,
        "x_scipy": scipy_s / ours_s,
        "hierarchy": net.turn_graph.hierarchy(build=False) is not None,
        "prepare_s": prepare_s,
    }
    if nx_graph is not None:
        graph = nx_graph()  # built after our timings: its objects would slow the GC
        tg = net.turn_graph
        dep, arr = departure_portals(tg, pts), arrival_portals(tg, pts)
        sample = range(min(nx_origins, nodes.size))
        start = time.perf_counter()
        ref = np.full((len(sample), nodes.size), np.inf)
        for i in sample:
            seeds = dep.point == i
            lengths = _seeded(graph, dep.state[seeds], dep.offset[seeds])
            at = np.array([lengths.get(int(s), np.inf) for s in arr.state]) + arr.offset
            np.minimum.at(ref[i], arr.point, at)
        nx_s = (time.perf_counter() - start) * nodes.size / len(sample)
        got = ours.seconds[: len(sample)]
        i, j, direct, _, _ = same_edge_times(tg, pts, pts)  # trips along one edge
        keep = i < len(sample)
        np.minimum.at(ref, (i[keep], j[keep]), direct[keep])
        ref[np.arange(len(sample)), np.arange(len(sample))] = 0.0  # the same place
        ref[:, pts.too_far] = np.nan
        ref[pts.too_far[: len(sample)], :] = np.nan
        both = np.isfinite(got) & np.isfinite(ref)
        assert np.array_equal(np.isfinite(got), np.isfinite(ref)), "reachability differs"
        extra.update(
            {
                "networkx_s": nx_s,
                "x_networkx": nx_s / ours_s,
                "nx_origins_run": len(sample),
                "max_diff_networkx_s": float(np.max(np.abs(got - ref)[both], initial=0.0)),
            }
        )
    record(case, f"matrix {nodes.size}x{nodes.size}", ours_s, **extra)


def _seeded(graph: nx.DiGraph, states: np.ndarray, offsets: np.ndarray) -> dict[int, float]:
    """networkx Dijkstra from several seeds with their offsets (a temporary super source)."""
    source = ("seed",)
    graph.add_node(source)
    for s, o in zip(states.tolist(), offsets.tolist(), strict=True):
        w = graph.get_edge_data(source, s, {}).get("travel_time", np.inf)
        graph.add_edge(source, s, travel_time=min(w, o))
    try:
        return nx.single_source_dijkstra_path_length(graph, source, weight="travel_time")
    finally:
        graph.remove_node(source)


def bench_nearest(
    case: str,
    net: RoadNetwork,
    facility_nodes: np.ndarray,
    *,
    repeat: int,
    nx_graph: Callable[[], nx.DiGraph] | None,
) -> None:
    """Time from every state (ours) / node (baseline) to its nearest facility."""
    xy = np.column_stack([net.node_x[facility_nodes], net.node_y[facility_nodes]])
    fac = snap_points(net, xy, access=ON_NODES)
    state_times_to_nearest(net, fac, access=ON_NODES)  # warm: reversed graph, hierarchy
    ours_s, ours = median_time(lambda: state_times_to_nearest(net, fac, access=ON_NODES), repeat)
    extra: dict[str, Any] = {}
    scipy_s, _ = median_time(
        lambda: dijkstra(net.csr_reversed, indices=facility_nodes, min_only=True), repeat
    )
    extra["scipy_s"] = scipy_s
    extra["x_scipy"] = scipy_s / ours_s
    if nx_graph is not None:
        reverse = nx_graph().reverse(copy=True)
        arr = arrival_portals(net.turn_graph, fac)
        start = time.perf_counter()
        lengths = _seeded(reverse, arr.state, arr.offset)
        nx_s = time.perf_counter() - start
        ref = np.array([lengths.get(i, np.inf) for i in range(net.turn_graph.n_states)])
        extra.update(
            {
                "networkx_s": nx_s,
                "x_networkx": nx_s / ours_s,
                "max_diff_networkx_s": float(np.max(np.abs(ours.seconds - ref))),
            }
        )
    record(
        case,
        f"nearest of {facility_nodes.size}, all {net.turn_graph.n_states} states",
        ours_s,
        **extra,
    )


def spread_nodes(net: RoadNetwork, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(net.n_nodes, size=count, replace=False))


def gers_cases(data: Path, repeat: int) -> None:
    from coverage.geocode.catalogue import load_catalogue
    from coverage.jobs.network import load_territory_network
    from coverage.layers import load_territory
    from coverage.layers.population import population_surface

    gers = load_territory("gers", data_dir=data)
    net = load_territory_network(gers)
    print(
        f"Gers: {net.n_nodes} nodes, {net.n_edges} edges, turn graph "
        f"{net.turn_graph.n_states} states, {net.turn_graph.n_moves} moves"
    )
    points = np.column_stack([gers.communes["point_x"], gers.communes["point_y"]])
    _, nodes = net.kdtree.query(points)
    graph = cached_graph(net)
    bench_matrix(
        "gers",
        net,
        np.asarray(nodes),
        repeat=repeat,
        nx_graph=graph,
        nx_origins=458,
    )
    product_s, _ = median_time(lambda: travel_times(net, points, points), repeat)
    record("gers", "matrix 458x458, commune points + legs", product_s)
    catalogue = load_catalogue(gers).of_kind("france_services")
    fac = np.column_stack([catalogue.geometry.x, catalogue.geometry.y])
    _, fac_nodes = net.kdtree.query(fac)
    bench_nearest("gers", net, np.unique(fac_nodes), repeat=repeat, nx_graph=graph)

    surface = population_surface(gers)
    cells = snap_grid(net, surface.transform, surface.shape, mask=surface.values > 0)
    facilities = points[::4][:100]
    iso_s, iso = median_time(
        lambda: isochrones(
            net, facilities, cells, bands_minutes=(10, 20, 30), weights=surface.values
        ),
        max(1, repeat // 2),
    )
    record(
        "gers",
        f"isochrones 100 x 3 bands ({cells.n_cells} cells)",
        iso_s,
        polygons=len(iso),
        valid=bool(iso.geometry.is_valid.all()),
    )


def imperial_case(data: Path, repeat: int) -> None:
    from coverage.routing.network import load_network

    net = load_network(data / "osm" / "imperial-county-ca-2024-06-05.osm.pbf")
    print(
        f"Imperial: {net.n_nodes} nodes, {net.n_edges} edges, turn graph "
        f"{net.turn_graph.n_states} states"
    )
    graph = cached_graph(net)
    bench_matrix(
        "imperial", net, spread_nodes(net, 458, 1), repeat=repeat, nx_graph=graph, nx_origins=60
    )
    bench_nearest("imperial", net, spread_nodes(net, 50, 2), repeat=repeat, nx_graph=graph)


def synthetic_case(n_nodes: int, repeat: int, *, matrix: bool, nx_graph: bool) -> None:
    start = time.perf_counter()
    net = synthetic_network(n_nodes, seed=1)
    built = time.perf_counter() - start
    print(
        f"synthetic {n_nodes}: {net.n_nodes} nodes, {net.n_edges} edges, "
        f"turn graph {net.turn_graph.n_states} states (generated in {built:.1f} s)"
    )
    graph = cached_graph(net) if nx_graph else None
    case = f"synthetic {n_nodes // 1000}k"
    if matrix:
        bench_matrix(
            case, net, spread_nodes(net, 458, 1), repeat=repeat, nx_graph=graph, nx_origins=10
        )
    bench_nearest(case, net, spread_nodes(net, 50, 2), repeat=repeat, nx_graph=graph)


MEMORY_PROBE = """
import gc, json, sys
sys.path.insert(0, {repo!r})
def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
import numpy, scipy.sparse, scipy.spatial
from coverage.routing.network import read_network
base = rss_mb()
net = read_network({path!r})
_ = net.turn_graph.graph, net.turn_graph.reversed, net.snap_index
gc.collect()
print(json.dumps({{"baseline_mb": base, "rss_mb": rss_mb(), "nodes": net.n_nodes}}))
"""


def memory_case() -> None:
    """RSS of a fresh process holding a 1 M-node network (arrays, turn graph both ways, index)."""
    from coverage.routing.network import save_network

    net = synthetic_network(1_000_000, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_network(net, Path(tmp) / "net-1m.npz")
        del net
        gc.collect()
        out = subprocess.run(
            [sys.executable, "-c", MEMORY_PROBE.format(repo=str(REPO), path=str(path))],
            capture_output=True,
            text=True,
            check=True,
        )
    figures = json.loads(out.stdout)
    record(
        "synthetic 1000k",
        f"network in memory ({figures['nodes']} nodes)",
        float("nan"),
        rss_mb=figures["rss_mb"],
        interpreter_and_libraries_mb=figures["baseline_mb"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-1m", action="store_true", help="skip the 1 M-node graph")
    parser.add_argument(
        "--cases",
        nargs="*",
        default=["gers", "imperial", "100k", "1m"],
        choices=["gers", "imperial", "100k", "1m"],
    )
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args()
    os.environ.setdefault("COVERAGE_CACHE_DIR", tempfile.mkdtemp(prefix="coverage-bench-"))
    print(f"cores: {os.cpu_count()}, python {sys.version.split()[0]}, kernels {kernel_backend()}")
    cases = set(args.cases)
    if "gers" in cases:
        gers_cases(args.data, args.repeat)
    if "imperial" in cases:
        imperial_case(args.data, args.repeat)
    if "100k" in cases:
        synthetic_case(100_000, args.repeat, matrix=True, nx_graph=True)
    if "1m" in cases and not args.skip_1m:
        synthetic_case(1_000_000, 3, matrix=False, nx_graph=True)
        memory_case()
    print()
    print(
        f"{'case':<16} {'query':<44} {'ours':>8} {'scipy':>8} {'ours/scipy':>10} "
        f"{'networkx':>9} {'x nx':>7} {'max diff nx':>11}"
    )
    for row in ROWS:

        def fmt(key: str, width: int, digits: int = 3, row: dict = row) -> str:
            value = row.get(key)
            return f"{value:>{width}.{digits}f}" if isinstance(value, float) else " " * width

        ratio = row["ours_s"] / row["scipy_s"] if row.get("scipy_s") else None
        ratio_text = f"{ratio:>10.2f}" if ratio is not None else " " * 10
        print(
            f"{row['case']:<16} {row['query']:<44} {fmt('ours_s', 8)} {fmt('scipy_s', 8)} "
            f"{ratio_text} {fmt('networkx_s', 9)} {fmt('x_networkx', 7, 0)} "
            f"{fmt('max_diff_networkx_s', 11, 9)}"
        )
    print()
    print("Issue 13 speed check: the Gers queries within 1.5x of the node-graph scipy baseline")
    failed = False
    for row in ROWS:
        if row["case"] == "gers" and row.get("scipy_s"):
            ratio = row["ours_s"] / row["scipy_s"]
            ok = ratio <= 1.5
            failed |= not ok
            print(f"  {row['query']:<44} ours/scipy {ratio:.2f} {'ok' if ok else 'FAIL'}")
    if args.json:
        args.json.write_text(json.dumps(ROWS, indent=2, default=str), encoding="utf-8")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
