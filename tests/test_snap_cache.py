"""The disk cache of the cells joined to the roads (:mod:`coverage._snap_cache`), Gers roads."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import coverage._snap_cache as snap_cache
from coverage._snap_cache import cached_snap_grid, snapped_grid_key
from coverage.routing.snap import AccessSettings, SnappedPoints
from coverage.routing.surface import grid_for_bounds, snap_grid


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
    """Equal grids and joins, every field of :class:`SnappedPoints` compared (none skipped)."""
    assert a.shape == b.shape and a.transform == b.transform
    np.testing.assert_array_equal(a.rows, b.rows)
    np.testing.assert_array_equal(a.cols, b.cols)
    for field in dataclasses.fields(SnappedPoints):
        left, right = getattr(a.snapped, field.name), getattr(b.snapped, field.name)
        if isinstance(left, np.ndarray) or isinstance(right, np.ndarray):
            assert left.dtype == right.dtype, field.name
            np.testing.assert_array_equal(left, right, err_msg=field.name)
        else:
            assert left == right, field.name


def test_the_file_holds_every_field_of_the_joins(gers_network, grid, tmp_path):
    """Every field of SnappedPoints is an array of the file, but the count (in ``meta``)
    and the settings (the access settings, part of the key): a field added to the class
    cannot be left out of the cache."""
    transform, shape, mask = grid
    cells = cached_snap_grid(
        gers_network, transform, shape, mask=mask, access=AccessSettings(), cache_dir=tmp_path
    )
    (path,) = tmp_path.glob("*.npz")
    with np.load(path, allow_pickle=False) as data:
        stored = set(data.files)
        meta = json.loads(str(data["meta"]))
    names = {field.name for field in dataclasses.fields(SnappedPoints)}
    assert names - stored == {"n_points", "settings"}
    assert stored - names == {"rows", "cols", "meta"}
    assert meta["n_points"] == cells.snapped.n_points == int(mask.sum())
    assert set(snap_cache._SNAPPED_ARRAYS) == names - {"n_points", "settings"}


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
