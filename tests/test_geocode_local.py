"""The ``local`` and ``commune`` backends on the real Gers data; interpolation on built tables."""

from __future__ import annotations

import math
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from coverage.geocode import (
    AddressIndex,
    AddressQuery,
    CommuneGeocoder,
    CommuneIndex,
    LocalGeocoder,
    make_geocoder,
)
from coverage.geocode.evaluate import drop_rows, evaluate, noisy_addresses
from coverage.layers.addresses import read_address_table


@pytest.fixture(scope="module")
def territory(shared_data):
    from coverage.layers import load_territory

    return load_territory("gers", data_dir=shared_data / "gers")


@pytest.fixture(scope="module")
def bano(territory) -> pd.DataFrame:
    return read_address_table(territory.config.layer("addresses"), territory.data_dir)


@pytest.fixture(scope="module")
def communes(territory) -> CommuneIndex:
    return CommuneIndex.from_territory(territory)


@pytest.fixture(scope="module")
def local(bano, communes) -> LocalGeocoder:
    return LocalGeocoder(communes, AddressIndex.from_table(bano, communes))


def _distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    from pyproj import Geod

    return abs(Geod(ellps="WGS84").inv(lon1, lat1, lon2, lat2)[2])


# --- index -------------------------------------------------------------------------------


def test_index_counts_real_bano(local: LocalGeocoder) -> None:
    index = local.index
    assert index is not None
    assert index.n_points == 34_072  # every row of the sample has a commune of the Gers
    assert len(index.communes) == 80  # the 80 communes of the BANO 2015 sample
    assert len(index.communes["32013"].streets) == 495  # Auch
    # the merged commune keeps its former name as an alias
    assert index.aliases == {"Castelnau-d'Auzan": "32079"}


def test_index_builds_within_target(territory, communes) -> None:
    start = time.perf_counter()
    AddressIndex.from_territory(territory, communes)
    assert time.perf_counter() - start < 5.0


# --- local backend -------------------------------------------------------------------------


def test_exact_address_with_noise(local: LocalGeocoder) -> None:
    # BANO: 320131446L-17,17,Rue d'Etigny,32000,Auch,C+O,43.645607,0.582540
    for text in (
        "17 Rue d'Etigny 32000 Auch",
        "17 RUE D ETIGNY, AUCH",
        "17 r. d'Étigny 32000",
        "17 rue detigny auch",  # apostrophe lost
    ):
        result = local.geocode(AddressQuery(text=text))
        assert result.status == "matched", (text, result.reason)
        assert result.quality == "housenumber"
        assert result.insee_code == "32013"
        assert (result.lon, result.lat) == (0.58254, 43.645607), text


def test_repetition_index(local: LocalGeocoder) -> None:
    # 320131446L-19B,19BIS,Rue d'Etigny,...,43.645469,0.582452
    for text in ("19 bis rue d'Etigny Auch", "19BIS rue d'Etigny Auch", "19 B rue d'Etigny Auch"):
        result = local.geocode(AddressQuery(text=text))
        assert (result.lon, result.lat) == (0.582452, 43.645469), text
    # 13 bis does not exist: number 13 is used, with a note and a lower score
    result = local.geocode(AddressQuery(text="13 bis rue d'Etigny Auch"))
    assert (result.lon, result.lat) == (0.582657, 43.645793)
    assert "indice" in result.reason and result.score < 1.0


def test_abbreviations_saint_and_typo(local: LocalGeocoder) -> None:
    # 320131053J-12,12,Rue Camille Saint-Saëns,32000,Auch,C+O,43.653304,0.573364
    result = local.geocode(AddressQuery(text="12 r Camille St Saens", city="AUCH"))
    assert (result.quality, result.lon, result.lat) == ("housenumber", 0.573364, 43.653304)
    typo = local.geocode(AddressQuery(text="12 rue Camille Saint Saëns", postcode="32000"))
    assert typo.quality == "housenumber"
    misspelt = local.geocode(AddressQuery(text="12 rue Camile Saint-Saens 32000 Auch"))
    assert misspelt.status == "matched" and misspelt.quality == "housenumber"
    assert 0.8 < misspelt.score < 1.0


