"""Speed-profile calibration against OSRM and Valhalla: how the ``france`` numbers were chosen.

The realistic profile must put our car times *between* Valhalla's and OSRM's on
real extracts (issue 13: engine/OSRM median in [Valhalla/OSRM - 0.05, 1.05]).
This script measures, for any profile file, the median engine/OSRM and
engine/Valhalla ratios per extract and per road class carrying most of the
route's time, on homes drawn along the roads (as ``benchmarks/realism.py``).
The peers' matrices are computed once per extract and kept in
``COVERAGE_PEERS_DIR/calibration-<extract>-<homes>-<seed>.npz``, so trying a
profile costs only our own network build and matrix.

Usage::

    python benchmarks/calibrate.py --profile coverage/routing/profiles/france.toml \\
        [--profile other.toml ...] [--extracts andorra rutland] [--homes 200]

The calibration of the built-in ``france`` profile, its targets and residuals
are written up in ``docs/speed-profile.md`` (section "Calibration").
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import Transformer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import peers  # noqa: E402
from realism import EXTRACTS, MIN_PAIR_S, main_class, sample_homes  # noqa: E402

from coverage.routing.matrix import travel_times  # noqa: E402
from coverage.routing.network import load_network  # noqa: E402
from coverage.routing.paths import routes  # noqa: E402


def peer_matrices(
    name: str, pbf: Path, homes: int, seed: int, binaries: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Homes (EPSG of the free-flow network) and the OSRM and Valhalla matrices, cached."""
    cache = peers.default_cache_dir() / f"calibration-{name}-{homes}-{seed}.npz"
    if cache.is_file():
        with np.load(cache) as data:
            return data["homes"], data["osrm"], data["valhalla"]
    reference = load_network(pbf, profile="free-flow")
    xy = sample_homes(reference, homes, np.random.default_rng(seed), 15.0)
    to_lonlat = Transformer.from_crs(reference.info.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(xy[:, 0], xy[:, 1])
    ll = np.column_stack([lon, lat])
    with peers.OsrmServer(peers.prepare_osrm(pbf, binaries), binaries) as osrm:
        o, _ = osrm.table(ll, ll)
    with peers.ValhallaServer(peers.prepare_valhalla(pbf, binaries), binaries) as valhalla:
        v, _ = valhalla.matrix(ll, ll)
    np.savez(cache, homes=xy, osrm=o, valhalla=v)
    return xy, o, v


def evaluate(profile: str, name: str, pbf: Path, data: tuple, sample: int) -> dict[str, Any]:
    homes, osrm, valhalla = data
    net = load_network(pbf, profile=profile)
    ours = travel_times(net, homes, homes).seconds
    ok = ~np.eye(len(homes), dtype=bool) & np.isfinite(ours) & np.isfinite(osrm)
    ok &= np.isfinite(valhalla) & (osrm >= MIN_PAIR_S)
    eo = ours[ok] / osrm[ok]
    ev = ours[ok] / valhalla[ok]
    vo = valhalla[ok] / osrm[ok]
    pairs = np.argwhere(ok)
    rng = np.random.default_rng(0)
    pairs = pairs[rng.choice(len(pairs), size=min(sample, len(pairs)), replace=False)]
    origins = np.unique(pairs[:, 0])
    found = routes(net, homes[origins], homes)
    index = {int(o): k for k, o in enumerate(origins)}
    by_class: dict[str, list[float]] = {}
    for i, j in pairs:
        route = found[index[int(i)]][int(j)]
        if route is None:
            continue
        by_class.setdefault(main_class(net, route), []).append(float(ours[i, j] / osrm[i, j]))
    return {
        "extract": name,
        "pairs": int(ok.sum()),
        "eo": float(np.median(eo)),
        "ev": float(np.median(ev)),
        "vo": float(np.median(vo)),
        "classes": {c: (float(np.median(v)), len(v)) for c, v in by_class.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--profile", action="append", default=None)
    parser.add_argument("--extracts", nargs="*", default=list(EXTRACTS))
    parser.add_argument("--homes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--class-sample", type=int, default=400)
    args = parser.parse_args()
    os.environ.setdefault("COVERAGE_CACHE_DIR", tempfile.mkdtemp(prefix="coverage-calib-"))
    profiles = args.profile or ["france"]
    binaries = peers.ensure_binaries()
    data = {}
    for name in args.extracts:
        name = next((e for e in EXTRACTS if e.startswith(name)), name)
        pbf = args.data / "osm" / f"{name}.osm.pbf"
        data[name] = (pbf, peer_matrices(name, pbf, args.homes, args.seed, binaries))
    for profile in profiles:
        t0 = time.perf_counter()
        rows = [evaluate(profile, n, pbf, d, args.class_sample) for n, (pbf, d) in data.items()]
        print(f"\nprofile {profile} ({time.perf_counter() - t0:.0f} s)")
        print(
            f"{'extract':<32} {'pairs':>6} {'E/O':>6} {'E/V':>6} {'V/O':>6} {'target':>13}  classes"
        )
        for r in rows:
            lo = r["vo"] - 0.05
            flag = "ok" if lo <= r["eo"] <= 1.05 else "OUT"
            classes = ", ".join(
                f"{c} {m:.2f}/{n}"
                for c, (m, n) in sorted(r["classes"].items(), key=lambda kv: -kv[1][1])[:6]
            )
            print(
                f"{r['extract']:<32} {r['pairs']:>6} {r['eo']:>6.3f} {r['ev']:>6.3f} "
                f"{r['vo']:>6.3f} {lo:>5.3f}-1.05 {flag:>3}  {classes}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
