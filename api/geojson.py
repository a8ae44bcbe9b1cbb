"""GeoJSON out: GeoDataFrames (EPSG:2154 inside) as FeatureCollection bytes in EPSG:4326.

Coordinates are rounded to 6 decimals (about 0.1 m), optionally after a
simplification in metres; NaN becomes ``null``; numpy values become plain
JSON. A collection may carry foreign members (``metadata``), which GeoJSON
readers ignore.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from coverage.jsonio import json_default

WGS84 = "EPSG:4326"
COORD_DECIMALS = 6


def dumps(data: Any) -> bytes:
    """Compact UTF-8 JSON (NaN and infinities written as ``null``)."""
    return json.dumps(
        _finite(data), ensure_ascii=False, separators=(",", ":"), default=json_default
    ).encode("utf-8")


def _finite(data: Any) -> Any:
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, np.floating):
        return float(data) if np.isfinite(data) else None
    if isinstance(data, dict):
        return {str(k): _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts (NaN -> None, numpy -> Python)."""
    if frame.empty:
        return []
    return json.loads(frame.to_json(orient="records", force_ascii=False, double_precision=10))


def feature_collection(
    frame: gpd.GeoDataFrame,
    *,
    columns: list[str] | None = None,
    simplify_m: float = 0.0,
    id_column: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> bytes:
    """A FeatureCollection in EPSG:4326 as UTF-8 bytes.

    Parameters
    ----------
    frame
        Features in any CRS (set).
    columns
        Property columns (default: every column but the geometry).
    simplify_m
        Simplification tolerance in the frame's units (metres in EPSG:2154),
        topology preserved; 0 keeps every vertex.
    id_column
        Column used as each feature's ``id``.
    metadata
        Foreign member ``metadata`` of the collection.
    """
    geometry = frame.geometry
    if simplify_m > 0:
        geometry = geometry.simplify(simplify_m, preserve_topology=True)
    if frame.crs is not None and geometry.crs is not None and geometry.crs != WGS84:
        geometry = geometry.to_crs(WGS84)
    rounded = shapely.transform(
        np.asarray(geometry.values, dtype=object), lambda c: np.round(c, COORD_DECIMALS)
    )
    names = (
        columns if columns is not None else [c for c in frame.columns if c != frame.geometry.name]
    )
    props = records(pd.DataFrame(frame[names]).reset_index(drop=True))
    ids = frame[id_column].astype(str).tolist() if id_column else None
    return _collection_bytes(shapely.to_geojson(rounded), props, ids, metadata)


def feature_collection_from_rows(
    rows: list[dict[str, Any]],
    *,
    crs: str,
    columns: list[str],
    id_key: str | None = None,
    geometry_key: str = "geometry",
    metadata: dict[str, Any] | None = None,
) -> bytes:
    """A FeatureCollection in EPSG:4326 from plain rows: :func:`feature_collection` without
    a GeoDataFrame, for small answers built per request (the same JSON values).

    Parameters
    ----------
    rows
        One dict per feature: ``columns`` become the properties (plain Python or numpy
        scalars, NaN written ``null``), ``geometry_key`` holds a shapely geometry or None.
    crs
        CRS of the geometries.
    columns, id_key, metadata
        As ``columns``, ``id_column`` and ``metadata`` of :func:`feature_collection`.
    """
    geoms = np.array([row[geometry_key] for row in rows] + [None], dtype=object)[:-1]
    transformer = _to_wgs84(crs)

    def project(coords: np.ndarray) -> np.ndarray:
        if transformer is not None:
            x, y = transformer.transform(coords[:, 0], coords[:, 1])
            coords = np.column_stack([x, y])
        return np.round(coords, COORD_DECIMALS)

    props = [_finite({name: row[name] for name in columns}) for row in rows]
    ids = [str(row[id_key]) for row in rows] if id_key else None
    return _collection_bytes(
        shapely.to_geojson(shapely.transform(geoms, project)), props, ids, metadata
    )


@functools.lru_cache(maxsize=8)
def _to_wgs84(crs: str) -> pyproj.Transformer | None:
    """The transformer from ``crs`` to WGS84 (lon, lat), None when ``crs`` is WGS84."""
    source = pyproj.CRS.from_user_input(crs)
    if source == pyproj.CRS.from_user_input(WGS84):
        return None
    return pyproj.Transformer.from_crs(source, WGS84, always_xy=True)


def _collection_bytes(
    geoms: np.ndarray,
    props: list[dict[str, Any]],
    ids: list[str] | None,
    metadata: dict[str, Any] | None,
) -> bytes:
    """The FeatureCollection text from GeoJSON geometries, properties and ids."""
    parts = []
    for i, geom in enumerate(geoms):
        head = '{"type":"Feature",'
        if ids is not None:
            head += '"id":' + json.dumps(ids[i]) + ","
        geom_text = geom if geom is not None else "null"
        parts.append(
            head
            + '"properties":'
            + json.dumps(
                props[i] if props else {},
                ensure_ascii=False,
                separators=(",", ":"),
                default=json_default,
            )
            + ',"geometry":'
            + geom_text
            + "}"
        )
    text = '{"type":"FeatureCollection"'
    if metadata is not None:
        text += ',"metadata":' + dumps(metadata).decode("utf-8")
    text += ',"features":[' + ",".join(parts) + "]}"
    return text.encode("utf-8")
