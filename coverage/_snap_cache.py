"""Disk cache of a grid's cells joined to the road network (:func:`cached_snap_grid`).

Joining the Gers' 157 591 populated cells to the roads
(:func:`coverage.routing.surface.snap_grid`) takes more than a second and gives
the same answer for the same network, grid, cells and access settings, so
``coverage run`` keeps it under ``cache_root()/snapped_grids``, named by a hash
of everything the answer depends on:

- the network's arrays (nodes, edges, times, lengths, road classes) and the
  fingerprint of its turn graph (turn costs and restrictions, usable edges);
- the grid (transform, shape) and the mask of the cells routed;
- the access settings;
- the engine version and the source of the modules that compute the joins
  (``snap.py``, ``stretches.py``, ``surface.py``), so that a change in the
  method is never answered from an older file.

A damaged file is computed again and overwritten; a failure (a point outside
the network) is never cached. Where the cache directory cannot be written, the
joins are computed and returned all the same.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rasterio.transform import Affine

from coverage import __version__
from coverage._cache import arrays_sha256, atomic_path, cache_key, file_sha256
from coverage.routing import snap, stretches, surface
from coverage.routing.graph import RoadNetwork
from coverage.routing.snap import AccessSettings, SnappedPoints
from coverage.routing.surface import GridCells, snap_grid
from coverage.settings import cache_root

SNAPPED_GRID_FORMAT = 1
"""Version of the cached file's layout (part of the key)."""

_SNAPPED_BESIDE_ARRAYS = ("n_points", "settings")
"""Fields of :class:`~coverage.routing.snap.SnappedPoints` not stored as arrays: the
count is in the file's ``meta``, the settings are the access settings of the key."""

_SNAPPED_ARRAYS = tuple(
    field.name
    for field in dataclasses.fields(SnappedPoints)
    if field.name not in _SNAPPED_BESIDE_ARRAYS
)
"""Array fields of :class:`~coverage.routing.snap.SnappedPoints` stored in the file: every
field but :data:`_SNAPPED_BESIDE_ARRAYS`, so that a field added to the class is cached too."""


_DIGESTS: weakref.WeakKeyDictionary[RoadNetwork, str] = weakref.WeakKeyDictionary()
"""Digest of each live network (a network is immutable: hashed once, not once per use)."""


def network_digest(network: RoadNetwork) -> str:
    """A digest of what a network's travel times depend on.

    Its arrays (nodes, edges, times, lengths, road classes), the fingerprint of
    its turn graph (turn costs and restrictions, usable edges) and its CRS.
    Computed once per network object (the cell joins and every analysis'
    isochrones ask for it).
    """
    known = _DIGESTS.get(network)
    if known is None:
        known = _DIGESTS[network] = _network_digest(network)
    return known


def _network_digest(network: RoadNetwork) -> str:
    arrays = arrays_sha256(
        [
            network.indptr,
            network.indices,
            network.seconds,
            network.length_m,
            network.node_x,
            network.node_y,
            network.edge_class,
        ]
    )
    return cache_key([arrays, network.turn_graph.fingerprint, str(network.info.crs)])


def snapped_grid_key(
    network: RoadNetwork,
    transform: Affine,
    shape: tuple[int, int],
    mask: np.ndarray,
    access: AccessSettings,
) -> str:
    """The cache key of a grid's joins (see the module docstring for what it covers)."""
    code = {module.__name__: file_sha256(module.__file__) for module in (snap, stretches, surface)}
    return cache_key(
        [
            SNAPPED_GRID_FORMAT,
            __version__,
            code,
            network_digest(network),
            [float(v) for v in list(transform)[:6]],
            [int(n) for n in shape],
            arrays_sha256([np.asarray(mask, dtype=bool)]),
            access.describe(),
        ]
    )


def cached_snap_grid(
    network: RoadNetwork,
    transform: Affine,
    shape: tuple[int, int],
    *,
    mask: np.ndarray,
    access: AccessSettings,
    name: str = "grid",
    use_cache: bool = True,
    cache_dir: str | Path | None = None,
    snapper: Callable[[np.ndarray], SnappedPoints] | None = None,
) -> GridCells:
    """:func:`~coverage.routing.surface.snap_grid`, read from the disk cache when it is there.

    Parameters
    ----------
    network, transform, shape, mask, access
        As for :func:`~coverage.routing.surface.snap_grid`.
    name
        Start of the file name (the territory's name), for whoever looks in the folder.
    use_cache
        ``False``: compute, neither read nor write the cache.
    cache_dir
        Folder of the files (default ``cache_root()/snapped_grids``).
    snapper
        How the cells are joined when they are not in the cache (see
        :func:`~coverage.routing.surface.snap_grid`).

    Returns
    -------
    GridCells
        Equal, array for array, to what ``snap_grid`` returns.
    """
    if not use_cache:
        return snap_grid(network, transform, shape, mask=mask, access=access, snapper=snapper)
    key = snapped_grid_key(network, transform, shape, mask, access)
    folder = Path(cache_dir) if cache_dir is not None else cache_root() / "snapped_grids"
    path = folder / f"{name}-{key}.npz"
    if path.is_file():
        try:
            return _read(path, transform, shape, access)
        except Exception:  # a damaged or foreign file: computed again, overwritten
            path.unlink(missing_ok=True)
    cells = snap_grid(network, transform, shape, mask=mask, access=access, snapper=snapper)
    try:
        _write(path, cells)
    except OSError as exc:
        warnings.warn(
            f"impossible d'écrire le cache du raccordement des cellules {path} ({exc})",
            stacklevel=2,
        )
    return cells


def _write(path: Path, cells: GridCells) -> None:
    snapped = cells.snapped
    meta = {"format": SNAPPED_GRID_FORMAT, "n_points": snapped.n_points}
    tmp = atomic_path(path)
    try:
        with open(tmp, "wb") as handle:
            np.savez(
                handle,
                rows=cells.rows,
                cols=cells.cols,
                meta=np.array(json.dumps(meta)),
                **{field: getattr(snapped, field) for field in _SNAPPED_ARRAYS},
            )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read(
    path: Path, transform: Affine, shape: tuple[int, int], access: AccessSettings
) -> GridCells:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        if meta.get("format") != SNAPPED_GRID_FORMAT:
            raise ValueError(f"format {meta.get('format')}")
        snapped = SnappedPoints(
            n_points=int(meta["n_points"]),
            **{field: data[field] for field in _SNAPPED_ARRAYS},
            settings=access,
        )
        return GridCells(
            transform=transform,
            shape=(int(shape[0]), int(shape[1])),
            rows=data["rows"],
            cols=data["cols"],
            snapped=snapped,
        )
