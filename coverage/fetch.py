"""Build a territory data bundle from the official sources (``coverage fetch``).

:func:`fetch_territory` downloads, for one département:

- from **geo.api.gouv.fr** (API Découpage administratif): the département's
  name (``/departements/{code}``), its communes with contour, population,
  postcodes and EPCI (``/departements/{code}/communes?format=geojson&geometry=contour``)
  and the EPCI names and types (``/epcis?codeDepartement={code}``). The API
  publishes no département contour: the outline is the union of the communes,
  and the provenance says so;
- from the **INSEE COG** (Code officiel géographique): the commune file
  (``v_commune_{year}.csv``, column ``CAN``) and the canton file
  (``v_canton_{year}.csv``: ``LIBELLE``, ``BURCENTRAL``, ``TYPECT``). Communes
  split between several cantons carry a pseudo-canton code (``xx99``, Auch:
  3299); it stands for the cantons whose bureau centralisateur is that commune
  (Auch-1, Auch-2, Auch-3) and becomes ``[territory.split_cantons]``. Canton
  polygons are the communes dissolved by canton, the split communes left out;
- from **data.gouv.fr**: the dataset "Liste des structures France services"
  through the data.gouv.fr API (dataset, then its latest CSV resource), kept
  for the sites of the département and those within 30 km of its outline
  (flag ``in_<territory>``), written as GeoJSON with the published columns;
- from **adresse.data.gouv.fr**: the BAN file ``adresses-{code}.csv.gz``,
  kept as published (``format = "ban"``);
- from **OpenStreetMap** through osmnx: ``graph_from_polygon(network_type="drive")``
  on the outline buffered by 15 km (in Lambert-93, then back to WGS84), saved
  as GraphML.

It writes the layer files, a ``territory.toml`` describing them (column
mappings, split cantons, provenance per layer, ``[population]`` and
``[services]``) and ``fetch.json`` (URL, retrieval date, size and SHA-256 of
every file and of every download). The bundle then loads with
``coverage.layers.load_territory(name, data_dir=dest)``. Downloads go through
:class:`coverage._http.Downloader` (resumable cache outside the bundle, retries,
progress bars, one-line :class:`~coverage.errors.OfflineError` when offline).

Every base URL can be changed through the environment (tests point them at
127.0.0.1):

``COVERAGE_GEO_API_URL``
    geo.api.gouv.fr (default ``https://geo.api.gouv.fr``).
``COVERAGE_COG_YEAR``, ``COVERAGE_COG_URL``
    Vintage of the INSEE COG (default ``2026``) and the folder of its files
    (``{url}/v_commune_{year}.csv``, ``{url}/v_canton_{year}.csv``; default:
    INSEE's folder for that vintage, known for 2022 to 2026, see :data:`COG_FOLDERS`).
``COVERAGE_DATAGOUV_API_URL``, ``COVERAGE_FRANCE_SERVICES_DATASET``
    data.gouv.fr API (default ``https://www.data.gouv.fr/api/1``) and the
    France services dataset (default ``liste-des-structures-france-services``).
``COVERAGE_BAN_URL``
    Folder of the BAN files (default
    ``https://adresse.data.gouv.fr/data/ban/adresses/latest/csv``).
``COVERAGE_OVERPASS_URL``, ``COVERAGE_OVERPASS_RATE_LIMIT``
    Overpass API for osmnx (default ``https://overpass-api.de/api``; becomes
    ``osmnx.settings.overpass_url``) and whether osmnx checks its ``/status``
    slots before querying (``1``/``0``, default ``1``; ``overpass_rate_limit``).

The HTTP timeout, retries and backoff are read by
:meth:`coverage._http.Downloader.from_env` (``COVERAGE_HTTP_*``).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage import __version__, settings
from coverage._cache import atomic_path, file_sha256
from coverage._http import Download, Downloader
from coverage.errors import ConfigError, CoverageError, DataError, NetworkError
from coverage.layers.config import (
    DESCRIPTION_FILE,
    TerritoryConfig,
    known_territories,
    load_territory_config,
)
from coverage.routing.osm_download import download_drive_graph
from coverage.settings import cache_root, territory_description_dirs

WORKING_CRS = "EPSG:2154"
COG_FOLDERS: dict[str, str] = {
    year: f"https://www.insee.fr/fr/statistiques/fichier/{number}"
    for year, number in (
        ("2022", "6051727"),
        ("2023", "6800675"),
        ("2024", "7766585"),
        ("2025", "8377162"),
        ("2026", "8740222"),
    )
}
"""INSEE folders of the COG files by vintage (``v_commune_{year}.csv``, ``v_canton_{year}.csv``)."""
NO_EPCI = "ZZZZZZZZZ"
"""INSEE's code for communes that belong to no EPCI à fiscalité propre (islands)."""

LICENCE_ETALAB = "Licence Ouverte / Etalab"
LICENCE_BAN = "Licence Ouverte / Etalab 2.0"
LICENCE_OSM = "ODbL 1.0 — © les contributeurs d'OpenStreetMap"
_DATAGOUV_LICENCES = {
    "lov2": "Licence Ouverte / Open Licence version 2.0",
    "fr-lo": "Licence Ouverte / Open Licence",
    "odc-odbl": "Open Database License (ODbL)",
    "cc-by": "Creative Commons Attribution",
}

