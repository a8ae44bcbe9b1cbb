"""The cost of anonymous requests and the server's memory: budgets, 429s, bounded caches.

One server on the Gers with a small anonymous budget (so that a few requests
spend it) answers real isochrone and coverage requests from clients of
different addresses, with and without the token; memory a computation frees
goes back to the system.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx2")
    from starlette.testclient import TestClient

from api import memory
from api.app import create_app
from api.budget import COVERAGE_COST, CostBudget, isochrone_cost
from api.cache import CachedBody, ResponseCache
from api.errors import BudgetExceededError
from api.memory import release_memory
from api.settings import ApiSettings

TOKEN = "jeton-du-budget-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_COST, RATE, BURST = 1000.0, 300.0, 1500.0
AUCH = (0.5857, 43.6465)


def iso(lon: float, lat: float, bands: list[float], points: int = 1) -> dict[str, Any]:
    """An isochrone body of ``points`` points around (lon, lat)."""
    return {
        "points": [{"lon": lon + 0.01 * i, "lat": lat} for i in range(points)],
        "bands_minutes": bands,
    }


@pytest.fixture(scope="module")
def app(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COVERAGE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        app = create_app(
            ApiSettings(
                data_dir=shared_data,
                state_dir=tmp_path_factory.mktemp("api-budget-state"),
                token=TOKEN,
                default_run=False,
                anonymous_max_cost=MAX_COST,
                anonymous_cost_rate=RATE,
                anonymous_cost_burst=BURST,
                cache_mb=16,
            )
        )
        with TestClient(app):  # the lifespan loads the territory once
            yield app


@pytest.fixture
def clock(app: Any) -> list[float]:
    """The seconds of the app's budget, which the test moves (a fresh budget per test)."""
    now = [0.0]
    app.state.budget = CostBudget(max_cost=MAX_COST, rate=RATE, burst=BURST, clock=lambda: now[0])
    return now


def client(app: Any, address: str) -> TestClient:
    """A client from its own address (its own bucket)."""
    return TestClient(app, client=(address, 50000))


# --- the bucket --------------------------------------------------------------------------------


def test_a_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    now = [0.0]
    budget = CostBudget(max_cost=100, rate=10, burst=150, clock=lambda: now[0])
    budget.charge("a", 100)
    budget.charge("a", 50)
    with pytest.raises(BudgetExceededError) as refused:
        budget.charge("a", 30)
    assert refused.value.retry_after_s == 3  # 30 units at 10 a second
    now[0] = 2.9
    with pytest.raises(BudgetExceededError):
        budget.charge("a", 30)  # 29 units so far
    now[0] = 3.0
    budget.charge("a", 30)
    now[0] = 1000.0
    assert budget.available("a") == 150  # never more than the burst
    budget.charge("b", 100)  # another client has its own bucket


def test_a_request_over_the_largest_cost_never_passes() -> None:
    budget = CostBudget(max_cost=100, rate=10, burst=150)
    with pytest.raises(BudgetExceededError) as refused:
        budget.charge("a", 101, what="ces isochrones")
    assert refused.value.retry_after_s is None  # waiting would not help
    assert "101" in str(refused.value) and "100" in str(refused.value)
    assert budget.available("a") == 150  # nothing was spent


def test_buckets_are_kept_for_a_bounded_number_of_clients() -> None:
    budget = CostBudget(max_cost=100, rate=1, burst=100, max_clients=3)
    for i in range(10):
        budget.charge(f"10.0.0.{i}", 60)
    assert len(budget) == 3
    budget.charge("10.0.0.0", 60)  # forgotten, hence a full bucket again


def test_isochrone_cost_is_points_bands_and_the_longest_band() -> None:
    assert isochrone_cost(20, [20, 40, 60, 80, 100, 120]) == 14_400
    assert isochrone_cost(1, [10, 20, 30]) == 90


def test_the_burst_must_hold_the_largest_request() -> None:
    with pytest.raises(ValueError, match="anonymous_cost_burst"):
        ApiSettings(anonymous_max_cost=5000, anonymous_cost_burst=1000)


# --- on the API --------------------------------------------------------------------------------


