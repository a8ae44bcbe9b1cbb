"""schemathesis against the API's OpenAPI schema, every check on: the schema is the contract.

schemathesis' engine (what ``st run --checks all --phases examples,coverage,fuzzing``
runs; its pytest loader does not work with pytest 9) calls every operation
with requests generated from its schema — the schema's examples, the
boundary and type cases of the coverage phase (each limit just inside and
just outside, wrong types, missing fields, methods the path does not have)
and random valid and invalid requests — on a real server state (the Gers,
its default scenario run once), with the write token and without it. All of
schemathesis' checks run, among them:

- ST201 (negative data rejection): a request the schema refuses is refused;
- ST202 (positive data acceptance): a request the schema accepts is not refused
  for its shape; a few refusals only the loaded data can decide (a canton the
  Gers lacks, a point outside it, a list not imported) are allowed per
  operation in :data:`DATA_REFUSALS`, and :func:`refused_only_for_data` checks
  that such a refusal is a domain error naming one of those fields, never a
  request-validation error;
- ST205 (``Allow`` of ``OPTIONS``) and the 405 answers of undeclared methods;
- response status, content type, headers and body schema conformance;

and :func:`no_server_path` checks that no body, error or not, names a folder
of the server (data, state, results, caches, the code). Posted jobs are
answered but not run (the worker is stopped once the default run is done).

``pytest -m slow`` runs a bounded pass (:data:`MAX_EXAMPLES` random requests
per operation and mode besides the coverage phase's cases, the pass without
the token on the operations it changes; about a minute, so not in the default
suite) and a larger one (:data:`SLOW_EXAMPLES`, ``API_SCHEMA_SLOW_EXAMPLES``).
The tests after them check the same contract one case at a time, in the
default suite.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx2")
    import schemathesis

    # imported at collection, before any test: pytest rewrites schemathesis' modules
    # (a plugin) with ast.parse, which CPython 3.11.7 can fail on ("AST constructor
    # recursion depth mismatch") when a test earlier in the run left a deep stack
    import schemathesis.generation.jsonschema.builder
    from schemathesis.config import HealthCheck
    from schemathesis.python import asgi
    from starlette.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from tests.conftest import REPO

TOKEN = "jeton-de-schemathesis-0123456789"
AUCH_BANDS = {"bands_minutes": [10, 20]}
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_EXAMPLES = int(os.environ.get("API_SCHEMA_EXAMPLES", "6"))
SLOW_EXAMPLES = int(os.environ.get("API_SCHEMA_SLOW_EXAMPLES", "60"))

ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429"]
"""What schema-valid data may get anywhere: success, auth, unknown ids, not ready, budget."""
ANY_FIELD = ".*"
DATA_REFUSALS: dict[str, dict[int, str]] = {
    # a run's analyses are known once it is done
    "GET /maps/coverage": {422: r"analysis"},
    "GET /portraits/{epci}": {422: r"analysis"},
    # canton codes and EPCI SIREN of the territory; a run's analyses
    "GET /scenarios/{run_id}/communes": {422: r"analysis|canton|epci"},
    "GET /territories/{territory}/communes": {422: r"analysis|canton|epci"},
    # service kinds of the catalogue, and whether any site has the statuses asked; the
    # publics the territory describes ([layers.publics])
    "GET /territories/{territory}/coverage": {422: r"kind|public"},
    "GET /territories/{territory}/services": {422: r"kind"},
    # a point outside the territory; territories served; bands in increasing order
    "POST /isochrones": {400: r"points\[\d+\]", 422: r"territory|bands_minutes"},
    # jobs checked against the catalogue, the communes and the imported lists
    "POST /scenarios": {422: ANY_FIELD},
    "POST /placements": {422: ANY_FIELD},
    "POST /itineraries": {422: ANY_FIELD},
    "GET /scenarios/{run_id}/compare/{other_id}": {422: ANY_FIELD},
    # the uploaded file's content, the geocoders this server allows, forced columns
    "POST /geocode": {422: ANY_FIELD},
    "POST /services/{territory}/lists/{name}": {422: ANY_FIELD},
}
"""Refusals of schema-valid requests that only the loaded data can decide: status -> fields."""


SLOW_COVERAGE = ("POST /geocode",)
"""Operations whose coverage phase runs in the slow pass only: each geocoding request
builds the local geocoder's index (about 0.5 s), and the form's many optional fields
make some 45 coverage cases; the random requests of the default pass still reach it."""
TOKEN_SENSITIVE = r"^(POST /.*|GET /territories/\{territory\}/coverage)$"
"""Operations whose answer depends on the token: the writes, and the reads charged to the
anonymous budget; the pass without the token runs these."""


def schemathesis_config(max_examples: int, *, slow: bool) -> dict[str, Any]:
    """All checks; ST202's accepted statuses widened only where :data:`DATA_REFUSALS` says."""
    operations: list[dict[str, Any]] = [
        {
            "include-name": name,
            "checks": {
                "positive_data_acceptance": {
                    "expected-statuses": ACCEPTED + [str(code) for code in refusals]
                }
            },
        }
        for name, refusals in DATA_REFUSALS.items()
    ]
    if not slow:
        operations += [
            {"include-name": name, "phases": {"coverage": {"enabled": False}}}
            for name in SLOW_COVERAGE
        ]
    return {
        "cache": {"enabled": False},  # no .schemathesis/ folder, no memory between runs
        "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}},
        "generation": {"max-examples": max_examples},
        "operations": operations,
    }


