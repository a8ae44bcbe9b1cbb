"""The Territory: communes, cantons, EPCI and département outline, loaded and cross-checked.

``load_territory("gers", data_dir=...)`` reads the layers named by the
territory's ``territory.toml`` through their column mappings and returns a
:class:`Territory` whose frames are all in EPSG:2154 with the engine's field
names:

- ``communes``: insee_code (str), name, population (int), canton_code,
  canton_name, epci_siren, epci_name, postcodes, point_x/point_y (the
  representative point, metres), geometry (polygon);
- ``cantons``: canton_code, canton_name, n_communes, population, geometry;
- ``epci``: epci_siren, epci_name, epci_type, n_communes, population, geometry;
- ``departement``: code, name, geometry.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage._french import plural
from coverage.errors import DataError
from coverage.layers.config import (
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    TerritoryConfig,
    find_territory_description,
    load_territory_config,
)
from coverage.layers.readers import DataWarning, read_vector_layer, row_label
from coverage.settings import resolve_data_dir

INSEE_CODE = re.compile(r"^(\d{5}|2[AB]\d{3})$")
OUTSIDE_TOLERANCE_M = 1000.0
"""Distance beyond which a commune's point is refused as outside the département outline."""


@dataclass
class Territory:
    """A territory's administrative layers in EPSG:2154.

    Attributes
    ----------
    config
        The parsed ``territory.toml``.
    data_dir
        The bundle directory the layers were read from.
    data_dir_origin
        How the directory was chosen (``--data``, the environment variable...).
    communes, cantons, epci, departement
        GeoDataFrames (see the module docstring for their columns).
    repairs
        Messages of the repairs made while loading (also emitted as warnings).
    """

    config: TerritoryConfig
    data_dir: Path
    data_dir_origin: str
    communes: gpd.GeoDataFrame
    cantons: gpd.GeoDataFrame
    epci: gpd.GeoDataFrame
    departement: gpd.GeoDataFrame
    repairs: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """Territory name (e.g. ``gers``)."""
        return self.config.name

    @property
    def crs(self) -> str:
        """Working CRS."""
        return self.config.crs

    @property
    def population(self) -> int:
        """Total population of the communes."""
        return int(self.communes["population"].sum())

    @property
    def outline(self) -> shapely.Geometry:
        """The département outline (one polygon, EPSG:2154)."""
        return shapely.union_all(self.departement.geometry.values)

    def commune_points(self) -> gpd.GeoDataFrame:
        """Return the communes' representative points as a point GeoDataFrame."""
        points = gpd.points_from_xy(self.communes["point_x"], self.communes["point_y"])
        frame = self.communes.drop(columns="geometry")
        return gpd.GeoDataFrame(frame, geometry=points, crs=self.crs)

    def layer_status(self) -> dict[str, dict[str, Any]]:
        """Return, for each declared layer, whether its file is present and its provenance."""
        status = {}
        for key, spec in self.config.layers.items():
            path = self.data_dir / spec.file
            status[key] = {
                "present": path.is_file(),
                "path": str(path),
                **spec.provenance(),
            }
        return status

    def summary(self) -> dict[str, Any]:
        """Return the figures ``coverage info`` prints (communes, population, cantons...)."""
        split = [
            {
                "code": s.code,
                "label": s.label,
                "communes": list(s.communes),
                "cantons": list(s.cantons),
                "population": int(
                    self.communes.loc[self.communes["canton_code"] == s.code, "population"].sum()
                ),
            }
            for s in self.config.split_cantons.values()
        ]
        return {
            "territory": self.name,
            "label": self.config.label,
            "departement": self.config.departement,
            "communes": len(self.communes),
            "population": self.population,
            "cantons": len(self.cantons),
            "split_cantons": split,
            "epci": len(self.epci),
            "crs": self.crs,
            "data_dir": str(self.data_dir),
            "data_dir_origin": self.data_dir_origin,
            "description": str(self.config.path),
            "layers": self.layer_status(),
            "repairs": list(self.repairs),
        }


