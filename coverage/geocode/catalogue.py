"""Locate the rows of service lists and build a territory's service catalogue.

:func:`services_from_table` turns one list (every value as text, as
:func:`~coverage.layers.services.read_service_file` reads it) into catalogue
rows: coordinates given with a row are kept once checked against the territory
(:mod:`coverage.geocode.coords`: swapped or Lambert-93 values repaired with a
note, far points refused), the other rows are geocoded, and every point gets
its commune by reverse lookup. A row that cannot be placed is never dropped
silently: it is rejected with its line and its reason; so is a CSV row with
too many or too few values (read with ``bad_rows="keep"``), whose values are
never taken for another column's.

:func:`load_catalogue` builds the :class:`~coverage.layers.services.ServiceCatalogue`
from the lists declared in ``[services]`` of ``territory.toml``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyproj import Transformer

from coverage.csvio import TableInfo, to_number
from coverage.errors import ConfigError, DataError
from coverage.geocode.base import AddressQuery, Geocoder, ProgressCallback
from coverage.geocode.chain import make_geocoder
from coverage.geocode.communes import CommuneIndex, clean_insee_code
from coverage.geocode.coords import CoordinateValidator, parse_coordinate
from coverage.geocode.normalize import normalise_text
from coverage.layers.config import SERVICE_FIELDS, ServiceSourceSpec, ServicesSpec
from coverage.layers.services import (
    CATALOGUE_COLUMNS,
    REJECTED_COLUMNS,
    TABLE_SUFFIXES,
    ServiceCatalogue,
    catalogue_from_frames,
    default_sources,
    read_service_file,
    source_path,
)
from coverage.layers.territory import Territory

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

_LOCATING_FIELDS: tuple[str, ...] = (
    "address",
    "housenumber",
    "street",
    "postcode",
    "insee_code",
    "city",
)
"""Fields that let a row without coordinates be geocoded."""

_FIELD_SYNONYMS: dict[str, tuple[str, ...]] = {
    "service_id": ("service_id", "id", "identifiant", "id_fs", "ref", "reference", "code"),
    "kind": ("kind", "type", "type_service", "categorie"),
    "name": (
        "name",
        "nom",
        "libelle",
        "lib_fs",
        "denomination",
        "raison_sociale",
        "nom_site",
        "nom_du_site",
        "nom_structure",
    ),
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


def detect_service_columns(
    columns: Sequence[str], given: dict[str, str] | None = None, *, path: Path | None = None
) -> dict[str, str]:
    """Map engine fields to a file's columns: the given mapping, plus the usual names.

    The given fields win; every other field is still recognised by its usual
    column names (``nom``, ``adresse``, ``code_postal``...), among the columns
    the mapping has not taken.

    Raises
    ------
    DataError
        A given field is unknown, or a given column is missing from the file
        (the message names it and lists the columns).
    """
    available = list(columns)
    by_key = {normalise_text(c).replace(" ", "_"): c for c in available}
    mapping: dict[str, str] = {}
    for name, column in (given or {}).items():
        if name not in SERVICE_FIELDS:
            raise DataError(
                f"champ « {name} » inconnu (champs : {', '.join(SERVICE_FIELDS)})",
                path=path,
                field=name,
            )
        if column not in available:
            raise DataError(
                f"colonne absente du fichier (donnée pour {name}) ; colonnes du fichier : "
                f"{', '.join(c for c in available if not c.startswith('_geom'))}",
                path=path,
                field=column,
            )
        mapping[name] = column
    for name in SERVICE_FIELDS:
        if name in mapping:
            continue
        for synonym in _FIELD_SYNONYMS.get(name, (name,)):
            column = by_key.get(synonym)
            if column and column not in mapping.values():
                mapping[name] = column
                break
    return mapping


# --- building catalogue rows -----------------------------------------------------------------


@dataclass
class ServiceContext:
    """What every list needs: the territory's checks, and a geocoder built only when needed.

    Attributes
    ----------
    territory
        The loaded territory.
    spec
        Its ``[services]`` table (distance limit, geocoders, kinds).
    kinds
        Known kinds, key -> French label.
    geocoder_factory
        Builds the geocoder on first use (rows without coordinates).
    progress
        Called with the number of rows geocoded.
    """

    territory: Territory
    spec: ServicesSpec
    kinds: dict[str, str]
    geocoder_factory: Callable[[], Geocoder]
    progress: ProgressCallback | None = None
    _geocoder: Geocoder | None = None
    _validator: CoordinateValidator | None = None
    _communes: CommuneIndex | None = None

    @property
    def geocoder(self) -> Geocoder:
        """The geocoder, built on first access."""
        if self._geocoder is None:
            self._geocoder = self.geocoder_factory()
        return self._geocoder

    @property
    def validator(self) -> CoordinateValidator:
        """Checks of given coordinates against the territory (``max_distance_km``)."""
        if self._validator is None:
            self._validator = CoordinateValidator.from_territory(
                self.territory, max_distance_m=self.spec.max_distance_km * 1000.0
            )
        return self._validator

    @property
    def communes(self) -> CommuneIndex:
        """The territory's communes, for reverse lookup."""
        if self._communes is None:
            self._communes = CommuneIndex.from_territory(self.territory)
        return self._communes


