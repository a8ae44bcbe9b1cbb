"""One bundle cut into several territories, one per EPCI (offline test and benchmark data).

A région or a national run is many territories; offline, the only real
territory we hold is the Gers. :func:`split_territory` writes, from a bundle, one
bundle per EPCI (intercommunalité) of its communes, each a complete territory
that ``coverage run`` loads like any other:

- ``communes``, ``cantons``, ``epci`` and ``departement`` are rewritten with the
  EPCI's communes only (the cantons that hold them, the EPCI itself, and an
  outline made of the union of its communes);
- every other layer (roads, addresses, France services, a population grid) and
  every service list points to the original file, by absolute path, so that
  nothing large is copied: trips still cross the EPCI's border and services
  outside it still count, exactly as for the département;
- ``[territory.split_cantons]`` entries are kept for the EPCI that holds their
  communes.

Part ``<territory>-<siren>`` is written to ``<dest>/<territory>-<siren>/``; ``dest``
is then a parent folder for ``--data`` (one sub-folder per territory).
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
import shapely

from coverage.errors import ConfigError
from coverage.layers.config import DESCRIPTION_FILE, find_territory_description
from coverage.settings import resolve_data_dir
from coverage.tomlio import dumps

_REWRITTEN = ("communes", "cantons", "epci", "departement")


@dataclass(frozen=True)
class TerritoryPart:
    """One territory written by :func:`split_territory`.

    Attributes
    ----------
    name
        Territory name (``gers-200066926``).
    label
        French label (the EPCI's name).
    bundle
        Its bundle folder.
    communes
        Number of communes.
    population
        Sum of the communes' populations.
    """

    name: str
    label: str
    bundle: Path
    communes: int
    population: int


def split_territory(
    territory: str,
    dest: str | Path,
    *,
    data_dir: str | Path | None = None,
    only: Sequence[str] | None = None,
) -> list[TerritoryPart]:
    """Write one bundle per EPCI of ``territory`` under ``dest`` (see the module docstring).

    Parameters
    ----------
    territory
        Name of the territory to cut (``gers``).
    dest
        Parent folder of the new bundles (created if needed).
    data_dir
        The territory's bundle (``--data``), as for :func:`coverage.layers.load_territory`.
    only
        SIREN codes of the EPCI to write (all by default), in the order given.

    Returns
    -------
    list of TerritoryPart
        In SIREN order (or the order of ``only``).

    Raises
    ------
    ConfigError
        A SIREN of ``only`` that no commune carries (the message lists the known ones).
    """
    bundle, _origin = resolve_data_dir(territory, data_dir)
    description = find_territory_description(territory, bundle)
    raw = tomllib.loads(description.read_text("utf-8"))
    layers = raw["layers"]
    communes = _read(bundle, layers["communes"])
    epci_column = layers["communes"]["columns"]["epci_siren"]
    canton_column = layers["communes"]["columns"]["canton_code"]
    code_column = layers["communes"]["columns"]["insee_code"]
    pop_column = layers["communes"]["columns"]["population"]
    sirens = communes[epci_column].astype(str).str.strip()
    known = sorted(set(sirens))
    chosen = list(only) if only is not None else known
    unknown = [s for s in chosen if s not in known]
    if unknown:
        raise ConfigError(
            f"EPCI inconnu(s) dans {territory} : {', '.join(unknown)} (connus : {', '.join(known)})"
        )
    cantons = _read(bundle, layers["cantons"])
    epcis = _read(bundle, layers["epci"])
    departement = _read(bundle, layers["departement"])
    out_root = Path(dest)
    parts = []
    for siren in chosen:
        mine = communes[sirens == siren]
        name = f"{raw['territory']['name']}-{siren}"
        folder = out_root / name
        folder.mkdir(parents=True, exist_ok=True)
        epci_row = epcis[
            epcis[layers["epci"]["columns"]["epci_siren"]].astype(str).str.strip() == siren
        ]
        label = (
            str(epci_row[layers["epci"]["columns"]["epci_name"]].iloc[0]) if len(epci_row) else name
        )
        codes = set(mine[code_column].astype(str))
        split = {
            key: entry
            for key, entry in (raw["territory"].get("split_cantons") or {}).items()
            if set(entry.get("communes", [])) <= codes
        }
        canton_codes = set(mine[canton_column].astype(str).str.strip())
        for entry in split.values():
            canton_codes |= set(entry["cantons"])
        canton_key = layers["cantons"]["columns"]["canton_code"]
        outline = departement.iloc[[0]].copy()
        outline = outline.set_geometry(
            [shapely.union_all(mine.geometry.to_numpy())], crs=departement.crs
        )
        dep_columns = layers["departement"]["columns"]
        outline[dep_columns["name"]] = f"{raw['territory']['label']} — {label}"
        frames = {
            "communes": mine,
            "cantons": cantons[cantons[canton_key].astype(str).str.strip().isin(canton_codes)],
            "epci": epci_row,
            "departement": outline,
        }
        for key, frame in frames.items():
            frame.to_file(folder / f"{key}.geojson", driver="GeoJSON")
        config = _part_description(raw, description.parent, bundle, name, label, split)
        (folder / DESCRIPTION_FILE).write_text(
            dumps(
                config, header=f"Territoire {label}, découpé de {territory} (coverage.layers.split)"
            ),
            "utf-8",
        )
        parts.append(
            TerritoryPart(
                name=name,
                label=label,
                bundle=folder,
                communes=len(mine),
                population=int(mine[pop_column].astype("int64").sum()),
            )
        )
    return parts


def _read(bundle: Path, layer: dict[str, Any]) -> gpd.GeoDataFrame:
    frame = pyogrio.read_dataframe(bundle / layer["file"])
    if frame.crs is None and layer.get("crs"):
        frame = frame.set_crs(layer["crs"])
    return frame


def _part_description(
    raw: dict[str, Any],
    description_dir: Path,
    bundle: Path,
    name: str,
    label: str,
    split: dict[str, Any],
) -> dict[str, Any]:
    """The part's ``territory.toml``: its own four layers, absolute paths to the rest."""
    config = copy.deepcopy(raw)
    head = config["territory"]
    head["name"] = name
    head["label"] = label
    if split:
        head["split_cantons"] = split
    else:
        head.pop("split_cantons", None)
    for key, layer in config["layers"].items():
        if key in _REWRITTEN:
            layer["crs"] = _crs_of(layer, bundle)
            layer["file"] = f"{key}.geojson"
        elif layer.get("file"):
            layer["file"] = str((bundle / layer["file"]).resolve())
    population = config.get("population") or {}
    if population.get("grid"):
        population["grid"] = str((bundle / population["grid"]).resolve())
    for source in (config.get("services") or {}).get("sources", {}).values():
        if source.get("file") and not Path(source["file"]).is_absolute():
            source["file"] = str((description_dir / source["file"]).resolve())
    return config


def _crs_of(layer: dict[str, Any], bundle: Path) -> str:
    """The CRS the rewritten file carries (the source file's, else the one the layer assumed)."""
    crs = pyogrio.read_info(bundle / layer["file"]).get("crs")
    return str(crs or layer.get("crs") or "EPSG:4326")