def test_an_anonymous_request_over_the_largest_cost_gets_429(app: Any, clock) -> None:
    heavy = iso(*AUCH, [120], points=20)  # 2 400
    response = client(app, "10.1.0.1").post("/isochrones", json=heavy)
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["error"] == "budget" and "2400" in body["message"]
    assert "jeton" in body["message"]
    assert "retry-after" not in response.headers  # it never passes without the token
    assert response.headers["x-content-type-options"] == "nosniff"
    with_token = client(app, "10.1.0.1").post("/isochrones", json=heavy, headers=AUTH)
    assert with_token.status_code == 200
    assert len(with_token.json()["features"]) == 20


def test_an_anonymous_client_spends_its_bucket_then_waits(app: Any, clock) -> None:
    c = client(app, "10.1.0.2")
    first = iso(0.50, 43.60, [60, 120], points=4)  # 960
    assert c.post("/isochrones", json=first).status_code == 200
    assert c.post("/isochrones", json=first).status_code == 200  # cached: free
    second = iso(0.55, 43.70, [60, 120], points=4)  # 960 more, 540 left
    clock[0] += 1.0  # 300 more
    refused = c.post("/isochrones", json=second)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"] == "budget"
    assert refused.headers["retry-after"] == "1"  # (960 - 840) / 300 = 0.4 s, at least 1
    assert "réessayer dans 1 s" in refused.json()["message"]
    # another address is not slowed down, a token holder neither
    assert client(app, "10.1.0.3").post("/isochrones", json=second).status_code == 200
    third = iso(0.60, 43.75, [60, 120], points=4)
    assert c.post("/isochrones", json=third, headers=AUTH).status_code == 200
    clock[0] += 1.0
    assert c.post("/isochrones", json=iso(0.65, 43.55, [60, 120], points=4)).status_code == 200


def test_anonymous_coverage_computations_are_charged_cached_answers_are_not(
    app: Any, clock
) -> None:
    c = client(app, "10.1.0.4")
    url = "/territories/gers/coverage"
    statuses = [
        c.get(url, params={"kind": "tiers_lieu", "threshold": threshold}).status_code
        for threshold in (11, 12, 13)  # each a new computation
    ]
    assert statuses == [200, 200, 429]  # 2 x 600 spent, 300 left
    assert COVERAGE_COST == 600
    for _ in range(5):  # the same answer, or the same access as GeoJSON: computed already
        assert c.get(url, params={"kind": "tiers_lieu", "threshold": 11}).status_code == 200
        geojson = {"kind": "tiers_lieu", "threshold": 11, "format": "geojson"}
        assert c.get(url, params=geojson).status_code == 200
    with_token = c.get(url, params={"kind": "tiers_lieu", "threshold": 14}, headers=AUTH)
    assert with_token.status_code == 200
    refused = c.get(url, params={"kind": "mds", "threshold": 15})  # no such site: 422, free
    assert refused.status_code == 422 and refused.json()["field"] == "kind"


def test_a_wrong_token_is_anonymous(app: Any, clock) -> None:
    heavy = iso(0.40, 43.50, [120], points=20)  # 2 400, not computed yet
    wrong = {"Authorization": "Bearer pas-le-bon-jeton-0123456789"}
    response = client(app, "10.1.0.5").post("/isochrones", json=heavy, headers=wrong)
    assert response.status_code == 429


def test_the_schema_says_which_answers_may_be_429(app: Any) -> None:
    paths = app.openapi()["paths"]
    assert "429" in paths["/isochrones"]["post"]["responses"]
    assert "429" in paths["/territories/{territory}/coverage"]["get"]["responses"]


# --- bounded memory ----------------------------------------------------------------------------


def test_the_response_caches_share_cache_mb(app: Any) -> None:
    state = app.state.core
    caches = [state.maps_cache, state.results_cache, *(t.cache for t in state.territories.values())]
    assert sum(c.max_bytes for c in caches) <= 16 * 1024 * 1024
    assert all(c.max_entries >= 8 for c in caches)


