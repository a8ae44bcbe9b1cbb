"""Everything the command line prints for a person is French: every --help, usage and engine errors.

Walks the whole command tree (so commands added later are scanned too) and
fails on English words; usage mistakes must exit with code 2.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from coverage._french import of_territory, plural
from coverage.cli import app, main

ENGLISH = (
    "the", "is", "not", "found", "show", "message", "exit", "required", "default",
    "usage", "error", "must", "should", "invalid", "missing", "file", "directory",
    "no such", "got", "try", "commands", "possible", "did you mean",
    "too small", "too large", "needs", "bool", "str", "int", "float", "range",
)  # fmt: skip
"""English words that never belong in French text ("options" is French too)."""

_WORD = re.compile(r"(?<![\w\-./$'])(" + "|".join(ENGLISH) + r")(?![\w\-./>=(])", re.I)


def _english(text: str) -> list[str]:
    return sorted({m.group(0) for m in _WORD.finditer(text)})


def _paths() -> list[list[str]]:
    root = typer.main.get_command(app)
    out: list[list[str]] = [[]]

    def walk(group: object, prefix: list[str]) -> None:
        for name, command in sorted(getattr(group, "commands", {}).items()):
            out.append([*prefix, name])
            walk(command, [*prefix, name])

    walk(root, [])
    return out


@pytest.mark.parametrize("path", _paths(), ids=lambda p: " ".join(p) or "coverage")
def test_help_is_french(path: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*path, "--help"]) == 0
    out = " ".join(re.sub("[│╭╮╰╯─]", " ", capsys.readouterr().out).split())
    assert "Affiche cette aide et quitte." in out and "Utilisation :" in out
    assert _english(out) == [], out
    assert "<bool>" not in out  # flags are shown as flags


def test_panels_are_french_when_typer_loads_its_rich_module_late() -> None:
    """A fresh process: ``--version`` never loads typer's rich module; ``--help``
    loads it afterwards and still shows the French panels."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from coverage.cli import main\n"
        "assert main(['--version']) == 0\n"
        "assert 'typer.rich_utils' not in sys.modules\n"
        "assert main(['--help']) == 0\n"
        "assert 'typer.rich_utils' in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    out = " ".join(re.sub("[│╭╮╰╯─]", " ", done.stdout).split())
    assert "Commandes" in out and "Utilisation :" in out
    assert _english(out) == [], out


USAGE_MISTAKES = [
    ["--foo"],
    ["rnu"],
    ["place", "--sit", "3"],
    ["place", "--sites", "trois"],
    ["place", "--minutes", "x"],
    ["place", "--kind"],
    ["place", "--no-existing=true"],
    ["place", "gers", "de", "trop"],
    ["compare"],
    ["geocode"],
    ["services", "inconnue"],
]


@pytest.mark.parametrize("argv", USAGE_MISTAKES, ids=" ".join)
def test_usage_mistakes_are_french_usage_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("Erreur d'utilisation : ")
    assert _english(err) == [], err


def test_engine_errors_are_french(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gers = str(shared_data / "gers")
    cases = [
        ["info", "nulle-part", "--data", str(tmp_path / "vide")],
        ["network", "info", "gers", "--data", str(tmp_path / "vide")],
        ["place", "gers", "--data", gers, "--model", "centre", "-p", "3"],
        ["place", "gers", "--data", gers, "-p", "3", "--new", "2"],
        ["place", "gers", "--data", gers, "-p", "3", "-o", str(tmp_path / "p3")],
        ["compare", str(tmp_path / "a"), str(tmp_path / "b")],
    ]
    for argv in cases:
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 1, (argv, err)
        assert err.startswith("Erreur : "), (argv, err)
        assert _english(err) == [], (argv, err)
        assert "np." not in err


def test_plural_and_territory_article() -> None:
    assert plural(1, "site placé") == "1 site placé"
    assert plural(0, "site placé") == "0 site placé"
    assert plural(92, "ouvert") == "92 ouverts"
    assert plural(1200, "commune") == "1 200 communes"
    assert plural(3, "zone") == "3 zones"
    assert of_territory("Gers") == "du Gers"
    assert of_territory("gers") == "du Gers"
    assert of_territory("Haute-Garonne") == "de la Haute-Garonne"
    assert of_territory("Landes") == "des Landes"
    assert of_territory("Ariège") == "de l'Ariège"
    assert of_territory("Isère") == "de l'Isère"
