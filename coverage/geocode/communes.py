"""Which commune an address is in: INSEE code, postcode or name; reverse lookup of a point.

:class:`CommuneIndex` holds a territory's communes (INSEE code, normalised
names and aliases, postcodes, representative point, polygon). It resolves the
commune part of a query (:meth:`CommuneIndex.resolve`) and answers which
commune holds a point (:meth:`CommuneIndex.reverse_many`). The ``commune``
backend (:class:`CommuneGeocoder`) places an address at its commune's
representative point, with the quality ``municipality``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer
from rapidfuzz import fuzz, process

from coverage.geocode.base import (
    AddressQuery,
    GeocodeResult,
    ProgressCallback,
    rejected,
)
from coverage.geocode.former import FormerCommune
from coverage.geocode.normalize import (
    STREET_TYPES,
    ParsedAddress,
    normalise_text,
    parse_address,
)

if TYPE_CHECKING:
    from coverage.layers.territory import Territory

NAME_CUTOFF = 90.0
"""Least rapidfuzz ratio (0-100) for a misspelt commune name to be accepted."""

_LEADING_ARTICLES = ("l ", "le ", "la ", "les ")
_STREET_ARTICLES = {"de", "du", "des", "d", "la", "le", "les", "l", "a", "au", "aux", "sur"}
_INSEE = re.compile(r"^(\d{5}|2[AB]\d{3})$")


@dataclass(frozen=True)
class Resolution:
    """The communes an address may be in.

    Attributes
    ----------
    codes
        Candidate INSEE codes, best first (empty when unresolved).
    street
        The street text once a commune name found at its end is removed.
    method
        ``insee``, ``name``, ``postcode`` or ``text`` (name found in free text).
    score
        Confidence in the commune, in [0, 1].
    reason
        Why the commune is unknown, or what was odd about it (a postcode that
        does not match the name...).
    """

    codes: tuple[str, ...]
    street: str
    method: str = ""
    score: float = 0.0
    reason: str = ""

    @property
    def resolved(self) -> bool:
        """True when at least one commune is a candidate."""
        return bool(self.codes)


class CommuneIndex:
    """A territory's communes, searchable by INSEE code, postcode, name and position.

    Parameters
    ----------
    communes
        Commune frame in a metric CRS with ``insee_code``, ``name``,
        ``postcodes`` (``;``-separated), ``point_x``, ``point_y`` and polygon
        geometries (as :attr:`coverage.layers.Territory.communes`).
    departement
        The territory's département code (to explain foreign postcodes).
    aliases
        Extra names (``{"Castelnau-d'Auzan": "32080"}``): former names of merged
        communes, spellings of an address file.
    former
        Former communes of the COG (:mod:`coverage.geocode.former`): their names
        designate today's commune, and a resolution through one says so in its
        reason (``Cannet, commune déléguée de Riscle``). A former name that is
        also a current commune's name is left to the current commune.
    """

    def __init__(
        self,
        communes: gpd.GeoDataFrame,
        *,
        departement: str,
        aliases: Mapping[str, str] | None = None,
        former: Sequence[FormerCommune] = (),
    ) -> None:
        if communes.crs is None:
            raise ValueError("the commune frame needs a CRS")
        self.departement = str(departement)
        self.crs = communes.crs
        self.codes: list[str] = [str(c) for c in communes["insee_code"]]
        self._position = {code: i for i, code in enumerate(self.codes)}
        self.names: dict[str, str] = dict(
            zip(self.codes, communes["name"].astype(str), strict=True)
        )
        self.population: dict[str, int] = (
            {c: int(p) for c, p in zip(self.codes, communes["population"], strict=True)}
            if "population" in communes.columns
            else {}
        )
        to_wgs84 = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        lon, lat = to_wgs84.transform(
            communes["point_x"].to_numpy(float), communes["point_y"].to_numpy(float)
        )
        self.points: dict[str, tuple[float, float]] = {
            code: (float(x), float(y)) for code, x, y in zip(self.codes, lon, lat, strict=True)
        }
        self.postcodes: dict[str, tuple[str, ...]] = {}
        self.by_postcode: dict[str, tuple[str, ...]] = {}
        grouped: dict[str, list[str]] = {}
        for code, raw in zip(self.codes, communes["postcodes"].fillna("").astype(str), strict=True):
            pcs = tuple(p.strip() for p in raw.split(";") if p.strip())
            self.postcodes[code] = pcs
            for pc in pcs:
                grouped.setdefault(pc, []).append(code)
        self.by_postcode = {pc: tuple(codes) for pc, codes in grouped.items()}
        self.by_name: dict[str, list[str]] = {}
        for code, name in self.names.items():
            self._add_name(name, code)
        self.former: dict[str, FormerCommune] = {}
        for entry in former:
            self.add_former(entry)
        for name, code in (aliases or {}).items():
            self.add_alias(name, code)
        self._geoms = np.asarray(communes.geometry.values)
        self._tree = shapely.STRtree(self._geoms)
        self._to_metric = Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)

    # --- construction helpers -----------------------------------------------------------

    @classmethod
    def from_territory(cls, territory: Territory) -> CommuneIndex:
        """Build the index of a :class:`coverage.layers.Territory`."""
        from coverage.geocode.former import former_communes

        return cls(
            territory.communes,
            departement=territory.config.departement,
            former=former_communes(territory),
        )

    def _add_name(self, name: str, code: str) -> None:
        norm = normalise_text(name)
        if not norm:
            return
        forms = {norm}
        for article in _LEADING_ARTICLES:
            if norm.startswith(article):
                forms.add(norm[len(article) :])
        for form in forms:
            codes = self.by_name.setdefault(form, [])
            if code not in codes:
                codes.append(code)
        self._max_tokens = max(getattr(self, "_max_tokens", 1), len(norm.split()))

    def add_alias(self, name: str, code: str) -> None:
        """Let ``name`` (a former or alternative name) designate commune ``code``."""
        if code in self._position:
            self._add_name(name, code)

    def add_former(self, entry: FormerCommune) -> None:
        """Let a former commune's name designate today's commune, noted when used."""
        norm = normalise_text(entry.name)
        if entry.current not in self._position or not norm or norm in self.by_name:
            return
        self._add_name(entry.name, entry.current)
        for form, codes in self.by_name.items():
            if codes == [entry.current] and (form == norm or norm.endswith(" " + form)):
                self.former.setdefault(form, entry)

    def former_note(self, form: str, code: str) -> str:
        """``Cannet, commune déléguée de Riscle`` when ``form`` is a former name of ``code``."""
        entry = self.former.get(form)
        if entry is None or entry.current != code:
            return ""
        return f"{entry.name}, {entry.kind} de {self.names[code]} (code INSEE {code})"

    # --- lookups --------------------------------------------------------------------------

    def __contains__(self, code: object) -> bool:
        return code in self._position

    def __len__(self) -> int:
        return len(self.codes)

    def name(self, code: str) -> str:
        """Official name of a commune."""
        return self.names[code]

    def point(self, code: str) -> tuple[float, float]:
        """Representative point (lon, lat, WGS84) of a commune."""
        return self.points[code]

    def match_name(self, city: str, *, within: Iterable[str] | None = None) -> tuple[str, float]:
        """Find the commune a (normalised) name designates.

        Parameters
        ----------
        city
            Normalised commune name (:func:`~coverage.geocode.normalize.normalise_text`).
        within
            Restrict the search to these INSEE codes (e.g. a postcode's communes).

        Returns
        -------
        tuple of (str, float)
            INSEE code and score in [0, 1] (1 for an exact name), or ``("", 0.0)``.
        """
        code, score, _ = self._match_form(city, within=within)
        return code, score

    def _match_form(
        self, city: str, *, within: Iterable[str] | None = None
    ) -> tuple[str, float, str]:
        """:meth:`match_name` plus the indexed form matched (to tell a former name)."""
        if not city:
            return "", 0.0, ""
        allowed = set(within) if within is not None else None
        exact = self.by_name.get(city, [])
        if allowed is not None:
            exact = [c for c in exact if c in allowed]
        if len(exact) == 1:
            return exact[0], 1.0, city
        if len(exact) > 1:
            return "", 0.0, ""  # two communes of the same name: the postcode must decide
        choices = {
            form: codes[0]
            for form, codes in self.by_name.items()
            if len(codes) == 1 and (allowed is None or codes[0] in allowed)
        }
        if not choices:
            return "", 0.0, ""
        best = process.extractOne(city, list(choices), scorer=fuzz.ratio, score_cutoff=NAME_CUTOFF)
        if best is None:
            return "", 0.0, ""
        return choices[best[0]], float(best[1]) / 100.0, best[0]

    def closest_name(self, city: str, codes: Iterable[str]) -> str:
        """Official name of the commune among ``codes`` whose name is closest to ``city``.

        ``city`` is normalised; ``""`` when ``codes`` is empty.
        """
        names = {code: normalise_text(self.names[code]) for code in codes if code in self}
        if not names:
            return ""
        best = process.extractOne(city, names, scorer=fuzz.ratio)
        return self.names[best[2]] if best is not None else ""

    def split_city(
        self,
        tokens: Sequence[str],
        *,
        within: Iterable[str] | None = None,
        bare_type: bool = False,
    ) -> tuple[list[str], str, float]:
        """Find a commune name at the end of free-text tokens.

        Returns
        -------
        tuple of (list of str, str, float)
            The remaining (street) tokens, the INSEE code and the score; the code
            is ``""`` when no commune name ends the text. A name preceded by an
            article (``route d auch``) is part of the street, not the commune;
            so is one preceded by a bare street type (``rue saint clar``) unless
            ``bare_type`` (the text has nothing else to name its commune:
            ``village corneillan``).
        """
        allowed = set(within) if within is not None else None
        longest = min(len(tokens), getattr(self, "_max_tokens", 1) + 1)
        for size in range(longest, 0, -1):
            head, tail = list(tokens[:-size]), " ".join(tokens[-size:])
            if _part_of_street(head, bare_type=bare_type):
                continue
            codes = self.by_name.get(tail, [])
            if allowed is not None:
                codes = [c for c in codes if c in allowed]
            if len(codes) == 1:
                return head, codes[0], 1.0
        # a misspelt name: fuzzy on the last 1-4 tokens, longest accepted wins
        for size in range(min(len(tokens), 4), 0, -1):
            head, tail = list(tokens[:-size]), " ".join(tokens[-size:])
            if _part_of_street(head, bare_type=bare_type) or tokens[-size] in _STREET_ARTICLES:
                continue
            if len(tail) < 4:
                continue
            code, score = self.match_name(tail, within=allowed)
            if code and score >= 0.9:
                return head, code, score
        return list(tokens), "", 0.0

    def resolve(self, parsed: ParsedAddress, *, insee_code: str = "") -> Resolution:
        """Decide which commune(s) a parsed address may be in.

        Parameters
        ----------
        parsed
            Output of :func:`~coverage.geocode.normalize.parse_address`.
        insee_code
            INSEE code given with the address (wins over the rest).

        Returns
        -------
        Resolution
            Unresolved (no codes) with a French reason when the commune is not
            in the territory: unknown INSEE code, postcode of another
            département, unknown name.
        """
        street = parsed.street
        notes: list[str] = []
        code = clean_insee_code(insee_code)
        if code.startswith("?"):
            notes.append(f"code INSEE « {code[1:]} » invalide (5 caractères, par ex. 32013)")
        elif code:
            if code in self:
                if parsed.postcode and parsed.postcode not in self.postcodes[code]:
                    notes.append(
                        f"code postal {parsed.postcode} différent de celui de "
                        f"{self.names[code]} ({', '.join(self.postcodes[code])})"
                    )
                street = self._strip_city(street, code)
                return Resolution((code,), street, "insee", 1.0, "; ".join(notes))
            notes.append(self._explain_code(code))
            if not code.startswith(self.departement):
                # a commune of another département: never guess a homonym of the territory
                return Resolution((), street, "", 0.0, "; ".join(notes))

        candidates: tuple[str, ...] | None = None
        if parsed.postcode:
            candidates = self.by_postcode.get(parsed.postcode, ())
            if not candidates:
                notes.append(self._explain_postcode(parsed.postcode))

        if (
            parsed.postcode
            and not candidates
            and not parsed.postcode.startswith(self.departement[:2])
        ):
            # a postcode of another département: a name of the territory would be a homonym
            # (Auterive 31190 is not Auterive 32550); say so rather than guess
            if parsed.city:
                notes.append(f"commune « {parsed.city} » non cherchée dans le territoire")
            return Resolution((), street, "", 0.0, "; ".join(notes))
        if parsed.city:
            found, score, form = self._match_form(parsed.city, within=candidates or None)
            disagreement = ""
            elsewhere = self.by_name.get(parsed.city, [])
            if candidates and form != parsed.city and len(elsewhere) == 1:
                # an exact name of another commune beats a near name among the postcode's
                found = ""
            if not found and candidates:
                # the postcode's communes do not have that name: try the whole territory
                found, score, form = self._match_form(parsed.city)
                if found:
                    score *= 0.9
                    disagreement = self._disagreement(
                        parsed.city, parsed.postcode, found, candidates
                    )
            if found:
                within = parsed.postcode if not disagreement and candidates else ""
                notes.extend(self._name_notes(parsed.city, form, found, within))
                notes.extend([disagreement] if disagreement else [])
                street = self._strip_city(street, found)
                return Resolution((found,), street, "name", score, "; ".join(notes))
            unknown = f"commune « {parsed.city} » inconnue dans le territoire"
            if candidates:
                closest = self.closest_name(parsed.city, candidates)
                unknown += (
                    f" ; pour le code postal {parsed.postcode}, la commune au nom le plus "
                    f"proche est {closest}"
                )
            notes.append(unknown)
            if not candidates:
                return Resolution((), street, "", 0.0, "; ".join(notes))

        tokens = street.split()
        if candidates:
            head, found, score = self.split_city(tokens, within=candidates)
            if found:
                former = self.former_note(" ".join(tokens[len(head) :]), found)
                notes.extend([former] if former else [])
                return Resolution((found,), " ".join(head), "text", score, "; ".join(notes))
            ordered = tuple(sorted(candidates, key=self._position.__getitem__))
            score = 0.95 if len(ordered) == 1 else 0.8
            return Resolution(ordered, street, "postcode", score, "; ".join(notes))
        if parsed.postcode and not parsed.city:
            # an unknown postcode of the territory's département: the text may name the commune
            head, found, score = self.split_city(tokens)
            if found:
                return Resolution((found,), " ".join(head), "text", score * 0.9, "; ".join(notes))
            return Resolution((), street, "", 0.0, "; ".join(notes))
        head, found, score = self.split_city(tokens, bare_type=True)
        if found:
            former = self.former_note(" ".join(tokens[len(head) :]), found)
            notes.extend([former] if former else [])
            return Resolution((found,), " ".join(head), "text", score, "; ".join(notes))
        if not notes:
            notes.append(
                "commune introuvable : donnez le code INSEE, le code postal ou le nom de la commune"
            )
        return Resolution((), street, "", 0.0, "; ".join(notes))

    def _name_notes(self, city: str, form: str, code: str, postcode: str = "") -> list[str]:
        """Notes on a commune found by name: a former name, a misspelt one.

        ``postcode`` when the name was matched among that postcode's communes.
        """
        notes = []
        former = self.former_note(form, code)
        if former:
            notes.append(former)
        if form and form != city:
            shown = self.former[form].name if former else self.names[code]
            among = f" parmi les communes du code postal {postcode}" if postcode else ""
            notes.append(f"commune « {city} » lue « {shown} » (nom approché{among})")
        return notes

    def _disagreement(self, city: str, postcode: str, found: str, candidates: Iterable[str]) -> str:
        """Note of a commune name that is not one of its postcode's communes.

        The name wins: it names one commune of the territory where a postcode is
        shared by several communes and often copied from another site's address.
        """
        own = ", ".join(self.postcodes[found]) or "aucun connu"
        return (
            f"commune « {city} » et code postal {postcode} en désaccord : code postal "
            f"{postcode} différent de celui de {self.names[found]} ({own}), placé d'après "
            f"le nom ; pour le code postal {postcode}, la commune au nom le plus proche est "
            f"{self.closest_name(city, candidates)}"
        )

    def _strip_city(self, street: str, code: str) -> str:
        """Remove the commune's own name when it ends the street text (``rue x auch``)."""
        tokens = street.split()
        head, found, _ = self.split_city(tokens, within=(code,))
        return " ".join(head) if found and head else street

    def _explain_code(self, code: str) -> str:
        if not code.startswith(self.departement):
            return f"commune {code} hors du territoire (département {code[:2]})"
        return f"code INSEE {code} inconnu dans le territoire"

    def _explain_postcode(self, postcode: str) -> str:
        if not postcode.startswith(self.departement[:2]):
            return f"code postal {postcode} d'un autre département ({postcode[:2]})"
        return f"code postal {postcode} inconnu dans le territoire"

    # --- reverse lookup -------------------------------------------------------------------

    def reverse_many(self, lon: Sequence[float], lat: Sequence[float]) -> np.ndarray:
        """Return the INSEE code of the commune holding each WGS84 point (``""`` outside).

        Parameters
        ----------
        lon, lat
            Longitudes and latitudes (NaN allowed: answered ``""``).

        Returns
        -------
        numpy.ndarray
            Object array of INSEE codes, one per point.
        """
        lon_arr = np.asarray(lon, dtype=float)
        lat_arr = np.asarray(lat, dtype=float)
        out = np.full(lon_arr.shape, "", dtype=object)
        ok = np.isfinite(lon_arr) & np.isfinite(lat_arr)
        if not ok.any():
            return out
        x, y = self._to_metric.transform(lon_arr[ok], lat_arr[ok])
        points = shapely.points(x, y)
        pairs = self._tree.query(points, predicate="intersects")
        found = np.full(len(points), -1, dtype=np.int64)
        # keep the first polygon of each point (points on a shared border)
        for point_index, geom_index in zip(pairs[0][::-1], pairs[1][::-1], strict=True):
            found[point_index] = geom_index
        codes = np.array([*self.codes, ""], dtype=object)
        out[ok] = codes[found]
        return out

    def reverse(self, lon: float, lat: float) -> str:
        """Return the INSEE code of the commune holding one WGS84 point (``""`` outside)."""
        return str(self.reverse_many([lon], [lat])[0])


def _part_of_street(head: Sequence[str], *, bare_type: bool = False) -> bool:
    """True when the words before a commune-like name show it belongs to the street.

    ``route d auch`` (an article before) and ``rue saint clar`` (a bare street
    type before) name streets, not a street followed by its commune.
    """
    if not head:
        return False
    if head[-1] in _STREET_ARTICLES:
        return True
    return not bare_type and len(head) == 1 and head[0] in STREET_TYPES


def clean_insee_code(value: object) -> str:
    """Return an INSEE code as 5 characters; ``"?"`` + the text when it is not one.

    ``"2013"`` or ``2013.0`` (read as a number by a spreadsheet) becomes
    ``"02013"``; ``""`` stays ``""``; ``"abc"`` becomes ``"?ABC"``.
    """
    text = str(value or "").strip().upper()
    if text.endswith(".0"):
        text = text[:-2]
    if text.isdigit() and len(text) == 4:
        text = text.zfill(5)
    return text if _INSEE.match(text) else ("?" + text if text else "")


class CommuneGeocoder:
    """The ``commune`` backend: an address at its commune's representative point.

    The commune comes from the INSEE code, else the name (with the postcode to
    choose among homonyms), else the postcode when it serves a single commune.
    A postcode shared by several communes without a name is rejected rather
    than guessed.

    Parameters
    ----------
    communes
        The territory's :class:`CommuneIndex`.
    """

    name = "commune"

    def __init__(self, communes: CommuneIndex) -> None:
        self.communes = communes

    def geocode(self, query: AddressQuery) -> GeocodeResult:
        """Place one address at its commune's representative point."""
        if query.is_empty:
            return rejected("ligne vide", backend=self.name, row_id=query.row_id)
        parsed = parse_address(query.text, postcode=query.postcode, city=query.city)
        resolution = self.communes.resolve(parsed, insee_code=query.insee_code)
        if not resolution.resolved:
            return rejected(resolution.reason, backend=self.name, row_id=query.row_id)
        if len(resolution.codes) > 1:
            names = ", ".join(self.communes.name(c) for c in resolution.codes[:5])
            more = "…" if len(resolution.codes) > 5 else ""
            return rejected(
                f"code postal {parsed.postcode} commun à {len(resolution.codes)} communes "
                f"({names}{more}) : précisez la commune"
                + (f" ; {resolution.reason}" if resolution.reason else ""),
                backend=self.name,
                row_id=query.row_id,
            )
        code = resolution.codes[0]
        lon, lat = self.communes.point(code)
        return GeocodeResult(
            lon=lon,
            lat=lat,
            quality="municipality",
            score=round(resolution.score, 3),
            backend=self.name,
            insee_code=code,
            label=self.communes.name(code),
            status="matched",
            reason=resolution.reason,
            row_id=query.row_id,
        )

    def geocode_many(
        self, queries: Sequence[AddressQuery], *, progress: ProgressCallback | None = None
    ) -> list[GeocodeResult]:
        """Place many addresses; one result per query, in order."""
        results = [self.geocode(q) for q in queries]
        if progress is not None:
            progress(len(queries))
        return results

    def reverse(self, lon: float, lat: float) -> str:
        """INSEE code of the commune holding a WGS84 point (``""`` outside the territory)."""
        return self.communes.reverse(lon, lat)
