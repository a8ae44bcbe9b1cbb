"""``coverage place`` sweeps on a 2-worker Dask LocalCluster equal the local run (issue 20).

The curves, the trade-off and the sensitivity make one Dask task per MIP solve
(:mod:`coverage.jobs.placement_questions`). What is compared: every field of the
written tables but ``temps_resolution_s`` (the solve's own wall time), as the
CSV text writes it; every solve compared is a proven optimum, and HiGHS runs
single-threaded with a fixed seed, so that the same model gives the same plan in
any process (the local run twice gives the same tables: checked below).
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from worker_killer import BusyWorkerKiller

from coverage.cli import main
from coverage.cluster import open_client, parse_cluster
from coverage.jobs import placement_questions as questions

distributed = pytest.importorskip("distributed")

TIMING = "temps_resolution_s"
SWEEP_FILES = ("courbe_sites.csv", "courbe_seuil.csv", "sensibilite.csv")
OPTIONS = {"solver": "highs", "time_limit_s": 120.0, "mip_gap": 0.0}


def test_place_refuses_a_bad_cluster_before_reading_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["place", "--cluster", "bogus", "--data", str(tmp_path / "nowhere"), "--no-map"]
    assert main([*argv, "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "--cluster 'bogus' non reconnu" in err
    assert "local:N" in err
    assert not (tmp_path / "out").exists()


def test_place_names_a_bad_cluster_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COVERAGE_CLUSTER", "local:0")
    assert main(["place", "--data", str(tmp_path / "nowhere"), "-o", str(tmp_path / "o")]) == 1
    assert "$COVERAGE_CLUSTER 'local:0' : le nombre de workers" in capsys.readouterr().err


# --- on a 2-worker LocalCluster (slow) -----------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    with open_client(parse_cluster("local:2")) as dask_client:
        yield dask_client


def _place(out: Path, shared_data: Path, cache: Path, **kwargs):
    """The Gers placement (16 sites, cantons, 20 min) with its sweeps, without the map."""
    from coverage.jobs.place import place

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COVERAGE_CACHE_DIR", str(cache))
        mp.delenv("COVERAGE_DATA_DIR", raising=False)
        return place(
            "gers",
            sites=16,
            threshold_minutes=20,
            data_dir=shared_data,
            output_dir=out,
            write_map=False,
            written_plan=False,
            alternatives=0,
            curve="1-6",  # from the 3 open sites: 3, 4, 5, 6
            curve_minutes="15,20,25",
            sensitivity=True,
            **kwargs,
        )


@pytest.fixture(scope="module")
def local_study(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("place-local")
    return _place(base / "placement", shared_data, base / "cache")


def _rows(path: Path) -> list[list[str]]:
    """The CSV's fields as written, the solve-time column left out."""
    text = path.read_text("utf-8-sig")
    delimiter = ";" if ";" in text.splitlines()[0] else ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    timing = [i for i, name in enumerate(rows[0]) if name.startswith(TIMING)]
    assert len(timing) == 1, rows[0]
    return [[v for i, v in enumerate(row) if i != timing[0]] for row in rows]


def _questions(folder: Path) -> dict:
    """placement.json's ``questions`` block without its timings."""
    block = json.loads((folder / "placement.json").read_text("utf-8"))["questions"]
    block = {k: v for k, v in block.items() if not k.endswith("_s")}
    block["sensitivity"] = [
        {k: v for k, v in row.items() if k != TIMING} for row in block["sensitivity"]
    ]
    return block


def _frame_without_timing(frame):
    return frame.drop(columns=[TIMING]).to_dict(orient="records")


@pytest.mark.slow
def test_the_local_run_is_deterministic(local_study, shared_data: Path, tmp_path: Path) -> None:
    """Twice in this process: the same tables (else comparing with the cluster means nothing)."""
    again = _place(tmp_path / "placement", shared_data, tmp_path / "cache")
    for name in SWEEP_FILES:
        assert _rows(again.output_dir / name) == _rows(local_study.output_dir / name), name