_DEP_CODE = re.compile(r"^(\d{2}|2A|2B|97[1-6])$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_INSEE = re.compile(r"^(\d{5}|2[AB]\d{3})$")
BAN_COLUMNS = {
    "id": "id",
    "housenumber": "numero",
    "street": "nom_voie",
    "postcode": "code_postal",
    "commune_name": "nom_commune",
    "lat": "lat",
    "lon": "lon",
}
"""Engine address field -> column of the BAN ``adresses-XX.csv.gz`` files."""

_LAT_NAMES = ("latitude", "lat", "y_latitude", "coord_y")
_LON_NAMES = ("longitude", "lon", "lng", "long", "x_longitude", "coord_x")
_DEP_NAMES = ("insee_dep", "code_departement", "code_dep", "departement", "dep")
_COMMUNE_NAMES = ("insee_com", "code_insee", "code_commune", "insee")
_SERVICE_FIELDS = {
    "service_id": ("id_fs", "id", "identifiant"),
    "name": ("lib_fs", "nom", "libelle", "nom_france_services"),
    "address": ("adresse",),
    "postcode": ("code_postal", "cp"),
    "insee_code": ("insee_com", "code_insee", "code_commune"),
    "city": ("lib_com", "commune", "nom_commune"),
}


# --- sources ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchSources:
    """Base URLs of the official sources (see the module docstring for the variables).

    Attributes
    ----------
    geo_api_url
        geo.api.gouv.fr.
    cog_url, cog_year
        Folder of the INSEE COG CSV files and their vintage.
    datagouv_api_url, france_services_dataset
        data.gouv.fr API and the France services dataset (slug or id).
    ban_url
        Folder of the BAN ``adresses-XX.csv.gz`` files.
    overpass_url, overpass_rate_limit
        Overpass API used by osmnx, and whether osmnx checks its rate limit.
    """

    geo_api_url: str = settings.DEFAULT_GEO_API_URL
    cog_url: str = COG_FOLDERS[settings.DEFAULT_COG_YEAR]
    cog_year: str = settings.DEFAULT_COG_YEAR
    datagouv_api_url: str = settings.DEFAULT_DATAGOUV_API_URL
    france_services_dataset: str = settings.DEFAULT_FRANCE_SERVICES_DATASET
    ban_url: str = settings.DEFAULT_BAN_DOWNLOAD_URL
    overpass_url: str = settings.DEFAULT_OVERPASS_URL
    overpass_rate_limit: bool = True

    @classmethod
    def from_env(cls) -> FetchSources:
        """Read the ``COVERAGE_*`` variables through :mod:`coverage.settings`.

        Unset variables keep the official addresses.

        Raises
        ------
        ConfigError
            If a variable's value cannot be used (not an http(s) address, not a
            yes/no value, not a year), or ``COVERAGE_COG_YEAR`` is a vintage whose
            INSEE folder is not known while ``COVERAGE_COG_URL`` is unset.
        """
        year = settings.cog_year()
        cog_url = settings.cog_url()
        if cog_url is None:
            if year not in COG_FOLDERS:
                raise ConfigError(
                    f"dossier de l'INSEE inconnu pour le COG {year} (connus : "
                    f"{', '.join(sorted(COG_FOLDERS))}) ; donnez dans ${settings.COG_URL_ENV} "
                    f"le dossier qui contient v_commune_{year}.csv et v_canton_{year}.csv"
                )
            cog_url = COG_FOLDERS[year]
        return cls(
            geo_api_url=settings.geo_api_url(),
            cog_url=cog_url,
            cog_year=year,
            datagouv_api_url=settings.datagouv_api_url(),
            france_services_dataset=settings.france_services_dataset(),
            ban_url=settings.ban_download_url(),
            overpass_url=settings.overpass_url(),
            overpass_rate_limit=settings.overpass_rate_limit(),
        )

    def record(self) -> dict[str, Any]:
        """The addresses used, for ``fetch.json``."""
        return dict(self.__dict__)


# --- report ----------------------------------------------------------------------------------


@dataclass
class FetchReport:
    """What :func:`fetch_territory` built.

    Attributes
    ----------
    territory, departement
        Territory name and département code.
    dest
        The bundle directory.
    files
        Bundle file name -> record (``layer``, ``url``, ``urls``, ``retrieved``,
        ``size``, ``sha256``, ``source``, ``licence``), as in ``fetch.json``.
    downloads
        Every download (URL, retrieval date, size, SHA-256, from cache or not).
    notes
        Remarks on the data (outline dissolved from communes, fallbacks...).
    fetch_json
        Path of ``fetch.json``.
    """

    territory: str
    departement: str
    dest: Path
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    downloads: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fetch_json: Path | None = None


# --- entry point -----------------------------------------------------------------------------


def fetch_territory(
    territory: str,
    dest: str | Path,
    *,
    departement: str | None = None,
    include_osm: bool = True,
    include_addresses: bool = True,
    force: bool = False,
    progress: bool = False,
    buffer_m: float = 15_000.0,
    services_radius_m: float = 30_000.0,
    sources: FetchSources | None = None,
    downloader: Downloader | None = None,
) -> FetchReport:
    """Build a territory's data bundle from the official sources (online).

    Parameters
    ----------
    territory
        Territory name (lower case, e.g. ``gers``); the bundle's files are named after it.
    dest
        Bundle directory (created if needed).
    departement
        Département code (``32``, ``2A``, ``974``). Taken from
        ``data/geo/<territory>/territory.toml`` for a known territory (and
        then checked against this value); required otherwise.
    include_osm
        Download the OpenStreetMap drive network (osmnx, Overpass).
    include_addresses
        Download the département's BAN address file.
    force
        Download again even what is in the cache.
    progress
        Show a progress bar per download (stderr).
    buffer_m
        Buffer around the outline for the road network, metres.
    services_radius_m
        France services sites outside the département are kept up to this
        distance from its outline, metres.
    sources
        Base URLs; default :meth:`FetchSources.from_env`.
    downloader
        The downloader to use (tests); default :meth:`Downloader.from_env`.

    Returns
    -------
    FetchReport

    Raises
    ------
    OfflineError
        A source could not be reached (one line naming it).
    ConfigError
        Unknown territory without ``departement``, a bad code or option.
    DataError
        A source answered data that cannot be used (the message names the
        URL, the row and the field).
    """
    name = territory.strip()
    if not _NAME.match(name):
        raise ConfigError(
            f"territory name {territory!r} must be lower case letters, digits, '-' or '_' "
            "(it names the bundle's files), e.g. 'gers'"
        )
    for option, value in (("buffer_m", buffer_m), ("services_radius_m", services_radius_m)):
        if not np.isfinite(value) or value < 0:
            raise ConfigError(f"{option} must be a distance in metres >= 0, got {value}")
    dest = Path(dest).expanduser()
    dep, label, repo_config = _resolve_identity(name, departement, dest)
    sources = sources or FetchSources.from_env()
    own_downloader = downloader is None
    dl = downloader or Downloader.from_env(progress=progress)
    bundle = _BundleWriter(dest, name, dep)
    try:
        admin = _fetch_admin(dl, sources, bundle, dep=dep, force=force)
        label = label or admin.dep_name
        outline_2154 = shapely.union_all(admin.departement.to_crs(WORKING_CRS).geometry.values)
        services = _fetch_france_services(
            dl,
            sources,
            bundle,
            outline_2154=outline_2154,
            radius_m=services_radius_m,
            force=force,
        )
        ban = _fetch_ban(dl, sources, bundle, dep=dep, force=force) if include_addresses else None
        roads = (
            _fetch_roads(
                sources,
                bundle,
                outline_2154=outline_2154,
                buffer_m=buffer_m,
                timeout_s=dl.timeout_s,
                force=force,
                progress=progress,
            )
            if include_osm
            else None
        )
        copied = _copy_description_lists(repo_config, bundle)
        toml_text = territory_toml(
            name=name,
            label=label,
            departement=dep,
            admin=admin,
            services=services,
            ban=ban,
            roads=roads,
            repo_config=repo_config,
            copied_sources=copied,
            include_addresses=include_addresses,
        )
        check = bundle.temporary(DESCRIPTION_FILE)
        check.write_text(toml_text, encoding="utf-8")
        load_territory_config(check)  # the description must read back before anything is written
        bundle.stage_text(
            DESCRIPTION_FILE,
            toml_text,
            layer="description",
            source="écrit par coverage fetch",
            licence="",
            urls=[],
        )
        bundle.commit()
        bundle.write_fetch_json(
            sources=sources,
            label=label,
            options={
                "include_osm": include_osm,
                "include_addresses": include_addresses,
                "force": force,
                "buffer_m": buffer_m,
                "services_radius_m": services_radius_m,
            },
        )
    finally:
        bundle.cleanup()
        if own_downloader:
            dl.close()
    return FetchReport(
        territory=name,
        departement=dep,
        dest=dest,
        files=bundle.files,
        downloads=bundle.downloads,
        notes=bundle.notes,
        fetch_json=dest / "fetch.json",
    )


def _resolve_identity(
    name: str, departement: str | None, dest: Path
) -> tuple[str, str | None, TerritoryConfig | None]:
    """Département code, label and repository description of the territory."""
    code = _departement_code(departement) if departement is not None else None
    for folder in territory_description_dirs():
        path = folder / name / DESCRIPTION_FILE
        if path.is_file():
            config = load_territory_config(path)
            if code is not None and code != config.departement:
                raise ConfigError(
                    f"territory '{name}' is département {config.departement} in {path}, "
                    f"not {code}; drop --departement or choose another territory name"
                )
            return config.departement, config.label, config
    if code is not None:
        return code, None, None
    own = dest / DESCRIPTION_FILE
    if own.is_file():
        config = load_territory_config(own)
        if config.name == name:
            return config.departement, config.label, None
    known = ", ".join(known_territories()) or "none"
    raise ConfigError(
        f"unknown territory '{name}' (known: {known}); give its département code with "
        f"--departement, e.g. 'coverage fetch {name} --departement 32'"
    )


def _departement_code(value: str) -> str:
    text = str(value).strip().upper()
    if text.isdigit() and len(text) == 1:
        text = text.zfill(2)
    if not _DEP_CODE.match(text):
        raise ConfigError(
            f"--departement {value!r} is not a département code (two digits such as 32, "
            "2A/2B for Corsica, 971-976 overseas)"
        )
    return text


# --- bundle writing --------------------------------------------------------------------------


class _BundleWriter:
    """Stages the bundle's files, then writes them atomically and records them for ``fetch.json``.

    Nothing is written into the bundle before :meth:`commit`, which runs once
    every download has succeeded: a fetch that fails leaves the bundle as it was.
    """

    def __init__(self, dest: Path, name: str, departement: str) -> None:
        self.dest = dest
        self.name = name
        self.departement = departement
        self.files: dict[str, dict[str, Any]] = {}
        self.downloads: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self._pending: list[tuple[str, Any, dict[str, Any]]] = []
        self._temporary: list[Path] = []

    def downloaded(self, download: Download) -> Download:
        if all(d["url"] != download.url for d in self.downloads):
            self.downloads.append(download.record())
        return download

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def temporary(self, name: str) -> Path:
        """A temporary file outside the bundle (``cache_root()/staging``), removed by cleanup."""
        tmp = atomic_path(cache_root() / "staging" / Path(name).name)
        self._temporary.append(tmp)
        return tmp

    def stage_text(self, name: str, text: str, **meta: Any) -> None:
        self._pending.append((name, lambda tmp: tmp.write_text(text, encoding="utf-8"), meta))

    def stage_copy(self, name: str, src: Path, **meta: Any) -> None:
        self._pending.append((name, lambda tmp: shutil.copyfile(src, tmp), meta))

    def stage_move(self, name: str, src: Path, **meta: Any) -> None:
        self._pending.append((name, lambda tmp: shutil.move(src, tmp), meta))

    def stage_with(self, name: str, writer: Any, **meta: Any) -> None:
        self._pending.append((name, writer, meta))

    def commit(self) -> None:
        """Write every staged file into the bundle."""
        for name, writer, meta in self._pending:
            self._write(name, writer, **meta)
        self._pending.clear()

    def cleanup(self) -> None:
        for tmp in self._temporary:
            tmp.unlink(missing_ok=True)

    def _write(
        self,
        name: str,
        writer: Any,
        *,
        layer: str,
        source: str,
        licence: str,
        urls: list[str],
        retrieved: str = "",
    ) -> Path:
        target = self.dest / name
        tmp = atomic_path(target)
        try:
            writer(tmp)
            _readable(tmp)
            os.replace(tmp, target)
        except CoverageError:
            raise
        except OSError as exc:
            raise DataError(f"cannot write the bundle file: {exc}", path=target) from None
        finally:
            tmp.unlink(missing_ok=True)
        self.files[name] = {
            "layer": layer,
            "url": urls[0] if urls else "",
            "urls": list(urls),
            "retrieved": retrieved or _now(),
            "size": target.stat().st_size,
            "sha256": file_sha256(target),
            "source": source,
            "licence": licence,
        }
        return target

    def write_fetch_json(
        self, *, sources: FetchSources, label: str, options: dict[str, Any]
    ) -> Path:
        record = {
            "territory": self.name,
            "label": label,
            "departement": self.departement,
            "created": _now(),
            "engine": f"coverage-territoires {__version__}",
            "sources": sources.record(),
            "options": options,
            "files": self.files,
            "downloads": self.downloads,
            "notes": self.notes,
        }
        target = self.dest / "fetch.json"
        tmp = atomic_path(target)
        try:
            tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
            _readable(tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _readable(path: Path) -> None:
    """Give a temporary file (created 0600) the usual permissions of a new file (umask)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def _latest(*downloads: Download) -> str:
    return max(d.retrieved for d in downloads)


def _write_geojson(frame: gpd.GeoDataFrame) -> Any:
    """A writer for :meth:`_BundleWriter.stage_with`: the frame as GeoJSON (EPSG:4326)."""
    text = frame.to_crs("EPSG:4326").to_json(drop_id=True, ensure_ascii=False)

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    return write


# --- administrative layers -------------------------------------------------------------------


@dataclass
class AdminLayers:
    """The administrative layers built from geo.api.gouv.fr and the INSEE COG (EPSG:4326).

    Attributes
    ----------
    communes
        ``code``, ``nom``, ``population``, ``codesPostaux`` (``;``-separated),
        ``codeEpci``, ``canton_code``, ``canton_nom``, ``epci_nom``, ``epci_type``.
    cantons
        ``canton_code``, ``canton_nom``, ``burcentral`` (bureau centralisateur).
    epci
        ``epci_siren``, ``epci_nom``, ``epci_type``, ``population_epci``.
    departement
        ``code``, ``nom``: the union of the communes.
    split_cantons
        Pseudo-canton code -> ``{"communes": [...], "cantons": [...], "label": ...}``.
    dep_name
        Name of the département.
    notes
        Remarks (outline dissolved from the communes, fallbacks used).
    provenance
        Layer key -> ``source``, ``url``, ``licence``, ``date``.
    """

    communes: gpd.GeoDataFrame
    cantons: gpd.GeoDataFrame
    epci: gpd.GeoDataFrame
    departement: gpd.GeoDataFrame
    split_cantons: dict[str, dict[str, Any]]
    dep_name: str
    notes: list[str] = field(default_factory=list)
    provenance: dict[str, dict[str, str]] = field(default_factory=dict)


def _fetch_admin(
    dl: Downloader, sources: FetchSources, bundle: _BundleWriter, *, dep: str, force: bool
) -> AdminLayers:
    geo = sources.geo_api_url
    try:
        dep_download = bundle.downloaded(
            dl.download(
                f"{geo}/departements/{dep}",
                params={"fields": "nom,code,codeRegion"},
                source="geo.api.gouv.fr",
                force=force,
                label=f"geo.api.gouv.fr département {dep}",
            )
        )
    except DataError:
        raise DataError(
            f"département {dep} is unknown to geo.api.gouv.fr ({geo}/departements/{dep}); "
            "check --departement"
        ) from None
    dep_info = dep_download.read_json()
    dep_name = str(dep_info.get("nom", "")) if isinstance(dep_info, dict) else ""
    if not dep_name:
        dl.evict(dep_download)
        raise DataError(
            f"geo.api.gouv.fr gave no name for département {dep} at {dep_download.url}",
            field="nom",
        )
    communes_download = bundle.downloaded(
        dl.download(
            f"{geo}/departements/{dep}/communes",
            params={
                "fields": "nom,code,codesPostaux,population,codeEpci",
                "format": "geojson",
                "geometry": "contour",
            },
            source="geo.api.gouv.fr",
            force=force,
            label=f"geo.api.gouv.fr communes {dep}",
        )
    )
    epci_download = bundle.downloaded(
        dl.download(
            f"{geo}/epcis",
            params={"codeDepartement": dep, "fields": "nom,code,type,population"},
            source="geo.api.gouv.fr",
            force=force,
            label=f"geo.api.gouv.fr EPCI {dep}",
        )
    )
    cog_commune_download = bundle.downloaded(
        dl.download(
            f"{sources.cog_url}/v_commune_{sources.cog_year}.csv",
            source="INSEE COG",
            force=force,
        )
    )
    cog_canton_download = bundle.downloaded(
        dl.download(
            f"{sources.cog_url}/v_canton_{sources.cog_year}.csv",
            source="INSEE COG",
            force=force,
        )
    )
    communes = _parsed(
        dl,
        communes_download,
        lambda d: communes_from_geojson(d.read_json(), url=d.url, departement=dep),
    )
    epcis = _parsed(dl, epci_download, lambda d: epcis_from_json(d.read_json(), url=d.url))
    cog_communes = _parsed(
        dl, cog_commune_download, lambda d: read_cog_communes(d.path, url=d.url, departement=dep)
    )
    cog_cantons = _parsed(
        dl, cog_canton_download, lambda d: read_cog_cantons(d.path, url=d.url, departement=dep)
    )
    admin = build_admin_layers(
        communes,
        epcis,
        cog_communes,
        cog_cantons,
        departement=dep,
        dep_name=dep_name,
        communes_url=communes_download.url,
        cog_url=cog_commune_download.url,
    )
    geo_date = _latest(dep_download, communes_download, epci_download)[:10]
    cog_date = _latest(cog_commune_download, cog_canton_download)[:10]
    year = sources.cog_year
    admin.provenance = {
        "communes": {
            "source": (
                "geo.api.gouv.fr (API Découpage administratif : contours IGN ADMIN EXPRESS, "
                "populations légales INSEE, EPCI DGCL) ; codes et noms des cantons "
                f"INSEE COG {year}"
            ),
            "url": communes_download.url,
            "licence": LICENCE_ETALAB,
            "date": geo_date,
        },
        "cantons": {
            "source": (
                f"INSEE COG {year} (fichier des cantons) ; contours : communes de "
                "geo.api.gouv.fr dissoutes par canton, communes réparties entre plusieurs "
                "cantons exclues"
            ),
            "url": cog_canton_download.url,
            "licence": LICENCE_ETALAB,
            "date": cog_date,
        },
        "epci": {
            "source": (
                "geo.api.gouv.fr (EPCI, DGCL) ; contours : communes du département "
                "dissoutes par EPCI"
            ),
            "url": epci_download.url,
            "licence": LICENCE_ETALAB,
            "date": geo_date,
        },
        "departement": {
            "source": (
                "geo.api.gouv.fr ne publie pas le contour des départements : union des "
                "contours des communes"
            ),
            "url": communes_download.url,
            "licence": LICENCE_ETALAB,
            "date": geo_date,
        },
    }
    name = bundle.name
    layers = (
        (
            "communes",
            admin.communes,
            [communes_download, epci_download, cog_commune_download, cog_canton_download],
        ),
        ("cantons", admin.cantons, [cog_canton_download, cog_commune_download, communes_download]),
        ("epci", admin.epci, [epci_download, communes_download]),
        ("departement", admin.departement, [dep_download, communes_download]),
    )
    for key, frame, used in layers:
        prov = admin.provenance[key]
        bundle.stage_with(
            f"{key}_{name}.geojson",
            _write_geojson(frame),
            layer=key,
            source=prov["source"],
            licence=prov["licence"],
            urls=[d.url for d in used],
            retrieved=_latest(*used),
        )
    for note in admin.notes:
        bundle.note(note)
    return admin


def _parsed(dl: Downloader, download: Download, parse: Any) -> Any:
    """Parse a download; an unusable file leaves the cache so that the next run fetches it again."""
    try:
        return parse(download)
    except DataError:
        dl.evict(download)
        raise


def communes_from_geojson(data: Any, *, url: str, departement: str) -> gpd.GeoDataFrame:
    """Read geo.api.gouv.fr's communes of a département (GeoJSON, ``geometry=contour``).

    Parameters
    ----------
    data
        The parsed answer: a FeatureCollection whose features' properties hold
        ``code``, ``nom``, ``population``, ``codesPostaux`` (list) and ``codeEpci``.
    url
        Where it came from (for messages).
    departement
        The département code every commune code must start with.

    Returns
    -------
    geopandas.GeoDataFrame
        ``code``, ``nom``, ``population`` (int), ``codesPostaux`` (``;``-joined),
        ``codeEpci`` (``""`` when none), geometry (EPSG:4326).

    Raises
    ------
    DataError
        Not a FeatureCollection, no commune, or a commune without code, name,
        population or contour (the message names the row and the field).
    """
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise DataError(f"geo.api.gouv.fr did not answer a GeoJSON FeatureCollection at {url}")
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise DataError(f"geo.api.gouv.fr lists no commune for département {departement} at {url}")
    rows: list[dict[str, Any]] = []
    geoms: list[Any] = []
    seen: set[str] = set()
    for position, feature in enumerate(features, start=1):
        props = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(props, dict):
            raise DataError(f"feature without properties in {url}", row=position)
        code = str(props.get("code") or "").strip()
        row = f"{position} (code={code})" if code else position
        if not _INSEE.match(code) or not code.startswith(departement):
            raise DataError(
                f"'{code}' is not an INSEE commune code of département {departement} ({url})",
                row=row,
                field="code",
            )
        if code in seen:
            raise DataError(f"commune {code} is listed twice ({url})", row=row, field="code")
        seen.add(code)
        nom = str(props.get("nom") or "").strip()
        if not nom:
            raise DataError(f"commune {code} has no name ({url})", row=row, field="nom")
        population = props.get("population")
        if (
            isinstance(population, bool)
            or not isinstance(population, int | float)
            or not np.isfinite(population)
            or population < 0
            or population != int(population)
        ):
            raise DataError(
                f"commune {code} has no valid legal population ({population!r}) ({url})",
                row=row,
                field="population",
            )
        geometry = feature.get("geometry")
        try:
            shape = shapely.geometry.shape(geometry) if geometry else None
        except (AttributeError, TypeError, ValueError, shapely.errors.GEOSException):
            shape = None
        if shape is None or shape.is_empty or shape.geom_type not in ("Polygon", "MultiPolygon"):
            raise DataError(
                f"commune {code} has no contour polygon ({url}); the request must ask "
                "format=geojson&geometry=contour",
                row=row,
                field="geometry",
            )
        postcodes = props.get("codesPostaux") or []
        if isinstance(postcodes, str):
            postcodes = [postcodes]
        rows.append(
            {
                "code": code,
                "nom": nom,
                "population": int(population),
                "codesPostaux": ";".join(str(p) for p in postcodes),
                "codeEpci": str(props.get("codeEpci") or "").strip(),
            }
        )
        geoms.append(shape)
    return gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:4326")


def epcis_from_json(data: Any, *, url: str) -> pd.DataFrame:
    """Read geo.api.gouv.fr's ``/epcis`` answer (a JSON list of ``code``, ``nom``, ``type``...).

    Returns
    -------
    pandas.DataFrame
        ``code``, ``nom``, ``type``, ``population`` (may be missing: NaN).

    Raises
    ------
    DataError
        Not a list, or an EPCI without code or name.
    """
    if not isinstance(data, list):
        raise DataError(f"geo.api.gouv.fr /epcis did not answer a JSON list at {url}")
    rows = []
    for position, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise DataError(f"EPCI entry is not an object ({url})", row=position)
        code = str(item.get("code") or "").strip()
        nom = str(item.get("nom") or "").strip()
        if not code:
            raise DataError(f"EPCI without code ({url})", row=position, field="code")
        if not nom:
            raise DataError(f"EPCI {code} has no name ({url})", row=position, field="nom")
        population = item.get("population")
        rows.append(
            {
                "code": code,
                "nom": nom,
                "type": str(item.get("type") or ""),
                "population": population if isinstance(population, int | float) else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=["code", "nom", "type", "population"])


def _read_insee_csv(path: Path, *, url: str, required: tuple[str, ...]) -> pd.DataFrame:
    """An INSEE COG CSV (UTF-8, comma or semicolon) as text, with its required columns checked."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    header = text.split("\n", 1)[0]
    sep = ";" if header.count(";") > header.count(",") else ","
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"cannot read the INSEE COG file {url}: {exc}") from None
    frame.columns = [c.strip().upper() for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(
            f"the INSEE COG file {url} has no column {', '.join(missing)} "
            f"(it has {', '.join(frame.columns)})",
            field=missing[0],
        )
    return frame


def read_cog_communes(path: str | Path, *, url: str, departement: str) -> pd.DataFrame:
    """The communes (``TYPECOM == "COM"``) of a département in the INSEE COG commune file.

    Returns
    -------
    pandas.DataFrame
        ``COM``, ``LIBELLE``, ``CAN`` (text).

    Raises
    ------
    DataError
        A required column is missing or the département has no commune.
    """
    frame = _read_insee_csv(Path(path), url=url, required=("TYPECOM", "COM", "DEP", "CAN"))
    mask = (frame["TYPECOM"].str.strip() == "COM") & (frame["DEP"].str.strip() == departement)
    out = frame.loc[mask, ["COM", "CAN"]].copy()
    out["LIBELLE"] = frame.loc[mask, "LIBELLE"] if "LIBELLE" in frame.columns else ""
    out = out.apply(lambda s: s.str.strip())
    if out.empty:
        raise DataError(
            f"the INSEE COG commune file {url} has no commune in département {departement}",
            field="DEP",
        )
    return out.reset_index(drop=True)


def read_cog_cantons(path: str | Path, *, url: str, departement: str) -> pd.DataFrame:
    """The cantons and pseudo-cantons of a département in the INSEE COG canton file.

    Returns
    -------
    pandas.DataFrame
        ``CAN``, ``LIBELLE``, ``BURCENTRAL``, ``TYPECT`` (``C`` canton, ``V``
        canton-ville or pseudo-canton, ``N`` canton fictif), ``COMPCT``.

    Raises
    ------
    DataError
        A required column is missing or the département has no canton.
    """
    frame = _read_insee_csv(
        Path(path), url=url, required=("CAN", "DEP", "LIBELLE", "BURCENTRAL", "TYPECT")
    )
    if "COMPCT" not in frame.columns:
        frame["COMPCT"] = ""
    out = frame.loc[
        frame["DEP"].str.strip() == departement,
        ["CAN", "LIBELLE", "BURCENTRAL", "TYPECT", "COMPCT"],
    ]
    out = out.apply(lambda s: s.str.strip())
    if out.empty:
        raise DataError(
            f"the INSEE COG canton file {url} has no canton in département {departement}",
            field="DEP",
        )
    return out.reset_index(drop=True)


def build_admin_layers(
    communes: gpd.GeoDataFrame,
    epcis: pd.DataFrame,
    cog_communes: pd.DataFrame,
    cog_cantons: pd.DataFrame,
    *,
    departement: str,
    dep_name: str,
    communes_url: str = "",
    cog_url: str = "",
) -> AdminLayers:
    """Join geo.api.gouv.fr's communes with the COG cantons and build the four layers.

    Parameters
    ----------
    communes
        From :func:`communes_from_geojson`.
    epcis
        From :func:`epcis_from_json`.
    cog_communes, cog_cantons
        From :func:`read_cog_communes` and :func:`read_cog_cantons`.
    departement, dep_name
        Code and name of the département.
    communes_url, cog_url
        Where the communes and the COG commune file came from (for messages).

    Returns
    -------
    AdminLayers

    Raises
    ------
    DataError
        A commune missing from the COG (older vintage than geo.api.gouv.fr), a
        pseudo-canton whose cantons cannot be found, an EPCI code unknown to
        ``/epcis``; the message names the commune (row) and the field.
    """
    notes: list[str] = []
    communes = communes.reset_index(drop=True).copy()
    can_of = dict(zip(cog_communes["COM"], cog_communes["CAN"], strict=True))
    canton_codes = []
    for position, (code, nom) in enumerate(zip(communes["code"], communes["nom"], strict=True)):
        can = can_of.get(code)
        if can is None:
            raise DataError(
                f"commune {code} ({nom}) of geo.api.gouv.fr is not in the INSEE COG commune "
                f"file {cog_url}: the COG vintage is older than geo.api.gouv.fr's geography; "
                "set COVERAGE_COG_YEAR (and COVERAGE_COG_URL) to a recent COG",
                row=f"{position + 1} (code={code})",
                field="CAN",
            )
        if not can:
            raise DataError(
                f"commune {code} ({nom}) has no canton code in the INSEE COG commune file "
                f"{cog_url}; the engine needs one canton (or pseudo-canton) per commune",
                row=f"{position + 1} (code={code})",
                field="CAN",
            )
        canton_codes.append(can)
    communes["canton_code"] = canton_codes

    real = cog_cantons[cog_cantons["TYPECT"] == "C"].set_index("CAN")
    split_codes = sorted(set(canton_codes) - set(real.index))
    split: dict[str, dict[str, Any]] = {}
    claimed: set[str] = set()
    for code in split_codes:
        members = communes.loc[communes["canton_code"] == code, ["code", "nom"]]
        member_codes = list(members["code"])
        cantons = sorted(real.index[real["BURCENTRAL"].isin(member_codes)])
        if not cantons:
            holding = real.index[~real["COMPCT"].isin(["", "1"])]
            cantons = sorted(c for c in holding if c not in claimed)
            if cantons:
                notes.append(
                    f"pseudo-canton {code} ({', '.join(member_codes)}) : aucun canton n'a "
                    "cette commune pour bureau centralisateur ; il représente les cantons "
                    f"formés de fractions de communes ({', '.join(cantons)}, d'après COMPCT)"
                )
        if not cantons:
            first = int(np.flatnonzero(communes["canton_code"].to_numpy() == code)[0])
            raise DataError(
                f"canton code {code} of commune {member_codes[0]} is neither a canton of the "
                "INSEE COG canton file nor a pseudo-canton whose cantons can be found "
                "(no canton has this commune as bureau centralisateur)",
                row=f"{first + 1} (code={member_codes[0]})",
                field="CAN",
            )
        claimed.update(cantons)
        names = [str(real.loc[c, "LIBELLE"]) for c in cantons]
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} et {names[-1]}"
        towns = " / ".join(members["nom"])
        plural = "communes réparties" if len(member_codes) > 1 else "commune répartie"
        split[code] = {
            "communes": member_codes,
            "cantons": cantons,
            "label": f"{towns} ({plural} entre {listed})",
        }
    communes["canton_nom"] = [
        split[c]["label"] if c in split else str(real.loc[c, "LIBELLE"])
        for c in communes["canton_code"]
    ]

    # EPCI
    epci_by_code = epcis.drop_duplicates("code").set_index("code")
    no_epci = communes["codeEpci"] == ""
    if no_epci.any():
        communes.loc[no_epci, "codeEpci"] = NO_EPCI
        notes.append(
            f"{int(no_epci.sum())} commune(s) sans EPCI à fiscalité propre ("
            f"{', '.join(communes.loc[no_epci, 'code'])}) : code INSEE {NO_EPCI}"
        )
    names_by_code: dict[str, str] = {NO_EPCI: "Sans EPCI à fiscalité propre"}
    types_by_code: dict[str, str] = {NO_EPCI: ""}
    for code in communes["codeEpci"].unique():
        if code == NO_EPCI:
            continue
        if code not in epci_by_code.index:
            first = int(np.flatnonzero(communes["codeEpci"].to_numpy() == code)[0])
            raise DataError(
                f"EPCI {code} of commune {communes['code'].iloc[first]} is not in "
                "geo.api.gouv.fr's /epcis answer for the département",
                row=f"{first + 1} (code={communes['code'].iloc[first]})",
                field="codeEpci",
            )
        names_by_code[code] = str(epci_by_code.loc[code, "nom"])
        types_by_code[code] = str(epci_by_code.loc[code, "type"])
    communes["epci_nom"] = communes["codeEpci"].map(names_by_code)
    communes["epci_type"] = communes["codeEpci"].map(types_by_code)

    # geometry: valid polygons, dissolved in Lambert-93
    communes["geometry"] = [_polygonal(g) for g in shapely.make_valid(communes.geometry.values)]
    metric = communes.to_crs(WORKING_CRS)
    geoms = np.array([_polygonal(g) for g in shapely.make_valid(metric.geometry.values)])
    canton_rows, canton_geoms = [], []
    for code, row in real.iterrows():
        whole = geoms[communes["canton_code"].to_numpy() == code]
        if len(whole) == 0:
            parts = [
                geoms[communes["code"].to_numpy() == c]
                for s in split.values()
                if code in s["cantons"]
                for c in s["communes"]
            ]
            whole = np.concatenate(parts) if parts else whole
            if len(whole) == 0:
                notes.append(f"canton {code} ({row['LIBELLE']}) sans commune : non dessiné")
                continue
            notes.append(
                f"canton {code} ({row['LIBELLE']}) sans commune entière : son contour est "
                "celui de la commune répartie qu'il partage"
            )
        canton_rows.append(
            {"canton_code": code, "canton_nom": row["LIBELLE"], "burcentral": row["BURCENTRAL"]}
        )
        canton_geoms.append(shapely.union_all(whole))
    cantons = gpd.GeoDataFrame(canton_rows, geometry=canton_geoms, crs=WORKING_CRS)

    epci_rows, epci_geoms = [], []
    for code in sorted(communes["codeEpci"].unique()):
        population = epci_by_code.loc[code, "population"] if code in epci_by_code.index else None
        epci_rows.append(
            {
                "epci_siren": code,
                "epci_nom": names_by_code[code],
                "epci_type": types_by_code[code],
                "population_epci": (
                    int(population) if population is not None and np.isfinite(population) else None
                ),
            }
        )
        epci_geoms.append(shapely.union_all(geoms[communes["codeEpci"].to_numpy() == code]))
    epci = gpd.GeoDataFrame(epci_rows, geometry=epci_geoms, crs=WORKING_CRS)

    outline = shapely.union_all(geoms)
    dep_frame = gpd.GeoDataFrame(
        [{"code": departement, "nom": dep_name}], geometry=[outline], crs=WORKING_CRS
    )
    notes.append(
        "contour du département = union des contours des communes "
        "(geo.api.gouv.fr ne publie pas le contour des départements)"
    )
    columns = [
        "code",
        "nom",
        "population",
        "codesPostaux",
        "canton_code",
        "canton_nom",
        "codeEpci",
        "epci_nom",
        "epci_type",
        "geometry",
    ]
    return AdminLayers(
        communes=gpd.GeoDataFrame(communes[columns], geometry="geometry", crs="EPSG:4326"),
        cantons=cantons.to_crs("EPSG:4326"),
        epci=epci.to_crs("EPSG:4326"),
        departement=dep_frame.to_crs("EPSG:4326"),
        split_cantons=split,
        dep_name=dep_name,
        notes=notes,
    )


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else geom


# --- France services -------------------------------------------------------------------------


@dataclass
class ServicesResult:
    """The France services layer written to the bundle."""

    file: str
    columns: dict[str, str]
    flag: str
    n_sites: int
    n_inside: int
    provenance: dict[str, str]


def _fetch_france_services(
    dl: Downloader,
    sources: FetchSources,
    bundle: _BundleWriter,
    *,
    outline_2154: shapely.Geometry,
    radius_m: float,
    force: bool,
) -> ServicesResult:
    dataset_url = f"{sources.datagouv_api_url}/datasets/{sources.france_services_dataset}/"
    meta_download = bundle.downloaded(
        dl.download(dataset_url, source="data.gouv.fr", force=force, label="data.gouv.fr dataset")
    )
    dataset = _parsed(dl, meta_download, lambda d: _check_dataset(d.read_json(), d.url))
    candidates = sorted(
        (
            r
            for r in dataset.get("resources", [])
            if isinstance(r, dict)
            and r.get("url")
            and (
                str(r.get("format", "")).lower() == "csv"
                or urlsplit(str(r["url"])).path.lower().endswith(".csv")
            )
        ),
        key=lambda r: str(r.get("last_modified") or r.get("created_at") or ""),
        reverse=True,
    )
    if not candidates:
        dl.evict(meta_download)
        raise DataError(
            f"the data.gouv.fr dataset {sources.france_services_dataset} has no CSV resource "
            f"({dataset_url})",
            field="resources",
        )
    tried = []
    for resource in candidates:
        download = bundle.downloaded(
            dl.download(
                str(resource["url"]),
                source="data.gouv.fr",
                force=force,
                label=f"France services ({resource.get('title') or 'CSV'})",
            )
        )
        table = _parsed(dl, download, lambda d: read_csv_table(d.path, url=d.url))
        if _find_column(table.columns, _LAT_NAMES) and _find_column(table.columns, _LON_NAMES):
            break
        tried.append(str(resource.get("title") or resource["url"]))
    else:
        raise DataError(
            f"no CSV resource of the data.gouv.fr dataset {sources.france_services_dataset} has "
            f"latitude/longitude columns (tried: {'; '.join(tried)})",
            field="latitude",
        )
    flag = f"in_{bundle.name.replace('-', '_')}"
    frame, columns = select_france_services(
        table,
        url=download.url,
        outline_2154=outline_2154,
        departement=bundle.departement,
        radius_m=radius_m,
        flag=flag,
    )
    organisation = dataset.get("organization") or {}
    org_name = organisation.get("name", "") if isinstance(organisation, dict) else ""
    title = str(dataset.get("title") or "Liste des structures France services")
    licence_id = str(dataset.get("license") or "")
    licence = _DATAGOUV_LICENCES.get(licence_id, licence_id or "non précisée par data.gouv.fr")
    resource_date = str(resource.get("last_modified") or "")[:10]
    provenance = {
        "source": (
            f"{org_name + ', ' if org_name else ''}{title} (data.gouv.fr, ressource "
            f"« {resource.get('title') or resource['url']} » du {resource_date or '?'}) ; "
            f"sites du département et à moins de {radius_m / 1000:g} km de son contour"
        ),
        "url": str(dataset.get("page") or dataset_url),
        "licence": licence,
        "date": resource_date or download.retrieved[:10],
    }
    file = f"france_services_{bundle.name}.geojson"
    bundle.stage_with(
        file,
        _write_geojson(frame),
        layer="france_services",
        source=provenance["source"],
        licence=licence,
        urls=[download.url, meta_download.url],
        retrieved=_latest(download, meta_download),
    )
    n_inside = int(frame[flag].sum())
    return ServicesResult(
        file=file,
        columns=columns,
        flag=flag,
        n_sites=len(frame),
        n_inside=n_inside,
        provenance=provenance,
    )


def _check_dataset(data: Any, url: str) -> dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get("resources"), list):
        raise DataError(
            f"data.gouv.fr did not answer a dataset with resources at {url}", field="resources"
        )
    return data


