"""Every ``COVERAGE_*`` environment variable the engine reads, typed and checked, in one place.

No other engine module reads the environment: each variable has one constant
here (its name), one entry in :data:`VARIABLES` (name, meaning, default, the
table of docs/settings.md) and one typed function that reads it and names the
variable in a French :class:`~coverage.errors.ConfigError` when its value
cannot be used. The functions read the environment at each call, so a variable
set after import (tests, a long-running server) is honoured.

Resolution order for a territory's data bundle:

1. the ``--data DIR`` option (or ``data_dir=`` in Python);
2. the ``COVERAGE_DATA_DIR`` environment variable;
3. the user data directory (``platformdirs.user_data_dir("coverage-territoires")``),
   where ``coverage fetch`` writes.

``DIR`` may be the bundle itself (it holds the layer files) or a parent folder
that holds one bundle per territory (``DIR/<territory>/``).

Cached artefacts (population surfaces, compact road networks, downloads,
osmnx's answers) go under ``COVERAGE_CACHE_DIR`` or the user cache directory,
never inside the bundle or the working directory, so that a read-only bundle
works.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_cache_dir, user_data_dir

from coverage.errors import ConfigError

APP_NAME = "coverage-territoires"

# --- the variables: one constant per variable ------------------------------------------------

DATA_DIR_ENV = "COVERAGE_DATA_DIR"
CACHE_DIR_ENV = "COVERAGE_CACHE_DIR"
TERRITORIES_DIR_ENV = "COVERAGE_TERRITORIES_DIR"
THREADS_ENV = "COVERAGE_THREADS"
KERNELS_ENV = "COVERAGE_KERNELS"
HTTP_TIMEOUT_ENV = "COVERAGE_HTTP_TIMEOUT_S"
HTTP_RETRIES_ENV = "COVERAGE_HTTP_RETRIES"
HTTP_BACKOFF_ENV = "COVERAGE_HTTP_BACKOFF_S"
GEO_API_URL_ENV = "COVERAGE_GEO_API_URL"
COG_YEAR_ENV = "COVERAGE_COG_YEAR"
COG_URL_ENV = "COVERAGE_COG_URL"
DATAGOUV_API_URL_ENV = "COVERAGE_DATAGOUV_API_URL"
FRANCE_SERVICES_DATASET_ENV = "COVERAGE_FRANCE_SERVICES_DATASET"
BAN_DOWNLOAD_URL_ENV = "COVERAGE_BAN_URL"
INSEE_AGES_URL_ENV = "COVERAGE_INSEE_AGES_URL"
"""Folder of the BAN address files ``adresses-XX.csv.gz`` (``coverage fetch``)."""
BAN_SEARCH_URL_ENV = "COVERAGE_BAN_API_URL"
"""The API Adresse (search, batch CSV, reverse) used by the ``ban`` geocoder."""
OVERPASS_URL_ENV = "COVERAGE_OVERPASS_URL"
OVERPASS_RATE_LIMIT_ENV = "COVERAGE_OVERPASS_RATE_LIMIT"
DEBUG_ENV = "COVERAGE_DEBUG"
CSV_STYLE_ENV = "COVERAGE_CSV_STYLE"
"""Style of the CSV tables the commands write: ``fr`` (French spreadsheet) or ``machine``."""
CLUSTER_ENV = "COVERAGE_CLUSTER"
"""Where the long commands compute when ``--cluster`` is not given (:mod:`coverage.cluster`)."""

KERNEL_BACKENDS = ("auto", "c", "scipy")
DEFAULT_HTTP_TIMEOUT_S = 60.0
DEFAULT_HTTP_RETRIES = 3
DEFAULT_HTTP_BACKOFF_S = 1.0
DEFAULT_GEO_API_URL = "https://geo.api.gouv.fr"
DEFAULT_COG_YEAR = "2026"
DEFAULT_DATAGOUV_API_URL = "https://www.data.gouv.fr/api/1"
DEFAULT_FRANCE_SERVICES_DATASET = "liste-des-structures-france-services"
DEFAULT_BAN_DOWNLOAD_URL = "https://adresse.data.gouv.fr/data/ban/adresses/latest/csv"
DEFAULT_INSEE_AGES_URL = (
    "https://www.insee.fr/fr/statistiques/fichier/8581696/base-cc-evol-struct-pop-2022_csv.zip"
)
DEFAULT_BAN_SEARCH_URL = "https://api-adresse.data.gouv.fr"
DEFAULT_OVERPASS_URL = "https://overpass-api.de/api"

_YES = ("1", "true", "yes", "oui", "on")
_NO = ("0", "false", "no", "non", "off")


@dataclass(frozen=True)
class Variable:
    """One environment variable: its name, what it sets and its default (in French)."""

    name: str
    meaning: str
    default: str


VARIABLES: tuple[Variable, ...] = (
    Variable(
        DATA_DIR_ENV,
        "Dossier des lots de données : un lot, ou un dossier contenant un lot par territoire.",
        "dossier de données de l'utilisateur (platformdirs), où écrit coverage fetch",
    ),
    Variable(
        CACHE_DIR_ENV,
        "Dossier du cache : téléchargements, réponses d'osmnx, réseaux compacts, "
        "surfaces de population, géocodage.",
        "dossier de cache de l'utilisateur (platformdirs)",
    ),
    Variable(
        TERRITORIES_DIR_ENV,
        "Dossier de descriptions de territoires (nom/territory.toml), consulté avant "
        "celles du dépôt.",
        "aucun",
    ),
    Variable(
        THREADS_ENV,
        "Fils de calcul des noyaux de plus courts chemins (entier >= 1).",
        "CPU, 8 au plus",
    ),
    Variable(KERNELS_ENV, "Noyaux de plus courts chemins : auto, c ou scipy.", "auto"),
    Variable(HTTP_TIMEOUT_ENV, "Délai d'attente HTTP en secondes (> 0).", "60"),
    Variable(HTTP_RETRIES_ENV, "Nouvelles tentatives après un échec HTTP (entier >= 0).", "3"),
    Variable(
        HTTP_BACKOFF_ENV,
        "Première pause entre deux tentatives, en secondes, doublée à chaque fois (>= 0).",
        "1",
    ),
    Variable(
        GEO_API_URL_ENV, "API Découpage administratif (geo.api.gouv.fr).", DEFAULT_GEO_API_URL
    ),
    Variable(COG_YEAR_ENV, "Millésime du Code officiel géographique de l'INSEE.", DEFAULT_COG_YEAR),
    Variable(
        COG_URL_ENV,
        "Dossier des fichiers du COG (v_commune_AAAA.csv, v_canton_AAAA.csv).",
        "dossier de l'INSEE pour le millésime (connu de 2022 à 2026)",
    ),
    Variable(DATAGOUV_API_URL_ENV, "API de data.gouv.fr.", DEFAULT_DATAGOUV_API_URL),
    Variable(
        FRANCE_SERVICES_DATASET_ENV,
        "Jeu de données data.gouv.fr des France services (slug ou identifiant).",
        DEFAULT_FRANCE_SERVICES_DATASET,
    ),
    Variable(
        BAN_DOWNLOAD_URL_ENV,
        "Dossier des fichiers d'adresses BAN adresses-DEP.csv.gz (coverage fetch).",
        DEFAULT_BAN_DOWNLOAD_URL,
    ),
    Variable(
        INSEE_AGES_URL_ENV,
        "Fichier INSEE de la population par âge des communes (base-cc-evol-struct-pop, "
        "CSV zippé ; coverage fetch).",
        DEFAULT_INSEE_AGES_URL,
    ),
    Variable(
        BAN_SEARCH_URL_ENV,
        "API Adresse interrogée par le géocodeur « ban » (recherche, CSV, inverse).",
        DEFAULT_BAN_SEARCH_URL,
    ),
    Variable(
        OVERPASS_URL_ENV,
        "API Overpass d'OpenStreetMap utilisée par osmnx (coverage fetch, réseau en ligne).",
        DEFAULT_OVERPASS_URL,
    ),
    Variable(
        OVERPASS_RATE_LIMIT_ENV,
        "osmnx consulte les créneaux /status du serveur Overpass avant chaque requête (1 ou 0).",
        "1",
    ),
    Variable(
        DEBUG_ENV,
        "Toute valeur autre que vide, 0, false, non ou off : la commande montre la trace "
        "complète d'une erreur inattendue.",
        "désactivé",
    ),
    Variable(
        CSV_STYLE_ENV,
        "Style des tableaux CSV écrits : fr (« ; », virgule décimale, BOM, en-têtes "
        "français, oui/non, pourcentages) ou machine (« , », point, noms anglais, sans BOM).",
        "fr",
    ),
    Variable(
        CLUSTER_ENV,
        "Où calculent les commandes longues sans --cluster : local:N (N workers Dask sur "
        "cette machine) ou tcp://hôte:8786 (un ordonnanceur Dask existant).",
        "dans le processus de la commande",
    ),
)
"""Every variable the engine reads (docs/settings.md shows this table)."""


# --- reading ---------------------------------------------------------------------------------


def _raw(name: str) -> str:
    return os.environ.get(name, "").strip()


def _flag(name: str, default: bool) -> bool:
    raw = _raw(name).lower()
    if not raw:
        return default
    if raw in _YES:
        return True
    if raw in _NO:
        return False
    raise ConfigError(f"${name} doit valoir 1 ou 0 (oui/non), pas {raw!r}")


def _number(name: str, default: float, *, minimum: float, strict: bool) -> float:
    raw = _raw(name)
    if not raw:
        return default
    bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (value > minimum if strict else value >= minimum) or value == float("inf"):
        raise ConfigError(f"${name} doit être un nombre {bound}, pas {raw!r}")
    return value


def _whole(name: str, default: int, *, minimum: int) -> int:
    raw = _raw(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigError(f"${name} doit être un nombre entier >= {minimum}, pas {raw!r}")
    return value


def _url(name: str, default: str) -> str:
    raw = _raw(name)
    url = (raw or default).rstrip("/")
    if not re.match(r"^https?://[^/\s]+", url) or any(c.isspace() for c in url):
        raise ConfigError(
            f"${name} doit être une adresse http:// ou https:// (par exemple "
            f"{default or 'https://exemple.fr/dossier'}), pas {raw!r}"
        )
    return url


def _path(name: str) -> Path | None:
    raw = _raw(name)
    return Path(raw).expanduser() if raw else None


# --- folders ---------------------------------------------------------------------------------


def default_data_root() -> Path:
    """Return the user data directory where fetched bundles live."""
    return Path(user_data_dir(APP_NAME, appauthor=False))


def cache_root() -> Path:
    """Return the cache directory (``COVERAGE_CACHE_DIR`` or the user cache directory)."""
    return _path(CACHE_DIR_ENV) or Path(user_cache_dir(APP_NAME, appauthor=False)).expanduser()


def territory_description_dirs() -> list[Path]:
    """Return the folders searched for ``<name>/territory.toml``, in order.

    ``COVERAGE_TERRITORIES_DIR`` first, then the repository's ``data/geo`` (source
    checkout or editable install), then the copy packaged in the wheel.
    """
    here = Path(__file__).resolve().parent
    dirs: list[Path] = []
    own = _path(TERRITORIES_DIR_ENV)
    if own is not None:
        dirs.append(own)
    dirs.append(here.parent / "data" / "geo")
    dirs.append(here / "_data" / "geo")
    return [d for d in dirs if d.is_dir()]


def resolve_data_dir(territory: str, data_dir: str | Path | None = None) -> tuple[Path, str]:
    """Choose the bundle directory of a territory.

    Parameters
    ----------
    territory
        Territory name, e.g. ``"gers"``.
    data_dir
        Explicit directory (``--data``); takes precedence over the environment.

    Returns
    -------
    tuple of (Path, str)
        The chosen directory (it may not exist yet) and how it was chosen
        (``"--data"``, ``"$COVERAGE_DATA_DIR"`` or ``"dossier de données de l'utilisateur"``).
    """
    from_env = _path(DATA_DIR_ENV)
    if data_dir is not None:
        base, origin = Path(data_dir).expanduser(), "--data"
    elif from_env is not None:
        base, origin = from_env, f"${DATA_DIR_ENV}"
    else:
        base, origin = default_data_root(), "dossier de données de l'utilisateur"
    nested = base / territory
    if nested.is_dir():
        return nested.resolve(), origin
    if base.is_dir() and any(base.iterdir()) and not _looks_like_parent(base):
        return base.resolve(), origin
    return nested if origin == "dossier de données de l'utilisateur" else base, origin


def territory_folder(territory: str, data_dir: str | Path | None = None) -> tuple[Path, str]:
    """``<data folder>/<territory>``: where a bundle goes when the data folder holds several.

    The data folder is ``data_dir`` (``--data``), else ``$COVERAGE_DATA_DIR``, else the
    user data directory; unlike :func:`resolve_data_dir`, the folder given is always
    taken as a parent (``coverage fetch occitanie`` writes one bundle per département).
    """
    from_env = _path(DATA_DIR_ENV)
    if data_dir is not None:
        return Path(data_dir).expanduser() / territory, "--data"
    if from_env is not None:
        return from_env / territory, f"${DATA_DIR_ENV}"
    return default_data_root() / territory, "dossier de données de l'utilisateur"


def _looks_like_parent(base: Path) -> bool:
    """A parent folder holds sub-folders only (one per territory), no layer files."""
    files = [p for p in base.iterdir() if p.is_file() and not p.name.startswith(".")]
    return not files


# --- routing kernels -------------------------------------------------------------------------


def routing_threads() -> int:
    """Return how many threads the routing kernels may use (``COVERAGE_THREADS``).

    Unset: the number of CPUs, at most 8 (and at least 1).

    Raises
    ------
    ConfigError
        If ``COVERAGE_THREADS`` is not a whole number >= 1.
    """
    return _whole(THREADS_ENV, max(1, min(os.cpu_count() or 1, 8)), minimum=1)


def kernel_backend_choice() -> str:
    """Return the shortest-path backend asked for by ``COVERAGE_KERNELS``.

    ``"auto"`` (unset: the C extension when it is built, else scipy), ``"c"`` or
    ``"scipy"``.

    Raises
    ------
    ConfigError
        If ``COVERAGE_KERNELS`` is set to anything else.
    """
    raw = _raw(KERNELS_ENV).lower()
    if not raw:
        return "auto"
    if raw not in KERNEL_BACKENDS:
        raise ConfigError(f"${KERNELS_ENV} doit valoir {', '.join(KERNEL_BACKENDS)}, pas {raw!r}")
    return raw


# --- HTTP ------------------------------------------------------------------------------------


def http_timeout_s() -> float:
    """Connect/read timeout of the downloads, seconds (``COVERAGE_HTTP_TIMEOUT_S``, > 0)."""
    return _number(HTTP_TIMEOUT_ENV, DEFAULT_HTTP_TIMEOUT_S, minimum=0.0, strict=True)


def http_retries() -> int:
    """Extra attempts after a failed download (``COVERAGE_HTTP_RETRIES``, whole number >= 0)."""
    return _whole(HTTP_RETRIES_ENV, DEFAULT_HTTP_RETRIES, minimum=0)


def http_backoff_s() -> float:
    """First pause between attempts, doubled at each retry (``COVERAGE_HTTP_BACKOFF_S``, >= 0)."""
    return _number(HTTP_BACKOFF_ENV, DEFAULT_HTTP_BACKOFF_S, minimum=0.0, strict=False)


# --- official sources ------------------------------------------------------------------------


def geo_api_url() -> str:
    """geo.api.gouv.fr base URL (``COVERAGE_GEO_API_URL``), without a trailing ``/``."""
    return _url(GEO_API_URL_ENV, DEFAULT_GEO_API_URL)


def cog_year() -> str:
    """Vintage of the INSEE COG (``COVERAGE_COG_YEAR``, four digits).

    Raises
    ------
    ConfigError
        If the value is not a year such as ``2026``.
    """
    year = _raw(COG_YEAR_ENV) or DEFAULT_COG_YEAR
    if not re.fullmatch(r"\d{4}", year):
        raise ConfigError(f"${COG_YEAR_ENV} doit être une année comme 2026, pas {year!r}")
    return year


def cog_url() -> str | None:
    """Folder of the COG files (``COVERAGE_COG_URL``); None: INSEE's folder for the vintage."""
    return _url(COG_URL_ENV, "") if _raw(COG_URL_ENV) else None


