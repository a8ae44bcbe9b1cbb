"""Batch geocoding of tables: every row back in order, bad input handled or reported per row."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pandas as pd
import pytest

from coverage.cli import main
from coverage.errors import DataError
from coverage.geocode import (
    CoordinateValidator,
    detect_columns,
    geocode_file,
    geocode_frame,
    make_geocoder,
    read_table,
)


@pytest.fixture(scope="module")
def territory(shared_data: Path):
    from coverage.layers import load_territory

    return load_territory("gers", data_dir=shared_data / "gers")


@pytest.fixture(scope="module")
def chain(territory):
    return make_geocoder(territory)


@pytest.fixture(scope="module")
def validator(territory) -> CoordinateValidator:
    return CoordinateValidator.from_territory(territory, max_distance_m=40_000)


HEADER = ["id", "nom", "adresse", "code_postal", "commune", "longitude", "latitude"]
ROWS = [
    # 1: a plain address (BANO: 17 Rue d'Etigny, Auch, 43.645607, 0.582540)
    ["a1", "Site Étigny", "17 rue d'Étigny", "32000", "Auch", "", ""],
    # 2: empty row (a spreadsheet's blank line)
    ["", "", "", "", "", "", ""],
    # 3: unknown commune
    ["a3", "Nulle part", "3 rue Haute", "", "Atlantis", "", ""],
    # 4: postcode of another département
    ["a4", "Toulouse", "1 rue de la Paix", "31000", "Toulouse", "", ""],
    # 5: coordinates fine (France services Auch-Garros)
    ["a5", "FS Auch", "2 place de la Fontaine", "32000", "Auch", "0.592823", "43.635558"],
    # 6: latitude and longitude swapped
    ["a6", "Inversé", "", "32000", "Auch", "43.635558", "0.592823"],
    # 7: Lambert-93 metres given as lon/lat (Auch-Garros: pyproj EPSG:4326 -> EPSG:2154 of
    #    0.592823, 43.635558 gives 505724.99, 6284796.16)
    ["a7", "Lambert", "", "32000", "Auch", "505724.99", "6284796.16"],
    # 8: duplicate id of row 1, street unknown -> commune fallback
    ["a1", "Doublon", "9 impasse Inconnue", "32000", "Auch", "", ""],
    # 9: coordinates far away (Paris) and an address to fall back on
    ["a9", "Loin", "17 rue d'Etigny", "32000", "Auch", "2.35", "48.85"],
    # 10: decimal commas, over the border but near (France services Aire-sur-l'Adour)
    ["a10", "Aire", "", "40800", "Aire-sur-l'Adour", "-0,2611", "43,70046"],
]


def _write(path: Path, rows: list[list[str]], *, sep: str, encoding: str) -> Path:
    with open(path, "w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=sep, lineterminator="\r\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def test_every_bad_input_case(tmp_path: Path, chain, validator) -> None:
    path = _write(tmp_path / "in.csv", ROWS, sep=";", encoding="utf-8")
    result, info = geocode_file(path, tmp_path / "out.csv", chain, validator=validator)
    out = result.frame
    assert info.separator == ";" and info.rows == 10
    assert len(out) == 10 and list(out["id"]) == [r[0] for r in ROWS]  # order kept, none dropped
    status = list(out["status"])
    assert status == [
        "matched", "rejected", "rejected", "rejected", "matched", "matched", "matched",
        "fallback", "fallback", "matched",
    ]
    assert (out.loc[0, "lon"], out.loc[0, "lat"], out.loc[0, "quality"]) == (
        0.58254, 43.645607, "housenumber",
    )
    assert out.loc[1, "reason"] == "ligne vide"
    assert "« atlantis » inconnue" in out.loc[2, "reason"]
    assert "code postal 31000 d'un autre département (31)" in out.loc[3, "reason"]
    assert out.loc[4, "quality"] == "input" and out.loc[4, "insee_code"] == "32013"
    assert out.loc[4, "note"] == ""
    assert "inversées" in out.loc[5, "note"]
    assert (out.loc[5, "lon"], out.loc[5, "lat"]) == (0.592823, 43.635558)
    assert "Lambert-93" in out.loc[6, "note"]
    assert out.loc[6, "insee_code"] == "32013"
    assert out.loc[6, "lon"] == pytest.approx(0.592823, abs=1e-6)
    assert out.loc[6, "lat"] == pytest.approx(43.635558, abs=1e-6)
    # lines as a spreadsheet shows them: the header is line 1
    assert "en double (lignes 2, 9)" in out.loc[0, "note"]
    assert "en double (lignes 2, 9)" in out.loc[7, "note"]
    assert out.loc[7, "quality"] == "municipality" and "local : voie" in out.loc[7, "reason"]
    assert "km du territoire" in out.loc[8, "note"] and out.loc[8, "quality"] == "housenumber"
    assert out.loc[9, "insee_code"] == "" and out.loc[9, "quality"] == "input"
    assert out.loc[9, "lon"] == pytest.approx(-0.2611)
    assert math.isnan(out.loc[1, "lon"]) and out.loc[1, "backend"] == ""
    assert result.by_status == {"matched": 5, "fallback": 2, "rejected": 3}
    assert result.by_quality == {"housenumber": 2, "": 3, "input": 4, "municipality": 1}
    # the written file has every input column then the outputs
    written = pd.read_csv(tmp_path / "out.csv", sep=";", dtype=str, keep_default_na=False,
                          encoding="utf-8-sig")
    assert list(written.columns) == [*HEADER, "lon", "lat", "insee_code", "quality", "score",
                                     "backend", "status", "reason", "note"]
    assert len(written) == 10


@pytest.mark.parametrize(
    ("encoding", "sep"),
    [("utf-8", ","), ("utf-8-sig", ";"), ("cp1252", ";"), ("latin-1", "\t")],
)
def test_encodings_and_separators(tmp_path: Path, encoding: str, sep: str) -> None:
    rows = [["b1", "Préfecture", "3 rue de l'Église", "32000", "Auch", "", ""]]
    path = _write(tmp_path / "in.csv", rows, sep=sep, encoding=encoding)
    frame, info = read_table(path)
    assert info.separator == sep
    assert info.encoding == {"latin-1": "cp1252"}.get(encoding, encoding)
    assert frame.loc[0, "nom"] == "Préfecture" and frame.loc[0, "adresse"] == "3 rue de l'Église"


def test_read_table_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="introuvable"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("", "utf-8")
    with pytest.raises(DataError, match="vide"):
        read_table(tmp_path / "empty.csv")
    (tmp_path / "bad.csv").write_bytes("a;b\n\xe9;1\n".encode("latin-1"))
    with pytest.raises(DataError, match="utf-8"):
        read_table(tmp_path / "bad.csv", encoding="utf-8")


def test_column_detection() -> None:
    mapping = detect_columns(["Identifiant", "Nom", "N°", "Voie", "CP", "Ville", "Code INSEE"])
    assert mapping.used() == {
        "id": "Identifiant", "housenumber": "N°", "street": "Voie", "postcode": "CP",
        "city": "Ville", "insee_code": "Code INSEE",
    }
    forced = detect_columns(["Lieu", "Adresse postale"], address="Adresse postale", city="Lieu")
    assert (forced.address, forced.city) == ("Adresse postale", "Lieu")
    with pytest.raises(DataError, match=r"champ « Rue » : colonne absente du tableau"):
        detect_columns(["Adresse"], street="Rue")
    with pytest.raises(DataError, match="aucune colonne d'adresse"):
        detect_columns(["foo", "bar"])


def test_separate_number_street_and_insee(chain) -> None:
    frame = pd.DataFrame(
        {"numero": ["25", "17"], "voie": ["chemin d'Arques", "Rue d'Etigny"],
         "code_insee": ["32160", "2013"]}  # a 4-digit code: a number that lost its leading 0
    )
    result = geocode_frame(frame, chain)
    assert result.frame.loc[0, "insee_code"] == "32160"
    assert (result.frame.loc[0, "lon"], result.frame.loc[0, "lat"]) == (1.083614, 43.600107)
    # "2013" is read as a zero-padded 02013 (Ain): outside the territory, rejected with the reason
    assert result.frame.loc[1, "status"] == "rejected"
    assert "02013 hors du territoire" in result.frame.loc[1, "reason"]


def test_output_column_names_do_not_clobber_input(chain) -> None:
    frame = pd.DataFrame({"adresse": ["17 rue d'Etigny Auch"], "status": ["à vérifier"]})
    out = geocode_frame(frame, chain).frame
    assert out.loc[0, "status_input"] == "à vérifier" and out.loc[0, "status"] == "matched"


def test_coordinate_validator_cases(validator: CoordinateValidator) -> None:
    ok = validator.check(0.592823, 43.635558)
    assert (ok.status, ok.inside, ok.distance_m) == ("ok", True, 0.0)
    assert validator.check("43.635558", "0.592823").status == "repaired"
    swapped_l93 = validator.check(6284796.16, 505724.99)
    assert swapped_l93.note.startswith("coordonnées en Lambert-93 inversées")
    assert swapped_l93.lon == pytest.approx(0.592823, abs=1e-6)
    border = validator.check(-0.2611, 43.70046)  # Aire-sur-l'Adour, Landes
    assert border.status == "ok" and not border.inside and 0 < border.distance_m < 40_000
    far = validator.check(2.35, 48.85)
    assert far.status == "rejected" and "km du territoire" in far.note
    assert validator.check("", "").status == "missing" and validator.check("", "").note == ""
    assert validator.check("abc", "43.6").note == "coordonnées illisibles (abc, 43.6)"
    assert validator.check(0, 0).note == "coordonnées nulles (0, 0) ignorées"


def test_geocode_command(
    tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path / "sites.csv", ROWS, sep=";", encoding="cp1252")
    out = tmp_path / "sites_geo.csv"
    code = main(["geocode", str(path), "-o", str(out), "--data", str(shared_data / "gers"),
                 "--no-progress"])
    text = capsys.readouterr().out
    assert code == 0
    assert "encodage cp1252" in text and "séparateur ';'" in text
    assert "trouvé               5" in text and "repli                2" in text
    assert "rejeté               3" in text
    assert "ligne 3 : ligne vide" in text
    frame = pd.read_csv(out, sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert len(frame) == 10 and frame.loc[0, "nom"] == "Site Étigny"


def test_geocode_command_unknown_backend(tmp_path: Path, shared_data: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "sites.csv", ROWS[:1], sep=",", encoding="utf-8")
    code = main(["geocode", str(path), "--data", str(shared_data / "gers"), "--backend", "google"])
    assert code == 1
    assert "unknown geocoding backend(s) google" in capsys.readouterr().err
