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

A profile also says which ways and barriers a car may pass (:class:`AccessRules`,
:class:`BarrierRules`) and what turning costs at a junction (:class:`TurnCosts`,
used by :mod:`coverage.routing.turns`).
"""

from __future__ import annotations

import dataclasses
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

DEFAULT_ACCESS_KEYS = ("motorcar", "motor_vehicle", "vehicle", "access")
DEFAULT_BLOCKED_ACCESS = frozenset(
    {"no", "private", "agricultural", "forestry", "emergency", "psv", "bus", "military"}
)
DEFAULT_BLOCKING_BARRIERS = frozenset(
    {
        "block",
        "bollard",
        "bus_trap",
        "chain",
        "cycle_barrier",
        "debris",
        "fence",
        "full-height_turnstile",
        "hampshire_gate",
        "jersey_barrier",
        "kissing_gate",
        "log",
        "motorcycle_barrier",
        "planter",
        "rope",
        "stile",
        "turnstile",
        "wall",
    }
)


@dataclass(frozen=True)
class AccessRules:
    """Which OSM access values keep a car out (``[access]`` of a profile).

    The first of ``keys`` present on a way (or a barrier node) decides, the most
    specific first (``motorcar`` before ``motor_vehicle``, ``vehicle``, ``access``):
    ``access=no`` + ``motor_vehicle=yes`` is open to cars, ``access=yes`` +
    ``motorcar=no`` is not. A value is a list when it holds ``;``: it blocks only
    when all its parts do.

    Attributes
    ----------
    keys
        Access keys, most specific first.
    blocked
        Values that keep cars out (lower case).
    """

    keys: tuple[str, ...] = DEFAULT_ACCESS_KEYS
    blocked: frozenset[str] = DEFAULT_BLOCKED_ACCESS

    def decision(self, tags: Mapping[str, Any]) -> bool | None:
        """``True`` allowed, ``False`` blocked, ``None`` when no access key is present."""
        for key in self.keys:
            value = tags.get(key)
            if value is None:
                continue
            parts = [p.strip().lower() for p in str(value).split(";") if p.strip()]
            return not (parts and all(p in self.blocked for p in parts))
        return None

    def allows(self, tags: Mapping[str, Any]) -> bool:
        """Whether a car may use a way with these tags (no access key: yes)."""
        return self.decision(tags) is not False

    def describe(self) -> dict[str, Any]:
        """The rules as a plain dict."""
        return {"keys": list(self.keys), "blocked": sorted(self.blocked)}


@dataclass(frozen=True)
class BarrierRules:
    """What a ``barrier=*`` node does to a car (``[barriers]`` of a profile).

    A *blocking* barrier (bollard, block, chain, jersey barrier, fence...) cuts
    the road at its node: the road on each side becomes a dead end, where a car
    may turn back. A barrier listed in ``delay_s`` (gate, lift gate, toll booth...)
    is passable at that cost in seconds. Access tags on the node win over both:
    ``barrier=bollard`` + ``motor_vehicle=yes`` (a retractable bollard) is
    passable, ``barrier=gate`` + ``access=private`` blocks. A value in neither
    list is passable when ``unknown_blocks`` is false (the default), blocking
    otherwise.

    Attributes
    ----------
    blocking
        Barrier values that cut the road.
    delay_s
        Passable barrier values and their delay, seconds.
    unknown_blocks
        Whether a barrier value in neither table blocks.
    """

    blocking: frozenset[str] = DEFAULT_BLOCKING_BARRIERS
    delay_s: dict[str, float] = field(default_factory=dict)
    unknown_blocks: bool = False

    def judge(self, tags: Mapping[str, Any], access: AccessRules) -> tuple[bool, float]:
        """``(blocks, delay_s)`` for a node's tags (no ``barrier`` tag: ``(False, 0)``)."""
        value = tags.get("barrier")
        if value is None:
            return False, 0.0
        value = str(value).strip().lower()
        decided = access.decision(tags)
        if decided is False:
            return True, 0.0
        delay = float(self.delay_s.get(value, 0.0))
        if decided is True:
            return False, delay
        if value in self.blocking:
            return True, 0.0
        if value in self.delay_s:
            return False, delay
        return self.unknown_blocks, 0.0

    def describe(self) -> dict[str, Any]:
        """The rules as a plain dict."""
        return {
            "blocking": sorted(self.blocking),
            "delay_s": dict(self.delay_s),
            "unknown_blocks": self.unknown_blocks,
        }


