"""The administrative layers of a département: geo.api.gouv.fr joined with the INSEE COG.

:func:`fetch_admin_layers` downloads both sources and :func:`build_admin_layers`
joins them: communes with their canton (or pseudo-canton, which becomes
``[territory.split_cantons]``) and EPCI, canton polygons dissolved from their
whole communes (the split communes left out), EPCI polygons dissolved from
their communes, and the département outline as the union of the communes
(geo.api.gouv.fr publishes none; the provenance says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage._http import Downloader
from coverage.errors import DataError
from coverage.settings import COG_URL_ENV, COG_YEAR_ENV
from coverage.sources.bundle import WORKING_CRS, BundleWriter, geojson_writer, latest, parsed
from coverage.sources.cog import download_cog, read_cog_cantons, read_cog_communes
from coverage.sources.geo_api import communes_from_geojson, download_departement, epcis_from_json

NO_EPCI = "ZZZZZZZZZ"
"""INSEE's code for communes that belong to no EPCI à fiscalité propre (islands)."""

LICENCE_ETALAB = "Licence Ouverte / Etalab"


@dataclass
class AdminLayers:
    """The administrative layers built from geo.api.gouv.fr and the INSEE COG (EPSG:4326).

    Attributes
    ----------
    communes
        ``code``, ``nom``, ``population``, ``codesPostaux`` (``;``-separated),
        ``codeEpci``, ``canton_code``, ``canton_nom``, ``epci_nom``, ``epci_type``.
    cantons
        ``canton_code``, ``canton_nom``, ``burcentral`` (bureau centralisateur).
    epci
        ``epci_siren``, ``epci_nom``, ``epci_type``, ``population_epci``.
    departement
        ``code``, ``nom``: the union of the communes.
    split_cantons
        Pseudo-canton code -> ``{"communes": [...], "cantons": [...], "label": ...}``.
    dep_name
        Name of the département.
    notes
        Remarks (outline dissolved from the communes, fallbacks used).
    provenance
        Layer key -> ``source``, ``url``, ``licence``, ``date``.
    """

    communes: gpd.GeoDataFrame
    cantons: gpd.GeoDataFrame
    epci: gpd.GeoDataFrame
    departement: gpd.GeoDataFrame
    split_cantons: dict[str, dict[str, Any]]
    dep_name: str
    notes: list[str] = field(default_factory=list)
    provenance: dict[str, dict[str, str]] = field(default_factory=dict)


def fetch_admin_layers(
    dl: Downloader,
    bundle: BundleWriter,
    *,
    geo_api_url: str,
    cog_url: str,
    cog_year: str,
    dep: str,
    force: bool,
) -> AdminLayers:
    """Download, check and join the administrative sources; stage the four layers.

    Parameters
    ----------
    dl
        The downloader.
    bundle
        Where the layers are staged (``communes_<name>.geojson``, ``cantons_``,
        ``epci_``, ``departement_``) and the downloads recorded.
    geo_api_url
        geo.api.gouv.fr base URL.
    cog_url, cog_year
        Folder of the INSEE COG files and their vintage.
    dep
        Département code.
    force
        Download again even what is in the cache.

    Returns
    -------
    AdminLayers
        The layers, with their provenance.

    Raises
    ------
    DataError
        An answer that cannot be used (the message names the URL, the row and
        the field); it is dropped from the cache.
    OfflineError
        A source cannot be reached.
    """
    geo = download_departement(dl, bundle, base_url=geo_api_url, dep=dep, force=force)
    dep_download, communes_download, epci_download = geo.departement, geo.communes, geo.epcis
    dep_name = geo.dep_name
    cog_commune_download, cog_canton_download = download_cog(
        dl, bundle, folder=cog_url, year=cog_year, force=force
    )
    communes = parsed(
        dl,
        communes_download,
        lambda d: communes_from_geojson(d.read_json(), url=d.url, departement=dep),
    )
    epcis = parsed(dl, epci_download, lambda d: epcis_from_json(d.read_json(), url=d.url))
    cog_communes = parsed(
        dl, cog_commune_download, lambda d: read_cog_communes(d.path, url=d.url, departement=dep)
    )
    cog_cantons = parsed(
        dl, cog_canton_download, lambda d: read_cog_cantons(d.path, url=d.url, departement=dep)
    )
    admin = build_admin_layers(
        communes,
        epcis,
        cog_communes,
        cog_cantons,
        departement=dep,
        dep_name=dep_name,
        communes_url=communes_download.url,
        cog_url=cog_commune_download.url,
    )
    geo_date = latest(dep_download, communes_download, epci_download)[:10]
    cog_date = latest(cog_commune_download, cog_canton_download)[:10]
    year = cog_year
    admin.provenance = {
        "communes": {
            "source": (
                "geo.api.gouv.fr (API Découpage administratif : contours IGN ADMIN EXPRESS, "
                "populations légales INSEE, EPCI DGCL) ; codes et noms des cantons "
                f"INSEE COG {year}"
            ),
            "url": communes_download.url,
            "licence": LICENCE_ETALAB,
            "date": geo_date,
        },
        "cantons": {
            "source": (
                f"INSEE COG {year} (fichier des cantons) ; contours : communes de "
                "geo.api.gouv.fr dissoutes par canton, communes réparties entre plusieurs "
                "cantons exclues"
            ),
            "url": cog_canton_download.url,
            "licence": LICENCE_ETALAB,
            "date": cog_date,
        },
        "epci": {
            "source": (
                "geo.api.gouv.fr (EPCI, DGCL) ; contours : communes du département "
                "dissoutes par EPCI"
            ),
            "url": epci_download.url,
            "licence": LICENCE_ETALAB,
            "date": geo_date,
        },
        "departement": {
            "source": (
                "geo.api.gouv.fr ne publie pas le contour des départements : union des "
                "contours des communes"
            ),
            "url": communes_download.url,
            "licence": LICENCE_ETALAB,
            "date": geo_date,
        },
    }
    name = bundle.name
    layers = (
        (
            "communes",
            admin.communes,
            [communes_download, epci_download, cog_commune_download, cog_canton_download],
        ),
        ("cantons", admin.cantons, [cog_canton_download, cog_commune_download, communes_download]),
        ("epci", admin.epci, [epci_download, communes_download]),
        ("departement", admin.departement, [dep_download, communes_download]),
    )
    for key, frame, used in layers:
        prov = admin.provenance[key]
        bundle.stage_with(
            f"{key}_{name}.geojson",
            geojson_writer(frame),
            layer=key,
            source=prov["source"],
            licence=prov["licence"],
            urls=[d.url for d in used],
            retrieved=latest(*used),
        )
    for note in admin.notes:
        bundle.note(note)
    return admin