def read_csv_table(path: str | Path, *, url: str = "") -> pd.DataFrame:
    """Read a published CSV as text: UTF-8 (with or without BOM) or Windows-1252, ``;`` or ``,``.

    Raises
    ------
    DataError
        If the file cannot be parsed (the message names the URL and pandas' line).
    """
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    header = text.split("\n", 1)[0]
    sep = max((";", ",", "\t"), key=header.count)
    try:
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"cannot read the CSV {url or path}: {exc}") from None


def _find_column(columns: Any, names: tuple[str, ...]) -> str | None:
    by_lower = {str(c).strip().lower(): str(c) for c in columns}
    for name in names:
        if name in by_lower:
            return by_lower[name]
    return None


def select_france_services(
    table: pd.DataFrame,
    *,
    url: str,
    outline_2154: shapely.Geometry,
    departement: str,
    radius_m: float,
    flag: str,
) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    """Keep the France services sites of a département and those near its outline.

    A site is kept when its département (``insee_dep``, or the start of its
    commune code) is the territory's, or when its position lies within
    ``radius_m`` of the outline. Rows of the département without coordinates
    are kept (without geometry: the service catalogue geocodes them).

    Parameters
    ----------
    table
        The published list, every column as text.
    url
        Where it came from (for messages).
    outline_2154
        The département outline, EPSG:2154.
    departement
        Département code.
    radius_m
        Distance kept around the outline, metres.
    flag
        Name of the boolean column added: the site is in the département.

    Returns
    -------
    tuple of (geopandas.GeoDataFrame, dict)
        The kept sites (published columns, latitude/longitude as numbers, the
        flag, Point geometry in EPSG:4326) and the engine's service fields
        mapped to their columns (``service_id``, ``name``, ``lon``, ``lat``...).

    Raises
    ------
    DataError
        No latitude or longitude column (the message lists the columns).
    """
    lat_col = _find_column(table.columns, _LAT_NAMES)
    lon_col = _find_column(table.columns, _LON_NAMES)
    if lat_col is None or lon_col is None:
        raise DataError(
            f"the France services list has no latitude/longitude column; it has "
            f"{', '.join(map(str, table.columns))} ({url})",
            field="latitude" if lat_col is None else "longitude",
        )
    table = table.reset_index(drop=True)
    lat = pd.to_numeric(table[lat_col].str.replace(",", ".").str.strip(), errors="coerce")
    lon = pd.to_numeric(table[lon_col].str.replace(",", ".").str.strip(), errors="coerce")
    located = lat.notna() & lon.notna() & lat.between(-90, 90) & lon.between(-180, 180)
    located = located.to_numpy()
    points = gpd.GeoSeries(
        gpd.points_from_xy(lon.where(located, 0.0), lat.where(located, 0.0)), crs="EPSG:4326"
    )
    metric = points.to_crs(WORKING_CRS).values
    near = np.zeros(len(table), dtype=bool)
    near[located] = shapely.dwithin(outline_2154, metric[located], radius_m)
    dep_col = _find_column(table.columns, _DEP_NAMES)
    com_col = _find_column(table.columns, _COMMUNE_NAMES)
    if dep_col is not None:
        inside = table[dep_col].str.strip().str.upper().str.zfill(2) == departement
    elif com_col is not None:
        inside = table[com_col].str.strip().str.upper().str.startswith(departement)
    else:
        inside = pd.Series(np.zeros(len(table), dtype=bool))
        inside[located] = shapely.contains(outline_2154, metric[located])
    inside = inside.to_numpy(dtype=bool)
    keep = inside | near
    out = table.loc[keep].copy()
    out = out.replace({"": None})
    out[lat_col] = lat[keep]
    out[lon_col] = lon[keep]
    out[flag] = inside[keep]
    geometry = [
        shapely.Point(x, y) if ok else None
        for x, y, ok in zip(lon[keep], lat[keep], located[keep], strict=True)
    ]
    frame = gpd.GeoDataFrame(out.reset_index(drop=True), geometry=geometry, crs="EPSG:4326")
    columns = {
        key: column
        for key, names in _SERVICE_FIELDS.items()
        if (column := _find_column(table.columns, names)) is not None
    }
    columns["lon"] = lon_col
    columns["lat"] = lat_col
    return frame, columns


