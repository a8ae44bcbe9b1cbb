"""Population surface: totals preserved per commune and exactly for the département."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from coverage.errors import DataError
from coverage.layers import load_territory
from coverage.layers.population import build_population_surface, population_surface
from tests.conftest import TINY_TOML, X0, Y0

EXPECTED_TOTALS = {"99001": 100, "99002": 250, "99003": 0, "99004": 1000}


def test_tiny_uniform_spread_by_hand(make_tiny) -> None:
    territory = load_territory("tiny", data_dir=make_tiny(cell=500))
    surface = build_population_surface(territory, cell_size_m=500)
    # 8 km x 2 km at 500 m: 4 rows x 16 cols, each 2 km commune owns 16 cells
    assert surface.shape == (4, 16)
    assert surface.transform.c == X0 and surface.transform.f == Y0 + 2000
    # Alpha (100 inhabitants) spread uniformly: 100 / 16 per cell
    assert surface.values[0, 0] == pytest.approx(100 / 16)
    assert surface.values[3, 3] == pytest.approx(100 / 16)
    assert surface.values[0, 4] == pytest.approx(250 / 16)  # Beta
    assert surface.values[0, 8] == 0.0  # Gamma has no inhabitant
    assert surface.values[0, 15] == pytest.approx(1000 / 16)  # Bourg
    totals = surface.commune_totals()
    assert totals.to_dict() == pytest.approx(EXPECTED_TOTALS)
    assert surface.total == 1350


def test_tiny_small_commune_gets_its_point_cell(make_tiny) -> None:
    # 3 km cells: no cell centre falls inside some 2 km communes
    territory = load_territory("tiny", data_dir=make_tiny(cell=3000))
    surface = build_population_surface(territory, cell_size_m=3000)
    totals = surface.commune_totals()
    assert totals.to_dict() == pytest.approx(EXPECTED_TOTALS)
    assert surface.values.sum() == pytest.approx(1350)
    assert surface.provenance["communes_on_a_single_point_cell"] >= 1


def test_tiny_weights_from_a_grid(make_tiny) -> None:
    bundle = make_tiny()
    # a GeoTIFF grid (1 km cells) with all of Alpha's people in its south-west quarter
    grid = np.zeros((2, 8), dtype="float32")
    grid[1, 0] = 42.0
    grid[0, 2] = grid[1, 3] = 10.0  # Beta: two cells, equal weight
    with rasterio.open(
        bundle / "grid.tif", "w", driver="GTiff", height=2, width=8, count=1,
        dtype="float32", crs="EPSG:2154", transform=from_origin(X0, Y0 + 2000, 1000, 1000),
    ) as dst:
        dst.write(grid, 1)
    toml = TINY_TOML.format(cell=500).replace("weights = { base = 1.0 }", 'grid = "grid.tif"')
    (bundle / "territory.toml").write_text(toml, "utf-8")
    territory = load_territory("tiny", data_dir=bundle)
    with pytest.warns(UserWarning, match="répartie uniformément"):  # Gamma and Bourg: empty grid
        surface = build_population_surface(territory, cell_size_m=500)
    # Alpha's 100 inhabitants all land in the 500 m cell holding the 1 km cell centre
    row, col = rasterio.transform.rowcol(surface.transform, X0 + 500, Y0 + 500)
    assert surface.values[row, col] == pytest.approx(100)
    # Beta: 125 + 125 in the two cells holding the grid's centres
    r1, c1 = rasterio.transform.rowcol(surface.transform, X0 + 2500, Y0 + 1500)
    r2, c2 = rasterio.transform.rowcol(surface.transform, X0 + 3500, Y0 + 500)
    assert surface.values[r1, c1] == pytest.approx(125)
    assert surface.values[r2, c2] == pytest.approx(125)
    assert surface.total == pytest.approx(1350)


def test_missing_grid_file(make_tiny) -> None:
    bundle = make_tiny()
    toml = TINY_TOML.format(cell=500).replace("weights = { base = 1.0 }", 'grid = "nope.tif"')
    (bundle / "territory.toml").write_text(toml, "utf-8")
    territory = load_territory("tiny", data_dir=bundle)
    with pytest.raises(DataError, match=r"nope\.tif.*grille de population"):
        population_surface(territory)


def test_gers_totals_preserved(gers) -> None:
    surface = population_surface(gers)
    assert surface.cell_size_m == 200
    assert surface.crs == "EPSG:2154"
    totals = surface.commune_totals()
    expected = gers.communes.set_index("insee_code")["population"]
    assert len(totals) == 458
    assert np.abs(totals.reindex(expected.index) - expected).max() < 1.0
    # the département total is exact
    assert round(surface.values.sum(), 6) == 192_645
    assert surface.total == pytest.approx(192_645, abs=1e-6)
    # weighted toward roads and addresses: Auch's busiest cell holds far more than the average
    auch = surface.populated_cells().query("insee_code == '32013'")
    assert auch["population"].max() > 5 * auch["population"].mean()
    assert "routes=4" in surface.method and "adresses=1" in surface.method


def test_gers_surface_cache_is_reused(gers, tmp_path: Path) -> None:
    first = population_surface(gers, cache_dir=tmp_path)
    assert Path(first.cache_file).is_file()
    assert Path(first.cache_file).with_suffix(".tif").is_file()
    second = population_surface(gers, cache_dir=tmp_path)
    assert second.cache_file == first.cache_file
    np.testing.assert_array_equal(first.values, second.values)
    with rasterio.open(Path(first.cache_file).with_suffix(".tif")) as src:
        assert src.crs.to_epsg() == 2154
        assert src.read(1).sum() == pytest.approx(192_645)


def test_tiny_weights_from_filosofi_squares(make_tiny) -> None:
    import geopandas as gpd
    import shapely

    bundle = make_tiny()
    # INSEE Filosofi-like 200 m squares (column "Ind"), given in ETRS89-LAEA as INSEE ships them
    squares = gpd.GeoDataFrame(
        {"Idcar_200m": ["a", "b"], "Ind": [3.0, 1.0]},
        geometry=[shapely.box(X0 + 200, Y0 + 200, X0 + 400, Y0 + 400),
                  shapely.box(X0 + 1200, Y0 + 1200, X0 + 1400, Y0 + 1400)],
        crs="EPSG:2154",
    ).to_crs("EPSG:3035")
    squares.to_file(bundle / "filosofi.gpkg", driver="GPKG")
    toml = TINY_TOML.format(cell=200).replace(
        "weights = { base = 1.0 }", 'grid = "filosofi.gpkg"\ngrid_column = "ind"'
    )
    (bundle / "territory.toml").write_text(toml, "utf-8")
    territory = load_territory("tiny", data_dir=bundle)
    with pytest.warns(UserWarning, match="répartie uniformément"):
        surface = build_population_surface(territory, cell_size_m=200)
    # Alpha's 100 inhabitants split 3:1 between the two squares
    r, c = rasterio.transform.rowcol(surface.transform, X0 + 300, Y0 + 300)
    assert surface.values[r, c] == pytest.approx(75)
    r, c = rasterio.transform.rowcol(surface.transform, X0 + 1300, Y0 + 1300)
    assert surface.values[r, c] == pytest.approx(25)
    assert surface.commune_totals()["99001"] == pytest.approx(100)
