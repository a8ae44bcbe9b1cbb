"""Write one-band GeoTIFFs (opened by QGIS), atomically: the one writer every stage uses."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine

from coverage._cache import atomic_path


def write_geotiff(
    path: str | Path,
    data: np.ndarray,
    *,
    transform: Affine,
    crs: str,
    nodata: float | None = None,
    tags: dict[str, str] | None = None,
) -> Path:
    """Write a 2-D array as a deflate-compressed one-band GeoTIFF; returns the path.

    The file is written under a temporary name and renamed, so a reader never
    sees a half-written raster.
    """
    path = Path(path)
    tmp = atomic_path(path)
    try:
        with rasterio.open(
            tmp,
            "w",
            driver="GTiff",
            height=data.shape[0],
            width=data.shape[1],
            count=1,
            dtype=data.dtype.name,
            crs=crs,
            transform=transform,
            nodata=nodata,
            compress="deflate",
        ) as dst:
            dst.write(data, 1)
            if tags:
                dst.update_tags(1, **tags)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