def load_territory(territory: str = "gers", *, data_dir: str | Path | None = None) -> Territory:
    """Load a territory's administrative layers.

    Parameters
    ----------
    territory
        Territory name (``gers``), as in ``data/geo/<name>/territory.toml``.
    data_dir
        Bundle directory (or a parent holding ``<name>/``); defaults to
        ``$COVERAGE_DATA_DIR``, then the user data directory.

    Returns
    -------
    Territory

    Raises
    ------
    DataError
        For any problem in the data, naming the file, row and field.
    TerritoryNotFoundError
        If the territory is not described anywhere.
    """
    bundle, origin = resolve_data_dir(territory, data_dir)
    if not bundle.is_dir():
        raise DataError(
            f"aucun lot de données pour '{territory}' (choisi par {origin}) ; lancez "
            f"'coverage fetch {territory}' avec une connexion, ou passez --data DOSSIER "
            f"vers un lot",
            path=bundle,
        )
    config = load_territory_config(find_territory_description(territory, bundle))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        departement = read_vector_layer(
            config.layer("departement"),
            bundle,
            target_crs=config.crs,
            required=REQUIRED_COLUMNS["departement"],
        )
        communes = _load_communes(config, bundle, departement)
        cantons = _load_cantons(config, bundle, communes)
        epci = _load_epci(config, bundle, communes)
    repairs = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    departement["code"] = departement["code"].astype(str)
    return Territory(
        config=config,
        data_dir=bundle,
        data_dir_origin=origin,
        communes=communes,
        cantons=cantons,
        epci=epci,
        departement=departement,
        repairs=repairs,
    )


