"""The map of a comparison of two results (``compare/map.html``): gains and losses per commune.

Registered as the ``coverage.compare_writers`` entry point ``carte``:
``coverage compare`` (``Comparison.write``) calls it with the comparison
folder and the comparison as plain data (``result_a``, ``result_b``,
``totals``, ``changes``); the communes are read from result A's
``results.gpkg``. One layer per analysis and threshold, the analysis'
reference threshold of the first analysis shown: communes whose inhabitants
gain access in green, those losing it in orange, unchanged ones light grey.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from maps.escape import esc
from maps.style import (
    GAIN_COLOURS,
    LOSS_COLOURS,
    UNCHANGED_COLOUR,
    fr_number,
    minutes_text,
)

MAP_FILE = "map.html"
STEPS = (50, 500)
"""Inhabitants gaining or losing access: up to 50, 50 to 500, more than 500."""


def change_colour(net: float) -> str:
    """Colour of a commune's net change (inhabitants gaining minus losing access)."""
    if net == 0:
        return UNCHANGED_COLOUR
    palette = GAIN_COLOURS if net > 0 else LOSS_COLOURS
    size = abs(net)
    return palette[0 if size <= STEPS[0] else 1 if size <= STEPS[1] else 2]


def _legend_rows() -> str:
    def row(colour: str, text: str) -> str:
        return f'<div><span class="swatch" style="background:{colour}"></span>{text}</div>'

    low, high = (fr_number(v) for v in STEPS)
    return "".join(
        [
            row(GAIN_COLOURS[2], f"gagnent l’accès : plus de {high} habitants"),
            row(GAIN_COLOURS[1], f"gagnent l’accès : {low} à {high} habitants"),
            row(GAIN_COLOURS[0], f"gagnent l’accès : jusqu’à {low} habitants"),
            row(UNCHANGED_COLOUR, "sans changement"),
            row(LOSS_COLOURS[0], f"perdent l’accès : jusqu’à {low} habitants"),
            row(LOSS_COLOURS[1], f"perdent l’accès : {low} à {high} habitants"),
            row(LOSS_COLOURS[2], f"perdent l’accès : plus de {high} habitants"),
        ]
    )


def write_compare_map(folder: Path, comparison: dict[str, Any]) -> list[Path]:
    """Write ``map.html`` in a comparison folder (gains and losses per commune).

    Parameters
    ----------
    folder
        The comparison directory (its CSV and JSON are already there).
    comparison
        The comparison as plain data: ``a``, ``b`` (scenario names),
        ``result_a``, ``result_b`` (the two result folders), ``totals`` and
        ``changes`` (rows of :class:`coverage.jobs.compare.Comparison`).

    Returns
    -------
    list of Path
        The written file (none when result A's folder is not given).
    """
    import pandas as pd

    import maps._data as _data
    from maps._controls import geojson_layer
    from maps.coverage_map import finish_map, new_map, scenario_label
    from maps.layers import popup_html
    from maps.legend import data_attribution_parts, legend_html, network_line
    from maps.render import render_html

    if not comparison.get("result_a"):
        return []
    result_a = _data.as_result(comparison["result_a"])
    summary = result_a.summary
    label_b = comparison.get("b", "")
    if comparison.get("result_b"):
        label_b = scenario_label(_data.as_result(comparison["result_b"]).summary) or label_b
    label_a = scenario_label(summary) or comparison.get("a", "")
    communes = _data.communes(result_a)
    changes = pd.DataFrame(comparison.get("changes", []))
    totals = pd.DataFrame(comparison.get("totals", []))
    title = f"Qui gagne et qui perd l’accès : {label_b} par rapport à {label_a}"
    fmap = new_map(_data.bounds_lonlat(communes), title=title, assets=None)
    labels = {name: str(figures.get("label", name)) for name, figures in _analyses(summary)}
    first = True
    total_rows = []
    for row in totals.to_dict(orient="records"):
        analysis, minutes = str(row["analysis"]), float(row["threshold_minutes"])
        reference = dict(_analyses(summary)).get(analysis, {}).get("reference_minutes")
        label = labels.get(analysis, analysis)
        chosen = changes[
            (changes.get("analysis") == analysis) & (changes.get("threshold_minutes") == minutes)
        ] if len(changes) else changes
        by_code = {str(r["insee_code"]): r for r in chosen.to_dict(orient="records")}
        properties = []
        for code, name in zip(communes["insee_code"], communes["name"], strict=True):
            change = by_code.get(str(code))
            gained = float(change["gained"]) if change else 0.0
            lost = float(change["lost"]) if change else 0.0
            net = gained - lost
            rows = [
                ("Gagnent l’accès", f"{fr_number(gained)} hab."),
                ("Perdent l’accès", f"{fr_number(lost)} hab."),
            ]
            if change:
                rows.append(("Au-delà (A)", f"{fr_number(change['pop_beyond_a'])} hab."))
                rows.append(("Au-delà (B)", f"{fr_number(change['pop_beyond_b'])} hab."))
            colour = change_colour(net)
            sign = "+" if net > 0 else ""
            properties.append(
                {
                    "insee_code": str(code),
                    "gained": gained,
                    "lost": lost,
                    "colour": colour,
                    "style": {
                        "fillColor": colour,
                        "color": "#4d4d4d",
                        "weight": 0.5,
                        "fillOpacity": 0.8,
                    },
                    "popup": popup_html(f"{esc(name)} ({esc(code)})", rows),
                    "tooltip": f"{esc(name)} : {sign}{fr_number(net)} hab. à portée",
                }
            )
        show = first and (reference is None or float(reference) == minutes)
        layer_name = f"{label} : à moins de {minutes_text(minutes)} min"
        geojson_layer(
            _data.feature_collection(communes, properties), name=layer_name, show=show
        ).add_to(fmap)
        first = first and not show
        total_rows.append(
            f"<div>{esc(layer_name)} : +{fr_number(row['gained'])} / "
            f"−{fr_number(row['lost'])} hab. ({fr_number(row['communes_changed'])} communes)</div>"
        )
    provenance = summary.get("provenance", {})
    legend = legend_html(
        title=title,
        subtitle=str(summary.get("territory", {}).get("label", "")),
        sections=[
            ("Habitants qui gagnent ou perdent l’accès", _legend_rows()),
            ("Bilan (gagnent / perdent)", "".join(total_rows)),
            ("Réseau routier", f"<div>{network_line(provenance.get('network', {}))}</div>"),
        ],
    )
    fmap = finish_map(
        fmap,
        legend=legend,
        attribution=data_attribution_parts(summary),
        title_html=f"<b>{esc(title)}</b>",
        collapsed_layers=True,
    )
    path = Path(folder) / MAP_FILE
    path.write_text(render_html(fmap), encoding="utf-8")
    return [path]


def _analyses(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    analyses = summary.get("analyses", {})
    if isinstance(analyses, dict):
        return list(analyses.items())
    return [(str(a.get("name")), a) for a in analyses]
