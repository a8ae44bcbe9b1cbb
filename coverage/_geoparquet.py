"""GeoParquet files of grid cells, written at disk speed (:func:`write_cells_geoparquet`).

A run's 157 591 populated cells are squares: their WKB polygons have one fixed
layout (93 bytes: byte order, type 3, one ring of five points), so they are
laid out with numpy in one pass instead of making a shapely geometry per
cell and encoding it (half a second for the Gers). The bytes are those of
``shapely.to_wkb(shapely.box(xmin, ymin, xmax, ymax))`` and the file follows
GeoParquet 1.0.0 (``geo`` metadata: WKB encoding, the CRS as PROJJSON, the
bounding box), so geopandas, QGIS and DuckDB read it as a layer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from coverage._cache import atomic_path

GEOPARQUET_VERSION = "1.0.0"
_BOX_WKB = np.dtype(
    [("order", "u1"), ("kind", "<u4"), ("rings", "<u4"), ("points", "<u4"), ("xy", "<f8", (10,))]
)
"""One little-endian WKB polygon of one ring of five points (93 bytes, no padding)."""


def box_wkb(
    xmin: np.ndarray, ymin: np.ndarray, xmax: np.ndarray, ymax: np.ndarray
) -> pa.BinaryArray:
    """WKB polygons of boxes, as ``shapely.to_wkb(shapely.box(...))`` writes them.

    The ring goes counter-clockwise from the lower right corner, as shapely's
    ``box`` draws it: (xmax, ymin), (xmax, ymax), (xmin, ymax), (xmin, ymin), and back.
    """
    n = int(np.asarray(xmin).shape[0])
    records = np.empty(n, dtype=_BOX_WKB)
    records["order"] = 1
    records["kind"] = 3
    records["rings"] = 1
    records["points"] = 5
    corners = (xmax, ymin, xmax, ymax, xmin, ymax, xmin, ymin, xmax, ymin)
    for position, values in enumerate(corners):
        records["xy"][:, position] = values
    offsets = np.arange(n + 1, dtype=np.int32) * _BOX_WKB.itemsize
    return pa.Array.from_buffers(
        pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(records.tobytes())]
    )


def write_cells_geoparquet(
    path: str | Path,
    columns: Mapping[str, np.ndarray],
    *,
    xmin: np.ndarray,
    ymin: np.ndarray,
    xmax: np.ndarray,
    ymax: np.ndarray,
    crs: str,
) -> Path:
    """Write cells (attribute columns and square polygons) as a GeoParquet file.

    Parameters
    ----------
    path
        The file; written under a staging name and renamed at the end.
    columns
        Attribute columns, in order (numpy arrays; object arrays of text become strings).
    xmin, ymin, xmax, ymax
        The cells' bounds (metres in ``crs``).
    crs
        The cells' coordinate system (``EPSG:2154``).

    Returns
    -------
    Path
        The file written.
    """
    from pyproj import CRS

    path = Path(path)
    arrays = [pa.array(np.asarray(values)) for values in columns.values()]
    names = [*columns, "geometry"]
    arrays.append(box_wkb(xmin, ymin, xmax, ymax))
    n = len(arrays[-1])
    bbox = (
        [float(np.min(xmin)), float(np.min(ymin)), float(np.max(xmax)), float(np.max(ymax))]
        if n
        else []
    )
    geo = {
        "version": GEOPARQUET_VERSION,
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": ["Polygon"],
                "crs": CRS.from_user_input(crs).to_json_dict(),
                "bbox": bbox,
            }
        },
    }
    table = pa.Table.from_arrays(arrays, names=names).replace_schema_metadata(
        {"geo": json.dumps(geo)}
    )
    tmp = atomic_path(path)
    try:
        pq.write_table(table, tmp, compression="zstd")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
