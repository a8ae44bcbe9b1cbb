"""Publics (issue 19): the people each service is for, counted per commune, canton and EPCI.

The tiny territory of tests/test_access.py (four 2 km communes, 1 km cells, a grid
network of 100 s per step, one service at the bottom-left cell) with a publics
layer whose figures are chosen by hand: ``age_75_plus`` is 20, 40, 0 and 100 in
Alpha, Beta, Gamma and Bourg (inhabitants 100, 200, 0, 1 000), so each of the
four cells of a commune holds a quarter of it: 5, 10, 0 and 25 people.

Steps from the service: Alpha 0, 1, 1, 2; Beta 2, 3, 3, 4; Bourg 6, 7, 7, 8.
Beyond 2.5 min (150 s, 2+ steps): Alpha 5, Beta 40, Bourg 100. Beyond 5.5 min
(330 s, 4+ steps): Beta 10, Bourg 100.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from coverage.access import AccessContext, public_counts, service_access
from coverage.errors import DataError, QueryError
from coverage.geocode.catalogue import load_catalogue
from coverage.jobs.resources import TerritoryResources
from coverage.jobs.run import run_scenario
from coverage.layers import load_territory
from coverage.layers.population import population_surface
from coverage.layers.publics import read_age_bands, read_publics
from coverage.results import ResultFolder
from coverage.scenario import scenario_from_dict
from coverage.tables import public_columns, read_written_table
from tests.conftest import TINY_TOML, X0, Y0, tiny_communes, write_geojson
from tests.test_access import ACCESS, grid_network

LABEL = "Personnes de 75 ans ou plus"

PUBLICS_TOML = """
[layers.publics]
file = "publics.csv"
source = "Tableau d'essai"
licence = "Licence Ouverte 2.0"
year = 2021

[layers.publics.publics.age_75_plus]
label = "Personnes de 75 ans ou plus"
column = "P21_POP75P"

