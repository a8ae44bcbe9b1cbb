"""The ``local`` backend: an offline index of a BAN or BANO address file, fuzzy-matched by commune.

:class:`AddressIndex` groups the address points by commune and street: each
street keeps its normalised name, its type (``rue``, ``lieu dit``...), its
house numbers with their points, and sorted odd/even number arrays for
interpolation. :class:`LocalGeocoder` resolves the commune first (INSEE code,
name or postcode, see :class:`~coverage.geocode.communes.CommuneIndex`), then
matches the street within the candidate communes only (exact normalised
name, exact core name, then rapidfuzz), then the house number: exact, without
its repetition index, or interpolated between the nearest numbers of the same
side of the street.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from coverage.errors import CoverageError
from coverage.geocode.base import AddressQuery, GeocodeResult, ProgressCallback, rejected
from coverage.geocode.communes import CommuneIndex
from coverage.geocode.normalize import (
    LOCALITY_TYPES,
    ParsedAddress,
    normalise_text,
    parse_address,
    parse_housenumber,
    split_street,
)

if TYPE_CHECKING:
    from coverage.layers.territory import Territory

MIN_STREET_SCORE = 80.0
"""Least street similarity (0-100) for a street to be accepted."""

MULTI_COMMUNE_MARGIN = 5.0
"""Extra street score needed when a shared postcode leaves several candidate communes."""

TIE_MARGIN = 1.0
"""Streets scored within this many points of the best are tied (the house number decides)."""

TYPE_MISMATCH_SCORE = 90.0
"""Score of a street found by its core name under another type (``rue X`` for ``impasse X``)."""


@dataclass
class Street:
    """One street (or lieu-dit) of a commune and its numbered points.

    Attributes
    ----------
    label
        The street name as the address file spells it.
    norm, kind, core
        Normalised name, type word and core name (see :mod:`coverage.geocode.normalize`).
    numbers
        House-number key (``"5"``, ``"5bis"``) -> (lon, lat).
    values, lons, lats
        Plain house numbers in increasing order with their points (interpolation).
    centre
        A point of the street near the middle of its numbers (street-level answers).
    """

    label: str
    norm: str
    kind: str
    core: str
    numbers: dict[str, tuple[float, float]] = field(default_factory=dict)
    values: list[int] = field(default_factory=list)
    lons: list[float] = field(default_factory=list)
    lats: list[float] = field(default_factory=list)
    centre: tuple[float, float] = (math.nan, math.nan)

    @property
    def is_locality(self) -> bool:
        """True for a lieu-dit, hamlet or named place without a street type."""
        return self.kind in LOCALITY_TYPES or self.kind == ""


@dataclass
class CommuneStreets:
    """The streets of one commune, with lookup tables for matching."""

    streets: list[Street] = field(default_factory=list)
    by_norm: dict[str, int] = field(default_factory=dict)
    by_core: dict[str, list[int]] = field(default_factory=dict)
    norms: list[str] = field(default_factory=list)
    cores: list[str] = field(default_factory=list)

    def add(self, street: Street) -> None:
        """Add a street (the first one wins when two share a normalised name)."""
        if street.norm in self.by_norm:
            return
        position = len(self.streets)
        self.streets.append(street)
        self.by_norm[street.norm] = position
        self.by_core.setdefault(street.core, []).append(position)
        self.norms.append(street.norm)
        self.cores.append(street.core)


@dataclass
class AddressIndex:
    """Address points grouped by commune (INSEE code) and street.

    Attributes
    ----------
    communes
        INSEE code -> its streets.
    n_points
        Address points indexed.
    skipped
        Rows left out, with why (no coordinates, commune not in the territory).
    aliases
        Commune names of the file that differ from the official names
        (former names of merged communes) -> INSEE code.
    build_s
        Seconds taken to build the index.
    source
        Where the addresses came from.
    """

    communes: dict[str, CommuneStreets]
    n_points: int
    skipped: dict[str, int]
    aliases: dict[str, str]
    build_s: float = 0.0
    source: str = ""

    @property
    def n_streets(self) -> int:
        """Number of streets and lieux-dits indexed."""
        return sum(len(c.streets) for c in self.communes.values())

    @classmethod
    def from_table(
        cls,
        table: pd.DataFrame,
        communes: CommuneIndex,
        *,
        source: str = "",
    ) -> AddressIndex:
        """Build the index from an address table.

        Parameters
        ----------
        table
            Columns ``id``, ``housenumber``, ``street``, ``postcode``,
            ``commune_name``, ``lat``, ``lon`` (as
            :func:`coverage.layers.addresses.read_address_table` returns them).
            The commune is the first five characters of ``id`` (BAN and BANO
            identifiers start with the INSEE code), else the postcode and name.
        communes
            The territory's communes.
        source
            Provenance text.

        Returns
        -------
        AddressIndex
        """
        start = time.perf_counter()
        skipped: dict[str, int] = {}
        frame = table.copy()
        for column in ("id", "housenumber", "street", "postcode", "commune_name"):
            if column not in frame.columns:
                frame[column] = ""
            frame[column] = frame[column].fillna("").astype(str)
        lon = pd.to_numeric(frame["lon"], errors="coerce").to_numpy(float)
        lat = pd.to_numeric(frame["lat"], errors="coerce").to_numpy(float)
        no_point = ~(np.isfinite(lon) & np.isfinite(lat))
        no_street = (frame["street"].str.strip() == "").to_numpy()
        if no_point.any():
            skipped["sans coordonnées"] = int(no_point.sum())
        if (no_street & ~no_point).any():
            skipped["sans voie"] = int((no_street & ~no_point).sum())
        keep = ~(no_point | no_street)
        frame = frame.loc[keep].reset_index(drop=True)
        lon, lat = lon[keep], lat[keep]

        codes = _row_communes(frame, communes)
        unknown = codes == ""
        if unknown.any():
            skipped["commune hors du territoire"] = int(unknown.sum())
        aliases: dict[str, str] = {}
        pairs = pd.DataFrame({"code": codes, "name": frame["commune_name"]}).drop_duplicates()
        for code, name in zip(pairs["code"], pairs["name"], strict=True):
            if code and name and normalise_text(name) != normalise_text(communes.name(code)):
                aliases[name] = code
                communes.add_alias(name, code)

        numbers = {value: parse_housenumber(value) for value in frame["housenumber"].unique()}
        index: dict[str, CommuneStreets] = {}
        order = np.lexsort((frame["street"].to_numpy(), codes))
        streets_col = frame["street"].to_numpy()
        numbers_col = frame["housenumber"].to_numpy()
        current: tuple[str, str] | None = None
        street: Street | None = None
        plain: dict[int, tuple[float, float]] = {}
        for row in order:
            code = codes[row]
            if not code:
                continue
            key = (code, streets_col[row])
            if key != current:
                if street is not None and current is not None:
                    _finish(street, plain)
                    index.setdefault(current[0], CommuneStreets()).add(street)
                current = key
                norm = normalise_text(streets_col[row])
                kind, core = split_street(norm)
                street = Street(label=streets_col[row], norm=norm, kind=kind, core=core)
                plain = {}
            number, suffix = numbers[numbers_col[row]]
            if number is None or street is None:
                continue
            point = (float(lon[row]), float(lat[row]))
            street.numbers.setdefault(f"{number}{suffix}", point)
            if not suffix:
                plain.setdefault(number, point)
        if street is not None and current is not None:
            _finish(street, plain)
            index.setdefault(current[0], CommuneStreets()).add(street)
        return cls(
            communes=index,
            n_points=int((codes != "").sum()),
            skipped=skipped,
            aliases=aliases,
            build_s=time.perf_counter() - start,
            source=source,
        )

    @classmethod
    def from_territory(cls, territory: Territory, communes: CommuneIndex) -> AddressIndex:
        """Build the index from the territory's ``[layers.addresses]`` file.

        Raises
        ------
        coverage.errors.ConfigError
            If the territory declares no address layer.
        coverage.errors.DataError
            If the file is missing or unreadable.
        """
        from coverage.layers.addresses import read_address_table

        start = time.perf_counter()
        spec = territory.config.layer("addresses")
        bundle = Path(territory.data_dir)
        table = read_address_table(spec, bundle)
        index = cls.from_table(table, communes, source=f"{spec.source} ({spec.date})".strip())
        index.build_s = time.perf_counter() - start
        return index


def _row_communes(frame: pd.DataFrame, communes: CommuneIndex) -> np.ndarray:
    """INSEE code of each address row: the id prefix, else postcode + commune name."""
    prefix = frame["id"].str.slice(0, 5).to_numpy()
    codes = np.array([p if p in communes else "" for p in prefix], dtype=object)
    missing = np.flatnonzero(codes == "")
    if len(missing):
        cache: dict[tuple[str, str], str] = {}
        postcodes = frame["postcode"].to_numpy(dtype=object)  # read once, not row by row
        names = frame["commune_name"].to_numpy(dtype=object)
        for row in missing:
            key = (postcodes[row], names[row])
            if key not in cache:
                parsed = ParsedAddress(None, "", "", key[0], normalise_text(key[1]))
                resolution = communes.resolve(parsed)
                cache[key] = resolution.codes[0] if len(resolution.codes) == 1 else ""
            codes[row] = cache[key]
    return codes


def _finish(street: Street, plain: dict[int, tuple[float, float]]) -> None:
    """Sort the plain numbers and choose the street's centre point."""
    if plain:
        ordered = sorted(plain)
        street.values = ordered
        street.lons = [plain[n][0] for n in ordered]
        street.lats = [plain[n][1] for n in ordered]
    points = np.array(list(street.numbers.values())) if street.numbers else None
    if points is None or not len(points):
        return
    middle = np.median(points, axis=0)
    nearest = int(np.argmin(((points - middle) ** 2).sum(axis=1)))
    street.centre = (float(points[nearest, 0]), float(points[nearest, 1]))


