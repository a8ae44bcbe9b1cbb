"""Where the engine finds territory descriptions, data bundles and its cache.

Resolution order for a territory's data bundle:

1. the ``--data DIR`` option (or ``data_dir=`` in Python);
2. the ``COVERAGE_DATA_DIR`` environment variable;
3. the user data directory (``platformdirs.user_data_dir("coverage-territoires")``),
   where ``coverage fetch`` writes.

``DIR`` may be the bundle itself (it holds the layer files) or a parent folder
that holds one bundle per territory (``DIR/<territory>/``).

Cached artefacts (population surfaces, compact road networks) go under
``COVERAGE_CACHE_DIR`` or the user cache directory, never inside the bundle, so
that a read-only bundle works.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir, user_data_dir

from coverage.errors import ConfigError

APP_NAME = "coverage-territoires"
DATA_DIR_ENV = "COVERAGE_DATA_DIR"
CACHE_DIR_ENV = "COVERAGE_CACHE_DIR"
TERRITORIES_DIR_ENV = "COVERAGE_TERRITORIES_DIR"
THREADS_ENV = "COVERAGE_THREADS"
KERNELS_ENV = "COVERAGE_KERNELS"
KERNEL_BACKENDS = ("auto", "c", "scipy")


def default_data_root() -> Path:
    """Return the user data directory where fetched bundles live."""
    return Path(user_data_dir(APP_NAME, appauthor=False))


def cache_root() -> Path:
    """Return the cache directory (``COVERAGE_CACHE_DIR`` or the user cache directory)."""
    env = os.environ.get(CACHE_DIR_ENV)
    path = Path(env) if env else Path(user_cache_dir(APP_NAME, appauthor=False))
    return path.expanduser()


def territory_description_dirs() -> list[Path]:
    """Return the folders searched for ``<name>/territory.toml``, in order.

    ``COVERAGE_TERRITORIES_DIR`` first, then the repository's ``data/geo`` (source
    checkout or editable install), then the copy packaged in the wheel.
    """
    here = Path(__file__).resolve().parent
    dirs: list[Path] = []
    env = os.environ.get(TERRITORIES_DIR_ENV)
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(here.parent / "data" / "geo")
    dirs.append(here / "_data" / "geo")
    return [d for d in dirs if d.is_dir()]


def resolve_data_dir(territory: str, data_dir: str | Path | None = None) -> tuple[Path, str]:
    """Choose the bundle directory of a territory.

    Parameters
    ----------
    territory
        Territory name, e.g. ``"gers"``.
    data_dir
        Explicit directory (``--data``); takes precedence over the environment.

    Returns
    -------
    tuple of (Path, str)
        The chosen directory (it may not exist yet) and how it was chosen
        (``"--data"``, ``"$COVERAGE_DATA_DIR"`` or ``"user data directory"``).
    """
    if data_dir is not None:
        base, origin = Path(data_dir).expanduser(), "--data"
    elif os.environ.get(DATA_DIR_ENV):
        base, origin = Path(os.environ[DATA_DIR_ENV]).expanduser(), f"${DATA_DIR_ENV}"
    else:
        base, origin = default_data_root(), "user data directory"
    nested = base / territory
    if nested.is_dir():
        return nested.resolve(), origin
    if base.is_dir() and any(base.iterdir()) and not _looks_like_parent(base):
        return base.resolve(), origin
    return nested if origin == "user data directory" else base, origin


def _looks_like_parent(base: Path) -> bool:
    """A parent folder holds sub-folders only (one per territory), no layer files."""
    files = [p for p in base.iterdir() if p.is_file() and not p.name.startswith(".")]
    return not files


def routing_threads() -> int:
    """Return how many threads the routing kernels may use (``COVERAGE_THREADS``).

    Unset: the number of CPUs, at most 8 (and at least 1).

    Raises
    ------
    ConfigError
        If ``COVERAGE_THREADS`` is not a whole number >= 1.
    """
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return max(1, min(os.cpu_count() or 1, 8))
    try:
        threads = int(raw)
    except ValueError:
        raise ConfigError(f"${THREADS_ENV} must be a whole number >= 1, got {raw!r}") from None
    if threads < 1:
        raise ConfigError(f"${THREADS_ENV} must be a whole number >= 1, got {raw!r}")
    return threads


def kernel_backend_choice() -> str:
    """Return the shortest-path backend asked for by ``COVERAGE_KERNELS``.

    ``"auto"`` (unset: the C extension when it is built, else scipy), ``"c"`` or
    ``"scipy"``.

    Raises
    ------
    ConfigError
        If ``COVERAGE_KERNELS`` is set to anything else.
    """
    raw = os.environ.get(KERNELS_ENV, "").strip().lower()
    if not raw:
        return "auto"
    if raw not in KERNEL_BACKENDS:
        raise ConfigError(
            f"${KERNELS_ENV} must be one of {', '.join(KERNEL_BACKENDS)}, got {raw!r}"
        )
    return raw
