"""The coverage map of a scenario result: choropleth, isochrones, catchments, services, underserved.

Reads a :class:`coverage.results.ResultFolder` and returns a folium map;
computes no travel time. All labels are in French; folium is imported lazily.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd

import maps._data as _data
from coverage.results import ResultFolder
from maps.assets import AssetConfig, apply_assets, attach
from maps.escape import esc
from maps.layers import (
    AnalysisView,
    add_choropleths,
    add_underserved,
    catchment_features,
    isochrone_features,
    polygon_layer,
    service_layer,
)
from maps.legend import (
    data_attribution_parts,
    isochrones_html,
    legend_html,
    network_line,
    provenance_note,
    services_html,
    time_classes_html,
    underserved_html,
)
from maps.style import kind_count_text, minutes_text

if TYPE_CHECKING:
    import folium


def new_map(
    bounds_lonlat: tuple[float, float, float, float],
    *,
    title: str,
    assets: AssetConfig | None,
    max_zoom_fit: int | None = None,
) -> folium.Map:
    """An empty French map page fitted to bounds, with tiles and scale as ``assets`` says."""
    from maps._controls import base_map

    config = assets or AssetConfig()
    fmap = base_map(
        bounds_lonlat=bounds_lonlat,
        title=title,
        tiles_url=config.tile_template if config.tiles else None,
        tiles_attribution=config.tile_attribution,
        tiles_max_zoom=config.tiles_max_zoom,
        max_zoom_fit=max_zoom_fit,
    )
    attach(fmap, config)
    fmap._coverage_fit = (bounds_lonlat, max_zoom_fit)  # refitted around the boxes (LegendSafe)
    return fmap


def finish_map(
    fmap: folium.Map,
    *,
    legend: str,
    attribution: str | list[str],
    title_html: str | None,
    collapsed_layers: bool,
    front: Sequence[Any] = (),
) -> folium.Map:
    """Add the legend, title, attribution and layer control; point assets where configured."""
    from maps._controls import DataAttribution, HtmlControl, KeepInFront, LayerControl, LegendSafe

    if title_html:
        fmap.add_child(HtmlControl(title_html, position="topleft", css_class="coverage-title"))
    fmap.add_child(HtmlControl(legend, position="bottomleft", css_class="coverage-legend"))
    if attribution:
        fmap.add_child(DataAttribution(attribution))
    LayerControl(collapsed=collapsed_layers, position="topright").add_to(fmap)
    if front:
        fmap.add_child(KeepInFront(list(front)))
    fit = getattr(fmap, "_coverage_fit", None)
    if fit is not None:
        fmap.add_child(LegendSafe(fit[0], max_zoom=fit[1]))
    apply_assets(fmap)
    return fmap


def services_for(result: ResultFolder, analyses: Sequence[str]) -> gpd.GeoDataFrame:
    """The service points used by at least one of the analyses (EPSG:4326)."""
    services = _data.services(result)
    used = None
    for name in analyses:
        column = f"in__{name}"
        flag = services[column].astype(bool) if column in services else None
        if flag is None:  # an older result: the analysis' service ids from the summary
            ids = set(result.analysis(name).get("service_ids", []))
            flag = services["service_id"].isin(ids)
        used = flag if used is None else used | flag
    return services[used] if used is not None else services.iloc[:0]


def add_services(fmap: folium.Map, services: gpd.GeoDataFrame) -> dict[str, int]:
    """One marker layer per service kind, the sites a scenario adds in their own layer.

    Returns the count drawn per legend entry: ``kind`` for the existing sites,
    ``(kind, "added")`` for the added ones (hollow pins with a ``+``).
    """
    counts: dict[Any, int] = {}
    added = _added_flags(services)
    for kind in sorted(services["kind"].unique()):
        for is_added in (False, True):
            chosen = services[(services["kind"] == kind) & (added == is_added)]
            if not len(chosen):
                continue
            layer = service_layer(chosen, kind, added=is_added)
            counts[(kind, "added") if is_added else kind] = len(layer.data["features"])
            layer.add_to(fmap)
    return counts


def _added_flags(services: gpd.GeoDataFrame) -> Any:
    """Whether each site was added by the scenario (``added`` column; ``False`` if absent)."""
    if "added" not in services:
        return services["kind"].map(lambda _kind: False).astype(bool)
    return services["added"].fillna(False).astype(bool)


def added_kinds(services: gpd.GeoDataFrame) -> dict[str, int]:
    """The kinds a scenario adds sites of, with the number added, most added first."""
    flags = _added_flags(services)
    counts = services.loc[flags, "kind"].value_counts()
    return {str(kind): int(n) for kind, n in counts.items()}


def placed_order(result: ResultFolder, names: list[str], kinds: dict[str, int]) -> list[str]:
    """The analyses with the first one covering the kind the scenario adds (shown first)."""
    if not kinds:
        return names
    first_kind = next(iter(kinds))
    for name in names:
        if first_kind in result.analysis(name).get("kinds", []) or name == first_kind:
            return [name, *[n for n in names if n != name]]
    return names


def analysis_views(
    result: ResultFolder, names: Sequence[str], *, ranked: bool = True
) -> list[AnalysisView]:
    """The label, reference threshold and underserved ranking of each analysis."""
    views = []
    for name in names:
        figures = result.analysis(name)
        views.append(
            AnalysisView(
                name=name,
                label=str(figures["label"]),
                reference_minutes=float(figures["reference_minutes"]),
                ranking=_data.underserved(result, name) if ranked else None,
                public=str((figures.get("public") or {}).get("label", "")),
            )
        )
    return views


def underserved_line(view: AnalysisView, count: int, *, several: bool) -> str:
    """The legend line of an analysis' underserved communes."""
    line = underserved_html(count, view.reference_minutes, drawn=view.ranking is not None)
    if view.public:
        line += f"<div>classées selon le public : {esc(view.public)}</div>"
    return f"<i>{esc(view.label)}</i>{line}" if several else line


