"""The population surface: inhabitants per raster cell (EPSG:2154, 200 m by default).

Method. Every commune's legal population is spread over the cells whose centre
falls in its polygon (a commune too small to hold a cell centre gets the cell of
its representative point), in proportion to a weight per cell:

- with a population grid (a GeoTIFF in any CRS, or INSEE Filosofi 200 m squares
  as vector cells), the weight is the grid's population in the cell;
- otherwise ``base + roads × (metres of road in the cell / cell size) +
  addresses × (address points in the cell)``, with the factors of
  ``[population.weights]`` in ``territory.toml`` (roads and address points are
  used when the territory has them).

A commune whose cells all have zero weight falls back to a uniform spread. Each
commune's total is therefore its legal population (to floating-point precision)
and the département total is exact. The allocation is kept as a long table
(cell, commune, inhabitants) so that per-commune figures never depend on
cells shared along borders.

The surface is cached (GeoTIFF + ``.npz``) under the cache directory, keyed by
the input files' checksums and the settings, and reused.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
import rasterio.features
import shapely
from rasterio.transform import Affine

from coverage import __version__
from coverage._cache import atomic_path, cache_key, file_sha256
from coverage._french import plural
from coverage._raster import write_geotiff
from coverage.errors import DataError
from coverage.layers.addresses import read_address_points
from coverage.layers.readers import DataWarning
from coverage.layers.roads import read_road_lines
from coverage.layers.territory import Territory
from coverage.settings import cache_root

SURFACE_FORMAT_VERSION = 1


@dataclass(eq=False)
class PopulationSurface:
    """Inhabitants per cell, with the per-commune allocation behind it.

    Attributes
    ----------
    values
        ``float64`` array (rows, cols): inhabitants per cell.
    transform
        Affine transform of the grid (EPSG:2154 metres, north-up).
    crs
        CRS of the grid.
    cell_rows, cell_cols, cell_commune, cell_population
        Allocation table: one entry per (cell, commune) pair with its inhabitants;
        ``cell_commune`` indexes ``commune_codes``.
    commune_codes
        INSEE codes in the order of ``Territory.communes``.
    method
        Human-readable description of how the surface was built.
    provenance
        Sources and settings (for result metadata).
    cache_file
        Where the surface is cached ("" when not cached).
    """

    values: np.ndarray
    transform: Affine
    crs: str
    cell_rows: np.ndarray
    cell_cols: np.ndarray
    cell_commune: np.ndarray
    cell_population: np.ndarray
    commune_codes: np.ndarray
    method: str
    provenance: dict[str, Any] = field(default_factory=dict)
    cache_file: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        """Grid shape (rows, cols)."""
        return tuple(self.values.shape)  # type: ignore[return-value]

    @property
    def cell_size_m(self) -> float:
        """Cell size in metres."""
        return float(self.transform.a)

    @property
    def total(self) -> float:
        """Total population of the surface."""
        return float(self.cell_population.sum())

    def commune_totals(self) -> pd.Series:
        """Population allocated to each commune (index: INSEE code)."""
        totals = np.bincount(
            self.cell_commune, weights=self.cell_population, minlength=len(self.commune_codes)
        )
        return pd.Series(totals, index=pd.Index(self.commune_codes, name="insee_code"))

    def public_cells(self, commune_counts: np.ndarray) -> np.ndarray:
        """People of a public per entry of the allocation table, spread like the inhabitants.

        Each commune's count is spread over its cells with the same weights as
        its population (``count × cell inhabitants / commune inhabitants``, that
        is ``count × weight / Σ weights``), so the public's commune totals are
        the counts given (to floating-point precision). A commune without
        inhabitants on the surface keeps none of the public (the publics layer
        refuses a public larger than its commune's population).

        Parameters
        ----------
        commune_counts
            The public per commune, in the order of ``commune_codes``.

        Returns
        -------
        numpy.ndarray
            ``float64``, aligned with ``cell_population``.

        Raises
        ------
        ValueError
            For counts not aligned with the communes.
        """
        counts = np.asarray(commune_counts, dtype=np.float64)
        if counts.shape != (len(self.commune_codes),):
            raise ValueError(
                f"un effectif par commune attendu ({len(self.commune_codes)}), reçu {counts.shape}"
            )
        totals = np.bincount(
            self.cell_commune, weights=self.cell_population, minlength=len(self.commune_codes)
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            per_inhabitant = np.where(totals > 0, counts / totals, 0.0)
        return self.cell_population * per_inhabitant[self.cell_commune]

    def public_cells_from_grid(self, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """People of a public given per cell of the surface's grid (from a Filosofi-like grid).

        Each cell's people go to the allocation entries of that cell (shared by
        inhabitants when a cell is listed for several communes, evenly when it
        has none). People on a cell without inhabitants (the routed cells are
        the populated ones) are spread over the populated cells of the same
        commune in proportion to their inhabitants, so that they are counted
        with their commune's times. Grid cells outside every commune are left
        out (the caller reports them).

        Parameters
        ----------
        grid
            ``float64`` array of the surface's shape: people of the public per cell.

        Returns
        -------
        tuple of numpy.ndarray
            The people per allocation entry (aligned with ``cell_population``)
            and the commune totals (order of ``commune_codes``). A commune whose
            people all sit on cells without inhabitants while it has none keeps
            them in its total only: the publics check refuses a total above the
            commune's population.

        Raises
        ------
        ValueError
            For a grid not of the surface's shape.
        """
        values = np.asarray(grid, dtype=np.float64)
        if values.shape != self.shape:
            raise ValueError(f"une grille de forme {self.shape} attendue, reçu {values.shape}")
        n = len(self.commune_codes)
        flat = self.cell_rows.astype(np.int64) * self.shape[1] + self.cell_cols
        size = self.shape[0] * self.shape[1]
        cell_inhabitants = np.bincount(flat, weights=self.cell_population, minlength=size)[flat]
        entries = np.bincount(flat, minlength=size)[flat]
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(
                cell_inhabitants > 0, self.cell_population / cell_inhabitants, 1.0 / entries
            )
        raw = values.ravel()[flat] * share
        totals = np.bincount(self.cell_commune, weights=raw, minlength=n)
        populated = self.cell_population > 0
        stranded = np.bincount(
            self.cell_commune, weights=np.where(populated, 0.0, raw), minlength=n
        )
        inhabitants = np.bincount(self.cell_commune, weights=self.cell_population, minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_inhabitant = np.where(inhabitants > 0, stranded / inhabitants, 0.0)
        counts = (
            np.where(populated, raw, 0.0) + self.cell_population * per_inhabitant[self.cell_commune]
        )
        return counts, totals

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Centres (x, y) of the allocation table's cells, in metres."""
        x = self.transform.c + (self.cell_cols + 0.5) * self.transform.a
        y = self.transform.f + (self.cell_rows + 0.5) * self.transform.e
        return x, y

    def populated_cells(self) -> pd.DataFrame:
        """Allocation table as a frame: row, col, x, y, insee_code, population (populated only)."""
        x, y = self.cell_centres()
        keep = self.cell_population > 0
        return pd.DataFrame(
            {
                "row": self.cell_rows[keep],
                "col": self.cell_cols[keep],
                "x": x[keep],
                "y": y[keep],
                "insee_code": self.commune_codes[self.cell_commune[keep]],
                "population": self.cell_population[keep],
            }
        )

    def to_geotiff(self, path: str | Path) -> Path:
        """Write the surface as a float64 GeoTIFF (opens in QGIS); returns the path."""
        return write_geotiff(
            path,
            self.values,
            transform=self.transform,
            crs=self.crs,
            tags={"units": "habitants par cellule", "method": self.method},
        )


