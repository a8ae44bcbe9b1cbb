"""Build road networks from OSM XML, PBF, GraphML or osmnx (online), cached in compact form.

Entry point: :func:`load_network` (a file, format guessed) and its
alternative constructors :func:`network_from_osm_file`,
:func:`network_from_graphml`, :func:`network_from_graph` (an osmnx graph in
memory) and :func:`network_from_polygon` (osmnx ``graph_from_polygon``,
online). Every builder returns a :class:`~coverage.routing.graph.RoadNetwork`:

- **ways**: OSM ways passing the road-class part of osmnx's ``drive`` filter
  (:mod:`coverage.routing.osm_reader`) and the profile's access rules
  (:class:`~coverage.routing.speeds.AccessRules`: ``access=no``,
  ``motor_vehicle=no``, ``access=private``... keep cars out unless a more specific
  key lets them in); ways cut by a clipped extract are split at the missing nodes;
- **barriers** (:class:`~coverage.routing.speeds.BarrierRules`): a blocking
  barrier node (bollard, block, chain, jersey barrier...) is split into one dead
  end per road touching it, so that no route passes it; a passable one (gate,
  toll booth) and ``highway=traffic_signals`` give their node a delay, added to
  every move through it;
- **turn restrictions**: ``type=restriction`` relations that bind cars are
  matched to node sequences of the graph (via a node, or via ways) and stored
  with the network; :mod:`coverage.routing.turns` turns them into forbidden moves;
- **edge attributes** kept for the turn model: road class, OSM way id, and the
  direction of travel at both ends, measured over the first and last 15 m of the
  road's own geometry;
- **one-way rules** (as osmnx): ``oneway`` = ``yes``/``true``/``1`` (forward),
  ``-1``/``reverse`` (backward, also osmnx's ``T``/``F``), ``junction`` =
  ``roundabout`` (and ``circular``) imply one-way; ``oneway=no`` on a
  roundabout keeps it two-way; ``reversible`` and ``alternating`` count as
  two-way (open both ways, at different times). ``highway=motorway`` implies
  one-way only with ``motorway_implies_oneway=True`` (the OSM convention; off
  by default as in osmnx, because networks drawn as one two-way line per road,
  like the Gers numbered-road network, would lose a direction);
- **topology**: graph nodes are way ends and nodes shared by several ways (or
  repeated in one); other nodes are shape points whose length is counted but
  which are dropped, except that an edge longer than ``max_edge_m`` is split at
  shape points (greedily, the farthest one within ``max_edge_m``) so that
  snapping to the nearest node stays accurate on long rural roads; a closed
  way keeps one shape point so that it does not collapse into a self-loop;
- **lengths** are haversine distances on WGS84 coordinates (radius 6 371 009 m,
  as osmnx), multiplied by ``detour_factor``; **times** come from the speed
  profile (:mod:`coverage.routing.speeds`): limit × free-flow ratio of the class,
  untagged roads in built-up areas (road density) capped at the urban limit;
- **largest strongly connected component** only; what was dropped is reported;
- **coordinates** in EPSG:2154 when the network lies in metropolitan France,
  otherwise in the local UTM zone (unless ``crs=`` is given), in ``info.crs``.

The build report is ``network.info.report``:

- ``ways`` (OSM files): ``highway_ways``, ``drivable_ways``, ``not_drivable_ways``,
  ``dangling_refs``, ``ways_with_dangling_refs``, ``ways_split``,
  ``ways_dropped_dangling``, ``pieces``; ``header`` (``date``, ``generator``,
  ``bbox``) and ``source_date_origin``; ``graph`` instead for GraphML/osmnx;
- ``ways_used``, ``ways_by_class``, ``oneway_pieces``/``two_way_pieces``;
- ``max_edge_m``, ``shape_nodes_kept``, ``nodes_built``, ``edges_built``,
  ``self_loops_dropped``, ``parallel_edges_merged`` (the fastest kept);
- ``strong_components``, ``components_dropped``, ``nodes_dropped``,
  ``edges_dropped``, ``road_km`` and ``road_km_dropped`` (geodesic km of road
  centre line, each way stretch once, without the detour factor);
- ``maxspeed`` (``ways_tagged``, ``ways_unparsed``, ``unparsed_values``,
  ``unknown_classes``, ``built_up``), ``profile`` (name, file, SHA-256, class speeds,
  ratios, access, barrier and turn rules), ``ways_no_car_access``, ``barriers``
  (nodes by value, blocking, with a delay, traffic signals, nodes cut, road ends
  made), ``turn_restrictions`` (read, matched, skipped by reason, on the network),
  ``motorway_implies_oneway``, ``crs_choice``, ``build_s``;
- ``cache_file`` (``""`` without cache), ``cache_hit``, ``cache_rebuilt``
  (why a damaged cache file was rebuilt), ``download`` (online builds).

A network built from a file is
cached as ``.npz`` under ``coverage.settings.cache_root()/networks``, named by a
hash of the file's SHA-256, the profile file's content, the factors and the
options, so a second load only reads arrays.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import connected_components

from coverage import __version__
from coverage._cache import atomic_path, cache_key, file_sha256
from coverage.errors import ConfigError, NetworkError
from coverage.routing.graph import (
    NetworkInfo,
    RoadNetwork,
    TurnRestrictions,
    network_from_edges,
    road_class_code,
)
from coverage.routing.speeds import (
    DEFAULT_PROFILE,
    NO_LIMIT_VALUES,
    SpeedProfile,
    TurnCosts,
    check_factor,
    edge_seconds,
    load_speed_profile,
)
from coverage.settings import cache_root

if TYPE_CHECKING:
    import networkx as nx
    import shapely

CACHE_FORMAT_VERSION = 2
"""Bumped whenever the build or the cache layout changes (old cache files are then ignored)."""

DEFAULT_MAX_EDGE_M = 300.0
EARTH_RADIUS_M = 6_371_009.0
"""Mean Earth radius used for haversine lengths (the value osmnx uses)."""

FORMATS = ("osm_xml", "pbf", "graphml")

ONEWAY_FORWARD = frozenset({"yes", "true", "1", "F"})
ONEWAY_BACKWARD = frozenset({"-1", "reverse", "T"})
ONEWAY_NO = frozenset({"no", "false", "0"})
IMPLIED_ONEWAY_JUNCTIONS = frozenset({"roundabout", "circular"})

# Coarse outline of metropolitan France (mainland, lon/lat) and a box around Corsica: a
# network whose median node falls inside gets EPSG:2154, any other the local UTM zone.
# fmt: off
_FRANCE_MAINLAND = (
    (2.55, 51.09), (3.1, 50.78), (4.15, 50.28), (4.8, 50.15), (4.87, 49.8), (5.8, 49.55),
    (6.36, 49.47), (6.7, 49.2), (7.6, 49.05), (8.2, 48.97), (7.6, 47.6), (6.95, 47.45),
    (6.1, 46.6), (6.1, 46.25), (6.8, 46.4), (7.04, 45.93), (7.0, 44.8), (6.9, 44.4),
    (7.7, 44.15), (7.53, 43.78), (6.0, 42.9), (4.0, 43.2), (3.17, 42.43), (2.86, 42.46),
    (2.5, 42.34), (1.95, 42.42), (1.8, 42.6), (1.45, 42.66), (0.7, 42.85), (0.0, 42.68),
    (-0.7, 42.8), (-1.4, 43.05), (-1.79, 43.37), (-2.0, 43.4), (-1.6, 46.0), (-2.6, 47.0),
    (-5.2, 48.3), (-4.6, 48.9), (-1.95, 48.9), (-2.0, 49.75), (0.0, 49.6), (1.5, 50.3),
    (1.5, 50.95),
)
# fmt: on
_CORSICA_BOX = (8.5, 41.33, 9.6, 43.05)
_LEFT_HAND_BOXES = (
    (-10.7, 49.8, 1.9, 60.9),  # Great Britain and Ireland
    (14.1, 35.7, 14.7, 36.2),  # Malta
    (32.2, 34.5, 34.7, 35.8),  # Cyprus
)
"""Coarse boxes of the European countries that drive on the left (``left_hand_traffic = auto``)."""


@dataclass(frozen=True)
class BuildOptions:
    """Options of a network build, validated; part of the cache key.

    Attributes
    ----------
    profile
        The speed profile.
    detour_factor, calibration_factor, peak_factor
        Finite numbers > 0 (see :func:`coverage.routing.speeds.edge_seconds`).
    max_edge_m
        Longest edge when shape points allow a split; ``inf`` for no split.
    motorway_implies_oneway
        Treat untagged ``highway=motorway`` ways as one-way (OSM convention).
    crs
        CRS of node coordinates, or ``""`` to choose automatically.
    """

    profile: SpeedProfile
    detour_factor: float = 1.0
    calibration_factor: float = 1.0
    peak_factor: float = 1.0
    max_edge_m: float = DEFAULT_MAX_EDGE_M
    motorway_implies_oneway: bool = False
    crs: str = ""

    def key_parts(self) -> list[Any]:
        """Everything that changes the built network, for the cache key."""
        return [
            self.profile.sha256,
            self.detour_factor,
            self.calibration_factor,
            self.peak_factor,
            self.max_edge_m,
            self.motorway_implies_oneway,
            self.crs,
        ]


def build_options(
    *,
    profile: str | Path | SpeedProfile | None = DEFAULT_PROFILE,
    detour_factor: float = 1.0,
    calibration_factor: float = 1.0,
    peak_factor: float = 1.0,
    max_edge_m: float | None = DEFAULT_MAX_EDGE_M,
    motorway_implies_oneway: bool = False,
    crs: str | None = None,
) -> BuildOptions:
    """Check the build options and load the profile.

    Raises
    ------
    ConfigError
        Naming the parameter: a factor that is not a finite number > 0, a
        ``max_edge_m`` that is not > 0, an unknown profile or CRS.
    """
    prof = load_speed_profile(profile if profile is not None else DEFAULT_PROFILE)
    factors = {
        name: check_factor(name, value)
        for name, value in (
            ("detour_factor", detour_factor),
            ("calibration_factor", calibration_factor),
            ("peak_factor", peak_factor),
        )
    }
    if max_edge_m is None:
        max_edge = float("inf")
    else:
        if isinstance(max_edge_m, bool) or not isinstance(max_edge_m, int | float):
            raise ConfigError(f"max_edge_m doit être un nombre de mètres > 0, reçu {max_edge_m!r}")
        max_edge = float(max_edge_m)
        if np.isnan(max_edge) or max_edge <= 0:
            raise ConfigError(f"max_edge_m doit être un nombre de mètres > 0, reçu {max_edge_m!r}")
    crs_text = ""
    if crs:
        from pyproj import CRS
        from pyproj.exceptions import CRSError

        try:
            parsed = CRS.from_user_input(crs)
        except CRSError as exc:
            raise ConfigError(f"crs : système de coordonnées inconnu {crs!r} ({exc})") from None
        if not parsed.is_projected:
            raise ConfigError(
                f"crs : {crs!r} n'est pas un SCR projeté (métrique) ; utilisez par ex. EPSG:2154"
            )
        crs_text = str(crs)
    return BuildOptions(
        profile=prof,
        max_edge_m=max_edge,
        motorway_implies_oneway=bool(motorway_implies_oneway),
        crs=crs_text,
        **factors,
    )


# --------------------------------------------------------------------------------------
# public builders


def load_network(
    source: str | Path,
    *,
    format: str | None = None,
    profile: str | Path | SpeedProfile | None = DEFAULT_PROFILE,
    detour_factor: float = 1.0,
    calibration_factor: float = 1.0,
    peak_factor: float = 1.0,
    max_edge_m: float | None = DEFAULT_MAX_EDGE_M,
    motorway_implies_oneway: bool = False,
    crs: str | None = None,
    use_cache: bool = True,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> RoadNetwork:
    """Load a road network from a file: OSM XML, OSM PBF or GraphML.

    Parameters
    ----------
    source
        The file. Its format comes from ``format`` or its name (``.osm``,
        ``.osm.pbf``, ``.graphml``), else from its first bytes.
    format
        ``"osm_xml"``, ``"pbf"`` or ``"graphml"``.
    profile
        Speed profile: built-in name (``"france"``) or path of a TOML file.
    detour_factor
        Multiplies edge lengths (a network drawn with straight chords is too short).
    calibration_factor, peak_factor
        Multiply travel times.
    max_edge_m
        Split edges longer than this at shape points (``None``: never split).
    motorway_implies_oneway
        Treat ``highway=motorway`` ways without ``oneway`` as one-way (OSM
        files only: a GraphML graph already has its directions).
    crs
        CRS of node coordinates; default EPSG:2154 in metropolitan France, the
        local UTM zone elsewhere.
    use_cache
        Read and write the compact cache (``False``: always rebuild, write nothing).
    cache_dir
        Cache folder; default ``coverage.settings.cache_root()``.
    progress
        Show the build steps on stderr.

    Returns
    -------
    RoadNetwork
        ``info.report`` holds the build report, ``cache_file`` and ``cache_hit``.

    Raises
    ------
    NetworkError
        If the file is missing, empty, corrupt, or has no drivable way.
    ConfigError
        If an option is invalid (the message names it).
    """
    path = Path(source)
    fmt = _file_format(path, format)
    kwargs: dict[str, Any] = {
        "profile": profile,
        "detour_factor": detour_factor,
        "calibration_factor": calibration_factor,
        "peak_factor": peak_factor,
        "max_edge_m": max_edge_m,
        "crs": crs,
        "use_cache": use_cache,
        "cache_dir": cache_dir,
        "progress": progress,
    }
    if fmt == "graphml":
        return network_from_graphml(path, **kwargs)
    return network_from_osm_file(
        path, format=fmt, motorway_implies_oneway=motorway_implies_oneway, **kwargs
    )


def network_from_osm_file(
    path: str | Path,
    *,
    format: str | None = None,
    profile: str | Path | SpeedProfile | None = DEFAULT_PROFILE,
    detour_factor: float = 1.0,
    calibration_factor: float = 1.0,
    peak_factor: float = 1.0,
    max_edge_m: float | None = DEFAULT_MAX_EDGE_M,
    motorway_implies_oneway: bool = False,
    crs: str | None = None,
    use_cache: bool = True,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> RoadNetwork:
    """Build a network from an OSM XML or PBF file (read with pyosmium).

    Parameters are those of :func:`load_network`; ``format`` is ``"osm_xml"``
    or ``"pbf"`` (guessed when ``None``).

    Returns
    -------
    RoadNetwork

    Raises
    ------
    NetworkError
        If the file is missing, empty, corrupt, or has no drivable way.
    """
    from coverage.routing.osm_reader import osm_file_format, read_osm_ways

    path = Path(path).expanduser().absolute()
    _check_file(path)
    fmt = format or osm_file_format(path)
    if fmt not in ("osm_xml", "pbf"):
        raise NetworkError(f"{path} : network_from_osm_file lit 'osm_xml' ou 'pbf', pas {fmt!r}")
    opts = build_options(
        profile=profile,
        detour_factor=detour_factor,
        calibration_factor=calibration_factor,
        peak_factor=peak_factor,
        max_edge_m=max_edge_m,
        motorway_implies_oneway=motorway_implies_oneway,
        crs=crs,
    )

    def build(stages: _Stages, checksum: str) -> RoadNetwork:
        stages(f"Lecture de {path.name}")
        osm = read_osm_ways(path, format=fmt)
        ways = _ways_from_osm(osm, opts)
        date = osm.header.get("date") or ""
        date_origin = "osm header" if date else "file modification time"
        if not date:
            date = _file_date(path)
        report = {
            "ways": dict(osm.stats),
            "source_date_origin": date_origin,
            "header": osm.header,
        }
        return _build(
            ways,
            opts,
            stages=stages,
            info=_info(str(path), fmt, checksum, date, opts),
            report=report,
        )

    return _with_cache(path, fmt, opts, build, use_cache, cache_dir, progress)


def network_from_graphml(
    path: str | Path,
    *,
    profile: str | Path | SpeedProfile | None = DEFAULT_PROFILE,
    detour_factor: float = 1.0,
    calibration_factor: float = 1.0,
    peak_factor: float = 1.0,
    max_edge_m: float | None = DEFAULT_MAX_EDGE_M,
    crs: str | None = None,
    use_cache: bool = True,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> RoadNetwork:
    """Build a network from a GraphML file saved by osmnx (``osmnx.save_graphml``).

    Parameters are those of :func:`load_network`. The graph is read with
    ``osmnx.load_graphml``, simplified if it is not already, and converted as
    :func:`network_from_graph` does.

    Raises
    ------
    NetworkError
        If the file is missing, empty or not an osmnx GraphML graph.
    """
    path = Path(path).expanduser().absolute()
    _check_file(path)
    opts = build_options(
        profile=profile,
        detour_factor=detour_factor,
        calibration_factor=calibration_factor,
        peak_factor=peak_factor,
        max_edge_m=max_edge_m,
        crs=crs,
    )

    def build(stages: _Stages, checksum: str) -> RoadNetwork:
        stages(f"Lecture de {path.name} (GraphML)")
        graph = _read_graphml(path)
        info = _info(str(path), "graphml", checksum, _file_date(path), opts)
        return _network_from_nx(graph, opts, info=info, stages=stages, source=path)

    return _with_cache(path, "graphml", opts, build, use_cache, cache_dir, progress)


def network_from_graph(
    graph: nx.MultiDiGraph,
    *,
    source: str = "osmnx graph",
    source_kind: str = "osmnx",
    source_date: str = "",
    profile: str | Path | SpeedProfile | None = DEFAULT_PROFILE,
    detour_factor: float = 1.0,
    calibration_factor: float = 1.0,
    peak_factor: float = 1.0,
    max_edge_m: float | None = DEFAULT_MAX_EDGE_M,
    crs: str | None = None,
    progress: bool = False,
) -> RoadNetwork:
    """Build a network from an osmnx ``MultiDiGraph`` in memory (not cached).

    Edges ``u -> v`` and ``v -> u`` with the same geometry form one two-way
    road; an edge without its reverse is one-way. Edge shape points come from
    the ``geometry`` attribute; lengths are recomputed from coordinates;
    ``highway`` and ``maxspeed`` (lists allowed, as osmnx makes when it merges
    ways) drive speeds. The graph already says which directions exist, so
    no one-way rule applies.

    Returns
    -------
    RoadNetwork

    Raises
    ------
    NetworkError
        If the graph has no edge or lacks node coordinates.
    """
    opts = build_options(
        profile=profile,
        detour_factor=detour_factor,
        calibration_factor=calibration_factor,
        peak_factor=peak_factor,
        max_edge_m=max_edge_m,
        crs=crs,
    )
    info = _info(source, source_kind, "", source_date, opts)
    with _Stages(progress) as stages:
        return _network_from_nx(graph, opts, info=info, stages=stages, source=source)


def network_from_polygon(
    polygon_wgs84: shapely.Geometry,
    *,
    buffer_m: float = 15_000.0,
    graphml_path: str | Path | None = None,
    profile: str | Path | SpeedProfile | None = DEFAULT_PROFILE,
    detour_factor: float = 1.0,
    calibration_factor: float = 1.0,
    peak_factor: float = 1.0,
    max_edge_m: float | None = DEFAULT_MAX_EDGE_M,
    crs: str | None = None,
    progress: bool = False,
    overpass_url: str | None = None,
) -> RoadNetwork:
    """Download the drivable OSM network of a polygon plus a buffer (osmnx, online).

    Calls ``osmnx.graph_from_polygon(..., network_type="drive", simplify=True,
    retain_all=True, truncate_by_edge=True)`` on the polygon buffered by
    ``buffer_m`` metres (so that routes leaving and re-entering the territory,
    and services just across its border, are kept), then converts the graph
    as :func:`network_from_graph` does. The download goes through
    :func:`coverage.routing.osm_download.download_drive_graph`: osmnx's answer
    cache is ``cache_root()/osmnx`` (nothing is written in the working
    directory), the server and its rate-limit check come from
    ``COVERAGE_OVERPASS_URL`` and ``COVERAGE_OVERPASS_RATE_LIMIT``.

    Parameters
    ----------
    polygon_wgs84
        The territory outline, (Multi)Polygon in lon/lat (EPSG:4326).
    buffer_m
        Buffer around the outline, metres (>= 0).
    graphml_path
        If given, the downloaded graph is also saved there as GraphML (its
        SHA-256 becomes the network's checksum), to be reloaded offline with
        :func:`network_from_graphml`.
    profile, detour_factor, calibration_factor, peak_factor, max_edge_m, crs, progress
        As for :func:`load_network`.
    overpass_url
        Overpass API base URL (without ``/interpreter``); default
        ``COVERAGE_OVERPASS_URL``, else ``https://overpass-api.de/api``.

    Returns
    -------
    RoadNetwork

    Raises
    ------
    OfflineError
        If the Overpass server cannot be reached (one line).
    NetworkError
        If the server answers with no drivable way.
    ConfigError
        If the polygon is not a lon/lat polygon or an option is invalid.
    """
    import shapely

    opts = build_options(
        profile=profile,
        detour_factor=detour_factor,
        calibration_factor=calibration_factor,
        peak_factor=peak_factor,
        max_edge_m=max_edge_m,
        crs=crs,
    )
    if not isinstance(polygon_wgs84, shapely.Polygon | shapely.MultiPolygon):
        raise ConfigError(
            f"polygon_wgs84 doit être un Polygon ou MultiPolygon shapely, reçu "
            f"{type(polygon_wgs84).__name__}"
        )
    if polygon_wgs84.is_empty:
        raise ConfigError("polygon_wgs84 est vide")
    xmin, ymin, xmax, ymax = polygon_wgs84.bounds
    if xmin < -180 or xmax > 180 or ymin < -90 or ymax > 90:
        raise ConfigError(
            "polygon_wgs84 doit être en degrés lon/lat (EPSG:4326) ; ses limites "
            f"{tuple(float(b) for b in polygon_wgs84.bounds)} semblent projetées : "
            "utilisez .to_crs('EPSG:4326')"
        )
    buffer = check_factor("buffer_m", buffer_m) if buffer_m != 0 else 0.0
    centre = polygon_wgs84.representative_point()
    local_crs = opts.crs or choose_crs(np.array([centre.x]), np.array([centre.y]))
    area = _buffer_wgs84(polygon_wgs84, buffer, local_crs)

    from coverage.routing.osm_download import download_drive_graph

    with _Stages(progress) as stages:
        stages("Téléchargement du réseau OSM (Overpass, osmnx)")
        tmp = atomic_path(Path(graphml_path)) if graphml_path is not None else None
        try:
            download = download_drive_graph(
                area,
                overpass_url=overpass_url,
                graphml_path=tmp,
                hint="utilisez un fichier OSM local ou un GraphML déjà téléchargé (load_network)",
            )
            if tmp is not None:
                os.replace(tmp, graphml_path)
        except NetworkError as exc:
            raise NetworkError(f"{exc}, le polygone élargi de {buffer:g} m") from None
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
        graph = download.graph
        checksum = ""
        source = f"osmnx:graph_from_polygon ({download.overpass_url})"
        if graphml_path is not None:
            checksum = file_sha256(graphml_path)
            source = str(graphml_path)
        info = _info(
            source, "osmnx", checksum, datetime.now(UTC).isoformat(timespec="seconds"), opts
        )
        net = _network_from_nx(graph, opts, info=info, stages=stages, source=source)
    report = dict(net.info.report)
    report["download"] = {
        "overpass_url": download.overpass_url,
        "buffer_m": buffer,
        "polygon_bounds": [round(v, 6) for v in polygon_wgs84.bounds],
    }
    return dataclasses.replace(net, info=dataclasses.replace(net.info, report=report))


def choose_crs(lon: np.ndarray, lat: np.ndarray) -> str:
    """Return the CRS for nodes at ``lon``/``lat``: EPSG:2154 in metropolitan France, else UTM.

    The median node decides: inside a coarse outline of metropolitan France
    (mainland and Corsica) it is Lambert-93, elsewhere the WGS84 UTM zone that
    contains it (``EPSG:326xx`` north, ``EPSG:327xx`` south).
    """
    lon0 = float(np.median(lon))
    lat0 = float(np.median(lat))
    if _in_france(lon0, lat0):
        return "EPSG:2154"
    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_utm_crs_info

    infos = query_utm_crs_info(
        datum_name="WGS 84",
        area_of_interest=AreaOfInterest(lon0, lat0, lon0, lat0),
    )
    if not infos:
        raise NetworkError(f"aucune zone UTM trouvée pour lon {lon0:.3f}, lat {lat0:.3f}")
    return f"{infos[0].auth_name}:{infos[0].code}"


def network_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """Return the folder where compact networks are cached."""
    return (Path(cache_dir) if cache_dir is not None else cache_root()) / "networks"


# --------------------------------------------------------------------------------------
# ways: a flat representation shared by the OSM and the graph paths


@dataclass
class _Ways:
    ptr: np.ndarray
    node_ref: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    highway: list[str]
    maxspeed_fwd: list[str | None]
    maxspeed_bwd: list[str | None]
    direction: np.ndarray  # int8: 0 both ways, 1 along the node order, -1 against it
    report: dict[str, Any]
    way_id: np.ndarray | None = None  # int64 OSM id of each way (piece); None: unknown
    node_tags: dict[int, dict[str, str]] = dataclasses.field(default_factory=dict)
    restrictions: list[Any] = dataclasses.field(default_factory=list)


def oneway_direction(tags: Any, *, motorway_implies_oneway: bool = False) -> int:
    """Return the travel direction of a way: 0 both, 1 along its nodes, -1 against.

    See the module docstring for the rules.
    """
    oneway = tags.get("oneway")
    if oneway is not None:
        if oneway in ONEWAY_FORWARD:
            return 1
        if oneway in ONEWAY_BACKWARD:
            return -1
        if oneway in ONEWAY_NO:
            return 0
    if tags.get("junction") in IMPLIED_ONEWAY_JUNCTIONS:
        return 1
    if motorway_implies_oneway and tags.get("highway") == "motorway" and oneway is None:
        return 1
    return 0


def _ways_from_osm(osm: Any, opts: BuildOptions) -> _Ways:
    allowed = np.fromiter(
        (opts.profile.access.allows(tags) for tags in osm.tags), dtype=bool, count=osm.n_ways
    )
    keep_ways = np.flatnonzero(allowed)
    lengths = np.diff(osm.ptr)
    ref_mask = np.repeat(allowed, lengths)
    ptr = np.zeros(keep_ways.size + 1, dtype=np.int64)
    np.cumsum(lengths[keep_ways], out=ptr[1:])
    tags_kept = [osm.tags[i] for i in keep_ways]
    directions = np.zeros(keep_ways.size, dtype=np.int8)
    highway: list[str] = []
    fwd: list[str | None] = []
    bwd: list[str | None] = []
    for i, tags in enumerate(tags_kept):
        directions[i] = oneway_direction(tags, motorway_implies_oneway=opts.motorway_implies_oneway)
        highway.append(tags.get("highway", ""))
        base = tags.get("maxspeed")
        fwd.append(tags.get("maxspeed:forward") or base)
        bwd.append(tags.get("maxspeed:backward") or base)
    counts = Counter(int(d) for d in directions)
    report = {
        "oneway_pieces": counts.get(1, 0) + counts.get(-1, 0),
        "two_way_pieces": counts.get(0, 0),
        "ways_no_car_access": int((~allowed).sum()),
    }
    return _Ways(
        ptr=ptr,
        node_ref=osm.node_ref[ref_mask],
        lon=osm.lon[ref_mask],
        lat=osm.lat[ref_mask],
        highway=highway,
        maxspeed_fwd=fwd,
        maxspeed_bwd=bwd,
        direction=directions,
        report=report,
        way_id=osm.way_id[keep_ways],
        node_tags=osm.node_tags,
        restrictions=list(osm.restrictions),
    )


def _network_from_nx(
    graph: nx.MultiDiGraph,
    opts: BuildOptions,
    *,
    info: NetworkInfo,
    stages: _Stages,
    source: str | Path,
) -> RoadNetwork:
    stages("Conversion du graphe osmnx")
    if graph.number_of_edges() == 0:
        raise NetworkError(f"{source} : le graphe n'a aucun arc (aucune route carrossable)")
    if not graph.graph.get("simplified"):
        import osmnx

        stages("Simplification du graphe (osmnx.simplify_graph)")
        graph = osmnx.simplify_graph(graph, edge_attrs_differ=["highway", "maxspeed", "oneway"])
    ways = _ways_from_nx(graph, source=source, access=opts.profile.access)
    return _build(ways, opts, stages=stages, info=info, report={"graph": ways.report})


def _ways_from_nx(graph: nx.MultiDiGraph, *, source: str | Path, access: Any) -> _Ways:
    node_lon: dict[Any, float] = {}
    node_lat: dict[Any, float] = {}
    try:
        for node, data in graph.nodes(data=True):
            node_lon[node] = float(data["x"])
            node_lat[node] = float(data["y"])
    except (KeyError, TypeError, ValueError):
        raise NetworkError(
            f"{source} : les nœuds du graphe demandent des attributs numériques 'x' et 'y'"
        ) from None
    to_lonlat = _to_lonlat_transformer(graph.graph.get("crs"), source)
    ids = list(node_lon)
    xs = np.fromiter((node_lon[n] for n in ids), dtype=np.float64, count=len(ids))
    ys = np.fromiter((node_lat[n] for n in ids), dtype=np.float64, count=len(ids))
    if to_lonlat is not None:
        xs, ys = to_lonlat.transform(xs, ys)
    node_xy = {n: (float(x), float(y)) for n, x, y in zip(ids, xs, ys, strict=True)}
    node_num = _numeric_node_ids(ids)
    node_tags: dict[int, dict[str, str]] = {}
    for node, data in graph.nodes(data=True):
        tags = {
            key: str(_first(data.get(key)))
            for key in ("highway", "barrier", "access", "motor_vehicle", "motorcar", "vehicle")
            if data.get(key) is not None
        }
        if tags.get("highway") == "traffic_signals" or "barrier" in tags:
            node_tags[node_num[node]] = tags

    # group u->v and v->u edges with the same geometry into one two-way road
    groups: dict[tuple, dict[int, list[tuple]]] = {}
    no_access = 0
    for u, v, data in graph.edges(data=True):
        edge_access = {k: _first(data.get(k)) for k in access.keys if data.get(k) is not None}
        if edge_access and not access.allows(edge_access):
            no_access += 1
            continue
        coords = _edge_coords(data, u, v, node_xy, to_lonlat)
        if node_num[u] != node_num[v]:
            lo_first = node_num[u] < node_num[v]
        else:  # a ring: the orientation with the smaller coordinate sequence is canonical
            lo_first = coords <= coords[::-1]
        canonical = coords if lo_first else coords[::-1]
        key = (
            min(node_num[u], node_num[v]),
            max(node_num[u], node_num[v]),
            tuple((round(x, 6), round(y, 6)) for x, y in canonical[1:-1]),
        )
        side = 1 if lo_first else -1
        groups.setdefault(key, {1: [], -1: []})[side].append((canonical, data))

    refs: list[int] = []
    lons: list[float] = []
    lats: list[float] = []
    lengths: list[int] = []
    highway: list[str] = []
    fwd: list[str | None] = []
    bwd: list[str | None] = []
    direction: list[int] = []
    next_shape_id = -1
    n_two_way = n_one_way = 0
    for (lo, hi, _), sides in groups.items():
        forward, backward = sides[1], sides[-1]
        pairs = min(len(forward), len(backward))
        roads: list[tuple[list, dict, dict | None, int]] = []
        for i in range(pairs):
            roads.append((forward[i][0], forward[i][1], backward[i][1], 0))
        roads += [(c, d, None, 1) for c, d in forward[pairs:]]
        roads += [(c, d, None, -1) for c, d in backward[pairs:]]
        for coords, data, other, way_dir in roads:
            if way_dir == 0:
                n_two_way += 1
            else:
                n_one_way += 1
            ids_ = [lo]
            for _ in coords[1:-1]:
                ids_.append(next_shape_id)
                next_shape_id -= 1
            ids_.append(hi)
            refs.extend(ids_)
            lons.extend(c[0] for c in coords)
            lats.extend(c[1] for c in coords)
            lengths.append(len(coords))
            highway.append(_first(data.get("highway")) or "")
            speed_a = _maxspeed_text(data.get("maxspeed"))
            speed_b = _maxspeed_text(other.get("maxspeed")) if other is not None else speed_a
            # the canonical orientation runs lo -> hi: "forward" speeds are the lo -> hi edge's
            if way_dir == -1:
                fwd.append(speed_a)
                bwd.append(speed_a)
            else:
                fwd.append(speed_a)
                bwd.append(speed_b)
            direction.append(way_dir)
    ptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=ptr[1:])
    return _Ways(
        ptr=ptr,
        node_ref=np.asarray(refs, dtype=np.int64),
        lon=np.asarray(lons, dtype=np.float64),
        lat=np.asarray(lats, dtype=np.float64),
        highway=highway,
        maxspeed_fwd=fwd,
        maxspeed_bwd=bwd,
        direction=np.asarray(direction, dtype=np.int8),
        report={
            "graph_nodes": graph.number_of_nodes(),
            "graph_edges": graph.number_of_edges(),
            "two_way_roads": n_two_way,
            "one_way_roads": n_one_way,
            "edges_no_car_access": no_access,
        },
        node_tags=node_tags,
    )


def _numeric_node_ids(ids: Sequence[Any]) -> dict[Any, int]:
    try:
        nums = {n: int(n) for n in ids}
    except (TypeError, ValueError):
        return {n: i for i, n in enumerate(ids)}
    if any(v < 0 for v in nums.values()):
        return {n: i for i, n in enumerate(ids)}
    return nums


def _edge_coords(
    data: dict, u: Any, v: Any, node_xy: dict[Any, tuple[float, float]], to_lonlat: Any
) -> list[tuple[float, float]]:
    start, end = node_xy[u], node_xy[v]
    geom = data.get("geometry")
    if geom is None or not hasattr(geom, "coords"):
        return [start, end]
    pts = np.asarray(geom.coords, dtype=np.float64)[:, :2]
    if to_lonlat is not None:
        x, y = to_lonlat.transform(pts[:, 0], pts[:, 1])
        pts = np.column_stack([x, y])
    if len(pts) < 2:
        return [start, end]
    d_fwd = abs(pts[0, 0] - start[0]) + abs(pts[0, 1] - start[1])
    d_rev = abs(pts[-1, 0] - start[0]) + abs(pts[-1, 1] - start[1])
    if d_rev < d_fwd:
        pts = pts[::-1]
    inner = [(float(x), float(y)) for x, y in pts[1:-1]]
    return [start, *inner, end]


def _first(value: Any) -> str | None:
    if isinstance(value, list | tuple):
        return str(value[0]) if value else None
    if isinstance(value, str) and value.startswith("["):
        parts = _list_text(value)
        return parts[0] if parts else None
    return None if value is None else str(value)


def _maxspeed_text(value: Any) -> str | None:
    """osmnx keeps a list when merged ways differ: join it as an OSM ``a;b`` list."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    text = str(value)
    if text.startswith("["):
        return ";".join(_list_text(text))
    return text


def _list_text(text: str) -> list[str]:
    return [p.strip().strip("'\"") for p in text.strip("[]").split(",") if p.strip()]


def _to_lonlat_transformer(graph_crs: Any, source: str | Path) -> Any:
    if graph_crs is None:
        return None
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_user_input(graph_crs)
    except CRSError:
        raise NetworkError(f"{source} : SCR du graphe inconnu {graph_crs!r}") from None
    if crs.is_geographic and crs.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        return None
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


# --------------------------------------------------------------------------------------
# the core build: ways -> topology -> speeds -> largest SCC -> RoadNetwork


def _build(
    ways: _Ways,
    opts: BuildOptions,
    *,
    stages: _Stages,
    info: NetworkInfo,
    report: dict[str, Any],
) -> RoadNetwork:
    t0 = time.perf_counter()
    stages("Construction du graphe")
    profile = opts.profile
    nodes_seen = np.unique(ways.node_ref)
    judged = _judge_nodes(ways.node_tags, nodes_seen, profile)
    via_ids = np.array([r.via_node for r in ways.restrictions if r.via_node >= 0], dtype=np.int64)
    force_keep = np.unique(np.concatenate([judged["blocking"], judged["delay_ids"], via_ids]))
    topo = _topology(ways, opts.max_edge_m, force_keep)
    n_nodes = topo["node_id"].shape[0]
    way = topo["edge_way"]
    length = topo["edge_length_m"]

    stages("Restrictions de tourner et barrières")
    sequences, only, relation_ids, restriction_report = _map_restrictions(ways, topo)
    blocking = np.isin(topo["node_id"], judged["blocking"])
    sequences, only, relation_ids, dropped_barrier = _drop_through(
        sequences, only, relation_ids, blocking
    )
    restriction_report["dropped_at_barrier"] = dropped_barrier
    node_delay = np.zeros(n_nodes, dtype=np.float64)
    if judged["delay_ids"].size:
        pos = np.searchsorted(judged["delay_ids"], topo["node_id"])
        pos = np.minimum(pos, judged["delay_ids"].size - 1)
        hit = judged["delay_ids"][pos] == topo["node_id"]
        node_delay[hit] = judged["delay_s"][pos[hit]]
    topo, n_split = _split_blocking_nodes(topo, blocking)
    n_nodes = topo["node_id"].shape[0]
    node_delay = np.concatenate([node_delay, np.zeros(n_nodes - node_delay.size)])

    stages("Vitesses")
    limits = _way_limits(ways, profile)
    speed_report = limits["report"]
    built_up = np.zeros(way.size, dtype=bool)
    if profile.built_up.enabled:
        density = _road_density(topo, profile.built_up)
        built_up = density >= profile.built_up.min_road_km_per_km2
    cap = profile.built_up.limit_kph
    direction = ways.direction[way]
    fwd_mask = direction >= 0
    bwd_mask = direction <= 0
    tail = np.concatenate([topo["edge_a"][fwd_mask], topo["edge_b"][bwd_mask]])
    head = np.concatenate([topo["edge_b"][fwd_mask], topo["edge_a"][bwd_mask]])
    e_len = np.concatenate([length[fwd_mask], length[bwd_mask]])
    limit_f = limits["limit_fwd"][way]
    limit_f = np.where(built_up & ~limits["tagged_fwd"][way], np.minimum(limit_f, cap), limit_f)
    limit_b = limits["limit_bwd"][way]
    limit_b = np.where(built_up & ~limits["tagged_bwd"][way], np.minimum(limit_b, cap), limit_b)
    ratio = limits["ratio"][way]
    e_kph = np.concatenate([(ratio * limit_f)[fwd_mask], (ratio * limit_b)[bwd_mask]])
    speed_report["built_up"] = {
        "rule": profile.built_up.describe(),
        "stretches": int(built_up.sum()),
        "km": round(float(topo["edge_length_m"][built_up].sum()) / 1000.0, 3),
        "stretches_slowed": int(
            (
                built_up
                & (
                    (~limits["tagged_fwd"][way] & (limits["limit_fwd"][way] > cap))
                    | (~limits["tagged_bwd"][way] & (limits["limit_bwd"][way] > cap))
                )
            ).sum()
        ),
    }
    e_way = np.concatenate([way[fwd_mask], way[bwd_mask]])
    bear_a, bear_b = topo["bearing_a"], topo["bearing_b"]
    e_out = np.concatenate([bear_a[fwd_mask], (bear_b[bwd_mask] + 180.0) % 360.0])
    e_in = np.concatenate([bear_b[fwd_mask], (bear_a[bwd_mask] + 180.0) % 360.0])
    class_codes = np.array([road_class_code(h) for h in ways.highway], dtype=np.int8)
    e_class = class_codes[e_way] if e_way.size else np.zeros(0, dtype=np.int8)
    way_ids = ways.way_id if ways.way_id is not None else np.full(len(ways.highway), -1)
    e_way_id = np.asarray(way_ids, dtype=np.int64)[e_way]
    loops = tail == head
    n_loops = int(loops.sum())
    alive = ~loops
    tail, head, e_len, e_kph = tail[alive], head[alive], e_len[alive], e_kph[alive]
    e_out, e_in, e_class, e_way_id = e_out[alive], e_in[alive], e_class[alive], e_way_id[alive]
    seconds = edge_seconds(
        e_len,
        e_kph,
        detour_factor=opts.detour_factor,
        calibration_factor=opts.calibration_factor,
        peak_factor=opts.peak_factor,
    )

    stages("Plus grande composante fortement connexe")
    if tail.size == 0:
        raise NetworkError(
            f"{info.source} : les voies carrossables ne forment aucun arc entre deux nœuds"
        )
    graph = scipy.sparse.csr_matrix((np.ones(tail.size), (tail, head)), shape=(n_nodes, n_nodes))
    n_comp, labels = connected_components(graph, directed=True, connection="strong")
    sizes = np.bincount(labels)
    big = int(np.argmax(sizes))
    keep_node = labels == big
    keep_edge = keep_node[tail] & keep_node[head]
    remap = np.full(n_nodes, -1, dtype=np.int64)
    remap[keep_node] = np.arange(int(keep_node.sum()))

    crs = opts.crs or choose_crs(topo["node_lon"][keep_node], topo["node_lat"][keep_node])
    from pyproj import Transformer

    transformer = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = transformer.transform(topo["node_lon"][keep_node], topo["node_lat"][keep_node])

    kt, kh = remap[tail[keep_edge]], remap[head[keep_edge]]
    k_len = e_len[keep_edge]
    stretch_kept = keep_node[topo["edge_a"]] & keep_node[topo["edge_b"]]
    road_km = _road_km(topo["edge_a"], topo["edge_b"], topo["edge_length_m"], stretch_kept)
    road_km_dropped = _road_km(topo["edge_a"], topo["edge_b"], topo["edge_length_m"], ~stretch_kept)
    kept_sequences: list[list[int]] = []
    kept_only: list[bool] = []
    kept_ids: list[int] = []
    for seq, flag, rid in zip(sequences, only, relation_ids, strict=True):
        mapped = remap[np.asarray(seq, dtype=np.int64)]
        if (mapped >= 0).all():
            kept_sequences.append(mapped.tolist())
            kept_only.append(flag)
            kept_ids.append(rid)
    restriction_report["outside_kept_component"] = len(sequences) - len(kept_sequences)
    restriction_report["on_network"] = len(kept_sequences)
    full_report: dict[str, Any] = dict(report)
    full_report.update(
        {
            "ways_used": len(ways.highway),
            "ways_by_class": dict(Counter(ways.highway).most_common()),
            **ways.report,
            "max_edge_m": None if np.isinf(opts.max_edge_m) else opts.max_edge_m,
            "shape_nodes_kept": topo["shape_nodes_kept"],
            "nodes_built": n_nodes,
            "edges_built": int(tail.size),
            "self_loops_dropped": n_loops,
            "strong_components": int(n_comp),
            "components_dropped": int(n_comp - 1),
            "nodes_dropped": int((~keep_node).sum()),
            "edges_dropped": int((~keep_edge).sum()),
            "road_km": round(road_km, 3),
            "road_km_dropped": round(road_km_dropped, 3),
            "maxspeed": speed_report,
            "barriers": {
                **judged["report"],
                "nodes_cut": int(blocking.sum()),
                "road_ends_made": n_split,
            },
            "turn_restrictions": restriction_report,
            "motorway_implies_oneway": opts.motorway_implies_oneway,
            "crs_choice": "given" if opts.crs else "automatic",
            "profile": profile.describe(),
        }
    )
    net = network_from_edges(
        kt,
        kh,
        seconds[keep_edge],
        k_len * opts.detour_factor,
        np.asarray(x, dtype=np.float64),
        np.asarray(y, dtype=np.float64),
        topo["node_id"][keep_node],
        info=dataclasses.replace(info, crs=crs),
        edge_class=e_class[keep_edge],
        edge_way_id=e_way_id[keep_edge],
        edge_bearing_out=e_out[keep_edge],
        edge_bearing_in=e_in[keep_edge],
        node_delay_s=node_delay[keep_node],
        restrictions=TurnRestrictions.from_sequences(kept_sequences, kept_only, kept_ids),
        turn_costs=_resolved_turns(
            profile, topo["node_lon"][keep_node], topo["node_lat"][keep_node]
        ),
    )
    full_report["parallel_edges_merged"] = int(keep_edge.sum()) - net.n_edges
    full_report["build_s"] = round(time.perf_counter() - t0, 3)
    return dataclasses.replace(net, info=dataclasses.replace(net.info, report=full_report))


def _resolved_turns(profile: SpeedProfile, lon: np.ndarray, lat: np.ndarray) -> TurnCosts:
    """The profile's turn costs, with ``left_hand_traffic = auto`` decided by location."""
    turns = profile.turns
    if turns.left_hand_traffic is not None:
        return turns
    lon0, lat0 = (float(np.median(lon)), float(np.median(lat))) if lon.size else (0.0, 0.0)
    left = any(x0 <= lon0 <= x1 and y0 <= lat0 <= y1 for x0, y0, x1, y1 in _LEFT_HAND_BOXES)
    return dataclasses.replace(turns, left_hand_traffic=left)


def _judge_nodes(
    node_tags: dict[int, dict[str, str]], nodes_seen: np.ndarray, profile: SpeedProfile
) -> dict[str, Any]:
    """Barrier and traffic-signal nodes on the drivable ways, as the profile judges them.

    Returns the OSM ids of blocking nodes, of nodes with a delay (and the delays, sorted by
    id), and the counts for the build report.
    """
    blocking: list[int] = []
    delay_ids: list[int] = []
    delays: list[float] = []
    by_value: Counter[str] = Counter()
    blocked_by_value: Counter[str] = Counter()
    signals = 0
    for osm_id in sorted(node_tags):
        pos = np.searchsorted(nodes_seen, osm_id)
        if pos >= nodes_seen.size or nodes_seen[pos] != osm_id:
            continue  # not on a drivable way
        tags = node_tags[osm_id]
        delay = 0.0
        if "barrier" in tags:
            value = str(tags["barrier"]).lower()
            by_value[value] += 1
            blocks, barrier_delay = profile.barriers.judge(tags, profile.access)
            if blocks:
                blocked_by_value[value] += 1
                blocking.append(osm_id)
                continue
            delay += barrier_delay
        if tags.get("highway") == "traffic_signals":
            signals += 1
            delay += profile.turns.traffic_signals_s
        if delay > 0:
            delay_ids.append(osm_id)
            delays.append(delay)
    return {
        "blocking": np.asarray(blocking, dtype=np.int64),
        "delay_ids": np.asarray(delay_ids, dtype=np.int64),
        "delay_s": np.asarray(delays, dtype=np.float64),
        "report": {
            "barrier_nodes": int(sum(by_value.values())),
            "by_value": dict(by_value.most_common()),
            "blocking": len(blocking),
            "blocking_by_value": dict(blocked_by_value.most_common()),
            "with_delay": len(delay_ids),
            "traffic_signals": signals,
        },
    }


def _split_blocking_nodes(topo: dict[str, Any], blocking: np.ndarray) -> tuple[dict, int]:
    """Give every road end at a blocking barrier its own node: the road is cut there.

    The barrier's own node keeps no edge (and is dropped with the small components);
    each stretch touching it ends at a copy, a dead end where a car may turn back.
    """
    if not blocking.any():
        return topo, 0
    n = topo["node_id"].shape[0]
    edge_a, edge_b = topo["edge_a"].copy(), topo["edge_b"].copy()
    at_a = np.flatnonzero(blocking[edge_a])
    at_b = np.flatnonzero(blocking[edge_b])
    originals = np.concatenate([edge_a[at_a], edge_b[at_b]])
    copies = n + np.arange(originals.size)
    edge_a[at_a] = copies[: at_a.size]
    edge_b[at_b] = copies[at_a.size :]
    out = dict(topo)
    out["edge_a"], out["edge_b"] = edge_a, edge_b
    for key in ("node_id", "node_lon", "node_lat"):
        out[key] = np.concatenate([topo[key], topo[key][originals]])
    return out, int(originals.size)


def _drop_through(
    sequences: list[list[int]], only: list[bool], relation_ids: list[int], blocking: np.ndarray
) -> tuple[list[list[int]], list[bool], list[int], int]:
    """Leave out restrictions through a blocking barrier (the barrier already forbids them)."""
    kept = [
        i for i, seq in enumerate(sequences) if not blocking[np.asarray(seq, dtype=np.int64)].any()
    ]
    return (
        [sequences[i] for i in kept],
        [only[i] for i in kept],
        [relation_ids[i] for i in kept],
        len(sequences) - len(kept),
    )


_TURN_WORDS = (("u_turn", "u_turn"), ("left", "left"), ("right", "right"), ("straight", "straight"))


def _map_restrictions(
    ways: _Ways, topo: dict[str, Any]
) -> tuple[list[list[int]], list[bool], list[int], dict[str, Any]]:
    """Match OSM turn restrictions to node sequences of the graph being built.

    A restriction via a node becomes ``[a, v, b]``: ``a`` the graph node next to the via
    node ``v`` along the ``from`` way, ``b`` the one next to it along the ``to`` way. When
    a way passes through ``v`` (both neighbours qualify), the pair whose turn matches the
    restriction's word (``left``, ``right``, ``straight``, ``u_turn``) is kept, and pairs
    against a one-way are left out. A restriction via ways follows the via ways from the
    node they share with the ``from`` way to the node they share with the ``to`` way.

    Returns the sequences (graph node indices), the ``only_*`` flags, the relation ids and
    a report (read, matched, skipped by reason).
    """
    skipped: Counter[str] = Counter()
    out_seq: list[list[int]] = []
    out_only: list[bool] = []
    out_ids: list[int] = []
    report: dict[str, Any] = {"read": len(ways.restrictions)}
    if not ways.restrictions or ways.way_id is None:
        report.update({"matched": 0, "skipped": {}})
        return out_seq, out_only, out_ids, report
    # the graph nodes of every way piece, in order, and its direction
    pieces: dict[int, list[tuple[list[int], int]]] = {}
    edge_way = topo["edge_way"]
    if edge_way.size:
        bounds = np.flatnonzero(np.diff(edge_way)) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [edge_way.size]])
        for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
            piece = int(edge_way[lo])
            seq = [int(topo["edge_a"][lo]), *topo["edge_b"][lo:hi].tolist()]
            pieces.setdefault(int(ways.way_id[piece]), []).append((seq, int(ways.direction[piece])))
    node_ids = topo["node_id"]
    lon, lat = topo["node_lon"], topo["node_lat"]

    def graph_node(osm_id: int) -> int:
        pos = int(np.searchsorted(node_ids, osm_id))
        return pos if pos < node_ids.size and node_ids[pos] == osm_id else -1

    def neighbours(way_id: int, node: int, *, arriving: bool) -> list[int]:
        """Graph nodes next to ``node`` along a way, from which one may arrive (or leave)."""
        found: list[int] = []
        for seq, direction in pieces.get(way_id, []):
            for i, v in enumerate(seq):
                if v != node:
                    continue
                # the previous node: arriving along the node order, leaving against it
                along = direction >= 0 if arriving else direction <= 0
                against = direction <= 0 if arriving else direction >= 0
                if i > 0 and along:
                    found.append(seq[i - 1])
                if i + 1 < len(seq) and against:
                    found.append(seq[i + 1])
        return list(dict.fromkeys(found))

    def turn_word(a: int, v: int, b: int) -> str:
        if a == b:
            return "u_turn"
        k = np.cos(np.radians(lat[v]))
        b1 = np.degrees(np.arctan2((lon[v] - lon[a]) * k, lat[v] - lat[a]))
        b2 = np.degrees(np.arctan2((lon[b] - lon[v]) * k, lat[b] - lat[v]))
        angle = (b2 - b1 + 180.0) % 360.0 - 180.0
        if abs(angle) <= 30:
            return "straight"
        return "right" if angle > 0 else "left"

    def path_along(way_id: int, start: int, end: int) -> list[int] | None:
        """Graph nodes of a way from ``start`` to ``end`` (inclusive), one way or the other."""
        for seq, direction in pieces.get(way_id, []):
            if start in seq and end in seq:
                i, j = seq.index(start), seq.index(end)
                if i <= j and direction >= 0:
                    return seq[i : j + 1]
                if i > j and direction <= 0:
                    return seq[j : i + 1][::-1]
        return None

    def shared(way_a: int, way_b: int) -> list[int]:
        nodes_a = {v for seq, _ in pieces.get(way_a, []) for v in seq}
        return sorted({v for seq, _ in pieces.get(way_b, []) for v in seq} & nodes_a)

    for r in ways.restrictions:
        word = next((w for key, w in _TURN_WORDS if key in r.value), "")
        if r.from_way not in pieces or r.to_way not in pieces:
            skipped["way_not_drivable_or_missing"] += 1
            continue
        if r.via_node >= 0:
            v = graph_node(r.via_node)
            if v < 0:
                skipped["via_node_not_on_network"] += 1
                continue
            pairs = [
                (a, b)
                for a in neighbours(r.from_way, v, arriving=True)
                for b in neighbours(r.to_way, v, arriving=False)
            ]
            if not pairs:
                skipped["from_or_to_way_not_at_via_node"] += 1
                continue
            if len(pairs) > 1 and word:
                matching = [(a, b) for a, b in pairs if turn_word(a, v, b) == word]
                pairs = matching or pairs
            if len(pairs) > 1 and r.mandatory:
                skipped["ambiguous"] += 1
                continue
            for a, b in pairs:
                out_seq.append([a, v, b])
                out_only.append(r.mandatory)
                out_ids.append(r.relation_id)
            continue
        # via ways: from -> via_1 -> ... -> via_k -> to
        chain = [r.from_way, *r.via_ways, r.to_way]
        joints: list[int] = []
        for w1, w2 in itertools.pairwise(chain):
            common = shared(w1, w2)
            if len(common) != 1:
                joints = []
                break
            joints.append(common[0])
        if not joints:
            skipped["via_ways_not_connected"] += 1
            continue
        seq: list[int] | None = []
        for k, via in enumerate(r.via_ways):
            part = path_along(via, joints[k], joints[k + 1])
            if part is None:
                seq = None
                break
            seq = [*seq, *part] if not seq else [*seq, *part[1:]]
        if seq is None or len(seq) < 2:
            skipped["via_ways_not_drivable_in_order"] += 1
            continue
        before = neighbours(r.from_way, seq[0], arriving=True)
        after = neighbours(r.to_way, seq[-1], arriving=False)
        before = [a for a in before if a not in seq]
        after = [b for b in after if b not in seq]
        if len(before) != 1 or len(after) != 1:
            skipped["ambiguous"] += 1
            continue
        out_seq.append([before[0], *seq, after[0]])
        out_only.append(r.mandatory)
        out_ids.append(r.relation_id)
    report["matched"] = len(out_seq)
    report["skipped"] = dict(skipped.most_common())
    return out_seq, out_only, out_ids, report


