"""What the server never reveals: absolute paths of its disk, in data and in messages.

Run summaries, provenance records and engine messages name files by their
absolute path (``/srv/coverage/data/gers/roads.osm``); every API body shows
the file name only (``roads.osm``), so that no response tells where the
data, state or result folders live.
"""

from __future__ import annotations

import re
from typing import Any

_ABSOLUTE = re.compile(r"^(/|[A-Za-z]:[\\/])")
_PATH_IN_TEXT = re.compile(r"(?<![\w.])/(?:[\w.@+-]+/)+([\w.@+-]+)")


def strip_paths(data: Any) -> Any:
    """Replace absolute server paths by their file name (results must not reveal the disk)."""
    if isinstance(data, str):
        if _ABSOLUTE.match(data) and ("/" in data[1:] or "\\" in data):
            return re.split(r"[\\/]", data.rstrip("/\\"))[-1]
        return data
    if isinstance(data, dict):
        return {k: strip_paths(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [strip_paths(v) for v in data]
    return data


def strip_paths_in_text(text: str | None) -> str | None:
    """Reduce absolute paths inside a message to file names (``/a/b/c.csv`` -> ``c.csv``)."""
    return _PATH_IN_TEXT.sub(r"\1", text) if text else text