@dataclass(frozen=True)
class BuiltUpRules:
    """Where a road crosses a built-up area, and the limit it then gets (``[built_up]``).

    OpenStreetMap often leaves ``maxspeed`` out where a main road crosses a village
    (the French 50 km/h "en agglomération" limit starts at the village sign). An edge
    lies in a *built-up area* when the density of drivable road around its middle
    (kilometres of road per km², counted on a grid of ``cell_m`` cells over a square
    window of ``window_m``) reaches ``min_road_km_per_km2``. There, an edge without a
    ``maxspeed`` tag is limited to ``limit_kph`` (never raised). ``min_road_km_per_km2
    = 0`` turns the rule off.

    Attributes
    ----------
    min_road_km_per_km2
        Road density from which an area counts as built-up (0: never).
    limit_kph
        Limit of an untagged road there.
    window_m, cell_m
        Size of the density window and of its grid cells, metres.
    """

    min_road_km_per_km2: float = 0.0
    limit_kph: float = 50.0
    window_m: float = 1_000.0
    cell_m: float = 250.0

    def __post_init__(self) -> None:
        for name in ("limit_kph", "window_m", "cell_m"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigError(f"built_up.{name} doit être un nombre > 0, reçu {value!r}")
        value = self.min_road_km_per_km2
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(
                f"built_up.min_road_km_per_km2 doit être un nombre >= 0, reçu {value!r}"
            )
        if self.window_m < self.cell_m:
            raise ConfigError("built_up.window_m doit valoir au moins built_up.cell_m")

    @property
    def enabled(self) -> bool:
        """Whether the rule applies."""
        return self.min_road_km_per_km2 > 0

    def describe(self) -> dict[str, Any]:
        """The rule as a plain dict."""
        return dataclasses.asdict(self)


TURN_KINDS = (
    "straight",
    "slight_right",
    "right",
    "sharp_right",
    "slight_left",
    "left",
    "sharp_left",
)
"""Turn classes at a junction, by the angle between the road arrived on and the road taken."""


@dataclass(frozen=True)
class TurnCosts:
    """Seconds added when a car changes road at a node (``[turns]`` of a profile).

    At a *junction* (a node where three roads or more meet) the cost of going
    from one road to the next is the cost of its turn class, from the deviation
    angle ``a`` between the direction of arrival and the direction of departure
    (0 straight on, positive to the right): ``straight`` when ``|a| <=
    straight_max_deg``, ``slight_*`` up to ``slight_max_deg``, ``right``/``left``
    up to ``sharp_min_deg``, ``sharp_*`` beyond; plus ``yield_s`` when another road
    at the junction has a higher class than the road arrived on (the driver gives
    way: a minor road entering or crossing a bigger one). Along a road (a node with
    two roads) nothing is added. A U-turn (back to the node one came from) is
    allowed only where the road ends (a dead end, a blocking barrier) or where a
    restriction makes it the only move, at ``u_turn_s``. Every move through a node
    with ``highway=traffic_signals`` adds ``traffic_signals_s``; through a passable
    barrier, its delay (:class:`BarrierRules`). In countries that drive on the left
    (``left_hand_traffic``) left and right swap; ``None`` (``"auto"`` in a profile)
    lets the network builder decide from where the network lies.

    Attributes
    ----------
    straight_s, slight_right_s, right_s, sharp_right_s, slight_left_s, left_s, sharp_left_s
        Cost of each turn class at a junction, seconds.
    u_turn_s
        Cost of a U-turn where one is allowed, seconds.
    yield_s
        Added when arriving from a road of lower class than another road of the junction.
    traffic_signals_s
        Added when passing a node with traffic signals.
    straight_max_deg, slight_max_deg, sharp_min_deg
        Angle limits of the turn classes, degrees.
    left_hand_traffic
        Swap left and right (United Kingdom, Ireland, Malta, Cyprus); ``None``: decided
        by the network builder from the network's location.
    """

    straight_s: float = 0.0
    slight_right_s: float = 0.0
    right_s: float = 0.0
    sharp_right_s: float = 0.0
    slight_left_s: float = 0.0
    left_s: float = 0.0
    sharp_left_s: float = 0.0
    u_turn_s: float = 0.0
    yield_s: float = 0.0
    traffic_signals_s: float = 0.0
    straight_max_deg: float = 30.0
    slight_max_deg: float = 60.0
    sharp_min_deg: float = 135.0
    left_hand_traffic: bool | None = None

    def __post_init__(self) -> None:
        for name in (
            *(f"{k}_s" for k in TURN_KINDS),
            "u_turn_s",
            "yield_s",
            "traffic_signals_s",
        ):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ConfigError(
                    f"le coût de virage '{name}' doit être un nombre de secondes >= 0"
                )
        if not 0 <= self.straight_max_deg < self.slight_max_deg < self.sharp_min_deg <= 180:
            raise ConfigError(
                "les angles de virage doivent vérifier 0 <= straight_max_deg < slight_max_deg < "
                f"sharp_min_deg <= 180, reçu {self.straight_max_deg}, {self.slight_max_deg}, "
                f"{self.sharp_min_deg}"
            )

    def class_costs(self) -> np.ndarray:
        """Costs of :data:`TURN_KINDS` in that order (seconds), left/right swapped if need be."""
        costs = {k: float(getattr(self, f"{k}_s")) for k in TURN_KINDS}
        if self.left_hand_traffic:
            for side in ("slight_", "", "sharp_"):
                costs[f"{side}right"], costs[f"{side}left"] = (
                    costs[f"{side}left"],
                    costs[f"{side}right"],
                )
        return np.array([costs[k] for k in TURN_KINDS], dtype=np.float64)

    def turn_class(self, angle_deg: np.ndarray) -> np.ndarray:
        """Index in :data:`TURN_KINDS` of each deviation angle (degrees, positive right)."""
        a = np.asarray(angle_deg, dtype=np.float64)
        mag = np.abs(a)
        right = a > 0
        out = np.zeros(a.shape, dtype=np.int8)  # straight
        slight = (mag > self.straight_max_deg) & (mag <= self.slight_max_deg)
        plain = (mag > self.slight_max_deg) & (mag < self.sharp_min_deg)
        sharp = mag >= self.sharp_min_deg
        out[slight & right], out[slight & ~right] = 1, 4
        out[plain & right], out[plain & ~right] = 2, 5
        out[sharp & right], out[sharp & ~right] = 3, 6
        return out

    @property
    def is_free(self) -> bool:
        """Whether every cost is zero (U-turn rules and restrictions still apply)."""
        return not (
            self.class_costs().any() or self.u_turn_s or self.yield_s or self.traffic_signals_s
        )

    def describe(self) -> dict[str, Any]:
        """The costs as a plain dict."""
        return dataclasses.asdict(self)


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
    access
        Which access tags keep cars out (``[access]``).
    barriers
        Blocking and delaying barriers (``[barriers]``, ``[barrier_delay_s]``).
    turns
        Turn and node costs (``[turns]``).
    built_up
        The limit of untagged roads in built-up areas (``[built_up]``).
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
    access: AccessRules = field(default_factory=AccessRules)
    barriers: BarrierRules = field(default_factory=BarrierRules)
    turns: TurnCosts = field(default_factory=TurnCosts)
    built_up: BuiltUpRules = field(default_factory=BuiltUpRules)

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

    def tagged_limit_kph(self, maxspeed: str | None) -> float | None:
        """The limit a ``maxspeed`` tag gives, or ``None`` when it gives no number."""
        if not maxspeed:
            return None
        return parse_maxspeed(
            maxspeed, implicit_kph=self.maxspeed_implicit, max_kph=self.max_plausible_kph
        )

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
            "access": self.access.describe(),
            "barriers": self.barriers.describe(),
            "turns": self.turns.describe(),
            "built_up": self.built_up.describe(),
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
                f"profil de vitesses inconnu '{text}' (prédéfinis : "
                f"{', '.join(builtin_profiles())}) ; "
                "donnez plutôt le chemin d'un fichier TOML de profil"
            )
    elif not path.is_file():
        raise ConfigError(f"fichier de profil de vitesses introuvable : {path}")
    return _parse_profile(str(path.resolve()), path.read_bytes())


