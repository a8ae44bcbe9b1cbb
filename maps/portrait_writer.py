"""The intercommunal portraits written by ``coverage portrait``: one HTML map and one PNG per EPCI.

Registered as the ``coverage.portrait_writers`` entry point ``portrait``: the
job (:mod:`coverage.jobs.portrait`) calls it with a result folder of
``coverage run``, the EPCI chosen and the folder to write; it reads the result
and computes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from coverage.results import ResultFolder


def write_portraits(
    result_dir: Path,
    output_dir: Path,
    epci_sirens: Sequence[str],
    analysis: str | None = None,
) -> list[Path]:
    """Write ``portrait_<siren>.html`` and ``portrait_<siren>.png`` for each EPCI.

    Parameters
    ----------
    result_dir
        A result folder of ``coverage run``.
    output_dir
        The folder to write (exists).
    epci_sirens
        SIREN codes of the EPCI to draw (each covered by the result).
    analysis
        The analysis to draw (default: every analysis on the HTML map, the first
        on the PNG).

    Returns
    -------
    list of Path
        The written files, two per EPCI (HTML then PNG).
    """
    from maps.portrait import portrait_map
    from maps.render import render_html
    from maps.static import export_png

    result = ResultFolder(result_dir)
    written: list[Path] = []
    for siren in epci_sirens:
        html = Path(output_dir) / f"portrait_{siren}.html"
        fmap = portrait_map(result, siren, analysis, collapsed_layers=False)
        html.write_text(render_html(fmap), encoding="utf-8")
        png = export_png(result, Path(output_dir) / f"portrait_{siren}.png", analysis=analysis,
                         epci_siren=siren)  # fmt: skip
        written += [html, Path(png)]
    return written
