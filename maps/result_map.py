"""The map written with every scenario result (``map.html``): the full coverage map.

Registered as the ``coverage.result_writers`` entry point ``carte``: the run
calls it with the result folder and the summary; it reads ``results.gpkg``
and computes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from coverage.results import MAP_FILE


def write_result_map(folder: Path, summary: dict[str, Any]) -> list[Path]:
    """Write ``map.html`` (every analysis, offline: Leaflet inlined) in a result folder.

    Parameters
    ----------
    folder
        The result directory being written (``summary.json`` and
        ``results.gpkg`` are already there).
    summary
        Its summary (unused: the folder's ``summary.json`` is read).

    Returns
    -------
    list of Path
        The written file.
    """
    from coverage.results import ResultFolder
    from maps.coverage_map import coverage_map
    from maps.render import render_html

    path = Path(folder) / MAP_FILE
    html = render_html(coverage_map(ResultFolder(folder)))
    path.write_text(html, encoding="utf-8")
    return [path]
