"""Benchmark of the HTTP API under load: mixed reads, an anonymous heavy client, memory.

Starts the real server (``coverage serve``: uvicorn, one process, 127.0.0.1)
on the Gers bundle with a temporary state folder and a write token, waits for
its default run (the map pages need it), then measures:

1. **mixed reads**: ``--clients`` concurrent clients (50) for ``--seconds``, each
   on its own keep-alive connection, asking in turn for the territory summary,
   the communes GeoJSON, the coverage of each service kind, an isochrone already
   computed and the coverage map page (gzip, as browsers ask): latency p50, p95,
   p99, throughput and errors (anything but 200);
2. **the same with an anonymous heavy client**: one more client, without the
   token, asking again and again for the heaviest isochrone the schema allows
   (20 points x 6 bands up to 120 min, new points each time, so never cached):
   its answers (429 expected: over the anonymous budget) and the readers'
   throughput against step 1;
3. **the same with an anonymous client at the budget's edge**: isochrones of cost
   1 800 (allowed without the token), new each time; its bucket lets some
   through, the others get 429 and it waits their Retry-After;
   (after steps 2 and 3 the readers run alone again: each step's share of
   throughput is against the mean of the runs alone just before and just
   after it, so that a drift of the machine's load is not taken for it);
4. **memory**: the server's resident memory (VmRSS) after 1 000 distinct
   isochrone requests (with the token, 4 at a time) and 300 distinct coverage
   thresholds.

Usage::

    python benchmarks/api.py [--data ../shared/data] [--clients 50] [--seconds 20]

Targets (issue 15), checked at the end (exit status 1 when one is missed):
mixed reads p95 < 200 ms with 0 errors; the heavy anonymous requests refused
or bounded, and the readers keep at least 80 % of their throughput while
they run; resident memory < 600 MB after the distinct queries.

The load generator is a bare asyncio HTTP/1.1 client (one connection per
client, bodies read to their last byte and not parsed): on this 2-core
machine an ``httpx.AsyncClient`` tops out near 150 requests/s and its own
queueing would dominate the latencies. The client shares the 2 cores with
the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
TOKEN = "jeton-du-banc-d-essai-0123456789"
HEAVIEST_BANDS = [20, 40, 60, 80, 100, 120]
TARGET_P95_MS = 200.0
TARGET_SHARE = 0.80
TARGET_RSS_MB = 600.0


# --- the server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data: Path, state: Path, port: int) -> subprocess.Popen[bytes]:
    """``coverage serve`` of this checkout in a child process."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "COVERAGE_API_STATE_DIR": str(state),
        "COVERAGE_API_TOKEN": TOKEN,
    }
    command = [sys.executable, "-m", "coverage.cli", "serve", "--port", str(port)]
    return subprocess.Popen(
        [*command, "--data", str(data), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout_s: float = 300) -> float:
    """Wait for the server and its default run; the seconds it took."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout_s:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise SystemExit(f"the server stopped: {err}")
        try:
            health = httpx.get(f"{base}/health", timeout=2).json()
            if health["runs"].get("done", 0) >= 1 and health["running"] is None:
                return time.perf_counter() - start
            if health["runs"].get("failed", 0):
                raise SystemExit(f"the default run failed: {health}")
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(0.5)
    raise SystemExit("the server or its default run did not finish in time")


def rss_mb(pid: int) -> float:
    """Resident memory of a process (MB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- a bare HTTP/1.1 client --------------------------------------------------------------------


def request_bytes(
    host: str, method: str, target: str, body: bytes | None = None, **headers: str
) -> bytes:
    """A keep-alive HTTP/1.1 request, ready to send."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Accept-Encoding: gzip"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, dict[str, str]]:
    """Send a request, read the whole answer: status and headers."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
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
    return status, headers


@dataclass
class Tally:
    """Latencies and statuses of one group of clients."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    failures: int = 0

    def add(self, status: int, ms: float) -> None:
        self.latencies_ms.append(ms)
        self.statuses[status] = self.statuses.get(status, 0) + 1

    @property
    def errors(self) -> int:
        return self.failures + sum(n for s, n in self.statuses.items() if s != 200)

    def figures(self, seconds: float) -> dict[str, float]:
        ms = np.asarray(self.latencies_ms or [float("nan")])
        return {
            "requests": len(self.latencies_ms),
            "p50_ms": float(np.percentile(ms, 50)),
            "p95_ms": float(np.percentile(ms, 95)),
            "p99_ms": float(np.percentile(ms, 99)),
            "rps": len(self.latencies_ms) / seconds,
            "errors": self.errors,
        }


async def reader_client(
    host: str, port: int, requests: list[bytes], deadline: float, tally: Tally, offset: int
) -> None:
    """One reader: the mixed requests in turn until the deadline."""
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    try:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            status, _ = await exchange(reader, writer, requests[i % len(requests)])
            tally.add(status, (time.perf_counter() - t0) * 1000)
            i += 1
    except (OSError, asyncio.IncompleteReadError):
        tally.failures += 1
    finally:
        writer.close()


async def anonymous_client(
    host: str,
    port: int,
    bodies: Iterator[dict[str, object]],
    deadline: float,
    tally: Tally,
    *,
    wait: bool,
) -> None:
    """An anonymous client posting new isochrones until the deadline.

    With ``wait`` it sleeps the ``Retry-After`` of a 429, then opens a new connection
    (the server closes one idle for 5 s).
    """
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            body = json.dumps(next(bodies)).encode()
            t0 = time.perf_counter()
            try:
                status, headers = await exchange(
                    reader, writer, request_bytes(f"{host}:{port}", "POST", "/isochrones", body)
                )
            except (OSError, asyncio.IncompleteReadError):
                tally.failures += 1
                break
            tally.add(status, (time.perf_counter() - t0) * 1000)
            if wait and status == 429 and "retry-after" in headers:
                pause = min(float(headers["retry-after"]), deadline - time.perf_counter())
                await asyncio.sleep(max(0.0, pause))
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


async def load(
    host: str,
    port: int,
    requests: list[bytes],
    clients: int,
    seconds: float,
    attacker: tuple[Iterator[dict[str, object]], bool] | None = None,
) -> tuple[dict[str, float], Tally | None]:
    """The readers for ``seconds``, with an anonymous attacker beside them if given."""
    readers = Tally()
    attack = Tally() if attacker is not None else None
    deadline = time.perf_counter() + seconds
    tasks = [reader_client(host, port, requests, deadline, readers, i) for i in range(clients)]
    if attacker is not None and attack is not None:
        bodies, wait = attacker
        tasks.append(anonymous_client(host, port, bodies, deadline, attack, wait=wait))
    start = time.perf_counter()
    await asyncio.gather(*tasks)
    return readers.figures(time.perf_counter() - start), attack


# --- the workload ------------------------------------------------------------------------------


def commune_points(base: str) -> list[tuple[float, float]]:
    """A point inside each commune of the Gers (lon, lat)."""
    import shapely.geometry

    layer = httpx.get(f"{base}/territories/gers/communes", timeout=60).json()
    return [
        (p.x, p.y)
        for p in (
            shapely.geometry.shape(f["geometry"]).representative_point() for f in layer["features"]
        )
    ]


def mixed_requests(base: str, host: str, points: list[tuple[float, float]]) -> list[bytes]:
    """The readers' requests: summary, communes, coverage per kind, a cached isochrone, the map."""
    summary = httpx.get(f"{base}/territories/gers", timeout=60).json()
    kinds = sorted({r["kind"] for r in summary["services"] if r["status"] == "open"})
    cached = json.dumps(
        {"points": [{"lon": points[0][0], "lat": points[0][1]}], "bands_minutes": [10, 20, 30]}
    ).encode()
    targets = [
        ("GET", "/territories/gers", None),
        ("GET", "/territories/gers/communes", None),
        *[("GET", f"/territories/gers/coverage?kind={k}&threshold=30", None) for k in kinds],
        ("POST", "/isochrones", cached),
        ("GET", "/maps/coverage", None),
    ]
    for method, target, body in targets:  # warm every cache; every answer must be a 200
        response = httpx.request(
            method,
            base + target,
            content=body,
            timeout=120,
            headers={"Content-Type": "application/json"} if body else None,
        )
        if response.status_code != 200:
            raise SystemExit(f"{method} {target}: {response.status_code} {response.text[:200]}")
    return [request_bytes(host, m, t, b) for m, t, b in targets]


def heavy_bodies(
    points: list[tuple[float, float]], n_points: int, bands: list[float]
) -> Iterator[dict[str, object]]:
    """New isochrone bodies forever (random points of the communes, never twice the same)."""
    rng = random.Random(15)
    while True:
        chosen = rng.sample(points, n_points)
        yield {
            "points": [
                {"lon": lon + rng.uniform(-1e-3, 1e-3), "lat": lat + rng.uniform(-1e-3, 1e-3)}
                for lon, lat in chosen
            ],
            "bands_minutes": bands,
        }


async def distinct_isochrones(base: str, points: list[tuple[float, float]], count: int) -> int:
    """``count`` isochrone requests never asked before, with the token, 4 at a time."""
    rng = random.Random(1000)
    queries = [
        {
            "points": [
                {"lon": lon + rng.uniform(-2e-3, 2e-3), "lat": lat + rng.uniform(-2e-3, 2e-3)}
            ],
            "bands_minutes": [10, 20, 30],
        }
        for lon, lat in (points[i % len(points)] for i in range(count))
    ]
    failed = 0
    slots = asyncio.Semaphore(4)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=base, timeout=120, headers=auth) as http:

        async def one(body: dict[str, object]) -> None:
            nonlocal failed
            async with slots:
                response = await http.post("/isochrones", json=body)
                failed += response.status_code != 200

        await asyncio.gather(*(one(q) for q in queries))
    return failed


def distinct_thresholds(base: str, count: int) -> int:
    """``count`` coverage thresholds never asked before, with the token."""
    failed = 0
    with httpx.Client(
        base_url=base, timeout=120, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as http:
        for i in range(count):
            params = {"kind": "france_services", "threshold": round(5 + i * 0.37, 2)}
            failed += http.get("/territories/gers/coverage", params=params).status_code != 200
    return failed


# --- the report --------------------------------------------------------------------------------


def line(name: str, f: dict[str, float]) -> str:
    return (
        f"{name}: {f['requests']:.0f} requests, p50 {f['p50_ms']:.1f} ms, "
        f"p95 {f['p95_ms']:.1f} ms, p99 {f['p99_ms']:.1f} ms, {f['rps']:.0f} req/s, "
        f"{f['errors']:.0f} errors"
    )


def attacker_line(name: str, tally: Tally, seconds: float) -> str:
    served = tally.statuses.get(200, 0)
    refused = tally.statuses.get(429, 0)
    other = sum(n for s, n in tally.statuses.items() if s not in (200, 429)) + tally.failures
    ms = np.asarray(tally.latencies_ms or [float("nan")])
    return (
        f"{name}: {len(tally.latencies_ms)} requests in {seconds:.0f} s, {served} served, "
        f"{refused} refused (429), {other} other; median answer {np.median(ms):.1f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each load step")
    parser.add_argument("--isochrones", type=int, default=1000, help="distinct isochrones")
    parser.add_argument("--thresholds", type=int, default=300, help="distinct thresholds")
    args = parser.parse_args(argv)

    port = free_port()
    host = f"127.0.0.1:{port}"
    base = f"http://{host}"
    missed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="coverage-bench-api-") as state:
        proc = start_server(args.data, Path(state), port)
        try:
            ready = wait_ready(base, proc)
            print(
                f"server ready, default run done, in {ready:.1f} s; RSS {rss_mb(proc.pid):.0f} MB"
            )
            points = commune_points(base)
            requests = mixed_requests(base, host, points)
            print(
                f"mixed reads: {len(requests)} requests in turn, {args.clients} clients, "
                f"{args.seconds:g} s per step"
            )

            def readers_alone(label: str) -> dict[str, float]:
                figures, _ = asyncio.run(
                    load("127.0.0.1", port, requests, args.clients, args.seconds)
                )
                print(line(label, figures))
                if figures["p95_ms"] >= TARGET_P95_MS:
                    missed.append(f"{label}: p95 {figures['p95_ms']:.0f} ms >= {TARGET_P95_MS:g}")
                if figures["errors"]:
                    missed.append(f"{label}: {figures['errors']:.0f} errors")
                return figures

            def beside(
                label: str,
                who: str,
                bodies: Iterator[dict[str, object]],
                wait: bool,
                before: dict[str, float],
                after_label: str,
            ) -> tuple[Tally, dict[str, float]]:
                figures, attack = asyncio.run(
                    load("127.0.0.1", port, requests, args.clients, args.seconds, (bodies, wait))
                )
                assert attack is not None
                print(line(label, figures))
                print(attacker_line(f"   {who}", attack, args.seconds))
                after = readers_alone(after_label)
                share = figures["rps"] / ((before["rps"] + after["rps"]) / 2)
                print(f"   readers keep {share:.0%} of their throughput alone (before and after)")
                if share < TARGET_SHARE:
                    missed.append(f"{label}: the readers keep {share:.0%} < {TARGET_SHARE:.0%}")
                if figures["errors"]:
                    missed.append(f"{label}: {figures['errors']:.0f} errors")
                return attack, after

            alone = readers_alone("1. mixed reads")
            heavy, between = beside(
                "2. mixed reads beside the heavy anonymous client",
                "heavy anonymous isochrones (20 x 6 x 120 min)",
                heavy_bodies(points, 20, HEAVIEST_BANDS),
                False,
                alone,
                "   mixed reads alone again",
            )
            if heavy.statuses.get(200, 0):
                missed.append(f"{heavy.statuses[200]} heaviest anonymous isochrones were served")
            beside(
                "3. mixed reads beside an anonymous client at the budget's edge",
                "anonymous isochrones of cost 1 800 (5 x 3 x 120 min)",
                heavy_bodies(points, 5, [40, 80, 120]),  # allowed without the token
                True,
                between,
                "   mixed reads alone again",
            )

            before = rss_mb(proc.pid)
            t0 = time.perf_counter()
            failed = asyncio.run(distinct_isochrones(base, points, args.isochrones))
            after_iso = rss_mb(proc.pid)
            print(
                f"4. {args.isochrones} distinct isochrones in {time.perf_counter() - t0:.0f} s "
                f"({failed} failed): RSS {before:.0f} -> {after_iso:.0f} MB"
            )
            t0 = time.perf_counter()
            failed += distinct_thresholds(base, args.thresholds)
            after = rss_mb(proc.pid)
            print(
                f"   then {args.thresholds} distinct coverage thresholds in "
                f"{time.perf_counter() - t0:.0f} s: RSS {after:.0f} MB"
            )
            if max(after_iso, after) >= TARGET_RSS_MB:
                missed.append(f"RSS {max(after_iso, after):.0f} MB >= {TARGET_RSS_MB:g} MB")
            if failed:
                missed.append(f"{failed} distinct queries failed")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    for miss in missed:
        print(f"target missed: {miss}")
    print("all targets met" if not missed else f"{len(missed)} target(s) missed")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
