"""The GeoParquet writer of grid cells (:mod:`coverage._geoparquet`): shapely's bytes, readable."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from coverage._geoparquet import box_wkb, write_cells_geoparquet


def test_box_wkb_is_shapely_box_wkb() -> None:
    rng = np.random.default_rng(18)
    xmin = rng.uniform(400_000, 600_000, 1_000)
    ymin = rng.uniform(6_200_000, 6_400_000, 1_000)
    xmax, ymax = xmin + 200.0, ymin + rng.uniform(1, 500, 1_000)
    ours = box_wkb(xmin, ymin, xmax, ymax).to_pylist()
    assert ours == list(shapely.to_wkb(shapely.box(xmin, ymin, xmax, ymax)))
    assert box_wkb(xmin[:0], ymin[:0], xmax[:0], ymax[:0]).to_pylist() == []


def test_written_cells_read_back_as_a_layer(tmp_path: Path) -> None:
    xmin = np.array([500_000.0, 500_200.0, 500_400.0])
    ymin = np.full(3, 6_280_000.0)
    columns = {
        "row": np.array([7, 7, 7], dtype=np.int32),
        "insee_code": np.array(["32013", "32013", None], dtype=object),
        "minutes": np.array([1.25, np.nan, 30.0]),
        "off_network": np.array([False, True, False]),
    }
    path = write_cells_geoparquet(
        tmp_path / "cells.parquet",
        columns,
        xmin=xmin,
        ymin=ymin,
        xmax=xmin + 200,
        ymax=ymin + 200,
        crs="EPSG:2154",
    )
    frame = gpd.read_parquet(path)
    assert list(frame.columns) == ["row", "insee_code", "minutes", "off_network", "geometry"]
    assert frame.crs.to_epsg() == 2154
    assert frame["row"].tolist() == [7, 7, 7] and frame["off_network"].tolist() == [0, 1, 0]
    assert frame["insee_code"].iloc[0] == "32013" and frame["insee_code"].isna().iloc[2]
    np.testing.assert_array_equal(frame["minutes"].to_numpy(), columns["minutes"])
    assert shapely.equals(
        frame.geometry.values, shapely.box(xmin, ymin, xmin + 200, ymin + 200)
    ).all()
    assert frame.total_bounds.tolist() == [500_000.0, 6_280_000.0, 500_600.0, 6_280_200.0]
    assert not list(tmp_path.glob(".*"))  # no staging file left