# --- BAN -------------------------------------------------------------------------------------


@dataclass
class BanResult:
    """The BAN address file copied into the bundle."""

    file: str
    n_addresses: int
    provenance: dict[str, str]


def _fetch_ban(
    dl: Downloader, sources: FetchSources, bundle: _BundleWriter, *, dep: str, force: bool
) -> BanResult:
    file = f"adresses-{dep}.csv.gz"
    download = bundle.downloaded(
        dl.download(f"{sources.ban_url}/{file}", source="adresse.data.gouv.fr (BAN)", force=force)
    )
    n_rows = _parsed(dl, download, lambda d: check_ban_file(d.path, url=d.url))
    provenance = {
        "source": f"Base Adresse Nationale (adresse.data.gouv.fr), {file}",
        "url": download.url,
        "licence": LICENCE_BAN,
        "date": download.retrieved[:10],
    }
    bundle.stage_copy(
        file,
        download.path,
        layer="addresses",
        source=provenance["source"],
        licence=LICENCE_BAN,
        urls=[download.url],
        retrieved=download.retrieved,
    )
    return BanResult(file=file, n_addresses=n_rows, provenance=provenance)


def check_ban_file(path: str | Path, *, url: str = "") -> int:
    """Check a BAN ``adresses-XX.csv.gz``: a complete gzip, ``;``-separated, with the BAN columns.

    Returns
    -------
    int
        Number of addresses (data lines).

    Raises
    ------
    DataError
        A broken gzip, or a missing column (the message lists the file's columns).
    """
    where = url or str(path)
    try:
        with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as handle:
            header = handle.readline().rstrip("\r\n")
            n_rows = sum(1 for line in handle if line.strip())
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"the BAN file {where} is not a readable gzip CSV ({exc})") from None
    columns = header.split(";")
    missing = [c for c in BAN_COLUMNS.values() if c not in columns]
    if missing:
        raise DataError(
            f"the BAN file {where} has no column {', '.join(missing)} "
            f"(its header: {', '.join(columns)}); BAN files are ';'-separated",
            field=missing[0],
        )
    return n_rows


