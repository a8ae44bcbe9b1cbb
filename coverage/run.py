"""Run a scenario and write its result directory (GeoPackage, summary.json, CSV, GeoTIFF, map).

:func:`run_scenario` loads what the scenario needs (:class:`RunResources`,
reusable across runs: the API keeps one per territory), measures access for
every analysis (:mod:`coverage.access`), the optional 2SFCA health
accessibility (:mod:`coverage.fca`), and writes::

    <output>/
      summary.json          every figure, with its method and provenance
      results.gpkg          layers communes, cantons, epci, services, cells,
                            isochrones, catchments (EPSG:2154, opens in QGIS)
      tables/               communes_<analysis>.csv, cantons_<...>.csv,
                            epci_<...>.csv, underserved_<...>.csv
      minutes_<analysis>.tif  travel-time surface in minutes (GeoTIFF)
      map.html              written by the result writers (package ``maps``)

The directory is written under a temporary name and renamed at the end, so a
failed run never leaves a half-written result; an existing directory is
refused unless ``overwrite`` is set. Result writers (maps) are found through
the ``coverage.result_writers`` entry points, so that this package never
imports ``maps``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely

from coverage import __version__
from coverage._outdir import replace_dir, staging_dir
from coverage._raster import write_geotiff
from coverage.access import AccessContext, ServiceAccess, service_access, threshold_key
from coverage.errors import CoverageError, DataError
from coverage.fca import (
    APL_UNDERSUPPLIED,
    drees_apl_decay,
    floating_catchment,
    linear_decay,
    step_decay,
)
from coverage.geocode.catalogue import load_catalogue
from coverage.jsonio import write_json
from coverage.layers.population import PopulationSurface, population_surface
from coverage.layers.services import ServiceCatalogue
from coverage.layers.territory import Territory, load_territory
from coverage.routing.graph import RoadNetwork
from coverage.routing.isochrones import isochrones
from coverage.routing.matrix import travel_times
from coverage.scenario import Scenario, select_services

Progress = Callable[[str], None]
RESULT_WRITERS_GROUP = "coverage.result_writers"
SUMMARY_FILE = "summary.json"
GPKG_FILE = "results.gpkg"


class ResultExistsError(CoverageError, FileExistsError):
    """The result directory exists and ``overwrite`` was not asked for."""


@dataclass(eq=False)
class RunResources:
    """What a run needs, loaded once: territory, network, population, catalogue, snapping.

    Attributes
    ----------
    territory, network, surface, catalogue, context
        The loaded pieces.
    timings
        Seconds spent loading each piece.
    """

    territory: Territory
    network: RoadNetwork
    surface: PopulationSurface
    catalogue: ServiceCatalogue
    context: AccessContext
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        scenario: Scenario,
        *,
        data_dir: str | Path | None = None,
        progress: Progress | None = None,
    ) -> RunResources:
        """Load the scenario's territory, network, population surface and catalogue."""
        from coverage.territory_network import load_territory_network

        say = progress or (lambda _message: None)
        timings: dict[str, float] = {}
        start = time.perf_counter()
        say("Chargement du territoire")
        territory = load_territory(scenario.territory, data_dir=data_dir)
        timings["territory_s"] = time.perf_counter() - start
        say("Réseau routier")
        t0 = time.perf_counter()
        network = load_territory_network(territory, **_network_options(scenario))
        timings["network_s"] = time.perf_counter() - t0
        say("Surface de population")
        t0 = time.perf_counter()
        surface = population_surface(territory, cell_size_m=scenario.cell_size_m)
        timings["population_s"] = time.perf_counter() - t0
        say("Catalogue des services")
        t0 = time.perf_counter()
        catalogue = load_catalogue(territory, extra=scenario.extra_files)
        timings["catalogue_s"] = time.perf_counter() - t0
        say("Raccordement des cellules et des communes au réseau")
        t0 = time.perf_counter()
        context = AccessContext.build(territory, network, surface, access=scenario.access)
        timings["snapping_s"] = time.perf_counter() - t0
        return cls(territory, network, surface, catalogue, context, timings)

    def matches(self, scenario: Scenario) -> bool:
        """Whether these resources can serve ``scenario`` (same territory and settings)."""
        ctx = self.context
        return (
            self.territory.name == scenario.territory
            and ctx.access == scenario.access
            and (scenario.cell_size_m is None or scenario.cell_size_m == self.surface.cell_size_m)
            and not scenario.network
            and not scenario.extra_files
        )


def _network_options(scenario: Scenario) -> dict[str, Any]:
    return {key: value for key, value in scenario.network.items()}


