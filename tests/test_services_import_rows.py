"""`services import` never loses a row; former commune names; commune/postcode disagreement."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from coverage.cli import main
from coverage.geocode.base import AddressQuery
from coverage.geocode.communes import CommuneGeocoder, CommuneIndex
from coverage.geocode.former import former_communes
from coverage.jobs.services import import_services
from coverage.layers import load_territory
from coverage.layers.readers import DataWarning

SITES = (
    "Identifiant;Nom du site;Adresse;CP;Ville;X;Y\n"
    "s1;MDS Auch;17 rue d'Étigny;32000;Auch;0.58254;43.645607\n"
    "s2;MDS Condom;;32100;Condom;;\n"
    "s3;Antenne Auch;;32000;Auch;505724,99;6284796,16\n"
    "s4;Permanence Riscle;;32400;Cannet;;\n"
    "s5;Point perdu;;;Atlantis;;\n"
)
IDS = ["mds:s1", "mds:s2", "mds:s3", "mds:s4", "mds:s5"]


@pytest.fixture(scope="module")
def territory(shared_data: Path):
    return load_territory("gers", data_dir=shared_data / "gers")


@pytest.fixture(scope="module")
def communes(territory) -> CommuneIndex:
    return CommuneIndex.from_territory(territory)


def _sites(tmp_path: Path) -> Path:
    path = tmp_path / "sites.csv"
    path.write_text(SITES, "utf-8")
    return path


def _run(shared_data: Path, *args: str) -> int:
    return main(["services", "import", *args, "--data", str(shared_data / "gers"),
                 "--no-progress"])


@pytest.mark.parametrize(
    "mapping",
    [{"lon": "X", "lat": "Y"}, {"name": "Nom du site"}],
    ids=["lon-lat", "name"],
)
def test_map_keeps_every_row(territory, tmp_path: Path, mapping: dict[str, str]) -> None:
    with pytest.warns(DataWarning, match="1 point de service"):
        cat = import_services(_sites(tmp_path), territory, kind="mds", columns=mapping,
                              geocoder=None)
    placed, rejected = cat.frame, cat.rejected
    # 5 rows in, 5 rows out: 4 placed, 1 rejected with its reason, every id kept
    assert sorted([*placed["service_id"], *rejected["service_id"]]) == IDS
    assert list(placed["service_id"]) == IDS[:4]
    assert list(placed["name"]) == ["MDS Auch", "MDS Condom", "Antenne Auch",
                                    "Permanence Riscle"]
    assert rejected[["line", "service_id"]].values.tolist() == [[6, "mds:s5"]]
    assert "« atlantis » inconnue" in rejected["reason"].iloc[0]
    frame = placed.set_index("service_id")
    # the mapped X/Y columns, or the recognised ones: coordinates kept, Lambert-93 repaired
    assert frame.loc["mds:s1", "geocode_quality"] == "input"
    assert frame.loc["mds:s3", "lon"] == pytest.approx(0.592823, abs=1e-6)
    assert "Lambert-93" in frame.loc["mds:s3", "note"]
    # rows without coordinates still geocoded by the recognised address columns
    assert frame.loc["mds:s2", "insee_code"] == "32107"
    assert frame.loc["mds:s4", "insee_code"] == "32344"


def test_import_command_prints_notes_and_ids(shared_data: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mds.csv"
    code = _run(shared_data, str(_sites(tmp_path)), "--kind", "mds", "-o", str(out),
                "--map", "lon=X", "--map", "lat=Y", "--backend", "commune")
    text = capsys.readouterr().out
    assert code == 0
    assert "4 sites placés (mds), 4 dans le territoire, 1 rejeté" in text
    assert "rejeté : ligne 6 (mds:s5, Point perdu)" in text
    assert "sites placés portent une note" in text
    assert "note : mds:s3 (Antenne Auch) : coordonnées en Lambert-93" in text
    assert "note : mds:s4 (Permanence Riscle) : Cannet, commune déléguée de Riscle" in text
    from coverage.tables import read_written_table

    assert len(read_written_table(out)) == 4


def test_mapped_column_absent_is_named(shared_data: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mds.csv"
    code = _run(shared_data, str(_sites(tmp_path)), "--kind", "mds", "-o", str(out),
                "--map", "name=nom")
    err = capsys.readouterr().err
    assert code == 1 and not out.exists()
    assert "champ « nom » : colonne absente du fichier (donnée pour name)" in err


def test_nothing_placed_exits_1_in_one_french_line(shared_data: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "none.csv"
    path.write_text("nom;commune\nA;Atlantis\nB;Toulouse\n", "utf-8")
    out = tmp_path / "none.gpkg"
    code = _run(shared_data, str(path), "--kind", "mds", "-o", str(out), "--map", "name=nom")
    captured = capsys.readouterr()
    assert code == 1 and not out.exists()
    lines = [line for line in (captured.out + captured.err).splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("Erreur : ") and "aucun site n'a pu être placé" in lines[0]
    assert "n'est pas écrit" in lines[0]


# --- former commune names -------------------------------------------------------------------


def test_cog_former_names_read(territory, shared_data: Path) -> None:
    cog = pd.read_csv(shared_data / "gers" / "cog2022_communes_gers.csv", dtype=str)
    parent = dict(zip(cog["LIBELLE"], cog["COMPARENT"], strict=True))
    former = {f.name: f for f in former_communes(territory)}
    assert former["Cannet"].current == parent["Cannet"] == "32344"
    assert former["Labarrère"].current == parent["Labarrère"] == "32079"
    assert former["Lagraulas"].current == parent["Lagraulas"] == "32462"
    assert (former["Cannet"].kind, former["Lagraulas"].kind) == (
        "commune déléguée", "commune associée")
    # a COM row of 2022 merged since (anciens_codes of Cap d'Astarac)
    assert former["Sarcos"].current == "32365" and former["Sarcos"].kind == "ancienne commune"
    assert "Riscle" not in former  # the commune déléguée named like its parent


@pytest.mark.parametrize(
    ("query", "code", "note"),
    [
        (AddressQuery(text="", city="Cannet", postcode="32400"), "32344",
         "Cannet, commune déléguée de Riscle"),
        (AddressQuery(text="", city="Labarrère"), "32079",
         "Labarrère, commune déléguée de Castelnau d'Auzan Labarrère"),
        (AddressQuery(text="place de la mairie Lagraulas"), "32462",
         "Lagraulas, commune associée de Vic-Fezensac"),
    ],
    ids=["cannet", "labarrere", "lagraulas"],
)
def test_former_name_resolves_with_a_note(communes: CommuneIndex, query: AddressQuery,
                                          code: str, note: str) -> None:
    answer = CommuneGeocoder(communes).geocode(query)
    assert answer.found and answer.insee_code == code
    assert note in answer.reason


# --- commune name and postcode that disagree ---------------------------------------------------


def test_name_postcode_disagreement_suggests(communes: CommuneIndex) -> None:
    geocoder = CommuneGeocoder(communes)
    # Saint-Antoine is 32340; 32120 serves Saint-Antonin: the exact name wins, noted
    answer = geocoder.geocode(AddressQuery(text="", city="Saint-Antoine", postcode="32120"))
    assert answer.insee_code == communes.match_name("saint antoine")[0] == "32358"
    assert "et code postal 32120 en désaccord" in answer.reason
    assert "placé d'après le nom" in answer.reason
    assert "la commune au nom le plus proche est Saint-Antonin" in answer.reason
    # a misspelt name is read among its postcode's communes, and said so
    typo = geocoder.geocode(AddressQuery(text="", city="Saint-Antonn", postcode="32120"))
    assert typo.insee_code == "32359"
    assert "lue « Saint-Antonin » (nom approché parmi les communes du code postal 32120)" in (
        typo.reason)
    # an unknown name with a postcode of several communes: rejected, the closest suggested
    lost = geocoder.geocode(AddressQuery(text="", city="Mirandette", postcode="32300"))
    assert not lost.found
    assert "la commune au nom le plus proche est Mirande" in lost.reason
