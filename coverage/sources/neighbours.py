"""geo.api.gouv.fr: the communes over the border, the demand of the 2SFCA health accessibility.

One request, ``/communes?fields=nom,code,population,centre,codeDepartement&format=json``
(every commune of France with its centre, about 35 000 rows), filtered to the
communes of the other départements whose centre lies within ``radius_m`` of
the outline. Written as ``communes_voisines_<name>.csv`` (``insee_code``,
``name``, ``population``, ``point_lon``, ``point_lat``, ``departement``), read
back by :func:`coverage.layers.health.read_neighbour_communes`.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyproj
import shapely

from coverage._http import Downloader
from coverage.errors import DataError
from coverage.sources.admin import LICENCE_ETALAB
from coverage.sources.bundle import WORKING_CRS, BundleWriter

SOURCE = "geo.api.gouv.fr"
COLUMNS = ("insee_code", "name", "population", "point_lon", "point_lat", "departement")


@dataclass(frozen=True)
class NeighboursResult:
    """The neighbouring communes written to the bundle."""

    file: str
    n_communes: int
    population: int
    provenance: dict[str, str]


def neighbours_from_json(
    data: Any, *, url: str, departement: str, outline_2154: shapely.Geometry, radius_m: float
) -> list[dict[str, Any]]:
    """The communes of other départements whose centre lies within ``radius_m`` of the outline.

    Raises
    ------
    DataError
        An answer that is not a list of communes, a row without code, population
        or centre (naming the URL, the row and the field).
    """
    if not isinstance(data, list):
        raise DataError(f"geo.api.gouv.fr a répondu {type(data).__name__}, pas une liste", path=url)
    to_l93 = pyproj.Transformer.from_crs("EPSG:4326", WORKING_CRS, always_xy=True)
    zone = shapely.buffer(outline_2154, radius_m)
    shapely.prepare(zone)
    rows = []
    for i, item in enumerate(data, 1):
        if not isinstance(item, dict):
            raise DataError("une commune n'est pas un objet", path=url, row=i)
        code = str(item.get("code") or "").strip()
        if not code:
            raise DataError("commune sans code", path=url, row=i, field="code")
        dep = str(item.get("codeDepartement") or code[:2])
        if dep == departement:
            continue
        centre = item.get("centre") or {}
        coords = centre.get("coordinates") if isinstance(centre, dict) else None
        if not (isinstance(coords, list) and len(coords) == 2):
            raise DataError(f"commune {code} sans centre", path=url, row=i, field="centre")
        lon, lat = float(coords[0]), float(coords[1])
        population = item.get("population")
        if population is None:
            population = 0  # the API leaves out the population of a few communes déléguées
        if (
            not isinstance(population, int | float)
            or not math.isfinite(population)
            or population < 0
        ):
            raise DataError(
                f"commune {code} : population invalide {population!r}",
                path=url,
                row=i,
                field="population",
            )
        x, y = to_l93.transform(lon, lat)
        if not zone.contains(shapely.Point(x, y)):
            continue
        rows.append(
            {
                "insee_code": code,
                "name": str(item.get("nom") or ""),
                "population": int(population),
                "point_lon": f"{lon:.6f}",
                "point_lat": f"{lat:.6f}",
                "departement": dep,
            }
        )
    rows.sort(key=lambda r: r["insee_code"])
    return rows


def fetch_neighbour_communes(
    dl: Downloader,
    bundle: BundleWriter,
    *,
    base_url: str,
    dep: str,
    outline_2154: shapely.Geometry,
    radius_m: float,
    force: bool,
) -> NeighboursResult:
    """Download the communes over the border and stage ``communes_voisines_<name>.csv``.

    Raises
    ------
    OfflineError
        geo.api.gouv.fr cannot be reached.
    DataError
        Its answer cannot be used.
    """
    download = bundle.downloaded(
        dl.download(
            f"{base_url}/communes",
            params={"fields": "nom,code,population,centre,codeDepartement", "format": "json"},
            source=SOURCE,
            force=force,
            label="geo.api.gouv.fr communes voisines",
        )
    )
    rows = neighbours_from_json(
        download.read_json(),
        url=download.url,
        departement=dep,
        outline_2154=outline_2154,
        radius_m=radius_m,
    )
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    file = f"communes_voisines_{bundle.name}.csv"
    provenance = {
        "source": (
            f"geo.api.gouv.fr (API Découpage administratif) : communes des autres départements "
            f"dont le centre est à moins de {radius_m / 1000:g} km du contour"
        ),
        "url": download.url,
        "licence": LICENCE_ETALAB,
        "date": download.retrieved[:10],
    }
    bundle.stage_text(
        file,
        buffer.getvalue(),
        layer="communes_voisines",
        source=provenance["source"],
        licence=LICENCE_ETALAB,
        urls=[download.url],
        retrieved=download.retrieved,
    )
    population = int(np.sum([r["population"] for r in rows])) if rows else 0
    return NeighboursResult(
        file=file, n_communes=len(rows), population=population, provenance=provenance
    )