def test_structured_fields_and_insee_code(local: LocalGeocoder) -> None:
    # 321600089X-25,25,Chemin d'Arques,32600,L'Isle-Jourdain,C+O,43.600107,1.083614
    by_code = local.geocode(AddressQuery(text="25 chem d'Arques", insee_code="32160"))
    by_name = local.geocode(AddressQuery(text="25 chemin d Arques", city="Isle-Jourdain"))
    by_postcode = local.geocode(AddressQuery(text="25 Chemin d'Arques", postcode="32600"))
    for result in (by_code, by_name, by_postcode):
        assert (result.insee_code, result.lon, result.lat) == ("32160", 1.083614, 43.600107)


def test_missing_number_is_street_quality(local: LocalGeocoder) -> None:
    result = local.geocode(AddressQuery(text="Rue d'Etigny, 32000 Auch"))
    assert result.quality == "street" and result.insee_code == "32013"
    # the street's point is one of its address points
    assert _distance_m(result.lon, result.lat, 0.58254, 43.645607) < 200


def test_number_past_the_end_is_street_quality(local: LocalGeocoder) -> None:
    result = local.geocode(AddressQuery(text="400 rue d'Etigny Auch"))
    assert result.quality == "street"
    assert "hors des numéros connus" in result.reason


def test_interpolation_on_real_street(bano: pd.DataFrame, territory) -> None:
    # remove number 19 of Rue d'Etigny: it sits between 17 and 21 on the odd side
    row = bano.index[(bano["id"] == "320131446L-19")][0]
    communes = CommuneIndex.from_territory(territory)
    local = LocalGeocoder(communes, AddressIndex.from_table(drop_rows(bano, [row]), communes))
    result = local.geocode(AddressQuery(text="19 rue d'Etigny 32000 Auch"))
    assert result.quality == "housenumber" and result.extra == {"interpolated": "1"}
    # midpoint of 17 (0.582540, 43.645607) and 21 (0.582414, 43.645410)
    assert result.lon == pytest.approx((0.582540 + 0.582414) / 2, abs=1e-9)
    assert result.lat == pytest.approx((43.645607 + 43.645410) / 2, abs=1e-9)
    assert _distance_m(result.lon, result.lat, 0.582489, 43.645528) < 5  # the true 19


def _tiny_communes() -> CommuneIndex:
    square = shapely.box(500_000, 6_280_000, 502_000, 6_282_000)
    other = shapely.box(502_000, 6_280_000, 504_000, 6_282_000)
    frame = gpd.GeoDataFrame(
        {
            "insee_code": ["32901", "32902"],
            "name": ["Bourg-Neuf", "Saint-Vieux"],
            "postcodes": ["32990", "32990;32991"],
            "point_x": [501_000.0, 503_000.0],
            "point_y": [6_281_000.0, 6_281_000.0],
            "population": [100, 50],
        },
        geometry=[square, other],
        crs="EPSG:2154",
    )
    return CommuneIndex(frame, departement="32")


def test_interpolation_uses_the_same_side() -> None:
    communes = _tiny_communes()
    table = pd.DataFrame(
        {
            "id": ["32901_a_1", "32901_a_2", "32901_a_9", "32901_a_10"],
            "housenumber": ["1", "2", "9", "10"],
            "street": ["Rue Haute"] * 4,
            "postcode": ["32990"] * 4,
            "commune_name": ["Bourg-Neuf"] * 4,
            "lon": [0.10, 0.20, 0.50, 0.60],
            "lat": [43.0, 43.1, 43.4, 43.5],
        }
    )
    local = LocalGeocoder(communes, AddressIndex.from_table(table, communes))
    odd = local.geocode(AddressQuery(text="5 rue haute", insee_code="32901"))
    # 5 lies between odd 1 and 9, half-way: (0.10 + 0.50) / 2, (43.0 + 43.4) / 2
    assert (round(odd.lon, 9), round(odd.lat, 9)) == (0.3, 43.2)
    even = local.geocode(AddressQuery(text="4 rue haute", insee_code="32901"))
    # 4 lies between even 2 and 10, a quarter of the way
    assert (round(even.lon, 9), round(even.lat, 9)) == (0.3, 43.2)
    assert odd.quality == even.quality == "housenumber"
    assert odd.score == pytest.approx(0.9)


