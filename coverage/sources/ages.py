"""INSEE: the age structure of the territory's communes, written as its publics layer.

One file, the census table « Évolution et structure de la population » per
commune (``base-cc-evol-struct-pop-2022_csv.zip``, page
https://www.insee.fr/fr/statistiques/8581696, ``COVERAGE_INSEE_AGES_URL``): a
zip holding a ``;``-separated CSV, one line per commune of France, ``CODGEO``
then columns ``P22_POP`` (population), ``P22_POP0014``, ``P22_POP1529``,
``P22_POP3044``, ``P22_POP4559``, ``P22_POP6074``, ``P22_POP7589`` and
``P22_POP90P`` (people by age band, census main exploitation; the year is
read from the ``P<yy>_POP`` column). The communes of the fetched territory are
kept and written as ``publics_<name>.csv`` with one column per public of
:data:`AGE_PUBLICS` (sums of bands, values as published, not rounded), read
back by :func:`coverage.layers.publics.read_publics`. A commune of the
territory that the file does not list is left out (a missing value, never a
zero) and named in the bundle's notes.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from coverage._http import Downloader
from coverage.errors import DataError
from coverage.sources.admin import LICENCE_ETALAB
from coverage.sources.bundle import BundleWriter

SOURCE = "INSEE"

AGE_PUBLICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "age_0_14": ("Enfants de moins de 15 ans", ("0014",)),
    "age_15_59": ("Personnes de 15 à 59 ans", ("1529", "3044", "4559")),
    "age_60_74": ("Personnes de 60 à 74 ans", ("6074",)),
    "age_60_plus": ("Personnes de 60 ans ou plus", ("6074", "7589", "90P")),
    "age_75_plus": ("Personnes de 75 ans ou plus", ("7589", "90P")),
}
"""Public written -> (French label, INSEE bands summed: ``P<yy>_POP<band>``)."""

_POP_COLUMN = re.compile(r"^P(\d\d)_POP$")


@dataclass(frozen=True)
class AgesResult:
    """The publics layer written to the bundle.

    Attributes
    ----------
    file
        ``publics_<name>.csv``.
    year
        Census year (``2022``).
    n_communes
        Communes of the territory the file gives.
    missing
        INSEE codes of the territory's communes the file does not list.
    provenance
        ``source``, ``url``, ``licence``, ``date`` of the layer.
    publics
        Public -> (label, columns of the INSEE file summed).
    """

    file: str
    year: str
    n_communes: int
    missing: tuple[str, ...]
    provenance: dict[str, str]
    publics: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)


def ages_from_table(
    table: pd.DataFrame, *, url: str, codes: list[str]
) -> tuple[pd.DataFrame, str, list[str]]:
    """The publics of :data:`AGE_PUBLICS` for ``codes`` from the INSEE table (values as text).

    Returns
    -------
    tuple
        The frame (``insee_code`` then one column per public, in the order of
        ``codes``, communes absent from the file left out), the census year, and
        the codes absent from the file.

    Raises
    ------
    DataError
        No ``CODGEO`` or ``P<yy>_POP`` column, a missing band column, a value
        that is not a number >= 0 (naming the URL, the commune and the column);
        an empty value is kept as missing (NaN, written empty).
    """
    if "CODGEO" not in table.columns:
        raise DataError(
            f"le fichier INSEE n'a pas de colonne CODGEO ; il a {', '.join(table.columns[:12])}",
            path=url,
            field="CODGEO",
        )
    years = [m.group(1) for c in table.columns if (m := _POP_COLUMN.match(str(c)))]
    if not years:
        raise DataError(
            "le fichier INSEE n'a pas de colonne de population P<aa>_POP (P22_POP...)",
            path=url,
        )
    yy = max(years)
    wanted = sorted({band for _, bands in AGE_PUBLICS.values() for band in bands})
    absent = [f"P{yy}_POP{band}" for band in wanted if f"P{yy}_POP{band}" not in table.columns]
    if absent:
        raise DataError(
            f"le fichier INSEE n'a pas les colonnes d'âge {', '.join(absent)}",
            path=url,
            field=absent[0],
        )
    table = table.assign(CODGEO=table["CODGEO"].astype(str).str.strip())
    chosen = table[table["CODGEO"].isin(set(codes))].drop_duplicates("CODGEO")
    chosen = chosen.set_index("CODGEO")
    bands = {}
    for band in wanted:
        column = f"P{yy}_POP{band}"
        text = chosen[column].astype(str).str.strip().str.replace(",", ".", regex=False)
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero((text.ne("").to_numpy() & ~np.isfinite(values)) | (values < 0))
        if len(bad):
            raise DataError(
                f"commune {chosen.index[bad[0]]} : {column} doit être un nombre >= 0, "
                f"reçu {chosen[column].iloc[bad[0]]!r}",
                path=url,
                row=chosen.index[bad[0]],
                field=column,
            )
        bands[band] = values  # an empty value stays NaN: missing, never zero
    out = pd.DataFrame({"insee_code": chosen.index.to_numpy()})
    for key, (_, summed) in AGE_PUBLICS.items():
        out[key] = np.sum([bands[b] for b in summed], axis=0)
    order = {code: i for i, code in enumerate(codes)}
    out = out.sort_values("insee_code", key=lambda s: s.map(order)).reset_index(drop=True)
    missing = [c for c in codes if c not in set(out["insee_code"])]
    return out, f"20{yy}", missing


def read_insee_zip(data: bytes, *, url: str) -> pd.DataFrame:
    """The CSV inside the INSEE zip, every value as text.

    Raises
    ------
    DataError
        Not a zip, or no CSV in it.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise DataError("le fichier INSEE n'est pas une archive zip", path=url) from None
    with archive:
        members = [
            n
            for n in archive.namelist()
            if n.lower().endswith(".csv") and "meta" not in n.lower().rsplit("/", 1)[-1]
        ]
        if not members:
            raise DataError(
                f"l'archive INSEE ne contient aucun CSV ({', '.join(archive.namelist())})",
                path=url,
            )
        raw = archive.read(members[0])
    text = raw.decode("utf-8-sig", errors="strict") if _is_utf8(raw) else raw.decode("cp1252")
    return pd.read_csv(io.StringIO(text), sep=";", dtype=str, keep_default_na=False)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def fetch_age_publics(
    dl: Downloader,
    bundle: BundleWriter,
    *,
    url: str,
    codes: list[str],
    force: bool,
) -> AgesResult:
    """Download the INSEE age structure and stage ``publics_<name>.csv`` for ``codes``.

    Raises
    ------
    OfflineError
        The INSEE file cannot be reached.
    DataError
        Its content cannot be used (see :func:`ages_from_table`).
    """
    download = bundle.downloaded(
        dl.download(url, source=SOURCE, force=force, label="INSEE population par âge")
    )
    table = read_insee_zip(download.path.read_bytes(), url=download.url)
    frame, year, missing = ages_from_table(table, url=download.url, codes=codes)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    file = f"publics_{bundle.name}.csv"
    provenance = {
        "source": (
            f"INSEE, recensement de la population {year}, évolution et structure de la "
            "population par commune (base-cc-evol-struct-pop), tranches d'âge additionnées"
        ),
        "url": download.url,
        "licence": LICENCE_ETALAB,
        "date": download.retrieved[:10],
    }
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        bundle.note(
            f"population par âge : {len(missing)} commune(s) absente(s) du fichier INSEE "
            f"({shown}) : valeurs manquantes, jamais comptées comme zéro"
        )
    bundle.stage_text(
        file,
        buffer.getvalue(),
        layer="publics",
        source=provenance["source"],
        licence=LICENCE_ETALAB,
        urls=[download.url],
        retrieved=download.retrieved,
    )
    return AgesResult(
        file=file,
        year=year,
        n_communes=len(frame),
        missing=tuple(missing),
        provenance=provenance,
        publics=dict(AGE_PUBLICS),
    )
