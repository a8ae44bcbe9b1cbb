"""Accessibility of social services for French départements.

The engine loads a territory (communes, cantons, EPCI, population), a road
network and a catalogue of service points, and answers how far people are
from the services, where the gaps are and what a scenario changes.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("coverage-territoires")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
