"""The Gers headline figures of the default scenario, pinned.

The figures the README and the Conseil départemental quote: for each analysis
of ``data/geo/gers/scenarios/actuel.toml`` (France services, open solidarity
tiers-lieux), the share of the inhabitants beyond 15, 20 and 30 minutes by car,
and the population-weighted mean time. They come from the session's single run
of the default scenario (``gers_result`` in conftest.py, the same scenario and
bundle as ``coverage run --data ../shared/data``): this file adds no run.

How they were obtained: ``coverage run --data /work/shared/data`` on
2026-12-02 (commit ee1603c), read from ``summary.json`` (``analyses.<name>``:
``thresholds.<minutes>.share_beyond`` and ``minutes_mean``). They change, and
must then be re-measured and the README updated with them, when any of these
changes: the speed profile (``france``, calibrated in benchmarks/calibrate.py),
the turn model (turn costs, restrictions), the road network (the TravelMapping
numbered-road skeleton of 2025-12-11, 3 602 nodes), the access legs (projection
on roads, 30 km/h), the population surface (200 m cells weighted base/roads/
addresses) or the service catalogue. ``test_inputs_of_the_pinned_figures``
pins the inputs that are cheap to check, so that a failure says which moved.

Tolerances: 0.1 percentage point on shares (about 190 inhabitants) and 0.05 min
on means. A twofold speed error, a lost turn model or a missing network moves
them by whole points or minutes.
"""

from __future__ import annotations

import pytest

GERS_POPULATION = 192_645  # legal population of the 458 communes (INSEE, in the bundle)
SHARE_TOLERANCE = 0.001  # 0.1 percentage point
MEAN_TOLERANCE_MIN = 0.05

# analysis -> (share beyond 15, 20, 30 min), mean minutes; measured 2026-12-02
HEADLINE = {
    "france_services": ((0.1136, 0.0149, 0.0), 8.44),
    "tiers_lieu": ((0.8951, 0.8194, 0.6327), 38.79),
}


def test_every_analysis_of_the_default_scenario_is_pinned(gers_result) -> None:
    assert set(gers_result.summary["analyses"]) == set(HEADLINE)


@pytest.mark.parametrize("analysis", sorted(HEADLINE))
def test_headline_shares_and_mean(gers_result, analysis: str) -> None:
    figures = gers_result.summary["analyses"][analysis]
    shares, mean = HEADLINE[analysis]
    measured = {
        minutes: figures["thresholds"][str(minutes)]["share_beyond"] for minutes in (15, 20, 30)
    }
    expected = dict(zip((15, 20, 30), shares, strict=True))
    assert measured == pytest.approx(expected, abs=SHARE_TOLERANCE)
    assert figures["minutes_mean"] == pytest.approx(mean, abs=MEAN_TOLERANCE_MIN)
    # the shares are the counted inhabitants over the whole population
    for minutes in (15, 20, 30):
        counted = figures["thresholds"][str(minutes)]
        assert counted["pop_beyond"] / GERS_POPULATION == pytest.approx(
            counted["share_beyond"], abs=1e-4
        )


def test_total_population_counted(gers_result) -> None:
    summary = gers_result.summary
    assert summary["territory"]["population"] == GERS_POPULATION
    assert summary["provenance"]["population"]["total"] == GERS_POPULATION
    for figures in summary["analyses"].values():
        assert figures["population"] == GERS_POPULATION
        assert figures["pop_unreachable"] == 0
        for counted in figures["thresholds"].values():
            assert counted["pop_within"] + counted["pop_beyond"] == GERS_POPULATION


def test_inputs_of_the_pinned_figures(gers_result) -> None:
    """What the figures were measured with; if this fails, the figures above moved for it."""
    network = gers_result.summary["provenance"]["network"]
    assert network["speed_profile"] == "france"
    assert network["source_date"] == "2025-12-11"
    assert (network["nodes"], network["edges"]) == (3_602, 9_920)
    turns = network["turn_model"]["turn_costs_s"]
    assert (turns["left_s"], turns["right_s"], turns["u_turn_s"]) == (5, 2, 20)
    access = gers_result.summary["provenance"]["access_legs"]
    assert access["speed_kph"] == 30 and access["method"] == "projection on the nearest road edges"
    population = gers_result.summary["provenance"]["population"]
    assert population["cell_size_m"] == 200 and population["populated_cells"] == 157_591
