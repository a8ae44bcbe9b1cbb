"""The ``ban`` backend against a local server answering in the address API's formats."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pandas as pd
import pytest
from ban_server import Address, BanTestServer

from coverage.errors import OfflineError
from coverage.geocode import AddressQuery, BanGeocoder, GeocoderChain, make_geocoder
from coverage.geocode.ban import RateLimiter, ban_base_url

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def addresses(shared_data: Path) -> list[Address]:
    """Real BANO rows of Rue d'Etigny (Auch) and Chemin d'Arques (L'Isle-Jourdain)."""
    table = pd.read_csv(shared_data / "gers" / "bano_adresses_gers_2015.csv.gz", dtype=str)
    rows = table[table["id"].str.startswith(("320131446L-", "321600089X-"))]
    return [
        Address(
            id=r.id,
            housenumber=r.numero,
            street=r.voie,
            postcode=r.code_post,
            citycode=r.id[:5],
            city=r.nom_comm,
            lon=float(r.lon),
            lat=float(r.lat),
        )
        for r in rows.itertuples()
    ]


@pytest.fixture
def server(addresses: list[Address]):
    with BanTestServer(addresses) as running:
        yield running


@pytest.fixture
def ban(server: BanTestServer, tmp_path: Path) -> BanGeocoder:
    geocoder = BanGeocoder(
        base_url=server.url, cache_dir=tmp_path / "ban", rate_limit_per_s=0, retries=2
    )
    yield geocoder
    geocoder.close()


def test_search_endpoint_and_filters(ban: BanGeocoder, server: BanTestServer) -> None:
    result = ban.geocode(AddressQuery(text="17 rue d'Etigny", insee_code="32013", postcode="32000"))
    assert (result.status, result.quality, result.backend) == ("matched", "housenumber", "ban")
    assert (result.lon, result.lat, result.insee_code) == (0.58254, 43.645607, "32013")
    assert result.label == "17 Rue d'Etigny 32000 Auch"
    # the request the API received: citycode wins over the postcode, one result, no autocomplete
    assert server.state.last_params == {
        "q": "17 rue d'Etigny", "limit": "1", "autocomplete": "0", "citycode": "32013",
    }
    by_city = ban.geocode(AddressQuery(text="25 chemin d'Arques", postcode="32600",
                                       city="L'Isle-Jourdain"))
    assert by_city.insee_code == "32160" and server.state.last_params["postcode"] == "32600"
    assert server.state.last_params["q"] == "25 chemin d'Arques 32600 L'Isle-Jourdain"


def test_not_found_short_and_refused(ban: BanGeocoder, server: BanTestServer) -> None:
    missing = ban.geocode(AddressQuery(text="zzzz qqqq", insee_code="32013"))
    assert missing.status == "rejected" and "introuvable" in missing.reason
    short = ban.geocode(AddressQuery(text="ab"))
    assert short.status == "rejected" and "trop courte" in short.reason
    assert ban.geocode(AddressQuery()).reason == "ligne vide"
    server.state.fail_with = [400]
    refused = ban.geocode(AddressQuery(text="17 rue d'Etigny Auch"))
    assert refused.status == "rejected" and "HTTP 400" in refused.reason


def test_cache_answers_without_requests(server: BanTestServer, tmp_path: Path) -> None:
    query = AddressQuery(text="17 rue d'Etigny", insee_code="32013")
    first = BanGeocoder(base_url=server.url, cache_dir=tmp_path / "c", rate_limit_per_s=0)
    hit = first.geocode(query)
    assert server.state.requests["/search/"] == 1
    second = BanGeocoder(base_url=server.url, cache_dir=tmp_path / "c", rate_limit_per_s=0)
    again = second.geocode(query)
    assert server.state.requests["/search/"] == 1 and second.cache_hits == 1
    assert (again.lon, again.lat, again.quality) == (hit.lon, hit.lat, hit.quality)
    # not-found answers are cached too; --no-cache sends the request again
    second.geocode(AddressQuery(text="zzzz qqqq", insee_code="32013"))
    second.geocode(AddressQuery(text="zzzz qqqq", insee_code="32013"))
    assert server.state.requests["/search/"] == 2
    uncached = BanGeocoder(base_url=server.url, cache_dir=tmp_path / "c", use_cache=False,
                           rate_limit_per_s=0)
    uncached.geocode(query)
    assert server.state.requests["/search/"] == 3


def test_failures_are_retried_and_never_cached(server: BanTestServer, tmp_path: Path) -> None:
    query = AddressQuery(text="17 rue d'Etigny", insee_code="32013")
    ban = BanGeocoder(base_url=server.url, cache_dir=tmp_path / "c", rate_limit_per_s=0,
                      retries=1)
    server.state.fail_with = [503, 503]
    with pytest.raises(OfflineError, match="HTTP 503"):
        ban.geocode(query)
    assert server.state.requests["/search/"] == 2  # one try + one retry
    assert not list((tmp_path / "c").rglob("*.json"))  # the failure left no cache entry
    server.state.fail_with = [429]
    server.state.retry_after = "0"
    result = ban.geocode(query)  # 429 then success
    assert result.status == "matched" and server.state.requests["/search/"] == 4


def test_csv_batch_endpoint(ban: BanGeocoder, server: BanTestServer) -> None:
    queries = [
        AddressQuery(text=f"{n} rue d'Etigny", insee_code="32013", row_id=str(n))
        for n in (1, 2, 3, 10, 11)
    ] + [
        AddressQuery(text="25 chemin d'Arques 32600 L'Isle-Jourdain", row_id="arques"),
        AddressQuery(text="zzzz qqqq wwww", insee_code="32013", row_id="nowhere"),
        AddressQuery(text="", row_id="empty"),
    ]
    seen: list[int] = []
    results = ban.geocode_many(queries, progress=seen.append)
    assert [r.row_id for r in results] == [q.row_id for q in queries]
    assert [r.status for r in results] == ["matched"] * 6 + ["rejected", "rejected"]
    assert (results[0].lon, results[0].lat) == (0.583065, 43.646451)  # number 1
    assert (results[5].lon, results[5].lat) == (1.083614, 43.600107)
    assert results[7].reason == "ligne vide"
    # two batches (rows with a citycode filter, rows without), no single searches
    assert server.state.requests["/search/csv/"] == 2
    assert server.state.requests["/search/"] == 0
    assert sum(seen) == len(queries)
    # the batch answers went to the cache: a second run sends nothing
    ban.geocode_many(queries)
    assert server.state.requests["/search/csv/"] == 2


def test_csv_batch_sends_the_filter_columns(ban: BanGeocoder, server: BanTestServer) -> None:
    queries = [AddressQuery(text=f"{n} rue d'Etigny", insee_code="32013") for n in range(1, 7)]
    ban.geocode_many(queries)
    assert server.state.last_form == {"columns": ["q"], "citycode": ["citycode"]}


def test_server_without_csv_endpoint_is_searched_row_by_row(
    ban: BanGeocoder, server: BanTestServer
) -> None:
    server.state.csv_enabled = False
    queries = [AddressQuery(text=f"{n} rue d'Etigny", insee_code="32013") for n in range(1, 7)]
    results = ban.geocode_many(queries)
    assert all(r.status == "matched" for r in results)
    assert server.state.requests["/search/"] == 6


def test_unreachable_server(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ban = BanGeocoder(base_url=f"http://127.0.0.1:{port}", cache_dir=tmp_path,
                      rate_limit_per_s=0, retries=0, timeout_s=2)
    with pytest.raises(OfflineError, match="injoignable"):
        ban.geocode(AddressQuery(text="17 rue d'Etigny Auch"))
    queries = [AddressQuery(text=f"{n} rue d'Etigny Auch", row_id=str(n)) for n in range(8)]
    results = ban.geocode_many(queries)  # the batch does not stop
    assert len(results) == 8 and all(r.status == "rejected" for r in results)
    assert all("injoignable" in r.reason for r in results)


def test_chain_falls_back_when_api_is_down(territory_gers, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    chain = make_geocoder(
        territory_gers,
        "ban,commune",
        ban_options={"base_url": f"http://127.0.0.1:{port}", "retries": 0,
                     "rate_limit_per_s": 0, "cache_dir": tmp_path},
    )
    assert isinstance(chain, GeocoderChain) and chain.names == ["ban", "commune"]
    result = chain.geocode(AddressQuery(text="17 rue d'Etigny 32000 Auch"))
    assert (result.status, result.quality, result.insee_code) == (
        "fallback", "municipality", "32013",
    )
    assert "ban : API Adresse injoignable" in result.reason


def test_reverse(ban: BanGeocoder, server: BanTestServer) -> None:
    assert ban.reverse(0.58254, 43.645607) == "32013"
    assert server.state.last_params["lon"] == "0.58254"
    assert ban.reverse(float("nan"), 43.6) == ""


def test_rate_limit_spaces_requests(server: BanTestServer, tmp_path: Path) -> None:
    ban = BanGeocoder(base_url=server.url, cache_dir=tmp_path, rate_limit_per_s=20,
                      use_csv=False)
    start = time.perf_counter()
    ban.geocode_many([AddressQuery(text=f"{n} rue d'Etigny Auch") for n in range(1, 7)])
    assert server.state.requests["/search/"] == 6
    assert time.perf_counter() - start >= 5 / 20  # 6 requests, 5 intervals of 50 ms
    limiter = RateLimiter(0)
    assert limiter.interval_s == 0.0


def test_base_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVERAGE_BAN_API_URL", "http://127.0.0.1:9/")
    assert ban_base_url() == "http://127.0.0.1:9"
    assert BanGeocoder().base_url == "http://127.0.0.1:9"
    assert ban_base_url("http://other") == "http://other"
    monkeypatch.delenv("COVERAGE_BAN_API_URL")
    assert ban_base_url() == "https://api-adresse.data.gouv.fr"


@pytest.fixture(scope="module")
def territory_gers(shared_data: Path):
    from coverage.layers import load_territory

    return load_territory("gers", data_dir=shared_data / "gers")
