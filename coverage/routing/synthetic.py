"""Synthetic road-like networks for scale tests and benchmarks (seeded, 10 k to 2 M nodes).

The generator imitates what :mod:`coverage.routing.network` builds from
OpenStreetMap for a rural territory:

- a slow local mesh: junctions on a jittered square grid (``junction_spacing_m``),
  linked to their four neighbours, with a share of links removed
  (``drop_fraction``) so that the mesh has T-junctions and gaps, a share of
  one-way links (``oneway_fraction``) and cul-de-sacs hanging off junctions
  (``spur_fraction``);
- fast arterials over it: every ``arterial_every``-th row and column of links is
  kept whole and driven at ``arterial_kph`` instead of ``local_kph``;
- shape nodes along every link, so that no edge is longer than
  ``max_edge_m`` (as the network builder splits long edges to keep snapping
  accurate), which makes most nodes have exactly two neighbours.

Only the largest strongly connected component is kept, as for real networks.
The defaults were set so that the share of nodes left after contraction
(:mod:`coverage.routing.core`) falls within that of the real extracts built by
the loader (0.31 Yuba, 0.39 Rutland, 0.41 Andorra, 0.43 Imperial; 0.36 here)
with about 2.4 directed edges per node (2.2–2.4 for the real ones): the
benchmarks then measure what a real network would cost.
Coordinates are metres (EPSG:2154 by default, placed in the Gers' area).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.csgraph import connected_components

from coverage.errors import QueryError
from coverage.routing.graph import NetworkInfo, RoadNetwork, network_from_edges

MIN_NODES = 100
MAX_NODES = 5_000_000


def synthetic_network(
    n_nodes: int,
    *,
    seed: int = 0,
    junction_spacing_m: float = 320.0,
    max_edge_m: float = 300.0,
    arterial_every: int = 8,
    local_kph: float = 50.0,
    arterial_kph: float = 90.0,
    drop_fraction: float = 0.3,
    oneway_fraction: float = 0.05,
    spur_fraction: float = 0.25,
    origin_xy: tuple[float, float] = (450_000.0, 6_250_000.0),
    crs: str = "EPSG:2154",
) -> RoadNetwork:
    """Generate a hierarchical road-like network of about ``n_nodes`` nodes.

    Parameters
    ----------
    n_nodes
        Target number of nodes (the result is within a few per cent).
    seed
        Random seed: the same seed gives the same network.
    junction_spacing_m
        Mean distance between neighbouring junctions of the local mesh.
    max_edge_m
        Longest edge; links are split by shape nodes beyond it.
    arterial_every
        One row and one column of links in this many are fast arterials.
    local_kph, arterial_kph
        Speeds of local links and arterials.
    drop_fraction
        Share of local links removed from the mesh.
    oneway_fraction
        Share of the remaining local links that are one-way.
    spur_fraction
        Share of junctions with a dead-end spur.
    origin_xy
        Coordinates of the grid's south-west corner.
    crs
        CRS recorded in the network's info.

    Returns
    -------
    RoadNetwork
        ``info.source_kind == "synthetic"``, parameters in ``info.report``.

    Raises
    ------
    QueryError
        If a parameter is out of range.
    """
    if not isinstance(n_nodes, int | np.integer) or not MIN_NODES <= n_nodes <= MAX_NODES:
        raise QueryError(
            f"n_nodes doit être un entier entre {MIN_NODES} et {MAX_NODES}, reçu {n_nodes!r}"
        )
    for name, value in (
        ("junction_spacing_m", junction_spacing_m),
        ("max_edge_m", max_edge_m),
        ("local_kph", local_kph),
        ("arterial_kph", arterial_kph),
    ):
        if not np.isfinite(value) or value <= 0:
            raise QueryError(f"{name} doit être positif, reçu {value}")
    for name, value in (
        ("drop_fraction", drop_fraction),
        ("oneway_fraction", oneway_fraction),
        ("spur_fraction", spur_fraction),
    ):
        if not 0 <= value < 1:
            raise QueryError(f"{name} doit être dans [0, 1), reçu {value}")
    if arterial_every < 1:
        raise QueryError(f"arterial_every doit être >= 1, reçu {arterial_every}")

    params = {
        "seed": int(seed),
        "junction_spacing_m": junction_spacing_m,
        "max_edge_m": max_edge_m,
        "arterial_every": arterial_every,
        "local_kph": local_kph,
        "arterial_kph": arterial_kph,
        "drop_fraction": drop_fraction,
        "oneway_fraction": oneway_fraction,
        "spur_fraction": spur_fraction,
    }
    # nodes per junction, measured on a small grid, sets the grid side
    probe_side = 40
    probe = _build(probe_side, params, origin_xy)
    per_junction = probe[0].size / probe_side**2
    side = max(4, int(round(np.sqrt(n_nodes / per_junction))))
    x, y, tail, head, seconds, length = _build(side, params, origin_xy)
    info = NetworkInfo(
        source=f"synthetic:{n_nodes}:seed={seed}",
        source_kind="synthetic",
        profile="synthetic",
        crs=crs,
        report={"generator": params, "grid_side": side, "target_nodes": int(n_nodes)},
    )
    net = network_from_edges(tail, head, seconds, length, x, y, info=info)
    return _largest_scc(net)


def _build(
    side: int, params: dict, origin_xy: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(params["seed"])
    spacing = params["junction_spacing_m"]
    k = params["arterial_every"]
    ii, jj = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    jx = origin_xy[0] + jj.ravel() * spacing + rng.uniform(-0.3, 0.3, side * side) * spacing
    jy = origin_xy[1] + ii.ravel() * spacing + rng.uniform(-0.3, 0.3, side * side) * spacing
    idx = (ii * side + jj).ravel()
    i_r, j_r = ii.ravel(), jj.ravel()

    # links: horizontal (i, j)-(i, j+1) and vertical (i, j)-(i+1, j)
    h = j_r < side - 1
    v = i_r < side - 1
    a = np.concatenate([idx[h], idx[v]])
    b = np.concatenate([idx[h] + 1, idx[v] + side])
    arterial = np.concatenate([i_r[h] % k == 0, j_r[v] % k == 0])
    keep = arterial | (rng.random(a.size) >= params["drop_fraction"])
    a, b, arterial = a[keep], b[keep], arterial[keep]
    xs, ys = [jx], [jy]
    n = side * side

    # cul-de-sacs
    n_spur = int(params["spur_fraction"] * n)
    if n_spur:
        root = rng.choice(n, n_spur, replace=False)
        angle = rng.uniform(0, 2 * np.pi, n_spur)
        reach = rng.uniform(0.3, 0.9, n_spur) * spacing
        xs.append(jx[root] + reach * np.cos(angle))
        ys.append(jy[root] + reach * np.sin(angle))
        a = np.concatenate([a, root])
        b = np.concatenate([b, n + np.arange(n_spur)])
        arterial = np.concatenate([arterial, np.zeros(n_spur, dtype=bool)])
        n += n_spur
    x_all, y_all = np.concatenate(xs), np.concatenate(ys)

    # split links into edges of at most max_edge_m with shape nodes
    link_len = np.hypot(x_all[b] - x_all[a], y_all[b] - y_all[a])
    pieces = np.maximum(1, np.ceil(link_len / params["max_edge_m"]).astype(np.int64))
    n_shape = int((pieces - 1).sum())
    link_of_piece = np.repeat(np.arange(a.size), pieces)
    first_piece = np.concatenate([[0], np.cumsum(pieces)[:-1]])
    k_in_link = np.arange(link_of_piece.size) - first_piece[link_of_piece]
    # node ids: shape node (link, k) for 1 <= k < pieces
    shape_base = n + np.concatenate([[0], np.cumsum(pieces - 1)[:-1]])

    def node_at(link: np.ndarray, kk: np.ndarray) -> np.ndarray:
        is_a = kk == 0
        is_b = kk == pieces[link]
        out = shape_base[link] + kk - 1
        out = np.where(is_a, a[link], out)
        return np.where(is_b, b[link], out)

    u = node_at(link_of_piece, k_in_link)
    w = node_at(link_of_piece, k_in_link + 1)
    has_shape = pieces > 1
    sl = np.repeat(np.arange(a.size)[has_shape], pieces[has_shape] - 1)
    sk = np.arange(n_shape) - np.repeat(shape_base[has_shape] - n, pieces[has_shape] - 1) + 1
    sfrac = sk / pieces[sl]
    sx = x_all[a[sl]] + sfrac * (x_all[b[sl]] - x_all[a[sl]])
    sy = y_all[a[sl]] + sfrac * (y_all[b[sl]] - y_all[a[sl]])
    x_all = np.concatenate([x_all, sx])
    y_all = np.concatenate([y_all, sy])

    piece_len = link_len[link_of_piece] / pieces[link_of_piece]
    kph = np.where(arterial[link_of_piece], params["arterial_kph"], params["local_kph"])
    piece_s = piece_len / (kph / 3.6)
    oneway_link = ~arterial & (rng.random(a.size) < params["oneway_fraction"])
    two = ~oneway_link[link_of_piece]
    tail = np.concatenate([u, w[two]])
    head = np.concatenate([w, u[two]])
    seconds = np.concatenate([piece_s, piece_s[two]])
    length = np.concatenate([piece_len, piece_len[two]])
    return x_all, y_all, tail, head, seconds, length


def _largest_scc(net: RoadNetwork) -> RoadNetwork:
    n_comp, labels = connected_components(net.csr, directed=True, connection="strong")
    if n_comp == 1:
        return net
    big = np.argmax(np.bincount(labels))
    keep = labels == big
    remap = np.full(net.n_nodes, -1, dtype=np.int64)
    remap[keep] = np.arange(int(keep.sum()))
    tail = np.repeat(np.arange(net.n_nodes), np.diff(net.indptr))
    head = net.indices.astype(np.int64)
    ek = keep[tail] & keep[head]
    report = dict(net.info.report)
    report["scc_dropped_nodes"] = int((~keep).sum())
    info = NetworkInfo(**{**net.info.__dict__, "report": report})
    return network_from_edges(
        remap[tail[ek]],
        remap[head[ek]],
        net.seconds[ek],
        net.length_m[ek],
        net.node_x[keep],
        net.node_y[keep],
        net.node_id[keep],
        info=info,
    )
