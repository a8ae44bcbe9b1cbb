"""Runs on a 2-worker Dask LocalCluster equal the local run, and survive a killed worker.

Issue 20 (first part): ``--cluster`` values, and the nearest facility of many
origins split into chunks over the workers (:mod:`coverage.routing.cluster_nearest`).
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from worker_killer import BusyWorkerKiller

from coverage.cluster import ClusterSpec, open_client, parse_cluster
from coverage.errors import ConfigError
from coverage.routing.matrix import nearest

distributed = pytest.importorskip("distributed")


def test_cluster_values() -> None:
    assert parse_cluster(None) == ClusterSpec("process")
    assert parse_cluster("local:2") == ClusterSpec("local", workers=2)
    assert parse_cluster("tcp://10.0.0.5:8786") == ClusterSpec(
        "address", address="tcp://10.0.0.5:8786"
    )
    for bad in ("local:0", "local:999", "local", "http://x:1", "tcp://x", "local:2; rm"):
        with pytest.raises(ConfigError, match="--cluster"):
            parse_cluster(bad)


@pytest.fixture(scope="module")
def points(gers):
    """20 000 origins and 60 facilities drawn over the Gers (a fixed seed)."""
    rng = np.random.default_rng(1)
    xmin, ymin, xmax, ymax = gers.communes.total_bounds
    origins = np.column_stack([rng.uniform(xmin, xmax, 20_000), rng.uniform(ymin, ymax, 20_000)])
    facilities = np.column_stack([rng.uniform(xmin, xmax, 60), rng.uniform(ymin, ymax, 60)])
    return origins, facilities


@pytest.fixture(scope="module")
def client():
    with open_client(parse_cluster("local:2")) as dask_client:
        yield dask_client


def assert_same_nearest(local, seconds, facility) -> None:
    np.testing.assert_array_equal(np.isnan(local.seconds), np.isnan(seconds))
    np.testing.assert_array_equal(np.isinf(local.seconds), np.isinf(seconds))
    finite = np.isfinite(local.seconds)
    assert finite.sum() > 15_000  # most origins reach a facility within 45 min
    np.testing.assert_allclose(seconds[finite], local.seconds[finite], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(facility[finite], local.facility[finite])


@pytest.mark.slow
def test_nearest_on_two_workers_equals_the_local_run(gers_network, points, client) -> None:
    from coverage.routing.cluster_nearest import nearest_on_cluster

    origins, facilities = points
    local = nearest(gers_network, origins, facilities, max_minutes=45)
    seconds, facility = nearest_on_cluster(
        client, gers_network, origins, facilities, max_minutes=45, chunk_origins=3_000
    )
    assert_same_nearest(local, seconds, facility)


@pytest.mark.slow
def test_a_worker_killed_mid_run_changes_nothing(gers_network, points, client) -> None:
    from coverage.routing.cluster_nearest import nearest_on_cluster

    origins, facilities = points
    local = nearest(gers_network, origins, facilities, max_minutes=45)
    killer = BusyWorkerKiller(client)
    pids, killed = killer.pids, killer.killed
    killer.start()
    # 200 origins per task: 100 tasks, several seconds of work, so the kill lands mid-run
    seconds, facility = nearest_on_cluster(
        client, gers_network, origins, facilities, max_minutes=45, chunk_origins=200
    )
    finished = time.monotonic()
    killer.join()
    assert killed, "no worker was ever busy"
    when, worker, keys = killed[0]
    assert when < finished and keys, "the worker was killed after the run ended"
    assert pids[worker] not in client.run(os.getpid).values()  # the nanny started a new one
    assert_same_nearest(local, seconds, facility)
