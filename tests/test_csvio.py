"""The one reader of user CSV tables: encodings, separators, numbers, errors naming the line."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest

from coverage.csvio import number_column, parse_number, read_table, to_number
from coverage.errors import DataError

ACCENTS = ("Église Sainte-Marie", "Hôtel de ville", "Œuvre sociale", "cœur de bastide")


def _rows_text(sep: str) -> str:
    lines = [sep.join(("nom", "commune", "capacite"))]
    lines += [sep.join((name, "Lectoure", "2,5")) for name in ACCENTS]
    return "\r\n".join(lines) + "\r\n"


@pytest.mark.parametrize(
    ("encoding", "written", "reported"),
    [
        ("utf-8", b"", "utf-8"),
        ("utf-8", b"\xef\xbb\xbf", "utf-8-sig"),
        ("cp1252", b"", "cp1252"),
        ("utf-16-le", b"\xff\xfe", "utf-16-le"),
        ("utf-16-be", b"\xfe\xff", "utf-16-be"),
    ],
)
def test_encodings_are_recognised_and_reported(
    tmp_path: Path, encoding: str, written: bytes, reported: str
) -> None:
    path = tmp_path / "sites.csv"
    path.write_bytes(written + _rows_text(";").encode(encoding))
    frame, info = read_table(path)
    assert info.encoding == reported and info.separator == ";"
    assert list(frame.columns) == ["nom", "commune", "capacite"]  # no BOM left in a name
    assert list(frame["nom"]) == list(ACCENTS)
    assert info.rows == 4 and info.lines == (2, 3, 4, 5)


def test_latin1_bytes_that_cp1252_lacks_fall_back_to_latin1(tmp_path: Path) -> None:
    # 0x81 is undefined in cp1252: the table is Latin-1 and é/ô still read right
    path = tmp_path / "communes.csv"
    path.write_bytes("nom;note\nSaint-Clar;\x81 é ô\n".encode("latin-1"))
    frame, info = read_table(path)
    assert info.encoding == "latin-1"
    assert frame.loc[0, "note"] == "\x81 é ô"


def test_utf16_without_bom_is_not_read_as_cp1252(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    path.write_bytes("nom\tcommune\nMDS d'Auch\tAuch\n".encode("utf-16-le"))
    frame, info = read_table(path)
    assert (info.encoding, info.separator) == ("utf-16-le", "\t")
    assert frame.to_dict("records") == [{"nom": "MDS d'Auch", "commune": "Auch"}]


@pytest.mark.parametrize("sep", [";", ",", "\t", "|"])
def test_separators_are_sniffed(tmp_path: Path, sep: str) -> None:
    path = tmp_path / "sites.csv"
    text = _rows_text(sep) if sep != "," else _rows_text(",").replace("2,5", '"2,5"')
    path.write_text(text, "utf-8")
    frame, info = read_table(path)
    assert info.separator == sep
    assert list(frame.columns) == ["nom", "commune", "capacite"]
    assert set(frame["capacite"]) == {"2,5"}  # values stay text


def test_spreadsheet_sep_line_and_gzip(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_text("sep=;\nnom;lat\nAuch;43,65\n", "utf-8")
    frame, info = read_table(path)
    assert info.separator == ";" and info.lines == (3,)
    assert frame.to_dict("records") == [{"nom": "Auch", "lat": "43,65"}]
    packed = tmp_path / "adresses.csv.gz"
    packed.write_bytes(gzip.compress("id;voie\n1;Rue de l'Église\n".encode("cp1252")))
    frame, info = read_table(packed)
    assert info.encoding == "cp1252" and frame.loc[0, "voie"] == "Rue de l'Église"


def test_every_value_is_text_and_blank_lines_are_rows(tmp_path: Path) -> None:
    path = tmp_path / "codes.csv"
    path.write_text("insee_code;x\n01234;007\n\n;;\n32013;\n", "utf-8")
    frame, info = read_table(path)
    assert frame.to_dict("records") == [
        {"insee_code": "01234", "x": "007"},  # leading zeros kept
        {"insee_code": "", "x": ""},
        {"insee_code": "", "x": ""},
        {"insee_code": "32013", "x": ""},
    ]
    assert info.lines == (2, 3, 4, 5)
    frame, info = read_table(path, skip_blank_lines=True)
    assert list(frame["insee_code"]) == ["01234", "32013"] and info.lines == (2, 5)


def test_quoted_values_and_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_text('nom,adresse\n"MDS, Auch","2 rue\nGambetta"\nLectoure,x\n', "utf-8")
    frame, info = read_table(path)
    assert frame.loc[0, "nom"] == "MDS, Auch" and frame.loc[0, "adresse"] == "2 rue\nGambetta"
    assert info.lines == (2, 4)  # the quoted line break takes a line


def test_an_over_long_row_is_an_error_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_text("nom;commune\nMDS;Auch\nMDS;Condom;Gers\n", "utf-8")
    with pytest.raises(DataError, match="3 valeurs pour 2 colonnes") as caught:
        read_table(path)
    assert caught.value.row == 3 and caught.value.path == path
    assert "sites.csv" in str(caught.value)
    # the first row too: pandas would silently make its first value an index
    path.write_text("nom;commune\nMDS;Condom;Gers\n", "utf-8")
    with pytest.raises(DataError) as caught:
        read_table(path)
    assert caught.value.row == 2
    # trailing separators (empty extra values) shift nothing and are accepted
    path.write_text("nom;commune;\nMDS;Condom;;\n", "utf-8")
    frame, _ = read_table(path)
    assert frame.to_dict("records") == [{"nom": "MDS", "commune": "Condom"}]


def test_short_rows_are_completed(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_text("nom;commune;statut\nMDS;Auch\n", "utf-8")
    frame, _ = read_table(path)
    assert frame.to_dict("records") == [{"nom": "MDS", "commune": "Auch", "statut": ""}]


@pytest.mark.parametrize(
    ("content", "message", "row"),
    [
        (b"", "le fichier est vide", None),
        (b"\r\n\r\n", "le fichier est vide", None),
        (b"\xef\xbb\xbf", "le fichier est vide", None),
        (b"\nnom;commune\nMDS;Auch\n", "la ligne 1 est vide", 1),
        (b"32013\n32107\n", "ne contient que des nombres", 1),
        (b"nom;;commune\nMDS;x;Auch\n", "la colonne 2 de l'en-t", 1),
        (b"nom;nom\nMDS;Auch\n", "appara.t deux fois", 1),
        (b'nom,commune\nMDS,Auch\n"MDS,Condom\nx,y\n', "ligne 3 : un guillemet ouvert", 3),
        (b'nom,commune\n"MDS"x,Auch\n', "ligne 2 : une valeur entre guillemets", 2),
        (b"PK\x03\x04\x00\x00\x08\x00", "octets nuls", None),
    ],
)
def test_unusable_files(tmp_path: Path, content: bytes, message: str, row: int | None) -> None:
    path = tmp_path / "liste.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as caught:
        read_table(path)
    assert caught.value.path == path
    if row is not None:
        assert caught.value.row == row


def test_missing_file_and_wrong_forced_encoding(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="fichier introuvable"):
        read_table(tmp_path / "absent.csv")
    path = tmp_path / "latin.csv"
    path.write_bytes("nom\nAuch\nL\xe9ctoure\n".encode("latin-1"))
    with pytest.raises(DataError, match="ligne 3 : octets invalides en utf-8") as caught:
        read_table(path, encoding="utf-8")
    assert caught.value.row == 3
    frame, info = read_table(path, encoding="latin-1")
    assert info.encoding == "latin-1" and frame.loc[1, "nom"] == "Léctoure"


def test_decimal_comma_numbers() -> None:
    assert to_number("43,65") == pytest.approx(43.65)
    assert to_number(" 43.65 ") == pytest.approx(43.65)
    assert to_number("1 234,5") == pytest.approx(1234.5)
    assert to_number("1\u202f234") == 1234.0
    assert to_number("-0,5") == -0.5 and to_number("2e3") == 2000.0
    for bad in ("", "abc", "1.234,5", "1,2,3", "inf", "nan", "1_000", "12 km"):
        assert to_number(bad) is None, bad
    assert parse_number("", field="capacite", line=4) is None
    assert parse_number("0,25", field="capacite", line=4) == 0.25


def test_a_bad_number_names_the_field_and_the_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="« douze » n'est pas un nombre") as caught:
        parse_number("douze", field="capacite", line=7, path=tmp_path / "sites.csv")
    assert (caught.value.field, caught.value.row) == ("capacite", 7)
    assert "sites.csv" in str(caught.value)

    path = tmp_path / "points.csv"
    path.write_text("lat;lon\n43,65;0,58\n\n43,1;x\n", "utf-8")
    frame, info = read_table(path)
    lat = number_column(frame["lat"], field="lat", info=info)
    assert lat[0] == pytest.approx(43.65) and math.isnan(lat[1]) and lat[2] == pytest.approx(43.1)
    with pytest.raises(DataError, match="« x » n'est pas un nombre") as caught:
        number_column(frame["lon"], field="lon", info=info)
    assert (caught.value.field, caught.value.row, caught.value.path) == ("lon", 4, path)
    assert np.isnan(number_column(["", " "], field="lon")).all()


# --- the readers that use it ------------------------------------------------------------------


def test_latin1_semicolon_candidates_file_on_the_gers(tmp_path: Path, gers) -> None:
    """What ``coverage place --candidates`` reads: a spreadsheet's Latin-1 ``;`` export."""
    from coverage.jobs.placement_instance import read_candidate_file

    path = tmp_path / "candidats.csv"
    text = (
        "candidate_id;name;insee_code;lon;lat;capacity\r\n"
        "c1;Hôtel-Dieu de Lectoure;32208;;;1 500,5\r\n"
        "c2;Cœur de Gascogne, Éauze;;0,1007;43,8612;\r\n"
        "\r\n"
        "c3;Bastide de Fleurance;32132;;;800\r\n"
    )
    path.write_bytes(text.encode("cp1252"))  # œ exists in cp1252, not in ISO 8859-1
    sites = read_candidate_file(path, gers)
    assert list(sites["candidate_id"]) == ["c1", "c2", "c3"]
    assert list(sites["name"]) == [
        "Hôtel-Dieu de Lectoure",
        "Cœur de Gascogne, Éauze",
        "Bastide de Fleurance",
    ]
    assert list(sites["commune_name"]) == ["Lectoure", "", "Fleurance"]
    assert sites["capacity"].iloc[0] == pytest.approx(1500.5)
    assert sites["capacity"].iloc[1] == np.inf and sites["capacity"].iloc[2] == 800.0
    # lon/lat written with decimal commas, now a Lambert-93 point inside Eauze (32119)
    eauze = gers.communes.set_index("insee_code").geometry["32119"]
    assert sites.crs == "EPSG:2154" and eauze.contains(sites.geometry.iloc[1])

    # a bad value names its line (blank line 4 counted) and its field
    path.write_bytes(text.replace("800", "huit cents").encode("cp1252"))
    with pytest.raises(DataError, match="« huit cents » n'est pas un nombre") as caught:
        read_candidate_file(path, gers)
    assert (caught.value.row, caught.value.field) == (5, "capacity")


