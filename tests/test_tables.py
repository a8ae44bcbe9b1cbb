"""The French spreadsheet CSV style (default) and the machine style of the commands' tables."""

from __future__ import annotations

import codecs
from pathlib import Path

import pandas as pd
import pytest

from coverage.jobs.compare import compare_results
from coverage.tables import read_written_table, use_style, write_table

BOM = b"\xef\xbb\xbf"


def test_run_tables_open_in_columns_in_a_french_spreadsheet(gers_result) -> None:
    raw = (gers_result.path / "tables" / "communes_france_services.csv").read_bytes()
    assert raw.startswith(BOM + b"Code INSEE;Nom;Code canton;Canton;")
    header, first = raw[3:].decode("utf-8").splitlines()[:2]
    assert "Part au-delà de 20 min (%)" in header.split(";")
    row = dict(zip(header.split(";"), first.split(";"), strict=True))
    assert row["Injoignable"] in ("oui", "non")
    assert "," in row["Temps moyen (min)"] and "." not in row["Temps moyen (min)"]
    # read back: machine names, fractions, booleans
    table = gers_result.table("communes_france_services")
    assert table["share_beyond_20"].between(0, 1).all() and table["unreachable"].dtype == bool
    assert table["insee_code"].str.len().eq(5).all()


def test_machine_style_keeps_todays_columns(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "insee_code": ["32013"],
            "share_beyond_20": [0.2138],
            "unreachable": [False],
            "minutes_mean": [7.86],
        }
    )
    with use_style("machine"):
        write_table(frame, tmp_path / "m.csv")
    assert (tmp_path / "m.csv").read_bytes() == (
        b"insee_code,share_beyond_20,unreachable,minutes_mean\n32013,0.2138,False,7.86\n"
    )
    write_table(frame, tmp_path / "f.csv")
    assert (tmp_path / "f.csv").read_bytes() == BOM + (
        "Code INSEE;Part au-delà de 20 min (%);Injoignable;Temps moyen (min)\n"
        "32013;21,38;non;7,86\n"
    ).encode()
    again = read_written_table(tmp_path / "f.csv", dtype={"insee_code": str})
    pd.testing.assert_frame_equal(again, frame)


def test_style_setting_and_bad_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from coverage.errors import ConfigError

    monkeypatch.setenv("COVERAGE_CSV_STYLE", "machine")
    write_table(pd.DataFrame({"a": [1.5]}), tmp_path / "a.csv")
    assert (tmp_path / "a.csv").read_bytes() == b"a\n1.5\n"
    monkeypatch.setenv("COVERAGE_CSV_STYLE", "excel")
    with pytest.raises(ConfigError, match="COVERAGE_CSV_STYLE"):
        write_table(pd.DataFrame({"a": [1.5]}), tmp_path / "b.csv")


def test_compare_writes_french_tables(gers_result, tmp_path: Path) -> None:
    comparison = compare_results(gers_result.path, gers_result.path)
    totals = tmp_path / "totals.csv"
    assert totals in comparison.write(tmp_path)  # changes, totals, comparison.json, the map
    assert totals.read_bytes().startswith(BOM + b"Analyse;Seuil (min);")
    assert read_written_table(totals)["lost"].eq(0).all()


def test_placement_before_after_columns_round_trip(tmp_path: Path) -> None:
    """Placement tables: ``_before``/``_after`` get « (avant) »/« (après) » and read back."""
    frame = pd.DataFrame(
        {
            "insee_code": ["32013"],
            "minutes_mean_after": [12.5],
            "pop_within_15_before": [100],
            "pop_newly_within_15": [40],
            "share_beyond_30_after": [0.125],
        }
    )
    path = write_table(frame, tmp_path / "communes.csv")
    header = path.read_bytes().split(b"\r\n" if b"\r\n" in path.read_bytes() else b"\n")[0]
    assert header.decode("utf-8-sig").split(";") == [
        "Code INSEE",
        "Temps moyen (min) (après)",
        "Population à moins de 15 min (avant)",
        "Population nouvellement à moins de 15 min",
        "Part au-delà de 30 min (%) (après)",
    ]
    back = read_written_table(path, dtype={"insee_code": str})
    assert list(back.columns) == list(frame.columns)
    assert back["share_beyond_30_after"].iloc[0] == pytest.approx(0.125)


def test_decimal_comma_writes_what_pandas_writes(tmp_path: Path) -> None:
    """The fast French writer gives the bytes of ``to_csv(decimal=",")``, edge values included."""
    import numpy as np
    import pandas as pd

    from coverage.tables import decimal_comma, french_frame, write_table

    rng = np.random.default_rng(18)
    n = 5_000
    special = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e16, 1.5e-7, 123456789.125, -2.5, 1 / 3]
    floats = np.concatenate([special, rng.normal(0, 1e4, n - len(special))])
    frame = pd.DataFrame(
        {
            "insee_code": [f"32{i:03d}" for i in range(n)],
            "name": ['Auch; "centre"' if i % 7 == 0 else f"Commune {i}" for i in range(n)],
            "seconds": floats,
            "minutes_mean": (floats / 60).astype(np.float32),
            "population": rng.integers(0, 10_000, n),
            "share_beyond_20": rng.random(n),
            "unreachable": rng.random(n) < 0.5,
            "maybe": pd.array([1.5 if i % 3 else None for i in range(n)], dtype="Float64"),
        }
    )
    written = write_table(frame, tmp_path / "t.csv", style="fr").read_bytes()
    expected = french_frame(frame).to_csv(sep=";", decimal=",", index=False)
    assert written == codecs.BOM_UTF8 + expected.encode("utf-8")
    assert "1,5e-07" in expected and "-0,0" in expected and ";inf;" in expected
    assert decimal_comma(frame)["population"].dtype == frame["population"].dtype
