"""Chaining backends: each address goes to the next backend only when the previous one failed.

``make_geocoder(territory)`` builds the default chain ``local`` -> ``commune``:
the offline address index first, the commune's representative point when the
street cannot be found. ``ban`` (the national API) can be put anywhere in the
chain. A result given by a later backend has the status ``fallback`` and its
reason says why the earlier ones failed; a query no backend can place is
``rejected`` with every backend's reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from coverage.errors import CoverageError, QueryError
from coverage.geocode.base import (
    AddressQuery,
    Geocoder,
    GeocodeResult,
    ProgressCallback,
    rejected,
)

if TYPE_CHECKING:
    from coverage.layers.territory import Territory

BACKENDS: tuple[str, ...] = ("local", "ban", "commune")
"""Backend names, for ``--backend``."""

DEFAULT_BACKENDS: tuple[str, ...] = ("local", "commune")


class GeocoderChain:
    """Try backends in order; keep the first answer.

    Parameters
    ----------
    backends
        The backends, best first.
    chunk_size
        Queries handed to the backends at a time (progress granularity, and
        the size of the ``ban`` backend's CSV batches).
    """

    name = "chain"

    def __init__(self, backends: Sequence[Geocoder], *, chunk_size: int = 500) -> None:
        if not backends:
            raise QueryError("a geocoder chain needs at least one backend")
        self.backends = list(backends)
        self.chunk_size = max(int(chunk_size), 1)

    @property
    def names(self) -> list[str]:
        """Names of the backends, in order."""
        return [b.name for b in self.backends]

    def geocode(self, query: AddressQuery) -> GeocodeResult:
        """Locate one address (through :meth:`geocode_many`)."""
        return self.geocode_many([query])[0]

    def geocode_many(
        self, queries: Sequence[AddressQuery], *, progress: ProgressCallback | None = None
    ) -> list[GeocodeResult]:
        """Locate many addresses; one result per query, in order, none dropped."""
        out: list[GeocodeResult] = []
        for start in range(0, len(queries), self.chunk_size):
            chunk = queries[start : start + self.chunk_size]
            out.extend(self._run_chunk(chunk))
            if progress is not None:
                progress(len(chunk))
        return out

    def _run_chunk(self, chunk: Sequence[AddressQuery]) -> list[GeocodeResult]:
        results: list[GeocodeResult | None] = [None] * len(chunk)
        reasons: list[list[tuple[str, str]]] = [[] for _ in chunk]
        pending = []
        for i, query in enumerate(chunk):
            if query.is_empty:
                results[i] = rejected("ligne vide", row_id=query.row_id)
            else:
                pending.append(i)
        for level, backend in enumerate(self.backends):
            if not pending:
                break
            try:
                answers = backend.geocode_many([chunk[i] for i in pending])
            except CoverageError as exc:
                answers = [rejected(str(exc), backend=backend.name) for _ in pending]
            still = []
            for i, answer in zip(pending, answers, strict=True):
                if answer.found:
                    if level == 0:
                        results[i] = answer
                    else:
                        why = _explain(reasons[i])
                        if answer.reason:
                            why = f"{why}; {answer.reason}"
                        results[i] = answer.with_status("fallback", why)
                else:
                    reasons[i].append((backend.name, answer.reason))
                    still.append(i)
            pending = still
        for i in pending:
            results[i] = rejected(
                _explain(reasons[i]), backend=self.backends[-1].name, row_id=chunk[i].row_id
            )
        return [r for r in results if r is not None]

    def reverse(self, lon: float, lat: float) -> str:
        """INSEE code of the commune holding a WGS84 point: the first backend that knows.

        Offline backends (commune polygons) are asked before the API.
        """
        for backend in sorted(self.backends, key=lambda b: b.name == "ban"):
            try:
                code = backend.reverse(lon, lat)
            except CoverageError:
                continue
            if code:
                return code
        return ""


def _explain(reasons: list[tuple[str, str]]) -> str:
    """Join the backends' reasons: ``local : x; ban : y``, or ``local, commune : x`` when equal."""
    grouped: dict[str, list[str]] = {}
    for name, reason in reasons:
        grouped.setdefault(reason, []).append(name)
    return "; ".join(f"{', '.join(names)} : {reason}" for reason, names in grouped.items())


def parse_backends(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """Read a backend list (``"local,commune"`` or a sequence); the default when empty.

    Raises
    ------
    QueryError
        For an unknown backend name.
    """
    if not value:
        return DEFAULT_BACKENDS
    items = (
        value.split(",")
        if isinstance(value, str)
        else [part for item in value for part in str(item).split(",")]
    )
    names = tuple(dict.fromkeys(i.strip().lower() for i in items if i.strip()))
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise QueryError(
            f"unknown geocoding backend(s) {', '.join(unknown)}; use {', '.join(BACKENDS)}"
        )
    return names or DEFAULT_BACKENDS


def make_geocoder(
    territory: Territory,
    backends: str | Sequence[str] | None = None,
    *,
    ban_options: dict[str, Any] | None = None,
    min_street_score: float | None = None,
) -> GeocoderChain:
    """Build a chain of backends on a territory.

    Parameters
    ----------
    territory
        A loaded :class:`coverage.layers.Territory` (its communes; its
        ``[layers.addresses]`` file for the ``local`` backend).
    backends
        Names in order (``"local,commune"`` by default; ``"ban,commune"``...).
    ban_options
        Keyword options of :class:`~coverage.geocode.ban.BanGeocoder`
        (``base_url``, ``rate_limit_per_s``, ``use_cache``...).
    min_street_score
        Least street similarity (0-100) of the ``local`` backend.

    Returns
    -------
    GeocoderChain
    """
    from coverage.geocode.ban import BanGeocoder
    from coverage.geocode.communes import CommuneGeocoder, CommuneIndex
    from coverage.geocode.local import LocalGeocoder

    names = parse_backends(backends)
    communes = CommuneIndex.from_territory(territory)
    chain: list[Geocoder] = []
    for name in names:
        if name == "local":
            options = {} if min_street_score is None else {"min_street_score": min_street_score}
            chain.append(LocalGeocoder.from_territory(territory, communes=communes, **options))
        elif name == "ban":
            chain.append(BanGeocoder(**(ban_options or {})))
        else:
            chain.append(CommuneGeocoder(communes))
    return GeocoderChain(chain)
