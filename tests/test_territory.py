"""Territory loading: the real Gers bundle and every bad-input case on a tiny territory."""

from __future__ import annotations

import copy
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from coverage.errors import ConfigError, DataError, TerritoryNotFoundError
from coverage.layers import load_territory, load_territory_config
from coverage.layers.readers import DataWarning
from coverage.settings import resolve_data_dir
from tests.conftest import REPO, TINY_TOML, tiny_communes

# --- the real Gers bundle -----------------------------------------------------------------


def test_gers_counts(gers) -> None:
    assert len(gers.communes) == 458
    assert gers.population == 192_645
    assert len(gers.cantons) == 17
    assert len(gers.epci) == 17
    assert gers.communes.crs.to_epsg() == 2154
    assert gers.cantons.crs.to_epsg() == 2154


def test_gers_commune_fields(gers) -> None:
    communes = gers.communes.set_index("insee_code")
    auch = communes.loc["32013"]
    assert auch["name"] == "Auch"
    assert auch["population"] == 22_428
    assert auch["epci_siren"] == "200066926"
    # Auch is split between three cantons: it keeps the COG pseudo-code 3299
    assert auch["canton_code"] == "3299"
    assert all(isinstance(code, str) and len(code) == 5 for code in communes.index)
    # the representative point lies inside its commune (Lambert-93 metres)
    points = shapely.points(gers.communes["point_x"], gers.communes["point_y"])
    assert shapely.covers(gers.communes.geometry.values, points).all()
    assert 400_000 < auch["point_x"] < 600_000 and 6_200_000 < auch["point_y"] < 6_350_000


def test_gers_auch_split_between_three_cantons(gers) -> None:
    summary = gers.summary()
    (split,) = summary["split_cantons"]
    assert split["code"] == "3299"
    assert split["cantons"] == ["3204", "3205", "3206"]
    assert split["population"] == 22_428
    # the canton figures exclude Auch, as in the bundle (SOURCES.md)
    cantons = gers.cantons.set_index("canton_code")
    assert cantons.loc["3204", "population"] == 4_232
    assert cantons.loc["3213", "n_communes"] == 10
    assert int(cantons["population"].sum()) + 22_428 == 192_645


def test_gers_epci_populations_add_up(gers) -> None:
    assert int(gers.epci["population"].sum()) == 192_645
    assert int(gers.epci["n_communes"].sum()) == 458


def test_gers_summary_lists_layers(gers) -> None:
    layers = gers.summary()["layers"]
    assert layers["roads"]["present"] and layers["addresses"]["present"]
    assert layers["france_services"]["date"] == "2024-08-01"


# --- data directory resolution --------------------------------------------------------------


