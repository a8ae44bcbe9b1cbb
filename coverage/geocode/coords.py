"""Checking coordinates given with an address: in or near the territory, swapped, Lambert-93.

Spreadsheets of service points often carry coordinates already. They are
kept, but only once checked against the territory: a point must lie inside
the territory or within ``max_distance_m`` of it (services over the border
count for coverage). Common mistakes are repaired with a note saying so:

- latitude and longitude swapped (``43.64, 0.59`` for Auch);
- Lambert-93 metres given as lon/lat (``x=506000, y=6280000``), possibly swapped;
- decimal commas (``43,64``).

Anything else far from the territory is rejected with the distance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import shapely
from pyproj import Transformer

if TYPE_CHECKING:
    from coverage.layers.territory import Territory

LAMBERT93_X = (-400_000.0, 1_600_000.0)
LAMBERT93_Y = (5_900_000.0, 7_300_000.0)
"""Generous bounds of Lambert-93 coordinates (metropolitan France and its seas)."""

DEFAULT_MAX_DISTANCE_M = 40_000.0
"""Default distance beyond the territory's outline up to which a point is accepted."""


@dataclass(frozen=True)
class CoordinateCheck:
    """What was made of one pair of coordinates.

    Attributes
    ----------
    status
        ``ok``, ``repaired`` (swapped or Lambert-93, fixed), ``missing`` (no
        usable pair: geocode the address) or ``rejected``.
    lon, lat
        WGS84 position after repair (NaN unless ok or repaired).
    note
        French note: the repair made, or why the pair was refused or ignored.
    distance_m
        Distance to the territory's outline (0 inside; NaN when unknown).
    """

    status: str
    lon: float = math.nan
    lat: float = math.nan
    note: str = ""
    distance_m: float = math.nan

    @property
    def usable(self) -> bool:
        """True when the position can be used (ok or repaired)."""
        return self.status in ("ok", "repaired")

    @property
    def inside(self) -> bool:
        """True when the point lies inside the territory."""
        return self.usable and self.distance_m == 0.0


def parse_coordinate(value: object) -> float:
    """Read a coordinate written as a number or text (decimal comma accepted); NaN if none."""
    if value is None:
        return math.nan
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    text = str(value).strip().replace("\u00a0", "").replace(" ", "")
    if not text:
        return math.nan
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    try:
        return float(text)
    except ValueError:
        return math.nan


class CoordinateValidator:
    """Check lon/lat pairs against a territory's outline.

    Parameters
    ----------
    outline
        The territory's outline (a polygon) in ``crs``.
    crs
        Metric CRS of the outline (EPSG:2154).
    max_distance_m
        Points farther than this from the outline are refused.
    """

    def __init__(
        self,
        outline: shapely.Geometry,
        *,
        crs: str = "EPSG:2154",
        max_distance_m: float = DEFAULT_MAX_DISTANCE_M,
    ) -> None:
        if not max_distance_m >= 0:
            raise ValueError(f"max_distance_m must be >= 0, got {max_distance_m!r}")
        self.outline = outline
        shapely.prepare(self.outline)
        self.crs = crs
        self.max_distance_m = float(max_distance_m)
        self._from_wgs84 = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        self._from_l93 = Transformer.from_crs("EPSG:2154", crs, always_xy=True)
        self._to_wgs84 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

    @classmethod
    def from_territory(
        cls, territory: Territory, *, max_distance_m: float = DEFAULT_MAX_DISTANCE_M
    ) -> CoordinateValidator:
        """A validator on a :class:`coverage.layers.Territory` outline."""
        return cls(
            territory.outline,
            crs=territory.crs,
            max_distance_m=max_distance_m,
        )

    def check(self, lon: object, lat: object) -> CoordinateCheck:
        """Check one pair given as (lon, lat)."""
        return self.check_many([lon], [lat])[0]

    def check_many(self, lon: Sequence[object], lat: Sequence[object]) -> list[CoordinateCheck]:
        """Check pairs given as (lon, lat), in order.

        Each pair is read, in this order, as WGS84 lon/lat, as swapped lat/lon,
        as Lambert-93 x/y, as swapped Lambert-93; the first reading that falls
        within ``max_distance_m`` of the territory wins (a repair is noted).
        """
        a = np.array([parse_coordinate(v) for v in lon], dtype=float)
        b = np.array([parse_coordinate(v) for v in lat], dtype=float)
        n = len(a)
        readings = [
            ("wgs84", a, b, ""),
            ("wgs84", b, a, "latitude et longitude inversées : corrigées"),
            ("l93", a, b, "coordonnées en Lambert-93 (EPSG:2154) converties en lon/lat"),
            ("l93", b, a, "coordonnées en Lambert-93 inversées : corrigées et converties"),
        ]
        distances = []
        for kind, first, second, _ in readings:
            if kind == "wgs84":
                valid = (np.abs(first) <= 180.0) & (np.abs(second) <= 90.0)
                x, y = self._from_wgs84.transform(
                    np.where(valid, first, 0.0), np.where(valid, second, 0.0)
                )
            else:
                valid = (
                    (first >= LAMBERT93_X[0])
                    & (first <= LAMBERT93_X[1])
                    & (second >= LAMBERT93_Y[0])
                    & (second <= LAMBERT93_Y[1])
                )
                x, y = self._from_l93.transform(
                    np.where(valid, first, 0.0), np.where(valid, second, 0.0)
                )
            dist = shapely.distance(self.outline, shapely.points(np.asarray(x), np.asarray(y)))
            dist = np.where(valid & np.isfinite(first) & np.isfinite(second), dist, np.inf)
            distances.append((np.asarray(x), np.asarray(y), dist))

        out: list[CoordinateCheck] = []
        for i in range(n):
            if not (np.isfinite(a[i]) and np.isfinite(b[i])):
                raw = (lon[i], lat[i])
                given = [str(v) for v in raw if v is not None and str(v).strip() not in ("", "nan")]
                note = f"coordonnées illisibles ({', '.join(given)})" if given else ""
                out.append(CoordinateCheck("missing", note=note))
                continue
            if a[i] == 0.0 and b[i] == 0.0:
                out.append(CoordinateCheck("missing", note="coordonnées nulles (0, 0) ignorées"))
                continue
            chosen = None
            for (_, _, _, note), (x, y, dist) in zip(readings, distances, strict=True):
                if dist[i] <= self.max_distance_m:
                    chosen = (x[i], y[i], float(dist[i]), note)
                    break
            if chosen is None:
                first_valid = next((d[2][i] for d in distances if np.isfinite(d[2][i])), math.inf)
                where = (
                    f"à {first_valid / 1000:.0f} km du territoire"
                    if np.isfinite(first_valid)
                    else "hors de toute zone connue"
                )
                out.append(
                    CoordinateCheck(
                        "rejected",
                        note=(
                            f"point ({a[i]:g}, {b[i]:g}) {where} "
                            f"(limite {self.max_distance_m / 1000:g} km)"
                        ),
                        distance_m=float(first_valid),
                    )
                )
                continue
            x, y, dist, note = chosen
            lon_out, lat_out = self._to_wgs84.transform(x, y)
            out.append(
                CoordinateCheck(
                    "repaired" if note else "ok",
                    lon=float(lon_out),
                    lat=float(lat_out),
                    note=note,
                    distance_m=dist,
                )
            )
        return out
