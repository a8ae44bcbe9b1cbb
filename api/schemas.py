"""Request and response models of the API (pydantic), with the examples shown in OpenAPI.

The scenario body mirrors the scenario file format (docs/scenario-format.md)
table by table, minus what would reach the server's file system: no
``[services] files`` and speed profiles by built-in name only. The engine
(:func:`coverage.scenario.scenario_from_dict`) checks the rest.

Request bodies are validated strictly, as the OpenAPI schema reads: a number
is a JSON number (``"1.5"`` and ``false`` are refused, not coerced), a boolean
is ``true`` or ``false``, an integer has no fraction; only dates are read from
their ISO text. The isochrone limits the schema shows are the server's
configured ones (:func:`server_openapi`).
"""

from __future__ import annotations

from datetime import datetime
from types import UnionType
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from coverage.routing.snap import MAX_CANDIDATES_LIMIT, MAX_MARGIN_M

if TYPE_CHECKING:
    from api.settings import ApiSettings

Status = Literal["open", "planned", "closed"]
RunStatus = Literal["queued", "running", "done", "failed"]
Minutes = Annotated[float, Field(gt=0, le=600, allow_inf_nan=False)]
KindName = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,64}$", examples=["france_services"])]
PUBLIC_PATTERN = r"^[A-Za-z0-9_]{1,64}$"
PublicName = Annotated[
    str,
    Field(
        pattern=PUBLIC_PATTERN,
        examples=["age_75_plus"],
        description="A public of the territory's `[layers.publics]` (`population`: everyone).",
    ),
]
RUN_ID_PATTERN = r"^[0-9a-f]{16}$"
LIST_NAME_PATTERN = r"^[a-z0-9_-]{1,40}$"
MAX_LISTS = 20
"""Most service lists one job names."""
ListName = Annotated[str, Field(pattern=LIST_NAME_PATTERN, examples=["mds_gers"])]
MAX_POINTS_HARD = 1000
"""Most points any server accepts (``COVERAGE_API_MAX_POINTS`` is at most this)."""
MAX_BANDS_HARD = 24
"""Most bands any server accepts (``COVERAGE_API_MAX_BANDS`` is at most this)."""


STRICT = ConfigDict(extra="forbid", strict=True)
"""Configuration of every request model: unknown keys refused, no type coercion."""


def _integer_field(annotation: Any) -> bool:
    """Whether a field holds integers and no floats (``int``, ``int | None``)."""
    options = (
        set(get_args(annotation)) if get_origin(annotation) in (Union, UnionType) else {annotation}
    )
    return int in options and float not in options


class StrictBody(BaseModel):
    """Base of the request models: :data:`STRICT`, and integers as JSON Schema counts them.

    JSON Schema takes ``3.0`` for an integer; strict pydantic would refuse it, so an
    integer field reads a number without fraction (never ``true`` or ``"3"``).
    """

    model_config = STRICT

    @field_validator("*", mode="before")
    @classmethod
    def _json_integers(cls, value: Any, info: ValidationInfo) -> Any:
        integral = isinstance(value, float) and value.is_integer()
        if integral and _integer_field(cls.model_fields[info.field_name].annotation):
            return int(value)
        return value


# --- scenarios ---------------------------------------------------------------------------------


class ScenarioHead(StrictBody):
    """``[scenario]``: identity of the scenario."""

    name: str = Field(pattern=r"^[A-Za-z0-9_]{1,64}$", examples=["gers_mds_auch"])
    territory: str = Field(pattern=r"^[a-z0-9_-]{1,64}$", examples=["gers"])
    label: str | None = Field(default=None, max_length=300)
    description: str | None = Field(default=None, max_length=4000)


class ThresholdsBody(StrictBody):
    """``[thresholds]``: minutes, strictly increasing."""

    minutes: list[Minutes] = Field(min_length=1, max_length=10, examples=[[15, 20, 30]])


class AnalysisBody(StrictBody):
    """``[[analyses]]``: one set of services to measure access to."""

    kinds: list[KindName] = Field(min_length=1, max_length=10)
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_]{1,64}$")
    label: str | None = Field(default=None, max_length=300)
    statuses: list[Status] | None = Field(default=None, min_length=1, max_length=3)
    include_outside: bool | None = None
    reference_minutes: Minutes | None = None
    public: PublicName | None = None


class AddedServiceBody(StrictBody):
    """``[[services.add]]``: a site to add, at a commune's point or at coordinates."""

    service_id: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")
    kind: KindName
    name: str = Field(min_length=1, max_length=300, pattern=r"\S")
    insee_code: str | None = Field(default=None, pattern=r"^[0-9][0-9AB][0-9]{3}$")
    lon: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    x: float | None = Field(default=None, ge=-1e7, le=1e7, allow_inf_nan=False)
    y: float | None = Field(default=None, ge=-1e7, le=1e7, allow_inf_nan=False)
    status: Status | None = None
    capacity: float | None = Field(default=None, ge=0, le=1e6, allow_inf_nan=False)


