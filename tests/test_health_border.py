"""`[health]` on the real Gers: demand over the border, age bands, the capacity unit's mark.

A copy of the Gers bundle gets a ``communes_voisines`` layer (five communes of
the Landes, Lot-et-Garonne, Hautes-Pyrénées, Tarn-et-Garonne and Haute-Garonne)
and an ``ages`` layer; the 2SFCA the run computes is checked against the PySAL
``access`` package on the same travel times.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest

from coverage.errors import ConfigError
from coverage.jobs.health import health_accessibility
from coverage.jobs.resources import TerritoryResources
from coverage.routing.matrix import travel_times
from coverage.scenario import scenario_from_dict, select_services
from tests.conftest import REPO
from tests.test_fca import _pysal_2sfca

NEIGHBOURS = pd.DataFrame(
    {
        "insee_code": ["40001", "47195", "65375", "82013", "31555"],
        "name": ["Aire-sur-l'Adour", "Nérac", "Rabastens-de-Bigorre", "Beaumont", "Toulouse"],
        "population": [6221, 6897, 1402, 3804, 504078],
        "point_lon": [-0.2628, 0.3389, 0.1481, 0.9883, 1.4442],
        "point_lat": [43.7010, 44.1361, 43.3881, 43.8828, 43.6045],
    }
)
SPLIT = {"0_14": 0.3, "15_59": 0.5, "60_plus": 0.2}
WEIGHTS = {"0_14": 0.5, "15_59": 1.0, "60_plus": 2.0}  # mean weight 0.15 + 0.5 + 0.4 = 1.05


def _bundle(shared_data: Path, folder: Path, *, ages: bool) -> Path:
    bundle = folder / "gers"
    bundle.mkdir(parents=True)
    for item in (shared_data / "gers").iterdir():
        (bundle / item.name).symlink_to(item)
    shutil.copytree(REPO / "data/geo/gers/services", bundle / "services")
    text = (REPO / "data/geo/gers/territory.toml").read_text("utf-8")
    text += '\n[layers.communes_voisines]\nfile = "communes_voisines_gers.csv"\nsource = "test"\n'
    NEIGHBOURS.to_csv(bundle / "communes_voisines_gers.csv", index=False)
    if ages:
        text += '\n[layers.ages]\nfile = "ages_gers.csv"\n'
        communes = pyogrio.read_dataframe(shared_data / "gers/communes_gers.geojson")
        rows = pd.DataFrame(
            {
                "insee_code": communes["insee_code"].astype(str),
                "population": communes["population"].astype(float),
            }
        )
        # two of the five neighbours have age bands, the others get the territory's mean weight
        rows = pd.concat([rows, NEIGHBOURS[["insee_code", "population"]].iloc[:2]])
        for band, share in SPLIT.items():
            rows[band] = rows["population"] * share
        rows.drop(columns="population").to_csv(bundle / "ages_gers.csv", index=False)
    (bundle / "territory.toml").write_text(text, "utf-8")
    return folder


def _scenario(**health: Any):
    return scenario_from_dict(
        {
            "scenario": {"name": "sante", "territory": "gers"},
            "thresholds": {"minutes": [20]},
            "analyses": [{"name": "sante", "kinds": ["health_centre"]}],
            "services": {
                "add": [
                    {
                        "service_id": "auch",
                        "name": "CS Auch",
                        "kind": "health_centre",
                        "insee_code": "32013",
                        "status": "open",
                        "capacity": 6,
                    },
                    {
                        "service_id": "condom",
                        "name": "CS Condom",
                        "kind": "health_centre",
                        "insee_code": "32107",
                        "status": "open",
                        "capacity": 2,
                    },
                    {
                        "service_id": "aire",
                        "name": "CS Aire",
                        "kind": "health_centre",
                        "lon": -0.2628,
                        "lat": 43.7010,
                        "status": "open",
                        "capacity": 4,
                    },
                ]
            },
            "health": {"kinds": ["health_centre"], "per_inhabitants": 100000, **health},
        }
    )


@pytest.fixture(scope="module")
def border(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> TerritoryResources:
    folder = _bundle(shared_data, tmp_path_factory.mktemp("voisines"), ages=True)
    return TerritoryResources.load("gers", data_dir=folder)


def _run(resources: TerritoryResources, **health: Any) -> tuple[dict[str, Any], Any]:
    scenario = _scenario(**health)
    catalogue = resources.catalogue
    _, services = select_services(
        scenario, catalogue.frame, resources.territory, known_kinds=catalogue.kinds
    )
    assert scenario.health is not None
    return health_accessibility(scenario.health, services, resources), services


def test_demand_over_the_border_equals_pysal_access(border: TerritoryResources) -> None:
    figures, services = _run(border, capacity_unit="etp")
    sites = services[services["kind"].eq("health_centre")]
    assert sites["in_territory"].tolist() == [True, True, False]
    assert figures["border"]["rule"] == "demande frontalière"
    assert figures["border"]["neighbour_communes"] == 5
    assert figures["supply_counted"] == figures["supply_total"] == 12  # nothing down-weighted
    # the same 2SFCA by PySAL access, on the engine's own travel times
    ctx = border.context
    xy = np.column_stack([sites.geometry.x, sites.geometry.y])
    lon_lat = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
    nx, ny = lon_lat.transform(
        NEIGHBOURS["point_lon"].to_numpy(), NEIGHBOURS["point_lat"].to_numpy()
    )
    minutes = np.vstack(
        [
            travel_times(ctx.network, ctx.commune_points, xy, access=ctx.access).minutes,
            travel_times(ctx.network, np.column_stack([nx, ny]), xy, access=ctx.access).minutes,
        ]
    )
    minutes = np.nan_to_num(minutes, nan=np.inf)
    communes = border.territory.communes
    demand = np.concatenate(
        [communes["population"].to_numpy(float), NEIGHBOURS["population"].to_numpy(float)]
    )
    reference = _pysal_2sfca(minutes, demand, sites["capacity"].to_numpy(float))
    ours = figures["commune_value"] / 100000
    assert np.max(np.abs(ours - reference[: len(communes)])) < 1e-12
    # Aire-sur-l'Adour's people are demand: they take part of the site over the border
    assert np.isfinite(minutes[len(communes), 2]) and minutes[len(communes), 2] < 10
    assert 0 < figures["border"]["outside_share_of_accessibility"] < 1
    # FTE: the DREES 2.5 consultations as 2.5 / 5 400 FTE per inhabitant, per 100 000
    assert figures["undersupplied_threshold"] == pytest.approx(2.5 / 5400 * 100000)
    assert figures["communes_undersupplied"] == int(
        (figures["commune_value"] < 2.5 / 5400 * 100000).sum()
    )


def test_age_weights_scale_the_demand_by_hand(border: TerritoryResources) -> None:
    plain, _ = _run(border, capacity_unit="etp")
    aged, _ = _run(border, capacity_unit="etp", age_weights=WEIGHTS)
    assert aged["demand"]["type"] == "age_weighted"
    assert aged["demand"]["mean_weight"] == pytest.approx(1.05, rel=1e-12)
    assert aged["demand"]["neighbours_without_ages"] == 3
    # every commune's demand is 1.05 × its population, so every value is 1 / 1.05 of the plain one
    np.testing.assert_allclose(aged["commune_value"] * 1.05, plain["commune_value"], rtol=1e-12)


def test_without_neighbours_or_ages_the_result_says_so(shared_data: Path) -> None:
    resources = TerritoryResources.load("gers", data_dir=shared_data)
    figures, _ = _run(resources, age_weights=WEIGHTS)
    assert (
        figures["demand"]["type"] == "population" and "[layers.ages]" in figures["demand"]["note"]
    )
    assert figures["border"]["rule"] == "downweight"
    assert "pas de communes voisines" in figures["border"]["note"]
    # Aire's catchment lies mostly over the border: most of its 4 units are set aside
    assert figures["border"]["outside_capacity_kept_share"] < 0.5
    # the catalogue says 'site' for added sites: no published mark, nothing flagged
    assert figures["capacity_unit"] == "sites" and figures["communes_undersupplied"] is None
    excluded, _ = _run(resources, outside_supply="exclude")
    assert excluded["border"]["outside_capacity_kept_share"] == 0
    assert excluded["border"]["outside_share_of_accessibility"] == 0


def test_unknown_capacity_unit_names_the_field() -> None:
    with pytest.raises(ConfigError, match="capacity_unit"):
        _scenario(capacity_unit="demi-journées")
    with pytest.raises(ConfigError, match="outside_supply"):
        _scenario(outside_supply="ignore")
