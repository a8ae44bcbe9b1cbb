"""Settings of the HTTP API, read from ``COVERAGE_API_*`` environment variables.

The engine's own variables (``COVERAGE_DATA_DIR``, ``COVERAGE_CACHE_DIR``...) are
read by :mod:`coverage.settings`, never here; docs/settings.md lists them all.

Every setting has a default that works on one machine (SQLite database and
result folders under the user data directory). Environment variables, all
prefixed ``COVERAGE_API_``:

==========================  ====================================================
``DATA_DIR``                data bundles (default: ``$COVERAGE_DATA_DIR``, then the
                            user data directory, as for the CLI)
``TERRITORIES``             territories loaded at start-up, comma-separated (``gers``)
``STATE_DIR``               where the database and results live
                            (default: ``<user data dir>/api``)
``RESULTS_DIR``             run result folders (default: ``<STATE_DIR>/results``)
``DATABASE_URL``            SQLAlchemy URL (default: ``sqlite:///<STATE_DIR>/runs.sqlite``;
                            ``postgresql+psycopg://...`` works too)
``TOKEN``                   bearer token of the write endpoints (none: writes disabled)
``CORS_ORIGINS``            allowed browser origins, comma-separated (none by default)
``FRAME_ANCESTORS``         portal origins allowed to show the embeddable pages (portraits,
                            ``embed=true`` maps) in an iframe, comma-separated; the server
                            itself always may, ``*`` lets any site (none by default)
``ASSETS_DIR``              self-hosted Leaflet assets, served under ``ASSETS_URL``
``ASSETS_URL``              URL path of those assets (``/assets``)
``TILES_URL``               background tiles of the maps (default OpenStreetMap's),
                            with ``TILES_ATTRIBUTION``
``DEFAULT_RUN``             run each territory's default scenario at start-up when the
                            store has no finished run of it (``true``)
``MAX_BODY_BYTES``          largest request body (``262144``)
``MAX_POINTS``              most points of one isochrone request (``20``)
``MAX_BANDS``               most bands of one isochrone request (``6``)
``MAX_BAND_MINUTES``        largest isochrone band (``120``)
``POINT_MARGIN_M``          how far outside the territory a point may lie (``5000``)
``MAX_QUEUED_RUNS``         jobs waiting at most (``20``): scenario runs, placement
                            studies and itinerary plans share the queue
``MAX_UPLOAD_BYTES``        largest uploaded file (``2097152``: 2 MiB), addresses to
                            geocode or a service list
``MAX_GEOCODE_ROWS``        most rows of one geocoding request (``5000``)
``GEOCODE_BAN``             allow the online ``ban`` geocoder (``false``: only ``local``
                            and ``commune``, which need no network)
``SERVICES_FILES``          service lists loaded at start-up into every territory's
                            catalogue, comma-separated (``coverage serve --services``)
``CACHE_ENTRIES``           responses kept in memory per cache (``256``)
``CACHE_MB``                MiB of responses kept in memory by all the caches together
                            (``128``: half for the territories' caches, a quarter
                            for run results, a quarter for map pages)
``ANONYMOUS_MAX_COST``      largest cost of one request without the token (``3600``;
                            an isochrone costs points x bands x its longest band in
                            minutes; ``0``: no limit)
``ANONYMOUS_COST_RATE``     cost per second each client address may spend without
                            the token (``200``; ``0``: no rate)
``ANONYMOUS_COST_BURST``    what it may spend at once (``3600``; at least
                            ``ANONYMOUS_MAX_COST``)
``CLUSTER``                 where the queued scenario runs compute: ``local:N`` (a Dask
                            cluster of N workers started with the server) or
                            ``tcp://host:8786`` (an existing scheduler); none: in the
                            server process, with the preloaded territories
==========================  ====================================================
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from coverage.settings import DATA_DIR_ENV, default_data_root

ENV_PREFIX = "COVERAGE_API_"
_LIST_FIELDS = ("territories", "cors_origins", "frame_ancestors", "services_files")
_ORIGIN_RE = re.compile(r"^https?://(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?$")


class ApiSettings(BaseModel):
    """Configuration of one API server (see the module docstring for the variables).

    Build it in code (``ApiSettings(data_dir=..., token=...)``) or from the
    environment (:meth:`from_env`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path | None = Field(
        default=None,
        description=(
            f"Data bundles (a bundle, or a folder holding <territory>/); None: ${DATA_DIR_ENV}, "
            "then the user data directory, as for the CLI."
        ),
    )
    territories: tuple[str, ...] = Field(default=("gers",), min_length=1)
    state_dir: Path | None = None
    results_dir: Path | None = None
    database_url: str | None = None
    token: str | None = Field(default=None, repr=False)
    cors_origins: tuple[str, ...] = ()
    frame_ancestors: tuple[str, ...] = Field(
        default=(),
        description=(
            "Portal origins (https://portail.example.fr, https://*.example.fr) allowed to show "
            "the embeddable pages in an iframe; '*' for any site. The server itself always may."
        ),
    )
    assets_dir: Path | None = None
    assets_url: str = "/assets"
    tiles_url: str | None = None
    tiles_attribution: str | None = None
    default_run: bool = True
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    max_points: int = Field(default=20, ge=1, le=1000)
    max_bands: int = Field(default=6, ge=1, le=24)
    max_band_minutes: float = Field(default=120.0, gt=0, le=600)
    point_margin_m: float = Field(default=5000.0, ge=0)
    max_queued_runs: int = Field(default=20, ge=1)
    max_upload_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, le=1024**3)
    max_geocode_rows: int = Field(default=5000, ge=1, le=1_000_000)
    geocode_ban: bool = False
    services_files: tuple[Path, ...] = ()
    cache_entries: int = Field(default=256, ge=1)
    cache_mb: int = Field(default=128, ge=4)
    anonymous_max_cost: float = Field(default=3600.0, ge=0, allow_inf_nan=False)
    anonymous_cost_rate: float = Field(default=200.0, ge=0, allow_inf_nan=False)
    anonymous_cost_burst: float = Field(default=3600.0, gt=0, allow_inf_nan=False)
    cluster: str | None = Field(
        default=None,
        description=(
            "Where the queued scenario runs compute: local:N or tcp://host:8786 (Dask); "
            "None: in the server process."
        ),
    )

    @field_validator("cluster")
    @classmethod
    def _cluster(cls, value: str | None) -> str | None:
        from coverage.cluster import parse_cluster
        from coverage.errors import ConfigError

        if value is None or not value.strip():
            return None
        try:
            parse_cluster(value)
        except ConfigError as exc:
            raise ValueError(str(exc).replace("--cluster", "cluster", 1)) from None
        return value.strip()

    @field_validator("token")
    @classmethod
    def _token_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        if value is not None and len(value.strip()) < 16:
            raise ValueError("le jeton de l'API doit compter 16 caractères au moins")
        return value.strip() if value is not None else None

    @field_validator("frame_ancestors")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        origins = []
        for item in value:
            origin = item.strip().rstrip("/")
            if origin in ("'self'", "self"):
                continue  # always allowed
            if origin != "*" and not _ORIGIN_RE.match(origin):
                raise ValueError(
                    f"« {item} » n'est pas une origine : écrire https://portail.exemple.fr, "
                    "https://*.exemple.fr (avec un port si besoin) ou * pour tout site"
                )
            origins.append(origin)
        return tuple(dict.fromkeys(origins))

    @model_validator(mode="after")
    def _burst_holds_a_request(self) -> ApiSettings:
        if self.anonymous_max_cost and self.anonymous_cost_burst < self.anonymous_max_cost:
            raise ValueError(
                f"anonymous_cost_burst ({self.anonymous_cost_burst:g}) doit valoir au moins "
                f"anonymous_max_cost ({self.anonymous_max_cost:g}) : sinon la plus grosse "
                "requête permise sans jeton ne pourrait jamais être servie"
            )
        return self

    @field_validator("assets_url")
    @classmethod
    def _assets_url(cls, value: str) -> str:
        if not value.startswith("/") or value == "/" or any(c in value for c in "?#{} "):
            raise ValueError("assets_url doit être un chemin d'URL comme /assets")
        return value.rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ApiSettings:
        """Read the ``COVERAGE_API_*`` variables; keyword arguments win over them.

        Lists (``TERRITORIES``, ``CORS_ORIGINS``) are comma-separated.

        Raises
        ------
        pydantic.ValidationError
            Naming the variable's field for a malformed value.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is None or raw == "":
                continue
            if name in _LIST_FIELDS:
                values[name] = tuple(part.strip() for part in raw.split(",") if part.strip())
            else:
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    # --- resolved locations -----------------------------------------------------------------

    @property
    def state_path(self) -> Path:
        """Folder of the database and results."""
        if self.state_dir is not None:
            return self.state_dir.expanduser()
        return default_data_root() / "api"

    @property
    def results_path(self) -> Path:
        """Folder of the run result directories (created at start-up)."""
        if self.results_dir is not None:
            return self.results_dir.expanduser()
        return self.state_path / "results"

    @property
    def database(self) -> str:
        """The SQLAlchemy database URL."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.state_path / 'runs.sqlite'}"

    @property
    def lists_path(self) -> Path:
        """Folder of the imported service lists (``<state>/services/<territory>/<name>.gpkg``)."""
        return self.state_path / "services"

    def cache_bytes(self, share: float) -> int:
        """Bytes of one response cache that holds ``share`` of ``cache_mb``."""
        return max(1024 * 1024, int(self.cache_mb * 1024 * 1024 * share))

    @property
    def writes_enabled(self) -> bool:
        """Whether a token is configured (write endpoints are disabled otherwise)."""
        return self.token is not None