[layers.publics.publics.age_0_5]
label = "Enfants <6 ans & familles"
source = "Autre tableau"
year = 2020
"""

GOOD_CSV = "insee_code;P21_POP75P;age_0_5\n99001;20;6\n99002;40;12\n99003;0;0\n99004;100;60\n"


def _bundle(make_tiny, csv_text: str = GOOD_CSV, toml: str = PUBLICS_TOML) -> Path:
    communes = tiny_communes()
    communes[1]["properties"]["pop"] = 200  # 100, 200, 0, 1000: divisible by 4 cells
    bundle = make_tiny(communes=communes, cell=1000, toml=TINY_TOML.format(cell=1000) + toml)
    (bundle / "publics.csv").write_text(csv_text, "utf-8")
    return bundle


@pytest.fixture
def tiny_context(make_tiny) -> AccessContext:
    territory = load_territory("tiny", data_dir=_bundle(make_tiny))
    surface = population_surface(territory, use_cache=False)
    return AccessContext.build(territory, grid_network(), surface, access=ACCESS)


def _service() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"service_id": ["s1"], "name": ["Maison Alpha"]},
        geometry=[shapely.Point(X0 + 500.0, Y0 + 500.0)],
        crs="EPSG:2154",
    )


def _access(context: AccessContext, public: str | None):
    return service_access(
        context,
        _service(),
        name="test",
        label="Test",
        thresholds_minutes=(2.5, 5.5),
        public=public_counts(context, public),
    )


# --- the layer and its checks -------------------------------------------------------------------


def test_layer_reads_publics_with_their_source(make_tiny) -> None:
    table = read_publics(load_territory("tiny", data_dir=_bundle(make_tiny)))
    assert list(table.publics) == ["age_75_plus", "age_0_5"]
    old = table.publics["age_75_plus"]
    assert (old.label, old.column, old.source, old.year, old.licence) == (
        LABEL,
        "P21_POP75P",
        "Tableau d'essai",
        "2021",
        "Licence Ouverte 2.0",
    )
    young = table.publics["age_0_5"]
    assert (young.column, young.source, young.year) == ("age_0_5", "Autre tableau", "2020")
    assert table.commune_counts("age_75_plus").tolist() == [20.0, 40.0, 0.0, 100.0]


def test_public_above_the_population_names_the_commune_and_both_figures(make_tiny) -> None:
    bundle = _bundle(make_tiny, GOOD_CSV.replace("99002;40;", "99002;250;"))
    with pytest.raises(DataError) as err:
        read_publics(load_territory("tiny", data_dir=bundle))
    text = str(err.value)
    assert "commune 99002 (Beta)" in text and "250" in text and "(200)" in text
    assert "dépasse la population" in text and "P21_POP75P" in text and "ligne 3" in text


def test_missing_values_are_listed_by_commune_never_zero(make_tiny) -> None:
    csv = "insee_code;P21_POP75P;age_0_5\n99001;20;6\n99002;;12\n99004;100;60\n"
    territory = load_territory("tiny", data_dir=_bundle(make_tiny, csv))
    table = read_publics(territory)
    assert table.missing("age_75_plus") == ["99002", "99003"]
    assert table.missing("age_0_5") == ["99003"]
    with pytest.raises(DataError, match=r"2 commune\(s\) du territoire : 99002, 99003"):
        table.commune_counts("age_75_plus")


def test_unknown_commune_and_bad_value_are_named(make_tiny) -> None:
    bundle = _bundle(make_tiny, GOOD_CSV + "32013;5;1\n")
    with pytest.raises(DataError, match=r"commune\(s\) inconnue\(s\) du territoire.*32013"):
        read_publics(load_territory("tiny", data_dir=bundle))
    bundle = _bundle(make_tiny, GOOD_CSV.replace("99004;100;", "99004;-1;"))
    with pytest.raises(DataError, match=r"commune 99004 : 'P21_POP75P' doit être un nombre"):
        read_publics(load_territory("tiny", data_dir=bundle))
    bundle = _bundle(make_tiny, GOOD_CSV.replace("P21_POP75P", "P21_POP80P"))
    with pytest.raises(DataError, match="pas de colonne 'P21_POP75P' pour le public"):
        read_publics(load_territory("tiny", data_dir=bundle))


def test_unknown_public_lists_the_known_ones(tiny_context) -> None:
    with pytest.raises(QueryError, match=r"public inconnu 'age_60_plus'.*population, age_75_plus"):
        public_counts(tiny_context, "age_60_plus")
    assert public_counts(tiny_context, "population") is None


def test_former_ages_layer_is_read_by_the_same_reader(make_tiny) -> None:
    toml = '\n[layers.ages]\nfile = "publics.csv"\n'
    territory = load_territory("tiny", data_dir=_bundle(make_tiny, toml=toml))
    ages = read_age_bands(territory, ["P21_POP75P"])
    assert ages.loc[["99001", "99004"], "P21_POP75P"].tolist() == [20.0, 100.0]
    with pytest.raises(DataError, match="pas de public '60_plus'"):
        read_age_bands(territory, ["60_plus"])


def test_age_weighted_demand_reads_the_publics_layer(tiny_context, make_tiny) -> None:
    """The 2SFCA's bands are publics: demand = Σ band × weight, hand-computed per commune."""
    from coverage.jobs.health import _demand
    from coverage.scenario import HealthSpec

    resources = TerritoryResources(
        territory=tiny_context.territory,
        network=tiny_context.network,
        surface=tiny_context.surface,
        catalogue=load_catalogue(tiny_context.territory),
        context=tiny_context,
    )
    spec = HealthSpec(
        kinds=("health_centre",),
        decay={"type": "step"},
        age_weights={"age_75_plus": 2.0, "age_0_5": 0.5},
    )
    inside, outside, described = _demand(spec, resources, [])
    assert inside.tolist() == [20 * 2 + 6 * 0.5, 40 * 2 + 12 * 0.5, 0.0, 100 * 2 + 60 * 0.5]
    assert described["type"] == "age_weighted"
    assert outside == ({}, pytest.approx((43 + 86 + 230) / 1300))  # the mean weight
    # a band with a missing commune stops the 2SFCA, naming it
    csv = GOOD_CSV.replace("99002;40;12", "99002;40;")
    territory = load_territory("tiny", data_dir=_bundle(make_tiny, csv))
    resources = TerritoryResources(
        territory=territory,
        network=tiny_context.network,
        surface=tiny_context.surface,
        catalogue=load_catalogue(territory),
        context=tiny_context,
    )
    with pytest.raises(DataError, match=r"pas de valeur pour 1 commune\(s\) du territoire : 99002"):
        _demand(spec, resources, [])


