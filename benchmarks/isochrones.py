"""Isochrone benchmark: our polygons against Valhalla's and against the previous path, one run.

Cases, each timed in CPU seconds (``time.process_time``, every thread of the
process) and wall seconds:

- **Imperial County** (OSM extract, our network built from the same file as
  Valhalla's tiles): 100 origins on nodes of the network, bands 10/20/30 min, on
  the cells a road crosses (cells of ``--cell-m``, at least the size that keeps
  the grid under 400 000 cells, centre within half a cell diagonal of a road: the
  grid of ``benchmarks/realism.py``);
- **the Gers** (the bundle's numbered-road network, 200 m populated cells, the
  population as weights, as in ``coverage run``): 100 commune points; Valhalla
  runs on the same roads (``roads_gers_travelmapping.osm`` turned into a .pbf);
- for each case **the previous path** (the cell outlines polygonised with
  ``rasterio.features.shapes``, one shapely object per ring, simplified at 0.4
  cell and repaired: :func:`rasterio_band_polygons`, kept here as the "before"
  reference) on the same travel times, and a check that both paths' polygons
  hold the very same cell centres, with the same ``cells`` and ``weight``;
- **Valhalla** (``valhalla_service`` on 127.0.0.1, ``auto`` costing): the same
  100 points x 3 contours (``polygons=true``), one request per point, its wall
  time (the server's CPU is another process: wall is the comparable figure);
- **the API**: the CPU of one new-point ``POST /isochrones`` (one point, bands
  10/20/30, the Gers) in-process through ``fastapi.testclient``, and the
  throughput of new-point requests from 10 concurrent clients against
  ``coverage serve`` (uvicorn) on 127.0.0.1, points never asked before.

Targets (issue 18): Imperial 100 x 3 < 2 s CPU and >= 5x faster than Valhalla
(wall); one-point API isochrone < 15 ms CPU; >= 60 new-point requests/s from 10
clients. Exit status 1 when one is missed.

Usage::

    python benchmarks/isochrones.py --data ../shared/data [--json isochrones.json]
        [--skip-valhalla] [--skip-server]

Valhalla comes from ``benchmarks/peers.py`` (``COVERAGE_PEERS_DIR``).
Data: © OpenStreetMap contributors (ODbL 1.0); Travel Mapping for the Gers roads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import rasterio.features
import shapely
from rasterio.transform import Affine

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.append(str(REPO / "benchmarks"))  # after REPO: benchmarks/api.py is not the api package

from _figures import Figures, objective_line, timed  # noqa: E402

from coverage.routing.isochrones import isochrones  # noqa: E402
from coverage.routing.matrix import LIMIT_TOLERANCE_S  # noqa: E402
from coverage.routing.snap import AccessSettings  # noqa: E402
from coverage.routing.surface import grid_for_bounds, snap_grid  # noqa: E402

BANDS = (10.0, 20.0, 30.0)
N_ORIGINS = 100
TARGET_IMPERIAL_CPU_S = 2.0
TARGET_VALHALLA_RATIO = 5.0
TARGET_API_CPU_MS = 15.0
TARGET_RPS = 60.0
CLIENTS = 10
TOKEN = "jeton-du-banc-d-essai-0123456789"
FIGURES = Figures("isochrones", line=objective_line)
"""The figures of this run, printed as they are recorded."""


def rasterio_band_polygons(
    seconds: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    transform: Affine,
    bands: list[float],
    weight: np.ndarray | None,
) -> list[dict[str, Any]]:
    """The previous band polygons (before issue 18), kept as the reference.

    The cells within each band are polygonised with ``rasterio.features.shapes``
    over their bounding window (4-connectivity), each ring made a shapely object,
    the staircase simplified at 0.4 cell (topology preserved) and repaired when
    invalid. Returns ``minutes``, ``cells``, ``weight`` and ``geometry`` per band.
    """
    within = np.isfinite(seconds) & (seconds <= bands[-1] * 60.0 + LIMIT_TOLERANCE_S)
    if not within.any():
        return []
    rows, cols, seconds = rows[within], cols[within], seconds[within]
    w = weight[within] if weight is not None else None
    r0, c0 = int(rows.min()), int(cols.min())
    height, width = int(rows.max()) - r0 + 1, int(cols.max()) - c0 + 1
    window_transform = transform @ Affine.translation(c0, r0)
    tolerance = 0.4 * abs(transform.a)
    out: list[dict[str, Any]] = []
    for band in bands:
        in_band = seconds <= band * 60.0 + LIMIT_TOLERANCE_S
        if not in_band.any():
            continue
        grid = np.zeros((height, width), dtype=np.uint8)
        grid[rows[in_band] - r0, cols[in_band] - c0] = 1
        parts = [
            shapely.geometry.shape(geom)
            for geom, value in rasterio.features.shapes(
                grid, mask=grid.astype(bool), transform=window_transform, connectivity=4
            )
            if value == 1
        ]
        polygon = shapely.MultiPolygon(parts) if len(parts) > 1 else parts[0]
        polygon = shapely.simplify(polygon, tolerance, preserve_topology=True)
        if not shapely.is_valid(polygon):
            polygon = shapely.make_valid(polygon)
        out.append(
            {
                "minutes": band,
                "cells": int(in_band.sum()),
                "weight": float(w[in_band].sum()) if w is not None else float("nan"),
                "geometry": polygon,
            }
        )
    return out


def per_origin_times(net: Any, cells: Any, origins: np.ndarray) -> list[np.ndarray]:
    """Each origin's seconds to every cell (the surface of that origin alone, 30 min)."""
    from coverage.routing.surface import travel_time_surface

    return [
        travel_time_surface(net, origins[k : k + 1], cells, max_minutes=BANDS[-1]).seconds[
            cells.rows, cells.cols
        ]
        for k in range(len(origins))
    ]


