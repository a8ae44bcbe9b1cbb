"""The publics of a territory: named groups of people counted per commune (age bands, households).

A territory declares them in one CSV layer of its bundle, ``[layers.publics]``
(docs/territory-format.md): a column ``insee_code`` then one column per public,
and one table per public saying what it counts::

    [layers.publics]
    file = "publics_gers.csv"
    source = "INSEE, recensement de la population"
    licence = "Licence Ouverte 2.0"

    [layers.publics.publics.age_75_plus]
    label = "Personnes de 75 ans ou plus"
    year = 2021                 # source, licence, url: the layer's unless given
    column = "P21_POP75P"       # default: the key

The former ``[layers.ages]`` (age bands of the 2SFCA, one column per band, no
table per band) is read by the same reader: each of its columns is a public
named and labelled by its column. Rows may also hold the neighbouring
communes of ``[layers.communes_voisines]`` (the 2SFCA's demand over the
border).

Checks at the boundary, every error naming the file, the commune and the
column: a value that is not a number >= 0; a commune that is neither in the
territory nor among its neighbours; a commune given twice; a public larger
than its commune's population (both figures named). A commune of the
territory without a value (no row, or an empty cell) is *missing*: it is never
counted as zero; using that public raises an error listing those communes
(:meth:`PublicsTable.commune_counts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coverage.csvio import number_column, read_table
from coverage.errors import DataError, QueryError
from coverage.layers.config import LayerSpec
from coverage.layers.health import read_neighbour_communes
from coverage.layers.population import PopulationSurface, grid_values
from coverage.layers.territory import Territory

PUBLICS_LAYER = "publics"
"""Layer key of the publics."""

AGES_LAYER = "ages"
"""Former layer key of the 2SFCA's age bands, read as a publics layer."""

ALL_INHABITANTS = "population"
"""Name of the default public: every inhabitant (the communes' legal population)."""

ALL_INHABITANTS_LABEL = "Population"

POPULATION_TOLERANCE = 1e-6
"""A public may exceed its commune's population by this many persons (float rounding)."""

_SHOWN = 10
"""Communes named in an error listing many."""


@dataclass(frozen=True)
class Public:
    """One public: what it counts and where the figures come from.

    Attributes
    ----------
    key
        Name used in scenarios and the API (``age_75_plus``).
    label
        French label for tables, maps and messages (``Personnes de 75 ans ou plus``).
    column
        Column of the layer's file ("" for a public read from a grid).
    source, year, licence, url
        Provenance (the layer's when the public gives none).
    grid, grid_column
        A public counted per grid square (INSEE Filosofi 200 m, any GeoTIFF or
        vector squares): the grid file (relative to the bundle) and its column;
        ``""`` for a public counted per commune.
    """

    key: str
    label: str
    column: str
    source: str = ""
    year: str = ""
    licence: str = ""
    url: str = ""
    grid: str = ""
    grid_column: str = ""

    def describe(self) -> dict[str, str]:
        """The public as plain data (for ``summary.json`` and the API)."""
        out = {
            "name": self.key,
            "label": self.label,
            "source": self.source,
            "year": self.year,
            "licence": self.licence,
            "url": self.url,
        }
        if self.grid:
            out["grid"] = self.grid
            out["grid_column"] = self.grid_column
        return out


@dataclass(frozen=True)
class PublicsTable:
    """Counts of every public per commune, as the layer gives them.

    Attributes
    ----------
    publics
        The publics by key, in the layer's order.
    counts
        Index ``insee_code`` (the territory's communes first, in their order,
        then the neighbours the file holds), one float column per public key;
        NaN where the file gives no value.
    territory_codes
        The territory's INSEE codes, in the order of ``Territory.communes``.
    layer
        The layer key read (``publics`` or ``ages``).
    file
        The file read (relative to the bundle).
    """

    publics: dict[str, Public]
    counts: pd.DataFrame
    territory_codes: tuple[str, ...]
    layer: str
    file: str

    def public(self, key: str) -> Public:
        """The public named ``key``.

        Raises
        ------
        QueryError
            For an unknown name, listing the known ones.
        """
        if key not in self.publics:
            raise QueryError(unknown_public_message(key, self.publics))
        return self.publics[key]

    def missing(self, key: str) -> list[str]:
        """INSEE codes of the territory's communes that have no value for ``key``."""
        if key not in self.counts.columns:  # a grid public: no commune is missing
            return []
        values = self.counts.loc[list(self.territory_codes), key]
        return [str(code) for code in values.index[values.isna()]]

    def commune_counts(self, key: str) -> np.ndarray:
        """The public per commune of the territory (order of ``Territory.communes``).

        Raises
        ------
        QueryError
            Unknown public.
        DataError
            Communes without a value, listed (never counted as zero).
        """
        public = self.public(key)
        if public.grid:
            raise QueryError(
                f"le public '{key}' est compté par carreau ({public.grid}) : ses effectifs par "
                "commune viennent de la surface de population (grid_public_counts)"
            )
        missing = self.missing(key)
        if missing:
            shown = ", ".join(missing[:_SHOWN]) + (" ..." if len(missing) > _SHOWN else "")
            raise DataError(
                f"couche '{self.layer}' : le public '{key}' ({public.label}) n'a pas de valeur "
                f"pour {len(missing)} commune(s) du territoire : {shown} ; complétez la colonne "
                f"(une valeur manquante n'est jamais comptée comme zéro)",
                path=self.file,
                field=public.column,
            )
        return self.counts.loc[list(self.territory_codes), key].to_numpy(dtype=np.float64)