def _load_communes(
    config: TerritoryConfig, bundle: Path, departement: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    spec = config.layer("communes")
    path = bundle / spec.file
    frame = read_vector_layer(
        spec,
        bundle,
        target_crs=config.crs,
        required=REQUIRED_COLUMNS["communes"],
        optional=OPTIONAL_COLUMNS["communes"],
        id_field="insee_code",
    )
    frame = frame.reset_index(drop=True)
    frame["insee_code"] = _insee_codes(frame["insee_code"], path)
    frame["population"] = _populations(frame, path)
    for column in ("name", "canton_code", "canton_name", "epci_siren", "epci_name"):
        _require_text(frame, column, path, spec.columns[column])
    frame["canton_code"] = frame["canton_code"].astype(str).str.strip()
    frame["epci_siren"] = frame["epci_siren"].astype(str).str.strip()
    if "postcodes" not in frame.columns:
        frame["postcodes"] = ""
    frame["postcodes"] = frame["postcodes"].fillna("").astype(str)

    dupes = frame["insee_code"].duplicated(keep=False)
    if dupes.any():
        codes = sorted(frame.loc[dupes, "insee_code"].unique())
        first = int(np.flatnonzero(dupes)[1])
        raise DataError(
            f"code(s) INSEE en double {', '.join(codes)} : chaque commune doit figurer une "
            f"seule fois",
            path=path,
            row=row_label(frame, first, "insee_code"),
            field=spec.columns["insee_code"],
        )

    dep = config.departement
    wrong = ~frame["insee_code"].str.startswith(dep)
    if wrong.any():
        first = int(np.flatnonzero(wrong)[0])
        raise DataError(
            f"la commune {frame['insee_code'].iloc[first]} n'est pas dans le département {dep} "
            f"(les codes INSEE du territoire commencent par {dep})",
            path=path,
            row=row_label(frame, first, "insee_code"),
            field=spec.columns["insee_code"],
        )

    frame = _representative_points(frame, spec.columns, path, config.crs)
    outline = shapely.union_all(departement.geometry.values)
    points = shapely.points(frame["point_x"].to_numpy(), frame["point_y"].to_numpy())
    distance = shapely.distance(outline, points)
    outside = distance > OUTSIDE_TOLERANCE_M
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        raise DataError(
            f"la commune {frame['insee_code'].iloc[first]} est à "
            f"{float(distance[first]) / 1000:.1f} km "
            f"hors du contour du département ({config.layer('departement').file})",
            path=path,
            row=row_label(frame, first, "insee_code"),
            field="geometry",
        )
    columns = [
        "insee_code",
        "name",
        "population",
        "canton_code",
        "canton_name",
        "epci_siren",
        "epci_name",
        "postcodes",
        "point_x",
        "point_y",
        "geometry",
    ]
    return gpd.GeoDataFrame(frame[columns], geometry="geometry", crs=config.crs)


def _insee_codes(values: pd.Series, path: Path) -> pd.Series:
    """INSEE codes as 5-character strings; integers lost their leading zero and are repaired."""
    out = []
    repaired = 0
    for position, value in enumerate(values):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            raise DataError("code INSEE manquant", path=path, row=position + 1, field="insee_code")
        if isinstance(value, int | np.integer | float | np.floating):
            text = f"{int(value):05d}"
            repaired += 1
        else:
            text = str(value).strip()
            if text.isdigit() and len(text) < 5:
                text = text.zfill(5)
                repaired += 1
        if not INSEE_CODE.match(text):
            raise DataError(
                f"'{value}' n'est pas un code commune INSEE (5 caractères, par ex. \"32013\")",
                path=path,
                row=position + 1,
                field="insee_code",
            )
        out.append(text)
    if repaired:
        warnings.warn(
            f"{path} : {plural(repaired, 'code INSEE lu', 'codes INSEE lus')} comme nombre(s) "
            "et complété(s) par des zéros à 5 caractères",
            DataWarning,
            stacklevel=4,
        )
    return pd.Series(out, index=values.index, dtype=object)


def _populations(frame: pd.DataFrame, path: Path) -> pd.Series:
    """Populations as non-negative integers; a missing or negative value is an error."""
    raw = pd.to_numeric(frame["population"], errors="coerce")
    bad = raw.isna() | (raw < 0)
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        value = frame["population"].iloc[first]
        reason = "manquante" if pd.isna(raw.iloc[first]) else "négative"
        raise DataError(
            f"population {reason} ('{value}') ; donnez la population légale INSEE (>= 0)",
            path=path,
            row=row_label(frame, first, "insee_code"),
            field="population",
        )
    if not np.allclose(raw, np.round(raw)):
        first = int(np.flatnonzero(~np.isclose(raw, np.round(raw)))[0])
        raise DataError(
            f"la population {raw.iloc[first]} n'est pas un nombre entier",
            path=path,
            row=row_label(frame, first, "insee_code"),
            field="population",
        )
    return raw.round().astype(np.int64)


def _require_text(frame: pd.DataFrame, column: str, path: Path, source_column: str) -> None:
    values = frame[column]
    bad = values.isna() | (values.astype(str).str.strip() == "")
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"valeur vide pour '{column}'",
            path=path,
            row=row_label(frame, first, "insee_code"),
            field=source_column,
        )


def _representative_points(
    frame: gpd.GeoDataFrame, columns: dict[str, str], path: Path, crs: str
) -> gpd.GeoDataFrame:
    """Representative point: the mapped lon/lat when given, else one inside the polygon."""
    computed = shapely.point_on_surface(frame.geometry.values)
    x = shapely.get_x(computed)
    y = shapely.get_y(computed)
    if "point_lon" in frame.columns and "point_lat" in frame.columns:
        lon = pd.to_numeric(frame["point_lon"], errors="coerce").to_numpy()
        lat = pd.to_numeric(frame["point_lat"], errors="coerce").to_numpy()
        given = np.isfinite(lon) & np.isfinite(lat)
        if given.any():
            pts = gpd.GeoSeries(gpd.points_from_xy(lon[given], lat[given]), crs="EPSG:4326")
            pts = pts.to_crs(crs)
            x[given] = pts.x.to_numpy()
            y[given] = pts.y.to_numpy()
            # a given point must fall inside (or on the edge of) its commune
            inside = shapely.dwithin(
                frame.geometry.values[given], shapely.points(x[given], y[given]), 50.0
            )
            if not inside.all():
                first = int(np.flatnonzero(given)[np.flatnonzero(~inside)[0]])
                raise DataError(
                    "le point représentatif est hors du polygone de la commune "
                    "(lon/lat inversées ou mauvaise commune ?)",
                    path=path,
                    row=row_label(frame, first, "insee_code"),
                    field=columns.get("point_lon", "point_lon"),
                )
    frame = frame.drop(columns=[c for c in ("point_lon", "point_lat") if c in frame.columns])
    frame["point_x"] = x
    frame["point_y"] = y
    return frame


