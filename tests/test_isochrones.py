"""Isochrone outlines traced with numpy: the cells they hold, against the previous rasterio path.

The previous path (``rasterio.features.shapes`` + simplification, before issue 18)
is kept in ``benchmarks/isochrones.py`` as :func:`rasterio_band_polygons`; the
new outlines must hold exactly the same cell centres, with the same ``cells`` and
``weight``, and be valid without repair.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage
import shapely
from rasterio.transform import Affine

from api.geojson import feature_collection, feature_collection_from_rows
from coverage.errors import QueryError
from coverage.routing import isochrones as iso
from coverage.routing import kernels
from coverage.routing.isochrones import (
    RECORD_KEYS,
    cells_outline,
    isochrone_records,
    isochrones,
)
from coverage.routing.surface import snap_grid, travel_time_surface

REPO = Path(__file__).resolve().parents[1]
CELL = 200.0
TRANSFORM = Affine(CELL, 0.0, 480_000.0, 0.0, -CELL, 6_300_000.0)


def _benchmark_module():
    spec = importlib.util.spec_from_file_location(
        "isochrones_benchmark", REPO / "benchmarks" / "isochrones.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rasterio_band_polygons = _benchmark_module().rasterio_band_polygons


def centres_inside(geometry, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    x = TRANSFORM.c + (cols + 0.5) * CELL
    y = TRANSFORM.f + (rows + 0.5) * -CELL
    return shapely.contains_xy(geometry, x, y)


def window(shape: tuple[int, int], margin: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.indices((shape[0] + 2 * margin, shape[1] + 2 * margin)).reshape(2, -1)
    return rows - margin, cols - margin


# --- hand-made cell sets ------------------------------------------------------------------------


def test_one_cell_is_a_diamond_of_half_a_cell() -> None:
    outline = cells_outline(np.array([3]), np.array([5]), TRANSFORM)
    assert outline.geom_type == "Polygon" and shapely.is_valid(outline)
    assert outline.area == pytest.approx(0.5 * CELL**2)
    x0, y0 = TRANSFORM.c + 5 * CELL, TRANSFORM.f - 3 * CELL  # the cell's top-left corner
    expected = {
        (x0 + CELL / 2, y0),
        (x0 + CELL, y0 - CELL / 2),
        (x0 + CELL / 2, y0 - CELL),
        (x0, y0 - CELL / 2),
    }
    assert set(map(tuple, shapely.get_coordinates(outline).tolist())) == expected
    assert shapely.is_ccw(outline.exterior)


def test_a_block_is_an_octagon_and_a_ring_keeps_its_hole() -> None:
    rows, cols = np.indices((3, 4)).reshape(2, -1)
    block = cells_outline(rows, cols, TRANSFORM)
    # 12 cells less 4 corner triangles of (1/2 x 1/2) / 2 cell
    assert block.area == pytest.approx((12 - 4 * 0.125) * CELL**2)
    assert len(shapely.get_coordinates(block)) == 9  # 8 vertices, closed
    ring = np.ones((3, 3), dtype=bool)
    ring[1, 1] = False
    outline = cells_outline(*np.nonzero(ring), TRANSFORM)
    assert outline.geom_type == "Polygon" and len(outline.interiors) == 1
    # the 3 x 3 square with its corners cut, less the hole cut to a diamond of half a cell
    assert outline.area == pytest.approx((9 - 4 * 0.125 - 0.5) * CELL**2)
    assert not shapely.is_ccw(outline.interiors[0])


def test_cells_touching_by_a_corner_are_separate_parts() -> None:
    outline = cells_outline(np.array([0, 1, 2]), np.array([0, 1, 2]), TRANSFORM)
    assert outline.geom_type == "MultiPolygon" and len(outline.geoms) == 3
    assert shapely.is_valid(outline)
    # a ring of diagonal cells around an empty centre: four parts, no hole
    outline = cells_outline(np.array([0, 1, 1, 2]), np.array([1, 0, 2, 1]), TRANSFORM)
    assert len(outline.geoms) == 4 and all(len(p.interiors) == 0 for p in outline.geoms)
    assert not centres_inside(outline, np.array([1]), np.array([1]))[0]


@pytest.mark.parametrize("backend", ["c", "scipy"])
@pytest.mark.parametrize("seed", range(6))
def test_random_cells_hold_exactly_their_centres_like_the_rasterio_path(
    seed: int, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both tracers (the C kernel and numpy): the outline holds exactly its cells' centres."""
    if backend == "c" and kernels._c is None:
        pytest.skip(f"C extension not built: {kernels._C_MISSING}")
    monkeypatch.setenv("COVERAGE_KERNELS", backend)
    rng = np.random.default_rng(seed)
    for _ in range(25):
        shape = tuple(int(n) for n in rng.integers(1, 40, size=2))
        grid = rng.random(shape) < rng.uniform(0.15, 0.9)
        if not grid.any():
            continue
        rows, cols = np.nonzero(grid)
        rows, cols = rows + 10, cols + 20
        outline = cells_outline(rows, cols, TRANSFORM)
        assert shapely.is_valid(outline), shapely.is_valid_reason(outline)
        all_rows, all_cols = window(shape)
        inside = centres_inside(outline, all_rows + 10, all_cols + 20)
        in_set = np.zeros_like(inside)
        ok = (all_rows >= 0) & (all_rows < shape[0]) & (all_cols >= 0) & (all_cols < shape[1])
        in_set[ok] = grid[all_rows[ok], all_cols[ok]]
        assert np.array_equal(inside, in_set)
        # the previous path: same centres, same number of parts (4-connected cells)
        (before,) = rasterio_band_polygons(np.zeros(rows.size), rows, cols, TRANSFORM, [1.0], None)
        assert np.array_equal(
            centres_inside(before["geometry"], all_rows + 10, all_cols + 20), inside
        )
        n_parts = scipy.ndimage.label(grid)[1]
        assert len(getattr(outline, "geoms", [outline])) == n_parts
        # holes: the empty 8-connected regions that do not reach the border
        _, n_empty = scipy.ndimage.label(
            np.pad(~grid, 1, constant_values=True), structure=np.ones((3, 3))
        )
        n_holes = n_empty - 1
        parts = getattr(outline, "geoms", [outline])
        assert sum(len(p.interiors) for p in parts) == n_holes