@dataclass(eq=False)
class RunResult:
    """A finished run.

    Attributes
    ----------
    output_dir
        The result directory.
    summary
        The content of ``summary.json``.
    analyses
        The access results per analysis name.
    """

    output_dir: Path
    summary: dict[str, Any]
    analyses: dict[str, ServiceAccess]


def run_scenario(
    scenario: Scenario,
    *,
    output_dir: str | Path,
    overwrite: bool = False,
    data_dir: str | Path | None = None,
    resources: RunResources | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run a scenario and write its result directory (see the module docstring).

    Parameters
    ----------
    scenario
        The parsed scenario.
    output_dir
        Result directory to create.
    overwrite
        Replace an existing result directory.
    data_dir
        Data bundle directory (``--data``).
    resources
        Already loaded resources (reused when they match the scenario).
    progress
        Called with a French label at the start of every step.

    Returns
    -------
    RunResult

    Raises
    ------
    ResultExistsError
        If ``output_dir`` exists and ``overwrite`` is false.
    coverage.errors.ConfigError
        Scenario mistakes found against the catalogue (unknown kinds, ids...).
    """
    output_dir = Path(output_dir)
    if output_dir.exists() and not overwrite:
        raise ResultExistsError(
            f"the result directory {output_dir} exists; choose another one or pass --overwrite"
        )
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    if resources is None or not resources.matches(scenario):
        resources = RunResources.load(scenario, data_dir=data_dir, progress=say)
    territory, catalogue, ctx = resources.territory, resources.catalogue, resources.context
    selections, scenario_services = select_services(
        scenario, catalogue.frame, territory, known_kinds=catalogue.kinds
    )
    analyses: dict[str, ServiceAccess] = {}
    for analysis in scenario.analyses:
        say(f"Temps d'accès : {analysis.label}")
        analyses[analysis.name] = service_access(
            ctx,
            selections[analysis.name],
            name=analysis.name,
            label=analysis.label,
            thresholds_minutes=scenario.thresholds_minutes,
            reference_minutes=analysis.reference_minutes,
        )
    health = None
    if scenario.health is not None:
        say("Accessibilité aux soins (2SFCA)")
        health = _health_accessibility(scenario, scenario_services, resources)

    tmp = staging_dir(output_dir)
    try:
        files = _write_outputs(tmp, scenario, resources, analyses, scenario_services, health, say)
        summary = _summary(scenario, resources, analyses, health, files, started, catalogue)
        write_json(tmp / SUMMARY_FILE, summary)
        if scenario.outputs.get("map", True):
            for writer_name, writer in _result_writers():
                say(f"Carte ({writer_name})")
                for path in writer(tmp, summary) or []:
                    summary["files"][Path(path).stem] = Path(path).name
            write_json(tmp / SUMMARY_FILE, summary)
        replace_dir(tmp, output_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RunResult(output_dir=output_dir, summary=summary, analyses=analyses)


def _result_writers() -> list[tuple[str, Callable[[Path, dict[str, Any]], list[Path]]]]:
    writers = []
    for ep in sorted(entry_points(group=RESULT_WRITERS_GROUP), key=lambda e: e.name):
        writers.append((ep.name, ep.load()))
    return writers


# --- health accessibility (2SFCA) -------------------------------------------------------------


def _decay(spec: dict[str, Any]) -> Callable[[np.ndarray], np.ndarray]:
    if spec["type"] == "steps":
        return step_decay(spec["steps"])
    if spec["type"] == "linear":
        return linear_decay(spec["max_minutes"])
    return drees_apl_decay()


def _health_accessibility(
    scenario: Scenario, services: gpd.GeoDataFrame, resources: RunResources
) -> dict[str, Any]:
    assert scenario.health is not None
    spec = scenario.health
    supply = services[
        services["kind"].isin(spec.kinds) & (services["status"].eq("open") | services["added"])
    ]
    if supply.empty:
        raise DataError(
            f"[health]: no open service of kind {', '.join(spec.kinds)} to measure health "
            "accessibility (import the list with 'coverage services import --kind health_centre')"
        )
    ctx = resources.context
    supply_xy = np.column_stack([supply.geometry.x, supply.geometry.y])
    matrix = travel_times(ctx.network, ctx.commune_points, supply_xy, access=ctx.access)
    demand = resources.territory.communes["population"].to_numpy(dtype=float)
    decay = _decay(spec.decay)
    result = floating_catchment(
        np.nan_to_num(matrix.minutes, nan=np.inf),
        demand,
        supply["capacity"].to_numpy(dtype=float),
        decay=decay,
    )
    value = result.accessibility * spec.per_inhabitants
    under = value < APL_UNDERSUPPLIED
    return {
        "kinds": list(spec.kinds),
        "decay": getattr(decay, "description", spec.decay),
        "per_inhabitants": spec.per_inhabitants,
        "supply_sites": len(supply),
        "supply_total": float(supply["capacity"].sum()),
        "unused_supply": result.unused_supply,
        "commune_value": value,
        "population_weighted_mean": float(np.average(value, weights=demand))
        if demand.sum()
        else None,
        "undersupplied_threshold": APL_UNDERSUPPLIED,
        "communes_undersupplied": int(under.sum()),
        "population_undersupplied": int(demand[under].sum()),
        "method": (
            "2SFCA (méthode de l'APL de la DREES) : offre de chaque site répartie sur la "
            "population qui l'atteint, pondérée par la fonction de distance, puis sommée pour "
            "chaque commune ; temps depuis le point représentatif de la commune"
        ),
    }


# --- writing ----------------------------------------------------------------------------------


def _write_outputs(
    folder: Path,
    scenario: Scenario,
    resources: RunResources,
    analyses: dict[str, ServiceAccess],
    services: gpd.GeoDataFrame,
    health: dict[str, Any] | None,
    say: Progress,
) -> dict[str, str]:
    territory = resources.territory
    ctx = resources.context
    crs = territory.crs
    gpkg = folder / GPKG_FILE
    tables = folder / "tables"
    tables.mkdir()
    files: dict[str, str] = {"geopackage": GPKG_FILE}
    say("Écriture des résultats")

    base_cols = [
        "insee_code",
        "name",
        "population",
        "canton_code",
        "canton_name",
        "epci_siren",
        "epci_name",
    ]
    communes = territory.communes[[*base_cols, "geometry"]].copy()
    for name, result in analyses.items():
        indicators = result.communes.drop(columns=[c for c in base_cols if c != "insee_code"])
        indicators = indicators.set_index("insee_code").add_prefix(f"{name}__")
        communes = communes.join(indicators, on="insee_code")
        result.communes.to_csv(tables / f"communes_{name}.csv", index=False, encoding="utf-8")
        result.table("canton").to_csv(tables / f"cantons_{name}.csv", index=False, encoding="utf-8")
        result.table("epci").to_csv(tables / f"epci_{name}.csv", index=False, encoding="utf-8")
        result.underserved().to_csv(
            tables / f"underserved_{name}.csv", index=False, encoding="utf-8"
        )
    if health is not None:
        communes["health__accessibility"] = np.round(health["commune_value"], 4)
        communes["health__undersupplied"] = (
            health["commune_value"] < health["undersupplied_threshold"]
        )
        communes[
            ["insee_code", "name", "population", "health__accessibility", "health__undersupplied"]
        ].to_csv(tables / "communes_health.csv", index=False, encoding="utf-8")
    _write_layer(communes, gpkg, "communes")
    files["tables"] = "tables/"

    for level, frame, key in (
        ("canton", territory.cantons, "canton_code"),
        ("epci", territory.epci, "epci_siren"),
    ):
        layer = _level_layer(level, frame, key, analyses, territory)
        _write_layer(layer, gpkg, "cantons" if level == "canton" else "epci")

    service_cols = [c for c in services.columns if c != "geometry"]
    used = services[service_cols].copy()
    for name, chosen in ((n, r.services) for n, r in analyses.items()):
        used[f"in__{name}"] = used["service_id"].astype(str).isin(chosen["service_id"].astype(str))
    _write_layer(gpd.GeoDataFrame(used, geometry=services.geometry, crs=crs), gpkg, "services")

    surface = resources.surface
    for name, result in analyses.items():
        path = folder / f"minutes_{name}.tif"
        _write_minutes_tif(result, path)
        files[f"minutes_{name}"] = path.name

    if scenario.outputs.get("cells", True):
        say("Couche des cellules de population")
        _write_layer(_cells_layer(ctx, analyses), gpkg, "cells")
    if scenario.outputs.get("isochrones", True):
        frames = []
        for name, result in analyses.items():
            say(f"Isochrones : {result.label}")
            xy = np.column_stack([result.services.geometry.x, result.services.geometry.y])
            iso = isochrones(
                ctx.network,
                xy,
                ctx.cells,
                bands_minutes=scenario.thresholds_minutes,
                weights=surface.values,
                facility_ids=result.services["service_id"].astype(str).tolist(),
                access=ctx.access,
            )
            iso = iso.rename(columns={"weight": "population"})
            iso.insert(0, "analysis", name)
            iso["population"] = iso["population"].round(1)
            frames.append(iso)
        if frames:
            _write_layer(pd.concat(frames, ignore_index=True), gpkg, "isochrones")
    if scenario.outputs.get("catchments", True):
        say("Zones de desserte")
        frames = [_catchments(result, ctx) for result in analyses.values()]
        _write_layer(pd.concat(frames, ignore_index=True), gpkg, "catchments")
    return files


def _write_layer(frame: gpd.GeoDataFrame | pd.DataFrame, path: Path, layer: str) -> None:
    gdf = (
        frame
        if isinstance(frame, gpd.GeoDataFrame)
        else gpd.GeoDataFrame(frame, geometry="geometry")
    )
    gdf.to_file(path, layer=layer, driver="GPKG", engine="pyogrio")


def _level_layer(
    level: str,
    frame: gpd.GeoDataFrame,
    key: str,
    analyses: dict[str, ServiceAccess],
    territory: Territory,
) -> gpd.GeoDataFrame:
    names = {"canton": "canton_name", "epci": "epci_name"}
    base = frame[[key, names[level], "geometry"]].copy()
    if level == "canton":
        # split communes (Auch, 3299) get their own line, drawn with the commune's outline
        for split in territory.config.split_cantons.values():
            members = territory.communes[territory.communes["canton_code"] == split.code]
            if not members.empty:
                row = gpd.GeoDataFrame(
                    {
                        key: [split.code],
                        names[level]: [split.label],
                        "geometry": [shapely.union_all(members.geometry.values)],
                    },
                    crs=frame.crs,
                )
                base = pd.concat([base, row], ignore_index=True)
    out = gpd.GeoDataFrame(base, geometry="geometry", crs=frame.crs)
    for name, result in analyses.items():
        table = (
            result.table(level).drop(columns=[names[level]]).set_index(key).add_prefix(f"{name}__")
        )
        out = out.join(table, on=key)
    return out


def _write_minutes_tif(result: ServiceAccess, path: Path) -> None:
    surface = result.context.surface
    minutes = result.seconds_grid() / 60.0
    data = np.where(np.isfinite(minutes), minutes, np.nan).astype(np.float32)
    write_geotiff(
        path,
        data,
        transform=surface.transform,
        crs=surface.crs,
        nodata=float("nan"),
        tags={"units": "minutes", "analysis": result.name, "label": result.label},
    )


def _cells_layer(ctx: AccessContext, analyses: dict[str, ServiceAccess]) -> gpd.GeoDataFrame:
    cells = ctx.cells
    surface = ctx.surface
    alloc = ctx.alloc_cell >= 0
    population = np.bincount(
        ctx.alloc_cell[alloc], weights=surface.cell_population[alloc], minlength=cells.n_cells
    )
    # the commune holding most of the cell's inhabitants
    order = np.lexsort((-surface.cell_population[alloc], ctx.alloc_cell[alloc]))
    cell_sorted = ctx.alloc_cell[alloc][order]
    first = np.ones(cell_sorted.size, dtype=bool)
    first[1:] = cell_sorted[1:] != cell_sorted[:-1]
    main_commune = np.empty(cells.n_cells, dtype=object)
    main_commune[cell_sorted[first]] = surface.commune_codes[
        surface.cell_commune[alloc][order][first]
    ]
    size = cells.cell_size_m
    x, y = cells.centres()
    half = size / 2.0
    geometry = shapely.box(x - half, y - half, x + half, y + half)
    data: dict[str, Any] = {
        "row": cells.rows,
        "col": cells.cols,
        "insee_code": main_commune,
        "population": np.round(population, 3),
        "off_network": cells.snapped.too_far,
    }
    for name, result in analyses.items():
        minutes = result.cell_seconds / 60.0
        data[f"{name}__minutes"] = np.round(np.where(np.isfinite(minutes), minutes, np.nan), 2)
        ids = result.services["service_id"].astype(str).to_numpy()
        data[f"{name}__service_id"] = np.where(
            result.cell_service >= 0, ids[np.maximum(result.cell_service, 0)], ""
        )
    return gpd.GeoDataFrame(data, geometry=geometry, crs=surface.crs)


def _catchments(result: ServiceAccess, ctx: AccessContext) -> gpd.GeoDataFrame:
    """One polygon per service: the populated cells for which it is the nearest."""
    grid = result.service_grid()
    surface = ctx.surface
    transform = surface.transform
    alloc = ctx.alloc_cell >= 0
    cell_pop = np.bincount(
        ctx.alloc_cell[alloc], weights=surface.cell_population[alloc], minlength=ctx.cells.n_cells
    )
    n = len(result.services)
    served = result.cell_service >= 0
    pop = np.bincount(result.cell_service[served], weights=cell_pop[served], minlength=n)
    minutes = result.cell_seconds / 60.0
    finite = served & np.isfinite(minutes)
    weighted = np.bincount(
        result.cell_service[finite],
        weights=(cell_pop * np.nan_to_num(minutes))[finite],
        minlength=n,
    )
    parts: dict[int, list[Any]] = {}
    for geom, value in rasterio.features.shapes(
        grid.astype(np.int32), mask=grid >= 0, transform=transform, connectivity=4
    ):
        parts.setdefault(int(value), []).append(shapely.geometry.shape(geom))
    rows = []
    for index, polys in sorted(parts.items()):
        service = result.services.iloc[index]
        polygon = shapely.MultiPolygon(polys) if len(polys) > 1 else polys[0]
        rows.append(
            {
                "analysis": result.name,
                "service_id": str(service.get("service_id", index)),
                "name": str(service.get("name", "")),
                "population": round(float(pop[index]), 1),
                "minutes_mean": round(float(weighted[index] / pop[index]), 2)
                if pop[index] > 0
                else None,
                "geometry": polygon if polygon.is_valid else shapely.make_valid(polygon),
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=surface.crs)


# --- summary ------------------------------------------------------------------------------------


def _summary(
    scenario: Scenario,
    resources: RunResources,
    analyses: dict[str, ServiceAccess],
    health: dict[str, Any] | None,
    files: dict[str, str],
    started: float,
    catalogue: ServiceCatalogue,
) -> dict[str, Any]:
    territory = resources.territory
    provenance = resources.context.provenance()
    provenance["network"]["report"] = {
        k: v
        for k, v in resources.network.info.report.items()
        if isinstance(v, str | int | float | bool)
    }
    provenance["services"] = catalogue.sources
    out: dict[str, Any] = {
        "engine": {"name": "coverage-territoires", "version": __version__},
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "territory": {
            "name": territory.name,
            "label": territory.config.label,
            "departement": territory.config.departement,
            "communes": len(territory.communes),
            "population": territory.population,
        },
        "scenario": scenario.describe(),
        "provenance": provenance,
        "method": {
            "times": (
                "temps en voiture jusqu'au service le plus proche (services hors département "
                "compris), calculé pour chaque cellule peuplée de la surface de population "
                "(Dijkstra multi-sources sur le réseau routier, trajets d'accès inclus)"
            ),
            "population": (
                "population légale de chaque commune répartie sur ses cellules ; les effectifs "
                "par commune sont arrondis à l'habitant, au-delà + en deçà = population légale"
            ),
            "underserved": (
                "communes ayant des habitants au-delà du seuil de référence, classées par "
                "habitants × minutes au-delà du seuil"
            ),
        },
        "analyses": {},
        "headline": [],
        "health": None,
        "files": dict(files),
        "timings_s": {
            **{k: round(v, 3) for k, v in resources.timings.items()},
            "run_total_s": round(time.perf_counter() - started, 3),
        },
    }
    for name, result in analyses.items():
        figures = result.summary()
        figures["kinds"] = list(next(a.kinds for a in scenario.analyses if a.name == name))
        figures["service_ids"] = result.services["service_id"].astype(str).tolist()
        figures["underserved"] = result.underserved(top=10).to_dict(orient="records")
        figures["underserved_count"] = len(result.underserved())
        figures["by_canton"] = result.table("canton").to_dict(orient="records")
        figures["by_epci"] = result.table("epci").to_dict(orient="records")
        out["analyses"][name] = figures
        ref = threshold_key(result.reference_minutes)
        ref_figures = figures["thresholds"][ref]
        out["headline"].append(
            {
                "id": f"share_beyond_{ref}_min_{name}",
                "label": (
                    f"Part de la population de {territory.config.label} à plus de "
                    f"{result.reference_minutes:g} minutes en voiture de : {result.label}"
                ),
                "analysis": name,
                "threshold_minutes": result.reference_minutes,
                "share": ref_figures["share_beyond"],
                "population": ref_figures["pop_beyond"],
                "population_total": figures["population"],
                "method": out["method"]["times"],
            }
        )
    if health is not None:
        out["health"] = {k: v for k, v in health.items() if k != "commune_value"}
    return out
