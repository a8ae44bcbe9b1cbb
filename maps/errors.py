"""Errors raised by the map builders (each names the parameter, layer or asset at fault)."""

from __future__ import annotations

from coverage._french import plural
from coverage.errors import CoverageError


class MapError(CoverageError, ValueError):
    """A map cannot be built or rendered as asked (bad parameter, missing layer, asset...)."""


class UnknownEpciError(MapError, LookupError):
    """An EPCI SIREN that the result does not cover.

    Attributes
    ----------
    epci_siren
        The SIREN asked for.
    known
        The SIREN codes the result covers.
    """

    def __init__(self, epci_siren: str, known: list[str]) -> None:
        self.epci_siren = epci_siren
        self.known = known
        listed = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
        super().__init__(
            f"EPCI inconnu '{epci_siren}' : ce résultat couvre "
            f"{plural(len(known), 'EPCI', 'EPCI')} ({listed})"
        )
