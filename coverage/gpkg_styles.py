"""French field aliases and embedded QGIS styles for the GeoPackages the engine writes.

The fields keep their stable snake_case names (scripts and the API read them);
:func:`add_styles` adds, with :mod:`sqlite3` once pyogrio has written every
layer:

- a ``layer_styles`` table (the schema QGIS uses) with one default QML style
  per layer (``useAsDefault`` 1), so that the layer opens styled in QGIS: the
  French aliases of its fields and a simple renderer (:class:`Graduated` on
  travel times with the 0–10–15–20–30–45 min classes, :class:`Categorised` on
  a text field, otherwise a single symbol);
- the same aliases in ``gpkg_data_columns`` (the GeoPackage schema extension,
  column ``title`` and ``name``), registered in ``gpkg_extensions``.

The aliases are the French headers of the CSV tables
(:func:`coverage.tables.column_for`): one source for both. The time classes
and their colours are those of the maps (``maps.style``, which this package
must not import), copied here once.
"""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from coverage.tables import column_for

TIME_BREAKS_MINUTES: tuple[float, ...] = (10.0, 15.0, 20.0, 30.0, 45.0)
"""Upper bounds of the time classes 0–10–15–20–30–45+ min (the maps draw these too)."""
TIME_COLOURS: tuple[str, ...] = ("#1a9850", "#91cf60", "#d9ef8b", "#fee08b", "#fc8d59", "#d73027")
TIME_LABELS: tuple[str, ...] = (
    "moins de 10 min",
    "10 à 15 min",
    "15 à 20 min",
    "20 à 30 min",
    "30 à 45 min",
    "45 min et plus",
)
_LAST_UPPER = 100_000.0  # upper bound of the open last class
KIND_COLOURS: dict[str, str] = {
    "france_services": "#1f4e9c",
    "tiers_lieu": "#1b7837",
    "mds": "#b2182b",
    "health_centre": "#762a83",
    "saad": "#d6604d",
}
"""Colour of each service kind on the maps; other kinds take :data:`OTHER_COLOURS`."""
OTHER_COLOURS: tuple[str, ...] = ("#525252", "#8c510a", "#01665e", "#c51b7d")

STYLE_DESCRIPTION = "Style par défaut écrit par coverage-territoires"
LAYER_STYLES_SQL = """
CREATE TABLE IF NOT EXISTS layer_styles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    f_table_catalog TEXT(256),
    f_table_schema TEXT(256),
    f_table_name TEXT(256),
    f_geometry_column TEXT(256),
    styleName TEXT(30),
    styleQML TEXT,
    styleSLD TEXT,
    useAsDefault BOOLEAN,
    description TEXT,
    owner TEXT(30),
    ui TEXT(30),
    update_time DATETIME DEFAULT CURRENT_TIMESTAMP
)
"""
"""The ``layer_styles`` table as QGIS creates it in a GeoPackage."""
DATA_COLUMNS_SQL = """
CREATE TABLE IF NOT EXISTS gpkg_data_columns (
    table_name TEXT NOT NULL,
    column_name TEXT NOT NULL,
    name TEXT,
    title TEXT,
    description TEXT,
    mime_type TEXT,
    constraint_name TEXT,
    CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name),
    CONSTRAINT gdc_tn UNIQUE (table_name, name)
)
"""
"""``gpkg_data_columns`` of the GeoPackage schema extension (as GDAL creates it)."""
EXTENSIONS_SQL = """
CREATE TABLE IF NOT EXISTS gpkg_extensions (
    table_name TEXT,
    column_name TEXT,
    extension_name TEXT NOT NULL,
    definition TEXT NOT NULL,
    scope TEXT NOT NULL,
    CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name)
)
"""


@dataclass(frozen=True)
class Graduated:
    """Colour by travel time in ``field`` (minutes), in the map's six classes."""

    field: str


@dataclass(frozen=True)
class Categorised:
    """One colour per value of ``field`` (service kinds keep the map's colours)."""

    field: str


Renderer = Graduated | Categorised | None
"""How a layer is drawn; ``None``: one symbol."""


