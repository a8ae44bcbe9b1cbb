"""Files colleagues can open: every file a command writes gets ``0666`` minus the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from coverage.cli import main


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _modes(folder: Path) -> dict[str, int]:
    return {
        str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_run_files_are_readable_by_colleagues(
    shared_data: Path, tmp_path: Path, umask_022: None
) -> None:
    out = tmp_path / "actuel"
    assert main(["run", "gers", "--data", str(shared_data), "-o", str(out)]) == 0
    modes = _modes(out)
    assert "minutes_france_services.tif" in modes and "results.gpkg" in modes
    assert "tables/underserved_france_services.csv" in modes and "map.html" in modes
    assert {name: oct(m) for name, m in modes.items() if m != 0o644} == {}
    assert stat.S_IMODE((out / "tables").stat().st_mode) == 0o755


def test_population_geotiff_is_readable_by_colleagues(
    shared_data: Path, tmp_path: Path, umask_022: None
) -> None:
    tif = tmp_path / "population.tif"
    assert main(["population", "gers", "--data", str(shared_data), "-o", str(tif)]) == 0
    assert oct(stat.S_IMODE(tif.stat().st_mode)) == oct(0o644)
    assert {name: oct(m) for name, m in _modes(tmp_path).items() if m != 0o644} == {}