def compare_paths(
    case: str, net: Any, cells: Any, origins: np.ndarray, weights: np.ndarray | None, ours: Any
) -> None:
    """Time the previous polygon path on the same times and check both hold the same cells."""
    times = per_origin_times(net, cells, origins)
    cell_weight = weights[cells.rows, cells.cols] if weights is not None else None
    cpu, _, before = timed(
        lambda: [
            rasterio_band_polygons(
                t, cells.rows, cells.cols, cells.transform, list(BANDS), cell_weight
            )
            for t in times
        ]
    )
    x, y = cells.centres()
    mismatches = 0
    for k, rows in enumerate(before):
        mine = ours[ours["facility_id"] == k].sort_values("minutes")
        if len(mine) != len(rows):
            mismatches += 1
            continue
        for row, new in zip(rows, mine.itertuples(index=False), strict=True):
            same = (
                row["cells"] == new.cells
                and (weights is None or row["weight"] == new.weight)
                and np.array_equal(
                    shapely.contains_xy(row["geometry"], x, y),
                    shapely.contains_xy(new.geometry, x, y),
                )
            )
            mismatches += not same
    FIGURES.add(
        f"{case} : chemin précédent (rasterio), polygones seuls",
        cpu,
        "s CPU",
        target="mêmes centres de cellules, cellules et poids",
        met=mismatches == 0,
    )
    print(f"    polygones différents du chemin précédent : {mismatches}", flush=True)


def valhalla_case(
    case: str, pbf: Path, lonlat: np.ndarray, ours_wall: float, *, target: bool
) -> None:
    """Valhalla's isochrones for the same points and bands (wall time)."""
    import peers

    binaries = peers.ensure_binaries()
    prepared = peers.prepare_valhalla(pbf, binaries)
    with peers.ValhallaServer(prepared, binaries) as valhalla:
        valhalla.isochrone(lonlat[0], list(BANDS))  # warm the tiles
        start = time.perf_counter()
        polygons = [valhalla.isochrone(p, list(BANDS)) for p in lonlat]
        theirs = time.perf_counter() - start
    empty = sum(poly.is_empty for row in polygons for poly in row)
    FIGURES.add(
        f"{case} : 100 x 3 isochrones, temps écoulé contre Valhalla",
        ours_wall,
        "s",
        peer=theirs,
        peer_name="Valhalla",
        target=f">= {TARGET_VALHALLA_RATIO:g}x plus rapide que Valhalla" if target else "",
        met=(theirs / ours_wall >= TARGET_VALHALLA_RATIO) if target else None,
    )
    print(f"    polygones vides chez Valhalla : {empty}", flush=True)


def to_lonlat(crs: str, xy: np.ndarray) -> np.ndarray:
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def imperial(args: argparse.Namespace) -> None:
    from coverage.routing.network import load_network

    pbf = args.data / "osm" / "imperial-county-ca-2024-06-05.osm.pbf"
    net = load_network(pbf)
    _ = net.turn_graph, net.snap_index
    bounds = (net.node_x.min(), net.node_y.min(), net.node_x.max(), net.node_y.max())
    span = (bounds[2] - bounds[0]) * (bounds[3] - bounds[1])
    cell = max(args.cell_m, float(np.sqrt(span / 400_000)))
    transform, shape = grid_for_bounds(bounds, cell_size_m=cell)
    cells = snap_grid(
        net, transform, shape, access=AccessSettings(max_distance_m=cell / np.sqrt(2))
    )
    rng = np.random.default_rng(18)
    nodes = rng.choice(net.n_nodes, size=N_ORIGINS, replace=False)
    origins = np.column_stack([net.node_x[nodes], net.node_y[nodes]])
    print(f"Imperial : {net.n_nodes} nœuds, {cells.n_cells} cellules de {cell:.0f} m", flush=True)
    isochrones(net, origins[:2], cells, bands_minutes=BANDS, merged=False)  # warm caches
    cpu, wall, ours = timed(
        lambda: isochrones(net, origins, cells, bands_minutes=BANDS, merged=False)
    )
    FIGURES.add(
        "Imperial : 100 x 3 isochrones (routage + polygones)",
        cpu,
        "s CPU",
        target=f"< {TARGET_IMPERIAL_CPU_S:g} s CPU",
        met=cpu < TARGET_IMPERIAL_CPU_S,
    )
    FIGURES.add("Imperial : 100 x 3 isochrones, temps écoulé", wall, "s")
    compare_paths("Imperial", net, cells, origins, None, ours)
    if not args.skip_valhalla:
        valhalla_case("Imperial", pbf, to_lonlat(net.info.crs, origins), wall, target=True)


