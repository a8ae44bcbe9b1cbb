"""Read drivable ways, barrier nodes and turn restrictions from an OSM XML or PBF file.

One reader for both formats: pyosmium parses the file in C++, keeps node
locations in memory and hands to Python the ways with a ``highway`` tag, the
nodes tagged ``barrier`` or ``highway=traffic_signals`` and the
``type=restriction`` relations. Each way passes or fails the road-class part of
osmnx's ``network_type="drive"`` Overpass query (:data:`DRIVE_EXCLUDE`,
unanchored regular expressions as Overpass applies them); access tags
(``access``, ``vehicle``, ``motor_vehicle``, ``motorcar``) are kept with the way
and judged by the speed profile when the network is built
(:mod:`coverage.routing.network`), so that ``access=no`` ways are not driven.

Clipped extracts (a county cut out of a state file) hold ways whose node
references point to nodes absent from the file. Such a way is split at each
missing node; every run of two or more present nodes is kept as a piece of
its own and the rest is dropped. The counts are reported
(:attr:`OsmWays.stats`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from coverage._french import plural
from coverage.errors import NetworkError

DRIVE_EXCLUDE: dict[str, re.Pattern[str]] = {
    "area": re.compile("yes"),
    "highway": re.compile(
        "abandoned|bridleway|bus_guideway|construction|corridor|cycleway|elevator|escalator|"
        "footway|no|path|pedestrian|planned|platform|proposed|raceway|razed|rest_area|service|"
        "services|steps|track"
    ),
    "service": re.compile("alley|driveway|emergency_access|parking|parking_aisle|private"),
}
"""osmnx 2's ``drive`` filter without its access part: a way is excluded when one of these
tags matches. osmnx also drops ``access=private``, ``motor_vehicle=no`` and ``motorcar=no``;
here access is judged as a whole by the profile's ``[access]`` table (which drops those and
``access=no``, ``vehicle=no``, ``access=agricultural``..., unless a more specific tag allows
cars)."""

ACCESS_KEYS = ("motorcar", "motor_vehicle", "vehicle", "access")
"""Access tags read on ways and barrier nodes, most specific first."""

KEPT_TAGS = (
    "highway",
    "maxspeed",
    "maxspeed:forward",
    "maxspeed:backward",
    "oneway",
    "junction",
    *ACCESS_KEYS,
)
"""Tags copied from each drivable way."""

NODE_TAGS = ("barrier", "highway", *ACCESS_KEYS)
"""Tags copied from barrier and traffic-signal nodes."""

RESTRICTION_KEYS = ("restriction:motorcar", "restriction")
"""Where a turn restriction's value is read, the car-specific key first."""
EXCEPT_FOR_CARS = frozenset({"motorcar", "motor_vehicle", "vehicle"})
"""``except=`` values that exempt cars from a restriction."""

OSM_XML_SUFFIXES = (".osm", ".xml", ".osm.xml", ".osm.gz", ".osm.bz2", ".osc")
PBF_SUFFIXES = (".pbf", ".osm.pbf")


@dataclass(frozen=True)
class OsmRestriction:
    """A turn restriction relation, as read (before it is matched to the graph).

    Attributes
    ----------
    relation_id
        OSM id of the relation.
    value
        The restriction value (``no_left_turn``, ``only_straight_on``...).
    from_way, to_way
        OSM ids of the ``from`` and ``to`` ways.
    via_node
        OSM id of the ``via`` node, or -1 when the via is made of ways.
    via_ways
        OSM ids of the ``via`` ways, in relation order (empty for a via node).
    """

    relation_id: int
    value: str
    from_way: int
    to_way: int
    via_node: int = -1
    via_ways: tuple[int, ...] = ()

    @property
    def mandatory(self) -> bool:
        """``only_*``: from the ``from`` way, the ``to`` way is the only way on."""
        return self.value.startswith("only_")


@dataclass
class OsmWays:
    """Drivable ways of an OSM file, node references flattened.

    Attributes
    ----------
    way_id
        ``int64`` OSM id of each way (a way split at missing nodes appears once per piece).
    ptr
        ``int64`` offsets: the nodes of way ``i`` are ``node_ref[ptr[i]:ptr[i+1]]``.
    node_ref
        ``int64`` OSM node ids.
    lon, lat
        ``float64`` WGS84 coordinates of each node reference.
    tags
        One dict per way with the :data:`KEPT_TAGS` present.
    stats
        Counts: ``highway_ways``, ``drivable_ways``, ``not_drivable_ways``,
        ``dangling_refs`` (references to missing nodes in drivable ways),
        ``ways_with_dangling_refs``, ``ways_split`` (kept in several pieces),
        ``ways_dropped_dangling`` (no run of two present nodes), ``pieces``,
        ``tagged_nodes``, ``restriction_relations``, ``restrictions_read``,
        ``restrictions_skipped`` (by reason).
    header
        File header: ``date`` (``osmosis_replication_timestamp``), ``generator``, ``bbox``.
    node_tags
        OSM node id -> the :data:`NODE_TAGS` present, for every node tagged ``barrier`` or
        ``highway=traffic_signals`` (whether or not a drivable way uses it).
    restrictions
        The turn restrictions that apply to cars (see :class:`OsmRestriction`).
    """

    way_id: np.ndarray
    ptr: np.ndarray
    node_ref: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    tags: list[dict[str, str]]
    stats: dict[str, Any] = field(default_factory=dict)
    header: dict[str, Any] = field(default_factory=dict)
    node_tags: dict[int, dict[str, str]] = field(default_factory=dict)
    restrictions: list[OsmRestriction] = field(default_factory=list)

    @property
    def n_ways(self) -> int:
        """Number of ways (pieces)."""
        return len(self.tags)


