"""Result layers made ready for the web: EPSG:4326, simplified, rounded; computed once per result.

Maps compute no travel time: everything here is read from a
:class:`coverage.results.ResultFolder`; the only geometry work is
simplification for display and the difference of nested isochrones into bands.
"""

from __future__ import annotations

import json
import weakref
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage.results import ResultFolder
from coverage.tables import threshold_key
from maps.errors import MapError

WEB_CRS = "EPSG:4326"
COMMUNE_TOLERANCE_M = 25.0
"""Simplification of commune outlines for the web (metres, Lambert-93)."""
AREA_TOLERANCE_M = 90.0
"""Simplification of isochrones and catchments (drawn from 200 m cells)."""
COORD_DIGITS = 4
"""Decimals kept in published outline coordinates (about 10 m, under the simplification)."""
POINT_DIGITS = 5
"""Decimals kept in published point coordinates (about 1 m)."""

_CACHE: weakref.WeakKeyDictionary[ResultFolder, dict[Any, Any]] = weakref.WeakKeyDictionary()


def as_result(result: ResultFolder | str | Path) -> ResultFolder:
    """A :class:`ResultFolder` from itself or a path."""
    return result if isinstance(result, ResultFolder) else ResultFolder(result)


def pick_analyses(result: ResultFolder, analysis: str | None) -> list[str]:
    """The analyses a map draws: the one named, or all of them (the first shown).

    Raises
    ------
    coverage.errors.DataError
        For an analysis the result does not have (the message lists them).
    """
    if analysis is None:
        names = result.analyses
        if not names:
            raise MapError(f"result {result.path} has no analysis to map")
        return names
    result.analysis(analysis)  # raises DataError naming the known analyses
    return [analysis]


def reference_minutes(result: ResultFolder, analysis: str) -> float:
    """The analysis' reference threshold in minutes."""
    return float(result.analysis(analysis)["reference_minutes"])


def web_geometry(
    geometry: gpd.GeoSeries, tolerance_m: float, *, digits: int = COORD_DIGITS
) -> gpd.GeoSeries:
    """Simplify (metres, in the layer's CRS), reproject to EPSG:4326 and round coordinates."""
    if geometry.crs is None:
        raise MapError("a layer has no CRS; cannot publish it in EPSG:4326")
    values = geometry.values
    if tolerance_m > 0 and geometry.crs.is_projected:
        values = shapely.simplify(np.asarray(values), tolerance_m, preserve_topology=True)
    out = gpd.GeoSeries(values, index=geometry.index, crs=geometry.crs).to_crs(WEB_CRS)
    rounded = shapely.transform(np.asarray(out.values), lambda xy: np.round(xy, digits))
    return gpd.GeoSeries(rounded, index=geometry.index, crs=WEB_CRS)


def _cache(result: ResultFolder) -> dict[Any, Any]:
    return _CACHE.setdefault(result, {})


def web_layer(
    result: ResultFolder, name: str, tolerance_m: float, *, digits: int = COORD_DIGITS
) -> gpd.GeoDataFrame:
    """A layer of ``results.gpkg`` in EPSG:4326 for the web (cached on the result)."""
    key = ("layer", name, tolerance_m, digits)
    cache = _cache(result)
    if key not in cache:
        frame = result.layer(name)
        out = frame.drop(columns="geometry")
        cache[key] = gpd.GeoDataFrame(
            out, geometry=web_geometry(frame.geometry, tolerance_m, digits=digits), crs=WEB_CRS
        )
    return cache[key]


def communes(result: ResultFolder) -> gpd.GeoDataFrame:
    """The communes layer with every indicator, for the web."""
    return web_layer(result, "communes", COMMUNE_TOLERANCE_M)


def services(result: ResultFolder) -> gpd.GeoDataFrame:
    """The services layer (points with ``in__<analysis>`` flags), for the web."""
    return web_layer(result, "services", 0.0, digits=POINT_DIGITS)


def epci(result: ResultFolder) -> gpd.GeoDataFrame:
    """The EPCI layer with every indicator, for the web."""
    return web_layer(result, "epci", COMMUNE_TOLERANCE_M)


