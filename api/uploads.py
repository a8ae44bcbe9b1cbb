"""Uploaded files: size limit, a safe local name, the geocoders a request may use.

An upload is read up to the configured limit (``COVERAGE_API_MAX_UPLOAD_BYTES``,
413 beyond) and written into a temporary folder under a name built from the
client's file name reduced to ``[A-Za-z0-9._-]`` (never a path), with the
extension the content calls for. Messages about the file name it the way the
client called it, never the server's temporary path.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from fastapi import UploadFile

from api.errors import InvalidParameterError, UploadTooLargeError
from api.settings import ApiSettings

Backend = Literal["local", "commune", "ban"]
DEFAULT_BACKENDS: tuple[str, ...] = ("local", "commune")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
SERVICE_SUFFIXES = {
    ".csv": ".csv",
    ".txt": ".csv",
    ".geojson": ".geojson",
    ".json": ".geojson",
    ".gpkg": ".gpkg",
}
"""Extension of an uploaded service list -> the extension it is read with."""


def upload_limit_text(settings: ApiSettings) -> str:
    """The upload limit as the documentation says it (``2 Mio (2097152 octets)``)."""
    size = settings.max_upload_bytes
    mib = size / (1024 * 1024)
    return f"{mib:g} Mio ({size} octets)"


def read_upload(upload: UploadFile, settings: ApiSettings, *, field: str = "file") -> bytes:
    """The uploaded bytes.

    Raises
    ------
    UploadTooLargeError
        Beyond ``settings.max_upload_bytes``.
    InvalidParameterError
        For an empty file.
    """
    limit = settings.max_upload_bytes
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise UploadTooLargeError(
            f"le fichier dépasse {upload_limit_text(settings)} (COVERAGE_API_MAX_UPLOAD_BYTES)",
            field=field,
        )
    if not data.strip():
        raise InvalidParameterError("le fichier est vide", field=field)
    return data


def safe_name(filename: str | None, *, default: str) -> str:
    """A local file name from the client's one: its last part, reduced to ``[A-Za-z0-9._-]``."""
    base = re.split(r"[\\/]", filename or "")[-1]
    cleaned = _UNSAFE.sub("_", base).strip("._")[:100]
    return cleaned or default


def service_suffix(filename: str, data: bytes) -> str:
    """The extension a service list is read with: from its name, else from its content."""
    suffix = Path(filename).suffix.lower()
    if suffix in SERVICE_SUFFIXES:
        return SERVICE_SUFFIXES[suffix]
    if data.startswith(b"SQLite format 3\x00"):
        return ".gpkg"
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return ".geojson"
    return ".csv"


def allowed_backends(
    backends: list[str] | None, settings: ApiSettings, *, field: str = "backends"
) -> tuple[str, ...]:
    """The geocoders asked for, in order (default local then commune).

    Raises
    ------
    InvalidParameterError
        For ``ban`` when the server does not allow it (``COVERAGE_API_GEOCODE_BAN``).
    """
    names = tuple(dict.fromkeys(backends or DEFAULT_BACKENDS))
    if "ban" in names and not settings.geocode_ban:
        raise InvalidParameterError(
            "le géocodeur en ligne 'ban' n'est pas autorisé sur ce serveur "
            "(COVERAGE_API_GEOCODE_BAN) ; utiliser local et commune",
            field=field,
        )
    return names