FORBIDDEN_FOLDERS: list[str] = []
"""Absolute folders of the server under test, which no body may name (set by the fixture)."""


@schemathesis.check
def refused_only_for_data(ctx: Any, response: Any, case: Any) -> bool | None:
    """A schema-valid request refused with 400/422 names a data-dependent field, never its shape."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    if response.status_code not in (400, 422):
        return None
    body = response.json()
    label = f"{case.method.upper()} {case.path}"
    if body.get("error") == "validation":
        raise AssertionError(f"a request the schema accepts failed validation: {body['message']}")
    fields = DATA_REFUSALS.get(label, {}).get(response.status_code)
    if fields is None or not re.fullmatch(fields, str(body.get("field", ""))):
        raise AssertionError(
            f"refused {response.status_code} for '{body.get('field')}', which the schema could "
            f"say ({fields or 'no data-dependent refusal here'}): {body.get('message')}"
        )
    return None


@schemathesis.check
def no_server_path(ctx: Any, response: Any, case: Any) -> bool | None:
    """No body, error or not, names a folder of the server."""
    text = response.content.decode("utf-8", "replace")
    leaked = [folder for folder in FORBIDDEN_FOLDERS if folder in text]
    if leaked:
        raise AssertionError(f"the body names a server folder: {leaked[0]}")
    return None


def server_folders(state_dir: Path, data_dir: Path, cache_dir: Path) -> list[str]:
    """Absolute folders of the server that no body may name."""
    folders = {state_dir, data_dir, REPO, cache_dir}
    names = {str(p) for p in folders} | {str(p.resolve()) for p in folders}
    return sorted(names, key=len, reverse=True)


def run_schemathesis(
    app: Any, *, headers: dict[str, str], max_examples: int, slow: bool = False
) -> list[str]:
    """Every check, in every phase but the stateful one, against the app; one line per failure.

    Without the token only :data:`TOKEN_SENSITIVE` operations run: the others answer the
    same to everyone, and the pass with the token covers them.
    """
    from schemathesis.engine import Status, from_schema
    from schemathesis.engine.events import FatalError, NonFatalError, ScenarioFinished

    data = schemathesis_config(max_examples, slow=slow)
    data["headers"] = headers
    config = schemathesis.config.SchemathesisConfig.from_dict(data)
    config.projects.override.phases.update(phases=["examples", "coverage", "fuzzing"])
    config.projects.override.checks.update(included_check_names=["all"])
    config.update(seed=15, suppress_health_check=list(HealthCheck), max_failures=None)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    if not headers:
        schema = schema.include(name_regex=TOKEN_SENSITIVE)
    failures: list[str] = []
    cases = 0
    for event in from_schema(schema).execute():
        if isinstance(event, FatalError):
            raise event.exception
        if isinstance(event, NonFatalError):
            failures.append(f"{event.label}: error: {event.info.message}")
        if isinstance(event, ScenarioFinished):
            cases += len(event.recorder.cases)
            for checks in event.recorder.checks.values():
                for node in checks:
                    if node.status == Status.FAILURE and node.failure_info is not None:
                        failure = node.failure_info.failure
                        message = " ".join(failure.message.split())[:300]
                        curl = node.failure_info.code_sample.replace("\n", " ")[-400:]
                        failures.append(
                            f"{event.recorder.label}: {failure.code} {failure.title}: {message}"
                            f" [{curl}]"
                        )
    assert cases > (1000 if headers else 300), f"only {cases} requests were generated"
    return sorted(set(failures))


@pytest.fixture(scope="module")
def app(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A server loaded on the Gers, its default run done (few jobs may wait)."""
    state_dir = tmp_path_factory.mktemp("api-schema-state")
    cache_dir = tmp_path_factory.getbasetemp() / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COVERAGE_CACHE_DIR", str(cache_dir))
        app = create_app(
            ApiSettings(
                data_dir=shared_data,
                state_dir=state_dir,
                token=TOKEN,
                default_run=True,
                max_queued_runs=2,
            )
        )
        schemathesis.openapi.from_asgi("/openapi.json", app)  # starts it, once for the module
        assert app.state.core.worker.wait_idle(180), "the default run did not finish"
        # posted jobs are answered (202, then 429 once MAX_QUEUED_RUNS wait) but not run:
        # their runs would only compete for the 2 cores (the worker has tests of its own)
        app.state.core.worker.stop()
        FORBIDDEN_FOLDERS[:] = server_folders(state_dir, shared_data, cache_dir)
        try:
            yield app
        finally:
            asgi.shutdown_lifespans()


