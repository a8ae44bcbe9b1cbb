"""Scenario files: parsing, and every mistake named with its file and key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from coverage.errors import ConfigError
from coverage.scenario import load_scenario, scenario_from_dict, select_services
from tests.conftest import REPO

GOOD = """
[scenario]
name = "essai"
territory = "gers"

[thresholds]
minutes = [15, 20, 30]

[[analyses]]
name = "fs"
kinds = ["france_services"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_gers_scenario_parses() -> None:
    scenario = load_scenario(REPO / "data/geo/gers/scenarios/actuel.toml")
    assert scenario.territory == "gers"
    assert scenario.thresholds_minutes == (15.0, 20.0, 30.0)
    assert [a.name for a in scenario.analyses] == ["france_services", "tiers_lieu"]
    assert scenario.analyses[0].reference_minutes == 30.0
    assert scenario.analyses[0].include_outside


def test_defaults(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, GOOD))
    assert scenario.analyses[0].statuses == ("open",)
    assert scenario.access.speed_kph == 30.0
    assert scenario.outputs["map"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("[thresholds]\nminutes = [15, 20, 30]", "[thresholds]\nminutes = [0, 20]"),
            "out of range",
        ),
        (
            ("[thresholds]\nminutes = [15, 20, 30]", "[thresholds]\nminutes = [10000]"),
            "10000 min is out of range",
        ),
        (
            ('name = "essai"', 'name = "essai"\ncolour = "bleu"'),
            "clé inconnue 'colour' dans \\[scenario\\]",
        ),
        (('kinds = ["france_services"]', "kinds = []"), "demande 'kinds'"),
        (('name = "fs"', 'name = "fs"\nreference_minutes = 25'), "reference_minutes 25"),
        (('name = "fs"', 'name = "fs"\nstatuses = ["ouvert"]'), "statut inconnu 'ouvert'"),
        (('territory = "gers"', ""), "demande 'territory'"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    text = GOOD.replace(*change)
    with pytest.raises(ConfigError, match=message) as info:
        load_scenario(write(tmp_path, text))
    assert "scenario.toml" in str(info.value)


def test_added_sites_are_checked(tmp_path: Path) -> None:
    base = GOOD + '\n[[services.add]]\nservice_id = "x"\nkind = "tiers_lieu"\nname = "X"\n'
    with pytest.raises(ConfigError, match="exactement une localisation"):
        load_scenario(write(tmp_path, base))
    with pytest.raises(ConfigError, match="à la fois lon et lat"):
        load_scenario(write(tmp_path, base + "lon = 0.5\n"))
    ok = load_scenario(write(tmp_path, base + 'insee_code = "32107"\n'))
    assert ok.add[0].insee_code == "32107" and ok.add[0].status == "planned"


def test_not_valid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TOML invalide"):
        load_scenario(write(tmp_path, "[scenario\nname="))
    with pytest.raises(ConfigError, match="introuvable"):
        load_scenario(tmp_path / "absent.toml")


def test_catalogue_mistakes(gers, tmp_path: Path) -> None:
    from coverage.geocode.catalogue import load_catalogue

    catalogue = load_catalogue(gers)

    def select(extra: str):
        scenario = scenario_from_dict(tomllib.loads(GOOD + extra), path=tmp_path / "s.toml")
        return select_services(scenario, catalogue.frame, gers, known_kinds=catalogue.kinds)

    selections, frame = select("")
    assert len(selections["fs"]) == 92
    with pytest.raises(ConfigError, match="type de service inconnu 'piscine'"):
        select('\n[[analyses]]\nname = "p"\nkinds = ["piscine"]\n')
    with pytest.raises(ConfigError, match="aucun service de service_id 'nope'"):
        select('\n[services]\nremove = ["nope"]\n')
    with pytest.raises(ConfigError, match="commune '99999' n'est pas une commune du Gers"):
        select(
            '\n[[services.add]]\nservice_id = "t"\nkind = "tiers_lieu"\nname = "T"\n'
            'insee_code = "99999"\n'
        )
    with pytest.raises(ConfigError, match="analyse 'mds' : aucun service de type mds"):
        select('\n[[analyses]]\nname = "mds"\nkinds = ["mds"]\n')
    removed = catalogue.of_kind("france_services").iloc[0]["service_id"]
    selections, _ = select(f'\n[services]\nremove = ["{removed}"]\n')
    assert len(selections["fs"]) == 91
    selections, frame = select(
        '\n[[analyses]]\nname = "tl"\nkinds = ["tiers_lieu"]\n'
        '\n[[services.add]]\nservice_id = "tl-eauze"\nkind = "tiers_lieu"\nname = "Eauze"\n'
        'insee_code = "32119"\n'
    )
    assert len(selections["tl"]) == 4 and frame["added"].sum() == 1
