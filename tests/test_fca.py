"""2SFCA / E2SFCA against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from coverage.errors import QueryError
from coverage.fca import (
    age_weighted_demand,
    decay_reach_minutes,
    default_undersupply_threshold,
    drees_apl_decay,
    floating_catchment,
    inside_share,
    linear_decay,
    step_decay,
)


def test_drees_steps() -> None:
    decay = drees_apl_decay()
    got = decay(np.array([0, 10, 10.01, 15, 19.9, 20, 20.5, np.inf, np.nan]))
    assert got.tolist() == pytest.approx([1, 1, 2 / 3, 2 / 3, 1 / 3, 1 / 3, 0, 0, 0])


def test_two_step_by_hand() -> None:
    # 2 communes (100 and 200 inhabitants), 2 sites (10 and 30 FTE)
    minutes = np.array([[5.0, 12.0], [25.0, 8.0]])
    result = floating_catchment(minutes, [100, 200], [10, 30], decay=drees_apl_decay())
    # site 1 reached by 100 (weight 1) -> R1 = 10/100; site 2 by 2/3*100 + 200
    assert result.supply_ratio.tolist() == pytest.approx([0.1, 30 / (200 / 3 + 200)])
    # A1 = 1*0.1 + 2/3*0.1125 ; A2 = 0*0.1 + 1*0.1125
    assert result.accessibility.tolist() == pytest.approx([0.175, 0.1125])
    # every unit of supply is distributed: sum(A_i * D_i) = sum(S_j)
    assert float(result.accessibility @ [100, 200]) == pytest.approx(40.0)
    assert result.unused_supply == 0


def test_unreachable_supply_is_reported_not_lost() -> None:
    minutes = np.array([[5.0, np.inf], [7.0, 40.0]])
    result = floating_catchment(minutes, [50, 50], [4, 6], decay=step_decay({20: 1.0}))
    assert result.supply_ratio.tolist() == pytest.approx([0.04, 0.0])
    assert result.unused_supply == 6
    assert float(result.accessibility @ [50, 50]) + result.unused_supply == pytest.approx(10)


def test_linear_decay_by_hand() -> None:
    decay = linear_decay(20)
    assert decay(np.array([0, 5, 20, 30])).tolist() == pytest.approx([1, 0.75, 0, 0])
    result = floating_catchment(np.array([[5.0], [10.0]]), [100, 100], [15], decay=decay)
    # weighted demand 0.75*100 + 0.5*100 = 125 -> R = 0.12
    assert result.accessibility.tolist() == pytest.approx([0.75 * 0.12, 0.5 * 0.12])


def test_age_weighted_demand() -> None:
    pop = np.array([[100, 50], [10, 200]])
    assert age_weighted_demand(pop, np.array([1.0, 2.0])).tolist() == [200, 410]
    with pytest.raises(QueryError, match="population_by_age"):
        age_weighted_demand(pop, np.array([1.0]))


@pytest.mark.parametrize(
    ("demand", "supply", "match"),
    [([1, -1], [1], "demand\\[1\\]"), ([1, 1], [np.nan], "supply\\[0\\]")],
)
def test_bad_inputs(demand, supply, match) -> None:
    with pytest.raises(QueryError, match=match):
        floating_catchment(np.zeros((2, 1)), demand, supply, decay=drees_apl_decay())


def test_bad_shapes_and_steps() -> None:
    with pytest.raises(QueryError, match="forme"):
        floating_catchment(np.zeros((3, 1)), [1, 1], [1], decay=drees_apl_decay())
    with pytest.raises(QueryError, match="poids"):
        step_decay({10: 1.5})


# --- demand over the border, the PySAL ``access`` package, the down-weighting rule ----------

# a hand-built territory: communes 0-3 inside, 4-6 over the border; sites A, B inside, C outside
BORDER_MINUTES = np.array(
    [
        [4.0, 18.0, np.inf],
        [9.0, 12.0, 19.0],
        [16.0, 6.0, 11.0],
        [np.inf, 14.0, 8.0],
        [np.inf, 19.5, 3.0],
        [np.inf, np.inf, 10.0],
        [25.0, 17.0, 15.0],
    ]
)
BORDER_DEMAND = np.array([1200.0, 300.0, 800.0, 150.0, 2500.0, 700.0, 400.0])
BORDER_SUPPLY = np.array([6.0, 3.0, 9.0])


def _pysal_2sfca(minutes: np.ndarray, demand: np.ndarray, supply: np.ndarray) -> np.ndarray:
    access = pytest.importorskip("access")
    import pandas as pd

    rows = [
        (i, j, float(t))
        for (i, j), t in np.ndenumerate(minutes)
        if np.isfinite(t)  # unreachable pairs are simply absent from the cost table
    ]
    cost = pd.DataFrame(rows, columns=["origin", "dest", "minutes"])
    model = access.Access(
        demand_df=pd.DataFrame({"commune": range(len(demand)), "demand": demand}),
        demand_index="commune",
        demand_value="demand",
        supply_df=pd.DataFrame({"site": range(len(supply)), "supply": supply}),
        supply_index="site",
        supply_value="supply",
        cost_df=cost,
        cost_origin="origin",
        cost_dest="dest",
        cost_name="minutes",
    )
    steps = access.weights.step_fn({10: 1.0, 15: 2.0 / 3.0, 20: 1.0 / 3.0})
    out = model.two_stage_fca(name="apl", max_cost=20, weight_fn=steps)
    return out.iloc[:, 0].reindex(range(len(demand))).fillna(0.0).to_numpy()


def test_equals_pysal_access_with_demand_over_the_border() -> None:
    ours = floating_catchment(BORDER_MINUTES, BORDER_DEMAND, BORDER_SUPPLY, decay=drees_apl_decay())
    theirs = _pysal_2sfca(BORDER_MINUTES, BORDER_DEMAND, BORDER_SUPPLY)
    assert np.max(np.abs(ours.accessibility - theirs)) < 1e-12
    # every unit of supply is shared out among inside and outside people alike
    assert float(ours.accessibility @ BORDER_DEMAND) == pytest.approx(BORDER_SUPPLY.sum())
    # leaving the 3 600 people over the border out inflates site C's ratio for the insiders
    inside_only = floating_catchment(
        BORDER_MINUTES[:4], BORDER_DEMAND[:4], BORDER_SUPPLY, decay=drees_apl_decay()
    )
    assert inside_only.supply_ratio[2] > 5 * ours.supply_ratio[2]
    # by hand, site C: 1/3·300 + 2/3·800 + 1·150 + 1·2500 + 1·700 + 2/3·400 = 4250
    assert ours.supply_ratio[2] == pytest.approx(9 / 4250, rel=1e-15)


def test_inside_share_of_a_catchment_by_hand() -> None:
    square = shapely.box(0, 0, 100_000, 100_000)
    decay = drees_apl_decay()
    assert decay_reach_minutes(decay) == 20
    assert decay_reach_minutes(linear_decay(35)) == 35
    sites = np.array([[50_000, 50_000], [0, 50_000], [0, 0], [-30_000, 50_000], [-5, 50_000]])
    radius = np.array([10_000, 10_000, 10_000, 10_000, 0])
    shares = inside_share(sites, radius, square, decay, reach_minutes=20)
    # inside; on an edge (half of every ring); at a corner (a quarter); beyond its reach
    assert shares[:4] == pytest.approx([1.0, 0.5, 0.25, 0.0], abs=1e-12)
    assert shares[4] == 0.0  # radius 0 outside: nothing of it inside
    # a disk cut 5 km from its centre: rings weighted 1 (0-10 min), 2/3, 1/3, by hand
    cut = inside_share(
        np.array([[-5_000, 50_000]]), np.array([20_000]), square, decay, reach_minutes=20
    )
    r, d = 20_000.0, 5_000.0

    def segment(radius_m: float) -> float:  # area of the disk part beyond a chord at d
        if radius_m <= d:
            return 0.0
        return radius_m**2 * np.arccos(d / radius_m) - d * np.sqrt(radius_m**2 - d**2)

    bounds = [0.0, r / 2, 3 * r / 4, r]
    weights = [1.0, 2 / 3, 1 / 3]
    inside = sum(
        w * (segment(b) - segment(a))
        for a, b, w in zip(bounds[:-1], bounds[1:], weights, strict=True)
    )
    full = sum(
        w * np.pi * (b**2 - a**2) for a, b, w in zip(bounds[:-1], bounds[1:], weights, strict=True)
    )
    assert cut[0] == pytest.approx(inside / full, rel=2e-3)  # 40 rings, 64-gon disks


def test_downweighted_supply_by_hand() -> None:
    # one site on the border (half its catchment inside), 10 FTE, 100 inhabitants at 5 min
    share = inside_share(
        np.array([[0.0, 500.0]]),
        np.array([300.0]),
        shapely.box(0, 0, 1000, 1000),
        drees_apl_decay(),
        reach_minutes=20,
    )
    result = floating_catchment(np.array([[5.0]]), [100], 10 * share, decay=drees_apl_decay())
    assert result.accessibility[0] == pytest.approx(0.05, rel=1e-12)


def test_undersupply_threshold_follows_the_unit() -> None:
    assert default_undersupply_threshold("consultations") == 2.5
    assert default_undersupply_threshold("etp") == pytest.approx(2.5 / 5400)
    assert default_undersupply_threshold("etp") * 100_000 == pytest.approx(46.296, abs=1e-3)
    assert default_undersupply_threshold("sites") is None
    with pytest.raises(QueryError, match="demi"):
        default_undersupply_threshold("demi-journées")
