"""OpenStreetMap: the drive network around a département, through Overpass and osmnx.

The outline buffered by some kilometres (in Lambert-93, then back to WGS84) is
downloaded with :func:`coverage.routing.osm_download.download_drive_graph`
(``osmnx.graph_from_polygon(network_type="drive")``, osmnx's answers cached
under ``cache_root()/osmnx``) and saved as GraphML in the bundle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely

from coverage import settings
from coverage.errors import DataError, NetworkError
from coverage.progress import Progress
from coverage.routing.osm_download import MIN_TIMEOUT_S, download_drive_graph
from coverage.sources.bundle import WORKING_CRS, BundleWriter, now_utc

LICENCE_OSM = "ODbL 1.0 — © les contributeurs d'OpenStreetMap"


@dataclass
class RoadsResult:
    """The OSM drive network saved as GraphML in the bundle."""

    file: str
    n_nodes: int
    n_edges: int
    buffer_m: float
    provenance: dict[str, str]


def fetch_roads(
    bundle: BundleWriter,
    *,
    overpass_url: str,
    rate_limit: bool,
    outline_2154: shapely.Geometry,
    buffer_m: float,
    timeout_s: float,
    force: bool,
    progress: Progress | None,
) -> RoadsResult:
    """Download the drive network around the outline and stage it as GraphML.

    Parameters
    ----------
    bundle
        Where ``roads_<name>_osm.graphml`` is staged.
    overpass_url, rate_limit
        Overpass API base URL and whether osmnx checks its ``/status`` slots.
    outline_2154
        The département outline, EPSG:2154.
    buffer_m
        Buffer around the outline, metres.
    timeout_s
        HTTP timeout, seconds (at least 180 is used).
    force
        Query Overpass again even when osmnx's cache has the answer.
    progress
        Told when the download starts.

    Returns
    -------
    RoadsResult

    Raises
    ------
    OfflineError
        The Overpass server cannot be reached.
    DataError
        The answer holds no drivable road.
    """
    file = f"roads_{bundle.name}_osm.graphml"
    area = gpd.GeoSeries([outline_2154.buffer(buffer_m)], crs=WORKING_CRS)
    area_wgs84 = area.simplify(50.0).to_crs("EPSG:4326").iloc[0]
    tmp = bundle.temporary(file)
    stats = fetch_osm_graphml(
        area_wgs84,
        tmp,
        overpass_url=overpass_url,
        rate_limit=rate_limit,
        timeout_s=max(timeout_s, MIN_TIMEOUT_S),
        use_cache=not force,
        progress=progress,
    )
    retrieved = now_utc()
    provenance = {
        "source": (
            "OpenStreetMap, réseau routier carrossable (osmnx.graph_from_polygon, "
            f"network_type='drive') sur le contour élargi de {buffer_m / 1000:g} km, "
            f"via l'API Overpass {overpass_url}"
        ),
        "url": overpass_url,
        "licence": LICENCE_OSM,
        "date": retrieved[:10],
    }
    interpreter = f"{overpass_url}/interpreter"
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
    timeout_s: float = MIN_TIMEOUT_S,
    use_cache: bool = True,
    progress: Progress | None = None,
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
        Told when the download starts.

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
    if progress is not None:
        progress("Réseau routier OpenStreetMap (Overpass, osmnx)")
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
