"""The ``[health]`` part of a run: 2SFCA accessibility to care as the DREES APL computes it.

:func:`health_accessibility` measures, for every commune of the territory, the
care (capacity of the supply sites) it can reach (:func:`coverage.fca.floating_catchment`):

- **demand over the border**: when the bundle holds the neighbouring communes
  (``[layers.communes_voisines]``, written by ``coverage fetch``), their
  population is demand too, timed on the same roads: a site over the border
  shares its capacity with the people living around it, not only with the
  territory's. Without them, the scenario's ``outside_supply`` rule applies:
  ``downweight`` (default) multiplies every site's capacity by the share of its
  catchment that lies inside the territory (:func:`coverage.fca.inside_share`:
  the disk the site reaches within the decay's limit, at the crow-fly speed of
  its own trips to the territory's communes, weighted by the decay, with the
  same density on both sides of the border); ``exclude`` leaves the sites over
  the border out. The result says which (``border`` in ``summary.json``).
- **demand standardised by age** (``age_weights``): population of each band
  (publics of ``[layers.publics]``, or of the former ``[layers.ages]``) times
  its weight; without that layer, plain population, and the result says so.
- **under-supply mark tied to the capacity unit** (``capacity_unit``):
  :func:`coverage.fca.default_undersupply_threshold`, or the scenario's
  ``undersupplied_threshold``; for ``sites``, no mark unless given.

Values are kept at full precision (rounding is for display only).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np

from coverage.errors import ConfigError, DataError
from coverage.fca import (
    Decay,
    age_weighted_demand,
    decay_reach_minutes,
    default_undersupply_threshold,
    drees_apl_decay,
    floating_catchment,
    inside_share,
    linear_decay,
    step_decay,
)
from coverage.jobs.resources import TerritoryResources
from coverage.layers.health import read_neighbour_communes
from coverage.layers.publics import read_age_bands
from coverage.routing.matrix import travel_times
from coverage.scenario import HealthSpec

UNIT_NAMES = {
    "consultations": "consultations",
    "consultation": "consultations",
    "consultations_an": "consultations",
    "etp": "etp",
    "fte": "etp",
    "site": "sites",
    "sites": "sites",
}
"""The catalogue's ``capacity_unit`` values recognised as a ``[health] capacity_unit``."""

UNIT_LABELS = {
    "consultations": "consultations par an",
    "etp": "équivalents temps plein",
    "sites": "sites",
}


def health_decay(spec: dict[str, Any]) -> Decay:
    """The decay function a ``[health] decay`` table describes."""
    if spec["type"] == "steps":
        return step_decay(spec["steps"])
    if spec["type"] == "linear":
        return linear_decay(spec["max_minutes"])
    return drees_apl_decay()


def capacity_unit(spec: HealthSpec, supply: gpd.GeoDataFrame) -> tuple[str, str]:
    """The capacity unit and where it comes from (``scénario`` or ``catalogue``).

    Raises
    ------
    ConfigError
        The scenario names none and the sites' ``capacity_unit`` values are not
        one known unit (naming ``[health] capacity_unit``).
    """
    if spec.capacity_unit is not None:
        return spec.capacity_unit, "scénario"
    given = supply.get("capacity_unit")
    raw = sorted({str(u).strip() for u in given}) if given is not None else ["site"]
    units = {UNIT_NAMES.get(u.lower()) for u in raw}
    if len(units) != 1 or None in units:
        raise ConfigError(
            f"[health] capacity_unit: the supply sites give their capacity in {', '.join(raw)}; "
            'declare the unit with capacity_unit = "consultations", "etp" or "sites"'
        )
    return units.pop(), "catalogue"  # type: ignore[return-value]