# --- the surface ------------------------------------------------------------------------------


def test_public_surface_keeps_the_source_totals(tiny_context, make_tiny) -> None:
    counts = public_counts(tiny_context, "age_75_plus")
    surface = tiny_context.surface
    totals = np.bincount(surface.cell_commune, weights=counts.cell_counts, minlength=4)
    np.testing.assert_allclose(totals, [20, 40, 0, 100], rtol=0, atol=1e-9)
    # each of a commune's four cells holds a quarter of it (uniform weights here)
    by_cell = sorted(set(np.round(counts.cell_counts[counts.cell_counts > 0], 9)))
    assert by_cell == [5.0, 10.0, 25.0]
    # the total inhabitants spread by the same rule gives the surface back exactly
    same = surface.public_cells(tiny_context.territory.communes["population"].to_numpy())
    np.testing.assert_allclose(same, surface.cell_population, rtol=1e-15, atol=0)


def test_public_surface_follows_weighted_cells_on_the_gers(gers) -> None:
    """Real weights (roads, addresses): a public shaped like the population, totals exact."""
    surface = population_surface(gers)
    rng = np.random.default_rng(19)
    population = gers.communes["population"].to_numpy(dtype=float)
    counts = np.floor(population * rng.uniform(0.05, 0.2, len(population)))
    cells = surface.public_cells(counts)
    totals = np.bincount(surface.cell_commune, weights=cells, minlength=len(counts))
    np.testing.assert_allclose(totals, counts, rtol=0, atol=1e-9)
    # within a commune, the public's cells are the population's, scaled
    code = int(np.argmax(population))
    mine = surface.cell_commune == code
    ratio = cells[mine] / surface.cell_population[mine]
    np.testing.assert_allclose(ratio, counts[code] / population[code], rtol=1e-12)


def test_grid_public_cells_by_hand() -> None:
    """Three cells in a row; the third also holds a small commune's point (two entries)."""
    from rasterio.transform import Affine

    from coverage.layers.population import PopulationSurface

    surface = PopulationSurface(
        values=np.zeros((1, 3)),
        transform=Affine(200.0, 0.0, 0.0, 0.0, -200.0, 200.0),
        crs="EPSG:2154",
        cell_rows=np.array([0, 0, 0, 0], dtype=np.int32),
        cell_cols=np.array([0, 1, 2, 2], dtype=np.int32),
        cell_commune=np.array([0, 0, 0, 1], dtype=np.int32),
        cell_population=np.array([10.0, 0.0, 30.0, 10.0]),
        commune_codes=np.array(["99001", "99002"]),
        method="test",
    )
    counts, totals = surface.public_cells_from_grid(np.array([[4.0, 2.0, 8.0]]))
    # cell 3 (40 inhabitants): 8 people, 3/4 to commune 0, 1/4 to commune 1;
    # the 2 people of the empty cell 2 go to commune 0's inhabitants: 10/40 and 30/40
    np.testing.assert_allclose(counts, [4 + 0.5, 0.0, 6 + 1.5, 2.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(totals, [12.0, 2.0], rtol=0, atol=1e-12)


GRID_TOML = (
    PUBLICS_TOML
    + """
[layers.publics.publics.menages_pauvres]
label = "Personnes des ménages pauvres"
grid = "carreaux.geojson"
grid_column = "men_pauv"
source = "Carreaux d'essai"
"""
)


def _grid_bundle(make_tiny, squares: dict[tuple[int, int], float]) -> Path:
    bundle = _bundle(make_tiny, toml=GRID_TOML)
    features = [
        {
            "type": "Feature",
            "properties": {"men_pauv": value},
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [
                        [X0 + 1000 * c, Y0 + 2000 - 1000 * r],
                        [X0 + 1000 * (c + 1), Y0 + 2000 - 1000 * r],
                        [X0 + 1000 * (c + 1), Y0 + 1000 - 1000 * r],
                        [X0 + 1000 * c, Y0 + 1000 - 1000 * r],
                        [X0 + 1000 * c, Y0 + 2000 - 1000 * r],
                    ]
                ],
            },
        }
        for (r, c), value in squares.items()
    ]
    write_geojson(bundle / "carreaux.geojson", features)
    return bundle


