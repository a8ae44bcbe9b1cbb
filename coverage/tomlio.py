"""TOML writing of plain data: nested tables, arrays of tables, deterministic text.

:func:`dumps` turns a dict of str / int / float / bool / lists / dicts into
TOML that :mod:`tomllib` reads back to the same data:

- keys are written bare when they are made of ``A-Za-z0-9_-`` only, quoted
  otherwise; strings are basic strings (``"..."``, escapes as in JSON, French
  text kept as it is);
- floats keep their ``repr`` (``20.0``, ``0.1``), so they read back as the same
  float; NaN and infinities are refused, as are ``None`` and any other type
  (TOML has no null);
- a dict becomes a ``[table]`` up to ``max_table_depth`` levels, an inline
  table ``{ ... }`` deeper down or when it is an :class:`InlineTable`; a
  non-empty list made only of dicts becomes an array of tables ``[[...]]``
  wherever its parent is a table;
- the text starts with the optional header comment lines, then the top-level
  values, then the tables (each followed by a blank line), top-level keys in
  the optional preferred order first, the others in dict order.

The writer does the same job for ``territory.toml`` (``coverage fetch``) and
for the scenario files the placement writes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from coverage.errors import DataError

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class InlineTable(dict):
    """A dict that :func:`dumps` always writes as an inline table ``{ key = value, ... }``."""


def dumps(
    data: Mapping[str, Any],
    *,
    header: str | Sequence[str] = "",
    order: Iterable[str] = (),
    max_table_depth: int | None = None,
) -> str:
    """Return ``data`` as TOML text.

    Parameters
    ----------
    data
        The document: a mapping of string keys to str, int, float, bool, lists
        and mappings (numpy scalars are accepted).
    header
        Comment lines written first (``# `` is added to each), then a blank line.
    order
        Top-level keys written first, in this order (those missing from
        ``data`` are skipped); the other keys follow in dict order.
    max_table_depth
        Mappings nested up to this many levels are written as ``[table]``
        headers (1: only the top-level ones), deeper ones as inline tables.
        None: every mapping is a table unless it is an :class:`InlineTable`.

    Returns
    -------
    str
        The TOML text, ending with one newline.

    Raises
    ------
    DataError
        For a value TOML cannot hold (None, NaN, infinity, another type) or a
        key that is not a string; the message names the key's path (``field``).
    """
    if max_table_depth is not None and max_table_depth < 1:
        raise ValueError(f"max_table_depth doit être >= 1 ou None, reçu {max_table_depth}")
    lines: list[str] = []
    comments = header.splitlines() if isinstance(header, str) else list(header)
    for line in comments:
        lines.append(f"# {line}".rstrip())
    if lines:
        lines.append("")
    preferred = [k for k in order if k in data]
    keys = preferred + [k for k in data if k not in preferred]
    _Writer(max_table_depth).table(lines, {k: data[k] for k in keys}, path=[], depth=0, head="")
    return "\n".join(lines).rstrip() + "\n"


class _Writer:
    def __init__(self, max_table_depth: int | None) -> None:
        self.max_table_depth = max_table_depth

    def is_table(self, value: Any, depth: int) -> bool:
        """Whether a mapping at this nesting depth (1 = top level) gets a ``[header]``."""
        if not isinstance(value, Mapping) or isinstance(value, InlineTable):
            return False
        return self.max_table_depth is None or depth <= self.max_table_depth

    def table(
        self, lines: list[str], table: Mapping[str, Any], *, path: list[str], depth: int, head: str
    ) -> None:
        """Write a table: its header, its key/values, then its sub-tables and arrays of tables.

        The header of a table holding sub-tables only is left out (TOML makes it
        implicitly): ``[layers.roads]`` needs no ``[layers]`` before it.
        """
        values: list[str] = []
        later: list[tuple[str, Any]] = []
        for key, value in table.items():
            _check_key(key, path)
            if _is_array_of_tables(value) or self.is_table(value, depth + 1):
                later.append((key, value))
            else:
                values.append(f"{_key(key)} = {_value(value, [*path, key])}")
        implicit = (
            head.startswith("[")
            and not head.startswith("[[")
            and not values
            and bool(later)
            and all(isinstance(value, Mapping) for _, value in later)
        )
        if head and not implicit:
            lines.append(head)
        lines.extend(values)
        if values or (head and not implicit):
            lines.append("")
        for key, value in later:
            child = [*path, key]
            dotted = ".".join(_key(k) for k in child)
            if isinstance(value, Mapping):
                self.table(lines, value, path=child, depth=depth + 1, head=f"[{dotted}]")
                continue
            for item in value:
                self.table(lines, item, path=child, depth=depth + 1, head=f"[[{dotted}]]")


def _is_array_of_tables(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) > 0
        and all(isinstance(v, Mapping) and not isinstance(v, InlineTable) for v in value)
    )


def _check_key(key: Any, path: list[str]) -> None:
    if not isinstance(key, str):
        raise DataError(
            f"les clés TOML sont des textes, pas {type(key).__name__} ({key!r})",
            field=".".join(path) or None,
        )


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _string(text: str) -> str:
    # JSON escapes are TOML basic-string escapes; TOML also forbids a raw DEL
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any, path: list[str]) -> str:
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if not math.isfinite(float(value)):
            raise DataError(
                f"TOML ne peut pas écrire {float(value)!r} (ni NaN ni infini)",
                field=".".join(map(str, path)),
            )
        return repr(float(value))
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v, [*path, str(i)]) for i, v in enumerate(value)) + "]"
    if isinstance(value, Mapping):
        items = []
        for key, item in value.items():
            _check_key(key, path)
            items.append(f"{_key(key)} = {_value(item, [*path, key])}")
        return "{ " + ", ".join(items) + " }" if items else "{}"
    what = "None (TOML n'a pas de valeur nulle)" if value is None else type(value).__name__
    raise DataError(f"TOML ne peut pas écrire la valeur {what}", field=".".join(map(str, path)))
