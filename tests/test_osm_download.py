"""``coverage.routing.osm_download``: osmnx downloads kept inside the engine's cache directory."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import shapely
from overpass_server import OverpassTestServer

from coverage.errors import ConfigError, OfflineError
from coverage.routing.network import network_from_polygon
from coverage.routing.osm_download import download_drive_graph, osmnx_settings

SET = (
    "cache_folder",
    "use_cache",
    "logs_folder",
    "log_file",
    "log_console",
    "data_folder",
    "imgs_folder",
    "overpass_url",
    "overpass_rate_limit",
    "requests_timeout",
    "doh_url_template",
)
# a small square of streets in Auch (lon, lat) and a road leaving it
NODES = {
    1: (0.5850, 43.6450),
    2: (0.5870, 43.6450),
    3: (0.5870, 43.6465),
    4: (0.5850, 43.6465),
    5: (0.5900, 43.6465),
}
WAYS = [
    {"id": 100, "nodes": [1, 2, 3], "tags": {"highway": "residential"}},
    {"id": 101, "nodes": [3, 4, 1], "tags": {"highway": "tertiary", "maxspeed": "50"}},
    {"id": 102, "nodes": [3, 5], "tags": {"highway": "secondary"}},
]


def osmnx_values() -> dict:
    import osmnx

    return {key: getattr(osmnx.settings, key) for key in SET}


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, the cache elsewhere."""
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setenv("COVERAGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COVERAGE_OVERPASS_RATE_LIMIT", "0")
    return here


def test_settings_point_under_the_cache_dir_and_are_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import osmnx
    from osmnx import _http as osmnx_http

    monkeypatch.setenv("COVERAGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COVERAGE_OVERPASS_URL", "http://127.0.0.1:9/api/")
    monkeypatch.setenv("COVERAGE_OVERPASS_RATE_LIMIT", "0")
    monkeypatch.delenv("COVERAGE_HTTP_TIMEOUT_S", raising=False)
    before = osmnx_values()
    getaddrinfo = socket.getaddrinfo
    with osmnx_settings() as module:
        assert module is osmnx
        cache = tmp_path / "cache" / "osmnx"
        assert Path(osmnx.settings.cache_folder) == cache
        for key in ("logs_folder", "data_folder", "imgs_folder"):
            assert Path(getattr(osmnx.settings, key)).is_relative_to(cache), key
        assert osmnx.settings.log_file is False and osmnx.settings.log_console is False
        assert osmnx.settings.use_cache is True
        assert osmnx.settings.overpass_url == "http://127.0.0.1:9/api"
        assert osmnx.settings.overpass_rate_limit is False
        assert osmnx.settings.requests_timeout == 180  # an int: it is the query's [timeout:N]
        assert osmnx.settings.doh_url_template is None
        osmnx_http._config_dns(osmnx.settings.overpass_url)  # osmnx pins the server's address
        assert socket.getaddrinfo is not getaddrinfo
    assert osmnx_values() == before
    assert socket.getaddrinfo is getaddrinfo

    # explicit values win, and an error inside the block restores everything too
    with (
        pytest.raises(RuntimeError),
        osmnx_settings(
            overpass_url="http://127.0.0.1:8/x", rate_limit=True, timeout_s=600.2, use_cache=False
        ),
    ):
        assert osmnx.settings.overpass_url == "http://127.0.0.1:8/x"
        assert osmnx.settings.overpass_rate_limit is True
        assert osmnx.settings.requests_timeout == 601 and osmnx.settings.use_cache is False
        raise RuntimeError("dans le bloc")
    assert osmnx_values() == before

    monkeypatch.setenv("COVERAGE_HTTP_TIMEOUT_S", "900")
    with osmnx_settings():
        assert osmnx.settings.requests_timeout == 900
    with pytest.raises(ConfigError, match="timeout_s"), osmnx_settings(timeout_s=0):
        pass
    monkeypatch.setenv("COVERAGE_OVERPASS_URL", "overpass")
    with pytest.raises(ConfigError, match=r"\$COVERAGE_OVERPASS_URL"), osmnx_settings():
        pass
    assert osmnx_values() == before


@pytest.mark.network
def test_unreachable_overpass_raises_one_line_and_writes_nothing_here(
    cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = osmnx_values()
    monkeypatch.setenv("COVERAGE_OVERPASS_URL", "http://127.0.0.1:9")
    with pytest.raises(OfflineError) as caught:
        network_from_polygon(shapely.box(0.585, 43.645, 0.587, 43.6465), buffer_m=100)
    message = str(caught.value)
    assert message.startswith("serveur Overpass d'OpenStreetMap injoignable (127.0.0.1:9)")
    assert "load_network" in message and "\n" not in message
    assert list(cwd.iterdir()) == []  # no ./cache, no ./logs
    assert osmnx_values() == before


@pytest.mark.network
def test_download_caches_under_the_cache_dir_only(cwd: Path, tmp_path: Path) -> None:
    import osmnx

    before = osmnx_values()
    area = shapely.box(0.584, 43.644, 0.588, 43.647)
    with OverpassTestServer(NODES, WAYS) as server:
        first = download_drive_graph(area, overpass_url=server.url)
        assert len(server.state.queries) == 1 and not first.from_cache
        assert first.overpass_url == server.url
        # simplified: the square 3-4-1-2-3 is one loop edge at the junction 3
        assert sorted(first.graph.nodes) == [3, 5]
        answers = list((tmp_path / "cache" / "osmnx").glob("*.json"))
        assert len(answers) == 1
        # the network built from the same query comes from that cache, still nothing here
        net = network_from_polygon(area, buffer_m=0, overpass_url=server.url)
        assert len(server.state.queries) == 1
        assert net.info.report["download"]["overpass_url"] == server.url
        again = download_drive_graph(area, overpass_url=server.url, graphml_path="g.graphml")
        assert again.from_cache and len(server.state.queries) == 1
        assert osmnx.load_graphml(cwd / "g.graphml").number_of_nodes() == 2
    assert [p.name for p in cwd.iterdir()] == ["g.graphml"]  # only the file asked for
    assert osmnx_values() == before