def _demand(
    spec: HealthSpec, resources: TerritoryResources, neighbour_codes: list[str]
) -> tuple[np.ndarray, tuple[dict[str, float], float] | None, dict[str, Any]]:
    """Demand of the territory's communes, the neighbours' age-weighted demand, its description.

    The second item is None for plain population; otherwise the age-weighted
    demand of the neighbouring communes the ages layer holds, and the
    territory's mean weight (applied to the population of the others).
    """
    communes = resources.territory.communes
    population = communes["population"].to_numpy(dtype=float)
    if spec.age_weights is None:
        return population, None, {"type": "population", "age_weights": None}
    bands = list(spec.age_weights)
    ages = read_age_bands(resources.territory, bands)
    if ages is None:
        return (
            population,
            None,
            {
                "type": "population",
                "age_weights": dict(spec.age_weights),
                "note": (
                    "pondération par âge demandée mais le lot n'a pas de tranches d'âge par "
                    "commune ([layers.publics] ou [layers.ages]) : demande = population sans "
                    "pondération"
                ),
            },
        )
    weights = np.array([spec.age_weights[b] for b in bands])
    codes = communes["insee_code"].astype(str)
    missing = codes[ages.loc[codes, bands].isna().any(axis=1).to_numpy()]
    if len(missing):
        shown = ", ".join(missing.iloc[:10]) + (" ..." if len(missing) > 10 else "")
        raise DataError(
            f"tranches d'âge ({', '.join(bands)}) : pas de valeur pour "
            f"{len(missing)} commune(s) du territoire : {shown} (une valeur manquante "
            "n'est jamais comptée comme zéro)",
            field="insee_code",
        )
    inside = age_weighted_demand(ages.loc[codes, bands].to_numpy(), weights)
    mean_weight = float(inside.sum() / population.sum()) if population.sum() else 1.0
    complete = ages.index[ages[bands].notna().all(axis=1).to_numpy()]
    known = [c for c in neighbour_codes if c in complete]
    outside = (
        age_weighted_demand(ages.loc[known, bands].to_numpy(), weights) if known else np.zeros(0)
    )
    description = {
        "type": "age_weighted",
        "age_weights": dict(spec.age_weights),
        "mean_weight": mean_weight,
        "neighbours_without_ages": len(neighbour_codes) - len(known),
    }
    by_code = {c: float(v) for c, v in zip(known, outside, strict=True)}
    return inside, (by_code, mean_weight), description


