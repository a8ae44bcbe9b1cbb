"""Benchmark of the HTTP API: cached coverage layer under 50 clients, and isochrones of new points.

Starts ``coverage serve`` (uvicorn, one process) on 127.0.0.1 in a child
process with a fresh state folder, waits for it, then measures:

1. ``GET /territories/gers/coverage?kind=france_services&threshold=30&format=geojson``
   (the commune coverage layer, cached after the first request): 50 concurrent
   clients (httpx, asyncio) each sending ``--requests`` requests back to back;
   latency p50/p95/p99 and throughput, with gzip (as browsers ask) and without;
2. ``POST /isochrones`` for one point never asked before (bands 10, 20, 30):
   ``--points`` sequential requests at different communes' points; latency
   median, p95 and max.

Usage::

    python benchmarks/api.py --data ../shared/data [--clients 50] [--requests 20]

Targets (issue 7): cached GET of a commune coverage layer p95 < 100 ms with 50
concurrent clients; ``POST /isochrones`` for one new point < 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
LAYER = "/territories/gers/coverage"
LAYER_PARAMS = {"kind": "france_services", "threshold": 30, "format": "geojson"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data: Path, state: Path, port: int) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("coverage")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "coverage.cli"]
    env = {
        **os.environ,
        "COVERAGE_API_STATE_DIR": str(state),
        "COVERAGE_API_DEFAULT_RUN": "false",
    }
    return subprocess.Popen(
        [*command, "serve", "--port", str(port), "--data", str(data), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout_s: float = 180) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout_s:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise SystemExit(f"the server stopped: {err}")
        try:
            httpx.get(f"{base}/health", timeout=2).raise_for_status()
            return time.perf_counter() - start
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("the server did not start in time")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


async def _raw_get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, int]:
    """One GET on a keep-alive connection: status and body size (Content-Length)."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status, length


async def crowd(
    base: str,
    clients: int,
    requests: int,
    *,
    gzip: bool,
    params: dict[str, object] | None = None,
    client: str = "raw",
) -> dict[str, float]:
    """``clients`` concurrent clients, each sending ``requests`` GETs of the layer.

    ``raw``: one keep-alive HTTP/1.1 connection per client on asyncio streams, the
    body read to its last byte and nothing parsed (the client costs almost nothing,
    so the figures are the server's); ``httpx``: an ``httpx.AsyncClient`` (on this
    2-core machine its own overhead dominates: about 150 requests/s at most).
    """
    params = LAYER_PARAMS if params is None else params
    encoding = "gzip" if gzip else "identity"
    latencies: list[float] = []
    url = httpx.URL(base)
    target = LAYER + "?" + str(httpx.QueryParams(params))

    if client == "raw":
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
            f"Accept-Encoding: {encoding}\r\nConnection: keep-alive\r\n\r\n"
        ).encode()

        async def one_client() -> None:
            reader, writer = await asyncio.open_connection(url.host, url.port)
            try:
                for _ in range(requests):
                    t0 = time.perf_counter()
                    status, _size = await _raw_get(reader, writer, request)
                    latencies.append(time.perf_counter() - t0)
                    if status != 200:
                        raise SystemExit(f"GET {target}: status {status}")
            finally:
                writer.close()

        start = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        wall = time.perf_counter() - start
    else:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as http:

            async def one_httpx_client() -> None:
                for _ in range(requests):
                    t0 = time.perf_counter()
                    response = await http.get(target, headers={"Accept-Encoding": encoding})
                    latencies.append(time.perf_counter() - t0)
                    response.raise_for_status()

            start = time.perf_counter()
            await asyncio.gather(*(one_httpx_client() for _ in range(clients)))
            wall = time.perf_counter() - start
    ms = [v * 1000 for v in latencies]
    return {
        "requests": len(ms),
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms),
        "rps": len(ms) / wall,
    }


def isochrone_points(base: str, count: int) -> list[tuple[float, float]]:
    """Representative points of ``count`` communes spread over the territory."""
    import shapely.geometry

    layer = httpx.get(f"{base}/territories/gers/communes", timeout=60).json()
    points = [
        shapely.geometry.shape(f["geometry"]).representative_point() for f in layer["features"]
    ]
    step = max(1, len(points) // count)
    return [(p.x, p.y) for p in points[::step][:count]]


def isochrone_timings(base: str, points: list[tuple[float, float]]) -> list[float]:
    timings = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for i, (lon, lat) in enumerate(points):
            body = {
                "points": [{"lon": lon, "lat": lat, "id": f"p{i}"}],
                "bands_minutes": [10, 20, 30],
            }
            t0 = time.perf_counter()
            response = client.post("/isochrones", json=body)
            response.read()
            timings.append((time.perf_counter() - t0) * 1000)
            response.raise_for_status()
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20, help="requests per client")
    parser.add_argument("--points", type=int, default=20, help="isochrone requests")
    parser.add_argument(
        "--client", choices=["raw", "httpx"], default="raw", help="load generator (see crowd())"
    )
    args = parser.parse_args(argv)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as state:
        proc = start_server(args.data, Path(state), port)
        try:
            ready_s = wait_ready(base, proc)
            print(f"server ready in {ready_s:.1f} s (territory, network, population loaded once)")
            t0 = time.perf_counter()
            first = httpx.get(f"{base}{LAYER}", params=LAYER_PARAMS, timeout=60)
            first.raise_for_status()
            print(
                f"first (uncached) GET of the layer: {(time.perf_counter() - t0) * 1000:.0f} ms, "
                f"{len(first.content) / 1024:.0f} KiB GeoJSON"
            )
            for gzip in (True, False):
                figures = asyncio.run(
                    crowd(base, args.clients, args.requests, gzip=gzip, client=args.client)
                )
                print(
                    f"cached GET, {args.clients} clients ({args.client}), "
                    f"{'gzip' if gzip else 'identity'}: "
                    f"{figures['requests']} requests, p50 {figures['p50_ms']:.1f} ms, "
                    f"p95 {figures['p95_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, "
                    f"max {figures['max_ms']:.1f} ms, {figures['rps']:.0f} req/s"
                )
            points = isochrone_points(base, args.points + 1)
            isochrone_timings(base, points[:1])  # first request pays for lazy imports
            timings = isochrone_timings(base, points[1:])
            print(
                f"POST /isochrones, one new point, bands 10/20/30 min, {len(timings)} points: "
                f"median {statistics.median(timings):.0f} ms, "
                f"p95 {percentile(timings, 95):.0f} ms, max {max(timings):.0f} ms"
            )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