@lru_cache(maxsize=16)
def _parse_profile(path_text: str, raw_bytes: bytes) -> SpeedProfile:
    path = Path(path_text)
    try:
        raw = tomllib.loads(raw_bytes.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path} : le profil de vitesses n'est pas un TOML valide ({exc})"
        ) from None
    head = raw.get("profile") or {}
    if not isinstance(head, dict):
        raise ConfigError(f"{path} : [profile] doit être une table")
    highway = _kph_table(path, raw, "highway_kph", required=True)
    two_way = _kph_table(path, raw, "two_way_kph")
    ratios_raw = raw.get("free_flow_ratio") or {"default": 1.0}
    ratios: dict[str, float] = {}
    for key, value in _table(path, ratios_raw, "free_flow_ratio").items():
        ratios[str(key)] = _positive(path, f"free_flow_ratio.{key}", value)
        if ratios[str(key)] > 2.0:
            raise ConfigError(f"{path} : free_flow_ratio.{key} doit être <= 2, reçu {value!r}")
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
                    f'{path} : {where} doit être une vitesse (80 ou "50 mph"), reçu {value!r}'
                )
            implicit[str(key).lower()] = parsed
        else:
            implicit[str(key).lower()] = _positive(path, where, value)
    access, barriers, turns = _parse_rules(path, raw)
    built_raw = _table(path, raw.get("built_up") or {}, "built_up")
    known = {f.name for f in dataclasses.fields(BuiltUpRules)}
    unknown_keys = sorted(set(built_raw) - known)
    if unknown_keys:
        raise ConfigError(f"{path} : [built_up] clé(s) inconnue(s) {', '.join(unknown_keys)}")
    try:
        built_up = BuiltUpRules(**built_raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
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
        access=access,
        barriers=barriers,
        turns=turns,
        built_up=built_up,
    )