def test_grid_public_counts_by_hand(make_tiny) -> None:
    # Alpha: 4 (row 0, col 0) + 2 (row 1, col 1); Beta: 10 (row 0, col 2); Bourg: 30 (row 1, col 7)
    squares = {(0, 0): 4.0, (1, 1): 2.0, (0, 2): 10.0, (1, 7): 30.0}
    territory = load_territory("tiny", data_dir=_grid_bundle(make_tiny, squares))
    surface = population_surface(territory, use_cache=False)
    context = AccessContext.build(territory, grid_network(), surface, access=ACCESS)
    counts = public_counts(context, "menages_pauvres")
    np.testing.assert_allclose(counts.commune_counts, [6, 10, 0, 30], rtol=0, atol=1e-9)
    assert counts.describe()["grid_column"] == "men_pauv"
    result = _access(context, "menages_pauvres")
    c = result.communes.set_index("insee_code")
    # steps from the service (row 1, col 0): Alpha's squares 1 and 1, Beta's 3, Bourg's 7
    assert c["pop_beyond_2_5"].tolist() == [0, 10, 0, 30]
    assert c["pop_beyond_5_5"].tolist() == [0, 0, 0, 30]
    dep = result.table("departement").iloc[0]
    assert (dep["population"], dep["pop_beyond_2_5"], dep["pop_beyond_5_5"]) == (46, 40, 30)
    # Alpha's mean time for its poor households: both squares at 1 step (100 s)
    assert result.communes.set_index("insee_code").loc["99001", "minutes_mean"] == pytest.approx(
        100 / 60, abs=0.01
    )


def test_grid_public_above_the_population_is_named(make_tiny) -> None:
    territory = load_territory("tiny", data_dir=_grid_bundle(make_tiny, {(0, 4): 3.0}))
    surface = population_surface(territory, use_cache=False)
    context = AccessContext.build(territory, grid_network(), surface, access=ACCESS)
    with pytest.raises(DataError, match=r"commune 99003 \(Gamma\).*= 3 dépasse la population"):
        public_counts(context, "menages_pauvres")


# --- tables of one public ---------------------------------------------------------------------


def test_commune_figures_count_the_public_by_hand(tiny_context) -> None:
    c = _access(tiny_context, "age_75_plus").communes.set_index("insee_code")
    assert c["population"].tolist() == [20, 40, 0, 100]
    assert c["pop_beyond_2_5"].tolist() == [5, 40, 0, 100]
    assert c["pop_beyond_5_5"].tolist() == [0, 10, 0, 100]
    assert c.loc["99002", "share_beyond_5_5"] == pytest.approx(0.25)
    assert c.loc["99001", "share_beyond_2_5"] == pytest.approx(0.25)
    # times are those of every inhabitant: uniform spread, same cells
    everyone = _access(tiny_context, None).communes.set_index("insee_code")
    assert c["minutes_mean"].equals(everyone["minutes_mean"])


def test_canton_epci_departement_count_the_public_by_hand(tiny_context) -> None:
    result = _access(tiny_context, "age_75_plus")
    cantons = result.table("canton").set_index("canton_code")
    assert cantons["population"].to_dict() == {"9901": 60, "9902": 0, "9999": 100}
    assert cantons.loc["9901", "pop_beyond_2_5"] == 45
    assert cantons.loc["9901", "pop_beyond_5_5"] == 10
    assert cantons.loc["9901", "share_beyond_5_5"] == pytest.approx(round(10 / 60, 4))
    epci = result.table("epci").set_index("epci_siren")
    assert epci["population"].to_dict() == {"200000001": 60, "200000002": 100}
    assert epci.loc["200000002", "share_beyond_5_5"] == 1.0
    dep = result.table("departement").iloc[0]
    assert (dep["population"], dep["pop_beyond_2_5"], dep["pop_beyond_5_5"]) == (160, 145, 110)
    assert dep["share_beyond_5_5"] == pytest.approx(110 / 160)
    summary = result.summary()
    assert summary["public"]["label"] == LABEL and summary["public"]["year"] == "2021"
    assert summary["public"]["total"] == 160
    assert summary["thresholds"]["5_5"]["pop_beyond"] == 110


