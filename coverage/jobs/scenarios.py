"""Where a territory's scenarios are: the default scenario and what a scenario argument means.

One rule shared by ``coverage run``, ``coverage place``, ``coverage itinerary``
and the API: a territory's default scenario is
``<territory descriptions>/<territory>/scenarios/actuel.toml`` (the first
description folder that holds it, see :func:`coverage.settings.territory_description_dirs`).
"""

from __future__ import annotations

from pathlib import Path

from coverage.errors import TerritoryNotFoundError
from coverage.layers.config import known_territories
from coverage.settings import territory_description_dirs

DEFAULT_TERRITORY = "gers"
DEFAULT_SCENARIO_FILE = "scenarios/actuel.toml"


def find_default_scenario(territory: str) -> Path | None:
    """The default scenario file of a territory, or ``None`` when it has none."""
    for folder in territory_description_dirs():
        candidate = folder / territory / DEFAULT_SCENARIO_FILE
        if candidate.is_file():
            return candidate
    return None


def default_scenario_path(territory: str) -> Path:
    """The default scenario of a territory (``data/geo/<t>/scenarios/actuel.toml``).

    Raises
    ------
    coverage.errors.TerritoryNotFoundError
        If the territory has no default scenario.
    """
    path = find_default_scenario(territory)
    if path is None:
        raise TerritoryNotFoundError(
            f"no default scenario for '{territory}' (known territories: "
            f"{', '.join(known_territories()) or 'none'}); give a scenario file"
        )
    return path


def resolve_scenario(argument: str | None) -> Path:
    """A scenario file path, or a territory name standing for its default scenario."""
    if argument is None:
        return default_scenario_path(DEFAULT_TERRITORY)
    path = Path(argument)
    if path.suffix.lower() == ".toml" or path.exists():
        return path
    return default_scenario_path(argument)


def base_scenario_path(territory: str, scenario: str | Path | None) -> Path:
    """The base scenario file: the one given, or the territory's default scenario."""
    if scenario is not None:
        return Path(scenario)
    return default_scenario_path(territory)