def population_surface(
    territory: Territory,
    *,
    cell_size_m: float | None = None,
    use_cache: bool = True,
    cache_dir: str | Path | None = None,
) -> PopulationSurface:
    """Build (or load from cache) a territory's population surface.

    Parameters
    ----------
    territory
        The loaded territory.
    cell_size_m
        Cell size; defaults to ``[population] cell_size_m`` of the territory (200 m).
    use_cache
        Reuse a cached surface with the same inputs and settings.
    cache_dir
        Cache folder; defaults to ``<cache root>/population``.

    Returns
    -------
    PopulationSurface

    Raises
    ------
    DataError
        Unreadable grid or weighting layers, or a cell size that is not positive.
    """
    spec = territory.config.population
    cell = float(cell_size_m or spec.cell_size_m)
    if not np.isfinite(cell) or cell <= 0:
        raise DataError(f"cell_size_m doit être un nombre de mètres positif, reçu {cell_size_m}")
    inputs = _weighting_inputs(territory)
    key = cache_key(
        [
            SURFACE_FORMAT_VERSION,
            territory.name,
            cell,
            spec.weights,
            spec.grid,
            spec.grid_column,
            {name: file_sha256(path) for name, path in inputs.items()},
            # the loaded communes (after repairs) define the allocation
            pd.util.hash_pandas_object(
                territory.communes[["insee_code", "population"]], index=False
            ).sum(),
        ]
    )
    folder = Path(cache_dir) if cache_dir else cache_root() / "population"
    npz_path = folder / f"{territory.name}-{int(cell)}m-{key}.npz"
    if use_cache and npz_path.is_file():
        try:
            return _load_cached(npz_path)
        except Exception:  # a damaged cache file is rebuilt, never trusted
            npz_path.unlink(missing_ok=True)
    surface = build_population_surface(territory, cell_size_m=cell)
    surface.provenance["inputs_sha256"] = {n: file_sha256(p) for n, p in inputs.items()}
    if use_cache:
        _save_cached(surface, npz_path)
        surface.to_geotiff(npz_path.with_suffix(".tif"))
        surface.cache_file = str(npz_path)
    return surface


