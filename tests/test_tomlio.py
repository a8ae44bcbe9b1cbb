"""``coverage.tomlio``: TOML text that reads back to the same data, and the scenario format."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import numpy as np
import pytest

from coverage import tomlio
from coverage.errors import DataError
from coverage.jobs import placement_scenario as report

SCENARIO = (
    Path(__file__).resolve().parents[1] / "data" / "geo" / "gers" / "scenarios" / "actuel.toml"
)
HEADER = (
    "Scénario écrit par « coverage place » : le scénario de base et les sites choisis\n"
    "(statut « planned »). Lancer : coverage run scenario.toml -o <dossier>\n"
    "Format : docs/scenario-format.md"
)


def placement_like() -> dict:
    """The Gers default scenario as ``coverage place`` rewrites it: a threshold, two new sites."""
    raw = tomllib.loads(SCENARIO.read_text("utf-8"))
    raw["scenario"]["name"] = "place_tiers_lieu"
    raw["thresholds"]["minutes"] = [15, 20, 25.5, 30]
    raw["analyses"].append(
        {"name": "placement_tiers_lieu", "label": "Tiers-lieu", "kinds": ["tiers_lieu"]}
    )
    raw["analyses"][-1]["reference_minutes"] = 20.0
    raw.setdefault("services", {})["add"] = [
        {
            "service_id": "place-tiers_lieu-32013",
            "kind": "tiers_lieu",
            "name": "Tiers-lieu proposé : Auch",
            "insee_code": "32013",
            "status": "planned",
            "capacity": 1.0,
        },
        {
            "service_id": "place-tiers_lieu-c17",
            "kind": "tiers_lieu",
            "name": "Tiers-lieu proposé : « L'Isle-Jourdain » (gare)",
            "x": 540123.45,
            "y": 6281234.1,
            "status": "planned",
            "capacity": 0.1,
        },
    ]
    return raw


SCENARIO_LIKE = [
    {
        "scenario": {"name": "a", "label": 'Offre "actuelle" du Gers', "territory": "gers"},
        "thresholds": {"minutes": [15, 20.0, 30]},
        "analyses": [
            {"name": "fs", "kinds": ["france_services"], "reference_minutes": 30},
            {"name": "tl", "kinds": ["tiers_lieu"], "weights": {"base": 1.0, "roads": 0.1}},
        ],
    },
    {
        "scenario": {
            "description": "Ligne 1\nLigne 2 avec \\ barre oblique inverse et \t tabulation",
            "chemin": "C:\\données\\gers",
        },
        "services": {
            "remove": ["fs-32013", "fs-32107"],
            "add": [{"service_id": "x", "kind": "mds", "x": 0.1, "y": -0.0, "capacity": 2.5}],
            "kinds": {"mds": "Maison départementale des solidarités"},
        },
        "network": {"detour_factor": 1.3, "speeds": {"motorway": 130, "residential": 30.0}},
    },
    {
        "a b": {"clé accentuée": 1, "": "vide", "1.5": True, "x.y": False},
        "outputs": {"formats": [], "nested": [[1, 2], ["a", "b"]], "empty": {}},
        "health": {"decay": [{"from": 0, "to": 20, "weight": 1.0}], "limit": 1e-05},
        "grand": 1e20,
    },
]


@pytest.mark.parametrize("data", SCENARIO_LIKE)
@pytest.mark.parametrize("depth", [1, None])
def test_output_reads_back_to_the_same_data(data: dict, depth: int | None) -> None:
    text = tomlio.dumps(data, header="en-tête\n« citation »", max_table_depth=depth)
    assert tomllib.loads(text) == data
    assert text == tomlio.dumps(
        copy.deepcopy(data), header="en-tête\n« citation »", max_table_depth=depth
    )
    assert text.startswith("# en-tête\n# « citation »\n\n") and text.endswith("\n")
    assert not text.endswith("\n\n")


def test_realistic_scenario_reads_back_and_matches_scenario_toml() -> None:
    data = placement_like()
    text = tomlio.dumps(data, header=HEADER, order=report.SCENARIO_TOP_ORDER, max_table_depth=1)
    assert tomllib.loads(text) == data
    # the placement's scenario writer is this writer with the scenario order
    assert text == report.scenario_toml(data, header=HEADER)
    assert "[[services.add]]" in text and "capacity = 0.1" in text and "capacity = 1.0" in text


@pytest.mark.parametrize("data", SCENARIO_LIKE[:2])
def test_scenario_like_dicts_match_scenario_toml(data: dict) -> None:
    text = tomlio.dumps(data, header="h", order=report.SCENARIO_TOP_ORDER, max_table_depth=1)
    assert text == report.scenario_toml(data, header="h")


def test_tables_arrays_of_tables_and_inline_tables() -> None:
    data = {
        "territory": {
            "name": "gers",
            "split_cantons": {
                "3299": tomlio.InlineTable(communes=["32013"], cantons=["3204", "3205"])
            },
        },
        "layers": {"communes": {"file": "c.geojson", "columns": {"name": "nom"}}},
        "analyses": [{"name": "a", "bands": [{"to": 10}, {"to": 20}]}],
    }
    text = tomlio.dumps(data)
    assert tomllib.loads(text) == data
    assert text.splitlines() == [
        "[territory]",
        'name = "gers"',
        "",
        "[territory.split_cantons]",
        '3299 = { communes = ["32013"], cantons = ["3204", "3205"] }',
        "",
        "[layers.communes]",  # [layers] holds tables only: its header is implicit
        'file = "c.geojson"',
        "",
        "[layers.communes.columns]",
        'name = "nom"',
        "",
        "[[analyses]]",
        'name = "a"',
        "",
        "[[analyses.bands]]",
        "to = 10",
        "",
        "[[analyses.bands]]",
        "to = 20",
    ]
    # one table level: the deeper mappings are inline, arrays of tables stay headers
    flat = tomlio.dumps(data, max_table_depth=1)
    assert tomllib.loads(flat) == data
    assert 'communes = { file = "c.geojson", columns = { name = "nom" } }' in flat
    assert "[[analyses.bands]]" in flat


def test_order_header_and_top_level_values() -> None:
    data = {"zeta": {"a": 1}, "version": 2, "alpha": {"b": 2.0}, "mid": [1, 2]}
    text = tomlio.dumps(data, header=["ligne 1", "", "ligne 3"], order=["alpha", "absent", "zeta"])
    assert tomllib.loads(text) == data
    assert text.splitlines() == [
        "# ligne 1",
        "#",
        "# ligne 3",
        "",
        "version = 2",  # values before the first table, as TOML requires
        "mid = [1, 2]",
        "",
        "[alpha]",
        "b = 2.0",
        "",
        "[zeta]",
        "a = 1",
    ]


def test_strings_and_numbers_round_trip_exactly() -> None:
    data = {
        "t": {
            "quote": 'il a dit "oui"',
            "backslash": "a\\b\\\\c",
            "control": "bip\x07 suppr\x7f fin\r\n",
            "emoji": "Gers 🌻 — Auch",
            "floats": [0.1, 20.0, -0.0, 1 / 3, 6.02e23, 5e-324],
            "ints": [0, -7, 2**62],
            "numpy": [np.int64(4), np.float64(0.5), np.bool_(True)],
        }
    }
    back = tomllib.loads(tomlio.dumps(data))
    assert back["t"]["floats"] == data["t"]["floats"]
    assert back["t"]["numpy"] == [4, 0.5, True]
    assert {k: v for k, v in back["t"].items() if k != "numpy"} == {
        k: v for k, v in data["t"].items() if k != "numpy"
    }


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"a": {"b": None}}, "a.b"),
        ({"a": {"b": [1.0, float("nan")]}}, "a.b.1"),
        ({"a": [{"b": float("inf")}]}, "a.b"),
        ({"a": {"when": object()}}, "a.when"),
        ({"a": {1: "x"}}, "a"),
    ],
)
def test_values_toml_cannot_hold_name_their_key(data: dict, field: str) -> None:
    with pytest.raises(DataError, match="TOML") as caught:
        tomlio.dumps(data)
    assert caught.value.field == field
