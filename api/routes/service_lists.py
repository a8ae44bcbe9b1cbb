"""Service lists: import one (token), list them, read one; imported lists join the catalogue.

``POST /services/{territory}/lists/{name}`` reads an uploaded CSV, GeoJSON or
GeoPackage the way ``coverage services import`` does
(:func:`coverage.jobs.services.import_services`: given coordinates checked,
addresses geocoded, every refused row with its reason), keeps it in the
server's state folder under its name (:mod:`api.lists`) and serves it at once:
``/territories/{t}/services`` and ``/territories/{t}/coverage`` count its
services, and a scenario, placement or itinerary may name it (``lists``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from api.deps import TerritoryPath, core, strip_paths_in_text
from api.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from api.job_schemas import LIST_OUT_EXAMPLE, ServiceListOut, ServiceLists
from api.lists import LIST_SUFFIX, ListStore
from api.schemas import LIST_NAME_PATTERN, KindName, Status, error_responses
from api.security import require_token
from api.uploads import Backend, allowed_backends, read_upload, safe_name, service_suffix
from coverage.errors import CoverageError, DataError
from coverage.geocode.chain import make_geocoder
from coverage.jobs.services import import_services

router = APIRouter(tags=["territoires"])
REQUEST_EXAMPLE: dict[str, Any] = {
    "file": "nom;adresse;code_postal;commune\nMDS d'Auch;17 rue d'Étigny;32000;Auch\n",
    "kind": "mds",
    "status": "open",
}
ListNamePath = Annotated[
    str,
    PathParam(
        pattern=LIST_NAME_PATTERN,
        description="Nom de la liste (1 à 40 caractères parmi a-z, 0-9, _ et -).",
        examples=["mds_gers"],
    ),
]


@router.post(
    "/services/{territory}/lists/{name}",
    status_code=201,
    response_model=ServiceListOut,
    summary="Importer une liste de services (jeton requis)",
    responses={
        201: {"content": {"application/json": {"example": LIST_OUT_EXAMPLE}}},
        **error_responses(401, 403, 404, 409, 413, 422),
    },
    dependencies=[Depends(require_token)],
    openapi_extra={
        "requestBody": {"content": {"multipart/form-data": {"example": REQUEST_EXAMPLE}}}
    },
)
def import_list(
    request: Request,
    territory: TerritoryPath,
    name: ListNamePath,
    file: Annotated[
        UploadFile,
        File(
            description="Liste des sites : CSV (UTF-8 ou Latin-1, , ou ;), GeoJSON ou GeoPackage."
        ),
    ],
    kind: Annotated[KindName, Form(description="Type des sites (une colonne kind l'emporte).")],
    status: Annotated[Status, Form(description="Statut des lignes qui n'en donnent pas.")] = "open",
    source: Annotated[
        str | None, Form(max_length=300, description="Source citée (défaut : le nom du fichier).")
    ] = None,
    backends: Annotated[
        list[Backend] | None,
        Form(max_length=3, description="Géocodeurs des adresses (défaut : local puis commune)."),
    ] = None,
    replace: Annotated[
        bool, Form(description="Remplacer une liste importée du même nom (sinon 409).")
    ] = False,
) -> JSONResponse:
    """Lit la liste comme `coverage services import` (coordonnées vérifiées, adresses
    géocodées, chaque ligne rejetée avec sa raison), la garde sous son nom et l'ajoute au
    catalogue servi du territoire. Fichier de <MAX_UPLOAD> au plus (413 au-delà). Une liste
    du même nom n'est remplacée qu'avec `replace` (409 sinon) ; celles données au
    démarrage (`coverage serve --services`) ne le sont jamais."""
    state = core(request)
    t = state.territory(territory)
    catalogue_kinds = t.base_resources.catalogue.kinds
    if kind not in catalogue_kinds:
        raise InvalidParameterError(
            f"type de service inconnu '{kind}' (connus : {', '.join(sorted(catalogue_kinds))})",
            field="kind",
        )
    chain = allowed_backends(backends, state.settings)
    data = read_upload(file, state.settings)
    filename = safe_name(file.filename, default="services")
    suffix = service_suffix(filename, data)
    store: ListStore = state.list_store  # type: ignore[assignment]
    with state.lists_lock:
        existing = t.lists.get(name)
        if existing is not None and (existing.origin == "startup" or not replace):
            why = "donnée au démarrage du serveur" if existing.origin == "startup" else "importée"
            raise AlreadyExistsError(
                f"la liste '{name}' existe déjà ({why}) ; "
                + ("choisir un autre nom" if existing.origin == "startup" else "replace=true"),
                field="name",
            )
        with tempfile.TemporaryDirectory(prefix="coverage-services-") as tmp:
            path = Path(tmp) / f"{Path(filename).stem}{suffix}"
            path.write_bytes(data)
            loaded = t.resources.territory
            try:
                catalogue = import_services(
                    path,
                    loaded,
                    kind=kind,
                    status=status,
                    source=source or file.filename or filename,
                    geocoder=make_geocoder(loaded, chain),
                )
            except DataError as exc:
                where = f"{file.filename or filename}: " if exc.path is not None else ""
                field = exc.field if exc.field in ("kind", "status") else "file"
                raise InvalidParameterError(
                    strip_paths_in_text(where + exc.detail) or "", field=field
                ) from None
            except CoverageError as exc:
                raise InvalidParameterError(
                    strip_paths_in_text(str(exc)) or "", field="file"
                ) from None
            # the catalogue served with this list must build (no service id in two lists)
            # before the list is stored: a stored list that breaks it would stop the server
            # from serving, and from starting again on this state directory
            probe = Path(tmp) / f"{name}{LIST_SUFFIX}"
            catalogue.to_file(probe)
            others = [entry.path for other, entry in t.lists.items() if other != name]
            try:
                t.base_resources.with_extra_files([*others, probe])
            except DataError as exc:
                raise InvalidParameterError(
                    strip_paths_in_text(exc.detail) or "", field="file"
                ) from None
        if catalogue.frame.empty:
            reasons = "; ".join(
                f"ligne {r.line} : {r.reason}" for r in catalogue.rejected.head(3).itertuples()
            )
            raise InvalidParameterError(
                f"aucune ligne n'a pu être placée ({len(catalogue.rejected)} rejetées"
                + (f" : {reasons}" if reasons else "")
                + ")",
                field="file",
            )
        entry = store.save(t.name, name, catalogue, source=file.filename or filename)
        t.serve_lists({**t.lists, name: entry})
    return JSONResponse(
        status_code=201,
        content=ServiceListOut(**entry.describe(rejected_rows=True)).model_dump(mode="json"),
        headers={"Location": f"/services/{t.name}/lists/{name}"},
    )


@router.get(
    "/services/{territory}/lists",
    response_model=ServiceLists,
    summary="Listes de services servies en plus du catalogue",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "territory": "gers",
                        "lists": [
                            {k: v for k, v in LIST_OUT_EXAMPLE.items() if k != "rejected_rows"}
                        ],
                    }
                }
            }
        },
        **error_responses(404, 422),
    },
)
def lists(request: Request, territory: TerritoryPath) -> ServiceLists:
    """Les listes importées (`POST /services/{territory}/lists/{name}`) et celles données au
    démarrage, avec leurs services par type."""
    state = core(request)
    t = state.territory(territory)
    return ServiceLists(
        territory=t.name,
        lists=[ServiceListOut(**entry.describe()) for entry in t.lists.values()],
    )


@router.get(
    "/services/{territory}/lists/{name}",
    response_model=ServiceListOut,
    summary="Une liste de services servie",
    responses={
        200: {"content": {"application/json": {"example": LIST_OUT_EXAMPLE}}},
        **error_responses(404, 422),
    },
)
def one_list(request: Request, territory: TerritoryPath, name: ListNamePath) -> Any:
    """Une liste : ses services par type, ses lignes rejetées, ses liens vers le catalogue
    et l'accessibilité de ses types."""
    state = core(request)
    t = state.territory(territory)
    entry = t.lists.get(name)
    if entry is None:
        raise NotFoundError(f"aucune liste '{name}' pour {t.label}", field="name")
    return ServiceListOut(**entry.describe(rejected_rows=True))
