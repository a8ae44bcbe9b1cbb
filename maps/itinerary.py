"""The map of an itinerant service plan: its stops and one route line per day."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np

import maps._data as _data
from maps.assets import OSM_TILES_ATTRIBUTION, AssetConfig
from maps.coverage_map import finish_map, new_map
from maps.errors import MapError
from maps.escape import esc
from maps.layers import popup_html
from maps.legend import legend_html
from maps.style import depot_svg, distinct_colours, fr_minutes, fr_number, is_missing

if TYPE_CHECKING:
    import folium

STOP_COLUMNS = ("name", "visits", "population")
ROUTE_COLUMNS = ("day",)
ITINERARY_ATTRIBUTION = OSM_TILES_ATTRIBUTION
"""Default attribution of the routes when the plan's provenance is not given."""


def _check(frame: Any, what: str, required: tuple[str, ...], geom_types: set[str]) -> None:
    if not isinstance(frame, gpd.GeoDataFrame):
        raise MapError(f"{what}: expected a GeoDataFrame, got {type(frame).__name__}")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise MapError(
            f"{what}: missing column(s) {', '.join(repr(c) for c in missing)} "
            f"(has: {', '.join(map(str, frame.columns))})"
        )
    if frame.crs is None:
        raise MapError(f"{what}: no CRS; set one with .set_crs('EPSG:2154') or .set_crs(4326)")
    if len(frame):
        empty = frame.geometry.isna() | frame.geometry.is_empty
        if empty.any():
            row = frame.index[np.flatnonzero(empty.to_numpy())[0]]
            raise MapError(f"{what}: row {row}: empty geometry")
        bad = sorted(set(frame.geom_type) - geom_types)
        if bad:
            raise MapError(
                f"{what}: geometry type(s) {', '.join(bad)} not allowed "
                f"(expected {', '.join(sorted(geom_types))})"
            )


def _day_label(row: dict[str, Any]) -> str:
    label = row.get("label")
    if not is_missing(label):
        return str(label)
    return f"Jour {row['day']}"