def unknown_public_message(key: str, publics: dict[str, Public] | list[str]) -> str:
    """French message for an unknown public, listing the known ones."""
    known = [ALL_INHABITANTS, *publics]
    return f"public inconnu '{key}' : publics connus du territoire : {', '.join(known)}"


def publics_spec(territory: Territory) -> LayerSpec | None:
    """The layer of the publics (``[layers.publics]``, else the former ``[layers.ages]``)."""
    for key in (PUBLICS_LAYER, AGES_LAYER):
        spec = territory.config.layers.get(key)
        if spec is not None:
            return spec
    return None


def read_publics(territory: Territory) -> PublicsTable | None:
    """Read and check the territory's publics, or None when the bundle has none.

    Rows of the neighbouring communes (:func:`coverage.layers.health.read_neighbour_communes`)
    are kept for the 2SFCA and checked against their population.

    Raises
    ------
    DataError
        See the module docstring (file, commune and column named).
    """
    spec = publics_spec(territory)
    if spec is None or not (territory.data_dir / spec.file).is_file():
        return None
    path = territory.data_dir / spec.file
    table, info = read_table(path, skip_blank_lines=True)
    code_column = spec.columns.get("insee_code", "insee_code")
    if code_column not in table.columns:
        raise DataError(
            f"couche '{spec.name}' : pas de colonne '{code_column}' (code INSEE de la commune) ; "
            f"le fichier a {', '.join(table.columns)}",
            path=path,
            field=code_column,
        )
    codes = table[code_column].astype(str).str.strip()
    publics = _publics_of(spec, [c for c in table.columns if c != code_column], path)

    communes = territory.communes
    population = pd.Series(
        communes["population"].to_numpy(dtype=np.float64),
        index=communes["insee_code"].astype(str).to_numpy(),
    )
    names = pd.Series(communes["name"].astype(str).to_numpy(), index=population.index)
    border = read_neighbour_communes(territory)
    neighbours = border.frame if border is not None else None
    if neighbours is not None and len(neighbours):
        outside = pd.Series(
            neighbours["population"].to_numpy(dtype=np.float64),
            index=neighbours["insee_code"].astype(str).to_numpy(),
        )
        population = pd.concat([population, outside[~outside.index.isin(population.index)]])

    unknown = sorted(set(codes[~codes.isin(population.index)]))
    if unknown:
        first = int(np.flatnonzero(codes.eq(unknown[0]).to_numpy())[0])
        shown = ", ".join(unknown[:_SHOWN]) + (" ..." if len(unknown) > _SHOWN else "")
        raise DataError(
            f"couche '{spec.name}' : {len(unknown)} commune(s) inconnue(s) du territoire "
            f"(ni communes ni communes voisines) : {shown}",
            path=path,
            row=info.line(first),
            field=code_column,
        )
    twice = codes[codes.duplicated()]
    if len(twice):
        first = int(np.flatnonzero(codes.duplicated().to_numpy())[0])
        raise DataError(
            f"couche '{spec.name}' : la commune {twice.iloc[0]} a deux lignes",
            path=path,
            row=info.line(first),
            field=code_column,
        )
    counts = pd.DataFrame(index=pd.Index(codes.to_numpy(), name="insee_code"))
    for key, public in publics.items():
        if public.grid:
            continue  # counted per square: grid_public_counts
        values = number_column(table[public.column], field=public.column, info=info)
        negative = np.flatnonzero(values < 0)
        if len(negative):
            at = int(negative[0])
            raise DataError(
                f"couche '{spec.name}' : commune {codes.iloc[at]} : '{public.column}' doit être "
                f"un nombre de personnes >= 0 (reçu {values[at]:g})",
                path=path,
                row=info.line(at),
                field=public.column,
            )
        limit = population.loc[codes].to_numpy()
        above = np.flatnonzero(values > limit + POPULATION_TOLERANCE)
        if len(above):
            at = int(above[0])
            code = codes.iloc[at]
            name = f" ({names[code]})" if code in names.index else ""
            raise DataError(
                f"couche '{spec.name}' : commune {code}{name} : {public.label} = {values[at]:g} "
                f"dépasse la population de la commune ({limit[at]:g})",
                path=path,
                row=info.line(at),
                field=public.column,
            )
        counts[key] = values
    territory_codes = tuple(communes["insee_code"].astype(str))
    order = [*territory_codes, *[c for c in counts.index if c not in set(territory_codes)]]
    counts = counts.reindex(order)
    return PublicsTable(
        publics=publics,
        counts=counts,
        territory_codes=territory_codes,
        layer=spec.name,
        file=spec.file,
    )


