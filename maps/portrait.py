"""The map of one EPCI for the intercommunal portraits: its communes' indicators, fitted to it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd

import maps._data as _data
from coverage.results import ResultFolder
from maps._data import threshold_key
from maps.assets import AssetConfig
from maps.coverage_map import (
    add_services,
    analysis_views,
    finish_map,
    new_map,
    services_for,
    title_box,
    underserved_line,
)
from maps.errors import UnknownEpciError
from maps.escape import esc
from maps.layers import add_choropleths, add_underserved, outline_features, outline_layer
from maps.legend import (
    data_attribution_parts,
    legend_html,
    provenance_note,
    services_html,
    time_classes_html,
)
from maps.style import fr_minutes, fr_number, fr_share, minutes_text

if TYPE_CHECKING:
    import folium

PORTRAIT_MAX_ZOOM = 12


def epci_row(result: ResultFolder, epci_siren: str) -> dict[str, Any]:
    """The EPCI's line of the result (name and indicators per analysis).

    Raises
    ------
    UnknownEpciError
        If the result does not cover that SIREN (the message lists those it covers).
    """
    layer = result.layer("epci")
    siren = str(epci_siren).strip()
    match = layer[layer["epci_siren"] == siren]
    if match.empty:
        raise UnknownEpciError(siren, sorted(layer["epci_siren"].astype(str)))
    return match.drop(columns="geometry").iloc[0].to_dict()


def _epci_summary(row: dict[str, Any], result: ResultFolder, names: list[str]) -> str:
    lines = []
    first = names[0]
    communes = row.get(f"{first}__communes")
    population = row.get(f"{first}__population")
    lines.append(f"{fr_number(communes)} communes, {fr_number(population)} habitants")
    for name in names:
        figures = result.analysis(name)
        reference = float(figures["reference_minutes"])
        ref = threshold_key(reference)
        lines.append(
            f"<i>{esc(figures['label'])}</i> : temps moyen "
            f"{fr_minutes(row.get(f'{name}__minutes_mean'))}, "
            f"{fr_number(row.get(f'{name}__pop_beyond_{ref}'))} hab. au-delà de "
            f"{minutes_text(reference)} min ({fr_share(row.get(f'{name}__share_beyond_{ref}'))})"
        )
    return "<br>".join(lines)


def portrait_map(
    result: ResultFolder | str | Path,
    epci_siren: str,
    analysis: str | None = None,
    *,
    assets: AssetConfig | None = None,
    services: bool = True,
    underserved: bool = True,
    collapsed_layers: bool = True,
) -> folium.Map:
    """The map of one EPCI, fitted to its outline, for the intercommunal portraits.

    Draws the EPCI outline, its communes coloured by access time (one layer
    per analysis, the first shown; popups with every indicator of the
    analysis), its underserved communes, and the service sites inside it or
    nearest to one of its communes. The legend sums up the EPCI's figures.

    Parameters
    ----------
    result
        A result folder of ``coverage run`` (or its path).
    epci_siren
        SIREN of the EPCI (``"200034015"``).
    analysis
        The analysis to map; ``None`` maps all of them.
    assets
        Where scripts, stylesheets and tiles come from.
    services, underserved
        Draw these layers.
    collapsed_layers
        Fold the layer control (default, for iframes).

    Returns
    -------
    folium.Map

    Raises
    ------
    UnknownEpciError
        (a :class:`maps.MapError`, ``ValueError`` and ``LookupError``) for a
        SIREN the result does not cover.
    coverage.errors.DataError
        For an unknown analysis.
    """
    result = _data.as_result(result)
    row = epci_row(result, epci_siren)
    siren = str(row["epci_siren"])
    names = _data.pick_analyses(result, analysis)
    summary = result.summary
    all_communes = _data.communes(result)
    communes = all_communes[all_communes["epci_siren"].astype(str) == siren]
    epci_layer = _data.epci(result)
    outline = epci_layer[epci_layer["epci_siren"] == siren]
    name = str(row["epci_name"])
    fmap = new_map(
        _data.bounds_lonlat(outline),
        title=f"{name} : accès aux services",
        assets=assets,
        max_zoom_fit=PORTRAIT_MAX_ZOOM,
    )
    views = analysis_views(result, names, ranked=underserved)
    shared, _choropleths = add_choropleths(fmap, communes, views)
    front = add_underserved(fmap, shared, views) if underserved else []
    codes = set(communes["insee_code"].astype(str))
    under_lines = [
        underserved_line(
            view,
            0 if view.ranking is None else int(view.ranking["insee_code"].isin(codes).sum()),
            several=len(views) > 1,
        )
        for view in views
    ]
    contour = outline_layer(outline_features(outline, name_column="epci_name"), name="Contour")
    contour.add_to(fmap)
    counts = {}
    if services:
        counts = add_services(fmap, _portrait_services(result, names, communes))
    legend = legend_html(
        title=name,
        subtitle="",
        sections=[
            ("En bref", _epci_summary(row, result, names)),
            ("Temps moyen des habitants de la commune", time_classes_html()),
            ("Communes mal desservies", "".join(under_lines) if underserved else ""),
            ("Services (dans l’EPCI ou les plus proches)", services_html(counts)),
        ],
        note=provenance_note(summary),
    )
    return finish_map(
        fmap,
        legend=legend,
        attribution=data_attribution_parts(summary),
        title_html=title_box(summary, f"{name} : accès aux services"),
        collapsed_layers=collapsed_layers,
        front=[*front, contour],
    )


def _portrait_services(
    result: ResultFolder, names: list[str], communes: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Sites inside the EPCI, plus the nearest site of each of its communes."""
    services = services_for(result, names)
    nearest: set[str] = set()
    for name in names:
        column = f"{name}__nearest_service_id"
        if column in communes:
            nearest.update(communes[column].dropna().astype(str))
    inside = services["insee_code"].astype(str).isin(communes["insee_code"].astype(str))
    return services[inside | services["service_id"].isin(nearest)]
