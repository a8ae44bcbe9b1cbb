"""Request and response models of the queued studies, the geocoding and the service lists.

The bodies mirror the options of ``coverage place`` and ``coverage itinerary``
(same names, same defaults), minus what would reach the server's file system
(candidate, zone, commune and closure files). Every bound checked here is the
bound the OpenAPI schema shows; what only the loaded data knows (a kind, an
INSEE code, the number of communes) is checked when the job is posted and
answered with a 422 naming the field. Bodies are read strictly (no type
coercion, :data:`api.schemas.STRICT`), and the rules between fields (``sites``
or ``new_sites``, ``n_stops`` or ``stop_codes``, both dates or none) are in
the schema too (``anyOf``/``not``), so that a body the schema accepts is never
refused for its shape.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from api.schemas import MAX_LISTS, STRICT, KindName, ListName, PointIn, RunStatus, StrictBody
from coverage.itinerary.settings import (
    DEPOT_SETS,
    MAX_DEPOTS,
    MAX_PERMANENCES_PER_DAY,
    MAX_SERVED_MINUTES,
)
from coverage.jobs.place import DEFAULT_ALTERNATIVES, MAX_ALTERNATIVES, ZONE_RULE_CHOICES
from coverage.jobs.placement_instance import CANDIDATE_SETS
from coverage.jobs.placement_questions import MAX_CURVE_MINUTES, MAX_CURVE_POINTS
from coverage.placement.models import MODELS, SOLVERS

MAX_SITES = 1000
"""Hard bound of ``sites``/``new_sites``; the territory's number of communes is checked too."""
MAX_TIME_LIMIT_S = 600.0
"""Longest HiGHS time limit a posted placement may ask for."""
MAX_STOPS = 200
MAX_FIXED = 100
CurveMinutes = Annotated[float, Field(gt=0, le=600, allow_inf_nan=False)]
"""A threshold of the curve against the threshold, minutes."""
InseeCode = Annotated[str, Field(pattern=r"^[0-9][0-9AB][0-9]{3}$", examples=["32013"])]
TerritoryName = Annotated[
    str | None,
    Field(
        default=None,
        pattern=r"^[a-z0-9_-]{1,64}$",
        description="Territoire (par défaut le premier servi).",
        examples=["gers"],
    ),
]
Clock = Annotated[str, Field(pattern=r"^([01]?[0-9]|2[0-3])[:h][0-5][0-9]$")]


def _iso_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"date attendue au format AAAA-MM-JJ, reçu {value!r}")


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
"""A date, from its ISO text only (JSON has no date type; no timestamps, no times)."""
Weekday = Literal["lun", "mar", "mer", "jeu", "ven", "sam", "dim"]
ListsField = Field(
    default_factory=list,
    max_length=MAX_LISTS,
    description="Listes de services importées sur le serveur à ajouter au catalogue "
    "(voir `GET /services/{territory}/lists`).",
)


def _given(name: str) -> dict[str, Any]:
    """JSON schema: the body has ``name``, not null (null is the same as leaving it out)."""
    return {"required": [name], "properties": {name: {"not": {"type": "null"}}}}


def _not_both(a: str, b: str) -> dict[str, Any]:
    return {"not": {"allOf": [_given(a), _given(b)]}}


# --- placements --------------------------------------------------------------------------------

PLACEMENT_EXAMPLE: dict[str, Any] = {
    "territory": "gers",
    "kind": "tiers_lieu",
    "model": "mclp",
    "new_sites": 3,
    "threshold_minutes": 20,
    "zone_rule": "none",
    "solver": "greedy",
}


