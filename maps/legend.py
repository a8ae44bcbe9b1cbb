"""French legend, attribution and provenance note of the maps, built from a result's summary.

Pure HTML strings (escaped here); :mod:`maps._controls` puts them on the map.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from maps.assets import OSM_TILES_ATTRIBUTION
from maps.escape import esc
from maps.style import (
    ISOCHRONE_COLOURS,
    NO_DATA_COLOUR,
    NO_DATA_LABEL,
    TIME_CLASSES,
    UNDERSERVED_COLOUR,
    added_pin_svg,
    fr_date,
    fr_number,
    kind_label,
    kind_symbol,
    minutes_text,
    pin_svg,
)

OSM_DATA_ATTRIBUTION = OSM_TILES_ATTRIBUTION
"""The road network's attribution: the same text as OSM tiles, so Leaflet shows it once."""


def _is_osm(network: dict[str, Any]) -> bool:
    """The network is OpenStreetMap's full drivable network (not a skeleton drawn from it)."""
    if network.get("kind") and network.get("kind") != "osm":
        return False
    kind = str(network.get("source_kind", "")).lower()
    source = str(network.get("source", "")).lower()
    return (
        "osm" in kind
        or kind in {"osmnx", "graphml"}
        or source.endswith((".osm", ".pbf", ".osm.xml", ".graphml"))
    )


def _network_words(network: dict[str, Any]) -> str:
    """What the road network holds, in a few French words, for the legend."""
    if network.get("kind") == "numbered_roads":
        origin = _short_source(str(network.get("layer_source", ""))) or "réseau fourni"
        return (
            "squelette des routes numérotées (autoroutes, nationales, départementales), "
            f"sans voies communales ; source {origin}, dérivé d’OpenStreetMap"
        )
    if _is_osm(network):
        return "extrait OpenStreetMap (réseau carrossable complet)"
    return ""


def network_line(network: dict[str, Any], *, capital: bool = True) -> str:
    """The road network's provenance in one French line (HTML): what it holds, source, date.

    A numbered-road skeleton is called so (never "OpenStreetMap"); an
    OpenStreetMap extract is named with its date.
    """
    words = _network_words(network)
    date = fr_date(network.get("source_date")) or "date inconnue"
    if not words:
        source = Path(str(network.get("source", ""))).name or "réseau inconnu"
        return esc(f"Réseau routier : {source}, données du {date}")
    head = words[:1].upper() + words[1:] if capital else words
    return esc(f"{head}, données du {date}")


def _short_source(text: str) -> str:
    """The producer of a source description (``ANCT, Liste ...`` -> ``ANCT``)."""
    head = text.split(",")[0].split(":")[0].split("(")[0].strip()
    return head or text.strip()


def data_attribution_parts(summary: dict[str, Any]) -> list[str]:
    """Attribution of the data a result was computed from (short HTML parts), from its provenance.

    © OpenStreetMap contributors for an OSM road network; IGN and INSEE when
    the commune layer says it comes from them; the producers of the service
    lists (``ANCT``...). The legend's provenance note gives the details. Each part
    is added to Leaflet's attribution on its own, so the OpenStreetMap credit,
    identical to the tiles', is shown once.
    """
    provenance = summary.get("provenance", {})
    parts: list[str] = []
    network = provenance.get("network", {})
    if _is_osm(network):
        parts.append(OSM_DATA_ATTRIBUTION)
    elif network.get("kind") == "numbered_roads":
        origin = _short_source(str(network.get("layer_source", ""))) or "réseau"
        parts.append(f"réseau : {esc(origin)}, routes numérotées")
        parts.append(OSM_DATA_ATTRIBUTION)
    elif network.get("source"):
        parts.append(f"réseau : {esc(Path(str(network['source'])).name)}")
    communes = provenance.get("population", {}).get("communes_source", {}) or {}
    text = f"{communes.get('source', '')} {communes.get('licence', '')}"
    producers = [name for name in ("IGN", "INSEE") if name in text]
    if producers:
        licence = " (Licence Ouverte)" if "Licence Ouverte" in text else ""
        parts.append(f"{', '.join(producers)}{licence}")
    elif communes.get("source"):
        parts.append(esc(_short_source(str(communes["source"]))))
    services = provenance.get("services", {}) or {}
    producers = []
    for source in services.values():
        name = _short_source(str(source.get("source", "")))
        if name and name not in producers:
            producers.append(name)
    if producers:
        parts.append(", ".join(esc(p) for p in producers))
    return parts


def data_attribution(summary: dict[str, Any]) -> str:
    """:func:`data_attribution_parts` in one line (`` · ``)."""
    return " · ".join(data_attribution_parts(summary))


