"""``benchmarks/run.py``'s check that a warm run writes the figures of the cold run.

Issue 18 asks for a warm run under 5 s "with identical figures": the benchmark compares
every warm run's outputs with the cold run's (:func:`run.differing_outputs`). These tests
copy a real Gers result and change one thing at a time: what a run changes every time
(creation time, timings, the GeoPackage's write times) must not count, a changed figure
must.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.append(str(REPO / "benchmarks"))  # as a benchmark script finds it, after the packages

import run as run_benchmark  # noqa: E402


@pytest.fixture
def two_runs(gers_result, tmp_path: Path) -> tuple[Path, Path]:
    """The Gers result and a copy of it with the creation time, timings and write times redone."""
    reference = gers_result.path
    other = tmp_path / "other"
    shutil.copytree(reference, other)
    summary_path = other / "summary.json"
    summary = json.loads(summary_path.read_text("utf-8"))
    summary["created_utc"] = "2030-01-01T00:00:00+00:00"
    summary["timings_s"] = {key: 99.0 for key in summary["timings_s"]}
    summary_path.write_text(json.dumps(summary, ensure_ascii=False), "utf-8")
    with sqlite3.connect(other / "results.gpkg") as db:
        db.execute("UPDATE gpkg_contents SET last_change = '2030-01-01T00:00:00.000Z'")
    return reference, other


def _edit_gpkg(path: Path, sql: str) -> None:
    with sqlite3.connect(path) as db:
        # the R-tree triggers call SpatiaLite functions plain sqlite3 does not have
        triggers = db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
        for (name,) in triggers:
            db.execute(f'DROP TRIGGER "{name}"')
        assert db.execute(sql).rowcount == 1


def test_what_every_run_changes_does_not_count(two_runs):
    reference, other = two_runs
    assert (reference / "summary.json").read_bytes() != (other / "summary.json").read_bytes()
    assert run_benchmark.differing_outputs(reference, other) == []
    assert run_benchmark.differing_outputs(reference, other, figures_only=True) == []


def test_a_changed_table_value_is_found(two_runs):
    reference, other = two_runs
    table = other / "tables" / "communes_tiers_lieu.csv"
    lines = table.read_text("utf-8").splitlines(keepends=True)
    lines[1] = lines[1].replace(",", ";", 1)
    table.write_text("".join(lines), "utf-8")
    assert run_benchmark.differing_outputs(reference, other) == ["tables/communes_tiers_lieu.csv"]
    assert run_benchmark.differing_outputs(reference, other, figures_only=True) == [
        "tables/communes_tiers_lieu.csv"
    ]


def test_a_changed_headline_figure_is_found(two_runs):
    reference, other = two_runs
    summary_path = other / "summary.json"
    summary = json.loads(summary_path.read_text("utf-8"))
    summary["analyses"]["tiers_lieu"]["minutes_mean"] += 0.01
    summary_path.write_text(json.dumps(summary, ensure_ascii=False), "utf-8")
    assert run_benchmark.differing_outputs(reference, other) == ["summary.json"]
    assert run_benchmark.differing_outputs(reference, other, figures_only=True) == ["summary.json"]


def test_a_path_in_the_summary_counts_only_between_runs_of_one_code(two_runs):
    reference, other = two_runs
    summary_path = other / "summary.json"
    summary = json.loads(summary_path.read_text("utf-8"))
    summary["provenance"]["elsewhere"] = "/another/checkout"
    summary_path.write_text(json.dumps(summary, ensure_ascii=False), "utf-8")
    assert run_benchmark.differing_outputs(reference, other) == ["summary.json"]
    assert run_benchmark.differing_outputs(reference, other, figures_only=True) == []


def test_a_changed_layer_attribute_is_found(two_runs):
    reference, other = two_runs
    _edit_gpkg(
        other / "results.gpkg", "UPDATE cantons SET canton_name = 'Ailleurs' WHERE rowid = 3"
    )
    assert run_benchmark.differing_outputs(reference, other) == ["results.gpkg"]
    assert run_benchmark.differing_outputs(reference, other, figures_only=True) == ["results.gpkg"]


def test_a_changed_outline_counts_only_between_runs_of_one_code(two_runs):
    reference, other = two_runs
    with sqlite3.connect(other / "results.gpkg") as db:
        column = db.execute(
            "SELECT column_name FROM gpkg_geometry_columns WHERE table_name = 'isochrones'"
        ).fetchone()[0]
        first, second = db.execute(f'SELECT "{column}" FROM isochrones ORDER BY rowid LIMIT 2')
    assert first != second
    _edit_gpkg(
        other / "results.gpkg",
        f"UPDATE isochrones SET \"{column}\" = X'{second[0].hex()}' WHERE rowid = "
        "(SELECT min(rowid) FROM isochrones)",
    )
    assert run_benchmark.differing_outputs(reference, other) == ["results.gpkg"]
    assert run_benchmark.differing_outputs(reference, other, figures_only=True) == []
