"""The API's run worker submitting to a Dask cluster (``COVERAGE_API_CLUSTER``), on the Gers.

A server started with ``cluster="local:2"`` runs each posted scenario as one
task on the cluster: the run is done with the same figures as the engine's own
run of the same scenario in this process, and a scenario that cannot run fails
with its reason, as it does without a cluster.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its test client
    warnings.filterwarnings("ignore", message=".*httpx2")
    from starlette.testclient import TestClient

from api.app import create_app
from api.schemas import SCENARIO_EXAMPLE
from api.settings import ApiSettings
from coverage.jobs.run import run_scenario
from coverage.scenario import scenario_from_dict
from coverage.tables import read_written_table
from tests.test_api import AUTH, TOKEN, fast_scenario, wait_for
from tests.test_api import api_env as api_env  # the module's cache folder (a fixture)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster_server(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory, api_env: None
) -> Iterator[tuple[TestClient, Path]]:
    settings = ApiSettings(
        data_dir=shared_data,
        state_dir=tmp_path_factory.mktemp("api-cluster"),
        token=TOKEN,
        default_run=False,
        cluster="local:2",
    )
    app = create_app(settings)
    with TestClient(app) as client:
        assert app.state.core.worker._client is not None  # the worker holds a Dask client
        yield client, settings.results_path


def test_a_posted_run_computed_on_the_cluster_equals_the_local_run(
    cluster_server, shared_data: Path, tmp_path: Path
) -> None:
    client, results = cluster_server
    body = SCENARIO_EXAMPLE  # no map, no isochrones
    response = client.post("/scenarios", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    run = wait_for(client, response.json()["id"], timeout_s=300)
    assert run["status"] == "done", run
    local = run_scenario(
        scenario_from_dict(body), output_dir=tmp_path / "local", data_dir=shared_data
    )
    assert run["headline"]["headline"] == local.summary["headline"]
    (folder,) = [p for p in results.iterdir() if p.name.endswith(run["id"])]
    for name in ("communes_tiers_lieu.csv", "underserved_tiers_lieu.csv"):
        assert read_written_table(folder / "tables" / name).equals(
            read_written_table(local.output_dir / "tables" / name)
        ), name


def test_a_run_that_cannot_run_on_the_cluster_says_why(cluster_server) -> None:
    client, _results = cluster_server
    body = fast_scenario("sante_sans_centre", health={"kinds": ["health_centre"]})
    response = client.post("/scenarios", json=body, headers=AUTH)
    run = wait_for(client, response.json()["id"], timeout_s=300)
    assert run["status"] == "failed"
    assert "health_centre" in run["reason"] and "[health]" in run["reason"]
