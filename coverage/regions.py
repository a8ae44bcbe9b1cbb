"""French régions and their départements: what a région name given to a command expands to.

``coverage run --territory occitanie`` runs one territory per département of
Occitanie; :func:`expand_territories` turns such names into territory names. A
département's territory name is its name in lower case without accents, words
joined by ``-`` (``haute-garonne``, ``cotes-d-armor``), the name ``coverage
fetch`` gives its bundle; ``france`` stands for the 101 départements.

Source: INSEE, Code officiel géographique 2024 (régions and départements; the
13 metropolitan régions since 2016 and the 5 overseas ones).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from coverage.errors import ConfigError


@dataclass(frozen=True)
class Departement:
    """One département.

    Attributes
    ----------
    code
        INSEE code (``32``, ``2A``, ``974``).
    name
        French name.
    territory
        Territory name of its bundle (``gers``).
    region
        Short key of its région (see :data:`REGIONS`).
    """

    code: str
    name: str
    territory: str
    region: str


_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("01", "Ain", "ain", "ara"),
    ("02", "Aisne", "aisne", "hdf"),
    ("03", "Allier", "allier", "ara"),
    ("04", "Alpes-de-Haute-Provence", "alpes-de-haute-provence", "paca"),
    ("05", "Hautes-Alpes", "hautes-alpes", "paca"),
    ("06", "Alpes-Maritimes", "alpes-maritimes", "paca"),
    ("07", "Ardèche", "ardeche", "ara"),
    ("08", "Ardennes", "ardennes", "ges"),
    ("09", "Ariège", "ariege", "occ"),
    ("10", "Aube", "aube", "ges"),
    ("11", "Aude", "aude", "occ"),
    ("12", "Aveyron", "aveyron", "occ"),
    ("13", "Bouches-du-Rhône", "bouches-du-rhone", "paca"),
    ("14", "Calvados", "calvados", "nor"),
    ("15", "Cantal", "cantal", "ara"),
    ("16", "Charente", "charente", "naq"),
    ("17", "Charente-Maritime", "charente-maritime", "naq"),
    ("18", "Cher", "cher", "cvl"),
    ("19", "Corrèze", "correze", "naq"),
    ("2A", "Corse-du-Sud", "corse-du-sud", "cor"),
    ("2B", "Haute-Corse", "haute-corse", "cor"),
    ("21", "Côte-d'Or", "cote-d-or", "bfc"),
    ("22", "Côtes-d'Armor", "cotes-d-armor", "bre"),
    ("23", "Creuse", "creuse", "naq"),
    ("24", "Dordogne", "dordogne", "naq"),
    ("25", "Doubs", "doubs", "bfc"),
    ("26", "Drôme", "drome", "ara"),
    ("27", "Eure", "eure", "nor"),
    ("28", "Eure-et-Loir", "eure-et-loir", "cvl"),
    ("29", "Finistère", "finistere", "bre"),
    ("30", "Gard", "gard", "occ"),
    ("31", "Haute-Garonne", "haute-garonne", "occ"),
    ("32", "Gers", "gers", "occ"),
    ("33", "Gironde", "gironde", "naq"),
    ("34", "Hérault", "herault", "occ"),
    ("35", "Ille-et-Vilaine", "ille-et-vilaine", "bre"),
    ("36", "Indre", "indre", "cvl"),
    ("37", "Indre-et-Loire", "indre-et-loire", "cvl"),
    ("38", "Isère", "isere", "ara"),
    ("39", "Jura", "jura", "bfc"),
    ("40", "Landes", "landes", "naq"),
    ("41", "Loir-et-Cher", "loir-et-cher", "cvl"),
    ("42", "Loire", "loire", "ara"),
    ("43", "Haute-Loire", "haute-loire", "ara"),
    ("44", "Loire-Atlantique", "loire-atlantique", "pdl"),
    ("45", "Loiret", "loiret", "cvl"),
    ("46", "Lot", "lot", "occ"),
    ("47", "Lot-et-Garonne", "lot-et-garonne", "naq"),
    ("48", "Lozère", "lozere", "occ"),
    ("49", "Maine-et-Loire", "maine-et-loire", "pdl"),
    ("50", "Manche", "manche", "nor"),
    ("51", "Marne", "marne", "ges"),
    ("52", "Haute-Marne", "haute-marne", "ges"),
    ("53", "Mayenne", "mayenne", "pdl"),
    ("54", "Meurthe-et-Moselle", "meurthe-et-moselle", "ges"),
    ("55", "Meuse", "meuse", "ges"),
    ("56", "Morbihan", "morbihan", "bre"),
    ("57", "Moselle", "moselle", "ges"),
    ("58", "Nièvre", "nievre", "bfc"),
    ("59", "Nord", "nord", "hdf"),
    ("60", "Oise", "oise", "hdf"),
    ("61", "Orne", "orne", "nor"),
    ("62", "Pas-de-Calais", "pas-de-calais", "hdf"),
    ("63", "Puy-de-Dôme", "puy-de-dome", "ara"),
    ("64", "Pyrénées-Atlantiques", "pyrenees-atlantiques", "naq"),
    ("65", "Hautes-Pyrénées", "hautes-pyrenees", "occ"),
    ("66", "Pyrénées-Orientales", "pyrenees-orientales", "occ"),
    ("67", "Bas-Rhin", "bas-rhin", "ges"),
    ("68", "Haut-Rhin", "haut-rhin", "ges"),
    ("69", "Rhône", "rhone", "ara"),
    ("70", "Haute-Saône", "haute-saone", "bfc"),
    ("71", "Saône-et-Loire", "saone-et-loire", "bfc"),
    ("72", "Sarthe", "sarthe", "pdl"),
    ("73", "Savoie", "savoie", "ara"),
    ("74", "Haute-Savoie", "haute-savoie", "ara"),
    ("75", "Paris", "paris", "idf"),
    ("76", "Seine-Maritime", "seine-maritime", "nor"),
    ("77", "Seine-et-Marne", "seine-et-marne", "idf"),
    ("78", "Yvelines", "yvelines", "idf"),
    ("79", "Deux-Sèvres", "deux-sevres", "naq"),
    ("80", "Somme", "somme", "hdf"),
    ("81", "Tarn", "tarn", "occ"),
    ("82", "Tarn-et-Garonne", "tarn-et-garonne", "occ"),
    ("83", "Var", "var", "paca"),
    ("84", "Vaucluse", "vaucluse", "paca"),
    ("85", "Vendée", "vendee", "pdl"),
    ("86", "Vienne", "vienne", "naq"),
    ("87", "Haute-Vienne", "haute-vienne", "naq"),
    ("88", "Vosges", "vosges", "ges"),
    ("89", "Yonne", "yonne", "bfc"),
    ("90", "Territoire de Belfort", "territoire-de-belfort", "bfc"),
    ("91", "Essonne", "essonne", "idf"),
    ("92", "Hauts-de-Seine", "hauts-de-seine", "idf"),
    ("93", "Seine-Saint-Denis", "seine-saint-denis", "idf"),
    ("94", "Val-de-Marne", "val-de-marne", "idf"),
    ("95", "Val-d'Oise", "val-d-oise", "idf"),
    ("971", "Guadeloupe", "guadeloupe", "gua"),
    ("972", "Martinique", "martinique", "mtq"),
    ("973", "Guyane", "guyane", "guf"),
    ("974", "La Réunion", "la-reunion", "reu"),
    ("976", "Mayotte", "mayotte", "myt"),
)

DEPARTEMENTS: tuple[Departement, ...] = tuple(Departement(*row) for row in _ROWS)
"""The 101 départements, in INSEE code order."""

REGIONS: dict[str, tuple[str, str, str]] = {
    "ara": ("84", "Auvergne-Rhône-Alpes", "auvergne-rhone-alpes"),
    "bfc": ("27", "Bourgogne-Franche-Comté", "bourgogne-franche-comte"),
    "bre": ("53", "Bretagne", "bretagne"),
    "cvl": ("24", "Centre-Val de Loire", "centre-val-de-loire"),
    "cor": ("94", "Corse", "corse"),
    "ges": ("44", "Grand Est", "grand-est"),
    "hdf": ("32", "Hauts-de-France", "hauts-de-france"),
    "idf": ("11", "Île-de-France", "ile-de-france"),
    "nor": ("28", "Normandie", "normandie"),
    "naq": ("75", "Nouvelle-Aquitaine", "nouvelle-aquitaine"),
    "occ": ("76", "Occitanie", "occitanie"),
    "pdl": ("52", "Pays de la Loire", "pays-de-la-loire"),
    "paca": ("93", "Provence-Alpes-Côte d'Azur", "provence-alpes-cote-d-azur"),
    "gua": ("01", "Guadeloupe", "guadeloupe"),
    "mtq": ("02", "Martinique", "martinique"),
    "guf": ("03", "Guyane", "guyane"),
    "reu": ("04", "La Réunion", "la-reunion"),
    "myt": ("06", "Mayotte", "mayotte"),
}
"""Région key → (INSEE code, French name, name accepted on the command line)."""

FRANCE = "france"
"""The name that stands for every département."""


def region_departements(name: str) -> tuple[Departement, ...] | None:
    """The départements of a région given by its name or short key (``None`` if it is not one).

    Région INSEE codes are not accepted: they collide with département codes (76).
    """
    text = name.strip().lower()
    if text == FRANCE:
        return DEPARTEMENTS
    for key, (_code, _label, slug) in REGIONS.items():
        if text in (slug, key):
            return tuple(d for d in DEPARTEMENTS if d.region == key)
    return None


def departement_by_territory(territory: str) -> Departement | None:
    """The département whose territory name (or INSEE code) is ``territory``, if any."""
    text = territory.strip().lower()
    for dep in DEPARTEMENTS:
        if text in (dep.territory, dep.code.lower()):
            return dep
    return None


def expand_territories(names: Iterable[str]) -> list[str]:
    """Territory names from a list that may hold régions, ``france`` and comma-separated items.

    A région (name or short key) becomes its départements' territory names, in
    code order; a département code (``32``) its territory name (``gers``); any
    other name is kept, in lower case. Each territory appears once, in the order
    first met.

    Raises
    ------
    ConfigError
        An empty list, or an empty item (``--territory ""``), named as ``--territory``.
    """
    out: list[str] = []
    given = [part.strip().lower() for name in names for part in str(name).split(",")]
    if not given or any(not part for part in given):
        raise ConfigError(
            "--territory : nom de territoire vide ; donnez des territoires séparés par des "
            "virgules (gers,landes) ou une région (occitanie)"
        )
    for part in given:
        deps = region_departements(part)
        if deps is None:
            dep = departement_by_territory(part) if part[:1].isdigit() else None
            deps = (dep,) if dep is not None else None
        for territory in [d.territory for d in deps] if deps is not None else [part]:
            if territory not in out:
                out.append(territory)
    return out
