"""schemathesis against the API's OpenAPI schema: generated requests never get a server error.

Every operation is called with requests generated from its schema, valid and
invalid, with the write token, on a real server state (the Gers). Responses
must not be 5xx and must match the documented status codes, content types and
schemas (schemathesis' default checks). Examples per operation are kept few
so that the suite stays fast.

Schema-valid requests may still be refused for what only the loaded data
knows (a service kind the catalogue lacks, a point outside the Gers, a run
that does not exist): 400, 404, 409 and 422 are accepted answers to
generated valid data, never a 5xx.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx2")
    import schemathesis
    from schemathesis.generation.modes import GenerationMode
    from schemathesis.python import asgi

from api.app import create_app
from api.settings import ApiSettings

TOKEN = "jeton-de-schemathesis-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_EXAMPLES = int(os.environ.get("API_SCHEMA_EXAMPLES", "12"))

# the operations, from the schema of an app that is built but not started (cheap, no data)
_PATHS = create_app(ApiSettings(token=TOKEN)).openapi()["paths"]
OPERATIONS = [(method.upper(), path) for path, ops in _PATHS.items() for method in ops]
# invalid requests are the slow half (about 25 s): they run in the slow suite, while
# test_api.py checks every endpoint's refusals one by one and valid requests run here
CASES = [
    pytest.param(
        method, path, mode, marks=[pytest.mark.slow] if mode is GenerationMode.NEGATIVE else []
    )
    for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    # an operation without parameters has no invalid request to generate
    if mode is GenerationMode.POSITIVE
    or _PATHS[path][method.lower()].get("parameters")
    or _PATHS[path][method.lower()].get("requestBody")
]
CONFIG = {
    "checks": {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "3xx", "400", "401", "403", "404", "409", "422", "429"]
        }
    }
}


@pytest.fixture(scope="module")
def api_schema(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The schema of a server loaded on the Gers (few runs may wait)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COVERAGE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        app = create_app(
            ApiSettings(
                data_dir=shared_data,
                state_dir=tmp_path_factory.mktemp("api-schema-state"),
                token=TOKEN,
                default_run=False,
                max_queued_runs=2,
            )
        )
        schema = schemathesis.openapi.from_asgi(  # starts the server
            "/openapi.json", app, config=schemathesis.config.SchemathesisConfig.from_dict(CONFIG)
        )
        try:
            yield schema
        finally:
            asgi.shutdown_lifespans()


def test_every_operation_is_exercised(api_schema: Any) -> None:
    found = {
        (method.upper(), path)
        for path, ops in api_schema.raw_schema["paths"].items()
        for method in ops
    }
    assert found == set(OPERATIONS) and len(OPERATIONS) >= 14


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_no_server_error(api_schema: Any, method: str, path: str, mode: GenerationMode) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        case.call_and_validate(headers=AUTH)

    check()
