"""The map written with every scenario result (``map.html``): access times by commune, services.

Registered as the ``coverage.result_writers`` entry point ``carte``: the run
calls it with the result folder and the summary; it reads ``results.gpkg``
and computes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MAP_FILE = "map.html"


def write_result_map(folder: Path, summary: dict[str, Any]) -> list[Path]:
    """Write ``map.html`` in a result folder; returns the written paths."""
    from maps.coverage_map import result_map

    fmap = result_map(folder, summary)
    path = Path(folder) / MAP_FILE
    fmap.save(str(path))
    return [path]
