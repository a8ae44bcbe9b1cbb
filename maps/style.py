"""Map styling shared by every map: time classes, colours, service symbols, French number format."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from coverage.gpkg_styles import TIME_BREAKS_MINUTES, TIME_COLOURS, TIME_LABELS
from maps.escape import esc, is_missing

# TIME_BREAKS_MINUTES, TIME_COLOURS, TIME_LABELS: the time classes 0–10–15–20–30–45+ min,
# defined once in coverage (its GeoPackage styles use them too); the maps draw the same

NO_DATA_COLOUR = "#bdbdbd"
NO_DATA_LABEL = "sans temps (non desservie)"

TIME_CLASSES: tuple[tuple[float, float, str, str], ...] = tuple(
    (low, high, colour, label)
    for low, high, colour, label in zip(
        (0.0, *TIME_BREAKS_MINUTES),
        (*TIME_BREAKS_MINUTES, math.inf),
        TIME_COLOURS,
        TIME_LABELS,
        strict=True,
    )
)
"""(low, high, colour, French label) of each class; ``low <= minutes < high``."""

UNDERSERVED_COLOUR = "#67001f"
EPCI_OUTLINE_COLOUR = "#252525"
ISOCHRONE_COLOURS: tuple[str, ...] = ("#08519c", "#4292c6", "#9ecae1", "#deebf7")
"""Fill of the isochrone bands, nearest band first."""
CATEGORY_COLOURS: tuple[str, ...] = (
    "#1b9e77",
    "#d95f02",
    "#7570b3",
    "#e7298a",
    "#66a61e",
    "#e6ab02",
    "#a6761d",
    "#666666",
)
"""Categorical palette (catchments, itinerary days)."""


@dataclass(frozen=True)
class KindSymbol:
    """How the service points of one kind are drawn."""

    colour: str
    letters: str


KIND_SYMBOLS: dict[str, KindSymbol] = {
    "france_services": KindSymbol("#1f4e9c", "FS"),
    "tiers_lieu": KindSymbol("#1b7837", "TL"),
    "mds": KindSymbol("#b2182b", "MDS"),
    "health_centre": KindSymbol("#762a83", "CS"),
    "saad": KindSymbol("#d6604d", "AD"),
}
_FALLBACK_COLOURS = ("#525252", "#8c510a", "#01665e", "#c51b7d")


def kind_symbol(kind: str) -> KindSymbol:
    """Symbol of a service kind (a stable grey-ish colour and initials for unknown kinds)."""
    if kind in KIND_SYMBOLS:
        return KIND_SYMBOLS[kind]
    colour = _FALLBACK_COLOURS[sum(map(ord, kind)) % len(_FALLBACK_COLOURS)]
    letters = "".join(part[:1] for part in kind.split("_"))[:3].upper() or "?"
    return KindSymbol(colour, letters)


def kind_label(kind: str) -> str:
    """French label of a service kind (the built-in labels, else the key)."""
    from coverage.layers.config import BUILTIN_SERVICE_KINDS

    return BUILTIN_SERVICE_KINDS.get(kind, kind.replace("_", " "))


def pin_svg(colour: str, letters: str, *, size_px: int = 30) -> str:
    """An inline SVG map pin with initials (no icon font, no external file)."""
    font = 11 if len(letters) <= 2 else 8
    height = round(size_px * 4 / 3)
    return (
        f'<svg width="{size_px}" height="{height}" '
        'viewBox="0 0 30 40" aria-hidden="true">'
        f'<path d="M15 39C15 39 2 23.5 2 14.5a13 13 0 0 1 26 0C28 23.5 15 39 15 39z" '
        f'fill="{colour}" stroke="#ffffff" stroke-width="2"/>'
        f'<text x="15" y="18.5" text-anchor="middle" font-family="Arial,Helvetica,sans-serif" '
        f'font-size="{font}" font-weight="bold" fill="#ffffff">{esc(letters)}</text>'
        "</svg>"
    )


def time_class(minutes: Any) -> np.ndarray:
    """Class index of travel times in minutes (``-1`` when missing or infinite).

    Parameters
    ----------
    minutes
        A scalar or an array of minutes.

    Returns
    -------
    numpy.ndarray of int
        0 for ``[0, 10)``, 1 for ``[10, 15)``, ... 5 for 45 min and more.
    """
    values = np.asarray(minutes, dtype=float)
    index = np.searchsorted(np.asarray(TIME_BREAKS_MINUTES), values, side="right")
    return np.where(np.isfinite(values), index, -1)


def time_colour(minutes: float | None) -> str:
    """Colour of the time class of a value in minutes (grey when missing)."""
    if minutes is None:
        return NO_DATA_COLOUR
    index = int(time_class(minutes))
    return NO_DATA_COLOUR if index < 0 else TIME_COLOURS[index]


def fr_number(value: Any, digits: int = 0) -> str:
    """A number in French typography (``12 345``, ``7,5``); ``—`` when missing."""
    if is_missing(value):
        return "—"
    number = float(value)
    text = f"{number:,.{digits}f}".replace(",", "\u202f").replace(".", ",")
    return text


def fr_minutes(value: Any) -> str:
    """Minutes with one decimal (``12,3 min``); ``—`` when missing."""
    return "—" if is_missing(value) else f"{fr_number(value, 1)} min"


def fr_share(value: Any) -> str:
    """A share in percent (``4,2 %``)."""
    return "—" if is_missing(value) else f"{fr_number(100.0 * float(value), 1)}\u00a0%"


def fr_date(value: Any) -> str:
    """An ISO date or datetime as ``jj/mm/aaaa`` (unchanged if it is not ISO)."""
    text = str(value or "")
    if len(text) >= 10 and text[4] == "-" and text[7] == "-":
        return f"{text[8:10]}/{text[5:7]}/{text[:4]}"
    return text


def minutes_text(value: float) -> str:
    """A threshold in minutes without useless decimals (``30``, ``7,5``)."""
    return f"{value:g}".replace(".", ",")


QUALITATIVE_COLOURS: tuple[str, ...] = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
    "#393b79",
    "#637939",
)
"""A qualitative palette (Tableau 10 and two darker hues) for a few categories."""


def distinct_colours(count: int) -> list[str]:
    """``count`` distinct colours: the qualitative palette, then evenly spaced hues.

    Up to 12 colours come from :data:`QUALITATIVE_COLOURS`; beyond, hues are
    spaced evenly around the colour wheel with alternating saturation and
    value, so that neighbours differ. The colours are always distinct.
    """
    import colorsys

    if count <= len(QUALITATIVE_COLOURS):
        return list(QUALITATIVE_COLOURS[:count])
    out: list[str] = []
    for index in range(count):
        hue = index / count
        saturation = (0.85, 0.6)[index % 2]
        value = (0.8, 0.6, 0.95)[index % 3]
        red, green, blue = colorsys.hsv_to_rgb(hue, saturation, value)
        colour = f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"
        while colour in out:  # a rounding clash: nudge the blue channel
            blue = (blue + 1 / 255) % 1.0
            colour = f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"
        out.append(colour)
    return out


GAIN_COLOURS: tuple[str, ...] = ("#c7e9c0", "#74c476", "#238b45")
"""Communes gaining access (few, some, many inhabitants), light to dark green."""
LOSS_COLOURS: tuple[str, ...] = ("#fdd0a2", "#f16913", "#a63603")
"""Communes losing access, light to dark orange-brown (colour-blind safe against the greens)."""
UNCHANGED_COLOUR = "#f7f7f7"


def added_pin_svg(colour: str, letters: str, *, size_px: int = 30) -> str:
    """The pin of a site a scenario adds: white, a thick dashed border and a ``+`` badge.

    Drawn in the kind's colour but hollow, so a new site never looks like an
    existing one (:func:`pin_svg`, filled).
    """
    font = 11 if len(letters) <= 2 else 8
    height = round(size_px * 4 / 3)
    return (
        f'<svg width="{size_px}" height="{height}" '
        'viewBox="0 0 30 40" aria-hidden="true" data-site="ajoute">'
        f'<path d="M15 39C15 39 2 23.5 2 14.5a13 13 0 0 1 26 0C28 23.5 15 39 15 39z" '
        f'fill="#ffffff" stroke="{colour}" stroke-width="3" stroke-dasharray="4 2"/>'
        f'<text x="15" y="18.5" text-anchor="middle" font-family="Arial,Helvetica,sans-serif" '
        f'font-size="{font}" font-weight="bold" fill="{colour}">{esc(letters)}</text>'
        f'<circle cx="25" cy="6" r="5.5" fill="#ffd400" stroke="#222222" stroke-width="1"/>'
        '<path d="M25 3v6M22 6h6" stroke="#222222" stroke-width="1.6"/>'
        "</svg>"
    )


def depot_svg(*, size_px: int = 26) -> str:
    """The depot marker of an itinerary: a dark square with a white house."""
    return (
        f'<svg width="{size_px}" height="{size_px}" viewBox="0 0 26 26" aria-hidden="true" '
        'data-marker="depot">'
        '<rect x="1" y="1" width="24" height="24" rx="3" fill="#222222" stroke="#ffffff" '
        'stroke-width="2"/>'
        '<path d="M6 13L13 6l7 7M8.5 11.5V20h9v-8.5" fill="none" stroke="#ffffff" '
        'stroke-width="2"/>'
        "</svg>"
    )


_PLURALS = {
    "Tiers-lieu solidaire": "tiers-lieux solidaires",
    "France services": "France services",
    "Maison départementale des solidarités": "maisons départementales des solidarités",
    "Centre de santé": "centres de santé",
    "Service d'aide et d'accompagnement à domicile": "services d’aide à domicile",
}


def kind_count_text(kind: str, count: int) -> str:
    """``16 tiers-lieux solidaires``, ``1 France services``: a count of sites of a kind."""
    label = kind_label(kind)
    if count <= 1:
        words = label if label.startswith("France") else label[:1].lower() + label[1:]
        return f"{count} {words}"
    return f"{count} {_PLURALS.get(label, label)}"
