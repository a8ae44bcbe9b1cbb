"""Former commune names: communes déléguées, associées and anciennes communes of the bundle.

An address may still name a commune that no longer exists on its own: a
commune déléguée or a commune associée of a commune nouvelle (Cannet in
Riscle), or an ancienne commune merged since. :func:`read_former_communes`
reads them from the INSEE COG file of the data bundle (``TYPECOM`` ``COMD`` =
commune déléguée, ``COMA`` = commune associée, ``COMPARENT`` the current
commune); a ``COM`` row of that file whose code is no longer a current commune
is an ancienne commune merged after the COG year, found through the
``anciens_codes`` of the commune layer. :func:`former_communes` finds the
file of a territory: the ``[layers.cog]`` file when declared, else
``cog*communes*.csv`` in the bundle. The bundle carries no COG history file
(``mvtcommune``): communes merged before the COG year are known only as
COMD/COMA rows.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from coverage._cache import file_stamp
from coverage.errors import DataError
from coverage.layers.readers import read_layer_file

if TYPE_CHECKING:
    from coverage.layers.territory import Territory

FORMER_KINDS: dict[str, str] = {
    "COMD": "commune déléguée",
    "COMA": "commune associée",
    "COM": "ancienne commune",
}
"""COG ``TYPECOM`` -> what the former name is, in the notes."""

_COG_COLUMNS = ("TYPECOM", "COM", "LIBELLE", "COMPARENT")


@dataclass(frozen=True)
class FormerCommune:
    """A former commune name and the current commune it designates.

    Attributes
    ----------
    name
        The former name, as the COG writes it (``Cannet``).
    code
        Its own INSEE code (``32074``).
    current
        INSEE code of today's commune (``32344``).
    kind
        ``commune déléguée``, ``commune associée`` or ``ancienne commune``.
    """

    name: str
    code: str
    current: str
    kind: str


def read_former_communes(
    path: str | Path,
    current_codes: Collection[str],
    *,
    merged: Mapping[str, str] | None = None,
) -> list[FormerCommune]:
    """Read the former commune names of an INSEE COG communes file.

    Parameters
    ----------
    path
        COG ``commune_AAAA.csv`` (``,``-separated, ``TYPECOM``, ``COM``,
        ``LIBELLE``, ``COMPARENT``).
    current_codes
        INSEE codes of today's communes: a former name is kept only when it
        leads to one of them.
    merged
        Former code -> current code (the ``anciens_codes`` of the commune
        layer), for ``COM`` rows merged after the COG year.

    Returns
    -------
    list of FormerCommune
        One per former name; a commune déléguée named like its parent (Riscle
        in Riscle) is left out.

    Raises
    ------
    DataError
        The file cannot be read or lacks a COG column.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"fichier COG illisible : {exc}", path=path) from exc
    missing = [c for c in _COG_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(
            f"fichier COG sans colonne {', '.join(missing)} "
            f"(colonnes : {', '.join(table.columns)})",
            path=path,
        )
    current = set(current_codes)
    own_names = {row.COM: row.LIBELLE for row in table.itertuples() if row.TYPECOM == "COM"}
    out: list[FormerCommune] = []
    for row in table.itertuples():
        kind, code, name = row.TYPECOM.strip(), row.COM.strip(), row.LIBELLE.strip()
        if kind in ("COMD", "COMA"):
            parent = row.COMPARENT.strip()
        elif kind == "COM" and code not in current:
            parent = (merged or {}).get(code, "")
        else:
            continue
        if not name or parent not in current or name == own_names.get(parent, ""):
            continue
        out.append(FormerCommune(name=name, code=code, current=parent, kind=FORMER_KINDS[kind]))
    return out


def find_cog_file(territory: Territory) -> Path | None:
    """The COG communes file of a territory's bundle, or ``None`` when it has none."""
    layers = territory.config.layers
    bundle = Path(territory.data_dir)
    if "cog" in layers:
        return bundle / layers["cog"].file
    found = sorted(bundle.glob("cog*communes*.csv"))
    return found[-1] if found else None


def former_communes(territory: Territory) -> list[FormerCommune]:
    """Former commune names of a territory (empty when its bundle has no COG file).

    Read once per set of files: the catalogue's reverse lookup and the geocoder
    each index the territory's communes, and both ask; the answer is kept under
    the files' paths, sizes and modification times and the territory's codes, so a
    changed file is read again.

    Raises
    ------
    DataError
        A declared ``[layers.cog]`` file is missing, or the file is unreadable.
    """
    path = find_cog_file(territory)
    if path is None:
        return []
    if not path.is_file():
        raise DataError("fichier COG déclaré ([layers.cog]) absent", path=path)
    codes = tuple(str(c) for c in territory.communes["insee_code"])
    spec = territory.config.layers.get("communes")
    layer = None if spec is None else Path(territory.data_dir) / spec.file
    column = None if spec is None else spec.columns.get("insee_code", "insee_code")
    key = (file_stamp(path), file_stamp(layer), column, codes)
    found = _READ.get(key)
    if found is None:
        found = tuple(read_former_communes(path, codes, merged=_merged_codes(territory)))
        _READ.clear()  # one territory's answer kept: a process works on one at a time
        _READ[key] = found
    return list(found)


_READ: dict[tuple[object, ...], tuple[FormerCommune, ...]] = {}
"""The last :func:`former_communes` answer, by its files' stamps and codes."""


def _merged_codes(territory: Territory) -> dict[str, str]:
    """Former code -> current code from the ``anciens_codes`` column of the commune layer."""
    spec = territory.config.layers.get("communes")
    if spec is None:
        return {}
    path = Path(territory.data_dir) / spec.file
    try:
        table = read_layer_file(path)  # the file the territory's loader has just read
    except Exception:  # the history is optional: no merges known then
        return {}
    code_column = spec.columns.get("insee_code", "insee_code")
    if "anciens_codes" not in table.columns or code_column not in table.columns:
        return {}
    merged: dict[str, str] = {}
    for code, former in zip(table[code_column], table["anciens_codes"], strict=True):
        for old in str(former or "").replace(",", ";").split(";"):
            if old.strip() and old.strip() != str(code):
                merged[old.strip()] = str(code)
    return merged
