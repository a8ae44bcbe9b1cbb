"""The geocoder interface: address queries, results with an honest quality, backends.

Every backend (``local`` BAN/BANO index, ``ban`` national API, ``commune``
fallback) implements :class:`Geocoder`. Qualities, best first:
``housenumber`` > ``street`` > ``locality`` > ``municipality``; coordinates
given by the source itself carry the quality ``input``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol, runtime_checkable

Quality = Literal["housenumber", "street", "locality", "municipality", "input"]
QUALITY_RANK: dict[str, int] = {
    "input": 5,
    "housenumber": 4,
    "street": 3,
    "locality": 2,
    "municipality": 1,
}
"""Higher is better; 0 for no result."""

QUALITY_LABELS: dict[str, str] = {
    "input": "coordonnées fournies",
    "housenumber": "numéro",
    "street": "voie",
    "locality": "lieu-dit",
    "municipality": "commune",
    "": "non localisé",
}
"""French labels of the qualities (CLI summaries)."""

STATUSES: tuple[str, ...] = ("matched", "fallback", "rejected")
STATUS_LABELS: dict[str, str] = {
    "matched": "trouvé",
    "fallback": "repli",
    "rejected": "rejeté",
}
"""French labels of the statuses (CLI summaries)."""

ProgressCallback = Callable[[int], None]
"""Called with the number of queries just finished (drives a progress bar)."""


@dataclass(frozen=True)
class AddressQuery:
    """One address to locate.

    Attributes
    ----------
    text
        Free text address (``"12 av. de la République 32000 Auch"``) or just the
        street part when the commune is given separately.
    insee_code
        INSEE code of the commune when known (the strongest hint).
    postcode
        Postal code when known.
    city
        Commune name when known.
    row_id
        Caller's identifier (row number or id), echoed in the result.
    """

    text: str = ""
    insee_code: str = ""
    postcode: str = ""
    city: str = ""
    row_id: str = ""

    @property
    def is_empty(self) -> bool:
        """True when the query holds nothing to search for."""
        return not (
            self.text.strip()
            or self.insee_code.strip()
            or self.postcode.strip()
            or self.city.strip()
        )


@dataclass(frozen=True)
class GeocodeResult:
    """Where an address was placed, how well, and by which backend.

    Attributes
    ----------
    lon, lat
        WGS84 position (NaN when not found).
    quality
        ``housenumber``, ``street``, ``locality``, ``municipality``, ``input``
        or ``""``.
    score
        Match score in [0, 1].
    backend
        ``local``, ``ban``, ``commune`` or ``input``.
    insee_code
        Commune the result lies in.
    label
        The matched address as the backend spells it.
    status
        ``matched``, ``fallback`` (a coarser backend answered) or ``rejected``.
    reason
        Why it was rejected or fell back (empty when matched).
    row_id
        Echo of the query's ``row_id``.
    extra
        Backend details (e.g. ``interpolated`` for an interpolated house number).
    """

    lon: float = float("nan")
    lat: float = float("nan")
    quality: str = ""
    score: float = 0.0
    backend: str = ""
    insee_code: str = ""
    label: str = ""
    status: str = "rejected"
    reason: str = ""
    row_id: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        """True when the result carries a position."""
        return self.status != "rejected"

    def with_status(self, status: str, reason: str | None = None) -> GeocodeResult:
        """Return a copy with another status (and reason when given)."""
        return replace(self, status=status, reason=self.reason if reason is None else reason)


def rejected(reason: str, *, backend: str = "", row_id: str = "") -> GeocodeResult:
    """Return a rejected result carrying ``reason``."""
    return GeocodeResult(status="rejected", reason=reason, backend=backend, row_id=row_id)


@runtime_checkable
class Geocoder(Protocol):
    """A geocoding backend."""

    name: str

    def geocode(self, query: AddressQuery) -> GeocodeResult:
        """Locate one address."""
        ...

    def geocode_many(
        self, queries: Sequence[AddressQuery], *, progress: ProgressCallback | None = None
    ) -> list[GeocodeResult]:
        """Locate many addresses; one result per query, in the same order."""
        ...

    def reverse(self, lon: float, lat: float) -> str:
        """Return the INSEE code of the commune holding a WGS84 point (``""`` if none)."""
        ...
