"""The command line under faults and hostile input: exit codes that tell, no row lost or shifted.

Ctrl-C is a real SIGINT sent to a real ``coverage`` process; the CSV files are
the malformed ones people hand over (a separator inside an unquoted value, a
row cut short, no expected column, UTF-16); messages carry Rich markup from
user data and must print as they are.
"""

from __future__ import annotations

import csv
import gzip
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from coverage.cli import main

REPO = Path(__file__).resolve().parents[1]


def _default_sigint() -> None:
    """In the child: SIGINT as a terminal gives it (a background shell would ignore it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(args: list[str], tmp_path: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
        "COVERAGE_CACHE_DIR": str(tmp_path / "cache"),  # cold: the run lasts several seconds
        "COLUMNS": "200",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "coverage.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
        preexec_fn=_default_sigint,
    )


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --- Ctrl-C ----------------------------------------------------------------------------------


def test_ctrl_c_during_a_run_exits_130_and_leaves_no_result(
    shared_data: Path, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    target = results / "actuel"
    process = _start(
        ["run", "gers", "--data", str(shared_data / "gers"), "-o", str(target), "--no-map"],
        tmp_path,
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:  # mid-run: once the road network is loaded
        seen.append(line)
        if "Réseau routier" in line:
            break
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=300)
    out = "".join(seen) + out
    assert "Réseau routier" in out, (out, err)
    assert process.returncode == 130, (out, err)
    assert _lines(err) == ["Interrompu."]
    assert "Résultats :" not in out
    assert not target.exists()  # no result folder as if complete...
    assert _hidden(results) == []  # ...nor a staging folder left behind


def test_ctrl_c_during_geocoding_exits_130_and_writes_nothing(
    shared_data: Path, tmp_path: Path
) -> None:
    with gzip.open(shared_data / "gers" / "bano_adresses_gers_2015.csv.gz", "rt") as handle:
        addresses = list(csv.DictReader(handle))
    big = tmp_path / "adresses.csv"
    with open(big, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["id", "adresse", "commune"])
        for i in range(150_000):  # about 20 s to geocode: the signal comes well before the end
            row = addresses[(i * 7919) % len(addresses)]
            writer.writerow([i, f"{row['numero']} {row['voie']}", row["nom_comm"]])
    output = tmp_path / "adresses.geocode.csv"
    process = _start(
        ["geocode", str(big), "--data", str(shared_data / "gers"), "--no-progress"], tmp_path
    )
    time.sleep(3)
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 130, (out, err)
    assert _lines(err) == ["Interrompu."]
    assert "Écrit" not in out and not output.exists()
    assert _hidden(tmp_path) == []


def test_an_interrupted_write_leaves_the_previous_file(tmp_path: Path) -> None:
    from coverage._outdir import staged_file

    target = tmp_path / "sites.geocode.csv"
    target.write_text("ancien\n", "utf-8")
    with pytest.raises(KeyboardInterrupt), staged_file(target) as part:
        part.write_text("moitié d'un tab", "utf-8")
        raise KeyboardInterrupt
    assert target.read_text("utf-8") == "ancien\n" and _hidden(tmp_path) == []
    with staged_file(target) as part:
        part.write_text("nouveau\n", "utf-8")
    assert target.read_text("utf-8") == "nouveau\n" and _hidden(tmp_path) == []


# --- CSV rows never shifted or lost -----------------------------------------------------------

MALFORMED = (
    "id;nom;adresse;commune\r\n"
    'a1;"Mairie\r\nd\'Auch";Place de la Libération;Auch\r\n'  # lines 2-3 (a quoted line break)
    "a2;La Poste; Auch centre;12 rue Gambetta;Auch\r\n"  # line 4: 5 values (a ';' in the name)
    "a3;École\r\n"  # line 5: 2 values
    "a4;Collège;route de Toulouse;Fleurance\r\n"  # line 6
)


def test_read_table_keeps_malformed_rows_on_request(tmp_path: Path) -> None:
    from coverage.csvio import read_table
    from coverage.errors import DataError

    path = tmp_path / "sites.csv"
    path.write_text(MALFORMED + "\r\n;;\r\na5;Gare;;Auch;\r\n", "utf-8")
    frame, info = read_table(path, bad_rows="keep")
    assert list(frame["id"]) == ["a1", "", "", "a4", "", "", "a5"]
    assert info.lines == (2, 4, 5, 6, 7, 8, 9)
    # blank lines and trailing separators are not malformed: nothing is lost
    assert [(b.position, b.line, b.fields, b.width) for b in info.bad_rows] == [
        (1, 4, 5, 4),
        (2, 5, 2, 4),
    ]
    assert info.bad_rows[1].reason == "ligne de 2 champs, l'en-tête en a 4"
    assert info.bad_rows[0].text == "a2;La Poste; Auch centre;12 rue Gambetta;Auch"
    # the other readers still refuse an over-long row, naming the file and the line in French
    with pytest.raises(DataError) as caught:
        read_table(path)
    assert str(caught.value).startswith(f"fichier {path}, ligne 4 : 5 valeurs pour 4 colonnes")


def test_geocode_keeps_malformed_rows_in_place_with_their_reason(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sites.csv"
    path.write_text(MALFORMED, "utf-8")
    out = tmp_path / "sites_geo.csv"
    code = main(
        ["geocode", str(path), "-o", str(out), "--data", str(shared_data / "gers"), "--no-progress"]
    )
    text = capsys.readouterr().out
    assert code == 0  # two rows placed
    assert "ligne 4 : ligne de 5 champs, l'en-tête en a 4" in text
    assert "ligne 5 : ligne de 2 champs, l'en-tête en a 4" in text
    frame = pd.read_csv(out, sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(frame["id"]) == ["a1", "", "", "a4"]  # every row, in order
    assert list(frame["status"]) == ["matched", "rejected", "rejected", "fallback"]
    assert frame.loc[0, "nom"] == "Mairie\r\nd'Auch"  # the quoted line break kept
    assert frame.loc[0, "adresse"] == "Place de la Libération" and frame.loc[0, "commune"] == "Auch"
    assert frame.loc[0, "insee_code"] == "32013"
    assert (frame.loc[3, "nom"], frame.loc[3, "commune"]) == ("Collège", "Fleurance")
    assert frame.loc[3, "insee_code"] == "32132"
    assert frame.loc[1, "reason"] == "ligne de 5 champs, l'en-tête en a 4"
    assert frame.loc[2, "reason"] == "ligne de 2 champs, l'en-tête en a 4"
    # the malformed rows' values are in no column, only in the note, to repair them
    assert (frame.loc[1, ["nom", "adresse", "commune"]] == "").all()
    assert (
        frame.loc[1, "note"]
        == "contenu de la ligne : a2;La Poste; Auch centre;12 rue Gambetta;Auch"
    )
    assert frame.loc[2, "note"] == "contenu de la ligne : a3;École"


def test_services_import_rejects_malformed_rows_by_line(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mds.csv"
    path.write_text(MALFORMED, "utf-8")
    out = tmp_path / "mds.gpkg"
    code = main(
        [
            "services",
            "import",
            str(path),
            "--kind",
            "mds",
            "-o",
            str(out),
            "--data",
            str(shared_data / "gers"),
            "--no-progress",
        ]
    )
    text = capsys.readouterr().out
    assert code == 0
    assert "2 sites placés (mds)" in text and "2 rejetés" in text
    assert "rejeté : ligne 4 (mds:ligne4) : ligne de 5 champs, l'en-tête en a 4" in text
    assert "rejeté : ligne 5 (mds:ligne5) : ligne de 2 champs, l'en-tête en a 4" in text
    written = gpd.read_file(out)
    assert list(written["service_id"]) == ["mds:a1", "mds:a4"]
    assert list(written["insee_code"]) == ["32013", "32132"]
    assert written.loc[1, "name"] == "Collège"


def test_a_file_without_the_expected_columns_fails_in_one_line(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "inventaire.csv"
    path.write_text("foo;bar\n1;2\n3;4\n", "utf-8")
    data = ["--data", str(shared_data / "gers"), "--no-progress"]
    assert main(["geocode", str(path), *data]) == 1
    err = _lines(capsys.readouterr().err)
    assert len(err) == 1 and "inventaire.csv" in err[0] and "aucune colonne d'adresse" in err[0]
    assert "foo, bar" in err[0]
    assert not (tmp_path / "inventaire.geocode.csv").exists()
    out = tmp_path / "cat.gpkg"
    assert main(["services", "import", str(path), "--kind", "mds", "-o", str(out), *data]) == 1
    err = _lines(capsys.readouterr().err)
    assert len(err) == 1 and "inventaire.csv" in err[0] and "aucune colonne pour situer" in err[0]
    assert not out.exists() and _hidden(tmp_path) == []


def test_nothing_placed_is_a_failure(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "loin.csv"
    path.write_text("adresse;commune\n3 rue Haute;Atlantis\n1 rue de la Paix;Utopia\n", "utf-8")
    data = ["--data", str(shared_data / "gers"), "--no-progress"]
    geocoded = tmp_path / "loin.geocode.csv"
    # geocode writes every row with its reason, and says that none was placed
    assert main(["geocode", str(path), *data]) == 1
    captured = capsys.readouterr()
    err = _lines(captured.err)
    assert len(err) == 1 and "loin.csv" in err[0] and "aucune ligne n'a pu être géocodée" in err[0]
    frame = pd.read_csv(geocoded, sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(frame["status"]) == ["rejected", "rejected"]
    assert "« atlantis » inconnue" in frame.loc[0, "reason"]
    # services import writes no empty catalogue
    out = tmp_path / "cat.gpkg"
    assert main(["services", "import", str(path), "--kind", "mds", "-o", str(out), *data]) == 1
    err = _lines(capsys.readouterr().err)
    assert len(err) == 1 and "aucun site n'a pu être placé (2 lignes rejetées" in err[0]
    assert "ligne 2 : " in err[0] and not out.exists()


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])  # with BOM (LE here), without
def test_utf16_file_geocodes(
    encoding: str, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "unicode.csv"
    path.write_text("adresse\tcommune\n17 rue d'Étigny\tAuch\n", encoding)
    out = tmp_path / "out.csv"
    code = main(
        ["geocode", str(path), "-o", str(out), "--data", str(shared_data / "gers"), "--no-progress"]
    )
    text = capsys.readouterr().out
    assert code == 0 and "encodage utf-16" in text and "Colonnes : address=adresse" in text
    frame = pd.read_csv(out, sep="\t", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert frame.loc[0, "status"] == "matched" and frame.loc[0, "insee_code"] == "32013"
    assert frame.loc[0, "adresse"] == "17 rue d'Étigny"


# --- every mistake one line, printed as it is ----------------------------------------------------


def test_rich_markup_in_user_data_prints_literally(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "[red]liste.csv"
    path.write_text("[bold]nom[/bold];[/]\nx;y\n", "utf-8")
    assert main(["geocode", str(path), "--data", str(shared_data / "gers"), "--no-progress"]) == 1
    err = _lines(capsys.readouterr().err)
    assert len(err) == 1
    assert "[red]liste.csv" in err[0] and "[bold]nom[/bold], [/]" in err[0]
    # a scenario key named in brackets, as TOML writes it
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(
        '[scenario]\nname = "essai"\nterritory = "gers"\n[thresholds]\nminuts = [30]\n', "utf-8"
    )
    assert main(["run", str(scenario)]) == 1
    err = _lines(capsys.readouterr().err)
    assert len(err) == 1 and "[thresholds]" in err[0] and "minuts" in err[0]


def test_an_output_that_cannot_be_written_is_one_line(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sites.csv"
    path.write_text("adresse;commune\n17 rue d'Etigny;Auch\n", "utf-8")
    blocker = tmp_path / "pas-un-dossier"
    blocker.write_text("", "utf-8")  # a file where the output folder should be
    out = blocker / "out.csv"
    code = main(
        ["geocode", str(path), "-o", str(out), "--data", str(shared_data / "gers"), "--no-progress"]
    )
    err = _lines(capsys.readouterr().err)
    assert code == 1 and len(err) == 1
    assert err[0].startswith("Erreur : écriture impossible de") and "pas-un-dossier" in err[0]


def test_usage_mistakes_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--foo"]) == 2
    err = capsys.readouterr().err
    assert "Erreur d'utilisation : option inconnue : --foo" in err
    assert "Erreur inattendue" not in err
    assert main(["rnu"]) == 2
    err = capsys.readouterr().err
    assert "commande inconnue : « rnu » (voulez-vous dire 'run' ?)" in err
    assert "Erreur inattendue" not in err
    assert main(["geocode"]) == 2
    assert "argument manquant" in capsys.readouterr().err


def test_serve_refuses_a_busy_port_in_one_line(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["serve", "--port", str(port), "--data", str(shared_data)])
    captured = capsys.readouterr()
    assert code == 1 and "API :" not in captured.out
    err = _lines(captured.err)
    assert len(err) == 1 and f"127.0.0.1:{port}" in err[0] and "déjà utilisé" in err[0]
    assert main(["serve", "--data", "/nonexistent/bundle"]) == 1
    err = _lines(capsys.readouterr().err)
    assert err == ["Erreur : --data /nonexistent/bundle : dossier introuvable"]


def test_serve_start_up_failure_is_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "vide"
    empty.mkdir()
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    process = _start(["serve", "--port", str(port), "--data", str(empty)], tmp_path)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 1, (out, err)
    assert "Traceback" not in err
    errors = [line for line in _lines(err) if not line.startswith("INFO:")]
    assert len(errors) == 1 and errors[0].startswith("Erreur : le serveur n'a pas démarré")
    assert "vide" in errors[0]