def build_population_surface(territory: Territory, *, cell_size_m: float) -> PopulationSurface:
    """Build a population surface without touching the cache (see the module docstring).

    Parameters
    ----------
    territory
        The loaded territory.
    cell_size_m
        Cell size in metres.

    Returns
    -------
    PopulationSurface
    """
    communes = territory.communes
    transform, shape = _grid_for(communes.total_bounds, cell_size_m)
    n_communes = len(communes)

    # commune of each cell (by cell centre); 0 = none
    owner = rasterio.features.rasterize(
        zip(communes.geometry.values, range(1, n_communes + 1), strict=True),
        out_shape=shape,
        transform=transform,
        fill=0,
        all_touched=False,
        dtype="int32",
    )
    rows, cols = np.nonzero(owner)
    commune_of_cell = owner[rows, cols] - 1
    # communes too small to own a cell centre: the cell of their representative point
    has_cell = np.zeros(n_communes, dtype=bool)
    has_cell[commune_of_cell] = True
    if not has_cell.all():
        missing = np.flatnonzero(~has_cell)
        px = communes["point_x"].to_numpy()[missing]
        py = communes["point_y"].to_numpy()[missing]
        mrow, mcol = rasterio.transform.rowcol(transform, px, py)
        rows = np.concatenate([rows, np.asarray(mrow)])
        cols = np.concatenate([cols, np.asarray(mcol)])
        commune_of_cell = np.concatenate([commune_of_cell, missing])

    weights, method, provenance = _cell_weights(territory, transform, shape, cell_size_m)
    w = weights[rows, cols].astype(np.float64)
    w_sum = np.bincount(commune_of_cell, weights=w, minlength=n_communes)
    uniform = w_sum <= 0
    if uniform.any():
        if provenance.get("grid"):
            codes = communes["insee_code"].to_numpy()[uniform]
            warnings.warn(
                f"la grille de population n'a aucun habitant dans "
                f"{plural(int(uniform.sum()), 'commune')} "
                f"({', '.join(codes[:10])}...) : leur population est répartie uniformément",
                DataWarning,
                stacklevel=2,
            )
        w = np.where(uniform[commune_of_cell], 1.0, w)
        w_sum = np.bincount(commune_of_cell, weights=w, minlength=n_communes)
    population = communes["population"].to_numpy(dtype=np.float64)
    cell_population = population[commune_of_cell] * w / w_sum[commune_of_cell]

    values = np.zeros(shape, dtype=np.float64)
    np.add.at(values, (rows, cols), cell_population)
    provenance.update(
        {
            "cell_size_m": cell_size_m,
            "crs": territory.crs,
            "communes": territory.config.layer("communes").provenance(),
            "communes_spread_uniformly": int(uniform.sum()),
            "communes_on_a_single_point_cell": int((~has_cell).sum()),
        }
    )
    return PopulationSurface(
        values=values,
        transform=transform,
        crs=territory.crs,
        cell_rows=rows.astype(np.int32),
        cell_cols=cols.astype(np.int32),
        cell_commune=commune_of_cell.astype(np.int32),
        cell_population=cell_population,
        commune_codes=communes["insee_code"].to_numpy(dtype=object).astype(str),
        method=method,
        provenance=provenance,
    )