def make_context(
    territory: Territory,
    spec: ServicesSpec,
    geocoder: Geocoder | None = None,
    progress: ProgressCallback | None = None,
) -> ServiceContext:
    """The context of a territory's lists; the geocoder defaults to ``[services] geocoders``."""

    def factory() -> Geocoder:
        if geocoder is not None:
            return geocoder
        return make_geocoder(territory, spec.geocoders)

    return ServiceContext(
        territory=territory,
        spec=spec,
        kinds=spec.all_kinds(),
        geocoder_factory=factory,
        progress=progress,
    )


def services_from_table(
    table: pd.DataFrame,
    source: ServiceSourceSpec,
    context: ServiceContext,
    *,
    path: Path | None = None,
    info: TableInfo | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn one list into catalogue rows (located) and rejected rows (with reasons).

    Parameters
    ----------
    table
        The list, every value as text (:func:`~coverage.layers.services.read_service_file`).
    source
        Its declaration: key, kind, column mapping, defaults, CRS.
    context
        Territory checks and geocoder.
    path
        The file, for messages and line numbers (a CSV's header is line 1).
    info
        How :func:`~coverage.csvio.read_table` read a CSV: each row's line, and
        the rows with too many or too few values, rejected with their reason.

    Returns
    -------
    tuple of (pandas.DataFrame, pandas.DataFrame)
        Rows with :data:`~coverage.layers.services.CATALOGUE_COLUMNS`, and rejected
        rows with :data:`~coverage.layers.services.REJECTED_COLUMNS`, by line.

    Raises
    ------
    DataError
        A mapped column is absent from the table, or no column can locate a
        row (no address, commune, postcode, INSEE code, coordinates or geometry).
    """
    columns = detect_service_columns(list(table.columns), source.columns or None, path=path)
    if "lon" not in columns and "_geom_lon" in table.columns:
        columns["lon"], columns["lat"] = "_geom_lon", "_geom_lat"
    if not any(columns.get(name) for name in _LOCATING_FIELDS) and not (
        columns.get("lon") and columns.get("lat")
    ):
        raise DataError(
            "aucune colonne pour situer les sites (cherché : adresse, voie, commune, "
            "code_postal, code_insee, longitude/latitude ou une géométrie) ; colonnes du "
            f"fichier : {', '.join(c for c in table.columns if not c.startswith('_geom'))}",
            path=path,
        )

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
    first_line = 2 if path is None or path.suffix.lower() in TABLE_SUFFIXES else 1
    lines = [info.line(i) if info is not None else i + first_line for i in range(n)]
    malformed = {bad.position: bad for bad in (info.bad_rows if info is not None else ())}
    ids = _service_ids(values["service_id"], source.key, lines)

    pending_rows: list[dict[str, Any]] = []
    for i in range(n):
        line = lines[i]
        cells = [str(v).strip() for v in table.iloc[i].to_numpy()]
        base = {
            "source_key": source.key,
            "line": line,
            "service_id": ids[i][0],
            "name": values["name"][i],
        }
        if i in malformed:
            rejected.append({**base, "reason": malformed[i].reason})
            continue
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

    unlocatable = [r for r in to_geocode if not _locatable(r)]
    for record in unlocatable:
        check = record.get("check")
        why = (
            f"coordonnées inutilisables ({check.note}) et ni adresse, ni commune, ni code postal"
            if check is not None and check.note
            else "rien pour situer le site : ni coordonnées, ni adresse, ni commune, "
            "ni code postal, ni code INSEE"
        )
        rejected.append(
            {key: record[key] for key in ("source_key", "line", "service_id", "name")}
            | {"reason": why}
        )
    to_geocode = [r for r in to_geocode if _locatable(r)]
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


def _rows_frame(rows: list[dict[str, Any]], context: ServiceContext) -> pd.DataFrame:
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
        elif record["commune_name"] and insee in context.communes:
            named, _ = context.communes.match_name(normalise_text(record["commune_name"]))
            if named and named != insee:
                notes.append(
                    f"le point est dans la commune {context.communes.name(insee)} ({insee}), "
                    f"le fichier indique {record['commune_name']}"
                )
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


def _locatable(record: dict[str, Any]) -> bool:
    """True when a row gives something a geocoder can use (address, commune, codes)."""
    insee = record["given_insee"]
    return bool(
        record["address"]
        or record["postcode"]
        or record["commune_name"]
        or (insee and not insee.startswith("?"))
    )


def _kind_lookup(kinds: dict[str, str]) -> dict[str, str]:
    """Normalised spellings (key, key with spaces, label) -> kind key."""
    lookup: dict[str, str] = {}
    for key, label in kinds.items():
        lookup[normalise_text(key)] = key
        lookup[normalise_text(key.replace("_", " "))] = key
        lookup[normalise_text(label)] = key
    lookup.setdefault("maison departementale des solidarites", "mds")
    lookup.setdefault("tiers lieux", "tiers_lieu")
    lookup.setdefault("centre de sante", "health_centre")
    return lookup


def _service_ids(raw: list[str], key: str, lines: Sequence[int]) -> list[tuple[str, list[str]]]:
    """Unique ids ``<source>:<id>`` (``ligne<n>`` if empty); a duplicate gets ``-2`` and a note."""
    seen: dict[str, list[int]] = {}
    for i, value in enumerate(raw):
        if value:
            seen.setdefault(value, []).append(i)
    out: list[tuple[str, list[str]]] = []
    for i, value in enumerate(raw):
        notes: list[str] = []
        if not value:
            base = f"ligne{lines[i]}"
            notes.append("identifiant vide : numéro de ligne utilisé")
        else:
            base = value
            rows = seen[value]
            if len(rows) > 1:
                rank = rows.index(i) + 1
                notes.append(
                    f"identifiant « {value} » en double (lignes "
                    f"{', '.join(str(lines[r]) for r in rows)})"
                )
                if rank > 1:
                    base = f"{value}-{rank}"
        # an id that already names its list (a written catalogue) is kept as it is
        service_id = base if ":" in base else f"{key}:{base}"
        out.append((service_id, notes))
    return out


def _parse_number(text: str) -> float | None:
    return to_number(text)


def _to_wgs84(lon: list[str], lat: list[str], crs: str) -> tuple[list[float], list[float]]:
    x = np.array([parse_coordinate(v) for v in lon], dtype=float)
    y = np.array([parse_coordinate(v) for v in lat], dtype=float)
    transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    out_lon, out_lat = transformer.transform(x, y)
    return list(np.asarray(out_lon, dtype=float)), list(np.asarray(out_lat, dtype=float))


# --- the catalogue of a territory ---------------------------------------------------------


def load_catalogue(
    territory: Territory,
    *,
    sources: Sequence[str] | None = None,
    extra: Sequence[str | Path] = (),
    geocoder: Geocoder | None = None,
    progress: ProgressCallback | None = None,
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
    spec: ServicesSpec = territory.config.services
    declared = spec.sources if spec.declared else default_sources(territory)
    keys = list(declared) if sources is None else list(sources)
    unknown = [k for k in keys if k not in declared]
    if unknown:
        raise ConfigError(
            f"{territory.config.path}: no [services.sources.{unknown[0]}] "
            f"(declared: {', '.join(declared) or 'none'})"
        )
    context = make_context(territory, spec, geocoder, progress)
    frames, rejected, provenance = [], [], {}
    for key in keys:
        source = declared[key]
        path = source_path(territory, source)
        table = read_service_file(path, crs=source.crs)
        located, refused = services_from_table(table, source, context, path=path)
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
                "un catalogue ajouté doit avoir une colonne kind (écrivez-le avec "
                "'coverage services import --kind ...')",
                path=path,
            )
        source = ServiceSourceSpec(key=path.stem, kind="", source=str(path))
        located, refused = services_from_table(table, source, context, path=path)
        frames.append(located)
        rejected.append(refused)
        provenance[path.stem] = {"file": str(path), "kind": "(colonne kind)", "source": str(path)}
    return catalogue_from_frames(territory, spec, frames, rejected, provenance)
