"""Scale benchmark (issue 20): serial against a 2-worker Dask LocalCluster, in one run.

(a) Nearest of 100 facilities for 1 million origins (the nodes of the generator's
1 M-node graph, :mod:`coverage.routing.synthetic`): :func:`coverage.routing.matrix.nearest`
in this process, then :func:`coverage.routing.cluster_nearest.nearest_on_cluster` on
``local:2`` (one search, then chunks of 50 000 origins joined to the roads and read
on the workers, the network and the state times scattered once). Prints wall times,
the ratio, the peak memory of each worker and whether both answers are identical
(times to 1e-9 s, the same facility).

(b) A multi-territory run: the Gers cut into its 17 EPCI
(:func:`coverage.layers.split.split_territory`), the France services scenario
run on each (:func:`coverage.jobs.run_many.run_many`), one after the other in
this process, then one task per territory on ``local:2``. A first serial
pass fills the disk cache (road network, population surfaces, joins), then
both timed modes read the same cache (the workers inherit it). Prints
wall times, the ratio, the peak memory of each worker and whether every table
written (per territory and merged) is identical byte for byte.

(c) One territory cut into chunks of cells: the Gers' default scenario (map off)
in this process, then on ``local:2`` (:func:`coverage.jobs.run.run_scenario` with
``client=``: the network scattered once, the populated cells joined to the roads
and their times read in chunks on the workers), for two chunk sizes, each on a
fresh cluster so that a worker's peak memory is that chunk size's. The joined
cells are dropped from the cache before each run (every mode joins them).
Prints wall times, the ratio, the peak memory of each worker and whether every
CSV and every cell time is identical.

Exits 1 when an answer differs.

Usage::

    python benchmarks/scale.py [--part all|nearest|territories|cells] [--nodes 1000000]
        [--facilities 100] [--territories 17] [--chunks 5000,40000] [--data ../shared/data]
        [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _figures import Figures, bracketed_line

from coverage.cluster import open_client, parse_cluster
from coverage.routing.cluster_nearest import nearest_on_cluster
from coverage.routing.matrix import nearest
from coverage.routing.snap import AccessSettings
from coverage.routing.synthetic import synthetic_network


def _peak_rss_mib() -> float:
    """Peak resident memory of this process (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def nearest_part(figures: Figures, n_nodes: int, n_facilities: int) -> bool:
    """(a) nearest facility of every node of the generator's graph; True when identical."""
    net = synthetic_network(n_nodes, seed=1)
    rng = np.random.default_rng(2)
    chosen = rng.choice(net.n_nodes, size=n_facilities, replace=False)
    facilities = np.column_stack([net.node_x[chosen], net.node_y[chosen]])
    access = AccessSettings()
    origins = np.column_stack([net.node_x, net.node_y])
    print(
        f"(a) graphe : {net.n_nodes} nœuds, {net.turn_graph.n_states} états ; "
        f"{len(origins)} origines, {n_facilities} équipements"
    )

    start = time.perf_counter()
    local = nearest(net, origins, facilities, access=access)
    serial_s = time.perf_counter() - start
    print(f"en série : {serial_s:.2f} s, mémoire de pointe {_peak_rss_mib():.0f} Mio")

    with open_client(parse_cluster("local:2")) as client:
        start = time.perf_counter()
        seconds, facility = nearest_on_cluster(client, net, origins, facilities, access=access)
        cluster_s = time.perf_counter() - start
        worker_mib = client.run(_peak_rss_mib)
    print(f"local:2 : {cluster_s:.2f} s (rapport {cluster_s / serial_s:.2f})")
    for address, mib in sorted(worker_mib.items()):
        print(f"  worker {address} : mémoire de pointe {mib:.0f} Mio")

    finite = np.isfinite(local.seconds)
    same = (
        np.array_equal(np.isnan(local.seconds), np.isnan(seconds))
        and np.array_equal(np.isinf(local.seconds), np.isinf(seconds))
        and bool(np.all(np.abs(seconds[finite] - local.seconds[finite]) <= 1e-9))
        and np.array_equal(facility[finite], local.facility[finite])
    )
    print(f"réponses identiques (secondes à 1e-9 s, équipement) : {'oui' if same else 'NON'}")
    figures.add(
        f"plus proche de {n_facilities} pour {len(origins)} origines, local:2",
        cluster_s,
        "s",
        peer=serial_s,
        peer_name="en série",
        target="résultat identique",
        met=same,
    )
    figures.add("(a) mémoire de pointe par worker (max)", max(worker_mib.values()), "Mio")
    return bool(same)


FS_SCENARIO = """
[scenario]
name = "france_services"
label = "France services à 20 et 30 minutes"
territory = "gers"

[thresholds]
minutes = [20, 30]

[[analyses]]
name = "france_services"
label = "France services"
kinds = ["france_services"]
reference_minutes = 30
"""


def _tables(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.csv"))}


def territories_part(figures: Figures, data: Path, count: int) -> bool:
    """(b) one run over ``count`` EPCI of the Gers, serial then local:2; True when identical."""
    from coverage.jobs.run_many import plan_jobs, run_many
    from coverage.layers.split import split_territory
    from coverage.scenario import load_scenario

    work = Path(tempfile.mkdtemp(prefix="coverage-scale-"))
    parts = split_territory("gers", work / "data", data_dir=data / "gers")
    parts = sorted(parts, key=lambda p: -p.population)[:count]
    (work / "fs.toml").write_text(FS_SCENARIO, "utf-8")
    spec = load_scenario(work / "fs.toml")
    spec = replace(spec, outputs={**spec.outputs, "map": False})
    jobs = plan_jobs([spec], [p.name for p in parts])
    print(
        f"(b) {len(jobs)} territoires (EPCI du Gers), {sum(p.communes for p in parts)} communes, "
        f"{sum(p.population for p in parts)} habitants"
    )
    results = {}
    os.environ["COVERAGE_CACHE_DIR"] = str(work / "cache")  # inherited by the workers
    start = time.perf_counter()
    run_many(jobs, output_dir=work / "cold", data_dir=work / "data")
    cold_s = time.perf_counter() - start
    print(f"en série, cache vide (remplit le cache des deux mesures) : {cold_s:.2f} s")
    start = time.perf_counter()
    results["serial"] = run_many(jobs, output_dir=work / "serial", data_dir=work / "data")
    serial_s = time.perf_counter() - start
    print(f"en série : {serial_s:.2f} s")
    with open_client(parse_cluster("local:2")) as client:
        start = time.perf_counter()
        results["cluster"] = run_many(
            jobs, output_dir=work / "cluster", data_dir=work / "data", client=client
        )
        cluster_s = time.perf_counter() - start
        worker_mib = client.run(_peak_rss_mib)
    print(f"local:2 : {cluster_s:.2f} s (rapport {cluster_s / serial_s:.2f})")
    for address, mib in sorted(worker_mib.items()):
        print(f"  worker {address} : mémoire de pointe {mib:.0f} Mio")
    a, b = _tables(work / "serial"), _tables(work / "cluster")
    failed = sum(len(r.failed) for r in results.values())
    same = a.keys() == b.keys() and all(a[k] == b[k] for k in a) and failed == 0
    print(
        f"tableaux identiques ({len(a)} fichiers CSV, par territoire et réunis) : "
        f"{'oui' if same else 'NON'} ; calculs en erreur : {failed}"
    )
    figures.add(
        f"{len(jobs)} territoires, un calcul chacun, local:2",
        cluster_s,
        "s",
        peer=serial_s,
        peer_name="en série",
        target="tableaux identiques",
        met=same,
    )
    figures.add("(b) mémoire de pointe par worker (max)", max(worker_mib.values()), "Mio")
    return bool(same)


def cells_part(figures: Figures, data: Path, chunks: list[int]) -> bool:
    """(c) the Gers in chunks of cells, serial then local:2 per chunk size; True when identical."""
    import shutil

    from coverage.jobs.run import run_scenario
    from coverage.jobs.scenarios import resolve_scenario
    from coverage.scenario import load_scenario

    work = Path(tempfile.mkdtemp(prefix="coverage-scale-cells-"))
    os.environ["COVERAGE_CACHE_DIR"] = str(work / "cache")
    spec = load_scenario(resolve_scenario("gers"))
    spec = replace(spec, outputs={**spec.outputs, "map": False})

    def one(name: str, **kwargs):
        shutil.rmtree(work / "cache" / "snapped_grids", ignore_errors=True)
        start = time.perf_counter()
        result = run_scenario(spec, output_dir=work / name, data_dir=data / "gers", **kwargs)
        return result, time.perf_counter() - start

    one("warm-up")  # builds the road network into the cache every mode reads
    serial, serial_s = one("serial")
    n_cells = next(iter(serial.analyses.values())).context.cells.n_cells
    print(
        f"(c) le Gers découpé en lots de cellules : {n_cells} cellules peuplées, "
        f"{len(serial.analyses)} analyses"
    )
    print(f"en série : {serial_s:.2f} s")
    ok = True
    for chunk in chunks:
        with open_client(parse_cluster("local:2")) as client:
            result, cluster_s = one(f"cluster-{chunk}", client=client, chunk_cells=chunk)
            worker_mib = client.run(_peak_rss_mib)
        a, b = _tables(work / "serial"), _tables(work / f"cluster-{chunk}")
        same = a.keys() == b.keys() and all(a[k] == b[k] for k in a)
        for name, analysis in serial.analyses.items():
            theirs = result.analyses[name]
            same &= bool(
                np.array_equal(theirs.cell_seconds, analysis.cell_seconds, equal_nan=True)
                and np.array_equal(theirs.cell_service, analysis.cell_service)
            )
        tasks = result.summary["cluster"]["chunks"]
        print(
            f"local:2, lots de {chunk} cellules ({tasks} lots) : {cluster_s:.2f} s "
            f"(rapport {cluster_s / serial_s:.2f}) ; identiques (CSV, temps des cellules) : "
            f"{'oui' if same else 'NON'}"
        )
        for address, mib in sorted(worker_mib.items()):
            print(f"  worker {address} : mémoire de pointe {mib:.0f} Mio")
        figures.add(
            f"Gers en lots de {chunk} cellules, local:2",
            cluster_s,
            "s",
            peer=serial_s,
            peer_name="en série",
            target="résultats identiques",
            met=same,
        )
        figures.add(
            f"(c) mémoire de pointe par worker, lots de {chunk}", max(worker_mib.values()), "Mio"
        )
        ok &= same
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("all", "nearest", "territories", "cells"), default="all")
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--facilities", type=int, default=100)
    parser.add_argument("--territories", type=int, default=17)
    parser.add_argument("--chunks", default="5000,40000", help="cell chunk sizes of (c)")
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    figures = Figures("scale.py", line=bracketed_line)
    ok = True
    if args.part in ("all", "nearest"):
        ok &= nearest_part(figures, args.nodes, args.facilities)
    if args.part in ("all", "territories"):
        ok &= territories_part(figures, args.data, args.territories)
    if args.part in ("all", "cells"):
        ok &= cells_part(figures, args.data, [int(c) for c in args.chunks.split(",")])
    if args.json is not None:
        figures.write_json(args.json)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
