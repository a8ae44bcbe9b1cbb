"""Read a layer file through its column mapping into a checked GeoDataFrame in the working CRS.

Every problem is reported with the file, the row (INSEE code or line) and the
field. Problems that can be repaired safely (invalid polygons, INSEE codes read
as numbers) are repaired with a :class:`DataWarning` that says what was done.
"""

from __future__ import annotations

import difflib
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from coverage._cache import file_stamp
from coverage._french import plural
from coverage.errors import DataError
from coverage.layers.config import LayerSpec


class DataWarning(UserWarning):
    """A repair made to input data (the message says what and where)."""


def layer_path(spec: LayerSpec, bundle_dir: Path) -> Path:
    """Return the absolute path of a layer file, checking that it exists.

    Raises
    ------
    DataError
        If the file is missing; the message says which layer and how to get it.
    """
    path = bundle_dir / spec.file
    if not path.is_file():
        raise DataError(
            f"le fichier de la couche '{spec.name}' manque dans le lot de données ; lancez "
            f"'coverage fetch' "
            f"ou pointez --data vers un dossier qui contient {spec.file}",
            path=path,
        )
    return path


def read_vector_layer(
    spec: LayerSpec,
    bundle_dir: Path,
    *,
    target_crs: str,
    required: tuple[str, ...] = (),
    optional: tuple[str, ...] = (),
    id_field: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a polygon layer and rename its columns to the engine's field names.

    Parameters
    ----------
    spec
        Layer specification (file, columns, CRS to assume).
    bundle_dir
        Bundle directory the file name is relative to.
    target_crs
        CRS of the returned frame (EPSG:2154).
    required
        Engine fields that must be mapped and present.
    optional
        Engine fields kept when mapped and present.
    id_field
        Field used to name rows in messages (e.g. ``insee_code``).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns: the engine fields found, then ``geometry`` (valid, non-empty,
        in ``target_crs``).

    Raises
    ------
    DataError
        Missing file, unreadable file, missing column, missing CRS, empty geometry.
    """
    path = layer_path(spec, bundle_dir)
    try:
        frame = read_layer_file(path)
    except Exception as exc:  # pyogrio raises several DataSourceError subclasses
        raise DataError(f"impossible de lire la couche '{spec.name}' : {exc}", path=path) from None
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame:
        raise DataError(f"la couche '{spec.name}' n'a pas de colonne de géométrie", path=path)
    frame = _rename_columns(frame, spec, path, required=required, optional=optional)
    frame = _set_crs(frame, spec, path)
    frame = _check_geometries(frame, spec, path, id_field=id_field)
    return frame.to_crs(target_crs)


def read_layer_file(path: Path) -> gpd.GeoDataFrame:
    """A layer file as pyogrio reads it (all columns), read once per version of the file.

    The territory's loader and the former communes' reader both read the commune
    layer (GDAL parses a GeoJSON whole, about 0.08 s for the Gers each time): the
    last :data:`READ_FILES_KEPT` files read are kept under their path, size and
    modification time, and every caller gets its own copy.

    Raises
    ------
    Exception
        What pyogrio raises for a missing or unreadable file.
    """
    key = file_stamp(path)
    frame = _READ_FILES.pop(key, None) if key is not None else None
    if frame is None:
        frame = pyogrio.read_dataframe(path)  # raises for a missing file
    if key is None:
        return frame
    _READ_FILES[key] = frame  # most recent last
    while len(_READ_FILES) > READ_FILES_KEPT:
        del _READ_FILES[next(iter(_READ_FILES))]
    return frame.copy()


READ_FILES_KEPT = 8
"""Layer files kept by :func:`read_layer_file` (a territory has four polygon layers)."""
_READ_FILES: dict[tuple[str, int, int], gpd.GeoDataFrame] = {}


def _rename_columns(
    frame: pd.DataFrame,
    spec: LayerSpec,
    path: Path,
    *,
    required: tuple[str, ...],
    optional: tuple[str, ...],
) -> pd.DataFrame:
    """Select and rename mapped columns; a missing required column is an error."""
    available = [c for c in frame.columns if c != "geometry"]
    rename: dict[str, str] = {}
    for field in (*required, *optional):
        column = spec.columns.get(field)
        if column is None:
            if field in required:
                raise DataError(
                    f"couche '{spec.name}' : aucune colonne associée au champ '{field}' "
                    f"dans [layers.{spec.name}.columns]",
                    path=path,
                    field=field,
                )
            continue
        if column not in frame.columns:
            if field not in required:
                continue
            close = difflib.get_close_matches(column, available, n=3)
            hint = f" ; vouliez-vous dire {', '.join(repr(c) for c in close)} ?" if close else ""
            raise DataError(
                f"colonne '{column}' (associée à '{field}') introuvable ; le fichier a "
                f"{', '.join(available)}{hint} Corrigez [layers.{spec.name}.columns] dans "
                f"territory.toml",
                path=path,
                field=column,
            )
        rename[column] = field
    keep = [*rename.keys(), "geometry"] if "geometry" in frame.columns else list(rename.keys())
    out = frame[keep].rename(columns=rename)
    return out


def _set_crs(frame: gpd.GeoDataFrame, spec: LayerSpec, path: Path) -> gpd.GeoDataFrame:
    """Use the file's CRS, or the declared one when the file has none."""
    if frame.crs is None:
        if not spec.crs:
            raise DataError(
                f"la couche '{spec.name}' n'a pas de SCR ; déclarez-le avec crs = \"EPSG:....\" "
                f"dans [layers.{spec.name}]",
                path=path,
            )
        frame = frame.set_crs(spec.crs)
    return frame


def _check_geometries(
    frame: gpd.GeoDataFrame, spec: LayerSpec, path: Path, *, id_field: str | None
) -> gpd.GeoDataFrame:
    """Refuse missing or empty geometries; repair invalid ones with a warning."""
    geoms = frame.geometry.values
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        row = _row_label(frame, int(np.flatnonzero(missing)[0]), id_field)
        raise DataError(
            f"couche '{spec.name}' : {plural(int(missing.sum()), 'ligne')} sans géométrie "
            f"(la première est indiquée)",
            path=path,
            row=row,
            field="geometry",
        )
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        rows = [_row_label(frame, int(i), id_field) for i in np.flatnonzero(invalid)]
        repaired = shapely.make_valid(geoms[invalid])
        # keep only the polygonal part of a GeometryCollection
        repaired = np.array([_polygonal(g) for g in repaired], dtype=object)
        if any(shapely.is_empty(g) for g in repaired):
            raise DataError(
                f"couche '{spec.name}' : géométrie invalide impossible à réparer",
                path=path,
                row=rows[0],
                field="geometry",
            )
        frame = frame.copy()
        frame.loc[invalid, "geometry"] = repaired
        warnings.warn(
            f"{path} : couche '{spec.name}' : "
            f"{plural(len(rows), 'géométrie invalide réparée', 'géométries invalides réparées')} "
            f"avec make_valid (lignes {', '.join(map(str, rows[:10]))})",
            DataWarning,
            stacklevel=3,
        )
    return frame


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _row_label(frame: pd.DataFrame, position: int, id_field: str | None) -> str:
    if id_field and id_field in frame.columns:
        value = frame.iloc[position][id_field]
        if isinstance(value, str) and value:
            return f"{position + 1} ({id_field}={value})"
    return str(position + 1)


def row_label(frame: pd.DataFrame, position: int, id_field: str | None) -> str:
    """Return a human label for a row: its 1-based position and its identifier."""
    return _row_label(frame, position, id_field)
