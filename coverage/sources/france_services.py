"""France services: the ANCT list on data.gouv.fr, kept for a département and its surroundings.

The dataset "Liste des structures France services" is read through the
data.gouv.fr API (:mod:`coverage.sources.datagouv`); its latest CSV with
coordinates gives the sites of the département and those within a radius of its
outline (flag ``in_<territory>``), written as GeoJSON with the published columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage._http import Downloader
from coverage.errors import DataError
from coverage.sources.bundle import WORKING_CRS, BundleWriter, geojson_writer, latest, parsed
from coverage.sources.datagouv import (
    SOURCE,
    csv_resources,
    download_dataset,
    find_column,
    licence_name,
    read_csv_table,
)

_LAT_NAMES = ("latitude", "lat", "y_latitude", "coord_y")

_LON_NAMES = ("longitude", "lon", "lng", "long", "x_longitude", "coord_x")

_DEP_NAMES = ("insee_dep", "code_departement", "code_dep", "departement", "dep")

_COMMUNE_NAMES = ("insee_com", "code_insee", "code_commune", "insee")

_SERVICE_FIELDS = {
    "service_id": ("id_fs", "id", "identifiant"),
    "name": ("lib_fs", "nom", "libelle", "nom_france_services"),
    "address": ("adresse",),
    "postcode": ("code_postal", "cp"),
    "insee_code": ("insee_com", "code_insee", "code_commune"),
    "city": ("lib_com", "commune", "nom_commune"),
}


@dataclass
class ServicesResult:
    """The France services layer written to the bundle."""

    file: str
    columns: dict[str, str]
    flag: str
    n_sites: int
    n_inside: int
    provenance: dict[str, str]


def fetch_france_services(
    dl: Downloader,
    bundle: BundleWriter,
    *,
    api_url: str,
    dataset: str,
    outline_2154: shapely.Geometry,
    radius_m: float,
    force: bool,
) -> ServicesResult:
    """Download the France services list from data.gouv.fr and stage its GeoJSON layer.

    The dataset's latest CSV resource with latitude/longitude columns is used
    (older CSVs or tables without coordinates are skipped); the sites of the
    département and those within ``radius_m`` of its outline are kept.

    Parameters
    ----------
    dl
        The downloader.
    bundle
        Where ``france_services_<name>.geojson`` is staged.
    api_url, dataset
        data.gouv.fr API base URL and the dataset (slug or id).
    outline_2154
        The département outline, EPSG:2154.
    radius_m
        Sites outside the département are kept up to this distance, metres.
    force
        Download again even what is in the cache.

    Returns
    -------
    ServicesResult

    Raises
    ------
    DataError
        The dataset has no CSV resource with coordinates.
    """
    info, meta_download = download_dataset(
        dl, bundle, api_url=api_url, dataset=dataset, force=force
    )
    dataset_url = meta_download.url
    candidates = csv_resources(info)
    if not candidates:
        dl.evict(meta_download)
        raise DataError(
            f"le jeu de données data.gouv.fr {dataset} n'a pas de ressource CSV ({dataset_url})",
            field="resources",
        )
    tried = []
    for resource in candidates:
        download = bundle.downloaded(
            dl.download(
                str(resource["url"]),
                source=SOURCE,
                force=force,
                label=f"France services ({resource.get('title') or 'CSV'})",
            )
        )
        table = parsed(dl, download, lambda d: read_csv_table(d.path, url=d.url))
        if find_column(table.columns, _LAT_NAMES) and find_column(table.columns, _LON_NAMES):
            break
        tried.append(str(resource.get("title") or resource["url"]))
    else:
        raise DataError(
            f"aucune ressource CSV du jeu de données data.gouv.fr {dataset} n'a de "
            f"colonnes latitude/longitude (essayées : {'; '.join(tried)})",
            field="latitude",
        )
    flag = f"in_{bundle.name.replace('-', '_')}"
    frame, columns = select_france_services(
        table,
        url=download.url,
        outline_2154=outline_2154,
        departement=bundle.departement,
        radius_m=radius_m,
        flag=flag,
    )
    organisation = info.get("organization") or {}
    org_name = organisation.get("name", "") if isinstance(organisation, dict) else ""
    title = str(info.get("title") or "Liste des structures France services")
    licence = licence_name(str(info.get("license") or ""))
    resource_date = str(resource.get("last_modified") or "")[:10]
    provenance = {
        "source": (
            f"{org_name + ', ' if org_name else ''}{title} (data.gouv.fr, ressource "
            f"« {resource.get('title') or resource['url']} » du {resource_date or '?'}) ; "
            f"sites du département et à moins de {radius_m / 1000:g} km de son contour"
        ),
        "url": str(info.get("page") or dataset_url),
        "licence": licence,
        "date": resource_date or download.retrieved[:10],
    }
    file = f"france_services_{bundle.name}.geojson"
    bundle.stage_with(
        file,
        geojson_writer(frame),
        layer="france_services",
        source=provenance["source"],
        licence=licence,
        urls=[download.url, meta_download.url],
        retrieved=latest(download, meta_download),
    )
    n_inside = int(frame[flag].sum())
    return ServicesResult(
        file=file,
        columns=columns,
        flag=flag,
        n_sites=len(frame),
        n_inside=n_inside,
        provenance=provenance,
    )


def select_france_services(
    table: pd.DataFrame,
    *,
    url: str,
    outline_2154: shapely.Geometry,
    departement: str,
    radius_m: float,
    flag: str,
) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    """Keep the France services sites of a département and those near its outline.

    A site is kept when its département (``insee_dep``, or the start of its
    commune code) is the territory's, or when its position lies within
    ``radius_m`` of the outline. Rows of the département without coordinates
    are kept (without geometry: the service catalogue geocodes them).

    Parameters
    ----------
    table
        The published list, every column as text.
    url
        Where it came from (for messages).
    outline_2154
        The département outline, EPSG:2154.
    departement
        Département code.
    radius_m
        Distance kept around the outline, metres.
    flag
        Name of the boolean column added: the site is in the département.

    Returns
    -------
    tuple of (geopandas.GeoDataFrame, dict)
        The kept sites (published columns, latitude/longitude as numbers, the
        flag, Point geometry in EPSG:4326) and the engine's service fields
        mapped to their columns (``service_id``, ``name``, ``lon``, ``lat``...).

    Raises
    ------
    DataError
        No latitude or longitude column (the message lists the columns).
    """
    lat_col = find_column(table.columns, _LAT_NAMES)
    lon_col = find_column(table.columns, _LON_NAMES)
    if lat_col is None or lon_col is None:
        raise DataError(
            f"la liste France services n'a pas de colonne latitude/longitude ; elle a "
            f"{', '.join(map(str, table.columns))} ({url})",
            field="latitude" if lat_col is None else "longitude",
        )
    table = table.reset_index(drop=True)
    lat = pd.to_numeric(table[lat_col].str.replace(",", ".").str.strip(), errors="coerce")
    lon = pd.to_numeric(table[lon_col].str.replace(",", ".").str.strip(), errors="coerce")
    located = lat.notna() & lon.notna() & lat.between(-90, 90) & lon.between(-180, 180)
    located = located.to_numpy()
    points = gpd.GeoSeries(
        gpd.points_from_xy(lon.where(located, 0.0), lat.where(located, 0.0)), crs="EPSG:4326"
    )
    metric = points.to_crs(WORKING_CRS).values
    near = np.zeros(len(table), dtype=bool)
    near[located] = shapely.dwithin(outline_2154, metric[located], radius_m)
    dep_col = find_column(table.columns, _DEP_NAMES)
    com_col = find_column(table.columns, _COMMUNE_NAMES)
    if dep_col is not None:
        inside = table[dep_col].str.strip().str.upper().str.zfill(2) == departement
    elif com_col is not None:
        inside = table[com_col].str.strip().str.upper().str.startswith(departement)
    else:
        inside = pd.Series(np.zeros(len(table), dtype=bool))
        inside[located] = shapely.contains(outline_2154, metric[located])
    inside = inside.to_numpy(dtype=bool)
    keep = inside | near
    out = table.loc[keep].copy()
    out = out.replace({"": None})
    out[lat_col] = lat[keep]
    out[lon_col] = lon[keep]
    out[flag] = inside[keep]
    geometry = [
        shapely.Point(x, y) if ok else None
        for x, y, ok in zip(lon[keep], lat[keep], located[keep], strict=True)
    ]
    frame = gpd.GeoDataFrame(out.reset_index(drop=True), geometry=geometry, crs="EPSG:4326")
    columns = {
        key: column
        for key, names in _SERVICE_FIELDS.items()
        if (column := find_column(table.columns, names)) is not None
    }
    columns["lon"] = lon_col
    columns["lat"] = lat_col
    return frame, columns