class PlacementBody(StrictBody):
    """A placement study (``coverage place``): where to open sites of a kind."""

    model_config = ConfigDict(
        **STRICT,
        json_schema_extra={
            "examples": [PLACEMENT_EXAMPLE],
            "allOf": [
                _not_both("sites", "new_sites"),
                {
                    "anyOf": [
                        {"required": ["model"], "properties": {"model": {"const": "lscp"}}},
                        _given("sites"),
                        _given("new_sites"),
                    ]
                },
            ],
        },
    )

    territory: TerritoryName = None
    kind: KindName = Field(default="tiers_lieu", description="Type de service à implanter.")
    model: Literal[MODELS] = Field(  # type: ignore[valid-type]
        default="mclp",
        description="`mclp` (population à moins de T), `pmedian` (temps moyen), "
        "`lscp` (tous à moins de T au moindre nombre de sites).",
    )
    sites: int | None = Field(
        default=None,
        ge=1,
        le=MAX_SITES,
        description="Nombre total de sites ouverts, existants compris (au plus le nombre de "
        "communes du territoire).",
    )
    new_sites: int | None = Field(
        default=None, ge=0, le=MAX_SITES, description="Ou : nombre de sites à ajouter."
    )
    threshold_minutes: float = Field(
        default=20.0, gt=0, le=600, allow_inf_nan=False, description="Seuil T en minutes."
    )
    demand: Literal["communes", "cells"] = Field(
        default="communes", description="Demande : points des communes ou carreaux peuplés."
    )
    cell_size_m: float = Field(
        default=1000.0,
        ge=200,
        le=5000,
        allow_inf_nan=False,
        description="Taille des carreaux de demande (multiple des cellules de population).",
    )
    candidates: Literal[CANDIDATE_SETS] = Field(  # type: ignore[valid-type]
        default="communes", description="Sites candidats : communes ou chefs-lieux de canton."
    )
    zone_rule: Literal[ZONE_RULE_CHOICES] = Field(  # type: ignore[valid-type]
        default="exactly_one",
        description="Règle par canton : `exactly_one`, `at_most_one`, `at_least_one`, "
        "`none` (sans zones) ou `one_per_canton` (un site dans chaque canton, Auch-1, Auch-2 "
        "et Auch-3 compris).",
    )
    one_per_zone: bool = Field(
        default=False, description="Une zone de plusieurs cantons (Auch) compte pour un site."
    )
    fixed: list[InseeCode] = Field(
        default_factory=list, max_length=MAX_FIXED, description="Sites à garder ouverts."
    )
    no_existing: bool = Field(
        default=False, description="Ne pas garder ouverts les sites existants du type."
    )
    written_plan: bool = Field(
        default=True,
        description="Évaluer aussi le plan écrit (un site par chef-lieu de canton, sites "
        "ouverts gardés) et le comparer à l'optimum (bloc `written_plan` de placement.json).",
    )
    curve_to: int | None = Field(
        default=None,
        ge=1,
        le=MAX_CURVE_POINTS,
        description="Courbe selon le nombre de sites, jusqu'à ce nombre de sites (des sites "
        "gardés, ou de `curve_from`) ; `courbe_sites.csv`, `courbes.png`.",
        examples=[25],
    )
    curve_from: int | None = Field(
        default=None,
        ge=1,
        le=MAX_CURVE_POINTS,
        description="Premier point de la courbe selon le nombre de sites (seul : un point ; "
        "les deux bornes dans n'importe quel ordre).",
        examples=[3],
    )
    curve_minutes: list[CurveMinutes] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CURVE_MINUTES,
        description="Courbe selon le seuil (minutes) ; `courbe_seuil.csv`.",
        examples=[[10, 15, 20, 25, 30]],
    )
    tradeoff: bool = Field(
        default=False,
        description="Compromis couverture / temps moyen (`compromis.csv`), plusieurs minutes.",
    )
    sensitivity: bool = Field(
        default=False,
        description="Sensibilité : vitesses ×0,9 et ×1,1, détour d'accès ±20 % "
        "(`sensibilite.csv`).",
    )
    alternatives: int = Field(
        default=DEFAULT_ALTERNATIVES,
        ge=0,
        le=MAX_ALTERNATIVES,
        description="Autres choix de sites au même optimum prouvé à chercher (0 : aucun).",
    )
    solver: Literal[SOLVERS] = Field(  # type: ignore[valid-type]
        default="highs", description="`highs` (exact) ou `greedy` (heuristique)."
    )
    time_limit_s: float = Field(
        default=120.0,
        gt=0,
        le=MAX_TIME_LIMIT_S,
        allow_inf_nan=False,
        description="Limite de temps de HiGHS (secondes).",
    )
    mip_gap: float = Field(default=0.0, ge=0, le=1, allow_inf_nan=False)
    lists: list[ListName] = ListsField

    @model_validator(mode="after")
    def _sites(self) -> PlacementBody:
        if self.sites is not None and self.new_sites is not None:
            raise ValueError("donner sites ou new_sites, pas les deux")
        if self.model != "lscp" and self.sites is None and self.new_sites is None:
            raise ValueError(
                f"le modèle {self.model} demande un nombre de sites : sites (existants compris) "
                "ou new_sites (sites ajoutés)"
            )
        return self