# --- OpenStreetMap ---------------------------------------------------------------------------


@dataclass
class RoadsResult:
    """The OSM drive network saved as GraphML in the bundle."""

    file: str
    n_nodes: int
    n_edges: int
    buffer_m: float
    provenance: dict[str, str]


def _fetch_roads(
    sources: FetchSources,
    bundle: _BundleWriter,
    *,
    outline_2154: shapely.Geometry,
    buffer_m: float,
    timeout_s: float,
    force: bool,
    progress: bool,
) -> RoadsResult:
    file = f"roads_{bundle.name}_osm.graphml"
    area = gpd.GeoSeries([outline_2154.buffer(buffer_m)], crs=WORKING_CRS)
    area_wgs84 = area.simplify(50.0).to_crs("EPSG:4326").iloc[0]
    tmp = bundle.temporary(file)
    stats = fetch_osm_graphml(
        area_wgs84,
        tmp,
        overpass_url=sources.overpass_url,
        rate_limit=sources.overpass_rate_limit,
        timeout_s=max(timeout_s, 180.0),
        use_cache=not force,
        progress=progress,
    )
    retrieved = _now()
    provenance = {
        "source": (
            "OpenStreetMap, réseau routier carrossable (osmnx.graph_from_polygon, "
            f"network_type='drive') sur le contour élargi de {buffer_m / 1000:g} km, "
            f"via l'API Overpass {sources.overpass_url}"
        ),
        "url": sources.overpass_url,
        "licence": LICENCE_OSM,
        "date": retrieved[:10],
    }
    interpreter = f"{sources.overpass_url}/interpreter"
    bundle.stage_move(
        file,
        tmp,
        layer="roads",
        source=provenance["source"],
        licence=LICENCE_OSM,
        urls=[interpreter],
        retrieved=retrieved,
    )
    bundle.downloads.append(
        {
            "url": interpreter,
            "source": "OpenStreetMap (Overpass, osmnx)",
            "retrieved": retrieved,
            "size": None,  # osmnx keeps the answers in cache_root()/osmnx
            "sha256": None,
            "from_cache": stats["from_cache"],
            "content_type": "application/json",
            "file": file,
        }
    )
    return RoadsResult(
        file=file,
        n_nodes=stats["nodes"],
        n_edges=stats["edges"],
        buffer_m=buffer_m,
        provenance=provenance,
    )


