"""Accessibility of social services for French départements.

The engine loads a territory (communes, cantons, EPCI, population), a road
network and a catalogue of service points, and answers how far people are
from the services, where the gaps are and what a scenario changes.
"""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    """``__version__``, read from the installed distribution on first use.

    ``importlib.metadata`` costs about a third of ``coverage --help``'s start-up,
    which never shows the version: it is imported when a module asks for it.
    """
    if name != "__version__":
        raise AttributeError(f"module 'coverage' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("coverage-territoires")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        found = "0.0.0+local"
    globals()["__version__"] = found
    return found
