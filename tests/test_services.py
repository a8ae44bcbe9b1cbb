"""The service catalogue: the shipped Gers lists, importing a département's list, the commands."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from coverage.cli import main
from coverage.errors import ConfigError, DataError
from coverage.geocode.catalogue import load_catalogue
from coverage.jobs.services import import_services, import_services_file
from coverage.layers import load_territory
from coverage.layers.config import load_territory_config
from coverage.layers.readers import DataWarning
from coverage.layers.services import CATALOGUE_COLUMNS, ServiceCatalogue

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def territory(shared_data: Path):
    return load_territory("gers", data_dir=shared_data / "gers")


@pytest.fixture(scope="module")
def catalogue(territory) -> ServiceCatalogue:
    return load_catalogue(territory)


# --- the Gers catalogue ---------------------------------------------------------------------


def test_gers_catalogue_counts(catalogue: ServiceCatalogue) -> None:
    frame = catalogue.frame
    assert len(catalogue) == 95 and catalogue.rejected.empty
    assert list(frame.columns) == [*CATALOGUE_COLUMNS, "geometry"]
    assert frame.crs == "EPSG:2154" and frame["service_id"].is_unique
    counts = {
        (k, bool(i)): int(n)
        for k, i, n in catalogue.counts()[["kind", "in_territory", "count"]].itertuples(index=False)
    }
    assert counts == {
        ("france_services", True): 27,
        ("france_services", False): 65,
        ("tiers_lieu", True): 3,
    }
    assert set(frame["status"]) == {"open"} and set(frame["capacity"]) == {1.0}
    assert set(frame["capacity_unit"]) == {"site"}


def test_france_services_keep_their_coordinates(catalogue: ServiceCatalogue,
                                                shared_data: Path) -> None:
    source = gpd.read_file(shared_data / "gers" / "france_services_gers.geojson")
    fs = catalogue.of_kind("france_services").set_index("service_id")
    for row in source.itertuples():
        mine = fs.loc[f"france_services:{row.id_fs}"]
        assert (mine["lon"], mine["lat"]) == (round(row.longitude, 7), round(row.latitude, 7))
        assert bool(mine["in_territory"]) == bool(row.in_gers)  # the file's own flag agrees
        assert mine["geocode_quality"] == "input" and mine["geocode_backend"] == "input"
        assert mine["name"] == row.lib_fs
    outside = fs[~fs["in_territory"]]
    assert outside["distance_to_territory_m"].between(1_000, 30_000).all()
    # a service over the border keeps the INSEE code of its own commune
    assert fs.loc["france_services:181", "insee_code"] == "31033"  # Auterive (31), not 32019
    assert fs.loc["france_services:1271", "insee_code"] == "32013"  # Auch-Garros


def test_tiers_lieux_at_commune_level(catalogue: ServiceCatalogue, territory) -> None:
    tiers = catalogue.of_kind("tiers_lieu").set_index("insee_code")
    assert set(tiers.index) == {"32213", "32242", "32208"}  # Lombez, Masseube, Lectoure
    assert set(tiers["geocode_quality"]) == {"municipality"}
    assert set(tiers["commune_name"]) == {"Lombez", "Masseube", "Lectoure"}
    points = territory.communes.set_index("insee_code")
    for code, row in tiers.iterrows():
        assert row.geometry.x == pytest.approx(points.loc[code, "point_x"], abs=0.01)
        assert row.geometry.y == pytest.approx(points.loc[code, "point_y"], abs=0.01)
    assert all("point représentatif de la commune" in note for note in tiers["note"])
    assert all("Gers Solidaire" in s for s in tiers["source"])


def test_of_kind_filters(catalogue: ServiceCatalogue) -> None:
    assert len(catalogue.of_kind()) == 95
    assert len(catalogue.of_kind("france_services", in_territory=True)) == 27
    assert len(catalogue.of_kind("mds")) == 0
    assert len(catalogue.of_kind(status=("planned",))) == 0


def test_catalogue_files_round_trip(catalogue: ServiceCatalogue, territory, tmp_path: Path) -> None:
    gpkg = catalogue.to_file(tmp_path / "cat.gpkg")
    geojson = catalogue.to_file(tmp_path / "cat.geojson")
    csv_path = catalogue.to_file(tmp_path / "cat.csv")
    assert gpd.read_file(gpkg).crs == "EPSG:2154"
    as_wgs84 = gpd.read_file(geojson)
    assert as_wgs84.crs == "EPSG:4326" and len(as_wgs84) == 95
    assert csv_path.read_bytes().startswith(b"\xef\xbb\xbfservice_id;")  # French style
    assert len(pd.read_csv(csv_path, sep=";", encoding="utf-8-sig")) == 95
    with pytest.raises(DataError, match=r"format de catalogue « .* » inconnu"):
        catalogue.to_file(tmp_path / "cat.xlsx")
    # a written catalogue comes back as an extra list with the same rows and qualities
    again = load_catalogue(territory, sources=[], extra=[gpkg])
    assert len(again) == 95
    assert sorted(again.frame["service_id"]) == sorted(catalogue.frame["service_id"])
    assert (again.frame["geocode_quality"].value_counts().to_dict()
            == {"input": 92, "municipality": 3})
    from_csv = load_catalogue(territory, sources=[], extra=[csv_path])  # ";" and decimal comma
    assert sorted(from_csv.frame["service_id"]) == sorted(catalogue.frame["service_id"])
    assert abs(from_csv.frame["lon"] - again.frame.set_index("service_id").loc[
        from_csv.frame["service_id"], "lon"].to_numpy()).max() < 1e-6


# --- importing a département's own list ------------------------------------------------------

MDS_ROWS = [
    # id;nom;adresse;code_postal;commune;latitude;longitude;statut;capacite
    ["m1", "MDS d'Auch", "17 rue d'Étigny", "32000", "Auch", "", "", "ouvert", "12,5"],
    ["m2", "MDS de L'Isle-Jourdain", "25 chem. d'Arques", "32600", "L'Isle-Jourdain", "", "",
     "", ""],
    ["m3", "MDS de Condom", "", "32100", "Condom", "0.37465", "43.957361", "ouvert", "6"],
    ["m4", "Antenne inversée", "", "32700", "Lectoure", "0.626401", "43.93352", "en projet", ""],
    ["", "", "", "", "", "", "", "", ""],
    ["m6", "Permanence", "", "", "Atlantis", "", "", "", ""],
    ["m7", "Hors département", "1 rue de la Paix", "31000", "Toulouse", "", "", "", ""],
    ["m1", "Doublon", "", "32300", "Mirande", "", "", "fermé", ""],
    ["m9", "Statut inconnu", "", "32300", "Mirande", "", "", "peut-être", ""],
    ["m10", "Capacité fausse", "", "32300", "Mirande", "", "", "", "-2"],
]
MDS_HEADER = ["id", "nom", "adresse", "code_postal", "commune", "latitude", "longitude",
              "statut", "capacite"]


def _mds_file(path: Path) -> Path:
    rows = [MDS_HEADER, *MDS_ROWS]
    # row m4: latitude and longitude exchanged in the spreadsheet
    rows[4] = ["m4", "Antenne inversée", "", "32700", "Lectoure", "0.626401", "43.93352",
               "en projet", ""]
    text = "\r\n".join(";".join(r) for r in rows) + "\r\n"
    path.write_bytes(text.encode("cp1252"))
    return path


def test_import_departement_list(territory, tmp_path: Path) -> None:
    with pytest.warns(DataWarning, match="5 points de service non placé\\(s\\)"):
        cat = import_services(_mds_file(tmp_path / "mds.csv"), territory, kind="mds")
    frame = cat.frame.set_index("service_id")
    assert list(frame.index) == ["mds:m1", "mds:m2", "mds:m3", "mds:m4", "mds:m1-2"]
    assert set(frame["kind"]) == {"mds"}
    # geocoded at house-number quality from the BANO index
    assert frame.loc["mds:m1", "geocode_quality"] == "housenumber"
    assert (frame.loc["mds:m1", "lon"], frame.loc["mds:m1", "lat"]) == (0.58254, 43.645607)
    assert frame.loc["mds:m1", "capacity"] == 12.5 and frame.loc["mds:m1", "status"] == "open"
    assert frame.loc["mds:m2", "insee_code"] == "32160"
    assert frame.loc["mds:m2", "capacity"] == 1.0  # default
    # given coordinates kept; exchanged ones repaired with a note
    assert frame.loc["mds:m3", "geocode_quality"] == "input"
    assert (frame.loc["mds:m3", "lon"], frame.loc["mds:m3", "insee_code"]) == (0.37465, "32107")
    assert "inversées" in frame.loc["mds:m4", "note"]
    assert frame.loc["mds:m4", "status"] == "planned"
    assert frame.loc["mds:m4", "insee_code"] == "32208"
    # duplicate id kept under a new id, both rows noted; commune-level placement stated
    assert "en double" in frame.loc["mds:m1", "note"]
    assert frame.loc["mds:m1-2", "status"] == "closed"
    assert frame.loc["mds:m1-2", "geocode_quality"] == "municipality"
    # lines of the CSV as a spreadsheet shows them (header = line 1)
    reasons = dict(zip(cat.rejected["line"], cat.rejected["reason"], strict=True))
    assert sorted(reasons) == [6, 7, 8, 10, 11]
    assert reasons[6] == "ligne vide"
    assert "« atlantis » inconnue" in reasons[7]
    assert "code postal 31000 d'un autre département (31)" in reasons[8]
    assert "statut « peut-être » inconnu" in reasons[10]
    assert "capacité « -2 » invalide" in reasons[11]
    assert "lignes 2, 9" in frame.loc["mds:m1", "note"]


def test_import_checks_kind_and_columns(territory, tmp_path: Path) -> None:
    path = _mds_file(tmp_path / "mds.csv")
    with pytest.raises(DataError, match="type de service « creche » inconnu"):
        import_services(path, territory, kind="creche")
    with pytest.raises(DataError, match="champ « Adresse postale » : colonne absente"):
        import_services(path, territory, kind="mds", columns={"address": "Adresse postale"})
    with pytest.raises(DataError, match="champ « lieu » inconnu"):
        import_services(path, territory, kind="mds", columns={"lieu": "commune"})
    with pytest.warns(DataWarning):
        only_two = import_services(
            path, territory, kind="saad", columns={"name": "nom", "city": "commune"}
        )
    # the mapping adds to the recognition: ids, addresses and coordinates still found
    assert list(only_two.frame["service_id"]) == [
        "saad:m1", "saad:m2", "saad:m3", "saad:m4", "saad:m1-2"
    ]
    assert set(only_two.frame["geocode_quality"]) == {"housenumber", "input", "municipality"}
    assert set(only_two.frame["kind"]) == {"saad"}


def test_import_geojson_in_lambert93(territory, tmp_path: Path) -> None:
    path = tmp_path / "centres.geojson"
    gpd.GeoDataFrame(
        {"nom": ["Centre de santé d'Auch", "Sans géométrie"], "commune": ["Auch", "Mirande"]},
        geometry=gpd.points_from_xy([505724.99, None], [6284796.16, None]),
        crs="EPSG:2154",
    ).to_file(path, driver="GeoJSON")
    cat = import_services(path, territory, kind="health_centre")
    assert len(cat) == 2
    first, second = cat.frame.iloc[0], cat.frame.iloc[1]
    assert first["geocode_quality"] == "input" and first["insee_code"] == "32013"
    assert first["lon"] == pytest.approx(0.592823, abs=1e-6)
    assert second["geocode_quality"] == "municipality" and second["insee_code"] == "32256"


def test_import_csv_with_declared_crs(territory, tmp_path: Path) -> None:
    path = tmp_path / "saad.csv"
    path.write_text("nom;x;y\nSAAD Auch;505724,99;6284796,16\n", "utf-8")
    declared = import_services(path, territory, kind="saad", crs="EPSG:2154",
                               columns={"name": "nom", "lon": "x", "lat": "y"})
    row = declared.frame.iloc[0]
    assert row["lon"] == pytest.approx(0.592823, abs=1e-6)
    assert row["note"] == "identifiant vide : numéro de ligne utilisé"  # no repair noted
    # without the declared CRS the metres are recognised as Lambert-93, with a note
    guessed = import_services(path, territory, kind="saad",
                              columns={"name": "nom", "lon": "x", "lat": "y"})
    assert guessed.frame.iloc[0]["lon"] == pytest.approx(0.592823, abs=1e-6)
    assert "Lambert-93" in guessed.frame.iloc[0]["note"]


def test_import_job_writes_the_catalogue(territory, tmp_path: Path) -> None:
    # a spreadsheet's "Unicode text" export: UTF-16 with BOM, tab-separated
    path = tmp_path / "centres.txt"
    path.write_text("nom\tcommune\tcapacite\nCentre de santé\tMirande\t2,5\n", "utf-16")
    with pytest.raises(DataError, match=r"format de catalogue « \.xlsx » inconnu"):
        import_services_file(path, tmp_path / "cat.xlsx", territory, kind="health_centre")
    out = tmp_path / "cat.gpkg"
    cat = import_services_file(path, out, territory, kind="health_centre", backends="commune")
    row = cat.frame.iloc[0]
    assert (row["name"], row["insee_code"], row["capacity"]) == ("Centre de santé", "32256", 2.5)
    assert row["geocode_backend"] == "commune"
    written = gpd.read_file(out)
    assert list(written["service_id"]) == ["health_centre:ligne2"]
    # a row with more values than the header is rejected with its line, never shifted
    path.write_text("nom;commune\nCentre;Mirande\nCentre; Auch;Gers\n", "utf-8")
    with pytest.warns(DataWarning, match="1 point de service"):
        kept = import_services(path, territory, kind="health_centre", geocoder=None)
    assert list(kept.frame["commune_name"]) == ["Mirande"]
    assert kept.rejected[["line", "reason"]].values.tolist() == [
        [3, "ligne de 3 champs, l'en-tête en a 2"]
    ]


# --- territory.toml [services] ---------------------------------------------------------------


def _description(tmp_path: Path, services: str) -> Path:
    text = (REPO / "data" / "geo" / "gers" / "territory.toml").read_text("utf-8")
    head = text.split("# --- Service catalogue")[0]
    path = tmp_path / "territory.toml"
    path.write_text(head + services, "utf-8")
    return path


def test_gers_description_services() -> None:
    config = load_territory_config(REPO / "data" / "geo" / "gers" / "territory.toml")
    spec = config.services
    assert spec.declared and spec.max_distance_km == 40 and spec.geocoders == ("local", "commune")
    assert list(spec.sources) == ["france_services", "tiers_lieux"]
    assert spec.sources["france_services"].licence == "Licence Ouverte 2.0"  # from the layer
    assert spec.sources["tiers_lieux"].file == "services/tiers_lieux.csv"
    assert (REPO / "data" / "geo" / "gers" / "services" / "tiers_lieux.csv").is_file()


@pytest.mark.parametrize(
    ("services", "message"),
    [
        ('[services]\nfoo = 1\n', "clé\\(s\\) inconnue\\(s\\)"),
        ('[services]\nmax_distance_km = -1\n', "max_distance_km"),
        ('[services]\ngeocoders = ["google"]\n', "geocoders"),
        ('[services.kinds]\nmds = "Autre"\n', "déjà un type prédéfini"),
        ('[services.kinds]\n"Point Conseil" = "PCB"\n', "pas une clé de type valide"),
        ('[services.sources.x]\nkind = "creche"\nfile = "a.csv"\n', "pas un type de service connu"),
        ('[services.sources.x]\nkind = "mds"\n', "demande soit 'layer'"),
        ('[services.sources.x]\nkind = "mds"\nlayer = "mds"\n', "pas déclarée dans \\[layers.mds"),
        ('[services.sources.x]\nkind = "mds"\nfile = "a.csv"\nstatus = "maybe"\n', "status"),
        ('[services.sources.x]\nkind = "mds"\nfile = "a.csv"\ncapacity = -1\n', "capacity"),
        ('[services.sources.x]\nkind = "mds"\nfile = "a.csv"\n[services.sources.x.columns]\n'
         'nom = "Nom"\n', "champ\\(s\\) inconnu\\(s\\)"),
    ],
)
def test_bad_services_tables(tmp_path: Path, services: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_territory_config(_description(tmp_path, services))


def test_custom_kind_and_default_sources(shared_data: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "gers"
    bundle.mkdir()
    for item in (shared_data / "gers").iterdir():
        os.symlink(item, bundle / item.name)
    # a bundle description without [services]: the France services layer is the catalogue
    shutil.copy(_description(tmp_path, ""), bundle / "territory.toml")
    loaded = load_territory("gers", data_dir=bundle)
    default = load_catalogue(loaded)
    assert len(default) == 92 and set(default.frame["kind"]) == {"france_services"}
    # a custom kind declared in [services.kinds], its list shipped next to the description
    (bundle / "territory.toml").unlink()
    _description(
        bundle,
        '[services.kinds]\npoint_conseil_budget = "Point Conseil Budget"\n'
        '[services.sources.pcb]\nkind = "point_conseil_budget"\nfile = "pcb.csv"\n',
    )
    (bundle / "pcb.csv").write_text("nom,commune\nPCB Gers Solidaire,Auch\n", "utf-8")
    custom = load_catalogue(load_territory("gers", data_dir=bundle))
    assert list(custom.frame["kind"]) == ["point_conseil_budget"]
    assert custom.kinds["point_conseil_budget"] == "Point Conseil Budget"
    assert custom.frame.iloc[0]["service_id"] == "pcb:ligne2"  # no id column: the CSV line
    with pytest.raises(ConfigError, match=r"no \[services.sources.nope\]"):
        load_catalogue(loaded, sources=["nope"])


# --- commands ----------------------------------------------------------------------------------


def test_services_list_command(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["services", "list", "gers", "--data", str(shared_data)]) == 0
    out = capsys.readouterr().out
    assert "95 sites de service, dont 30 dans le territoire" in out
    assert "France services (france_services) : 92 (27 dans le territoire, 65 hors)" in out
    assert "Tiers-lieu solidaire (tiers_lieu) : 3" in out and "commune 3" in out
    assert "aucun site : Maison départementale des solidarités (mds)" in out
    assert main(["services", "list", "gers", "--data", str(shared_data), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["by_kind"]["france_services"]["outside"] == 65


def test_services_import_command(shared_data: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mds.gpkg"
    code = main(["services", "import", str(_mds_file(tmp_path / "mds.csv")), "--kind", "mds",
                 "-o", str(out), "--data", str(shared_data / "gers"), "--no-progress"])
    text = capsys.readouterr().out
    assert code == 0
    assert "5 sites placés (mds), 5 dans le territoire, 5 rejetés" in text
    assert "rejeté : ligne 7 (mds:m6, Permanence)" in text
    written = gpd.read_file(out)
    assert len(written) == 5 and written.crs == "EPSG:2154"
    assert main(["services", "list", "gers", "--data", str(shared_data), "--add", str(out)]) == 0
    listing = capsys.readouterr().out
    assert "100 sites de service" in listing
    assert "Maison départementale des solidarités (mds) : 5" in listing
