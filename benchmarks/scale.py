"""Scale benchmark (issue 20, first part): serial against a 2-worker Dask LocalCluster.

Nearest of 100 facilities for 1 million origins (the nodes of the generator's
1 M-node graph, :mod:`coverage.routing.synthetic`): :func:`coverage.routing.matrix.nearest`
in this process, then :func:`coverage.routing.cluster_nearest.nearest_on_cluster` on
``local:2`` (one search, then chunks of 50 000 origins joined to the roads and read
on the workers, the network and the state times scattered once). Prints wall times,
the ratio, the peak memory of each worker and whether both answers are identical
(times to 1e-9 s, the same facility). Exits 1 when they differ.

Usage::

    python benchmarks/scale.py [--nodes 1000000] [--facilities 100] [--json PATH]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--facilities", type=int, default=100)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    figures = Figures("scale.py", line=bracketed_line)
    net = synthetic_network(args.nodes, seed=1)
    rng = np.random.default_rng(2)
    chosen = rng.choice(net.n_nodes, size=args.facilities, replace=False)
    facilities = np.column_stack([net.node_x[chosen], net.node_y[chosen]])
    access = AccessSettings()
    origins = np.column_stack([net.node_x, net.node_y])
    print(
        f"graphe : {net.n_nodes} nœuds, {net.turn_graph.n_states} états ; "
        f"{len(origins)} origines, {args.facilities} équipements"
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
        f"plus proche de {args.facilities} pour {len(origins)} origines, local:2",
        cluster_s,
        "s",
        peer=serial_s,
        peer_name="en série",
        target="résultat identique",
        met=same,
    )
    figures.add("mémoire de pointe par worker (max)", max(worker_mib.values()), "Mio")
    if args.json is not None:
        figures.write_json(args.json)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