def test_address_file_through_the_reader(tmp_path: Path) -> None:
    from coverage.layers.addresses import read_address_table
    from coverage.layers.config import LayerSpec

    columns = {"housenumber": "numero", "street": "nom_voie", "commune_name": "nom_commune"}
    spec = LayerSpec(name="addresses", file="adresses-32.csv.gz", columns=columns, format="ban")
    text = (
        "id;numero;nom_voie;postcode;nom_commune;lon;lat\n"
        "32013_0420_00003;3;Rue de l'Église;32000;Auch;0,5857;43,6465\n"
        "\n"
        "32013_0420_00005;5;Rue de l'Église;32000;Auch;;\n"
    )
    (tmp_path / spec.file).write_bytes(gzip.compress(text.encode("cp1252")))
    table = read_address_table(spec, tmp_path)
    assert list(table["street"]) == ["Rue de l'Église", "Rue de l'Église"]  # blank line skipped
    assert table["lon"].iloc[0] == pytest.approx(0.5857) and math.isnan(table["lat"].iloc[1])
    bad = text.replace("43,6465", "43°38'")
    (tmp_path / spec.file).write_bytes(gzip.compress(bad.encode("cp1252")))
    with pytest.raises(DataError, match="n'est pas un nombre") as caught:
        read_address_table(spec, tmp_path)
    assert (caught.value.row, caught.value.field) == (2, "lat")