BEARING_LOOKAHEAD_M = 15.0
"""Distance along the road over which the direction at a node is measured."""


def _topology(ways: _Ways, max_edge_m: float, force_keep: np.ndarray) -> dict[str, Any]:
    """Graph nodes and edges (as position pairs along the ways) from the flattened ways.

    ``force_keep`` holds OSM node ids that must be graph nodes (barriers, traffic
    signals, via nodes of turn restrictions).
    """
    ptr, ref = ways.ptr, ways.node_ref
    n_refs = ref.size
    n_ways = ptr.size - 1
    way_of = np.repeat(np.arange(n_ways), np.diff(ptr))
    first = np.zeros(n_refs, dtype=bool)
    first[ptr[:-1]] = True
    last = np.zeros(n_refs, dtype=bool)
    last[ptr[1:] - 1] = True
    _, inverse, counts = np.unique(ref, return_inverse=True, return_counts=True)
    kept = first | last | (counts[inverse] >= 2)
    if force_keep.size:
        kept |= np.isin(ref, force_keep)

    seg = haversine_m(ways.lon[:-1], ways.lat[:-1], ways.lon[1:], ways.lat[1:])
    seg[last[:-1]] = 0.0
    cum = np.zeros(n_refs, dtype=np.float64)
    np.cumsum(seg, out=cum[1:])

    kp = np.flatnonzero(kept)
    a, b = kp[:-1], kp[1:]
    same_way = way_of[a] == way_of[b]
    a, b = a[same_way], b[same_way]
    inner = (b - a) > 1
    too_long = inner & ((cum[b] - cum[a]) > max_edge_m)
    ring = inner & (ref[a] == ref[b])
    shape_kept = 0
    for i in np.flatnonzero(too_long | ring):
        start, end = int(a[i]), int(b[i])
        last_kept = start
        for pos in range(start + 1, end):
            if cum[pos + 1] - cum[last_kept] > max_edge_m:
                kept[pos] = True
                last_kept = pos
                shape_kept += 1
        if ring[i] and last_kept == start:
            kept[(start + end) // 2] = True
            shape_kept += 1

    # two different ways between the same pair of nodes in the same direction: keep a shape
    # point on each, so that the slower one is not merged away with its length and shape
    kp = np.flatnonzero(kept)
    a, b = kp[:-1], kp[1:]
    same_way = way_of[a] == way_of[b]
    a, b = a[same_way], b[same_way]
    direction = ways.direction[way_of[a]]
    stretch = np.arange(a.size)
    fwd, bwd = direction >= 0, direction <= 0
    tails = np.concatenate([ref[a][fwd], ref[b][bwd]])
    heads = np.concatenate([ref[b][fwd], ref[a][bwd]])
    owner = np.concatenate([stretch[fwd], stretch[bwd]])
    order = np.lexsort((heads, tails))
    dup = np.zeros(a.size, dtype=bool)
    if order.size > 1:
        t, h, o = tails[order], heads[order], owner[order]
        same = (t[1:] == t[:-1]) & (h[1:] == h[:-1])
        dup[o[1:][same]] = True
        dup[o[:-1][same]] = True
    for i in np.flatnonzero(dup & ((b - a) > 1)):
        kept[(int(a[i]) + int(b[i])) // 2] = True
        shape_kept += 1

    kp = np.flatnonzero(kept)
    a, b = kp[:-1], kp[1:]
    same_way = way_of[a] == way_of[b]
    a, b = a[same_way], b[same_way]
    node_ids, first_pos, node_index = np.unique(ref[kp], return_index=True, return_inverse=True)
    pos_to_node = np.full(n_refs, -1, dtype=np.int64)
    pos_to_node[kp] = node_index
    coord_pos = kp[first_pos]
    # direction of travel leaving a and arriving at b, measured over the first and last
    # BEARING_LOOKAHEAD_M metres of the stretch (its whole length when shorter)
    after_a = np.clip(np.searchsorted(cum, cum[a] + BEARING_LOOKAHEAD_M), a + 1, b)
    before_b = np.clip(
        np.searchsorted(cum, cum[b] - BEARING_LOOKAHEAD_M, side="right") - 1, a, b - 1
    )
    return {
        "node_id": node_ids.astype(np.int64),
        "node_lon": ways.lon[coord_pos],
        "node_lat": ways.lat[coord_pos],
        "edge_a": pos_to_node[a],
        "edge_b": pos_to_node[b],
        "edge_length_m": cum[b] - cum[a],
        "edge_way": way_of[a],
        "bearing_a": _bearing_deg(ways.lon[a], ways.lat[a], ways.lon[after_a], ways.lat[after_a]),
        "bearing_b": _bearing_deg(ways.lon[before_b], ways.lat[before_b], ways.lon[b], ways.lat[b]),
        "shape_nodes_kept": shape_kept,
    }


def _bearing_deg(
    lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray
) -> np.ndarray:
    """Direction from point 1 to point 2, degrees clockwise from north in [0, 360)."""
    k = np.cos(np.radians((np.asarray(lat1) + np.asarray(lat2)) / 2))
    angle = np.degrees(np.arctan2((np.asarray(lon2) - lon1) * k, np.asarray(lat2) - lat1))
    return (angle % 360.0).astype(np.float32)


def haversine_m(
    lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray
) -> np.ndarray:
    """Great-circle distance in metres between WGS84 points (radius :data:`EARTH_RADIUS_M`)."""
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    dphi = phi2 - phi1
    dlmb = np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def _way_limits(ways: _Ways, profile: SpeedProfile) -> dict[str, Any]:
    """Per way and direction: the limit (km/h), whether a ``maxspeed`` tag gave it, the ratio."""
    n = len(ways.highway)
    limit = {1: np.empty(n, dtype=np.float64), -1: np.empty(n, dtype=np.float64)}
    tagged_dir = {1: np.zeros(n, dtype=bool), -1: np.zeros(n, dtype=bool)}
    ratio = np.empty(n, dtype=np.float64)
    tagged = 0
    unparsed: Counter[str] = Counter()
    unknown_class: Counter[str] = Counter()
    parse_memo: dict[str, float | None] = {}

    def parsed(tag: str | None) -> float | None:
        if not tag:
            return None
        if tag not in parse_memo:
            parse_memo[tag] = profile.tagged_limit_kph(tag)
        return parse_memo[tag]

    for i in range(n):
        hw = ways.highway[i]
        two_way = bool(ways.direction[i] == 0)
        if hw not in profile.highway_kph:
            unknown_class[hw] += 1
        ratio[i] = profile.ratio(hw)
        for side, tag in ((1, ways.maxspeed_fwd[i]), (-1, ways.maxspeed_bwd[i])):
            value = parsed(tag)
            tagged_dir[side][i] = value is not None
            limit[side][i] = value if value is not None else profile.class_kph(hw, two_way=two_way)
        tag = ways.maxspeed_fwd[i] or ways.maxspeed_bwd[i]
        if tag:
            tagged += 1
            if parsed(tag) is None and not _states_no_number(tag):
                unparsed[tag] += 1
    report = {
        "ways_tagged": tagged,
        "ways_unparsed": int(sum(unparsed.values())),
        "unparsed_values": dict(unparsed.most_common(10)),
        "unknown_classes": dict(unknown_class.most_common(10)),
    }
    return {
        "limit_fwd": limit[1],
        "limit_bwd": limit[-1],
        "tagged_fwd": tagged_dir[1],
        "tagged_bwd": tagged_dir[-1],
        "ratio": ratio,
        "report": report,
    }


def _road_density(topo: dict[str, Any], rules: Any) -> np.ndarray:
    """Kilometres of road per km² around the middle of every stretch (see ``BuiltUpRules``)."""
    from scipy.ndimage import uniform_filter

    a, b = topo["edge_a"], topo["edge_b"]
    if a.size == 0:
        return np.zeros(0)
    lon = (topo["node_lon"][a] + topo["node_lon"][b]) / 2
    lat = (topo["node_lat"][a] + topo["node_lat"][b]) / 2
    lat0 = float(np.median(lat))
    x = np.radians(lon) * EARTH_RADIUS_M * np.cos(np.radians(lat0))
    y = np.radians(lat) * EARTH_RADIUS_M
    cell = float(rules.cell_m)
    col = np.floor((x - x.min()) / cell).astype(np.int64)
    row = np.floor((y - y.min()) / cell).astype(np.int64)
    grid = np.zeros((row.max() + 1, col.max() + 1))
    np.add.at(grid, (row, col), topo["edge_length_m"] / 1000.0)
    size = max(1, int(round(rules.window_m / cell)))
    mean = uniform_filter(grid, size=size, mode="constant")
    return mean[row, col] / (cell / 1000.0) ** 2


def _states_no_number(tag: str) -> bool:
    """``none``, ``signals``, ``variable``...: a value that says there is no number to read."""
    parts = [p.strip().lower() for p in re.split(r"[;|]", tag)]
    return all(p in NO_LIMIT_VALUES for p in parts)


def _road_km(a: np.ndarray, b: np.ndarray, length_m: np.ndarray, mask: np.ndarray) -> float:
    """Kilometres of road centre line over the way stretches selected by ``mask``.

    Each stretch (a way between two graph nodes) counts once whatever its
    directions; stretches joining the same two nodes with the same length
    (concurrent routes drawn twice) count once.
    """
    a, b, length_m = a[mask], b[mask], length_m[mask]
    if a.size == 0:
        return 0.0
    key = np.column_stack([np.minimum(a, b), np.maximum(a, b), np.round(length_m * 1000)])
    unique = np.unique(key, axis=0)
    return float(unique[:, 2].sum() / 1e6)


# --------------------------------------------------------------------------------------
# cache


def _with_cache(
    path: Path,
    kind: str,
    opts: BuildOptions,
    build: Any,
    use_cache: bool,
    cache_dir: str | Path | None,
    progress: bool,
) -> RoadNetwork:
    checksum = file_sha256(path)
    folder = network_cache_dir(cache_dir)
    key = cache_key([CACHE_FORMAT_VERSION, __version__, kind, checksum, *opts.key_parts()])
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.name)[:60]
    target = folder / f"{stem}-{key}.npz"
    damaged = ""
    if use_cache and target.is_file():
        try:
            return _read_cache(target, source=str(path))
        except Exception as exc:  # a damaged file: rebuild and overwrite it
            damaged = f"{type(exc).__name__}: {exc}"
            warnings.warn(
                f"le fichier de cache du réseau {target} est abîmé ({damaged}) ; reconstruction",
                stacklevel=3,
            )
    with _Stages(progress) as stages:
        net = build(stages, checksum)
    report = dict(net.info.report)
    report["cache_file"] = str(target) if use_cache else ""
    report["cache_hit"] = False
    if damaged:
        report["cache_rebuilt"] = damaged
    net = dataclasses.replace(net, info=dataclasses.replace(net.info, report=report))
    if use_cache:
        _write_cache(net, target)
    return net


def save_network(network: RoadNetwork, path: str | Path) -> Path:
    """Write a network in the compact cache format (``.npz``); returns the path."""
    path = Path(path)
    _write_cache(network, path)
    return path


def read_network(path: str | Path) -> RoadNetwork:
    """Read a network written by :func:`save_network` (or found in the cache).

    Raises
    ------
    NetworkError
        If the file is missing or not a network file of this version.
    """
    path = Path(path)
    try:
        return _read_cache(path, source=str(path))
    except (OSError, ValueError, KeyError) as exc:
        raise NetworkError(f"{path} : fichier de réseau illisible ({exc})") from None


_CORE_ARRAYS = ("indptr", "indices", "seconds", "length_m", "node_x", "node_y", "node_id")
_OPTIONAL_ARRAYS = (
    "edge_class",
    "edge_way_id",
    "edge_bearing_out",
    "edge_bearing_in",
    "node_delay_s",
)


def _write_cache(net: RoadNetwork, target: Path) -> None:
    info = dataclasses.asdict(net.info)
    tmp = atomic_path(target)
    arrays = {name: getattr(net, name) for name in _CORE_ARRAYS}
    arrays.update(
        {name: getattr(net, name) for name in _OPTIONAL_ARRAYS if getattr(net, name) is not None}
    )
    restrictions = net.restrictions
    try:
        with open(tmp, "wb") as handle:
            np.savez(
                handle,
                **arrays,
                restriction_ptr=restrictions.ptr,
                restriction_nodes=restrictions.nodes,
                restriction_only=restrictions.only,
                restriction_relation=restrictions.relation_id,
                turn_costs=np.array(json.dumps(net.turn_costs.describe())),
                info=np.array(json.dumps(info, default=str)),
                version=np.array(CACHE_FORMAT_VERSION),
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        warnings.warn(f"impossible d'écrire le cache du réseau {target} ({exc})", stacklevel=3)
    finally:
        tmp.unlink(missing_ok=True)


def _read_cache(target: Path, *, source: str) -> RoadNetwork:
    with np.load(target, allow_pickle=False) as data:
        if int(data["version"]) != CACHE_FORMAT_VERSION:
            raise ValueError("la version du format du cache diffère")
        arrays: dict[str, Any] = {name: np.array(data[name]) for name in _CORE_ARRAYS}
        for name in _OPTIONAL_ARRAYS:
            if name in data.files:
                arrays[name] = np.array(data[name])
        arrays["restrictions"] = TurnRestrictions(
            ptr=np.array(data["restriction_ptr"]),
            nodes=np.array(data["restriction_nodes"]),
            only=np.array(data["restriction_only"]),
            relation_id=np.array(data["restriction_relation"]),
        )
        arrays["turn_costs"] = TurnCosts(**json.loads(str(data["turn_costs"][()])))
        info_raw = json.loads(str(data["info"][()]))
    info_raw["report"] = {
        **info_raw.get("report", {}),
        "cache_file": str(target),
        "cache_hit": True,
    }
    info_raw["source"] = source
    info = NetworkInfo(**info_raw)
    return RoadNetwork(**arrays, info=info).validate()


# --------------------------------------------------------------------------------------
# helpers


class _Stages:
    """Show build steps on stderr (a rich status line) when enabled."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._status: Any = None

    def __enter__(self) -> _Stages:
        return self

    def __call__(self, message: str) -> None:
        if not self.enabled:
            return
        if self._status is None:
            from rich.console import Console

            self._status = Console(stderr=True).status(message)
            self._status.start()
        else:
            self._status.update(message)

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise NetworkError(f"{path} : fichier du réseau routier introuvable")
    if path.stat().st_size == 0:
        raise NetworkError(f"{path} : le fichier du réseau routier est vide")


def _file_format(path: Path, format: str | None) -> str:
    if format is not None:
        if format not in FORMATS:
            raise ConfigError(
                f"format : format de réseau routier inconnu {format!r} (formats possibles : "
                f"{', '.join(FORMATS)})"
            )
        return format
    _check_file(path)
    if path.name.lower().endswith(".graphml"):
        return "graphml"
    with open(path, "rb") as handle:
        head = handle.read(1024)
    if b"<graphml" in head:
        return "graphml"
    from coverage.routing.osm_reader import osm_file_format

    return osm_file_format(path)


def _file_date(path: Path) -> str:
    stamp = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    return stamp.isoformat(timespec="seconds")


def _info(source: str, kind: str, checksum: str, date: str, opts: BuildOptions) -> NetworkInfo:
    return NetworkInfo(
        source=source,
        source_kind=kind,
        source_checksum=checksum,
        source_date=date,
        profile=opts.profile.name,
        detour_factor=opts.detour_factor,
        calibration_factor=opts.calibration_factor,
        peak_factor=opts.peak_factor,
        crs=opts.crs or "EPSG:2154",
    )


def _read_graphml(path: Path) -> nx.MultiDiGraph:
    import osmnx

    try:
        graph = osmnx.load_graphml(path)
    except Exception as exc:
        raise NetworkError(
            f"{path} : impossible de lire le GraphML ({type(exc).__name__} : {exc}) ; "
            "attendu un graphe enregistré par osmnx.save_graphml"
        ) from None
    if graph.number_of_nodes() == 0:
        raise NetworkError(f"{path} : le graphe GraphML n'a aucun nœud")
    return graph


def _in_france(lon: float, lat: float) -> bool:
    cx0, cy0, cx1, cy1 = _CORSICA_BOX
    if cx0 <= lon <= cx1 and cy0 <= lat <= cy1:
        return True
    return _point_in_ring(lon, lat, _FRANCE_MAINLAND)


def _point_in_ring(x: float, y: float, ring: Sequence[tuple[float, float]]) -> bool:
    inside = False
    n = len(ring)
    for i in range(n):
        x1, y1 = ring[i]
        x2, y2 = ring[(i + 1) % n]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _buffer_wgs84(polygon: shapely.Geometry, buffer_m: float, crs: str) -> shapely.Geometry:
    import shapely
    from pyproj import Transformer

    if buffer_m == 0:
        return polygon
    forward = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    back = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    projected = shapely.transform(polygon, lambda xy: np.column_stack(forward.transform(*xy.T)))
    grown = shapely.buffer(projected, buffer_m)
    return shapely.transform(grown, lambda xy: np.column_stack(back.transform(*xy.T)))
