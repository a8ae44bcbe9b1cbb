"""Map styling shared by every map: time classes, colours, service symbols, French number format."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from maps.escape import esc, is_missing

TIME_BREAKS_MINUTES: tuple[float, ...] = (10.0, 15.0, 20.0, 30.0, 45.0)
"""Upper bounds of the time classes 0–10–15–20–30–45+ min (lower bound included)."""

TIME_COLOURS: tuple[str, ...] = ("#1a9850", "#91cf60", "#d9ef8b", "#fee08b", "#fc8d59", "#d73027")
TIME_LABELS: tuple[str, ...] = (
    "moins de 10 min",
    "10 à 15 min",
    "15 à 20 min",
    "20 à 30 min",
    "30 à 45 min",
    "45 min et plus",
)
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
