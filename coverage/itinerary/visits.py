"""How many visits each stop gets over the period, within the bounds the spacing rules set.

Visits are apportioned by the largest-remainder method (Hamilton): each stop's
quota is ``total × weight / Σ weight``; quotas below a stop's lower bound or
above its upper bound are fixed at the bound and the rest is shared again
among the others; every stop then gets the whole part of its quota and the
remaining visits go to the largest fractional parts (ties: the larger tie-break
value, then the list order). Uniform visits are the same with equal weights:
every stop gets the same number, ±1.

Bounds (:func:`visit_bounds`): with at most ``max_spacing_days`` of waiting
between visits and at the ends of the period, a stop needs at least
``ceil(span / max_spacing) - 1`` visits (``n`` visits make ``n + 1`` waits
summing to the period's ``span`` in days); with at least ``min_spacing_days``
between two visits of a stop, it can have at most
``floor(span_service / min_spacing) + 1`` (``span_service`` from the first to
the last service day), and never more than one a day. When the planner shares
visits (uniform or by population) it gives every stop one visit more than that
least number (within the upper bound): visits fall on service days shared with
other stops, so an exact fit of the waits is rarely possible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np

from coverage._french import plural
from coverage.itinerary.settings import InfeasiblePlanError


def visit_bounds(
    dates: Sequence[date],
    period: tuple[date, date],
    *,
    min_spacing_days: int,
    max_spacing_days: int,
) -> tuple[int, int]:
    """Least and most visits a stop can have under the spacing rules.

    Parameters
    ----------
    dates
        The service days (sorted).
    period
        First and last day of the period.

    Returns
    -------
    tuple of int
        ``(lower, upper)``.
    """
    start, end = period
    first_wait = (dates[0] - start).days
    last_wait = (end - dates[-1]).days
    span = (end - start).days
    if first_wait > max_spacing_days or last_wait > max_spacing_days:
        lower = len(dates) + 1  # impossible: reported by the caller
    else:
        lower = max(1, math.ceil(span / max_spacing_days) - 1)
    served = (dates[-1] - dates[0]).days
    upper = len(dates) if min_spacing_days <= 0 else served // min_spacing_days + 1
    return lower, min(upper, len(dates))


def tightest_window(
    dates: Sequence[date], period: tuple[date, date], *, max_spacing_days: int
) -> tuple[date, date, int]:
    """The stretch of ``max_spacing_days`` consecutive days holding the fewest service days.

    Every stop needs a visit in every such stretch (that is what "no wait longer
    than ``max_spacing_days``" means), so the stretch bounds how many stops the
    plan can serve.

    Returns
    -------
    tuple
        First and last day of the stretch, and its number of service days.
    """
    start, end = period
    span = (end - start).days
    offsets = np.array([(d - start).days for d in dates])
    best = (start, end, len(dates))
    for t in range(max(span - max_spacing_days, 0)):
        count = int(((offsets > t) & (offsets <= t + max_spacing_days)).sum())
        if count < best[2]:
            first = start + timedelta(days=t + 1)
            best = (first, first + timedelta(days=max_spacing_days - 1), count)
    return best


def allocate_visits(
    weights: Sequence[float],
    total: int,
    *,
    lower: int | Sequence[int] = 0,
    upper: int | Sequence[int] | None = None,
    tie_break: Sequence[float] | None = None,
) -> np.ndarray:
    """Apportion ``total`` visits in proportion to ``weights`` within bounds.

    Parameters
    ----------
    weights
        Non-negative weights (equal weights: uniform visits).
    total
        Visits to share.
    lower, upper
        Bounds per stop (a number for all, or one per stop).
    tie_break
        Larger values win equal remainders (default: none, list order).

    Returns
    -------
    numpy.ndarray
        Integer visits per stop, summing to ``total``.

    Raises
    ------
    InfeasiblePlanError
        When the bounds cannot hold ``total`` visits.
    """
    w = np.asarray(weights, dtype=np.float64)
    n = w.size
    if n == 0:
        raise InfeasiblePlanError("aucun arrêt entre lesquels répartir les visites")
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        raise InfeasiblePlanError("les poids des visites doivent être finis et positifs ou nuls")
    lo = np.broadcast_to(np.asarray(lower, dtype=np.int64), (n,)).copy()
    hi = (
        np.full(n, total, dtype=np.int64)
        if upper is None
        else np.broadcast_to(np.asarray(upper, dtype=np.int64), (n,)).copy()
    )
    if lo.sum() > total:
        raise InfeasiblePlanError(
            f"les arrêts demandent au moins {plural(int(lo.sum()), 'visite')} en tout mais seules "
            f"{int(total)} peuvent être faites"
        )
    if hi.sum() < total:
        raise InfeasiblePlanError(
            f"{plural(total, 'visite')} ne peuvent être réparties : les arrêts en prennent au plus "
            f"{int(hi.sum())}"
        )
    if w.sum() == 0:
        w = np.ones(n)
    fixed = np.zeros(n, dtype=bool)
    quota = np.zeros(n)
    for _ in range(n + 1):
        free = ~fixed
        left = total - quota[fixed].sum()
        share = w[free].sum()
        quota[free] = left * w[free] / share if share > 0 else left / max(free.sum(), 1)
        low = free & (quota < lo)
        high = free & (quota > hi)
        if not low.any() and not high.any():
            break
        # fix the side that is most out of bounds first, so the rest stays proportional
        if low.any():
            quota[low] = lo[low]
            fixed |= low
        else:
            quota[high] = hi[high]
            fixed |= high
    base = np.clip(np.floor(quota + 1e-9).astype(np.int64), lo, hi)
    remaining = int(total - base.sum())  # >= 0: quotas lie within the bounds
    frac = quota - base
    tb = np.zeros(n) if tie_break is None else np.asarray(tie_break, dtype=np.float64)
    order = sorted(range(n), key=lambda i: (-round(frac[i], 9), -tb[i], i))
    k = 0
    while remaining > 0:
        i = order[k % n]
        if base[i] < hi[i]:
            base[i] += 1
            remaining -= 1
        k += 1
    return base
