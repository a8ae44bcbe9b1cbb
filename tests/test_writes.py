"""Commands write only into their output and the cache: not the working directory or bundle."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from coverage.cli import main


def _tree(root: Path) -> dict[str, float]:
    return {
        str(path.relative_to(root)): path.stat().st_mtime
        for path in root.rglob("*")
        if path.is_file()
    }


def test_commands_write_only_their_outputs_and_the_cache(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    out = tmp_path / "out"
    cache = Path(os.environ["COVERAGE_CACHE_DIR"])
    addresses = tmp_path / "in" / "adresses.csv"
    addresses.parent.mkdir()
    addresses.write_text("id;commune;code_postal\n1;Auch;32000\n2;Condom;32100\n", "utf-8")
    bundle_before = _tree(shared_data / "gers")
    monkeypatch.chdir(workdir)
    data = ["--data", str(shared_data)]
    assert main(["info", "gers", *data]) == 0
    assert main(["population", "gers", *data, "-o", str(out / "population.tif")]) == 0
    assert main(["run", "gers", *data, "--no-map", "-o", str(out / "run")]) == 0
    assert main(["run", "gers", *data, "--no-map", "-o", str(out / "run2")]) == 0
    assert main(["compare", str(out / "run"), str(out / "run2"), "-o", str(out / "cmp")]) == 0
    assert (
        main(
            [
                "geocode",
                str(addresses),
                "-t",
                "gers",
                *data,
                "-b",
                "commune",
                "--no-progress",
                "-o",
                str(out / "geocoded.csv"),
            ]
        )
        == 0
    )
    # the working directory stays empty (no ./cache, no ./results, no log)
    assert list(workdir.iterdir()) == []
    # the bundle is read, never written
    assert _tree(shared_data / "gers") == bundle_before
    # the input folder holds only the input
    assert [p.name for p in addresses.parent.iterdir()] == ["adresses.csv"]
    # what was written is in the outputs and the cache
    assert {p.name for p in out.iterdir()} == {
        "population.tif",
        "run",
        "run2",
        "cmp",
        "geocoded.csv",
    }
    assert any(cache.rglob("*"))