def _grid_for(bounds: np.ndarray, cell: float) -> tuple[Affine, tuple[int, int]]:
    """A north-up grid aligned on multiples of the cell size that covers ``bounds``."""
    xmin = np.floor(bounds[0] / cell) * cell
    ymin = np.floor(bounds[1] / cell) * cell
    xmax = np.ceil(bounds[2] / cell) * cell
    ymax = np.ceil(bounds[3] / cell) * cell
    shape = (int(round((ymax - ymin) / cell)), int(round((xmax - xmin) / cell)))
    return Affine(cell, 0.0, xmin, 0.0, -cell, ymax), shape


def _weighting_inputs(territory: Territory) -> dict[str, Path]:
    """Files the surface depends on (for the cache key)."""
    config = territory.config
    inputs = {"communes": territory.data_dir / config.layer("communes").file}
    if config.population.grid:
        inputs["grid"] = territory.data_dir / config.population.grid
        if not inputs["grid"].is_file():
            raise DataError(
                "la grille de population nommée dans [population] grid est absente",
                path=inputs["grid"],
            )
        return inputs
    weights = config.population.weights
    for name in ("roads", "addresses"):
        if weights.get(name, 0) > 0 and name in config.layers:
            path = territory.data_dir / config.layers[name].file
            if path.is_file():
                inputs[name] = path
    return inputs


def _cell_weights(
    territory: Territory, transform: Affine, shape: tuple[int, int], cell: float
) -> tuple[np.ndarray, str, dict[str, Any]]:
    config = territory.config
    if config.population.grid:
        path = territory.data_dir / config.population.grid
        weights = _grid_weights(
            path, config.population.grid_column, transform, shape, territory.crs
        )
        return (
            weights,
            f"population légale des communes répartie selon la grille {path.name}",
            {"grid": str(path), "weights": "grid"},
        )
    factors = config.population.weights
    weights = np.full(shape, factors.get("base", 1.0), dtype=np.float64)
    used = [f"base={factors.get('base', 1.0):g}"]
    provenance: dict[str, Any] = {"weights": dict(factors)}
    inputs = _weighting_inputs(territory)
    if "roads" in inputs:
        lines = read_road_lines(config.layers["roads"], territory.data_dir, crs=territory.crs)
        weights += factors["roads"] * _road_metres_per_cell(lines, transform, shape) / cell
        used.append(f"routes={factors['roads']:g}")
        provenance["roads"] = config.layers["roads"].provenance()
    if "addresses" in inputs:
        points = read_address_points(
            config.layers["addresses"], territory.data_dir, crs=territory.crs
        )
        weights += factors["addresses"] * _count_per_cell(
            shapely.get_x(points.geometry.values),
            shapely.get_y(points.geometry.values),
            transform,
            shape,
        )
        used.append(f"adresses={factors['addresses']:g}")
        provenance["addresses"] = config.layers["addresses"].provenance()
    method = (
        "population légale des communes répartie sur les cellules de la commune, "
        f"pondérée ({', '.join(used)})"
    )
    return weights, method, provenance