def test_underserved_ranking_counts_the_public(tiny_context) -> None:
    ranked = _access(tiny_context, "age_75_plus").underserved(threshold_minutes=5.5)
    assert ranked["insee_code"].tolist() == ["99004", "99002"]
    bourg = 25 * ((10 - 5.5) + 2 * (700 / 60 - 5.5) + (800 / 60 - 5.5))
    assert ranked.iloc[0]["excess_person_minutes"] == pytest.approx(bourg, abs=0.1)
    assert ranked.iloc[1]["excess_person_minutes"] == pytest.approx(10 * (400 / 60 - 5.5), abs=0.1)
    assert ranked["pop_beyond_5_5"].tolist() == [100, 10]


def test_public_headers_name_the_public_and_read_back() -> None:
    names = ["insee_code", "population", "pop_within_2_5", "pop_beyond_2_5", "share_beyond_2_5"]
    headers = public_columns(LABEL, names)
    assert headers["population"].header == LABEL
    assert headers["pop_beyond_2_5"].header == f"{LABEL} : au-delà de 2,5 min"
    assert headers["share_beyond_2_5"].header == f"{LABEL} : part au-delà de 2,5 min (%)"
    assert "insee_code" not in headers


# --- a whole run ------------------------------------------------------------------------------


def _run(tiny_context: AccessContext, tmp_path: Path, public: str | None):
    territory = tiny_context.territory
    resources = TerritoryResources(
        territory=territory,
        network=tiny_context.network,
        surface=tiny_context.surface,
        catalogue=load_catalogue(territory),
        context=tiny_context,
    )
    analysis = {"name": "mds", "label": "MDS", "kinds": ["mds"], "reference_minutes": 5.5}
    if public is not None:
        analysis["public"] = public
    scenario = scenario_from_dict(
        {
            "scenario": {"name": "essai", "territory": "tiny"},
            "thresholds": {"minutes": [2.5, 5.5]},
            "access": {"max_distance_m": 1000.0},
            "analyses": [analysis],
            "services": {
                "add": [
                    {
                        "service_id": "s1",
                        "name": "Maison Alpha",
                        "kind": "mds",
                        "x": X0 + 500.0,
                        "y": Y0 + 500.0,
                        "status": "open",
                    }
                ]
            },
            "outputs": {"map": False, "isochrones": False, "catchments": False},
        }
    )
    assert resources.matches(scenario)
    return run_scenario(scenario, output_dir=tmp_path / f"run-{public}", resources=resources)


def test_run_writes_the_public_tables_and_summary(tiny_context, tmp_path: Path) -> None:
    result = _run(tiny_context, tmp_path, "age_75_plus")
    figures = result.summary["analyses"]["mds"]
    assert figures["public"]["name"] == "age_75_plus" and figures["public"]["label"] == LABEL
    assert figures["thresholds"]["2_5"]["pop_beyond"] == 145
    assert figures["thresholds"]["5_5"]["share_beyond"] == pytest.approx(0.6875)
    assert result.summary["scenario"]["analyses"][0]["public"] == "age_75_plus"
    assert "du public « Personnes de 75 ans ou plus »" in result.summary["headline"][0]["label"]
    raw = (result.output_dir / "tables/cantons_mds.csv").read_text("utf-8-sig")
    header = raw.splitlines()[0].split(";")
    assert LABEL in header and f"{LABEL} : au-delà de 5,5 min" in header
    assert f"{LABEL} : part au-delà de 5,5 min (%)" in header
    bundle = ResultFolder(result.output_dir)
    cantons = bundle.table("cantons_mds").set_index("canton_code")
    assert cantons.loc["9901", "pop_beyond_5_5"] == 10
    assert cantons.loc["9901", "share_beyond_5_5"] == pytest.approx(0.1667)
    communes = bundle.table("communes_mds").set_index("insee_code")
    assert communes["population"].tolist() == [20, 40, 0, 100]
    ranked = read_written_table(
        result.output_dir / "tables/underserved_mds.csv", public_label=LABEL
    )
    assert ranked["insee_code"].astype(str).tolist() == ["99004", "99002"]
    summary = json.loads((result.output_dir / "summary.json").read_text("utf-8"))
    assert summary["analyses"]["mds"]["public"]["source"] == "Tableau d'essai"


