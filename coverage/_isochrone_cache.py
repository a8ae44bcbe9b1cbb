"""Disk cache of a run's isochrone polygons (:func:`cached_isochrones`).

The isochrones of an analysis (one per service and band, and the merged bands)
are the slowest part of writing a warm run of the Gers (about 1 s for 100
services × 3 bands) and are the same for the same inputs, so ``coverage run``
keeps them under ``cache_root()/isochrones``, named by a hash of everything
they depend on:

- the network's arrays and turn graph (:func:`coverage._snap_cache.network_digest`);
- the routed cells (grid, the cells' rows and columns, their access settings);
- the services (coordinates, identifiers, access settings), the bands, the
  direction, which polygons are asked for and the weight grid;
- the engine version and the source of every routing module (Python and C),
  so that a change in the method is never answered from an older file.

The file holds the rows of :func:`coverage.routing.isochrones.isochrone_records`
(polygons as WKB, which keeps every coordinate exactly), so a polygon read back
equals the computed one. A damaged file is computed again and overwritten;
where the cache directory cannot be written, the polygons are computed and
returned all the same.
"""

from __future__ import annotations

import functools
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from coverage import __version__
from coverage._cache import arrays_sha256, atomic_path, cache_key, file_sha256
from coverage._snap_cache import network_digest
from coverage.routing import isochrones as isochrone_module
from coverage.routing.graph import RoadNetwork
from coverage.routing.isochrones import isochrone_records, records_frame
from coverage.routing.snap import AccessSettings
from coverage.routing.surface import GridCells
from coverage.settings import cache_root

ISOCHRONE_CACHE_FORMAT = 1
"""Version of the cached file's layout (part of the key)."""


@functools.cache
def routing_code_sha256() -> str:
    """One digest of the source of every routing module (``coverage/routing/*.py``, ``*.c``)."""
    folder = Path(isochrone_module.__file__).parent
    files = sorted([*folder.glob("*.py"), *folder.glob("*.c"), *folder.glob("*.h")])
    return cache_key([[path.name, file_sha256(path)] for path in files])


def isochrone_key(
    network: RoadNetwork,
    xy: np.ndarray,
    cells: GridCells,
    *,
    bands_minutes: Sequence[float],
    weights: np.ndarray | None,
    facility_ids: Sequence[str],
    access: AccessSettings,
    direction: str,
    per_facility: bool,
    merged: bool,
) -> str:
    """The cache key of one call (see the module docstring for what it covers)."""
    return cache_key(
        [
            ISOCHRONE_CACHE_FORMAT,
            __version__,
            routing_code_sha256(),
            network_digest(network),
            [float(v) for v in list(cells.transform)[:6]],
            [int(n) for n in cells.shape],
            arrays_sha256([np.asarray(cells.rows), np.asarray(cells.cols)]),
            cells.snapped.settings.describe(),
            arrays_sha256([np.ascontiguousarray(xy, dtype=np.float64)]),
            [str(i) for i in facility_ids],
            access.describe(),
            [float(b) for b in bands_minutes],
            direction,
            bool(per_facility),
            bool(merged),
            None if weights is None else arrays_sha256([np.asarray(weights, dtype=np.float64)]),
        ]
    )


def cached_isochrones(
    network: RoadNetwork,
    xy: np.ndarray,
    cells: GridCells,
    *,
    bands_minutes: Sequence[float],
    weights: np.ndarray | None,
    facility_ids: Sequence[str],
    access: AccessSettings,
    direction: str = "to_facility",
    per_facility: bool = True,
    merged: bool = True,
    name: str = "isochrones",
    use_cache: bool = True,
    cache_dir: str | Path | None = None,
) -> gpd.GeoDataFrame:
    """:func:`coverage.routing.isochrones.isochrones`, read from the disk cache when it is there.

    Parameters
    ----------
    network, cells, bands_minutes, weights, access, direction, per_facility, merged
        As for :func:`~coverage.routing.isochrones.isochrones`.
    xy
        ``(n, 2)`` service coordinates in the network's CRS.
    facility_ids
        One identifier (text) per service.
    name
        Start of the file name (territory and analysis), for whoever looks in the folder.
    use_cache
        ``False``: compute, neither read nor write the cache.
    cache_dir
        Folder of the files (default ``cache_root()/isochrones``).

    Returns
    -------
    geopandas.GeoDataFrame
        Equal, row for row and coordinate for coordinate, to what ``isochrones`` returns.
    """
    ids = [str(i) for i in facility_ids]

    def compute() -> list[dict[str, Any]]:
        return isochrone_records(
            network,
            xy,
            cells,
            bands_minutes=bands_minutes,
            per_facility=per_facility,
            merged=merged,
            direction=direction,  # type: ignore[arg-type]
            weights=weights,
            facility_ids=ids,
            access=access,
        )

    if not use_cache:
        records = compute()
    else:
        key = isochrone_key(
            network,
            xy,
            cells,
            bands_minutes=bands_minutes,
            weights=weights,
            facility_ids=ids,
            access=access,
            direction=direction,
            per_facility=per_facility,
            merged=merged,
        )
        folder = Path(cache_dir) if cache_dir is not None else cache_root() / "isochrones"
        path = folder / f"{name}-{key}.npz"
        records = None
        if path.is_file():
            try:
                records = _read(path)
            except Exception:  # a damaged or foreign file: computed again, overwritten
                path.unlink(missing_ok=True)
        if records is None:
            records = compute()
            try:
                _write(path, records)
            except OSError as exc:
                warnings.warn(
                    f"impossible d'écrire le cache des isochrones {path} ({exc})", stacklevel=2
                )
    return records_frame(records, network.info.crs)


def _write(path: Path, records: list[dict[str, Any]]) -> None:
    rows = [
        [
            r["scope"],
            None if r["facility_id"] is None else str(r["facility_id"]),
            float(r["minutes"]),
            int(r["cells"]),
            float(r["weight"]),
        ]
        for r in records
    ]
    wkb = shapely.to_wkb([r["geometry"] for r in records], hex=False)
    sizes = np.array([len(b) for b in wkb], dtype=np.int64)
    meta = {"format": ISOCHRONE_CACHE_FORMAT, "rows": rows}
    tmp = atomic_path(path)
    try:
        with open(tmp, "wb") as handle:
            np.savez(
                handle,
                meta=np.array(json.dumps(meta, allow_nan=True)),
                wkb=np.frombuffer(b"".join(wkb), dtype=np.uint8),
                sizes=sizes,
            )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read(path: Path) -> list[dict[str, Any]]:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        if meta.get("format") != ISOCHRONE_CACHE_FORMAT:
            raise ValueError(f"format {meta.get('format')}")
        blob = data["wkb"].tobytes()
        sizes = data["sizes"]
    ends = np.cumsum(sizes)
    starts = ends - sizes
    geometries = shapely.from_wkb([blob[s:e] for s, e in zip(starts, ends, strict=True)])
    if len(geometries) != len(meta["rows"]):
        raise ValueError("rows and polygons differ in number")
    return [
        {
            "scope": scope,
            "facility_id": facility_id,
            "minutes": minutes,
            "cells": cells,
            "weight": weight,
            "geometry": geometry,
        }
        for (scope, facility_id, minutes, cells, weight), geometry in zip(
            meta["rows"], geometries, strict=True
        )
    ]
