"""What the server loads once at start-up: per territory, the run resources and response caches.

:class:`TerritoryState` holds a territory's :class:`coverage.jobs.resources.TerritoryResources`
(communes, road network, population surface, catalogue, snapped cells), its
default scenario and its caches; :class:`AppState` holds every territory, the
run store and the worker. Requests only read them.
"""

from __future__ import annotations

import tomllib
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import pyproj
import shapely

from api.cache import ResponseCache
from api.settings import ApiSettings
from coverage.access import DEFAULT_THRESHOLDS_MINUTES, ServiceAccess
from coverage.errors import ConfigError, TerritoryNotFoundError
from coverage.jobs.resources import TerritoryResources
from coverage.jobs.scenarios import find_default_scenario
from coverage.results import ResultFolder
from coverage.scenario import Scenario, load_scenario

ACCESS_CACHE_ENTRIES = 16
"""Access results (per kinds, statuses, threshold) kept per territory (a few MB each)."""


@dataclass(eq=False)
class TerritoryState:
    """One territory, loaded.

    Attributes
    ----------
    name
        Territory name (``gers``).
    resources
        Territory, network, population surface, catalogue and access context.
    default_scenario
        The territory's default scenario (``scenarios/actuel.toml``), if any.
    default_body
        That scenario as plain data (stored with the run it starts).
    to_territory_crs
        Transformer from WGS84 lon/lat to the territory's CRS.
    cache
        Serialised responses (coverage layers, communes, services, isochrones).
    """

    name: str
    resources: TerritoryResources
    default_scenario: Scenario | None
    default_body: dict[str, Any] | None
    to_territory_crs: pyproj.Transformer
    cache: ResponseCache
    access_results: OrderedDict[Any, ServiceAccess] = field(default_factory=OrderedDict)

    @classmethod
    def load(cls, name: str, settings: ApiSettings) -> TerritoryState:
        """Load a territory's resources (from the on-disk caches when warm).

        Raises
        ------
        coverage.errors.CoverageError
            Missing bundle, bad data, unknown territory.
        """
        path = find_default_scenario(name)
        scenario: Scenario | None = None
        body: dict[str, Any] | None = None
        if path is not None:
            scenario = load_scenario(path)
            body = tomllib.loads(path.read_text(encoding="utf-8"))
            if scenario.territory != name:
                raise ConfigError(
                    f"{path}: the default scenario of '{name}' is for '{scenario.territory}'"
                )
        base = scenario or Scenario(
            name=f"{name}_defaut",
            label=name,
            territory=name,
            thresholds_minutes=DEFAULT_THRESHOLDS_MINUTES,
            analyses=(),
        )
        resources = TerritoryResources.for_scenario(base, data_dir=settings.data_dir)
        transformer = pyproj.Transformer.from_crs(
            "EPSG:4326", resources.territory.crs, always_xy=True
        )
        return cls(
            name=name,
            resources=resources,
            default_scenario=scenario,
            default_body=body,
            to_territory_crs=transformer,
            cache=ResponseCache(settings.cache_entries, settings.cache_mb * 1024 * 1024),
        )

    @property
    def label(self) -> str:
        """French label (``Gers``)."""
        return self.resources.territory.config.label

    @cached_property
    def bbox_wgs84(self) -> list[float]:
        """West, south, east, north of the territory in WGS84 degrees."""
        import geopandas as gpd

        bounds = gpd.GeoSeries([self.outline], crs=self.resources.territory.crs).to_crs(4326)
        return [round(float(v), 6) for v in bounds.total_bounds]

    @property
    def outline(self) -> shapely.Geometry:
        """The département outline (territory CRS)."""
        return self.resources.territory.outline


@dataclass(eq=False)
class AppState:
    """Everything the routers read: settings, territories, store, worker, map cache."""

    settings: ApiSettings
    territories: dict[str, TerritoryState]
    store: Any
    worker: Any
    maps_cache: ResponseCache
    results_cache: ResponseCache
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    _folders: OrderedDict[str, ResultFolder] = field(default_factory=OrderedDict)

    def territory(self, name: str) -> TerritoryState:
        """A loaded territory.

        Raises
        ------
        TerritoryNotFoundError
            If this server does not serve it.
        """
        try:
            return self.territories[name]
        except KeyError:
            served = ", ".join(self.territories)
            raise TerritoryNotFoundError(
                f"territory '{name}' is not served by this API (served: {served})"
            ) from None

    def default_territory(self) -> TerritoryState:
        """The first configured territory."""
        return next(iter(self.territories.values()))

    def result_folder(self, result_dir: str) -> ResultFolder:
        """A run's result folder (server-named, under the results directory), read once."""
        folder = self._folders.get(result_dir)
        if folder is None:
            folder = ResultFolder(self.settings.results_path / result_dir)
            self._folders[result_dir] = folder
            while len(self._folders) > 32:
                self._folders.popitem(last=False)
        return folder