def field_aliases(columns: list[str]) -> dict[str, str]:
    """French alias of each column that has one (the CSV header of :mod:`coverage.tables`)."""
    aliases = {}
    for name in columns:
        if name.startswith("in__"):  # services layer: the site is one of the analysis' sites
            aliases[name] = f"Retenu — {name[4:].replace('_', ' ')}"
            continue
        header = column_for(name).header
        if header != name:
            aliases[name] = header
    return aliases


def add_styles(path: str | Path, renderers: Mapping[str, Renderer] | None = None) -> list[str]:
    """Add French aliases and a default QGIS style to every layer of a GeoPackage.

    Parameters
    ----------
    path
        The GeoPackage, every layer already written.
    renderers
        Renderer per layer name; layers not named (or ``None``) get one symbol.
        A renderer whose field the layer lacks falls back to one symbol.

    Returns
    -------
    list of str
        The layers styled, in the GeoPackage's order.
    """
    renderers = dict(renderers or {})
    connection = sqlite3.connect(path)
    try:
        with connection:
            layers = connection.execute(
                "SELECT c.table_name, g.column_name, g.geometry_type_name FROM gpkg_contents c "
                "JOIN gpkg_geometry_columns g ON g.table_name = c.table_name "
                "WHERE c.data_type = 'features' ORDER BY c.rowid"
            ).fetchall()
            connection.execute(LAYER_STYLES_SQL)
            connection.execute(DATA_COLUMNS_SQL)
            connection.execute(EXTENSIONS_SQL)
            connection.execute(
                "INSERT INTO gpkg_extensions (table_name, column_name, extension_name, "
                "definition, scope) SELECT 'gpkg_data_columns', NULL, 'gpkg_schema', "
                "'http://www.geopackage.org/spec/#extension_schema', 'read-write' WHERE NOT "
                "EXISTS (SELECT 1 FROM gpkg_extensions WHERE table_name = "
                "'gpkg_data_columns' AND extension_name = 'gpkg_schema')"
            )
            for table, geometry_column, geometry_type in layers:
                columns = [
                    row[1]
                    for row in connection.execute(f'PRAGMA table_info("{table}")')
                    if row[1] not in (geometry_column, "fid")
                ]
                aliases = field_aliases(columns)
                renderer = renderers.get(table)
                if renderer is not None and renderer.field not in columns:
                    renderer = None
                values = (
                    _distinct(connection, table, renderer.field)
                    if isinstance(renderer, Categorised)
                    else []
                )
                qml = layer_qml(columns, aliases, _symbol_type(geometry_type), renderer, values)
                connection.execute("DELETE FROM layer_styles WHERE f_table_name = ?", (table,))
                connection.execute(
                    "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
                    "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, "
                    "description, owner, ui, update_time) VALUES ('', '', ?, ?, ?, ?, '', 1, ?, "
                    "'', NULL, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                    (table, geometry_column, table, qml, STYLE_DESCRIPTION),
                )
                connection.executemany(
                    "INSERT OR REPLACE INTO gpkg_data_columns (table_name, column_name, name, "
                    "title) VALUES (?, ?, ?, ?)",
                    [(table, column, alias, alias) for column, alias in aliases.items()],
                )
    finally:
        connection.close()
    return [table for table, _, _ in layers]


def _distinct(connection: sqlite3.Connection, table: str, field: str) -> list[str]:
    rows = connection.execute(
        f'SELECT DISTINCT "{field}" FROM "{table}" WHERE "{field}" IS NOT NULL ORDER BY 1'
    )
    return [str(row[0]) for row in rows]


def _symbol_type(geometry_type: str) -> str:
    kind = geometry_type.upper()
    if "POINT" in kind:
        return "marker"
    if "LINE" in kind:
        return "line"
    return "fill"


# --- QML ----------------------------------------------------------------------------------------


