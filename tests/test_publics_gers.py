"""Publics on the real Gers: the API's ``public=`` and the surface's totals.

A copy of the Gers bundle gets a publics layer built by the test (NOT INSEE's
figures: ``tenth`` is each commune's population divided by ten, rounded
down), so that every total can be checked against the table the test wrote.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # the API loads the whole Gers (10 s)

PUBLICS = """
[layers.publics]
file = "publics_test.csv"
source = "table construite par le test (pas l'INSEE)"
licence = "aucune"
year = 2026

[layers.publics.publics.tenth]
label = "Dixième <des> habitants"
"""


@pytest.fixture(scope="module")
def tenth(shared_data: Path) -> pd.Series:
    communes = pyogrio.read_dataframe(shared_data / "gers/communes_gers.geojson")
    population = communes["population"].astype(int).to_numpy()
    return pd.Series(population // 10, index=communes["insee_code"].astype(str).to_numpy())


@pytest.fixture(scope="module")
def client(
    shared_data: Path, tenth: pd.Series, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("publics")
    bundle = folder / "gers"
    bundle.mkdir()
    for item in (shared_data / "gers").iterdir():
        (bundle / item.name).symlink_to(item)
    shutil.copytree(REPO / "data/geo/gers/services", bundle / "services")
    text = (REPO / "data/geo/gers/territory.toml").read_text("utf-8") + PUBLICS
    (bundle / "territory.toml").write_text(text, "utf-8")
    pd.DataFrame({"insee_code": tenth.index, "tenth": tenth.to_numpy()}).to_csv(
        bundle / "publics_test.csv", index=False
    )
    settings = ApiSettings(
        data_dir=folder, state_dir=folder / "state", token="t" * 32, default_run=False
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COVERAGE_CACHE_DIR", str(folder / "cache"))
        with TestClient(create_app(settings)) as test_client:
            yield test_client


def test_api_counts_the_public(client: TestClient, tenth: pd.Series) -> None:
    params = {"kind": "france_services", "threshold": 20}
    everyone = client.get("/territories/gers/coverage", params=params)
    assert everyone.status_code == 200 and "public" not in everyone.json()
    response = client.get("/territories/gers/coverage", params={**params, "public": "tenth"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (
        body["public"]["name"] == "tenth" and body["public"]["label"] == "Dixième <des> habitants"
    )
    assert body["public"]["year"] == "2026"
    assert body["summary"]["population"] == int(tenth.sum())
    rows = pd.DataFrame(body["communes"]).set_index("insee_code")
    assert (rows["population"] == tenth.loc[rows.index]).all()
    assert (rows["pop_within"] + rows["pop_beyond"] == rows["population"]).all()
    assert body["summary"]["pop_beyond"] == int(rows["pop_beyond"].sum())
    # the same cells, a tenth of their people: never more beyond than everyone's tenth + 1
    whole = pd.DataFrame(everyone.json()["communes"]).set_index("insee_code")
    assert (rows["pop_beyond"] <= whole["pop_beyond"] // 10 + 1).all()
    assert ((whole["pop_beyond"] == 0) <= (rows["pop_beyond"] == 0)).all()
    assert rows["minutes_mean"].equals(whole["minutes_mean"])


def test_api_refuses_an_unknown_public_in_french(client: TestClient) -> None:
    params = {"kind": "france_services", "public": "age_75_plus"}
    response = client.get("/territories/gers/coverage", params=params)
    assert response.status_code == 422
    message = response.json()["message"]
    assert "public" in message and "public inconnu 'age_75_plus'" in message
    assert "population, tenth" in message
    bad = client.get("/territories/gers/coverage", params={**params, "public": "a b"})
    assert bad.status_code == 422 and "public" in bad.text


def test_openapi_lists_the_public_parameter(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    (param,) = [
        p
        for p in spec["paths"]["/territories/{territory}/coverage"]["get"]["parameters"]
        if p["name"] == "public"
    ]
    assert param["schema"]["pattern"] == r"^[A-Za-z0-9_]{1,64}$"
    assert param["schema"]["maxLength"] == 64 and param["schema"]["default"] == "population"


def test_gers_public_cells_keep_the_table_totals(client: TestClient, tenth: pd.Series) -> None:
    from coverage.access import public_counts

    state = client.app.state.core
    context = state.territory("gers").resources.context
    counts = public_counts(context, "tenth")
    surface = context.surface
    totals = np.bincount(surface.cell_commune, weights=counts.cell_counts)
    expected = tenth.loc[list(surface.commune_codes)].to_numpy(dtype=float)
    np.testing.assert_allclose(totals, expected, rtol=0, atol=1e-9)


def test_posted_scenario_with_an_unknown_public_is_refused(client: TestClient) -> None:
    body = {
        "scenario": {"name": "essai", "territory": "gers"},
        "analyses": [
            {"kinds": ["france_services"]},
            {"name": "fs_75", "kinds": ["france_services"], "public": "age_75_plus"},
        ],
    }
    response = client.post("/scenarios", json=body, headers={"Authorization": "Bearer " + "t" * 32})
    assert response.status_code == 422, response.text
    assert "analyses.1.public" in response.json()["message"]
    assert "public inconnu 'age_75_plus'" in response.json()["message"]
