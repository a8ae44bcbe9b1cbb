"""Parse a territory description (``territory.toml``) into typed settings.

The format is documented in ``docs/territory-format.md``. A description is looked
up first inside the data bundle (a bundle made by ``coverage fetch`` carries its
own), then in the folders of :func:`coverage.settings.territory_description_dirs`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coverage.errors import ConfigError, TerritoryNotFoundError
from coverage.settings import territory_description_dirs

DESCRIPTION_FILE = "territory.toml"

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "communes": (
        "insee_code",
        "name",
        "population",
        "canton_code",
        "canton_name",
        "epci_siren",
        "epci_name",
    ),
    "cantons": ("canton_code", "canton_name"),
    "epci": ("epci_siren", "epci_name"),
    "departement": ("code", "name"),
}
"""Engine field names each administrative layer must map to a column."""

OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "communes": ("postcodes", "point_lon", "point_lat"),
    "cantons": (),
    "epci": ("epci_type",),
    "departement": (),
}


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a territory: where it is, how to read it, where it comes from.

    Attributes
    ----------
    name
        Layer key (``communes``, ``cantons``, ``epci``, ``departement``, ``roads``...).
    file
        File name relative to the bundle directory.
    columns
        Mapping engine field -> column name in the file.
    crs
        CRS to assume when the file declares none (e.g. a CSV of lon/lat).
    format
        Reader hint (``osm_xml``, ``pbf``, ``graphml``, ``bano``, ``ban``...), or ``""``.
    source, url, licence, date
        Provenance, reported with every result.
    options
        Any other key of the layer table (e.g. ``detour_factor`` for roads).
    """

    name: str
    file: str
    columns: dict[str, str] = field(default_factory=dict)
    crs: str = ""
    format: str = ""
    source: str = ""
    url: str = ""
    licence: str = ""
    date: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    def provenance(self) -> dict[str, str]:
        """Return the layer's provenance as a plain dict."""
        return {
            "file": self.file,
            "source": self.source,
            "url": self.url,
            "licence": self.licence,
            "date": self.date,
        }


@dataclass(frozen=True)
class SplitCanton:
    """A pseudo-canton code carried by communes shared between several cantons (Auch: 3299)."""

    code: str
    communes: tuple[str, ...]
    cantons: tuple[str, ...]
    label: str


@dataclass(frozen=True)
class PopulationSpec:
    """How the population surface is built.

    Attributes
    ----------
    cell_size_m
        Raster cell size in metres (EPSG:2154).
    grid
        Optional population grid file (GeoTIFF, or INSEE Filosofi squares as
        vector cells), relative to the bundle; ``""`` when absent.
    grid_column
        Population column of a vector grid (Filosofi: ``ind``).
    weights
        Weights of the dasymetric spreading: ``base`` (every cell), ``roads``
        (per 200 m of road in the cell), ``addresses`` (per address point).
    """

    cell_size_m: float = 200.0
    grid: str = ""
    grid_column: str = "ind"
    weights: dict[str, float] = field(
        default_factory=lambda: {"base": 1.0, "roads": 0.0, "addresses": 0.0}
    )


BUILTIN_SERVICE_KINDS: dict[str, str] = {
    "mds": "Maison départementale des solidarités",
    "tiers_lieu": "Tiers-lieu solidaire",
    "france_services": "France services",
    "health_centre": "Centre de santé",
    "saad": "Service d'aide et d'accompagnement à domicile",
}
"""Service kinds every territory knows (key -> French label); others go in ``[services.kinds]``."""

SERVICE_STATUSES: tuple[str, ...] = ("open", "planned", "closed")

SERVICE_FIELDS: tuple[str, ...] = (
    "service_id",
    "kind",
    "name",
    "address",
    "housenumber",
    "street",
    "postcode",
    "insee_code",
    "city",
    "lon",
    "lat",
    "status",
    "capacity",
    "capacity_unit",
    "source",
    "geocode_quality",
    "geocode_score",
    "geocode_backend",
)
"""Engine fields a service source may map to its columns (``[services.sources.<key>.columns]``)."""


