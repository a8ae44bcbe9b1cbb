"""``coverage portrait``: the intercommunal portraits of a result (HTML map and PNG per EPCI).

The drawing lives in the ``maps`` package, reached through the
``coverage.portrait_writers`` entry point (``coverage`` never imports ``maps``);
this job picks the EPCI (by SIREN or name, or all of them), checks them against
the result and writes the folder whole or not at all.
"""

from __future__ import annotations

import shutil
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from coverage._outdir import refuse_existing, replace_dir, staging_dir
from coverage.errors import ConfigError, DataError, QueryError
from coverage.progress import Progress, silent
from coverage.results import ResultFolder

PORTRAIT_WRITERS_GROUP = "coverage.portrait_writers"
"""Entry-point group of the portrait renderer (``maps.portrait_writer:write_portraits``)."""


@dataclass(frozen=True)
class PortraitFiles:
    """What ``coverage portrait`` wrote.

    Attributes
    ----------
    output_dir
        The folder written.
    epci
        ``(siren, name)`` of each EPCI drawn, in order.
    files
        The files written (HTML then PNG per EPCI).
    """

    output_dir: Path
    epci: list[tuple[str, str]]
    files: list[Path]


def _plain(text: str) -> str:
    folded = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return " ".join(folded.lower().replace("-", " ").replace("'", " ").split())


def choose_epci(
    result: ResultFolder, wanted: Sequence[str], *, every: bool
) -> list[tuple[str, str]]:
    """The EPCI asked for, as ``(siren, name)``: by SIREN or by name (accents and case ignored).

    Raises
    ------
    QueryError
        Nothing asked (neither names nor ``every``), both asked, or an EPCI the
        result does not cover (the message lists those it covers).
    """
    layer = result.layer("epci")
    known = [(str(s), str(n)) for s, n in zip(layer["epci_siren"], layer["epci_name"], strict=True)]
    if every and wanted:
        raise QueryError("donner des EPCI ou --all, pas les deux")
    if every:
        return sorted(known, key=lambda item: item[1])
    if not wanted:
        raise QueryError("donner un EPCI (code SIREN ou nom) ou --all pour tous")
    by_siren = dict(known)
    by_name = {_plain(name): (siren, name) for siren, name in known}
    chosen: list[tuple[str, str]] = []
    for item in wanted:
        key = str(item).strip()
        if key in by_siren:
            chosen.append((key, by_siren[key]))
        elif _plain(key) in by_name:
            chosen.append(by_name[_plain(key)])
        else:
            listed = ", ".join(f"{n} ({s})" for s, n in sorted(known, key=lambda k: k[1]))
            raise QueryError(f"EPCI « {key} » inconnu de ce résultat ; il couvre : {listed}")
    return list(dict.fromkeys(chosen))


def _writer() -> Callable[..., list[Path]]:
    found = sorted(entry_points(group=PORTRAIT_WRITERS_GROUP), key=lambda e: e.name)
    if not found:
        raise ConfigError(
            "aucun moteur de portraits installé (le paquet maps du projet : pip install -e .)"
        )
    return found[0].load()


def write_portraits(
    result_dir: str | Path,
    epci: Sequence[str] = (),
    *,
    every: bool = False,
    analysis: str | None = None,
    output_dir: str | Path | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> PortraitFiles:
    """Write the portrait of each EPCI asked for: ``portrait_<siren>.html`` and ``.png``.

    Parameters
    ----------
    result_dir
        A result folder of ``coverage run``.
    epci
        SIREN codes or names of EPCI.
    every
        All the EPCI of the result instead.
    analysis
        The analysis to draw (default: all on the HTML map, the first on the PNG).
    output_dir
        Folder to write (default ``<result_dir>/portraits``).
    overwrite
        Replace an existing folder.
    progress
        Called with a French label at each EPCI.

    Returns
    -------
    PortraitFiles

    Raises
    ------
    DataError
        ``result_dir`` is not a result of ``coverage run``, or the analysis is unknown.
    QueryError
        No EPCI or an unknown one.
    coverage.errors.OutputExistsError
        ``output_dir`` exists and ``overwrite`` is false.
    """
    say = progress or silent
    result = ResultFolder(result_dir)
    if analysis is not None and analysis not in result.analyses:
        raise DataError(
            f"analyse « {analysis} » absente du résultat (il a : {', '.join(result.analyses)})"
        )
    chosen = choose_epci(result, epci, every=every)
    target = Path(output_dir) if output_dir is not None else Path(result_dir) / "portraits"
    refuse_existing(target, overwrite=overwrite)
    write = _writer()
    tmp = staging_dir(target)
    try:
        names: list[str] = []
        for i, (siren, name) in enumerate(chosen, start=1):
            say(f"Portrait {i}/{len(chosen)} : {name}")
            names += [p.name for p in write(Path(result_dir), tmp, [siren], analysis)]
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return PortraitFiles(output_dir=target, epci=chosen, files=[target / n for n in names])