def health_accessibility(
    spec: HealthSpec, services: gpd.GeoDataFrame, resources: TerritoryResources
) -> dict[str, Any]:
    """2SFCA accessibility of the territory's communes (see the module docstring).

    Returns
    -------
    dict
        The ``health`` block of ``summary.json`` plus ``commune_value`` (one
        value per commune, full precision) and ``commune_undersupplied``.

    Raises
    ------
    DataError
        No open site of the kinds.
    ConfigError
        A capacity unit that cannot be told.
    """
    supply = services[
        services["kind"].isin(spec.kinds) & (services["status"].eq("open") | services["added"])
    ]
    if supply.empty:
        raise DataError(
            f"[health]: no open service of kind {', '.join(spec.kinds)} to measure health "
            "accessibility (import the list with 'coverage services import --kind health_centre')"
        )
    unit, unit_origin = capacity_unit(spec, supply)
    per_person = spec.undersupplied_threshold
    threshold_origin = "scénario"
    if per_person is None:
        per_person = default_undersupply_threshold(unit)
        threshold_origin = "défaut de l'unité" if per_person is not None else "aucun"
    territory = resources.territory
    ctx = resources.context
    decay = health_decay(spec.decay)
    supply_xy = np.column_stack([supply.geometry.x, supply.geometry.y])
    capacity = supply["capacity"].to_numpy(dtype=float)
    outside_site = ~supply["in_territory"].fillna(True).to_numpy(dtype=bool)
    inside_minutes = np.nan_to_num(
        travel_times(ctx.network, ctx.commune_points, supply_xy, access=ctx.access).minutes,
        nan=np.inf,
    )
    neighbours = read_neighbour_communes(territory)
    codes = [] if neighbours is None else neighbours.frame["insee_code"].tolist()
    inside_demand, outside_ages, demand_info = _demand(spec, resources, codes)
    n_in = len(inside_demand)
    border: dict[str, Any] = {"outside_sites": int(outside_site.sum())}
    if neighbours is not None:
        frame = neighbours.frame
        xy = frame[["x", "y"]].to_numpy()
        outside_minutes = np.nan_to_num(
            travel_times(ctx.network, xy, supply_xy, access=ctx.access).minutes, nan=np.inf
        )
        population = frame["population"].to_numpy(dtype=float)
        if outside_ages is None:
            outside_demand = population
        else:
            by_code, mean_weight = outside_ages
            outside_demand = np.array(
                [by_code.get(c, p * mean_weight) for c, p in zip(codes, population, strict=True)]
            )
        minutes = np.vstack([inside_minutes, outside_minutes])
        demand = np.concatenate([inside_demand, outside_demand])
        used_capacity = capacity
        reached = np.isfinite(outside_minutes).any(axis=1)
        border.update(
            rule="demande frontalière",
            neighbour_file=neighbours.file,
            neighbour_communes=len(frame),
            neighbour_population=int(population.sum()),
            neighbour_communes_off_network=int((~reached).sum()),
            note=(
                f"la population des {len(frame)} communes voisines ({neighbours.file}) compte "
                "dans la demande : l'offre au-delà de la limite est partagée avec ses habitants"
            ),
        )
    else:
        minutes, demand = inside_minutes, inside_demand
        if spec.outside_supply == "exclude":
            kept = np.where(outside_site, 0.0, 1.0)
            note = (
                "pas de communes voisines dans le lot : les sites hors du territoire sont "
                'exclus (outside_supply = "exclude")'
            )
        else:
            commune_xy = territory.communes[["point_x", "point_y"]].to_numpy(dtype=float)
            kept = _inside_shares(supply_xy, inside_minutes, commune_xy, territory.outline, decay)
            note = (
                "pas de communes voisines dans le lot : la capacité de chaque site est "
                "multipliée par la part de sa zone d'attraction située dans le territoire "
                "(même densité de part et d'autre de la limite)"
            )
        used_capacity = capacity * kept
        border.update(
            rule=spec.outside_supply,
            neighbour_communes=None,
            capacity_kept_share=float(used_capacity.sum() / capacity.sum())
            if capacity.sum()
            else None,
            outside_capacity_kept_share=float(
                used_capacity[outside_site].sum() / capacity[outside_site].sum()
            )
            if capacity[outside_site].sum()
            else None,
            note=note,
        )
    result = floating_catchment(minutes, demand, used_capacity, decay=decay)
    weights = decay(minutes[:n_in])
    accessibility = result.accessibility[:n_in]
    carried_outside = weights[:, outside_site] @ result.supply_ratio[outside_site]
    total = float(accessibility @ inside_demand)
    border["outside_share_of_accessibility"] = (
        float(carried_outside @ inside_demand) / total if total > 0 else None
    )
    ratio_in = result.supply_ratio[~outside_site & (used_capacity > 0)]
    ratio_out = result.supply_ratio[outside_site & (used_capacity > 0)]
    border["supply_ratio_outside_over_inside"] = (
        float(ratio_out.mean() / ratio_in.mean())
        if ratio_out.size and ratio_in.size and ratio_in.mean() > 0
        else None
    )
    value = accessibility * spec.per_inhabitants
    population = territory.communes["population"].to_numpy(dtype=float)
    threshold = None if per_person is None else per_person * spec.per_inhabitants
    under = np.zeros(n_in, dtype=bool) if threshold is None else value < threshold
    return {
        "kinds": list(spec.kinds),
        "decay": getattr(decay, "description", spec.decay),
        "per_inhabitants": spec.per_inhabitants,
        "capacity_unit": unit,
        "capacity_unit_origin": unit_origin,
        "supply_sites": len(supply),
        "supply_total": float(capacity.sum()),
        "supply_counted": float(used_capacity.sum()),
        "unused_supply": result.unused_supply,
        "demand": demand_info,
        "border": border,
        "commune_value": value,
        "commune_undersupplied": under,
        "population_weighted_mean": float(np.average(value, weights=population))
        if population.sum()
        else None,
        "undersupplied_threshold": threshold,
        "undersupplied_threshold_per_inhabitant": per_person,
        "undersupplied_threshold_origin": threshold_origin,
        "communes_undersupplied": None if threshold is None else int(under.sum()),
        "population_undersupplied": None if threshold is None else int(population[under].sum()),
        "method": (
            "2SFCA (méthode de l'APL de la DREES) : offre de chaque site répartie sur la "
            "population qui l'atteint, pondérée par la fonction de distance, puis sommée pour "
            "chaque commune ; temps depuis le point représentatif de la commune"
        ),
    }


def _inside_shares(
    supply_xy: np.ndarray,
    inside_minutes: np.ndarray,
    commune_xy: np.ndarray,
    outline: Any,
    decay: Decay,
) -> np.ndarray:
    """Per site, the share of its catchment inside the territory (``downweight`` rule).

    The catchment radius is the decay's limit times the site's median crow-fly
    speed to the territory's communes it reaches within that limit.
    """
    reach = decay_reach_minutes(decay)
    radius = np.zeros(len(supply_xy))
    for j, (x, y) in enumerate(supply_xy):
        t = inside_minutes[:, j]
        ok = np.isfinite(t) & (t > 0) & (t <= reach)
        if ok.any():
            crow = np.hypot(commune_xy[ok, 0] - x, commune_xy[ok, 1] - y)
            radius[j] = float(np.median(crow / t[ok])) * reach
    return inside_share(supply_xy, radius, outline, decay, reach_minutes=reach)
