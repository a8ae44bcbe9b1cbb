"""The result directory of ``coverage run``: its format (file names) and its reader.

This module owns the format: :mod:`coverage.jobs.run` writes with these names,
:mod:`coverage.jobs.compare`, the maps and the API read through
:class:`ResultFolder` (or :func:`read_summary`) and compute nothing themselves.
Layers are read once and kept::

    <result>/
      summary.json                 SUMMARY_FILE
      results.gpkg                 GPKG_FILE (layers LAYERS)
      tables/<kind>_<analysis>.csv TABLES_DIR, kinds TABLE_KINDS (table_stem)
      minutes_<analysis>.tif       minutes_file
      cells.parquet                CELLS_FILE (GeoParquet: the cells, their times)
      map.html                     MAP_FILE (written by the maps package)
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio

from coverage.errors import DataError
from coverage.tables import read_written_table

SUMMARY_FILE = "summary.json"
GPKG_FILE = "results.gpkg"
TABLES_DIR = "tables"
MAP_FILE = "map.html"
CELLS_FILE = "cells.parquet"
"""The populated cells with their times (GeoParquet, EPSG:2154), written by every run."""
TABLE_KINDS: tuple[str, ...] = ("communes", "cantons", "epci", "underserved")
"""Tables written per analysis in ``tables/`` (``communes_health`` for the 2SFCA)."""
LAYERS: tuple[str, ...] = (
    "communes",
    "cantons",
    "epci",
    "services",
    "cells",
    "isochrones",
    "catchments",
)
"""Layers a full run writes in ``results.gpkg`` (``cells``, ``isochrones`` and
``catchments`` only when the scenario's ``[outputs]`` keep them)."""


def table_stem(kind: str, analysis: str) -> str:
    """File stem of an analysis table in ``tables/``: ``communes_france_services``."""
    return f"{kind}_{analysis}"


def minutes_file(analysis: str) -> str:
    """File name of an analysis' travel-time surface (GeoTIFF, minutes)."""
    return f"minutes_{analysis}.tif"


def read_summary(folder: str | Path) -> dict[str, Any]:
    """Read a result directory's ``summary.json``.

    Raises
    ------
    DataError
        If the folder is not a result directory or the summary is not JSON.
    """
    path = Path(folder) / SUMMARY_FILE
    if not path.is_file():
        raise DataError(
            "ce n'est pas un dossier de résultat de 'coverage run' (pas de summary.json)",
            path=Path(folder),
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"summary.json is not valid JSON ({exc})", path=path) from None


class ResultFolder:
    """A result directory, read lazily.

    Parameters
    ----------
    path
        The directory written by ``coverage run``.

    Raises
    ------
    DataError
        If the directory has no ``summary.json`` or ``results.gpkg``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not (self.path / SUMMARY_FILE).is_file() or not (self.path / GPKG_FILE).is_file():
            raise DataError(
                "not a result directory of 'coverage run' (summary.json and results.gpkg expected)",
                path=self.path,
            )
        self._layers: dict[str, gpd.GeoDataFrame] = {}

    @cached_property
    def summary(self) -> dict[str, Any]:
        """The content of ``summary.json``."""
        return read_summary(self.path)

    @property
    def analyses(self) -> list[str]:
        """Names of the analyses of the run, in order."""
        return list(self.summary["analyses"])

    @cached_property
    def available_layers(self) -> list[str]:
        """Layers present in ``results.gpkg`` (with a geometry: not the QGIS ``layer_styles``)."""
        layers = pyogrio.list_layers(self.path / GPKG_FILE)
        return [str(name) for name, geometry in layers if geometry]

    def layer(self, name: str) -> gpd.GeoDataFrame:
        """A layer of ``results.gpkg`` (EPSG:2154), read once.

        Raises
        ------
        DataError
            If the run did not write that layer.
        """
        if name not in self._layers:
            if name not in self.available_layers:
                has = ", ".join(self.available_layers)
                raise DataError(
                    f"layer '{name}' is not in this result (has: {has})",
                    path=self.path / GPKG_FILE,
                )
            frame = gpd.read_file(self.path / GPKG_FILE, layer=name, engine="pyogrio")
            for column in ("insee_code", "canton_code", "epci_siren", "service_id"):
                if column in frame:
                    frame[column] = frame[column].astype(str)
            self._layers[name] = frame
        return self._layers[name]

    def table(self, name: str) -> pd.DataFrame:
        """A CSV of ``tables/`` by stem, e.g. ``communes_france_services``.

        Raises
        ------
        DataError
            If the table does not exist.
        """
        path = self.path / TABLES_DIR / f"{name}.csv"
        if not path.is_file():
            raise DataError(f"no table '{name}' in this result", path=path)
        publics = {
            analysis: figures["public"]["label"]
            for analysis, figures in self.summary.get("analyses", {}).items()
            if figures.get("public")
        }
        ends = [k for k in publics if name.endswith(f"_{k}")]
        label = publics[max(ends, key=len)] if ends else None
        return read_written_table(
            path,
            dtype={"insee_code": str, "canton_code": str, "epci_siren": str, "service_id": str},
            public_label=label,
        )

    def analysis(self, name: str) -> dict[str, Any]:
        """The summary figures of one analysis.

        Raises
        ------
        DataError
            For an unknown analysis name.
        """
        try:
            return self.summary["analyses"][name]
        except KeyError:
            raise DataError(
                f"no analysis '{name}' in this result (has: {', '.join(self.analyses)})",
                path=self.path,
            ) from None
