"""Read a result directory of ``coverage run``: its summary, layers and tables.

Maps and the API read results through :class:`ResultFolder` and compute
nothing themselves. Layers are read once and kept.
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

SUMMARY_FILE = "summary.json"
GPKG_FILE = "results.gpkg"
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
        try:
            return json.loads((self.path / SUMMARY_FILE).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"summary.json is not valid JSON ({exc})", path=self.path) from None

    @property
    def analyses(self) -> list[str]:
        """Names of the analyses of the run, in order."""
        return list(self.summary["analyses"])

    @cached_property
    def available_layers(self) -> list[str]:
        """Layers present in ``results.gpkg``."""
        return [str(name) for name, _ in pyogrio.list_layers(self.path / GPKG_FILE)]

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
        path = self.path / "tables" / f"{name}.csv"
        if not path.is_file():
            raise DataError(f"no table '{name}' in this result", path=path)
        return pd.read_csv(
            path,
            dtype={"insee_code": str, "canton_code": str, "epci_siren": str, "service_id": str},
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
