"""Many territories in one run: régions, jobs, the Gers cut by EPCI, serial and on a Dask cluster.

The territories are real: :func:`coverage.layers.split.split_territory` cuts the
Gers bundle into one territory per EPCI (its communes, the Gers roads and
services). The cluster tests (slow) run the same jobs on a 2-worker
``LocalCluster`` and compare every table written with the serial run's, byte
for byte, and once with a worker killed in the middle of a job.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pyogrio
import pytest

from coverage.errors import ConfigError
from coverage.regions import DEPARTEMENTS, expand_territories, region_departements
from coverage.scenario import load_scenario
from coverage.tables import read_written_table

REPO = Path(__file__).resolve().parents[1]
GERS_SCENARIO = REPO / "data" / "geo" / "gers" / "scenarios" / "actuel.toml"
GRAND_AUCH, DEUX_RIVES, TENAREZE = "200066926", "248200016", "243200417"
PARTS = (GRAND_AUCH, DEUX_RIVES, TENAREZE)
POPULATION = {GRAND_AUCH: 39_177, DEUX_RIVES: 194, TENAREZE: 14_344}  # epci_gers.geojson
COMMUNES = {GRAND_AUCH: 34, DEUX_RIVES: 1, TENAREZE: 26}

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


# --- régions and jobs (fast) ----------------------------------------------------------------------


def test_occitanie_expands_to_its_thirteen_departements_in_code_order() -> None:
    names = expand_territories(["occitanie"])
    assert names == [
        "ariege", "aude", "aveyron", "gard", "haute-garonne", "gers", "herault", "lot",
        "lozere", "hautes-pyrenees", "pyrenees-orientales", "tarn", "tarn-et-garonne",
    ]  # fmt: skip
    assert len(DEPARTEMENTS) == 101 and len(expand_territories(["france"])) == 101
    assert len(region_departements("ile-de-france")) == 8
    assert len(region_departements("nouvelle-aquitaine")) == 12


def test_territory_lists_mix_names_codes_and_regions_once_each() -> None:
    assert expand_territories(["gers,landes", "32", "76", "corse"]) == [
        "gers", "landes", "seine-maritime", "corse-du-sud", "haute-corse",
    ]  # fmt: skip
    with pytest.raises(ConfigError, match="--territory"):
        expand_territories(["gers,"])


def test_jobs_are_named_by_what_varies_and_never_twice() -> None:
    from coverage.jobs.run_many import plan_jobs

    base = load_scenario(GERS_SCENARIO)
    jobs = plan_jobs([base], ["gers-1", "gers-2"])
    assert [(j.name, j.scenario.territory) for j in jobs] == [
        ("gers-1", "gers-1"),
        ("gers-2", "gers-2"),
    ]
    other = replace(base, name="autre")
    assert [j.name for j in plan_jobs([base, other])] == ["gers_actuel", "autre"]
    assert [j.name for j in plan_jobs([base, other], ["a", "b"])] == [
        "gers_actuel-a", "gers_actuel-b", "autre-a", "autre-b",
    ]  # fmt: skip
    with pytest.raises(ConfigError, match="'gers_actuel'"):
        plan_jobs([base, base])
    for bad in ("../etc", "Gers", "a/b", "-x", "x" * 65):  # names a data and a result folder
        with pytest.raises(ConfigError, match=r"--territory .* n'est pas un nom de territoire"):
            plan_jobs([base], [bad])


def test_cluster_values_are_checked_before_anything_runs(monkeypatch, tmp_path, capsys) -> None:
    from coverage.cli import main

    assert main(["run", "gers", "--cluster", "partout", "-o", str(tmp_path / "r")]) == 1
    assert "Erreur : --cluster 'partout' non reconnu" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    monkeypatch.setenv("COVERAGE_CLUSTER", "local:0")
    assert main(["run", "gers", "-o", str(tmp_path / "r")]) == 1
    assert "$COVERAGE_CLUSTER 'local:0' : le nombre de workers" in capsys.readouterr().err


def test_api_cluster_setting_is_validated() -> None:
    from pydantic import ValidationError

    from api.settings import ApiSettings

    assert ApiSettings(cluster="tcp://10.0.0.5:8786").cluster == "tcp://10.0.0.5:8786"
    assert ApiSettings(cluster="  ").cluster is None
    with pytest.raises(ValidationError, match="cluster 'ailleurs' non reconnu"):
        ApiSettings(cluster="ailleurs")


# --- the Gers cut by EPCI -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def parts(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from coverage.layers.split import split_territory

    folder = tmp_path_factory.mktemp("epci")
    split_territory("gers", folder, data_dir=shared_data / "gers", only=list(PARTS))
    return folder


def test_split_writes_each_epci_as_a_territory(parts: Path, shared_data: Path) -> None:
    from coverage.layers import load_territory
    from coverage.layers.split import split_territory

    for siren in PARTS:
        territory = load_territory(f"gers-{siren}", data_dir=parts)
        assert len(territory.communes) == COMMUNES[siren]
        assert territory.population == POPULATION[siren]
        assert set(territory.communes["epci_siren"]) == {siren}
    auch = load_territory(f"gers-{GRAND_AUCH}", data_dir=parts)
    assert set(auch.config.split_cantons) == {"3299"}  # Auch kept its three cantons
    assert not load_territory(f"gers-{TENAREZE}", data_dir=parts).config.split_cantons
    with pytest.raises(ConfigError, match=r"EPCI inconnu.*123456789"):
        split_territory("gers", parts, data_dir=shared_data / "gers", only=["123456789"])


def test_every_epci_of_the_gers_adds_up_to_the_gers(shared_data: Path, tmp_path: Path) -> None:
    from coverage.layers import load_territory
    from coverage.layers.split import split_territory

    gers = load_territory("gers", data_dir=shared_data / "gers")
    every = split_territory("gers", tmp_path, data_dir=shared_data / "gers")
    assert len(every) == gers.communes["epci_siren"].nunique() == 17
    assert sum(p.communes for p in every) == len(gers.communes)
    assert sum(p.population for p in every) == gers.population


def _jobs(parts: Path, tmp_path: Path, *, extra: tuple[str, ...] = ()):
    from coverage.jobs.run_many import plan_jobs
    from coverage.scenario import load_scenario

    path = tmp_path / "fs.toml"
    path.write_text(FS_SCENARIO, "utf-8")
    spec = load_scenario(path)
    spec = replace(spec, outputs={**spec.outputs, "map": False})
    return plan_jobs([spec], [*(f"gers-{s}" for s in PARTS), *extra])


@pytest.fixture(scope="module")
def serial_run(parts: Path, tmp_path_factory: pytest.TempPathFactory):
    from coverage.jobs.run_many import run_many

    folder = tmp_path_factory.mktemp("serial")
    jobs = _jobs(parts, folder, extra=("nulle-part",))
    return run_many(jobs, output_dir=folder / "out", data_dir=parts, csv_style="machine")


@pytest.mark.slow
def test_serial_run_merges_the_territories(serial_run, parts: Path) -> None:
    out = serial_run.output_dir
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert [j["status"] for j in summary["jobs"]] == ["ok", "ok", "ok", "erreur"]
    assert "nulle-part" in summary["jobs"][3]["message"]  # said, not lost
    assert summary["jobs_failed"] == 1 and summary["merged"] is True
    figures = summary["analyses"]["france_services"]
    assert figures["population"] == sum(POPULATION.values()) == 53_715
    runs = read_written_table(out / "tables" / "runs_france_services.csv")
    assert runs["job"].tolist() == [f"gers-{s}" for s in PARTS] + ["ensemble"]
    assert runs["population"].tolist() == [*POPULATION.values(), 53_715]
    for key in ("20", "30"):
        column = f"pop_beyond_{key}"
        assert runs[column].iloc[-1] == runs[column].iloc[:-1].sum()
        assert figures["thresholds"][key]["pop_beyond"] == runs[column].iloc[-1]
    communes = read_written_table(out / "tables" / "communes_france_services.csv")
    assert len(communes) == sum(COMMUNES.values())
    for siren in PARTS:
        own = read_written_table(out / f"gers-{siren}" / "tables" / "communes_france_services.csv")
        mine = communes[communes["territory"] == f"gers-{siren}"].drop(columns="territory")
        pd.testing.assert_frame_equal(mine.reset_index(drop=True), own, check_dtype=False)
    epci = read_written_table(out / "tables" / "epci_france_services.csv")
    assert sorted(epci["epci_siren"].astype(str)) == sorted(PARTS)
    assert epci["population"].sum() == 53_715
    cantons = read_written_table(out / "tables" / "cantons_france_services.csv")
    assert cantons["population"].sum() == 53_715
    underserved = read_written_table(out / "tables" / "underserved_france_services.csv")
    assert underserved["rank"].tolist() == list(range(1, len(underserved) + 1))
    assert underserved["excess_person_minutes"].is_monotonic_decreasing


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.csv"))}


def _same_as_serial(serial, other) -> None:
    a, b = _files(serial.output_dir), _files(other.output_dir)
    assert a.keys() == b.keys() and len(a) > 10
    for name in a:
        assert a[name] == b[name], name
    for job in serial.outcomes:
        if job.status != "ok":
            continue
        gpkg_a = Path(job.output_dir) / "results.gpkg"
        gpkg_b = other.output_dir / job.name / "results.gpkg"
        for layer, _kind in pyogrio.list_layers(gpkg_a):
            if layer.startswith("layer_styles"):
                continue
            left = pyogrio.read_dataframe(gpkg_a, layer=layer)
            right = pyogrio.read_dataframe(gpkg_b, layer=layer)
            pd.testing.assert_frame_equal(
                left.drop(columns="geometry"), right.drop(columns="geometry")
            )
            assert left.geometry.to_wkb().tolist() == right.geometry.to_wkb().tolist(), layer
    drop = ("created_utc", "timings_s", "cluster")
    sa = {k: v for k, v in copy.deepcopy(serial.summary).items() if k not in drop}
    sb = {k: v for k, v in copy.deepcopy(other.summary).items() if k not in drop}
    for entry in [*sa["jobs"], *sb["jobs"]]:
        entry.pop("seconds"), entry.pop("worker")
    assert sa == sb


@pytest.fixture(scope="module")
def cluster_client():
    from coverage.cluster import open_client, parse_cluster

    with open_client(parse_cluster("local:2")) as client:
        yield client


@pytest.mark.slow
def test_two_workers_write_what_the_serial_run_writes(
    serial_run, parts: Path, cluster_client, tmp_path: Path
) -> None:
    from coverage.jobs.run_many import run_many

    seen: list[tuple[int, int]] = []
    result = run_many(
        _jobs(parts, tmp_path, extra=("nulle-part",)),
        output_dir=tmp_path / "out",
        data_dir=parts,
        client=cluster_client,
        csv_style="machine",
        progress=lambda step, done=None, total=None: seen.append((done, total)),
    )
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    assert result.summary["cluster"]["workers"] == 2
    assert len({o.worker for o in result.outcomes}) == 2  # both workers ran jobs
    _same_as_serial(serial_run, result)


@pytest.mark.slow
def test_a_worker_killed_during_a_job_changes_nothing(
    serial_run, parts: Path, cluster_client, tmp_path: Path
) -> None:
    from coverage.jobs.run_many import run_many

    killed: list[tuple[int, float]] = []

    def kill_a_busy_worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            busy = [w for w, keys in cluster_client.processing().items() if keys]
            if busy:
                time.sleep(0.8)  # inside the job: loading, routing or writing
                pid = cluster_client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append((pid, time.monotonic()))
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    result = run_many(
        _jobs(parts, tmp_path, extra=("nulle-part",)),
        output_dir=tmp_path / "out",
        data_dir=parts,
        client=cluster_client,
        csv_style="machine",
    )
    finished = time.monotonic()
    killer.join()
    assert killed and killed[0][1] < finished, "the worker was killed after the run ended"
    assert killed[0][0] not in cluster_client.run(os.getpid).values()  # a new worker
    _same_as_serial(serial_run, result)


def test_a_region_fetch_tries_every_departement_and_says_which_failed(
    monkeypatch, tmp_path: Path, capsys
) -> None:
    from coverage.cli import main
    from coverage.jobs.fetch import _resolve_identity

    assert _resolve_identity("landes", None, tmp_path)[:2] == ("40", "Landes")
    monkeypatch.setenv("COVERAGE_GEO_API_URL", "http://127.0.0.1:9")  # nothing listens
    monkeypatch.setenv("COVERAGE_HTTP_RETRIES", "0")
    assert main(["fetch", "corse", "--data", str(tmp_path)]) == 1
    out = capsys.readouterr()
    assert "[1/2] Corse-du-Sud (2A)" in out.out and "[2/2] Haute-Corse (2B)" in out.out
    assert str(tmp_path / "haute-corse") in out.out  # each under its own name
    assert "Erreur : Corse-du-Sud (2A) : geo.api.gouv.fr injoignable" in out.err
    assert "Erreur : Haute-Corse (2B)" in out.err
    assert "2 lot(s) sur 2 non téléchargé(s)" in out.out


@pytest.mark.slow
def test_the_command_runs_a_list_of_territories_and_reports_each(
    parts: Path, tmp_path: Path, capsys
) -> None:
    from coverage.cli import main

    scenario = tmp_path / "fs.toml"
    scenario.write_text(FS_SCENARIO, "utf-8")
    out = tmp_path / "out"
    argv = ["run", str(scenario), "-t", f"gers-{DEUX_RIVES},gers-{TENAREZE}", "-t", "nulle-part"]
    code = main([*argv, "--data", str(parts), "-o", str(out), "--no-map", "--csv", "machine"])
    printed = capsys.readouterr().out
    assert code == 1  # one job failed: said, the others written
    assert "3 calculs" in printed and printed.count("terminé") == 2 and "erreur" in printed
    assert "Ensemble (2 territoires, 14 538 habitants)" in printed  # 194 + 14 344
    assert (out / f"gers-{DEUX_RIVES}" / "summary.json").is_file()
    runs = read_written_table(out / "tables" / "runs_france_services.csv")
    assert runs["job"].tolist() == [f"gers-{DEUX_RIVES}", f"gers-{TENAREZE}", "ensemble"]
    assert main([*argv, "--data", str(parts), "-o", str(out)]) == 1  # never over a result
    assert "existe déjà" in capsys.readouterr().err
    other = tmp_path / "mes-documents"
    other.mkdir()
    (other / "note.txt").write_text("à garder", "utf-8")
    assert main([*argv, "--data", str(parts), "-o", str(other), "--overwrite"]) == 1
    assert "n'est pas un dossier de résultats" in capsys.readouterr().err
    assert (other / "note.txt").read_text("utf-8") == "à garder"
    one = ["run", str(scenario), "-t", f"gers-{DEUX_RIVES}", "--data", str(parts), "--no-map"]
    assert main([*one, "-o", str(out), "--overwrite"]) == 0  # the previous result is replaced
    assert not (out / f"gers-{TENAREZE}").exists()


@pytest.mark.slow
def test_a_sweep_of_scenarios_loads_its_territory_once_and_writes_what_single_runs_write(
    parts: Path, tmp_path: Path
) -> None:
    from coverage.jobs.run import run_scenario
    from coverage.jobs.run_many import plan_jobs, run_many

    path = tmp_path / "fs.toml"
    path.write_text(FS_SCENARIO, "utf-8")
    base = load_scenario(path)
    base = replace(base, outputs={**base.outputs, "map": False})
    sweep = [base, replace(base, name="seuils_courts", thresholds_minutes=(10.0, 15.0, 30.0))]
    jobs = plan_jobs(sweep, [f"gers-{TENAREZE}"])
    assert [j.name for j in jobs] == ["france_services", "seuils_courts"]
    result = run_many(jobs, output_dir=tmp_path / "out", data_dir=parts, csv_style="machine")
    assert [o.reused_resources for o in result.outcomes] == [False, True]
    assert result.summary["merged"] is False  # the same people twice: no totals
    runs = read_written_table(result.output_dir / "tables" / "runs_france_services.csv")
    assert runs["job"].tolist() == ["france_services", "seuils_courts"]
    assert runs["population"].tolist() == [POPULATION[TENAREZE]] * 2
    alone = run_scenario(
        replace(sweep[1], territory=f"gers-{TENAREZE}"),
        output_dir=tmp_path / "alone",
        data_dir=parts,
    )
    for name in ("communes", "cantons", "epci", "underserved"):
        written = read_written_table(
            result.output_dir / "seuils_courts" / "tables" / f"{name}_france_services.csv"
        )
        pd.testing.assert_frame_equal(
            written, read_written_table(alone.output_dir / "tables" / f"{name}_france_services.csv")
        )