class ServicesBody(StrictBody):
    """``[services]``: sites removed (by ``service_id``) and added; no files over HTTP, but
    the service lists imported on the server (``lists``) by name."""

    remove: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=1000
    )
    add: list[AddedServiceBody] = Field(default_factory=list, max_length=500)
    lists: list[ListName] = Field(
        default_factory=list,
        max_length=MAX_LISTS,
        description="Listes de services importées sur le serveur (`POST /services/{territory}/"
        "lists/{name}`, `GET /services/{territory}/lists`) ajoutées au catalogue du scénario, "
        "comme les fichiers `[services] files` d'un fichier de scénario.",
    )


def _profile_enum(schema: dict[str, Any]) -> None:
    """The schema of ``network.profile``: one of the built-in profiles, or null."""
    from coverage.routing.speeds import builtin_profiles

    for choice in schema.get("anyOf", []):
        if choice.get("type") == "string":
            choice["enum"] = builtin_profiles()


class NetworkBody(StrictBody):
    """``[network]``: speed profile (built-in name) and factors."""

    profile: str | None = Field(
        default=None,
        json_schema_extra=_profile_enum,
        description="A built-in speed profile.",
    )
    detour_factor: float | None = Field(default=None, ge=1, le=3, allow_inf_nan=False)
    calibration_factor: float | None = Field(default=None, ge=0.2, le=5, allow_inf_nan=False)
    peak_factor: float | None = Field(default=None, ge=0.2, le=5, allow_inf_nan=False)
    max_edge_m: float | None = Field(default=None, ge=50, le=5000, allow_inf_nan=False)

    @field_validator("profile")
    @classmethod
    def _builtin_profile(cls, value: str | None) -> str | None:
        from coverage.routing.speeds import builtin_profiles

        if value is not None and value not in builtin_profiles():
            raise ValueError(
                f"profil de vitesse inconnu '{value}' (intégrés : {', '.join(builtin_profiles())})"
            )
        return value


class AccessBody(StrictBody):
    """``[access]``: access legs between points and the road network."""

    speed_kph: float | None = Field(default=None, ge=1, le=130, allow_inf_nan=False)
    detour_factor: float | None = Field(default=None, ge=1, le=3, allow_inf_nan=False)
    max_distance_m: float | None = Field(default=None, ge=0, le=50_000, allow_inf_nan=False)
    max_candidates: int | None = Field(default=None, ge=1, le=MAX_CANDIDATES_LIMIT)
    candidate_margin_m: float | None = Field(
        default=None, ge=0, le=MAX_MARGIN_M, allow_inf_nan=False
    )


class PopulationBody(StrictBody):
    """``[population]``: cell size of the population surface (100 to 1 000 m over HTTP)."""

    cell_size_m: float | None = Field(default=None, ge=100, le=1000, allow_inf_nan=False)


def _only_pattern_keys(schema: dict[str, Any]) -> None:
    """A mapping whose keys all match its pattern (pydantic lets other keys through the schema)."""
    for choice in schema.get("anyOf", []):
        if "patternProperties" in choice:
            choice["additionalProperties"] = False


class HealthBody(StrictBody):
    """``[health]``: 2SFCA accessibility to care."""

    kinds: list[KindName] | None = Field(default=None, min_length=1, max_length=5)
    decay: Literal["drees", "steps", "linear"] | None = None
    steps: dict[Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?$")], float] | None = Field(
        default=None, max_length=20, json_schema_extra=_only_pattern_keys
    )
    max_minutes: Minutes | None = None
    per_inhabitants: float | None = Field(default=None, gt=0, le=1e6, allow_inf_nan=False)
    capacity_unit: Literal["consultations", "etp", "sites"] | None = None
    undersupplied_threshold: float | None = Field(default=None, ge=0, le=1e6, allow_inf_nan=False)
    age_weights: (
        dict[
            Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,40}$")],
            Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)],
        ]
        | None
    ) = Field(default=None, min_length=1, max_length=30, json_schema_extra=_only_pattern_keys)
    outside_supply: Literal["downweight", "exclude"] | None = None


class OutputsBody(StrictBody):
    """``[outputs]``: optional outputs (false makes a run faster)."""

    isochrones: bool | None = None
    cells: bool | None = None
    catchments: bool | None = None
    map: bool | None = None


