"""``POST /geocode``: a CSV of addresses in, every row back in order with its position and status.

Synchronous: the file is geocoded during the request
(:func:`coverage.jobs.geocode.geocode_addresses`, with the ``local`` and
``commune`` geocoders, which need no network and place thousands of rows a
second; ``ban`` only where the server allows it), within the upload limits
(bytes and rows), so that the answer is the file itself: CSV for French
spreadsheets (UTF-8 with BOM, ``;`` — or the input's tab or ``|`` — and decimal
commas; ``COVERAGE_CSV_STYLE=machine`` on the server for ``,`` and ``.``), or
``format=json`` for a list of rows.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from api.deps import core, strip_paths_in_text
from api.errors import InvalidParameterError, UploadTooLargeError
from api.geojson import records
from api.jobs import job_territory
from api.schemas import error_responses
from api.security import require_token
from api.uploads import Backend, allowed_backends, read_upload, safe_name
from coverage.csvio import read_table
from coverage.errors import DataError, QueryError
from coverage.jobs.geocode import geocode_addresses

router = APIRouter(tags=["géocodage"])
CSV = "text/csv; charset=utf-8"
COLUMN_FIELDS = (
    "id",
    "address",
    "housenumber",
    "street",
    "postcode",
    "city",
    "insee_code",
    "lon",
    "lat",
)
CSV_EXAMPLE = (
    "\ufeffid;adresse;commune;lon;lat;precision;status;reason\r\n"
    "1;1 rue Gambetta;Auch;0.58611;43.64652;housenumber;matched;\r\n"
    "2;;;;;;rejected;ligne vide\r\n"
)
JSON_EXAMPLE: dict[str, Any] = {
    "rows": [
        {"id": "1", "adresse": "1 rue Gambetta", "commune": "Auch", "status": "matched"},
        {"id": "2", "adresse": "", "commune": "", "status": "rejected"},
    ],
    "count": 2,
    "by_status": {"matched": 1, "rejected": 1},
    "columns": {"id": "id", "address": "adresse", "city": "commune"},
    "backends": ["local", "commune"],
    "table": {"encoding": "utf-8", "separator": ";", "rows": 2},
}
REQUEST_EXAMPLE: dict[str, Any] = {
    "file": "id;adresse;commune\n1;1 rue Gambetta;Auch\n2;;\n",
    "backends": ["local", "commune"],
    "city": "commune",
}
ColumnForm = Annotated[
    str | None, Form(min_length=1, max_length=100, description="Colonne à utiliser.")
]


@router.post(
    "/geocode",
    response_class=Response,
    summary="Géocoder un fichier d'adresses CSV (jeton requis)",
    responses={
        200: {
            "description": "Chaque ligne du fichier, dans l'ordre, avec sa position, sa "
            "précision et son statut.",
            "content": {
                "text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE},
                "application/json": {"schema": {"type": "object"}, "example": JSON_EXAMPLE},
            },
        },
        **error_responses(401, 403, 413, 422),
    },
    dependencies=[Depends(require_token)],
    openapi_extra={
        "requestBody": {"content": {"multipart/form-data": {"example": REQUEST_EXAMPLE}}}
    },
)
def geocode(
    request: Request,
    file: Annotated[
        UploadFile,
        File(description="CSV d'adresses (UTF-8, UTF-8 avec BOM ou Latin-1 ; , ; tab ou |)."),
    ],
    territory: Annotated[
        str | None,
        Form(pattern=r"^[a-z0-9_-]{1,64}$", description="Territoire (défaut : le premier)."),
    ] = None,
    backends: Annotated[
        list[Backend] | None,
        Form(
            max_length=3,
            description="Géocodeurs dans l'ordre de repli (défaut : local puis commune).",
        ),
    ] = None,
    id: ColumnForm = None,
    address: ColumnForm = None,
    housenumber: ColumnForm = None,
    street: ColumnForm = None,
    postcode: ColumnForm = None,
    city: ColumnForm = None,
    insee_code: ColumnForm = None,
    lon: ColumnForm = None,
    lat: ColumnForm = None,
    separator: Annotated[
        Literal[",", ";", "\t", "|"] | None, Form(description="Séparateur (défaut : détecté).")
    ] = None,
    encoding: Annotated[
        Literal["utf-8", "utf-8-sig", "cp1252", "latin-1"] | None,
        Form(description="Encodage (défaut : détecté)."),
    ] = None,
    max_distance_km: Annotated[
        float,
        Form(
            ge=0,
            le=200,
            allow_inf_nan=False,
            description="Coordonnées fournies refusées au-delà de cette distance du territoire.",
        ),
    ] = 40.0,
    format: Annotated[
        Literal["csv", "json"],
        Query(description="`csv` : le fichier complété ; `json` : la liste des lignes."),
    ] = "csv",
) -> Response:
    """Chaque ligne revient, dans l'ordre, avec sa position (lon/lat), sa précision
    (numéro, voie, lieu-dit, commune) et son statut (trouvé, repli, rejeté, avec la
    raison) : un fichier de N lignes donne N lignes, lignes vides comprises. Colonnes
    reconnues sans réglage (adresse, code_postal, commune, code_insee, lon/lat...) ;
    sinon nommer la colonne de chaque champ. Fichier de <MAX_UPLOAD> au plus et
    <MAX_ROWS> lignes au plus (413 au-delà). Réponse en CSV UTF-8 avec BOM et le
    séparateur du fichier, ou en JSON (`format=json`)."""
    state = core(request)
    settings = state.settings
    t = job_territory(state, territory)
    chain = allowed_backends(backends, settings)
    given = {
        "id": id,
        "address": address,
        "housenumber": housenumber,
        "street": street,
        "postcode": postcode,
        "city": city,
        "insee_code": insee_code,
        "lon": lon,
        "lat": lat,
    }
    columns = {key: value for key, value in given.items() if value}
    data = read_upload(file, settings)
    name = safe_name(file.filename, default="adresses.csv")
    with tempfile.TemporaryDirectory(prefix="coverage-geocode-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        output = Path(tmp) / f"{path.stem}.geocode.csv"
        try:
            _, info = read_table(path, encoding=encoding, separator=separator, bad_rows="keep")
            if info.rows > settings.max_geocode_rows:
                raise UploadTooLargeError(
                    f"{info.rows} lignes : {settings.max_geocode_rows} au plus par requête "
                    "(COVERAGE_API_MAX_GEOCODE_ROWS)",
                    field="file",
                )
            report = geocode_addresses(
                path,
                territory=t.resources.territory,
                output=output,
                backends=chain,
                columns=columns,
                encoding=encoding,
                separator=separator,
                max_distance_km=max_distance_km,
            )
        except DataError as exc:
            field = next((k for k, v in columns.items() if v == exc.field), "file")
            where = f"{file.filename or name}: " if exc.path is not None else ""
            raise InvalidParameterError(
                strip_paths_in_text(where + exc.detail) or "", field=field
            ) from None
        except QueryError as exc:
            raise InvalidParameterError(
                strip_paths_in_text(str(exc)) or "", field="backends"
            ) from None
        if format == "json":
            result = report.result
            content = {
                "rows": records(result.frame),
                "count": len(result.frame),
                "by_status": result.by_status,
                "by_quality": result.by_quality,
                "columns": report.columns.used(),
                "backends": report.backends,
                "table": {
                    "encoding": report.table.encoding,
                    "separator": report.table.separator,
                    "rows": report.table.rows,
                },
            }
            return JSONResponse(content)
        body = output.read_bytes()
    download = f"{Path(name).stem}.geocode.csv"
    return Response(
        body,
        media_type=CSV,
        headers={"Content-Disposition": f'attachment; filename="{download}"'},
    )
