"""Base Adresse Nationale (adresse.data.gouv.fr): a département's address file, as published.

``adresses-{code}.csv.gz`` (``;``-separated, gzip) is checked (a complete gzip
with the BAN columns) and copied into the bundle unchanged (``format = "ban"``).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

from coverage._http import Downloader
from coverage.errors import DataError
from coverage.sources.bundle import BundleWriter, parsed

SOURCE = "adresse.data.gouv.fr (BAN)"

LICENCE_BAN = "Licence Ouverte / Etalab 2.0"

BAN_COLUMNS = {
    "id": "id",
    "housenumber": "numero",
    "street": "nom_voie",
    "postcode": "code_postal",
    "commune_name": "nom_commune",
    "lat": "lat",
    "lon": "lon",
}
"""Engine address field -> column of the BAN ``adresses-XX.csv.gz`` files."""


@dataclass
class BanResult:
    """The BAN address file copied into the bundle."""

    file: str
    n_addresses: int
    provenance: dict[str, str]


def fetch_ban_file(
    dl: Downloader, bundle: BundleWriter, *, base_url: str, dep: str, force: bool
) -> BanResult:
    """Download a département's BAN file and stage it in the bundle as published.

    Parameters
    ----------
    dl
        The downloader.
    bundle
        Where ``adresses-{dep}.csv.gz`` is staged.
    base_url
        Folder of the BAN files.
    dep
        Département code.
    force
        Download again even what is in the cache.

    Returns
    -------
    BanResult

    Raises
    ------
    DataError
        A broken gzip or missing BAN columns (the file is dropped from the cache).
    """
    file = f"adresses-{dep}.csv.gz"
    download = bundle.downloaded(dl.download(f"{base_url}/{file}", source=SOURCE, force=force))
    n_rows = parsed(dl, download, lambda d: check_ban_file(d.path, url=d.url))
    provenance = {
        "source": f"Base Adresse Nationale (adresse.data.gouv.fr), {file}",
        "url": download.url,
        "licence": LICENCE_BAN,
        "date": download.retrieved[:10],
    }
    bundle.stage_copy(
        file,
        download.path,
        layer="addresses",
        source=provenance["source"],
        licence=LICENCE_BAN,
        urls=[download.url],
        retrieved=download.retrieved,
    )
    return BanResult(file=file, n_addresses=n_rows, provenance=provenance)


def check_ban_file(path: str | Path, *, url: str = "") -> int:
    """Check a BAN ``adresses-XX.csv.gz``: a complete gzip, ``;``-separated, with the BAN columns.

    Returns
    -------
    int
        Number of addresses (data lines).

    Raises
    ------
    DataError
        A broken gzip, or a missing column (the message lists the file's columns).
    """
    where = url or str(path)
    try:
        with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as handle:
            header = handle.readline().rstrip("\r\n")
            n_rows = sum(1 for line in handle if line.strip())
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"le fichier BAN {where} n'est pas un CSV gzip lisible ({exc})") from None
    columns = header.split(";")
    missing = [c for c in BAN_COLUMNS.values() if c not in columns]
    if missing:
        raise DataError(
            f"le fichier BAN {where} n'a pas de colonne {', '.join(missing)} "
            f"(son en-tête : {', '.join(columns)}) ; les fichiers BAN sont séparés par des ';'",
            field=missing[0],
        )
    return n_rows