def gers_pbf(data: Path) -> Path:
    """The Gers numbered roads as a .pbf for Valhalla (converted once, with pyosmium)."""
    import osmium

    out = Path(tempfile.gettempdir()) / "coverage-bench" / "roads_gers_travelmapping.osm.pbf"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp.pbf")
        tmp.unlink(missing_ok=True)
        with osmium.SimpleWriter(str(tmp)) as writer:
            for obj in osmium.FileProcessor(str(data / "gers" / "roads_gers_travelmapping.osm")):
                writer.add(obj)
        tmp.replace(out)
    return out


def gers(args: argparse.Namespace) -> None:
    from coverage.jobs.network import load_territory_network
    from coverage.layers import load_territory
    from coverage.layers.population import population_surface

    territory = load_territory("gers", data_dir=args.data)
    net = load_territory_network(territory)
    surface = population_surface(territory)
    cells = snap_grid(net, surface.transform, surface.shape, mask=surface.values > 0)
    points = np.column_stack([territory.communes["point_x"], territory.communes["point_y"]])
    origins = points[::4][:N_ORIGINS]
    print(f"Gers : {net.n_nodes} nœuds, {cells.n_cells} cellules peuplées", flush=True)

    def run() -> Any:
        return isochrones(
            net, origins, cells, bands_minutes=BANDS, merged=False, weights=surface.values
        )

    isochrones(net, origins[:2], cells, bands_minutes=BANDS, merged=False)  # warm caches
    cpu, wall, ours = timed(run)
    FIGURES.add("Gers : 100 x 3 isochrones (routage + polygones)", cpu, "s CPU")
    FIGURES.add("Gers : 100 x 3 isochrones, temps écoulé", wall, "s")
    compare_paths("Gers", net, cells, origins, surface.values, ours)
    if not args.skip_valhalla:
        lonlat = to_lonlat(net.info.crs, origins)
        valhalla_case("Gers", gers_pbf(args.data), lonlat, wall, target=False)


def new_point_bodies(seed: int) -> Any:
    """Isochrone bodies at points never asked before (random points near Auch)."""
    rng = random.Random(seed)
    while True:
        yield {
            "points": [
                {"lon": 0.585 + rng.uniform(-0.12, 0.12), "lat": 43.646 + rng.uniform(-0.1, 0.1)}
            ],
            "bands_minutes": list(BANDS),
        }


def api_in_process(args: argparse.Namespace) -> None:
    """CPU of the route's own work per new-point request, in this process.

    What ``POST /isochrones`` does for a body never asked before, without the HTTP
    stack (whose client side would be counted too with ``fastapi.testclient``):
    body validation, points checked and projected, isochrones, GeoJSON, hash and
    gzip of the cached body.
    """
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.cache import FAST_GZIP_LEVEL, CachedBody
    from api.routes import isochrones as route
    from api.routes.territories import GEOJSON
    from api.schemas import IsochroneRequest
    from api.settings import ApiSettings

    settings = ApiSettings(
        data_dir=args.data,
        state_dir=Path(tempfile.mkdtemp(prefix="iso-bench-")),
        token=TOKEN,
        default_run=False,
    )
    bodies = new_point_bodies(1)
    app = create_app(settings)
    with TestClient(app) as client:
        client.post("/isochrones", json=next(bodies), headers={"Authorization": f"Bearer {TOKEN}"})
        core = app.state.core

        def one() -> None:
            body = IsochroneRequest(**next(bodies))
            territory = core.default_territory()
            bands = route._check_limits(core, body)
            xy = route._points_xy(territory, body, core.settings.point_margin_m)
            CachedBody.build(
                route._collection(territory, body, xy, bands), GEOJSON, level=FAST_GZIP_LEVEL
            )

        for _ in range(5):  # warm the caches
            one()
        n = args.api_requests
        cpu = time.process_time()
        for _ in range(n):
            one()
        per_request_ms = (time.process_time() - cpu) / n * 1000
    FIGURES.add(
        "API : une isochrone de point nouveau (3 bandes, Gers), travail de la route",
        per_request_ms,
        "ms CPU",
        target=f"< {TARGET_API_CPU_MS:g} ms CPU",
        met=per_request_ms < TARGET_API_CPU_MS,
    )


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _sequential(host: str, port: int, count: int) -> int:
    """``count`` new-point requests one after the other on one connection; the 200s."""
    bodies = new_point_bodies(4)
    reader, writer = await asyncio.open_connection(host, port)
    ok = 0
    try:
        for _ in range(count):
            body = json.dumps(next(bodies)).encode()
            ok += (
                await exchange(reader, writer, request_bytes(f"{host}:{port}", "/isochrones", body))
                == 200
            )
    finally:
        writer.close()
    return ok