def test_shared_postcode_ambiguity_is_rejected_not_guessed() -> None:
    communes = _tiny_communes()
    table = pd.DataFrame(
        {
            "id": ["32901_a_1", "32902_b_1", "32902_b_3"],
            "housenumber": ["1", "1", "3"],
            "street": ["Rue de l'Église", "Rue de l'Église", "Rue de l'Église"],
            "postcode": ["32990", "32990", "32990"],
            "commune_name": ["Bourg-Neuf", "Saint-Vieux", "Saint-Vieux"],
            "lon": [0.1, 0.3, 0.31],
            "lat": [43.0, 43.0, 43.01],
        }
    )
    local = LocalGeocoder(communes, AddressIndex.from_table(table, communes))
    both = local.geocode(AddressQuery(text="1 rue de l eglise 32990"))
    assert both.status == "rejected" and "ambiguë" in both.reason
    assert "Bourg-Neuf" in both.reason and "Saint-Vieux" in both.reason
    # number 3 exists in one commune only: it decides
    three = local.geocode(AddressQuery(text="3 rue de l eglise 32990"))
    assert (three.status, three.insee_code) == ("matched", "32902")
    named = local.geocode(AddressQuery(text="1 rue de l eglise 32990 St Vieux"))
    assert (named.insee_code, named.lon) == ("32902", 0.3)


def test_unknown_street_and_communes_without_addresses(local: LocalGeocoder) -> None:
    unknown = local.geocode(AddressQuery(text="7 rue des Martiens 32000 Auch"))
    assert unknown.status == "rejected" and "introuvable" in unknown.reason
    rural = local.geocode(AddressQuery(text="1 route du Moulin", insee_code="32003"))  # Antras
    assert rural.status == "rejected" and "aucune adresse de Antras" in rural.reason


def test_other_departement_and_homonyms_are_not_guessed(local: LocalGeocoder) -> None:
    # Auterive exists in the Gers (32019) and in Haute-Garonne (31033, postcode 31190)
    foreign = local.geocode(AddressQuery(text="Rd 820 ZI Robert Lavigne 31190 Auterive"))
    assert foreign.status == "rejected"
    assert "code postal 31190 d'un autre département (31)" in foreign.reason
    by_code = local.geocode(AddressQuery(text="Rd 820", insee_code="31033"))
    assert "commune 31033 hors du territoire (département 31)" in by_code.reason
    toulouse = local.geocode(AddressQuery(text="1 rue de la Paix 31000 Toulouse"))
    assert toulouse.status == "rejected" and toulouse.insee_code == ""


def test_unknown_commune_and_empty_query(local: LocalGeocoder) -> None:
    result = local.geocode(AddressQuery(text="3 rue Haute", city="Atlantis"))
    assert result.status == "rejected" and "« atlantis » inconnue" in result.reason
    assert local.geocode(AddressQuery()).reason == "ligne vide"


def test_missing_address_file_rejects_with_reason(communes: CommuneIndex) -> None:
    from coverage.errors import DataError

    def broken() -> AddressIndex:
        raise DataError("layer 'addresses' file is missing from the bundle")

    local = LocalGeocoder(communes, loader=broken)
    result = local.geocode(AddressQuery(text="17 rue d'Etigny Auch"))
    assert result.status == "rejected" and "index d'adresses indisponible" in result.reason


# --- commune backend and reverse lookup -----------------------------------------------------


