"""French address normalisation: accents, case, abbreviations, house numbers, postcodes.

Both the reference addresses (BAN/BANO) and the queries go through the same
functions, so that ``"12 AV. DE LA REPUBLIQUE"`` and ``"12 Avenue de la
République"`` meet on ``"avenue de la republique"`` and house number ``12``.

- :func:`normalise_text`: ASCII (unidecode), lower case, punctuation to spaces,
  abbreviations expanded (``av`` -> ``avenue``, ``st`` -> ``saint``, ``ld`` ->
  ``lieu dit``...).
- :func:`split_street`: a normalised street name into its type word
  (``avenue``, ``lieu dit``...) and its core (``republique``), with the articles
  removed from the core.
- :func:`parse_housenumber`: ``"5BIS"``, ``"5 b"``, ``"5 bis"`` -> ``(5, "bis")``.
- :func:`parse_address`: free text -> house number, street, postcode, city text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from unidecode import unidecode

ABBREVIATIONS: dict[str, str] = {
    # street types
    "av": "avenue",
    "ave": "avenue",
    "avn": "avenue",
    "bd": "boulevard",
    "bld": "boulevard",
    "blvd": "boulevard",
    "boul": "boulevard",
    "bvd": "boulevard",
    "chem": "chemin",
    "che": "chemin",
    "chm": "chemin",
    "ch": "chemin",
    "rte": "route",
    "rt": "route",
    "pl": "place",
    "r": "rue",
    "imp": "impasse",
    "all": "allee",
    "al": "allee",
    "allees": "allee",
    "crs": "cours",
    "fg": "faubourg",
    "fbg": "faubourg",
    "sq": "square",
    "res": "residence",
    "resid": "residence",
    "lot": "lotissement",
    "lots": "lotissement",
    "lotiss": "lotissement",
    "ham": "hameau",
    "qrt": "quartier",
    "quart": "quartier",
    "pass": "passage",
    "psg": "passage",
    "prom": "promenade",
    "esp": "esplanade",
    "espl": "esplanade",
    "rpt": "rond point",
    "ldt": "lieu dit",
    "ld": "lieu dit",
    "lieudit": "lieu dit",
    "vc": "voie communale",
    "cr": "chemin rural",
    "za": "zone artisanale",
    "zi": "zone industrielle",
    "zae": "zone d activites",
    # saints and titles
    "st": "saint",
    "ste": "sainte",
    "sts": "saints",
    "stes": "saintes",
    "gde": "grande",
    "gd": "grand",
    "gds": "grands",
    "mal": "marechal",
    "gal": "general",
    "gen": "general",
    "dr": "docteur",
    "pdt": "president",
    "cdt": "commandant",
    "cne": "capitaine",
    "lt": "lieutenant",
    "col": "colonel",
    "mgr": "monseigneur",
    "prof": "professeur",
    "nd": "notre dame",
}
"""Token -> expansion, applied after accents and punctuation are removed."""

STREET_TYPES: frozenset[str] = frozenset(
    {
        "rue",
        "ruelle",
        "avenue",
        "boulevard",
        "chemin",
        "route",
        "place",
        "impasse",
        "allee",
        "cours",
        "faubourg",
        "square",
        "residence",
        "lotissement",
        "hameau",
        "quartier",
        "quai",
        "passage",
        "promenade",
        "esplanade",
        "cite",
        "voie",
        "sentier",
        "traverse",
        "montee",
        "descente",
        "cote",
        "carrefour",
        "rond",
        "domaine",
        "village",
        "escalier",
        "porte",
        "parvis",
        "venelle",
        "via",
        "rocade",
        "tour",
        "clos",
        "mail",
        "enclos",
        "parc",
        "zone",
    }
)
"""First words that name the kind of way (``rond`` stands for ``rond point``)."""

LOCALITY_TYPES: frozenset[str] = frozenset(
    {"lieu dit", "hameau", "quartier", "domaine", "village", "lotissement", "residence", "cite"}
)
"""Types whose place is a locality (lieu-dit, hamlet) rather than a street."""

ARTICLES: frozenset[str] = frozenset(
    ["de", "du", "des", "la", "le", "les", "l", "d", "a", "au", "aux", "et", "en", "sur"]
)

NUMBER_SUFFIXES: dict[str, str] = {
    "bis": "bis",
    "b": "bis",
    "ter": "ter",
    "t": "ter",
    "quater": "quater",
    "qua": "quater",
    "q": "quater",
    "quinquies": "quinquies",
    "c": "c",
    "a": "a",
    "d": "d",
    "e": "e",
    "f": "f",
}
"""Repetition indices (``5 bis``) and their canonical spelling; ``b`` reads as ``bis``."""

_PUNCT = re.compile(r"[^a-z0-9]+")
_NUMBER = re.compile(r"^(\d{1,5})([a-z]*)$")
_POSTCODE = re.compile(r"^\d{5}$")
_DROP_AFTER = {"cedex", "bp", "cs", "tsa"}
_COUNTRY = {"france"}
_REPETITION_WORDS = {"bis", "ter", "quater", "quinquies", "b", "t", "q"}


@lru_cache(maxsize=200_000)
def normalise_text(text: str) -> str:
    """Return ``text`` in ASCII lower case, punctuation as spaces, abbreviations expanded.

    Parameters
    ----------
    text
        Any address fragment (street, commune, free text).

    Returns
    -------
    str
        Space-separated tokens, e.g. ``"Av. de l'Église St-Jean"`` ->
        ``"avenue de l eglise saint jean"``.
    """
    if not text:
        return ""
    ascii_text = unidecode(str(text)).lower()
    tokens = _PUNCT.sub(" ", ascii_text).split()
    out: list[str] = []
    for token in tokens:
        out.append(ABBREVIATIONS.get(token, token))
    return " ".join(out)


@lru_cache(maxsize=200_000)
def split_street(norm: str) -> tuple[str, str]:
    """Split a normalised street name into its type and its core.

    Parameters
    ----------
    norm
        Output of :func:`normalise_text`.

    Returns
    -------
    tuple of (str, str)
        ``(type, core)``: ``"avenue de la republique"`` -> ``("avenue",
        "republique")``; ``"lieu dit bidau"`` -> ``("lieu dit", "bidau")``;
        ``"le bourg"`` -> ``("", "bourg")``. The core keeps at least one word.
    """
    tokens = norm.split()
    kind = ""
    if len(tokens) >= 2 and tokens[0] == "lieu" and tokens[1] == "dit":
        kind, tokens = "lieu dit", tokens[2:]
    elif len(tokens) >= 2 and tokens[0] == "rond" and tokens[1] == "point":
        kind, tokens = "rond point", tokens[2:]
    elif tokens and tokens[0] in STREET_TYPES:
        kind, tokens = tokens[0], tokens[1:]
    core = [t for t in tokens if t not in ARTICLES]
    if not core:
        core = tokens or ([kind] if kind else [])
    return kind, " ".join(core)


def parse_housenumber(text: str) -> tuple[int | None, str]:
    """Parse a house number with its repetition index.

    Parameters
    ----------
    text
        ``"5"``, ``"5BIS"``, ``"5 bis"``, ``"5b"``, ``"12 A"``.

    Returns
    -------
    tuple of (int or None, str)
        The number and the canonical suffix (``"bis"``, ``"ter"``, ``"a"``... or
        ``""``); ``(None, "")`` when ``text`` holds no number.
    """
    tokens = normalise_text(text).split()
    if not tokens:
        return None, ""
    match = _NUMBER.match(tokens[0])
    if not match:
        return None, ""
    number = int(match.group(1))
    suffix = match.group(2)
    if not suffix and len(tokens) > 1 and tokens[1] in NUMBER_SUFFIXES:
        suffix = tokens[1]
    return number, NUMBER_SUFFIXES.get(suffix, suffix)


def housenumber_key(number: int | None, suffix: str = "") -> str:
    """Return the index key of a house number: ``"5"``, ``"5bis"`` (``""`` without number)."""
    if number is None:
        return ""
    return f"{number}{suffix}"


@dataclass(frozen=True)
class ParsedAddress:
    """An address split into its parts, every part normalised.

    Attributes
    ----------
    number, suffix
        House number and repetition index (``None``/``""`` when absent).
    street
        Normalised street or place name (``"avenue de la republique"``).
    postcode
        Five-digit postal code found in the text or given ("" when none).
    city
        Normalised commune text that followed the postcode or was given.
    tokens
        The street tokens (for locating a commune name at the end of free text).
    """

    number: int | None
    suffix: str
    street: str
    postcode: str
    city: str

    @property
    def housenumber(self) -> str:
        """Index key of the house number (``"12bis"``) or ``""``."""
        return housenumber_key(self.number, self.suffix)


def parse_address(text: str, *, postcode: str = "", city: str = "") -> ParsedAddress:
    """Split an address into house number, street, postcode and city text.

    Parameters
    ----------
    text
        Free text (``"12 av de la République, 32000 Auch"``) or the street part
        alone when ``postcode``/``city`` are given.
    postcode, city
        Fields given separately (they win over what the text holds).

    Returns
    -------
    ParsedAddress
        The city is whatever follows the last postcode of the text; when the
        text has no postcode the commune name, if any, stays at the end of
        ``street`` (the commune index finds it, see
        :meth:`coverage.geocode.communes.CommuneIndex.split_city`).
    """
    tokens = normalise_text(text).split()
    tokens = _drop_postal_noise(tokens)
    found_postcode = ""
    city_tokens: list[str] = []
    for position in range(len(tokens) - 1, -1, -1):
        if _POSTCODE.match(tokens[position]):
            found_postcode = tokens[position]
            city_tokens = tokens[position + 1 :]
            tokens = tokens[:position]
            break
    given_postcode = re.sub(r"\D", "", str(postcode or ""))
    if given_postcode and len(given_postcode) == 4:
        given_postcode = "0" + given_postcode  # read as a number by a spreadsheet
    city_norm = normalise_text(city) if city else " ".join(city_tokens)
    if city and tokens:
        tokens = _strip_suffix(tokens, city_norm.split())
    number, suffix, street_tokens = _leading_number(tokens)
    return ParsedAddress(
        number=number,
        suffix=suffix,
        street=" ".join(street_tokens),
        postcode=given_postcode or found_postcode,
        city=city_norm,
    )


def _drop_postal_noise(tokens: list[str]) -> list[str]:
    """Remove ``cedex 9``, ``bp 123``, ``cs 30001`` and a trailing ``france``."""
    out: list[str] = []
    skip_number = False
    for token in tokens:
        if token in _DROP_AFTER:
            skip_number = True
            continue
        if skip_number and token.isdigit() and not _POSTCODE.match(token):
            skip_number = False
            continue
        skip_number = False
        out.append(token)
    while out and out[-1] in _COUNTRY:
        out.pop()
    return out


def _strip_suffix(tokens: list[str], suffix: list[str]) -> list[str]:
    if suffix and len(tokens) > len(suffix) and tokens[-len(suffix) :] == suffix:
        return tokens[: -len(suffix)]
    return tokens


def _leading_number(tokens: list[str]) -> tuple[int | None, str, list[str]]:
    """Take ``12``, ``12bis``, ``12 bis``, ``n 12``, ``12 14`` (range) off the front."""
    if len(tokens) >= 2 and tokens[0] in {"n", "no", "num", "ndeg"} and tokens[1][:1].isdigit():
        tokens = tokens[1:]
    if not tokens:
        return None, "", tokens
    match = _NUMBER.match(tokens[0])
    if not match or _POSTCODE.match(tokens[0]):
        return None, "", tokens
    number = int(match.group(1))
    suffix = match.group(2)
    rest = tokens[1:]
    if suffix and suffix not in NUMBER_SUFFIXES:
        return None, "", tokens  # "2eme", "1er": part of the name
    if (
        not suffix
        and len(rest) > 1
        and rest[0] in NUMBER_SUFFIXES
        and (rest[0] in _REPETITION_WORDS or rest[1] in STREET_TYPES or rest[1] == "lieu")
    ):
        # "5 bis rue ...", "5 b rue ...", "5 a rue ..."; not "5 d armagnac"
        suffix, rest = rest[0], rest[1:]
    if rest and rest[0].isdigit() and len(rest) > 1:
        rest = rest[1:]  # "12 14 rue ..." (range 12-14): keep the first number
    return number, NUMBER_SUFFIXES.get(suffix, suffix), rest