class JobOut(BaseModel):
    """A queued study: what, its status, its figures once done, and links to its results."""

    id: str = Field(examples=["3f9a1c0b7d2e4a65"])
    kind: Literal["placement", "itinerary"]
    territory: str = Field(examples=["gers"])
    label: str
    status: RunStatus
    reason: str | None = Field(default=None, description="Pourquoi la tâche a échoué.")
    step: str | None = Field(default=None, description="Étape en cours.")
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    links: dict[str, str] = Field(default_factory=dict)


class PlacementOut(JobOut):
    """A placement study; once done, coverage before/after and the chosen sites."""

    figures: dict[str, Any] | None = Field(
        default=None,
        description="Population à moins de T avant/après (`pop_within_before`, "
        "`pop_within_after`, `pop_newly_within`, parts, temps moyens), comme `coverage run`.",
    )
    solver: dict[str, Any] | None = Field(
        default=None, description="Méthode, statut, objectif, écart prouvé, temps."
    )
    sites: list[dict[str, Any]] | None = Field(
        default=None, description="Sites retenus (`status` : `existant` ou `nouveau`)."
    )
    questions: dict[str, Any] | None = Field(
        default=None,
        description="Questions autour du plan : temps de calcul, courbe selon le nombre de sites "
        "(`curve_sites`), sensibilité (`sensitivity`) ; les tableaux complets dans les fichiers "
        "(`/placements/{id}/files/{name}`).",
    )
    alternatives: dict[str, Any] | None = Field(
        default=None,
        description="Autres choix de sites au même optimum : `found` (sites `added`/`removed`, "
        "avec leurs noms), `note`, ou `skipped` (la raison).",
    )
    written_plan: dict[str, Any] | None = Field(
        default=None,
        description="Le plan écrit (un site par chef-lieu de canton) face à l'optimum : "
        "`territory` (`plan`, `optimum`, `delta`), `only_plan`, `only_optimum`, `common` ; "
        "ou `skipped` (la raison).",
    )


PLACEMENT_OUT_EXAMPLE: dict[str, Any] = {
    "id": "3f9a1c0b7d2e4a65",
    "kind": "placement",
    "territory": "gers",
    "label": "Implantation : tiers_lieu (mclp, 20 min)",
    "status": "done",
    "created_at": "2026-11-02T10:00:00Z",
    "started_at": "2026-11-02T10:00:00Z",
    "finished_at": "2026-11-02T10:00:03Z",
    "figures": {
        "threshold_minutes": 20.0,
        "population": 192645,
        "pop_within_before": 34786,
        "pop_within_after": 109071,
        "pop_newly_within": 74285,
    },
    "sites": [
        {"name": "Auch", "insee_code": "32013", "status": "nouveau"},
        {
            "name": "Tiers-lieu solidaire de Lectoure",
            "insee_code": "32208",
            "status": "existant",
        },
    ],
    "links": {
        "self": "/placements/3f9a1c0b7d2e4a65",
        "sites": "/placements/3f9a1c0b7d2e4a65/sites",
        "cantons": "/placements/3f9a1c0b7d2e4a65/cantons",
    },
}


# --- itineraries -------------------------------------------------------------------------------