def _words(path: Path, value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{path} : {where} doit être une liste de mots, reçu {value!r}")
    return tuple(v.strip().lower() for v in value)


def _parse_rules(path: Path, raw: dict) -> tuple[AccessRules, BarrierRules, TurnCosts]:
    """The ``[access]``, ``[barriers]``, ``[barrier_delay_s]`` and ``[turns]`` tables."""
    access_raw = _table(path, raw.get("access") or {}, "access")
    unknown = sorted(set(access_raw) - {"keys", "blocked"})
    if unknown:
        raise ConfigError(f"{path} : [access] clé(s) inconnue(s) {', '.join(unknown)}")
    access = AccessRules(
        keys=_words(path, access_raw["keys"], "access.keys")
        if "keys" in access_raw
        else DEFAULT_ACCESS_KEYS,
        blocked=frozenset(_words(path, access_raw["blocked"], "access.blocked"))
        if "blocked" in access_raw
        else DEFAULT_BLOCKED_ACCESS,
    )
    barriers_raw = _table(path, raw.get("barriers") or {}, "barriers")
    unknown = sorted(set(barriers_raw) - {"blocking", "unknown_blocks"})
    if unknown:
        raise ConfigError(f"{path} : [barriers] clé(s) inconnue(s) {', '.join(unknown)}")
    unknown_blocks = barriers_raw.get("unknown_blocks", False)
    if not isinstance(unknown_blocks, bool):
        raise ConfigError(f"{path} : barriers.unknown_blocks doit valoir true ou false")
    delays: dict[str, float] = {}
    for key, value in _table(path, raw.get("barrier_delay_s") or {}, "barrier_delay_s").items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(
                f"{path} : barrier_delay_s.{key} doit être un nombre de secondes >= 0"
            )
        delays[str(key).lower()] = float(value)
    barriers = BarrierRules(
        blocking=frozenset(_words(path, barriers_raw["blocking"], "barriers.blocking"))
        if "blocking" in barriers_raw
        else DEFAULT_BLOCKING_BARRIERS,
        delay_s=delays,
        unknown_blocks=unknown_blocks,
    )
    turns_raw = _table(path, raw.get("turns") or {}, "turns")
    fields = {f.name for f in dataclasses.fields(TurnCosts)}
    unknown = sorted(set(turns_raw) - fields)
    if unknown:
        raise ConfigError(
            f"{path} : [turns] clé(s) inconnue(s) {', '.join(unknown)} "
            f"(clés connues : {', '.join(sorted(fields))})"
        )
    for key, value in turns_raw.items():
        if key == "left_hand_traffic":
            if value == "auto":
                turns_raw = {**turns_raw, key: None}
            elif not isinstance(value, bool):
                raise ConfigError(
                    f'{path} : turns.left_hand_traffic doit valoir true, false ou "auto"'
                )
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path} : turns.{key} doit être un nombre, reçu {value!r}")
    try:
        turns = TurnCosts(**turns_raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return access, barriers, turns


def _table(path: Path, value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{path} : [{name}] doit être une table")
    return value


def _kph_table(path: Path, raw: dict, name: str, *, required: bool = False) -> dict[str, float]:
    table = raw.get(name)
    if table is None:
        if required:
            raise ConfigError(
                f"{path} : le profil de vitesses demande une table [{name}] (km/h par classe)"
            )
        return {}
    return {str(k): _positive(path, f"{name}.{k}", v) for k, v in _table(path, table, name).items()}


def _positive(path: Path, where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{path} : {where} doit être un nombre, reçu {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{path} : {where} doit être un nombre fini > 0, reçu {value!r}")
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
        raise ConfigError(f"{name} doit être un nombre > 0, reçu {value!r}")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ConfigError(f"{name} doit être un nombre fini > 0, reçu {value!r}")
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
