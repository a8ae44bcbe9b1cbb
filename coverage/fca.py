"""Floating catchment accessibility (2SFCA, E2SFCA), the method of the DREES APL indicator.

The optimiser-style core works on a demand × supply travel-time matrix only:

1. for each supply site ``j``: ``R_j = S_j / Σ_i f(t_ij) · D_i``, its capacity
   shared among the (decay-weighted) demand that can reach it;
2. for each demand point ``i``: ``A_i = Σ_j f(t_ij) · R_j``.

``S_j`` is a capacity (full-time equivalents, consultations per year), ``D_i``
a population (optionally weighted by age-specific use, as the DREES
standardises it), ``f`` a distance-decay function of the time in minutes.
The 2SFCA uses a step to 0 at the catchment limit; the E2SFCA uses several
steps; a continuous decay is available too. Every unit of supply is either
distributed to demand or, when no demand can reach it, reported as
``unused_supply`` (so ``Σ_i A_i·D_i + unused = Σ_j S_j``, which the tests check:
the well-known summing bug broke exactly this identity).

DREES APL for general practitioners: steps 1 up to 10 min, 2/3 from 10 to 15,
1/3 from 15 to 20, 0 beyond (:func:`drees_apl_decay`); an APL below 2.5
consultations per inhabitant per year marks an under-supplied area
(:data:`APL_UNDERSUPPLIED`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import shapely

from coverage.errors import QueryError

Decay = Callable[[np.ndarray], np.ndarray]
"""Maps times in minutes to weights in [0, 1]; ``inf``/NaN must map to 0."""

APL_UNDERSUPPLIED = 2.5
"""APL (consultations per inhabitant per year) below which the DREES speaks of under-supply."""

CONSULTATIONS_PER_FTE = 5400.0
"""Consultations and visits a year of one full-time general practitioner, the conversion the
DREES APL publications use (56 FTE per 100 000 inhabitants = 3 consultations per inhabitant);
it turns :data:`APL_UNDERSUPPLIED` into 2.5 / 5 400 FTE per inhabitant (46.3 per 100 000)."""


def default_undersupply_threshold(capacity_unit: str) -> float | None:
    """The under-supply mark per inhabitant for a capacity unit, or None when there is none.

    ``consultations`` (a year): the DREES 2.5; ``etp``: its full-time equivalent
    ``2.5 / CONSULTATIONS_PER_FTE``; ``sites``: no published mark (None: the
    scenario must give ``undersupplied_threshold`` for communes to be flagged).

    Raises
    ------
    QueryError
        An unknown unit.
    """
    if capacity_unit == "consultations":
        return APL_UNDERSUPPLIED
    if capacity_unit == "etp":
        return APL_UNDERSUPPLIED / CONSULTATIONS_PER_FTE
    if capacity_unit == "sites":
        return None
    raise QueryError(
        f"capacity_unit {capacity_unit!r} n'est pas l'une des unités consultations, etp, sites"
    )


def step_decay(steps: Mapping[float, float]) -> Decay:
    """A step decay: ``{10: 1, 15: 2/3, 20: 1/3}`` gives 1 up to 10 min, ... 0 beyond 20.

    Each key is the upper bound (inclusive) of a step, each value its weight.

    Raises
    ------
    QueryError
        Empty steps, non-increasing bounds, weights outside [0, 1].
    """
    if not steps:
        raise QueryError(
            "une décroissance par paliers demande au moins un palier, par ex. {20: 1.0}"
        )
    bounds = np.array(sorted(float(k) for k in steps))
    weights = np.array([float(steps[k]) for k in sorted(steps, key=float)])
    if np.any(bounds <= 0) or not np.all(np.isfinite(bounds)):
        raise QueryError(
            f"les bornes des paliers doivent être des minutes positives, reçu "
            f"{[float(b) for b in bounds]}"
        )
    if np.any((weights < 0) | (weights > 1)):
        raise QueryError(
            f"les poids des paliers doivent être dans [0, 1], reçu {[float(w) for w in weights]}"
        )

    def decay(minutes: np.ndarray) -> np.ndarray:
        t = np.asarray(minutes, dtype=np.float64)
        idx = np.searchsorted(bounds, np.nan_to_num(t, nan=np.inf), side="left")
        padded = np.append(weights, 0.0)
        return np.where(np.isfinite(t), padded[np.minimum(idx, bounds.size)], 0.0)

    steps_text = {f"{b:g}": float(w) for b, w in zip(bounds, weights, strict=True)}
    decay.description = {"type": "steps", "steps": steps_text}  # type: ignore[attr-defined]
    return decay


def linear_decay(max_minutes: float = 20.0) -> Decay:
    """A continuous decay from 1 at 0 min to 0 at ``max_minutes``."""
    if not np.isfinite(max_minutes) or max_minutes <= 0:
        raise QueryError(f"max_minutes doit être positif, reçu {float(max_minutes):g}")

    def decay(minutes: np.ndarray) -> np.ndarray:
        t = np.asarray(minutes, dtype=np.float64)
        w = np.clip(1.0 - t / max_minutes, 0.0, 1.0)
        return np.where(np.isfinite(t), w, 0.0)

    decay.description = {"type": "linear", "max_minutes": max_minutes}  # type: ignore[attr-defined]
    return decay


def drees_apl_decay() -> Decay:
    """The DREES APL steps: 1 up to 10 min, 2/3 up to 15, 1/3 up to 20, then 0."""
    return step_decay({10.0: 1.0, 15.0: 2.0 / 3.0, 20.0: 1.0 / 3.0})


@dataclass(frozen=True)
class FcaResult:
    """Accessibility per demand point and supply ratio per site.

    Attributes
    ----------
    accessibility
        ``A_i`` per demand point (supply units per person).
    supply_ratio
        ``R_j`` per site (supply units per weighted person); 0 when no demand reaches it.
    unused_supply
        Capacity of the sites no demand can reach.
    """

    accessibility: np.ndarray
    supply_ratio: np.ndarray
    unused_supply: float


def floating_catchment(
    minutes: np.ndarray,
    demand: np.ndarray,
    supply: np.ndarray,
    *,
    decay: Decay,
) -> FcaResult:
    """Two-step floating catchment area (2SFCA / E2SFCA, depending on ``decay``).

    Parameters
    ----------
    minutes
        ``(n_demand, n_supply)`` travel times in minutes (inf/NaN: unreachable).
    demand
        Demand per point (population, or age-weighted population), ``>= 0``.
    supply
        Capacity per site, ``>= 0``.
    decay
        Decay function (:func:`step_decay`, :func:`linear_decay`, :func:`drees_apl_decay`).

    Returns
    -------
    FcaResult

    Raises
    ------
    QueryError
        Shapes that do not match, negative or non-finite demand or supply.
    """
    minutes = np.asarray(minutes, dtype=np.float64)
    demand = np.asarray(demand, dtype=np.float64)
    supply = np.asarray(supply, dtype=np.float64)
    if minutes.ndim != 2 or minutes.shape != (demand.size, supply.size):
        raise QueryError(
            f"minutes doit avoir la forme (n_demand, n_supply) = ({demand.size}, {supply.size}), "
            f"reçu {tuple(int(n) for n in minutes.shape)}"
        )
    for name, values in (("demand", demand), ("supply", supply)):
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise QueryError(
                f"{name}[{int(first)}] = {float(values[first]):g} : doit être un nombre >= 0"
            )
    weights = decay(minutes)
    reached_demand = weights.T @ demand  # Σ_i f(t_ij) D_i, per site
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(reached_demand > 0, supply / reached_demand, 0.0)
    accessibility = weights @ ratio
    unused = float(supply[reached_demand <= 0].sum())
    return FcaResult(accessibility=accessibility, supply_ratio=ratio, unused_supply=unused)


def age_weighted_demand(population_by_age: np.ndarray, weights_by_age: np.ndarray) -> np.ndarray:
    """Demand standardised by age: ``Σ_age population × weight`` per demand point.

    Parameters
    ----------
    population_by_age
        ``(n_demand, n_age_groups)`` inhabitants.
    weights_by_age
        Relative use of the service by each age group (e.g. consultations per
        person relative to the national mean).

    Raises
    ------
    QueryError
        Mismatched shapes or negative values.
    """
    pop = np.asarray(population_by_age, dtype=np.float64)
    w = np.asarray(weights_by_age, dtype=np.float64)
    if pop.ndim != 2 or w.shape != (pop.shape[1],):
        raise QueryError(
            f"population_by_age doit être de forme (n_demand, n_groups) et weights_by_age "
            f"(n_groups,), "
            f"reçu {tuple(int(n) for n in pop.shape)} et {tuple(int(n) for n in w.shape)}"
        )
    if np.any(pop < 0) or np.any(w < 0):
        raise QueryError("table des âges : les populations et les poids doivent être >= 0")
    return pop @ w


def decay_reach_minutes(decay: Decay, *, limit_minutes: float = 240.0) -> float:
    """The longest time with a positive weight (the catchment's limit), in minutes.

    Read from the decay's ``description`` (steps: the last bound with a
    positive weight; linear: ``max_minutes``), else searched up to ``limit_minutes``.
    """
    description = getattr(decay, "description", None) or {}
    if description.get("type") == "steps":
        bounds = [float(b) for b, w in description["steps"].items() if float(w) > 0]
        return max(bounds) if bounds else 0.0
    if description.get("type") == "linear":
        return float(description["max_minutes"])
    grid = np.linspace(0.0, limit_minutes, 4801)
    positive = np.flatnonzero(decay(grid) > 0)
    return float(grid[positive[-1]]) if positive.size else 0.0


def inside_share(
    site_xy: np.ndarray,
    radius_m: np.ndarray,
    outline: shapely.Geometry,
    decay: Decay,
    *,
    reach_minutes: float,
    rings: int = 40,
) -> np.ndarray:
    """Share of each site's decay-weighted catchment area that lies inside ``outline``.

    The catchment of site ``j`` is taken as the disk of radius ``radius_m[j]``
    around it, cut into ``rings`` annuli; the annulus from ``r_a`` to ``r_b``
    carries the decay weight of the time ``reach_minutes × (r_a + r_b) / 2 / radius``.
    The share is ``Σ w_k · area(annulus_k ∩ outline) / Σ w_k · area(annulus_k)``:
    the part of the site's (decay-weighted) population that lives inside when the
    density is the same on both sides of the border. A site whose disk lies
    inside gets 1; a radius of 0 gives 1 when the site is inside, else 0.

    Parameters
    ----------
    site_xy
        ``(n, 2)`` site coordinates, metres (the outline's CRS).
    radius_m
        Catchment radius of each site, metres.
    outline
        The territory (polygon, same CRS).
    decay
        The distance decay.
    reach_minutes
        The catchment's limit (:func:`decay_reach_minutes`).
    rings
        Number of annuli.
    """
    xy = np.asarray(site_xy, dtype=np.float64).reshape(-1, 2)
    radius = np.asarray(radius_m, dtype=np.float64).reshape(-1)
    edges = np.linspace(0.0, 1.0, rings + 1)
    weights = decay(reach_minutes * (edges[:-1] + edges[1:]) / 2.0)
    shares = np.ones(len(xy))
    for j, ((x, y), r) in enumerate(zip(xy, radius, strict=True)):
        centre = shapely.Point(x, y)
        if not np.isfinite(r) or r <= 0:
            shares[j] = 1.0 if outline.covers(centre) else 0.0
            continue
        disks = [centre.buffer(r * e, quad_segs=16) if e > 0 else None for e in edges]
        inside_areas = [0.0 if d is None else d.intersection(outline).area for d in disks]
        full_areas = [0.0 if d is None else d.area for d in disks]
        num = sum(w * (inside_areas[k + 1] - inside_areas[k]) for k, w in enumerate(weights))
        den = sum(w * (full_areas[k + 1] - full_areas[k]) for k, w in enumerate(weights))
        shares[j] = min(1.0, max(0.0, num / den)) if den > 0 else 1.0
    return shares