DepotCodes = Annotated[list[InseeCode], Field(min_length=1, max_length=MAX_DEPOTS)]

ITINERARY_EXAMPLE: dict[str, Any] = {
    "territory": "gers",
    "n_stops": 6,
    "days": 20,
    "year": 2027,
    "depot": "32013",
    "kinds": ["france_services", "mds"],
    "underserved_minutes": 15,
    "reach_minutes": 10,
    "max_spacing_days": 120,
}


class ItineraryBody(StrictBody):
    """An itinerant service plan (``coverage itinerary``): stops, calendar, daily tours."""

    model_config = ConfigDict(
        **STRICT,
        json_schema_extra={
            "examples": [ITINERARY_EXAMPLE],
            "allOf": [
                _not_both("n_stops", "stop_codes"),
                {
                    "anyOf": [
                        {"allOf": [_given("start_date"), _given("end_date")]},
                        {"not": {"anyOf": [_given("start_date"), _given("end_date")]}},
                    ]
                },
            ],
        },
    )

    territory: TerritoryName = None
    n_stops: int | None = Field(
        default=None,
        ge=1,
        le=MAX_STOPS,
        description="Nombre d'arrêts à choisir (26 par défaut, au plus le nombre de communes).",
    )
    stop_codes: list[InseeCode] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_STOPS,
        description="Ou : les communes à desservir (codes INSEE).",
    )
    days: int = Field(default=103, ge=1, le=366, description="Jours de service.")
    year: int | None = Field(
        default=None, ge=2000, le=2100, description="Année planifiée (défaut : l'an prochain)."
    )
    start_date: IsoDate | None = Field(default=None, description="Ou : début de période.")
    end_date: IsoDate | None = Field(default=None, description="Fin de période (incluse).")
    depot: InseeCode | PointIn = Field(
        default="32013", description="Dépôt : code INSEE de la commune ou point lon/lat."
    )
    depot_name: str | None = Field(default=None, min_length=1, max_length=100)
    kinds: list[KindName] = Field(
        default=["france_services", "mds"],
        min_length=1,
        max_length=10,
        description="Services fixes de référence (types absents du catalogue ignorés).",
    )
    underserved_minutes: float = Field(
        default=15.0,
        gt=0,
        le=600,
        allow_inf_nan=False,
        description="Au-delà de ce temps d'un service fixe, un habitant est mal desservi.",
    )
    reach_minutes: float = Field(
        default=10.0,
        ge=0,
        le=120,
        allow_inf_nan=False,
        description="Un arrêt atteint les communes à moins de ce temps (0 : sa seule commune).",
    )
    visits: Literal["uniform", "population"] = "uniform"
    visits_per_stop: int | None = Field(default=None, ge=1, le=366)
    min_spacing_days: int = Field(default=7, ge=0, le=366)
    max_spacing_days: int = Field(default=60, ge=1, le=366)
    permanences_per_day: int = Field(default=2, ge=1, le=MAX_PERMANENCES_PER_DAY)
    permanence_minutes: float = Field(default=180.0, gt=0, le=720, allow_inf_nan=False)
    start: Clock = Field(default="08:30", description="Début de journée (départ du dépôt).")
    end: Clock = Field(default="17:30", description="Fin de journée (retour au dépôt).")
    lunch_from: Clock = "12:00"
    lunch_to: Clock = "13:30"
    lunch_minutes: float = Field(default=60.0, ge=0, le=240, allow_inf_nan=False)
    max_driving_hours: float = Field(default=3.0, gt=0, le=12, allow_inf_nan=False)
    weekdays: list[Weekday] = Field(
        default=["lun", "mar", "mer", "jeu", "ven"], min_length=1, max_length=7
    )
    closures: list[IsoDate] = Field(default_factory=list, max_length=366)
    solver: Literal["vroom", "exact"] = "vroom"
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    depots: Literal[DEPOT_SETS] | DepotCodes = Field(  # type: ignore[valid-type]
        default="tiers-lieux",
        description=(
            "Bases d'où partent les journées, en plus de depot : depot (lui seul), mds, "
            "tiers-lieux (chefs-lieux prévus et tiers-lieux ouverts) ou des codes INSEE ; "
            "chaque journée part de la base dont la tournée roule le moins."
        ),
    )
    mixed_days: bool = Field(
        default=True,
        description="Un arrêt qui ne peut partager sa journée a des journées à lui seul.",
    )
    served_minutes: float = Field(
        default=10.0,
        ge=0,
        le=MAX_SERVED_MINUTES,
        allow_inf_nan=False,
        description=(
            "Une commune à moins de ce temps d'un site fixe (France services, tiers-lieux) est "
            "déjà desservie (0 : aucune)."
        ),
    )
    served_weight: float = Field(
        default=0.0,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Poids des communes déjà desservies dans le choix (0 : exclues).",
    )
    fixed_weekday: bool = Field(
        default=False, description="Chaque arrêt toujours le même jour de la semaine."
    )
    balanced_weekdays: bool = Field(
        default=True, description="Autant de lundis, mardis... de service (à un près)."
    )
    lists: list[ListName] = ListsField

    @model_validator(mode="after")
    def _choice(self) -> ItineraryBody:
        if self.n_stops is not None and self.stop_codes is not None:
            raise ValueError("donner n_stops ou stop_codes, pas les deux")
        if (self.start_date is None) != (self.end_date is None):
            raise ValueError("donner start_date et end_date, ou aucune des deux (alors year)")
        return self