def layer_qml(
    columns: list[str],
    aliases: Mapping[str, str],
    symbol_type: str,
    renderer: Renderer = None,
    values: list[str] | None = None,
) -> str:
    """The QGIS style document (QML) of one layer: its renderer and its field aliases.

    Parameters
    ----------
    columns
        The layer's fields (without geometry and fid), in order.
    aliases
        French alias per field.
    symbol_type
        ``fill``, ``line`` or ``marker``.
    renderer
        :class:`Graduated`, :class:`Categorised` or ``None`` (one symbol).
    values
        The categories of a :class:`Categorised` renderer.
    """
    root = ET.Element("qgis", version="3.28.0", styleCategories="Symbology|Fields")
    if isinstance(renderer, Graduated):
        node = ET.SubElement(
            root,
            "renderer-v2",
            type="graduatedSymbol",
            attr=renderer.field,
            graduatedMethod="GraduatedColor",
            symbollevels="0",
            enableorderby="0",
            forceraster="0",
        )
        ranges = ET.SubElement(node, "ranges")
        symbols = ET.SubElement(node, "symbols")
        lows = (0.0, *TIME_BREAKS_MINUTES)
        highs = (*TIME_BREAKS_MINUTES, _LAST_UPPER)
        for i, (low, high, colour, label) in enumerate(
            zip(lows, highs, TIME_COLOURS, TIME_LABELS, strict=True)
        ):
            ET.SubElement(
                ranges,
                "range",
                lower=f"{low:g}",
                upper=f"{high:g}",
                symbol=str(i),
                label=label,
                render="true",
            )
            symbols.append(_symbol(str(i), symbol_type, colour))
    elif isinstance(renderer, Categorised):
        node = ET.SubElement(
            root,
            "renderer-v2",
            type="categorizedSymbol",
            attr=renderer.field,
            symbollevels="0",
            enableorderby="0",
            forceraster="0",
        )
        categories = ET.SubElement(node, "categories")
        symbols = ET.SubElement(node, "symbols")
        for i, value in enumerate(values or []):
            colour = KIND_COLOURS.get(value, OTHER_COLOURS[i % len(OTHER_COLOURS)])
            ET.SubElement(
                categories, "category", value=value, symbol=str(i), label=value, render="true"
            )
            symbols.append(_symbol(str(i), symbol_type, colour))
    else:
        node = ET.SubElement(
            root, "renderer-v2", type="singleSymbol", symbollevels="0", forceraster="0"
        )
        symbols = ET.SubElement(node, "symbols")
        symbols.append(_symbol("0", symbol_type, "#9ecae1", fill_alpha=90))
    alias_node = ET.SubElement(root, "aliases")
    for index, column in enumerate(columns):
        ET.SubElement(
            alias_node, "alias", field=column, index=str(index), name=aliases.get(column, "")
        )
    geometry = {"marker": "0", "line": "1", "fill": "2"}[symbol_type]
    ET.SubElement(root, "layerGeometryType").text = geometry
    body = ET.tostring(root, encoding="unicode")
    return f"<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n{body}\n"


def _rgba(colour: str, alpha: int = 255) -> str:
    value = colour.lstrip("#")
    red, green, blue = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return f"{red},{green},{blue},{alpha}"


def _symbol(name: str, symbol_type: str, colour: str, *, fill_alpha: int = 255) -> ET.Element:
    """A QGIS symbol of one layer (``<prop>`` form: read by QGIS 3.x, old and new)."""
    symbol = ET.Element(
        "symbol", type=symbol_type, name=name, alpha="1", clip_to_extent="1", force_rhr="0"
    )
    if symbol_type == "marker":
        layer_class = "SimpleMarker"
        props = {
            "color": _rgba(colour),
            "name": "circle",
            "outline_color": "255,255,255,255",
            "outline_width": "0.4",
            "size": "3",
        }
    elif symbol_type == "line":
        layer_class = "SimpleLine"
        props = {"line_color": _rgba(colour), "line_width": "0.6"}
    else:
        layer_class = "SimpleFill"
        props = {
            "color": _rgba(colour, fill_alpha),
            "outline_color": "128,128,128,255",
            "outline_width": "0.1",
            "style": "solid",
        }
    attrib = {"class": layer_class, "enabled": "1", "locked": "0", "pass": "0"}
    layer = ET.SubElement(symbol, "layer", attrib=attrib)
    for key, value in props.items():
        ET.SubElement(layer, "prop", k=key, v=value)
    return symbol
