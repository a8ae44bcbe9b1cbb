"""What the server loads once at start-up: per territory, the run resources and response caches.

:class:`TerritoryState` holds a territory's :class:`coverage.jobs.resources.TerritoryResources`
(communes, road network, population surface, catalogue, snapped cells), its
default scenario, the service lists it serves (:mod:`api.lists`) and its caches;
:class:`AppState` holds every territory, the job store and the worker. Requests
only read them, except a list import, which swaps the served catalogue.

Two sets of resources per territory share everything but the catalogue:
``base_resources`` (the territory's own catalogue, what its default scenario
runs on) and ``resources`` (that catalogue plus every served list, what
``/territories/{t}/services`` and ``/coverage`` read). A job naming lists gets
:meth:`TerritoryState.resources_for_files`.
"""

from __future__ import annotations

import threading
import tomllib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import pyproj
import shapely

from api.cache import ResponseCache
from api.errors import InvalidParameterError
from api.lists import ListStore, ServiceList
from api.settings import ApiSettings
from coverage.access import DEFAULT_THRESHOLDS_MINUTES, ServiceAccess
from coverage.errors import ConfigError, TerritoryNotFoundError
from coverage.jobs.resources import TerritoryResources
from coverage.jobs.scenarios import find_default_scenario
from coverage.results import ResultFolder
from coverage.scenario import Scenario, load_scenario

ACCESS_CACHE_ENTRIES = 16
"""Access results (per kinds, statuses, threshold) kept per territory (a few MB each)."""
DERIVED_RESOURCES = 4
"""Catalogues of other combinations of lists kept per territory (jobs naming some lists)."""


@dataclass(eq=False)
class TerritoryState:
    """One territory, loaded.

    Attributes
    ----------
    name
        Territory name (``gers``).
    resources
        Territory, network, population surface, catalogue and access context; the
        catalogue holds the served lists.
    default_scenario
        The territory's default scenario (``scenarios/actuel.toml``), if any.
    default_body
        That scenario as plain data (stored with the run it starts).
    to_territory_crs
        Transformer from WGS84 lon/lat to the territory's CRS.
    cache
        Serialised responses (coverage layers, communes, services, isochrones).
    lists
        The service lists served, by name.
    base
        The resources with the territory's own catalogue (None: ``resources``).
    """

    name: str
    resources: TerritoryResources
    default_scenario: Scenario | None
    default_body: dict[str, Any] | None
    to_territory_crs: pyproj.Transformer
    cache: ResponseCache
    access_results: OrderedDict[Any, ServiceAccess] = field(default_factory=OrderedDict)
    lists: dict[str, ServiceList] = field(default_factory=dict)
    base: TerritoryResources | None = None
    _derived: OrderedDict[tuple[Any, ...], TerritoryResources] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

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
                    f"{path} : le scénario par défaut de '{name}' porte sur '{scenario.territory}'"
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
            cache=ResponseCache(
                settings.cache_entries, settings.cache_bytes(0.5 / len(settings.territories))
            ),
        )

    @property
    def base_resources(self) -> TerritoryResources:
        """The resources with the territory's own catalogue (no served list)."""
        return self.base if self.base is not None else self.resources

    def serve_lists(self, lists: dict[str, ServiceList]) -> None:
        """Serve these lists: rebuild the served catalogue, forget the cached answers."""
        base = self.base_resources
        chosen = dict(sorted(lists.items()))
        served = base.with_extra_files([entry.path for entry in chosen.values()])
        with self._lock:
            self.base = base
            self.lists = chosen
            self.resources = served
            self._derived.clear()
            self.access_results.clear()
        self.cache.clear()

    def list_files(self, names: Sequence[str], *, field: str = "lists") -> tuple[Path, ...]:
        """The catalogue files of lists named by a request.

        Raises
        ------
        InvalidParameterError
            For a list this territory does not serve (naming ``field[i]``).
        """
        for i, name in enumerate(names):
            if name not in self.lists:
                known = ", ".join(self.lists) or "aucune : voir POST /services/{territory}/lists"
                raise InvalidParameterError(
                    f"liste de services inconnue '{name}' pour {self.label} (servies : {known})",
                    field=f"{field}[{i}]",
                )
        return tuple(self.lists[name].path for name in dict.fromkeys(names))

    def resources_for_files(self, files: Sequence[str | Path]) -> TerritoryResources:
        """Resources whose catalogue is the territory's own plus these list files."""
        extras = tuple(str(path) for path in files)
        if not extras:
            return self.base_resources
        if extras == self.resources.extra_files:
            return self.resources
        key = tuple((f, Path(f).stat().st_mtime_ns if Path(f).exists() else 0) for f in extras)
        with self._lock:
            found = self._derived.get(key)
        if found is not None:
            return found
        derived = self.base_resources.with_extra_files(extras)
        with self._lock:
            self._derived[key] = derived
            while len(self._derived) > DERIVED_RESOURCES:
                self._derived.popitem(last=False)
        return derived

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
    list_store: ListStore | None = None
    lists_lock: threading.Lock = field(default_factory=threading.Lock)
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
                f"territoire '{name}' non servi par cette API (servis : {served})"
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