@dataclass(frozen=True)
class StreetMatch:
    """The street chosen for a query."""

    code: str
    street: Street
    score: float


class LocalGeocoder:
    """The ``local`` backend: addresses matched against an :class:`AddressIndex`.

    Parameters
    ----------
    communes
        The territory's :class:`~coverage.geocode.communes.CommuneIndex`.
    index
        A built index, or ``None`` to build it on first use with ``loader``.
    loader
        Builds the index when first needed (reading the address file); a
        failure rejects every query with the reason, so a chain falls back.
    min_street_score
        Least street similarity (0-100) to accept a street.
    """

    name = "local"

    def __init__(
        self,
        communes: CommuneIndex,
        index: AddressIndex | None = None,
        *,
        loader: Callable[[], AddressIndex] | None = None,
        min_street_score: float = MIN_STREET_SCORE,
    ) -> None:
        if index is None and loader is None:
            raise ValueError("give an AddressIndex or a loader that builds one")
        self.communes = communes
        self._index = index
        self._loader = loader
        self._load_error = ""
        self.min_street_score = float(min_street_score)

    @classmethod
    def from_territory(
        cls, territory: Territory, *, communes: CommuneIndex | None = None, **options: float
    ) -> LocalGeocoder:
        """A local geocoder on the territory's address file (built lazily)."""
        communes = communes or CommuneIndex.from_territory(territory)
        return cls(
            communes,
            loader=lambda: AddressIndex.from_territory(territory, communes),
            **options,
        )

    @property
    def index(self) -> AddressIndex | None:
        """The address index, built on first access (``None`` if it cannot be built)."""
        if self._index is None and not self._load_error and self._loader is not None:
            try:
                self._index = self._loader()
            except CoverageError as exc:
                self._load_error = str(exc)
        return self._index

    def geocode(self, query: AddressQuery) -> GeocodeResult:
        """Locate one address from the index."""
        if query.is_empty:
            return rejected("ligne vide", backend=self.name, row_id=query.row_id)
        index = self.index if query.text.strip() else self._index
        parsed = parse_address(query.text, postcode=query.postcode, city=query.city)
        resolution = self.communes.resolve(parsed, insee_code=query.insee_code)
        if not resolution.resolved:
            return rejected(resolution.reason, backend=self.name, row_id=query.row_id)
        street_text = resolution.street
        if not street_text:
            return rejected("adresse sans voie ni lieu-dit", backend=self.name, row_id=query.row_id)
        if index is None:
            return rejected(
                f"index d'adresses indisponible ({self._load_error})",
                backend=self.name,
                row_id=query.row_id,
            )
        codes = [c for c in resolution.codes if c in index.communes]
        if not codes:
            names = ", ".join(self.communes.name(c) for c in resolution.codes[:3])
            return rejected(
                f"aucune adresse de {names} dans le fichier d'adresses",
                backend=self.name,
                row_id=query.row_id,
            )
        match = self._match_street(codes, street_text, parsed)
        if isinstance(match, list):
            return rejected(
                f"voie « {street_text} » ambiguë ({' / '.join(sorted(set(match))[:4])}) : "
                "précisez la commune, le type de voie ou le numéro",
                backend=self.name,
                row_id=query.row_id,
            )
        if match is None:
            where = self.communes.name(codes[0]) if len(codes) == 1 else f"{len(codes)} communes"
            return rejected(
                f"voie « {street_text} » introuvable ({where})",
                backend=self.name,
                row_id=query.row_id,
            )
        return self._place(query, parsed, resolution.score, resolution.reason, match)

    def geocode_many(
        self, queries: Sequence[AddressQuery], *, progress: ProgressCallback | None = None
    ) -> list[GeocodeResult]:
        """Locate many addresses; one result per query, in order."""
        if any(q.text.strip() for q in queries):
            _ = self.index
        results = []
        step = 0
        for query in queries:
            results.append(self.geocode(query))
            step += 1
            if progress is not None and step == 200:
                progress(step)
                step = 0
        if progress is not None and step:
            progress(step)
        return results

    def reverse(self, lon: float, lat: float) -> str:
        """INSEE code of the commune holding a WGS84 point (``""`` outside the territory)."""
        return self.communes.reverse(lon, lat)

    # --- matching ---------------------------------------------------------------------------

    def _match_street(
        self, codes: Sequence[str], street_text: str, parsed: ParsedAddress
    ) -> StreetMatch | list[str] | None:
        """The street of a query among the candidate communes.

        Streets tied at the top score, in one commune or across the communes of
        a shared postcode, are told apart by the house number; a tie it cannot
        break returns the tied labels (ambiguous: no answer rather than a guess).
        """
        index = self._index
        assert index is not None
        kind, core = split_street(street_text)
        found: list[StreetMatch] = []
        # several candidate communes (a shared postcode): misspellings must be closer
        cutoff = self.min_street_score + (MULTI_COMMUNE_MARGIN if len(codes) > 1 else 0.0)
        for code in codes:
            for street, score in _match_in_commune(
                index.communes[code], street_text, kind, core, cutoff
            ):
                found.append(StreetMatch(code, street, score))
        if not found:
            return None
        top = max(m.score for m in found)
        tied = [m for m in found if m.score >= top - TIE_MARGIN]
        if len(tied) > 1 and parsed.housenumber:
            with_number = [m for m in tied if parsed.housenumber in m.street.numbers]
            if with_number:
                tied = with_number
        if len(tied) > 1:
            several = len({m.code for m in tied}) > 1
            return [
                f"{m.street.label} ({self.communes.name(m.code)})" if several else m.street.label
                for m in tied
            ]
        return tied[0]

    def _place(
        self,
        query: AddressQuery,
        parsed: ParsedAddress,
        commune_score: float,
        note: str,
        match: StreetMatch,
    ) -> GeocodeResult:
        street = match.street
        notes = [note] if note else []
        score = match.score / 100.0 * commune_score
        extra: dict[str, str] = {}
        quality = "locality" if street.is_locality else "street"
        lon, lat = street.centre
        label = street.label
        if parsed.number is not None:
            key = parsed.housenumber
            plain_key = str(parsed.number)
            if key in street.numbers:
                lon, lat = street.numbers[key]
                quality, label = "housenumber", f"{key} {street.label}"
            elif parsed.suffix and plain_key in street.numbers:
                lon, lat = street.numbers[plain_key]
                quality, label = "housenumber", f"{plain_key} {street.label}"
                score *= 0.95
                notes.append(f"indice « {parsed.suffix} » absent : numéro {plain_key} retenu")
            else:
                placed = _interpolate(street, parsed.number)
                if placed is not None:
                    lon, lat = placed
                    quality, label = "housenumber", f"{parsed.number} {street.label}"
                    score *= 0.9
                    extra["interpolated"] = "1"
                    notes.append(f"numéro {parsed.number} interpolé entre ses voisins")
                else:
                    score *= 0.8
                    if street.values:
                        lon, lat = _nearest_end(street, parsed.number)
                        notes.append(
                            f"numéro {parsed.number} hors des numéros connus "
                            f"({street.values[0]}–{street.values[-1]}) : position de la voie"
                        )
                    else:
                        notes.append(f"numéro {parsed.number} inconnu : position de la voie")
        postcode = parsed.postcode or (self.communes.postcodes.get(match.code) or ("",))[0]
        return GeocodeResult(
            lon=lon,
            lat=lat,
            quality=quality,
            score=round(score, 3),
            backend=self.name,
            insee_code=match.code,
            label=f"{label} {postcode} {self.communes.name(match.code)}".strip(),
            status="matched",
            reason="; ".join(notes),
            row_id=query.row_id,
            extra=extra,
        )


