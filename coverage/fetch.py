"""Former home of ``coverage fetch``: re-exports its public names for one release.

The code moved (kept here so that ``from coverage.fetch import ...`` keeps
working until the next release; import from the new modules instead):

- the orchestration (:func:`fetch_territory`, :class:`FetchReport`,
  :class:`FetchSources`) to :mod:`coverage.jobs.fetch`;
- each official source to its module in :mod:`coverage.sources`
  (``geo_api``, ``cog``, ``admin``, ``datagouv``, ``france_services``,
  ``addresses``, ``osm``, ``bundle``, ``description``);
- the ``*_ENV`` variable names to :mod:`coverage.settings` (``BAN_URL_ENV`` is
  now ``coverage.settings.BAN_DOWNLOAD_URL_ENV``, the same ``COVERAGE_BAN_URL``).
"""

from __future__ import annotations

from coverage.jobs.fetch import FetchReport, FetchSources, fetch_territory
from coverage.settings import BAN_DOWNLOAD_URL_ENV as BAN_URL_ENV
from coverage.settings import (
    COG_URL_ENV,
    COG_YEAR_ENV,
    DATAGOUV_API_URL_ENV,
    FRANCE_SERVICES_DATASET_ENV,
    GEO_API_URL_ENV,
    OVERPASS_RATE_LIMIT_ENV,
    OVERPASS_URL_ENV,
)
from coverage.sources.addresses import BAN_COLUMNS, LICENCE_BAN, BanResult, check_ban_file
from coverage.sources.admin import (
    LICENCE_ETALAB,
    NO_EPCI,
    AdminLayers,
    build_admin_layers,
)
from coverage.sources.bundle import WORKING_CRS
from coverage.sources.cog import COG_FOLDERS, read_cog_cantons, read_cog_communes
from coverage.sources.datagouv import read_csv_table
from coverage.sources.description import territory_toml
from coverage.sources.france_services import ServicesResult, select_france_services
from coverage.sources.geo_api import communes_from_geojson, epcis_from_json
from coverage.sources.osm import LICENCE_OSM, RoadsResult, fetch_osm_graphml

__all__ = [
    "BAN_COLUMNS",
    "BAN_URL_ENV",
    "COG_FOLDERS",
    "COG_URL_ENV",
    "COG_YEAR_ENV",
    "DATAGOUV_API_URL_ENV",
    "FRANCE_SERVICES_DATASET_ENV",
    "GEO_API_URL_ENV",
    "LICENCE_BAN",
    "LICENCE_ETALAB",
    "LICENCE_OSM",
    "NO_EPCI",
    "OVERPASS_RATE_LIMIT_ENV",
    "OVERPASS_URL_ENV",
    "WORKING_CRS",
    "AdminLayers",
    "BanResult",
    "FetchReport",
    "FetchSources",
    "RoadsResult",
    "ServicesResult",
    "build_admin_layers",
    "check_ban_file",
    "communes_from_geojson",
    "epcis_from_json",
    "fetch_osm_graphml",
    "fetch_territory",
    "read_cog_cantons",
    "read_cog_communes",
    "read_csv_table",
    "select_france_services",
    "territory_toml",
]