@dataclass(frozen=True)
class ServiceSourceSpec:
    """One list of service points of the catalogue (``[services.sources.<key>]``).

    Attributes
    ----------
    key
        Source key (``france_services``, ``tiers_lieux``...).
    kind
        Service kind of its rows (a row's own ``kind`` column, when mapped, wins).
    layer
        A ``[layers.<key>]`` whose file (in the data bundle) holds the list, or ``""``.
    file
        Otherwise a file relative to the folder of ``territory.toml`` (lists
        shipped with the description), or an absolute path.
    columns
        Engine field -> column of the file (see :data:`SERVICE_FIELDS`).
    status, capacity, capacity_unit
        Defaults for rows that do not give them.
    crs
        CRS of coordinates read from ``lon``/``lat`` columns when not WGS84.
    source, url, licence, date
        Provenance (the layer's when ``layer`` is used and these are empty).
    """

    key: str
    kind: str
    layer: str = ""
    file: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    status: str = "open"
    capacity: float = 1.0
    capacity_unit: str = "site"
    crs: str = ""
    source: str = ""
    url: str = ""
    licence: str = ""
    date: str = ""


@dataclass(frozen=True)
class ServicesSpec:
    """The service catalogue of a territory (``[services]``).

    Attributes
    ----------
    max_distance_km
        Service points farther than this from the territory are refused
        (services just over the border count for coverage and are kept).
    geocoders
        Geocoding backends, in order, for rows without coordinates.
    kinds
        Custom kinds of the territory (key -> label), beside the built-in ones.
    sources
        The lists making up the catalogue, by key.
    declared
        False when the description has no ``[services]`` table (defaults apply).
    """

    max_distance_km: float = 40.0
    geocoders: tuple[str, ...] = ("local", "commune")
    kinds: dict[str, str] = field(default_factory=dict)
    sources: dict[str, ServiceSourceSpec] = field(default_factory=dict)
    declared: bool = False

    def all_kinds(self) -> dict[str, str]:
        """Built-in and custom kinds, key -> label."""
        return {**BUILTIN_SERVICE_KINDS, **self.kinds}


@dataclass(frozen=True)
class TerritoryConfig:
    """A parsed ``territory.toml``.

    Attributes
    ----------
    name, label, departement
        Identity of the territory.
    crs
        Working CRS (always a metric CRS; EPSG:2154 in metropolitan France).
    layers
        Layer specifications by key.
    split_cantons
        Pseudo-canton codes of communes split between cantons.
    population
        Population surface settings.
    path
        The description file it was read from.
    services
        Service catalogue settings (``[services]``).
    """

    name: str
    label: str
    departement: str
    crs: str
    layers: dict[str, LayerSpec]
    split_cantons: dict[str, SplitCanton]
    population: PopulationSpec
    path: Path
    services: ServicesSpec = field(default_factory=ServicesSpec)

    def layer(self, key: str) -> LayerSpec:
        """Return a layer's specification.

        Raises
        ------
        ConfigError
            If the territory does not declare that layer.
        """
        try:
            return self.layers[key]
        except KeyError:
            raise ConfigError(
                f"{self.path} : le territoire '{self.name}' ne déclare pas de table [layers.{key}]"
            ) from None


def find_territory_description(territory: str, data_dir: Path | None = None) -> Path:
    """Locate the ``territory.toml`` of a territory.

    Parameters
    ----------
    territory
        Territory name (folder name under ``data/geo``).
    data_dir
        Bundle directory; a ``territory.toml`` inside it wins.

    Returns
    -------
    Path

    Raises
    ------
    TerritoryNotFoundError
        If no description exists; the message lists the known territories.
    """
    if data_dir is not None and (data_dir / DESCRIPTION_FILE).is_file():
        return data_dir / DESCRIPTION_FILE
    for folder in territory_description_dirs():
        candidate = folder / territory / DESCRIPTION_FILE
        if candidate.is_file():
            return candidate
    known = ", ".join(known_territories()) or "aucun"
    raise TerritoryNotFoundError(
        f"territoire inconnu '{territory}' (connus : {known}) ; "
        f"lancez 'coverage fetch {territory}' ou ajoutez data/geo/{territory}/{DESCRIPTION_FILE}"
    )


def known_territories() -> list[str]:
    """Return the names of the territories described in the repository or package."""
    names: set[str] = set()
    for folder in territory_description_dirs():
        names.update(p.parent.name for p in folder.glob(f"*/{DESCRIPTION_FILE}"))
    return sorted(names)


