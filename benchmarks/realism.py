"""Realism benchmark: our car times side by side with OSRM's and Valhalla's, on real extracts.

For every OSM extract of ``shared/data/osm`` it builds our network (the profile
given, ``france`` by default) and starts OSRM (car profile, contraction
hierarchies) and Valhalla (``auto`` costing) on 127.0.0.1 from their PyPI wheels'
own programs (:mod:`benchmarks.peers`: benchmark references only, never runtime
dependencies; their data is prepared once and cached). Then, on the same points:

- **times**: homes drawn along the drivable roads (weighted by length, up to
  ``--offset-m`` off the road); every pair's time by the three engines (our
  :func:`~coverage.routing.matrix.travel_times`, OSRM ``/table``, Valhalla
  ``sources_to_targets``); median, p10 and p90 of engine/OSRM, engine/Valhalla and
  Valhalla/OSRM over the pairs of at least a minute that all three answer, and
  Spearman's rho; the same ratios by the road class carrying most of our route's
  time (``--class-pairs`` routes);
- **isochrones**: area ratio of our 10, 15 and 20-minute isochrones to Valhalla's,
  median over ``--iso-origins`` origins. Valhalla marks the cells its reached
  roads cross (a grid of 0.001°), draws contours on it and keeps the largest ring,
  holes filled (``denoise=1``). Ours come from
  :func:`~coverage.routing.isochrones.isochrones` on cells of ``--cell-m``: the
  cells a road crosses (centre within half a cell diagonal of a road), drawn the
  same way (largest ring, holes filled: the like-for-like measure of the check);
  for information also those cells as they are (holes kept), and every cell, each
  joined to its nearest road by an access leg (30 km/h, up to 5 km: what a
  skeleton network such as the Gers' needs, where people live off the roads it
  holds);
- **continuity**: pairs of homes 20 m apart (``--twins``), each timed to five
  destinations: share of pairs within 1 minute of each other, largest gap (ours
  and OSRM's);
- **rules**: our routes checked against the file's own turn-restriction
  relations and blocking barriers (OSM ids, independent of how the network is
  built): shortest paths through a restriction or a barrier, with the same count
  for the plain node graph (no turn model) for comparison.

It prints one table per measure, then the issue's acceptance checks, and exits 1
if one fails: engine/OSRM median between (Valhalla/OSRM median - 0.05) and 1.05;
15-minute isochrone area ratio to Valhalla <= 1.5; twins >= 99.5 % within 1 min
and none beyond 3 min; 0 paths through a restriction or a barrier.

Usage::

    python benchmarks/realism.py --data ../shared/data [--extracts andorra rutland]
        [--pairs 200] [--profile france] [--json realism.json]

OSRM and Valhalla come from ``pip download`` of their wheels (see
``benchmarks/peers.py``), unpacked under ``COVERAGE_PEERS_DIR``
(``~/.cache/coverage-peers``); the first run downloads and prepares them.
Data: © OpenStreetMap contributors (ODbL 1.0).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import Transformer
from scipy.stats import spearmanr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import peers  # noqa: E402

from coverage.routing.graph import ROAD_CLASSES, RoadNetwork  # noqa: E402
from coverage.routing.isochrones import isochrones  # noqa: E402
from coverage.routing.matrix import travel_times  # noqa: E402
from coverage.routing.network import load_network  # noqa: E402
from coverage.routing.osm_reader import read_osm_ways  # noqa: E402
from coverage.routing.paths import routes  # noqa: E402
from coverage.routing.snap import AccessSettings  # noqa: E402
from coverage.routing.speeds import load_speed_profile  # noqa: E402
from coverage.routing.surface import grid_for_bounds, snap_grid  # noqa: E402

EXTRACTS = (
    "andorra-2025-01-19",
    "imperial-county-ca-2024-06-05",
    "liechtenstein-2025-09-19",
    "malta-2018-08-27",
    "rutland-2018-02-27",
    "yuba-county-ca-2024-06-05",
)
BANDS = (10.0, 15.0, 20.0)
MIN_PAIR_S = 60.0
"""Pairs shorter than this (OSRM) are left out of the ratios: snapping noise dominates them."""


def sample_homes(net: RoadNetwork, n: int, rng: np.random.Generator, offset_m: float) -> np.ndarray:
    """Points along the roads a home may open on (length-weighted), up to ``offset_m`` off."""
    index = net.snap_index  # the stretches points may join: no motorway, none cut off
    ax, ay = net.node_x[index.a], net.node_y[index.a]
    dx, dy = net.node_x[index.b] - ax, net.node_y[index.b] - ay
    length = np.hypot(dx, dy)
    pick = rng.choice(length.size, size=n, p=length / length.sum())
    t = rng.uniform(0, 1, n)
    ux, uy = dx[pick] / length[pick], dy[pick] / length[pick]
    side = rng.uniform(-offset_m, offset_m, n)
    x = ax[pick] + t * dx[pick] - uy * side
    y = ay[pick] + t * dy[pick] + ux * side
    return np.column_stack([x, y])


def largest_ring_area(geometries: Any) -> float:
    """Area of the largest polygon's outer ring (holes filled): Valhalla's ``denoise=1`` drawing."""
    import shapely

    parts = [p for g in geometries for p in getattr(g, "geoms", [g]) if not p.is_empty]
    if not parts:
        return 0.0
    biggest = max(parts, key=lambda p: shapely.Polygon(p.exterior).area)
    return float(shapely.Polygon(biggest.exterior).area)


def ratio_stats(values: np.ndarray) -> dict[str, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {"median": float("nan"), "p10": float("nan"), "p90": float("nan"), "n": 0}
    return {
        "median": float(np.median(values)),
        "p10": float(np.percentile(values, 10)),
        "p90": float(np.percentile(values, 90)),
        "n": int(values.size),
    }


def restriction_violations(
    net: RoadNetwork, osm: Any, node_paths: list[np.ndarray], edge_paths: list[np.ndarray]
) -> int:
    """Paths (node sequences with their edges) breaking the file's restriction relations.

    A path breaks ``no_*`` via node ``v`` when it arrives at ``v`` on an edge of the
    ``from`` way and leaves on an edge of the ``to`` way; ``only_*`` when it arrives on
    the ``from`` way and leaves on another way. Via-way relations: the sequence of ways
    ``from, via..., to`` appears in order (``no_*``).
    """
    by_node: dict[int, list[Any]] = {}
    via_ways: list[Any] = []
    for r in osm.restrictions:
        if r.via_node >= 0:
            by_node.setdefault(r.via_node, []).append(r)
        else:
            via_ways.append(r)
    way_of = net.edge_way_id
    broken = 0
    for nodes, edges in zip(node_paths, edge_paths, strict=True):
        osm_nodes = net.node_id[nodes]
        ways = way_of[edges]
        bad = False
        for k in range(1, len(edges)):
            v = int(osm_nodes[k])  # the node between edges k-1 and k
            for r in by_node.get(v, []):
                arrive, leave = int(ways[k - 1]), int(ways[k])
                if arrive != r.from_way:
                    continue
                if (not r.mandatory and leave == r.to_way) or (r.mandatory and leave != r.to_way):
                    bad = True
        if not bad and via_ways:
            runs = [int(w) for i, w in enumerate(ways) if i == 0 or w != ways[i - 1]]
            for r in via_ways:
                if r.mandatory:
                    continue
                seq = [r.from_way, *r.via_ways, r.to_way]
                if any(runs[i : i + len(seq)] == seq for i in range(len(runs) - len(seq) + 1)):
                    bad = True
        broken += bad
    return broken


def barrier_violations(net: RoadNetwork, blocking: set[int], node_paths: list[np.ndarray]) -> int:
    """Paths passing through a blocking barrier node (arriving and leaving by different nodes)."""
    broken = 0
    for nodes in node_paths:
        ids = net.node_id[nodes]
        bad = any(
            int(ids[k]) in blocking and nodes[k - 1] != nodes[k + 1] for k in range(1, len(ids) - 1)
        )
        broken += bad
    return broken


def blocking_barriers(osm: Any, profile_name: str) -> set[int]:
    profile = load_speed_profile(profile_name)
    return {
        osm_id
        for osm_id, tags in osm.node_tags.items()
        if profile.barriers.judge(tags, profile.access)[0]
    }


def node_graph_paths(
    net: RoadNetwork, n: int, rng: np.random.Generator
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Shortest paths between random node pairs on the plain node graph (no turn model)."""
    from scipy.sparse.csgraph import dijkstra

    sources = rng.choice(net.n_nodes, size=n, replace=False)
    targets = rng.choice(net.n_nodes, size=n, replace=False)
    _, pred = dijkstra(net.csr, indices=sources, return_predecessors=True)
    node_paths, edge_paths = [], []
    for r, _s in enumerate(sources):
        for t in targets:
            path = [int(t)]
            while pred[r, path[-1]] >= 0:
                path.append(int(pred[r, path[-1]]))
            if len(path) < 3:
                continue
            path.reverse()
            nodes = np.asarray(path)
            node_paths.append(nodes)
            edge_paths.append(net.edge_index(nodes[:-1], nodes[1:]))
    return node_paths, edge_paths


