"""The map layers: commune choropleth, underserved communes, isochrones, catchments, services.

Each ``*_features`` function turns result layers (EPSG:4326, from
:mod:`maps._data`) into a GeoJSON FeatureCollection whose features carry
their ``style``, French ``popup`` (escaped HTML) and ``tooltip``, drawn as
one folium GeoJson layer per theme (never one layer per feature). The
communes are written once (:func:`commune_collection`, values of every
analysis per feature) and drawn by several layers: one choropleth per
analysis and the underserved outlines (:func:`add_choropleths`,
:func:`add_underserved`). folium is imported lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd

from maps._data import feature_collection, threshold_key
from maps.escape import esc
from maps.style import (
    CATEGORY_COLOURS,
    EPCI_OUTLINE_COLOUR,
    ISOCHRONE_COLOURS,
    NO_DATA_COLOUR,
    TIME_COLOURS,
    UNDERSERVED_COLOUR,
    added_pin_svg,
    fr_minutes,
    fr_number,
    fr_share,
    is_missing,
    kind_label,
    kind_symbol,
    minutes_text,
    pin_svg,
    time_class,
)

if TYPE_CHECKING:
    import folium

COMMUNE_OPACITY = 0.72


def _table(rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows)
    return f"<table>{body}</table>"


def popup_html(title: str, rows: Sequence[tuple[str, str]]) -> str:
    """A French popup: a bold title and a two-column table (values already escaped)."""
    return f'<div class="coverage-popup"><b>{title}</b>{_table(rows)}</div>'


def _value(row: dict[str, Any], column: str) -> Any:
    value = row.get(column)
    return None if is_missing(value) else value


def _number(value: Any, digits: int = 2) -> float | None:
    return None if is_missing(value) else round(float(value), digits)


# --- communes ----------------------------------------------------------------------------------


def commune_values(
    communes: gpd.GeoDataFrame,
    analysis: str,
    *,
    label: str,
    reference_minutes: float,
    ranking: pd.DataFrame | None = None,
    public: str = "",
) -> list[dict[str, Any]]:
    """Per-commune values of one analysis, in the order of ``communes``.

    ``public``: the French label of the public the analysis counts ("" for
    every inhabitant); its count and the part of it beyond the threshold are
    then shown under that label.

    Each dict: ``minutes`` (population-weighted mean, ``None`` when no
    inhabitant reaches a service), ``time_class`` (0–5, -1 for none),
    ``colour``, ``popup`` (French, escaped HTML), ``tooltip``, and for the
    underserved communes (``ranking``, see :func:`maps._data.underserved`)
    ``rank``, ``pop_beyond`` and ``under_tooltip``.
    """
    prefix = f"{analysis}__"
    ref = threshold_key(reference_minutes)
    threshold = minutes_text(reference_minutes)
    minutes = communes[f"{prefix}minutes_mean"].astype(float).to_numpy()
    classes = time_class(minutes)
    ranks: dict[str, int] = {}
    if ranking is not None and len(ranking):
        ranks = dict(
            zip(ranking["insee_code"].astype(str), ranking["rank"].astype(int), strict=True)
        )
    records = communes.drop(columns="geometry").to_dict(orient="records")
    values = []
    for row, klass in zip(records, classes, strict=True):
        mean = _value(row, f"{prefix}minutes_mean")
        name = esc(row["name"])
        code = str(row["insee_code"])
        beyond = _value(row, f"{prefix}pop_beyond_{ref}")
        share = _value(row, f"{prefix}share_beyond_{ref}")
        rows = [
            ("Habitants", fr_number(row.get("population"))),
            (f"Temps moyen ({esc(label)})", fr_minutes(mean)),
            ("Depuis le centre de la commune", fr_minutes(_value(row, f"{prefix}minutes_point"))),
            ("Habitant le plus éloigné", fr_minutes(_value(row, f"{prefix}minutes_max"))),
            (f"Au-delà de {threshold} min", f"{fr_number(beyond)} hab. ({fr_share(share)})"),
            ("Service le plus proche", esc(_value(row, f"{prefix}nearest_service_name")) or "—"),
        ]
        if public:  # the figures count the public, not every inhabitant
            rows[1:1] = [(esc(public), fr_number(_value(row, f"{prefix}population")))]
            rows[5] = (
                f"{esc(public)} au-delà de {threshold} min",
                f"{fr_number(beyond)} ({fr_share(share)})",
            )
        unreachable = _value(row, f"{prefix}pop_unreachable")
        if unreachable:
            rows.append(("Sans accès calculé", f"{fr_number(unreachable)} hab."))
        item: dict[str, Any] = {
            "minutes": _number(mean),
            "time_class": int(klass),
            "colour": NO_DATA_COLOUR if klass < 0 else TIME_COLOURS[klass],
            "tooltip": f"{name} : {fr_minutes(mean)}",
        }
        if code in ranks:
            rows.append(("Commune mal desservie", f"rang {ranks[code]} sur {len(ranks)}"))
            item["rank"] = ranks[code]
            item["pop_beyond"] = int(beyond or 0)
            item["under_tooltip"] = (
                f"{name} : {fr_number(beyond)} {esc(public) if public else 'hab.'} au-delà de "
                f"{threshold} min "
                f"(rang {ranks[code]})"
            )
        item["popup"] = popup_html(f"{name} ({esc(code)})", rows)
        values.append(item)
    return values


def commune_collection(
    communes: gpd.GeoDataFrame, values: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """The communes once, with the values of every analysis (``properties.values[<analysis>]``).

    Properties: ``insee_code``, ``name``, ``population``, ``values``.
    Several layers (one choropleth per analysis, the underserved outlines)
    draw from this one collection, so each outline is written once in the page.
    """
    properties = []
    for index, (code, name, population) in enumerate(
        zip(communes["insee_code"], communes["name"], communes["population"], strict=True)
    ):
        properties.append(
            {
                "insee_code": str(code),
                "name": str(name),
                "population": int(population or 0),
                "values": {key: rows[index] for key, rows in values.items()},
            }
        )
    return feature_collection(communes, properties)


def outline_features(frame: gpd.GeoDataFrame, *, name_column: str) -> dict[str, Any]:
    """Outlines (EPCI, territory) with a name tooltip and no fill."""
    properties = [
        {
            "name": str(name),
            "style": {"color": EPCI_OUTLINE_COLOUR, "weight": 2.5, "fill": False},
            "tooltip": esc(name),
        }
        for name in frame[name_column]
    ]
    return feature_collection(frame, properties)


# --- isochrones and catchments -----------------------------------------------------------------


def isochrone_features(bands: gpd.GeoDataFrame, *, label: str) -> dict[str, Any]:
    """Isochrone bands (from :func:`maps._data.isochrone_bands`), nearest band darkest."""
    properties = []
    for index, row in enumerate(bands.drop(columns="geometry").to_dict(orient="records")):
        low, high = float(row["minutes_low"]), float(row["minutes_high"])
        title = (
            f"Moins de {minutes_text(high)} min"
            if low == 0
            else f"De {minutes_text(low)} à {minutes_text(high)} min"
        )
        colour = ISOCHRONE_COLOURS[min(index, len(ISOCHRONE_COLOURS) - 1)]
        rows = [
            ("Service le plus proche", esc(label)),
            ("Habitants dans la bande", fr_number(row["population"])),
            (f"Habitants à moins de {minutes_text(high)} min", fr_number(row["population_within"])),
        ]
        properties.append(
            {
                "minutes_low": low,
                "minutes_high": high,
                "population": row["population"],
                "style": {"fillColor": colour, "color": colour, "weight": 0.6, "fillOpacity": 0.5},
                "popup": popup_html(f"{title} en voiture", rows),
                "tooltip": f"{title} : {esc(label)}",
            }
        )
    return feature_collection(bands, properties)


def catchment_features(catchments: gpd.GeoDataFrame, *, label: str) -> dict[str, Any]:
    """Nearest-facility catchments: the area whose nearest service is each site."""
    properties = []
    records = catchments.drop(columns="geometry").to_dict(orient="records")
    for index, row in enumerate(records):
        colour = CATEGORY_COLOURS[index % len(CATEGORY_COLOURS)]
        name = esc(row.get("name"))
        rows = [
            ("Habitants dont c’est le service le plus proche", fr_number(row.get("population"))),
            ("Temps moyen", fr_minutes(row.get("minutes_mean"))),
        ]
        properties.append(
            {
                "service_id": str(row["service_id"]),
                "name": str(row.get("name") or ""),
                "population": _number(row.get("population"), 1),
                "style": {"fillColor": colour, "color": colour, "weight": 1.2, "fillOpacity": 0.25},
                "popup": popup_html(f"Zone de desserte : {name}", rows),
                "tooltip": f"Zone de desserte : {name}",
            }
        )
    return feature_collection(catchments, properties)


# --- services ----------------------------------------------------------------------------------


def service_features(services: gpd.GeoDataFrame) -> dict[str, Any]:
    """Service points with their French popup: name, kind, address, geocode quality."""
    from coverage.geocode.base import QUALITY_LABELS
    from coverage.layers.services import STATUS_LABELS

    properties = []
    for row in services.drop(columns="geometry").to_dict(orient="records"):
        address = " ".join(
            esc(row.get(c)) for c in ("address", "postcode", "commune_name") if esc(row.get(c))
        )
        quality = str(row.get("geocode_quality") or "")
        rows = [
            ("Type", esc(kind_label(str(row["kind"])))),
            ("Adresse", address or "—"),
            ("Localisation", esc(QUALITY_LABELS.get(quality, quality)) or "—"),
        ]
        status = str(row.get("status") or "open")
        if status != "open":
            rows.append(("Statut", esc(STATUS_LABELS.get(status, status))))
        if row.get("in_territory") is False or row.get("in_territory") == 0:
            rows.append(("Situation", "hors du territoire"))
        if row.get("added"):
            rows.append(("Scénario", "site ajouté par le scénario"))
        properties.append(
            {
                "service_id": str(row["service_id"]),
                "kind": str(row["kind"]),
                "name": str(row.get("name") or ""),
                "geocode_quality": quality,
                "popup": popup_html(esc(row.get("name")), rows),
                "tooltip": esc(row.get("name")),
            }
        )
    return feature_collection(services, properties)


# --- folium wrappers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AnalysisView:
    """What a map shows of one analysis: its name, French label, reference and ranking."""

    name: str
    label: str
    reference_minutes: float
    ranking: pd.DataFrame | None = None
    public: str = ""
    """French label of the public counted ("" for every inhabitant)."""

    @property
    def underserved_count(self) -> int:
        """Communes with inhabitants beyond the reference threshold (in the ranking)."""
        return 0 if self.ranking is None else len(self.ranking)


def add_choropleths(
    fmap: folium.Map, communes: gpd.GeoDataFrame, views: Sequence[AnalysisView]
) -> tuple[Any, list[Any]]:
    """One choropleth layer per analysis over one shared commune collection.

    With several analyses the choropleths are exclusive (radio buttons in the
    layer control), the first shown. Returns the shared data and the layers.
    """
    from maps._controls import SharedData, SharedGeoJson

    values = {
        view.name: commune_values(
            communes,
            view.name,
            label=view.label,
            reference_minutes=view.reference_minutes,
            ranking=view.ranking,
            public=view.public,
        )
        for view in views
    }
    shared = SharedData(commune_collection(communes, values))
    fmap.add_child(shared)
    layers = []
    for index, view in enumerate(views):
        layer = SharedGeoJson(
            shared,
            view.name,
            name=f"Temps d’accès : {view.label}",
            style={"color": "#4d4d4d", "weight": 0.5, "fillOpacity": COMMUNE_OPACITY},
            style_from={"fillColor": "colour"},
            overlay=len(views) == 1,
            show=index == 0,
        )
        fmap.add_child(layer)
        layers.append(layer)
    return shared, layers


def add_underserved(fmap: folium.Map, shared: Any, views: Sequence[AnalysisView]) -> list[Any]:
    """Outline the underserved communes of each analysis (drawn from the shared collection)."""
    from maps._controls import SharedGeoJson

    layers = []
    for index, view in enumerate(views):
        if not view.underserved_count:
            continue
        layer = SharedGeoJson(
            shared,
            view.name,
            name=(
                f"Communes mal desservies : {view.label} "
                f"(au-delà de {minutes_text(view.reference_minutes)} min)"
            ),
            style={"color": UNDERSERVED_COLOUR, "weight": 2.5, "fill": False},
            popup=None,
            tooltip="under_tooltip",
            only="rank",
            highlight=False,
            show=index == 0,
        )
        fmap.add_child(layer)
        layers.append(layer)
    return layers


def polygon_layer(data: dict[str, Any], *, name: str, show: bool = True) -> folium.GeoJson:
    """A polygon GeoJSON layer (features carry their style, popup and tooltip)."""
    from maps._controls import geojson_layer

    return geojson_layer(data, name=name, show=show)


def outline_layer(data: dict[str, Any], *, name: str) -> folium.GeoJson:
    """An outline layer drawn under the others, kept out of the layer control."""
    from maps._controls import geojson_layer

    return geojson_layer(data, name=name, control=False, highlight=False)


def service_layer(
    services: gpd.GeoDataFrame, kind: str, *, show: bool = True, added: bool = False
) -> folium.GeoJson:
    """The service points of one kind as inline-SVG pins (one layer per kind).

    ``added=True``: the sites a scenario adds, drawn hollow with a ``+``
    (:func:`maps.style.added_pin_svg`) in a layer of their own.
    """
    from maps._controls import geojson_layer, pin_marker

    symbol = kind_symbol(kind)
    chosen = services[services["kind"] == kind]
    if added:
        name = f"Sites ajoutés : {kind_label(kind)} ({len(chosen)})"
        svg = added_pin_svg(symbol.colour, symbol.letters)
    else:
        name = f"Services : {kind_label(kind)} ({len(chosen)})"
        svg = pin_svg(symbol.colour, symbol.letters)
    return geojson_layer(
        service_features(chosen),
        name=name,
        show=show,
        marker=pin_marker(svg),
        highlight=False,
    )
