"""Scenario files: what to analyse, with which services, thresholds, speeds and population.

A scenario is a TOML file (format in ``docs/scenario-format.md``; the Gers
default is ``data/geo/gers/scenarios/actuel.toml``). :func:`load_scenario`
reads and checks it into a :class:`Scenario`; :func:`select_services` applies
its additions and removals to a territory's catalogue. Running it is
:mod:`coverage.jobs.run`'s job.

Every mistake names the file and the key: unknown keys, unknown kinds,
service ids or communes, thresholds outside (0, 600] minutes, an analysis
with no service left.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage._french import of_territory
from coverage.access import DEFAULT_THRESHOLDS_MINUTES, check_thresholds
from coverage.errors import ConfigError, QueryError
from coverage.layers.config import SERVICE_STATUSES
from coverage.layers.publics import ALL_INHABITANTS
from coverage.routing.snap import AccessSettings

DEFAULT_REFERENCE_MINUTES: dict[str, float] = {
    "france_services": 30.0,
    "saad": 15.0,
    "health_centre": 20.0,
    "mds": 30.0,
    "tiers_lieu": 30.0,
}
"""Reference threshold of the underserved ranking per kind, from the official yardsticks
(France services within 30 min of everyone; DREES: home help within 15 min; APL decay to 20)."""

_TOP_KEYS = {
    "scenario",
    "thresholds",
    "analyses",
    "services",
    "network",
    "access",
    "population",
    "health",
    "outputs",
}


@dataclass(frozen=True)
class Analysis:
    """One set of services to measure access to.

    Attributes
    ----------
    name
        Key (letters, digits, ``_``), used in column and file names.
    label
        French label shown on maps and reports.
    kinds
        Service kinds included.
    statuses
        Catalogue statuses included (``open`` by default; ``planned`` to count
        sites not open yet). Sites added by the scenario always count.
    include_outside
        Whether services beyond the territory's border count (default yes).
    reference_minutes
        Threshold of the underserved ranking.
    public
        The public counted (a public of the territory's ``[layers.publics]``,
        e.g. ``age_75_plus``); None: every inhabitant.
    """

    name: str
    label: str
    kinds: tuple[str, ...]
    statuses: tuple[str, ...] = ("open",)
    include_outside: bool = True
    reference_minutes: float = 30.0
    public: str | None = None


@dataclass(frozen=True)
class AddedService:
    """A site the scenario adds: at a commune's point, or at given coordinates."""

    service_id: str
    kind: str
    name: str
    insee_code: str = ""
    lon: float | None = None
    lat: float | None = None
    x: float | None = None
    y: float | None = None
    status: str = "planned"
    capacity: float = 1.0


CAPACITY_UNITS = ("consultations", "etp", "sites")
"""Units of ``[health] capacity_unit``: consultations a year, full-time equivalents, sites."""

OUTSIDE_SUPPLY_RULES = ("downweight", "exclude")
"""What ``[health] outside_supply`` does with sites over the border when the bundle has no
neighbouring communes (:mod:`coverage.jobs.health`)."""


@dataclass(frozen=True)
class HealthSpec:
    """The optional 2SFCA section (docs/scenario-format.md).

    Attributes
    ----------
    kinds
        Supply kinds.
    decay
        Decay settings (``type`` and its parameters).
    per_inhabitants
        Unit of the result (accessibility per this many inhabitants).
    capacity_unit
        Unit of the sites' ``capacity``: one of :data:`CAPACITY_UNITS`, or None
        to take the one the supply sites' ``capacity_unit`` names.
    undersupplied_threshold
        Under-supply mark per inhabitant in ``capacity_unit``, or None for the
        unit's default (:func:`coverage.fca.default_undersupply_threshold`).
    age_weights
        Age band -> relative use of care (demand standardised by age), or None
        for plain population.
    outside_supply
        Rule for sites over the border without neighbouring communes
        (:data:`OUTSIDE_SUPPLY_RULES`).
    """

    kinds: tuple[str, ...]
    decay: dict[str, Any]
    per_inhabitants: float = 1.0
    capacity_unit: str | None = None
    undersupplied_threshold: float | None = None
    age_weights: dict[str, float] | None = None
    outside_supply: str = "downweight"


