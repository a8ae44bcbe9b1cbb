"""The command line: real runs of the ``coverage`` entry point (in-process and as a subprocess)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coverage.cli import main


def test_info_gers(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "gers", "--data", str(shared_data / "gers")]) == 0
    out = capsys.readouterr().out
    assert "458 communes" in out
    assert "192 645 habitants" in out
    assert "17 cantons" in out and "Auch-1, Auch-2 et Auch-3" in out
    assert "17 EPCI" in out
    assert "roads" in out and "présente" in out


def test_info_json(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "gers", "--data", str(shared_data), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["communes"] == 458 and summary["population"] == 192_645
    assert summary["data_dir_origin"] == "--data"


def test_info_uses_environment_variable(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COVERAGE_DATA_DIR", str(shared_data))
    assert main(["info"]) == 0
    assert "$COVERAGE_DATA_DIR" in capsys.readouterr().out


def test_bad_data_dir_gives_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "gers", "--data", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("Erreur :") and "coverage fetch gers" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_broken_bundle_names_file_row_field(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "gers"
    shutil.copytree(shared_data / "gers", bundle)
    csv = (bundle / "communes_gers.geojson").read_text("utf-8")
    (bundle / "communes_gers.geojson").write_text(
        csv.replace('"population": 22428', '"population": -3'), "utf-8"
    )
    assert main(["info", "gers", "--data", str(bundle)]) == 1
    err = capsys.readouterr().err
    assert "communes_gers.geojson" in err and "insee_code=32013" in err
    assert "champ « population »" in err and "Traceback" not in err


def test_population_command_writes_geotiff(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pop.tif"
    assert main(["population", "gers", "--data", str(shared_data), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "192 645 habitants" in text and out.is_file()


def test_help_on_every_command() -> None:
    for argv in (["--help"], ["info", "--help"], ["fetch", "--help"], ["population", "--help"]):
        assert main(argv) == 0


def test_console_script_runs(shared_data: Path) -> None:
    exe = Path(sys.executable).with_name("coverage")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "coverage.cli"]
    result = subprocess.run(
        [*command, "info", "gers", "--data", str(shared_data / "gers")],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "192 645 habitants" in result.stdout


@pytest.mark.parametrize(
    "command",
    [["run"], ["compare"], ["place"], ["itinerary"], ["services", "import"], ["geocode"]],
)
def test_every_table_writing_command_has_the_csv_option(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """--csv fr|machine on every command that writes tables; a bad value is refused."""
    assert main([*command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())  # help in boxes
    assert "--csv" in text and "Format des tableaux CSV" in text
    assert main([*command, "--csv", "excel"]) == 2
