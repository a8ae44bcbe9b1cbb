"""Car speeds and edge travel times: speed profiles, OSM ``maxspeed`` parsing, factors.

A *speed profile* is a TOML file (the built-in ``france`` profile is
``coverage/routing/profiles/france.toml``; its format and every rule are
documented in ``docs/speed-profile.md``). For one way and one direction of
travel:

1. the limit is the way's ``maxspeed`` (or ``maxspeed:forward`` /
   ``maxspeed:backward`` for that direction) when it parses
   (:func:`parse_maxspeed`), otherwise the class speed (``[two_way_kph]`` for an
   undivided way of a class listed there, ``[highway_kph]`` otherwise,
   ``fallback.unknown_highway_kph`` for an unknown class);
2. the free-flow speed is ``free_flow_ratio × limit``;
3. the travel time is ``length_m × detour_factor / (speed_kph / 3.6) ×
   calibration_factor × peak_factor`` (:func:`edge_seconds`).
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from coverage.errors import ConfigError

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
"""Folder of the built-in profiles (``<name>.toml``)."""

DEFAULT_PROFILE = "france"
MPH_KPH = 1.609344
KNOT_KPH = 1.852
MPH_COUNTRIES = frozenset({"GB", "UK", "US", "LR", "MM"})
"""Country codes whose ``<CC>:zone<NN>`` values are in mph."""

NO_LIMIT_VALUES = frozenset(
    {"none", "signals", "variable", "unposted", "implicit", "no", "default", "unknown"}
)
"""``maxspeed`` values that state no number: the class speed applies."""

_NUMBER = re.compile(r"^(?P<num>\d+(?:[.,]\d+)?)\s*(?P<unit>km/h|kmh|kph|km|mph|knots?|kn)?$")
_ZONE = re.compile(r"^(?P<cc>[a-z]{2}(?:-[a-z]+)?):zone:?(?P<num>\d+)$")

FACTOR_NAMES = ("detour_factor", "calibration_factor", "peak_factor")


@dataclass(frozen=True)
class SpeedProfile:
    """A parsed speed profile.

    Attributes
    ----------
    name, label
        Identity of the profile (``france``).
    path
        The TOML file it was read from.
    sha256
        SHA-256 of the file content (part of network cache keys).
    highway_kph
        Class speed by ``highway`` value, km/h.
    two_way_kph
        Class speed of an undivided (two-way) way, for the classes listed, km/h.
    free_flow_ratio
        Ratio free-flow speed / limit by class; key ``default`` for the others.
    maxspeed_implicit
        Non-numeric ``maxspeed`` values (lower-case keys) and their limit, km/h.
    unknown_highway_kph
        Speed of a class absent from ``highway_kph``.
    max_plausible_kph
        A parsed ``maxspeed`` above this is ignored (the class speed applies).
    """

    name: str
    label: str
    path: Path
    sha256: str
    highway_kph: dict[str, float]
    two_way_kph: dict[str, float] = field(default_factory=dict)
    free_flow_ratio: dict[str, float] = field(default_factory=lambda: {"default": 1.0})
    maxspeed_implicit: dict[str, float] = field(default_factory=dict)
    unknown_highway_kph: float = 30.0
    max_plausible_kph: float = 200.0

    def class_kph(self, highway: str, *, two_way: bool = True) -> float:
        """Return the limit assumed for a way of class ``highway`` without ``maxspeed``."""
        if two_way and highway in self.two_way_kph:
            return self.two_way_kph[highway]
        return self.highway_kph.get(highway, self.unknown_highway_kph)

    def ratio(self, highway: str) -> float:
        """Return the free-flow ratio of a class."""
        return self.free_flow_ratio.get(highway, self.free_flow_ratio.get("default", 1.0))

    def limit_kph(self, highway: str, maxspeed: str | None, *, two_way: bool = True) -> float:
        """Return the limit of one direction of a way: parsed ``maxspeed``, else class speed."""
        if maxspeed:
            parsed = parse_maxspeed(
                maxspeed, implicit_kph=self.maxspeed_implicit, max_kph=self.max_plausible_kph
            )
            if parsed is not None:
                return parsed
        return self.class_kph(highway, two_way=two_way)

    def speed_kph(self, highway: str, maxspeed: str | None, *, two_way: bool = True) -> float:
        """Return the free-flow speed: ``ratio(highway) × limit_kph(...)``."""
        return self.ratio(highway) * self.limit_kph(highway, maxspeed, two_way=two_way)

    def describe(self) -> dict[str, Any]:
        """Return the profile as a plain dict (for reports and ``coverage network info``)."""
        return {
            "name": self.name,
            "label": self.label,
            "file": str(self.path),
            "sha256": self.sha256,
            "highway_kph": dict(self.highway_kph),
            "two_way_kph": dict(self.two_way_kph),
            "free_flow_ratio": dict(self.free_flow_ratio),
            "unknown_highway_kph": self.unknown_highway_kph,
        }


def builtin_profiles() -> list[str]:
    """Return the names of the profiles shipped with the engine."""
    return sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))


def load_speed_profile(profile: str | Path | SpeedProfile = DEFAULT_PROFILE) -> SpeedProfile:
    """Read a speed profile by built-in name (``"france"``) or file path.

    Parameters
    ----------
    profile
        A built-in profile name, the path of a TOML profile file, or an already
        loaded :class:`SpeedProfile` (returned as is).

    Returns
    -------
    SpeedProfile

    Raises
    ------
    ConfigError
        If the profile is unknown, the file is not valid TOML, or a value is
        not a positive number; the message names the file and the key.
    """
    if isinstance(profile, SpeedProfile):
        return profile
    text = str(profile)
    path = Path(text).expanduser()
    looks_like_path = path.suffix == ".toml" or "/" in text or "\\" in text
    if not looks_like_path:
        path = PROFILES_DIR / f"{text}.toml"
        if not path.is_file():
            raise ConfigError(
                f"unknown speed profile '{text}' (built-in: {', '.join(builtin_profiles())}); "
                "pass the path of a profile TOML file instead"
            )
    elif not path.is_file():
        raise ConfigError(f"speed profile file not found: {path}")
    return _parse_profile(str(path.resolve()), path.read_bytes())


@lru_cache(maxsize=16)
def _parse_profile(path_text: str, raw_bytes: bytes) -> SpeedProfile:
    path = Path(path_text)
    try:
        raw = tomllib.loads(raw_bytes.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: speed profile is not valid TOML ({exc})") from None
    head = raw.get("profile") or {}
    if not isinstance(head, dict):
        raise ConfigError(f"{path}: [profile] must be a table")
    highway = _kph_table(path, raw, "highway_kph", required=True)
    two_way = _kph_table(path, raw, "two_way_kph")
    ratios_raw = raw.get("free_flow_ratio") or {"default": 1.0}
    ratios: dict[str, float] = {}
    for key, value in _table(path, ratios_raw, "free_flow_ratio").items():
        ratios[str(key)] = _positive(path, f"free_flow_ratio.{key}", value)
        if ratios[str(key)] > 2.0:
            raise ConfigError(f"{path}: free_flow_ratio.{key} must be <= 2, got {value!r}")
    ratios.setdefault("default", 1.0)
    fallback = _table(path, raw.get("fallback") or {}, "fallback")
    unknown = _positive(
        path, "fallback.unknown_highway_kph", fallback.get("unknown_highway_kph", 30)
    )
    plausible = _positive(
        path, "fallback.max_plausible_kph", fallback.get("max_plausible_kph", 200)
    )
    implicit: dict[str, float] = {}
    for key, value in _table(path, raw.get("maxspeed_implicit") or {}, "maxspeed_implicit").items():
        where = f"maxspeed_implicit.{key}"
        if isinstance(value, str):
            parsed = _parse_single(value.strip().lower(), {}, math.inf)
            if parsed is None:
                raise ConfigError(
                    f'{path}: {where} must be a speed (80 or "50 mph"), got {value!r}'
                )
            implicit[str(key).lower()] = parsed
        else:
            implicit[str(key).lower()] = _positive(path, where, value)
    return SpeedProfile(
        name=str(head.get("name") or path.stem),
        label=str(head.get("label", "")),
        path=path,
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
        highway_kph=highway,
        two_way_kph=two_way,
        free_flow_ratio=ratios,
        maxspeed_implicit=implicit,
        unknown_highway_kph=unknown,
        max_plausible_kph=plausible,
    )


def _table(path: Path, value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    return value


def _kph_table(path: Path, raw: dict, name: str, *, required: bool = False) -> dict[str, float]:
    table = raw.get(name)
    if table is None:
        if required:
            raise ConfigError(f"{path}: speed profile needs a [{name}] table (km/h by class)")
        return {}
    return {str(k): _positive(path, f"{name}.{k}", v) for k, v in _table(path, table, name).items()}


def _positive(path: Path, where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{path}: {where} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{path}: {where} must be a finite number > 0, got {value!r}")
    return float(value)


def parse_maxspeed(
    value: str | None,
    *,
    implicit_kph: Mapping[str, float] | None = None,
    max_kph: float = 200.0,
) -> float | None:
    """Parse an OSM ``maxspeed`` value into km/h.

    Rules (see ``docs/speed-profile.md``):

    - a number is km/h (``"50"``, ``"50 km/h"``, ``"47.5"``, ``"47,5"``);
      ``"50 mph"`` is converted (× 1.609344), ``"10 knots"`` too (× 1.852);
    - an implicit value (``"FR:rural"``, ``"FR:urban"``, ``"FR:walk"``,
      ``"FR:motorway"``...) is looked up, case-insensitively, in
      ``implicit_kph`` (the profile's ``[maxspeed_implicit]`` table;
      default: the ``france`` profile's);
    - ``"<CC>:zone<NN>"`` and ``"<CC>:zone:<NN>"`` give ``NN`` (in mph for
      GB, UK, US);
    - a list ``"a;b"`` gives the mean of its parts that parse (osmnx does the same);
    - ``"none"``, ``"signals"``, ``"variable"``, unknown country codes, zero,
      values above ``max_kph`` and anything else give ``None``: the caller uses
      the class speed.

    Parameters
    ----------
    value
        The tag value.
    implicit_kph
        Implicit values by lower-case key, km/h.
    max_kph
        Largest plausible limit; above it the value is ignored.

    Returns
    -------
    float or None
        The limit in km/h, or ``None`` when the value gives no usable number.
    """
    if value is None:
        return None
    text = str(value).strip().lower()
    if not text:
        return None
    if implicit_kph is None:
        implicit_kph = load_speed_profile(DEFAULT_PROFILE).maxspeed_implicit
    if ";" in text or "|" in text:
        parts = [_parse_single(p.strip(), implicit_kph, max_kph) for p in re.split(r"[;|]", text)]
        numbers = [p for p in parts if p is not None]
        return float(sum(numbers) / len(numbers)) if numbers else None
    return _parse_single(text, implicit_kph, max_kph)


def _parse_single(text: str, implicit_kph: Mapping[str, float], max_kph: float) -> float | None:
    if not text or text in NO_LIMIT_VALUES:
        return None
    if text in implicit_kph:
        return float(implicit_kph[text])
    match = _NUMBER.match(text)
    if match:
        number = float(match["num"].replace(",", "."))
        unit = match["unit"] or ""
        if unit == "mph":
            number *= MPH_KPH
        elif unit.startswith("kn"):
            number *= KNOT_KPH
    else:
        zone = _ZONE.match(text)
        if zone is None:
            return None
        number = float(zone["num"])
        if zone["cc"].split("-")[0].upper() in MPH_COUNTRIES:
            number *= MPH_KPH
    if number <= 0 or number > max_kph:
        return None
    return number


def check_factor(name: str, value: Any) -> float:
    """Return ``value`` as a float if it is a finite number > 0.

    Raises
    ------
    ConfigError
        Naming the parameter, if the value is not a finite positive number.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise ConfigError(f"{name} must be a number > 0, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ConfigError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def edge_seconds(
    length_m: np.ndarray,
    speed_kph: np.ndarray,
    *,
    detour_factor: float = 1.0,
    calibration_factor: float = 1.0,
    peak_factor: float = 1.0,
) -> np.ndarray:
    """Return edge travel times in seconds.

    ``length_m × detour_factor / (speed_kph / 3.6) × calibration_factor × peak_factor``

    Parameters
    ----------
    length_m
        Geodesic length of each edge, metres (without the detour factor).
    speed_kph
        Free-flow speed of each edge, km/h.
    detour_factor
        Multiplies lengths (a network drawn with straight chords is too short).
    calibration_factor
        Multiplies times (fit to observed travel times).
    peak_factor
        Multiplies times (peak-hour congestion).

    Returns
    -------
    numpy.ndarray
        ``float64`` seconds.
    """
    for name, value in zip(
        FACTOR_NAMES, (detour_factor, calibration_factor, peak_factor), strict=True
    ):
        check_factor(name, value)
    length = np.asarray(length_m, dtype=np.float64)
    speed = np.asarray(speed_kph, dtype=np.float64)
    return length * detour_factor / (speed / 3.6) * calibration_factor * peak_factor
