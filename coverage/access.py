"""Access indicators: how far people are from a set of services, per cell, commune, canton, EPCI.

Method. The population surface (:mod:`coverage.layers.population`) spreads each
commune's legal population over its 200 m cells. Every populated cell joins
the road network where it projects on its nearest roads, through an access leg
(:mod:`coverage.routing.snap`), and one multi-source search over the turn graph
(:mod:`coverage.routing.matrix`) gives each cell the car time to its nearest
service of the set (services over the département border included). From the cells:

- per commune: the population-weighted mean time, the population beyond each
  threshold (and its share), the population whose cells are off the network
  or cannot reach any service (``unreachable``, counted beyond every
  threshold), the excess person-minutes beyond the reference threshold;
- the time from the commune's representative point and the service nearest
  to it;
- per canton, EPCI and département: the sums and shares of the same figures.

Population figures per commune are rounded to whole inhabitants so that
``within + beyond`` equals the commune's legal population for every
threshold; the territory's totals are sums of the commune figures and so add
up to the legal total exactly.

Underserved communes are those with inhabitants beyond the reference
threshold, ranked by their excess person-minutes (population affected ×
minutes beyond the threshold), which weighs both how many and how far.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage import __version__
from coverage._snap_cache import cached_snap_grid
from coverage.cluster import DEFAULT_CHUNK_CELLS
from coverage.errors import QueryError
from coverage.layers.population import PopulationSurface
from coverage.layers.publics import (
    ALL_INHABITANTS,
    Public,
    grid_public_counts,
    read_publics,
    unknown_public_message,
)
from coverage.layers.territory import Territory
from coverage.progress import Progress
from coverage.routing.cluster_nearest import ClusterPoints
from coverage.routing.graph import RoadNetwork
from coverage.routing.matrix import state_times_to_nearest
from coverage.routing.snap import AccessSettings, SnappedPoints, snap_points
from coverage.routing.surface import GridCells
from coverage.tables import threshold_key

DEFAULT_THRESHOLDS_MINUTES: tuple[float, ...] = (15.0, 20.0, 30.0)
MAX_THRESHOLD_MINUTES = 600.0
"""Largest threshold accepted (10 hours): beyond it a threshold is surely a typing error."""


def check_thresholds(
    thresholds_minutes: Sequence[float], *, name: str = "thresholds"
) -> list[float]:
    """Validate thresholds in minutes: numbers in (0, 600], strictly increasing.

    Raises
    ------
    QueryError
        Naming the offending value.
    """
    values = list(thresholds_minutes)
    if not values:
        raise QueryError(f"{name}: give at least one threshold in minutes (e.g. 15, 20, 30)")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            raise QueryError(f"{name}: {value!r} is not a number of minutes")
        if not 0 < value <= MAX_THRESHOLD_MINUTES:
            raise QueryError(
                f"{name}: {value:g} min is out of range; thresholds must be in "
                f"(0, {MAX_THRESHOLD_MINUTES:g}] minutes"
            )
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise QueryError(f"{name}: thresholds must be strictly increasing, got {values}")
    return [float(v) for v in values]


def underserved_note(
    reference_minutes: float, used_minutes: float | None, thresholds_minutes: Sequence[float]
) -> str:
    """Say in French which threshold ranks the underserved communes (empty: the reference).

    Parameters
    ----------
    reference_minutes
        The analysis' reference threshold.
    used_minutes
        The threshold used (:meth:`ServiceAccess.underserved_threshold`), ``None``
        when nobody is beyond any threshold.
    thresholds_minutes
        The computed thresholds.
    """
    if used_minutes is None:
        return f"Aucune commune n'a d'habitants au-delà de {min(thresholds_minutes):g} min."
    if used_minutes == reference_minutes:
        return ""
    return (
        f"Aucun habitant au-delà du seuil de référence ({reference_minutes:g} min) ; "
        f"communes les plus éloignées au-delà de {used_minutes:g} min."
    )


@dataclass(eq=False)
class AccessContext:
    """What every access computation of a territory shares: network, population, snapping.

    Build it once with :meth:`build`; each :func:`service_access` call then
    costs one multi-source Dijkstra and a few array operations.

    Attributes
    ----------
    territory, network, surface
        The loaded territory, road network and population surface.
    access
        Access-leg settings.
    cells
        The populated cells of the surface grid, joined to the network.
    alloc_cell
        For each row of the surface's allocation table, its index in ``cells``.
    commune_points
        The communes' representative points, joined to the network.
    cluster
        With a Dask cluster (``build(client=...)``): the network on its workers;
        the cells were joined, and each analysis' cell times are read, chunk by
        chunk there (:class:`~coverage.routing.cluster_nearest.ClusterPoints`),
        with the same figures. None: everything in this process.
    """

    territory: Territory
    network: RoadNetwork
    surface: PopulationSurface
    access: AccessSettings
    cells: GridCells
    alloc_cell: np.ndarray
    commune_points: SnappedPoints
    cluster: ClusterPoints | None = None

    @classmethod
    def build(
        cls,
        territory: Territory,
        network: RoadNetwork,
        surface: PopulationSurface,
        *,
        access: AccessSettings | None = None,
        use_cache: bool = True,
        client: Any | None = None,
        chunk_cells: int = DEFAULT_CHUNK_CELLS,
        progress: Progress | None = None,
    ) -> AccessContext:
        """Join the populated cells and the commune points to the network.

        The cells' joins are read from the disk cache when the same network, grid,
        cells and settings were joined before (:mod:`coverage._snap_cache`);
        ``use_cache=False`` computes them without reading or writing it.

        With ``client`` (a ``distributed.Client``), the network is scattered once to
        every worker, the cells missing from the cache are joined there in chunks of
        ``chunk_cells``, and :func:`service_access` reads the cells' times there in
        the same chunks; ``progress`` is told of each finished task.

        Raises
        ------
        QueryError
            If the network and the surface are not in the same CRS, or
            ``chunk_cells`` is out of range.
        """
        if str(network.info.crs) != str(surface.crs):
            raise QueryError(
                f"the road network is in {network.info.crs} and the population surface in "
                f"{surface.crs}: both must be in the territory's CRS"
            )
        access = access or AccessSettings()
        populated = surface.cell_population > 0
        flat = surface.cell_rows.astype(np.int64) * surface.shape[1] + surface.cell_cols
        unique_flat, inverse = np.unique(flat[populated], return_inverse=True)
        mask = np.zeros(surface.shape, dtype=bool)
        mask.flat[unique_flat] = True
        cluster = None
        if client is not None:
            cluster = ClusterPoints.open(
                client, network, chunk_points=chunk_cells, progress=progress
            )
        cells = cached_snap_grid(
            network,
            surface.transform,
            surface.shape,
            mask=mask,
            access=access,
            name=territory.name,
            use_cache=use_cache,
            snapper=None if cluster is None else partial(cluster.snap, access=access),
        )
        # snap_grid lists masked cells in row-major order, the order of unique_flat
        alloc_cell = np.full(flat.shape[0], -1, dtype=np.int64)
        alloc_cell[populated] = inverse
        points = np.column_stack(
            [territory.communes["point_x"].to_numpy(), territory.communes["point_y"].to_numpy()]
        )
        commune_points = snap_points(network, points, access=access, name="commune points")
        return cls(
            territory=territory,
            network=network,
            surface=surface,
            access=access,
            cells=cells,
            alloc_cell=alloc_cell,
            commune_points=commune_points,
            cluster=cluster,
        )

    def provenance(self) -> dict[str, Any]:
        """How the times are obtained: network, speeds, access legs, population (for metadata)."""
        return {
            "engine_version": __version__,
            "territory": self.territory.name,
            "crs": self.territory.crs,
            "network": network_provenance(self.network),
            "access_legs": self.access.describe(),
            "population": {
                "method": self.surface.method,
                "cell_size_m": self.surface.cell_size_m,
                "total": round(self.surface.total, 3),
                "populated_cells": self.cells.n_cells,
                "cells_off_network": int(self.cells.snapped.too_far.sum()),
                "communes_source": self.territory.config.layer("communes").provenance(),
            },
            "commune_points": self.commune_points.report(),
        }


def network_provenance(network: RoadNetwork) -> dict[str, Any]:
    """What a road network is and how its times are made, for result metadata and the API.

    Source, date and checksum; what the layer holds (``kind``: ``osm`` for a full
    drivable network, ``numbered_roads`` for a skeleton without local roads, with a
    French ``description`` and the layer's own source text); the speed profile and
    its factors; the turn model (costs, restrictions applied, barriers cut).
    """
    info = network.info
    territory = info.report.get("territory", {})
    layer = territory.get("layer", {})
    barriers = info.report.get("barriers", {})
    restrictions = info.report.get("turn_restrictions", {})
    kind = territory.get("network_kind", "osm" if _osm_like(info) else "other")
    return {
        "source": info.source,
        "source_kind": info.source_kind,
        "source_date": info.source_date,
        "source_sha256": info.source_checksum,
        "speed_profile": info.profile,
        "detour_factor": info.detour_factor,
        "calibration_factor": info.calibration_factor,
        "peak_factor": info.peak_factor,
        "kind": kind,
        "description": territory.get("network_description", ""),
        "layer_source": layer.get("source", ""),
        "layer_licence": layer.get("licence", ""),
        "speed_profile_label": info.report.get("profile", {}).get("label", ""),
        "turn_model": {
            "turn_costs_s": network.turn_costs.describe(),
            "turn_restrictions_applied": network.restrictions.n,
            "barriers_cut": barriers.get("nodes_cut", 0),
            "restrictions_read": restrictions.get("read", 0),
        },
        "nodes": network.n_nodes,
        "edges": network.n_edges,
    }


def _osm_like(info: Any) -> bool:
    return info.source_kind in {"osm_xml", "pbf", "osmnx", "graphml"}


@dataclass(eq=False)
class PublicCounts:
    """The people an analysis counts when it is not every inhabitant: one public of the territory.

    Attributes
    ----------
    public
        What the public is (key, French label, source, year, licence).
    cell_counts
        People of the public per entry of the surface's allocation table
        (:meth:`~coverage.layers.population.PopulationSurface.public_cells`).
    commune_counts
        People of the public per commune, as the publics layer gives them.
    file
        The publics layer's file (relative to the bundle).
    """

    public: Public
    cell_counts: np.ndarray = field(repr=False)
    commune_counts: np.ndarray = field(repr=False)
    file: str = ""

    def describe(self) -> dict[str, Any]:
        """The public, its source and its total (for ``summary.json`` and the API)."""
        return {
            **self.public.describe(),
            "file": self.file,
            "total": round(float(self.commune_counts.sum()), 3),
        }


def public_counts(context: AccessContext, public: str | None) -> PublicCounts | None:
    """The cells and commune counts of a territory's public (None for every inhabitant).

    Parameters
    ----------
    context
        The shared context (its territory's publics layer and surface).
    public
        A public of the territory's ``[layers.publics]``; ``None`` or
        ``"population"``: every inhabitant.

    Raises
    ------
    QueryError
        Unknown public (the known ones listed), or a territory without publics.
    coverage.errors.DataError
        A publics layer that fails its checks, or communes without a value.
    """
    if public is None or public == ALL_INHABITANTS:
        return None
    table = read_publics(context.territory)
    if table is None:
        raise QueryError(
            f"public '{public}' : le territoire {context.territory.name} ne décrit aucun public "
            "(pas de couche [layers.publics] dans territory.toml) ; seul 'population' est "
            "possible"
        )
    if public not in table.publics:
        raise QueryError(unknown_public_message(public, table.publics))
    chosen = table.publics[public]
    if chosen.grid:
        cells, counts = grid_public_counts(context.territory, context.surface, chosen)
        return PublicCounts(
            public=chosen, cell_counts=cells, commune_counts=counts, file=chosen.grid
        )
    counts = table.commune_counts(public)
    return PublicCounts(
        public=chosen,
        cell_counts=context.surface.public_cells(counts),
        commune_counts=counts,
        file=table.file,
    )


@dataclass(eq=False)
class ServiceAccess:
    """Access to one set of services (a kind, or any chosen set).

    Attributes
    ----------
    name
        Key of the set (e.g. ``france_services``).
    label
        French label (e.g. ``France services``).
    services
        The service points used (EPSG:2154; ``service_id``, ``name``, ...).
    thresholds_minutes
        The thresholds.
    reference_minutes
        The threshold that defines underserved communes.
    cell_seconds, cell_service
        Per routed cell: seconds to the nearest service (NaN off the network, inf
        when none is reachable) and its index in ``services`` (-1 when none).
    communes
        Per-commune indicators (see :func:`service_access`).
    context
        The shared context.
    public
        The public counted (None: every inhabitant); the ``population`` and
        ``pop_*`` columns then count that public.
    point_seconds, point_service
        The same per commune point (its ``minutes_point`` and nearest service);
        with the cells' arrays, what :func:`at_thresholds` needs to count again
        without routing.
    """

    name: str
    label: str
    services: gpd.GeoDataFrame
    thresholds_minutes: list[float]
    reference_minutes: float
    cell_seconds: np.ndarray
    cell_service: np.ndarray
    communes: pd.DataFrame
    context: AccessContext = field(repr=False)
    public: PublicCounts | None = None
    point_seconds: np.ndarray | None = field(default=None, repr=False)
    point_service: np.ndarray | None = field(default=None, repr=False)
    _tables: dict[str, tuple[int, pd.DataFrame]] = field(
        default_factory=dict, init=False, repr=False
    )

    def seconds_grid(self) -> np.ndarray:
        """Seconds to the nearest service on the population grid (NaN off the populated cells)."""
        return self.context.cells.to_grid(self.cell_seconds)

    def service_grid(self) -> np.ndarray:
        """Index of the nearest service on the population grid (-1 where none)."""
        return self.context.cells.to_grid(self.cell_service.astype(np.int32), fill=-1)

    def table(self, level: str) -> pd.DataFrame:
        """Indicators per ``commune``, ``canton``, ``epci`` or ``departement``.

        Canton tables keep split communes (Auch, ``3299``) on their own line.

        Raises
        ------
        QueryError
            For an unknown level.
        """
        if level == "commune":
            return self.communes.copy()
        keys = {"canton": ["canton_code", "canton_name"], "epci": ["epci_siren", "epci_name"]}
        if level not in keys and level != "departement":
            raise QueryError(f"unknown level {level!r}: use commune, canton, epci or departement")
        # a run asks for each table several times (CSV, layer, summary): aggregated once,
        # again if ``communes`` was replaced; callers get their own copy
        cached = self._tables.get(level)
        if cached is None or cached[0] != id(self.communes):
            if level == "departement":
                frame = self.communes.assign(departement=self.context.territory.config.departement)
                table = aggregate_communes(frame, ["departement"], self.thresholds_minutes)
            else:
                table = aggregate_communes(self.communes, keys[level], self.thresholds_minutes)
            cached = (id(self.communes), table)
            self._tables[level] = cached
        return cached[1].copy()

    def underserved_threshold(self) -> float | None:
        """The threshold of the underserved ranking: the reference, or the next lower one.

        The reference threshold when someone lives beyond it; otherwise the
        largest lower threshold that has inhabitants beyond it (a planner still
        sees the farthest communes); ``None`` when nobody is beyond any
        threshold. The one rule of the terminal, the ``underserved`` table and
        :meth:`underserved`.
        """
        ref = self.reference_minutes
        lower = sorted((t for t in self.thresholds_minutes if t < ref), reverse=True)
        for t in [ref, *lower]:
            if (self.communes[f"pop_beyond_{threshold_key(t)}"] > 0).any():
                return t
        return None

    def underserved_note(self) -> str:
        """French sentence naming the threshold ranking the underserved ("" for the reference)."""
        return underserved_note(
            self.reference_minutes, self.underserved_threshold(), self.thresholds_minutes
        )

    def underserved(
        self, *, threshold_minutes: float | None = None, top: int | None = None
    ) -> pd.DataFrame:
        """Communes with inhabitants beyond a threshold, worst first.

        Ranked by excess person-minutes beyond the threshold (inhabitants off the
        network or without any reachable service count with the largest excess
        found, so they are never ranked last).

        Parameters
        ----------
        threshold_minutes
            Must be one of the thresholds. By default the threshold of
            :meth:`underserved_threshold`: the reference, or the next lower
            threshold with inhabitants beyond it when nobody is beyond the
            reference (column ``threshold_minutes`` names the threshold used,
            ``reference_minutes`` the reference, and ``attrs["note"]`` says so).
        top
            Keep only the first ``top`` communes.
        """
        if threshold_minutes is None:
            used = self.underserved_threshold()
            t = self.reference_minutes if used is None else used
        else:
            t = float(threshold_minutes)
        if t not in self.thresholds_minutes:
            raise QueryError(
                f"threshold {t:g} min is not one of the computed thresholds "
                f"{', '.join(f'{v:g}' for v in self.thresholds_minutes)}"
            )
        key = threshold_key(t)
        frame = self.communes
        excess = self._excess_person_minutes(t)
        out = frame.assign(excess_person_minutes=excess)
        out = out[out[f"pop_beyond_{key}"] > 0].sort_values(
            ["excess_person_minutes", f"pop_beyond_{key}"], ascending=False
        )
        columns = [
            "insee_code",
            "name",
            "canton_code",
            "canton_name",
            "epci_siren",
            "epci_name",
            "population",
            f"pop_beyond_{key}",
            f"share_beyond_{key}",
            "minutes_mean",
            "minutes_point",
            "minutes_max",
            "excess_person_minutes",
            "nearest_service_id",
            "nearest_service_name",
            "pop_unreachable",
        ]
        ref = threshold_key(self.reference_minutes)
        if ref != key:  # the reference's own columns stay (readers look for them)
            at = columns.index(f"pop_beyond_{key}")
            columns[at:at] = [
                f"pop_beyond_{ref}",
                f"share_beyond_{ref}",
            ]
        out = out[columns].reset_index(drop=True)
        out.insert(0, "rank", np.arange(1, len(out) + 1))
        out["threshold_minutes"] = t
        out["reference_minutes"] = self.reference_minutes
        out = out.head(top) if top is not None else out
        if threshold_minutes is None:
            out.attrs["note"] = self.underserved_note()
        return out

    def _excess_person_minutes(self, threshold_minutes: float) -> np.ndarray:
        ctx = self.context
        surface = ctx.surface
        alloc = ctx.alloc_cell >= 0
        minutes = np.full(alloc.shape[0], np.nan)
        minutes[alloc] = self.cell_seconds[ctx.alloc_cell[alloc]] / 60.0
        pop = surface.cell_population if self.public is None else self.public.cell_counts
        finite = np.isfinite(minutes)
        worst = float(np.nanmax(np.where(finite, minutes, np.nan))) if finite.any() else 0.0
        excess = np.where(finite, np.maximum(minutes - threshold_minutes, 0.0), worst)
        per_commune = np.bincount(
            surface.cell_commune,
            weights=pop * np.where(alloc, excess, 0.0),
            minlength=len(self.communes),
        )
        return np.round(per_commune, 1)

    def summary(self) -> dict[str, Any]:
        """Headline figures for the territory (département level) as plain data."""
        dep = self.table("departement").iloc[0]
        figures: dict[str, Any] = {
            "label": self.label,
            "services": len(self.services),
            "services_in_territory": int(self.services["in_territory"].sum())
            if "in_territory" in self.services
            else len(self.services),
            "population": int(dep["population"]),
            "minutes_mean": _round(dep["minutes_mean"]),
            "pop_unreachable": int(dep["pop_unreachable"]),
            "reference_minutes": self.reference_minutes,
            "underserved_threshold_minutes": self.underserved_threshold(),
            "underserved_note": self.underserved_note(),
            "thresholds": {},
        }
        for t in self.thresholds_minutes:
            key = threshold_key(t)
            figures["thresholds"][key] = {
                "minutes": t,
                "pop_within": int(dep[f"pop_within_{key}"]),
                "pop_beyond": int(dep[f"pop_beyond_{key}"]),
                "share_beyond": _round(dep[f"share_beyond_{key}"], 4),
                "communes_with_pop_beyond": int((self.communes[f"pop_beyond_{key}"] > 0).sum()),
            }
        if self.public is not None:
            figures["public"] = self.public.describe()
        return figures


def _round(value: Any, digits: int = 2) -> float | None:
    value = float(value)
    return round(value, digits) if np.isfinite(value) else None


def _reference_threshold(thresholds: list[float], reference_minutes: float | None) -> float:
    """The threshold of the underserved ranking: the largest unless given (one of them)."""
    reference = thresholds[-1] if reference_minutes is None else float(reference_minutes)
    if reference not in thresholds:
        raise QueryError(
            f"reference threshold {reference:g} min must be one of the thresholds "
            f"{', '.join(f'{t:g}' for t in thresholds)}"
        )
    return reference


def service_access(
    context: AccessContext,
    services: gpd.GeoDataFrame,
    *,
    name: str,
    label: str = "",
    thresholds_minutes: Sequence[float] = DEFAULT_THRESHOLDS_MINUTES,
    reference_minutes: float | None = None,
    public: PublicCounts | None = None,
) -> ServiceAccess:
    """Compute the access indicators of a set of services.

    Parameters
    ----------
    context
        The shared context (:meth:`AccessContext.build`).
    services
        Service points (any CRS, converted to the territory's); ``service_id`` and
        ``name`` columns are used to name the nearest service.
    name, label
        Key and French label of the set.
    thresholds_minutes
        Thresholds, increasing.
    reference_minutes
        Threshold of the underserved ranking (default: the largest threshold).
    public
        The public to count (:func:`public_counts`); by default every
        inhabitant. With a public, ``population`` is the public's count per
        commune (rounded to whole persons) and every ``pop_*``/``share_*``
        figure counts that public.

    Returns
    -------
    ServiceAccess
        ``communes`` has, per commune: ``insee_code``, ``name``, ``canton_code``,
        ``canton_name``, ``epci_siren``, ``epci_name``, ``population``,
        ``minutes_mean`` (population-weighted, reachable inhabitants),
        ``minutes_max`` (worst populated cell), ``minutes_point`` (from the
        commune point), ``nearest_service_id``, ``nearest_service_name``,
        ``unreachable`` (no time from the commune point), ``pop_unreachable``, and
        for each threshold T: ``pop_within_T``, ``pop_beyond_T``,
        ``share_beyond_T``.

    Raises
    ------
    QueryError
        No services, bad thresholds, services without any point on the network.
    """
    thresholds = check_thresholds(thresholds_minutes)
    reference = _reference_threshold(thresholds, reference_minutes)
    if services is None or len(services) == 0:
        raise QueryError(f"no service of '{name}' to compute access to (empty selection)")
    crs = context.territory.crs
    services = services.to_crs(crs) if services.crs is not None else services.set_crs(crs)
    services = services.reset_index(drop=True)
    xy = np.column_stack([services.geometry.x.to_numpy(), services.geometry.y.to_numpy()])
    state_times = state_times_to_nearest(
        context.network,
        xy,
        direction="to_facility",
        access=context.access,
    )
    if context.cluster is not None:
        cell_seconds, cell_service = context.cluster.at_points(state_times, context.cells.snapped)
    else:
        cell_seconds, cell_service = state_times.at_points(context.cells.snapped)
    point_seconds, point_service = state_times.at_points(context.commune_points)
    communes = _commune_indicators(
        context, cell_seconds, point_seconds, point_service, services, thresholds, public
    )
    return ServiceAccess(
        name=name,
        label=label or name,
        services=services,
        thresholds_minutes=thresholds,
        reference_minutes=reference,
        cell_seconds=cell_seconds,
        cell_service=cell_service,
        communes=communes,
        context=context,
        public=public,
        point_seconds=point_seconds,
        point_service=point_service,
    )


def at_thresholds(
    result: ServiceAccess,
    thresholds_minutes: Sequence[float],
    *,
    reference_minutes: float | None = None,
    public: PublicCounts | None = None,
) -> ServiceAccess:
    """The access of ``result``'s services counted at other thresholds, without routing again.

    The travel times do not depend on the thresholds nor on the public counted: the new
    result shares ``result``'s per-cell arrays (no copy) and only its per-commune
    indicators are counted again. It equals :func:`service_access` with the same
    services and these thresholds.

    Parameters
    ----------
    result
        A result of :func:`service_access` (it keeps its commune points' times).
    thresholds_minutes, reference_minutes, public
        As in :func:`service_access`.

    Raises
    ------
    QueryError
        Bad thresholds.
    """
    if result.point_seconds is None or result.point_service is None:
        raise QueryError(f"« {result.name} » : temps des points des communes non conservés")
    thresholds = check_thresholds(thresholds_minutes)
    reference = _reference_threshold(thresholds, reference_minutes)
    communes = _commune_indicators(
        result.context,
        result.cell_seconds,
        result.point_seconds,
        result.point_service,
        result.services,
        thresholds,
        public,
    )
    return replace(
        result,
        thresholds_minutes=thresholds,
        reference_minutes=reference,
        communes=communes,
        public=public,
    )


def _commune_indicators(
    context: AccessContext,
    cell_seconds: np.ndarray,
    point_seconds: np.ndarray,
    point_service: np.ndarray,
    services: gpd.GeoDataFrame,
    thresholds: list[float],
    public: PublicCounts | None = None,
) -> pd.DataFrame:
    territory = context.territory
    surface = context.surface
    n = len(territory.communes)
    alloc = context.alloc_cell >= 0
    minutes = np.full(alloc.shape[0], np.nan)
    minutes[alloc] = cell_seconds[context.alloc_cell[alloc]] / 60.0
    people = surface.cell_population if public is None else public.cell_counts
    pop = np.where(alloc, people, 0.0)
    commune = surface.cell_commune
    finite = np.isfinite(minutes)

    def per_commune(weights: np.ndarray) -> np.ndarray:
        return np.bincount(commune, weights=weights, minlength=n)

    reachable_pop = per_commune(np.where(finite, pop, 0.0))
    weighted = per_commune(np.where(finite, pop * np.nan_to_num(minutes, posinf=0.0), 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(reachable_pop > 0, weighted / reachable_pop, np.nan)
    worst = np.full(n, -np.inf)
    np.maximum.at(worst, commune[finite & (pop > 0)], minutes[finite & (pop > 0)])
    worst = np.where(np.isfinite(worst), worst, np.nan)

    if public is None:
        legal = territory.communes["population"].to_numpy(dtype=np.int64)
    else:
        legal = np.round(public.commune_counts).astype(np.int64)
    unreachable = np.minimum(np.round(per_commune(np.where(finite, 0.0, pop))), legal)
    frame = pd.DataFrame(
        {
            "insee_code": territory.communes["insee_code"].to_numpy(),
            "name": territory.communes["name"].to_numpy(),
            "canton_code": territory.communes["canton_code"].to_numpy(),
            "canton_name": territory.communes["canton_name"].to_numpy(),
            "epci_siren": territory.communes["epci_siren"].to_numpy(),
            "epci_name": territory.communes["epci_name"].to_numpy(),
            "population": legal,
        }
    )
    point_minutes = point_seconds / 60.0
    frame["minutes_mean"] = np.round(np.where(np.isnan(mean), point_minutes, mean), 2)
    frame["minutes_max"] = np.round(worst, 2)
    frame["minutes_point"] = np.round(point_minutes, 2)
    has = point_service >= 0
    ids = services["service_id"].astype(str).to_numpy() if "service_id" in services else None
    names = services["name"].astype(str).to_numpy() if "name" in services else None
    frame["nearest_service_id"] = np.where(
        has, ids[np.maximum(point_service, 0)] if ids is not None else point_service, ""
    )
    frame["nearest_service_name"] = np.where(
        has, names[np.maximum(point_service, 0)] if names is not None else "", ""
    )
    frame["unreachable"] = ~np.isfinite(point_seconds)
    frame["pop_unreachable"] = unreachable.astype(np.int64)
    for t in thresholds:
        key = threshold_key(t)
        beyond_cells = np.where(finite, minutes > t + 1e-9, True)
        beyond = np.round(per_commune(np.where(beyond_cells, pop, 0.0)))
        beyond = np.clip(beyond, unreachable, legal).astype(np.int64)
        frame[f"pop_within_{key}"] = legal - beyond
        frame[f"pop_beyond_{key}"] = beyond
        with np.errstate(invalid="ignore", divide="ignore"):
            frame[f"share_beyond_{key}"] = np.round(
                np.where(legal > 0, beyond / np.maximum(legal, 1), 0.0), 4
            )
    return frame


def aggregate_communes(
    frame: pd.DataFrame, keys: list[str], thresholds: Sequence[float]
) -> pd.DataFrame:
    """Commune indicators added up by ``keys`` (canton, EPCI, département, territory...).

    Populations and counts are summed; the mean time is weighted by the reachable
    population; shares are recomputed from the sums. The one rule of every
    aggregate table (a run's cantons and EPCI, a many-territory run's totals).
    """
    sums = {"population": "sum", "pop_unreachable": "sum"}
    for t in thresholds:
        key = threshold_key(t)
        sums[f"pop_within_{key}"] = "sum"
        sums[f"pop_beyond_{key}"] = "sum"
    reachable = frame["population"] - frame["pop_unreachable"]
    work = frame.assign(
        _weighted=np.nan_to_num(frame["minutes_mean"].to_numpy()) * reachable,
        _reachable=reachable,
        communes=1,
    )
    grouped = work.groupby(keys, sort=True).agg(
        {**sums, "_weighted": "sum", "_reachable": "sum", "communes": "sum"}
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        grouped["minutes_mean"] = np.round(grouped["_weighted"] / grouped["_reachable"], 2)
        for t in thresholds:
            key = threshold_key(t)
            grouped[f"share_beyond_{key}"] = np.round(
                grouped[f"pop_beyond_{key}"] / grouped["population"].clip(lower=1), 4
            )
    grouped = grouped.drop(columns=["_weighted", "_reachable"]).reset_index()
    order = [*keys, "communes", "population", "minutes_mean", "pop_unreachable"]
    for t in thresholds:
        key = threshold_key(t)
        order += [f"pop_within_{key}", f"pop_beyond_{key}", f"share_beyond_{key}"]
    return grouped[order]
