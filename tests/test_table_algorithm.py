"""The table algorithm chosen by size (coverage.routing.matrix, TurnGraph.hierarchy_for).

A hierarchy in memory or on disk is always used; without one a table runs on the
contracted core until the graph's searches reach what building one costs
(HIERARCHY_BREAK_EVEN_SEARCHES), then the hierarchy is built, cached and used; a
nearest-facility search never builds one. Both algorithms give the same times.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from coverage.errors import QueryError
from coverage.routing import turns as turns_module
from coverage.routing.hierarchy import hierarchy_available
from coverage.routing.matrix import state_times_to_nearest, travel_times
from coverage.routing.synthetic import synthetic_network

pytestmark = pytest.mark.skipif(not hierarchy_available(), reason="C hierarchy module not built")


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COVERAGE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "hierarchies"


def _points(net, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    nodes = rng.choice(net.n_nodes, size=n, replace=False)
    return np.column_stack([net.node_x[nodes], net.node_y[nodes]])


def _cached_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.npz")) if folder.is_dir() else []


def test_small_tables_run_on_the_core_until_the_searches_pay_for_a_build(
    fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(turns_module, "HIERARCHY_BREAK_EVEN_SEARCHES", 30)
    net = synthetic_network(1_500, seed=3)
    a, b = _points(net, 12, 1), _points(net, 20, 2)
    first = travel_times(net, a, b)  # 12 searches: 12 so far
    assert first.algorithm == "core"
    assert _cached_files(fresh_cache) == []  # nothing built for a small table
    second = travel_times(net, b, a)  # 12 more (the smaller side): 24 < 30
    assert second.algorithm == "core"
    assert _cached_files(fresh_cache) == []
    third = travel_times(net, a, b)  # 36 >= 30: built, cached and used
    assert third.algorithm == "hierarchy"
    assert len(_cached_files(fresh_cache)) == 1
    np.testing.assert_allclose(third.seconds, first.seconds, rtol=0, atol=1e-6)
    # the built hierarchy is used from now on, whatever the size
    assert travel_times(net, a[:1], b[:1]).algorithm == "hierarchy"


def test_a_cached_hierarchy_is_used_by_a_new_process_of_the_same_graph(fresh_cache: Path) -> None:
    net = synthetic_network(1_500, seed=4)
    a = _points(net, 8, 5)
    forced = travel_times(net, a, a, algorithm="hierarchy")
    assert forced.algorithm == "hierarchy" and len(_cached_files(fresh_cache)) == 1
    again = synthetic_network(1_500, seed=4)  # the same graph, nothing in memory
    small = travel_times(again, a[:2], a[:3])
    assert small.algorithm == "hierarchy"  # read from the disk cache, not built
    np.testing.assert_allclose(small.seconds, forced.seconds[:2, :3], rtol=0, atol=1e-6)


def test_forced_algorithms_give_the_same_times(fresh_cache: Path) -> None:
    net = synthetic_network(2_000, seed=5)
    a, b = _points(net, 25, 7), _points(net, 15, 8)
    core = travel_times(net, a, b, algorithm="core", max_minutes=6.0)
    ch = travel_times(net, a, b, algorithm="hierarchy", max_minutes=6.0)
    assert (core.algorithm, ch.algorithm) == ("core", "hierarchy")
    assert np.isinf(core.seconds).any() and np.isfinite(core.seconds).any()  # limit exercised
    np.testing.assert_array_equal(np.isinf(core.seconds), np.isinf(ch.seconds))
    finite = np.isfinite(core.seconds)
    np.testing.assert_allclose(ch.seconds[finite], core.seconds[finite], rtol=0, atol=1e-6)
    # once built, even a forced core query stays on the core
    assert travel_times(net, a, b, algorithm="core").algorithm == "core"


def test_a_nearest_search_never_builds_a_hierarchy(fresh_cache: Path) -> None:
    net = synthetic_network(1_500, seed=6)
    times = state_times_to_nearest(net, _points(net, 10, 9))
    assert np.isfinite(times.seconds).any()
    assert _cached_files(fresh_cache) == []
    assert net.turn_graph.hierarchy(build=False) is None


def test_a_graph_too_large_to_build_stays_on_the_core(
    fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(turns_module, "HIERARCHY_BREAK_EVEN_SEARCHES", 1)
    net = synthetic_network(1_500, seed=7)
    monkeypatch.setattr(turns_module, "HIERARCHY_MAX_STATES", net.turn_graph.n_states - 1)
    assert travel_times(net, _points(net, 30, 1), _points(net, 30, 2)).algorithm == "core"
    assert _cached_files(fresh_cache) == []


def test_an_unknown_algorithm_is_refused_by_name() -> None:
    net = synthetic_network(200, seed=1)
    with pytest.raises(QueryError, match="algorithm"):
        travel_times(net, _points(net, 2, 1), _points(net, 2, 2), algorithm="osrm")  # type: ignore[arg-type]
