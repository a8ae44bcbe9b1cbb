"""The neighbouring communes of the 2SFCA health accessibility (the communes over the border).

Both are CSV tables of the bundle, declared in ``territory.toml`` like every
layer (docs/territory-format.md) and read through their column mapping:

- ``[layers.communes_voisines]``: the communes over the border (other
  départements) whose people use the same care, one row each: ``insee_code``,
  ``name``, ``population``, ``point_lon``/``point_lat`` (a representative
  point, WGS84 unless the layer's ``crs`` says otherwise). ``coverage fetch``
  writes it (geo.api.gouv.fr).
- the age bands of the demand are publics of the territory
  (:mod:`coverage.layers.publics`: ``[layers.publics]``, or the former
  ``[layers.ages]``), read by :func:`coverage.layers.publics.read_age_bands`.

A territory that declares no such layer (or whose file is absent) gets None:
the caller then says so in its result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyproj

from coverage.csvio import number_column, read_table
from coverage.errors import DataError
from coverage.layers.config import LayerSpec
from coverage.layers.territory import Territory

NEIGHBOURS_LAYER = "communes_voisines"
"""Layer key of the neighbouring communes."""

NEIGHBOUR_FIELDS = ("insee_code", "name", "population", "point_lon", "point_lat")


@dataclass(frozen=True)
class NeighbourCommunes:
    """Communes over the border: codes, names, populations and points in the working CRS.

    Attributes
    ----------
    frame
        Columns ``insee_code``, ``name``, ``population``, ``x``, ``y`` (metres).
    file
        The file read (relative to the bundle).
    provenance
        The layer's source, URL, licence and date.
    """

    frame: pd.DataFrame
    file: str
    provenance: dict[str, str]


def _spec(territory: Territory, key: str) -> LayerSpec | None:
    spec = territory.config.layers.get(key)
    if spec is None or not (territory.data_dir / spec.file).is_file():
        return None
    return spec


def _column(frame: pd.DataFrame, spec: LayerSpec, field: str, path: object) -> pd.Series:
    name = spec.columns.get(field, field)
    if name not in frame.columns:
        raise DataError(
            f"couche '{spec.name}' : pas de colonne '{name}' (champ '{field}') ; le fichier a "
            f"{', '.join(frame.columns)}. Corrigez [layers.{spec.name}.columns] dans "
            f"territory.toml",
            path=path,
            field=name,
        )
    return frame[name]


def read_neighbour_communes(territory: Territory) -> NeighbourCommunes | None:
    """The bundle's neighbouring communes, or None when it has none.

    Raises
    ------
    DataError
        A missing column, an empty code, a population or coordinate that is not
        a number >= 0, a commune of the territory itself (naming file, line, field).
    """
    spec = _spec(territory, NEIGHBOURS_LAYER)
    if spec is None:
        return None
    path = territory.data_dir / spec.file
    table, info = read_table(path, skip_blank_lines=True)
    codes = _column(table, spec, "insee_code", path).astype(str).str.strip()
    numbers = {
        field: number_column(_column(table, spec, field, path), field=field, info=info)
        for field in ("population", "point_lon", "point_lat")
    }
    for field, values in numbers.items():
        bad = ~np.isfinite(values) | ((values < 0) if field == "population" else False)
        if np.any(bad):
            first = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"couche '{spec.name}' : {field} doit être un nombre"
                f"{' >= 0' if field == 'population' else ''}",
                path=path,
                row=info.line(first),
                field=spec.columns.get(field, field),
            )
    empty = codes.eq("")
    own = codes.str.startswith(territory.config.departement) & ~empty
    for mask, message in ((empty, "code INSEE vide"), (own, "commune du territoire lui-même")):
        if mask.any():
            first = int(np.flatnonzero(mask.to_numpy())[0])
            raise DataError(
                f"couche '{spec.name}' : {message} ({codes.iloc[first]!r}) ; la couche ne liste "
                "que les communes de l'autre côté de la limite",
                path=path,
                row=info.line(first),
                field=spec.columns.get("insee_code", "insee_code"),
            )
    to_crs = pyproj.Transformer.from_crs(spec.crs or "EPSG:4326", territory.crs, always_xy=True)
    x, y = to_crs.transform(numbers["point_lon"], numbers["point_lat"])
    frame = pd.DataFrame(
        {
            "insee_code": codes.to_numpy(),
            "name": _column(table, spec, "name", path).astype(str).to_numpy(),
            "population": numbers["population"],
            "x": np.asarray(x, dtype=float),
            "y": np.asarray(y, dtype=float),
        }
    ).drop_duplicates("insee_code")
    return NeighbourCommunes(frame=frame, file=spec.file, provenance=spec.provenance())