def request_bytes(host: str, target: str, body: bytes) -> bytes:
    """A keep-alive HTTP/1.1 POST with the token, ready to send."""
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {host}\r\nAccept-Encoding: gzip\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    """Send a request and read the whole answer (as ``benchmarks/api.py``); its status."""
    writer.write(request)
    await writer.drain()
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return int(head[0].split(" ", 2)[1])


async def _clients(host: str, port: int, seconds: float) -> tuple[int, int, float]:
    bodies = new_point_bodies(2)
    deadline = time.perf_counter() + seconds
    ok = failed = 0

    async def one_client() -> None:
        nonlocal ok, failed
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                body = json.dumps(next(bodies)).encode()
                status = await exchange(
                    reader, writer, request_bytes(f"{host}:{port}", "/isochrones", body)
                )
                if status == 200:
                    ok += 1
                else:
                    failed += 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(CLIENTS)))
    return ok, failed, time.perf_counter() - start


def api_server(args: argparse.Namespace) -> None:
    """New-point requests per second from 10 clients against ``coverage serve``."""
    import httpx

    port = _free_port()
    state = Path(tempfile.mkdtemp(prefix="iso-bench-state-"))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "COVERAGE_API_STATE_DIR": str(state),
        "COVERAGE_API_TOKEN": TOKEN,
        "COVERAGE_API_DEFAULT_RUN": "false",  # no scenario run beside the measure
    }
    command = [sys.executable, "-m", "coverage.cli", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--data", str(args.data), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.perf_counter() + 300
        bodies = new_point_bodies(3)
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"le serveur s'est arrêté : {proc.stderr.read().decode()[-500:]}")
            try:
                r = httpx.post(
                    f"{base}/isochrones",
                    json=next(bodies),
                    headers={"Authorization": f"Bearer {TOKEN}"},
                    timeout=60,
                )
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() > deadline:
                raise SystemExit("le serveur n'a pas répondu à temps")
            time.sleep(0.5)
        for _ in range(5):  # warm
            httpx.post(
                f"{base}/isochrones",
                json=next(bodies),
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=60,
            )
        cpu = process_cpu_s(proc.pid)
        sequential_ok = asyncio.run(_sequential("127.0.0.1", port, args.api_requests))
        server_ms = (process_cpu_s(proc.pid) - cpu) / args.api_requests * 1000
        ok, failed, seconds = asyncio.run(_clients("127.0.0.1", port, args.seconds))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    FIGURES.add(
        "API : une isochrone de point nouveau, CPU du serveur uvicorn par requête",
        server_ms,
        "ms CPU",
        target=f"< {TARGET_API_CPU_MS:g} ms CPU",
        met=server_ms < TARGET_API_CPU_MS and sequential_ok == args.api_requests,
    )
    rps = ok / seconds
    FIGURES.add(
        f"API : isochrones de points nouveaux, {CLIENTS} clients, uvicorn",
        rps,
        "req/s",
        target=f">= {TARGET_RPS:g} req/s, 0 erreur",
        met=rps >= TARGET_RPS and failed == 0,
    )
    print(f"    réponses : {ok} en 200, {failed} en erreur, en {seconds:.1f} s", flush=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--cell-m", type=float, default=100.0)
    parser.add_argument("--api-requests", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0, help="durée de la charge")
    parser.add_argument("--skip-valhalla", action="store_true")
    parser.add_argument("--skip-server", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="écrire les chiffres en JSON")
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} cœurs ; temps CPU = tous les fils du processus", flush=True)
    imperial(args)
    gers(args)
    api_in_process(args)
    if not args.skip_server:
        api_server(args)
    if args.json is not None:
        FIGURES.write_json(args.json)
    missed = FIGURES.missed()
    for name in missed:
        print(f"objectif manqué : {name}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