def main_class(net: RoadNetwork, route: Any) -> str:
    """The road class carrying most of a route's time."""
    share = np.bincount(
        net.classes[route.edges], weights=net.seconds[route.edges], minlength=len(ROAD_CLASSES)
    )
    return ROAD_CLASSES[int(np.argmax(share))]


def route_nodes(net: RoadNetwork, edges: np.ndarray) -> np.ndarray:
    return np.concatenate([[net.edge_tail[edges[0]]], net.indices[edges]]).astype(np.int64)


def one_extract(name: str, args: argparse.Namespace, binaries: Any) -> dict[str, Any]:
    pbf = args.data / "osm" / f"{name}.osm.pbf"
    out: dict[str, Any] = {"extract": name}
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    net = load_network(pbf, profile=args.profile)
    _ = net.turn_graph, net.snap_index
    out["network"] = {
        "nodes": net.n_nodes,
        "edges": net.n_edges,
        "states": net.turn_graph.n_states,
        "build_or_load_s": round(time.perf_counter() - t0, 2),
        "restrictions_on_network": net.restrictions.n,
        "barriers_cut": net.info.report.get("barriers", {}).get("nodes_cut", 0),
    }
    to_lonlat = Transformer.from_crs(net.info.crs, "EPSG:4326", always_xy=True)

    def lonlat(xy: np.ndarray) -> np.ndarray:
        lon, lat = to_lonlat.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    homes = sample_homes(net, args.pairs, rng, args.offset_m)
    osrm_dir = peers.prepare_osrm(pbf, binaries)
    valhalla_dir = peers.prepare_valhalla(pbf, binaries)
    with (
        peers.OsrmServer(osrm_dir, binaries) as osrm,
        peers.ValhallaServer(valhalla_dir, binaries) as valhalla,
    ):
        t = time.perf_counter()
        ours = travel_times(net, homes, homes).seconds
        out["ours_matrix_s"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        o_dur, _ = osrm.table(lonlat(homes), lonlat(homes))
        out["osrm_matrix_s"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        v_dur, _ = valhalla.matrix(lonlat(homes), lonlat(homes))
        out["valhalla_matrix_s"] = round(time.perf_counter() - t, 3)
        off_diag = ~np.eye(len(homes), dtype=bool)
        ok = off_diag & np.isfinite(ours) & np.isfinite(o_dur) & np.isfinite(v_dur)
        ok &= o_dur >= MIN_PAIR_S
        out["pairs_compared"] = int(ok.sum())
        out["pairs_unanswered"] = {
            "ours": int((off_diag & ~np.isfinite(ours)).sum()),
            "osrm": int((off_diag & ~np.isfinite(o_dur)).sum()),
            "valhalla": int((off_diag & ~np.isfinite(v_dur)).sum()),
        }
        out["engine_osrm"] = ratio_stats(ours[ok] / o_dur[ok])
        out["engine_valhalla"] = ratio_stats(ours[ok] / v_dur[ok])
        out["valhalla_osrm"] = ratio_stats(v_dur[ok] / o_dur[ok])
        out["spearman_osrm"] = float(spearmanr(ours[ok], o_dur[ok]).statistic)
        out["spearman_valhalla"] = float(spearmanr(ours[ok], v_dur[ok]).statistic)

        # by the class carrying most of our route's time
        pairs = np.argwhere(ok)
        pairs = pairs[rng.choice(len(pairs), size=min(args.class_pairs, len(pairs)), replace=False)]
        t = time.perf_counter()
        origins = np.unique(pairs[:, 0])
        found = routes(net, homes[origins], homes)
        out["routes_s"] = round(time.perf_counter() - t, 3)
        by_class: dict[str, list[float]] = {}
        node_paths, edge_paths = [], []
        index = {int(o): k for k, o in enumerate(origins)}
        for i, j in pairs:
            route = found[index[int(i)]][int(j)]
            if route is None:
                continue
            by_class.setdefault(main_class(net, route), []).append(float(ours[i, j] / o_dur[i, j]))
            node_paths.append(route_nodes(net, route.edges))
            edge_paths.append(route.edges)
        out["by_class"] = {
            cls: {**ratio_stats(np.array(v)), "share": len(v) / max(1, len(pairs))}
            for cls, v in sorted(by_class.items(), key=lambda kv: -len(kv[1]))
        }

        osm = read_osm_ways(pbf)
        blocking = blocking_barriers(osm, args.profile)
        out["rules"] = {
            "routes_checked": len(node_paths),
            "through_restriction": restriction_violations(net, osm, node_paths, edge_paths),
            "through_barrier": barrier_violations(net, blocking, node_paths),
        }
        plain_nodes, plain_edges = node_graph_paths(net, 60, rng)
        out["rules"]["node_graph_paths"] = len(plain_nodes)
        out["rules"]["node_graph_through_restriction"] = restriction_violations(
            net, osm, plain_nodes, plain_edges
        )

        # isochrones: our cells within each band against Valhalla's polygons
        origins_xy = homes[: args.iso_origins]
        bounds = (net.node_x.min(), net.node_y.min(), net.node_x.max(), net.node_y.max())
        span = (bounds[2] - bounds[0]) * (bounds[3] - bounds[1])
        cell = max(args.cell_m, float(np.sqrt(span / args.max_cells)))
        transform, shape = grid_for_bounds(bounds, cell_size_m=cell)
        t = time.perf_counter()
        road_cells = snap_grid(
            net, transform, shape, access=AccessSettings(max_distance_m=cell / np.sqrt(2))
        )
        iso = isochrones(net, origins_xy, road_cells, bands_minutes=BANDS, merged=False)
        out["ours_isochrones_s"] = round(time.perf_counter() - t, 3)
        every_cell = snap_grid(net, transform, shape)
        iso_all = isochrones(net, origins_xy, every_cell, bands_minutes=BANDS, merged=False)
        t = time.perf_counter()
        iso_ratio: dict[str, list[float]] = {f"{b:g}": [] for b in BANDS}
        iso_ratio_all: dict[str, list[float]] = {f"{b:g}": [] for b in BANDS}
        iso_ratio_cells: dict[str, list[float]] = {f"{b:g}": [] for b in BANDS}
        for k, xy in enumerate(lonlat(origins_xy)):
            polygons = valhalla.isochrone(xy, list(BANDS))
            for band, poly in zip(BANDS, polygons, strict=True):
                theirs = peers.geodesic_area_m2(poly)
                if theirs <= 0:
                    continue
                mine = iso[(iso["facility_id"] == k) & (iso["minutes"] == band)]
                ring = largest_ring_area(mine.geometry)
                iso_ratio[f"{band:g}"].append(ring / theirs)
                iso_ratio_cells[f"{band:g}"].append(float(mine.geometry.area.sum()) / theirs)
                mine = iso_all[(iso_all["facility_id"] == k) & (iso_all["minutes"] == band)]
                iso_ratio_all[f"{band:g}"].append(float(mine.geometry.area.sum()) / theirs)
        out["valhalla_isochrones_s"] = round(time.perf_counter() - t, 3)
        out["isochrone_cell_m"] = round(cell, 1)
        out["isochrone_area_ratio"] = {
            band: ratio_stats(np.array(values)) for band, values in iso_ratio.items()
        }
        out["isochrone_area_ratio_cells_only"] = {
            band: ratio_stats(np.array(values)) for band, values in iso_ratio_cells.items()
        }
        out["isochrone_area_ratio_every_cell"] = {
            band: ratio_stats(np.array(values)) for band, values in iso_ratio_all.items()
        }

        # continuity: homes 20 m apart, each to five destinations
        twin_rng = np.random.default_rng(args.seed + 1)
        twins = sample_homes(net, args.twins, twin_rng, 50.0)
        angle = twin_rng.uniform(0, 2 * np.pi, args.twins)
        partners = twins + 20.0 * np.column_stack([np.cos(angle), np.sin(angle)])
        dests = homes[-5:]
        both = np.vstack([twins, partners])
        mine = travel_times(net, both, dests).seconds
        gap = np.abs(mine[: args.twins] - mine[args.twins :])
        gap = gap[np.isfinite(gap)]
        o_both, _ = osrm.table(lonlat(both), lonlat(dests))
        o_gap = np.abs(o_both[: args.twins] - o_both[args.twins :])
        o_gap = o_gap[np.isfinite(o_gap)]
        out["continuity"] = {
            "pairs": int(gap.size),
            "within_1_min": float((gap <= 60).mean()) if gap.size else float("nan"),
            "max_gap_s": float(gap.max()) if gap.size else float("nan"),
            "osrm_within_1_min": float((o_gap <= 60).mean()) if o_gap.size else float("nan"),
            "osrm_max_gap_s": float(o_gap.max()) if o_gap.size else float("nan"),
        }
    out["total_s"] = round(time.perf_counter() - t0, 1)
    return out


def checks(row: dict[str, Any]) -> dict[str, bool]:
    vo = row["valhalla_osrm"]["median"]
    eo = row["engine_osrm"]["median"]
    iso15 = row["isochrone_area_ratio"]["15"]["median"]
    cont = row["continuity"]
    rules = row["rules"]
    return {
        "median between V/O-0.05 and 1.05": bool(vo - 0.05 <= eo <= 1.05),
        "isochrone 15 min ratio <= 1.5": bool(iso15 <= 1.5),
        "twins >= 99.5 % within 1 min": bool(cont["within_1_min"] >= 0.995),
        "no twin gap beyond 3 min": bool(cont["max_gap_s"] <= 180.0),
        "0 paths through a restriction": rules["through_restriction"] == 0,
        "0 paths through a barrier": rules["through_barrier"] == 0,
    }


def print_tables(rows: list[dict[str, Any]]) -> None:
    def f(v: float, d: int = 3) -> str:
        return f"{v:.{d}f}" if isinstance(v, float) and np.isfinite(v) else "  -  "

    print("\nTimes (pairs of at least 1 min answered by all three engines)")
    print(
        f"{'extract':<32} {'pairs':>6} {'E/O med':>8} {'p10':>6} {'p90':>6} "
        f"{'E/V med':>8} {'p10':>6} {'p90':>6} {'V/O med':>8} {'rho O':>6} {'rho V':>6}"
    )
    for r in rows:
        eo, ev, vo = r["engine_osrm"], r["engine_valhalla"], r["valhalla_osrm"]
        print(
            f"{r['extract']:<32} {r['pairs_compared']:>6} {f(eo['median']):>8} {f(eo['p10']):>6} "
            f"{f(eo['p90']):>6} {f(ev['median']):>8} {f(ev['p10']):>6} {f(ev['p90']):>6} "
            f"{f(vo['median']):>8} {f(r['spearman_osrm']):>6} {f(r['spearman_valhalla']):>6}"
        )
    print("\nIsochrone area, ours / Valhalla (median over origins)")
    print(
        f"{'extract':<32} {'cell m':>7} {'10 min':>7} {'15 min':>7} {'20 min':>7}"
        f"  road cells as drawn: {'10':>5} {'15':>5} {'20':>5}"
        f"  every cell: {'10':>5} {'15':>5} {'20':>5}"
    )
    for r in rows:
        a = r["isochrone_area_ratio"]
        b = r["isochrone_area_ratio_cells_only"]
        c = r["isochrone_area_ratio_every_cell"]
        print(
            f"{r['extract']:<32} {r['isochrone_cell_m']:>7.0f} {f(a['10']['median'], 2):>7} "
            f"{f(a['15']['median'], 2):>7} {f(a['20']['median'], 2):>7}"
            f"                       {f(b['10']['median'], 2):>5} {f(b['15']['median'], 2):>5} "
            f"{f(b['20']['median'], 2):>5}"
            f"              {f(c['10']['median'], 2):>5} {f(c['15']['median'], 2):>5} "
            f"{f(c['20']['median'], 2):>5}"
        )
    print("\nContinuity: homes 20 m apart, to five destinations")
    print(
        f"{'extract':<32} {'pairs':>6} {'<=1 min':>8} {'max gap s':>10} "
        f"{'OSRM <=1':>9} {'OSRM max':>9}"
    )
    for r in rows:
        c = r["continuity"]
        print(
            f"{r['extract']:<32} {c['pairs']:>6} {c['within_1_min']:>8.4f} {c['max_gap_s']:>10.1f} "
            f"{c['osrm_within_1_min']:>9.4f} {c['osrm_max_gap_s']:>9.1f}"
        )
    print("\nRules: our routes vs the file's restriction relations and blocking barriers")
    print(
        f"{'extract':<32} {'routes':>7} {'restr.':>7} {'barrier':>8} "
        f"{'node-graph paths':>17} {'restr.':>7}"
    )
    for r in rows:
        q = r["rules"]
        print(
            f"{r['extract']:<32} {q['routes_checked']:>7} {q['through_restriction']:>7} "
            f"{q['through_barrier']:>8} {q['node_graph_paths']:>17} "
            f"{q['node_graph_through_restriction']:>7}"
        )
    print("\nBy the road class carrying most of our route's time: engine/OSRM median (share)")
    classes = Counter()
    for r in rows:
        for cls, s in r["by_class"].items():
            classes[cls] += s["n"]
    top = [c for c, _ in classes.most_common(8)]
    print(f"{'extract':<32} " + " ".join(f"{c[:12]:>13}" for c in top))
    for r in rows:
        cells = []
        for c in top:
            s = r["by_class"].get(c)
            cells.append(f"{s['median']:.2f} ({s['share']:.0%})" if s else "-")
        print(f"{r['extract']:<32} " + " ".join(f"{c:>13}" for c in cells))
    print("\nTimings (s)")
    for r in rows:
        print(
            f"{r['extract']:<32} ours matrix {r['ours_matrix_s']}, OSRM {r['osrm_matrix_s']}, "
            f"Valhalla {r['valhalla_matrix_s']}; isochrones ours {r['ours_isochrones_s']}, "
            f"Valhalla {r['valhalla_isochrones_s']}; routes {r['routes_s']}; total {r['total_s']}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--extracts", nargs="*", default=list(EXTRACTS))
    parser.add_argument("--profile", default="france")
    parser.add_argument("--pairs", type=int, default=200, help="homes (pairs = homes²)")
    parser.add_argument("--offset-m", type=float, default=15.0)
    parser.add_argument("--class-pairs", type=int, default=600)
    parser.add_argument("--iso-origins", type=int, default=20)
    parser.add_argument("--cell-m", type=float, default=100.0)
    parser.add_argument("--max-cells", type=int, default=400_000)
    parser.add_argument("--twins", type=int, default=500)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("COVERAGE_CACHE_DIR", tempfile.mkdtemp(prefix="coverage-realism-"))
    binaries = peers.ensure_binaries()
    print(
        f"cores {os.cpu_count()}, profile {args.profile}, OSRM {peers.OSRM_VERSION}, "
        f"Valhalla {peers.VALHALLA_VERSION}"
    )
    rows = []
    for name in args.extracts:
        name = next((e for e in EXTRACTS if e.startswith(name)), name)
        row = one_extract(name, args, binaries)
        rows.append(row)
        print(
            f"{name}: E/O {row['engine_osrm']['median']:.3f}, V/O "
            f"{row['valhalla_osrm']['median']:.3f}, iso15 "
            f"{row['isochrone_area_ratio']['15']['median']:.2f}, twins "
            f"{row['continuity']['within_1_min']:.4f} "
            f"(max {row['continuity']['max_gap_s']:.0f} s), "
            f"restr. {row['rules']['through_restriction']}, {row['total_s']} s",
            flush=True,
        )
    print_tables(rows)
    failed = []
    print("\nAcceptance checks")
    for row in rows:
        for label, passed in checks(row).items():
            if not passed:
                failed.append((row["extract"], label))
        status = "ok" if all(checks(row).values()) else "FAIL"
        print(f"  {row['extract']:<32} {status}")
    for extract, label in failed:
        print(f"  FAIL {extract}: {label}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
