"""data.gouv.fr: a dataset's description through the API (v1), its CSV resources, licences.

``{api}/datasets/{slug or id}/`` answers the dataset (title, organisation,
licence id, page) and its resources (title, format, URL, dates); the CSV files
are then downloaded from their own URLs and read as text.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from coverage._http import Download, Downloader
from coverage.errors import DataError
from coverage.sources.bundle import BundleWriter, parsed

SOURCE = "data.gouv.fr"
_LICENCES = {
    "lov2": "Licence Ouverte / Open Licence version 2.0",
    "fr-lo": "Licence Ouverte / Open Licence",
    "odc-odbl": "Open Database License (ODbL)",
    "cc-by": "Creative Commons Attribution",
}


def download_dataset(
    dl: Downloader, bundle: BundleWriter, *, api_url: str, dataset: str, force: bool
) -> tuple[dict[str, Any], Download]:
    """Download a dataset's description from the data.gouv.fr API.

    Returns
    -------
    tuple of (dict, Download)
        The dataset (checked to hold a list of resources) and its download.

    Raises
    ------
    DataError
        The answer is not a dataset with resources (it is dropped from the cache).
    """
    url = f"{api_url}/datasets/{dataset}/"
    download = bundle.downloaded(
        dl.download(url, source=SOURCE, force=force, label="jeu de données data.gouv.fr")
    )
    return parsed(dl, download, lambda d: check_dataset(d.read_json(), d.url)), download


def csv_resources(dataset: dict[str, Any]) -> list[dict[str, Any]]:
    """The dataset's CSV resources (format ``csv`` or a ``.csv`` URL), the latest first."""
    return sorted(
        (
            r
            for r in dataset.get("resources", [])
            if isinstance(r, dict)
            and r.get("url")
            and (
                str(r.get("format", "")).lower() == "csv"
                or urlsplit(str(r["url"])).path.lower().endswith(".csv")
            )
        ),
        key=lambda r: str(r.get("last_modified") or r.get("created_at") or ""),
        reverse=True,
    )


def licence_name(licence_id: str) -> str:
    """The name of a data.gouv.fr licence id (``lov2`` -> Licence Ouverte version 2.0)."""
    return _LICENCES.get(licence_id, licence_id or "non précisée par data.gouv.fr")


def check_dataset(data: Any, url: str) -> dict[str, Any]:
    """Check that an API answer is a dataset with a list of resources.

    Raises
    ------
    DataError
        If it is not.
    """
    if not isinstance(data, dict) or not isinstance(data.get("resources"), list):
        raise DataError(
            f"data.gouv.fr n'a pas répondu par un jeu de données avec ressources à {url}",
            field="resources",
        )
    return data


def read_csv_table(path: str | Path, *, url: str = "") -> pd.DataFrame:
    """Read a published CSV as text: UTF-8 (with or without BOM) or Windows-1252, ``;`` or ``,``.

    Raises
    ------
    DataError
        If the file cannot be parsed (the message names the URL and pandas' line).
    """
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    header = text.split("\n", 1)[0]
    sep = max((";", ",", "\t"), key=header.count)
    try:
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"impossible de lire le CSV {url or path} : {exc}") from None


def find_column(columns: Any, names: tuple[str, ...]) -> str | None:
    """The first of ``names`` among the columns (case and spaces ignored), or None."""
    by_lower = {str(c).strip().lower(): str(c) for c in columns}
    for name in names:
        if name in by_lower:
            return by_lower[name]
    return None
