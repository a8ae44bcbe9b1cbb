"""Run a scenario and write its result directory (GeoPackage, summary.json, CSV, GeoTIFF, map).

:func:`run_scenario` loads what the scenario needs
(:class:`~coverage.jobs.resources.TerritoryResources`, reusable across runs:
the API keeps one per territory), measures access for
every analysis (:mod:`coverage.access`), the optional 2SFCA health
accessibility (:mod:`coverage.fca`), and writes::

    <output>/
      summary.json          every figure, with its method and provenance
      results.gpkg          layers communes, cantons, epci, services, isochrones,
                            catchments, cells only on request (EPSG:2154, opens
                            styled in QGIS: :mod:`coverage.gpkg_styles`)
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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
from coverage._french import of_territory
from coverage._geoparquet import write_cells_geoparquet
from coverage._isochrone_cache import cached_isochrones
from coverage._outdir import refuse_existing, replace_dir, staging_dir
from coverage._raster import write_geotiff
from coverage.access import (
    AccessContext,
    ServiceAccess,
    public_counts,
    service_access,
    threshold_key,
)
from coverage.cluster import DEFAULT_CHUNK_CELLS
from coverage.errors import OutputExistsError
from coverage.gpkg_styles import Categorised, Graduated, Renderer, add_styles
from coverage.jobs.health import health_accessibility
from coverage.jobs.resources import TerritoryResources
from coverage.jsonio import write_json
from coverage.layers.services import ServiceCatalogue
from coverage.layers.territory import Territory
from coverage.progress import Progress, silent
from coverage.results import (
    CELLS_FILE,
    GPKG_FILE,
    SUMMARY_FILE,
    TABLES_DIR,
    minutes_file,
    table_stem,
)
from coverage.scenario import Analysis, Scenario, select_services
from coverage.tables import public_columns, write_table

RESULT_WRITERS_GROUP = "coverage.result_writers"


ResultExistsError = OutputExistsError
"""Former name of :class:`coverage.errors.OutputExistsError` (kept for one release)."""


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
    resources: TerritoryResources | None = None,
    progress: Progress | None = None,
    measured: Mapping[str, ServiceAccess] | None = None,
    client: Any | None = None,
    chunk_cells: int = DEFAULT_CHUNK_CELLS,
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
    measured
        Access already measured by the caller, by analysis name (``coverage place``
        measured the new scenario's analysis to evaluate it): used as it is when it
        was measured on these resources for the same services, thresholds and
        reference, measured again otherwise.
    client
        A ``distributed.Client`` (:func:`coverage.cluster.open_client`): the
        populated cells are joined to the roads and their times read on its workers,
        ``chunk_cells`` cells per task, the road network scattered once to every
        worker; the tables, layers and figures are those of a run in this process
        (``summary.json`` says where it ran under ``cluster``). The 2SFCA of
        ``[health]`` and the writing stay in this process. Ignored when
        ``resources`` are given and match. None (default): everything here.
    chunk_cells
        Cells per task with a ``client``.

    Returns
    -------
    RunResult

    Raises
    ------
    coverage.errors.OutputExistsError
        If ``output_dir`` exists and ``overwrite`` is false.
    coverage.errors.ConfigError
        Scenario mistakes found against the catalogue (unknown kinds, ids...).
    """
    output_dir = Path(output_dir)
    refuse_existing(output_dir, overwrite=overwrite)
    say = progress or silent
    started = time.perf_counter()
    if resources is None or not resources.matches(scenario):
        resources = TerritoryResources.for_scenario(
            scenario, data_dir=data_dir, progress=say, client=client, chunk_cells=chunk_cells
        )
    territory, catalogue, ctx = resources.territory, resources.catalogue, resources.context
    steps: dict[str, float] = {"load_s": time.perf_counter() - started}
    t0 = time.perf_counter()
    selections, scenario_services = select_services(
        scenario, catalogue.frame, territory, known_kinds=catalogue.kinds
    )
    analyses: dict[str, ServiceAccess] = {}
    publics = {a.name: public_counts(ctx, a.public) for a in scenario.analyses}  # checked first
    for analysis in scenario.analyses:
        say(f"Temps d'accès : {analysis.label}")
        done = (measured or {}).get(analysis.name)
        if done is not None and _same_measure(
            done, ctx, selections[analysis.name], analysis, scenario.thresholds_minutes
        ):
            analyses[analysis.name] = done
            continue
        analyses[analysis.name] = service_access(
            ctx,
            selections[analysis.name],
            name=analysis.name,
            label=analysis.label,
            thresholds_minutes=scenario.thresholds_minutes,
            reference_minutes=analysis.reference_minutes,
            public=publics[analysis.name],
        )
    health = None
    if scenario.health is not None:
        say("Accessibilité aux soins (2SFCA)")
        health = health_accessibility(scenario.health, scenario_services, resources)
    steps["access_s"] = time.perf_counter() - t0

    tmp = staging_dir(output_dir)
    try:
        files = _write_outputs(
            tmp, scenario, resources, analyses, scenario_services, health, say, steps
        )
        t0 = time.perf_counter()
        summary = _summary(scenario, resources, analyses, health, files, started, catalogue)
        write_json(tmp / SUMMARY_FILE, summary)
        steps["summary_s"] = time.perf_counter() - t0
        if scenario.outputs.get("map", True):
            for writer_name, writer in _result_writers():
                say(f"Carte ({writer_name})")
                t0 = time.perf_counter()
                for path in writer(tmp, summary) or []:
                    summary["files"][Path(path).stem] = Path(path).name
                steps[f"writer_{writer_name}_s"] = time.perf_counter() - t0
        summary["timings_s"].update({key: round(value, 3) for key, value in steps.items()})
        summary["timings_s"]["with_writers_total_s"] = round(time.perf_counter() - started, 3)
        write_json(tmp / SUMMARY_FILE, summary)
        replace_dir(tmp, output_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RunResult(output_dir=output_dir, summary=summary, analyses=analyses)


def _same_measure(
    done: ServiceAccess,
    ctx: AccessContext,
    services: gpd.GeoDataFrame,
    analysis: Analysis,
    thresholds_minutes: Sequence[float],
) -> bool:
    """Whether ``done`` is what :func:`service_access` would return for this analysis."""
    if (
        done.context is not ctx
        or done.name != analysis.name
        or done.label != (analysis.label or analysis.name)
        or (done.public.public.key if done.public is not None else None) != analysis.public
        or list(done.thresholds_minutes) != [float(t) for t in thresholds_minutes]
        or len(done.services) != len(services)
    ):
        return False
    reference = (
        float(thresholds_minutes[-1])
        if analysis.reference_minutes is None
        else float(analysis.reference_minutes)
    )
    if done.reference_minutes != reference:
        return False
    crs = ctx.territory.crs
    prepared = services.to_crs(crs) if services.crs is not None else services.set_crs(crs)
    return bool(prepared.reset_index(drop=True).equals(done.services))


def _result_writers() -> list[tuple[str, Callable[[Path, dict[str, Any]], list[Path]]]]:
    writers = []
    for ep in sorted(entry_points(group=RESULT_WRITERS_GROUP), key=lambda e: e.name):
        writers.append((ep.name, ep.load()))
    return writers


# --- writing ----------------------------------------------------------------------------------


def _write_outputs(
    folder: Path,
    scenario: Scenario,
    resources: TerritoryResources,
    analyses: dict[str, ServiceAccess],
    services: gpd.GeoDataFrame,
    health: dict[str, Any] | None,
    say: Progress,
    steps: dict[str, float] | None = None,
) -> dict[str, str]:
    """Write the tables, layers and surfaces; ``steps`` gets the seconds of each writer."""
    steps = {} if steps is None else steps
    clock = time.perf_counter()

    def lap(key: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        steps[key] = steps.get(key, 0.0) + now - clock
        clock = now

    territory = resources.territory
    ctx = resources.context
    crs = territory.crs
    gpkg = folder / GPKG_FILE
    tables = folder / TABLES_DIR
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
        kept = ("insee_code",) if result.public is None else ("insee_code", "population")
        indicators = result.communes.drop(columns=[c for c in base_cols if c not in kept])
        indicators = indicators.set_index("insee_code").add_prefix(f"{name}__")
        communes = communes.join(indicators, on="insee_code")
        for kind, table in (
            ("communes", result.communes),
            ("cantons", result.table("canton")),
            ("epci", result.table("epci")),
            ("underserved", result.underserved()),
        ):
            headers = (
                None
                if result.public is None
                else public_columns(result.public.public.label, table.columns)
            )
            write_table(table, tables / f"{table_stem(kind, name)}.csv", columns=headers)
    if health is not None:
        communes["health__accessibility"] = health["commune_value"]  # full precision
        communes["health__undersupplied"] = health["commune_undersupplied"]
        write_table(
            communes[
                [
                    "insee_code",
                    "name",
                    "population",
                    "health__accessibility",
                    "health__undersupplied",
                ]
            ],
            tables / f"{table_stem('communes', 'health')}.csv",
        )
    lap("tables_s")
    _write_layer(communes, gpkg, "communes")
    files["tables"] = f"{TABLES_DIR}/"

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
    lap("layers_s")

    surface = resources.surface
    for name, result in analyses.items():
        path = folder / minutes_file(name)
        _write_minutes_tif(result, path)
        files[f"minutes_{name}"] = path.name
    lap("minutes_tif_s")

    cell_columns = _cells_columns(ctx, analyses)
    xmin, ymin, xmax, ymax = _cell_bounds(ctx)
    write_cells_geoparquet(
        folder / CELLS_FILE,
        cell_columns,
        xmin=xmin,
        ymin=ymin,
        xmax=xmax,
        ymax=ymax,
        crs=str(ctx.surface.crs),
    )
    files["cells"] = CELLS_FILE
    lap("cells_parquet_s")
    if scenario.outputs.get("cells", False):
        say("Couche des cellules de population")
        _write_layer(_cells_layer(cell_columns, ctx), gpkg, "cells")
        lap("cells_gpkg_s")
    if scenario.outputs.get("isochrones", True):
        frames = []
        for name, result in analyses.items():
            say(f"Isochrones : {result.label}")
            xy = np.column_stack([result.services.geometry.x, result.services.geometry.y])
            iso = cached_isochrones(
                ctx.network,
                xy,
                ctx.cells,
                bands_minutes=scenario.thresholds_minutes,
                weights=surface.values,
                facility_ids=result.services["service_id"].astype(str).tolist(),
                access=ctx.access,
                name=f"{territory.name}-{name}",
            )
            iso = iso.rename(columns={"weight": "population"})
            iso.insert(0, "analysis", name)
            iso["population"] = iso["population"].round(1)
            frames.append(iso)
        if frames:
            _write_layer(pd.concat(frames, ignore_index=True), gpkg, "isochrones")
        lap("isochrones_s")
    if scenario.outputs.get("catchments", True):
        say("Zones de desserte")
        frames = [_catchments(result, ctx) for result in analyses.values()]
        _write_layer(pd.concat(frames, ignore_index=True), gpkg, "catchments")
        lap("catchments_s")
    add_styles(gpkg, _layer_renderers(analyses))
    lap("styles_s")
    return files


def _layer_renderers(analyses: dict[str, ServiceAccess]) -> dict[str, Renderer]:
    """QGIS renderers of the layers: times of the first analysis, services by kind."""
    first = next(iter(analyses), "")
    mean = Graduated(f"{first}__minutes_mean")
    return {
        "communes": mean,
        "cantons": mean,
        "epci": mean,
        "services": Categorised("kind"),
        "cells": Graduated(f"{first}__minutes"),
        "isochrones": Graduated("minutes"),
    }


def _write_layer(frame: gpd.GeoDataFrame | pd.DataFrame, path: Path, layer: str) -> None:
    gdf = (
        frame
        if isinstance(frame, gpd.GeoDataFrame)
        else gpd.GeoDataFrame(frame, geometry="geometry")
    )
    gdf.to_file(path, layer=layer, driver="GPKG", engine="pyogrio", use_arrow=True)


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


def _cells_columns(ctx: AccessContext, analyses: dict[str, ServiceAccess]) -> dict[str, Any]:
    """The cells' attributes: grid row and column, main commune, population, times, services."""
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
    return data


def _cell_bounds(ctx: AccessContext) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bounds (xmin, ymin, xmax, ymax) of the routed cells."""
    x, y = ctx.cells.centres()
    half = ctx.cells.cell_size_m / 2.0
    return x - half, y - half, x + half, y + half


def _cells_layer(columns: dict[str, Any], ctx: AccessContext) -> gpd.GeoDataFrame:
    """The cells as polygons (the ``cells`` layer of ``results.gpkg``)."""
    geometry = shapely.box(*_cell_bounds(ctx))
    return gpd.GeoDataFrame(columns, geometry=geometry, crs=ctx.surface.crs)


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


def cells_note(written: bool) -> dict[str, Any]:
    """Whether the ``cells`` layer is in ``results.gpkg``, and how to get it when it is not."""
    if written:
        note = (
            f"couche des cellules de population écrite dans {GPKG_FILE} (couche cells) et "
            f"dans {CELLS_FILE} (GeoParquet)"
        )
    else:
        note = (
            f"couche des cellules de population non écrite dans {GPKG_FILE} (par défaut, "
            f"elle en ferait l'essentiel du poids ; les cellules et leurs temps sont dans "
            f"{CELLS_FILE}, GeoParquet) : coverage run --cells, ou [outputs] "
            "cells = true dans le scénario, pour l'ajouter"
        )
    return {"written": written, "note": note}


def _summary(
    scenario: Scenario,
    resources: TerritoryResources,
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
                "communes ayant des habitants au-delà du seuil de référence (à défaut, du "
                "seuil inférieur suivant qui en compte : underserved_threshold_minutes), "
                "classées par habitants × minutes au-delà du seuil"
            ),
        },
        "cells": cells_note(bool(scenario.outputs.get("cells", False))),
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
                    f"Part {_counted(result)} {of_territory(territory.config.label)} à plus de "
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
        out["health"] = {
            k: v for k, v in health.items() if k not in ("commune_value", "commune_undersupplied")
        }
    if resources.context.cluster is not None:
        out["cluster"] = resources.context.cluster.describe()
    return out


def _counted(result: ServiceAccess) -> str:
    """Whom the headline counts: « de la population », or the public (« du public « … » »)."""
    return (
        "de la population"
        if result.public is None
        else f"du public « {result.public.public.label} »"
    )
