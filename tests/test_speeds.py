"""Speed profiles, OSM ``maxspeed`` parsing and edge travel times."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from coverage.errors import ConfigError
from coverage.routing.network import load_network
from coverage.routing.speeds import (
    builtin_profiles,
    check_factor,
    edge_seconds,
    load_speed_profile,
    parse_maxspeed,
)

MPH = 1.609344

MAXSPEED_CASES = [
    # plain numbers are km/h
    ("50", 50.0),
    (" 90 ", 90.0),
    ("47.5", 47.5),
    ("47,5", 47.5),
    ("70 km/h", 70.0),
    ("70km/h", 70.0),
    ("70 kmh", 70.0),
    ("70 kph", 70.0),
    # miles and knots
    ("50 mph", 50 * MPH),
    ("30mph", 30 * MPH),
    ("10 knots", 18.52),
    # French implicit values
    ("FR:rural", 80.0),
    ("FR:urban", 50.0),
    ("FR:walk", 6.0),
    ("FR:motorway", 130.0),
    ("FR:zone30", 30.0),
    ("fr:RURAL", 80.0),
    ("walk", 6.0),
    # other countries from the profile's table, zones of any country
    ("DE:urban", 50.0),
    ("DE:rural", 100.0),
    ("IT:motorway", 130.0),
    ("GB:nsl_single", 60 * MPH),
    ("DE:zone:30", 30.0),
    ("ES:zone20", 20.0),
    ("GB:zone20", 20 * MPH),
    # lists: the mean of what parses
    ("50;70", 60.0),
    ("30;50;70", 50.0),
    ("FR:urban;FR:rural", 65.0),
    ("50 mph;30 mph", 40 * MPH),
    ("50;signals", 50.0),
    ("90|110", 100.0),
    # no number: the class speed applies
    ("none", None),
    ("signals", None),
    ("variable", None),
    ("FR:trunk", None),  # not a French implicit value
    ("XX:rural", None),  # unknown country code
    ("fast", None),
    ("0", None),
    ("-30", None),
    ("500", None),  # above max_plausible_kph (200)
    ("", None),
    ("none;signals", None),
    (None, None),
]


@pytest.mark.parametrize(("value", "kph"), MAXSPEED_CASES)
def test_parse_maxspeed(value: str | None, kph: float | None) -> None:
    result = parse_maxspeed(value)
    if kph is None:
        assert result is None
    else:
        assert result == pytest.approx(kph, rel=1e-12)


def test_parse_maxspeed_with_a_custom_table() -> None:
    assert parse_maxspeed("AD:urban", implicit_kph={"ad:urban": 40.0}) == 40.0
    assert parse_maxspeed("FR:rural", implicit_kph={}) is None
    assert parse_maxspeed("130", max_kph=120) is None


def test_france_profile() -> None:
    assert "france" in builtin_profiles()
    profile = load_speed_profile("france")
    assert profile.name == "france"
    assert len(profile.sha256) == 64
    assert profile.highway_kph["motorway"] == 130
    assert profile.highway_kph["secondary"] == 80
    assert profile.highway_kph["residential"] == 30
    assert profile.highway_kph["living_street"] == 20
    # class speeds, two-way rule, maxspeed first
    assert profile.class_kph("trunk", two_way=False) == 110
    assert profile.class_kph("trunk", two_way=True) == 80
    assert profile.class_kph("secondary", two_way=True) == 80
    assert profile.class_kph("no_such_class") == profile.unknown_highway_kph == 30
    assert profile.limit_kph("trunk", "90", two_way=True) == 90
    assert profile.limit_kph("secondary", "FR:zone30") == 30
    assert profile.limit_kph("secondary", "none") == 80
    assert profile.limit_kph("residential", "20 mph") == pytest.approx(20 * MPH)
    # calibrated ratios: driven speed = ratio × limit (docs/speed-profile.md)
    assert profile.ratio("motorway") == 0.92 and profile.ratio("unclassified") == 0.66
    assert profile.speed_kph("trunk", "90", two_way=True) == pytest.approx(90 * 0.88)
    assert profile.ratio("no_such_class") == profile.free_flow_ratio["default"] == 0.8
    assert profile.turns.left_s > profile.turns.right_s > 0  # France drives on the right
    assert profile.barriers.judge({"barrier": "bollard"}, profile.access) == (True, 0.0)
    assert profile.barriers.judge({"barrier": "gate"}, profile.access) == (False, 30.0)
    assert profile.barriers.judge(
        {"barrier": "bollard", "motor_vehicle": "yes"}, profile.access
    ) == (False, 0.0)
    assert not profile.access.allows({"access": "no"})
    assert profile.access.allows({"access": "no", "motor_vehicle": "yes"})
    assert not profile.access.allows({"access": "yes", "motorcar": "no"})
    free = load_speed_profile("free-flow")
    assert free.ratio("motorway") == 1.0 and free.turns.is_free
    assert free.speed_kph("trunk", "90", two_way=True) == 90
    assert load_speed_profile(profile) is profile


CUSTOM = """
[profile]
name = "essai"
label = "Profil d'essai"

