"""The benchmarks' figure helpers (``benchmarks/_figures.py``): layout, lines, JSON, medians.

The expected dicts, lines and bytes are written out by hand: they are what the
benchmarks printed and wrote before the helpers were gathered in one module
(``benchmarks/speed.py`` and whoever reads the JSON rely on them).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.append(str(REPO / "benchmarks"))  # as a benchmark script finds it, after the packages

import _figures as bench_figures  # noqa: E402


def test_a_figure_holds_the_layout_keys_in_order_with_the_ratio():
    fig = bench_figures.figure(
        "t", 1.5, "s CPU", peer=6.0, peer_name="scipy", target="< 2 s", met=True
    )
    assert list(fig.items()) == [
        ("name", "t"),
        ("ours", 1.5),
        ("peer", 6.0),
        ("peer_name", "scipy"),
        ("unit", "s CPU"),
        ("ratio", 0.25),
        ("target", "< 2 s"),
        ("met", True),
    ]


def test_without_a_peer_figure_there_is_no_peer_name_nor_ratio():
    fig = bench_figures.figure("t", 2.0, "s", peer=None, peer_name="code précédent")
    assert (fig["peer"], fig["peer_name"], fig["ratio"], fig["target"], fig["met"]) == (
        None,
        None,
        None,
        "",
        None,
    )
    assert bench_figures.figure("t", 2.0, "s", peer=0.0, peer_name="x")["ratio"] is None


def test_rounding_keeps_the_ratio_of_the_unrounded_figures():
    fig = bench_figures.figure(
        "t", 1.23456, "s", peer=2.34567, peer_name="p", digits=3, ratio_digits=4
    )
    assert (fig["ours"], fig["peer"], fig["ratio"]) == (1.235, 2.346, 0.5263)
    # 1.23456 / 2.34567 = 0.526318...; from the rounded figures it would be 0.5264
    assert (
        bench_figures.figure("t", 1.23456, "s", peer=2.34567, peer_name="p", digits=2)["ratio"]
        == 0.53
    )


def test_the_two_line_styles():
    fig = bench_figures.figure(
        "Imperial", 1.5, "s", peer=6.0, peer_name="Valhalla", target="≥ 5x", met=False
    )
    assert bench_figures.objective_line(fig) == (
        f"{'Imperial':<58}      1.500 s   Valhalla      6.000   rapport  0.250"
        "   objectif ≥ 5x : MANQUÉ"
    )
    assert bench_figures.bracketed_line(fig) == (
        f"{'Imperial':<58} nous   1.5000 s  Valhalla   6.0000  rapport   0.25  [≥ 5x : MANQUÉ]"
    )
    alone = bench_figures.figure("Gers", 2.0, "s CPU")
    assert bench_figures.objective_line(alone) == f"{'Gers':<58}      2.000 s CPU"
    assert bench_figures.bracketed_line(alone) == f"{'Gers':<58} nous   2.0000 s CPU"


def test_the_table_missed_targets_and_json(tmp_path):
    figures = bench_figures.Figures("run", digits=3)
    figures.add("a", 9.54111, "s", peer=9.1, peer_name="avant", target="< 5 s", met=False)
    figures.add("b", 0.4, "s", target="< 0,5 s", met=True)
    figures.add("c", 3.0, "s CPU")
    assert figures.table_lines() == [
        f"{'mesure':<48} {'nous':>9} {'pair':>9} {'ratio':>7}  {'unité':<6} cible",
        f"{'a':<48}     9.541     9.100    1.05  s      < 5 s MANQUÉE",
        f"{'b':<48}     0.400         —       —  s      < 0,5 s atteinte",
        f"{'c':<48}     3.000         —       —  s CPU",
    ]
    assert figures.missed() == ["a"]
    path = tmp_path / "run.json"
    figures.write_json(path)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document == {"benchmark": "run", "cores": os.cpu_count(), "figures": figures.figures}
    assert document["figures"][0]["ratio"] == 1.048
    assert path.read_bytes().startswith(b'{\n  "benchmark": "run",\n  "cores": ')


def test_add_prints_with_its_line_style(capsys):
    figures = bench_figures.Figures("tables", line=bench_figures.bracketed_line)
    figures.add("x", 1.0, "s", peer=4.0, peer_name="scipy")
    assert capsys.readouterr().out == f"{'x':<58} nous   1.0000 s  scipy   4.0000  rapport   0.25\n"


def test_medians():
    calls = []
    seconds, last = bench_figures.median_seconds(lambda: calls.append(1) or len(calls), 3)
    assert last == 3 and len(calls) == 3 and seconds >= 0.0
    wall, _ = bench_figures.median_seconds(lambda: time.sleep(0.02), 3, clock=time.perf_counter)
    cpu, _ = bench_figures.median_seconds(lambda: time.sleep(0.02), 3)
    assert wall >= 0.02 > cpu  # sleeping takes wall seconds, not CPU seconds
    assert bench_figures.median_by_key(
        [{"wall": 3.0, "cpu": 1.0}, {"wall": 1.0, "cpu": 5.0}, {"wall": 2.0, "cpu": 2.0}]
    ) == {
        "wall": 2.0,
        "cpu": 2.0,
    }
