"""geo.api.gouv.fr (API Découpage administratif): a département, its communes and EPCI.

Three requests per département: ``/departements/{code}`` (its name),
``/departements/{code}/communes?format=geojson&geometry=contour`` (communes
with contour, population, postcodes and EPCI) and ``/epcis?codeDepartement={code}``
(EPCI names and types). The API publishes no département contour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage._http import Download, Downloader
from coverage.errors import DataError
from coverage.sources.bundle import BundleWriter

SOURCE = "geo.api.gouv.fr"
_INSEE = re.compile(r"^(\d{5}|2[AB]\d{3})$")


@dataclass(frozen=True)
class GeoApiDownloads:
    """The three answers of geo.api.gouv.fr for a département (in the download cache)."""

    dep_name: str
    departement: Download
    communes: Download
    epcis: Download


def download_departement(
    dl: Downloader, bundle: BundleWriter, *, base_url: str, dep: str, force: bool
) -> GeoApiDownloads:
    """Download a département's name, communes (with contour) and EPCI from geo.api.gouv.fr.

    Parameters
    ----------
    dl
        The downloader (cache, retries).
    bundle
        Records the downloads for ``fetch.json``.
    base_url
        geo.api.gouv.fr base URL.
    dep
        Département code.
    force
        Download again even what is in the cache.

    Returns
    -------
    GeoApiDownloads

    Raises
    ------
    DataError
        The département is unknown to the API, or its answer has no name.
    OfflineError
        The API cannot be reached.
    """
    try:
        dep_download = bundle.downloaded(
            dl.download(
                f"{base_url}/departements/{dep}",
                params={"fields": "nom,code,codeRegion"},
                source=SOURCE,
                force=force,
                label=f"geo.api.gouv.fr département {dep}",
            )
        )
    except DataError:
        raise DataError(
            f"le département {dep} est inconnu de geo.api.gouv.fr "
            f"({base_url}/departements/{dep}) ; "
            "vérifiez --departement"
        ) from None
    dep_info = dep_download.read_json()
    dep_name = str(dep_info.get("nom", "")) if isinstance(dep_info, dict) else ""
    if not dep_name:
        dl.evict(dep_download)
        raise DataError(
            f"geo.api.gouv.fr n'a pas donné de nom pour le département {dep} à {dep_download.url}",
            field="nom",
        )
    communes_download = bundle.downloaded(
        dl.download(
            f"{base_url}/departements/{dep}/communes",
            params={
                "fields": "nom,code,codesPostaux,population,codeEpci",
                "format": "geojson",
                "geometry": "contour",
            },
            source=SOURCE,
            force=force,
            label=f"geo.api.gouv.fr communes {dep}",
        )
    )
    epci_download = bundle.downloaded(
        dl.download(
            f"{base_url}/epcis",
            params={"codeDepartement": dep, "fields": "nom,code,type,population"},
            source=SOURCE,
            force=force,
            label=f"geo.api.gouv.fr EPCI {dep}",
        )
    )
    return GeoApiDownloads(
        dep_name=dep_name,
        departement=dep_download,
        communes=communes_download,
        epcis=epci_download,
    )


def communes_from_geojson(data: Any, *, url: str, departement: str) -> gpd.GeoDataFrame:
    """Read geo.api.gouv.fr's communes of a département (GeoJSON, ``geometry=contour``).

    Parameters
    ----------
    data
        The parsed answer: a FeatureCollection whose features' properties hold
        ``code``, ``nom``, ``population``, ``codesPostaux`` (list) and ``codeEpci``.
    url
        Where it came from (for messages).
    departement
        The département code every commune code must start with.

    Returns
    -------
    geopandas.GeoDataFrame
        ``code``, ``nom``, ``population`` (int), ``codesPostaux`` (``;``-joined),
        ``codeEpci`` (``""`` when none), geometry (EPSG:4326).

    Raises
    ------
    DataError
        Not a FeatureCollection, no commune, or a commune without code, name,
        population or contour (the message names the row and the field).
    """
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise DataError(
            f"geo.api.gouv.fr n'a pas répondu par une FeatureCollection GeoJSON à {url}"
        )
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise DataError(
            f"geo.api.gouv.fr ne liste aucune commune pour le département {departement} à {url}"
        )
    rows: list[dict[str, Any]] = []
    geoms: list[Any] = []
    seen: set[str] = set()
    for position, feature in enumerate(features, start=1):
        props = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(props, dict):
            raise DataError(f"entité sans propriétés dans {url}", row=position)
        code = str(props.get("code") or "").strip()
        row = f"{position} (code={code})" if code else position
        if not _INSEE.match(code) or not code.startswith(departement):
            raise DataError(
                f"'{code}' n'est pas un code commune INSEE du département {departement} ({url})",
                row=row,
                field="code",
            )
        if code in seen:
            raise DataError(
                f"la commune {code} est listée deux fois ({url})", row=row, field="code"
            )
        seen.add(code)
        nom = str(props.get("nom") or "").strip()
        if not nom:
            raise DataError(f"la commune {code} n'a pas de nom ({url})", row=row, field="nom")
        population = props.get("population")
        if (
            isinstance(population, bool)
            or not isinstance(population, int | float)
            or not np.isfinite(population)
            or population < 0
            or population != int(population)
        ):
            raise DataError(
                f"la commune {code} n'a pas de population légale valide ({population!r}) ({url})",
                row=row,
                field="population",
            )
        geometry = feature.get("geometry")
        try:
            shape = shapely.geometry.shape(geometry) if geometry else None
        except (AttributeError, TypeError, ValueError, shapely.errors.GEOSException):
            shape = None
        if shape is None or shape.is_empty or shape.geom_type not in ("Polygon", "MultiPolygon"):
            raise DataError(
                f"la commune {code} n'a pas de polygone de contour ({url}) ; la requête "
                f"doit demander "
                "format=geojson&geometry=contour",
                row=row,
                field="geometry",
            )
        postcodes = props.get("codesPostaux") or []
        if isinstance(postcodes, str):
            postcodes = [postcodes]
        rows.append(
            {
                "code": code,
                "nom": nom,
                "population": int(population),
                "codesPostaux": ";".join(str(p) for p in postcodes),
                "codeEpci": str(props.get("codeEpci") or "").strip(),
            }
        )
        geoms.append(shape)
    return gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:4326")


def epcis_from_json(data: Any, *, url: str) -> pd.DataFrame:
    """Read geo.api.gouv.fr's ``/epcis`` answer (a JSON list of ``code``, ``nom``, ``type``...).

    Returns
    -------
    pandas.DataFrame
        ``code``, ``nom``, ``type``, ``population`` (may be missing: NaN).

    Raises
    ------
    DataError
        Not a list, or an EPCI without code or name.
    """
    if not isinstance(data, list):
        raise DataError(f"geo.api.gouv.fr /epcis n'a pas répondu par une liste JSON à {url}")
    rows = []
    for position, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise DataError(f"une entrée EPCI n'est pas un objet ({url})", row=position)
        code = str(item.get("code") or "").strip()
        nom = str(item.get("nom") or "").strip()
        if not code:
            raise DataError(f"EPCI sans code ({url})", row=position, field="code")
        if not nom:
            raise DataError(f"l'EPCI {code} n'a pas de nom ({url})", row=position, field="nom")
        population = item.get("population")
        rows.append(
            {
                "code": code,
                "nom": nom,
                "type": str(item.get("type") or ""),
                "population": population if isinstance(population, int | float) else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=["code", "nom", "type", "population"])
