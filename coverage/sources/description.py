"""The bundle's ``territory.toml``, written from what the sources gave, and its service lists.

The description names every layer file with its column mapping and provenance,
the split cantons of the COG, and the ``[population]`` and ``[services]``
settings of the repository's description when the territory is known (the
service lists it ships, e.g. ``services/tiers_lieux.csv``, are copied into the
bundle, whose own description then wins). Format: docs/territory-format.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from coverage import tomlio
from coverage.layers.config import TerritoryConfig
from coverage.sources.addresses import BAN_COLUMNS, BanResult
from coverage.sources.admin import AdminLayers
from coverage.sources.ages import AgesResult
from coverage.sources.bundle import WORKING_CRS, BundleWriter, now_utc
from coverage.sources.france_services import ServicesResult
from coverage.sources.neighbours import NeighboursResult
from coverage.sources.osm import RoadsResult
from coverage.tomlio import InlineTable


def copy_description_lists(
    repo_config: TerritoryConfig | None, bundle: BundleWriter
) -> dict[str, Any]:
    """Copy the service lists shipped with the repository's description into the bundle.

    The bundle's own ``territory.toml`` wins over the repository's, so the lists
    it names by a relative ``file`` (e.g. ``services/tiers_lieux.csv``) travel
    with it.
    """
    copied: dict[str, Any] = {}
    if repo_config is None:
        return copied
    base = repo_config.path.parent
    for key, spec in repo_config.services.sources.items():
        if spec.layer or not spec.file:
            continue
        relative = Path(spec.file)
        if relative.is_absolute():
            copied[key] = spec
            continue
        source = base / relative
        if not source.is_file():
            bundle.note(f"liste de services '{key}' ({source}) absente, non copiée")
            continue
        bundle.stage_copy(
            relative.as_posix(),
            source,
            layer=f"services.{key}",
            source=spec.source or f"description du dépôt ({repo_config.path.name})",
            licence=spec.licence,
            urls=[],
        )
        copied[key] = spec
    return copied


def territory_toml(
    *,
    name: str,
    label: str,
    departement: str,
    admin: AdminLayers,
    services: ServicesResult | None,
    ban: BanResult | None,
    roads: RoadsResult | None,
    repo_config: TerritoryConfig | None = None,
    copied_sources: dict[str, Any] | None = None,
    include_addresses: bool = True,
    neighbours: NeighboursResult | None = None,
    ages: AgesResult | None = None,
) -> str:
    """Write the bundle's ``territory.toml`` text (format: docs/territory-format.md).

    Column mappings match the files as fetched; ``[territory.split_cantons]``
    comes from the COG; provenance per layer; ``[population]`` and the
    ``[services]`` settings come from the repository's description when the
    territory is known. The text is written by :func:`coverage.tomlio.dumps`.
    """
    territory: dict[str, Any] = {
        "name": name,
        "label": label,
        "departement": departement,
        "crs": WORKING_CRS,
    }
    if admin.split_cantons:
        territory["split_cantons"] = {
            code: InlineTable(entry) for code, entry in admin.split_cantons.items()
        }
    layers: dict[str, Any] = {
        key: {
            "file": f"{key}_{name}.geojson",
            "crs": "EPSG:4326",
            **admin.provenance.get(key, {}),
            "columns": columns,
        }
        for key, columns in _ADMIN_COLUMNS.items()
    }
    if roads is not None:
        layers["roads"] = {
            "file": roads.file,
            "format": "graphml",
            **roads.provenance,
            "buffer_m": roads.buffer_m,
        }
    if ban is not None:
        layers["addresses"] = {
            "file": ban.file,
            "format": "ban",
            "crs": "EPSG:4326",
            **ban.provenance,
            "columns": dict(BAN_COLUMNS),
        }
    if services is not None:
        layers["france_services"] = {
            "file": services.file,
            "crs": "EPSG:4326",
            **services.provenance,
        }
    if neighbours is not None:
        layers["communes_voisines"] = {
            "file": neighbours.file,
            "crs": "EPSG:4326",
            **neighbours.provenance,
        }
    if ages is not None:
        layers["publics"] = {
            "file": ages.file,
            **ages.provenance,
            "year": ages.year,
            "publics": {
                key: {"label": label, "column": key} for key, (label, _) in ages.publics.items()
            },
        }
    population = repo_config.population if repo_config is not None else None
    document: dict[str, Any] = {
        "territory": territory,
        "layers": layers,
        "population": {
            "cell_size_m": population.cell_size_m if population else 200,
            "grid": population.grid if population else "",
            "weights": InlineTable(
                population.weights if population else {"base": 1.0, "roads": 4.0, "addresses": 1.0}
            ),
        },
    }
    if services is not None or copied_sources:
        document["services"] = _services_table(
            repo_config, services, copied_sources or {}, include_addresses=include_addresses
        )
    header = [
        f"Description du territoire écrite par `coverage fetch {name}` le {now_utc()}",
        "depuis les sources officielles. Chaque fichier, son URL et son SHA-256 : fetch.json.",
        "Format : docs/territory-format.md",
    ]
    return tomlio.dumps(_present(document), header=header)


_ADMIN_COLUMNS: dict[str, dict[str, str]] = {
    "communes": {
        "insee_code": "code",
        "name": "nom",
        "population": "population",
        "canton_code": "canton_code",
        "canton_name": "canton_nom",
        "epci_siren": "codeEpci",
        "epci_name": "epci_nom",
        "postcodes": "codesPostaux",
    },
    "cantons": {"canton_code": "canton_code", "canton_name": "canton_nom"},
    "epci": {"epci_siren": "epci_siren", "epci_name": "epci_nom", "epci_type": "epci_type"},
    "departement": {"code": "code", "name": "nom"},
}
"""Engine field -> column of the administrative layers as fetched."""


def _services_table(
    repo_config: TerritoryConfig | None,
    services: ServicesResult | None,
    copied_sources: dict[str, Any],
    *,
    include_addresses: bool,
) -> dict[str, Any]:
    """``[services]``: settings of the repository's description, the France services layer and
    the copied lists."""
    spec = repo_config.services if repo_config is not None else None
    geocoders = list(spec.geocoders) if spec is not None and spec.declared else ["local", "commune"]
    if not include_addresses:
        geocoders = [g for g in geocoders if g != "local"] or ["commune"]
    table: dict[str, Any] = {
        "max_distance_km": spec.max_distance_km if spec is not None else 40.0,
        "geocoders": geocoders,
    }
    if spec is not None and spec.kinds:
        table["kinds"] = dict(spec.kinds)
    sources: dict[str, Any] = {}
    if services is not None:
        sources["france_services"] = {
            "kind": "france_services",
            "layer": "france_services",
            "status": "open",
            "capacity": 1,
            "capacity_unit": "site",
            "columns": services.columns,
        }
    for key, source in copied_sources.items():
        sources[key] = {
            "kind": source.kind,
            "file": source.file,
            "status": source.status,
            "capacity": source.capacity,
            "capacity_unit": source.capacity_unit,
            "crs": source.crs or None,
            "source": source.source or None,
            "url": source.url or None,
            "licence": source.licence or None,
            "date": source.date or None,
            "columns": dict(source.columns) if source.columns else None,
        }
    if sources:
        table["sources"] = sources
    return table


def _present(value: Any) -> Any:
    """The same tables without their None values (optional fields left out of the file)."""
    if isinstance(value, dict):
        kept = {k: _present(v) for k, v in value.items() if v is not None}
        return InlineTable(kept) if isinstance(value, InlineTable) else kept
    return value