def test_commune_backend(communes: CommuneIndex, territory) -> None:
    backend = CommuneGeocoder(communes)
    auch = territory.communes.set_index("insee_code").loc["32013"]
    expected = gpd.GeoSeries(
        [shapely.Point(auch["point_x"], auch["point_y"])], crs="EPSG:2154"
    ).to_crs("EPSG:4326")[0]
    for query in (
        AddressQuery(insee_code="32013"),
        AddressQuery(city="AUCH", postcode="32000"),
        AddressQuery(text="place de la Libération 32000 Auch"),
        AddressQuery(city="Auch"),
        AddressQuery(postcode="32000"),  # the postcode serves Auch only
    ):
        result = backend.geocode(query)
        assert (result.status, result.quality, result.insee_code) == (
            "matched", "municipality", "32013",
        ), query
        assert result.lon == pytest.approx(expected.x, abs=1e-7)
        assert result.lat == pytest.approx(expected.y, abs=1e-7)
    fuzzy = backend.geocode(AddressQuery(city="L Isle Jourdin", postcode="32600"))
    assert fuzzy.insee_code == "32160" and fuzzy.score < 1.0
    shared = backend.geocode(AddressQuery(postcode="32300"))
    assert shared.status == "rejected" and "commun à 31 communes" in shared.reason


def test_commune_name_with_wrong_postcode(communes: CommuneIndex) -> None:
    # Pavie is 32550: a 32000 postcode is noted, the name wins
    result = CommuneGeocoder(communes).geocode(AddressQuery(city="Pavie", postcode="32000"))
    assert result.insee_code == "32307" and "code postal 32000 différent" in result.reason


def test_reverse_lookup(communes: CommuneIndex, territory) -> None:
    points = territory.commune_points().to_crs("EPSG:4326")
    codes = communes.reverse_many(points.geometry.x.to_numpy(), points.geometry.y.to_numpy())
    assert list(codes) == list(points["insee_code"])  # each representative point, its commune
    assert communes.reverse(1.4442, 43.6045) == ""  # Toulouse: outside the territory
    assert communes.reverse(math.nan, 43.6) == ""


# --- chain ------------------------------------------------------------------------------------


def test_default_chain_falls_back_to_commune(territory) -> None:
    chain = make_geocoder(territory)
    assert chain.names == ["local", "commune"]
    results = chain.geocode_many(
        [
            AddressQuery(text="17 Rue d'Etigny 32000 Auch", row_id="1"),
            AddressQuery(text="7 rue des Martiens 32000 Auch", row_id="2"),
            AddressQuery(text="", row_id="3"),
            AddressQuery(text="1 rue X 31000 Toulouse", row_id="4"),
        ]
    )
    assert [r.status for r in results] == ["matched", "fallback", "rejected", "rejected"]
    assert [r.row_id for r in results] == ["1", "2", "3", "4"]
    assert results[1].quality == "municipality" and "local : voie" in results[1].reason
    assert results[2].reason == "ligne vide"
    # both backends refused for the same reason: said once, naming both
    assert results[3].reason.startswith("local, commune : code postal 31000 d'un autre départ")


# --- the benchmark's method on a small slice ---------------------------------------------------


def test_benchmark_method_small_slice(bano: pd.DataFrame, local: LocalGeocoder) -> None:
    sample = noisy_addresses(bano, n=300, seed=7)
    assert len(sample) == 300 and sample["row"].is_unique
    assert set(sample["commune_form"]) == {"postcode+name", "postcode", "name"}
    again = noisy_addresses(bano, n=300, seed=7)
    assert list(again["text"]) == list(sample["text"])  # seeded
    result = evaluate(local, sample)
    assert result.n == 300
    assert result.housenumber_within_50m >= 0.95
    assert result.wrong_commune_count == 0
    assert result.per_s > 500  # the full benchmark measures the real figure


def test_benchmark_harder_variant_interpolates(bano: pd.DataFrame, territory) -> None:
    sample = noisy_addresses(bano, n=200, seed=3, typo_rate=0.0)
    communes = CommuneIndex.from_territory(territory)
    reduced = drop_rows(bano, sample["row"].to_numpy())
    assert len(reduced) == len(bano) - 200
    local = LocalGeocoder(communes, AddressIndex.from_table(reduced, communes))
    result = evaluate(local, sample)
    assert result.interpolated > 0.5 * result.n
    assert result.interpolated_within_50m > 0.85
    assert np.isfinite(result.median_error_m) and result.median_error_m < 30
