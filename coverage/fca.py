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

from coverage.errors import QueryError

Decay = Callable[[np.ndarray], np.ndarray]
"""Maps times in minutes to weights in [0, 1]; ``inf``/NaN must map to 0."""

APL_UNDERSUPPLIED = 2.5
"""APL (consultations per inhabitant per year) below which the DREES speaks of under-supply."""


def step_decay(steps: Mapping[float, float]) -> Decay:
    """A step decay: ``{10: 1, 15: 2/3, 20: 1/3}`` gives 1 up to 10 min, ... 0 beyond 20.

    Each key is the upper bound (inclusive) of a step, each value its weight.

    Raises
    ------
    QueryError
        Empty steps, non-increasing bounds, weights outside [0, 1].
    """
    if not steps:
        raise QueryError("a step decay needs at least one step, e.g. {20: 1.0}")
    bounds = np.array(sorted(float(k) for k in steps))
    weights = np.array([float(steps[k]) for k in sorted(steps, key=float)])
    if np.any(bounds <= 0) or not np.all(np.isfinite(bounds)):
        raise QueryError(f"step bounds must be positive minutes, got {sorted(steps)}")
    if np.any((weights < 0) | (weights > 1)):
        raise QueryError(f"step weights must be in [0, 1], got {list(weights)}")

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
        raise QueryError(f"max_minutes must be positive, got {max_minutes}")

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
            f"minutes must have shape (n_demand, n_supply) = ({demand.size}, {supply.size}), "
            f"got {minutes.shape}"
        )
    for name, values in (("demand", demand), ("supply", supply)):
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise QueryError(f"{name}[{first}] = {values[first]!r}: must be a number >= 0")
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
            f"population_by_age must be (n_demand, n_groups) and weights_by_age (n_groups,), "
            f"got {pop.shape} and {w.shape}"
        )
    if np.any(pop < 0) or np.any(w < 0):
        raise QueryError("ages table: populations and weights must be >= 0")
    return pop @ w
