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
    depot = summary.get("depot", {}).get("name", "")
    note = (
        f"Départ et retour : {depot}. Population atteinte : "
        f"{_fr(reach.get('population_reached', 0))} habitants. Calcul : coverage "
        f"{summary.get('engine', {}).get('version', '')}, {summary.get('created_utc', '')[:10]}."
    )
    fmap = itinerary_map(stops, tours, title=title, subtitle=subtitle, note=note)
    path = folder / MAP_FILE
    path.write_text(render_html(fmap), encoding="utf-8")
    return [path]
