"""Static PNG maps for reports (geopandas + matplotlib, Agg backend): access time by commune.

Labels and names are drawn as plain text (:func:`maps.escape.plain_text`):
a ``$`` in them never starts matplotlib's math mode.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import numpy as np

import maps._data as _data
from coverage.results import ResultFolder
from maps.errors import MapError
from maps.escape import plain_text
from maps.legend import data_attribution
from maps.portrait import epci_row
from maps.style import (
    EPCI_OUTLINE_COLOUR,
    NO_DATA_COLOUR,
    NO_DATA_LABEL,
    TIME_CLASSES,
    TIME_COLOURS,
    UNDERSERVED_COLOUR,
    fr_date,
    kind_label,
    kind_symbol,
    minutes_text,
    time_class,
)

DEFAULT_FIGSIZE_IN = (10.0, 7.5)


def _source_line(summary: dict[str, Any]) -> str:
    """The sources and provenance line under the map (plain text)."""
    text = data_attribution(summary)  # HTML for the web: keep its text
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    net = summary.get("provenance", {}).get("network", {})
    engine = summary.get("engine", {})
    return (
        f"Sources : {text}.\nRéseau du {fr_date(net.get('source_date'))}, vitesses "
        f"« {net.get('speed_profile', '')} » ; calcul du {fr_date(summary.get('created_utc'))} "
        f"(coverage {engine.get('version', '')})."
    )


def _scale_bar(ax: Any, bounds: np.ndarray) -> None:
    """A metric scale bar in the lower right corner (the axes are in metres)."""
    width = bounds[2] - bounds[0]
    length = next(s for s in (50_000, 20_000, 10_000, 5_000, 2_000, 1_000) if s <= width / 4)
    x1 = bounds[2] - 0.04 * width
    x0 = x1 - length
    y = bounds[1] + 0.04 * (bounds[3] - bounds[1])
    ax.plot([x0, x1], [y, y], color="black", linewidth=3, solid_capstyle="butt", zorder=6)
    ax.text(
        (x0 + x1) / 2,
        y + 0.012 * (bounds[3] - bounds[1]),
        f"{length // 1000} km",
        ha="center",
        va="bottom",
        fontsize=8,
        zorder=6,
    )


def export_png(
    result: ResultFolder | str | Path,
    path: str | Path,
    *,
    analysis: str | None = None,
    epci_siren: str | None = None,
    dpi: int = 150,
    figsize_in: tuple[float, float] = DEFAULT_FIGSIZE_IN,
    services: bool = True,
) -> Path:
    """Write a static map of access times (PNG) for reports.

    Communes coloured by the mean car time to the nearest service (the
    0–10–15–20–30–45+ min classes of the web maps), underserved communes
    outlined, EPCI outlines, service sites, a French title, legend, scale
    bar and source line. Drawn in Lambert-93 with matplotlib's Agg backend
    (no display, safe in a server).

    Parameters
    ----------
    result
        A result folder of ``coverage run`` (or its path).
    path
        The PNG file to write.
    analysis
        The analysis to draw (default the first).
    epci_siren
        Draw only this EPCI's communes (a portrait); default the whole territory.
    dpi
        Resolution; the image is ``figsize_in × dpi`` pixels.
    figsize_in
        Width and height in inches.
    services
        Draw the service sites.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    maps.UnknownEpciError
        For a SIREN the result does not cover.
    coverage.errors.DataError
        For an unknown analysis.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if dpi <= 0 or min(figsize_in) <= 0:
        raise MapError(f"export_png: dpi ({dpi}) and figsize_in ({figsize_in}) must be positive")
    result = _data.as_result(result)
    name = _data.pick_analyses(result, analysis)[0]
    figures = result.analysis(name)
    label = str(figures["label"])
    reference = float(figures["reference_minutes"])
    communes = result.layer("communes")
    epci = result.layer("epci")
    heading = f"Temps d’accès en voiture : {label}"
    where = str(result.summary.get("territory", {}).get("label", ""))
    if epci_siren is not None:
        row = epci_row(result, epci_siren)
        siren = str(row["epci_siren"])
        communes = communes[communes["epci_siren"] == siren]
        epci = epci[epci["epci_siren"] == siren]
        where = str(row["epci_name"])

    classes = time_class(communes[f"{name}__minutes_mean"].astype(float).to_numpy())
    colours = np.where(
        classes < 0, NO_DATA_COLOUR, np.asarray(TIME_COLOURS, dtype=object)[np.maximum(classes, 0)]
    )
    fig = Figure(figsize=figsize_in, dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.01, 0.07, 0.74, 0.83))
    ax.set_axis_off()
    ax.set_aspect("equal", adjustable="box")
    communes.plot(ax=ax, color=list(colours), edgecolor="#4d4d4d", linewidth=0.25)
    epci.boundary.plot(ax=ax, color=EPCI_OUTLINE_COLOUR, linewidth=0.9)
    under = _data.underserved(result, name)
    chosen = communes[communes["insee_code"].isin(under["insee_code"])]
    if len(chosen):
        chosen.boundary.plot(ax=ax, color=UNDERSERVED_COLOUR, linewidth=1.0)
    bounds = communes.total_bounds
    handles: list[Any] = [
        Patch(facecolor=colour, edgecolor="#4d4d4d", label=text)
        for _lo, _hi, colour, text in TIME_CLASSES
    ]
    if (classes < 0).any():
        handles.append(Patch(facecolor=NO_DATA_COLOUR, edgecolor="#4d4d4d", label=NO_DATA_LABEL))
    if len(chosen):
        handles.append(
            Line2D(
                [], [], color=UNDERSERVED_COLOUR, linewidth=1.6,
                label=f"mal desservie (au-delà de {minutes_text(reference)} min)",
            )
        )
    if services:
        points = result.layer("services")
        flag = f"in__{name}"
        if flag in points:
            points = points[points[flag].astype(bool)]
        pad_x, pad_y = 0.02 * (bounds[2] - bounds[0]), 0.02 * (bounds[3] - bounds[1])
        x, y = points.geometry.x, points.geometry.y
        inside = (
            (x >= bounds[0] - pad_x) & (x <= bounds[2] + pad_x)
            & (y >= bounds[1] - pad_y) & (y <= bounds[3] + pad_y)
        )
        points = points[inside]
        for kind in sorted(points["kind"].unique()):
            symbol = kind_symbol(kind)
            chosen_points = points[points["kind"] == kind]
            ax.scatter(
                chosen_points.geometry.x, chosen_points.geometry.y, s=28, marker="o",
                color=symbol.colour, edgecolor="white", linewidth=0.8, zorder=5,
            )
            handles.append(
                Line2D(
                    [], [], marker="o", linestyle="", color=symbol.colour,
                    markeredgecolor="white", markersize=6,
                    label=plain_text(f"{kind_label(kind)} ({len(chosen_points)})"),
                )
            )
    pad_x, pad_y = 0.02 * (bounds[2] - bounds[0]), 0.02 * (bounds[3] - bounds[1])
    ax.set_xlim(bounds[0] - pad_x, bounds[2] + pad_x)
    ax.set_ylim(bounds[1] - pad_y, bounds[3] + pad_y)
    _scale_bar(ax, bounds)
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7,
        title="Temps moyen des habitants", title_fontsize=7.5, frameon=False,
        borderaxespad=0.0,
    )
    fig.suptitle(plain_text(heading), fontsize=13, fontweight="bold", y=0.97)
    fig.text(0.5, 0.915, plain_text(where), ha="center", fontsize=11)
    source = plain_text(_source_line(result.summary))
    fig.text(0.02, 0.015, source, fontsize=6, color="#444444", va="bottom")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png")
    return path