def is_drivable(tags: Any) -> bool:
    """Return whether a way's tags pass the road-class part of osmnx's ``drive`` filter.

    ``tags`` is any mapping with ``get`` (a dict or a pyosmium ``TagList``). Access tags
    are not judged here (see :func:`coverage.routing.speeds.SpeedProfile.car_access`).
    """
    if tags.get("highway") is None:
        return False
    for key, pattern in DRIVE_EXCLUDE.items():
        value = tags.get(key)
        if value is not None and pattern.search(value):
            return False
    return True


def osm_file_format(path: Path) -> str:
    """Return ``"pbf"`` or ``"osm_xml"`` from a file's name, else from its first bytes.

    Raises
    ------
    NetworkError
        If the file is neither.
    """
    name = path.name.lower()
    if name.endswith(PBF_SUFFIXES):
        return "pbf"
    if name.endswith(OSM_XML_SUFFIXES):
        return "osm_xml"
    with open(path, "rb") as handle:
        head = handle.read(512)
    if b"OSMHeader" in head[:64]:
        return "pbf"
    if b"<osm" in head:
        return "osm_xml"
    raise NetworkError(
        f"{path} : pas un fichier OSM XML ou PBF (précisez format='osm_xml' ou 'pbf')"
    )


def read_osm_ways(path: str | Path, *, format: str | None = None) -> OsmWays:
    """Read the drivable ways of an OSM XML or PBF file.

    Parameters
    ----------
    path
        The file (``.osm``, ``.osm.pbf``, compressed XML ``.osm.gz``/``.osm.bz2``).
    format
        ``"osm_xml"`` or ``"pbf"``; guessed from the name or content when ``None``.

    Returns
    -------
    OsmWays

    Raises
    ------
    NetworkError
        If the file is missing, empty or corrupt, or holds no drivable way; the
        message names the file.
    """
    import osmium

    path = Path(path)
    if not path.is_file():
        raise NetworkError(f"{path} : fichier du réseau routier introuvable")
    if path.stat().st_size == 0:
        raise NetworkError(f"{path} : le fichier du réseau routier est vide")
    fmt = format or osm_file_format(path)
    if fmt not in ("osm_xml", "pbf"):
        raise NetworkError(f"{path} : format OSM inconnu '{fmt}' (utilisez 'osm_xml' ou 'pbf')")
    osmium_fmt = "pbf" if fmt == "pbf" else _xml_osmium_format(path)

    way_ids: list[int] = []
    lengths: list[int] = []
    refs: list[int] = []
    lons: list[float] = []
    lats: list[float] = []
    tags_out: list[dict[str, str]] = []
    stats: dict[str, Any] = {
        "highway_ways": 0,
        "drivable_ways": 0,
        "not_drivable_ways": 0,
        "dangling_refs": 0,
        "ways_with_dangling_refs": 0,
        "ways_split": 0,
        "ways_dropped_dangling": 0,
        "pieces": 0,
        "tagged_nodes": 0,
        "restriction_relations": 0,
        "restrictions_read": 0,
        "restrictions_skipped": {},
    }
    node_tags: dict[int, dict[str, str]] = {}
    restrictions: list[OsmRestriction] = []
    skipped: dict[str, int] = {}
    header: dict[str, Any] = {}
    try:
        processor = (
            osmium.FileProcessor(osmium.io.File(str(path), osmium_fmt))
            .with_locations()
            .with_filter(osmium.filter.KeyFilter("highway", "barrier", "type"))
        )
        head = processor.header
        header = {
            "date": head.get("osmosis_replication_timestamp") or head.get("timestamp") or "",
            "generator": head.get("generator") or "",
        }
        box = head.box()
        if box.valid():
            header["bbox"] = [
                box.bottom_left.lon,
                box.bottom_left.lat,
                box.top_right.lon,
                box.top_right.lat,
            ]
        for obj in processor:
            if obj.is_node():
                if "barrier" in obj.tags or obj.tags.get("highway") == "traffic_signals":
                    node_tags[obj.id] = {k: obj.tags.get(k) for k in NODE_TAGS if k in obj.tags}
                continue
            if obj.is_relation():
                if obj.tags.get("type") == "restriction":
                    stats["restriction_relations"] += 1
                    found, reason = _restriction(obj)
                    if found is not None:
                        restrictions.append(found)
                    else:
                        skipped[reason] = skipped.get(reason, 0) + 1
                continue
            if not obj.is_way() or "highway" not in obj.tags:
                continue
            way = obj
            stats["highway_ways"] += 1
            if not is_drivable(way.tags):
                stats["not_drivable_ways"] += 1
                continue
            stats["drivable_ways"] += 1
            tags = {k: way.tags.get(k) for k in KEPT_TAGS if k in way.tags}
            run_refs: list[int] = []
            run_xy: list[tuple[float, float]] = []
            pieces: list[tuple[list[int], list[tuple[float, float]]]] = []
            missing = 0
            for nd in way.nodes:
                loc = nd.location
                if loc.valid():
                    run_refs.append(nd.ref)
                    run_xy.append((loc.lon, loc.lat))
                else:
                    missing += 1
                    if len(run_refs) >= 2:
                        pieces.append((run_refs, run_xy))
                    run_refs, run_xy = [], []
            if len(run_refs) >= 2:
                pieces.append((run_refs, run_xy))
            if missing:
                stats["dangling_refs"] += missing
                stats["ways_with_dangling_refs"] += 1
                if not pieces:
                    stats["ways_dropped_dangling"] += 1
                elif len(pieces) > 1:
                    stats["ways_split"] += 1
            for piece_refs, piece_xy in pieces:
                way_ids.append(way.id)
                lengths.append(len(piece_refs))
                refs.extend(piece_refs)
                for lon, lat in piece_xy:
                    lons.append(lon)
                    lats.append(lat)
                tags_out.append(tags)
    except NetworkError:
        raise
    except (RuntimeError, ValueError, OSError) as exc:
        raise NetworkError(f"{path} : impossible de lire le fichier OSM {fmt} ({exc})") from None
    stats["tagged_nodes"] = len(node_tags)
    stats["restrictions_read"] = len(restrictions)
    stats["restrictions_skipped"] = dict(sorted(skipped.items()))
    stats["pieces"] = len(tags_out)
    if stats["highway_ways"] == 0:
        raise NetworkError(
            f"{path} : aucune voie avec une balise 'highway' : ce n'est pas "
            f"un fichier de réseau routier"
        )
    if not tags_out:
        raise NetworkError(
            f"{path} : aucune de ses "
            f"{plural(stats['highway_ways'], 'voie highway', 'voies highway')} "
            "n'est carrossable en voiture (filtre osmnx 'drive') avec au moins deux nœuds présents"
        )
    ptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=ptr[1:])
    return OsmWays(
        way_id=np.asarray(way_ids, dtype=np.int64),
        ptr=ptr,
        node_ref=np.asarray(refs, dtype=np.int64),
        lon=np.asarray(lons, dtype=np.float64),
        lat=np.asarray(lats, dtype=np.float64),
        tags=tags_out,
        stats=stats,
        header=header,
        node_tags=node_tags,
        restrictions=restrictions,
    )