def publics_html(result: ResultFolder, views: Sequence[AnalysisView]) -> str:
    """The public each analysis counts, with its source and year ("" when all count everyone)."""
    rows = []
    for view in views:
        public = result.analysis(view.name).get("public")
        if public:
            origin = ", ".join(str(public[k]) for k in ("source", "year") if public.get(k))
            rows.append(
                f"<div><i>{esc(view.label)}</i> : {esc(public['label'])}"
                + (f" ({esc(origin)})" if origin else "")
                + "</div>"
            )
    return "".join(rows)


def scenario_label(summary: dict[str, Any]) -> str:
    """The scenario's French label without the placement model's code (``(placement mclp)``)."""
    label = str(summary.get("scenario", {}).get("label", ""))
    return re.sub(r"\s*\(placement [a-z_]+\)\s*$", "", label).strip()


def is_placement(summary: dict[str, Any]) -> bool:
    """Whether the result is the run of a ``coverage place`` scenario (``…_placement_<kind>``)."""
    scenario = summary.get("scenario", {})
    return "_placement_" in str(scenario.get("name", "")) or bool(
        re.search(r"\(placement [a-z_]+\)\s*$", str(scenario.get("label", "")))
    )


def title_box(summary: dict[str, Any], heading: str) -> str:
    """The title box of a standalone page (hidden in embeds)."""
    return f"<b>{esc(heading)}</b><br>{esc(scenario_label(summary))}"


