"""Download the OSM drive network with osmnx, its settings pointed at the engine's cache.

The one path by which the engine calls osmnx online (``coverage fetch`` and
:func:`coverage.routing.network.network_from_polygon`):

- :func:`osmnx_settings` sets ``osmnx.settings`` for the duration of a block:
  answer cache, logs, data and image folders under
  ``coverage.settings.cache_root()/osmnx`` (osmnx's defaults are ``./cache``,
  ``./logs``... in the working directory), no log file or console output, the
  Overpass URL and rate-limit check of :mod:`coverage.settings`
  (``COVERAGE_OVERPASS_URL``, ``COVERAGE_OVERPASS_RATE_LIMIT``), an HTTP
  timeout of at least 180 s, no DNS-over-HTTPS; then restores every value, and
  the ``socket.getaddrinfo`` osmnx replaces to pin the server's address;
- :func:`download_drive_graph` runs ``osmnx.graph_from_polygon(network_type="drive")``
  inside it and turns osmnx's failures into the engine's one-line errors.
"""

from __future__ import annotations

import math
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from coverage import settings
from coverage.errors import ConfigError, NetworkError, OfflineError

MIN_TIMEOUT_S = 180.0
"""Shortest HTTP timeout given to osmnx: Overpass answers for a département take minutes."""

_LOCK = threading.RLock()  # osmnx.settings is global: one block at a time


def osmnx_cache_dir() -> Path:
    """Return the folder of osmnx's answer cache (``cache_root()/osmnx``)."""
    return settings.cache_root() / "osmnx"


@contextmanager
def osmnx_settings(
    *,
    overpass_url: str | None = None,
    rate_limit: bool | None = None,
    timeout_s: float | None = None,
    use_cache: bool = True,
) -> Iterator[ModuleType]:
    """Point ``osmnx.settings`` at the engine's cache for a block, then restore them.

    Parameters
    ----------
    overpass_url
        Overpass API base URL (without ``/interpreter``); default
        :func:`coverage.settings.overpass_url`.
    rate_limit
        Let osmnx check the server's ``/status`` slots before querying; default
        :func:`coverage.settings.overpass_rate_limit`.
    timeout_s
        HTTP timeout of osmnx's requests (and of the Overpass query), seconds;
        default the larger of :func:`coverage.settings.http_timeout_s` and 180.
    use_cache
        Use osmnx's answer cache (a second identical query makes no request).

    Yields
    ------
    module
        The ``osmnx`` module, its settings set.

    Raises
    ------
    ConfigError
        If a ``COVERAGE_*`` variable has a bad value or ``timeout_s`` is not > 0.
    """
    if timeout_s is None:
        timeout_s = max(settings.http_timeout_s(), MIN_TIMEOUT_S)
    if not math.isfinite(timeout_s) or timeout_s <= 0:
        raise ConfigError(f"timeout_s doit être un nombre de secondes > 0, pas {timeout_s}")
    folder = osmnx_cache_dir()
    values: dict[str, Any] = {
        "cache_folder": str(folder),
        "use_cache": bool(use_cache),
        "logs_folder": str(folder / "logs"),
        "log_file": False,
        "log_console": False,
        "data_folder": str(folder / "data"),
        "imgs_folder": str(folder / "images"),
        "overpass_url": (overpass_url or settings.overpass_url()).rstrip("/"),
        "overpass_rate_limit": (
            settings.overpass_rate_limit() if rate_limit is None else bool(rate_limit)
        ),
        # an integer: it is also the [timeout:N] of the Overpass query
        "requests_timeout": math.ceil(timeout_s),
        "doh_url_template": None,
    }
    import osmnx

    with _LOCK:
        old = {key: getattr(osmnx.settings, key) for key in values}
        getaddrinfo = socket.getaddrinfo
        try:
            for key, value in values.items():
                setattr(osmnx.settings, key, value)
            yield osmnx
        finally:
            for key, value in old.items():
                setattr(osmnx.settings, key, value)
            socket.getaddrinfo = getaddrinfo