def _restriction(relation: Any) -> tuple[OsmRestriction | None, str]:
    """Read one ``type=restriction`` relation; ``(None, reason)`` when it does not apply to cars.

    Reasons: ``not_for_cars`` (only ``restriction:hgv`` and the like, or ``except`` lists
    cars), ``unknown_value``, ``conditional_only``, ``incomplete`` (no from, via or to
    member: usually clipped by the extract), ``several_from_or_to``.
    """
    tags = relation.tags
    value = ""
    for key in RESTRICTION_KEYS:
        if key in tags:
            value = str(tags.get(key)).strip()
            break
    if not value:
        if any(t.k.startswith("restriction:") and "conditional" in t.k for t in tags):
            return None, "conditional_only"
        return None, "not_for_cars"
    exempt = {part.strip() for part in str(tags.get("except", "")).split(";")}
    if exempt & EXCEPT_FOR_CARS:
        return None, "not_for_cars"
    if not (value.startswith("no_") or value.startswith("only_")):
        return None, "unknown_value"
    froms: list[int] = []
    tos: list[int] = []
    via_nodes: list[int] = []
    via_ways: list[int] = []
    for member in relation.members:
        if member.role == "from" and member.type == "w":
            froms.append(member.ref)
        elif member.role == "to" and member.type == "w":
            tos.append(member.ref)
        elif member.role == "via" and member.type == "n":
            via_nodes.append(member.ref)
        elif member.role == "via" and member.type == "w":
            via_ways.append(member.ref)
    if not froms or not tos or not (via_nodes or via_ways) or (via_nodes and via_ways):
        return None, "incomplete"
    if len(froms) > 1 or len(tos) > 1 or len(via_nodes) > 1:
        return None, "several_from_or_to"
    return (
        OsmRestriction(
            relation_id=int(relation.id),
            value=value,
            from_way=int(froms[0]),
            to_way=int(tos[0]),
            via_node=int(via_nodes[0]) if via_nodes else -1,
            via_ways=tuple(int(w) for w in via_ways),
        ),
        "",
    )


def _xml_osmium_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".gz"):
        return "osm.gz"
    if name.endswith(".bz2"):
        return "osm.bz2"
    return "osm"
