"""The ``coverage fetch`` job: a territory's data bundle built from the official sources.

:func:`fetch_territory` checks the options, resolves the territory (its
département from ``data/geo/<name>/territory.toml`` when it is known), then
asks each source module of :mod:`coverage.sources` in turn:

- :mod:`~coverage.sources.admin` (geo.api.gouv.fr and the INSEE COG): communes,
  cantons, EPCI and the département outline;
- :mod:`~coverage.sources.france_services` (data.gouv.fr): the France services
  sites of the département and within ``services_radius_m`` of its outline;
- :mod:`~coverage.sources.neighbours` (geo.api.gouv.fr): the communes of the
  other départements within ``services_radius_m`` of the outline (the demand
  over the border of the 2SFCA health accessibility);
- :mod:`~coverage.sources.ages` (INSEE census): the age structure of the
  communes, written as the publics layer (``publics_<name>.csv``: people
  aged 0–14, 15–59, 60–74, 60+ and 75+);
- :mod:`~coverage.sources.addresses` (BAN): ``adresses-{code}.csv.gz``, as published;
- :mod:`~coverage.sources.osm` (Overpass, osmnx): the drive network on the
  outline buffered by ``buffer_m``, as GraphML;

and writes ``territory.toml`` (:mod:`~coverage.sources.description`) and
``fetch.json`` (:mod:`~coverage.sources.bundle`). Nothing is written into the
bundle before every download has succeeded. The base URLs come from
:meth:`FetchSources.from_env` (``COVERAGE_*`` variables, docs/settings.md);
the HTTP timeout, retries and backoff from :meth:`coverage._http.Downloader.from_env`.
The bundle then loads with ``coverage.layers.load_territory(name, data_dir=dest)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from coverage import settings
from coverage._http import Downloader
from coverage.errors import ConfigError
from coverage.layers.config import (
    DESCRIPTION_FILE,
    TerritoryConfig,
    known_territories,
    load_territory_config,
)
from coverage.progress import Progress
from coverage.settings import territory_description_dirs
from coverage.sources.addresses import fetch_ban_file
from coverage.sources.admin import fetch_admin_layers
from coverage.sources.ages import fetch_age_publics
from coverage.sources.bundle import FETCH_RECORD, WORKING_CRS, BundleWriter
from coverage.sources.cog import cog_folder
from coverage.sources.description import copy_description_lists, territory_toml
from coverage.sources.france_services import fetch_france_services
from coverage.sources.neighbours import fetch_neighbour_communes
from coverage.sources.osm import fetch_roads

_DEP_CODE = re.compile(r"^(\d{2}|2A|2B|97[1-6])$")

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class FetchSources:
    """Base URLs of the official sources (the variables: docs/settings.md).

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
    insee_ages_url
        The INSEE per-commune age structure (zipped CSV).
    overpass_url, overpass_rate_limit
        Overpass API used by osmnx, and whether osmnx checks its rate limit.
    """

    geo_api_url: str = settings.DEFAULT_GEO_API_URL
    cog_url: str = cog_folder(settings.DEFAULT_COG_YEAR)
    cog_year: str = settings.DEFAULT_COG_YEAR
    datagouv_api_url: str = settings.DEFAULT_DATAGOUV_API_URL
    france_services_dataset: str = settings.DEFAULT_FRANCE_SERVICES_DATASET
    ban_url: str = settings.DEFAULT_BAN_DOWNLOAD_URL
    insee_ages_url: str = settings.DEFAULT_INSEE_AGES_URL
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
        return cls(
            geo_api_url=settings.geo_api_url(),
            cog_url=settings.cog_url() or cog_folder(year),
            cog_year=year,
            datagouv_api_url=settings.datagouv_api_url(),
            france_services_dataset=settings.france_services_dataset(),
            ban_url=settings.ban_download_url(),
            insee_ages_url=settings.insee_ages_url(),
            overpass_url=settings.overpass_url(),
            overpass_rate_limit=settings.overpass_rate_limit(),
        )

    def record(self) -> dict[str, Any]:
        """The addresses used, for ``fetch.json``."""
        return dict(self.__dict__)


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


def fetch_territory(
    territory: str,
    dest: str | Path,
    *,
    departement: str | None = None,
    include_osm: bool = True,
    include_addresses: bool = True,
    include_ages: bool = True,
    force: bool = False,
    progress: Progress | None = None,
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
    include_ages
        Download the INSEE age structure of the communes (the publics layer).
    force
        Download again even what is in the cache.
    progress
        Told each download's label and bytes (:class:`coverage.progress.Progress`).
    buffer_m
        Buffer around the outline for the road network, metres.
    services_radius_m
        France services sites outside the département are kept up to this
        distance from its outline, metres; so are the neighbouring communes
        (``communes_voisines_<name>.csv``).
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
    bundle = BundleWriter(dest, name, dep)
    try:
        admin = fetch_admin_layers(
            dl,
            bundle,
            geo_api_url=sources.geo_api_url,
            cog_url=sources.cog_url,
            cog_year=sources.cog_year,
            dep=dep,
            force=force,
        )
        label = label or admin.dep_name
        outline_2154 = shapely.union_all(admin.departement.to_crs(WORKING_CRS).geometry.values)
        services = fetch_france_services(
            dl,
            bundle,
            api_url=sources.datagouv_api_url,
            dataset=sources.france_services_dataset,
            outline_2154=outline_2154,
            radius_m=services_radius_m,
            force=force,
        )
        neighbours = fetch_neighbour_communes(
            dl,
            bundle,
            base_url=sources.geo_api_url,
            dep=dep,
            outline_2154=outline_2154,
            radius_m=services_radius_m,
            force=force,
        )
        ages = (
            fetch_age_publics(
                dl,
                bundle,
                url=sources.insee_ages_url,
                codes=admin.communes["code"].astype(str).tolist(),
                force=force,
            )
            if include_ages
            else None
        )
        ban = (
            fetch_ban_file(dl, bundle, base_url=sources.ban_url, dep=dep, force=force)
            if include_addresses
            else None
        )
        roads = (
            fetch_roads(
                bundle,
                overpass_url=sources.overpass_url,
                rate_limit=sources.overpass_rate_limit,
                outline_2154=outline_2154,
                buffer_m=buffer_m,
                timeout_s=dl.timeout_s,
                force=force,
                progress=progress,
            )
            if include_osm
            else None
        )
        copied = copy_description_lists(repo_config, bundle)
        toml_text = territory_toml(
            name=name,
            label=label,
            departement=dep,
            admin=admin,
            services=services,
            neighbours=neighbours,
            ages=ages,
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
            sources=sources.record(),
            label=label,
            options={
                "include_osm": include_osm,
                "include_addresses": include_addresses,
                "include_ages": include_ages,
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
        fetch_json=dest / FETCH_RECORD,
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
    from coverage.regions import departement_by_territory

    known_dep = departement_by_territory(name)
    if known_dep is not None and known_dep.territory == name:
        return known_dep.code, known_dep.name, None
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
