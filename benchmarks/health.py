"""The Gers 2SFCA before and after the border, precision and unit fixes (issue 16, item 5).

Supply: the 92 France services of the catalogue (27 in the Gers, 65 within
30 km), one unit each, DREES steps (10/15/20 min). Prints, for the way the
engine computed it before (supply over the border shared among the Gers
population only, values rounded to 4 decimals, the 2.5 mark whatever the unit)
and for each rule now (``downweight``, ``exclude``):

- the share of all accessibility (population-weighted) carried by the sites
  outside the Gers, how many of them are reached, their mean supply ratio
  against the inside sites';
- the communes and people flagged under-supplied with capacity in FTE (a site
  taken as one FTE): before, the 2.5 mark compared with FTE per inhabitant;
  now, ``capacity_unit = "etp"`` and its mark 2.5 / 5 400;
- what rounding to 4 decimals did with ``per_inhabitants = 1``.

Usage::

    python benchmarks/health.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from coverage.fca import APL_UNDERSUPPLIED, drees_apl_decay, floating_catchment
from coverage.jobs.health import health_accessibility
from coverage.jobs.resources import TerritoryResources
from coverage.routing.matrix import travel_times
from coverage.scenario import scenario_from_dict, select_services


def _scenario(**health: object):
    return scenario_from_dict(
        {
            "scenario": {"name": "sante_fs", "territory": "gers"},
            "thresholds": {"minutes": [20]},
            "analyses": [{"name": "fs", "kinds": ["france_services"]}],
            "health": {"kinds": ["france_services"], "per_inhabitants": 1, **health},
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    args = parser.parse_args()
    resources = TerritoryResources.load("gers", data_dir=args.data)
    catalogue = resources.catalogue
    base = _scenario()
    _, services = select_services(
        base, catalogue.frame, resources.territory, known_kinds=catalogue.kinds
    )
    supply = services[services["kind"].eq("france_services")]
    outside = ~supply["in_territory"].to_numpy(dtype=bool)
    ctx = resources.context
    xy = np.column_stack([supply.geometry.x, supply.geometry.y])
    minutes = np.nan_to_num(
        travel_times(ctx.network, ctx.commune_points, xy, access=ctx.access).minutes, nan=np.inf
    )
    demand = resources.territory.communes["population"].to_numpy(float)
    decay = drees_apl_decay()
    before = floating_catchment(minutes, demand, supply["capacity"].to_numpy(float), decay=decay)
    weights = decay(minutes)
    carried = (weights[:, outside] @ before.supply_ratio[outside]) @ demand
    reached = (weights > 0).any(axis=0)
    ratio_out = before.supply_ratio[outside & reached].mean()
    ratio_in = before.supply_ratio[~outside & reached].mean()
    print("AVANT (demande frontalière absente, offre hors Gers entière)")
    print(
        f"  sites hors Gers atteints : {int((outside & reached).sum())} ; part de "
        f"l'accessibilité qu'ils portent : {carried / (before.accessibility @ demand):.1%} ; "
        f"ratio offre/demande hors/dans : {ratio_out / ratio_in:.2f}"
    )
    flagged = before.accessibility < APL_UNDERSUPPLIED
    print(
        f"  capacité en ETP, seuil 2,5 quelle que soit l'unité : {int(flagged.sum())} communes "
        f"signalées sur {len(demand)}"
    )
    rounded = np.round(before.accessibility, 4)
    positive = before.accessibility > 0
    error = (
        np.abs(rounded[positive] - before.accessibility[positive]) / before.accessibility[positive]
    )
    print(
        f"  arrondi à 4 décimales (per_inhabitants = 1) : erreur relative max {error.max():.0%}, "
        f"{int((rounded[positive] == 0).sum())} communes à 0"
    )
    for rule in ("downweight", "exclude"):
        spec = _scenario(outside_supply=rule, capacity_unit="etp").health
        assert spec is not None
        after = health_accessibility(spec, services, resources)
        border = after["border"]
        print(f"APRÈS (outside_supply = {rule!r}, capacity_unit = 'etp')")
        print(
            f"  part de l'accessibilité portée par les sites hors Gers : "
            f"{border['outside_share_of_accessibility']:.1%} ; capacité hors Gers gardée : "
            f"{border['outside_capacity_kept_share']:.1%} ; ratio hors/dans : "
            + (
                f"{border['supply_ratio_outside_over_inside']:.2f}"
                if border["supply_ratio_outside_over_inside"] is not None
                else "—"
            )
        )
        print(
            f"  seuil {after['undersupplied_threshold']:.3g} ETP par habitant : "
            f"{after['communes_undersupplied']} communes signalées, "
            f"{after['population_undersupplied']} habitants"
        )


if __name__ == "__main__":
    main()