def coverage_map(
    result: ResultFolder | str | Path,
    analysis: str | None = None,
    *,
    assets: AssetConfig | None = None,
    isochrones: bool = True,
    catchments: bool = True,
    services: bool = True,
    underserved: bool = True,
    collapsed_layers: bool = False,
) -> folium.Map:
    """The full coverage map of a result.

    Layers (one Leaflet layer each, listed in the layer control):

    - ``Temps d'accès : <analysis>``: communes coloured by the
      population-weighted mean car time to the nearest service (classes
      0–10–15–20–30–45+ min), popups with commune, population, times,
      inhabitants beyond the reference threshold and nearest service;
    - ``Communes mal desservies : <analysis>``: the communes with
      inhabitants beyond the reference threshold (``tables/underserved_*``),
      outlined, with their rank;
    - ``Isochrones : <analysis>`` (hidden at first): bands between the
      scenario's thresholds around the nearest service;
    - ``Zones de desserte : <analysis>`` (hidden at first): the area whose
      nearest service is each site;
    - ``Services : <kind> (n)``: the sites used by the analyses, one pin per
      kind, popups with name, address and geocoding quality.

    Plus a French legend, metric scale bar, data attribution (OpenStreetMap
    contributors, IGN / INSEE, service producers, as the provenance says) and
    a provenance note (network, speeds, date).

    Parameters
    ----------
    result
        A result folder of ``coverage run`` (or its path).
    analysis
        The analysis to map; ``None`` maps all of them (the first one shown,
        the others listed in the layer control).
    assets
        Where scripts, stylesheets and tiles come from (default folium's CDNs, OSM tiles).
    isochrones, catchments, services, underserved
        Draw these layers (when the run kept them).
    collapsed_layers
        Fold the layer control (for small frames).

    Returns
    -------
    folium.Map

    Raises
    ------
    coverage.errors.DataError
        For an analysis the result does not have, or a missing layer or table.
    """
    result = _data.as_result(result)
    names = _data.pick_analyses(result, analysis)
    summary = result.summary
    communes = _data.communes(result)
    all_services = services_for(result, names)
    placed = added_kinds(all_services)
    names = placed_order(result, names, placed)
    views = analysis_views(result, names, ranked=underserved)
    heading = (
        f"Temps d’accès en voiture : {views[0].label}"
        if len(views) == 1
        else "Temps d’accès en voiture au service le plus proche"
    )
    if placed and is_placement(summary):  # say how many sites, at which threshold
        kind = next(iter(placed))
        total = int((all_services["kind"] == kind).sum())
        heading = (
            f"{kind_count_text(kind, total)} : couverture à "
            f"{minutes_text(views[0].reference_minutes)} minutes"
        )
    fmap = new_map(_data.bounds_lonlat(communes), title=heading, assets=assets)
    shared, _choropleths = add_choropleths(fmap, communes, views)
    iso_drawn = False
    if isochrones:
        for view in views:
            bands = _data.isochrone_bands(result, view.name)
            if len(bands):
                iso_drawn = True
                polygon_layer(
                    isochrone_features(bands, label=view.label),
                    name=f"Isochrones : {view.label}",
                    show=False,
                ).add_to(fmap)
    if catchments:
        for view in views:
            frame = _data.catchments(result, view.name)
            if len(frame):
                polygon_layer(
                    catchment_features(frame, label=view.label),
                    name=f"Zones de desserte : {view.label}",
                    show=False,
                ).add_to(fmap)
    front = add_underserved(fmap, shared, views) if underserved else []
    underserved_rows = [
        underserved_line(view, view.underserved_count, several=len(views) > 1)
        for view in views
    ]
    counts = add_services(fmap, all_services) if services else {}

    thresholds = summary.get("scenario", {}).get("thresholds_minutes", [])
    provenance = summary.get("provenance", {})
    sections = [
        ("Temps moyen des habitants de la commune", time_classes_html()),
        ("Public compté", publics_html(result, views)),
        ("Communes mal desservies", "".join(underserved_rows) if underserved else ""),
        (
            "Isochrones (couche à afficher)",
            isochrones_html([float(t) for t in thresholds]) if iso_drawn else "",
        ),
        ("Services", services_html(counts)),
        ("Réseau routier", f"<div>{network_line(provenance.get('network', {}))}</div>"),
    ]
    legend = legend_html(
        title=heading,
        subtitle=str(summary.get("territory", {}).get("label", "")),
        sections=sections,
        note=provenance_note(summary),
    )
    return finish_map(
        fmap,
        legend=legend,
        attribution=data_attribution_parts(summary),
        title_html=title_box(summary, heading),
        collapsed_layers=collapsed_layers,
        front=front,
    )

