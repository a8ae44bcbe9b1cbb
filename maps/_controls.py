"""Leaflet controls and page template of the maps: HTML boxes, metric scale, attribution, lang="fr".

Every template here autoescapes (:func:`maps.escape.template`); the layer
control escapes the layer names, which Leaflet writes as HTML. Imported
lazily (it imports folium at module level).
"""

from __future__ import annotations

from typing import Any

import folium
from branca.element import Figure, MacroElement

from maps.escape import esc, template

FIGURE_TEMPLATE = template(
    "<!DOCTYPE html>\n"
    '<html lang="fr">\n'
    "<head>\n"
    "{% if this.title %}<title>{{ this.title }}</title>{% endif %}\n"
    "    {{ this.header.render(**kwargs)|safe }}\n"
    "</head>\n"
    "<body>\n"
    "    {{ this.html.render(**kwargs)|safe }}\n"
    "</body>\n"
    "<script>\n"
    "    {{ this.script.render(**kwargs)|safe }}\n"
    "</script>\n"
    "</html>\n"
)
"""branca's page template with ``lang="fr"`` and an escaped title (``fmap.save()``, notebooks).

:func:`maps.render_html` writes its own page (:data:`maps.render.PAGE_TEMPLATE`),
with a Content-Security-Policy.
"""

MAP_CSS = """
<style>
.leaflet-container { font-family: Arial, Helvetica, sans-serif; }
.coverage-box { background: rgba(255,255,255,0.95); padding: 6px 9px; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,0.35); font-size: 12px; line-height: 1.35; color: #222;
  max-width: 330px; }
.coverage-box h2 { font-size: 13px; margin: 0 0 4px 0; }
.coverage-box h3 { font-size: 12px; margin: 6px 0 2px 0; }
.coverage-legend .swatch { display: inline-block; width: 14px; height: 12px; margin-right: 6px;
  border: 1px solid #777; vertical-align: middle; }
.coverage-legend .line { display: inline-block; width: 18px; height: 0; margin-right: 6px;
  vertical-align: middle; }
.coverage-legend .pin { display: inline-block; vertical-align: middle; margin-right: 4px; }
.coverage-legend .pin svg { width: 15px; height: 20px; }
.coverage-legend .note { color: #555; margin-top: 5px; font-size: 10px; }
.coverage-legend summary { cursor: pointer; font-weight: bold; font-size: 13px; }
.coverage-legend details:not([open]) summary { font-size: 12px; }
.coverage-title { font-size: 14px; max-width: 480px; }
.coverage-popup table { border-collapse: collapse; }
.coverage-popup th { text-align: left; font-weight: normal; color: #555; padding: 1px 8px 1px 0;
  vertical-align: top; }
.coverage-popup td { padding: 1px 0; }
.coverage-pin { background: none; border: none; }
.coverage-legend { max-height: calc(100vh - 120px); overflow: auto; }
.coverage-legend summary::after { content: " ▾"; font-weight: normal; color: #555; }
.coverage-legend details:not([open]) summary::after { content: " ▸ légende"; }
.leaflet-control-attribution { max-width: 60vw; }
@media (max-width: 600px), (max-height: 500px) {
  .coverage-box { max-width: 200px; font-size: 11px; }
  .coverage-legend { max-height: 45vh; }
  .coverage-title { max-width: 60vw; font-size: 12px; }
  .leaflet-control-attribution { font-size: 9px; max-width: 100vw; }
}
</style>
"""


class HtmlControl(MacroElement):
    """A Leaflet control holding a box of HTML (legend, title, summary).

    Parameters
    ----------
    html
        The box's content (already escaped).
    position
        Leaflet corner: ``topleft``, ``topright``, ``bottomleft``, ``bottomright``.
    css_class
        CSS classes of the box (``coverage-box`` is always added).
    """

    _template = template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: {{ this.position|tojson }}});
        {{ this.get_name() }}.onAdd = function (map) {
            var div = L.DomUtil.create('div', {{ this.css_class|tojson }});
            div.innerHTML = {{ this.html|tojson }};
            L.DomEvent.disableClickPropagation(div);
            L.DomEvent.disableScrollPropagation(div);
            return div;
        };
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, html: str, *, position: str = "bottomleft", css_class: str = "") -> None:
        super().__init__()
        self._name = "HtmlControl"
        self.html = html
        self.position = position
        self.css_class = f"coverage-box {css_class}".strip()


class LayerControl(folium.LayerControl):
    """folium's layer control with the layer names HTML-escaped.

    Leaflet writes each name into the control as HTML, and the names carry
    analysis labels and service kinds: escaped here, once for every layer,
    whoever built it.
    """

    def render(self, **kwargs: Any) -> None:
        """Collect the map's layers under their escaped names, then render as folium does."""
        self.reset()
        for item in self._parent._children.values():
            if not isinstance(item, folium.map.Layer) or not item.control:
                continue
            target = self.overlays if item.overlay else self.base_layers
            target[esc(item.layer_name)] = item.get_name()
        MacroElement.render(self, **kwargs)