def _count_per_cell(
    x: np.ndarray,
    y: np.ndarray,
    transform: Affine,
    shape: tuple[int, int],
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Sum of ``weights`` (or count) of points per cell; points off the grid are ignored."""
    col = np.floor((x - transform.c) / transform.a).astype(np.int64)
    row = np.floor((y - transform.f) / transform.e).astype(np.int64)
    inside = (row >= 0) & (row < shape[0]) & (col >= 0) & (col < shape[1])
    flat = row[inside] * shape[1] + col[inside]
    w = None if weights is None else weights[inside]
    counts = np.bincount(flat, weights=w, minlength=shape[0] * shape[1])
    return counts.reshape(shape).astype(np.float64)


def _road_metres_per_cell(
    lines: gpd.GeoSeries, transform: Affine, shape: tuple[int, int]
) -> np.ndarray:
    """Metres of road per cell, from segment midpoints of lines densified to 1/8 cell."""
    step = transform.a / 8.0
    dense = shapely.segmentize(lines.values, step)
    coords, index = shapely.get_coordinates(dense, return_index=True)
    same = index[1:] == index[:-1]
    start, end = coords[:-1][same], coords[1:][same]
    mid = (start + end) / 2.0
    length = np.hypot(*(end - start).T)
    return _count_per_cell(mid[:, 0], mid[:, 1], transform, shape, weights=length)


def _grid_weights(
    path: Path,
    column: str,
    transform: Affine,
    shape: tuple[int, int],
    crs: str,
    *,
    what: str = "la grille de population",
    setting: str = "[population] grid_column",
) -> np.ndarray:
    """Resample a population grid (GeoTIFF or vector squares) onto the grid by cell centre."""
    name = path.name.lower()
    try:
        if name.endswith((".tif", ".tiff")):
            with rasterio.open(path) as src:
                band = src.read(1, masked=True).filled(0).astype(np.float64)
                src_crs = src.crs
                src_transform = src.transform
            band[~np.isfinite(band) | (band < 0)] = 0
            r, c = np.nonzero(band)
            xs, ys = rasterio.transform.xy(src_transform, r, c, offset="center")
            values = band[r, c]
            pts = gpd.GeoSeries(gpd.points_from_xy(xs, ys), crs=src_crs).to_crs(crs)
        else:
            frame = pyogrio.read_dataframe(path)
            lowered = {c.lower(): c for c in frame.columns}
            if column.lower() not in lowered:
                raise DataError(
                    f"{what} n'a pas de colonne '{column}' (réglez {setting})",
                    path=path,
                    field=column,
                )
            values = pd.to_numeric(frame[lowered[column.lower()]], errors="coerce").fillna(0)
            values = values.clip(lower=0).to_numpy(dtype=np.float64)
            geoms = frame.geometry
            if geoms.crs is None:
                raise DataError(f"{what} n'a pas de SCR", path=path)
            pts = geoms.to_crs(crs).centroid
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"impossible de lire {what} : {exc}", path=path) from None
    return _count_per_cell(
        shapely.get_x(pts.values), shapely.get_y(pts.values), transform, shape, weights=values
    )


def grid_values(
    path: str | Path, column: str, surface: PopulationSurface, *, setting: str
) -> np.ndarray:
    """A grid's column (GeoTIFF band, or vector squares such as Filosofi's) on the surface's cells.

    The same reader as the population grid of ``[population] grid``: each square
    goes to the cell holding its centre (values that are not numbers >= 0 count 0).

    ``setting`` names the setting that gives the column (for the error message).

    Raises
    ------
    DataError
        Unreadable file, missing column or CRS.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("la grille nommée n'existe pas", path=path)
    return _grid_weights(
        path,
        column,
        surface.transform,
        surface.shape,
        surface.crs,
        what="la grille",
        setting=setting,
    )


def _save_cached(surface: PopulationSurface, path: Path) -> None:
    tmp = atomic_path(path.with_suffix(".npz"))
    meta = {
        "transform": list(surface.transform)[:6],
        "crs": surface.crs,
        "method": surface.method,
        "provenance": surface.provenance,
        "engine_version": __version__,
    }
    with open(tmp, "wb") as handle:
        np.savez(
            handle,
            values=surface.values,
            cell_rows=surface.cell_rows,
            cell_cols=surface.cell_cols,
            cell_commune=surface.cell_commune,
            cell_population=surface.cell_population,
            commune_codes=surface.commune_codes.astype("U"),
            meta=np.array(json.dumps(meta, default=str)),
        )
    os.replace(tmp, path)


def _load_cached(path: Path) -> PopulationSurface:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        return PopulationSurface(
            values=data["values"],
            transform=Affine(*meta["transform"]),
            crs=meta["crs"],
            cell_rows=data["cell_rows"],
            cell_cols=data["cell_cols"],
            cell_commune=data["cell_commune"],
            cell_population=data["cell_population"],
            commune_codes=data["commune_codes"].astype(str),
            method=meta["method"],
            provenance=meta["provenance"],
            cache_file=str(path),
        )
