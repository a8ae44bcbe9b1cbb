"""The ``coverage services import`` job: a département's own list read, located and written.

:func:`import_services` reads a list of service points (CSV, GeoJSON,
GeoPackage), keeps the coordinates it gives once checked, geocodes the other
rows and returns them as a :class:`~coverage.layers.services.ServiceCatalogue`
(rows that cannot be placed in ``rejected``, with their line and reason; a CSV
row with too many or too few values is one of them, never shifted).
:func:`import_services_file` is the whole command: geocoder built, list
imported, catalogue file written whole (``coverage services list --add``
reads it back), or nothing written and an error when no row could be placed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from coverage._outdir import staged_file
from coverage.csvio import TableInfo, read_table
from coverage.errors import DataError
from coverage.geocode.base import Geocoder
from coverage.geocode.catalogue import make_context, services_from_table
from coverage.geocode.chain import make_geocoder
from coverage.layers.config import SERVICE_STATUSES, ServiceSourceSpec, ServicesSpec
from coverage.layers.services import (
    CATALOGUE_FORMATS,
    TABLE_SUFFIXES,
    ServiceCatalogue,
    catalogue_from_frames,
    read_service_file,
)
from coverage.layers.territory import Territory
from coverage.progress import Progress, counter

IMPORT_STEP = "Import et géocodage"
"""The progress step label while the rows of a service list are located."""


def import_services(
    path: str | Path,
    territory: Territory,
    *,
    kind: str,
    columns: dict[str, str] | None = None,
    status: str = "open",
    capacity: float = 1.0,
    capacity_unit: str = "site",
    source: str = "",
    crs: str = "",
    geocoder: Geocoder | None = None,
    max_distance_km: float | None = None,
    progress: Progress | None = None,
) -> ServiceCatalogue:
    """Read a département's own list of service points and locate every row.

    Parameters
    ----------
    path
        CSV (any usual encoding and separator, :mod:`coverage.csvio`), GeoJSON or
        GeoPackage.
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
        Told :data:`IMPORT_STEP` with the rows geocoded (:class:`coverage.progress.Progress`).

    Returns
    -------
    ServiceCatalogue
        Located rows in ``frame``; the others in ``rejected`` with their reason.

    Raises
    ------
    DataError
        Unknown kind or status, unreadable file, a mapped column absent, no
        column to locate the rows.
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
            f"type de service « {kind} » inconnu (connus : {', '.join(kinds)}) ; déclarez "
            "les types propres au territoire dans [services.kinds] de territory.toml",
            field="kind",
        )
    if status not in SERVICE_STATUSES:
        raise DataError(
            f"statut « {status} » inconnu : {', '.join(SERVICE_STATUSES)}", field="status"
        )
    if capacity < 0:
        raise DataError(f"capacité {capacity:g} invalide : un nombre >= 0", field="capacity")
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
    context = make_context(territory, spec, geocoder, counter(progress, IMPORT_STEP))
    info: TableInfo | None = None
    if path.suffix.lower() in TABLE_SUFFIXES:
        table, info = read_table(path, bad_rows="keep")  # malformed rows rejected, not fatal
    else:
        table = read_service_file(path, crs=crs)
    located, refused = services_from_table(table, source_spec, context, path=path, info=info)
    provenance = {kind: {"file": str(path), "kind": kind, "source": source_spec.source}}
    return catalogue_from_frames(territory, spec, [located], [refused], provenance)


def import_services_file(
    input_file: str | Path,
    output: str | Path,
    territory: Territory,
    *,
    kind: str,
    backends: str | Sequence[str] | None = None,
    columns: dict[str, str] | None = None,
    status: str = "open",
    capacity: float = 1.0,
    capacity_unit: str = "site",
    source: str = "",
    crs: str = "",
    max_distance_km: float | None = None,
    progress: Progress | None = None,
) -> ServiceCatalogue:
    """Import a list and write its catalogue file: what ``coverage services import`` does.

    Parameters
    ----------
    input_file
        The département's list (see :func:`import_services`).
    output
        Catalogue file written: ``.gpkg`` (EPSG:2154), ``.geojson`` or ``.csv``.
    territory
        A loaded :class:`coverage.layers.Territory`.
    kind
        Kind of the rows.
    backends
        Geocoding backends in order (default: ``[services] geocoders`` of the territory).
    columns, status, capacity, capacity_unit, source, crs, max_distance_km, progress
        As for :func:`import_services`.

    Returns
    -------
    ServiceCatalogue
        What was written.

    Raises
    ------
    DataError
        An output format other than the three above (before any geocoding),
        no row placed (nothing written; the message gives the first reasons),
        and everything :func:`import_services` raises.
    coverage.errors.OutputError
        The catalogue cannot be written.
    """
    output = Path(output)
    if output.suffix.lower() not in CATALOGUE_FORMATS:
        raise DataError(
            f"format de catalogue « {output.suffix.lower()} » inconnu : "
            "écrivez un .gpkg, .geojson ou .csv",
            path=output,
        )
    geocoder = make_geocoder(territory, backends or territory.config.services.geocoders)
    catalogue = import_services(
        input_file,
        territory,
        kind=kind,
        columns=columns,
        status=status,
        capacity=capacity,
        capacity_unit=capacity_unit,
        source=source,
        crs=crs,
        geocoder=geocoder,
        max_distance_km=max_distance_km,
        progress=progress,
    )
    if catalogue.frame.empty:
        rejected = catalogue.rejected
        first = " ; ".join(f"ligne {r.line} : {r.reason}" for r in rejected.head(3).itertuples())
        raise DataError(
            f"aucun site n'a pu être placé ({len(rejected)} lignes rejetées"
            + (f" — {first}" if first else "")
            + (" …" if len(rejected) > 3 else "")
            + f") ; {output} n'est pas écrit",
            path=input_file,
        )
    with staged_file(output) as part:
        catalogue.to_file(part)
    return catalogue
