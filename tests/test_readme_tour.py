"""The README's "short tour of the CLI", run line by line as written from a clone.

A temporary folder is laid out as a clone (``data/``, ``docs/`` of this
repository) with the data next to it (``../shared/data``); each line of the
tour's code block runs in bash, after the tour's own ``export`` line, with
``coverage`` standing for this interpreter's ``python -m coverage.cli``. Only
``serve`` (a server that runs until stopped) and ``fetch`` (needs the network)
are skipped, and say so; only ``info`` and ``--help`` run in the
default suite, the others in the slow one.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SKIPPED = {
    "serve": "un serveur qui tourne jusqu'à son arrêt",
    "fetch": "télécharge depuis les sources officielles (réseau)",
}


def tour_lines() -> list[str]:
    """The lines of the first ``bash`` block after the tour's heading in README.md."""
    text = (REPO / "README.md").read_text("utf-8")
    section = text.split("## A short tour of the CLI", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, "README: no bash block in the CLI tour"
    return [line for line in block.group(1).splitlines() if line.strip()]


LINES = tour_lines()
EXPORTS = [line for line in LINES if line.startswith("export ")]
COMMANDS = [line for line in LINES if not line.startswith("export ")]


def test_tour_sets_the_data_folder_once() -> None:
    assert len(EXPORTS) == 1 and "COVERAGE_DATA_DIR" in EXPORTS[0]
    assert not [line for line in COMMANDS if "--data" in line]  # said once, not per command
    words = {_subcommand(line) for line in COMMANDS}
    assert words >= {"run", "info", "population", "network", "services", "serve", "fetch"}


@pytest.fixture(scope="module")
def clone(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tour")
    (root / "shared").mkdir()
    (root / "shared" / "data").symlink_to(shared_data, target_is_directory=True)
    here = root / "coverage-territoires"
    here.mkdir()
    for name in ("data", "docs"):
        (here / name).symlink_to(REPO / name, target_is_directory=True)
    return here


def _subcommand(line: str) -> str:
    words = shlex.split(line, comments=True)
    return words[1] if len(words) > 1 and words[0] == "coverage" else words[0]


FAST = {"info", "--help"}
"""Lines of a second or two, kept in the default suite; every other line (runs, networks,
geocoding, exact MIPs, a year's tours: a minute or more together) runs in the slow suite
(``-m slow``), which CI runs too."""


@pytest.mark.parametrize(
    "line",
    [c if _subcommand(c) in FAST else pytest.param(c, marks=pytest.mark.slow) for c in COMMANDS],
    ids=[_subcommand(c) for c in COMMANDS],
)
def test_tour_line_runs_as_written(line: str, clone: Path, tmp_path: Path) -> None:
    name = _subcommand(line)
    if line.startswith("coverage ") and name in SKIPPED:
        pytest.skip(f"coverage {name} : {SKIPPED[name]}")
    script = (
        f'coverage() {{ {shlex.quote(sys.executable)} -m coverage.cli "$@"; }}\n'
        f"{EXPORTS[0]}\nset -e\n{line}\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("COVERAGE_DATA_DIR", "COLUMNS")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{line}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr
