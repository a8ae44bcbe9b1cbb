"""The ``coverage info`` job: a territory's summary (communes, population, cantons, layers)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from coverage.layers.territory import load_territory


def territory_info(
    territory: str = "gers", *, data_dir: str | Path | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The territory's summary (:meth:`coverage.layers.Territory.summary`) and load warnings.

    Raises
    ------
    coverage.errors.CoverageError
        Unknown territory, missing or bad bundle.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_territory(territory, data_dir=data_dir)
    return loaded.summary(), [str(w.message) for w in caught]