def _match_in_commune(
    streets: CommuneStreets, text: str, kind: str, core: str, cutoff: float
) -> list[tuple[Street, float]]:
    """Streets of one commune tied at the best score for a normalised street text (0-100).

    Candidates come from the exact name (100, alone), the exact core name, then
    rapidfuzz on the core names (a different street type costs
    ``100 - TYPE_MISMATCH_SCORE`` points) and on the full names. Returns
    every street within :data:`TIE_MARGIN` of the best score (empty: no match).
    """
    position = streets.by_norm.get(text)
    if position is not None:
        return [(streets.streets[position], 100.0)]
    scores: dict[int, float] = {}

    def offer(position: int, score: float) -> None:
        other = streets.streets[position].kind
        if kind and other != kind:
            score -= 100.0 - TYPE_MISMATCH_SCORE
        if score > scores.get(position, -1.0):
            scores[position] = score

    for position in streets.by_core.get(core, []):
        offer(position, 100.0 if kind else 98.0)
    if len(core) >= 4:
        for _, score, position in process.extract(
            core, streets.cores, scorer=fuzz.ratio, score_cutoff=cutoff, limit=5
        ):
            offer(int(position), float(score))
    for _, score, position in process.extract(
        text, streets.norms, scorer=fuzz.token_sort_ratio, score_cutoff=max(cutoff, 90.0), limit=3
    ):
        if float(score) > scores.get(int(position), -1.0):
            scores[int(position)] = float(score)
    kept = [(p, s) for p, s in scores.items() if s >= cutoff]
    if not kept:
        return []
    top = max(s for _, s in kept)
    return [(streets.streets[p], s) for p, s in kept if s >= top - TIE_MARGIN]


def _interpolate(street: Street, number: int) -> tuple[float, float] | None:
    """Point of ``number`` between the nearest known numbers of the same side (odd/even)."""
    values = street.values
    if len(values) < 2:
        return None
    side = [i for i, v in enumerate(values) if v % 2 == number % 2]
    if len(side) < 2:
        side = list(range(len(values)))
    side_values = [values[i] for i in side]
    at = bisect.bisect_left(side_values, number)
    if at == 0 or at == len(side_values):
        return None
    low, high = side[at - 1], side[at]
    n_low, n_high = values[low], values[high]
    t = (number - n_low) / (n_high - n_low)
    lon = street.lons[low] + t * (street.lons[high] - street.lons[low])
    lat = street.lats[low] + t * (street.lats[high] - street.lats[low])
    return lon, lat


def _nearest_end(street: Street, number: int) -> tuple[float, float]:
    """Point of the known number closest to ``number`` (a number past either end)."""
    nearest = min(range(len(street.values)), key=lambda i: abs(street.values[i] - number))
    return street.lons[nearest], street.lats[nearest]