def fetch_osm_graphml(
    polygon_wgs84: shapely.Geometry,
    path: str | Path,
    *,
    overpass_url: str = settings.DEFAULT_OVERPASS_URL,
    rate_limit: bool = True,
    timeout_s: float = 180.0,
    use_cache: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Download the OSM drive network inside a polygon with osmnx and save it as GraphML.

    Goes through :func:`coverage.routing.osm_download.download_drive_graph`
    (``osmnx.graph_from_polygon(polygon, network_type="drive", simplify=True,
    retain_all=True, truncate_by_edge=True)``): osmnx's settings point at
    ``overpass_url`` and at its answer cache ``cache_root()/osmnx`` (never the
    bundle or the working directory) during the download, and are restored
    afterwards.

    Parameters
    ----------
    polygon_wgs84
        Area (Polygon or MultiPolygon, lon/lat).
    path
        GraphML file to write.
    overpass_url
        Overpass API base URL (without ``/interpreter``).
    rate_limit
        Let osmnx check the server's ``/status`` slots before querying.
    timeout_s
        HTTP timeout of osmnx's requests, seconds.
    use_cache
        Use osmnx's answer cache (a second run makes no request).
    progress
        Show a spinner on stderr while downloading.

    Returns
    -------
    dict
        ``nodes``, ``edges`` (counts) and ``from_cache``.

    Raises
    ------
    OfflineError
        The Overpass server could not be reached or kept failing.
    DataError
        The answer holds no drivable road.
    """
    with _spinner(progress, "Réseau routier OpenStreetMap (Overpass, osmnx)…"):
        try:
            download = download_drive_graph(
                polygon_wgs84,
                overpass_url=overpass_url,
                rate_limit=rate_limit,
                timeout_s=timeout_s,
                use_cache=use_cache,
                graphml_path=path,
                hint=(
                    "vérifiez la connexion, utilisez --no-osm, ou donnez avec --data DIR un "
                    "lot existant"
                ),
            )
        except NetworkError as exc:
            raise DataError(str(exc)) from None
    graph = download.graph
    return {
        "nodes": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
        "from_cache": download.from_cache,
    }


@contextmanager
def _spinner(enabled: bool, text: str) -> Iterator[None]:
    if not enabled:
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(text):
        yield


# --- description lists and territory.toml ----------------------------------------------------


def _copy_description_lists(
    repo_config: TerritoryConfig | None, bundle: _BundleWriter
) -> dict[str, Any]:
    """Copy the service lists shipped with the repository's description into the bundle.

    The bundle's own ``territory.toml`` wins over the repository's, so the lists
    it names by a relative ``file`` (e.g. ``services/tiers_lieux.csv``) travel
    with it.
    """
    copied: dict[str, Any] = {}
    if repo_config is None:
        return copied
    base = repo_config.path.parent
    for key, spec in repo_config.services.sources.items():
        if spec.layer or not spec.file:
            continue
        relative = Path(spec.file)
        if relative.is_absolute():
            copied[key] = spec
            continue
        source = base / relative
        if not source.is_file():
            bundle.note(f"liste de services '{key}' ({source}) absente, non copiée")
            continue
        bundle.stage_copy(
            relative.as_posix(),
            source,
            layer=f"services.{key}",
            source=spec.source or f"description du dépôt ({repo_config.path.name})",
            licence=spec.licence,
            urls=[],
        )
        copied[key] = spec
    return copied


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return repr(float(value))
    if isinstance(value, dict):
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _table(lines: list[str], name: str, values: dict[str, Any]) -> None:
    lines.append(f"[{name}]")
    for key, value in values.items():
        if value is None:
            continue
        lines.append(f"{_toml_key(key)} = {_toml_value(value)}")


def territory_toml(
    *,
    name: str,
    label: str,
    departement: str,
    admin: AdminLayers,
    services: ServicesResult | None,
    ban: BanResult | None,
    roads: RoadsResult | None,
    repo_config: TerritoryConfig | None = None,
    copied_sources: dict[str, Any] | None = None,
    include_addresses: bool = True,
) -> str:
    """Write the bundle's ``territory.toml`` text (format: docs/territory-format.md).

    Column mappings match the files as fetched; ``[territory.split_cantons]``
    comes from the COG; provenance per layer; ``[population]`` and the
    ``[services]`` settings come from the repository's description when the
    territory is known.
    """
    lines = [
        f"# Territory description written by `coverage fetch {name}` on {_now()}",
        "# from the official sources. Every file, its URL and SHA-256: fetch.json.",
        "# Format reference: docs/territory-format.md",
        "",
    ]
    _table(
        lines,
        "territory",
        {
            "name": name,
            "label": label,
            "departement": departement,
            "crs": WORKING_CRS,
        },
    )
    if admin.split_cantons:
        lines.append("[territory.split_cantons]")
        for code, entry in admin.split_cantons.items():
            lines.append(f"{json.dumps(code)} = {_toml_value(entry)}")
    layer_columns = {
        "communes": {
            "insee_code": "code",
            "name": "nom",
            "population": "population",
            "canton_code": "canton_code",
            "canton_name": "canton_nom",
            "epci_siren": "codeEpci",
            "epci_name": "epci_nom",
            "postcodes": "codesPostaux",
        },
        "cantons": {"canton_code": "canton_code", "canton_name": "canton_nom"},
        "epci": {"epci_siren": "epci_siren", "epci_name": "epci_nom", "epci_type": "epci_type"},
        "departement": {"code": "code", "name": "nom"},
    }
    for key, columns in layer_columns.items():
        lines.append("")
        _table(
            lines,
            f"layers.{key}",
            {
                "file": f"{key}_{name}.geojson",
                "crs": "EPSG:4326",
                **admin.provenance.get(key, {}),
            },
        )
        _table(lines, f"layers.{key}.columns", columns)
    if roads is not None:
        lines.append("")
        _table(
            lines,
            "layers.roads",
            {
                "file": roads.file,
                "format": "graphml",
                **roads.provenance,
                "buffer_m": roads.buffer_m,
            },
        )
    if ban is not None:
        lines.append("")
        _table(
            lines,
            "layers.addresses",
            {
                "file": ban.file,
                "format": "ban",
                "crs": "EPSG:4326",
                **ban.provenance,
            },
        )
        _table(lines, "layers.addresses.columns", dict(BAN_COLUMNS))
    if services is not None:
        lines.append("")
        _table(
            lines,
            "layers.france_services",
            {
                "file": services.file,
                "crs": "EPSG:4326",
                **services.provenance,
            },
        )

    population = repo_config.population if repo_config is not None else None
    lines.append("")
    _table(
        lines,
        "population",
        {
            "cell_size_m": population.cell_size_m if population else 200,
            "grid": population.grid if population else "",
            "weights": (
                dict(population.weights)
                if population
                else {"base": 1.0, "roads": 4.0, "addresses": 1.0}
            ),
        },
    )

    if services is not None or copied_sources:
        spec = repo_config.services if repo_config is not None else None
        geocoders = (
            list(spec.geocoders) if spec is not None and spec.declared else ["local", "commune"]
        )
        if not include_addresses:
            geocoders = [g for g in geocoders if g != "local"] or ["commune"]
        lines.append("")
        _table(
            lines,
            "services",
            {
                "max_distance_km": spec.max_distance_km if spec is not None else 40.0,
                "geocoders": geocoders,
            },
        )
        if spec is not None and spec.kinds:
            lines.append("")
            _table(lines, "services.kinds", dict(spec.kinds))
        if services is not None:
            lines.append("")
            _table(
                lines,
                "services.sources.france_services",
                {
                    "kind": "france_services",
                    "layer": "france_services",
                    "status": "open",
                    "capacity": 1,
                    "capacity_unit": "site",
                },
            )
            _table(lines, "services.sources.france_services.columns", services.columns)
        for key, source in (copied_sources or {}).items():
            lines.append("")
            _table(
                lines,
                f"services.sources.{key}",
                {
                    "kind": source.kind,
                    "file": source.file,
                    "status": source.status,
                    "capacity": source.capacity,
                    "capacity_unit": source.capacity_unit,
                    "crs": source.crs or None,
                    "source": source.source or None,
                    "url": source.url or None,
                    "licence": source.licence or None,
                    "date": source.date or None,
                },
            )
            if source.columns:
                _table(lines, f"services.sources.{key}.columns", dict(source.columns))
    return "\n".join(lines) + "\n"