@dataclass(frozen=True)
class DriveGraph:
    """The drive network osmnx built from an Overpass answer.

    Attributes
    ----------
    graph
        The simplified ``networkx.MultiDiGraph`` (lon/lat nodes, ``length`` in metres).
    overpass_url
        The Overpass API it came from.
    from_cache
        True when every answer came from osmnx's cache (no request made).
    """

    graph: Any
    overpass_url: str
    from_cache: bool


def download_drive_graph(
    polygon_wgs84: Any,
    *,
    overpass_url: str | None = None,
    rate_limit: bool | None = None,
    timeout_s: float | None = None,
    use_cache: bool = True,
    graphml_path: str | Path | None = None,
    hint: str = "",
) -> DriveGraph:
    """Download the drivable OSM network inside a polygon (osmnx, Overpass).

    Calls ``osmnx.graph_from_polygon(polygon, network_type="drive",
    simplify=True, retain_all=True, truncate_by_edge=True)`` inside
    :func:`osmnx_settings`.

    Parameters
    ----------
    polygon_wgs84
        Area, a shapely Polygon or MultiPolygon in lon/lat (EPSG:4326).
    overpass_url, rate_limit, timeout_s, use_cache
        As for :func:`osmnx_settings`.
    graphml_path
        If given, the graph is also saved there (``osmnx.save_graphml``).
    hint
        What the user can do instead, appended to the error when the server
        cannot be reached (e.g. ``"utilisez --no-osm"``).

    Returns
    -------
    DriveGraph

    Raises
    ------
    OfflineError
        The Overpass server could not be reached or kept failing (one line).
    NetworkError
        The answer holds no drivable road.
    ConfigError
        The area is not a polygon, or a setting is invalid.
    """
    import requests
    import shapely

    if not isinstance(polygon_wgs84, shapely.Polygon | shapely.MultiPolygon):
        raise ConfigError(
            "la zone à télécharger doit être un Polygon ou un MultiPolygon shapely en lon/lat, "
            f"pas {type(polygon_wgs84).__name__}"
        )
    advice = f" ; {hint}" if hint else ""
    with osmnx_settings(
        overpass_url=overpass_url, rate_limit=rate_limit, timeout_s=timeout_s, use_cache=use_cache
    ) as osmnx:
        from osmnx._errors import InsufficientResponseError, ResponseStatusCodeError

        url = str(osmnx.settings.overpass_url)
        host = urlsplit(url).netloc or url
        folder = Path(osmnx.settings.cache_folder)
        before = _cached_answers(folder)
        try:
            graph = osmnx.graph_from_polygon(
                polygon_wgs84,
                network_type="drive",
                simplify=True,
                retain_all=True,
                truncate_by_edge=True,
            )
        except requests.exceptions.RequestException as exc:
            raise OfflineError(
                f"serveur Overpass d'OpenStreetMap injoignable ({host}) : {_one_line(exc)}{advice}"
            ) from None
        except ResponseStatusCodeError as exc:
            raise OfflineError(
                f"le serveur Overpass d'OpenStreetMap ({host}) répond en erreur "
                f"({_one_line(exc)}) ; réessayez plus tard{advice}"
            ) from None
        except (InsufficientResponseError, ValueError) as exc:
            raise NetworkError(
                f"le serveur Overpass ({host}) ne renvoie aucune route carrossable dans la "
                f"zone ({_one_line(exc)})"
            ) from None
        if graphml_path is not None:
            osmnx.save_graphml(graph, graphml_path)
        from_cache = use_cache and not (_cached_answers(folder) - before)
    return DriveGraph(graph=graph, overpass_url=url, from_cache=from_cache)


def _cached_answers(folder: Path) -> set[Path]:
    return set(folder.glob("*.json")) if folder.is_dir() else set()


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines and lines[0] else type(exc).__name__)[:200]
