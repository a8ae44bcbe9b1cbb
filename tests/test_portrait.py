"""``coverage portrait``: one EPCI's HTML map and PNG from a Gers result, by SIREN or name."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from coverage.cli import app

GASCOGNE_TOULOUSAINE = "200023620"
GERS_EPCI = 17


def test_one_portrait_by_name_writes_its_map_and_image(gers_result, tmp_path: Path) -> None:
    from coverage.jobs.portrait import write_portraits

    out = tmp_path / "portraits"
    written = write_portraits(gers_result.path, ["cc de la gascogne toulousaine"], output_dir=out)
    assert written.epci == [(GASCOGNE_TOULOUSAINE, "CC de la Gascogne Toulousaine")]
    html = out / f"portrait_{GASCOGNE_TOULOUSAINE}.html"
    png = out / f"portrait_{GASCOGNE_TOULOUSAINE}.png"
    assert written.files == [html, png]
    text = html.read_text("utf-8")
    assert "CC de la Gascogne Toulousaine" in text and "leaflet" in text.lower()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.iterdir()) == sorted([html.name, png.name])


@pytest.mark.slow
def test_all_portraits_through_the_cli(gers_result, tmp_path: Path) -> None:
    out = tmp_path / "tous"
    run = CliRunner().invoke(app, ["portrait", str(gers_result.path), "--all", "-o", str(out)])
    assert run.exit_code == 0, run.output
    assert f"{GERS_EPCI} portraits écrits" in run.output
    assert len(list(out.glob("portrait_*.html"))) == GERS_EPCI
    assert len(list(out.glob("portrait_*.png"))) == GERS_EPCI


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Atlantis"], "EPCI « Atlantis » inconnu de ce résultat"),
        ([], "donner un EPCI"),
        ([GASCOGNE_TOULOUSAINE, "--all"], "pas les deux"),
        ([GASCOGNE_TOULOUSAINE, "--analysis", "boulangerie"], "analyse « boulangerie » absente"),
    ],
)
def test_bad_requests_are_one_french_line(
    gers_result, tmp_path: Path, args: list[str], message: str, capsys
) -> None:
    from coverage.cli import main

    out = tmp_path / "x"
    assert main(["portrait", str(gers_result.path), *args, "-o", str(out)]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("Erreur : ") and message in err
    assert not out.exists()