def test_run_without_public_keeps_the_inhabitants(tiny_context, tmp_path: Path) -> None:
    result = _run(tiny_context, tmp_path, None)
    figures = result.summary["analyses"]["mds"]
    assert "public" not in figures and "public" not in result.summary["scenario"]["analyses"][0]
    assert figures["thresholds"]["5_5"]["pop_beyond"] == 50 + 1000
    header = (result.output_dir / "tables/cantons_mds.csv").read_text("utf-8-sig").splitlines()[0]
    assert "Population au-delà de 5,5 min" in header and LABEL not in header


def test_map_shows_the_public_label_escaped(tiny_context, tmp_path: Path) -> None:
    from maps.coverage_map import coverage_map
    from maps.render import render_html

    result = _run(tiny_context, tmp_path, "age_0_5")
    page = render_html(coverage_map(ResultFolder(result.output_dir)))
    # the popups are JSON inside a script: undo its \\uXXXX escapes to read them
    html = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), page)
    label = "Enfants &lt;6 ans &amp; familles"
    assert label in html and "Enfants <6 ans" not in html
    assert f"Public compté</h3><div><i>MDS</i> : {label} (Autre tableau, 2020)</div>" in html
    # Beta's popup: 12 children, 3 of them (one cell of four) beyond 5.5 min, 25 %
    assert f"<th>{label}</th><td>12</td>" in html
    assert re.search(rf"<th>{label} au-delà de 5,5 min</th><td>3 \(25,0\s%\)</td>", html)
    assert f"Beta : 3 {label} au-delà de 5,5 min (rang 2)" in html
    assert "classées selon le public" in html


def test_terminal_prints_the_share_of_the_public(tiny_context, tmp_path: Path) -> None:
    from coverage.commands.run import console, print_summary

    result = _run(tiny_context, tmp_path, "age_75_plus")
    with console.capture() as captured:
        print_summary(result.summary, result.analyses)
    text = captured.get()
    assert "Public compté : Personnes de 75 ans ou plus (Tableau d'essai, 2021)" in text
    assert "Public au-delà" in text and "Habitants au-delà" not in text
    # 145 of 160 beyond 2.5 min (90.6 %), 110 beyond 5.5 min (68.8 %)
    assert re.search(r"2[.,]5 min │ +145 │ +90,6 % │", text), text
    assert re.search(r"5[.,]5 min │ +110 │ +68,8 % │", text), text
    assert "Temps moyen pondéré par le public" in text


def test_compare_reads_public_tables_and_refuses_two_publics(tiny_context, tmp_path) -> None:
    from coverage.jobs.compare import compare_results

    first = _run(tiny_context, tmp_path / "a", "age_75_plus")
    second = _run(tiny_context, tmp_path / "b", "age_75_plus")
    same = compare_results(first.output_dir, second.output_dir)
    totals = same.totals.set_index("threshold_minutes")
    assert totals.loc[5.5, "pop_beyond_a"] == 110 and totals.loc[5.5, "net_gain"] == 0
    other = _run(tiny_context, tmp_path / "c", "age_0_5")
    with pytest.raises(DataError, match="ne compte pas le même public"):
        compare_results(first.output_dir, other.output_dir)


def test_run_refuses_an_unknown_public_before_measuring(tiny_context, tmp_path: Path) -> None:
    with pytest.raises(QueryError, match=r"public inconnu 'age_60'.*age_75_plus, age_0_5"):
        _run(tiny_context, tmp_path, "age_60")