def test_a_cache_stays_within_its_bytes() -> None:
    cache = ResponseCache(max_entries=100, max_bytes=10_000)
    for i in range(50):
        cache.put(i, CachedBody.build(bytes([i % 256]) * 900, "application/json"))
    assert cache.bytes <= 10_000 and len(cache) == 11
    assert cache.get(49) is not None and cache.get(0) is None


def test_the_territory_summary_is_cached(app: Any) -> None:
    c = client(app, "10.1.0.6")
    first = c.get("/territories/gers")
    assert first.status_code == 200 and first.json()["communes"] == 458
    again = c.get("/territories/gers", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    t = app.state.core.territory("gers")
    assert t.cache.get(("summary", None)) is not None


def test_access_results_are_bounded_in_bytes(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.routes import coverage

    t = app.state.core.territory("gers")
    c = client(app, "10.1.0.7")
    params = {"kind": "france_services", "threshold": 40}
    assert c.get("/territories/gers/coverage", params=params, headers=AUTH).status_code == 200
    one = t.access_results[(("france_services",), ("open",), True, 40.0, coverage.ALL_INHABITANTS)]
    # other thresholds share its cells' times and services: each adds its commune table
    own = int(one.communes.memory_usage(deep=True).sum())
    budget = coverage.access_bytes(one) + own // 2
    monkeypatch.setattr(coverage, "ACCESS_CACHE_BYTES", budget)
    for threshold in (41, 42, 43):
        response = c.get(
            "/territories/gers/coverage",
            params={"kind": "france_services", "threshold": threshold},
            headers=AUTH,
        )
        assert response.status_code == 200
        assert coverage.results_bytes(t.access_results.values()) <= budget
    assert len(t.access_results) == 1
    assert next(reversed(t.access_results))[3] == 43.0


def test_another_threshold_counts_the_cached_times_again(app: Any) -> None:
    """Same sites, new threshold: the times are shared, the figures are a new computation's."""
    from api.routes import coverage
    from coverage.access import service_access

    t = app.state.core.territory("gers")
    c = client(app, "10.1.0.8")
    key = (("france_services",), ("open",), True)
    for threshold in (25.0, 26.5):
        params = {"kind": "france_services", "threshold": threshold}
        assert c.get("/territories/gers/coverage", params=params, headers=AUTH).status_code == 200
    first = t.access_results[(*key, 25.0, coverage.ALL_INHABITANTS)]
    second = t.access_results[(*key, 26.5, coverage.ALL_INHABITANTS)]
    assert second.cell_seconds is first.cell_seconds
    assert coverage.results_bytes([first, second]) < coverage.access_bytes(first) * 2
    fresh = service_access(
        t.resources.context,
        first.services,
        name="coverage",
        label=first.label,
        thresholds_minutes=[26.5],
    )
    assert second.communes.equals(fresh.communes)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_memory_freed_by_a_computation_goes_back_to_the_system() -> None:
    """What a thread frees between what it keeps stays resident until handed back."""
    if memory._LIBC is None:
        pytest.skip("not glibc: nothing to hand back")
    kept: list[bytes] = []

    def computation() -> None:  # 240 MB allocated, one block in 16 kept
        blocks = [bytes(8000) + bytes([i % 256]) for i in range(30_000)]
        kept.extend(blocks[::16])

    worker = threading.Thread(target=computation)
    worker.start()
    worker.join()
    before = _rss_mb()
    assert release_memory(force=True)
    assert before - _rss_mb() > 100
    assert not release_memory()  # just done: not again within RELEASE_EVERY_S
    assert len(kept) == 1875


def test_the_environment_decides_the_arenas_when_it_says() -> None:
    """``MALLOC_ARENA_MAX`` set: the server leaves the cap to glibc's own reading of it."""
    import subprocess
    import sys

    from coverage._memory import glibc

    probe = "import api.memory as m; print(m.ARENAS_CAPPED)"
    for value, capped in ((None, glibc() is not None), ("4", False)):
        environ = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
        if value is not None:
            environ["MALLOC_ARENA_MAX"] = value
        out = subprocess.run(
            [sys.executable, "-c", probe], env=environ, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == str(capped), out.stderr