def load_territory_config(path: str | Path) -> TerritoryConfig:
    """Read and check a ``territory.toml``.

    Parameters
    ----------
    path
        Path of the description file.

    Returns
    -------
    TerritoryConfig

    Raises
    ------
    ConfigError
        If the file is not valid TOML, or a required table, key or column
        mapping is missing; the message names the file and the key.
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} : description du territoire introuvable") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} : TOML invalide ({exc})") from None

    head = raw.get("territory")
    if not isinstance(head, dict):
        raise ConfigError(f"{path} : table [territory] manquante")
    for key in ("name", "departement"):
        if not head.get(key):
            raise ConfigError(f"{path} : [territory] demande '{key}'")

    layers_raw = raw.get("layers")
    if not isinstance(layers_raw, dict) or not layers_raw:
        raise ConfigError(f"{path} : tables [layers.*] manquantes")
    layers: dict[str, LayerSpec] = {}
    for key, table in layers_raw.items():
        layers[key] = _parse_layer(path, key, table)
    for key, required in REQUIRED_COLUMNS.items():
        if key not in layers:
            raise ConfigError(f"{path} : table [layers.{key}] manquante")
        missing = [f for f in required if f not in layers[key].columns]
        if missing:
            raise ConfigError(
                f"{path} : [layers.{key}.columns] doit associer {', '.join(missing)} à une colonne"
            )

    split: dict[str, SplitCanton] = {}
    for code, entry in (head.get("split_cantons") or {}).items():
        if not isinstance(entry, dict) or not entry.get("cantons"):
            raise ConfigError(
                f"{path} : [territory.split_cantons] '{code}' demande une liste 'cantons'"
            )
        split[str(code)] = SplitCanton(
            code=str(code),
            communes=tuple(str(c) for c in entry.get("communes", [])),
            cantons=tuple(str(c) for c in entry["cantons"]),
            label=str(entry.get("label", code)),
        )

    pop_raw = raw.get("population") or {}
    weights = {"base": 1.0, "roads": 0.0, "addresses": 0.0}
    for key, value in (pop_raw.get("weights") or {}).items():
        if key not in weights:
            raise ConfigError(
                f"{path} : [population.weights] clé inconnue '{key}' (clés possibles : "
                f"base, roads, addresses)"
            )
        if not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{path} : [population.weights] '{key}' doit être un nombre >= 0")
        weights[key] = float(value)
    cell = pop_raw.get("cell_size_m", 200)
    if not isinstance(cell, int | float) or not 10 <= cell <= 5000:
        raise ConfigError(
            f"{path} : [population] cell_size_m doit être compris entre 10 et 5000 mètres"
        )
    population = PopulationSpec(
        cell_size_m=float(cell),
        grid=str(pop_raw.get("grid", "")),
        grid_column=str(pop_raw.get("grid_column", "ind")),
        weights=weights,
    )
    return TerritoryConfig(
        name=str(head["name"]),
        label=str(head.get("label", head["name"])),
        departement=str(head["departement"]),
        crs=str(head.get("crs", "EPSG:2154")),
        layers=layers,
        split_cantons=split,
        population=population,
        path=path,
        services=_parse_services(path, raw.get("services"), layers),
    )


_LAYER_KEYS = {"file", "columns", "crs", "format", "source", "url", "licence", "date"}


def _parse_layer(path: Path, key: str, table: Any) -> LayerSpec:
    if not isinstance(table, dict):
        raise ConfigError(f"{path} : [layers.{key}] doit être une table")
    if not table.get("file"):
        raise ConfigError(f"{path} : [layers.{key}] demande 'file'")
    columns = table.get("columns") or {}
    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        raise ConfigError(
            f"{path} : [layers.{key}.columns] doit associer des noms de "
            f"champs à des noms de colonnes"
        )
    return LayerSpec(
        name=key,
        file=str(table["file"]),
        columns=dict(columns),
        crs=str(table.get("crs", "")),
        format=str(table.get("format", "")),
        source=str(table.get("source", "")),
        url=str(table.get("url", "")),
        licence=str(table.get("licence", "")),
        date=str(table.get("date", "")),
        options={k: v for k, v in table.items() if k not in _LAYER_KEYS},
    )


_KIND_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_SERVICES_KEYS = {"max_distance_km", "geocoders", "kinds", "sources"}
_SOURCE_KEYS = {
    "kind",
    "layer",
    "file",
    "columns",
    "status",
    "capacity",
    "capacity_unit",
    "crs",
    "source",
    "url",
    "licence",
    "date",
}
_GEOCODERS = ("local", "ban", "commune")


def _parse_services(path: Path, table: Any, layers: dict[str, LayerSpec]) -> ServicesSpec:
    """Parse ``[services]``, ``[services.kinds]`` and ``[services.sources.<key>]``."""
    if table is None:
        return ServicesSpec()
    if not isinstance(table, dict):
        raise ConfigError(f"{path} : [services] doit être une table")
    unknown = sorted(set(table) - _SERVICES_KEYS)
    if unknown:
        raise ConfigError(
            f"{path} : [services] clé(s) inconnue(s) {', '.join(unknown)} "
            f"(clés possibles : {', '.join(sorted(_SERVICES_KEYS))})"
        )
    distance = table.get("max_distance_km", 40.0)
    if isinstance(distance, bool) or not isinstance(distance, int | float) or distance < 0:
        raise ConfigError(f"{path} : [services] max_distance_km doit être un nombre de km >= 0")
    geocoders = table.get("geocoders", ["local", "commune"])
    if (
        not isinstance(geocoders, list)
        or not geocoders
        or any(g not in _GEOCODERS for g in geocoders)
    ):
        raise ConfigError(
            f"{path} : [services] geocoders doit être une liste parmi {', '.join(_GEOCODERS)}"
        )
    kinds_raw = table.get("kinds") or {}
    if not isinstance(kinds_raw, dict):
        raise ConfigError(f"{path} : [services.kinds] doit associer une clé de type à son libellé")
    kinds: dict[str, str] = {}
    for key, label in kinds_raw.items():
        if not _KIND_KEY.match(key):
            raise ConfigError(
                f"{path} : [services.kinds] '{key}' n'est pas une clé de type valide "
                "(lettres minuscules, chiffres et _, par ex. point_conseil_budget)"
            )
        if key in BUILTIN_SERVICE_KINDS:
            raise ConfigError(f"{path} : [services.kinds] '{key}' est déjà un type prédéfini")
        if not isinstance(label, str) or not label.strip():
            raise ConfigError(f"{path} : [services.kinds] '{key}' demande un libellé (texte)")
        kinds[key] = label
    all_kinds = {**BUILTIN_SERVICE_KINDS, **kinds}
    sources_raw = table.get("sources") or {}
    if not isinstance(sources_raw, dict):
        raise ConfigError(f"{path} : [services.sources] doit contenir une table par liste")
    sources = {
        key: _parse_service_source(path, key, entry, layers, all_kinds)
        for key, entry in sources_raw.items()
    }
    return ServicesSpec(
        max_distance_km=float(distance),
        geocoders=tuple(geocoders),
        kinds=kinds,
        sources=sources,
        declared=True,
    )


def _parse_service_source(
    path: Path, key: str, entry: Any, layers: dict[str, LayerSpec], kinds: dict[str, str]
) -> ServiceSourceSpec:
    where = f"{path}: [services.sources.{key}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} doit être une table")
    unknown = sorted(set(entry) - _SOURCE_KEYS)
    if unknown:
        raise ConfigError(f"{where} clé(s) inconnue(s) {', '.join(unknown)}")
    kind = entry.get("kind", "")
    if kind not in kinds:
        raise ConfigError(
            f"{where} type '{kind}' n'est pas un type de service connu ({', '.join(kinds)}) ; "
            "déclarez les types personnalisés dans [services.kinds]"
        )
    layer, file = str(entry.get("layer", "")), str(entry.get("file", ""))
    if bool(layer) == bool(file):
        raise ConfigError(
            f"{where} demande soit 'layer' (une clé [layers.*]) soit 'file', pas les deux"
        )
    if layer and layer not in layers:
        raise ConfigError(f"{where} la couche '{layer}' n'est pas déclarée dans [layers.{layer}]")
    columns = entry.get("columns") or {}
    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        raise ConfigError(
            f"{where}.columns doit associer des noms de champs à des noms de colonnes"
        )
    bad = sorted(set(columns) - set(SERVICE_FIELDS))
    if bad:
        raise ConfigError(
            f"{where}.columns champ(s) inconnu(s) {', '.join(bad)} (champs possibles : "
            f"{', '.join(SERVICE_FIELDS)})"
        )
    status = entry.get("status", "open")
    if status not in SERVICE_STATUSES:
        raise ConfigError(f"{where} status doit valoir l'un de {', '.join(SERVICE_STATUSES)}")
    capacity = entry.get("capacity", 1.0)
    if isinstance(capacity, bool) or not isinstance(capacity, int | float) or capacity < 0:
        raise ConfigError(f"{where} capacity doit être un nombre >= 0")
    spec = layers.get(layer) if layer else None
    return ServiceSourceSpec(
        key=key,
        kind=kind,
        layer=layer,
        file=file,
        columns=dict(columns),
        status=status,
        capacity=float(capacity),
        capacity_unit=str(entry.get("capacity_unit", "site")),
        crs=str(entry.get("crs", "") or (spec.crs if spec else "")),
        source=str(entry.get("source", "") or (spec.source if spec else "")),
        url=str(entry.get("url", "") or (spec.url if spec else "")),
        licence=str(entry.get("licence", "") or (spec.licence if spec else "")),
        date=str(entry.get("date", "") or (spec.date if spec else "")),
    )
