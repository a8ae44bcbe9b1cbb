"""The service catalogue: typed, located service points of a territory, with an honest quality.

A :class:`ServiceCatalogue` holds one row per service point in EPSG:2154:

``service_id``, ``kind``, ``name``, ``address``, ``postcode``, ``insee_code``,
``commune_name``, ``status`` (``open``/``planned``/``closed``), ``capacity``
and ``capacity_unit``, ``source`` and ``source_key``, ``geocode_quality``
(``input`` when the source gave coordinates, else ``housenumber``,
``street``, ``locality`` or ``municipality``), ``geocode_score``,
``geocode_backend``, ``geocode_status``, ``in_territory`` (False for services
over the border, kept because they count for coverage),
``distance_to_territory_m``, ``lon``/``lat`` (WGS84), ``note`` (repairs,
duplicates) and ``geometry``.

:func:`read_service_file` reads a list of service points (CSV, GeoJSON,
GeoPackage) as text; :func:`default_sources` and :func:`source_path` say which
lists a territory declares and where they are; :func:`catalogue_from_frames`
assembles located rows into a catalogue. Locating the rows (given coordinates
checked, the others geocoded) belongs to the geocoding package:
:func:`coverage.geocode.catalogue.load_catalogue` builds a territory's
catalogue, and :func:`coverage.jobs.services.import_services` imports a
département's own list. A row that cannot be placed is never dropped
silently: it goes to :attr:`ServiceCatalogue.rejected` with its reason.

Defaults: ``status`` = the source's ``status`` (``open``); ``capacity`` = the
source's ``capacity`` (1) in ``capacity_unit`` (``site``), i.e. every site
counts once until the département gives full-time equivalents or half-days.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from coverage._french import plural
from coverage.csvio import read_table
from coverage.errors import DataError
from coverage.layers.config import BUILTIN_SERVICE_KINDS, ServiceSourceSpec, ServicesSpec
from coverage.layers.readers import DataWarning
from coverage.layers.territory import Territory
from coverage.tables import Column, column_for, write_table

CATALOGUE_COLUMNS: tuple[str, ...] = (
    "service_id",
    "kind",
    "name",
    "address",
    "postcode",
    "insee_code",
    "commune_name",
    "status",
    "capacity",
    "capacity_unit",
    "source",
    "source_key",
    "geocode_quality",
    "geocode_score",
    "geocode_backend",
    "geocode_status",
    "in_territory",
    "distance_to_territory_m",
    "lon",
    "lat",
    "note",
)
"""Columns of :attr:`ServiceCatalogue.frame`, before ``geometry``."""

TABLE_SUFFIXES: tuple[str, ...] = (".csv", ".txt", ".tsv")
"""Suffixes of service lists read as CSV tables (the others through GDAL)."""

CATALOGUE_FORMATS: tuple[str, ...] = (".gpkg", ".geojson", ".json", ".csv")
"""Suffixes :meth:`ServiceCatalogue.to_file` writes."""

REJECTED_COLUMNS: tuple[str, ...] = ("source_key", "line", "service_id", "name", "reason")

STATUS_LABELS: dict[str, str] = {"open": "ouvert", "planned": "en projet", "closed": "fermé"}

ANCT_FRANCE_SERVICES_COLUMNS: dict[str, str] = {
    "service_id": "id_fs",
    "name": "lib_fs",
    "address": "adresse",
    "postcode": "code_postal",
    "insee_code": "insee_com",
    "city": "lib_com",
    "lon": "longitude",
    "lat": "latitude",
}
"""Columns of the published ANCT France services list (default of a ``france_services`` layer)."""


@dataclass
class ServiceCatalogue:
    """The typed, located service points of a territory.

    Attributes
    ----------
    frame
        One row per located service point (EPSG:2154), columns
        :data:`CATALOGUE_COLUMNS` then ``geometry``.
    rejected
        Rows that could not be placed: ``source_key``, ``line`` (line of a CSV
        as a spreadsheet shows it, header = 1; feature number in a GeoJSON or
        GeoPackage), ``service_id``, ``name``, ``reason``.
    kinds
        Known kinds (built-in and the territory's own), key -> French label.
    sources
        Provenance of each source list, by key.
    territory
        Territory name.
    """

    frame: gpd.GeoDataFrame
    rejected: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(REJECTED_COLUMNS))
    )
    kinds: dict[str, str] = field(default_factory=lambda: dict(BUILTIN_SERVICE_KINDS))
    sources: dict[str, dict[str, str]] = field(default_factory=dict)
    territory: str = ""

    def __len__(self) -> int:
        return len(self.frame)

    def of_kind(
        self,
        *kinds: str,
        status: Sequence[str] | None = ("open",),
        in_territory: bool | None = None,
    ) -> gpd.GeoDataFrame:
        """Return the service points of some kinds.

        Parameters
        ----------
        *kinds
            Kinds to keep (all when none given).
        status
            Statuses to keep (``None``: all); open ones by default.
        in_territory
            Keep only those inside (True) or outside (False) the territory.
        """
        mask = np.ones(len(self.frame), dtype=bool)
        if kinds:
            mask &= self.frame["kind"].isin(kinds).to_numpy()
        if status is not None:
            mask &= self.frame["status"].isin(list(status)).to_numpy()
        if in_territory is not None:
            mask &= (self.frame["in_territory"] == in_territory).to_numpy()
        return self.frame.loc[mask]

    def counts(self) -> pd.DataFrame:
        """Counts by kind, status and inside/outside the territory."""
        if self.frame.empty:
            return pd.DataFrame(columns=["kind", "status", "in_territory", "count"])
        grouped = (
            self.frame.groupby(["kind", "status", "in_territory"], sort=True)
            .size()
            .rename("count")
            .reset_index()
        )
        return grouped

    def summary(self) -> dict[str, Any]:
        """Figures ``coverage services list`` prints (plain data, JSON-serialisable)."""
        by_kind: dict[str, dict[str, Any]] = {}
        for kind, rows in self.frame.groupby("kind", sort=True):
            by_kind[str(kind)] = {
                "label": self.kinds.get(str(kind), str(kind)),
                "total": len(rows),
                "in_territory": int(rows["in_territory"].sum()),
                "outside": int((~rows["in_territory"].astype(bool)).sum()),
                "by_status": dict(Counter(rows["status"])),
                "by_quality": dict(Counter(rows["geocode_quality"])),
            }
        return {
            "territory": self.territory,
            "services": len(self.frame),
            "in_territory": int(self.frame["in_territory"].sum()) if len(self.frame) else 0,
            "by_kind": by_kind,
            "rejected": self.rejected.to_dict(orient="records"),
            "sources": self.sources,
        }

    def to_file(self, path: str | Path) -> Path:
        """Write the catalogue: GeoPackage (EPSG:2154), GeoJSON (EPSG:4326) or CSV (lon/lat).

        Raises
        ------
        DataError
            For another file extension.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        suffix = path.suffix.lower()
        if suffix == ".gpkg":
            self.frame.to_file(path, layer="services", driver="GPKG")
        elif suffix in (".geojson", ".json"):
            if path.exists():
                path.unlink()
            self.frame.to_crs("EPSG:4326").to_file(path, driver="GeoJSON")
        elif suffix == ".csv":
            table = pd.DataFrame(self.frame.drop(columns="geometry"))
            # catalogue names kept (the file is read again as a service list)
            keep = {str(c): Column(str(c), column_for(str(c), table[c]).kind) for c in table}
            write_table(table, path, columns=keep)
        else:
            raise DataError(
                f"format de catalogue « {suffix} » inconnu : utilisez .gpkg, .geojson ou .csv",
                path=path,
            )
        return path


# --- reading source files ------------------------------------------------------------------


def read_service_file(path: str | Path, *, crs: str = "") -> pd.DataFrame:
    """Read a list of service points: CSV (:func:`coverage.csvio.read_table`), GeoJSON, GeoPackage.

    Parameters
    ----------
    path
        The file.
    crs
        CRS of a geometry that declares none.

    Returns
    -------
    pandas.DataFrame
        Every attribute as text; a geometry becomes ``_geom_lon``/``_geom_lat``
        (WGS84; a polygon gives its representative point). Empty rows are kept.

    Raises
    ------
    DataError
        Missing or unreadable file, geometry without CRS, a CSV row with more
        values than the header (naming its line).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("liste de services introuvable", path=path)
    if path.suffix.lower() in TABLE_SUFFIXES:
        return read_table(path)[0]
    try:
        frame = pyogrio.read_dataframe(path)
    except Exception as exc:  # pyogrio raises several DataSourceError subclasses
        raise DataError(f"impossible de lire la liste de services : {exc}", path=path) from None
    out = pd.DataFrame(
        {c: [_cell_text(v) for v in frame[c].to_numpy()] for c in frame.columns if c != "geometry"}
    )
    if isinstance(frame, gpd.GeoDataFrame) and "geometry" in frame.columns:
        geoms = frame.geometry
        if geoms.crs is None:
            if not crs:
                raise DataError(
                    "la liste de services a des géométries mais pas de SCR ; donnez son crs "
                    "dans la table "
                    "[services.sources.<key>]",
                    path=path,
                )
            geoms = geoms.set_crs(crs)
        has = ~(geoms.isna() | geoms.is_empty)
        points = geoms.copy()
        points[has] = geoms[has].representative_point()
        points = points.to_crs("EPSG:4326")
        out["_geom_lon"] = [f"{p.x:.7f}" if ok else "" for p, ok in zip(points, has, strict=True)]
        out["_geom_lat"] = [f"{p.y:.7f}" if ok else "" for p, ok in zip(points, has, strict=True)]
    return out.reset_index(drop=True)


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return repr(float(value)) if not value.is_integer() else str(int(value))
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    return str(value).strip()


# --- where the lists are --------------------------------------------------------------------


def default_sources(territory: Territory) -> dict[str, ServiceSourceSpec]:
    """Sources used when ``territory.toml`` has no ``[services]``: its France services layer."""
    layers = territory.config.layers
    if "france_services" not in layers:
        return {}
    spec = layers["france_services"]
    return {
        "france_services": ServiceSourceSpec(
            key="france_services",
            kind="france_services",
            layer="france_services",
            columns=dict(spec.columns) or dict(ANCT_FRANCE_SERVICES_COLUMNS),
            crs=spec.crs,
            source=spec.source,
            url=spec.url,
            licence=spec.licence,
            date=spec.date,
        )
    }


def source_path(territory: Territory, source: ServiceSourceSpec) -> Path:
    """Where a source's file is: the bundle (``layer``) or the description's folder (``file``)."""
    if source.layer:
        spec = territory.config.layer(source.layer)
        return Path(territory.data_dir) / spec.file
    path = Path(source.file).expanduser()
    if path.is_absolute():
        return path
    return Path(territory.config.path).parent / path


# --- assembling the catalogue ---------------------------------------------------------------


def catalogue_from_frames(
    territory: Territory,
    spec: ServicesSpec,
    frames: list[pd.DataFrame],
    rejected: list[pd.DataFrame],
    provenance: dict[str, dict[str, str]],
) -> ServiceCatalogue:
    """Assemble located rows of one or more lists into a catalogue (EPSG of the territory).

    Parameters
    ----------
    territory
        The loaded territory.
    spec
        Its ``[services]`` table (kinds).
    frames
        Located rows of each list, :data:`CATALOGUE_COLUMNS`.
    rejected
        Rejected rows of each list, :data:`REJECTED_COLUMNS`; a
        :class:`~coverage.layers.readers.DataWarning` says how many.
    provenance
        Provenance of each list, by key.

    Raises
    ------
    DataError
        The same service id in two lists.
    """
    located = [f for f in frames if len(f)]
    table = (
        pd.concat(located, ignore_index=True)
        if located
        else pd.DataFrame(columns=list(CATALOGUE_COLUMNS))
    )
    dupes = table["service_id"].duplicated(keep=False)
    if dupes.any():
        first = table.loc[dupes, "service_id"].iloc[0]
        raise DataError(
            f"l'identifiant de service '{first}' figure dans deux listes du catalogue ; "
            f"donnez à chaque liste "
            "sa propre clé de source",
            field="service_id",
        )
    lon = pd.to_numeric(table["lon"], errors="coerce").to_numpy(float)
    lat = pd.to_numeric(table["lat"], errors="coerce").to_numpy(float)
    geometry = gpd.GeoSeries(shapely.points(lon, lat), crs="EPSG:4326").to_crs(territory.crs)
    frame = gpd.GeoDataFrame(table, geometry=geometry.values, crs=territory.crs)
    frame["in_territory"] = frame["in_territory"].astype(bool)
    frame["capacity"] = frame["capacity"].astype(float)
    frame["geocode_score"] = frame["geocode_score"].astype(float)
    refused = [r for r in rejected if len(r)]
    rejected_frame = (
        pd.concat(refused, ignore_index=True)
        if refused
        else pd.DataFrame(columns=list(REJECTED_COLUMNS))
    )
    if len(rejected_frame):
        warnings.warn(
            f"{plural(len(rejected_frame), 'point de service', 'points de service')} "
            "non placé(s),"
            f" laissé(s) hors du catalogue (premier : {rejected_frame['source_key'].iloc[0]} ligne "
            f"{rejected_frame['line'].iloc[0]} : {rejected_frame['reason'].iloc[0]})",
            DataWarning,
            stacklevel=3,
        )
    return ServiceCatalogue(
        frame=frame,
        rejected=rejected_frame,
        kinds=spec.all_kinds(),
        sources=provenance,
        territory=territory.name,
    )
