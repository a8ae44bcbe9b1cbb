"""``coverage.settings``: the only reader of the environment, typed and checked variables."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from coverage import settings
from coverage._http import Downloader
from coverage.errors import ConfigError
from coverage.geocode.ban import BanGeocoder, ban_base_url
from coverage.jobs.fetch import FetchSources

REPO = Path(__file__).resolve().parents[1]
ENGINE = REPO / "coverage"
_READS_ENV = re.compile(
    r"\bos\.environ\b|\bgetenv\b|\bputenv\b|\bfrom os import\b[^\n]*\benviron\b"
)


def test_no_engine_module_reads_the_environment_but_settings() -> None:
    offenders = []
    for path in sorted(ENGINE.rglob("*")):
        if path.suffix not in (".py", ".c", ".h") or path == ENGINE / "settings.py":
            continue
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if _READS_ENV.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "read the environment through coverage.settings:\n" + "\n".join(offenders)


def test_no_engine_module_names_a_variable_settings_does_not_own() -> None:
    owned = {v.name for v in settings.VARIABLES}
    for path in sorted(ENGINE.rglob("*.py")):
        if path == ENGINE / "settings.py":
            continue
        literals = re.findall(r"[\"'](COVERAGE_[A-Z0-9_]+)[\"']", path.read_text("utf-8"))
        assert not literals, f"{path.relative_to(REPO)} spells {literals}: use coverage.settings"
    constants = {
        name: value
        for name, value in vars(settings).items()
        if name.endswith("_ENV") and isinstance(value, str)
    }
    assert set(constants.values()) == owned  # every constant is a documented variable...
    assert len(constants) == len(owned)  # ...with one Python name each


def test_docs_table_lists_every_variable_with_its_meaning_and_default() -> None:
    text = (REPO / "docs" / "settings.md").read_text("utf-8")
    for variable in settings.VARIABLES:
        row = f"| `{variable.name}` | {variable.meaning} | {variable.default} |"
        assert row in text, row
    from api.settings import ENV_PREFIX, ApiSettings

    for field in ApiSettings.model_fields:
        assert f"| `{ENV_PREFIX}{field.upper()}` |" in text, field


def test_the_two_ban_variables_are_distinct(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.BAN_DOWNLOAD_URL_ENV == "COVERAGE_BAN_URL"  # values users already set
    assert settings.BAN_SEARCH_URL_ENV == "COVERAGE_BAN_API_URL"
    monkeypatch.delenv("COVERAGE_BAN_API_URL", raising=False)
    monkeypatch.setenv("COVERAGE_BAN_URL", "http://127.0.0.1:9/ban/")
    assert FetchSources.from_env().ban_url == "http://127.0.0.1:9/ban"
    assert ban_base_url() == "https://api-adresse.data.gouv.fr"  # the geocoder is not moved
    monkeypatch.delenv("COVERAGE_BAN_URL")
    monkeypatch.setenv("COVERAGE_BAN_API_URL", "http://127.0.0.1:9/adresse/")
    assert ban_base_url() == BanGeocoder().base_url == "http://127.0.0.1:9/adresse"
    assert FetchSources.from_env().ban_url == settings.DEFAULT_BAN_DOWNLOAD_URL
    monkeypatch.setenv("COVERAGE_BAN_API_URL", "api-adresse.data.gouv.fr")
    with pytest.raises(ConfigError, match=r"^\$COVERAGE_BAN_API_URL doit être une adresse http"):
        ban_base_url()
    assert ban_base_url("http://autre") == "http://autre"  # an explicit address wins
    monkeypatch.setenv("COVERAGE_BAN_URL", "ftp://exemple.fr/ban")
    with pytest.raises(ConfigError, match=r"\$COVERAGE_BAN_URL doit être une adresse"):
        FetchSources.from_env()


@pytest.mark.parametrize(
    ("name", "value", "read", "expected"),
    [
        ("COVERAGE_HTTP_TIMEOUT_S", " 2.5 ", settings.http_timeout_s, 2.5),
        ("COVERAGE_HTTP_RETRIES", "0", settings.http_retries, 0),
        ("COVERAGE_HTTP_BACKOFF_S", "0", settings.http_backoff_s, 0.0),
        ("COVERAGE_THREADS", " 3 ", settings.routing_threads, 3),
        ("COVERAGE_KERNELS", "SciPy", settings.kernel_backend_choice, "scipy"),
        ("COVERAGE_OVERPASS_RATE_LIMIT", "non", settings.overpass_rate_limit, False),
        ("COVERAGE_OVERPASS_RATE_LIMIT", "Oui", settings.overpass_rate_limit, True),
        ("COVERAGE_OVERPASS_URL", "http://127.0.0.1:9/api/", settings.overpass_url, None),
        ("COVERAGE_COG_YEAR", "2024", settings.cog_year, "2024"),
        (
            "COVERAGE_FRANCE_SERVICES_DATASET",
            "/abc123/",
            settings.france_services_dataset,
            "abc123",
        ),
        ("COVERAGE_CACHE_DIR", "~/cache-x", settings.cache_root, Path("~/cache-x").expanduser()),
    ],
)
def test_values_are_read_typed(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, read: Callable, expected: object
) -> None:
    monkeypatch.setenv(name, value)
    assert read() == (expected if expected is not None else value.strip().rstrip("/"))


@pytest.mark.parametrize(
    ("name", "value", "read"),
    [
        ("COVERAGE_HTTP_TIMEOUT_S", "0", settings.http_timeout_s),
        ("COVERAGE_HTTP_TIMEOUT_S", "soixante", settings.http_timeout_s),
        ("COVERAGE_HTTP_TIMEOUT_S", "inf", settings.http_timeout_s),
        ("COVERAGE_HTTP_RETRIES", "2.5", settings.http_retries),
        ("COVERAGE_HTTP_RETRIES", "-1", settings.http_retries),
        ("COVERAGE_HTTP_BACKOFF_S", "nan", settings.http_backoff_s),
        ("COVERAGE_THREADS", "0", settings.routing_threads),
        ("COVERAGE_KERNELS", "GPU", settings.kernel_backend_choice),
        ("COVERAGE_OVERPASS_RATE_LIMIT", "peut-être", settings.overpass_rate_limit),
        ("COVERAGE_GEO_API_URL", "geo.api.gouv.fr", settings.geo_api_url),
        ("COVERAGE_DATAGOUV_API_URL", "http:// espace", settings.datagouv_api_url),
        ("COVERAGE_COG_YEAR", "26", settings.cog_year),
        ("COVERAGE_COG_URL", "dossier", settings.cog_url),
        ("COVERAGE_FRANCE_SERVICES_DATASET", "deux mots", settings.france_services_dataset),
    ],
)
def test_bad_values_name_the_variable_in_french(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, read: Callable
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=rf"^\${name} doit ") as caught:
        read()
    assert repr(value.strip()) in str(caught.value) or repr(value.strip().lower()) in str(
        caught.value
    )


def test_unset_variables_give_the_documented_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in settings.VARIABLES:
        monkeypatch.delenv(variable.name, raising=False)
    assert settings.http_timeout_s() == 60.0 and settings.http_retries() == 3
    assert settings.http_backoff_s() == 1.0
    assert settings.kernel_backend_choice() == "auto" and settings.routing_threads() >= 1
    assert settings.overpass_url() == "https://overpass-api.de/api"
    assert settings.overpass_rate_limit() is True
    assert settings.cog_year() == "2026" and settings.cog_url() is None
    assert settings.debug() is False
    sources = FetchSources.from_env()
    assert sources == FetchSources()  # the dataclass defaults are the settings' defaults
    assert sources.cog_url == "https://www.insee.fr/fr/statistiques/fichier/8740222"
    by_name = {v.name: v.default for v in settings.VARIABLES}
    assert by_name["COVERAGE_GEO_API_URL"] == sources.geo_api_url
    assert by_name["COVERAGE_BAN_URL"] == sources.ban_url
    assert by_name["COVERAGE_HTTP_RETRIES"] == "3"


def test_downloader_takes_its_numbers_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVERAGE_HTTP_TIMEOUT_S", "7")
    monkeypatch.setenv("COVERAGE_HTTP_RETRIES", "5")
    monkeypatch.setenv("COVERAGE_HTTP_BACKOFF_S", "0.25")
    downloader = Downloader.from_env()
    assert (downloader.timeout_s, downloader.retries, downloader.backoff_s) == (7.0, 5, 0.25)
    monkeypatch.setenv("COVERAGE_HTTP_RETRIES", "trois")
    with pytest.raises(ConfigError, match=r"COVERAGE_HTTP_RETRIES doit être un nombre entier"):
        Downloader.from_env()


@pytest.mark.parametrize(
    ("value", "on"),
    [("", False), ("0", False), ("non", False), ("1", True), ("oui", True), ("x", True)],
)
def test_debug_switch_never_raises(monkeypatch: pytest.MonkeyPatch, value: str, on: bool) -> None:
    monkeypatch.setenv("COVERAGE_DEBUG", value)
    assert settings.debug() is on
