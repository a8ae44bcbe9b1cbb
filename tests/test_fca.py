"""2SFCA / E2SFCA against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from coverage.errors import QueryError
from coverage.fca import (
    age_weighted_demand,
    drees_apl_decay,
    floating_catchment,
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
    with pytest.raises(QueryError, match="shape"):
        floating_catchment(np.zeros((3, 1)), [1, 1], [1], decay=drees_apl_decay())
    with pytest.raises(QueryError, match="weights"):
        step_decay({10: 1.5})