def _load_cantons(
    config: TerritoryConfig, bundle: Path, communes: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    spec = config.layer("cantons")
    path = bundle / spec.file
    frame = read_vector_layer(
        spec,
        bundle,
        target_crs=config.crs,
        required=REQUIRED_COLUMNS["cantons"],
        id_field="canton_code",
    )
    frame["canton_code"] = frame["canton_code"].astype(str).str.strip()
    dupes = frame["canton_code"].duplicated()
    if dupes.any():
        raise DataError(
            f"code canton en double {frame.loc[dupes, 'canton_code'].iloc[0]}",
            path=path,
            row=int(np.flatnonzero(dupes.to_numpy())[0]) + 1,
            field=spec.columns["canton_code"],
        )
    known = set(frame["canton_code"])
    for code, split in config.split_cantons.items():
        missing = [c for c in split.cantons if c not in known]
        if missing:
            raise DataError(
                f"[territory.split_cantons] '{code}' cite des cantons {', '.join(missing)} "
                "absents de la couche des cantons",
                path=config.path,
            )
    unknown = ~communes["canton_code"].isin(known | set(config.split_cantons))
    if unknown.any():
        first = int(np.flatnonzero(unknown.to_numpy())[0])
        raise DataError(
            f"le code canton {communes['canton_code'].iloc[first]} n'est ni dans la couche "
            f"des cantons "
            f"({spec.file}) ni déclaré dans [territory.split_cantons]",
            path=bundle / config.layer("communes").file,
            row=row_label(communes, first, "insee_code"),
            field=config.layer("communes").columns["canton_code"],
        )
    stats = communes.groupby("canton_code")["population"].agg(["size", "sum"])
    frame["n_communes"] = frame["canton_code"].map(stats["size"]).fillna(0).astype(int)
    frame["population"] = frame["canton_code"].map(stats["sum"]).fillna(0).astype(np.int64)
    return frame[["canton_code", "canton_name", "n_communes", "population", "geometry"]]


def _load_epci(
    config: TerritoryConfig, bundle: Path, communes: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    spec = config.layer("epci")
    path = bundle / spec.file
    frame = read_vector_layer(
        spec,
        bundle,
        target_crs=config.crs,
        required=REQUIRED_COLUMNS["epci"],
        optional=OPTIONAL_COLUMNS["epci"],
        id_field="epci_siren",
    )
    frame["epci_siren"] = frame["epci_siren"].astype(str).str.strip()
    if "epci_type" not in frame.columns:
        frame["epci_type"] = ""
    dupes = frame["epci_siren"].duplicated()
    if dupes.any():
        raise DataError(
            f"SIREN d'EPCI en double {frame.loc[dupes, 'epci_siren'].iloc[0]}",
            path=path,
            row=int(np.flatnonzero(dupes.to_numpy())[0]) + 1,
            field=spec.columns["epci_siren"],
        )
    unknown = ~communes["epci_siren"].isin(set(frame["epci_siren"]))
    if unknown.any():
        first = int(np.flatnonzero(unknown.to_numpy())[0])
        raise DataError(
            f"l'EPCI {communes['epci_siren'].iloc[first]} n'est pas dans la couche des EPCI "
            f"({spec.file})",
            path=bundle / config.layer("communes").file,
            row=row_label(communes, first, "insee_code"),
            field=config.layer("communes").columns["epci_siren"],
        )
    stats = communes.groupby("epci_siren")["population"].agg(["size", "sum"])
    frame["n_communes"] = frame["epci_siren"].map(stats["size"]).fillna(0).astype(int)
    frame["population"] = frame["epci_siren"].map(stats["sum"]).fillna(0).astype(np.int64)
    return frame[["epci_siren", "epci_name", "epci_type", "n_communes", "population", "geometry"]]
