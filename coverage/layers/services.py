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

:func:`load_catalogue` builds it from the lists declared in ``[services]`` of
``territory.toml``; :func:`import_services` turns a département's own list
(CSV, GeoJSON, GeoPackage) into catalogue rows. Rows with coordinates keep
them once checked (:mod:`coverage.geocode.coords`); rows without are
geocoded (:mod:`coverage.geocode`). A row that cannot be placed is never
dropped silently: it goes to :attr:`ServiceCatalogue.rejected` with its reason.

Defaults: ``status`` = the source's ``status`` (``open``); ``capacity`` = the
source's ``capacity`` (1) in ``capacity_unit`` (``site``), i.e. every site
counts once until the département gives full-time equivalents or half-days.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from coverage.errors import DataError
from coverage.layers.config import (
    BUILTIN_SERVICE_KINDS,
    SERVICE_FIELDS,
    SERVICE_STATUSES,
    ServiceSourceSpec,
    ServicesSpec,
)
from coverage.layers.readers import DataWarning

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

_TABLE_SUFFIXES = (".csv", ".txt", ".tsv")

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

_STATUS_WORDS: dict[str, str] = {
    "open": "open",
    "ouvert": "open",
    "ouverte": "open",
    "actif": "open",
    "active": "open",
    "en service": "open",
    "existant": "open",
    "existante": "open",
    "oui": "open",
    "planned": "planned",
    "prevu": "planned",
    "prevue": "planned",
    "projet": "planned",
    "en projet": "planned",
    "a venir": "planned",
    "futur": "planned",
    "planifie": "planned",
    "closed": "closed",
    "ferme": "closed",
    "fermee": "closed",
    "inactif": "closed",
    "non": "closed",
}

_FIELD_SYNONYMS: dict[str, tuple[str, ...]] = {
    "service_id": ("service_id", "id", "identifiant", "id_fs", "ref", "reference", "code"),
    "kind": ("kind", "type", "type_service", "categorie"),
    "name": ("name", "nom", "libelle", "lib_fs", "denomination", "raison_sociale", "nom_site"),
    "address": ("address", "adresse", "adresse_complete", "adresse1", "adresse_1", "adr"),
    "housenumber": ("housenumber", "numero", "num", "numero_voie"),
    "street": ("street", "voie", "rue", "nom_voie", "libelle_voie"),
    "postcode": ("postcode", "code_postal", "cp", "codepostal", "code_post"),
    "insee_code": ("insee_code", "code_insee", "insee", "insee_com", "citycode", "codgeo"),
    "city": ("city", "commune_name", "commune", "ville", "nom_commune", "lib_com"),
    "lon": ("lon", "longitude", "lng", "x"),
    "lat": ("lat", "latitude", "y"),
    "status": ("status", "statut", "etat"),
    "capacity": ("capacity", "capacite", "etp", "demi_journees"),
    "capacity_unit": ("capacity_unit", "unite", "unite_capacite"),
    "source": ("source",),
    "geocode_quality": ("geocode_quality",),
    "geocode_score": ("geocode_score",),
    "geocode_backend": ("geocode_backend",),
}


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
            pd.DataFrame(self.frame.drop(columns="geometry")).to_csv(
                path, index=False, encoding="utf-8-sig"
            )
        else:
            raise DataError(
                f"unknown catalogue format '{suffix}': use .gpkg, .geojson or .csv", path=path
            )
        return path


# --- reading source files ------------------------------------------------------------------


