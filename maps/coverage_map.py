"""Coverage map of a scenario result: communes coloured by access time, service points.

Reads a result folder (``results.gpkg``, ``summary.json``) and returns a
folium map; all labels are in French. folium is imported lazily.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import geopandas as gpd

TIME_CLASSES: tuple[tuple[float, float, str, str], ...] = (
    (0, 10, "#1a9850", "moins de 10 min"),
    (10, 15, "#91cf60", "10 à 15 min"),
    (15, 20, "#d9ef8b", "15 à 20 min"),
    (20, 30, "#fee08b", "20 à 30 min"),
    (30, 45, "#fc8d59", "30 à 45 min"),
    (45, float("inf"), "#d73027", "45 min et plus"),
)
NO_DATA_COLOUR = "#bdbdbd"
ATTRIBUTION = (
    "© les contributeurs d'OpenStreetMap (ODbL) ; limites communales IGN ADMIN EXPRESS, "
    "populations INSEE (Licence Ouverte)"
)


def time_colour(minutes: float | None) -> str:
    """Colour of the time class of a value in minutes (grey when missing)."""
    if minutes is None or minutes != minutes:
        return NO_DATA_COLOUR
    for low, high, colour, _label in TIME_CLASSES:
        if low <= minutes < high:
            return colour
    return TIME_CLASSES[-1][2]


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or value != value:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}".replace(".", ",")
    return f"{int(value):,}".replace(",", " ")


def result_map(folder: str | Path, summary: dict[str, Any]) -> Any:
    """Build the folium map of a result folder.

    Parameters
    ----------
    folder
        A result directory of ``coverage run``.
    summary
        Its ``summary.json`` content.

    Returns
    -------
    folium.Map
    """
    import folium

    folder = Path(folder)
    gpkg = folder / "results.gpkg"
    communes = gpd.read_file(gpkg, layer="communes").to_crs("EPSG:4326")
    services = gpd.read_file(gpkg, layer="services").to_crs("EPSG:4326")
    communes["geometry"] = communes.geometry.simplify(0.0005, preserve_topology=True)
    bounds = communes.total_bounds
    fmap = folium.Map(
        location=[(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2],
        zoom_start=9,
        tiles=None,
        control_scale=True,
    )
    folium.TileLayer("OpenStreetMap", name="Fond OpenStreetMap", attr=ATTRIBUTION).add_to(fmap)
    fmap.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])

    for index, (name, figures) in enumerate(summary["analyses"].items()):
        column = f"{name}__minutes_mean"
        if column not in communes:
            continue
        ref = f"{figures['reference_minutes']:g}".replace(".", "_")
        layer = folium.FeatureGroup(name=f"Temps d'accès : {figures['label']}", show=index == 0)
        for row in communes.itertuples(index=False):
            row_d = row._asdict()
            minutes = row_d.get(column)
            label = html.escape(figures["label"])
            nearest = html.escape(str(row_d.get(f"{name}__nearest_service_name") or "—"))
            point_minutes = _fmt(row_d.get(f"{name}__minutes_point"))
            popup = (
                f"<b>{html.escape(str(row_d['name']))}</b> ({row_d['insee_code']})<br>"
                f"Habitants : {_fmt(row_d['population'])}<br>"
                f"Temps moyen ({label}) : {_fmt(minutes)} min<br>"
                f"Depuis le centre de la commune : {point_minutes} min<br>"
                f"Au-delà de {figures['reference_minutes']:g} min : "
                f"{_fmt(row_d.get(f'{name}__pop_beyond_{ref}'))} hab.<br>"
                f"Service le plus proche : {nearest}"
            )
            style = _style(time_colour(minutes))
            folium.GeoJson(
                row.geometry.__geo_interface__,
                style_function=style,
                tooltip=f"{row_d['name']} : {_fmt(minutes)} min",
                popup=folium.Popup(popup, max_width=320),
            ).add_to(layer)
        layer.add_to(fmap)

    kinds = sorted(services["kind"].unique())
    icons = {
        "france_services": ("blue", "info-sign"),
        "tiers_lieu": ("green", "home"),
        "mds": ("red", "plus-sign"),
        "health_centre": ("purple", "heart"),
        "saad": ("orange", "user"),
    }
    for kind in kinds:
        group = folium.FeatureGroup(name=f"Services : {kind}")
        colour, icon = icons.get(kind, ("gray", "map-marker"))
        for row in services[services["kind"] == kind].itertuples(index=False):
            row_d = row._asdict()
            popup = (
                f"<b>{html.escape(str(row_d['name']))}</b><br>"
                f"{html.escape(str(row_d.get('address') or ''))} "
                f"{html.escape(str(row_d.get('postcode') or ''))} "
                f"{html.escape(str(row_d.get('commune_name') or ''))}<br>"
                f"Localisation : {html.escape(str(row_d.get('geocode_quality') or ''))}"
                + ("" if row_d.get("in_territory", True) else "<br>Hors département")
            )
            folium.Marker(
                [row.geometry.y, row.geometry.x],
                popup=folium.Popup(popup, max_width=300),
                tooltip=str(row_d["name"]),
                icon=folium.Icon(color=colour, icon=icon),
            ).add_to(group)
        group.add_to(fmap)

    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.get_root().html.add_child(folium.Element(_legend_html(summary)))
    return fmap


def _style(colour: str) -> Any:
    def style(_feature: Any) -> dict[str, Any]:
        return {"fillColor": colour, "color": "#555555", "weight": 0.4, "fillOpacity": 0.75}

    return style


def _legend_html(summary: dict[str, Any]) -> str:
    rows = "".join(
        f'<div><span style="display:inline-block;width:14px;height:14px;background:{colour};'
        f'margin-right:6px;border:1px solid #777"></span>{label}</div>'
        for _low, _high, colour, label in TIME_CLASSES
    )
    net = summary.get("provenance", {}).get("network", {})
    engine = summary.get("engine", {})
    source = html.escape(Path(str(net.get("source", ""))).name)
    date = html.escape(str(net.get("source_date", "")))
    profile = html.escape(str(net.get("speed_profile", "")))
    created = html.escape(str(summary.get("created_utc", "")))
    version = html.escape(str(engine.get("version", "")))
    provenance = (
        f"Réseau : {source} ({date}), vitesses « {profile} », "
        f"détour {net.get('detour_factor', '')} ; calcul {created}, coverage {version}"
    )
    return (
        '<div class="coverage-legend" style="position:fixed;bottom:24px;left:12px;z-index:9999;'
        "background:white;padding:8px 10px;border:1px solid #999;font:12px sans-serif;"
        'max-width:320px">'
        f"<b>{html.escape(summary['scenario']['label'])}</b><br>"
        "<b>Temps moyen en voiture jusqu'au service le plus proche</b>"
        f'{rows}<div style="color:#555;margin-top:4px">{provenance}</div></div>'
    )
