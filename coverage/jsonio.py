"""JSON encoding of the engine's values: numpy scalars and arrays, dates, paths."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np


def json_default(value: Any) -> Any:
    """``json.dumps`` fallback: numpy scalars and arrays, dates and paths; NaN/inf become None.

    Parameters
    ----------
    value
        A value :mod:`json` cannot encode by itself.

    Returns
    -------
    Any
        A plain Python value (anything else is written as its ``str``).
    """
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, date | datetime):  # pandas Timestamps are datetimes
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON (French text kept readable)."""
    path.write_text(
        json.dumps(data, ensure_ascii=False, indent=2, default=json_default), encoding="utf-8"
    )
