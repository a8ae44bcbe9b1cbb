"""INSEE COG (Code officiel géographique): the commune and canton files of a vintage.

``v_commune_{year}.csv`` gives each commune's canton (column ``CAN``);
``v_canton_{year}.csv`` the cantons (``LIBELLE``, ``BURCENTRAL``, ``TYPECT``,
``COMPCT``). Communes split between several cantons carry a pseudo-canton code
(``xx99``, Auch: 3299).
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from coverage._http import Download, Downloader
from coverage.errors import ConfigError, DataError
from coverage.settings import COG_URL_ENV
from coverage.sources.bundle import BundleWriter

SOURCE = "INSEE COG"

COG_FOLDERS: dict[str, str] = {
    year: f"https://www.insee.fr/fr/statistiques/fichier/{number}"
    for year, number in (
        ("2022", "6051727"),
        ("2023", "6800675"),
        ("2024", "7766585"),
        ("2025", "8377162"),
        ("2026", "8740222"),
    )
}
"""INSEE folders of the COG files by vintage (``v_commune_{year}.csv``, ``v_canton_{year}.csv``)."""


def cog_folder(year: str) -> str:
    """INSEE's folder of the COG files of a vintage.

    Raises
    ------
    ConfigError
        If the vintage's folder is not known (the message names ``COVERAGE_COG_URL``).
    """
    if year not in COG_FOLDERS:
        raise ConfigError(
            f"dossier de l'INSEE inconnu pour le COG {year} (connus : "
            f"{', '.join(sorted(COG_FOLDERS))}) ; donnez dans ${COG_URL_ENV} le dossier "
            f"qui contient v_commune_{year}.csv et v_canton_{year}.csv"
        )
    return COG_FOLDERS[year]


def download_cog(
    dl: Downloader, bundle: BundleWriter, *, folder: str, year: str, force: bool
) -> tuple[Download, Download]:
    """Download the COG commune and canton files of a vintage.

    Returns
    -------
    tuple of (Download, Download)
        ``v_commune_{year}.csv`` and ``v_canton_{year}.csv``.
    """
    communes = dl.download(f"{folder}/v_commune_{year}.csv", source=SOURCE, force=force)
    cantons = dl.download(f"{folder}/v_canton_{year}.csv", source=SOURCE, force=force)
    return bundle.downloaded(communes), bundle.downloaded(cantons)


def _read_insee_csv(path: Path, *, url: str, required: tuple[str, ...]) -> pd.DataFrame:
    """An INSEE COG CSV (UTF-8, comma or semicolon) as text, with its required columns checked."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    header = text.split("\n", 1)[0]
    sep = ";" if header.count(";") > header.count(",") else ","
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"impossible de lire le fichier COG INSEE {url} : {exc}") from None
    frame.columns = [c.strip().upper() for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(
            f"le fichier COG INSEE {url} n'a pas de colonne {', '.join(missing)} "
            f"(il a {', '.join(frame.columns)})",
            field=missing[0],
        )
    return frame


def read_cog_communes(path: str | Path, *, url: str, departement: str) -> pd.DataFrame:
    """The communes (``TYPECOM == "COM"``) of a département in the INSEE COG commune file.

    Returns
    -------
    pandas.DataFrame
        ``COM``, ``LIBELLE``, ``CAN`` (text).

    Raises
    ------
    DataError
        A required column is missing or the département has no commune.
    """
    frame = _read_insee_csv(Path(path), url=url, required=("TYPECOM", "COM", "DEP", "CAN"))
    mask = (frame["TYPECOM"].str.strip() == "COM") & (frame["DEP"].str.strip() == departement)
    out = frame.loc[mask, ["COM", "CAN"]].copy()
    out["LIBELLE"] = frame.loc[mask, "LIBELLE"] if "LIBELLE" in frame.columns else ""
    out = out.apply(lambda s: s.str.strip())
    if out.empty:
        raise DataError(
            f"le fichier des communes du COG INSEE {url} n'a aucune commune dans le département "
            f"{departement}",
            field="DEP",
        )
    return out.reset_index(drop=True)


def read_cog_cantons(path: str | Path, *, url: str, departement: str) -> pd.DataFrame:
    """The cantons and pseudo-cantons of a département in the INSEE COG canton file.

    Returns
    -------
    pandas.DataFrame
        ``CAN``, ``LIBELLE``, ``BURCENTRAL``, ``TYPECT`` (``C`` canton, ``V``
        canton-ville or pseudo-canton, ``N`` canton fictif), ``COMPCT``.

    Raises
    ------
    DataError
        A required column is missing or the département has no canton.
    """
    frame = _read_insee_csv(
        Path(path), url=url, required=("CAN", "DEP", "LIBELLE", "BURCENTRAL", "TYPECT")
    )
    if "COMPCT" not in frame.columns:
        frame["COMPCT"] = ""
    out = frame.loc[
        frame["DEP"].str.strip() == departement,
        ["CAN", "LIBELLE", "BURCENTRAL", "TYPECT", "COMPCT"],
    ]
    out = out.apply(lambda s: s.str.strip())
    if out.empty:
        raise DataError(
            f"le fichier des cantons du COG INSEE {url} n'a aucun canton dans le département "
            f"{departement}",
            field="DEP",
        )
    return out.reset_index(drop=True)