def build_admin_layers(
    communes: gpd.GeoDataFrame,
    epcis: pd.DataFrame,
    cog_communes: pd.DataFrame,
    cog_cantons: pd.DataFrame,
    *,
    departement: str,
    dep_name: str,
    communes_url: str = "",
    cog_url: str = "",
) -> AdminLayers:
    """Join geo.api.gouv.fr's communes with the COG cantons and build the four layers.

    Parameters
    ----------
    communes
        From :func:`communes_from_geojson`.
    epcis
        From :func:`epcis_from_json`.
    cog_communes, cog_cantons
        From :func:`read_cog_communes` and :func:`read_cog_cantons`.
    departement, dep_name
        Code and name of the département.
    communes_url, cog_url
        Where the communes and the COG commune file came from (for messages).

    Returns
    -------
    AdminLayers

    Raises
    ------
    DataError
        A commune missing from the COG (older vintage than geo.api.gouv.fr), a
        pseudo-canton whose cantons cannot be found, an EPCI code unknown to
        ``/epcis``; the message names the commune (row) and the field.
    """
    notes: list[str] = []
    communes = communes.reset_index(drop=True).copy()
    can_of = dict(zip(cog_communes["COM"], cog_communes["CAN"], strict=True))
    canton_codes = []
    for position, (code, nom) in enumerate(zip(communes["code"], communes["nom"], strict=True)):
        can = can_of.get(code)
        if can is None:
            raise DataError(
                f"la commune {code} ({nom}) de geo.api.gouv.fr n'est pas dans le fichier "
                f"des communes "
                f"du COG INSEE {cog_url} : le millésime du COG est plus ancien que la géographie "
                f"de geo.api.gouv.fr ; réglez {COG_YEAR_ENV} (et {COG_URL_ENV}) sur un COG récent",
                row=f"{position + 1} (code={code})",
                field="CAN",
            )
        if not can:
            raise DataError(
                f"la commune {code} ({nom}) n'a pas de code canton dans le fichier des "
                f"communes du COG "
                f"INSEE {cog_url} ; le moteur demande un canton (ou pseudo-canton) par commune",
                row=f"{position + 1} (code={code})",
                field="CAN",
            )
        canton_codes.append(can)
    communes["canton_code"] = canton_codes

    real = cog_cantons[cog_cantons["TYPECT"] == "C"].set_index("CAN")
    split_codes = sorted(set(canton_codes) - set(real.index))
    split: dict[str, dict[str, Any]] = {}
    claimed: set[str] = set()
    for code in split_codes:
        members = communes.loc[communes["canton_code"] == code, ["code", "nom"]]
        member_codes = list(members["code"])
        cantons = sorted(real.index[real["BURCENTRAL"].isin(member_codes)])
        if not cantons:
            holding = real.index[~real["COMPCT"].isin(["", "1"])]
            cantons = sorted(c for c in holding if c not in claimed)
            if cantons:
                notes.append(
                    f"pseudo-canton {code} ({', '.join(member_codes)}) : aucun canton n'a "
                    "cette commune pour bureau centralisateur ; il représente les cantons "
                    f"formés de fractions de communes ({', '.join(cantons)}, d'après COMPCT)"
                )
        if not cantons:
            first = int(np.flatnonzero(communes["canton_code"].to_numpy() == code)[0])
            raise DataError(
                f"le code canton {code} de la commune {member_codes[0]} n'est ni un canton du "
                "fichier des cantons du COG INSEE ni un pseudo-canton dont on trouve les cantons "
                "(aucun canton n'a cette commune pour bureau centralisateur)",
                row=f"{first + 1} (code={member_codes[0]})",
                field="CAN",
            )
        claimed.update(cantons)
        names = [str(real.loc[c, "LIBELLE"]) for c in cantons]
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} et {names[-1]}"
        towns = " / ".join(members["nom"])
        plural = "communes réparties" if len(member_codes) > 1 else "commune répartie"
        split[code] = {
            "communes": member_codes,
            "cantons": cantons,
            "label": f"{towns} ({plural} entre {listed})",
        }
    communes["canton_nom"] = [
        split[c]["label"] if c in split else str(real.loc[c, "LIBELLE"])
        for c in communes["canton_code"]
    ]

    # EPCI
    epci_by_code = epcis.drop_duplicates("code").set_index("code")
    no_epci = communes["codeEpci"] == ""
    if no_epci.any():
        communes.loc[no_epci, "codeEpci"] = NO_EPCI
        notes.append(
            f"{int(no_epci.sum())} commune(s) sans EPCI à fiscalité propre ("
            f"{', '.join(communes.loc[no_epci, 'code'])}) : code INSEE {NO_EPCI}"
        )
    names_by_code: dict[str, str] = {NO_EPCI: "Sans EPCI à fiscalité propre"}
    types_by_code: dict[str, str] = {NO_EPCI: ""}
    for code in communes["codeEpci"].unique():
        if code == NO_EPCI:
            continue
        if code not in epci_by_code.index:
            first = int(np.flatnonzero(communes["codeEpci"].to_numpy() == code)[0])
            raise DataError(
                f"l'EPCI {code} de la commune {communes['code'].iloc[first]} n'est pas dans "
                "la réponse /epcis de geo.api.gouv.fr pour le département",
                row=f"{first + 1} (code={communes['code'].iloc[first]})",
                field="codeEpci",
            )
        names_by_code[code] = str(epci_by_code.loc[code, "nom"])
        types_by_code[code] = str(epci_by_code.loc[code, "type"])
    communes["epci_nom"] = communes["codeEpci"].map(names_by_code)
    communes["epci_type"] = communes["codeEpci"].map(types_by_code)

    # geometry: valid polygons, dissolved in Lambert-93
    communes["geometry"] = [_polygonal(g) for g in shapely.make_valid(communes.geometry.values)]
    metric = communes.to_crs(WORKING_CRS)
    geoms = np.array([_polygonal(g) for g in shapely.make_valid(metric.geometry.values)])
    canton_rows, canton_geoms = [], []
    for code, row in real.iterrows():
        whole = geoms[communes["canton_code"].to_numpy() == code]
        if len(whole) == 0:
            parts = [
                geoms[communes["code"].to_numpy() == c]
                for s in split.values()
                if code in s["cantons"]
                for c in s["communes"]
            ]
            whole = np.concatenate(parts) if parts else whole
            if len(whole) == 0:
                notes.append(f"canton {code} ({row['LIBELLE']}) sans commune : non dessiné")
                continue
            notes.append(
                f"canton {code} ({row['LIBELLE']}) sans commune entière : son contour est "
                "celui de la commune répartie qu'il partage"
            )
        canton_rows.append(
            {"canton_code": code, "canton_nom": row["LIBELLE"], "burcentral": row["BURCENTRAL"]}
        )
        canton_geoms.append(shapely.union_all(whole))
    cantons = gpd.GeoDataFrame(canton_rows, geometry=canton_geoms, crs=WORKING_CRS)

    epci_rows, epci_geoms = [], []
    for code in sorted(communes["codeEpci"].unique()):
        population = epci_by_code.loc[code, "population"] if code in epci_by_code.index else None
        epci_rows.append(
            {
                "epci_siren": code,
                "epci_nom": names_by_code[code],
                "epci_type": types_by_code[code],
                "population_epci": (
                    int(population) if population is not None and np.isfinite(population) else None
                ),
            }
        )
        epci_geoms.append(shapely.union_all(geoms[communes["codeEpci"].to_numpy() == code]))
    epci = gpd.GeoDataFrame(epci_rows, geometry=epci_geoms, crs=WORKING_CRS)

    outline = shapely.union_all(geoms)
    dep_frame = gpd.GeoDataFrame(
        [{"code": departement, "nom": dep_name}], geometry=[outline], crs=WORKING_CRS
    )
    notes.append(
        "contour du département = union des contours des communes "
        "(geo.api.gouv.fr ne publie pas le contour des départements)"
    )
    columns = [
        "code",
        "nom",
        "population",
        "codesPostaux",
        "canton_code",
        "canton_nom",
        "codeEpci",
        "epci_nom",
        "epci_type",
        "geometry",
    ]
    return AdminLayers(
        communes=gpd.GeoDataFrame(communes[columns], geometry="geometry", crs="EPSG:4326"),
        cantons=cantons.to_crs("EPSG:4326"),
        epci=epci.to_crs("EPSG:4326"),
        departement=dep_frame.to_crs("EPSG:4326"),
        split_cantons=split,
        dep_name=dep_name,
        notes=notes,
    )


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else geom