@pytest.mark.slow  # about 30 s each: the fuzzing runs with the slow suite
@pytest.mark.parametrize("headers", [AUTH, {}], ids=["with-token", "without-token"])
def test_the_server_keeps_its_schema(app: Any, headers: dict[str, str]) -> None:
    failures = run_schemathesis(app, headers=headers, max_examples=MAX_EXAMPLES)
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)


@pytest.mark.slow
@pytest.mark.parametrize("headers", [AUTH, {}], ids=["with-token", "without-token"])
def test_the_server_keeps_its_schema_longer(app: Any, headers: dict[str, str]) -> None:
    failures = run_schemathesis(app, headers=headers, max_examples=SLOW_EXAMPLES, slow=True)
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)


def test_every_operation_is_in_the_schema(app: Any) -> None:
    paths = app.openapi()["paths"]
    operations = {f"{method.upper()} {path}" for path, ops in paths.items() for method in ops}
    assert len(operations) >= 27
    assert set(DATA_REFUSALS) <= operations  # no stale entry


def test_the_schema_shows_this_servers_isochrone_limits(app: Any) -> None:
    body = app.openapi()["components"]["schemas"]["IsochroneRequest"]["properties"]
    assert body["points"]["maxItems"] == 20
    assert body["bands_minutes"]["maxItems"] == 6
    assert body["bands_minutes"]["items"]["maximum"] == 120


# --- the contract, one case at a time ------------------------------------------------------------


def test_coordinates_are_numbers_never_coerced(app: Any) -> None:
    client = TestClient(app)
    for lon in ("0.5857", False, None, [0.5857]):
        response = client.post("/isochrones", json={"points": [{"lon": lon, "lat": 43.6465}]})
        assert response.status_code == 422, (lon, response.text)
        assert response.json()["detail"][0]["field"] == "points[0].lon"
    body = {"points": [{"lon": 1, "lat": 43.75}], **AUCH_BANDS}
    whole = client.post("/isochrones", json=body, headers=AUTH)
    assert whole.status_code == 200  # an integer is a number