def read_service_file(path: str | Path, *, crs: str = "") -> pd.DataFrame:
    """Read a list of service points: CSV (any encoding/separator), GeoJSON or GeoPackage.

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
        Missing or unreadable file, geometry without CRS.
    """
    from coverage.geocode.batch import read_table

    path = Path(path)
    if not path.is_file():
        raise DataError("service list not found", path=path)
    if path.suffix.lower() in _TABLE_SUFFIXES:
        return read_table(path)[0]
    try:
        frame = pyogrio.read_dataframe(path)
    except Exception as exc:  # pyogrio raises several DataSourceError subclasses
        raise DataError(f"cannot read the service list: {exc}", path=path) from None
    out = pd.DataFrame(
        {c: [_cell_text(v) for v in frame[c].to_numpy()] for c in frame.columns if c != "geometry"}
    )
    if isinstance(frame, gpd.GeoDataFrame) and "geometry" in frame.columns:
        geoms = frame.geometry
        if geoms.crs is None:
            if not crs:
                raise DataError(
                    "the service list has geometries but no CRS; give its crs in the "
                    "[services.sources.<key>] table",
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


def detect_service_columns(
    columns: Sequence[str], given: dict[str, str] | None = None, *, path: Path | None = None
) -> dict[str, str]:
    """Map engine fields to a file's columns: the given mapping, else the usual names.

    Raises
    ------
    DataError
        A given column is missing from the file (the message lists the columns).
    """
    from coverage.geocode.normalize import normalise_text

    available = list(columns)
    by_key = {normalise_text(c).replace(" ", "_"): c for c in available}
    mapping: dict[str, str] = {}
    for name, column in (given or {}).items():
        if column not in available:
            raise DataError(
                f"column '{column}' (mapped to '{name}') not found; the file has "
                f"{', '.join(c for c in available if not c.startswith('_geom'))}",
                path=path,
                field=column,
            )
        mapping[name] = column
    if given:
        return mapping
    for name in SERVICE_FIELDS:
        for synonym in _FIELD_SYNONYMS.get(name, (name,)):
            column = by_key.get(synonym)
            if column and column not in mapping.values():
                mapping[name] = column
                break
    return mapping


# --- building catalogue rows -----------------------------------------------------------------


@dataclass
class _Context:
    """What every source needs: territory checks and a geocoder built on demand."""

    territory: Any
    spec: ServicesSpec
    kinds: dict[str, str]
    geocoder_factory: Callable[[], Any]
    progress: Callable[[int], None] | None = None
    _geocoder: Any = None
    _validator: Any = None
    _communes: Any = None

    @property
    def geocoder(self) -> Any:
        if self._geocoder is None:
            self._geocoder = self.geocoder_factory()
        return self._geocoder

    @property
    def validator(self) -> Any:
        if self._validator is None:
            from coverage.geocode.coords import CoordinateValidator

            self._validator = CoordinateValidator.from_territory(
                self.territory, max_distance_m=self.spec.max_distance_km * 1000.0
            )
        return self._validator

    @property
    def communes(self) -> Any:
        if self._communes is None:
            from coverage.geocode.communes import CommuneIndex

            self._communes = CommuneIndex.from_territory(self.territory)
        return self._communes


def _services_from_table(
    table: pd.DataFrame,
    source: ServiceSourceSpec,
    context: _Context,
    *,
    path: Path | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn one list into catalogue rows (located) and rejected rows (with reasons)."""
    from coverage.geocode.base import AddressQuery
    from coverage.geocode.communes import clean_insee_code
    from coverage.geocode.normalize import normalise_text

    columns = detect_service_columns(list(table.columns), source.columns or None, path=path)
    if "lon" not in columns and "_geom_lon" in table.columns:
        columns["lon"], columns["lat"] = "_geom_lon", "_geom_lat"

    def col(name: str) -> list[str]:
        column = columns.get(name)
        if not column:
            return [""] * len(table)
        return [str(v).strip() for v in table[column].to_numpy()]

    values = {name: col(name) for name in (*SERVICE_FIELDS,)}
    n = len(table)
    rows: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    kind_lookup = _kind_lookup(context.kinds)
    first_line = 2 if path is None or path.suffix.lower() in _TABLE_SUFFIXES else 1
    ids = _service_ids(values["service_id"], source.key, first_line)

    pending_rows: list[dict[str, Any]] = []
    for i in range(n):
        line = i + first_line
        cells = [str(v).strip() for v in table.iloc[i].to_numpy()]
        base = {
            "source_key": source.key,
            "line": line,
            "service_id": ids[i][0],
            "name": values["name"][i],
        }
        if not any(cells):
            rejected.append({**base, "reason": "ligne vide"})
            continue
        notes = list(ids[i][1])
        kind_text = values["kind"][i]
        kind = kind_lookup.get(normalise_text(kind_text), "") if kind_text else source.kind
        if not kind and not kind_text:
            rejected.append({**base, "reason": "type de service manquant (colonne kind)"})
            continue
        if not kind:
            rejected.append(
                {
                    **base,
                    "reason": f"type de service « {kind_text} » inconnu "
                    f"({', '.join(context.kinds)})",
                }
            )
            continue
        status_text = values["status"][i]
        status = (
            _STATUS_WORDS.get(normalise_text(status_text), "") if status_text else source.status
        )
        if not status:
            rejected.append(
                {
                    **base,
                    "reason": f"statut « {status_text} » inconnu "
                    "(ouvert/open, en projet/planned, fermé/closed)",
                }
            )
            continue
        capacity_text = values["capacity"][i]
        capacity = _parse_number(capacity_text) if capacity_text else source.capacity
        if capacity is None or capacity < 0:
            rejected.append(
                {**base, "reason": f"capacité « {capacity_text} » invalide (nombre >= 0)"}
            )
            continue
        address = " ".join(
            p for p in (values["housenumber"][i], values["street"][i], values["address"][i]) if p
        )
        record = {
            **base,
            "kind": kind,
            "name": values["name"][i] or f"{context.kinds[kind]} {values['city'][i]}".strip(),
            "address": address,
            "postcode": values["postcode"][i],
            "given_insee": clean_insee_code(values["insee_code"][i]),
            "commune_name": values["city"][i],
            "status": status,
            "capacity": float(capacity),
            "capacity_unit": values["capacity_unit"][i] or source.capacity_unit,
            "source": values["source"][i] or source.source,
            "notes": notes,
            "lon_raw": values["lon"][i],
            "lat_raw": values["lat"][i],
            "carried_quality": values["geocode_quality"][i],
            "carried_score": values["geocode_score"][i],
            "carried_backend": values["geocode_backend"][i],
        }
        pending_rows.append(record)

    # coordinates given with the rows
    with_coords = [r for r in pending_rows if r["lon_raw"] or r["lat_raw"]]
    lon_raw = [r["lon_raw"] for r in with_coords]
    lat_raw = [r["lat_raw"] for r in with_coords]
    if source.crs and source.crs.upper() not in ("EPSG:4326", "OGC:CRS84") and with_coords:
        lon_raw, lat_raw = _to_wgs84(lon_raw, lat_raw, source.crs)
    checks = context.validator.check_many(lon_raw, lat_raw) if with_coords else []
    for record, check in zip(with_coords, checks, strict=True):
        record["check"] = check

    to_geocode: list[dict[str, Any]] = []
    for record in pending_rows:
        check = record.get("check")
        if check is not None and check.usable:
            quality = record["carried_quality"] or "input"
            score = _parse_number(record["carried_score"])
            record.update(
                lon=check.lon,
                lat=check.lat,
                geocode_quality=quality,
                geocode_score=1.0 if score is None else score,
                geocode_backend=record["carried_backend"] or "input",
                geocode_status="matched",
            )
            if check.note:
                record["notes"].append(check.note)
            rows.append(record)
            continue
        if check is not None and check.note:
            record["notes"].append(check.note)
        to_geocode.append(record)

    if to_geocode:
        queries = [
            AddressQuery(
                text=r["address"],
                insee_code=r["given_insee"] if not r["given_insee"].startswith("?") else "",
                postcode=r["postcode"],
                city=r["commune_name"],
                row_id=str(r["line"]),
            )
            for r in to_geocode
        ]
        answers = context.geocoder.geocode_many(queries, progress=context.progress)
        located = [(r, a) for r, a in zip(to_geocode, answers, strict=True) if a.found]
        for record, answer in zip(to_geocode, answers, strict=True):
            if not answer.found:
                rejected.append(
                    {key: record[key] for key in ("source_key", "line", "service_id", "name")}
                    | {"reason": answer.reason or "non localisé"}
                )
        far = context.validator.check_many([a.lon for _, a in located], [a.lat for _, a in located])
        for (record, answer), check in zip(located, far, strict=True):
            if not check.usable:
                rejected.append(
                    {key: record[key] for key in ("source_key", "line", "service_id", "name")}
                    | {"reason": f"géocodé hors de la zone admise : {check.note}"}
                )
                continue
            status = answer.status
            if record.get("check") is not None and record["check"].status == "rejected":
                status = "fallback"
            if answer.reason:
                record["notes"].append(answer.reason)
            if answer.quality == "municipality":
                record["notes"].append(
                    "placé au point représentatif de la commune, pas à l'adresse du site"
                )
            record.update(
                lon=answer.lon,
                lat=answer.lat,
                geocode_quality=answer.quality,
                geocode_score=answer.score,
                geocode_backend=answer.backend,
                geocode_status=status,
                check=check,
                geocoded_insee=answer.insee_code,
            )
            rows.append(record)

    frame = _rows_frame(rows, context)
    rejected_frame = pd.DataFrame(rejected, columns=list(REJECTED_COLUMNS))
    return frame, rejected_frame.sort_values("line").reset_index(drop=True)


def _rows_frame(rows: list[dict[str, Any]], context: _Context) -> pd.DataFrame:
    """Catalogue columns for located rows: territory membership, commune, notes."""
    if not rows:
        return pd.DataFrame(columns=list(CATALOGUE_COLUMNS))
    rows.sort(key=lambda r: r["line"])
    lon = [r["lon"] for r in rows]
    lat = [r["lat"] for r in rows]
    reverse = context.communes.reverse_many(lon, lat)
    out = []
    for record, code in zip(rows, reverse, strict=True):
        check = record["check"]
        given = record["given_insee"]
        notes = record["notes"]
        insee = str(code)
        valid_given = given if given and not given.startswith("?") else ""
        if not insee:
            insee = valid_given or record.get("geocoded_insee", "")
        elif valid_given and valid_given != insee:
            notes.append(f"le point est dans la commune {insee}, le fichier indique {given}")
        name = record["commune_name"] or (
            context.communes.name(insee) if insee in context.communes else ""
        )
        out.append(
            {
                "service_id": record["service_id"],
                "kind": record["kind"],
                "name": record["name"],
                "address": record["address"],
                "postcode": record["postcode"],
                "insee_code": insee,
                "commune_name": name,
                "status": record["status"],
                "capacity": record["capacity"],
                "capacity_unit": record["capacity_unit"],
                "source": record["source"],
                "source_key": record["source_key"],
                "geocode_quality": record["geocode_quality"],
                "geocode_score": float(record["geocode_score"]),
                "geocode_backend": record["geocode_backend"],
                "geocode_status": record["geocode_status"],
                "in_territory": bool(check.inside),
                "distance_to_territory_m": round(float(check.distance_m), 1),
                "lon": round(float(record["lon"]), 7),
                "lat": round(float(record["lat"]), 7),
                "note": "; ".join(dict.fromkeys(n for n in notes if n)),
            }
        )
    return pd.DataFrame(out, columns=list(CATALOGUE_COLUMNS))


def _kind_lookup(kinds: dict[str, str]) -> dict[str, str]:
    """Normalised spellings (key, key with spaces, label) -> kind key."""
    from coverage.geocode.normalize import normalise_text

    lookup: dict[str, str] = {}
    for key, label in kinds.items():
        lookup[normalise_text(key)] = key
        lookup[normalise_text(key.replace("_", " "))] = key
        lookup[normalise_text(label)] = key
    lookup.setdefault("maison departementale des solidarites", "mds")
    lookup.setdefault("tiers lieux", "tiers_lieu")
    lookup.setdefault("centre de sante", "health_centre")
    return lookup


def _service_ids(raw: list[str], key: str, first_line: int) -> list[tuple[str, list[str]]]:
    """Unique ids ``<source>:<id>`` (``ligne<n>`` if empty); a duplicate gets ``-2`` and a note."""
    seen: dict[str, list[int]] = {}
    for i, value in enumerate(raw):
        if value:
            seen.setdefault(value, []).append(i)
    out: list[tuple[str, list[str]]] = []
    for i, value in enumerate(raw):
        notes: list[str] = []
        if not value:
            base = f"ligne{i + first_line}"
            notes.append("identifiant vide : numéro de ligne utilisé")
        else:
            base = value
            rows = seen[value]
            if len(rows) > 1:
                rank = rows.index(i) + 1
                notes.append(
                    f"identifiant « {value} » en double (lignes "
                    f"{', '.join(str(r + first_line) for r in rows)})"
                )
                if rank > 1:
                    base = f"{value}-{rank}"
        # an id that already names its list (a written catalogue) is kept as it is
        service_id = base if ":" in base else f"{key}:{base}"
        out.append((service_id, notes))
    return out


def _parse_number(text: str) -> float | None:
    from coverage.geocode.coords import parse_coordinate

    value = parse_coordinate(text)
    return None if math.isnan(value) else value


def _to_wgs84(lon: list[str], lat: list[str], crs: str) -> tuple[list[float], list[float]]:
    from pyproj import Transformer

    from coverage.geocode.coords import parse_coordinate

    x = np.array([parse_coordinate(v) for v in lon], dtype=float)
    y = np.array([parse_coordinate(v) for v in lat], dtype=float)
    transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    out_lon, out_lat = transformer.transform(x, y)
    return list(np.asarray(out_lon, dtype=float)), list(np.asarray(out_lat, dtype=float))


# --- public entry points ---------------------------------------------------------------------


def default_sources(territory: Any) -> dict[str, ServiceSourceSpec]:
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


def source_path(territory: Any, source: ServiceSourceSpec) -> Path:
    """Where a source's file is: the bundle (``layer``) or the description's folder (``file``)."""
    if source.layer:
        spec = territory.config.layer(source.layer)
        return Path(territory.data_dir) / spec.file
    path = Path(source.file).expanduser()
    if path.is_absolute():
        return path
    return Path(territory.config.path).parent / path


def load_catalogue(
    territory: Any,
    *,
    sources: Sequence[str] | None = None,
    extra: Sequence[str | Path] = (),
    geocoder: Any = None,
    progress: Callable[[int], None] | None = None,
) -> ServiceCatalogue:
    """Build a territory's service catalogue from the lists its description declares.

    Parameters
    ----------
    territory
        A loaded :class:`coverage.layers.Territory`.
    sources
        Keys of ``[services.sources.*]`` to use (all by default).
    extra
        Further catalogue files (e.g. written by ``coverage services import``);
        each file's rows carry their own ``kind``.
    geocoder
        Backend or chain for rows without coordinates; by default the chain
        named by ``[services] geocoders`` (``local`` then ``commune``), built
        only if some row needs it.
    progress
        Called with the number of rows geocoded.

    Returns
    -------
    ServiceCatalogue
        The Gers description gives 95 points: 92 France services (27 in the
        Gers, 65 outside) and 3 tiers-lieux placed at their commune.

    Raises
    ------
    DataError
        A declared list is missing or unreadable, or a mapped column is absent.
    coverage.errors.ConfigError
        An unknown source key.
    """
    from coverage.errors import ConfigError

    spec: ServicesSpec = territory.config.services
    declared = spec.sources if spec.declared else default_sources(territory)
    keys = list(declared) if sources is None else list(sources)
    unknown = [k for k in keys if k not in declared]
    if unknown:
        raise ConfigError(
            f"{territory.config.path}: no [services.sources.{unknown[0]}] "
            f"(declared: {', '.join(declared) or 'none'})"
        )
    context = _make_context(territory, spec, geocoder, progress)
    frames, rejected, provenance = [], [], {}
    for key in keys:
        source = declared[key]
        path = source_path(territory, source)
        table = read_service_file(path, crs=source.crs)
        located, refused = _services_from_table(table, source, context, path=path)
        frames.append(located)
        rejected.append(refused)
        provenance[key] = {
            "file": str(path),
            "kind": source.kind,
            "source": source.source,
            "url": source.url,
            "licence": source.licence,
            "date": source.date,
        }
    for file in extra:
        path = Path(file)
        table = read_service_file(path)
        kind_column = detect_service_columns(list(table.columns)).get("kind")
        if not kind_column:
            raise DataError(
                "an extra catalogue file needs a 'kind' column (write it with "
                "'coverage services import --kind ...')",
                path=path,
            )
        source = ServiceSourceSpec(key=path.stem, kind="", source=str(path))
        located, refused = _services_from_table(table, source, context, path=path)
        frames.append(located)
        rejected.append(refused)
        provenance[path.stem] = {"file": str(path), "kind": "(colonne kind)", "source": str(path)}
    return _catalogue(territory, spec, frames, rejected, provenance)


def import_services(
    path: str | Path,
    territory: Any,
    *,
    kind: str,
    columns: dict[str, str] | None = None,
    status: str = "open",
    capacity: float = 1.0,
    capacity_unit: str = "site",
    source: str = "",
    crs: str = "",
    geocoder: Any = None,
    max_distance_km: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> ServiceCatalogue:
    """Read a département's own list of service points and locate every row.

    Parameters
    ----------
    path
        CSV (UTF-8 or Latin-1, ``,`` or ``;``), GeoJSON or GeoPackage.
    territory
        A loaded :class:`coverage.layers.Territory`.
    kind
        Kind of the rows (a ``kind``/``type`` column, when present, wins).
    columns
        Engine field -> column; the usual names are recognised otherwise
        (``nom``, ``adresse``, ``code_postal``, ``commune``, ``code_insee``,
        ``latitude``/``longitude``, ``statut``, ``capacite``...).
    status, capacity, capacity_unit
        Defaults for rows that do not give them.
    source
        Provenance text (default: the file name).
    crs
        CRS of lon/lat columns or geometries when not WGS84.
    geocoder
        Backend or chain (default: ``[services] geocoders`` of the territory).
    max_distance_km
        Points farther from the territory are refused (default from ``[services]``).
    progress
        Called with the number of rows geocoded.

    Returns
    -------
    ServiceCatalogue
        Located rows in ``frame``; the others in ``rejected`` with their reason.

    Raises
    ------
    DataError
        Unknown kind or status, unreadable file, a mapped column absent.
    """
    path = Path(path)
    spec: ServicesSpec = territory.config.services
    if max_distance_km is not None:
        spec = ServicesSpec(
            max_distance_km=float(max_distance_km),
            geocoders=spec.geocoders,
            kinds=spec.kinds,
            sources=spec.sources,
            declared=spec.declared,
        )
    kinds = spec.all_kinds()
    if kind not in kinds:
        raise DataError(
            f"unknown service kind '{kind}' (known: {', '.join(kinds)}); declare custom "
            "kinds in [services.kinds] of territory.toml",
            field="kind",
        )
    if status not in SERVICE_STATUSES:
        raise DataError(f"status must be one of {', '.join(SERVICE_STATUSES)}", field="status")
    if capacity < 0:
        raise DataError("capacity must be >= 0", field="capacity")
    source_spec = ServiceSourceSpec(
        key=kind,
        kind=kind,
        file=str(path),
        columns=dict(columns or {}),
        status=status,
        capacity=float(capacity),
        capacity_unit=capacity_unit,
        crs=crs,
        source=source or path.name,
    )
    context = _make_context(territory, spec, geocoder, progress)
    table = read_service_file(path, crs=crs)
    located, refused = _services_from_table(table, source_spec, context, path=path)
    provenance = {kind: {"file": str(path), "kind": kind, "source": source_spec.source}}
    return _catalogue(territory, spec, [located], [refused], provenance)


def _make_context(
    territory: Any, spec: ServicesSpec, geocoder: Any, progress: Callable[[int], None] | None
) -> _Context:
    def factory() -> Any:
        if geocoder is not None:
            return geocoder
        from coverage.geocode.chain import make_geocoder

        return make_geocoder(territory, spec.geocoders)

    return _Context(
        territory=territory,
        spec=spec,
        kinds=spec.all_kinds(),
        geocoder_factory=factory,
        progress=progress,
    )


def _catalogue(
    territory: Any,
    spec: ServicesSpec,
    frames: list[pd.DataFrame],
    rejected: list[pd.DataFrame],
    provenance: dict[str, dict[str, str]],
) -> ServiceCatalogue:
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
            f"service id '{first}' appears in two lists of the catalogue; give each list "
            "its own source key",
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
            f"{len(rejected_frame)} service point(s) could not be placed and are left out of "
            f"the catalogue (first: {rejected_frame['source_key'].iloc[0]} row "
            f"{rejected_frame['line'].iloc[0]}: {rejected_frame['reason'].iloc[0]})",
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