def test_the_c_tracer_gives_the_numpy_rings_point_for_point() -> None:
    """Same rings, same first points, same order, same areas and parts, on random grids
    (holes, parts inside holes, cells touching by a corner, stacked layers)."""
    if kernels._c is None:
        pytest.skip(f"C extension not built: {kernels._C_MISSING}")
    rng = np.random.default_rng(7)
    compared = 0
    for _ in range(200):
        height, width = (int(n) for n in rng.integers(3, 70, size=2))
        grid = np.zeros((height, width), dtype=bool)
        grid[1:-1, 1:-1] = rng.random((height - 2, width - 2)) < rng.uniform(0.1, 0.95)
        if not grid.any():
            continue
        expected = iso._rings_numpy(grid)
        got = iso._rings(grid)
        for name, a, b in zip(RING_ARRAYS, expected, got, strict=True):
            assert np.array_equal(a, b), name
        compared += 1
    assert compared > 150
    with pytest.raises(QueryError, match="marge"):
        iso._rings(np.ones((4, 4), dtype=bool))
    # the kernel reads any non-zero byte as a cell (never as an index beyond its table)
    bytes_grid = grid.view(np.uint8) * np.uint8(255)
    raw = kernels._c.trace_rings(bytes_grid.ravel(), *grid.shape, iso._NEXT_DIRECTION.ravel())
    assert np.array_equal(np.frombuffer(raw[0], dtype=np.int64)[0::2], iso._rings(grid)[0])


RING_ARRAYS = ("rows", "cols", "ring_start", "ring_cell", "twice_area", "ring_part")


def test_duplicate_cells_are_counted_once_in_the_outline() -> None:
    once = cells_outline(np.array([0, 0, 1]), np.array([0, 1, 1]), TRANSFORM)
    twice = cells_outline(np.array([0, 0, 1, 0, 1]), np.array([0, 1, 1, 1, 1]), TRANSFORM)
    assert shapely.equals_exact(once, twice, 0.0)


