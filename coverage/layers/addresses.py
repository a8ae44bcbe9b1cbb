"""Read an address-point file (BAN or BANO CSV) through its column mapping."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from coverage.csvio import number_column, read_table
from coverage.errors import DataError
from coverage.layers.config import LayerSpec
from coverage.layers.readers import layer_path

ADDRESS_FIELDS = ("id", "housenumber", "street", "postcode", "commune_name", "lat", "lon")


def read_address_table(spec: LayerSpec, bundle_dir: Path) -> pd.DataFrame:
    """Read an address CSV (``.csv`` or ``.csv.gz``) and rename columns to the engine's fields.

    Read by :func:`coverage.csvio.read_table` (encoding and separator detected:
    BAN files use ``;``, BANO ``,``; blank lines skipped). Every column is read as
    text except ``lat``/``lon`` (decimal comma accepted, empty = NaN).

    Parameters
    ----------
    spec
        Layer specification (``format`` ``ban`` or ``bano``; ``columns`` mapping).
    bundle_dir
        Bundle directory.

    Returns
    -------
    pandas.DataFrame
        Columns among :data:`ADDRESS_FIELDS` that are mapped.

    Raises
    ------
    DataError
        Missing or unreadable file, a mapped column absent from the file, a
        coordinate that is not a number (naming its line).
    """
    path = layer_path(spec, bundle_dir)
    frame, info = read_table(path, skip_blank_lines=True)
    rename = {}
    for field in ADDRESS_FIELDS:
        column = spec.columns.get(field, field)
        if column in frame.columns:
            rename[column] = field
        elif field in ("lat", "lon"):
            raise DataError(
                f"colonne '{column}' (associée à '{field}') introuvable ; le fichier a "
                f"{', '.join(frame.columns)}",
                path=path,
                field=column,
            )
    frame = frame[list(rename)].rename(columns=rename)
    for field in ("lat", "lon"):
        frame[field] = number_column(frame[field], field=spec.columns.get(field, field), info=info)
    return frame


def read_address_points(spec: LayerSpec, bundle_dir: Path, *, crs: str) -> gpd.GeoDataFrame:
    """Read address points as a GeoDataFrame in ``crs``; rows without coordinates are dropped.

    Parameters
    ----------
    spec
        Address layer specification.
    bundle_dir
        Bundle directory.
    crs
        Target CRS.

    Returns
    -------
    geopandas.GeoDataFrame
    """
    table = read_address_table(spec, bundle_dir)
    table = table[table["lat"].notna() & table["lon"].notna()]
    points = gpd.points_from_xy(table["lon"], table["lat"])
    return gpd.GeoDataFrame(table, geometry=points, crs=spec.crs or "EPSG:4326").to_crs(crs)