def provenance_note(summary: dict[str, Any]) -> str:
    """How the times were obtained, in one French sentence (HTML): network, speeds, date."""
    provenance = summary.get("provenance", {})
    net = provenance.get("network", {})
    access = provenance.get("access_legs", {})
    population = provenance.get("population", {})
    source = esc(Path(str(net.get("source", ""))).name) or "réseau inconnu"
    parts = [
        f"Réseau routier : {source} ({network_line(net, capital=False)}), "
        f"profil de vitesses « {esc(net.get('speed_profile', ''))} »"
    ]
    model = net.get("turn_model")
    if model:
        parts[0] += (
            ", temps de manœuvre aux carrefours, "
            f"{fr_number(model.get('turn_restrictions_applied', 0))} interdictions de tourner"
        )
    factors = []
    if net.get("calibration_factor") not in (None, 1, 1.0):
        factors.append(f"calibrage ×{fr_number(net['calibration_factor'], 2)}")
    if net.get("peak_factor") not in (None, 1, 1.0):
        factors.append(f"heure de pointe ×{fr_number(net['peak_factor'], 2)}")
    if factors:
        parts[0] += ", " + ", ".join(factors)
    if access:
        parts.append(
            f"trajets d’accès au réseau à {fr_number(access.get('speed_kph'))} km/h, "
            f"détour ×{fr_number(access.get('detour_factor'), 1)}"
        )
    if population.get("cell_size_m"):
        parts.append(
            f"population répartie sur des carreaux de {fr_number(population['cell_size_m'])} m"
        )
    engine = summary.get("engine", {})
    parts.append(
        f"calcul du {esc(fr_date(summary.get('created_utc')))} "
        f"(coverage {esc(engine.get('version', ''))})"
    )
    return " ; ".join(parts) + "."


def _swatch(colour: str, *, opacity: float = 1.0) -> str:
    return f'<span class="swatch" style="background:{colour};opacity:{opacity}"></span>'


def time_classes_html() -> str:
    """The 0–10–15–20–30–45+ min classes with their colours."""
    rows = [f"<div>{_swatch(colour)}{label}</div>" for _lo, _hi, colour, label in TIME_CLASSES]
    rows.append(f"<div>{_swatch(NO_DATA_COLOUR)}{NO_DATA_LABEL}</div>")
    return "".join(rows)


def underserved_html(count: int, reference: float, *, drawn: bool) -> str:
    """The underserved communes' symbol, or a line saying there are none."""
    threshold = minutes_text(reference)
    if not drawn or count == 0:
        return f"<div>Aucune commune n’a d’habitants au-delà de {threshold} min.</div>"
    plural = "s" if count > 1 else ""
    return (
        f'<div><span class="line" style="border-top:3px solid {UNDERSERVED_COLOUR}"></span>'
        f"{count} commune{plural} mal desservie{plural} (habitants au-delà de {threshold} min)"
        "</div>"
    )


def isochrones_html(thresholds: Sequence[float]) -> str:
    """The isochrone bands' swatches."""
    rows = []
    low = 0.0
    for index, high in enumerate(thresholds):
        colour = ISOCHRONE_COLOURS[min(index, len(ISOCHRONE_COLOURS) - 1)]
        label = (
            f"moins de {minutes_text(high)} min"
            if low == 0
            else f"{minutes_text(low)} à {minutes_text(high)} min"
        )
        rows.append(f"<div>{_swatch(colour, opacity=0.6)}{label}</div>")
        low = high
    return "".join(rows)


def services_html(counts: dict[Any, int]) -> str:
    """One pin per service kind with its French label and count.

    A key ``(kind, "added")`` is the sites a scenario adds: their hollow pin
    with a ``+`` and the words "site(s) ajouté(s)".
    """
    rows = []
    for key, count in counts.items():
        added = isinstance(key, tuple)
        kind = key[0] if added else key
        symbol = kind_symbol(kind)
        if added:
            plural = "s" if count > 1 else ""
            pin = added_pin_svg(symbol.colour, symbol.letters)
            text = f"{esc(kind_label(kind))} : site{plural} ajouté{plural} ({count})"
        else:
            pin = pin_svg(symbol.colour, symbol.letters)
            text = f"{esc(kind_label(kind))} ({count})"
        rows.append(f'<div><span class="pin">{pin}</span>{text}</div>')
    return "".join(rows)


def legend_html(
    *,
    title: str,
    subtitle: str = "",
    sections: Sequence[tuple[str, str]],
    note: str = "",
) -> str:
    """The legend box: a title, sections ``(heading, html)`` and a provenance note.

    The box is a ``<details>`` element: a click on the title folds it (an
    embedded page folds it at first in small frames).
    """
    parts = [f"<details open><summary>{esc(title)}</summary>"]
    if subtitle:
        parts.append(f"<div>{esc(subtitle)}</div>")
    for heading, body in sections:
        if body:
            parts.append(f"<h3>{esc(heading)}</h3>{body}")
    if note:
        parts.append(f'<div class="note">{note}</div>')
    parts.append("</details>")
    return "".join(parts)
