"""The disk cache of a run's isochrones (:mod:`coverage._isochrone_cache`), Gers roads."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import shapely

import coverage._isochrone_cache as isochrone_cache
from coverage._isochrone_cache import cached_isochrones, isochrone_key
from coverage.routing.isochrones import isochrones
from coverage.routing.snap import AccessSettings
from coverage.routing.surface import grid_for_bounds, snap_grid

AUCH = (505_000.0, 6_285_000.0)
SERVICES = np.array([[AUCH[0], AUCH[1]], [AUCH[0] + 3_000.0, AUCH[1] + 2_000.0]])
IDS = ["auch", "nord_est"]
BANDS = (5.0, 10.0)


@pytest.fixture(scope="module")
def cells(gers_network):
    """A 24 km square of 200 m cells around Auch, all routed."""
    x, y = AUCH
    transform, shape = grid_for_bounds((x - 12_000, y - 12_000, x + 12_000, y + 12_000))
    return snap_grid(
        gers_network, transform, shape, mask=np.ones(shape, dtype=bool), access=AccessSettings()
    )


@pytest.fixture(scope="module")
def weights(cells):
    """Inhabitants per cell: a known, uneven grid."""
    values = np.arange(cells.shape[0] * cells.shape[1], dtype=np.float64).reshape(cells.shape)
    return values % 7


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the real computations made through the cache."""
    made: list[int] = []
    real = isochrone_cache.isochrone_records

    def counting(*args, **kwargs):
        made.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(isochrone_cache, "isochrone_records", counting)
    return made


def cached(network, cells, weights, folder, **changes):
    arguments = {
        "bands_minutes": BANDS,
        "weights": weights,
        "facility_ids": IDS,
        "access": AccessSettings(),
        "cache_dir": folder,
    }
    arguments.update(changes)
    return cached_isochrones(network, SERVICES, cells, **arguments)


def assert_same_polygons(got, expected) -> None:
    assert list(got.columns) == list(expected.columns)
    assert got.crs == expected.crs
    assert got.drop(columns="geometry").equals(expected.drop(columns="geometry"))
    assert got.dtypes.equals(expected.dtypes)
    # coordinate for coordinate, and the same kind (Polygon / MultiPolygon)
    assert list(shapely.to_wkb(got.geometry.to_numpy())) == list(
        shapely.to_wkb(expected.geometry.to_numpy())
    )


def test_cached_polygons_equal_the_computed_ones_and_are_read_back(
    gers_network, cells, weights, calls, tmp_path
):
    direct = isochrones(
        gers_network,
        SERVICES,
        cells,
        bands_minutes=BANDS,
        weights=weights,
        facility_ids=IDS,
        access=AccessSettings(),
    )
    # 2 services × 2 bands and the 2 merged bands, every one with inhabitants
    assert len(direct) == 6 and set(direct["scope"]) == {"facility", "merged"}
    assert (direct["weight"] > 0).all()
    first = cached(gers_network, cells, weights, tmp_path)
    assert len(calls) == 1 and len(list(tmp_path.glob("*.npz"))) == 1
    second = cached(gers_network, cells, weights, tmp_path)
    assert len(calls) == 1  # read from the file, not computed again
    assert_same_polygons(first, direct)
    assert_same_polygons(second, direct)


def test_other_inputs_are_computed_again(gers_network, cells, weights, calls, tmp_path):
    base = {
        "bands_minutes": BANDS,
        "weights": weights,
        "facility_ids": IDS,
        "access": AccessSettings(),
        "direction": "to_facility",
        "per_facility": True,
        "merged": True,
    }
    key = isochrone_key(gers_network, SERVICES, cells, **base)
    moved = SERVICES.copy()
    moved[1, 0] += 1.0
    slower = dataclasses.replace(gers_network, seconds=gers_network.seconds * 1.5)
    keys = {
        isochrone_key(gers_network, moved, cells, **base),
        isochrone_key(slower, SERVICES, cells, **base),
        isochrone_key(gers_network, SERVICES, cells, **{**base, "bands_minutes": (5.0, 12.0)}),
        isochrone_key(gers_network, SERVICES, cells, **{**base, "weights": weights + 1}),
        isochrone_key(gers_network, SERVICES, cells, **{**base, "weights": None}),
        isochrone_key(gers_network, SERVICES, cells, **{**base, "facility_ids": ["a", "b"]}),
        isochrone_key(
            gers_network, SERVICES, cells, **{**base, "access": AccessSettings(speed_kph=20.0)}
        ),
        isochrone_key(gers_network, SERVICES, cells, **{**base, "direction": "from_facility"}),
        isochrone_key(gers_network, SERVICES, cells, **{**base, "per_facility": False}),
    }
    assert key not in keys and len(keys) == 9
    cached(gers_network, cells, weights, tmp_path)
    other = cached(gers_network, cells, weights, tmp_path, bands_minutes=(5.0, 12.0))
    assert len(calls) == 2 and len(list(tmp_path.glob("*.npz"))) == 2
    assert_same_polygons(
        other,
        isochrones(
            gers_network,
            SERVICES,
            cells,
            bands_minutes=(5.0, 12.0),
            weights=weights,
            facility_ids=IDS,
            access=AccessSettings(),
        ),
    )


def test_a_damaged_file_is_computed_again(gers_network, cells, weights, calls, tmp_path):
    first = cached(gers_network, cells, weights, tmp_path)
    (path,) = tmp_path.glob("*.npz")
    path.write_bytes(b"not a numpy file")
    again = cached(gers_network, cells, weights, tmp_path)
    assert len(calls) == 2
    assert_same_polygons(again, first)
    assert path.stat().st_size > 1000  # rewritten


def test_without_cache_nothing_is_written(gers_network, cells, weights, calls, tmp_path):
    cached(gers_network, cells, weights, tmp_path, use_cache=False)
    assert len(calls) == 1 and not list(tmp_path.iterdir())
