"""`coverage run` and `coverage compare`: the main job on the real Gers bundle, and result files."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import rasterio

from coverage.cli import main
from coverage.jobs.compare import compare_results
from coverage.jobs.run import ResultExistsError, run_scenario
from coverage.scenario import load_scenario
from coverage.tables import read_written_table
from tests.conftest import REPO

DEFAULT = REPO / "data/geo/gers/scenarios/actuel.toml"


@pytest.fixture(scope="session")
def gers_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """The main job, as README runs it (default scenario), through the CLI entry point."""
    out = tmp_path_factory.mktemp("runs") / "actuel"
    import contextlib
    import io

    buffer = io.StringIO()
    from coverage._cli_common import console

    with contextlib.redirect_stdout(buffer):
        console.file = buffer
        try:
            code = main(["run", "--data", str(shared_data), "-o", str(out)])
        finally:
            console.file = None  # back to "whatever sys.stdout is", as rich does by default
    assert code == 0, buffer.getvalue()
    return out, buffer.getvalue()


def test_run_writes_every_output(gers_run) -> None:
    out, _ = gers_run
    for name in (
        "summary.json",
        "results.gpkg",
        "map.html",
        "minutes_france_services.tif",
        "tables/communes_france_services.csv",
        "tables/underserved_tiers_lieu.csv",
        "tables/cantons_france_services.csv",
    ):
        assert (out / name).is_file(), name
    layers = {name for name, _ in pyogrio.list_layers(out / "results.gpkg")}
    assert {"communes", "cantons", "epci", "services", "isochrones", "catchments"} <= layers
    # the cells layer (most of the file's weight) only on request, and the run says so
    assert "cells" not in layers
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["cells"]["written"] is False and "--cells" in summary["cells"]["note"]
    communes = gpd.read_file(out / "results.gpkg", layer="communes")
    assert len(communes) == 458 and communes.crs.to_epsg() == 2154
    with rasterio.open(out / "minutes_france_services.tif") as src:
        assert src.crs.to_epsg() == 2154 and src.tags(1)["units"] == "minutes"
    assert not list(out.parent.glob(".actuel.tmp-*"))  # no half-written directory left


def test_population_adds_up_and_every_commune_has_a_time(gers_run) -> None:
    out, _ = gers_run
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["territory"]["population"] == 192_645
    for figures in summary["analyses"].values():
        for t in figures["thresholds"].values():
            assert t["pop_within"] + t["pop_beyond"] == 192_645
    table = read_written_table(
        out / "tables/communes_france_services.csv", dtype={"insee_code": str}
    )
    assert len(table) == 458
    finite = table["minutes_point"].notna()
    assert (finite | table["unreachable"]).all()
    for t in ("15", "20", "30"):
        assert int((table[f"pop_within_{t}"] + table[f"pop_beyond_{t}"]).sum()) == 192_645
    # canton table: Auch's pseudo-canton 3299 on its own line, totals still exact
    cantons = read_written_table(
        out / "tables/cantons_france_services.csv", dtype={"canton_code": str}
    )
    assert "3299" in set(cantons["canton_code"]) and cantons["population"].sum() == 192_645


def test_headline_figure_with_its_method(gers_run) -> None:
    out, stdout = gers_run
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    (headline,) = [h for h in summary["headline"] if h["analysis"] == "france_services"]
    assert headline["threshold_minutes"] == 30
    assert 0 <= headline["share"] <= 1 and headline["method"]
    fs = summary["analyses"]["france_services"]
    assert fs["services"] == 92 and fs["services_in_territory"] == 27
    provenance = summary["provenance"]
    assert provenance["network"]["detour_factor"] == 1.3
    assert provenance["network"]["speed_profile"] == "france"
    assert provenance["network"]["source_date"] == "2025-12-11"
    assert provenance["access_legs"]["speed_kph"] == 30
    assert "répartie" in provenance["population"]["method"]
    assert summary["engine"]["version"]
    # the terminal shows the share beyond 30 min and an underserved table
    assert "France services" in stdout and "30 min" in stdout
    assert "mal desservies" in stdout
    assert "non écrite dans results.gpkg" in stdout and "coverage run --cells" in stdout


def test_tiers_lieux_figures(gers_run) -> None:
    out, _ = gers_run
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    tl = summary["analyses"]["tiers_lieu"]
    assert tl["services"] == 3
    # the three open tiers-lieux are at Lombez, Masseube and Lectoure: their communes
    # are within 15 min, Auch (22 428 inhabitants) is not within 20 min
    table = read_written_table(out / "tables/communes_tiers_lieu.csv", dtype={"insee_code": str})
    rows = table.set_index("insee_code")
    for code in ("32213", "32242", "32208"):
        assert rows.loc[code, "minutes_point"] < 15
    assert rows.loc["32013", "pop_beyond_20"] == 22_428
    assert tl["underserved_count"] > 0


def test_existing_result_is_refused_then_overwritten(gers_run, shared_data: Path) -> None:
    out, _ = gers_run
    scenario = load_scenario(DEFAULT)
    with pytest.raises(ResultExistsError, match="--overwrite"):
        run_scenario(scenario, output_dir=out, data_dir=shared_data)
    assert main(["run", "--data", str(shared_data), "-o", str(out)]) == 1


# a second whole run of the Gers (about 6 s); test_api.py compares two real runs by default
@pytest.mark.slow
def test_compare_adding_a_tiers_lieu(gers_run, shared_data: Path, tmp_path: Path) -> None:
    out_a, _ = gers_run
    text = DEFAULT.read_text("utf-8").replace('name = "gers_actuel"', 'name = "eauze"')
    text += (
        '\n[[services.add]]\nservice_id = "tl-eauze"\nkind = "tiers_lieu"\n'
        'name = "Tiers-lieu solidaire d\'Eauze"\ninsee_code = "32119"\n'
        "\n[outputs]\ncells = false\nisochrones = false\nmap = false\n"
    )
    path = tmp_path / "eauze.toml"
    path.write_text(text, "utf-8")
    out_b = tmp_path / "eauze"
    run_scenario(load_scenario(path), output_dir=out_b, data_dir=shared_data)
    comparison = compare_results(out_a, out_b)
    totals = comparison.totals.set_index(["analysis", "threshold_minutes"])
    tl20 = totals.loc[("tiers_lieu", 20.0)]
    assert tl20["lost"] == 0 and tl20["gained"] > 4_000  # Eauze alone has 4 108 inhabitants
    assert tl20["pop_beyond_a"] - tl20["pop_beyond_b"] == tl20["gained"] - tl20["lost"]
    assert totals.loc[("france_services", 30.0), "gained"] == 0  # France services unchanged
    eauze = comparison.changes[
        (comparison.changes["insee_code"] == "32119")
        & (comparison.changes["analysis"] == "tiers_lieu")
    ]
    gained = eauze.set_index("threshold_minutes")["gained"]
    assert gained[20.0] == gained[30.0] == 4_108  # all of Eauze comes within 20 min
    assert 4_000 < gained[15.0] <= 4_108  # a few outlying cells stay beyond 15 min
    assert main(["compare", str(out_a), str(out_b), "-o", str(tmp_path / "cmp")]) == 0
    assert (tmp_path / "cmp" / "changes.csv").is_file()


def test_failed_run_leaves_nothing(gers, shared_data: Path, tmp_path: Path) -> None:
    text = DEFAULT.read_text("utf-8") + '\n[services]\nremove = ["inconnu"]\n'
    path = tmp_path / "bad.toml"
    path.write_text(text, "utf-8")
    out = tmp_path / "bad"
    assert main(["run", str(path), "--data", str(shared_data), "-o", str(out)]) == 1
    assert not out.exists() and not list(tmp_path.glob(".bad.tmp-*"))


def test_offline_without_bundle_gives_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("COVERAGE_DATA_DIR", str(tmp_path / "vide"))
    for var in ("COVERAGE_GEO_API_URL", "COVERAGE_DATAGOUV_API_URL", "COVERAGE_BAN_URL"):
        monkeypatch.setenv(var, f"http://127.0.0.1:{port}")
    monkeypatch.setenv("COVERAGE_COG_URL", f"http://127.0.0.1:{port}/cog.zip")
    monkeypatch.setenv("COVERAGE_HTTP_RETRIES", "0")
    monkeypatch.setenv("COVERAGE_HTTP_TIMEOUT_S", "2")
    assert main(["run"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("Erreur :") and len(err.splitlines()) == 1
    assert "--data" in err and "coverage fetch gers" in err
    assert os.environ["COVERAGE_DATA_DIR"].endswith("vide")


def test_health_accessibility_section(gers_run, shared_data: Path, tmp_path: Path) -> None:
    """2SFCA on the Gers with two health centres the scenario adds (capacity in FTE)."""
    text = DEFAULT.read_text("utf-8").replace('name = "gers_actuel"', 'name = "sante"')
    text += (
        '\n[[services.add]]\nservice_id = "cs-auch"\nkind = "health_centre"\n'
        'name = "Centre de santé d\'Auch"\ninsee_code = "32013"\nstatus = "open"\ncapacity = 6\n'
        '\n[[services.add]]\nservice_id = "cs-condom"\nkind = "health_centre"\n'
        'name = "Centre de santé de Condom"\ninsee_code = "32107"\nstatus = "open"\ncapacity = 2\n'
        '\n[health]\nkinds = ["health_centre"]\ndecay = "drees"\nper_inhabitants = 100000\n'
        "\n[outputs]\ncells = false\nisochrones = false\ncatchments = false\nmap = false\n"
    )
    path = tmp_path / "sante.toml"
    path.write_text(text, "utf-8")
    result = run_scenario(load_scenario(path), output_dir=tmp_path / "sante", data_dir=shared_data)
    health = result.summary["health"]
    assert health["supply_sites"] == 2 and health["supply_total"] == 8
    table = read_written_table(
        tmp_path / "sante/tables/communes_health.csv", dtype={"insee_code": str}
    )
    # every FTE is shared out among the population that reaches it (per 100 000 inhabitants)
    distributed = (table["health__accessibility"] * table["population"]).sum() / 100_000
    # no neighbouring communes in the bundle: Condom (10 km from Lot-et-Garonne) shares
    # part of its capacity over the border, Auch none of it
    assert (
        health["border"]["rule"] == "downweight" and health["border"]["neighbour_communes"] is None
    )
    assert 6 < health["supply_counted"] < 8
    assert distributed + health["unused_supply"] == pytest.approx(
        health["supply_counted"], rel=1e-9
    )
    # capacity unit of added sites is 'site': no DREES mark, nothing flagged, and it says so
    assert health["capacity_unit"] == "sites" and health["undersupplied_threshold"] is None
    assert health["communes_undersupplied"] is None and not table["health__undersupplied"].any()
    auch = table.set_index("insee_code").loc["32013", "health__accessibility"]
    far = table.set_index("insee_code").loc["32087", "health__accessibility"]  # Castex-d'Armagnac
    assert auch > 0 and far == 0


def test_default_tables_are_french_and_csv_machine_writes_machine_bytes(
    gers_run, shared_data: Path, tmp_path: Path
) -> None:
    """`coverage run` writes French spreadsheet tables; `--csv machine` the pipeline bytes."""
    out, _ = gers_run
    french = (out / "tables/communes_france_services.csv").read_bytes()
    assert french.startswith(b"\xef\xbb\xbfCode INSEE;Nom;")
    text = DEFAULT.read_text("utf-8").replace('name = "gers_actuel"', 'name = "machine"')
    text += "\n[outputs]\nisochrones = false\ncatchments = false\n"
    path = tmp_path / "machine.toml"
    path.write_text(text, "utf-8")
    run_out = tmp_path / "machine"
    args = ["run", str(path), "--data", str(shared_data), "-o", str(run_out), "--no-map"]
    assert main([*args, "--csv", "machine", "--cells"]) == 0
    machine = (run_out / "tables/communes_france_services.csv").read_bytes()
    assert machine.startswith(b"insee_code,name,") and b";" not in machine.split(b"\n")[0]
    assert b"\xef\xbb\xbf" not in machine[:3]
    # the same figures either way
    a = read_written_table(french, dtype={"insee_code": str}).set_index("insee_code")
    b = read_written_table(machine, dtype={"insee_code": str}).set_index("insee_code")
    assert a["pop_beyond_30"].sum() == b["pop_beyond_30"].sum()
    assert a["share_beyond_30"].round(4).equals(b["share_beyond_30"].round(4))
    # --cells: the layer is written, styled on the first analysis' minutes, and said so
    assert "cells" in {name for name, _ in pyogrio.list_layers(run_out / "results.gpkg")}
    summary = json.loads((run_out / "summary.json").read_text("utf-8"))
    assert summary["cells"]["written"] is True
    styles = _layer_styles(run_out / "results.gpkg")
    cells = styles["cells"].find("renderer-v2")
    assert cells.get("type") == "graduatedSymbol"
    assert cells.get("attr") == "france_services__minutes"
    # the polygons asked for are cells.parquet's cells, value for value, shape for shape
    from geopandas.testing import assert_geodataframe_equal

    layer = gpd.read_file(run_out / "results.gpkg", layer="cells")
    parquet = gpd.read_parquet(run_out / "cells.parquet")
    assert list(parquet.columns) == list(layer.columns) and len(parquet) == 157_591
    assert_geodataframe_equal(parquet, layer, check_dtype=False, check_less_precise=False)


def _layer_styles(gpkg: Path) -> dict:
    import sqlite3
    import xml.etree.ElementTree as ET

    with sqlite3.connect(gpkg) as db:
        rows = db.execute(
            "SELECT f_table_name, f_geometry_column, useAsDefault, styleQML FROM layer_styles"
        ).fetchall()
    names = [row[0] for row in rows]
    assert len(names) == len(set(names))  # one style per layer
    assert all(row[1] == "geom" and row[2] == 1 for row in rows)
    return {name: ET.fromstring(qml.split("\n", 1)[1]) for name, _, _, qml in rows}


def test_geopackage_opens_styled_in_qgis_with_french_aliases(gers_run) -> None:
    """results.gpkg: snake_case fields, French aliases and a default QGIS style per layer."""
    import sqlite3

    out, _ = gers_run
    gpkg = out / "results.gpkg"
    layers = {name for name, geom in pyogrio.list_layers(gpkg) if geom}
    styles = _layer_styles(gpkg)
    assert set(styles) == layers
    communes = styles["communes"]
    aliases = {a.get("field"): a.get("name") for a in communes.iter("alias")}
    assert aliases["insee_code"] == "Code INSEE" and aliases["population"] == "Population"
    assert aliases["france_services__minutes_mean"] == "Temps moyen (min) — france services"
    assert (
        aliases["france_services__share_beyond_30"]
        == "Part au-delà de 30 min (%) — france services"
    )
    fields = pyogrio.read_info(gpkg, layer="communes")["fields"]
    assert "insee_code" in fields and "Code INSEE" not in fields  # names stay machine names
    renderer = communes.find("renderer-v2")
    assert renderer.get("type") == "graduatedSymbol"
    assert renderer.get("attr") == "france_services__minutes_mean"
    ranges = [(r.get("lower"), r.get("upper")) for r in renderer.iter("range")]
    assert [low for low, _ in ranges] == ["0", "10", "15", "20", "30", "45"]
    first = renderer.find("symbols/symbol/layer/prop[@k='color']").get("v")
    assert first == "26,152,80,255"  # #1a9850, the maps' 0-10 min colour
    services = styles["services"].find("renderer-v2")
    assert services.get("type") == "categorizedSymbol" and services.get("attr") == "kind"
    kinds = {c.get("value") for c in services.iter("category")}
    assert {"france_services", "tiers_lieu"} <= kinds
    with sqlite3.connect(gpkg) as db:
        titles = dict(
            db.execute(
                "SELECT column_name, title FROM gpkg_data_columns WHERE table_name = 'communes'"
            ).fetchall()
        )
        extension = db.execute(
            "SELECT scope FROM gpkg_extensions WHERE table_name = 'gpkg_data_columns'"
        ).fetchall()
    assert titles["insee_code"] == "Code INSEE" and extension == [("read-write",)]


def test_cells_geoparquet_holds_every_cell_time(gers_run) -> None:
    """``cells.parquet``: one square per populated cell, its population and its times.

    The times are the GeoTIFF's (minutes, float32 there, 2 decimals here) at the
    cell's row and column; the squares are the grid's cells; the population adds up to
    the legal total (3 decimals per cell); the file is GeoParquet (CRS, WKB polygons).
    """
    import numpy as np
    import shapely

    out, _ = gers_run
    cells = gpd.read_parquet(out / "cells.parquet")
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["files"]["cells"] == "cells.parquet"
    assert cells.crs.to_epsg() == 2154 and len(cells) == 157_591
    # populations rounded to 3 decimals per cell: within half a thousandth per cell of the total
    total = summary["territory"]["population"]
    assert abs(cells["population"].sum() - total) <= 0.0005 * len(cells)
    rows, cols = cells["row"].to_numpy(), cells["col"].to_numpy()
    for name in ("france_services", "tiers_lieu"):
        with rasterio.open(out / f"minutes_{name}.tif") as src:
            grid = src.read(1)
            transform = src.transform
        expected = grid[rows, cols].astype(np.float64)
        got = cells[f"{name}__minutes"].to_numpy()
        assert np.array_equal(np.isnan(got), np.isnan(expected))
        both = ~np.isnan(got)
        assert both.sum() > 150_000
        assert np.abs(got[both] - expected[both]).max() <= 0.005 + 1e-4
        assert (cells.loc[both, f"{name}__service_id"] != "").all()
    size = transform.a
    x0 = transform.c + cols * size
    y0 = transform.f + rows * transform.e  # top edge (e < 0: rows go south)
    squares = shapely.box(x0, y0 - size, x0 + size, y0)
    assert shapely.equals(cells.geometry.values, squares).all()