class MetricScale(MacroElement):
    """Leaflet's scale bar, metric only."""

    _template = template(
        """
        {% macro script(this, kwargs) %}
        L.control.scale({imperial: false, position: "bottomright"})
            .addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )


class DataAttribution(MacroElement):
    """Adds the data sources to the map's attribution control, each part on its own.

    Leaflet counts identical attributions once: the OpenStreetMap credit of
    the road data and of the tiles (the same text) is shown once.
    """

    _template = template(
        """
        {% macro script(this, kwargs) %}
        {%- for part in this.parts %}
        {{ this._parent.get_name() }}.attributionControl.addAttribution({{ part|tojson }});
        {%- endfor %}
        {% endmacro %}
        """
    )

    def __init__(self, text: str | list[str]) -> None:
        super().__init__()
        self._name = "DataAttribution"
        self.parts = [text] if isinstance(text, str) else [p for p in text if p]
        self.text = " · ".join(self.parts)


class LegendSafe(MacroElement):
    """Keep every control off the data: fit the bounds around the boxes, fold on small screens.

    Once the controls exist, the map is fitted to ``bounds`` with padding as
    large as the legend (left), the title (top) and the layer control (right),
    so no commune hides under them; on a small screen (``max-width: 600px`` or
    ``max-height: 500px``, the CSS media query of :data:`MAP_CSS`) the legend
    starts folded (its title unfolds it) and the plain fit is kept (a padded
    fit would zoom out a whole level in a small frame); the bottom-left corner is raised
    above the attribution when they would overlap. Re-run on resize.
    """

    _template = template(
        """
        {% macro script(this, kwargs) %}
        (function (map) {
            var small = window.matchMedia("(max-width: 600px), (max-height: 500px)");
            var box = map.getContainer();
            if (small.matches) {
                box.querySelectorAll(".coverage-legend details").forEach(function (d) {
                    d.removeAttribute("open");
                });
            }
            function corner(name) { return box.querySelector(".leaflet-" + name); }
            function lift() {
                var left = box.querySelector(".leaflet-bottom.leaflet-left");
                var attr = map.attributionControl && map.attributionControl.getContainer();
                if (!left || !attr) { return; }
                left.style.bottom = "0px";
                var a = attr.getBoundingClientRect(), l = left.getBoundingClientRect();
                var overlap = l.right > a.left && l.left < a.right && l.bottom > a.top;
                left.style.bottom = overlap ? (a.height + 2) + "px" : "0px";
            }
            function fit() {
                lift();
                if (small.matches) { return; }  // the legend is folded: the plain fit stays
                var legend = box.querySelector(".coverage-legend");
                var title = box.querySelector(".coverage-title");
                var layers = box.querySelector(".leaflet-control-layers");
                var width = box.clientWidth, height = box.clientHeight;
                var padLeft = legend ? legend.offsetWidth + 20 : 10;
                var padTop = title ? title.offsetHeight + 20 : 10;
                var padRight = layers ? layers.offsetWidth + 20 : 10;
                if (padLeft + padRight > width * 0.6) { padLeft = 10; padRight = 10; }
                if (padTop > height * 0.3) { padTop = 10; }
                map.fitBounds({{ this.bounds|tojson }}, {
                    paddingTopLeft: [padLeft, padTop],
                    paddingBottomRight: [padRight, 30],
                    maxZoom: {{ this.max_zoom|tojson }}
                });
            }
            fit();
            box.querySelectorAll(".coverage-legend details").forEach(function (d) {
                d.addEventListener("toggle", lift);
            });
            window.addEventListener("resize", fit);
        })({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(
        self, bounds_lonlat: tuple[float, float, float, float], *, max_zoom: int | None = None
    ) -> None:
        super().__init__()
        self._name = "LegendSafe"
        west, south, east, north = bounds_lonlat
        self.bounds = [[south, west], [north, east]]
        self.max_zoom = max_zoom if max_zoom is not None else 18


def base_map(
    *,
    bounds_lonlat: tuple[float, float, float, float],
    title: str,
    tiles_url: str | None,
    tiles_attribution: str,
    tiles_max_zoom: int,
    max_zoom_fit: int | None = None,
) -> folium.Map:
    """An empty map fitted to ``(west, south, east, north)`` with the page in French."""
    west, south, east, north = bounds_lonlat
    fmap = folium.Map(
        location=[(south + north) / 2, (west + east) / 2],
        zoom_start=9,
        tiles=None,
        control_scale=False,
        prefer_canvas=False,
        font_size="0.8rem",
    )
    figure = fmap.get_root()
    assert isinstance(figure, Figure)
    figure._template = FIGURE_TEMPLATE
    figure.title = title
    figure.header.add_child(folium.Element(MAP_CSS), name="coverage_css")
    if tiles_url:
        folium.TileLayer(
            tiles=tiles_url,
            attr=tiles_attribution,
            name="Fond de carte",
            max_zoom=tiles_max_zoom,
            control=False,
        ).add_to(fmap)
    fmap.add_child(MetricScale())
    fmap.fit_bounds([[south, west], [north, east]], max_zoom=max_zoom_fit)
    return fmap


def geojson_layer(
    data: dict[str, Any],
    *,
    name: str,
    show: bool = True,
    control: bool = True,
    marker: Any = None,
    popup_width_px: int = 340,
    highlight: bool = True,
) -> folium.GeoJson:
    """One GeoJson layer whose features carry their own ``style``, ``popup`` and ``tooltip``.

    Popups and tooltips are pre-rendered, escaped HTML in each feature's
    properties, bound by plain Leaflet calls (no jQuery, no per-feature layer).
    """
    on_each = f"""
    function (feature, layer) {{
        var p = feature.properties;
        if (p.popup) {{ layer.bindPopup(p.popup, {{maxWidth: {popup_width_px}}}); }}
        if (p.tooltip) {{ layer.bindTooltip(p.tooltip, {{sticky: true}}); }}
        {"" if not highlight else '''
        if (layer.setStyle) {
            layer.on('mouseover', function () { layer.setStyle({weight: 2.5}); });
            layer.on('mouseout', function () { layer.setStyle(p.style); });
        }'''}
    }}
    """
    return folium.GeoJson(
        data,
        name=name,
        show=show,
        control=control,
        marker=marker,
        on_each_feature=folium.JsCode(on_each),
    )


def pin_marker(svg: str, *, size_px: int = 30) -> folium.Marker:
    """A template marker (for a GeoJson layer) drawn as an inline SVG pin."""
    height = round(size_px * 4 / 3)
    icon = folium.DivIcon(
        html=svg,
        icon_size=(size_px, height),
        icon_anchor=(size_px // 2, height),
        popup_anchor=(0, -height + 4),
        class_name="coverage-pin",
    )
    return folium.Marker(icon=icon)


class SharedData(MacroElement):
    """A GeoJSON FeatureCollection written once in the page (a JS variable) for several layers."""

    _template = template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = {{ this.data|tojson }};
        {% endmacro %}
        """
    )

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__()
        self._name = "SharedData"
        self.data = data


class SharedGeoJson(folium.map.Layer):
    """A Leaflet GeoJSON layer drawing a :class:`SharedData` collection.

    Each feature's values for this layer are ``properties.values[key]``;
    ``style_from`` maps Leaflet style options to names of those values
    (``{"fillColor": "colour"}``), ``style`` gives the fixed options;
    ``popup`` and ``tooltip`` name the values holding the HTML; ``only``
    names a value that must be present for the feature to be drawn.
    """

    _template = template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.geoJson({{ this.source.get_name() }}, {
            {%- if this.only %}
            filter: function (feature) {
                var v = feature.properties.values[{{ this.key|tojson }}];
                return v !== undefined && v[{{ this.only|tojson }}] !== undefined;
            },
            {%- endif %}
            style: function (feature) {
                var v = feature.properties.values[{{ this.key|tojson }}];
                var s = Object.assign({}, {{ this.style|tojson }});
                var from = {{ this.style_from|tojson }};
                for (var k in from) { s[k] = v[from[k]]; }
                return s;
            },
            onEachFeature: function (feature, layer) {
                var v = feature.properties.values[{{ this.key|tojson }}];
                {%- if this.popup %}
                layer.bindPopup(v[{{ this.popup|tojson }}], {maxWidth: 340});
                {%- endif %}
                {%- if this.tooltip %}
                layer.bindTooltip(v[{{ this.tooltip|tojson }}], {sticky: true});
                {%- endif %}
                {%- if this.highlight %}
                layer.on('mouseover', function () { layer.setStyle({weight: 2.5}); });
                layer.on('mouseout', function () {
                    {{ this.get_name() }}.resetStyle(layer);
                });
                {%- endif %}
            }
        });
        {% endmacro %}
        """
    )

    def __init__(
        self,
        source: SharedData,
        key: str,
        *,
        name: str,
        style: dict[str, Any],
        style_from: dict[str, str] | None = None,
        popup: str | None = "popup",
        tooltip: str | None = "tooltip",
        only: str | None = None,
        highlight: bool = True,
        overlay: bool = True,
        show: bool = True,
    ) -> None:
        super().__init__(name=name, overlay=overlay, control=True, show=show)
        self._name = "SharedGeoJson"
        self.source = source
        self.key = key
        self.style = style
        self.style_from = style_from or {}
        self.popup = popup
        self.tooltip = tooltip
        self.only = only
        self.highlight = highlight

    def feature_count(self) -> int:
        """Features this layer draws."""
        features = self.source.data["features"]
        if self.only is None:
            return len(features)
        return sum(1 for f in features if self.only in f["properties"]["values"].get(self.key, {}))


class KeepInFront(MacroElement):
    """Bring outline layers back on top after a base layer (a choropleth) is switched."""

    _template = template(
        """
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.on("baselayerchange overlayadd", function () {
            {%- for layer in this.layers %}
            if ({{ this._parent.get_name() }}.hasLayer({{ layer.get_name() }})) {
                {{ layer.get_name() }}.bringToFront();
            }
            {%- endfor %}
        });
        {% endmacro %}
        """
    )

    def __init__(self, layers: list[Any]) -> None:
        super().__init__()
        self._name = "KeepInFront"
        self.layers = layers