class ItineraryOut(JobOut):
    """An itinerary plan; once done, its figures."""

    summary: dict[str, Any] | None = Field(
        default=None,
        description="Arrêts, jours de service, permanences, tournées, conduite, population "
        "atteinte, espacement des passages, règles non respectées.",
    )


ITINERARY_OUT_EXAMPLE: dict[str, Any] = {
    "id": "5b0e2d7a9c1f3e48",
    "kind": "itinerary",
    "territory": "gers",
    "label": "Itinérance : 6 arrêts, 20 jours",
    "status": "done",
    "created_at": "2026-11-02T10:00:00Z",
    "summary": {
        "stops": 6,
        "service_days": 20,
        "permanences": 40,
        "tours": 5,
        "period": {"start": "2027-01-01", "end": "2027-12-31"},
        "violations": [],
    },
    "links": {
        "self": "/itineraries/5b0e2d7a9c1f3e48",
        "calendar": "/itineraries/5b0e2d7a9c1f3e48/calendar.ics",
        "stops": "/itineraries/5b0e2d7a9c1f3e48/stops",
    },
}


# --- service lists -----------------------------------------------------------------------------


class ServiceListOut(BaseModel):
    """A service list served beside the territory's catalogue."""

    name: str = Field(examples=["mds_gers"])
    territory: str = Field(examples=["gers"])
    origin: Literal["import", "startup"]
    kinds: dict[str, int] = Field(description="Services placés par type.", examples=[{"mds": 3}])
    services: int
    in_territory: int
    rejected: int = Field(description="Lignes qui n'ont pas pu être placées.")
    created_at: datetime
    source: str = Field(description="Nom du fichier d'origine.")
    links: dict[str, str]
    rejected_rows: list[dict[str, Any]] | None = Field(
        default=None, description="Lignes rejetées (`line`, `name`, `reason`), 100 au plus."
    )


class ServiceLists(BaseModel):
    """The service lists a territory serves."""

    territory: str = Field(examples=["gers"])
    lists: list[ServiceListOut]


LIST_OUT_EXAMPLE: dict[str, Any] = {
    "name": "mds_gers",
    "territory": "gers",
    "origin": "import",
    "kinds": {"mds": 3},
    "services": 3,
    "in_territory": 3,
    "rejected": 1,
    "created_at": "2026-11-02T10:00:00Z",
    "source": "mds.csv",
    "links": {
        "services": "/territories/gers/services?kind=mds",
        "coverage": "/territories/gers/coverage?kind=mds",
    },
    "rejected_rows": [{"line": 5, "name": "MDS ?", "reason": "adresse introuvable"}],
}