def test_data_dir_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = tmp_path / "parent"
    (parent / "gers").mkdir(parents=True)
    env_dir = tmp_path / "env"
    (env_dir / "gers").mkdir(parents=True)
    monkeypatch.setenv("COVERAGE_DATA_DIR", str(env_dir))
    # --data wins over the environment
    chosen, origin = resolve_data_dir("gers", parent)
    assert chosen == (parent / "gers").resolve() and origin == "--data"
    # then the environment variable
    chosen, origin = resolve_data_dir("gers")
    assert chosen == (env_dir / "gers").resolve() and origin == "$COVERAGE_DATA_DIR"
    # then the user data directory
    monkeypatch.delenv("COVERAGE_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    chosen, origin = resolve_data_dir("gers")
    assert origin == "dossier de données de l'utilisateur" and chosen.name == "gers"


def test_bundle_directory_itself_is_accepted(shared_data: Path) -> None:
    chosen, _ = resolve_data_dir("gers", shared_data / "gers")
    assert chosen == (shared_data / "gers").resolve()


# --- the tiny territory and bad inputs ---------------------------------------------------------


def test_tiny_loads(make_tiny) -> None:
    territory = load_territory("tiny", data_dir=make_tiny())
    assert territory.population == 1350
    assert list(territory.communes["insee_code"]) == ["99001", "99002", "99003", "99004"]
    cantons = territory.cantons.set_index("canton_code")
    assert cantons.loc["9901", "population"] == 350
    assert cantons.loc["9903", "population"] == 0  # Bourg is split, counted apart


def test_missing_file(make_tiny) -> None:
    bundle = make_tiny()
    (bundle / "epci.geojson").unlink()
    with pytest.raises(DataError, match=r"epci\.geojson.*le fichier de la couche 'epci' manque"):
        load_territory("tiny", data_dir=bundle)


def test_missing_column_is_named_with_suggestion(make_tiny) -> None:
    toml = TINY_TOML.format(cell=200).replace('population = "pop"', 'population = "popul"')
    bundle = make_tiny(toml=toml)
    with pytest.raises(DataError) as info:
        load_territory("tiny", data_dir=bundle)
    message = str(info.value)
    assert "communes.geojson" in message
    assert "'popul'" in message and "vouliez-vous dire 'pop'" in message
    assert info.value.field == "popul"


def test_unmapped_required_field(make_tiny) -> None:
    toml = TINY_TOML.format(cell=200).replace('epci_name = "epci_nom"\n', "")
    with pytest.raises(ConfigError, match=r"layers\.communes\.columns.*epci_name"):
        load_territory("tiny", data_dir=make_tiny(toml=toml))


def test_duplicate_insee_code(make_tiny) -> None:
    communes = tiny_communes()
    communes[2]["properties"]["code"] = "99001"
    with pytest.raises(DataError, match=r"ligne 3 \(insee_code=99001\).*code\(s\) INSEE en double"):
        load_territory("tiny", data_dir=make_tiny(communes=communes))


def test_empty_geometry(make_tiny) -> None:
    communes = tiny_communes()
    communes[1]["geometry"] = None
    with pytest.raises(DataError, match=r"ligne 2 \(insee_code=99002\), champ « geometry »"):
        load_territory("tiny", data_dir=make_tiny(communes=communes))


def test_invalid_geometry_is_repaired_with_warning(make_tiny) -> None:
    communes = tiny_communes()
    x0, y0 = communes[0]["geometry"]["coordinates"][0][0]
    # a bow-tie covering the same square: self-intersecting, repairable
    communes[0]["geometry"]["coordinates"] = [
        [[x0, y0], [x0 + 2000, y0 + 2000], [x0 + 2000, y0], [x0, y0 + 2000], [x0, y0]]
    ]
    with pytest.warns(DataWarning, match=r"1 géométrie invalide réparée.*99001"):
        territory = load_territory("tiny", data_dir=make_tiny(communes=communes))
    geom = territory.communes.geometry.iloc[0]
    assert geom.is_valid and geom.area == pytest.approx(2_000_000.0)
    assert territory.repairs and "99001" in territory.repairs[0]


def test_missing_crs(make_tiny, tmp_path: Path) -> None:
    bundle = make_tiny()
    frame = gpd.read_file(bundle / "communes.geojson").set_crs(None, allow_override=True)
    with pytest.warns(UserWarning, match="crs"):
        frame.to_file(bundle / "communes.gpkg", driver="GPKG")
    toml = TINY_TOML.format(cell=200).replace("communes.geojson", "communes.gpkg")
    (bundle / "territory.toml").write_text(toml, "utf-8")
    with pytest.raises(DataError, match=r"communes\.gpkg.*n'a pas de SCR ; déclarez-le"):
        load_territory("tiny", data_dir=bundle)
    # declaring it in the description is enough
    toml = toml.replace('file = "communes.gpkg"', 'file = "communes.gpkg"\ncrs = "EPSG:2154"')
    (bundle / "territory.toml").write_text(toml, "utf-8")
    assert len(load_territory("tiny", data_dir=bundle).communes) == 4


@pytest.mark.parametrize(
    ("value", "reason"), [(-5, "négative"), (None, "manquante"), ("abc", "manquante")]
)
def test_bad_population(make_tiny, value, reason) -> None:
    communes = tiny_communes()
    communes[1]["properties"]["pop"] = value
    with pytest.raises(DataError) as info:
        load_territory("tiny", data_dir=make_tiny(communes=communes))
    assert f"population {reason}" in str(info.value)
    assert "ligne 2 (insee_code=99002)" in str(info.value)
    assert info.value.field == "population"


def test_commune_of_another_departement(make_tiny) -> None:
    communes = tiny_communes()
    communes[3]["properties"]["code"] = "31004"
    with pytest.raises(DataError, match=r"ligne 4 \(insee_code=31004\).*dans le département 99"):
        load_territory("tiny", data_dir=make_tiny(communes=communes))


def test_commune_outside_the_outline(make_tiny) -> None:
    communes = copy.deepcopy(tiny_communes())
    ring = communes[3]["geometry"]["coordinates"][0]
    communes[3]["geometry"]["coordinates"] = [[[x + 50_000, y] for x, y in ring]]
    with pytest.raises(DataError, match=r"99004.*km hors du contour du département"):
        load_territory("tiny", data_dir=make_tiny(communes=communes))


def test_insee_codes_read_as_numbers_are_zero_padded(make_tiny) -> None:
    toml = TINY_TOML.format(cell=200).replace('departement = "99"', 'departement = "01"')
    communes = tiny_communes()
    for i, feature in enumerate(communes):
        feature["properties"]["code"] = 1001 + i  # "01001" read as an integer
    bundle = make_tiny(communes=communes, toml=toml)
    with pytest.warns(DataWarning, match="complété\\(s\\) par des zéros"):
        territory = load_territory("tiny", data_dir=bundle)
    assert list(territory.communes["insee_code"]) == ["01001", "01002", "01003", "01004"]


def test_unknown_canton_code(make_tiny) -> None:
    communes = tiny_communes()
    communes[0]["properties"]["canton"] = "9977"
    with pytest.raises(DataError, match=r"ligne 1 \(insee_code=99001\).*code canton 9977"):
        load_territory("tiny", data_dir=make_tiny(communes=communes))


def test_unknown_territory() -> None:
    with pytest.raises(TerritoryNotFoundError, match=r"territoire inconnu 'atlantis'.*gers"):
        load_territory("atlantis", data_dir=REPO)


def test_malformed_description(tmp_path: Path) -> None:
    path = tmp_path / "territory.toml"
    path.write_text("[territory\nname=", "utf-8")
    with pytest.raises(ConfigError, match="TOML invalide"):
        load_territory_config(path)
    path.write_text('[territory]\nname = "x"\ndepartement = "32"\n', "utf-8")
    with pytest.raises(ConfigError, match=r"tables \[layers.*\] manquantes"):
        load_territory_config(path)


def test_shipped_description_parses() -> None:
    config = load_territory_config(REPO / "data" / "geo" / "gers" / "territory.toml")
    assert config.departement == "32"
    assert config.layer("roads").options["detour_factor"] > 1.0
    assert config.split_cantons["3299"].cantons == ("3204", "3205", "3206")


def test_a_layer_file_is_read_once_per_version_and_each_caller_gets_a_copy(
    tmp_path: Path,
) -> None:
    """The territory's loader and the former communes' reader share one read of a file;
    a file written again (other size or time) is read again."""
    from coverage.layers import readers

    path = tmp_path / "layer.geojson"
    frame = gpd.GeoDataFrame(
        {"code": ["32013", "32107"]},
        geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
        crs="EPSG:2154",
    )
    frame.to_file(path, driver="GeoJSON")
    first = readers.read_layer_file(path)
    first.loc[0, "code"] = "changé"  # a caller's copy is its own
    again = readers.read_layer_file(path)
    assert list(again["code"]) == ["32013", "32107"]
    frame.assign(code=["32013", "32004"]).iloc[:1].to_file(path, driver="GeoJSON")
    assert list(readers.read_layer_file(path)["code"]) == ["32013"]
