"""The ``coverage population`` job: the population surface (inhabitants per cell), cached."""

from __future__ import annotations

import warnings
from pathlib import Path

from coverage.layers.population import PopulationSurface, population_surface
from coverage.layers.territory import load_territory
from coverage.progress import Progress, silent


def build_population(
    territory: str = "gers",
    *,
    data_dir: str | Path | None = None,
    cell_size_m: float | None = None,
    use_cache: bool = True,
    output: str | Path | None = None,
    progress: Progress | None = None,
) -> tuple[PopulationSurface, list[str]]:
    """Build (or read from the cache) the population surface; optionally write a GeoTIFF.

    Returns
    -------
    tuple
        The surface and the warnings raised while loading (French text).

    Raises
    ------
    coverage.errors.CoverageError
        Unknown territory, missing or bad bundle, bad cell size.
    """
    say = progress or silent
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        say("Chargement du territoire")
        loaded = load_territory(territory, data_dir=data_dir)
        say("Surface de population")
        surface = population_surface(loaded, cell_size_m=cell_size_m, use_cache=use_cache)
    if output is not None:
        say("Écriture du GeoTIFF")
        surface.to_geotiff(output)
    return surface, [str(w.message) for w in caught]
