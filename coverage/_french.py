"""Small French text helpers for messages: plurals and a territory's name with its article."""

from __future__ import annotations

_OF_TERRITORY = {
    "gers": "du Gers",
    "landes": "des Landes",
    "ariege": "de l'Ariège",
    "haute-garonne": "de la Haute-Garonne",
    "hautes-pyrenees": "des Hautes-Pyrénées",
    "lot": "du Lot",
    "lot-et-garonne": "du Lot-et-Garonne",
    "tarn-et-garonne": "du Tarn-et-Garonne",
    "pyrenees-atlantiques": "des Pyrénées-Atlantiques",
}
"""Known départements: their name after « de » (the article contracts: du, des, de l', de la)."""

_PLAIN = str.maketrans("àâäéèêëîïôöùûüç", "aaaeeeeiioouuuc")


def plural(count: float, singular: str, plural_form: str | None = None) -> str:
    """``1 site placé``, ``2 sites placés``: the count and its word, singular for 0 and 1.

    ``plural_form`` defaults to each word of ``singular`` with an ``s`` (words
    ending in s, x or z unchanged), so ``plural(3, "site placé")`` gives
    ``3 sites placés``.
    """
    number = int(count) if float(count).is_integer() else count
    if abs(float(count)) < 2:
        word = singular
    elif plural_form is not None:
        word = plural_form
    else:
        word = " ".join(w if w[-1:] in "sxz" else w + "s" for w in singular.split(" "))
    shown = f"{number:,}".replace(",", " ") if isinstance(number, int) else f"{number:g}"
    return f"{shown} {word}"


def of_territory(name: str) -> str:
    """The territory's name after « de »: ``du Gers``, ``des Landes``, ``de l'Ariège``.

    Known départements come from a table; another name gets ``de l'`` before
    a vowel or an h, else ``de`` (``de Paris``), capitalised as given.
    """
    key = name.strip().lower().translate(_PLAIN).replace(" ", "-").replace("'", "-")
    if key in _OF_TERRITORY:
        return _OF_TERRITORY[key]
    label = name.strip()
    label = label[:1].upper() + label[1:]
    if label[:1].lower().translate(_PLAIN) in "aeiouyh":
        return f"de l'{label}"
    return f"de {label}"
