"""``coverage run`` without a bundle and offline says so at once, in one French line."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from coverage.cli import main


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nobody listens once closed: connections are refused


def test_bare_run_offline_fails_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # no fetched bundle
    monkeypatch.setenv("COVERAGE_GEO_API_URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("COVERAGE_HTTP_BACKOFF_S", "5")  # a download attempt would take > 15 s
    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    assert main(["run"]) == 1
    assert time.perf_counter() - start < 5
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("Erreur : aucun lot de données")
    assert str(tmp_path / "data" / "coverage-territoires" / "gers") in err  # where it looked
    assert "coverage fetch gers" in err and "--data" in err and "injoignables" in err
    assert "téléchargement" not in captured.out
    assert not (tmp_path / "results").exists()
