"""One territory cut into chunks of cells on a 2-worker Dask LocalCluster (issue 20).

``coverage run --cluster``: the road network is scattered once to every worker, the
populated cells are joined to the roads and their nearest-facility times read in
chunks on the workers (:class:`coverage.routing.cluster_nearest.ClusterPoints`).
What is compared with the run in this process: every CSV byte for byte, every
GeoPackage layer, ``summary.json`` but its date, timings and ``cluster`` block,
and each analysis' cell times to 1e-9 s (they are equal).
"""

from __future__ import annotations

import copy
import math
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
from worker_killer import BusyWorkerKiller

from coverage.errors import QueryError
from coverage.routing.cluster_nearest import ClusterPoints

distributed = pytest.importorskip("distributed")


def test_chunks_of_cells_are_checked() -> None:
    for bad in (0, -5, 5_000_001):
        with pytest.raises(QueryError, match="taille des lots de cellules doit être entre 1 et"):
            ClusterPoints.open(None, None, chunk_points=bad)  # refused before any use


def test_the_command_refuses_a_chunk_of_no_cell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from coverage.cli import main

    argv = ["run", "--chunk-cells", "0", "--data", str(tmp_path / "nowhere")]
    assert main([*argv, "-o", str(tmp_path / "out")]) != 0
    assert "--chunk-cells" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_joined_chunks_put_together_are_the_whole_join(gers) -> None:
    from coverage.jobs.network import load_territory_network
    from coverage.routing.snap import SnappedPoints, snap_points

    network = load_territory_network(gers)
    rng = np.random.default_rng(7)
    west, south, east, north = gers.communes.total_bounds
    xy = np.column_stack([rng.uniform(west, east, 3001), rng.uniform(south, north, 3001)])
    whole = snap_points(network, xy, name="points")
    parts = [snap_points(network, xy[i : i + 700], name="points") for i in range(0, 3001, 700)]
    joined = SnappedPoints.concat(parts)
    assert joined.n_points == whole.n_points == 3001
    for name in ("point", "edge", "fraction", "access_s", "proj_x", "proj_y", "too_far", "x", "y"):
        left, right = getattr(joined, name), getattr(whole, name)
        assert left.dtype == right.dtype and np.array_equal(left, right, equal_nan=True), name
    assert np.array_equal(joined.distance_m, whole.distance_m, equal_nan=True)
    again = SnappedPoints.concat(
        [whole.subset(np.arange(0, 1500)), whole.subset(np.arange(1500, 3001))]
    )
    assert np.array_equal(again.point, whole.point) and np.array_equal(again.edge, whole.edge)


# --- on a 2-worker LocalCluster (slow) -----------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    from coverage.cluster import open_client, parse_cluster

    with open_client(parse_cluster("local:2")) as dask_client:
        yield dask_client


def _scenario():
    from coverage.jobs.scenarios import resolve_scenario
    from coverage.scenario import load_scenario

    spec = load_scenario(resolve_scenario("gers"))
    return replace(spec, outputs={**spec.outputs, "map": False})


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder for the module's runs (the road network is built once)."""
    return tmp_path_factory.mktemp("cache")


def _run(out: Path, shared_data: Path, cache: Path, **kwargs):
    from coverage.jobs.run import run_scenario

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COVERAGE_CACHE_DIR", str(cache))
        mp.delenv("COVERAGE_DATA_DIR", raising=False)
        return run_scenario(_scenario(), output_dir=out, data_dir=shared_data, **kwargs)


def _forget_joined_cells(cache: Path) -> None:
    """Empty the cache of joined cells: the next run joins them (on the workers)."""
    folder = cache / "snapped_grids"
    assert any(folder.glob("gers-*.npz")), "the local run did not cache its joined cells"
    shutil.rmtree(folder)


@pytest.fixture(scope="module")
def local_run(shared_data: Path, cache: Path, tmp_path_factory: pytest.TempPathFactory):
    return _run(tmp_path_factory.mktemp("local") / "run", shared_data, cache)


def _without_timings(summary: dict) -> dict:
    """``summary.json`` without what differs from run to run (date, seconds, where it ran)."""
    out = {
        k: v
        for k, v in copy.deepcopy(summary).items()
        if k not in ("created_utc", "timings_s", "cluster")
    }
    report = out["provenance"]["network"]["report"]
    report.pop("build_s"), report.pop("cache_hit")  # the first run built the network
    return out


def _same_as_local(local, other) -> None:
    files = sorted(p.relative_to(local.output_dir) for p in local.output_dir.rglob("*.csv"))
    assert len(files) == 4 * len(local.analyses)  # communes, cantons, EPCI, underserved
    for name in files:
        assert (local.output_dir / name).read_bytes() == (other.output_dir / name).read_bytes(), (
            name
        )
    gpkg_a, gpkg_b = local.output_dir / "results.gpkg", other.output_dir / "results.gpkg"
    layers = [layer for layer, _ in pyogrio.list_layers(gpkg_a) if layer != "layer_styles"]
    assert layers == [layer for layer, _ in pyogrio.list_layers(gpkg_b) if layer != "layer_styles"]
    for layer in layers:
        left = pyogrio.read_dataframe(gpkg_a, layer=layer)
        right = pyogrio.read_dataframe(gpkg_b, layer=layer)
        pd.testing.assert_frame_equal(left.drop(columns="geometry"), right.drop(columns="geometry"))
        assert left.geometry.to_wkb().tolist() == right.geometry.to_wkb().tolist(), layer
    assert _without_timings(local.summary) == _without_timings(other.summary)
    assert local.analyses.keys() == other.analyses.keys()
    for name, analysis in local.analyses.items():
        theirs = other.analyses[name]
        np.testing.assert_allclose(theirs.cell_seconds, analysis.cell_seconds, rtol=0, atol=1e-9)
        assert np.array_equal(np.isnan(theirs.cell_seconds), np.isnan(analysis.cell_seconds))
        assert np.array_equal(theirs.cell_service, analysis.cell_service), name
    joined_a, joined_b = local.analyses, other.analyses
    cells_a = next(iter(joined_a.values())).context.cells
    cells_b = next(iter(joined_b.values())).context.cells
    assert np.array_equal(cells_a.rows, cells_b.rows) and np.array_equal(cells_a.cols, cells_b.cols)
    for name in ("point", "edge", "fraction", "access_s", "too_far"):
        assert np.array_equal(getattr(cells_a.snapped, name), getattr(cells_b.snapped, name)), name


def _task_names(stream) -> list[str]:
    keys = [task["key"][0] if isinstance(task["key"], tuple) else task["key"] for task in stream]
    return [str(key).split("-", 1)[0] for key in keys]  # key: "<function>-<uuid>"


@pytest.mark.slow
def test_chunks_of_cells_on_two_workers_give_the_local_run(
    local_run, client, shared_data: Path, cache: Path, tmp_path: Path
) -> None:
    from distributed import get_task_stream

    told: list[tuple[str, int | None, int | None]] = []

    def progress(step: str, /, *, done: int | None = None, total: int | None = None) -> None:
        told.append((step, done, total))

    _forget_joined_cells(cache)
    with get_task_stream(client) as stream:
        result = _run(tmp_path / "run", shared_data, cache, client=client, progress=progress)
    _same_as_local(local_run, result)
    n_cells = next(iter(result.analyses.values())).context.cells.n_cells
    chunks = math.ceil(n_cells / 20_000)
    assert chunks >= 2, n_cells
    assert result.summary["cluster"] == {
        "scheduler": client.scheduler.address,
        "workers": 2,
        "chunk_cells": 20_000,
        "chunks": chunks,
    }
    names = _task_names(stream.data)
    assert names.count("snap_chunk") == chunks  # the cells were joined on the workers
    assert names.count("times_of_chunk") == chunks * len(result.analyses)
    assert {task["worker"] for task in stream.data} <= set(client.scheduler_info()["workers"])
    from coverage.routing.cluster_nearest import SNAP_STEP, TIMES_STEP

    assert [done for step, done, _ in told if step == SNAP_STEP] == list(range(chunks + 1))
    times = [done for step, done, _ in told if step == TIMES_STEP]
    assert times == list(range(chunks + 1)) * len(result.analyses)


@pytest.mark.slow
def test_a_worker_killed_mid_run_changes_nothing(
    local_run, client, shared_data: Path, cache: Path, tmp_path: Path
) -> None:
    killer = BusyWorkerKiller(client)
    pids, killed = killer.pids, killer.killed
    killer.start()
    _forget_joined_cells(cache)
    result = _run(tmp_path / "run", shared_data, cache, client=client, chunk_cells=4_000)
    finished = time.monotonic()
    killer.join()
    assert killed, "no worker was ever busy"
    when, worker, keys = killed[0]
    assert when < finished and keys  # it held a chunk when it died: that chunk ran elsewhere
    assert pids[worker] not in client.run(os.getpid).values()  # the nanny started a new one
    assert result.summary["cluster"]["chunk_cells"] == 4_000
    _same_as_local(local_run, result)
