"""Access indicators on a tiny territory where every figure is computed by hand.

The tiny territory (tests/conftest.py) has four 2 km square communes in a row;
with 1 km cells each commune holds 2 x 2 cells and its population is spread
evenly over them. The road network is a grid with a node at every cell centre
and 100 s per 1 km edge, so a cell's time to the service is 100 s per grid step
(Manhattan distance). The service sits at the centre of the bottom-left cell
(row 1, col 0).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from coverage.access import AccessContext, check_thresholds, service_access
from coverage.errors import QueryError
from coverage.layers import load_territory
from coverage.layers.population import population_surface
from coverage.routing.graph import NetworkInfo, network_from_edges
from coverage.routing.snap import AccessSettings
from tests.conftest import X0, Y0, tiny_communes

ACCESS = AccessSettings(max_distance_m=1000.0)  # 30 km/h x 1.3 legs
STEP_S = 100.0


def grid_network(rows: int = 2, cols: int = 8):
    ids = np.arange(rows * cols).reshape(rows, cols)
    tail, head = [], []
    for a, b in [(ids[:, :-1], ids[:, 1:]), (ids[:-1, :], ids[1:, :])]:
        tail += [*a.ravel(), *b.ravel()]
        head += [*b.ravel(), *a.ravel()]
    r, c = np.divmod(np.arange(rows * cols), cols)
    x = X0 + 500.0 + 1000.0 * c
    y = Y0 + 2000.0 - 500.0 - 1000.0 * r
    sec = np.full(len(tail), STEP_S)
    return network_from_edges(
        np.array(tail), np.array(head), sec, sec * 10, x, y, info=NetworkInfo(crs="EPSG:2154")
    )


@pytest.fixture
def tiny_access(make_tiny):
    communes = tiny_communes()
    communes[1]["properties"]["pop"] = 200  # 100, 200, 0, 1000: divisible by 4 cells
    bundle = make_tiny(communes=communes, cell=1000)
    territory = load_territory("tiny", data_dir=bundle)
    surface = population_surface(territory, use_cache=False)
    context = AccessContext.build(territory, grid_network(), surface, access=ACCESS)
    service = gpd.GeoDataFrame(
        {"service_id": ["s1"], "name": ["Maison Alpha"]},
        geometry=[shapely.Point(X0 + 500.0, Y0 + 500.0)],
        crs="EPSG:2154",
    )
    return service_access(
        context, service, name="test", label="Test", thresholds_minutes=(2.5, 5.5)
    )


def test_cell_times_are_grid_steps(tiny_access) -> None:
    grid = tiny_access.seconds_grid()
    rows, cols = np.indices(grid.shape)
    expected = STEP_S * (np.abs(rows - 1) + cols)
    expected[:, 4:6] = np.nan  # Gamma has no inhabitant: its cells are not routed
    np.testing.assert_allclose(grid, expected, atol=1e-6)


def test_commune_indicators_by_hand(tiny_access) -> None:
    c = tiny_access.communes.set_index("insee_code")
    # Alpha: steps 0, 1, 1, 2 -> mean 1 step = 100 s; Beta: 2, 3, 3, 4 -> 3 steps
    assert c.loc["99001", "minutes_mean"] == pytest.approx(100 / 60, abs=0.01)
    assert c.loc["99002", "minutes_mean"] == pytest.approx(300 / 60, abs=0.01)
    assert c.loc["99004", "minutes_mean"] == pytest.approx(700 / 60, abs=0.01)
    assert c.loc["99002", "minutes_max"] == pytest.approx(400 / 60, abs=0.01)
    # 2.5 min = 150 s: cells of 2+ steps are beyond; 5.5 min = 330 s: 4+ steps
    assert c.loc["99001", "pop_beyond_2_5"] == 25
    assert c.loc["99002", "pop_beyond_2_5"] == 200
    assert c.loc["99002", "pop_beyond_5_5"] == 50
    assert c.loc["99004", "pop_beyond_5_5"] == 1000
    assert c.loc["99003", "pop_beyond_5_5"] == 0  # nobody lives in Gamma
    assert c.loc["99002", "share_beyond_5_5"] == pytest.approx(0.25)
    # the commune point (square centre) projects onto the middle of the four edges around
    # it, 500 m away: a 78 s access leg, then half an edge (50 s) to the service's node
    leg = 500 * 1.3 / (30 / 3.6)
    assert c.loc["99001", "minutes_point"] == pytest.approx((leg + STEP_S / 2) / 60, abs=0.01)
    assert c.loc["99001", "nearest_service_name"] == "Maison Alpha"
    for t in ("2_5", "5_5"):
        assert (c[f"pop_within_{t}"] + c[f"pop_beyond_{t}"] == c["population"]).all()


def test_aggregates_by_hand(tiny_access) -> None:
    dep = tiny_access.table("departement").iloc[0]
    assert dep["population"] == 1300
    assert dep["pop_beyond_2_5"] == 25 + 200 + 1000
    assert dep["pop_beyond_5_5"] == 50 + 1000
    assert dep["share_beyond_5_5"] == pytest.approx(1050 / 1300, abs=1e-4)
    # weighted mean: (100*100 + 200*300 + 1000*700) / 1300 seconds
    assert dep["minutes_mean"] == pytest.approx((1e4 + 6e4 + 7e5) / 1300 / 60, abs=0.01)
    cantons = tiny_access.table("canton").set_index("canton_code")
    assert list(cantons.index) == ["9901", "9902", "9999"]  # the split commune on its own line
    assert cantons.loc["9901", "population"] == 300
    assert cantons.loc["9999", "pop_beyond_5_5"] == 1000
    epci = tiny_access.table("epci").set_index("epci_siren")
    assert epci.loc["200000002", "communes"] == 2


def test_underserved_ranking_by_hand(tiny_access) -> None:
    ranked = tiny_access.underserved(threshold_minutes=5.5)
    assert ranked["insee_code"].tolist() == ["99004", "99002"]
    # Bourg: steps 6, 7, 7, 8 (10, 11.67, 11.67, 13.33 min), 250 inhabitants each
    bourg = 250 * ((10 - 5.5) + 2 * (700 / 60 - 5.5) + (800 / 60 - 5.5))
    assert ranked.iloc[0]["excess_person_minutes"] == pytest.approx(bourg, abs=0.1)
    assert ranked.iloc[1]["excess_person_minutes"] == pytest.approx(50 * (400 / 60 - 5.5), abs=0.1)
    with pytest.raises(QueryError, match="threshold 7"):
        tiny_access.underserved(threshold_minutes=7)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([], "at least one"),
        ([0], "out of range"),
        ([10_000], "out of range"),
        ([20, 15], "increasing"),
    ],
)
def test_bad_thresholds(values, message) -> None:
    with pytest.raises(QueryError, match=message):
        check_thresholds(values)


def test_empty_service_set(tiny_access) -> None:
    empty = tiny_access.services.iloc[0:0]
    with pytest.raises(QueryError, match="no service of 'vide'"):
        service_access(tiny_access.context, empty, name="vide")


def test_tables_are_aggregated_once_and_handed_out_as_copies(tiny_access) -> None:
    from coverage.access import aggregate_communes

    result = tiny_access
    first = result.table("canton")
    first.loc[:, "population"] = -1  # a caller's changes stay in its copy
    again = result.table("canton")
    fresh = aggregate_communes(
        result.communes, ["canton_code", "canton_name"], result.thresholds_minutes
    )
    assert again.equals(fresh) and (again["population"] >= 0).all()
    assert result.table("epci").equals(
        aggregate_communes(result.communes, ["epci_siren", "epci_name"], result.thresholds_minutes)
    )
    # new commune figures: the tables follow
    result.communes = result.communes.assign(population=result.communes["population"] * 2)
    doubled = result.table("canton")
    assert (doubled["population"] == 2 * fresh["population"]).all()


def test_other_thresholds_count_the_same_times_again_without_routing(tiny_access) -> None:
    """``at_thresholds`` shares the cells' times and counts each commune again by hand."""
    from coverage.access import at_thresholds

    other = at_thresholds(tiny_access, [3.5], reference_minutes=3.5)
    assert other.cell_seconds is tiny_access.cell_seconds
    assert other.cell_service is tiny_access.cell_service
    c = other.communes.set_index("insee_code")
    # 3.5 min = 210 s: cells of 3+ steps are beyond (Alpha none; Beta 3, 3, 4 of 2, 3, 3, 4)
    assert c.loc["99001", "pop_beyond_3_5"] == 0
    assert c.loc["99002", "pop_beyond_3_5"] == 150
    assert c.loc["99004", "pop_beyond_3_5"] == 1000
    assert "pop_beyond_2_5" not in c.columns
    # the same as routing again at that threshold
    fresh = service_access(
        tiny_access.context,
        tiny_access.services,
        name="test",
        label="Test",
        thresholds_minutes=(3.5,),
    )
    assert other.communes.equals(fresh.communes)
    assert other.summary() == fresh.summary()
    assert other.table("canton").equals(fresh.table("canton"))
    with pytest.raises(QueryError, match="reference threshold 9 min"):
        at_thresholds(tiny_access, [3.5], reference_minutes=9)
