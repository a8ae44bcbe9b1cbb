"""The disk cache of the cells joined to the roads (:mod:`coverage._snap_cache`), Gers roads."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import coverage._snap_cache as snap_cache
from coverage._snap_cache import cached_snap_grid, snapped_grid_key
from coverage.routing.snap import AccessSettings
from coverage.routing.surface import grid_for_bounds, snap_grid

FIELDS = (
    "point",
    "edge",
    "fraction",
    "access_s",
    "proj_x",
    "proj_y",
    "distance_m",
    "too_far",
    "x",
    "y",
)


@pytest.fixture
def grid(gers):
    """A 20 km square of 200 m cells around Auch, one cell in three routed."""
    x, y = 505_000.0, 6_285_000.0
    transform, shape = grid_for_bounds((x - 10_000, y - 10_000, x + 10_000, y + 10_000))
    mask = np.zeros(shape, dtype=bool)
    mask.flat[::3] = True
    return transform, shape, mask


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the real ``snap_grid`` computations made through the cache."""
    made: list[int] = []

    def counting(*args, **kwargs):
        made.append(1)
        return snap_grid(*args, **kwargs)

    monkeypatch.setattr(snap_cache, "snap_grid", counting)
    return made


def assert_same_cells(a, b) -> None:
    assert a.shape == b.shape and a.transform == b.transform
    np.testing.assert_array_equal(a.rows, b.rows)
    np.testing.assert_array_equal(a.cols, b.cols)
    assert a.snapped.n_points == b.snapped.n_points
    for name in FIELDS:
        left, right = getattr(a.snapped, name), getattr(b.snapped, name)
        assert left.dtype == right.dtype, name
        np.testing.assert_array_equal(left, right, err_msg=name)
    assert a.snapped.settings == b.snapped.settings


def test_cached_joins_equal_the_computed_ones_and_are_read_back(
    gers_network, grid, calls, tmp_path
):
    transform, shape, mask = grid
    access = AccessSettings()
    direct = snap_grid(gers_network, transform, shape, mask=mask, access=access)
    first = cached_snap_grid(
        gers_network, transform, shape, mask=mask, access=access, cache_dir=tmp_path
    )
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1 and len(calls) == 1
    second = cached_snap_grid(
        gers_network, transform, shape, mask=mask, access=access, cache_dir=tmp_path
    )
    assert len(calls) == 1  # read from the file, not computed again
    assert direct.n_cells == int(mask.sum())
    assert_same_cells(direct, first)
    assert_same_cells(direct, second)


def test_other_inputs_are_computed_again(gers_network, grid, calls, tmp_path):
    transform, shape, mask = grid
    access = AccessSettings()
    key = snapped_grid_key(gers_network, transform, shape, mask, access)
    cached_snap_grid(gers_network, transform, shape, mask=mask, access=access, cache_dir=tmp_path)
    other_mask = mask.copy()
    other_mask.flat[1] = True
    other_access = AccessSettings(speed_kph=20.0)
    slower = dataclasses.replace(gers_network, seconds=gers_network.seconds * 1.5)
    keys = {
        snapped_grid_key(gers_network, transform, shape, other_mask, access),
        snapped_grid_key(gers_network, transform, shape, mask, other_access),
        snapped_grid_key(slower, transform, shape, mask, access),
    }
    assert key not in keys and len(keys) == 3
    got = cached_snap_grid(
        gers_network, transform, shape, mask=mask, access=other_access, cache_dir=tmp_path
    )
    assert len(calls) == 2 and len(list(tmp_path.glob("*.npz"))) == 2
    assert_same_cells(
        got, snap_grid(gers_network, transform, shape, mask=mask, access=other_access)
    )
    cached_snap_grid(
        gers_network, transform, shape, mask=other_mask, access=access, cache_dir=tmp_path
    )
    assert len(calls) == 3 and len(list(tmp_path.glob("*.npz"))) == 3


def test_a_damaged_file_is_computed_again(gers_network, grid, calls, tmp_path):
    transform, shape, mask = grid
    access = AccessSettings()
    cached_snap_grid(gers_network, transform, shape, mask=mask, access=access, cache_dir=tmp_path)
    (path,) = tmp_path.glob("*.npz")
    path.write_bytes(b"not a numpy file")
    got = cached_snap_grid(
        gers_network, transform, shape, mask=mask, access=access, cache_dir=tmp_path
    )
    assert len(calls) == 2
    assert_same_cells(got, snap_grid(gers_network, transform, shape, mask=mask, access=access))
    assert path.stat().st_size > 1000  # rewritten


def test_without_cache_nothing_is_written(gers_network, grid, calls, tmp_path):
    transform, shape, mask = grid
    cached_snap_grid(
        gers_network,
        transform,
        shape,
        mask=mask,
        access=AccessSettings(),
        cache_dir=tmp_path,
        use_cache=False,
    )
    assert len(calls) == 1 and not list(tmp_path.iterdir())