# --- real data: the Gers -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def gers_cells(gers, gers_network):
    from coverage.layers.population import population_surface

    surface = population_surface(gers)
    cells = snap_grid(gers_network, surface.transform, surface.shape, mask=surface.values > 0)
    points = np.column_stack([gers.communes["point_x"], gers.communes["point_y"]])
    return gers_network, cells, surface.values, points[::37][:12]


@pytest.mark.parametrize(
    ("direction", "n_points"),
    [
        ("to_facility", 2),
        pytest.param("to_facility", 12, marks=pytest.mark.slow),
        pytest.param("from_facility", 12, marks=pytest.mark.slow),
    ],
)
def test_gers_isochrones_match_the_previous_path_cell_for_cell(
    gers_cells, direction: str, n_points: int
) -> None:
    net, cells, weights, points = gers_cells
    points = points[:n_points]
    bands = [10.0, 20.0, 30.0]
    iso = isochrones(
        net,
        points,
        cells,
        bands_minutes=bands,
        merged=True,
        direction=direction,
        weights=weights,
    )
    assert iso.geometry.is_valid.all()
    x, y = cells.centres()
    cell_weight = weights[cells.rows, cells.cols]
    compared = 0
    for k in [*range(len(points)), None]:
        # the times of an independent search: the surface of that facility alone (or all)
        fac = points if k is None else points[k : k + 1]
        seconds = travel_time_surface(
            net, fac, cells, direction=direction, max_minutes=bands[-1]
        ).seconds[cells.rows, cells.cols]
        before = rasterio_band_polygons(
            seconds, cells.rows, cells.cols, cells.transform, bands, cell_weight
        )
        scope = "merged" if k is None else "facility"
        mine = iso[(iso["scope"] == scope) & (iso["facility_id"].eq(k) if k is not None else True)]
        mine = mine.sort_values("minutes")
        assert mine["minutes"].tolist() == [row["minutes"] for row in before]
        for row, new in zip(before, mine.itertuples(index=False), strict=True):
            assert new.cells == row["cells"]
            assert new.weight == row["weight"]  # same cells summed in the same order
            shapely.prepare(new.geometry)
            shapely.prepare(row["geometry"])
            inside = shapely.contains_xy(new.geometry, x, y)
            assert np.array_equal(inside, shapely.contains_xy(row["geometry"], x, y))
            assert np.array_equal(inside, seconds <= row["minutes"] * 60 + 1e-6)
            compared += 1
    assert compared == 3 * (len(points) + 1)


def test_records_are_the_rows_of_the_frame(gers_cells) -> None:
    net, cells, weights, points = gers_cells
    frame = isochrones(net, points[:3], cells, merged=False, weights=weights)
    records = isochrone_records(net, points[:3], cells, merged=False, weights=weights)
    assert list(frame.columns) == list(RECORD_KEYS) and len(records) == len(frame) == 9
    for row, rec in zip(frame.itertuples(index=False), records, strict=True):
        assert (row.facility_id, row.minutes, row.cells, row.weight) == (
            rec["facility_id"],
            rec["minutes"],
            rec["cells"],
            rec["weight"],
        )
        assert shapely.equals_exact(row.geometry, rec["geometry"], 0.0)


def test_rows_give_the_same_geojson_as_the_frame(gers_cells) -> None:
    import geopandas as gpd

    net, cells, weights, points = gers_cells
    records = isochrone_records(net, points[:2], cells, merged=False, weights=weights)
    rows = [
        {
            "feature_id": f"p{r['facility_id']}-{r['minutes']:g}",
            "point_id": f"p/{r['facility_id']}",
            "minutes": r["minutes"],
            "population": int(round(r["weight"])),
            "cells": r["cells"],
            "geometry": r["geometry"],
        }
        for r in records
    ]
    rows.append({**rows[0], "feature_id": "vide", "geometry": None, "population": 0})
    columns = ["point_id", "minutes", "population", "cells"]
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=net.info.crs)
    by_frame = json.loads(
        feature_collection(frame, columns=columns, id_column="feature_id", metadata={"a": 1})
    )
    by_rows = json.loads(
        feature_collection_from_rows(
            rows, crs=net.info.crs, columns=columns, id_key="feature_id", metadata={"a": 1}
        )
    )
    assert by_rows == by_frame
    assert by_rows["features"][-1]["geometry"] is None