def has_layer(result: ResultFolder, name: str) -> bool:
    """Whether the run kept a layer (isochrones, catchments and cells are optional)."""
    return name in result.available_layers


def isochrone_bands(result: ResultFolder, analysis: str) -> gpd.GeoDataFrame:
    """Bands between successive thresholds of the analysis' merged isochrones (EPSG:4326).

    Columns: ``minutes_low``, ``minutes_high`` (the band holds places whose
    nearest service is between the two), ``population`` (inhabitants in the
    band), ``population_within`` (within ``minutes_high``), geometry.
    Empty when the run kept no isochrones.
    """
    key = ("bands", analysis)
    cache = _cache(result)
    if key in cache:
        return cache[key]
    columns = ["minutes_low", "minutes_high", "population", "population_within", "geometry"]
    if not has_layer(result, "isochrones"):
        cache[key] = gpd.GeoDataFrame(columns=columns, geometry="geometry", crs=WEB_CRS)
        return cache[key]
    iso = result.layer("isochrones")
    merged = iso[(iso["analysis"] == analysis) & (iso["scope"] == "merged")].sort_values("minutes")
    geoms = shapely.simplify(
        np.asarray(merged.geometry.values), AREA_TOLERANCE_M, preserve_topology=True
    )
    geoms = shapely.make_valid(geoms)
    rows = []
    previous = None
    previous_minutes, previous_pop = 0.0, 0.0
    for geom, minutes, pop in zip(
        geoms, merged["minutes"].astype(float), merged["population"].astype(float), strict=True
    ):
        band = geom if previous is None else shapely.difference(geom, previous)
        rows.append(
            {
                "minutes_low": previous_minutes,
                "minutes_high": minutes,
                "population": round(pop - previous_pop, 1),
                "population_within": round(pop, 1),
                "geometry": band,
            }
        )
        previous, previous_minutes, previous_pop = geom, minutes, pop
    frame = gpd.GeoDataFrame(rows, columns=columns, geometry="geometry", crs=iso.crs)
    frame = frame[~frame.geometry.is_empty]
    frame["geometry"] = web_geometry(frame.geometry, 0.0)
    cache[key] = frame.reset_index(drop=True)
    return cache[key]


def catchments(result: ResultFolder, analysis: str) -> gpd.GeoDataFrame:
    """Nearest-facility catchments of an analysis (EPSG:4326); empty if not kept."""
    if not has_layer(result, "catchments"):
        return gpd.GeoDataFrame(
            columns=["service_id", "name", "population", "minutes_mean", "geometry"],
            geometry="geometry",
            crs=WEB_CRS,
        )
    layer = web_layer(result, "catchments", AREA_TOLERANCE_M)
    return layer[layer["analysis"] == analysis].reset_index(drop=True)


def underserved(result: ResultFolder, analysis: str) -> pd.DataFrame:
    """The ranked underserved communes of an analysis (``tables/underserved_<analysis>.csv``).

    These are the communes with inhabitants beyond the analysis' reference
    threshold, ranked by excess person-minutes (see :mod:`coverage.access`).
    """
    key = ("underserved", analysis)
    cache = _cache(result)
    if key not in cache:
        table = result.table(f"underserved_{analysis}")
        ref = threshold_key(reference_minutes(result, analysis))
        column = f"pop_beyond_{ref}"
        if column not in table:
            raise MapError(
                f"table underserved_{analysis} has no column '{column}' "
                f"(reference threshold {ref} min)"
            )
        cache[key] = table[table[column] > 0].reset_index(drop=True)
    return cache[key]


def feature_collection(
    frame: gpd.GeoDataFrame, properties: list[dict[str, Any]]
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of a frame's geometries with the given properties."""
    geometries = shapely.to_geojson(np.asarray(frame.geometry.values))
    features = [
        {"type": "Feature", "properties": props, "geometry": json.loads(geom)}
        for props, geom in zip(properties, geometries, strict=True)
    ]
    return {"type": "FeatureCollection", "features": features}


def bounds_lonlat(frame: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` of a layer in degrees."""
    west, south, east, north = (float(v) for v in frame.to_crs(WEB_CRS).total_bounds)
    return west, south, east, north