SCENARIO_EXAMPLE: dict[str, Any] = {
    "scenario": {
        "name": "gers_tiers_lieux_auch",
        "label": "Un tiers-lieu solidaire de plus, à Auch",
        "territory": "gers",
    },
    "thresholds": {"minutes": [15, 20, 30]},
    "analyses": [
        {"name": "tiers_lieu", "label": "Tiers-lieux solidaires", "kinds": ["tiers_lieu"]}
    ],
    "services": {
        "add": [
            {
                "service_id": "tl_auch",
                "kind": "tiers_lieu",
                "name": "Tiers-lieu d'Auch",
                "insee_code": "32013",
            }
        ]
    },
    "outputs": {"isochrones": False, "cells": False, "catchments": False, "map": False},
}


class ScenarioBody(StrictBody):
    """A scenario, as in a scenario file (docs/scenario-format.md), in JSON."""

    model_config = ConfigDict(**STRICT, json_schema_extra={"examples": [SCENARIO_EXAMPLE]})

    scenario: ScenarioHead
    analyses: list[AnalysisBody] = Field(min_length=1, max_length=10)
    thresholds: ThresholdsBody | None = None
    services: ServicesBody | None = None
    network: NetworkBody | None = None
    access: AccessBody | None = None
    population: PopulationBody | None = None
    health: HealthBody | None = None
    outputs: OutputsBody | None = None

    def to_scenario_dict(self) -> dict[str, Any]:
        """Plain data for :func:`coverage.scenario.scenario_from_dict` (unset keys left out)."""
        return self.model_dump(exclude_none=True, exclude_defaults=False)


class RunOut(BaseModel):
    """A run: what, its status, and links to its results."""

    id: str = Field(examples=["3f9a1c0b7d2e4a65"])
    territory: str = Field(examples=["gers"])
    scenario_name: str = Field(examples=["gers_tiers_lieux_auch"])
    scenario_label: str
    origin: Literal["api", "startup"]
    status: RunStatus
    reason: str | None = Field(default=None, description="Why the run failed.")
    step: str | None = Field(default=None, description="Current step of a running run.")
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    headline: Any = Field(default=None, description="Headline figures of a finished run.")
    links: dict[str, str] = Field(default_factory=dict)


class RunList(BaseModel):
    """Runs, newest first."""

    runs: list[RunOut]
    queued: int
    running: str | None


# --- isochrones --------------------------------------------------------------------------------


class PointIn(StrictBody):
    """A point in WGS84 degrees, with an optional identifier."""

    lon: float = Field(ge=-180, le=180, allow_inf_nan=False, examples=[0.5857])
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, examples=[43.6465])
    id: str | None = Field(default=None, max_length=64, examples=["auch"])


ISOCHRONE_EXAMPLE: dict[str, Any] = {
    "points": [{"lon": 0.5857, "lat": 43.6465, "id": "auch"}],
    "bands_minutes": [10, 20, 30],
    "territory": "gers",
}


class IsochroneRequest(StrictBody):
    """Points and bands of minutes (cumulative: the 20-minute band contains the 10-minute one)."""

    model_config = ConfigDict(**STRICT, json_schema_extra={"examples": [ISOCHRONE_EXAMPLE]})

    points: list[PointIn] = Field(
        min_length=1,
        max_length=MAX_POINTS_HARD,
        description="Points (at most `COVERAGE_API_MAX_POINTS`, the schema shows this server's).",
    )
    bands_minutes: list[Minutes] = Field(
        default=[10, 20, 30],
        min_length=1,
        max_length=MAX_BANDS_HARD,
        description="Bands in minutes, strictly increasing (at most `COVERAGE_API_MAX_BANDS`, "
        "none longer than `COVERAGE_API_MAX_BAND_MINUTES`: the schema shows this server's).",
    )
    territory: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9_-]{1,64}$",
        description="Territory (default: the first one the server serves).",
    )


# --- territories -------------------------------------------------------------------------------


class TerritoryBrief(BaseModel):
    """A served territory."""

    name: str = Field(examples=["gers"])
    label: str = Field(examples=["Gers"])
    departement: str = Field(examples=["32"])
    communes: int = Field(examples=[458])
    population: int = Field(examples=[192645])
    cantons: int
    epci: int
    bbox: list[float] = Field(description="west, south, east, north (WGS84 degrees)")
    links: dict[str, str] = Field(default_factory=dict)


class TerritoryList(BaseModel):
    """Every territory this server serves."""

    territories: list[TerritoryBrief]


class Health(BaseModel):
    """Server state (``degraded``, with status 503, when jobs cannot run or be recorded)."""

    status: Literal["ok", "degraded"]
    problems: list[str] = Field(
        default_factory=list, description="What is wrong when degraded, one line each."
    )
    version: str
    territories: list[str]
    runs: dict[str, int] = Field(description="Scenario runs by status.")
    jobs: dict[str, dict[str, int]] = Field(
        description="Jobs by kind (run, placement, itinerary) and status."
    )
    running: str | None
    writes_enabled: bool
    started_at: datetime


GEOJSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "metadata": {"type": "object"},
        "features": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "properties", "geometry"],
                "properties": {
                    "type": {"type": "string", "enum": ["Feature"]},
                    "id": {"type": "string"},
                    "properties": {"type": "object"},
                    "geometry": {"type": ["object", "null"]},
                },
            },
        },
    },
}
"""A loose JSON schema of the GeoJSON FeatureCollections the API returns."""


class ErrorDetail(BaseModel):
    """One faulty field of a request."""

    field: str = Field(examples=["points[0].lat"])
    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    """Every error response: a kind, one readable line, and the faulty fields when known."""

    error: str = Field(examples=["validation"])
    message: str = Field(
        examples=["field 'points[0].lat' (body): Input should be less than or equal to 90"]
    )
    field: str | None = None
    detail: list[ErrorDetail] | None = None


_DESCRIPTIONS = {
    400: "Coordonnées hors du territoire.",
    401: "Jeton d'écriture absent ou faux.",
    403: "Écriture désactivée : aucun jeton configuré sur le serveur.",
    404: "Territoire, tâche, liste ou EPCI inconnu.",
    409: "La tâche n'est pas terminée (ou a échoué), ou le résultat existe déjà.",
    413: "Corps de requête ou fichier trop volumineux (octets ou lignes).",
    422: "Paramètre ou corps invalide ; le message nomme le champ.",
    429: "Trop de tâches en attente, ou budget de calcul sans jeton dépassé (`Retry-After` "
    "quand attendre suffit).",
    503: "Base des tâches indisponible (disque plein…) ou exécution des tâches arrêtée.",
}


def error_responses(*codes: int, by_ref: bool = False) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for error codes (JSON bodies, :class:`ErrorOut`).

    ``by_ref`` documents the JSON body by reference, for routes whose own media
    type is not JSON (HTML pages), where a ``model`` would be filed under it.
    """
    if by_ref:
        ref = {"$ref": "#/components/schemas/ErrorOut"}
        return {
            code: {
                "description": _DESCRIPTIONS[code],
                "content": {"application/json": {"schema": ref}},
            }
            for code in codes
        }
    return {code: {"model": ErrorOut, "description": _DESCRIPTIONS[code]} for code in codes}


# --- the document this server serves -------------------------------------------------------------


def server_openapi(schema: dict[str, Any], settings: ApiSettings) -> dict[str, Any]:
    """Make an OpenAPI document exactly as strict as this server (edited in place).

    The request models carry the bounds every server accepts; a server is
    configured tighter (``COVERAGE_API_MAX_POINTS``, ``MAX_BANDS``,
    ``MAX_BAND_MINUTES``), so the isochrone body shows this server's limits.
    Multipart forms are described as they are read: a form field is text, never
    ``null``, and an optional text field sent empty means its default.

    Parameters
    ----------
    schema
        The document FastAPI generated.
    settings
        The server's :class:`api.settings.ApiSettings`.
    """
    components = schema.get("components", {}).get("schemas", {})
    iso = components.get("IsochroneRequest", {}).get("properties", {})
    if "points" in iso:
        iso["points"]["maxItems"] = settings.max_points
    if "bands_minutes" in iso:
        bands = iso["bands_minutes"]
        bands["maxItems"] = settings.max_bands
        bands.setdefault("items", {})["maximum"] = settings.max_band_minutes
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            form = content.get("multipart/form-data", {}).get("schema", {})
            ref = form.get("$ref", "")
            if ref.startswith("#/components/schemas/"):
                _form_as_read(components.get(ref.rsplit("/", 1)[-1], {}))
    return schema


def _form_as_read(body: dict[str, Any]) -> None:
    """A multipart form body as FastAPI reads it (see :func:`server_openapi`)."""
    required = set(body.get("required", ()))
    for name, prop in body.get("properties", {}).items():
        choices = prop.get("anyOf")
        if choices is not None:
            kept = [c for c in choices if c.get("type") != "null"]
            if len(kept) == 1:
                del prop["anyOf"]
                prop.update(kept[0])
            else:
                prop["anyOf"] = kept
        if prop.get("contentMediaType") or prop.get("format") == "binary":
            prop["minLength"] = 1  # an empty file is refused, as the route says
            continue
        if name in required or prop.get("type") != "string":
            continue  # numbers and flags: read from their text (empty: the default too)
        value = {k: prop.pop(k) for k in list(prop) if k not in ("title", "description", "default")}
        prop["anyOf"] = [{"type": "string", "maxLength": 0}, value]