@pytest.mark.slow
def test_place_sweeps_on_two_workers_equal_the_local_run(
    local_study, client, shared_data: Path, tmp_path: Path
) -> None:
    from distributed import get_task_stream

    told: list[tuple[str, int | None, int | None]] = []

    def progress(step: str, /, *, done: int | None = None, total: int | None = None) -> None:
        told.append((step, done, total))

    with get_task_stream(client) as stream:
        study = _place(
            tmp_path / "placement",
            shared_data,
            tmp_path / "cache",
            client=client,
            progress=progress,
        )
    local = local_study.output_dir
    curve = _rows(local / "courbe_sites.csv")
    assert [row[0] for row in curve[1:]] == ["3", "4", "5", "6"]
    assert len(_rows(local / "courbe_seuil.csv")) == 1 + 3
    assert len(_rows(local / "sensibilite.csv")) == 1 + 4
    for name in SWEEP_FILES:
        rows = _rows(local / name)
        status = rows[0].index(next(h for h in rows[0] if h.lower().startswith("statut")))
        assert {row[status] for row in rows[1:]} == {"optimal"}, name  # proven: deterministic
        assert _rows(study.output_dir / name) == rows, name
    assert _questions(study.output_dir) == _questions(local)
    # one task per solve ran on the workers: 4 + 3 curve points, 4 sensitivity variants
    names = [
        task["key"][0] if isinstance(task["key"], tuple) else task["key"] for task in stream.data
    ]
    prefixes = [str(name).split("-", 1)[0] for name in names]  # key: "<function>-<uuid>"
    assert prefixes.count("_curve_point") == 7
    assert prefixes.count("_sensitivity_point") == 4
    workers = {task["worker"] for task in stream.data}
    assert workers <= set(client.scheduler_info()["workers"])
    # the progress followed the scheduler: every task counted, up to the total
    for key, points in (("curve_sites", 4), ("curve_minutes", 3), ("sensitivity", 4)):
        counts = [done for step, done, _ in told if step == questions.STEPS[key]]
        assert counts == list(range(points + 1)), key


@pytest.mark.slow
def test_tradeoff_on_two_workers_equals_the_local_run(local_study, client) -> None:
    """The trade-off (its MCLP optimum a task the others wait for) on a slice of the Gers matrix."""
    whole = questions.variant_problem(local_study.instance.problem, zones=False)
    from coverage.placement import PlacementProblem

    rows, cols = slice(0, 90), slice(0, 30)
    problem = PlacementProblem(
        whole.cost_s[rows, cols],
        whole.weights[rows],
        candidate_ids=list(whole.candidate_ids[cols]),
        demand_ids=list(whole.demand_ids[rows]),
    )
    alphas = (1.0, 0.97, 0.9)
    local = questions.tradeoff_table(problem, 4, 15, alphas=alphas, options=OPTIONS)
    told: list[int | None] = []
    on_cluster = questions.tradeoff_table(
        problem,
        4,
        15,
        alphas=alphas,
        options=OPTIONS,
        client=client,
        progress=lambda step, /, *, done=None, total=None: told.append(done),
    )
    assert (local["statut"] == "optimal").all()
    assert local["temps_moyen_min"].is_monotonic_decreasing
    assert _frame_without_timing(on_cluster) == _frame_without_timing(local)
    assert told == [0, 1, 2, 3, 4]  # the optimum and 3 floors


@pytest.mark.slow
def test_a_worker_killed_mid_sweep_changes_nothing(local_study, client) -> None:
    problem = local_study.instance.problem
    span = (3, 13)
    local = questions.sites_curve(problem, "mclp", span, 20, options=OPTIONS)
    killer = BusyWorkerKiller(client)
    pids, killed = killer.pids, killer.killed
    killer.start()
    on_cluster = questions.sites_curve(problem, "mclp", span, 20, options=OPTIONS, client=client)
    finished = time.monotonic()
    killer.join()
    assert killed, "no worker was ever busy"
    when, worker, keys = killed[0]
    assert when < finished, "the worker was killed after the sweep ended"
    assert keys  # it held a solve when it died: that solve ran again elsewhere
    assert pids[worker] not in client.run(os.getpid).values()  # the nanny started a new one
    assert len(on_cluster) == 11
    assert (local["statut"] == "optimal").all()
    assert _frame_without_timing(on_cluster) == _frame_without_timing(local)
    assert np.array_equal(on_cluster["nombre_sites"], np.arange(3, 14))
