"""OSRM and Valhalla as local *benchmark references* (never runtime dependencies).

This module runs the two open-source routing engines on our OSM extracts so that
benchmarks can compare our travel times, distances and isochrones with theirs.
Nothing in ``coverage`` imports it.

Both engines come from their PyPI wheels (``osrm-bindings`` and ``pyvalhalla``).
The wheels are built for CPython 3.12 only (``cp312-abi3``), but the standalone
programs they ship (``osrm-extract``, ``osrm-contract``, ``osrm-routed``,
``valhalla_build_tiles``, ``valhalla_service``...) run on any x86-64 Linux with
glibc >= 2.28, whatever the Python version. We therefore never install the
wheels: we download them with ``pip download`` and unzip them into a cache.

Cache layout (``COVERAGE_PEERS_DIR``, else ``~/.cache/coverage-peers``)::

    wheels/                         the two downloaded wheels
    bin/osrm-26.10.0/               unzipped osrm-bindings wheel
    bin/valhalla-3.9.1/             unzipped pyvalhalla wheel
    osrm/<extract>-<sha16>-osrm-26.10.0-car/       extract + contract (CH) output
    valhalla/<extract>-<sha16>-valhalla-3.9.1/      tiles, admin db, build config
    logs/                           one log file per server run

Each prepared directory holds a ``prepared.json`` (versions, pbf SHA-256, the
time of each build step). A directory is used only if that file exists, so an
interrupted build is redone, never used half-written.

Public API
----------
``ensure_binaries``, ``prepare_osrm``, ``prepare_valhalla``, ``prepare_info``,
``OsrmServer`` (``table``, ``route``, ``nearest``), ``ValhallaServer``
(``matrix``, ``route``, ``isochrone``, ``locate``), ``decode_polyline``,
``geodesic_area_m2`` and the ``PeerError`` family.

Smoke test and baseline table::

    COVERAGE_PEERS_DIR=/work/peers/cache python benchmarks/peers.py [--pairs 200]

Data: © OpenStreetMap contributors (ODbL 1.0).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import fcntl
import hashlib
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape

__all__ = [
    "OSRM_VERSION",
    "VALHALLA_VERSION",
    "OsrmServer",
    "PeerBinaries",
    "PeerBinariesError",
    "PeerBuildError",
    "PeerError",
    "PeerQueryError",
    "PeerServerError",
    "ValhallaServer",
    "decode_polyline",
    "default_cache_dir",
    "ensure_binaries",
    "geodesic_area_m2",
    "prepare_info",
    "prepare_osrm",
    "prepare_valhalla",
]

OSRM_VERSION = "26.10.0"
VALHALLA_VERSION = "3.9.1"

_PLATFORM_TAG = "manylinux_2_28_x86_64"
_WHEELS = {
    "osrm": ("osrm-bindings", OSRM_VERSION, f"osrm_bindings-{OSRM_VERSION}-cp312-abi3"),
    "valhalla": ("pyvalhalla", VALHALLA_VERSION, f"pyvalhalla-{VALHALLA_VERSION}-cp312-abi3"),
}
_OSRM_PROGRAMS = ("osrm-extract", "osrm-contract", "osrm-routed")
_VALHALLA_PROGRAMS = ("valhalla_build_tiles", "valhalla_build_admins", "valhalla_service")

_BUILD_TIMEOUT_S = 2 * 3600.0
_EARTH_RADIUS_M = 6_371_008.8


# --------------------------------------------------------------------------- errors


class PeerError(RuntimeError):
    """Base class of every error raised by this module."""


class PeerBinariesError(PeerError):
    """The OSRM or Valhalla programs cannot be found, fetched or run."""


class PeerBuildError(PeerError):
    """Preparing an extract (osrm-extract/contract, valhalla_build_tiles...) failed."""


class PeerServerError(PeerError):
    """A server did not start, or died."""


class PeerQueryError(PeerError):
    """A server answered a query with an unexpected error."""


# --------------------------------------------------------------------------- binaries


def default_cache_dir() -> Path:
    """Return the cache directory: ``$COVERAGE_PEERS_DIR``, else ``~/.cache/coverage-peers``.

    Returns
    -------
    Path
        The directory (not created).
    """
    env = os.environ.get("COVERAGE_PEERS_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return (Path.home() / ".cache" / "coverage-peers").resolve()


@dataclass(frozen=True)
class PeerBinaries:
    """Location of the unpacked OSRM and Valhalla programs.

    Attributes
    ----------
    cache_dir : Path
        Root of the peers cache (prepared data and logs live below it).
    osrm_root : Path
        The unzipped ``osrm-bindings`` wheel (contains ``osrm/bin`` and ``osrm/share``).
    valhalla_root : Path
        The unzipped ``pyvalhalla`` wheel (contains ``valhalla/bin`` and ``pyvalhalla.libs``).
    osrm_version : str
        Version printed by ``osrm-routed --version`` (without the leading ``v``).
    valhalla_version : str
        Version printed by ``valhalla_service --version``.
    """

    cache_dir: Path
    osrm_root: Path
    valhalla_root: Path
    osrm_version: str
    valhalla_version: str

    def osrm_exe(self, name: str) -> Path:
        """Return the path of an OSRM program, e.g. ``"osrm-routed"``."""
        return self.osrm_root / "osrm" / "bin" / name

    def valhalla_exe(self, name: str) -> Path:
        """Return the path of a Valhalla program, e.g. ``"valhalla_service"``."""
        return self.valhalla_root / "valhalla" / "bin" / name

    @property
    def car_profile(self) -> Path:
        """OSRM's ``car.lua`` profile shipped in the wheel."""
        return self.osrm_root / "osrm" / "share" / "profiles" / "car.lua"

    @property
    def valhalla_config_builder(self) -> Path:
        """Valhalla's ``valhalla_build_config.py`` (a stdlib-only script)."""
        return self.valhalla_root / "valhalla" / "valhalla_build_config.py"

    @property
    def valhalla_libs(self) -> Path:
        """Directory of the shared libraries vendored in the pyvalhalla wheel."""
        return self.valhalla_root / "pyvalhalla.libs"

    def env(self) -> dict[str, str]:
        """Environment for the child programs (``LD_LIBRARY_PATH`` includes the vendored libs).

        Returns
        -------
        dict of str to str
            A copy of ``os.environ`` with ``LD_LIBRARY_PATH`` extended.
        """
        env = dict(os.environ)
        extra = [str(self.valhalla_libs)]
        osrm_libs = self.osrm_root / "osrm_bindings.libs"
        if osrm_libs.is_dir():
            extra.append(str(osrm_libs))
        if env.get("LD_LIBRARY_PATH"):
            extra.append(env["LD_LIBRARY_PATH"])
        env["LD_LIBRARY_PATH"] = os.pathsep.join(extra)
        env.setdefault("LC_ALL", "C")
        return env


def _pip_download_command(package: str, version: str, dest: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary",
        ":all:",
        "--python-version",
        "3.12",
        "--platform",
        _PLATFORM_TAG,
        f"{package}=={version}",
        "-d",
        str(dest),
    ]


