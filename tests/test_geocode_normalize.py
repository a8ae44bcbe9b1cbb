"""French address normalisation: accents, case, abbreviations, house numbers, postcodes."""

from __future__ import annotations

import pytest

from coverage.geocode.normalize import (
    normalise_text,
    parse_address,
    parse_housenumber,
    split_street,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Avenue de la République", "avenue de la republique"),
        ("AVENUE DE LA REPUBLIQUE", "avenue de la republique"),
        ("av. de la Republique", "avenue de la republique"),
        ("Av de la république", "avenue de la republique"),
        ("bd Sadi-Carnot", "boulevard sadi carnot"),
        ("Chem. des Écureuils", "chemin des ecureuils"),
        ("rte d'Agen", "route d agen"),
        ("Pl. de la Libération", "place de la liberation"),
        ("St-Clar", "saint clar"),
        ("Ste Marie", "sainte marie"),
        ("Lieu-dit Bidau", "lieu dit bidau"),
        ("LD Bidau", "lieu dit bidau"),
        ("imp. des Lilas", "impasse des lilas"),
        ("Rue du Mal Foch", "rue du marechal foch"),
        ("Allée d’Étigny", "allee d etigny"),
        ("L'Isle-Jourdain", "l isle jourdain"),
        ("", ""),
    ],
)
def test_normalise_text(text: str, expected: str) -> None:
    assert normalise_text(text) == expected


@pytest.mark.parametrize(
    ("norm", "kind", "core"),
    [
        ("avenue de la republique", "avenue", "republique"),
        ("lieu dit bidau", "lieu dit", "bidau"),
        ("le bourg", "", "bourg"),
        ("rue saint jean", "rue", "saint jean"),
        ("rond point de l europe", "rond point", "europe"),
        ("place", "place", "place"),
    ],
)
def test_split_street(norm: str, kind: str, core: str) -> None:
    assert split_street(norm) == (kind, core)


@pytest.mark.parametrize(
    ("text", "number", "suffix"),
    [
        ("5", 5, ""),
        ("5BIS", 5, "bis"),
        ("5 bis", 5, "bis"),
        ("5b", 5, "bis"),
        ("5 B", 5, "bis"),
        ("12TER", 12, "ter"),
        ("3 A", 3, "a"),
        ("Q", None, ""),
        ("", None, ""),
    ],
)
def test_parse_housenumber(text: str, number: int | None, suffix: str) -> None:
    assert parse_housenumber(text) == (number, suffix)


def test_parse_full_free_text() -> None:
    parsed = parse_address("12 AV. DE LA REPUBLIQUE, 32000 AUCH")
    assert (parsed.number, parsed.suffix, parsed.street, parsed.postcode, parsed.city) == (
        12, "", "avenue de la republique", "32000", "auch",
    )
    assert parsed.housenumber == "12"


def test_parse_bis_range_and_noise() -> None:
    assert parse_address("5 bis rue d'Étigny 32000 Auch").housenumber == "5bis"
    assert parse_address("5BIS rue d'Étigny").housenumber == "5bis"
    ranged = parse_address("12-14 bd Sadi Carnot")
    assert (ranged.number, ranged.street) == (12, "boulevard sadi carnot")
    cedex = parse_address("2 place du Colonel Parisot BP 12 32290 Aignan CEDEX 9")
    assert (cedex.street, cedex.postcode, cedex.city) == (
        "place du colonel parisot", "32290", "aignan",
    )
    assert parse_address("n° 7 rue Gambetta").number == 7


def test_parse_keeps_numbers_that_are_names() -> None:
    # "Rue du 8 Mai 1945": the number is part of the name, the house number comes first
    parsed = parse_address("3 rue du 8 mai 1945 32000 Auch")
    assert (parsed.number, parsed.street) == (3, "rue du 8 mai 1945")
    assert parse_address("1er mai").number is None
    # a letter after the number is an index only before a street type
    assert parse_address("5 d Armagnac").street == "d armagnac"


def test_parse_fields_given_separately() -> None:
    parsed = parse_address("14 Rue des Pyrénées Riscle", postcode="32400", city="Riscle")
    assert (parsed.street, parsed.postcode, parsed.city) == ("rue des pyrenees", "32400", "riscle")
    # a postcode read as a number by a spreadsheet lost its leading zero
    assert parse_address("1 rue X", postcode="1000").postcode == "01000"
    only_commune = parse_address("32000 Auch")
    assert (only_commune.street, only_commune.postcode, only_commune.city) == ("", "32000", "auch")