[highway_kph]
secondary = 90
residential = 40

[two_way_kph]
secondary = 70

[free_flow_ratio]
default = 0.5
residential = 0.75

[maxspeed_implicit]
"XX:rural" = 60
"XX:fast" = "50 mph"

[fallback]
unknown_highway_kph = 10
max_plausible_kph = 100
"""


def test_custom_profile_file(tmp_path: Path) -> None:
    path = tmp_path / "essai.toml"
    path.write_text(CUSTOM, encoding="utf-8")
    profile = load_speed_profile(path)
    assert profile.name == "essai" and profile.path == path.resolve()
    assert profile.speed_kph("secondary", None, two_way=True) == 70 * 0.5
    assert profile.speed_kph("secondary", None, two_way=False) == 90 * 0.5
    assert profile.speed_kph("residential", None) == 40 * 0.75
    assert profile.speed_kph("residential", "XX:rural") == 60 * 0.75
    assert profile.speed_kph("residential", "XX:fast") == pytest.approx(50 * MPH * 0.75)
    assert profile.speed_kph("residential", "110") == 40 * 0.75  # above 100: ignored
    assert profile.speed_kph("track", None) == 10 * 0.5
    assert load_speed_profile(str(path)).sha256 == profile.sha256


def test_custom_profile_drives_the_network(tmp_path: Path) -> None:
    profile = tmp_path / "essai.toml"
    profile.write_text(CUSTOM, encoding="utf-8")
    osm = tmp_path / "one.osm"
    osm.write_text(
        "<?xml version='1.0'?><osm version='0.6'>"
        "<node id='1' lat='43.6' lon='0.5'/><node id='2' lat='43.6' lon='0.51'/>"
        "<way id='1'><nd ref='1'/><nd ref='2'/><tag k='highway' v='secondary'/></way></osm>",
        encoding="utf-8",
    )
    cache = tmp_path / "cache"
    france = load_network(osm, profile="free-flow", max_edge_m=None, cache_dir=cache)
    custom = load_network(osm, profile=profile, max_edge_m=None, cache_dir=cache)
    assert custom.info.profile == "essai"
    assert custom.info.report["cache_file"] != france.info.report["cache_file"]
    length = france.length_m[0]
    assert france.seconds[0] == pytest.approx(length / (80 / 3.6))
    assert custom.seconds[0] == pytest.approx(length / (35 / 3.6))
    # editing the profile file is a new cache entry, not a stale hit
    profile.write_text(CUSTOM.replace("secondary = 70", "secondary = 60"), encoding="utf-8")
    edited = load_network(osm, profile=profile, max_edge_m=None, cache_dir=cache)
    assert edited.info.report["cache_hit"] is False
    assert edited.seconds[0] == pytest.approx(length / (30 / 3.6))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[profile]\nname = 'x'\n", r"demande une table \[highway_kph\]"),
        ("[highway_kph]\nsecondary = -80\n", "highway_kph.secondary doit être un nombre fini > 0"),
        ("[highway_kph]\nsecondary = 'vite'\n", "highway_kph.secondary doit être un nombre"),
        (
            "[highway_kph]\nsecondary = 80\n[free_flow_ratio]\ndefault = 0\n",
            "free_flow_ratio.default",
        ),
        ("[highway_kph]\nsecondary = 80\n[free_flow_ratio]\ndefault = 3\n", "doit être <= 2"),
        (
            "[highway_kph]\nsecondary = 80\n[maxspeed_implicit]\n'XX:a' = 'vite'\n",
            "maxspeed_implicit.XX:a",
        ),
        ("[highway_kph\nsecondary = 80\n", "pas un TOML valide"),
    ],
)
def test_bad_profile_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as err:
        load_speed_profile(path)
    assert "bad.toml" in str(err.value)


def test_unknown_profiles(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"profil de vitesses inconnu 'allemagne'.*france"):
        load_speed_profile("allemagne")
    with pytest.raises(ConfigError, match="introuvable"):
        load_speed_profile(tmp_path / "absent.toml")


def test_edge_seconds_and_factors() -> None:
    seconds = edge_seconds(
        np.array([1000.0, 500.0]),
        np.array([36.0, 90.0]),
        detour_factor=1.3,
        calibration_factor=1.1,
        peak_factor=1.25,
    )
    assert seconds == pytest.approx([1000 * 1.3 / 10 * 1.1 * 1.25, 500 * 1.3 / 25 * 1.1 * 1.25])
    for bad in (0, -1.0, math.nan, math.inf, "2", None, True):
        with pytest.raises(ConfigError, match="peak_factor"):
            check_factor("peak_factor", bad)
    with pytest.raises(ConfigError, match="detour_factor"):
        edge_seconds(np.ones(1), np.ones(1), detour_factor=-1)
    assert check_factor("detour_factor", 1) == 1.0