def _unzip_wheel(wheel: Path, dest: Path) -> None:
    """Unzip ``wheel`` into ``dest`` atomically, keeping the executable bits."""
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".tmp-", dir=dest.parent))
    try:
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                target = Path(zf.extract(info, tmp))
                mode = (info.external_attr >> 16) & 0o777
                if mode and not info.is_dir():
                    target.chmod(mode)
        for bindir in tmp.glob("*/bin"):
            for exe in bindir.iterdir():
                if exe.is_file():
                    exe.chmod(exe.stat().st_mode | 0o111)
        if dest.exists():
            shutil.rmtree(dest)
        tmp.chmod(0o755)  # mkdtemp makes it 0700
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _program_version(exe: Path, env: dict[str, str]) -> str:
    try:
        proc = subprocess.run(
            [str(exe), "--version"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
    except OSError as exc:
        raise PeerBinariesError(f"cannot run {exe}: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise PeerBinariesError(f"{exe} --version did not answer within 60 s") from exc
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 or not out:
        raise PeerBinariesError(
            f"{exe} --version failed (exit code {proc.returncode}): {out[-2000:]}\n"
            "The programs need x86-64 Linux with glibc >= 2.28."
        )
    return out.split()[-1].lstrip("v")


def ensure_binaries(cache_dir: Path | None = None) -> PeerBinaries:
    """Find (or download and unpack) the OSRM and Valhalla programs.

    Looks for the unpacked wheels in ``cache_dir/bin``. When they are missing it
    looks for the wheels in ``cache_dir/wheels``, runs ``pip download`` (with
    ``sys.executable -m pip``) into that folder if needed, and unzips them. The
    programs are then run once with ``--version`` to check that they work here.

    Parameters
    ----------
    cache_dir : Path, optional
        Cache root. Defaults to :func:`default_cache_dir`.

    Returns
    -------
    PeerBinaries
        Paths and versions of the programs.

    Raises
    ------
    PeerBinariesError
        If the platform is not x86-64 Linux, or the wheels cannot be downloaded
        or unpacked, or the programs do not run. The message says what to run.
    """
    cache = Path(cache_dir).expanduser().resolve() if cache_dir else default_cache_dir()
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise PeerBinariesError(
            f"OSRM/Valhalla peers need x86-64 Linux (this is {sys.platform}/{platform.machine()})"
        )
    bin_dir = cache / "bin"
    wheels_dir = cache / "wheels"
    bin_dir.mkdir(parents=True, exist_ok=True)
    roots: dict[str, Path] = {}
    with _file_lock(cache / ".lock-binaries"):
        for engine, (package, version, prefix) in _WHEELS.items():
            root = bin_dir / f"{engine}-{version}"
            programs = _OSRM_PROGRAMS if engine == "osrm" else _VALHALLA_PROGRAMS
            sub = "osrm" if engine == "osrm" else "valhalla"
            if not all((root / sub / "bin" / p).is_file() for p in programs):
                wheels = sorted(wheels_dir.glob(f"{prefix}-*{_PLATFORM_TAG}.whl"))
                if not wheels:
                    wheels_dir.mkdir(parents=True, exist_ok=True)
                    cmd = _pip_download_command(package, version, wheels_dir)
                    try:
                        proc = subprocess.run(
                            cmd, capture_output=True, text=True, timeout=1800, check=False
                        )
                        failed = proc.returncode != 0
                        detail = (proc.stdout + proc.stderr)[-3000:]
                    except (OSError, subprocess.TimeoutExpired) as exc:
                        failed, detail = True, str(exc)
                    wheels = sorted(wheels_dir.glob(f"{prefix}-*{_PLATFORM_TAG}.whl"))
                    if failed or not wheels:
                        raise PeerBinariesError(
                            f"could not download the {package} {version} wheel.\n"
                            f"Run this (any Python with pip will do), then retry:\n  "
                            + " ".join(cmd)
                            + f"\nor copy the wheel into {wheels_dir}.\npip said:\n{detail}"
                        )
                try:
                    _unzip_wheel(wheels[-1], root)
                except (OSError, zipfile.BadZipFile) as exc:
                    raise PeerBinariesError(
                        f"could not unzip {wheels[-1]} into {root}: {exc}. Delete the wheel "
                        "and retry to download it again."
                    ) from exc
                missing = [p for p in programs if not (root / sub / "bin" / p).is_file()]
                if missing:
                    raise PeerBinariesError(
                        f"{wheels[-1].name} does not contain {', '.join(missing)} "
                        f"(looked in {root / sub / 'bin'})"
                    )
            roots[engine] = root
    probe = PeerBinaries(cache, roots["osrm"], roots["valhalla"], "", "")
    env = probe.env()
    osrm_version = _program_version(probe.osrm_exe("osrm-routed"), env)
    valhalla_version = _program_version(probe.valhalla_exe("valhalla_service"), env)
    for path in (probe.car_profile, probe.valhalla_config_builder):
        if not path.is_file():
            raise PeerBinariesError(f"{path} is missing from the unpacked wheel")
    return PeerBinaries(cache, roots["osrm"], roots["valhalla"], osrm_version, valhalla_version)


# --------------------------------------------------------------------------- preparation


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock, so two processes never build the same thing at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _extract_name(pbf: Path) -> str:
    name = pbf.name
    for suffix in (".osm.pbf", ".pbf"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return pbf.stem


def _tail(path: Path, n_lines: int = 25) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n_lines:])


def _run_step(
    cmd: Sequence[str | Path],
    *,
    program: str,
    extract: str,
    log: Path,
    env: dict[str, str],
    cwd: Path,
    timeout: float = _BUILD_TIMEOUT_S,
) -> float:
    """Run one build step, appending its output to ``log``; return its wall time."""
    start = time.perf_counter()
    with log.open("a") as fh:
        fh.write(f"\n$ {' '.join(str(c) for c in cmd)}\n")
        fh.flush()
        try:
            proc = subprocess.run(
                [str(c) for c in cmd],
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise PeerBuildError(
                f"{program} on extract {extract!r} took more than {timeout:.0f} s; log: {log}"
            ) from exc
        except OSError as exc:
            raise PeerBuildError(f"cannot run {program} for extract {extract!r}: {exc}") from exc
    if proc.returncode != 0:
        raise PeerBuildError(
            f"{program} failed on extract {extract!r} (exit code {proc.returncode}).\n"
            f"Last lines of {log}:\n{_tail(log)}"
        )
    return time.perf_counter() - start


def prepare_info(prepared: Path) -> dict[str, Any]:
    """Read the ``prepared.json`` written by :func:`prepare_osrm` or :func:`prepare_valhalla`.

    Parameters
    ----------
    prepared : Path
        What a ``prepare_*`` function returned (an ``.osrm`` base path or a directory).

    Returns
    -------
    dict
        Engine, version, pbf name and SHA-256, seconds per build step, creation date.
    """
    directory = prepared if prepared.is_dir() else prepared.parent
    return json.loads((directory / "prepared.json").read_text())


def _check_pbf(pbf: Path) -> Path:
    pbf = Path(pbf).expanduser().resolve()
    if not pbf.is_file():
        raise PeerBuildError(f"extract not found: {pbf}")
    return pbf


def _finish(tmp: Path, final: Path, info: dict[str, Any]) -> None:
    (tmp / "prepared.json").write_text(json.dumps(info, indent=2) + "\n")
    tmp.chmod(0o755)  # mkdtemp makes it 0700
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def prepare_osrm(pbf: Path, binaries: PeerBinaries, cache_dir: Path | None = None) -> Path:
    """Build OSRM data for an extract with the car profile and Contraction Hierarchies.

    Runs ``osrm-extract -p car.lua`` then ``osrm-contract``. The result is cached
    under a key made of the extract name, the first 16 hex digits of the pbf
    SHA-256 and the OSRM version; it is rebuilt only when missing.

    Parameters
    ----------
    pbf : Path
        The ``.osm.pbf`` extract.
    binaries : PeerBinaries
        From :func:`ensure_binaries`.
    cache_dir : Path, optional
        Cache root; defaults to ``binaries.cache_dir``.

    Returns
    -------
    Path
        The OSRM base path (``.../<extract>.osrm``) to give to :class:`OsrmServer`.

    Raises
    ------
    PeerBuildError
        If the pbf is missing or a program fails; the message names the extract,
        the program and shows the end of the build log.
    """
    pbf = _check_pbf(pbf)
    cache = Path(cache_dir) if cache_dir else binaries.cache_dir
    name = _extract_name(pbf)
    sha = _sha256(pbf)
    key = f"{name}-{sha[:16]}-osrm-{binaries.osrm_version}-car"
    final = cache / "osrm" / key
    base = final / f"{name}.osrm"
    if (final / "prepared.json").is_file() and Path(f"{base}.hsgr").is_file():
        return base
    with _file_lock(cache / "osrm" / f".lock-{key}"):
        if (final / "prepared.json").is_file() and Path(f"{base}.hsgr").is_file():
            return base
        tmp = Path(tempfile.mkdtemp(prefix=key + ".tmp-", dir=final.parent))
        try:
            log = tmp / "build.log"
            env = binaries.env()
            threads = str(os.cpu_count() or 1)
            tmp_base = tmp / f"{name}.osrm"
            steps = {
                "osrm-extract": _run_step(
                    [
                        binaries.osrm_exe("osrm-extract"),
                        "-p",
                        binaries.car_profile,
                        "-t",
                        threads,
                        "-o",
                        tmp_base,
                        pbf,
                    ],
                    program="osrm-extract",
                    extract=name,
                    log=log,
                    env=env,
                    cwd=tmp,
                ),
            }
            steps["osrm-contract"] = _run_step(
                [binaries.osrm_exe("osrm-contract"), "-t", threads, tmp_base],
                program="osrm-contract",
                extract=name,
                log=log,
                env=env,
                cwd=tmp,
            )
            if not Path(f"{tmp_base}.hsgr").is_file():
                raise PeerBuildError(
                    f"osrm-contract on extract {name!r} wrote no .hsgr file; log: {log}"
                )
            info = {
                "engine": "osrm",
                "version": binaries.osrm_version,
                "profile": "car.lua",
                "profile_sha256": _sha256(binaries.car_profile),
                "algorithm": "CH",
                "pbf": pbf.name,
                "pbf_sha256": sha,
                "steps_s": steps,
                "total_s": sum(steps.values()),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            _finish(tmp, final, info)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return base


def _valhalla_base_config(binaries: PeerBinaries, directory: Path) -> dict[str, Any]:
    """Valhalla's default config (from its own builder script) pointed at ``directory``."""
    cmd = [sys.executable, str(binaries.valhalla_config_builder)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PeerBuildError(f"valhalla_build_config.py could not run: {exc}") from exc
    if proc.returncode != 0:
        raise PeerBuildError(f"valhalla_build_config.py failed: {proc.stderr[-2000:]}")
    config = json.loads(proc.stdout)
    mj = config["mjolnir"]
    mj["tile_dir"] = str(directory / "tiles")
    mj["tile_extract"] = ""
    mj["traffic_extract"] = ""
    mj["admin"] = str(directory / "admin.sqlite")
    mj["timezone"] = str(directory / "timezones.sqlite")  # never built: no time zones
    mj["landmarks"] = str(directory / "landmarks.sqlite")  # never built
    mj["transit_dir"] = str(directory / "transit")
    mj["transit_feeds_dir"] = str(directory / "transit_feeds")
    mj["concurrency"] = os.cpu_count() or 1
    config["additional_data"]["elevation"] = str(directory / "elevation")
    config["logging"]["type"] = "std_out"
    config["logging"]["color"] = False
    return config


def prepare_valhalla(pbf: Path, binaries: PeerBinaries, cache_dir: Path | None = None) -> Path:
    """Build Valhalla routing tiles for an extract (default build configuration).

    Writes Valhalla's default configuration (from ``valhalla_build_config.py``),
    builds an admin database from the extract's own boundaries
    (``valhalla_build_admins``; gives the country, hence driving side and country
    access rules, where the extract contains a complete country boundary), then
    ``valhalla_build_tiles``. No time zone, elevation or traffic data. Cached like
    :func:`prepare_osrm` under ``<extract>-<sha16>-valhalla-<version>``.

    Parameters
    ----------
    pbf : Path
        The ``.osm.pbf`` extract.
    binaries : PeerBinaries
        From :func:`ensure_binaries`.
    cache_dir : Path, optional
        Cache root; defaults to ``binaries.cache_dir``.

    Returns
    -------
    Path
        The prepared directory (``valhalla.json``, ``tiles/``, ``prepared.json``)
        to give to :class:`ValhallaServer`.

    Raises
    ------
    PeerBuildError
        If the pbf is missing or a program fails (message names extract and program).
    """
    pbf = _check_pbf(pbf)
    cache = Path(cache_dir) if cache_dir else binaries.cache_dir
    name = _extract_name(pbf)
    sha = _sha256(pbf)
    key = f"{name}-{sha[:16]}-valhalla-{binaries.valhalla_version}"
    final = cache / "valhalla" / key
    if (final / "prepared.json").is_file():
        return final
    with _file_lock(cache / "valhalla" / f".lock-{key}"):
        if (final / "prepared.json").is_file():
            return final
        tmp = Path(tempfile.mkdtemp(prefix=key + ".tmp-", dir=final.parent))
        try:
            log = tmp / "build.log"
            env = binaries.env()
            # paths in the config point at the final directory; build with a copy
            # pointing at the temporary one, then store the final one.
            build_config = _valhalla_base_config(binaries, tmp)
            config_path = tmp / "valhalla-build.json"
            config_path.write_text(json.dumps(build_config, indent=1))
            steps: dict[str, float] = {}
            admins = "built"
            try:
                steps["valhalla_build_admins"] = _run_step(
                    [binaries.valhalla_exe("valhalla_build_admins"), "-c", config_path, pbf],
                    program="valhalla_build_admins",
                    extract=name,
                    log=log,
                    env=env,
                    cwd=tmp,
                )
            except PeerBuildError:
                # not fatal: without admins Valhalla assumes right-hand traffic and
                # applies no country access rules.
                admins = "failed"
                with contextlib.suppress(OSError):
                    (tmp / "admin.sqlite").unlink()
            steps["valhalla_build_tiles"] = _run_step(
                [binaries.valhalla_exe("valhalla_build_tiles"), "-c", config_path, pbf],
                program="valhalla_build_tiles",
                extract=name,
                log=log,
                env=env,
                cwd=tmp,
            )
            n_tiles = sum(1 for _ in (tmp / "tiles").rglob("*.gph"))
            if n_tiles == 0:
                raise PeerBuildError(
                    f"valhalla_build_tiles on extract {name!r} wrote no tile; "
                    f"last lines of {log}:\n{_tail(log)}"
                )
            config_path.unlink()
            (tmp / "valhalla.json").write_text(
                json.dumps(_valhalla_base_config(binaries, final), indent=1)
            )
            info = {
                "engine": "valhalla",
                "version": binaries.valhalla_version,
                "pbf": pbf.name,
                "pbf_sha256": sha,
                "admins": admins,
                "countries": _admin_countries(tmp / "admin.sqlite"),
                "tiles": n_tiles,
                "steps_s": steps,
                "total_s": sum(steps.values()),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            _finish(tmp, final, info)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


def _admin_countries(path: Path) -> list[list[Any]]:
    """Countries in a Valhalla admin db: ``[name, iso, drive_on_right]`` (best effort)."""
    if not path.is_file():
        return []
    try:
        import sqlite3

        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
            rows = con.execute(
                "SELECT name, iso_code, drive_on_right FROM admins WHERE admin_level = 2"
            ).fetchall()
        return [[r[0], r[1], bool(r[2])] for r in rows]
    except Exception:  # spatialite-specific schema: informative only
        return []


# --------------------------------------------------------------------------- servers

_LIVE: set[subprocess.Popen[bytes]] = set()
_LIVE_LOCK = threading.Lock()


def _kill_leftovers() -> None:
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        _stop_process(proc)


atexit.register(_kill_leftovers)


def _stop_process(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """Terminate, then kill after ``grace_s``; never raises."""
    try:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=grace_s)
    except (OSError, subprocess.TimeoutExpired):
        pass
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(proc)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_lonlat(points: Any, what: str) -> np.ndarray:
    arr = np.asarray(points, dtype=float)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{what} must be an (n, 2) array of lon/lat, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{what} contains NaN or infinite coordinates")
    if (np.abs(arr[:, 0]) > 180).any() or (np.abs(arr[:, 1]) > 90).any():
        raise ValueError(f"{what} is not lon/lat WGS84 (|lon| <= 180, |lat| <= 90)")
    return arr


def _haversine_m(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lon1, lat1, lon2, lat2 = map(np.radians, (a[..., 0], a[..., 1], b[..., 0], b[..., 1]))
    h = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * _EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


class _Server:
    """Common machinery: start on 127.0.0.1, wait until it answers, always stop."""

    engine = "server"

    def __init__(
        self,
        binaries: PeerBinaries,
        *,
        port: int | None,
        log_dir: Path | None,
        request_timeout_s: float,
        startup_timeout_s: float,
        label: str,
    ) -> None:
        self.binaries = binaries
        self.host = "127.0.0.1"
        self._requested_port = port
        self.port = 0
        self.log_dir = Path(log_dir) if log_dir else binaries.cache_dir / "logs"
        self.request_timeout_s = request_timeout_s
        self.startup_timeout_s = startup_timeout_s
        self.label = label
        self.log_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._client: httpx.Client | None = None
        self._log_fh: Any = None

    # subclasses -----------------------------------------------------------
    def _command(self) -> list[str]:
        raise NotImplementedError

    def _probe_path(self) -> str:
        raise NotImplementedError

    def _cleanup(self) -> None:
        """Extra cleanup after the process stopped."""

    # lifecycle ------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL of the running server, e.g. ``http://127.0.0.1:40123``."""
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> _Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the server and wait until it answers (retries once on a port clash).

        Raises
        ------
        PeerServerError
            If the program exits or does not answer within ``startup_timeout_s``.
        """
        if self._proc is not None:
            raise PeerServerError(f"{self.engine} server for {self.label} already started")
        attempts = 1 if self._requested_port else 3
        for attempt in range(attempts):
            self.port = self._requested_port or _free_port()
            try:
                self._start_once()
                return
            except PeerServerError:
                self.stop()
                if attempt == attempts - 1:
                    raise

    def _start_once(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.log_path = self.log_dir / f"{self.engine}-{self.label}-{stamp}-{self.port}.log"
        self._log_fh = self.log_path.open("ab")
        cmd = self._command()
        self._log_fh.write(f"$ {' '.join(cmd)}\n".encode())
        self._log_fh.flush()
        try:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=self._log_fh,
                stderr=subprocess.STDOUT,
                env=self.binaries.env(),
                cwd=self.log_dir,
                preexec_fn=_die_with_parent,  # server dies with us (PR_SET_PDEATHSIG)
            )
        except OSError as exc:
            raise PeerServerError(f"cannot start {cmd[0]} for {self.label}: {exc}") from exc
        with _LIVE_LOCK:
            _LIVE.add(self._proc)
        self._client = httpx.Client(
            base_url=self.url,
            timeout=httpx.Timeout(self.request_timeout_s, connect=10.0),
            trust_env=False,  # never send our loopback queries through a proxy
        )
        deadline = time.monotonic() + self.startup_timeout_s
        while True:
            code = self._proc.poll()
            if code is not None:
                raise PeerServerError(
                    f"{Path(cmd[0]).name} for {self.label} exited with code {code} while "
                    f"starting. Last lines of {self.log_path}:\n{_tail(self.log_path)}"
                )
            try:
                self._client.get(self._probe_path(), timeout=2.0)
                return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise PeerServerError(
                    f"{Path(cmd[0]).name} for {self.label} did not answer on {self.url} within "
                    f"{self.startup_timeout_s:.0f} s. Log: {self.log_path}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server (terminate, then kill after 10 s). Safe to call twice."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._proc is not None:
            _stop_process(self._proc)
            self._proc = None
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None
        self._cleanup()

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def _http(self) -> httpx.Client:
        if self._client is None or self._proc is None:
            raise PeerServerError(f"{self.engine} server for {self.label} is not running")
        if self._proc.poll() is not None:
            raise PeerServerError(
                f"{self.engine} server for {self.label} died (exit code {self._proc.returncode})."
                f" Last lines of {self.log_path}:\n{_tail(self.log_path) if self.log_path else ''}"
            )
        return self._client

    def _request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """Send a request; return (HTTP status, decoded JSON). Raises on transport errors."""
        client = self._http()
        try:
            response = client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise PeerQueryError(
                f"{self.engine} ({self.label}) did not answer {path[:80]} within "
                f"{self.request_timeout_s:.0f} s"
            ) from exc
        except httpx.TransportError as exc:
            self._http()  # raises a clearer error if the server died
            raise PeerQueryError(f"{self.engine} ({self.label}) transport error: {exc}") from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise PeerQueryError(
                f"{self.engine} ({self.label}) answered HTTP {response.status_code} with non-JSON "
                f"content: {response.text[:300]!r}"
            ) from exc
        return response.status_code, body


def _blocks(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _fmt(lonlat: np.ndarray) -> str:
    return ";".join(f"{lon:.6f},{lat:.6f}" for lon, lat in lonlat)


class OsrmServer(_Server):
    """``osrm-routed`` (CH) on 127.0.0.1, as a context manager.

    Parameters
    ----------
    prepared : Path
        The ``.osrm`` base path returned by :func:`prepare_osrm`.
    binaries : PeerBinaries
        From :func:`ensure_binaries`.
    port : int, optional
        Fixed port; by default a free port is picked.
    threads : int, optional
        Server threads (default: number of CPUs).
    log_dir : Path, optional
        Where the server's output goes (default ``<cache>/logs``).
    request_timeout_s : float
        Timeout of each HTTP request.
    startup_timeout_s : float
        How long to wait for the server to answer after starting it.
    max_table_size : int
        ``--max-table-size`` given to the server; table requests are chunked so
        that sources + destinations of one request stay below it.

    Examples
    --------
    >>> with OsrmServer(prepare_osrm(pbf, bins), bins) as osrm:  # doctest: +SKIP
    ...     durations, distances = osrm.table(src, dst)
    """

    engine = "osrm"

    def __init__(
        self,
        prepared: Path,
        binaries: PeerBinaries,
        *,
        port: int | None = None,
        threads: int | None = None,
        log_dir: Path | None = None,
        request_timeout_s: float = 120.0,
        startup_timeout_s: float = 120.0,
        max_table_size: int = 1000,
    ) -> None:
        prepared = Path(prepared)
        if prepared.is_dir():
            found = sorted(prepared.glob("*.osrm.hsgr"))
            if not found:
                raise PeerServerError(f"no prepared OSRM data (*.osrm.hsgr) in {prepared}")
            prepared = Path(str(found[0])[: -len(".hsgr")])
        if not Path(f"{prepared}.hsgr").is_file():
            raise PeerServerError(
                f"{prepared} is not prepared OSRM CH data (missing {prepared}.hsgr); "
                "run prepare_osrm() first"
            )
        super().__init__(
            binaries,
            port=port,
            log_dir=log_dir,
            request_timeout_s=request_timeout_s,
            startup_timeout_s=startup_timeout_s,
            label=prepared.name.removesuffix(".osrm"),
        )
        self.prepared = prepared
        self.threads = threads or os.cpu_count() or 1
        self.max_table_size = int(max_table_size)
        self.table_chunk = max(1, min(100, self.max_table_size // 2))

    def _command(self) -> list[str]:
        return [
            str(self.binaries.osrm_exe("osrm-routed")),
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--algorithm",
            "CH",
            "--threads",
            str(self.threads),
            "--max-table-size",
            str(self.max_table_size),
            str(self.prepared),
        ]

    def __enter__(self) -> OsrmServer:
        self.start()
        return self

    def _probe_path(self) -> str:
        return "/nearest/v1/driving/0,0"

    def _get(self, path: str) -> dict[str, Any]:
        status, body = self._request("GET", path)
        if not isinstance(body, dict):
            raise PeerQueryError(f"OSRM ({self.label}) answered {body!r:.200}")
        if status != 200 and body.get("code") in (None, "Ok"):
            raise PeerQueryError(f"OSRM ({self.label}) HTTP {status}: {body}")
        return body

    def table(
        self,
        src_lonlat: Any,
        dst_lonlat: Any,
        *,
        radius_m: float | None = None,
        distances: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Durations and distances from every source to every destination.

        Parameters
        ----------
        src_lonlat, dst_lonlat : array_like, shape (n, 2) and (m, 2)
            lon/lat WGS84.
        radius_m : float, optional
            Snapping radius. OSRM's default is unlimited: every point snaps to
            the nearest car-routable segment however far it is, and to the
            nearest segment of a big component (>= 1000 nodes) when the nearest
            one lies in a small component, unless all points share that small
            component. The leg from a point to its snapped position is not in
            the durations or distances (same for Valhalla).
        distances : bool
            Ask for distances too (``False``: durations only, as a timing
            benchmark wants; the distances returned are then all NaN).

        Returns
        -------
        durations_s, distances_m : ndarray, shape (n, m)
            NaN where OSRM found no route.
        """
        src = _as_lonlat(src_lonlat, "src_lonlat")
        dst = _as_lonlat(dst_lonlat, "dst_lonlat")
        durations = np.full((len(src), len(dst)), np.nan)
        distances_m = np.full((len(src), len(dst)), np.nan)
        for sb in _blocks(len(src), self.table_chunk):
            for db in _blocks(len(dst), self.table_chunk):
                s, d = src[sb], dst[db]
                coords = np.vstack([s, d])
                n_s = len(s)
                query = (
                    f"sources={';'.join(map(str, range(n_s)))}"
                    f"&destinations={';'.join(map(str, range(n_s, len(coords))))}"
                    f"&annotations={'duration,distance' if distances else 'duration'}"
                    "&skip_waypoints=true"
                )
                if radius_m is not None:
                    query += "&radiuses=" + ";".join([f"{radius_m:.1f}"] * len(coords))
                body = self._get(f"/table/v1/driving/{_fmt(coords)}?{query}")
                if body.get("code") != "Ok":
                    if body.get("code") in ("NoSegment", "NoTable", "NoRoute"):
                        continue  # leave NaN
                    raise PeerQueryError(f"OSRM table ({self.label}): {body}")
                durations[sb, db] = np.array(
                    [[np.nan if v is None else v for v in row] for row in body["durations"]]
                )
                if distances:
                    distances_m[sb, db] = np.array(
                        [[np.nan if v is None else v for v in row] for row in body["distances"]]
                    )
        return durations, distances_m

    def route(self, a_lonlat: Any, b_lonlat: Any) -> dict[str, Any]:
        """Fastest route from ``a`` to ``b``.

        Parameters
        ----------
        a_lonlat, b_lonlat : array_like, shape (2,)
            lon/lat WGS84.

        Returns
        -------
        dict
            ``duration_s`` and ``distance_m`` (NaN if no route), ``geometry``
            (ndarray (k, 2) lon/lat), ``osm_nodes`` (int64 OSM node ids along the
            route, from ``annotations=nodes``), ``snapped`` (ndarray (2, 2) lon/lat
            of the snapped start and end), ``snap_distance_m`` (ndarray (2,)),
            ``weight`` (OSRM's routability weight) and ``code``.
        """
        a = _as_lonlat(a_lonlat, "a_lonlat")[0]
        b = _as_lonlat(b_lonlat, "b_lonlat")[0]
        body = self._get(
            f"/route/v1/driving/{_fmt(np.vstack([a, b]))}"
            "?overview=full&geometries=geojson&annotations=nodes&steps=false&alternatives=false"
        )
        code = body.get("code")
        if code != "Ok" or not body.get("routes"):
            if code in ("NoRoute", "NoSegment"):
                return {
                    "duration_s": math.nan,
                    "distance_m": math.nan,
                    "geometry": np.empty((0, 2)),
                    "osm_nodes": np.empty(0, dtype=np.int64),
                    "snapped": np.full((2, 2), np.nan),
                    "snap_distance_m": np.full(2, np.nan),
                    "weight": math.nan,
                    "code": code,
                }
            raise PeerQueryError(f"OSRM route ({self.label}): {body}")
        best = body["routes"][0]
        nodes: list[int] = []
        for leg in best["legs"]:
            leg_nodes = leg.get("annotation", {}).get("nodes", [])
            if nodes and leg_nodes and nodes[-1] == leg_nodes[0]:
                leg_nodes = leg_nodes[1:]
            nodes.extend(leg_nodes)
        waypoints = body.get("waypoints", [])
        return {
            "duration_s": float(best["duration"]),
            "distance_m": float(best["distance"]),
            "geometry": np.asarray(best["geometry"]["coordinates"], dtype=float).reshape(-1, 2),
            "osm_nodes": np.asarray(nodes, dtype=np.int64),
            "snapped": np.asarray([w["location"] for w in waypoints], dtype=float).reshape(-1, 2),
            "snap_distance_m": np.asarray([w.get("distance", np.nan) for w in waypoints]),
            "weight": float(best.get("weight", math.nan)),
            "code": code,
        }

    def nearest(self, lonlat: Any) -> tuple[np.ndarray, np.ndarray]:
        """Nearest car-routable segment (``/nearest``).

        Unlike ``/route`` and ``/table``, ``/nearest`` does not move a point in a
        small component (< 1000 nodes) to a big one: use the ``snapped`` and
        ``snap_distance_m`` of :meth:`route` to see where routing snapped.

        Parameters
        ----------
        lonlat : array_like, shape (2,) or (n, 2)
            lon/lat WGS84.

        Returns
        -------
        snapped : ndarray, shape (n, 2)
            Snapped lon/lat (NaN if nothing found).
        distance_m : ndarray, shape (n,)
            Distance from each input point to its snapped point.
        """
        pts = _as_lonlat(lonlat, "lonlat")
        snapped = np.full((len(pts), 2), np.nan)
        dist = np.full(len(pts), np.nan)
        for i, (lon, lat) in enumerate(pts):
            body = self._get(f"/nearest/v1/driving/{lon:.6f},{lat:.6f}?number=1")
            if body.get("code") == "Ok" and body.get("waypoints"):
                wp = body["waypoints"][0]
                snapped[i] = wp["location"]
                dist[i] = wp.get("distance", np.nan)
            elif body.get("code") not in ("NoSegment",):
                raise PeerQueryError(f"OSRM nearest ({self.label}): {body}")
        return snapped, dist


def decode_polyline(encoded: str, precision: int = 6) -> np.ndarray:
    """Decode an encoded polyline (Valhalla uses precision 6) into lon/lat.

    Parameters
    ----------
    encoded : str
        The encoded polyline.
    precision : int
        Number of decimals (6 for Valhalla, 5 for Google/OSRM ``polyline``).

    Returns
    -------
    ndarray, shape (k, 2)
        lon/lat pairs.
    """
    factor = 10.0**precision
    coords: list[tuple[float, float]] = []
    index = lat = lon = 0
    n = len(encoded)
    while index < n:
        deltas = []
        for _ in range(2):
            shift = result = 0
            while True:
                if index >= n:
                    raise ValueError("truncated polyline")
                byte = ord(encoded[index]) - 63
                index += 1
                result |= (byte & 0x1F) << shift
                shift += 5
                if byte < 0x20:
                    break
            deltas.append(~(result >> 1) if result & 1 else result >> 1)
        lat += deltas[0]
        lon += deltas[1]
        coords.append((lon / factor, lat / factor))
    return np.asarray(coords, dtype=float).reshape(-1, 2)


# Valhalla error codes that mean "no answer for these points", not "bad request"
_VALHALLA_NO_RESULT = {
    171,  # No suitable edges near location
    170,  # Locations are in unconnected regions
    442,  # No path could be found for input
    443,  # Exact route match algorithm failed to find path
}


class ValhallaServer(_Server):
    """``valhalla_service`` (costing ``auto``, default options) on 127.0.0.1.

    Parameters
    ----------
    prepared : Path
        The directory returned by :func:`prepare_valhalla`.
    binaries : PeerBinaries
        From :func:`ensure_binaries`.
    port : int, optional
        Fixed port; by default a free port is picked.
    workers : int, optional
        ``valhalla_service`` concurrency (default: number of CPUs).
    log_dir : Path, optional
        Where the server's output goes (default ``<cache>/logs``).
    request_timeout_s : float
        Timeout of each HTTP request.
    startup_timeout_s : float
        How long to wait for the server to answer after starting it.
    matrix_chunk : int
        Matrix requests hold at most ``matrix_chunk`` sources and targets each.
    matrix_second_pass : bool
        Set ``thor.costmatrix.allow_second_pass`` (Valhalla's default is false).
        With false, CostMatrix leaves empty (NaN) the pairs its first,
        hierarchy-limited pass misses although ``/route`` finds them (20 % of
        random pairs on Malta, mostly across the Gozo ferry); the second pass
        only fills those cells and leaves the others unchanged.
    costing_options : dict, optional
        Extra ``costing_options.auto`` sent with every request (default none:
        Valhalla's defaults).

    Notes
    -----
    Besides ``matrix_second_pass``, only the service limits are changed from
    Valhalla's default configuration (larger matrices allowed, so that fewer
    requests are needed); they change what may be asked, never the answers.
    """

    engine = "valhalla"

    def __init__(
        self,
        prepared: Path,
        binaries: PeerBinaries,
        *,
        port: int | None = None,
        workers: int | None = None,
        log_dir: Path | None = None,
        request_timeout_s: float = 300.0,
        startup_timeout_s: float = 120.0,
        matrix_chunk: int = 100,
        matrix_second_pass: bool = True,
        costing_options: dict[str, Any] | None = None,
    ) -> None:
        prepared = Path(prepared)
        if not (prepared / "valhalla.json").is_file() or not (prepared / "tiles").is_dir():
            raise PeerServerError(
                f"{prepared} is not a prepared Valhalla directory (valhalla.json + tiles/); "
                "run prepare_valhalla() first"
            )
        try:
            label = _extract_name(Path(prepare_info(prepared)["pbf"]))
        except (OSError, ValueError, KeyError):
            label = prepared.name
        super().__init__(
            binaries,
            port=port,
            log_dir=log_dir,
            request_timeout_s=request_timeout_s,
            startup_timeout_s=startup_timeout_s,
            label=label,
        )
        self.prepared = prepared
        self.workers = workers or os.cpu_count() or 1
        self.matrix_chunk = int(matrix_chunk)
        self.matrix_second_pass = bool(matrix_second_pass)
        self.costing_options = dict(costing_options or {})
        self._run_dir: Path | None = None

    def __enter__(self) -> ValhallaServer:
        self.start()
        return self

    def _command(self) -> list[str]:
        # zmq ipc socket paths must be short (< 108 bytes): keep them in /tmp
        self._cleanup()
        self._run_dir = Path(tempfile.mkdtemp(prefix="vh-"))
        config = json.loads((self.prepared / "valhalla.json").read_text())
        service = config["httpd"]["service"]
        service["listen"] = f"tcp://{self.host}:{self.port}"
        service["loopback"] = f"ipc://{self._run_dir}/loopback"
        service["interrupt"] = f"ipc://{self._run_dir}/interrupt"
        service["drain_seconds"] = 0
        service["shutdown_seconds"] = 1
        for part in ("loki", "thor", "odin", "meili"):
            if "service" in config.get(part, {}):
                config[part]["service"]["proxy"] = f"ipc://{self._run_dir}/{part}"
        limits = config["service_limits"]
        pairs = max(limits["auto"]["max_matrix_location_pairs"], self.matrix_chunk**2)
        limits["auto"]["max_matrix_location_pairs"] = pairs
        limits["auto"]["max_matrix_distance"] = max(
            limits["auto"]["max_matrix_distance"], 2_000_000.0
        )
        limits["auto"]["max_locations"] = max(limits["auto"]["max_locations"], 50)
        config["thor"]["costmatrix"]["allow_second_pass"] = self.matrix_second_pass
        config_path = self._run_dir / "valhalla.json"
        config_path.write_text(json.dumps(config))
        return [
            str(self.binaries.valhalla_exe("valhalla_service")),
            str(config_path),
            str(self.workers),
        ]

    def _cleanup(self) -> None:
        if self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None

    def _probe_path(self) -> str:
        return "/status"

    def _post(
        self, action: str, payload: dict[str, Any], tolerate: frozenset[int] = frozenset()
    ) -> tuple[int, dict[str, Any]]:
        """POST ``payload``; "no result" errors (and ``tolerate``) come back, others raise."""
        payload = dict(payload)
        payload.setdefault("costing", "auto")
        if self.costing_options:
            payload["costing_options"] = {"auto": self.costing_options}
        status, body = self._request("POST", f"/{action}", json=payload)
        if not isinstance(body, (dict, list)):
            raise PeerQueryError(f"Valhalla {action} ({self.label}) answered {body!r:.200}")
        if status != 200:
            code = body.get("error_code") if isinstance(body, dict) else None
            if code in _VALHALLA_NO_RESULT or code in tolerate:
                return status, body
            raise PeerQueryError(f"Valhalla {action} ({self.label}) HTTP {status}: {body}")
        return status, body if isinstance(body, dict) else {"list": body}

    @staticmethod
    def _locs(lonlat: np.ndarray) -> list[dict[str, float]]:
        return [{"lon": round(float(lon), 7), "lat": round(float(lat), 7)} for lon, lat in lonlat]

    def locate(self, lonlat: Any) -> tuple[np.ndarray, np.ndarray]:
        """Snap points to the car network as Valhalla's loki does (``/locate``).

        Parameters
        ----------
        lonlat : array_like, shape (2,) or (n, 2)
            lon/lat WGS84.

        Returns
        -------
        snapped : ndarray, shape (n, 2)
            Correlated lon/lat of the best edge (NaN when no edge is found).
        distance_m : ndarray, shape (n,)
            Great-circle distance from the input to the snapped point.
        """
        pts = _as_lonlat(lonlat, "lonlat")
        snapped = np.full((len(pts), 2), np.nan)
        for block in _blocks(len(pts), 50):
            _, body = self._post("locate", {"locations": self._locs(pts[block]), "verbose": False})
            items = body.get("list", [])
            for i, item in zip(range(block.start, block.stop), items, strict=False):
                edges = (item or {}).get("edges") or []
                if edges:
                    snapped[i] = edges[0]["correlated_lon"], edges[0]["correlated_lat"]
        dist = _haversine_m(pts, snapped)
        return snapped, dist

    def matrix(self, src_lonlat: Any, dst_lonlat: Any) -> tuple[np.ndarray, np.ndarray]:
        """Durations and distances from every source to every target (``sources_to_targets``).

        Requests hold at most ``matrix_chunk`` sources and targets. If a request
        fails because some point cannot be snapped (errors 171, or 154 when
        such a point is also far away), those points are found with
        :meth:`locate`, left out (NaN) and the request is sent again.

        Parameters
        ----------
        src_lonlat, dst_lonlat : array_like, shape (n, 2) and (m, 2)
            lon/lat WGS84.

        Returns
        -------
        durations_s, distances_m : ndarray, shape (n, m)
            NaN where Valhalla found no route.
        """
        src = _as_lonlat(src_lonlat, "src_lonlat")
        dst = _as_lonlat(dst_lonlat, "dst_lonlat")
        durations = np.full((len(src), len(dst)), np.nan)
        distances = np.full((len(src), len(dst)), np.nan)
        for sb in _blocks(len(src), self.matrix_chunk):
            for db in _blocks(len(dst), self.matrix_chunk):
                s_idx = np.arange(sb.start, sb.stop)
                d_idx = np.arange(db.start, db.stop)
                for attempt in range(2):
                    if len(s_idx) == 0 or len(d_idx) == 0:
                        break
                    status, body = self._post(
                        "sources_to_targets",
                        {
                            "sources": self._locs(src[s_idx]),
                            "targets": self._locs(dst[d_idx]),
                            "verbose": False,
                        },
                        # 154 "max distance exceeded" is also what an unsnappable
                        # far-away point gives: retry without unsnappable points
                        tolerate=frozenset() if attempt else frozenset({154}),
                    )
                    if status == 200:
                        table = body["sources_to_targets"]
                        dur = np.array(table["durations"], dtype=float)  # None -> nan
                        dis = np.array(table["distances"], dtype=float) * 1000.0  # km -> m
                        durations[np.ix_(s_idx, d_idx)] = dur
                        distances[np.ix_(s_idx, d_idx)] = dis
                        break
                    if attempt == 1 or body.get("error_code") not in (154, 171):
                        break  # unconnected / no path at all: leave NaN
                    s_ok = np.isfinite(self.locate(src[s_idx])[0][:, 0])
                    d_ok = np.isfinite(self.locate(dst[d_idx])[0][:, 0])
                    s_idx, d_idx = s_idx[s_ok], d_idx[d_ok]
        return durations, distances

    def route(self, a_lonlat: Any, b_lonlat: Any) -> dict[str, Any]:
        """Fastest route from ``a`` to ``b`` (``/route``, no maneuvers).

        Parameters
        ----------
        a_lonlat, b_lonlat : array_like, shape (2,)
            lon/lat WGS84.

        Returns
        -------
        dict
            ``duration_s`` and ``distance_m`` (NaN if no route), ``geometry``
            (ndarray (k, 2) lon/lat, decoded from the polyline6 shape), ``cost``
            (Valhalla's internal cost) and ``error_code``: None if a route was
            found, else Valhalla's code (171 no road near a point, 442 no path,
            154 beyond the distance limit...).
        """
        a = _as_lonlat(a_lonlat, "a_lonlat")[0]
        b = _as_lonlat(b_lonlat, "b_lonlat")[0]
        status, body = self._post(
            "route",
            {"locations": self._locs(np.vstack([a, b])), "directions_type": "none"},
            tolerate=frozenset({154}),
        )
        if status != 200:
            return {
                "duration_s": math.nan,
                "distance_m": math.nan,
                "geometry": np.empty((0, 2)),
                "cost": math.nan,
                "error_code": body.get("error_code"),
            }
        trip = body["trip"]
        shape_parts = [decode_polyline(leg["shape"], 6) for leg in trip["legs"]]
        geometry = np.vstack(shape_parts) if shape_parts else np.empty((0, 2))
        summary = trip["summary"]
        return {
            "duration_s": float(summary["time"]),
            "distance_m": float(summary["length"]) * 1000.0,
            "geometry": geometry,
            "cost": float(summary.get("cost", math.nan)),
            "error_code": None,
        }

    def isochrone(
        self, lonlat: Any, minutes: Sequence[float], **options: Any
    ) -> list[Polygon | MultiPolygon]:
        """Drive-time isochrones (``polygons=true``) around one point.

        Parameters
        ----------
        lonlat : array_like, shape (2,)
            lon/lat WGS84 of the origin.
        minutes : sequence of float
            Contour times; more than 4 are split over several requests
            (Valhalla's default ``max_contours``). At most 120 each.
        **options
            Extra request fields, e.g. ``denoise`` (default 1.0: keep only the
            largest ring), ``generalize`` (default: a quarter of the grid cell,
            in metres), ``reverse``.

        Returns
        -------
        list of shapely Polygon or MultiPolygon
            One geometry per entry of ``minutes``, in that order, lon/lat. An
            empty Polygon when the origin cannot be snapped.
        """
        origin = _as_lonlat(lonlat, "lonlat")[0]
        wanted = [float(m) for m in minutes]
        if not wanted:
            return []
        if any(m <= 0 or m > 120 for m in wanted):
            raise ValueError("isochrone minutes must be in (0, 120]")
        found: dict[float, Polygon | MultiPolygon] = {}
        unique = sorted(set(wanted))
        for i in range(0, len(unique), 4):
            batch = unique[i : i + 4]
            payload = {
                "locations": self._locs(origin.reshape(1, 2)),
                "contours": [{"time": m} for m in batch],
                "polygons": True,
                **options,
            }
            status, body = self._post("isochrone", payload)
            if status != 200:
                for m in batch:
                    found[m] = Polygon()
                continue
            for feature in body.get("features", []):
                contour = float(feature["properties"]["contour"])
                geom = shape(feature["geometry"])
                if not geom.is_valid:
                    geom = shapely.make_valid(geom)
                key = min(batch, key=lambda m, c=contour: abs(m - c))
                found[key] = geom
        return [found.get(m, Polygon()) for m in wanted]


def geodesic_area_m2(geom: Any) -> float:
    """Area in m² of a lon/lat geometry (Lambert azimuthal equal-area at its centroid).

    Parameters
    ----------
    geom : shapely geometry
        Polygon or MultiPolygon in lon/lat WGS84.

    Returns
    -------
    float
        Area in square metres (0 for an empty geometry). Accurate to well under
        0.1 % for areas up to a few hundred kilometres across.
    """
    if geom is None or geom.is_empty:
        return 0.0
    c = geom.centroid
    lon0, lat0 = math.radians(c.x), math.radians(c.y)
    sin0, cos0 = math.sin(lat0), math.cos(lat0)

    def laea(coords: np.ndarray) -> np.ndarray:
        lon = np.radians(coords[:, 0]) - lon0
        lat = np.radians(coords[:, 1])
        k = np.sqrt(2.0 / (1.0 + sin0 * np.sin(lat) + cos0 * np.cos(lat) * np.cos(lon)))
        x = _EARTH_RADIUS_M * k * np.cos(lat) * np.sin(lon)
        y = _EARTH_RADIUS_M * k * (cos0 * np.sin(lat) - sin0 * np.cos(lat) * np.cos(lon))
        return np.column_stack([x, y])

    return float(shapely.transform(geom, laea).area)


# --------------------------------------------------------------------------- smoke test

_DRIVABLE = {
    "motorway",
    "motorway_link",
    "trunk",
    "trunk_link",
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
    "tertiary",
    "tertiary_link",
    "unclassified",
    "residential",
    "living_street",
}
_NO_ACCESS = {"no", "private", "agricultural", "forestry", "emergency", "psv", "delivery"}


def _drivable_node_coords(pbf: Path) -> np.ndarray:
    """lon/lat of the nodes of public drivable ways (pyosmium); unique, sorted by node id."""
    import osmium  # project dependency; only the smoke test needs it

    coords: dict[int, tuple[float, float]] = {}
    processor = osmium.FileProcessor(str(pbf), osmium.osm.NODE | osmium.osm.WAY).with_locations()
    for way in processor:
        if not way.is_way():
            continue
        tags = way.tags
        if tags.get("highway") not in _DRIVABLE or tags.get("area") == "yes":
            continue
        access = tags.get("motor_vehicle") or tags.get("motorcar") or tags.get("access")
        if access in _NO_ACCESS:
            continue
        for node in way.nodes:
            loc = node.location
            if loc.valid():
                coords[node.ref] = (loc.lon, loc.lat)
    ids = sorted(coords)
    return np.array([coords[i] for i in ids], dtype=float).reshape(-1, 2)


def _ratio_stats(ratio: np.ndarray, prefix: str) -> dict[str, float]:
    """Median, p10 and p90 of a ratio array (NaN when empty)."""
    if ratio.size == 0:
        return {f"{prefix}median": math.nan, f"{prefix}p10": math.nan, f"{prefix}p90": math.nan}
    return {
        f"{prefix}median": float(np.median(ratio)),
        f"{prefix}p10": float(np.percentile(ratio, 10)),
        f"{prefix}p90": float(np.percentile(ratio, 90)),
    }


def _pairwise(
    query: Any, a: np.ndarray, b: np.ndarray, block: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """Duration and distance for the pairs (a[i], b[i]) from small diagonal matrix blocks."""
    dur = np.full(len(a), np.nan)
    dist = np.full(len(a), np.nan)
    for sl in _blocks(len(a), block):
        d, m = query(a[sl], b[sl])
        dur[sl], dist[sl] = np.diag(d), np.diag(m)
    return dur, dist


def _smoke(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    bins = ensure_binaries(args.cache_dir)
    print(
        f"binaries: OSRM {bins.osrm_version}, Valhalla {bins.valhalla_version} "
        f"({time.perf_counter() - t0:.1f} s) cache {bins.cache_dir}",
        flush=True,
    )
    pbfs = sorted(Path(args.data).glob("*.osm.pbf"))
    if args.extracts:
        pbfs = [p for p in pbfs if any(p.name.startswith(e) for e in args.extracts)]
    if not pbfs:
        print(f"no .osm.pbf in {args.data}", file=sys.stderr)
        return 2
    rows = []
    for pbf in pbfs:
        name = _extract_name(pbf)
        print(f"\n== {name}", flush=True)
        timing: dict[str, float] = {}
        t = time.perf_counter()
        osrm_data = prepare_osrm(pbf, bins)
        timing["prepare_osrm"] = time.perf_counter() - t
        t = time.perf_counter()
        vh_data = prepare_valhalla(pbf, bins)
        timing["prepare_valhalla"] = time.perf_counter() - t
        o_info, v_info = prepare_info(osrm_data), prepare_info(vh_data)
        print(
            f"  prepare: osrm {timing['prepare_osrm']:.1f} s (build "
            f"{o_info['total_s']:.1f} s: "
            + ", ".join(f"{k} {v:.1f}" for k, v in o_info["steps_s"].items())
            + f"); valhalla {timing['prepare_valhalla']:.1f} s (build {v_info['total_s']:.1f} s: "
            + ", ".join(f"{k} {v:.1f}" for k, v in v_info["steps_s"].items())
            + f"; countries {v_info.get('countries')})",
            flush=True,
        )
        t = time.perf_counter()
        nodes = _drivable_node_coords(pbf)
        timing["read_nodes"] = time.perf_counter() - t
        rng = np.random.default_rng([args.seed, zlib.crc32(name.encode())])
        pick = rng.choice(len(nodes), size=(args.pairs, 2), replace=True)
        a, b = nodes[pick[:, 0]], nodes[pick[:, 1]]
        origins = nodes[rng.choice(len(nodes), size=args.isochrones, replace=False)]
        print(f"  {len(nodes)} drivable nodes read in {timing['read_nodes']:.1f} s", flush=True)
        with contextlib.ExitStack() as stack:
            t = time.perf_counter()
            osrm = stack.enter_context(OsrmServer(osrm_data, bins))
            timing["start_osrm"] = time.perf_counter() - t
            t = time.perf_counter()
            vh = stack.enter_context(ValhallaServer(vh_data, bins))
            timing["start_valhalla"] = time.perf_counter() - t
            t = time.perf_counter()
            od, ol = _pairwise(osrm.table, a, b)
            timing["osrm_table_pairs"] = time.perf_counter() - t
            t = time.perf_counter()
            vd, vl = _pairwise(vh.matrix, a, b)
            timing["valhalla_matrix_pairs"] = time.perf_counter() - t
            # chunking check: a 60 x 60 matrix in 25 x 25 chunks equals the one-request one
            n_chk = min(60, len(a))
            t = time.perf_counter()
            whole = osrm.table(a[:n_chk], b[:n_chk])[0], vh.matrix(a[:n_chk], b[:n_chk])[0]
            timing["matrices_60x60"] = time.perf_counter() - t
            osrm.table_chunk, vh.matrix_chunk = 25, 25
            chunked = osrm.table(a[:n_chk], b[:n_chk])[0], vh.matrix(a[:n_chk], b[:n_chk])[0]
            osrm.table_chunk, vh.matrix_chunk = 100, 100
            # CostMatrix answers may depend slightly on the other locations of a request
            for engine, w, c in zip(("OSRM", "Valhalla"), whole, chunked, strict=True):
                diff = np.abs(np.nan_to_num(w, nan=-1.0) - np.nan_to_num(c, nan=-1.0))
                print(
                    f"  {engine} {n_chk}x{n_chk} matrix, 25x25 chunks vs one request: "
                    f"{int((diff > 1.0).sum())} cells differ by > 1 s (max {diff.max():.0f} s)"
                )
            t = time.perf_counter()
            o_route = [osrm.route(p, q) for p, q in zip(a, b, strict=True)]
            timing["osrm_routes"] = time.perf_counter() - t
            t = time.perf_counter()
            v_route = [vh.route(p, q) for p, q in zip(a, b, strict=True)]
            timing["valhalla_routes"] = time.perf_counter() - t
            t = time.perf_counter()
            areas = [geodesic_area_m2(vh.isochrone(o, [15])[0]) / 1e6 for o in origins]
            timing["valhalla_isochrones"] = time.perf_counter() - t
            t = time.perf_counter()
            v_snap = np.column_stack([vh.locate(a)[1], vh.locate(b)[1]])
            osrm.nearest(origins)
            timing["snap"] = time.perf_counter() - t
        # OSRM's route/table snap (big-component fallback, unlimited radius); not in durations
        o_snap = np.array([r["snap_distance_m"] for r in o_route], dtype=float).reshape(-1, 2)
        snap_far = (np.nan_to_num(o_snap, nan=0.0).max(axis=1) > 100.0) | (
            np.nan_to_num(v_snap, nan=0.0).max(axis=1) > 100.0
        )
        same = (pick[:, 0] == pick[:, 1]) | (np.hypot(*(a - b).T) < 1e-9)
        ok = np.isfinite(od) & np.isfinite(vd) & (od > 0) & (vd > 0) & ~same
        clean = ok & ~snap_far
        ord_ = np.array([r["duration_s"] for r in o_route])
        vrd = np.array([r["duration_s"] for r in v_route])
        rok = np.isfinite(ord_) & np.isfinite(vrd) & (ord_ > 0) & ~same
        row: dict[str, Any] = {
            "extract": name,
            "pairs": int((~same).sum()),
            "osrm_median_min": float(np.median(od[ok]) / 60) if ok.any() else math.nan,
            **_ratio_stats(vd[ok] / od[ok], ""),
            "dist_median": float(np.median(vl[ok] / ol[ok])) if ok.any() else math.nan,
            "fail": float(np.mean(~(np.isfinite(od) & np.isfinite(vd))[~same])),
            "fail_osrm": int((~np.isfinite(od) & ~same).sum()),
            "fail_valhalla": int((~np.isfinite(vd) & ~same).sum()),
            "snap_far": float(np.mean(snap_far[~same])),
            **_ratio_stats(vd[clean] / od[clean], "clean_"),
            "route_median": float(np.median(vrd[rok] / ord_[rok])) if rok.any() else math.nan,
            "matrix_vs_route_osrm": float(np.median(od[rok] / ord_[rok])) if rok.any() else 0.0,
            "matrix_vs_route_valhalla": float(np.median(vd[rok] / vrd[rok])) if rok.any() else 0.0,
            "iso15_km2": float(np.median(areas)),
            "iso15_all_km2": areas,
            "osrm_build_s": o_info["total_s"],
            "osrm_steps_s": o_info["steps_s"],
            "valhalla_build_s": v_info["total_s"],
            "valhalla_steps_s": v_info["steps_s"],
            "timings_s": timing,
        }
        rows.append(row)
        print(
            "  timings: " + ", ".join(f"{k} {v:.2f} s" for k, v in timing.items() if v),
            flush=True,
        )
        print(
            f"  V/O duration ratio median {row['median']:.3f} (p10 {row['p10']:.3f}, p90 "
            f"{row['p90']:.3f}); distance ratio median {row['dist_median']:.3f}; failures "
            f"{row['fail']:.1%} (OSRM {row['fail_osrm']}, Valhalla {row['fail_valhalla']}); "
            f"snap > 100 m {row['snap_far']:.1%}; without those: median "
            f"{row['clean_median']:.3f} (p10 {row['clean_p10']:.3f}, p90 {row['clean_p90']:.3f})"
            f"; via /route median {row['route_median']:.3f}; matrix/route OSRM "
            f"{row['matrix_vs_route_osrm']:.4f} Valhalla {row['matrix_vs_route_valhalla']:.4f}; "
            f"15-min isochrones km² {', '.join(f'{x:.1f}' for x in areas)}",
            flush=True,
        )
    print(
        "\n| extract | pairs | OSRM median min | V/O dur median | p10 | p90 | V/O dist median "
        "| either fails | snap > 100 m | V/O median, snaps <= 100 m | p10 | p90 "
        "| iso15 median km² | OSRM build s | Valhalla build s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['extract']} | {r['pairs']} | {r['osrm_median_min']:.1f} | {r['median']:.3f} "
            f"| {r['p10']:.3f} | {r['p90']:.3f} | {r['dist_median']:.3f} | {r['fail']:.1%} "
            f"| {r['snap_far']:.1%} | {r['clean_median']:.3f} | {r['clean_p10']:.3f} "
            f"| {r['clean_p90']:.3f} | {r['iso15_km2']:.1f} | {r['osrm_build_s']:.1f} "
            f"| {r['valhalla_build_s']:.1f} |"
        )
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Smoke test: prepare and query both engines on every extract, print the baseline table.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Process exit code.
    """
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(
        description=main.__doc__.split("\n")[0] if main.__doc__ else ""
    )
    parser.add_argument("--data", type=Path, default=repo.parent / "shared" / "data" / "osm")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--isochrones", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--extracts", nargs="*", default=None, help="name prefixes to keep")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    return _smoke(args)


if __name__ == "__main__":
    sys.exit(main())