DEFAULT_OUTPUTS: dict[str, bool] = {
    "isochrones": True,
    "cells": False,
    "catchments": True,
    "map": True,
}
"""Optional outputs of a run unless ``[outputs]`` says otherwise. The ``cells`` layer (one
polygon per populated 200 m cell, most of a ``results.gpkg``'s 56 MB) is off: no map or API
reads it; ``[outputs] cells = true`` or ``coverage run --cells`` writes it."""


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario file.

    Attributes
    ----------
    name, label, territory, description
        Identity.
    thresholds_minutes
        Thresholds of every analysis.
    analyses
        What to measure.
    remove
        ``service_id`` of catalogue sites to leave out.
    add
        Sites to add.
    extra_files
        Further catalogue files (absolute paths).
    network
        Overrides of the territory's road-layer options (profile, factors).
    access
        Access-leg settings.
    cell_size_m
        Population surface cell size (None: the territory's).
    health
        2SFCA settings, or None.
    outputs
        Which optional outputs to write (``isochrones``, ``cells``, ``catchments``, ``map``).
    path
        The file read (None when built in code).
    """

    name: str
    label: str
    territory: str
    thresholds_minutes: tuple[float, ...]
    analyses: tuple[Analysis, ...]
    description: str = ""
    remove: tuple[str, ...] = ()
    add: tuple[AddedService, ...] = ()
    extra_files: tuple[Path, ...] = ()
    network: dict[str, Any] = field(default_factory=dict)
    access: AccessSettings = field(default_factory=AccessSettings)
    cell_size_m: float | None = None
    health: HealthSpec | None = None
    outputs: dict[str, bool] = field(default_factory=lambda: dict(DEFAULT_OUTPUTS))
    path: Path | None = None

    def describe(self) -> dict[str, Any]:
        """The scenario as plain data (for ``summary.json``)."""
        return {
            "name": self.name,
            "label": self.label,
            "territory": self.territory,
            "description": self.description,
            "file": str(self.path) if self.path else None,
            "thresholds_minutes": list(self.thresholds_minutes),
            "analyses": [
                {
                    "name": a.name,
                    "label": a.label,
                    "kinds": list(a.kinds),
                    "statuses": list(a.statuses),
                    "include_outside": a.include_outside,
                    "reference_minutes": a.reference_minutes,
                    **({"public": a.public} if a.public is not None else {}),
                }
                for a in self.analyses
            ],
            "remove": list(self.remove),
            "add": [a.__dict__ for a in self.add],
            "extra_files": [str(p) for p in self.extra_files],
            "network": dict(self.network),
            "access": self.access.describe(),
            "cell_size_m": self.cell_size_m,
            "health": None if self.health is None else self.health.__dict__,
        }


def _fail(path: Path | str, message: str) -> ConfigError:
    return ConfigError(f"{path} : {message}")


def _check_keys(path: Path | str, table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise _fail(
            path,
            f"clé inconnue '{unknown[0]}' dans {where} (clés possibles : "
            f"{', '.join(sorted(allowed))})",
        )


def _name(path: Path | str, value: Any, where: str) -> str:
    text = str(value or "").strip()
    if not text or not all(c.isalnum() or c == "_" for c in text) or not text.isascii():
        raise _fail(
            path, f"{where} doit être un nom fait de lettres, chiffres et '_', reçu {value!r}"
        )
    return text


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file.

    Raises
    ------
    ConfigError
        Naming the file and the key for any mistake (format in docs/scenario-format.md).
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} : fichier de scénario introuvable") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} : TOML invalide ({exc})") from None
    return scenario_from_dict(raw, path=path)


def scenario_from_dict(raw: dict[str, Any], *, path: Path | None = None) -> Scenario:
    """Build a :class:`Scenario` from parsed TOML (or an API request body).

    Relative file names are resolved against the scenario file's folder.

    Raises
    ------
    ConfigError
        Naming the key for any mistake.
    """
    where = path or "scenario"
    if not isinstance(raw, dict):
        raise _fail(where, "un scénario doit être une table")
    _check_keys(where, raw, _TOP_KEYS, "le scénario")
    head = raw.get("scenario")
    if not isinstance(head, dict):
        raise _fail(where, "table [scenario] manquante (name, territory)")
    _check_keys(where, head, {"name", "label", "territory", "description"}, "[scenario]")
    name = _name(where, head.get("name"), "[scenario] name")
    territory = str(head.get("territory", "")).strip()
    if not territory:
        raise _fail(where, "[scenario] demande 'territory' (par ex. \"gers\")")

    thresholds_raw = (raw.get("thresholds") or {}).get("minutes", list(DEFAULT_THRESHOLDS_MINUTES))
    _check_keys(where, raw.get("thresholds") or {}, {"minutes"}, "[thresholds]")
    try:
        thresholds = tuple(check_thresholds(thresholds_raw, name="[thresholds] minutes"))
    except QueryError as exc:
        raise _fail(where, str(exc)) from None

    analyses = _analyses(where, raw.get("analyses"), thresholds)
    services = raw.get("services") or {}
    if not isinstance(services, dict):
        raise _fail(where, "[services] doit être une table")
    _check_keys(where, services, {"remove", "add", "files"}, "[services]")
    remove = tuple(str(s) for s in services.get("remove", []))
    add = tuple(_added(where, i, item) for i, item in enumerate(services.get("add", []), 1))
    ids = [a.service_id for a in add]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise _fail(where, f"[[services.add]] service_id '{dupes[0]}' est donné deux fois")
    base = path.parent if path else Path.cwd()
    extra = tuple(
        (p if p.is_absolute() else base / p)
        for p in (Path(str(f)).expanduser() for f in services.get("files", []))
    )
    for file in extra:
        if not file.is_file():
            raise _fail(where, f"[services] files : {file} introuvable")

    network = dict(raw.get("network") or {})
    _check_keys(
        where,
        network,
        {"profile", "detour_factor", "calibration_factor", "peak_factor", "max_edge_m"},
        "[network]",
    )
    access_raw = dict(raw.get("access") or {})
    if "k_nodes" in access_raw:
        raise _fail(
            where,
            "[access] k_nodes n'existe plus : les points rejoignent désormais les tronçons "
            "de route "
            "les plus proches ; utilisez max_candidates (nombre de tronçons qu'un point peut "
            "rejoindre, 4 par défaut)",
        )
    _check_keys(
        where,
        access_raw,
        {"speed_kph", "detour_factor", "max_distance_m", "max_candidates", "candidate_margin_m"},
        "[access]",
    )
    try:
        access = AccessSettings(**access_raw)
    except (QueryError, TypeError) as exc:
        raise _fail(where, f"[access]: {exc}") from None
    population = dict(raw.get("population") or {})
    _check_keys(where, population, {"cell_size_m"}, "[population]")
    cell = population.get("cell_size_m")
    if cell is not None and (not isinstance(cell, int | float) or not 10 <= cell <= 5000):
        raise _fail(
            where, f"[population] cell_size_m doit être entre 10 et 5000 mètres, reçu {cell!r}"
        )
    outputs_raw = dict(raw.get("outputs") or {})
    outputs = dict(DEFAULT_OUTPUTS)
    _check_keys(where, outputs_raw, set(outputs), "[outputs]")
    for key, value in outputs_raw.items():
        if not isinstance(value, bool):
            raise _fail(where, f"[outputs] {key} doit valoir true ou false")
        outputs[key] = value
    return Scenario(
        name=name,
        label=str(head.get("label", name)),
        territory=territory,
        description=str(head.get("description", "")),
        thresholds_minutes=thresholds,
        analyses=analyses,
        remove=remove,
        add=add,
        extra_files=extra,
        network=network,
        access=access,
        cell_size_m=float(cell) if cell is not None else None,
        health=_health(where, raw.get("health")),
        outputs=outputs,
        path=path,
    )


def _analyses(where: Path | str, raw: Any, thresholds: tuple[float, ...]) -> tuple[Analysis, ...]:
    if not raw:
        raise _fail(where, "aucune [[analyses]] : nommez au moins un ensemble de services (kinds)")
    if not isinstance(raw, list):
        raise _fail(where, "[[analyses]] doit être un tableau de tables")
    out = []
    for i, item in enumerate(raw, 1):
        at = f"[[analyses]] #{i}"
        if not isinstance(item, dict):
            raise _fail(where, f"{at} doit être une table")
        _check_keys(
            where,
            item,
            {
                "name",
                "label",
                "kinds",
                "statuses",
                "include_outside",
                "reference_minutes",
                "public",
            },
            at,
        )
        kinds = item.get("kinds")
        if isinstance(kinds, str):
            kinds = [kinds]
        if not kinds or not all(isinstance(k, str) and k for k in kinds):
            raise _fail(where, f"{at} demande 'kinds', une liste de types de services")
        name = _name(where, item.get("name", kinds[0]), f"{at} name")
        statuses = tuple(item.get("statuses", ["open"]))
        bad = [s for s in statuses if s not in SERVICE_STATUSES]
        if bad or not statuses:
            raise _fail(
                where,
                f"{at} statuses : statut inconnu {bad[0] if bad else '(aucun)'!r} "
                f"(statuts possibles : {', '.join(SERVICE_STATUSES)})",
            )
        default_ref = min(DEFAULT_REFERENCE_MINUTES.get(kinds[0], thresholds[-1]), thresholds[-1])
        if default_ref not in thresholds:
            default_ref = thresholds[-1]
        reference = float(item.get("reference_minutes", default_ref))
        if reference not in thresholds:
            raise _fail(
                where,
                f"{at} reference_minutes {reference:g} doit être l'un des seuils "
                f"{', '.join(f'{t:g}' for t in thresholds)}",
            )
        include_outside = item.get("include_outside", True)
        if not isinstance(include_outside, bool):
            raise _fail(where, f"{at} include_outside doit valoir true ou false")
        public = item.get("public")
        if public is not None:
            public = _name(where, public, f"{at} public")
        out.append(
            Analysis(
                name=name,
                label=str(item.get("label", name)),
                kinds=tuple(kinds),
                statuses=statuses,
                include_outside=include_outside,
                reference_minutes=reference,
                public=None if public in (None, ALL_INHABITANTS) else public,
            )
        )
    names = [a.name for a in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise _fail(where, f"deux [[analyses]] s'appellent '{dupes[0]}'")
    return tuple(out)


def _added(where: Path | str, index: int, item: Any) -> AddedService:
    at = f"[[services.add]] #{index}"
    if not isinstance(item, dict):
        raise _fail(where, f"{at} doit être une table")
    allowed = {
        "service_id",
        "kind",
        "name",
        "insee_code",
        "lon",
        "lat",
        "x",
        "y",
        "status",
        "capacity",
    }
    _check_keys(where, item, allowed, at)
    for key in ("service_id", "kind", "name"):
        if not str(item.get(key, "")).strip():
            raise _fail(where, f"{at} demande '{key}'")
    has_insee = bool(str(item.get("insee_code", "")).strip())
    has_lonlat = "lon" in item or "lat" in item
    has_xy = "x" in item or "y" in item
    if has_insee + has_lonlat + has_xy != 1:
        raise _fail(where, f"{at} demande exactement une localisation : insee_code, lon/lat ou x/y")
    numbers = {}
    for key in ("lon", "lat", "x", "y", "capacity"):
        if key in item:
            value = item[key]
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not np.isfinite(value)
            ):
                raise _fail(where, f"{at} {key} doit être un nombre, reçu {value!r}")
            numbers[key] = float(value)
    if has_lonlat and not ("lon" in numbers and "lat" in numbers):
        raise _fail(where, f"{at} demande à la fois lon et lat")
    if has_xy and not ("x" in numbers and "y" in numbers):
        raise _fail(where, f"{at} demande à la fois x et y")
    status = str(item.get("status", "planned"))
    if status not in SERVICE_STATUSES:
        raise _fail(
            where,
            f"{at} statut {status!r} inconnu (statuts possibles : {', '.join(SERVICE_STATUSES)})",
        )
    if numbers.get("capacity", 1.0) < 0:
        raise _fail(where, f"{at} capacity doit être >= 0")
    return AddedService(
        service_id=str(item["service_id"]).strip(),
        kind=str(item["kind"]).strip(),
        name=str(item["name"]).strip(),
        insee_code=str(item.get("insee_code", "")).strip(),
        lon=numbers.get("lon"),
        lat=numbers.get("lat"),
        x=numbers.get("x"),
        y=numbers.get("y"),
        status=status,
        capacity=numbers.get("capacity", 1.0),
    )


def _health(where: Path | str, raw: Any) -> HealthSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _fail(where, "[health] doit être une table")
    _check_keys(
        where,
        raw,
        {
            "kinds",
            "decay",
            "steps",
            "max_minutes",
            "per_inhabitants",
            "capacity_unit",
            "undersupplied_threshold",
            "age_weights",
            "outside_supply",
        },
        "[health]",
    )
    kinds = raw.get("kinds", ["health_centre"])
    if isinstance(kinds, str):
        kinds = [kinds]
    decay = str(raw.get("decay", "drees"))
    if decay not in ("drees", "steps", "linear"):
        raise _fail(where, f"[health] decay doit valoir drees, steps ou linear, reçu {decay!r}")
    spec: dict[str, Any] = {"type": decay}
    if decay == "steps":
        steps = raw.get("steps")
        if not isinstance(steps, dict) or not steps:
            raise _fail(where, '[health] decay = "steps" demande steps = { "10" = 1.0, ... }')
        try:
            spec["steps"] = {float(k): float(v) for k, v in steps.items()}
        except ValueError:
            raise _fail(
                where, "[health] steps : les clés sont des minutes, les valeurs des poids"
            ) from None
    if decay == "linear":
        spec["max_minutes"] = float(raw.get("max_minutes", 20.0))
    per = raw.get("per_inhabitants", 1.0)
    if not isinstance(per, int | float) or per <= 0:
        raise _fail(where, "[health] per_inhabitants doit être un nombre positif")
    unit = raw.get("capacity_unit")
    if unit is not None and unit not in CAPACITY_UNITS:
        raise _fail(
            where,
            f"[health] capacity_unit doit valoir l'une des unités {', '.join(CAPACITY_UNITS)}, "
            f"reçu {unit!r} (unité de capacité des sites : consultations par an, équivalents "
            "temps plein, sites)",
        )
    threshold = raw.get("undersupplied_threshold")
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, int | float) or threshold < 0
    ):
        raise _fail(
            where, "[health] undersupplied_threshold doit être un nombre >= 0 (par habitant)"
        )
    rule = raw.get("outside_supply", "downweight")
    if rule not in OUTSIDE_SUPPLY_RULES:
        raise _fail(
            where,
            f"[health] outside_supply doit valoir l'une des règles "
            f"{', '.join(OUTSIDE_SUPPLY_RULES)}, "
            f"reçu {rule!r}",
        )
    return HealthSpec(
        kinds=tuple(kinds),
        decay=spec,
        per_inhabitants=float(per),
        capacity_unit=None if unit is None else str(unit),
        undersupplied_threshold=None if threshold is None else float(threshold),
        age_weights=_age_weights(where, raw.get("age_weights")),
        outside_supply=str(rule),
    )


def _age_weights(where: Path | str, raw: Any) -> dict[str, float] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not raw:
        raise _fail(
            where,
            "[health] age_weights doit être une table tranche d'âge -> poids, par ex. "
            '{ "0_14" = 0.8, "15_59" = 0.9, "60_74" = 1.3, "75_plus" = 1.9 } '
            "(les tranches sont des colonnes de la couche [layers.ages] du lot de données)",
        )
    out: dict[str, float] = {}
    for band, weight in raw.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            raise _fail(where, f"[health] age_weights.{band} doit être un nombre >= 0")
        out[str(band)] = float(weight)
    return out


def select_services(
    scenario: Scenario,
    catalogue_frame: gpd.GeoDataFrame,
    territory: Any,
    *,
    known_kinds: dict[str, str],
) -> tuple[dict[str, gpd.GeoDataFrame], gpd.GeoDataFrame]:
    """Apply the scenario to a catalogue: removals, additions, then one selection per analysis.

    Parameters
    ----------
    scenario
        The scenario.
    catalogue_frame
        The catalogue's frame (EPSG of the territory).
    territory
        The loaded territory (for commune points of added sites).
    known_kinds
        Kinds the catalogue knows (built-in and the territory's own).

    Returns
    -------
    tuple
        Services per analysis name, and the whole scenario catalogue (with an
        ``added`` column).

    Raises
    ------
    ConfigError
        Unknown kinds, service ids or communes; an analysis with no service.
    """
    where = scenario.path or "scenario"
    frame = catalogue_frame.copy()
    frame["added"] = False
    for analysis in scenario.analyses:
        for kind in analysis.kinds:
            if kind not in known_kinds:
                raise _fail(
                    where,
                    f"analyse '{analysis.name}' : type de service inconnu '{kind}' "
                    f"(types connus : {', '.join(sorted(known_kinds))})",
                )
    ids = set(frame["service_id"].astype(str))
    missing = [s for s in scenario.remove if s not in ids]
    if missing:
        raise _fail(
            where,
            f"[services] remove : aucun service de service_id '{missing[0]}' dans le catalogue",
        )
    frame = frame[~frame["service_id"].astype(str).isin(scenario.remove)]
    if scenario.add:
        added = _added_frame(scenario, territory, known_kinds, ids, frame.crs)
        frame = pd.concat([frame, added], ignore_index=True)
        frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=catalogue_frame.crs)
    selections: dict[str, gpd.GeoDataFrame] = {}
    for analysis in scenario.analyses:
        mask = frame["kind"].isin(analysis.kinds) & (
            frame["status"].isin(analysis.statuses) | frame["added"]
        )
        if not analysis.include_outside and "in_territory" in frame:
            mask &= frame["in_territory"].astype(bool)
        chosen = frame[mask]
        if chosen.empty:
            raise _fail(
                where,
                f"analyse '{analysis.name}' : aucun service de type {', '.join(analysis.kinds)} "
                f"avec le statut {', '.join(analysis.statuses)} dans le catalogue ; ajoutez des "
                "sites avec [[services.add]] ou importez une liste ('coverage services import')",
            )
        selections[analysis.name] = chosen.reset_index(drop=True)
    return selections, frame.reset_index(drop=True)


def _added_frame(
    scenario: Scenario,
    territory: Any,
    known_kinds: dict[str, str],
    existing_ids: set[str],
    crs: Any,
) -> gpd.GeoDataFrame:
    where = scenario.path or "scenario"
    communes = territory.communes.set_index("insee_code")
    outline = territory.outline
    rows = []
    for item in scenario.add:
        if item.kind not in known_kinds:
            raise _fail(
                where,
                f"[[services.add]] '{item.service_id}' : type inconnu '{item.kind}' "
                f"(types connus : {', '.join(sorted(known_kinds))})",
            )
        if item.service_id in existing_ids:
            raise _fail(
                where,
                f"[[services.add]] service_id '{item.service_id}' existe déjà dans le catalogue",
            )
        if item.insee_code:
            if item.insee_code not in communes.index:
                raise _fail(
                    where,
                    f"[[services.add]] '{item.service_id}' : la commune '{item.insee_code}' "
                    f"n'est pas une "
                    f"commune {of_territory(territory.config.label)}",
                )
            row = communes.loc[item.insee_code]
            point = shapely.Point(row["point_x"], row["point_y"])
            quality, commune_name = "municipality", str(row["name"])
        elif item.x is not None:
            point = shapely.Point(item.x, item.y)
            quality, commune_name = "input", ""
        else:
            pt = gpd.GeoSeries([shapely.Point(item.lon, item.lat)], crs="EPSG:4326").to_crs(crs)
            point = pt.iloc[0]
            quality, commune_name = "input", ""
        distance = float(shapely.distance(outline, point))
        if distance > 40_000:
            raise _fail(
                where,
                f"[[services.add]] '{item.service_id}' est à {distance / 1000:.0f} km "
                f"{of_territory(territory.config.label)} : vérifiez ses coordonnées (x/y en mètres "
                "EPSG:2154, lon/lat en degrés WGS84)",
            )
        lonlat = gpd.GeoSeries([point], crs=crs).to_crs("EPSG:4326").iloc[0]
        rows.append(
            {
                "service_id": item.service_id,
                "kind": item.kind,
                "name": item.name,
                "address": "",
                "postcode": "",
                "insee_code": item.insee_code,
                "commune_name": commune_name,
                "status": item.status,
                "capacity": item.capacity,
                "capacity_unit": "site",
                "source": f"scénario {scenario.name}",
                "source_key": "scenario",
                "geocode_quality": quality,
                "geocode_score": 1.0,
                "geocode_backend": "scenario",
                "geocode_status": "matched",
                "in_territory": bool(distance == 0.0),
                "distance_to_territory_m": distance,
                "lon": lonlat.x,
                "lat": lonlat.y,
                "note": "ajouté par le scénario",
                "added": True,
                "geometry": point,
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
