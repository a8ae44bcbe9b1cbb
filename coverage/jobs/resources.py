"""What a territory's jobs share, loaded once: territory, road network, population, services.

:class:`TerritoryResources` is the one loader of ``coverage run``,
``coverage place``, ``coverage itinerary`` and the API (which keeps one per
territory): the territory's layers, its road network (with the turn graph),
the population surface, the service catalogue and the access context (cells
and commune points snapped onto the roads).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from coverage.access import AccessContext, AccessSettings
from coverage.cluster import DEFAULT_CHUNK_CELLS
from coverage.geocode.catalogue import load_catalogue
from coverage.jobs.network import load_territory_network
from coverage.layers.population import PopulationSurface, population_surface
from coverage.layers.services import ServiceCatalogue
from coverage.layers.territory import Territory, load_territory
from coverage.progress import Progress, silent
from coverage.routing.graph import RoadNetwork
from coverage.scenario import Scenario


@dataclass(eq=False)
class TerritoryResources:
    """A territory's loaded pieces, reusable across runs, placements and plans.

    Attributes
    ----------
    territory, network, surface, catalogue, context
        The loaded pieces.
    timings
        Seconds spent loading each piece (``territory_s``, ``network_s``...).
    network_options
        Options the network was loaded with (empty: the territory's own).
    extra_files
        Further service files added to the catalogue.
    """

    territory: Territory
    network: RoadNetwork
    surface: PopulationSurface
    catalogue: ServiceCatalogue
    context: AccessContext
    timings: dict[str, float] = field(default_factory=dict)
    network_options: dict[str, Any] = field(default_factory=dict)
    extra_files: tuple[str, ...] = ()

    @classmethod
    def load(
        cls,
        territory: str | Territory = "gers",
        *,
        data_dir: str | Path | None = None,
        network_options: Mapping[str, Any] | None = None,
        cell_size_m: float | None = None,
        extra_files: Sequence[str | Path] = (),
        access: AccessSettings | None = None,
        progress: Progress | None = None,
        client: Any | None = None,
        chunk_cells: int = DEFAULT_CHUNK_CELLS,
    ) -> TerritoryResources:
        """Load a territory's layers, road network, population surface and catalogue.

        Parameters
        ----------
        territory
            Territory name (``gers``) or an already loaded territory.
        data_dir
            Data bundle directory (``--data``).
        network_options
            Keyword arguments of :func:`coverage.jobs.network.load_territory_network`.
        cell_size_m
            Population cell size (default: the territory's).
        extra_files
            Further service files (written by ``coverage services import``).
        access
            How points join the network (default :class:`~coverage.access.AccessSettings`).
        progress
            Called with a French label at the start of every step.
        client, chunk_cells
            A ``distributed.Client``: the access context joins the cells and reads
            their times on its workers, in chunks of ``chunk_cells`` cells
            (:meth:`coverage.access.AccessContext.build`). None: this process.
        """
        say = progress or silent
        timings: dict[str, float] = {}
        start = time.perf_counter()
        if isinstance(territory, str):
            say("Chargement du territoire")
            territory = load_territory(territory, data_dir=data_dir)
        timings["territory_s"] = time.perf_counter() - start
        options = dict(network_options or {})
        say("Réseau routier")
        t0 = time.perf_counter()
        network = load_territory_network(territory, **options)
        timings["network_s"] = time.perf_counter() - t0
        say("Surface de population")
        t0 = time.perf_counter()
        surface = population_surface(territory, cell_size_m=cell_size_m)
        timings["population_s"] = time.perf_counter() - t0
        say("Catalogue des services")
        t0 = time.perf_counter()
        extras = tuple(str(path) for path in extra_files)
        catalogue = load_catalogue(territory, extra=extras)
        timings["catalogue_s"] = time.perf_counter() - t0
        say("Raccordement des cellules et des communes au réseau")
        t0 = time.perf_counter()
        context = AccessContext.build(
            territory,
            network,
            surface,
            access=access,
            client=client,
            chunk_cells=chunk_cells,
            progress=progress,
        )
        timings["snapping_s"] = time.perf_counter() - t0
        return cls(territory, network, surface, catalogue, context, timings, options, extras)

    @classmethod
    def for_scenario(
        cls,
        scenario: Scenario,
        *,
        data_dir: str | Path | None = None,
        progress: Progress | None = None,
        client: Any | None = None,
        chunk_cells: int = DEFAULT_CHUNK_CELLS,
    ) -> TerritoryResources:
        """Load what ``scenario`` needs (its territory, network options, cell size, extras).

        ``client`` and ``chunk_cells``: as for :meth:`load`.
        """
        return cls.load(
            scenario.territory,
            data_dir=data_dir,
            network_options=scenario.network,
            cell_size_m=scenario.cell_size_m,
            extra_files=scenario.extra_files,
            access=scenario.access,
            progress=progress,
            client=client,
            chunk_cells=chunk_cells,
        )

    def matches(self, scenario: Scenario) -> bool:
        """Whether these resources can serve ``scenario`` (same territory and settings)."""
        return (
            self.territory.name == scenario.territory
            and self.context.access == scenario.access
            and (scenario.cell_size_m is None or scenario.cell_size_m == self.surface.cell_size_m)
            and dict(scenario.network) == self.network_options
            and tuple(str(path) for path in scenario.extra_files) == self.extra_files
        )

    def with_extra_files(self, extra_files: Sequence[str | Path]) -> TerritoryResources:
        """These resources with the catalogue of the territory's lists plus ``extra_files``.

        The territory, road network, population surface and access context are
        shared, not loaded again: only the catalogue is rebuilt (a server adding an
        imported list to what it serves, a run naming other lists).
        """
        extras = tuple(str(path) for path in extra_files)
        if extras == self.extra_files:
            return self
        t0 = time.perf_counter()
        catalogue = load_catalogue(self.territory, extra=extras)
        timings = {**self.timings, "catalogue_s": time.perf_counter() - t0}
        return replace(self, catalogue=catalogue, extra_files=extras, timings=timings)
