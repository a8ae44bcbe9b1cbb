"""The map written with every itinerary plan (``map.html``): its stops and one line per tour.

Registered as the ``coverage.itinerary_writers`` entry point ``carte``:
``coverage itinerary`` (``ItineraryPlan.write``) calls it with the plan folder
and the plan's summary; it reads ``stops.geojson`` and ``tours.geojson`` and
computes nothing. One line per distinct tour (not per day: a tour repeats on
several dates, listed in its popup and in the stops' ``days``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MAP_FILE = "map.html"


def _fr(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}".replace(",", " ").replace(".", ",")


def write_itinerary_map(folder: Path, summary: dict[str, Any]) -> list[Path]:
    """Write ``map.html`` (offline: Leaflet inlined) in an itinerary plan folder.

    Parameters
    ----------
    folder
        The plan directory being written (``stops.geojson`` and
        ``tours.geojson`` are already there).
    summary
        The plan's summary (title, figures and provenance for the legend).

    Returns
    -------
    list of Path
        The written file.
    """
    import geopandas as gpd

    from maps.itinerary import itinerary_map
    from maps.legend import data_attribution_parts, network_line
    from maps.render import render_html

    folder = Path(folder)
    stops = gpd.read_file(folder / "stops.geojson")
    tours = gpd.read_file(folder / "tours.geojson")
    label = summary.get("settings", {}).get("service_label", "Service public itinérant")
    territory = summary.get("territory", {}).get("label", "")
    period = summary.get("period", {})
    title = f"{label} – {territory} ({period.get('start', '')[:4]})".strip()
    reach = summary.get("reach", {})
    subtitle = (
        f"{summary.get('stops', len(stops))} communes, {summary.get('service_days', '')} jours, "
        f"{_fr(summary.get('driving_hours_year', 0.0), 1)} h de conduite et "
        f"{_fr(summary.get('km_year', 0.0))} km par an"
    )
    depots = used_depots(summary, tours)
    names = ", ".join(str(name) for name in depots["name"]) or summary.get("depot", {}).get(
        "name", ""
    )
    note = (
        f"Départ et retour : {names}. Population atteinte : "
        f"{_fr(reach.get('population_reached', 0))} habitants. Calcul : coverage "
        f"{summary.get('engine', {}).get('version', '')}, {summary.get('created_utc', '')[:10]}."
    )
    provenance = summary.get("details", {}).get("provenance", {}) or {}
    communes, outline = _territory_layers(summary)
    fmap = itinerary_map(
        stops,
        tours,
        title=title,
        subtitle=subtitle,
        note=note,
        context=communes,
        outline=outline,
        depots=depots,
        attribution=data_attribution_parts({"provenance": provenance}) or None,
        network=network_line(provenance.get("network", {})) if provenance.get("network") else "",
    )
    path = folder / MAP_FILE
    path.write_text(render_html(fmap), encoding="utf-8")
    return [path]


def used_depots(summary: dict[str, Any], tours: Any) -> Any:
    """The plan's depots that start at least one tour, as points (``name``, ``tours``, ``days``).

    Read from the summary's ``depots`` (Lambert-93 ``x``/``y``, the plan's
    CRS) and the tours' ``depot`` column (one base per tour); a plan without
    that column uses its single ``depot``.
    """
    import geopandas as gpd
    import shapely

    listed = summary.get("depots") or ([summary["depot"]] if summary.get("depot") else [])
    crs = summary.get("details", {}).get("provenance", {}).get("crs") or "EPSG:2154"
    if "depot" in getattr(tours, "columns", ()):
        per_depot = tours.groupby("depot").size().to_dict()
        per_days = tours.groupby("depot")["days"].sum().to_dict() if "days" in tours else {}
    else:
        per_depot = {d.get("name"): len(tours) for d in listed[:1]}
        per_days = {}
    rows = [d for d in listed if d.get("name") in per_depot and "x" in d and "y" in d]
    return gpd.GeoDataFrame(
        {
            "name": [str(d["name"]) for d in rows],
            "tours": [int(per_depot[d["name"]]) for d in rows],
            "days": [int(per_days.get(d["name"], 0)) or None for d in rows],
        },
        geometry=shapely.points([[float(d["x"]), float(d["y"])] for d in rows]) if rows else [],
        crs=crs,
    )


def _territory_layers(summary: dict[str, Any]) -> tuple[Any, Any]:
    """The territory's communes and département outline (``None, None`` if it cannot be loaded).

    The plan was just computed from this territory's bundle, so it is there;
    a plan folder re-drawn elsewhere gets a map without the outlines.
    """
    from coverage.errors import CoverageError
    from coverage.layers import load_territory

    name = summary.get("territory", {}).get("name")
    if not name:
        return None, None
    source = summary.get("details", {}).get("provenance", {}).get("network", {}).get("source")
    # the bundle the plan was computed from (its road file's folder), then the default one
    places = [Path(str(source)).parent] if source and Path(str(source)).is_absolute() else []
    for data_dir in [*places, None]:
        try:
            territory = load_territory(str(name), data_dir=data_dir)
        except (CoverageError, OSError):
            continue
        return territory.communes[["name", "geometry"]], territory.departement
    return None, None