def test_booleans_and_integers_are_json_ones(app: Any) -> None:
    client = TestClient(app)
    scenario = {
        "scenario": {"name": "x", "territory": "gers"},
        "analyses": [{"kinds": ["tiers_lieu"]}],
        "outputs": {"map": 0},
    }
    response = client.post("/scenarios", json=scenario, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "outputs.map"
    placement = {"kind": "tiers_lieu", "sites": True, "solver": "greedy"}
    response = client.post("/placements", json=placement, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "sites"


def test_unknown_health_kinds_are_refused_when_posted(app: Any) -> None:
    scenario = {
        "scenario": {"name": "sante", "territory": "gers"},
        "analyses": [{"kinds": ["tiers_lieu"]}],
        "health": {"kinds": ["health_centre", "dentiste"]},
        "outputs": {"isochrones": False, "cells": False, "catchments": False, "map": False},
    }
    response = TestClient(app).post("/scenarios", json=scenario, headers=AUTH)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["field"] == "health.kinds[1]" and "'dentiste'" in body["message"]


def test_options_and_405_list_every_method_of_the_path(app: Any) -> None:
    client = TestClient(app)
    options = client.options("/scenarios")
    assert options.status_code == 204
    assert options.headers["allow"] == "GET, HEAD, POST, OPTIONS"
    assert options.headers["x-content-type-options"] == "nosniff"
    assert client.options("/geocode").headers["allow"] == "POST, OPTIONS"
    put = client.put("/scenarios", json={})
    assert put.status_code == 405 and put.headers["allow"] == "GET, HEAD, POST, OPTIONS"
    assert put.json()["error"] == "method_not_allowed"
    assert client.options("/nulle-part").status_code == 404


def test_a_cors_preflight_is_answered_by_cors_when_configured(shared_data: Path) -> None:
    app = create_app(ApiSettings(data_dir=shared_data, cors_origins=("https://portail.example",)))
    client = TestClient(app)  # no lifespan: nothing to load for these answers
    preflight = client.options(
        "/isochrones",
        headers={"Origin": "https://portail.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://portail.example"
    plain = client.options("/isochrones", headers={"Origin": "https://portail.example"})
    assert plain.status_code == 204 and plain.headers["allow"] == "POST, OPTIONS"
    elsewhere = client.options(
        "/isochrones",
        headers={"Origin": "https://ailleurs.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in elsewhere.headers


def test_no_server_path_in_answers_about_the_network(app: Any) -> None:
    client = TestClient(app, headers=AUTH)  # the budget is not the question here
    body = {"points": [{"lon": 0.5857, "lat": 43.6465}], **AUCH_BANDS}
    texts = [
        client.post("/isochrones", json=body).text,
        client.get("/territories/gers/coverage", params={"kind": "tiers_lieu"}).text,
        client.get("/territories/gers").text,
    ]
    for text in texts:
        leaked = [folder for folder in FORBIDDEN_FOLDERS if folder in text]
        assert not leaked, leaked
    source = client.post("/isochrones", json=body).json()["metadata"]["network"]["source"]
    assert source == "roads_gers_travelmapping.osm"


def test_an_unreadable_result_folder_is_a_server_fault_without_its_path(app: Any) -> None:
    store = app.state.core.store
    record = store.create(
        territory="gers", scenario_name="abime", scenario_label="abîmé", body={}, origin="api"
    )
    store.mark_running(record.id)
    store.mark_done(record.id, result_dir=f"run-{record.id}", headline=None)
    response = TestClient(app).get(f"/scenarios/{record.id}/summary")
    assert response.status_code == 500, response.text
    body = response.json()
    assert body["error"] == "internal" and record.id in body["message"]
    assert "/" not in body["message"]
