"""Shared fixtures: the real data bundle and small territories built in code."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The shared real data (``$COVERAGE_SHARED_DATA``, default ``../shared/data``)."""
    return Path(os.environ.get("COVERAGE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the shared real data; the tests that need it fail loudly if it is absent."""
    path = shared_data_dir()
    assert (path / "gers" / "communes_gers.geojson").is_file(), (
        f"real data not found under {path}; set COVERAGE_SHARED_DATA"
    )
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test session caches into its own temporary folder, never the user's cache."""
    cache = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setenv("COVERAGE_CACHE_DIR", str(cache))
    monkeypatch.delenv("COVERAGE_DATA_DIR", raising=False)


@pytest.fixture(scope="session")
def gers(shared_data: Path):
    """The real Gers territory, loaded once."""
    from coverage.layers import load_territory

    return load_territory("gers", data_dir=shared_data / "gers")


# --- a tiny territory built in code -------------------------------------------------------

TINY_TOML = """
[territory]
name = "tiny"
label = "Petit territoire"
departement = "99"
crs = "EPSG:2154"
[territory.split_cantons]
"9999" = {{ communes = ["99004"], cantons = ["9902", "9903"], label = "Bourg (partagée)" }}

[layers.communes]
file = "communes.geojson"
source = "test"
[layers.communes.columns]
insee_code = "code"
name = "nom"
population = "pop"
canton_code = "canton"
canton_name = "canton_nom"
epci_siren = "epci"
epci_name = "epci_nom"

[layers.cantons]
file = "cantons.geojson"
[layers.cantons.columns]
canton_code = "code"
canton_name = "nom"

[layers.epci]
file = "epci.geojson"
[layers.epci.columns]
epci_siren = "siren"
epci_name = "nom"

[layers.departement]
file = "departement.geojson"
[layers.departement.columns]
code = "code"
name = "nom"

[population]
cell_size_m = {cell}
weights = {{ base = 1.0 }}
"""

# Four 2 km x 2 km square communes in a row (Lambert-93), south of Auch.
X0, Y0, SIDE = 500_000.0, 6_280_000.0, 2_000.0


def _square(x: float, y: float, side: float) -> dict:
    return {
        "type": "Polygon",
        "coordinates": [[[x, y], [x + side, y], [x + side, y + side], [x, y + side], [x, y]]],
    }


def tiny_communes() -> list[dict]:
    """Properties and geometry of the four communes (populations 100, 250, 0, 1 000)."""
    rows = [
        ("99001", "Alpha", 100, "9901", "Nord", "200000001", "CC Un"),
        ("99002", "Beta", 250, "9901", "Nord", "200000001", "CC Un"),
        ("99003", "Gamma", 0, "9902", "Sud", "200000002", "CC Deux"),
        ("99004", "Bourg", 1000, "9999", "Bourg (partagée)", "200000002", "CC Deux"),
    ]
    features = []
    for i, (code, nom, pop, canton, canton_nom, epci, epci_nom) in enumerate(rows):
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "code": code,
                    "nom": nom,
                    "pop": pop,
                    "canton": canton,
                    "canton_nom": canton_nom,
                    "epci": epci,
                    "epci_nom": epci_nom,
                },
                "geometry": _square(X0 + i * SIDE, Y0, SIDE),
            }
        )
    return features


def write_geojson(path: Path, features: list[dict], *, crs: str | None = "EPSG:2154") -> Path:
    """Write a FeatureCollection (with a named CRS member unless ``crs`` is None)."""
    collection: dict = {"type": "FeatureCollection", "features": features}
    if crs:
        collection["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(collection), encoding="utf-8")
    return path


@pytest.fixture
def make_tiny(tmp_path: Path) -> Callable[..., Path]:
    """Factory writing the tiny territory bundle; keyword arguments alter it for bad-input tests.

    ``communes`` replaces the commune features; ``cell`` sets the cell size;
    ``toml`` replaces the description text.
    """

    def build(
        *,
        communes: list[dict] | None = None,
        cell: float = 200,
        toml: str | None = None,
        crs: str | None = "EPSG:2154",
    ) -> Path:
        bundle = tmp_path / "tiny"
        bundle.mkdir(exist_ok=True)
        (bundle / "territory.toml").write_text(toml or TINY_TOML.format(cell=cell), "utf-8")
        write_geojson(bundle / "communes.geojson", communes or tiny_communes(), crs=crs)
        cantons = [
            {"type": "Feature", "properties": {"code": "9901", "nom": "Nord"},
             "geometry": _square(X0, Y0, 2 * SIDE)},
            {"type": "Feature", "properties": {"code": "9902", "nom": "Sud"},
             "geometry": _square(X0 + 2 * SIDE, Y0, SIDE)},
            {"type": "Feature", "properties": {"code": "9903", "nom": "Est"},
             "geometry": _square(X0 + 3 * SIDE, Y0, SIDE)},
        ]
        write_geojson(bundle / "cantons.geojson", cantons)
        epci = [
            {"type": "Feature", "properties": {"siren": "200000001", "nom": "CC Un"},
             "geometry": _square(X0, Y0, 2 * SIDE)},
            {"type": "Feature", "properties": {"siren": "200000002", "nom": "CC Deux"},
             "geometry": _square(X0 + 2 * SIDE, Y0, 2 * SIDE)},
        ]
        write_geojson(bundle / "epci.geojson", epci)
        outline = {
            "type": "Polygon",
            "coordinates": [[[X0, Y0], [X0 + 4 * SIDE, Y0], [X0 + 4 * SIDE, Y0 + SIDE],
                             [X0, Y0 + SIDE], [X0, Y0]]],
        }
        write_geojson(
            bundle / "departement.geojson",
            [{"type": "Feature", "properties": {"code": "99", "nom": "Tiny"}, "geometry": outline}],
        )
        return bundle

    return build


@pytest.fixture(scope="session")
def gers_network(gers):
    """The Gers numbered-road network as the territory describes it (detour factor 1.3)."""
    from coverage.jobs.network import load_territory_network

    return load_territory_network(gers)


# --- a real scenario result (maps, API) -------------------------------------------------------


@pytest.fixture(scope="session")
def gers_result(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """The Gers default scenario (``actuel.toml``) run once through the Python API.

    A :class:`coverage.results.ResultFolder` (with ``map.html`` written by the
    result writers); tests read it and must not modify its files or frames.
    """
    from coverage.jobs.run import run_scenario
    from coverage.results import ResultFolder
    from coverage.scenario import load_scenario

    out = tmp_path_factory.mktemp("gers_result") / "actuel"
    with pytest.MonkeyPatch.context() as mp:  # session fixtures run before the autouse one
        mp.setenv("COVERAGE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        mp.delenv("COVERAGE_DATA_DIR", raising=False)
        scenario = load_scenario(REPO / "data/geo/gers/scenarios/actuel.toml")
        run_scenario(scenario, output_dir=out, data_dir=shared_data)
    return ResultFolder(out)