def datagouv_api_url() -> str:
    """data.gouv.fr API base URL (``COVERAGE_DATAGOUV_API_URL``)."""
    return _url(DATAGOUV_API_URL_ENV, DEFAULT_DATAGOUV_API_URL)


def france_services_dataset() -> str:
    """Slug or id of the France services dataset (``COVERAGE_FRANCE_SERVICES_DATASET``)."""
    raw = _raw(FRANCE_SERVICES_DATASET_ENV).strip("/")
    if any(c.isspace() or c in "?#" for c in raw):
        raise ConfigError(
            f"${FRANCE_SERVICES_DATASET_ENV} doit être le slug ou l'identifiant d'un jeu de "
            f"données data.gouv.fr (sans espace), pas {raw!r}"
        )
    return raw or DEFAULT_FRANCE_SERVICES_DATASET


def ban_download_url() -> str:
    """Folder of the BAN files ``adresses-XX.csv.gz`` (``COVERAGE_BAN_URL``)."""
    return _url(BAN_DOWNLOAD_URL_ENV, DEFAULT_BAN_DOWNLOAD_URL)


def insee_ages_url() -> str:
    """The INSEE per-commune age structure file (``COVERAGE_INSEE_AGES_URL``)."""
    return _url(INSEE_AGES_URL_ENV, DEFAULT_INSEE_AGES_URL)


