"""Compare two scenario results: population gaining or losing access, per commune and threshold.

A commune *gains* access at a threshold when fewer of its inhabitants are
beyond it in run B than in run A (``gained = beyond_A - beyond_B`` when
positive), and *loses* it in the opposite case. Only analyses present in both
runs (same name) and thresholds computed in both are compared; both runs must
be of the same territory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pandas as pd

from coverage.access import threshold_key
from coverage.errors import DataError
from coverage.results import TABLES_DIR, read_summary, table_stem
from coverage.tables import read_written_table, write_table

COMPARE_WRITERS_GROUP = "coverage.compare_writers"
"""Entry-point group of the comparison's extra outputs (the map: ``maps.compare_map``)."""


@dataclass(eq=False)
class Comparison:
    """What changed between two runs.

    Attributes
    ----------
    a, b
        Names of the two scenarios.
    changes
        One row per (analysis, threshold, commune) whose figures differ:
        ``analysis``, ``threshold_minutes``, ``insee_code``, ``name``,
        ``population``, ``pop_beyond_a``, ``pop_beyond_b``, ``gained``, ``lost``,
        ``minutes_mean_a``, ``minutes_mean_b``.
    totals
        One row per (analysis, threshold): population beyond in A and B,
        inhabitants gaining and losing access, net change, communes changed.
    """

    a: str
    b: str
    changes: pd.DataFrame
    totals: pd.DataFrame
    result_a: Path | None = None
    result_b: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for JSON)."""
        return {
            "a": self.a,
            "b": self.b,
            "totals": self.totals.to_dict(orient="records"),
            "changes": self.changes.to_dict(orient="records"),
        }

    def write(self, folder: str | Path, *, writers: bool = True) -> list[Path]:
        """Write ``changes.csv``, ``totals.csv`` and ``comparison.json`` into ``folder``.

        With ``writers``, the ``coverage.compare_writers`` entry points (the
        map of :mod:`maps`, found there: this package never imports it) are
        called with the folder and the comparison as plain data, plus the two
        result folders (``result_a``, ``result_b``).
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / "changes.csv", folder / "totals.csv", folder / "comparison.json"]
        write_table(self.changes, paths[0])
        write_table(self.totals, paths[1])
        paths[2].write_text(
            json.dumps(self.to_dict(), ensure_ascii=False, indent=2, default=str), encoding="utf-8"
        )
        if writers:
            data = {**self.to_dict(), "result_a": self.result_a, "result_b": self.result_b}
            for ep in sorted(entry_points(group=COMPARE_WRITERS_GROUP), key=lambda e: e.name):
                paths += list(ep.load()(folder, data) or [])
        return paths


def compare_results(folder_a: str | Path, folder_b: str | Path) -> Comparison:
    """Compare two result directories of ``coverage run``.

    Raises
    ------
    DataError
        Missing files, runs of different territories, nothing in common.
    """
    sa, sb = read_summary(folder_a), read_summary(folder_b)
    if sa["territory"]["name"] != sb["territory"]["name"]:
        raise DataError(
            f"the runs are of different territories ({sa['territory']['name']} and "
            f"{sb['territory']['name']}): nothing to compare"
        )
    common = [name for name in sa["analyses"] if name in sb["analyses"]]
    if not common:
        raise DataError(
            f"no analysis in common: A has {', '.join(sa['analyses'])}, "
            f"B has {', '.join(sb['analyses'])}"
        )
    thresholds = [
        t for t in sa["scenario"]["thresholds_minutes"] if t in sb["scenario"]["thresholds_minutes"]
    ]
    change_frames, total_rows = [], []
    for name in common:
        public_a = sa["analyses"][name].get("public") or {}
        public_b = sb["analyses"][name].get("public") or {}
        if public_a.get("name") != public_b.get("name"):
            raise DataError(
                f"l'analyse '{name}' ne compte pas le même public dans A "
                f"({public_a.get('name', 'population')}) et dans B "
                f"({public_b.get('name', 'population')}) : rien à comparer"
            )
        ta = _communes(folder_a, name, public_a.get("label"))
        tb = _communes(folder_b, name, public_b.get("label"))
        merged = ta.merge(tb, on=["insee_code", "name", "population"], suffixes=("_a", "_b"))
        for t in thresholds:
            key = threshold_key(t)
            beyond_a = merged[f"pop_beyond_{key}_a"]
            beyond_b = merged[f"pop_beyond_{key}_b"]
            frame = pd.DataFrame(
                {
                    "analysis": name,
                    "threshold_minutes": t,
                    "insee_code": merged["insee_code"],
                    "name": merged["name"],
                    "population": merged["population"],
                    "pop_beyond_a": beyond_a,
                    "pop_beyond_b": beyond_b,
                    "gained": (beyond_a - beyond_b).clip(lower=0),
                    "lost": (beyond_b - beyond_a).clip(lower=0),
                    "minutes_mean_a": merged["minutes_mean_a"],
                    "minutes_mean_b": merged["minutes_mean_b"],
                }
            )
            changed = frame[(frame["gained"] > 0) | (frame["lost"] > 0)]
            change_frames.append(changed)
            total_rows.append(
                {
                    "analysis": name,
                    "threshold_minutes": t,
                    "pop_beyond_a": int(beyond_a.sum()),
                    "pop_beyond_b": int(beyond_b.sum()),
                    "gained": int(frame["gained"].sum()),
                    "lost": int(frame["lost"].sum()),
                    "net_gain": int(frame["gained"].sum() - frame["lost"].sum()),
                    "communes_changed": len(changed),
                }
            )
    changes = pd.concat(change_frames, ignore_index=True).sort_values(
        ["analysis", "threshold_minutes", "gained", "lost"], ascending=[True, True, False, False]
    )
    return Comparison(
        a=sa["scenario"]["name"],
        b=sb["scenario"]["name"],
        changes=changes.reset_index(drop=True),
        totals=pd.DataFrame(total_rows),
        result_a=Path(folder_a),
        result_b=Path(folder_b),
    )


def _communes(folder: str | Path, name: str, public_label: str | None = None) -> pd.DataFrame:
    path = Path(folder) / TABLES_DIR / f"{table_stem('communes', name)}.csv"
    if not path.is_file():
        raise DataError(f"missing table of analysis '{name}'", path=path)
    return read_written_table(
        path,
        dtype={"insee_code": str, "canton_code": str, "epci_siren": str},
        public_label=public_label,
    )
