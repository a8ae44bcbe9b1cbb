"""Read a territory's roads as plain line geometries (for weighting population, not routing)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio

from coverage.errors import DataError
from coverage.layers.config import LayerSpec
from coverage.layers.readers import layer_path


def read_road_lines(spec: LayerSpec, bundle_dir: Path, *, crs: str) -> gpd.GeoSeries:
    """Return the road centre lines of a roads layer in ``crs``.

    OSM XML and PBF files are read through GDAL's OSM driver (``lines`` layer,
    ways with a ``highway`` tag); GraphML through osmnx; any other vector file
    through pyogrio.

    Parameters
    ----------
    spec
        The roads layer (``format`` may be ``osm_xml``, ``pbf``, ``graphml``).
    bundle_dir
        Bundle directory.
    crs
        Target CRS.

    Returns
    -------
    geopandas.GeoSeries
        Line geometries.

    Raises
    ------
    DataError
        If the file cannot be read.
    """
    path = layer_path(spec, bundle_dir)
    name = path.name.lower()
    try:
        if spec.format == "graphml" or name.endswith(".graphml"):
            import osmnx

            graph = osmnx.load_graphml(path)
            edges = osmnx.graph_to_gdfs(graph, nodes=False)
            lines = edges.geometry
        elif spec.format in ("osm_xml", "pbf") or name.endswith((".osm", ".osm.pbf", ".pbf")):
            frame = pyogrio.read_dataframe(path, layer="lines", columns=["highway"])
            lines = frame.loc[frame["highway"].notna()].geometry
        else:
            lines = pyogrio.read_dataframe(path).geometry
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"impossible de lire les lignes de routes : {exc}", path=path) from None
    if lines.crs is None:
        lines = lines.set_crs(spec.crs or "EPSG:4326")
    return lines.to_crs(crs)