def itinerary_map(
    stops: gpd.GeoDataFrame,
    routes: gpd.GeoDataFrame,
    *,
    title: str,
    assets: AssetConfig | None = None,
    subtitle: str = "",
    note: str = "",
    context: gpd.GeoDataFrame | None = None,
    context_name_column: str = "name",
    outline: gpd.GeoDataFrame | None = None,
    depots: gpd.GeoDataFrame | None = None,
    attribution: str | list[str] | None = None,
    network: str = "",
) -> folium.Map:
    """Map an itinerant service plan: stops and per-day route lines.

    Parameters
    ----------
    stops
        Points (any CRS) with columns ``name``, ``visits`` (visits a year)
        and ``population``; optional ``insee_code``, ``days`` (text listing
        the days of the stop).
    routes
        Lines (any CRS), one row per day, with column ``day``; optional
        ``label`` (``"Mardi (semaine 1)"``), ``minutes`` (driving time),
        ``km`` (distance), ``stops`` (number of stops).
    title
        The map's French title (legend and page title).
    assets
        Where scripts, stylesheets and tiles come from.
    subtitle, note
        Extra lines for the legend (e.g. how the plan was computed).
    context
        Polygons drawn as grey outlines under the routes (the territory's
        communes, say), with ``context_name_column`` as tooltip.
    outline
        Polygons drawn as a thick dark outline (the département).
    depots
        Points with a ``name`` column: the bases the tours start from and
        return to, one square pin each (column ``tours``, optional: how many
        tours start there).
    attribution
        The data attribution (parts added one by one); default OpenStreetMap.
    network
        The road network's provenance line (escaped HTML) for the legend.

    Returns
    -------
    folium.Map

    Raises
    ------
    MapError
        Naming the frame and the missing column, CRS or bad geometry.
    """
    from maps._controls import geojson_layer

    _check(stops, "stops", STOP_COLUMNS, {"Point"})
    _check(routes, "routes", ROUTE_COLUMNS, {"LineString", "MultiLineString"})
    if stops.empty and routes.empty:
        raise MapError("stops and routes are both empty: nothing to map")
    stops_web = stops.set_geometry(
        _data.web_geometry(stops.geometry, 0.0, digits=_data.POINT_DIGITS)
    )
    routes_web = routes.set_geometry(_data.web_geometry(routes.geometry, 10.0))
    frames = [f for f in (stops_web, routes_web) if len(f)]
    west = min(f.total_bounds[0] for f in frames)
    south = min(f.total_bounds[1] for f in frames)
    east = max(f.total_bounds[2] for f in frames)
    north = max(f.total_bounds[3] for f in frames)
    fmap = new_map((west, south, east, north), title=title, assets=assets, max_zoom_fit=13)
    if context is not None and len(context):
        _check(context, "context", (context_name_column,), {"Polygon", "MultiPolygon"})
        context_web = context.set_geometry(_data.web_geometry(context.geometry, 25.0))
        outlines = _data.feature_collection(
            context_web,
            [
                {
                    "style": {"color": "#737373", "weight": 0.6, "fillOpacity": 0.04},
                    "tooltip": esc(name),
                }
                for name in context_web[context_name_column]
            ],
        )
        geojson_layer(outlines, name="Fond", control=False, highlight=False).add_to(fmap)

    if outline is not None and len(outline):
        outline_web = outline.set_geometry(_data.web_geometry(outline.geometry, 25.0))
        edge = _data.feature_collection(
            outline_web,
            [{"style": {"color": "#252525", "weight": 2.2, "fill": False}}] * len(outline_web),
        )
        geojson_layer(edge, name="Département", control=False, highlight=False).add_to(fmap)

    day_rows = []
    records = routes_web.drop(columns="geometry").to_dict(orient="records")
    palette = distinct_colours(len(records))
    for index, (row, geom) in enumerate(zip(records, routes_web.geometry, strict=True)):
        colour = palette[index]
        label = _day_label(row)
        rows = []
        if not is_missing(row.get("stops")):
            rows.append(("Arrêts", fr_number(row["stops"])))
        if not is_missing(row.get("minutes")):
            rows.append(("Temps de conduite", fr_minutes(row["minutes"])))
        if not is_missing(row.get("km")):
            rows.append(("Distance", f"{fr_number(row['km'], 1)} km"))
        data = _data.feature_collection(
            gpd.GeoDataFrame(geometry=[geom], crs=_data.WEB_CRS),
            [
                {
                    "day": str(row["day"]),
                    "style": {"color": colour, "weight": 4, "opacity": 0.85},
                    "popup": popup_html(f"Tournée : {esc(label)}", rows),
                    "tooltip": esc(label),
                }
            ],
        )
        geojson_layer(data, name=f"Tournée : {label}").add_to(fmap)
        day_rows.append(
            f'<div><span class="line" style="border-top:4px solid {colour}"></span>'
            f"{esc(label)}</div>"
        )

    properties = []
    for row in stops_web.drop(columns="geometry").to_dict(orient="records"):
        visits = 0 if is_missing(row.get("visits")) else float(row["visits"])
        rows = [
            ("Passages par an", fr_number(visits)),
            ("Habitants", fr_number(row.get("population"))),
        ]
        if not is_missing(row.get("days")):
            rows.append(("Jours", esc(row["days"])))
        name = esc(row["name"])
        properties.append(
            {
                "name": str(row["name"]),
                "visits": visits,
                "population": None if is_missing(row.get("population")) else row["population"],
                "radius": float(5 + 2.0 * np.sqrt(visits)),
                "popup": popup_html(name, rows),
                "tooltip": f"{name} : {fr_number(visits)} passages",
            }
        )
    if properties:
        import folium

        stop_data = _data.feature_collection(stops_web, properties)
        on_each = """
        function (feature, layer) {
            var p = feature.properties;
            layer.setRadius(p.radius);
            layer.bindPopup(p.popup, {maxWidth: 320});
            layer.bindTooltip(p.tooltip);
        }
        """
        folium.GeoJson(
            stop_data,
            name=f"Arrêts ({len(properties)})",
            marker=folium.CircleMarker(
                radius=6, color="#ffffff", weight=1.5, fill=True,
                fill_color="#b2182b", fill_opacity=0.9,
            ),
            on_each_feature=folium.JsCode(on_each),
        ).add_to(fmap)

    depot_rows = ""
    if depots is not None and len(depots):
        depot_rows = _add_depots(fmap, depots)

    sections = [
        ("Tournées", "".join(day_rows)),
        (
            "Arrêts",
            '<div><span class="swatch" style="background:#b2182b;border-radius:50%"></span>'
            "commune visitée (taille selon le nombre de passages)</div>"
            if properties
            else "",
        ),
        ("Bases de départ", depot_rows),
        ("Fond", _context_legend(context, outline)),
        ("Réseau routier", f"<div>{network}</div>" if network else ""),
    ]
    legend = legend_html(title=title, subtitle=subtitle, sections=sections, note=esc(note))
    return finish_map(
        fmap,
        legend=legend,
        attribution=attribution if attribution else ITINERARY_ATTRIBUTION,
        title_html=f"<b>{esc(title)}</b>",
        collapsed_layers=False,
    )


def _context_legend(context: Any, outline: Any) -> str:
    rows = []
    line = '<div><span class="line" style="border-top:{} solid {}"></span>{}</div>'
    if context is not None and len(context):
        rows.append(line.format("1px", "#737373", "communes"))
    if outline is not None and len(outline):
        rows.append(line.format("3px", "#252525", "département"))
    return "".join(rows)


def _add_depots(fmap: folium.Map, depots: gpd.GeoDataFrame) -> str:
    """One square pin per depot (a layer of their own); returns the legend rows."""
    from maps._controls import geojson_layer, pin_marker

    _check(depots, "depots", ("name",), {"Point"})
    web = depots.set_geometry(_data.web_geometry(depots.geometry, 0.0, digits=_data.POINT_DIGITS))
    properties = []
    for row in web.drop(columns="geometry").to_dict(orient="records"):
        name = esc(row["name"])
        rows = []
        if not is_missing(row.get("tours")):
            rows.append(("Tournées au départ", fr_number(row["tours"])))
        if not is_missing(row.get("days")):
            rows.append(("Jours de service", fr_number(row["days"])))
        properties.append(
            {
                "name": str(row["name"]),
                "depot": True,
                "popup": popup_html(f"Base de départ : {name}", rows),
                "tooltip": f"Base de départ : {name}",
            }
        )
    geojson_layer(
        _data.feature_collection(web, properties),
        name=f"Bases de départ ({len(properties)})",
        marker=pin_marker(depot_svg(), size_px=26),
        highlight=False,
    ).add_to(fmap)
    plural = "s" if len(properties) > 1 else ""
    names = ", ".join(esc(p["name"]) for p in properties)
    return (
        f'<div><span class="pin">{depot_svg(size_px=16)}</span>'
        f"base{plural} de départ et de retour ({len(properties)}) : {names}</div>"
    )