def _publics_of(spec: LayerSpec, columns: list[str], path: Path) -> dict[str, Public]:
    """The publics a layer declares (``publics`` tables), or one per column (former ``ages``)."""
    declared: Any = spec.options.get("publics")
    year = str(spec.options.get("year", spec.date))
    common = {"source": spec.source, "year": year, "licence": spec.licence, "url": spec.url}
    if declared is None:
        if spec.name == PUBLICS_LAYER:
            raise DataError(
                "couche 'publics' : aucune table [layers.publics.publics.<nom>] ne décrit les "
                "publics (libellé, source, année)",
                path=path,
            )
        band_of = {column: band for band, column in spec.columns.items()}
        return {
            band_of.get(c, c): Public(
                key=band_of.get(c, c), label=band_of.get(c, c), column=c, **common
            )
            for c in columns
        }
    if not isinstance(declared, dict) or not declared:
        raise DataError(
            f"couche '{spec.name}' : 'publics' doit être une table de publics nommés", path=path
        )
    out: dict[str, Public] = {}
    for key, item in declared.items():
        if key == ALL_INHABITANTS:
            raise DataError(
                f"couche '{spec.name}' : '{ALL_INHABITANTS}' est le nom réservé à tous les "
                "habitants ; nommez le public autrement",
                path=path,
                field=key,
            )
        if not isinstance(item, dict) or not str(item.get("label", "")).strip():
            raise DataError(
                f"couche '{spec.name}' : le public '{key}' demande un libellé (label) en français",
                path=path,
                field=key,
            )
        grid_column = str(item.get("grid_column", "")).strip()
        if grid_column:
            grid = str(item.get("grid", spec.options.get("grid", ""))).strip()
            if not grid:
                raise DataError(
                    f"couche '{spec.name}' : le public '{key}' a une grid_column mais aucune "
                    'grille (grid = "fichier" dans la couche ou le public)',
                    path=path,
                    field=key,
                )
            out[str(key)] = Public(
                key=str(key),
                label=str(item["label"]).strip(),
                column="",
                source=str(item.get("source", common["source"])),
                year=str(item.get("year", common["year"])),
                licence=str(item.get("licence", common["licence"])),
                url=str(item.get("url", common["url"])),
                grid=grid,
                grid_column=grid_column,
            )
            continue
        column = str(item.get("column", key))
        if column not in columns:
            raise DataError(
                f"couche '{spec.name}' : pas de colonne '{column}' pour le public '{key}' ; le "
                f"fichier a {', '.join(columns)}",
                path=path,
                field=column,
            )
        out[str(key)] = Public(
            key=str(key),
            label=str(item["label"]).strip(),
            column=column,
            source=str(item.get("source", common["source"])),
            year=str(item.get("year", common["year"])),
            licence=str(item.get("licence", common["licence"])),
            url=str(item.get("url", common["url"])),
        )
    return out


def read_age_bands(territory: Territory, bands: Sequence[str]) -> pd.DataFrame | None:
    """Population by age band per INSEE code (index), or None when the bundle has no publics.

    The 2SFCA's age-standardised demand: each band is a public of the
    territory's publics layer (or of the former ``[layers.ages]``).

    Raises
    ------
    DataError
        A band that is not a public of the layer (the known ones listed), or a
        check of :func:`read_publics`.
    """
    table = read_publics(territory)
    if table is None:
        return None
    unknown = [band for band in bands if band not in table.publics or table.publics[band].grid]
    if unknown:
        raise DataError(
            f"couche '{table.layer}' : pas de public '{unknown[0]}' compté par commune pour la "
            f"pondération par âge (age_weights) ; publics de la couche : "
            f"{', '.join(k for k, p in table.publics.items() if not p.grid)}",
            path=table.file,
            field=unknown[0],
        )
    return table.counts[list(bands)]


def grid_public_counts(
    territory: Territory, surface: PopulationSurface, public: Public
) -> tuple[np.ndarray, np.ndarray]:
    """A grid public on the surface: people per allocation entry and per commune.

    The grid is read like the population grid (each square to the cell holding
    its centre; :func:`coverage.layers.population.grid_values`) and placed by
    :meth:`~coverage.layers.population.PopulationSurface.public_cells_from_grid`.
    A square absent from the grid counts no one (Filosofi publishes only the
    squares where people live).

    Raises
    ------
    DataError
        Unreadable grid or column; a commune whose total from the grid is above
        its population (both figures named).
    """
    path = territory.data_dir / public.grid
    values = grid_values(
        path,
        public.grid_column,
        surface,
        setting=f"grid_column du public {public.key} dans [layers.publics]",
    )
    cells, totals = surface.public_cells_from_grid(values)
    communes = territory.communes
    population = communes["population"].to_numpy(dtype=np.float64)
    above = np.flatnonzero(totals > population + POPULATION_TOLERANCE)
    if len(above):
        at = int(above[0])
        raise DataError(
            f"grille du public '{public.key}' : commune {communes['insee_code'].iloc[at]} "
            f"({communes['name'].iloc[at]}) : {public.label} = {totals[at]:g} dépasse la "
            f"population de la commune ({population[at]:g})",
            path=path,
            field=public.grid_column,
        )
    return cells, totals