def ban_search_url() -> str:
    """The API Adresse used by the ``ban`` geocoder (``COVERAGE_BAN_API_URL``)."""
    return _url(BAN_SEARCH_URL_ENV, DEFAULT_BAN_SEARCH_URL)


def overpass_url() -> str:
    """Overpass API base URL, without ``/interpreter`` (``COVERAGE_OVERPASS_URL``)."""
    return _url(OVERPASS_URL_ENV, DEFAULT_OVERPASS_URL)


def overpass_rate_limit() -> bool:
    """Whether osmnx checks the Overpass ``/status`` slots (``COVERAGE_OVERPASS_RATE_LIMIT``)."""
    return _flag(OVERPASS_RATE_LIMIT_ENV, True)


# --- command line ----------------------------------------------------------------------------


def debug() -> bool:
    """Whether the command shows the traceback of an unexpected error (``COVERAGE_DEBUG``).

    Read while handling an error, so it never raises: any value other than
    empty, ``0``, ``false``, ``no``, ``non`` or ``off`` switches it on.
    """
    return _raw(DEBUG_ENV).lower() not in ("", *_NO)


# --- tables ----------------------------------------------------------------------------------


CSV_STYLES = ("fr", "machine")


def cluster_setting() -> str:
    """The ``COVERAGE_CLUSTER`` value, stripped (``""`` when unset); checked by the caller."""
    return _raw(CLUSTER_ENV)


def csv_style() -> str:
    """Style of the CSV tables (``COVERAGE_CSV_STYLE``): ``"fr"`` (default) or ``"machine"``.

    Raises
    ------
    ConfigError
        If the variable is set to anything else.
    """
    raw = _raw(CSV_STYLE_ENV).lower()
    if not raw:
        return "fr"
    if raw not in CSV_STYLES:
        raise ConfigError(f"${CSV_STYLE_ENV} doit valoir fr ou machine, pas {raw!r}")
    return raw
