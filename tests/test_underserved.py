"""The underserved ranking falls back to the next lower threshold with people, saying so.

In the Gers nobody is beyond the France services' 30-minute reference: the
terminal, ``tables/underserved_france_services.csv``, ``summary.json`` and the
README's ``underserved(top=10)`` all rank the communes beyond 20 minutes, by one
rule (:meth:`coverage.access.ServiceAccess.underserved_threshold`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coverage.commands.run import print_summary
from coverage.jobs.run import run_scenario
from coverage.scenario import load_scenario

REPO = Path(__file__).resolve().parents[1]
NOTE = "Aucun habitant au-delà du seuil de référence (30 min)"


@pytest.fixture(scope="module")
def actuel(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("underserved") / "actuel"
    scenario = load_scenario(REPO / "data/geo/gers/scenarios/actuel.toml")
    return run_scenario(scenario, output_dir=out, data_dir=shared_data)


def test_method_falls_back_to_20_minutes(actuel) -> None:
    fs = actuel.analyses["france_services"]
    assert fs.reference_minutes == 30 and (fs.communes["pop_beyond_30"] == 0).all()
    assert fs.underserved_threshold() == 20
    top = fs.underserved(top=10)
    assert len(top) == 10 and top["insee_code"].iloc[0] == "32271"  # Monguilhem
    assert (top["threshold_minutes"] == 20).all() and (top["reference_minutes"] == 30).all()
    assert (top["pop_beyond_20"] > 0).all() and (top["pop_beyond_30"] == 0).all()
    assert top.attrs["note"].startswith(NOTE) and "au-delà de 20 min" in top.attrs["note"]
    # an explicit threshold is taken as given, without a note
    assert fs.underserved(threshold_minutes=30).empty
    assert "note" not in fs.underserved(threshold_minutes=20).attrs
    # where someone is beyond the reference, the reference ranks them and no note is given
    tl = actuel.analyses["tiers_lieu"]
    assert tl.underserved_threshold() == tl.reference_minutes
    assert tl.underserved_note() == "" and tl.underserved(top=3).attrs["note"] == ""


def test_file_summary_and_terminal_agree(actuel, capsys: pytest.CaptureFixture[str]) -> None:
    fs = actuel.analyses["france_services"]
    from coverage.tables import read_written_table

    table = read_written_table(
        actuel.output_dir / "tables/underserved_france_services.csv", dtype={"insee_code": str}
    )
    assert len(table) == (fs.communes["pop_beyond_20"] > 0).sum() == 64
    assert set(table["threshold_minutes"]) == {20} and set(table["reference_minutes"]) == {30}
    assert table["insee_code"].head(10).tolist() == fs.underserved(top=10)["insee_code"].tolist()
    summary = json.loads((actuel.output_dir / "summary.json").read_text("utf-8"))
    figures = summary["analyses"]["france_services"]
    assert figures["underserved_threshold_minutes"] == 20
    assert figures["underserved_note"].startswith(NOTE)
    assert figures["underserved_count"] == 64 and len(figures["underserved"]) == 10
    print_summary(actuel.summary, actuel.analyses)
    out = capsys.readouterr().out
    assert NOTE in out and "mal desservies (au-delà de 20 min)" in out
    assert "1. Monguilhem" in out
