"""GeoJSON out: GeoDataFrames (EPSG:2154 inside) as FeatureCollection bytes in EPSG:4326.

Coordinates are rounded to 6 decimals (about 0.1 m), optionally after a
simplification in metres; NaN becomes ``null``; numpy values become plain
JSON. A collection may carry foreign members (``metadata``), which GeoJSON
readers ignore.
"""

from __future__ import annotations

import json
import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
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
    geoms = shapely.to_geojson(rounded)
    names = (
        columns if columns is not None else [c for c in frame.columns if c != frame.geometry.name]
    )
    props = records(pd.DataFrame(frame[names]).reset_index(drop=True))
    ids = frame[id_column].astype(str).tolist() if id_column else None
    parts = []
    for i, geom in enumerate(geoms):
        head = '{"type":"Feature",'
        if ids is not None:
            head += '"id":' + json.dumps(ids[i]) + ","
        geom_text = geom if geom is not None else "null"
        parts.append(
            head
            + '"properties":'
            + json.dumps(props[i] if props else {}, ensure_ascii=False, separators=(",", ":"))
            + ',"geometry":'
            + geom_text
            + "}"
        )
    text = '{"type":"FeatureCollection"'
    if metadata is not None:
        text += ',"metadata":' + dumps(metadata).decode("utf-8")
    text += ',"features":[' + ",".join(parts) + "]}"
    return text.encode("utf-8")
